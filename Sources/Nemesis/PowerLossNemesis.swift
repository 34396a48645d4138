import Foundation
import Harness

/// Power loss of several machines at once, at the hypervisor: every chosen domain is
/// destroyed together (no guest gets to flush or say goodbye), confirmed gone from
/// libvirt, held `hold` seconds, then each is started on the same disk and brought up
/// by `powerOn` (the guest image's business: a NixOS system starts its own units, a
/// fixture guest's are installed again). Recorded as Jepsen's nemesis records (:start, :stop).
public struct PowerLossNemesis: Sendable {
    public var start: Double
    public var hold: Double
    /// The nodes that lose power, chosen when it happens (e.g. a majority with the leader).
    public var choose: @Sendable () async -> [String]?
    /// Starts a destroyed node and brings its services up; throws if it cannot.
    public var powerOn: @Sendable (Node) async throws -> Void

    public init(
        start: Double, hold: Double, choose: @escaping @Sendable () async -> [String]?,
        powerOn: @escaping @Sendable (Node) async throws -> Void
    ) {
        self.start = start
        self.hold = hold
        self.choose = choose
        self.powerOn = powerOn
    }

    public func run(cluster: Cluster, record: @escaping @Sendable (String, String) -> Void) async -> NemesisOutcome {
        var outcome = NemesisOutcome()
        var victims: [Node] = []
        do {
            try await Task.sleep(for: .milliseconds(Int64(start * 1000)))
            guard let names = await choose(), !names.isEmpty else {
                outcome.detail = "no nodes could be chosen (no leader known?)"
                return outcome
            }
            victims = try names.map { try cluster.node($0) }
            outcome.fault = "power loss of \(names.joined(separator: ", "))"
            record("start", outcome.fault)
            let failures = await Self.each(victims) { try await $0.destroy() }
            outcome.injected = failures.isEmpty
            guard failures.isEmpty else { throw NemesisError("destroy: \(failures.joined(separator: "; "))") }
            var left: [String] = []
            for node in victims {
                if let state = try await node.domainState() { left.append("\(node.name) is \(state)") }
            }
            outcome.confirmed = left.isEmpty
            outcome.detail =
                left.isEmpty
                ? "libvirt has no domain of \(names.joined(separator: ", "))" : left.joined(separator: "; ")
            try await Task.sleep(for: .milliseconds(Int64(hold * 1000)))
        } catch {
            outcome.detail += (outcome.detail.isEmpty ? "" : "; ") + "\(error)"
        }
        guard !victims.isEmpty else { return outcome }
        // Always powered on again, whatever happened above; together, as after a real outage.
        let failures = await Self.each(victims) { try await powerOn($0) }
        record("stop", outcome.fault)
        outcome.healed = failures.isEmpty
        outcome.healConfirmed = outcome.healed
        outcome.detail +=
            failures.isEmpty
            ? "; every node booted again and answers SSH" : "; power on: \(failures.joined(separator: "; "))"
        return outcome
    }

    /// Runs `action` on every node at once; the failures, one line each.
    static func each(_ nodes: [Node], _ action: @escaping @Sendable (Node) async throws -> Void) async -> [String] {
        await withTaskGroup(of: String?.self) { group in
            for node in nodes {
                group.addTask {
                    do {
                        try await action(node)
                        return nil
                    } catch { return "\(node.name): \(error)" }
                }
            }
            var failures: [String] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures.sorted()
        }
    }
}
