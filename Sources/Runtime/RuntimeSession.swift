import Findings
import Foundation
import Harness
import HostCommand
import Logging
import Nix
import SSH
import Synchronization

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
    /// The nodes are NixOS VMs whose own systems start their units at boot, rather
    /// than fixture guests whose units the harness installs.
    public let nodesRunTheirOwnUnits: Bool
    let clock = ContinuousClock()
    let started: ContinuousClock.Instant
    /// When (`now`) the store's membership last changed: etcd refuses a new voting member
    /// until every peer has been connected for 5 s.
    private let membershipChanged = Mutex<Double?>(nil)

    /// The cluster a scenario file formed (its `bootstrap`/`join` lines) and left sound.
    public struct FormedCluster: Sendable {
        public let plan: ClusterPlan
        public let setup: [ScenarioScript.Statement]
        /// The file that formed it.
        public let by: String
    }
    private let formed = Mutex<FormedCluster?>(nil)

    /// What the last scenario file formed and left sound; nil once anything else ran.
    var formedCluster: FormedCluster? {
        get { formed.withLock { $0 } }
        set { formed.withLock { $0 = newValue } }
    }

    /// Notes that the store's membership changed (formed, or a member became active).
    func noteMembershipChange() { membershipChanged.withLock { $0 = now } }

    /// Seconds since `noteMembershipChange()`, nil when this session has not seen a change.
    var sinceMembershipChange: Double? { membershipChanged.withLock { $0 }.map { now - $0 } }

    init(cluster: Cluster, home: HarnessHome, nix: Nix, logger: Logger, artifacts: URL, nodesRunTheirOwnUnits: Bool) {
        self.cluster = cluster
        self.nodesRunTheirOwnUnits = nodesRunTheirOwnUnits
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

    /// Boots the nodes `plan` has (node01…node06 when all evaluate): fixture guests,
    /// or with `nixos`, the NixOS configurations of that target (the one `plan` was
    /// evaluated from), whose joiners stay off until the join scenario boots them.
    public static func boot(
        plan: ClusterPlan, home: HarnessHome, nix: Nix, logger: Logger,
        artifacts: URL, nixos: Target? = nil
    ) async throws -> RuntimeSession {
        guard !plan.nodes.isEmpty else {
            throw HarnessError(
                .failure,
                "no node of the test cluster evaluates: \(plan.unplanned.map { "\($0.name): \($0.failure.headline)" }.joined(separator: "; "))"
            )
        }
        for node in plan.unplanned {
            logger.warning(
                "not booting \(node.name): it does not evaluate (\(node.finding ?? "no finding"): \(node.failure.headline))"
            )
        }
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let options: ClusterOptions
        if let nixos {
            options = try await nixOSOptions(target: nixos, plan: plan, nix: nix, logger: logger)
        } else {
            options = ClusterOptions(nodes: plan.nodes.map(\.spec))
        }
        let cluster = try await Cluster.boot(options, logger: logger)
        let session = RuntimeSession(
            cluster: cluster, home: home, nix: nix, logger: logger, artifacts: artifacts,
            nodesRunTheirOwnUnits: nixos != nil)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in cluster.nodes where !options.deferred.contains(node.name) {
                    group.addTask { try await session.installTools(on: node) }
                }
                try await group.waitForAll()
            }
        } catch {
            await session.close()
            throw error
        }
        return session
    }

    /// The planned nodes as NixOS VMs, built for a fresh key, with the service
    /// model in /etc/phc/model.env (the miniature's service stand-ins read it).
    static func nixOSOptions(target: Target, plan: ClusterPlan, nix: Nix, logger: Logger) async throws -> ClusterOptions
    {
        let key = try SSHKey.generateEd25519()
        let model = plan.serviceModel.sorted { $0.key < $1.key }.map { "\($0.key)=\(Provisioner.quote($0.value))\n" }
            .joined()
        let (image, _) = try await NixOSImage.make(
            provider: NixOSImageProvider(target: target, nix: nix), key: key,
            etc: ["phc/model.env": model], logger: logger)
        let planned = Set(plan.nodes.map(\.name))
        return ClusterOptions(
            nodes: image.specs.filter { planned.contains($0.name) }, image: image, key: key,
            deferred: planned.intersection(Scenarios.joiners))
    }

    /// Boots a node the session left off (a NixOS joiner), as a new machine joins,
    /// and readies it for the harness.
    public func bootDeferred(_ name: String) async throws {
        let n = try node(name)
        try await n.start()
        try await n.waitForSSH(timeout: 40 * cluster.timeoutScale)
        try await installTools(on: n)
    }

    /// The target adapter, in the guest's /usr/local/bin (tmpfs on a fixture guest: a
    /// node started again needs it again).
    public func installTools(on node: Node) async throws {
        try await node.succeed("mkdir -p /usr/local/bin")
        let data = try Data(contentsOf: home.scenarios.appendingPathComponent("adapters/miniature/adapter.sh"))
        try await node.upload(data, to: "/usr/local/bin/adapter", mode: "0755")
    }

    /// Keeps the consoles, domain XML and service logs, then removes the cluster.
    public func close() async {
        await saveServiceLogs()
        saveNodeArtifacts()
        await cluster.teardown()
    }

    /// Every unit's log of every node, as `<node>.services.log`, and every request the
    /// stand-ins served since the node booted (`/var/log/phc-http.log`), with its duration.
    public func saveServiceLogs() async {
        await withTaskGroup(of: Void.self) { group in
            for node in cluster.nodes {
                group.addTask { [artifacts] in
                    guard
                        let out = try? await node.exec(
                            "for f in /var/log/units/*.log /var/log/phc-http.log; do [ -f \"$f\" ] && echo \"== $f\" && cat \"$f\"; done",
                            timeout: 30)
                    else { return }
                    try? out.stdout.write(
                        to: artifacts.appendingPathComponent("\(node.name).services.log"), atomically: true,
                        encoding: .utf8)
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
        formedCluster = nil
        guard !nodesRunTheirOwnUnits else {
            throw HarnessError(
                .badInput,
                "this run's nodes are NixOS VMs that run their own units: only fixture guests are provisioned")
        }
        // A node a previous scenario left down (a restart that panicked, say) is started
        // again first: the provisioning resets its data anyway, and one lost node must not
        // fail every scenario after it.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in cluster.nodes {
                guard await !node.isRunning() else { continue }
                logger.warning(
                    "not running before provisioning: started again on its disk", metadata: ["node": "\(node.name)"])
                group.addTask { try await node.restart(timeout: 60 * self.cluster.timeoutScale) }
            }
            try await group.waitForAll()
        }
        try await Provisioner(plan: plan).install(on: cluster, starting: starting)
        // The adapter again, so that a node whose upload once failed (a session lost under
        // load) cannot carry a stale one into the next scenario.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in cluster.nodes { group.addTask { try await self.installTools(on: node) } }
            try await group.waitForAll()
        }
    }

    public func node(_ name: String) throws -> Node { try cluster.node(name) }

    /// Polls `body` until it returns a value, at most `seconds` (scaled for TCG). When
    /// it runs out, the message shows what was awaited, the last output of what the body
    /// polled (every adapter call it made is recorded), what `showing` prints (e.g. the
    /// log of the process awaited), and the node's last console lines.
    public func waitFor<T: Sendable>(
        _ what: String, node: String? = nil, seconds: Double,
        showing: (() async -> String?)? = nil,
        _ body: () async throws -> T?
    ) async throws -> T {
        let limit = seconds * cluster.timeoutScale
        let start = clock.now
        var lastError = ""
        let polled = PollLog()
        while (clock.now - start).seconds < limit {
            try Task.checkCancellation()
            do {
                if let value = try await PollLog.$current.withValue(polled, operation: body) { return value }
            } catch let aborted as WaitAborted {
                throw HarnessError(.failure, aborted.description)
            } catch { lastError = " (last error: \(error))" }
            try await Task.sleep(for: .milliseconds(300))
        }
        var message = "waited \(Int(limit)) s for \(what)\(lastError)"
        if let last = polled.last { message += "\nlast output of what it polled: \(last)" }
        if let showing, let shown = await showing(), !shown.isEmpty { message += "\n\(shown)" }
        if let node, let n = try? cluster.node(node) {
            message += "\nlast console lines of \(node):\n\(n.console.formattedTail(15))"
        }
        throw HarnessError(.timeout, message)
    }

    /// The adapter's verdict on a node, nil when it fails. Inside `waitFor`, what it
    /// printed is kept for the message if the wait runs out.
    public func adapter(_ node: String, _ args: String, timeout: Double = 15) async -> String? {
        guard let n = try? cluster.node(node) else { return nil }
        let result: ExecResult
        do { result = try await n.exec("adapter \(args)", timeout: timeout) } catch {
            PollLog.current?.record("`adapter \(args)` on \(node): \(error)")
            return nil
        }
        let stdout = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        PollLog.current?.record(
            "`adapter \(args)` on \(node) exited \(result.exitStatus): "
                + "\(stdout.suffix(400))\(result.stderr.isEmpty ? "" : " (stderr: \(result.stderr.suffix(400)))")")
        return result.exitStatus == 0 ? stdout : nil
    }

    /// What `systemctl is-active` says of a unit on a node.
    func unitActivity(_ node: Node, _ unit: String) async throws -> String {
        try await node.exec("systemctl is-active \(unit)").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether a unit has run on a node: a done oneshot and one never started are
    /// both inactive, and only the journal tells them apart.
    func unitRan(_ node: Node, _ unit: String) async throws -> Bool {
        !(try await node.exec("journalctl -u \(unit) -n 1")).stdout.contains("No entries")
    }

    /// A unit's journal on a node, for evidence.
    public func journal(_ node: String, _ unit: String, lines: Int = 15) async -> String {
        guard let n = try? cluster.node(node) else { return "" }
        return (try? await n.exec("journalctl -u \(unit) -n \(lines)").stdout) ?? ""
    }
}

/// Thrown by a `waitFor` body when waiting longer cannot help (a unit failed).
struct WaitAborted: Error, CustomStringConvertible {
    let description: String
}

/// What a wait's body last saw, so that a wait that runs out can show it.
final class PollLog: @unchecked Sendable {
    @TaskLocal static var current: PollLog?
    private let lock = NSLock()
    private var text: String?

    func record(_ output: String) {
        lock.lock()
        text = output
        lock.unlock()
    }

    var last: String? {
        lock.lock()
        defer { lock.unlock() }
        return text
    }
}
