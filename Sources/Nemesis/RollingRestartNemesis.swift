import Foundation
import HostCommand

/// A rolling restart under load, as an operator upgrades a cluster: after `start` seconds
/// each member's store is restarted in turn (the adapter's `restart`, its unit stopped and
/// started), and the next only once this one runs as a new process and follows a leader
/// again. Confirmed when every member was; the heal starts any member a failed step left
/// down, and is confirmed when all follow the same leader. Recorded as one fault (:start,
/// :stop) spanning the whole roll.
public struct RollingRestartNemesis: Sendable {
    public var members: [String]
    public var start: Double
    /// Bounds of the confirmations are multiplied by it (TCG guests are slow).
    public var timeoutScale: Double
    public var adapter: GuestFaultNemesis.Adapter

    public init(
        members: [String], start: Double, timeoutScale: Double = 1, adapter: @escaping GuestFaultNemesis.Adapter
    ) {
        self.members = members
        self.start = start
        self.timeoutScale = timeoutScale
        self.adapter = adapter
    }

    public func run(record: @escaping @Sendable (String, String) -> Void) async -> NemesisOutcome {
        var outcome = NemesisOutcome()
        outcome.fault = "rolling restart of \(members.joined(separator: ", "))"
        var steps: [String] = []
        do {
            try await Task.sleep(for: .milliseconds(Int64(start * 1000)))
            record("start", outcome.fault)
            for node in members {
                let before = await pids(node)
                let began = ContinuousClock.now
                guard await adapter(node, "restart") != nil else {
                    throw NemesisError("`adapter restart` failed on \(node)")
                }
                outcome.injected = true
                let (pid, follows) = try await rejoined(node, other: before)
                steps.append(
                    "\(node): pid \(before.sorted().joined(separator: ",")) → \(pid), follows \(follows) after "
                        + String(format: "%.1f s", (ContinuousClock.now - began).seconds))
            }
            outcome.confirmed = true
        } catch {
            steps.append("\(error)")
        }
        outcome.detail = steps.joined(separator: "; ")
        // Healed whatever happened: a member a failed step left without its store gets it back.
        var started = true
        for node in members where await pids(node).isEmpty {
            started = await adapter(node, "start") != nil && started
        }
        outcome.healed = started
        record("stop", outcome.fault)
        do {
            outcome.detail += "; healed: " + (try await oneLeader())
            outcome.healConfirmed = outcome.healed
        } catch {
            outcome.detail += "; heal: \(error)"
        }
        return outcome
    }

    /// The store's process ids on `node` (none when it runs none or cannot be asked).
    func pids(_ node: String) async -> Set<String> {
        Set(StoreProcess.parse(await adapter(node, "process") ?? "").map(\.pid))
    }

    /// Waits until `node` runs a store process not in `other` that follows a leader.
    func rejoined(_ node: String, other: Set<String>) async throws -> (pid: String, leader: String) {
        let bound = 60 * timeoutScale
        let deadline = ContinuousClock.now + .milliseconds(Int64(bound * 1000))
        var last = "no answer"
        while ContinuousClock.now < deadline {
            let now = await pids(node)
            if let pid = now.subtracting(other).first {
                if let view = await adapter(node, "leader").flatMap(LeaderView.init(adapterOutput:)), view.hasLeader {
                    return (pid, "\(view.leader) in term \(view.term)")
                }
                last = "new process \(pid), no leader yet"
            } else {
                last = now.isEmpty ? "no store process" : "still the old process \(now.sorted().joined(separator: ","))"
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw NemesisError("\(node) did not come back within \(Int(bound)) s (last: \(last))")
    }

    /// Waits until every member follows the same leader.
    func oneLeader() async throws -> String {
        let bound = 60 * timeoutScale
        let deadline = ContinuousClock.now + .milliseconds(Int64(bound * 1000))
        var last: [String] = []
        while ContinuousClock.now < deadline {
            var leaders: [String] = []
            for node in members {
                let view = await adapter(node, "leader").flatMap(LeaderView.init(adapterOutput:))
                leaders.append(view.flatMap { $0.hasLeader ? $0.leader : nil } ?? "none")
            }
            last = leaders
            if Set(leaders).count == 1, leaders[0] != "none" { return "every member follows \(leaders[0])" }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw NemesisError(
            "the members did not agree on a leader within \(Int(bound)) s (last: "
                + zip(members, last).map { "\($0) → \($1)" }.joined(separator: ", ") + ")")
    }
}
