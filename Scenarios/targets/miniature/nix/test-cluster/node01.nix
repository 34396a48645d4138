# node01: bootstraps Chainfire and FlareDB; the first leader.
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

  networking.hostName = "node01";

  services.chainfire = {
    enable = true;
    advertiseAddress = topology.nodes.node01.ip;
    initialMembers = bootstrapMembers;
  };

  services.flaredb.enable = true;
}
