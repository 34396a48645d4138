import Foundation
import Harness
import Libvirt
import Nemesis
import SSH

/// bootstrap, join and failover, written against the adapter verbs only.
public struct Scenarios: Sendable {
    public let session: RuntimeSession
    public let plan: ClusterPlan
    public static let founders = ["node01", "node02", "node03"]
    public static let joiners = ["node04", "node05"]
    /// The fixes that let bootstrap, join and failover work on the miniature (a scenario
    /// file's `fixes` when it names none).
    public static let runnableFixes = ["F5.1", "F5.2", "F4.1", "F4.2", "F3"]
    public static let client = "node06"

    public init(session: RuntimeSession, plan: ClusterPlan) {
        self.session = session
        self.plan = plan
    }

    var electionTimeout: Double {
        let ms = plan.nodes.first { $0.services["chainfire"] != nil }?.services["chainfire"]?.environment[
            "CHAINFIRE_ELECTION_MS"]
        return (ms.flatMap(Double.init) ?? 1000) / 1000
    }

    /// node01–node03 form the cluster: same members and leader everywhere; a write
    /// on one node is read on all.
    public func bootstrap() async throws -> ScenarioResult {
        var r = StepRecorder("bootstrap", session: session)
        if session.nodesRunTheirOwnUnits {
            try await r.step("node01-node03 booted from their NixOS systems, units started at boot") {
                var states: [String] = []
                for node in Self.founders { states.append("\(node): \(try await unitsUp(node))") }
                return states.joined(separator: "; ")
            }
        } else {
            try await r.step("provision node01-node06, start node01-node03") {
                try await session.provision(plan, starting: Set(Self.founders))
                return
                    "units installed from the evaluated definitions; started \(Self.founders.joined(separator: ", "))"
            }
        }
        try await r.step("Chainfire healthy on node01-node03") {
            for node in Self.founders {
                // If it runs out, Chainfire's own log says why (no leader, a peer refused, a port taken).
                _ = try await session.waitFor(
                    "Chainfire /health on \(node)", node: node, seconds: 60,
                    showing: { "chainfire's log on \(node):\n" + (await session.journal(node, "chainfire", lines: 25)) }
                ) {
                    await session.adapter(node, "health") != nil ? true : nil
                }
            }
            return "/health answers 200 on all three"
        }
        var leader = ""
        try await r.step("one leader, seen by all") {
            leader = try await session.waitFor("node01-node03 to agree on a leader", seconds: 30) {
                var views: [String] = []
                for node in Self.founders {
                    guard let v = await session.adapter(node, "leader").flatMap(LeaderView.init(adapterOutput:)),
                        v.hasLeader
                    else { return nil }
                    views.append(v.leader)
                }
                return Set(views).count == 1 ? views[0] : nil
            }
            return "leader \(leader)"
        }
        try await r.step("same members on every node") {
            var lists: [String: [String]] = [:]
            for node in Self.founders {
                lists[node] = (await session.adapter(node, "members") ?? "").split(separator: "\n").map {
                    String($0.split(separator: " ")[1])
                }.sorted()
            }
            guard Set(lists.values).count == 1, lists["node01"] == Self.founders else {
                throw HarnessError(.failure, "members differ or are wrong: \(lists)")
            }
            return "members \(Self.founders.joined(separator: ", "))"
        }
        try await r.step("a write on node02 is read on all") {
            let value = "v-\(session.cluster.runID)"
            guard await session.adapter("node02", "put bootstrap/key \(value)") != nil else {
                throw HarnessError(.failure, "put on node02 failed")
            }
            for node in Self.founders {
                let got = await session.adapter(node, "get bootstrap/key")
                guard got == value else {
                    throw HarnessError(.failure, "\(node) reads \(got ?? "nothing"), not \(value)")
                }
            }
            return "bootstrap/key=\(value) on node01, node02, node03"
        }
        session.noteMembershipChange()
        return r.result
    }

    /// node04 and node05 join through the first-boot automation the target
    /// generates: members of Chainfire and FlareDB, serving reads.
    public func join() async throws -> ScenarioResult {
        var r = StepRecorder("join", session: session)
        for node in Self.joiners {
            try await r.step("cluster ready for a new member") { try await readyForMember() }
            try await r.step(
                session.nodesRunTheirOwnUnits
                    ? "\(node) boots; its system runs the first-boot join"
                    : "\(node) boots its units (first-boot join first)"
            ) {
                session.nodesRunTheirOwnUnits ? try await bootJoiner(node) : try await startJoinerUnits(node)
            }
            try await r.step("\(node) is a started Chainfire member") {
                _ = try await session.waitFor("\(node) to be a started member", node: node, seconds: 60) {
                    let members = await session.adapter("node01", "members") ?? ""
                    return members.split(separator: "\n").contains {
                        $0.contains(" \(node) ") && $0.hasSuffix("started") && !$0.hasSuffix("unstarted")
                    } ? true : nil
                }
                return "node01 lists \(node) as started"
            }
            try await r.step("\(node) is a FlareDB member") {
                guard let addr = await session.adapter("node01", "get flaredb/members/\(node)"), !addr.isEmpty else {
                    throw HarnessError(
                        .failure,
                        "no flaredb/members/\(node) in Chainfire; first-boot-flaredb-join said:\n\(await session.journal(node, "first-boot-flaredb-join"))"
                    )
                }
                return "flaredb/members/\(node) = \(addr)"
            }
            try await r.step("\(node) serves reads") {
                let value = try await session.waitFor("\(node) to read bootstrap/key", node: node, seconds: 30) {
                    await session.adapter(node, "get bootstrap/key").flatMap { $0.isEmpty ? nil : $0 }
                }
                return "bootstrap/key=\(value)"
            }
            session.noteMembershipChange()
        }
        return r.result
    }

    /// Waits until the store takes a new voting member: etcd refuses one ("not healthy for
    /// reconfigure") until every peer has been connected for 5 s, and the generated join
    /// does not retry. Every member must answer healthy, and 6 s must have passed since
    /// the membership last changed (all 6 when this session has not seen it change).
    func readyForMember() async throws -> String {
        let healthy = try await session.waitFor("every member healthy", seconds: 30) { () -> [String]? in
            let members = (await session.adapter("node01", "members") ?? "").split(separator: "\n").compactMap {
                $0.split(separator: " ").dropFirst().first.map(String.init)
            }
            for member in members where await session.adapter(member, "health") == nil { return nil }
            return members.isEmpty ? nil : members
        }
        let since = session.sinceMembershipChange
        let wait = max(0, 6 - (since ?? 0))
        if wait > 0 { try await Task.sleep(for: .seconds(wait)) }
        return "\(healthy.joined(separator: ", ")) healthy; "
            + (since.map { String(format: "%.1f s since the membership changed", $0 + wait) }
                ?? "waited 6 s: no membership change seen yet")
    }

    /// A fixture guest: its units started in boot order, the first-boot join first.
    func startJoinerUnits(_ node: String) async throws -> String {
        let order = try plan.node(node).bootOrder
        let n = try session.node(node)
        for unit in order { _ = try await n.exec("systemctl start \(unit)", timeout: 60) }
        // A failed join is final: say why now rather than wait out the membership bound.
        for unit in order where (try? await session.unitActivity(n, unit)) == "failed" {
            throw HarnessError(.failure, "\(unit) failed on \(node):\n\(await session.journal(node, unit))")
        }
        let states = try await n.succeed("systemctl list-units")
        return "started \(order.joined(separator: ", ")): \(states.replacingOccurrences(of: "\n", with: "; "))"
    }

    /// A NixOS node: booted for the first time, its system starts its units.
    func bootJoiner(_ node: String) async throws -> String {
        try await session.bootDeferred(node)
        return try await unitsUp(node)
    }

    /// Waits until `node`'s units that its system starts at boot are up: every
    /// long-running one active, every oneshot done. A failed unit fails at once,
    /// with its journal.
    func unitsUp(_ node: String) async throws -> String {
        let units = try plan.node(node)
        let order = units.bootOrder
        let n = try session.node(node)
        return try await session.waitFor(
            "\(node)'s units to come up (\(order.joined(separator: ", ")))", node: node, seconds: 90
        ) {
            var states: [String] = []
            for unit in order {
                let state = try await session.unitActivity(n, unit)
                if state == "failed" {
                    throw WaitAborted(description: "\(unit) failed on \(node):\n\(await session.journal(node, unit))")
                }
                let oneshot = units.services[unit]?.type == "oneshot"
                let up: Bool
                if oneshot {
                    // Done: inactive, or active with RemainAfterExit.
                    up = try await session.unitRan(n, unit) && (state == "inactive" || state == "active")
                } else {
                    up = state == "active"
                }
                if !up { return nil }
                states.append("\(unit) \(oneshot ? "done" : state)")
            }
            return states.joined(separator: ", ")
        }
    }
}
