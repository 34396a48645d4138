{
  description = "PhotonCloud test cluster: node01-node06";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      mkNode = name: nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [ ./common.nix (./. + "/${name}.nix") ];
      };
    in {
      nixosConfigurations = nixpkgs.lib.genAttrs [ "node01" "node02" "node03" "node04" "node05" "node06" ] mkNode;
    };
}
