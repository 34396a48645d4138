# Placeholder packages: real derivations that build nothing useful (the fixture
# guest supplies the real programs by name), and the few builders the miniature
# and the stand-in NixOS use. Every builder is the guest tools' static busybox.
{ lib, system, tools }:
let
  build = name: script: env: derivation ({
    inherit name system;
    builder = "${tools}/busybox";
    args = [ "sh" "-c" script ];
    PATH = "${tools}/bin";
  } // env);
  placeholder = name: build name "echo placeholder ${name} > $out" { };
  mkDerivation = { pname ? null, version ? "0", name ? "${pname}-${version}", doCheck ? true, ... }@attrs:
    (build name "echo ${name} > $out" { doCheck = if doCheck then "1" else ""; })
    // removeAttrs attrs [ "src" ] // { inherit doCheck; };
  writeTextFile = { name, text, executable ? false, destination ? "" }:
    build name ''
      mkdir -p "$(dirname "$out${destination}")"; cat "$textPath" > "$out${destination}"
      ${lib.optionalString executable "chmod +x \"$out${destination}\""}
    '' { inherit text; passAsFile = [ "text" ]; };
in {
  inherit lib system;
  guestTools = tools;
  stdenv.mkDerivation = mkDerivation;
  rustPlatform.buildRustPackage = mkDerivation;
  writeText = name: text: writeTextFile { inherit name text; };
  writeShellScript = name: text: writeTextFile { inherit name; executable = true; text = "#!${tools}/bin/sh\n${text}"; };
  writeShellScriptBin = name: text: writeTextFile { inherit name; executable = true; destination = "/bin/${name}"; text = "#!${tools}/bin/sh\n${text}"; };
  runCommand = name: env: script: build name script env;
} // lib.genAttrs [ "bash" "coreutils" "curl" "jq" "etcd" "iproute2" "openssl" "gnugrep" "gnused" "util-linux" "e2fsprogs" "systemd" ] placeholder
