# node06: the client node: creditservice, and the load generator of the tests.
{ config, lib, ... }:
let
  topology = import ./topology.nix;
in
{
  imports = [
    ../modules/creditservice.nix
  ];

  networking.hostName = "node06";

  services.creditservice.enable = true;
}
