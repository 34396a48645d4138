# The NixOS options the PhotonCloud definitions set, declared with NixOS's names
# and types, and a system.build.toplevel that depends on all of them.
{ config, lib, pkgs, extendModules, ... }:
let
  inherit (lib) mkOption mkEnableOption types;
  # As nixpkgs' build-vm.nix: the whole configuration again, with qemu-vm.nix.
  vmVariant = extendModules { modules = [ ./qemu-vm.nix ]; };
  serviceOptions = { name, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; };
      description = mkOption { type = types.str; default = ""; };
      wantedBy = mkOption { type = types.listOf types.str; default = [ ]; };
      requiredBy = mkOption { type = types.listOf types.str; default = [ ]; };
      after = mkOption { type = types.listOf types.str; default = [ ]; };
      before = mkOption { type = types.listOf types.str; default = [ ]; };
      requires = mkOption { type = types.listOf types.str; default = [ ]; };
      wants = mkOption { type = types.listOf types.str; default = [ ]; };
      path = mkOption { type = types.listOf (types.either types.package types.str); default = [ ]; };
      environment = mkOption { type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ])); default = { }; };
      script = mkOption { type = types.lines; default = ""; };
      preStart = mkOption { type = types.lines; default = ""; };
      postStart = mkOption { type = types.lines; default = ""; };
      serviceConfig = mkOption { type = types.attrsOf types.anything; default = { }; };
      unitConfig = mkOption { type = types.attrsOf types.anything; default = { }; };
      startLimitIntervalSec = mkOption { type = types.nullOr types.int; default = null; };
    };
  };
in {
  options = {
    networking.hostName = mkOption { type = types.str; default = "nixos"; };
    networking.domain = mkOption { type = types.nullOr types.str; default = null; };
    networking.useDHCP = mkOption { type = types.bool; default = true; };
    networking.extraHosts = mkOption { type = types.lines; default = ""; };
    networking.firewall.enable = mkOption { type = types.bool; default = true; };
    networking.firewall.allowedTCPPorts = mkOption { type = types.listOf types.port; default = [ ]; };
    networking.interfaces = mkOption {
      default = { };
      type = types.attrsOf (types.submodule {
        options.ipv4.addresses = mkOption {
          default = [ ];
          type = types.listOf (types.submodule {
            options.address = mkOption { type = types.str; };
            options.prefixLength = mkOption { type = types.int; };
          });
        };
        options.macAddress = mkOption { type = types.nullOr types.str; default = null; };
      });
    };
    systemd.services = mkOption { type = types.attrsOf (types.submodule serviceOptions); default = { }; };
    environment.etc = mkOption {
      default = { };
      type = types.attrsOf (types.submodule ({ name, ... }: {
        options.text = mkOption { type = types.nullOr types.lines; default = null; };
        options.source = mkOption { type = types.nullOr types.path; default = null; };
        options.mode = mkOption { type = types.str; default = "symlink"; };
      }));
    };
    environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };
    boot.kernelParams = mkOption { type = types.listOf types.str; default = [ ]; };
    boot.loader.grub.enable = mkOption { type = types.bool; default = true; };
    boot.loader.grub.device = mkOption { type = types.str; default = ""; };
    fileSystems = mkOption {
      default = { };
      type = types.attrsOf (types.submodule {
        options.device = mkOption { type = types.str; };
        options.fsType = mkOption { type = types.str; default = "auto"; };
      });
    };
    services.openssh.enable = mkEnableOption "the OpenSSH daemon";
    systemd.network.links = mkOption {
      default = { };
      type = types.attrsOf (types.submodule {
        options.matchConfig = mkOption { type = types.attrsOf types.str; default = { }; };
        options.linkConfig = mkOption { type = types.attrsOf types.str; default = { }; };
      });
    };
    users.users = mkOption {
      default = { };
      type = types.attrsOf (types.submodule {
        options.isSystemUser = mkOption { type = types.bool; default = false; };
        options.group = mkOption { type = types.str; default = ""; };
        options.openssh.authorizedKeys.keys = mkOption { type = types.listOf types.str; default = [ ]; };
      });
    };
    users.groups = mkOption { type = types.attrsOf types.anything; default = { }; };
    virtualisation.vmVariant = mkOption {
      type = types.raw;
      readOnly = true;
      default = vmVariant.config;
      description = "The configuration as a QEMU VM (qemu-vm.nix added).";
    };
    virtualisation.memorySize = mkOption { type = types.ints.positive; default = 1024; };
    virtualisation.cores = mkOption { type = types.ints.positive; default = 1; };
    virtualisation.diskSize = mkOption { type = types.ints.positive; default = 1024; };
    isoImage.isoName = mkOption { type = types.str; default = "nixos.iso"; };
    isoImage.contents = mkOption { type = types.listOf types.attrs; default = [ ]; };
    system.stateVersion = mkOption { type = types.str; default = "24.05"; };
    system.build = mkOption { type = types.lazyAttrsOf types.unspecified; default = { }; };
  };

  config.system.build.toplevel = pkgs.runCommand "nixos-system-${config.networking.hostName}" {
    # Everything a real toplevel depends on: the units, /etc and the packages.
    units = builtins.toJSON (lib.mapAttrs (n: s: { inherit (s) script environment after wantedBy; path = map toString s.path; }) config.systemd.services);
    etc = builtins.toJSON (lib.mapAttrs (n: e: e.text) config.environment.etc);
    packages = map toString config.environment.systemPackages;
    fileSystems = builtins.toJSON config.fileSystems;
    interfaces = builtins.toJSON config.networking.interfaces;
  } "echo \"$units\" > $out";
}
