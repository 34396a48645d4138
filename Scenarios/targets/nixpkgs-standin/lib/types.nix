# Option types with nixpkgs' names, descriptions, checks and merge rules.
{ lib }:
let
  inherit (builtins) isAttrs isBool isInt isString isList isFunction isPath attrNames head length concatMap
    listToAttrs filter mapAttrs all any elem zipAttrsWith;
  mkOptionType = { name, description ? name, check ? (x: true), merge ? lib.mergeDefaultOption, getSubOptions ? (prefix: { }), ... }@attrs:
    attrs // { _type = "option-type"; inherit name description check merge getSubOptions; };

  # One element's merge, through the same path as an option's, so mkIf and type
  # checks apply inside lists and attribute sets too.
  mergeElement = loc: type: defs: (lib.mergeDefinitions loc type defs);

  types = rec {
    inherit mkOptionType;
    unspecified = mkOptionType { name = "unspecified"; description = "unspecified value"; };
    raw = mkOptionType { name = "raw"; description = "raw value"; merge = lib.mergeOneOption; };
    anything = mkOptionType {
      name = "anything"; description = "anything";
      merge = loc: defs:
        let values = map (d: d.value) defs; in
        if all isAttrs values && !(any lib.isDerivation values)
        then mapAttrs (n: vs: anything.merge (loc ++ [ n ]) vs)
          (zipAttrsWith (n: vs: vs) (map (d: mapAttrs (n: v: { inherit (d) file; value = v; }) d.value) defs))
        else if all isList values then builtins.concatLists values
        else lib.mergeEqualOption loc defs;
    };
    bool = mkOptionType { name = "bool"; description = "boolean"; check = isBool; merge = lib.mergeEqualOption; };
    int = mkOptionType { name = "int"; description = "signed integer"; check = isInt; merge = lib.mergeEqualOption; };
    ints = {
      between = lo: hi: mkOptionType { name = "intBetween"; description = "integer between ${toString lo} and ${toString hi} (both inclusive)"; check = x: isInt x && x >= lo && x <= hi; merge = lib.mergeEqualOption; };
      unsigned = mkOptionType { name = "unsignedInt"; description = "unsigned integer, meaning >=0"; check = x: isInt x && x >= 0; merge = lib.mergeEqualOption; };
      positive = mkOptionType { name = "positiveInt"; description = "positive integer, meaning >0"; check = x: isInt x && x > 0; merge = lib.mergeEqualOption; };
      u16 = mkOptionType { name = "unsignedInt16"; description = "16 bit unsigned integer; between 0 and 65535 (both inclusive)"; check = x: isInt x && x >= 0 && x <= 65535; merge = lib.mergeEqualOption; };
    };
    port = ints.u16;
    str = mkOptionType { name = "str"; description = "string"; check = isString; merge = lib.mergeEqualOption; };
    nonEmptyStr = mkOptionType { name = "nonEmptyStr"; description = "non-empty string"; check = x: isString x && x != ""; merge = lib.mergeEqualOption; };
    singleLineStr = str;
    lines = mkOptionType {
      name = "lines"; description = "strings concatenated with \"\\n\""; check = isString;
      merge = loc: defs: builtins.concatStringsSep "\n" (map (d: d.value) defs);
    };
    path = mkOptionType { name = "path"; description = "path"; check = x: isPath x || (isString x && builtins.substring 0 1 x == "/") || lib.isDerivation x; merge = lib.mergeEqualOption; };
    package = mkOptionType { name = "package"; description = "package"; check = x: lib.isDerivation x || (isString x && builtins.substring 0 1 x == "/"); merge = lib.mergeOneOption; };
    attrs = mkOptionType { name = "attrs"; description = "attribute set"; check = isAttrs; merge = loc: builtins.foldl' (res: def: res // def.value) { }; };
    enum = values: mkOptionType {
      name = "enum";
      description = "one of ${builtins.concatStringsSep ", " (map (v: if isString v then "\"${v}\"" else builtins.toJSON v) values)}";
      check = x: elem x values; merge = lib.mergeEqualOption;
    };
    nullOr = elemType: mkOptionType {
      name = "nullOr"; description = "null or ${elemType.description}";
      check = x: x == null || elemType.check x;
      merge = loc: defs:
        let nulls = filter (d: d.value == null) defs; in
        if length nulls == length defs then null
        else if nulls != [ ] then throw "The option `${lib.showOption loc}' is defined both null and not null, in ${lib.showFiles (map (d: d.file) defs)}."
        else elemType.merge loc defs;
    };
    either = t1: t2: mkOptionType {
      name = "either"; description = "${t1.description} or ${t2.description}";
      check = x: t1.check x || t2.check x;
      merge = loc: defs:
        if all (d: t1.check d.value) defs then t1.merge loc defs
        else if all (d: t2.check d.value) defs then t2.merge loc defs
        else lib.mergeOneOption loc defs;
    };
    oneOf = ts: builtins.foldl' either (head ts) (builtins.tail ts);
    listOf = elemType: mkOptionType {
      name = "listOf"; description = "list of ${elemType.description}"; check = isList;
      merge = loc: defs:
        map (x: x.mergedValue) (filter (x: x.isDefined) (concatMap (d:
          lib.imap1 (m: v: mergeElement (loc ++ [ "[definition-entry ${toString m}]" ]) elemType [ { inherit (d) file; value = v; } ]) d.value) defs));
    };
    attrsOf = elemType: mkOptionType {
      name = "attrsOf"; description = "attribute set of ${elemType.description}"; check = isAttrs;
      merge = loc: defs:
        let
          perName = zipAttrsWith (n: vs: vs)
            (concatMap (d: map (v: mapAttrs (n: x: { inherit (d) file; value = x; }) v) (lib.pushDownProperties d.value)) defs);
          merged = mapAttrs (n: vs: mergeElement (loc ++ [ n ]) elemType vs) perName;
        in mapAttrs (n: m: m.mergedValue) (lib.filterAttrs (n: m: m.isDefined) merged);
    };
    lazyAttrsOf = attrsOf;
    submodule = module: submoduleWith { modules = [ module ]; };
    submoduleWith = { modules, specialArgs ? { }, ... }: mkOptionType {
      name = "submodule"; description = "submodule";
      check = x: isAttrs x || isFunction x || isPath x;
      merge = loc: defs:
        (lib.evalModules {
          modules = modules ++ map (d: { _file = d.file; imports = [ d.value ]; }) defs;
          specialArgs = { name = lib.last loc; } // specialArgs;
          prefix = loc;
        }).config;
    };
  };
in types
