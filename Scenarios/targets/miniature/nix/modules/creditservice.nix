# creditservice: metering and credits, stored in the node's FlareDB.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.creditservice;
  flaredb = config.services.flaredb;
  inherit (lib) mkOption mkEnableOption mkIf types;
in
{
  options.services.creditservice = {
    enable = mkEnableOption "creditservice";
    port = mkOption { type = types.port; default = 8090; };
  };

  config = mkIf cfg.enable {
    systemd.services.creditservice = {
      description = "creditservice";
      wantedBy = [ "multi-user.target" ];
      after = [ "flaredb.service" ];
      environment = {
        CREDITSERVICE_PORT = toString cfg.port;
        CREDITSERVICE_FLAREDB = "http://127.0.0.1:${toString flaredb.httpPort}";
      };
      script = ''
        exec creditservice-server
      '';
    };
  };
}
