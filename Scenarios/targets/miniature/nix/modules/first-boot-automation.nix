# first-boot automation: on a new node's first boot, join it to the running
# cluster through the leader's member API, for Chainfire and then FlareDB.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.first-boot-automation;
  inherit (lib) mkOption mkEnableOption mkIf types;

  # The leader's URL comes from cluster-config.json when there is one.
  joinScript = { service, leaderUrl, configKey, leaderUrlPath, body }: ''
    set -u
    STAMP=/var/lib/first-boot/${service}.joined
    [ -e "$STAMP" ] && exit 0
    LEADER_URL="$(jq -r '.${configKey} // empty' ${cfg.clusterConfigFile} 2>/dev/null || true)"
    LEADER_URL="''${LEADER_URL:-${leaderUrl}}"
    NODE_ID="${config.networking.hostName}"
    BODY="${body}"
    echo "first-boot: joining ${service} through $LEADER_URL${leaderUrlPath}"
    curl -sf --max-time 10 -X POST "$LEADER_URL${leaderUrlPath}" \
      -H 'Content-Type: application/json' -d "$BODY"
    mkdir -p /var/lib/first-boot && touch "$STAMP"
  '';
in
{
  options.services.first-boot-automation = {
    enable = mkEnableOption "first-boot cluster join";

    clusterConfigFile = mkOption {
      type = types.str;
      default = "/etc/plasmacloud/cluster-config.json";
    };

    advertiseAddress = mkOption { type = types.str; description = "This node's cluster address."; };

    chainfire = {
      enable = mkOption { type = types.bool; default = true; };
      leaderUrl = mkOption {
        type = types.str;
        default = "https://localhost:2379";
        description = "Where to reach the Chainfire leader when cluster-config.json does not say.";
      };
      raftPort = mkOption { type = types.port; default = 2380; };
    };

    flaredb = {
      enable = mkOption { type = types.bool; default = true; };
      leaderUrl = mkOption {
        type = types.str;
        default = "http://localhost:8082";
        description = "Where to reach the FlareDB leader's REST API when cluster-config.json does not say.";
      };
      port = mkOption { type = types.port; default = 2479; };
    };
  };

  config = mkIf cfg.enable {
    systemd.services.first-boot-chainfire-join = mkIf cfg.chainfire.enable {
      description = "Join this node to Chainfire";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      before = [ "chainfire.service" ];
      serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
      path = [ pkgs.curl pkgs.jq ];
      script = joinScript {
        service = "chainfire";
        leaderUrl = cfg.chainfire.leaderUrl;
        configKey = "leader_url";
        leaderUrlPath = "/admin/member/add";
        body = ''{\"id\":\"$NODE_ID\",\"raft_addr\":\"${cfg.advertiseAddress}:${toString cfg.chainfire.raftPort}\"}'';
      };
    };

    systemd.services.first-boot-flaredb-join = mkIf cfg.flaredb.enable {
      description = "Join this node to FlareDB";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" "first-boot-chainfire-join.service" ];
      before = [ "flaredb.service" ];
      serviceConfig = { Type = "oneshot"; RemainAfterExit = true; };
      path = [ pkgs.curl pkgs.jq ];
      script = joinScript {
        service = "flaredb";
        leaderUrl = cfg.flaredb.leaderUrl;
        configKey = "flaredb_leader_url";
        leaderUrlPath = "/admin/member/add";
        body = ''{\"id\":\"$NODE_ID\",\"addr\":\"${cfg.advertiseAddress}:${toString cfg.flaredb.port}\"}'';
      };
    };
  };
}
