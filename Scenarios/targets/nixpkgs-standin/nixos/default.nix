# lib.nixosSystem: the given modules on top of a small set of NixOS option
# declarations, with `pkgs` and `modulesPath` passed as module arguments.
{ lib, pkgsFor }:
{ system ? "x86_64-linux", modules, specialArgs ? { }, ... }:
lib.evalModules {
  modules = [ ./base.nix ] ++ modules;
  specialArgs = { pkgs = pkgsFor system; modulesPath = ./.; } // specialArgs;
}
