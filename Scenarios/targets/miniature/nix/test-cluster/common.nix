# What every test-cluster node shares: its address on the cluster network (eth1),
# the cluster topology, SSH, and a root filesystem for the VM.
{ config, lib, ... }:
let
  topology = import ./topology.nix;
  self = topology.nodes.${config.networking.hostName};
in
{
  imports = [ ../modules/plasmacloud-cluster.nix ];

  boot.loader.grub.device = "nodev";
  fileSystems."/" = { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };
  services.openssh.enable = true;
  virtualisation.memorySize = 384;
  networking.useDHCP = false;
  networking.interfaces.eth1 = {
    macAddress = self.mac;
    ipv4.addresses = [ { address = self.ip; prefixLength = 24; } ];
  };
  networking.extraHosts = lib.concatStringsSep "\n" (lib.mapAttrsToList (n: v: "${v.ip} ${n}") topology.nodes);

  plasmacloud.cluster = {
    enable = true;
    inherit (topology) name leader;
    nodes = lib.mapAttrs (n: v: { inherit (v) ip roles; }) topology.nodes;
  };
  system.stateVersion = "24.05";
}
