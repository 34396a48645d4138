# node03: a bootstrap member of Chainfire with node01 and the other, and a FlareDB node.
{ config, lib, ... }:
let
  topology = import ./topology.nix;
  bootstrapMembers = lib.genAttrs [ "node01" "node02" "node03" ] (n: topology.nodes.${n}.ip);
in
{
  imports = [
    ../modules/chainfire.nix
    ../modules/flaredb.nix
  ];

  networking.hostName = "node03";

  services.flaredb.enable = true;

  # Chainfire: one of the three members that form the cluster. The member list
  # is the same on node01, node02 and node03, so any of them may win the first
  # election; the others find it through the Raft peers.
  #
  # node01 is the designated leader for first-boot joins (topology.nix), and
  # joinAddr points this node's Raft layer at it explicitly, so a restart of this
  # node rejoins through node01 rather than by guessing from the member list.
  services.chainfire = {
    enable = true;
    advertiseAddress = topology.nodes.node03.ip;
    initialMembers = bootstrapMembers;
  };

  services.chainfire.joinAddr = "${topology.nodes.node01.ip}:2380";
}
