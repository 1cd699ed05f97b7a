#!/usr/bin/env bash
# A base image of the same Debian release as deploy/Containerfile's pinned BASE, built from Debian's
# own packages for machines that no container registry serves:
#   deploy/debian-base.sh IMAGE CACHE_DIR [SUITE]
# debootstrap's minbase variant with the official slim image's dpkg excludes and apt sources
# (SUITE, SUITE-updates, SUITE-security) and apt settings, from the mirrors this machine's apt uses.
# The root filesystem is cached as CACHE_DIR/debian-SUITE-minbase-KEY.tar, KEY a hash of this script,
# so a change here rebuilds it; delete it to rebuild from fresh packages. Needs root (debootstrap
# does), or passwordless sudo.
set -euo pipefail

image=${1:?usage: deploy/debian-base.sh IMAGE CACHE_DIR [SUITE]}
cache_dir=${2:?usage: deploy/debian-base.sh IMAGE CACHE_DIR [SUITE]}
suite=${3:-bookworm}
key=$(sha256sum "$0" | cut -c1-12)
tarball="$cache_dir/debian-$suite-minbase-$key.tar"

if podman image exists "$image"; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
else
    as_root=(sudo -n)
fi

# The mirror apt uses for SUITE and for SUITE-security (deb.debian.org where apt has none, e.g. Ubuntu).
mirror_for() {
    local release=$1 fallback=$2
    local uri
    uri=$(apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 'Created-By: Packages' 2>/dev/null \
        | awk -v release="$release" '$1 == release { print $2; exit }')
    echo "${uri:-$fallback}"
}

if [ ! -s "$tarball" ]; then
    mirror=$(mirror_for "$suite" http://deb.debian.org/debian/)
    security=$(mirror_for "$suite-security" http://deb.debian.org/debian-security/)
    mkdir -p "$cache_dir"
    rootfs=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
    trap '"${as_root[@]}" rm -rf "$rootfs"' EXIT
    echo "==> debootstrap $suite (minbase) from $mirror into $rootfs"
    keyring=()
    if [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
        keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    fi
    "${as_root[@]}" env PATH="$PATH:/usr/sbin:/sbin" \
        debootstrap --variant=minbase "${keyring[@]}" "$suite" "$rootfs" "$mirror" >"$cache_dir/debootstrap.log" 2>&1 \
        || { tail -20 "$cache_dir/debootstrap.log" >&2; exit 1; }
    # What debian:<suite>-slim has on top of minbase: its apt sources, its dpkg excludes, and apt
    # settings that keep downloaded packages out of layers and let autoremove drop what is only suggested.
    "${as_root[@]}" rm -f "$rootfs/etc/apt/sources.list"
    "${as_root[@]}" tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    "${as_root[@]}" tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EXCLUDES'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EXCLUDES
    "${as_root[@]}" tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'CLEAN'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
    echo 'Apt::AutoRemove::SuggestsImportant "false";' | "${as_root[@]}" tee "$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests" >/dev/null
    echo 'Acquire::Languages "none";' | "${as_root[@]}" tee "$rootfs/etc/apt/apt.conf.d/docker-no-languages" >/dev/null
    "${as_root[@]}" rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/tmp/*
    "${as_root[@]}" tar -C "$rootfs" --numeric-owner -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
fi

echo "==> importing $tarball as $image"
podman import --quiet --change 'CMD ["bash"]' "$tarball" "$image" >/dev/null
