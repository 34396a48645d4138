{
  # Stand-in for nixpkgs, for evaluating and booting the PhotonCloud miniature
  # offline: `lib` (from the nixpkgs-lib input, so the real nix-community/nixpkgs.lib
  # can be put in with `--override-input nixpkgs/nixpkgs-lib`), `lib.nixosSystem`
  # over a small set of NixOS option declarations whose vmVariant boots, and
  # `legacyPackages` with placeholder packages. Every derivation is built by the
  # static busybox of the `guest-tools` input, which the harness always supplies
  # (Images/guest-tools/build.sh; `--override-input nixpkgs/guest-tools`).
  description = "nixpkgs stand-in (offline)";
  inputs.nixpkgs-lib.url = "github:nix-community/nixpkgs.lib";
  inputs.guest-tools = { url = "path:/var/lib/photoncloud-harness/images/guest-tools-not-built"; flake = false; };
  outputs = { self, nixpkgs-lib, guest-tools }:
    let
      baseLib = nixpkgs-lib.lib;
      pkgsFor = system: import ./pkgs { lib = baseLib; inherit system; tools = guest-tools; };
    in {
      lib = baseLib // {
        nixosSystem = import ./nixos { lib = baseLib; inherit pkgsFor; };
      };
      legacyPackages.x86_64-linux = pkgsFor "x86_64-linux";
    };
}
