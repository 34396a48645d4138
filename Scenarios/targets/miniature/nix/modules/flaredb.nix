# FlareDB: the database, with its own REST API (/health).
{ config, lib, pkgs, ... }:
let
  cfg = config.services.flaredb;
  inherit (lib) mkOption mkEnableOption mkIf types;
in
{
  options.services.flaredb = {
    enable = mkEnableOption "FlareDB";
    port = mkOption { type = types.port; default = 2479; };
    httpPort = mkOption { type = types.port; default = 8082; };
    dataDir = mkOption { type = types.str; default = "/var/lib/flaredb"; };
    chainfireEndpoint = mkOption { type = types.str; default = "http://127.0.0.1:2379"; };
  };

  config = mkIf cfg.enable {
    networking.firewall.allowedTCPPorts = [ cfg.port cfg.httpPort ];
    systemd.services.flaredb = {
      description = "FlareDB";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" "chainfire.service" ];
      environment = {
        FLAREDB_PORT = toString cfg.port;
        FLAREDB_HTTP_PORT = toString cfg.httpPort;
        FLAREDB_DATA_DIR = cfg.dataDir;
        FLAREDB_CHAINFIRE = cfg.chainfireEndpoint;
      };
      script = ''
        exec flaredb-server
      '';
    };
  };
}
