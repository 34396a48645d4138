{
  # The stand-in for nix-community/nixpkgs.lib: the part of nixpkgs' `lib` that the
  # PhotonCloud miniature uses, with the same names, semantics and error texts.
  description = "nixpkgs lib stand-in (offline)";
  outputs = { self }: { lib = import ./default.nix; };
}
