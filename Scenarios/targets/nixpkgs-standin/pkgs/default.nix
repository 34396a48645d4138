# Placeholder packages: real derivations (they instantiate, so drvPath works) that
# build nothing useful. The fixture guest supplies the real programs by name.
{ lib, system }:
let
  placeholder = name: derivation {
    inherit name system;
    builder = "/bin/sh";
    args = [ "-c" "echo placeholder ${name} > $out" ];
  };
  mkDerivation = { pname ? null, version ? "0", name ? "${pname}-${version}", doCheck ? true, ... }@attrs:
    (derivation {
      inherit name system;
      builder = "/bin/sh";
      args = [ "-c" "echo ${name} > $out" ];
      doCheck = if doCheck then "1" else "";
    }) // removeAttrs attrs [ "src" ] // { inherit doCheck; };
  writeTextFile = { name, text, executable ? false, destination ? "" }: derivation {
    inherit name system text;
    builder = "/bin/sh";
    passAsFile = [ "text" ];
    args = [ "-c" "mkdir -p $(dirname $out${destination}); cat $textPath > $out${destination}" ];
  };
in {
  inherit lib system;
  stdenv.mkDerivation = mkDerivation;
  rustPlatform.buildRustPackage = mkDerivation;
  writeText = name: text: writeTextFile { inherit name text; };
  writeShellScript = name: text: writeTextFile { inherit name; executable = true; text = "#!/bin/sh\n${text}"; };
  writeShellScriptBin = name: text: writeTextFile { inherit name; executable = true; destination = "/bin/${name}"; text = "#!/bin/sh\n${text}"; };
  runCommand = name: env: script: derivation ({ inherit name system; builder = "/bin/sh"; args = [ "-c" script ]; } // env);
} // lib.genAttrs [ "bash" "coreutils" "curl" "jq" "etcd" "iproute2" "openssl" "gnugrep" "gnused" "util-linux" "e2fsprogs" "systemd" ] placeholder
