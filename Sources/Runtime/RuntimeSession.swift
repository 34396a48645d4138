import Findings
import Foundation
import Harness
import HostCommand
import Logging
import Nix

/// One booted cluster for runtime work. It is booted once; every scenario or
/// runtime check then brings it to a known state by reprovisioning (units reset,
/// service state wiped), which is far cheaper than booting again.
public final class RuntimeSession: Sendable {
    public let cluster: Cluster
    public let home: HarnessHome
    public let nix: Nix
    public let logger: Logger
    /// Where this session's artifacts go (kept after teardown).
    public let artifacts: URL
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant

    init(cluster: Cluster, home: HarnessHome, nix: Nix, logger: Logger, artifacts: URL) {
        self.cluster = cluster
        self.home = home
        self.nix = nix
        self.logger = logger
        self.artifacts = artifacts
        self.started = clock.now
    }

    /// Seconds since the session started: the clock of histories and reports.
    public var now: Double { (clock.now - started).seconds }

    /// The plan of the miniature with `fixes` applied.
    public static func plan(home: HarnessHome, fixes: [String], nix: Nix) async throws -> ClusterPlan {
        let target = try await Target.miniature(home: home, fixes: fixes)
        return try await ClusterPlan.evaluate(target, nix: nix)
    }

    /// Boots the nodes `plan` has (node01…node06 when all evaluate).
    public static func boot(plan: ClusterPlan, home: HarnessHome, nix: Nix, logger: Logger,
                            artifacts: URL) async throws -> RuntimeSession {
        guard !plan.nodes.isEmpty else {
            throw HarnessError(.failure, "no node of the test cluster evaluates: \(plan.unplanned.map { "\($0.name): \($0.failure.headline)" }.joined(separator: "; "))")
        }
        for node in plan.unplanned {
            logger.warning("not booting \(node.name): it does not evaluate (\(node.finding ?? "no finding"): \(node.failure.headline))")
        }
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let cluster = try await Cluster.boot(ClusterOptions(nodes: plan.nodes.map(\.spec)), logger: logger)
        let session = RuntimeSession(cluster: cluster, home: home, nix: nix, logger: logger, artifacts: artifacts)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in cluster.nodes { group.addTask { try await session.installTools(on: node) } }
                try await group.waitForAll()
            }
        } catch {
            await session.close()
            throw error
        }
        return session
    }

    /// The target adapter and the steady writer, in the guest's /usr/local/bin
    /// (tmpfs: a node started again needs them again).
    public func installTools(on node: Node) async throws {
        for tool in ["adapter", "writer"] {
            let data = try Data(contentsOf: home.scenarios.appendingPathComponent("adapters/miniature/\(tool).sh"))
            try await node.upload(data, to: "/usr/local/bin/\(tool)", mode: "0755")
        }
    }

    /// Keeps the consoles, domain XML and service logs, then removes the cluster.
    public func close() async {
        await saveServiceLogs()
        saveNodeArtifacts()
        await cluster.teardown()
    }

    /// Every unit's log of every node, as `<node>.services.log`.
    public func saveServiceLogs() async {
        await withTaskGroup(of: Void.self) { group in
            for node in cluster.nodes {
                group.addTask { [artifacts] in
                    guard let out = try? await node.exec("for f in /var/log/units/*.log; do [ -f \"$f\" ] && echo \"== $f\" && cat \"$f\"; done", timeout: 30) else { return }
                    try? out.stdout.write(to: artifacts.appendingPathComponent("\(node.name).services.log"), atomically: true, encoding: .utf8)
                }
            }
        }
    }

    public func saveNodeArtifacts() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: cluster.directory.path)) ?? []
        where name.hasSuffix(".console.log") || name.hasSuffix(".xml") {
            let dest = artifacts.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: dest)
            try? FileManager.default.copyItem(at: cluster.directory.appendingPathComponent(name), to: dest)
        }
    }

    /// Resets every node and installs `plan`, starting services on `starting`.
    public func provision(_ plan: ClusterPlan, starting: Set<String>) async throws {
        try await Provisioner(plan: plan).install(on: cluster, starting: starting)
    }

    public func node(_ name: String) throws -> Node { try cluster.node(name) }

    /// Polls `body` until it returns a value, at most `seconds` (scaled for TCG).
    public func waitFor<T: Sendable>(_ what: String, node: String? = nil, seconds: Double,
                                     _ body: () async throws -> T?) async throws -> T {
        let limit = seconds * cluster.timeoutScale
        let start = clock.now
        var lastError = ""
        while (clock.now - start).seconds < limit {
            try Task.checkCancellation()
            do { if let value = try await body() { return value } } catch { lastError = " (last error: \(error))" }
            try await Task.sleep(for: .milliseconds(300))
        }
        var message = "waited \(Int(limit)) s for \(what)\(lastError)"
        if let node, let n = try? cluster.node(node) { message += "\nlast console lines of \(node):\n\(n.console.formattedTail(15))" }
        throw HarnessError(.timeout, message)
    }

    /// The adapter's verdict on a node, nil when it fails.
    public func adapter(_ node: String, _ args: String, timeout: Double = 15) async -> String? {
        guard let n = try? cluster.node(node), let r = try? await n.exec("adapter \(args)", timeout: timeout), r.exitStatus == 0 else { return nil }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A unit's journal on a node, for evidence.
    public func journal(_ node: String, _ unit: String, lines: Int = 15) async -> String {
        guard let n = try? cluster.node(node) else { return "" }
        return (try? await n.exec("journalctl -u \(unit) -n \(lines)").stdout) ?? ""
    }
}
