import Foundation
import Harness

/// Packet loss in a workload: after `start` seconds, `percent` % of the frames between
/// every two members dropped on the host's bridge (nft's `numgen random`) for `hold`
/// seconds. Confirmed by the rules' own counters (frames were dropped), since a probe
/// across a lossy path may or may not pass; the heal is confirmed as a partition's is.
public struct PacketLossNemesis: Sendable {
    public var members: [String]
    public var percent: Int
    public var start: Double
    public var hold: Double

    public init(members: [String], percent: Int, start: Double, hold: Double) {
        self.members = members
        self.percent = percent
        self.start = start
        self.hold = hold
    }

    public func run(cluster: Cluster, record: @escaping @Sendable (String, String) -> Void) async -> NemesisOutcome {
        var outcome = NemesisOutcome()
        outcome.fault = "\(percent) % packet loss among \(members.joined(separator: ", "))"
        do {
            try await Task.sleep(for: .milliseconds(Int64(start * 1000)))
            var taps: [String: String] = [:]
            for name in members { taps[name] = try await cluster.node(name).clusterTap() }
            record("start", outcome.fault)
            try await cluster.firewall.apply([], taps: taps, lossPercent: percent, lossAmong: members)
            outcome.injected = true
            try await Task.sleep(for: .milliseconds(Int64(hold * 1000)))
            let dropped = try await cluster.firewall.droppedFrames()
            outcome.confirmed = dropped > 0
            outcome.detail = "the bridge dropped \(dropped) frame(s) over the \(Int(hold)) s hold"
        } catch {
            outcome.detail += (outcome.detail.isEmpty ? "" : "; ") + "\(error)"
        }
        await PartitionNemesis.heal(members, cluster: cluster, &outcome, record: record)
        return outcome
    }
}
