# A small reimplementation of nixpkgs' lib: the attrset/list/string helpers the
# miniature uses and the module system (evalModules, mkOption, types, mkIf, …).
# Error messages are nixpkgs' own texts, so a finding reproduces the same way here
# and against the real lib.
let
  lib = builtins // strings // lists // attrsets // options // modules // { inherit types; trivial = { inherit id; }; };
  id = x: x;

  strings = rec {
    concatStringsSep = builtins.concatStringsSep;
    concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
    concatStrings = builtins.concatStringsSep "";
    optionalString = cond: s: if cond then s else "";
    escapeShellArg = arg: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString arg)}'";
    escapeShellArgs = args: builtins.concatStringsSep " " (map escapeShellArg args);
    makeBinPath = paths: builtins.concatStringsSep ":" (map (p: "${p}/bin") paths);
    hasPrefix = pref: str: builtins.substring 0 (builtins.stringLength pref) str == pref;
    hasInfix = infix: content: builtins.match ".*${escapeRegex infix}.*" content != null;
    escapeRegex = builtins.replaceStrings
      [ "\\" "[" "]" "{" "}" "(" ")" "." "*" "+" "?" "^" "$" "|" ]
      [ "\\\\" "\\[" "\\]" "\\{" "\\}" "\\(" "\\)" "\\." "\\*" "\\+" "\\?" "\\^" "\\$" "\\|" ];
    showOption = parts: builtins.concatStringsSep "." parts;
  };

  lists = rec {
    optional = cond: elem: if cond then [ elem ] else [ ];
    optionals = cond: elems: if cond then elems else [ ];
    foldl' = builtins.foldl';
    foldr = op: nul: list: let len = builtins.length list; fold' = n: if n == len then nul else op (builtins.elemAt list n) (fold' (n + 1)); in fold' 0;
    flatten = x: if builtins.isList x then builtins.concatMap flatten x else [ x ];
    unique = builtins.foldl' (acc: e: if builtins.elem e acc then acc else acc ++ [ e ]) [ ];
    last = list: builtins.elemAt list (builtins.length list - 1);
    init = list: builtins.genList (builtins.elemAt list) (builtins.length list - 1);
    imap1 = f: list: builtins.genList (n: f (n + 1) (builtins.elemAt list n)) (builtins.length list);
    range = first: last: if first > last then [ ] else builtins.genList (n: first + n) (last - first + 1);
    sort = builtins.sort;
    concatLists = builtins.concatLists;
    findFirst = pred: default: list: let found = builtins.filter pred list; in if found == [ ] then default else builtins.head found;
  };

  attrsets = rec {
    mapAttrsToList = f: attrs: map (name: f name attrs.${name}) (builtins.attrNames attrs);
    filterAttrs = pred: set: builtins.listToAttrs (builtins.concatMap (name: let v = set.${name}; in if pred name v then [ { inherit name; value = v; } ] else [ ]) (builtins.attrNames set));
    nameValuePair = name: value: { inherit name value; };
    genAttrs = names: f: builtins.listToAttrs (map (n: nameValuePair n (f n)) names);
    recursiveUpdate = lhs: rhs: recursiveUpdateUntil (path: lhs: rhs: !(builtins.isAttrs lhs && builtins.isAttrs rhs)) lhs rhs;
    recursiveUpdateUntil = pred: lhs: rhs:
      let f = attrPath: builtins.zipAttrsWith (n: values:
            let here = attrPath ++ [ n ]; in
            if builtins.length values == 1 || pred here (builtins.elemAt values 1) (builtins.head values)
            then builtins.head values else f here values);
      in f [ ] [ rhs lhs ];
    attrByPath = attrPath: default: e:
      if attrPath == [ ] then e
      else let a = builtins.head attrPath; in
        if e ? ${a} then attrByPath (builtins.tail attrPath) default e.${a} else default;
    setAttrByPath = attrPath: value:
      if attrPath == [ ] then value else { ${builtins.head attrPath} = setAttrByPath (builtins.tail attrPath) value; };
    isDerivation = value: value.type or null == "derivation";
  };

  options = rec {
    mkOption = { default ? null, defaultText ? null, example ? null, description ? null, type ? types.unspecified, internal ? null, visible ? null, readOnly ? null, apply ? null, ... }@attrs:
      attrs // { _type = "option"; type = type; };
    mkEnableOption = name: mkOption { default = false; example = true; description = "Whether to enable ${name}."; type = types.bool; };
    mkPackageOption = pkgs: name: { default ? [ name ], ... }:
      mkOption { type = types.package; default = attrsets.attrByPath (if builtins.isList default then default else [ default ]) null pkgs; };
    isOption = x: builtins.isAttrs x && x._type or "" == "option";
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    showFiles = files: builtins.concatStringsSep " and " (map (f: "`${toString f}'") files);
    showDefs = defs: builtins.concatStringsSep "" (map (def:
      let v = def.value;
          shown = if builtins.isString v then "\"${v}\"" else if builtins.isInt v || builtins.isBool v then builtins.toJSON v
                  else if builtins.isList v then "[ ... ]" else if builtins.isAttrs v then "{ ... }" else "<${builtins.typeOf v}>";
      in "\n- In `${toString def.file}': ${shown}") defs);
    mergeEqualOption = loc: defs:
      if defs == [ ] then abort "This case should never happen."
      else (builtins.foldl' (first: def:
        if def.value != first.value
        then throw "The option `${strings.showOption loc}' has conflicting definition values:${showDefs [ first def ]}\nUse `lib.mkForce value` or `lib.mkDefault value` to change the priority on any of these definitions."
        else first) (builtins.head defs) (builtins.tail defs)).value;
    mergeOneOption = loc: defs:
      if builtins.length defs == 1 then (builtins.head defs).value
      else throw "The unique option `${strings.showOption loc}' is defined multiple times. Definition values:${showDefs defs}";
    mergeDefaultOption = loc: defs:
      let list = map (d: d.value) defs; in
      if builtins.length list == 1 then builtins.head list
      else if builtins.all builtins.isList list then builtins.concatLists list
      else if builtins.all builtins.isAttrs list then builtins.foldl' (a: b: a // b) { } list
      else mergeEqualOption loc defs;
  };

  modules = import ./modules.nix { inherit lib; };
  types = import ./types.nix { inherit lib; };
in lib
