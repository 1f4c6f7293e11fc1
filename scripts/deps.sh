#!/usr/bin/env bash
# Installs the Debian packages imgbuild's image boots and tests need,
# only when one is missing. Run as root or with sudo available.
set -euo pipefail
pkgs=(qemu-system-x86 qemu-utils ovmf systemd-boot-efi gdisk squashfs-tools
      qemu-system-arm qemu-efi-aarch64 # arm64 images: qemu-system-aarch64 and AAVMF
      cryptsetup-bin mtools dosfstools e2fsprogs cpio zstd xz-utils kmod
      binutils openssl osslsigncode dpkg-dev ca-certificates openssh-client
      ipxe-qemu seabios
      gcc libc6-dev libzstd-dev liblzma-dev) # make's bin/imgbuild links libzstd and liblzma statically (cgo)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# imgbuild itself reads the Debian archive without apt; the tests that
# compare it with apt (and IMGBUILD_DEB_BACKEND=apt) need apt's package
# lists, which minimal images ship without.
if [ ${#missing[@]} -gt 0 ] || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  $sudo apt-get update -q
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
