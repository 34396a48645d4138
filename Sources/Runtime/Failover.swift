import Foundation
import Harness
import HostCommand
import Libvirt
import Logging
import Nemesis
import SSH
import Workloads

/// The hypervisor-level faults a failover run injects into the leader.
public enum Fault: String, Sendable, CaseIterable, Codable {
    /// Power loss: the domain is destroyed; heal starts it again on the same disk.
    case destroy
    /// Freeze: the domain is paused; heal resumes it.
    case suspend
    /// Isolation: the cluster NIC's link goes down; heal brings it up.
    case linkDown = "link-down"
}

extension Scenarios {
    /// The client writes steadily; the leader suffers `fault` past the election
    /// timeout; the survivors must elect one new leader within a bound, lose no
    /// acknowledged write, and take the old leader back as a follower with the same
    /// data. Everything is recorded in a history the checkers decide on.
    public func failover(_ fault: Fault) async throws -> (ScenarioResult, FailoverHistory) {
        var r = StepRecorder("failover-\(fault.rawValue)", session: session)
        var history = FailoverHistory()
        history.electionTimeout = electionTimeout
        history.timeScale = session.cluster.timeoutScale
        let members = (Self.founders + Self.joiners).filter { name in plan.nodes.contains { $0.name == name } }
        // The writer runs in the harness, through each member's forward on its management
        // NIC: no fault on the cluster network cuts it off, and one clock times everything.
        let clients = try await session.gatewayClients(members)
        let writes = WriteLog()
        let writing = Task { [session] in
            await SteadyWritesWorkload(prefix: "w/").run(
                clients: clients, now: { session.now }, stop: { writes.stopped }, progress: writes.append)
        }
        defer { writing.cancel() }
        let observer = LeaderObserver(session: session, nodes: members)
        let observing = Task { await observer.run() }
        defer { observing.cancel() }

        var leaderNode = ""
        var faultRecord: FailoverHistory.Fault?
        do {
            try await r.step("steady writes from the host through \(members.count) members") {
                let done = try await session.waitFor(
                    "the writer's first acknowledged writes", seconds: 20, showing: { writes.tail }
                ) { () -> Int? in
                    let n = writes.acknowledged
                    return n >= 3 ? n : nil
                }
                return "\(done) writes acknowledged before the fault"
            }
            try await r.step("one agreed leader") {
                leaderNode = try await session.waitFor("one leader agreed by all members", seconds: 30) {
                    await observer.agreedLeaderNode()
                }
                return "\(leaderNode) leads"
            }
            let victim = try session.node(leaderNode)
            try await r.step("\(fault.rawValue) the leader \(leaderNode)") {
                let injected = session.now
                let confirmation: String
                switch fault {
                case .destroy:
                    await observer.pause(leaderNode)
                    try await victim.destroy()
                    let state = try await victim.domainState()
                    guard state == nil else {
                        throw HarnessError(
                            .failure, "\(leaderNode) still has a domain in state \(String(describing: state))")
                    }
                    let gone = try await HostCommand("virsh", ["-c", "qemu:///system", "domstate", victim.domainName])
                        .run(timeout: 20)
                    guard gone.status != 0 else {
                        throw HarnessError(.failure, "libvirt still has \(victim.domainName): \(gone.stdout)")
                    }
                    confirmation =
                        "libvirt has no domain \(victim.domainName) (\(gone.stderr.trimmingCharacters(in: .whitespacesAndNewlines)))"
                case .suspend:
                    await observer.pause(leaderNode)
                    try await victim.suspend()
                    guard try await victim.domainState() == .paused else {
                        throw HarnessError(.failure, "\(leaderNode) is not paused")
                    }
                    confirmation = "libvirt reports \(leaderNode) paused"
                case .linkDown:
                    try await victim.setClusterLink(up: false)
                    let ip = try plan.node(leaderNode).ip
                    let probe = members.first { $0 != leaderNode }!
                    let ping = try await session.node(probe).exec("ping -c 2 -W 1 \(ip)")
                    guard ping.exitStatus != 0 else { throw HarnessError(.failure, "\(probe) still reaches \(ip)") }
                    confirmation = "cluster link down: \(probe) cannot ping \(leaderNode) (\(ip))"
                }
                faultRecord = FailoverHistory.Fault(
                    kind: fault.rawValue, node: leaderNode, injected: injected, confirmed: session.now,
                    confirmation: confirmation, healed: nil)
                return confirmation
            }
            try await r.step("survivors agree on a new leader") {
                // Past the election timeout first, so the old leader really is gone for them.
                try await Task.sleep(for: .seconds(max(3 * electionTimeout, 3)))
                let newLeader = try await session.waitFor(
                    "the survivors to agree on a new leader", seconds: 20 * electionTimeout
                ) {
                    await observer.agreedLeaderNode(excluding: leaderNode)
                }
                return "\(newLeader) leads the survivors"
            }
        } catch {
            // The heal always runs, whatever happened.
            _ = await heal(fault, leaderNode, probe: members.first { $0 != leaderNode }, &faultRecord)
            observing.cancel()
            writes.stop()
            history.operations = Self.operations(await writing.value)
            history.faults = faultRecord.map { [$0] } ?? []
            history.observations = await observer.observations
            try? history.save(in: session.artifacts)
            throw error
        }
        try await r.step("heal \(leaderNode)") {
            if let error = await heal(fault, leaderNode, probe: members.first { $0 != leaderNode }, &faultRecord) {
                throw error
            }
            await observer.resume(leaderNode)
            return faultRecord?.healConfirmation ?? "\(fault.rawValue) healed"
        }
        try await r.step("\(leaderNode) rejoins as a follower") {
            let seen = try await session.waitFor(
                "\(leaderNode) to follow the new leader", node: leaderNode, seconds: 60
            ) { () -> FailoverHistory.LeaderObservation? in
                guard let o = await observer.look(at: leaderNode), o.leader != "0", o.leader != o.member else {
                    return nil
                }
                return o
            }
            return "\(leaderNode) follows \(seen.leader) in term \(seen.term)"
        }
        try await r.step("a final write succeeds") {
            let survivor = members.first { $0 != leaderNode }!
            // A client retries; what must hold is that the healed cluster takes writes
            // within a bound (a resumed leader can cost the first attempt its election).
            var attempts = 0
            _ = try await session.waitFor("a write through \(survivor) to be acknowledged", node: survivor, seconds: 30)
            { () -> Bool? in
                attempts += 1
                return await session.adapter(survivor, "put final/key done") != nil ? true : nil
            }
            return "final/key written through \(survivor) (attempt \(attempts))"
        }
        // The put in flight finishes, so its outcome is recorded.
        writes.stop()
        history.operations = Self.operations(await writing.value)
        // The checkers judge each member's view after the heal: let the observer see every
        // member once more (a restarted node's adapter may only now answer). If it cannot,
        // the checkers say so.
        if let healed = faultRecord?.healed {
            _ = try? await session.waitFor("a view of every member after the heal", seconds: 30) {
                await observer.observedEveryNode(after: healed) ? true : nil
            }
        }
        observing.cancel()
        history.faults = faultRecord.map { [$0] } ?? []
        history.observations = await observer.observations
        try await r.step("every member holds the same keys") {
            let acked = history.operations.filter { $0.outcome == .ok }.count
            // Each member's local copy (serializable), read from the host through its forward,
            // all members at once: one poll stays well inside the wait's own bound.
            _ = try await session.waitFor("every member's local copy to settle", seconds: 30) { () -> Bool? in
                let counts = await withTaskGroup(of: (String, [String]?).self) { group in
                    for (node, client) in zip(members, clients) {
                        group.addTask { (node, try? await client.keys(prefix: "w/", consistency: .serializable)) }
                    }
                    var counts: [String: [String]] = [:]
                    for await (node, keys) in group { counts[node] = keys }
                    return counts
                }
                guard counts.count == members.count else { return nil }
                history.finalKeys = counts
                return Set(counts.values.map(\.count)).count == 1 ? true : nil
            }
            return
                "\(history.finalKeys.first?.value.count ?? 0) keys on each of \(members.count) members; \(acked) acknowledged"
        }
        history.elections = await electionsLogged(by: members)
        try history.save(in: session.artifacts)
        let verdicts = HistoryChecker().check(history)
        for v in verdicts {
            try await r.step("checker: \(v.name)") {
                guard v.passed else { throw HarnessError(.failure, v.detail) }
                return v.detail
            }
        }
        return (r.result, history)
    }

    static func operations(_ writes: [SteadyWritesWorkload.Write]) -> [FailoverHistory.Operation] {
        writes.map {
            .init(key: $0.key, invoke: $0.invoke, complete: $0.complete, outcome: $0.acknowledged ? .ok : .unknown)
        }
    }

    /// Every election in the members' Raft logs; nil when no member's adapter tells.
    func electionsLogged(by members: [String]) async -> [FailoverHistory.Election]? {
        await withTaskGroup(of: [FailoverHistory.Election]?.self) { group in
            for node in members {
                group.addTask { [session] in
                    await session.adapter(node, "elections", timeout: 30).map {
                        FailoverHistory.elections(fromAdapter: $0, node: node)
                    }
                }
            }
            var all: [FailoverHistory.Election]?
            for await logged in group { if let logged { all = (all ?? []) + logged } }
            return all?.sorted { ($0.term, $0.node) < ($1.term, $1.node) }
        }
    }

    /// Undoes `fault` on `node`, whatever state the run is in, and confirms it is undone
    /// (`probe`, a survivor, checks a link); records when and how. Returns why it could not.
    func heal(_ fault: Fault, _ node: String, probe: String?, _ record: inout FailoverHistory.Fault?) async -> (
        any Error
    )? {
        guard !node.isEmpty, let victim = try? session.node(node) else { return nil }
        do {
            let confirmation: String
            switch fault {
            case .destroy:
                try await powerOn(victim)
                confirmation = "\(node) booted again and answers SSH"
            case .suspend:
                try await victim.resume()
                let state = try await victim.domainState()
                guard state == .running else {
                    throw HarnessError(.node, "\(node) is \(String(describing: state)) after resume")
                }
                confirmation = "libvirt reports \(node) running"
            case .linkDown:
                guard let probe else { throw HarnessError(.failure, "no other member to check \(node)'s link from") }
                confirmation = try await restoreClusterLink(of: victim, probe: probe)
            }
            record?.healed = session.now
            record?.healConfirmation = confirmation
            return nil
        } catch {
            session.logger.error("heal of \(node) failed", metadata: ["error": "\(error)"])
            return error
        }
    }

    /// Starts a node that lost power, on the same disk, and readies it. A NixOS node starts
    /// its own units at boot; a fixture guest's /etc is fresh, so its units are installed
    /// again (its disk kept their data) and started.
    public func powerOn(_ node: Node) async throws {
        try await node.start()
        try await node.waitForSSH(timeout: 60 * session.cluster.timeoutScale)
        if !session.nodesRunTheirOwnUnits {
            let script = Provisioner(plan: plan).script(for: try plan.node(node.name), start: true, reset: false)
            try await Provisioner.run(script, on: node)
        }
        try await session.installTools(on: node)
    }

    /// Brings a node's cluster link up and waits until `probe` reaches it. A CI run under
    /// TCG once saw the guest's virtio TX queue stay stalled after link up (its console:
    /// "NETDEV WATCHDOG: transmit queue 0 timed out" for 90 s); a link that carries no
    /// traffic is cycled once more at the hypervisor, then the guest's NIC is reset,
    /// each step logged with the guest's and QEMU's view of the NIC, and the
    /// confirmation says which step it took.
    func restoreClusterLink(of victim: Node, probe: String, wait: Double = 10) async throws -> String {
        let node = victim.name
        let ip = try plan.node(node).ip
        let prober = try session.node(probe)
        let remedies: [(String, () async throws -> Void)] = [
            ("link up", { try await victim.setClusterLink(up: true) }),
            (
                "a second link cycle",
                {
                    try await victim.setClusterLink(up: false)
                    try await Task.sleep(for: .seconds(1))
                    try await victim.setClusterLink(up: true)
                }
            ),
            ("a reset of the guest's NIC", { _ = try await victim.succeed(Self.resetNIC(mac: victim.spec.mac)) }),
        ]
        var failed: [String] = []
        for (remedy, apply) in remedies {
            try await apply()
            do {
                _ = try await session.waitFor("\(probe) to reach \(node) (\(ip)) after \(remedy)", seconds: wait) {
                    () -> Bool? in
                    try await prober.exec("ping -c 1 -W 1 \(ip)").exitStatus == 0 ? true : nil
                }
                let reached = "cluster link up: \(probe) reaches \(node) (\(ip))"
                return failed.isEmpty
                    ? reached : "\(reached) after \(remedy); before it, \(failed.joined(separator: "; "))"
            } catch let error as HarnessError where error.code == .timeout {
                let state = await linkState(of: victim)
                session.logger.warning(
                    "\(node)'s cluster link carries no traffic after \(remedy)", metadata: ["nic": "\(state)"])
                failed.append("\(remedy): no traffic (\(state))")
            }
        }
        throw HarnessError(
            .failure,
            "\(node)'s cluster link carries no traffic: \(failed.joined(separator: "; "))\nlast console lines of \(node):\n\(victim.console.formattedTail(15))"
        )
    }

    /// Shell that resets the guest's NIC with `mac` by binding its virtio driver again
    /// (the device resets, both sides of its rings start over), then gives the new
    /// interface the old one's name and addresses.
    static func resetNIC(mac: String) -> String {
        let find = interface(mac: mac)
        return """
            i=$(\(find)) && dev=$(basename "$(readlink /sys/class/net/$i/device)") && \
            addrs=$(ip -o -4 addr show dev $i | awk '{print $4}') && d=/sys/bus/virtio/drivers/virtio_net && \
            echo $dev > $d/unbind && echo $dev > $d/bind && j=$(\(find)) && { [ "$j" = "$i" ] || ip link set dev $j name $i; } && \
            for a in $addrs; do ip addr add $a dev $i; done && ip link set dev $i up
            """
    }

    /// Shell that prints the name of the guest interface with `mac`; fails if none has it.
    static func interface(mac: String) -> String {
        "grep -lx '\(mac.lowercased())' /sys/class/net/*/address | cut -d/ -f5"
    }

    /// The guest's and QEMU's view of a node's cluster NIC: carrier, counters, TX ring.
    func linkState(of victim: Node) async -> String {
        let guest = try? await victim.succeed(
            "i=$(\(Self.interface(mac: victim.spec.mac))); d=/sys/class/net/$i; echo \"$i carrier=$(cat $d/carrier) operstate=$(cat $d/operstate) tx_packets=$(cat $d/statistics/tx_packets)\"",
            timeout: 10)
        let qemu = try? await victim.clusterTXRing()
        return
            "guest: \(guest?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unreadable"); QEMU TX ring: \(qemu ?? "unreadable")"
    }
}

/// Polls every member's view of the leader and records it.
actor LeaderObserver {
    let session: RuntimeSession
    let nodes: [String]
    private(set) var observations: [FailoverHistory.LeaderObservation] = []
    private var paused: Set<String> = []

    init(session: RuntimeSession, nodes: [String]) {
        self.session = session
        self.nodes = nodes
    }

    func pause(_ node: String) { paused.insert(node) }
    func resume(_ node: String) { paused.remove(node) }

    func run() async {
        while !Task.isCancelled {
            await withTaskGroup(of: FailoverHistory.LeaderObservation?.self) { group in
                for node in nodes where !paused.contains(node) {
                    group.addTask { [session] in await Self.view(of: node, in: session) }
                }
                for await o in group { if let o { observations.append(o) } }
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Asks `node` once and records its answer: a step that polls a node itself leaves its
    /// sighting in the history too, since on a busy host the observer's own round can miss it.
    func look(at node: String) async -> FailoverHistory.LeaderObservation? {
        guard let o = await Self.view(of: node, in: session) else { return nil }
        observations.append(o)
        return o
    }

    private static func view(of node: String, in session: RuntimeSession) async -> FailoverHistory.LeaderObservation? {
        guard let v = await session.adapter(node, "leader", timeout: 5).flatMap(LeaderView.init(adapterOutput:)) else {
            return nil
        }
        return FailoverHistory.LeaderObservation(
            time: session.now, node: node, member: v.member, leader: v.leader, term: v.term)
    }

    func observedEveryNode(after time: Double) -> Bool {
        Set(observations.filter { $0.time > time }.map(\.node)) == Set(nodes)
    }

    /// The node every observed member currently follows, when they agree.
    func agreedLeaderNode(excluding excluded: String? = nil) -> String? {
        var latest: [String: FailoverHistory.LeaderObservation] = [:]
        for o in observations { latest[o.node] = o }
        let views = nodes.filter { $0 != excluded }.compactMap { latest[$0] }
        guard views.count == nodes.filter({ $0 != excluded }).count, let leader = views.first?.leader, leader != "0",
            views.allSatisfy({ $0.leader == leader })
        else { return nil }
        return latest.values.first { $0.member == leader && $0.node != excluded }?.node
    }
}

/// The failover writer's writes so far, shared with the waits that watch it.
final class WriteLog: @unchecked Sendable {
    private let lock = NSLock()
    private var writes: [SteadyWritesWorkload.Write] = []
    private var stopRequested = false

    func append(_ write: SteadyWritesWorkload.Write) {
        lock.withLock { writes.append(write) }
    }
    func stop() { lock.withLock { stopRequested = true } }
    var stopped: Bool { lock.withLock { stopRequested } }
    var acknowledged: Int { lock.withLock { writes.filter(\.acknowledged).count } }
    /// The last writes, for a wait on the writer that runs out.
    var tail: String {
        let last = lock.withLock { writes.suffix(10) }
        return "the writer's last writes:\n"
            + last.map {
                "\($0.key) \($0.acknowledged ? "ok" : "unknown") in \(Int(($0.complete - $0.invoke) * 1000)) ms"
            }
            .joined(separator: "\n")
    }
}
