import Foundation

/// A membership change under load: after `start` seconds a member is removed from the
/// cluster (through another member), its store stopped and its data erased; after `hold`
/// seconds it joins again as a new member, through the join the target generates. All
/// through the adapter's verbs (`member-remove`, `leave`, `join`, `members`, `leader`).
/// Confirmed when the others no longer list it; the heal when they list it started and
/// it follows a leader.
public struct MembershipNemesis: Sendable {
    public var start: Double
    public var hold: Double
    public var timeoutScale: Double
    /// The member to replace and another member to ask, chosen when the fault starts.
    public var choose: @Sendable () async -> (member: String, via: String)?
    public var adapter: GuestFaultNemesis.Adapter

    public init(
        start: Double, hold: Double, timeoutScale: Double = 1,
        choose: @escaping @Sendable () async -> (member: String, via: String)?,
        adapter: @escaping GuestFaultNemesis.Adapter
    ) {
        self.start = start
        self.hold = hold
        self.timeoutScale = timeoutScale
        self.choose = choose
        self.adapter = adapter
    }

    public func run(record: @escaping @Sendable (String, String) -> Void) async -> NemesisOutcome {
        var outcome = NemesisOutcome()
        do {
            try await Task.sleep(for: .milliseconds(Int64(start * 1000)))
        } catch { return outcome }
        guard let (member, via) = await choose() else {
            outcome.detail = "no member could be chosen (one that joins through the target's first-boot join)"
            return outcome
        }
        outcome.fault = "replace \(member): removed, then joined again as a new member"
        record("start", outcome.fault)
        do {
            guard await adapter(via, "member-remove \(member)") != nil else {
                throw NemesisError("`adapter member-remove \(member)` failed on \(via)")
            }
            outcome.injected = true
            outcome.detail = try await membership(of: member, via: via, removed: true)
            outcome.confirmed = true
            guard await adapter(member, "leave") != nil else {
                throw NemesisError("`adapter leave` failed on \(member)")
            }
            try await Task.sleep(for: .milliseconds(Int64(hold * 1000)))
        } catch {
            outcome.detail += (outcome.detail.isEmpty ? "" : "; ") + "\(error)"
        }
        // Always healed: the member joins again (whatever state the steps above left).
        outcome.healed = await adapter(member, "join") != nil
        record("stop", outcome.fault)
        if !outcome.healed { outcome.detail += "; `adapter join` failed on \(member)" }
        do {
            outcome.detail += "; healed: " + (try await membership(of: member, via: via, removed: false))
            outcome.healConfirmed = outcome.healed
        } catch {
            outcome.detail += "; heal: \(error)"
        }
        return outcome
    }

    /// Waits until `via` no longer lists `member` (removed), or lists it started while it
    /// follows a leader (joined again).
    func membership(of member: String, via: String, removed: Bool) async throws -> String {
        let bound = (removed ? 20 : 90) * timeoutScale
        let deadline = ContinuousClock.now + .milliseconds(Int64(bound * 1000))
        var last = "no answer"
        while ContinuousClock.now < deadline {
            if let list = await adapter(via, "members") {
                let line = list.split(separator: "\n").first {
                    $0.split(separator: " ").dropFirst().first == "\(member)"
                }
                last = line.map { "\(via) lists \($0)" } ?? "\(via) does not list \(member)"
                if removed, line == nil { return last }
                if !removed, let line, line.hasSuffix(" started"),
                    let view = await adapter(member, "leader").flatMap(LeaderView.init(adapterOutput:)), view.hasLeader
                {
                    return "\(last); \(member) follows \(view.leader) in term \(view.term)"
                }
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw NemesisError(
            "\(member) was not \(removed ? "removed" : "a started member again") within \(Int(bound)) s (last: \(last))"
        )
    }
}
