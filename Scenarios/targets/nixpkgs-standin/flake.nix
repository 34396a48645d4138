{
  # Stand-in for nixpkgs, for evaluating the PhotonCloud miniature offline: `lib`
  # (from the nixpkgs-lib input, so the real nix-community/nixpkgs.lib can be put
  # in with `--override-input nixpkgs/nixpkgs-lib`), `lib.nixosSystem` over a small
  # set of NixOS option declarations, and `legacyPackages` with placeholder packages.
  description = "nixpkgs stand-in (offline)";
  inputs.nixpkgs-lib.url = "github:nix-community/nixpkgs.lib";
  outputs = { self, nixpkgs-lib }:
    let
      baseLib = nixpkgs-lib.lib;
      pkgsFor = system: import ./pkgs { lib = baseLib; inherit system; };
    in {
      lib = baseLib // {
        nixosSystem = import ./nixos { lib = baseLib; inherit pkgsFor; };
      };
      legacyPackages.x86_64-linux = pkgsFor "x86_64-linux";
    };
}
