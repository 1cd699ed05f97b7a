#!/usr/bin/env bash
# Installs what `make image` needs from the distribution's own packages, once: podman and buildah
# (runc as their runtime, see deploy/containers.conf), skopeo to inspect and copy images, debootstrap
# to build the base from Debian's packages when no registry serves the pinned one, and the rootless
# helpers. Nothing happens when every tool is already there (GitHub's Ubuntu runners
# ship podman, buildah and skopeo). Runs as root, or through passwordless sudo.
set -euo pipefail

# command -> the package that provides it
declare -A PACKAGE_OF=(
    [podman]=podman
    [buildah]=buildah
    [skopeo]=skopeo
    [debootstrap]=debootstrap
    [runc]=runc
    [newuidmap]=uidmap
    [slirp4netns]=slirp4netns
    [fuse-overlayfs]=fuse-overlayfs
)

missing=()
for command in "${!PACKAGE_OF[@]}"; do
    # debootstrap and newuidmap live in sbin, which a non-root PATH may lack.
    if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$command" >/dev/null 2>&1; then
        missing+=("${PACKAGE_OF[$command]}")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: missing ${missing[*]} and no apt-get to install them; install them with your package manager" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "error: missing ${missing[*]}; install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "==> installing container tools from the distribution's packages: ${missing[*]}"
# Another apt run (a second agent, unattended-upgrades) may hold the lock: wait for it, not fail.
apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq "${missing[@]}"
