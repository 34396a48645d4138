# The module system: how nixpkgs' lib/modules.nix evaluates NixOS modules, reduced
# to what the miniature needs: imports, option declarations, definitions with
# mkIf / mkMerge / mkOverride pushed down lazily, priorities, type checks, and the
# same errors for undeclared and conflicting options.
{ lib }:
let
  inherit (builtins) isAttrs isFunction isPath isString isBool attrNames head tail length concatMap filter
    foldl' mapAttrs removeAttrs functionArgs intersectAttrs listToAttrs all any elem;
  showOption = lib.showOption;

  mkIf = condition: content: { _type = "if"; inherit condition content; };
  mkMerge = contents: { _type = "merge"; inherit contents; };
  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  mkOptionDefault = mkOverride 1500;
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
  mkVMOverride = mkOverride 10;
  defaultPriority = 100;

  # `mkIf c { a = …; }` becomes `{ a = mkIf c …; }`: the attribute names of a
  # definition are known without forcing c, which keeps `config` lazy.
  pushDownProperties = cfg:
    if cfg._type or "" == "merge" then concatMap pushDownProperties cfg.contents
    else if cfg._type or "" == "if" then map (mapAttrs (n: v: mkIf cfg.condition v)) (pushDownProperties cfg.content)
    else if cfg._type or "" == "override" then map (mapAttrs (n: v: mkOverride cfg.priority v)) (pushDownProperties cfg.content)
    else [ cfg ];

  dischargeProperties = def:
    if def._type or "" == "merge" then concatMap dischargeProperties def.contents
    else if def._type or "" == "if" then
      if isBool def.condition then (if def.condition then dischargeProperties def.content else [ ])
      else throw "‘mkIf’ called with a non-Boolean condition"
    else [ def ];

  priorityOf = def: if def.value._type or "" == "override" then def.value.priority else defaultPriority;
  filterOverrides = defs:
    let
      highest = foldl' (p: d: let q = priorityOf d; in if q < p then q else p) 9999 defs;
      strip = def: if def.value._type or "" == "override" then def // { value = def.value.content; } else def;
    in concatMap (d: map (v: d // { value = v; }) (dischargeProperties (strip d).value)) (filter (d: priorityOf d == highest) defs);

  # Merges the definitions of one option: what lib.mergeDefinitions does.
  mergeDefinitions = loc: type: defs:
    let
      discharged = concatMap (d: map (v: { inherit (d) file; value = v; }) (dischargeProperties d.value)) defs;
      final = filterOverrides discharged;
      checked = map (def:
        if type.check def.value then def
        else throw "A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values:${lib.showDefs [ def ]}") final;
    in {
      isDefined = final != [ ];
      defsFinal = final;
      mergedValue = type.merge loc checked;
    };

  applyModuleArgs = f: args: let fa = functionArgs f; in if fa == { } then f args else f (intersectAttrs fa args);

  # A module in normal form: { key, file, imports, options, config }.
  loadModule = args: file: key: m:
    if isPath m || isString m then loadModule args (toString m) (toString m) (import m)
    else if isFunction m then loadModule args file key (applyModuleArgs m args)
    else if isAttrs m then
      let
        file' = m._file or file;
        key' = toString (m.key or key);
        m' = removeAttrs m [ "_file" "key" "disabledModules" "meta" "_class" ];
        explicit = m' ? options || m' ? config;
        extra = removeAttrs m' [ "imports" "options" "config" ];
      in
        if explicit && extra != { } then
          throw "Module `${file'}' has an unsupported attribute `${head (attrNames extra)}'. This is caused by introducing a top-level `config' or `options' attribute. Add configuration attributes immediately on the top level instead, or move all of them (namely: ${toString (attrNames extra)}) into the explicit `config' attribute."
        else {
          file = file'; key = key';
          imports = m'.imports or [ ];
          options = m'.options or { };
          config = if explicit then m'.config or { } else removeAttrs m' [ "imports" ];
        }
    else throw "Module `${file}' is not a function, path or attribute set but a ${builtins.typeOf m}.";

  # All modules reachable through imports, each once (by key, as nixpkgs does).
  collectModules = args: modules:
    let
      go = seen: todo:
        if todo == [ ] then { inherit seen; list = [ ]; }
        else
          let
            item = head todo;
            lm = loadModule args item.file item.key item.module;
            rest = tail todo;
          in if seen ? ${lm.key} then go seen rest
          else
            let
              children = lib.imap1 (i: c: { module = c; file = lm.file; key = "${lm.key}:anon-${toString i}"; }) lm.imports;
              next = go (seen // { ${lm.key} = true; }) (children ++ rest);
            in { seen = next.seen; list = [ lm ] ++ next.list; };
    in (go { } (lib.imap1 (i: m: { module = m; file = "<unknown-file>"; key = "anon-${toString i}"; }) modules)).list;

  # Merges option declarations into one tree. A leaf is { _decl = option; file; }.
  mergeDeclarations = loc: decls:
    let names = lib.unique (concatMap (d: attrNames d.value) decls);
    in listToAttrs (map (name:
      let
        here = concatMap (d: if d.value ? ${name} then [ { inherit (d) file; value = d.value.${name}; } ] else [ ]) decls;
        opts = filter (d: lib.isOption d.value) here;
        namespaces = filter (d: !(lib.isOption d.value)) here;
        loc' = loc ++ [ name ];
      in {
        inherit name;
        value =
          if opts == [ ] then { _namespace = mergeDeclarations loc' namespaces; }
          else if length opts > 1 then
            throw "The option `${showOption loc'}' in `${(elemAt' opts 1).file}' is already declared in `${(head opts).file}'."
          else if namespaces != [ ] then
            throw "The option `${showOption loc'}' in `${(head namespaces).file}' is a prefix of options in `${(head opts).file}'."
          else { _decl = (head opts).value; file = (head opts).file; };
      }) names);
  elemAt' = builtins.elemAt;

  # Definitions at `loc` that name something no option declares.
  unmatched = loc: tree: defs:
    concatMap (def:
      concatMap (name:
        if !(tree ? ${name}) then [ { loc = loc ++ [ name ]; file = def.file; value = def.value.${name}; } ]
        else if tree.${name} ? _namespace then
          unmatched (loc ++ [ name ]) tree.${name}._namespace
            (map (v: { inherit (def) file; value = v; }) (pushDownProperties def.value.${name}))
        else [ ]) (attrNames def.value)) defs;

  evalTree = loc: tree: defs:
    mapAttrs (name: node:
      let
        loc' = loc ++ [ name ];
        here = concatMap (d: if d.value ? ${name} then [ { inherit (d) file; value = d.value.${name}; } ] else [ ]) defs;
      in
        if node ? _namespace then
          evalTree loc' node._namespace (concatMap (d: map (v: { inherit (d) file; value = v; }) (pushDownProperties d.value)) here)
        else evalOption loc' node here) tree;

  evalOption = loc: node: defs:
    let
      opt = node._decl;
      type = opt.type or lib.types.unspecified;
      withDefault = defs ++ (if opt ? default then [ { file = node.file; value = mkOptionDefault opt.default; } ] else [ ]);
      merged = mergeDefinitions loc type withDefault;
      value =
        if merged.isDefined then (if opt ? apply && opt.apply != null then opt.apply merged.mergedValue else merged.mergedValue)
        else throw "The option `${showOption loc}' was accessed but has no value defined. Try setting the option.";
    in opt // { inherit value loc; isDefined = merged.isDefined; files = map (d: d.file) defs; declarations = [ node.file ]; definitions = map (d: d.value) merged.defsFinal; };

  valuesOf = tree: mapAttrs (name: v: if v ? _type && v._type == "option" then v.value else valuesOf v) tree;

  evalModules = { modules, specialArgs ? { }, prefix ? [ ], ... }@evalArgs:
    let
      # extendModules is a module argument too, as in nixpkgs (build-vm.nix uses it).
      args = { inherit lib options config extendModules; } // specialArgs;
      collected = collectModules args modules;
      tree = mergeDeclarations prefix (map (m: { inherit (m) file; value = m.options; }) collected);
      defs = concatMap (m: map (v: { inherit (m) file; value = v; }) (pushDownProperties m.config)) collected;
      options = evalTree prefix tree defs;
      bad = unmatched prefix tree defs;
      check =
        if bad == [ ] then null
        else let b = head bad; in
          throw "The option `${showOption b.loc}' does not exist. Definition values:${lib.showDefs [ b ]}";
      config = builtins.seq check (valuesOf options);
      extendModules = { modules ? [ ], specialArgs ? { }, prefix ? evalArgs.prefix or [ ] }:
        evalModules (evalArgs // { modules = evalArgs.modules ++ modules; specialArgs = evalArgs.specialArgs or { } // specialArgs; inherit prefix; });
    in {
      _type = "configuration";
      inherit options config extendModules;
    };
in {
  inherit mkIf mkMerge mkOverride mkOptionDefault mkDefault mkForce mkVMOverride evalModules mergeDefinitions
    pushDownProperties dischargeProperties;
  mkBefore = x: x;
  mkAfter = x: x;
}
