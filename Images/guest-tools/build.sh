#!/usr/bin/env bash
# Builds the guest tools of the nixpkgs stand-in: what its NixOS VMs are made of
# when no nixpkgs is reachable. A static busybox (every derivation's builder and
# the guests' userland), Debian's generic kernel (the cloud kernel has no 9p) with
# the modules a qemu-vm.nix guest needs (virtio, ext4, 9p, overlay), dropbear as
# the OpenSSH stand-in, and what the fixture guest runs the miniature's services
# with: etcd, etcdctl, curl, openssl, jq, the CA bundle, and the fixture's unit
# supervisor (systemctl, journalctl) and service stand-ins from Images/fixture/rootfs. The stand-in flake takes the result
# as its `guest-tools` input, locked by the narHash recorded in the manifest so
# that evaluations do not hash it again.
# Cached by content like Images/fixture/build.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../recipe-lib.sh"
state="${PHOTONCLOUD_HARNESS_STATE:-/var/lib/photoncloud-harness}"
images="$state/images"
pkgs=(busybox-static dropbear-bin linux-image-amd64 etcd-server etcd-client curl openssl jq ca-certificates)
rootfs="$here/../fixture/rootfs"

kver="$(ls /lib/modules | grep -E -- '-amd64$' | grep -v -- '-cloud-' | sort -V | tail -n1 || true)"
[ -n "$kver" ] || { echo "guest-tools/build.sh: no generic kernel in /lib/modules: install linux-image-amd64" >&2; exit 2; }
key="$( { cat "$here/build.sh" "$here/../recipe-lib.sh"; find "$rootfs" -type f -print0 | sort -z | xargs -0r cat; echo "$kver"; dpkg-query -W -f='${Package}=${Version}\n' "${pkgs[@]}"; } | sha256sum | cut -c1-16)"
out="$images/guest-tools-$key"
manifest="$images/guest-tools.json"
reuse_built "$out.json" "$manifest" "guest tools $key ($out)"

mkdir -p "$images"
tmp="$(mktemp -d "$images/.guest-tools.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
t="$tmp/tools"
mkdir -p "$t/bin" "$t/modules" "$t/lib" "$t/lib64" "$t/sbin" "$t/etc/ssl/certs"

cp /bin/busybox "$t/busybox"
for applet in $("$t/busybox" --list); do ln -s ../busybox "$t/bin/$applet"; done

for b in /usr/sbin/dropbear /usr/bin/dropbearkey; do
  [ -x "$b" ] || { echo "guest-tools/build.sh: $b is missing: install ${pkgs[*]}" >&2; exit 2; }
  cp "$b" "$t/sbin/"
  ldd "$b" | awk '/=> \//{print $3}' | while read -r lib; do cp -L "$lib" "$t/lib/"; done
done
for b in /usr/bin/etcd /usr/bin/etcdctl /usr/bin/curl /usr/bin/openssl /usr/bin/jq; do
  [ -x "$b" ] || { echo "guest-tools/build.sh: $b is missing: install ${pkgs[*]}" >&2; exit 2; }
  rm -f "$t/bin/${b##*/}"; cp "$b" "$t/bin/"
  ldd "$b" | awk '/=> \//{print $3}' | while read -r lib; do cp -L "$lib" "$t/lib/"; done
done
cp -L /lib64/ld-linux-x86-64.so.2 "$t/lib64/"
cp -L /etc/ssl/certs/ca-certificates.crt "$t/etc/ssl/certs/"
cp /usr/lib/ssl/openssl.cnf "$t/etc/ssl/" 2>/dev/null || true
# The fixture's supervisor and service stand-ins; stage 2 links /usr/lib/phc here.
cp -a "$rootfs/usr/bin/." "$t/bin/"
mkdir -p "$t/lib/phc"; cp -a "$rootfs/usr/lib/phc/." "$t/lib/phc/"

moddir="/lib/modules/$kver"
kernel_modules "$moddir" virtio_pci virtio_blk virtio_net virtio-rng crc32c_generic ext4 9pnet_virtio 9p overlay > "$tmp/modules"
while read -r rel; do cp "$moddir/$rel" "$t/modules/"; basename "$rel" >> "$t/modules/order"; done < "$tmp/modules"
cp "/boot/vmlinuz-$kver" "$t/kernel"
chmod -R a+rX,go-w "$t"

narhash="$(nix --extra-experimental-features nix-command hash path "$t")"
rm -rf "$out"; mv "$t" "$out"
printf '{"key":"%s","path":"%s","narHash":"%s","kernelVersion":"%s"}\n' "$key" "$out" "$narhash" "$kver" > "$out.json"
cp "$out.json" "$manifest"
find "$images" -maxdepth 1 -name 'guest-tools-*' ! -name "guest-tools-$key" ! -name "guest-tools-$key.json" -exec rm -rf {} +
echo "guest tools $key built: $out ($(du -sh "$out" | cut -f1))"
