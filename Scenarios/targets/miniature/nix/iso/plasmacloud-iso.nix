# Installer ISO: on boot it phones home to the Deployer, then installs this node
# from the repository copy baked into the image.
{ config, lib, pkgs, ... }:
{
  isoImage.isoName = "plasmacloud-installer.iso";
  isoImage.contents = [ { source = ../..; target = "/opt/plasmacloud-src"; } ];

  systemd.services.plasmacloud-phone-home = {
    description = "Announce this machine to the Deployer";
    wantedBy = [ "multi-user.target" ];
    after = [ "network-online.target" ];
    path = [ pkgs.curl pkgs.jq ];
    environment.DEPLOYER_URL = lib.mkDefault "http://deployer.local:8080";
    script = ''
      DEPLOYER_URL="''${DEPLOYER_URL:-http://deployer.local:8080}"
      NODE_ID="$(cat /etc/plasmacloud/node-id 2>/dev/null || hostname)"
      curl -sf --max-time 10 -X POST "$DEPLOYER_URL/api/v1/phone-home" \
        -H 'Content-Type: application/json' \
        -d "{\"node_id\": \"$NODE_ID\"}"
    '';
  };

  systemd.services.plasmacloud-auto-install = {
    description = "Partition and install this node";
    wantedBy = [ "multi-user.target" ];
    after = [ "plasmacloud-phone-home.service" ];
    requires = [ "plasmacloud-phone-home.service" ];
    script = ''
      NODE_ID="$(cat /etc/plasmacloud/node-id 2>/dev/null || hostname)"
      nix run github:nix-community/disko -- --mode disko /opt/plasmacloud-src/docs/por/T036-vm-cluster-deployment/$NODE_ID/disko.nix
      nixos-install --flake "/opt/plasmacloud-src#$NODE_ID" --no-root-passwd
    '';
  };
}
