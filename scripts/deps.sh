#!/usr/bin/env bash
# Installs the Debian packages imgbuild's image boots and tests need,
# only when one is missing. Run as root or with sudo available.
set -euo pipefail
pkgs=(qemu-system-x86 qemu-utils ovmf systemd-boot-efi gdisk squashfs-tools
      cryptsetup-bin mtools dosfstools e2fsprogs cpio zstd xz-utils kmod
      binutils openssl osslsigncode dpkg-dev ca-certificates)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
