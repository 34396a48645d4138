# nix-nos topology: the same cluster description for the nix-nos tooling, which
# writes its own cluster-config.json.
{ config, lib, pkgs, ... }:
let
  cfg = config.nix-nos.topology;
  inherit (lib) mkOption mkIf types;
  nodeType = types.submodule {
    options = {
      ip = mkOption { type = types.str; };
      roles = mkOption { type = types.listOf types.str; default = [ ]; };
      apiPort = mkOption { type = types.port; default = 2379; };
      raftPort = mkOption { type = types.port; default = 2380; };
      httpPort = mkOption { type = types.port; default = 8081; };
      flaredbPort = mkOption { type = types.port; default = 2479; };
      flaredbHttpPort = mkOption { type = types.port; default = 8082; };
    };
  };
in
{
  options.nix-nos.topology = {
    enable = mkOption { type = types.bool; default = false; };
    name = mkOption { type = types.str; default = "plasmacloud"; };
    leader = mkOption { type = types.str; };
    nodes = mkOption { type = types.attrsOf nodeType; default = { }; };
  };

  config = mkIf cfg.enable {
    environment.etc."nix-nos/cluster-config.json".text =
      let
        leader = cfg.nodes.${cfg.leader};
        self = config.networking.hostName;
      in
      builtins.toJSON {
        cluster_name = cfg.name;
        node_id = self;
        bootstrap = self == cfg.leader;
        leader_url = "https://${leader.ip}:${toString leader.apiPort}";
        members = lib.mapAttrsToList (name: n: {
          id = name;
          raft_addr = "http://${n.ip}:${toString n.raftPort}";
          api_addr = "${n.ip}:${toString n.apiPort}";
          roles = n.roles;
        }) cfg.nodes;
      };
  };
}
