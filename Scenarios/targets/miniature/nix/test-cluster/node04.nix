# node04: joins the running cluster on first boot (first-boot automation).
{ config, lib, ... }:
let
  topology = import ./topology.nix;
in
{
  imports = [
    ../modules/chainfire.nix
    ../modules/flaredb.nix
    ../modules/first-boot-automation.nix
  ];

  networking.hostName = "node04";

  services.chainfire = {
    enable = true;
    advertiseAddress = topology.nodes.node04.ip;
  };
  services.flaredb.enable = true;

  services.first-boot-automation = {
    enable = true;
    advertiseAddress = topology.nodes.node04.ip;
  };
}
