import Foundation
import Nix

/// F6: the two cluster-config generators, each fed the same cluster in the option schema
/// it declares itself, must write the same JSON. Nothing about the schemas is assumed:
/// each generator's `options` tree is read, the cluster is mapped onto it where the
/// mapping is evident (a collection of nodes with an address, a leader, a name, roles),
/// and when it is not, the difference between the two schemas is the evidence.
struct ClusterConfigDriftCheck: FindingCheck {
    let id = "F6"
    /// Where the investigation found them (FINDINGS.md).
    static let knownGenerators = ["nix/modules/plasmacloud-cluster.nix", "nix/modules/nix-nos/topology.nix"]

    func decide(on target: Target, nix: Nix) async throws -> Verdict {
        let generators = Self.locate(in: target)
        if generators.isEmpty {
            return Verdict(
                id: id, outcome: .error,
                summary: "found no cluster-config generator: neither "
                    + "\(Self.knownGenerators.joined(separator: " nor ")) nor another module under nix/ "
                    + "that writes a cluster-config file", evidence: [])
        }
        if generators.count == 1 {
            return Verdict(
                id: id, outcome: .resolved, summary: "cluster-config is generated once, by \(generators[0])",
                evidence: sourceEvidence(generators, target))
        }
        // Through the store copy nix already made, so a generator the node imports
        // is the same module (same key) and is not declared twice.
        let source = try await nix.sourcePath(target.flake(), overrides: target.overrides)
        guard let storeRoot = try? source.decode(String.self) else {
            return Verdict(
                id: id, outcome: .error, summary: "cannot locate the target's source in the store",
                evidence: [source.evidence])
        }
        let modules = generators.map { "(/. + \(NixText.string("\(storeRoot)/\($0)")))" }
        var failures: [Evidence] = []
        var schemas: [[String: SchemaNode]?] = Array(repeating: nil, count: generators.count)
        // Any node of the test cluster, else of the main flake, whose module system can host them.
        for flake in [target.flake("nix/test-cluster"), target.flake()] {
            let names = try await nix.eval(
                "\(flake)#nixosConfigurations", apply: "builtins.attrNames",
                overrides: target.overrides)
            guard let nodes = try? names.decode([String].self) else { failures.append(names.evidence); continue }
            for node in nodes where !node.contains("iso") {
                let host = Host(flake: flake, node: node)
                // The declared options: read once, on the first host that can.
                if schemas.contains(where: { $0 == nil }) {
                    let read = try await readSchemas(modules, on: host, target: target, nix: nix)
                    for (i, result) in read.enumerated() {
                        switch result {
                        case .success(let schema): schemas[i] = schema
                        case .failure(let evidence): if schemas[i] == nil { failures.append(evidence) }
                        }
                    }
                    if schemas.allSatisfy({ $0 == nil }) { continue }
                }
                let feeds = Self.feeds(schemas, generators)
                var outputs: [Output?] = Array(repeating: nil, count: generators.count)
                var blamed = false
                for (i, feed) in feeds.enumerated() {
                    guard case .evident(let settings)? = feed else { continue }
                    let result = try await evaluateOutput(
                        modules[i], settings: settings, generator: generators[i],
                        others: generators.filter { $0 != generators[i] },
                        on: host, target: target, nix: nix)
                    outputs[i] = result
                    if case .failed(let evidence, let inGenerator) = result {
                        failures.append(evidence)
                        blamed = blamed || inGenerator
                    }
                }
                // A host that cannot evaluate its own configuration (a broken node) says
                // nothing about the generators: try the next one.
                let produced = outputs.contains { if case .text? = $0 { true } else { false } }
                let fedAny = feeds.contains { if case .evident? = $0 { true } else { false } }
                if fedAny, !produced, !blamed { continue }
                return judge(
                    generators, schemas: schemas, feeds: feeds, outputs: outputs, host: host,
                    failures: failures, target: target)
            }
        }
        if schemas.contains(where: { $0 != nil }) {
            return judge(
                generators, schemas: schemas, feeds: Self.feeds(schemas, generators),
                outputs: Array(repeating: nil, count: generators.count), host: nil, failures: failures,
                target: target)
        }
        return Verdict(
            id: id, outcome: .error,
            summary: "neither cluster-config generator can be evaluated "
                + "on any node of the target", evidence: failures)
    }

    static func feeds(_ schemas: [[String: SchemaNode]?], _ generators: [String]) -> [ClusterMapping.Result?] {
        schemas.enumerated().map { i, schema in
            schema.map { ClusterMapping.feed(ClusterMapping.cluster, into: $0, generator: generators[i]) }
        }
    }

    /// The generators: the two the investigation named, or, when one moved, every module
    /// under nix/ that puts a cluster-config file in /etc.
    static func locate(in target: Target) -> [String] {
        let present = knownGenerators.filter { FileManager.default.fileExists(atPath: target.file($0).path) }
        if present.count == knownGenerators.count { return present }
        let search = TextSearch(target: target)
        let found = search.files(under: "nix", suffixes: [".nix"]).filter { file in
            guard let text = target.text(file) else { return false }
            return text.contains("environment.etc") && text.contains("cluster-config")
        }
        return Array(Set(present + found)).sorted().prefix(2).map { $0 }
    }

    func sourceEvidence(_ generators: [String], _ target: Target) -> [Evidence] {
        let search = TextSearch(target: target)
        return generators.flatMap { g in search.evidence(search.lines(in: g) { $0.contains("cluster-config") }) }
    }

    /// A node whose module system can host the generators.
    struct Host { let flake: String; let node: String }

    enum SchemaRead { case success([String: SchemaNode]), failure(Evidence) }

    /// Each generator's declared options, both in one evaluation, or one by one when that
    /// fails (so one broken generator does not hide the other's schema).
    func readSchemas(_ modules: [String], on host: Host, target: Target, nix: Nix) async throws -> [SchemaRead] {
        func read(_ list: [String]) async throws -> (Nix.Result, [[String: SchemaNode]]?) {
            let set = list.enumerated().map { "g\($0.offset) = \($0.element);" }.joined(separator: " ")
            let result = try await nix.eval(
                "\(host.flake)#nixosConfigurations.\(host.node)",
                apply: SchemaExpression.apply(generators: "{ \(set) }"),
                overrides: target.overrides, impure: true)
            guard let json = result.json,
                let decoded = try? JSONDecoder().decode(
                    [String: [String: SchemaNode]].self,
                    from: Data(json.utf8))
            else {
                return (result, nil)
            }
            return (result, list.indices.map { decoded["g\($0)"] ?? [:] })
        }
        let (joint, all) = try await read(modules)
        if let all { return all.map { .success($0) } }
        var reads: [SchemaRead] = []
        for module in modules {
            let (result, one) = try await read([module])
            reads.append(one.map { .success($0[0]) } ?? .failure(result.evidence))
        }
        let none = reads.allSatisfy { if case .failure = $0 { true } else { false } }
        return none ? modules.map { _ in .failure(joint.evidence) } : reads
    }

    enum Output {
        case text(file: String, json: String, command: String)
        case failed(Evidence, inGenerator: Bool)
    }

    /// Extends the host with one generator set to `settings` (mkForce, over whatever the
    /// node sets) and reads the cluster-config file it writes.
    func evaluateOutput(
        _ module: String, settings: ClusterMapping.Settings, generator: String, others: [String],
        on host: Host, target: Target, nix: Nix
    ) async throws -> Output {
        let named = Self.etcNames(in: target.text(generator) ?? "")
        let path = settings.path.map(NixText.string).joined(separator: ".")
        let apply = """
            n: let
                 cluster = builtins.fromJSON \(NixText.string(settings.json));
                 e = n.extendModules { modules = [ \(module) ({ lib, ... }: { \(path) = lib.mkForce cluster; }) ]; };
                 etc = e.config.environment.etc;
                 wanted = k: builtins.match ".*cluster-config.*" k != null || builtins.elem k \(NixText.list(named));
               in builtins.listToAttrs (map (k: { name = k; value = etc.${k}.text; })
                    (builtins.filter wanted (builtins.attrNames etc)))
            """
        let result = try await nix.eval(
            "\(host.flake)#nixosConfigurations.\(host.node)", apply: apply,
            overrides: target.overrides, impure: true)
        guard let files = try? result.decode([String: String?].self) else {
            let inGenerator = result.failure.map { $0.location?.file == generator || $0.evidence.contains(generator) }
            return .failed(result.evidence, inGenerator: inGenerator ?? false)
        }
        // Its own file: the one its source names, else the one no other generator names.
        let othersNamed = Set(others.flatMap { Self.etcNames(in: target.text($0) ?? "") })
        let candidates = files.keys.sorted()
        guard
            let file = candidates.first(where: named.contains) ?? (candidates.count == 1 ? candidates.first : nil)
                ?? candidates.filter({ !othersNamed.contains($0) }).first,
            let text = files[file] ?? nil
        else {
            let seen = candidates.isEmpty ? "none is named cluster-config" : candidates.joined(separator: ", ")
            let excerpt = "cannot tell which /etc file \(generator) writes: " + seen
            return .failed(
                Evidence(
                    command: result.command, excerpt: excerpt,
                    location: SourceLocation(file: generator, line: nil)), inGenerator: true)
        }
        return .text(file: file, json: text, command: result.command)
    }

    /// `environment.etc."NAME"` literals in a module's source.
    static func etcNames(in text: String) -> [String] {
        guard let regex = try? Regex(#"environment\.etc\.\"([^"$]+)\""#) else { return [] }
        return text.matches(of: regex).compactMap { $0[1].substring.map(String.init) }
    }

    func judge(
        _ generators: [String], schemas: [[String: SchemaNode]?], feeds: [ClusterMapping.Result?],
        outputs: [Output?], host: Host?, failures: [Evidence], target: Target
    ) -> Verdict {
        var evidence: [Evidence] = []
        for (i, feed) in feeds.enumerated() {
            let location = SourceLocation(file: generators[i], line: nil)
            switch feed {
            case .evident(let settings)?:
                var command: String?
                if case .text(_, _, let run)? = outputs[i] { command = run }
                let fed = "fed \(settings.path.joined(separator: ".")) ← \(settings.described)"
                evidence.append(Evidence(command: command, excerpt: fed, location: location))
            case .notEvident(let reason)?:
                evidence.append(Evidence(excerpt: "cannot feed it the cluster: \(reason)", location: location))
            case nil:
                evidence.append(Evidence(excerpt: "its options cannot be read", location: location))
            }
        }
        let schemaDifferences: [String]
        if let a = schemas[0], let b = schemas[1] {
            schemaDifferences = SchemaSummary.differences(a, b, names: (generators[0], generators[1]))
        } else {
            schemaDifferences = []
        }
        if case .text(let fileA, let a, _)? = outputs[0], case .text(let fileB, let b, _)? = outputs[1] {
            evidence.insert(
                Evidence(
                    excerpt: "fed both generators the same cluster on \(host?.node ?? "?"), "
                        + "each in its own schema"), at: 0)
            evidence += sourceEvidence(generators, target)
            let differences = Self.differences(a, b, files: (fileA, fileB))
            if differences.isEmpty {
                let note = schemaDifferences.isEmpty ? "" : " (through different option schemas)"
                return Verdict(
                    id: id, outcome: .resolved,
                    summary: "both cluster-config generators produce the "
                        + "same JSON for the same cluster\(note)", evidence: evidence)
            }
            evidence += differences.map { Evidence(excerpt: $0) }
            evidence += schemaDifferences.prefix(6).map { Evidence(excerpt: "schema: \($0)") }
            return Verdict(
                id: id, outcome: .reproduced,
                summary: "the two cluster-config generators disagree on "
                    + "\(differences.count) key(s) for the same cluster", evidence: evidence)
        }
        // Not both outputs: what failed, and what the two declare.
        let produced = outputs.indices.filter { if case .text? = outputs[$0] { true } else { false } }
        let failed = outputs.indices.filter { if case .failed? = outputs[$0] { true } else { false } }
        evidence += schemaDifferences.map { Evidence(excerpt: "schema: \($0)") } + failures.suffix(4)
        if let one = produced.first, let other = failed.first {
            let why = failures.last.map { ": \($0.excerpt.split(separator: "\n").first ?? "")" } ?? ""
            return Verdict(
                id: id, outcome: .reproduced,
                summary: "\(generators[one]) writes cluster-config for the cluster; \(generators[other]) "
                    + "cannot be evaluated for it\(why)", evidence: evidence)
        }
        if !schemaDifferences.isEmpty {
            return Verdict(
                id: id, outcome: .reproduced,
                summary: "the two cluster-config generators declare different option schemas, so one "
                    + "cluster cannot be described the same way to both: \(schemaDifferences[0])",
                evidence: evidence)
        }
        if let one = produced.first {
            let other = generators.indices.first { $0 != one }!
            return Verdict(
                id: id, outcome: .reproduced,
                summary: "\(generators[one]) writes cluster-config for the cluster; the options of "
                    + "\(generators[other]) cannot be read", evidence: evidence)
        }
        return Verdict(
            id: id, outcome: .error,
            summary: "neither cluster-config generator can be evaluated for the cluster", evidence: evidence)
    }

    /// Keys whose values differ between two JSON documents, as `key: A has X; B has Y`.
    static func differences(_ a: String, _ b: String, files: (String, String)) -> [String] {
        guard let ja = try? JSONSerialization.jsonObject(with: Data(a.utf8)) as? [String: Any],
            let jb = try? JSONSerialization.jsonObject(with: Data(b.utf8)) as? [String: Any]
        else {
            return a == b
                ? []
                : [
                    "the outputs differ and are not JSON objects: \(files.0) has \(a.prefix(120)); "
                        + "\(files.1) has \(b.prefix(120))"
                ]
        }
        let show = { (v: Any?) -> String in
            guard let v else { return "(absent)" }
            let options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]
            guard let data = try? JSONSerialization.data(withJSONObject: v, options: options) else {
                return "\(v)"
            }
            return String(decoding: data, as: UTF8.self)
        }
        return Set(ja.keys).union(jb.keys).sorted().compactMap { key in
            let (x, y) = (show(ja[key]), show(jb[key]))
            return x == y ? nil : "\(key): \(files.0) has \(x.prefix(160)); \(files.1) has \(y.prefix(160))"
        }
    }
}

/// Nix literals for text the harness puts into expressions.
enum NixText {
    static func string(_ text: String) -> String {
        "\""
            + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "$", with: "\\$").replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    static func list(_ items: [String]) -> String { "[ " + items.map(string).joined(separator: " ") + " ]" }
}

/// One option or namespace of a generator's declared options.
indirect enum SchemaNode: Decodable, Sendable, Equatable {
    case option(SchemaType, hasDefault: Bool)
    case namespace([String: SchemaNode])
    case other

    private enum Keys: String, CodingKey { case option, namespace }
    private struct Entry: Decodable { let type: SchemaType; let hasDefault: Bool }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        if let entry = try container.decodeIfPresent(Entry.self, forKey: .option) {
            self = .option(entry.type, hasDefault: entry.hasDefault)
        } else if let children = try container.decodeIfPresent([String: SchemaNode].self, forKey: .namespace) {
            self = .namespace(children)
        } else {
            self = .other
        }
    }
}

/// An option's type as the schema expression describes it.
struct SchemaType: Decodable, Sendable, Equatable {
    let kind: String
    let description: String?
    /// The element type of a list, attribute set or nullable (at most one).
    let elem: [SchemaType]
    let fields: [String: SchemaNode]?
    let values: [String]?
    let alternatives: [SchemaType]?

    private enum Keys: String, CodingKey { case kind, description, elem, fields, values, alternatives }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        kind = try c.decode(String.self, forKey: .kind)
        description = try? c.decodeIfPresent(String.self, forKey: .description)
        elem = (try c.decodeIfPresent(SchemaType.self, forKey: .elem)).map { [$0] } ?? []
        fields = try c.decodeIfPresent([String: SchemaNode].self, forKey: .fields)
        values = try? c.decodeIfPresent([String].self, forKey: .values)
        alternatives = try c.decodeIfPresent([SchemaType].self, forKey: .alternatives)
    }

    /// `nullOr T` is T for mapping: null is only the absence of a value.
    var unwrapped: SchemaType { kind == "nullOr" ? elem.first?.unwrapped ?? self : self }
    var isString: Bool {
        let t = unwrapped
        return t.elem.isEmpty && (t.kind.lowercased().contains("str") || t.description?.contains("string") == true)
            && t.kind != "enum"
    }
    var isBool: Bool { unwrapped.kind == "bool" }
    /// The submodule of `attrsOf`/`listOf` submodule.
    var collection: (isList: Bool, fields: [String: SchemaNode])? {
        let t = unwrapped
        guard t.kind == "attrsOf" || t.kind == "listOf", let e = t.elem.first?.unwrapped, e.kind == "submodule" else {
            return nil
        }
        return (t.kind == "listOf", e.fields ?? [:])
    }
    /// A list of strings, or of an enum's values.
    var stringList: (values: [String]?, ok: Bool) {
        let t = unwrapped
        guard t.kind == "listOf", let e = t.elem.first?.unwrapped else { return (nil, false) }
        if e.kind == "enum" { return (e.values, e.values != nil) }
        return (nil, e.isString)
    }

    var rendered: String {
        switch kind {
        case "listOf": "list of \(elem.first?.rendered ?? "?")"
        case "attrsOf": "attribute set of \(elem.first?.rendered ?? "?")"
        case "nullOr": "null or \(elem.first?.rendered ?? "?")"
        case "enum": "one of \((values ?? []).joined(separator: ", "))"
        case "either": (alternatives ?? []).map(\.rendered).joined(separator: " or ")
        case "unsignedInt16": "port"
        default: kind
        }
    }
}

/// The cluster both generators are fed, and how it is put into a schema.
enum ClusterMapping {
    struct Node { let name: String; let address: String; let roles: [String] }
    struct Cluster { let name: String; let leader: String; let nodes: [Node] }

    /// Three nodes, one of them without FlareDB.
    static let cluster = Cluster(
        name: "drift-check", leader: "a",
        nodes: [
            Node(name: "a", address: "10.9.0.1", roles: ["chainfire", "flaredb"]),
            Node(name: "b", address: "10.9.0.2", roles: ["chainfire", "flaredb"]),
            Node(name: "c", address: "10.9.0.3", roles: ["chainfire"]),
        ])

    struct Settings: Sendable {
        /// The option namespace, e.g. `plasmacloud.cluster`.
        let path: [String]
        /// Its value, as JSON.
        let json: String
        /// Which option got which part of the cluster.
        let described: String
    }

    enum Result: Sendable { case evident(Settings), notEvident(String) }

    // Names as generators spell them, compared without case, `-` or `_`.
    static let enableNames: Set = ["enable", "enabled"]
    static let clusterNames: Set = ["name", "clustername", "cluster", "clusterid"]
    static let leaderNames: Set = [
        "leader", "leadernode", "leaderhost", "leadername", "bootstrap", "bootstrapnode",
        "bootstraphost", "initialleader", "primary", "primarynode", "seed", "seednode",
        "master",
    ]
    static let collectionNames: Set = ["nodes", "hosts", "members", "machines", "servers", "peers"]
    static let addressNames: Set = [
        "ip", "address", "addr", "ipaddress", "ipv4", "ipv4address", "hostaddress",
        "nodeip",
    ]
    static let roleNames: Set = ["roles", "role", "services", "components", "tags"]
    static let nodeNameNames: Set = ["name", "hostname", "host", "id", "nodename", "nodeid"]
    static let leaderFlagNames: Set = ["leader", "isleader", "bootstrap", "isbootstrap", "primary", "isprimary"]

    static func canonical(_ name: String) -> String {
        name.lowercased().filter { $0 != "-" && $0 != "_" }
    }

    /// The namespace that holds a collection of nodes with an address: the cluster's.
    static func clusterNamespace(_ tree: [String: SchemaNode], path: [String] = [])
        -> (path: [String], options: [String: SchemaNode])?
    {
        let hasCollection = tree.contains { _, node in
            guard case .option(let type, _) = node, let collection = type.collection else { return false }
            return collection.fields.contains { key, field in
                addressNames.contains(canonical(key)) && field.type?.isString == true
            }
        }
        if hasCollection { return (path, tree) }
        for key in tree.keys.sorted() {
            if case .namespace(let children) = tree[key]!, let found = clusterNamespace(children, path: path + [key]) {
                return found
            }
        }
        return nil
    }

    /// Puts `cluster` into a generator's schema, or says why that is not evident.
    static func feed(_ cluster: Cluster, into tree: [String: SchemaNode], generator: String) -> Result {
        guard let namespace = clusterNamespace(tree) else {
            return .notEvident("it declares no collection of nodes with an address")
        }
        let (path, options) = namespace
        let prefix = path.joined(separator: ".")
        var value: [String: Any] = [:], described: [String] = []
        var collectionKey: String?
        let collections = options.filter { if case .option(let t, _) = $0.value { t.collection != nil } else { false } }
        if collections.count == 1 {
            collectionKey = collections.first!.key
        } else {
            let named = collections.keys.filter { collectionNames.contains(canonical($0)) }
            guard named.count == 1 else {
                let names = collections.keys.sorted().joined(separator: ", ")
                return .notEvident(
                    "\(prefix) has \(collections.count) collections of nodes (\(names)): which one "
                        + "is the cluster is not evident")
            }
            collectionKey = named[0]
        }
        for key in options.keys.sorted() {
            guard case .option(let type, let hasDefault) = options[key]! else { continue }
            let name = canonical(key)
            if key == collectionKey {
                switch feedNodes(cluster, type: type, at: "\(prefix).\(key)") {
                case .notEvident(let reason): return .notEvident(reason)
                case .evident(let nodes):
                    value[key] = nodes.value
                    described.append("\(key)\(nodes.described)")
                }
            } else if enableNames.contains(name), type.isBool {
                value[key] = true
                described.append(key)
            } else if clusterNames.contains(name), type.isString {
                value[key] = cluster.name
                described.append("\(key) (name)")
            } else if leaderNames.contains(name), type.isString {
                value[key] = cluster.leader
                described.append("\(key) (leader)")
            } else if !hasDefault {
                return .notEvident(
                    "\(prefix).\(key) (\(type.rendered)) has no default and nothing in a cluster "
                        + "(name, leader, nodes with address and roles) evidently maps to it")
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) else {
            return .notEvident("the cluster cannot be written as JSON")
        }
        return .evident(
            Settings(
                path: path, json: String(decoding: data, as: UTF8.self),
                described: described.joined(separator: ", ")))
    }

    struct Nodes { let value: Any; let described: String }
    enum NodesResult { case evident(Nodes), notEvident(String) }

    static func feedNodes(_ cluster: Cluster, type: SchemaType, at where_: String) -> NodesResult {
        guard let collection = type.collection else { return .notEvident("\(where_) is not a collection") }
        let (isList, fields) = collection
        var address: String?, roles: String?, nodeName: String?, flag: String?
        var roleValues: [String]?
        for key in fields.keys.sorted() {
            guard case .option(let t, let hasDefault) = fields[key]! else { continue }
            let name = canonical(key)
            if addressNames.contains(name), t.isString, address == nil {
                address = key
            } else if roleNames.contains(name), t.stringList.ok, roles == nil {
                roles = key
                roleValues = t.stringList.values
            } else if isList, nodeNameNames.contains(name), t.isString, nodeName == nil {
                nodeName = key
            } else if leaderFlagNames.contains(name), t.isBool, flag == nil {
                flag = key
            } else if !hasDefault {
                return .notEvident(
                    "\(where_).\(key) (\(t.rendered)) has no default and nothing in a node "
                        + "(name, address, roles) evidently maps to it")
            }
        }
        guard let address else { return .notEvident("\(where_) has no address field") }
        if isList && nodeName == nil { return .notEvident("\(where_) is a list of nodes without a name field") }
        if let roleValues, let missing = cluster.nodes.flatMap(\.roles).first(where: { !roleValues.contains($0) }) {
            return .notEvident("\(where_).\(roles!) allows only \(roleValues.joined(separator: ", ")), not \(missing)")
        }
        let entries: [(String, [String: Any])] = cluster.nodes.map { node in
            var entry: [String: Any] = [address: node.address]
            if let roles { entry[roles] = node.roles }
            if let nodeName { entry[nodeName] = node.name }
            if let flag { entry[flag] = node.name == cluster.leader }
            return (node.name, entry)
        }
        let parts = [nodeName.map { "\($0) (name)" }, address, roles, flag.map { "\($0) (leader)" }].compactMap { $0 }
        let described = (isList ? "[]" : ".<name>") + ".{\(parts.joined(separator: ", "))}"
        let value: Any = isList ? entries.map(\.1) : Dictionary(uniqueKeysWithValues: entries)
        return .evident(Nodes(value: value, described: described))
    }
}

extension SchemaNode {
    var type: SchemaType? { if case .option(let t, _) = self { t } else { nil } }
}

/// Two schemas side by side: what each declares where the other does not.
enum SchemaSummary {
    /// `path: type` for every option, into submodules (`nodes.<name>.ip`, `nodes[].address`).
    static func flatten(_ tree: [String: SchemaNode], prefix: String = "") -> [(path: String, type: String)] {
        tree.keys.sorted().flatMap { key -> [(path: String, type: String)] in
            let path = prefix + key
            switch tree[key]! {
            case .namespace(let children): return flatten(children, prefix: path + ".")
            case .other: return []
            case .option(let type, let hasDefault):
                let own = (path, type.rendered + (hasDefault ? "" : ", required"))
                guard let collection = type.collection else { return [own] }
                return [own] + flatten(collection.fields, prefix: path + (collection.isList ? "[]." : ".<name>."))
            }
        }
    }

    /// Each generator's cluster options relative to its own namespace, then what only one has.
    static func differences(_ a: [String: SchemaNode], _ b: [String: SchemaNode], names: (String, String)) -> [String] {
        let (pa, ta) = ClusterMapping.clusterNamespace(a).map { ($0.path, $0.options) } ?? ([], a)
        let (pb, tb) = ClusterMapping.clusterNamespace(b).map { ($0.path, $0.options) } ?? ([], b)
        let fa = flatten(ta), fb = flatten(tb)
        let da = Dictionary(fa.map { ($0.path, $0.type) }, uniquingKeysWith: { x, _ in x })
        let db = Dictionary(fb.map { ($0.path, $0.type) }, uniquingKeysWith: { x, _ in x })
        guard da != db else { return [] }
        let label = { (p: [String], g: String) in p.isEmpty ? g : p.joined(separator: ".") }
        let (la, lb) = (label(pa, names.0), label(pb, names.1))
        var out: [String] = []
        let onlyA = fa.filter { db[$0.path] == nil }.map { "\($0.path) (\($0.type))" }
        let onlyB = fb.filter { da[$0.path] == nil }.map { "\($0.path) (\($0.type))" }
        let changed = fa.compactMap { p, t in db[p].flatMap { $0 == t ? nil : "\(p): \(t) in \(la), \($0) in \(lb)" } }
        if !onlyA.isEmpty { out.append("only \(la) (\(names.0)) declares \(onlyA.joined(separator: ", "))") }
        if !onlyB.isEmpty { out.append("only \(lb) (\(names.1)) declares \(onlyB.joined(separator: ", "))") }
        out += changed
        return out
    }
}

/// The `--apply` function that reads generators' declared options on a host node. Each
/// module is loaded with the host's lib, except that `mkOption` and the type constructors
/// record what they are given, so a submodule's fields can be read with any lib (the
/// stand-in's types do not expose them, nixpkgs' do through getSubOptions).
enum SchemaExpression {
    static func apply(generators: String) -> String {
        """
        n:
        let
          probe = (n.extendModules { modules = [ ({ lib, pkgs, ... }: {
            options.harness-f6-probe = lib.mkOption { default = { inherit lib pkgs; }; };
          }) ]; }).options.harness-f6-probe.default;
          lib = probe.lib;
          isOpt = v: builtins.isAttrs v && (v ? _harnessOption || (v._type or "") == "option");
          T = kind: extra: { _harnessType = kind; } // extra;
          types = lib.types // {
            listOf = e: T "listOf" { elem = e; };
            attrsOf = e: T "attrsOf" { elem = e; };
            lazyAttrsOf = e: T "attrsOf" { elem = e; };
            nullOr = e: T "nullOr" { elem = e; };
            uniq = e: e;
            submodule = m: T "submodule" { modules = [ m ]; };
            submoduleWith = a: T "submodule" { modules = a.modules or [ ]; };
            enum = vs: T "enum" { values = vs; };
            either = a: b: T "either" { alternatives = [ a b ]; };
            oneOf = ts: T "either" { alternatives = ts; };
          };
          recLib = lib // { mkOption = a: a // { _harnessOption = true; }; inherit types; };
          args = { lib = recLib; config = n.config; options = n.options; pkgs = probe.pkgs; name = "<name>";
                   modulesPath = "/harness-f6"; specialArgs = { }; };
          load = m:
            let
              v = if builtins.isPath m || builtins.isString m then import m else m;
              fa = if builtins.isFunction v then builtins.functionArgs v else { };
            in if builtins.isFunction v then v (if fa == { } then args else builtins.intersectAttrs fa args) else v;
          merge = a: b: a // builtins.mapAttrs (k: v:
            if a ? ${k} && builtins.isAttrs v && builtins.isAttrs a.${k} && !(isOpt v) && !(isOpt a.${k})
            then merge a.${k} v else v) b;
          declared = depth: m:
            let v = load m; own = if v ? options || v ? config then v.options or { } else { }; in
            if depth > 4 then { } else builtins.foldl' merge own (map (declared (depth + 1)) (v.imports or [ ]));
          describe = depth: t:
            if depth > 8 then { kind = "unknown"; }
            else if t ? _harnessType then
              (if t._harnessType == "submodule" then { kind = "submodule";
                  fields = tree (depth + 1) (builtins.foldl' merge { } (map (declared 0) t.modules)); }
               else if t._harnessType == "enum" then { kind = "enum"; values = t.values; }
               else if t._harnessType == "either" then
                 { kind = "either"; alternatives = map (describe (depth + 1)) t.alternatives; }
               else { kind = t._harnessType; elem = describe (depth + 1) t.elem; })
            else { kind = t.name or "unspecified";
                   description = if builtins.isString (t.description or null) then t.description else t.name or ""; }
              // (if t ? nestedTypes.elemType then { elem = describe (depth + 1) t.nestedTypes.elemType; } else { });
          tree = depth: attrs: builtins.mapAttrs (name: v:
            if isOpt v
            then { option = { type = describe depth (v.type or { name = "unspecified"; });
                               hasDefault = v ? default; }; }
            else if builtins.isAttrs v then { namespace = tree depth v; }
            else { other = builtins.typeOf v; }) (removeAttrs attrs [ "_module" ]);
        in builtins.mapAttrs (k: m: tree 0 (declared 0 m)) \(generators)
        """
    }
}
