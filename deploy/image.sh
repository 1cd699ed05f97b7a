#!/usr/bin/env bash
# `make image`: build deploy/Containerfile with podman on this machine.
#
#   IMAGE            the tag to build (default localhost/rampart/serving:dev)
#   VARIANT          cpu (default) or cuda: which torch the image gets
#   BASE             the base image; default: the Containerfile's pinned ARG BASE
#   TORCH_INDEX_URL  the extra index of the torch step (cpu: PyTorch's CPU index; empty: none)
#   PYTHON           the Python whose pip configuration the build uses (default python3)
#   CACHE_DIR        where the Debian base and the build's pip.conf are kept (default .rampart/image)
#
# Installs podman and friends when they are missing (deploy/install-container-tools.sh). Uses the
# pinned base when it is here or can be pulled; otherwise builds a base of the same Debian release
# from Debian's packages (deploy/debian-base.sh). pip inside the build is configured the way the
# host's pip is (deploy/pip_build_config.py): its config files, PIP_* variables, local indexes and
# CA bundle, mounted read-only for the build's RUN steps only.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/rampart/serving:dev}
VARIANT=${VARIANT:-cpu}
# torch's CPU build is on PyTorch's own index; PyPI's torch is the CUDA one.
case "$VARIANT" in
    cpu) TORCH_INDEX_URL=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu} ;;
    *) TORCH_INDEX_URL=${TORCH_INDEX_URL-} ;;
esac
PYTHON=${PYTHON:-python3}
CACHE_DIR=${CACHE_DIR:-.rampart/image}
# The Debian release of the pinned base; the fallback base is built from the same one.
DEBIAN_SUITE=bookworm
# Tagged with a hash of the script that builds it: a change there builds a new one.
FALLBACK_BASE=localhost/rampart/debian:$DEBIAN_SUITE-minbase-$(sha256sum deploy/debian-base.sh | cut -c1-12)

deploy/install-container-tools.sh
export CONTAINERS_CONF="$PWD/deploy/containers.conf"
mkdir -p "$CACHE_DIR"

# podman 4.3's tools refuse a reference with both a tag and a digest; the digest alone names the same image.
without_tag() {
    local name=${1%@*} digest=${1#*@}
    if [[ $1 != *@* ]]; then
        echo "$1"
    elif [[ ${name##*/} == *:* ]]; then
        echo "${name%:*}@$digest"
    else
        echo "$1"
    fi
}
BASE=$(without_tag "${BASE:-$(sed -n 's/^ARG BASE=//p' deploy/Containerfile)}")
if podman image exists "$BASE"; then
    echo "==> base $BASE (present)"
elif podman pull --quiet "$BASE" >/dev/null 2>&1; then
    echo "==> base $BASE (pulled)"
else
    echo "==> base $BASE cannot be pulled here: using $FALLBACK_BASE, Debian $DEBIAN_SUITE from Debian's packages"
    deploy/debian-base.sh "$FALLBACK_BASE" "$CACHE_DIR" "$DEBIAN_SUITE"
    BASE=$FALLBACK_BASE
fi

# One SOURCE:TARGET:ro per line, the generated pip.conf first.
mapfile -t pip_volumes < <("$PYTHON" deploy/pip_build_config.py "$CACHE_DIR/pip")
pip_config=${pip_volumes[0]#*:}
pip_config=${pip_config%:ro}
volumes=()
for volume in "${pip_volumes[@]}"; do
    volumes+=(--volume "$volume")
done

echo "==> building $IMAGE (VARIANT=$VARIANT) from deploy/Containerfile"
started=$SECONDS
podman build \
    --file deploy/Containerfile \
    --format docker \
    --ignorefile deploy/Containerfile.dockerignore \
    --layers \
    --build-arg "BASE=$BASE" \
    --build-arg "VARIANT=$VARIANT" \
    --build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL" \
    --build-arg "PIP_CONFIG_FILE=$pip_config" \
    "${volumes[@]}" \
    --tag "$IMAGE" \
    .
echo "==> $IMAGE built in $((SECONDS - started))s: $(podman image inspect --format '{{.Id}} {{.Size}}' "$IMAGE" | awk '{ printf "%s, %.0f MB", substr($1, 1, 12), $2 / 1e6 }')"
