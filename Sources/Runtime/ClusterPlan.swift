import Findings
import Foundation
import Harness
import Nix

/// What the target's test cluster says each node is: evaluated, not guessed.
public struct NodePlan: Sendable, Codable, Equatable {
    public struct Service: Sendable, Codable, Equatable {
        public var script: String
        public var environment: [String: String]
        public var after: [String]
        public var before: [String]
        public var wantedBy: [String]
        /// systemd's Type: `oneshot` units finish before what comes after them starts.
        public var type: String
    }

    public var name: String
    public var memoryMiB: Int
    public var clusterAddress: String
    public var mac: String
    public var extraHosts: String
    /// /etc files by path below /etc.
    public var etc: [String: String]
    public var services: [String: Service]

    public var spec: NodeSpec { NodeSpec(name: name, memoryMiB: memoryMiB, clusterAddress: clusterAddress, mac: mac) }
    public var ip: String { String(clusterAddress.split(separator: "/")[0]) }

    /// Services wanted at boot, each after what its `after` names and what names
    /// it in `before`, as systemd orders them.
    public var bootOrder: [String] {
        let wanted = services.filter { $0.value.wantedBy.contains("multi-user.target") }.keys.sorted()
        let unit = { (s: String) in s.replacingOccurrences(of: ".service", with: "") }
        var ordered: [String] = []
        func visit(_ name: String, _ path: Set<String>) {
            guard !ordered.contains(name), !path.contains(name), let service = services[name] else { return }
            let predecessors =
                service.after.map(unit) + services.filter { $0.value.before.map(unit).contains(name) }.keys.sorted()
            for dep in predecessors where wanted.contains(dep) { visit(dep, path.union([name])) }
            ordered.append(name)
        }
        for name in wanted { visit(name, []) }
        return ordered
    }
}

/// A node the plan could not include, with the finding that explains it.
public struct UnplannedNode: Sendable, Codable, Equatable {
    public let name: String
    public let finding: String?
    public let failure: NixFailure
}

/// The test cluster of a target: evaluated node plans, and the nodes that do not
/// evaluate (reported with their finding, never booted).
public struct ClusterPlan: Sendable, Codable, Equatable {
    public var nodes: [NodePlan]
    public var unplanned: [UnplannedNode]
    /// The REST routes the target's servers declare (from their rest.rs).
    public var chainfireRoutes: [String]
    public var flaredbRoutes: [String]
    /// The ISO's phone-home script, when the ISO evaluates.
    public var phoneHomeScript: String?

    /// What the miniature's service stand-ins need to know of the target: the
    /// routes its servers declare.
    public var serviceModel: [String: String] {
        [
            "CHAINFIRE_ROUTES": chainfireRoutes.joined(separator: ","),
            "FLAREDB_ROUTES": flaredbRoutes.joined(separator: ","),
        ]
    }

    /// The seeded bug "unpersisted writes": the same plan with Chainfire's data directory
    /// in the guest's RAM (`unpersistedDirectory`, on the fixture's /run tmpfs), as on a
    /// NixOS VM without a disk image. etcd still acknowledges each write after its fsync;
    /// a kill keeps the data, a power loss erases it.
    public func withStoreOnTmpfs() -> ClusterPlan {
        var plan = self
        for i in plan.nodes.indices where plan.nodes[i].services["chainfire"] != nil {
            plan.nodes[i].services["chainfire"]?.environment["CHAINFIRE_DATA_DIR"] =
                "\(Self.unpersistedDirectory)/chainfire"
        }
        return plan
    }

    /// Where the unpersisted variant keeps service state: RAM in the guest, cleared by a reset.
    public static let unpersistedDirectory = "/run/phc-unpersisted"

    public func node(_ name: String) throws -> NodePlan {
        guard let node = nodes.first(where: { $0.name == name }) else {
            let reason =
                unplanned.first { $0.name == name }.map {
                    ": it does not evaluate (\($0.finding ?? "no finding"): \($0.failure.headline))"
                } ?? ""
            throw HarnessError(.badInput, "node `\(name)` is not in the plan\(reason)")
        }
        return node
    }

    /// One `nix eval --apply` projection per node.
    static let projection = """
        c: let cfg = c.config; eth1 = cfg.networking.interfaces.eth1 or null; in {
          name = cfg.networking.hostName;
          memoryMiB = cfg.virtualisation.memorySize;
          clusterAddress = if eth1 == null || eth1.ipv4.addresses == [ ] then "" else
            let a = builtins.head eth1.ipv4.addresses; in "${a.address}/${toString a.prefixLength}";
          mac = if eth1 == null || eth1.macAddress == null then "" else eth1.macAddress;
          extraHosts = cfg.networking.extraHosts;
          etc = builtins.mapAttrs (n: e: if e.text == null then "" else e.text) cfg.environment.etc;
          services = builtins.mapAttrs (n: s: {
            inherit (s) script after before wantedBy;
            type = s.serviceConfig.Type or "simple";
            environment = builtins.mapAttrs (k: v: toString v) (builtins.removeAttrs s.environment
              (builtins.filter (k: s.environment.${k} == null) (builtins.attrNames s.environment)));
          }) (builtins.removeAttrs cfg.systemd.services
              (builtins.filter (n: !cfg.systemd.services.${n}.enable) (builtins.attrNames cfg.systemd.services)));
        }
        """

    public static func evaluate(_ target: Target, nix: Nix) async throws -> ClusterPlan {
        let flake = target.flake("nix/test-cluster")
        let names = try await nix.eval(
            "\(flake)#nixosConfigurations", apply: "builtins.attrNames", overrides: target.overrides)
        guard let nodeNames = try? names.decode([String].self) else {
            throw HarnessError(
                .environment,
                "\(target.name): the test cluster does not evaluate: \(names.failure?.headline ?? "no nixosConfigurations")"
            )
        }
        var nodes: [NodePlan] = [], unplanned: [UnplannedNode] = []
        try await withThrowingTaskGroup(of: (String, Nix.Result).self) { group in
            for name in nodeNames {
                group.addTask {
                    (
                        name,
                        try await nix.eval(
                            "\(flake)#nixosConfigurations.\(name)", apply: projection, overrides: target.overrides)
                    )
                }
            }
            for try await (name, result) in group {
                if let plan = try? result.decode(NodePlan.self) {
                    nodes.append(plan)
                } else if let failure = result.failure {
                    unplanned.append(UnplannedNode(name: name, finding: findingFor(failure), failure: failure))
                }
            }
        }
        let iso = try await nix.eval(
            "\(target.flake())#nixosConfigurations.plasmacloud-iso.config.systemd.services.plasmacloud-phone-home.script",
            overrides: target.overrides)
        return ClusterPlan(
            nodes: nodes.sorted { $0.name < $1.name }, unplanned: unplanned.sorted { $0.name < $1.name },
            chainfireRoutes: routes(target.text("chainfire/crates/chainfire-server/src/rest.rs")),
            flaredbRoutes: routes(target.text("flaredb/crates/flaredb-server/src/rest.rs")),
            phoneHomeScript: try? iso.decode(String.self))
    }

    /// The finding a node's evaluation failure is evidence of.
    static func findingFor(_ failure: NixFailure) -> String? {
        switch failure.kind {
        case .undefinedOption: "F5.1"
        case .missingAttribute: "F5.2"
        case .missingPath: "F1"
        default: nil
        }
    }

    /// `.route("/path", …)` of an axum router.
    static func routes(_ source: String?) -> [String] {
        guard let source, let regex = try? Regex(#"\.route\(\s*"([^"]+)""#) else { return [] }
        return source.matches(of: regex).compactMap { $0[1].substring.map(String.init) }
    }
}
