import Foundation
import Harness

/// What a nemesis did, for the checks and the report: a fault that was never confirmed,
/// or never healed, leaves a run undecided.
public struct NemesisOutcome: Sendable, Codable {
    /// The fault, e.g. "isolate node02" or "kill -9 node03's store".
    public var fault: String = ""
    public var injected: Bool = false
    public var confirmed: Bool = false
    public var healed: Bool = false
    public var healConfirmed: Bool = false
    public var detail: String = ""
    public var sound: Bool { injected && confirmed && healed && healConfirmed }
    public init() {}
}

/// One partition in a workload: inject after `start` seconds, confirm it from the
/// receivers, hold it `hold` seconds (past the election timeout), heal, confirm the
/// heal. Each step is recorded as Jepsen's nemesis records it (:start, :stop).
public struct PartitionNemesis: Sendable {
    public var members: [String]
    public var start: Double
    public var hold: Double
    /// The partition, chosen when it is injected (e.g. around the leader of that moment).
    public var choose: @Sendable () async -> Partition?

    public init(members: [String], start: Double, hold: Double, choose: @escaping @Sendable () async -> Partition?) {
        self.members = members
        self.start = start
        self.hold = hold
        self.choose = choose
    }

    public func run(cluster: Cluster, record: @escaping @Sendable (String, String) -> Void) async -> NemesisOutcome {
        var outcome = NemesisOutcome()
        do {
            try await Task.sleep(for: .milliseconds(Int64(start * 1000)))
            guard let partition = await choose() else {
                outcome.detail = "no partition could be chosen (no leader known?)"
                return outcome
            }
            outcome.fault = partition.description
            let nodes = try members.map { try cluster.node($0) }
            let cuts = try partition.cuts(members)
            var taps: [String: String] = [:]
            for node in nodes { taps[node.name] = try await node.clusterTap() }
            record("start", partition.description)
            try await cluster.firewall.apply(cuts, taps: taps)
            outcome.injected = true
            let seen = try await Reachability.blocked(among: nodes, timeoutScale: cluster.timeoutScale)
            outcome.confirmed = seen == cuts
            outcome.detail =
                outcome.confirmed
                ? "\(cuts.count) directed cut(s) confirmed by the receivers"
                : "expected cuts \(Self.text(cuts)), the receivers saw \(Self.text(seen))"
            try await Task.sleep(for: .milliseconds(Int64(hold * 1000)))
        } catch {
            outcome.detail += (outcome.detail.isEmpty ? "" : "; ") + "\(error)"
        }
        // Always healed, whatever happened above.
        await Self.heal(members, cluster: cluster, &outcome, record: record)
        return outcome
    }

    /// Removes the run's bridge rules and confirms every path carries frames again.
    static func heal(
        _ members: [String], cluster: Cluster, _ outcome: inout NemesisOutcome,
        record: @escaping @Sendable (String, String) -> Void
    ) async {
        do {
            try await cluster.firewall.clear()
            record("stop", outcome.fault)
            outcome.healed = true
            let nodes = try members.map { try cluster.node($0) }
            let seen = try await Reachability.blocked(among: nodes, timeoutScale: cluster.timeoutScale)
            outcome.healConfirmed = seen.isEmpty
            if !seen.isEmpty { outcome.detail += "; after the heal still blocked: \(Self.text(seen))" }
        } catch {
            outcome.detail += "; heal: \(error)"
        }
    }

    static func text(_ cuts: Set<BridgeFirewall.Cut>) -> String {
        cuts.isEmpty ? "none" : cuts.map { "\($0.from)→\($0.to)" }.sorted().joined(separator: ", ")
    }
}
