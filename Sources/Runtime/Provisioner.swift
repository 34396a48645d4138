import Foundation
import Harness

/// Installs a node's evaluated plan in a fixture guest: /etc/hosts, the /etc files,
/// one unit per enabled systemd service, then starts them in boot order. The same
/// script also resets the node to a known empty state first, which is how a
/// scenario gets a clean cluster without rebooting it.
public struct Provisioner: Sendable {
    public let plan: ClusterPlan

    public init(plan: ClusterPlan) { self.plan = plan }

    /// The shell script that resets and installs `node`; with `start`, starts it too.
    /// Without `reset`, service state on the disk is kept (a node started again).
    public func script(for node: NodePlan, start: Bool, reset: Bool = true) -> String {
        var s = ["set -e", "exec 2>&1"]
        s.append("for u in $(ls /etc/phc/units 2>/dev/null); do systemctl stop \"$u\" || true; done")
        s.append("rm -rf /etc/phc/units /var/log/units /run/phc /etc/plasmacloud /etc/nix-nos")
        if reset { s.append("rm -rf /var/lib/* \(ClusterPlan.unpersistedDirectory)") }
        s.append("mkdir -p /etc/phc/units")
        let hosts =
            "127.0.0.1 localhost\n" + plan.nodes.map { "\($0.ip) \($0.name)" }.joined(separator: "\n") + "\n"
            + node.extraHosts + "\n"
        s.append(write(hosts, to: "/etc/hosts"))
        for (path, text) in node.etc.sorted(by: { $0.key < $1.key }) {
            s.append("mkdir -p \"$(dirname /etc/\(path))\"")
            s.append(write(text, to: "/etc/\(path)"))
        }
        // The fixture's services serve the routes the target's own routers declare.
        let model = plan.serviceModel
        for (name, service) in node.services.sorted(by: { $0.key < $1.key }) {
            let dir = "/etc/phc/units/\(name)"
            s.append("mkdir -p \(dir)")
            s.append(write(service.script, to: "\(dir)/run"))
            let env = service.environment.merging(model) { own, _ in own }
                .sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quote($0.value))" }.joined(separator: "\n")
            s.append(write(env + "\n", to: "\(dir)/env"))
            s.append(write(service.type + "\n", to: "\(dir)/type"))
        }
        if start { s.append(startScript(for: node)) }
        return s.joined(separator: "\n") + "\n"
    }

    /// Starts `node`'s units in boot order. A unit that fails is left failed for the
    /// scenario to see, as systemd would.
    public func startScript(for node: NodePlan) -> String {
        node.bootOrder.map { "systemctl start \($0) || true" }.joined(separator: "\n") + "\n"
    }

    func write(_ text: String, to path: String) -> String {
        "cat > \(path) <<'PHC_FILE_END'\n\(text)\(text.hasSuffix("\n") ? "" : "\n")PHC_FILE_END"
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Resets and installs every node of `cluster` that the plan has, in parallel, then
    /// starts services on `starting` (all when nil). Every node is reset before any
    /// starts: a member started while a peer still runs the old cluster finds itself in
    /// it ("member … has already been bootstrapped", seen on a busy host).
    public func install(on cluster: Cluster, starting: Set<String>? = nil) async throws {
        let planned = cluster.nodes.compactMap { node in plan.nodes.first { $0.name == node.name }.map { (node, $0) } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (node, nodePlan) in planned {
                let text = script(for: nodePlan, start: false)
                group.addTask { try await Self.run(text, on: node) }
            }
            try await group.waitForAll()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (node, nodePlan) in planned where starting?.contains(node.name) ?? true {
                let text = startScript(for: nodePlan)
                group.addTask { try await Self.run(text, on: node) }
            }
            try await group.waitForAll()
        }
    }

    /// Uploads a script made by `script(for:start:reset:)` to `node` and runs it.
    public static func run(_ script: String, on node: Node) async throws {
        try await node.upload(Data(script.utf8), to: "/run/phc-provision.sh", mode: "0755")
        try await node.succeed("sh /run/phc-provision.sh", timeout: 120)
    }
}
