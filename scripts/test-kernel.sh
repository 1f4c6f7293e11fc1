#!/usr/bin/env bash
# Prints environment assignments that point the package tests at the
# archive's current Debian cloud kernel, busybox-static and
# systemd-boot, downloaded once into a cache and unpacked there.
set -euo pipefail
cache="${IMGBUILD_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imgbuild-test}"
mkdir -p "$cache/debs"
chmod 0777 "$cache/debs" # apt-get download runs as _apt when we are root
# ...but _apt cannot reach a cache below a private home: download as root.
apt_opts=(-q)
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
cd "$cache/debs"
kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || { echo "cannot resolve linux-image-cloud-amd64 (apt-get update?)" >&2; exit 1; }
for p in "$kpkg" busybox-static; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download "${apt_opts[@]}" "$p" >&2
done
kdeb=$(ls "$cache/debs/${kpkg}"_*.deb | head -1)
kdir="$cache/kernel-$(basename "$kdeb" .deb)"
if [ ! -d "$kdir" ]; then
  dpkg-deb -x "$kdeb" "$kdir.tmp" && mv "$kdir.tmp" "$kdir"
fi
echo "export IMGBUILD_TEST_KERNEL_DEB=$kdeb"
echo "export IMGBUILD_TEST_KERNEL_DIR=$kdir"
echo "export IMGBUILD_TEST_KERNEL=$(ls "$kdir"/boot/vmlinuz-* | head -1)"
echo "export IMGBUILD_TEST_BUSYBOX_DEB=$(ls "$cache/debs"/busybox-static_*.deb | head -1)"
echo "export IMGBUILD_TEST_SYSTEMD_BOOT=/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
