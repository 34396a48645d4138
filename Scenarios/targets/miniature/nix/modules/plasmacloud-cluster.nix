# plasmacloud-cluster: the cluster topology, and the cluster-config.json every
# node's services and first-boot automation read.
{ config, lib, pkgs, ... }:
let
  cfg = config.plasmacloud.cluster;
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
  options.plasmacloud.cluster = {
    enable = mkOption { type = types.bool; default = false; };
    name = mkOption { type = types.str; default = "plasmacloud"; };
    leader = mkOption { type = types.str; description = "The node that bootstraps the cluster."; };
    nodes = mkOption { type = types.attrsOf nodeType; default = { }; };
  };

  config = mkIf cfg.enable {
    # cluster-config.json: one generator here, and another in nix-nos/topology.nix.
    environment.etc."plasmacloud/cluster-config.json".text =
      let
        leader = cfg.nodes.${cfg.leader};
        self = config.networking.hostName;
      in
      builtins.toJSON {
        cluster_name = cfg.name;
        node_id = self;
        bootstrap = self == cfg.leader;
        leader_url = "https://${leader.ip}:${toString leader.apiPort}";
        flaredb_leader_url = "http://${leader.ip}:${toString leader.flaredbHttpPort}";
        members = lib.mapAttrsToList (name: n: {
          id = name;
          raft_addr = "${n.ip}:${toString n.raftPort}";
          api_addr = "${n.ip}:${toString n.apiPort}";
          roles = n.roles;
        }) cfg.nodes;
        flaredb_endpoints = lib.mapAttrsToList (name: n: "${n.ip}:${toString n.flaredbPort}")
          (lib.filterAttrs (name: n: builtins.elem "flaredb" n.roles) cfg.nodes);
      };
  };
}
