{
  description = "PhotonCloud monorepo (miniature of the parts the 2026-03-02 investigation touched)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      lib = nixpkgs.lib;
      pkgs = nixpkgs.legacyPackages.${system};
      rustService = pname: src: extra: pkgs.rustPlatform.buildRustPackage ({
        inherit pname src;
        version = "0.1.0";
      } // extra);
    in {
      packages.${system} = {
        chainfire-server = rustService "chainfire-server" ./chainfire {
          doCheck = false;
        };
        flaredb-server = rustService "flaredb-server" ./flaredb {
          doCheck = false;
        };
        iam-server = rustService "iam-server" ./iam {
          doCheck = false;
        };
        plasmavmc-server = rustService "plasmavmc-server" ./plasmavmc {
          doCheck = false;
        };
        novanet-server = rustService "novanet-server" ./novanet {
          doCheck = false;
        };
        flashdns-server = rustService "flashdns-server" ./flashdns {
          doCheck = false;
        };
        fiberlb-server = rustService "fiberlb-server" ./fiberlb {
          doCheck = false;
        };
        creditservice-server = rustService "creditservice-server" ./creditservice {
          doCheck = false;
        };
        photon-cli = rustService "photon-cli" ./cli { };
      };

      nixosModules = {
        chainfire = ./nix/modules/chainfire.nix;
        flaredb = ./nix/modules/flaredb.nix;
        creditservice = ./nix/modules/creditservice.nix;
        first-boot-automation = ./nix/modules/first-boot-automation.nix;
        plasmacloud-cluster = ./nix/modules/plasmacloud-cluster.nix;
        nix-nos-topology = ./nix/modules/nix-nos/topology.nix;
      };

      nixosConfigurations = {
        node01 = lib.nixosSystem {
          inherit system;
          modules = [ ./docs/por/T036-vm-cluster-deployment/node01/configuration.nix ];
        };
        node02 = lib.nixosSystem {
          inherit system;
          modules = [ ./docs/por/T036-vm-cluster-deployment/node02/configuration.nix ];
        };
        node03 = lib.nixosSystem {
          inherit system;
          modules = [ ./docs/por/T036-vm-cluster-deployment/node03/configuration.nix ];
        };
        plasmacloud-iso = lib.nixosSystem {
          inherit system;
          modules = [ ./nix/iso/plasmacloud-iso.nix ];
        };
      };
    };
}
