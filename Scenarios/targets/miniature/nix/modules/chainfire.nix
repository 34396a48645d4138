# Chainfire: the etcd-like Raft key-value store. Clients on clientPort, Raft
# peers on raftPort, and a plain-HTTP REST API (/health, /admin/member/add) on httpPort.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.chainfire;
  inherit (lib) mkOption mkEnableOption mkIf types;
in
{
  options.services.chainfire = {
    enable = mkEnableOption "Chainfire";
    nodeName = mkOption { type = types.str; default = config.networking.hostName; };
    advertiseAddress = mkOption { type = types.str; description = "Address other members reach this node at."; };
    clientPort = mkOption { type = types.port; default = 2379; };
    raftPort = mkOption { type = types.port; default = 2380; };
    httpPort = mkOption { type = types.port; default = 8081; description = "Plain-HTTP REST API."; };
    dataDir = mkOption { type = types.str; default = "/var/lib/chainfire"; };
    initialMembers = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = "Members that bootstrap the cluster: name -> address. Empty on nodes that join later.";
    };
    heartbeatMs = mkOption { type = types.ints.positive; default = 100; };
    electionTimeoutMs = mkOption { type = types.ints.positive; default = 1000; };
  };

  config = mkIf cfg.enable {
    networking.firewall.allowedTCPPorts = [ cfg.clientPort cfg.raftPort cfg.httpPort ];
    systemd.services.chainfire = {
      description = "Chainfire key-value store";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      environment = {
        CHAINFIRE_NAME = cfg.nodeName;
        CHAINFIRE_ADDR = cfg.advertiseAddress;
        CHAINFIRE_CLIENT_PORT = toString cfg.clientPort;
        CHAINFIRE_RAFT_PORT = toString cfg.raftPort;
        CHAINFIRE_HTTP_PORT = toString cfg.httpPort;
        CHAINFIRE_DATA_DIR = cfg.dataDir;
        CHAINFIRE_INITIAL_MEMBERS = lib.concatStringsSep "," (lib.mapAttrsToList (n: a: "${n}=${a}") cfg.initialMembers);
        CHAINFIRE_HEARTBEAT_MS = toString cfg.heartbeatMs;
        CHAINFIRE_ELECTION_MS = toString cfg.electionTimeoutMs;
      };
      script = ''
        exec chainfire-server
      '';
    };
  };
}
