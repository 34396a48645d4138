#!/usr/bin/env bash
# Sets up a host of this kind from nothing, for the harness: Debian packages,
# nix's build users, virtlogd + libvirtd (started by hand: there is no systemd
# here), the fixture guest image and the stand-in NixOS guests' tools. Idempotent: a second run checks and does nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

packages=(
  libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils iptables tini  # hypervisor
  nftables                                                                      # partitions on the bridge
  libvirt-dev libssh-dev pkg-config                                             # C libraries the package links
  nix-bin                                                                       # evaluates the monorepo
  linux-image-cloud-amd64 busybox-static dropbear-bin etcd-server etcd-client jq # the fixture guest
  linux-image-amd64                                                             # stand-in NixOS guests (9p)
  curl openssl ca-certificates cpio e2fsprogs openssh-client git libxml2-utils
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  [ "$(id -u)" = 0 ] || { echo "setup: must run as root to install packages" >&2; exit 2; }
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# nix.conf names the group nixbld for sandboxed builds, as nix's own installer sets it up.
if ! getent group nixbld >/dev/null; then
  echo "setup: creating nix build users"
  groupadd -r nixbld
  for i in $(seq 1 8); do
    useradd -r -g nixbld -G nixbld -d /var/empty -s /usr/sbin/nologin -c "Nix build user $i" "nixbld$i"
  done
fi

libvirt_answers() { timeout 30 virsh -q -c qemu:///system version >/dev/null 2>&1; }
if ! libvirt_answers; then
  echo "setup: starting virtlogd and libvirtd"
  mkdir -p /var/log/libvirt /var/lib/photoncloud-harness
  pgrep -x virtlogd >/dev/null || virtlogd -d
  if ! pgrep -x libvirtd >/dev/null; then
    # tini -s makes itself the subreaper of libvirtd's tree: QEMU processes orphaned
    # on destroy are reaped at once instead of waiting on a slow PID 1.
    setsid tini -s -- libvirtd </dev/null >>/var/log/libvirt/libvirtd.out 2>&1 &
  fi
  for _ in $(seq 1 60); do libvirt_answers && break; sleep 1; done
  libvirt_answers || { echo "setup: libvirtd does not answer; see /var/log/libvirt/libvirtd.out" >&2; exit 2; }
fi

"$here/fixture/build.sh"
"$here/guest-tools/build.sh"
