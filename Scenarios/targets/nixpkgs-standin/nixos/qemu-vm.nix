# The part of nixpkgs' qemu-vm.nix the harness reads: how a configuration boots
# as a VM (direct kernel boot, /nix/store over 9p, a disk labelled nixos).
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  toplevel = config.system.build.toplevel;
in
{
  options.virtualisation = {
    directBoot.initrd = mkOption { type = types.str; default = "${toplevel}/initrd"; };
    diskImage = mkOption { type = types.nullOr types.str; default = "./${config.networking.hostName}.qcow2"; };
    msize = mkOption { type = types.ints.positive; default = 16384; };
    sharedDirectories = mkOption {
      default = { };
      type = types.attrsOf (types.submodule {
        options.source = mkOption { type = types.str; };
        options.target = mkOption { type = types.str; };
        options.securityModel = mkOption { type = types.str; default = "none"; };
      });
    };
  };
  config = {
    virtualisation.sharedDirectories = {
      nix-store = { source = "/nix/store"; target = "/nix/.ro-store"; };
      xchg = { source = "$TMPDIR/xchg"; target = "/tmp/xchg"; };
      shared = { source = "\${SHARED_DIR:-$TMPDIR/xchg}"; target = "/tmp/shared"; };
    };
    boot.kernelParams = [ "console=ttyS0,115200n8" ];
  };
}
