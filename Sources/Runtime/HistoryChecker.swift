import Foundation

/// What failover must prove, checked over a recorded history.
public struct HistoryChecker: Sendable {
    public struct Result: Sendable, Codable, Equatable {
        public let name: String
        public let passed: Bool
        public let detail: String
    }

    /// New-leader bound as a multiple of the election timeout (TCG slows elections). 20:
    /// beside a CPU hog, 1 s elections under TCG stormed for 36 and 45 s (terms 17 to 30)
    /// before the survivors agreed; a store that never agrees still fails.
    public var electionBoundFactor: Double

    public init(electionBoundFactor: Double = 20) { self.electionBoundFactor = electionBoundFactor }

    public func check(_ h: FailoverHistory) -> [Result] {
        [
            faultsTookEffect(h), singleLeaderPerTerm(h), acknowledgedWritesSurvive(h), newLeaderWithinBound(h),
            oldLeaderRejoined(h),
        ]
    }

    func faultsTookEffect(_ h: FailoverHistory) -> Result {
        let unconfirmed = h.faults.filter { $0.confirmed == nil }
        let unhealed = h.faults.filter { $0.healed == nil }
        if h.faults.isEmpty { return Result(name: "fault took effect", passed: false, detail: "no fault was injected") }
        if !unconfirmed.isEmpty {
            return Result(
                name: "fault took effect", passed: false,
                detail: unconfirmed.map { "\($0.kind) on \($0.node) never confirmed: \($0.confirmation)" }.joined(
                    separator: "; "))
        }
        if !unhealed.isEmpty {
            return Result(
                name: "fault took effect", passed: false,
                detail: unhealed.map { "\($0.kind) on \($0.node) was not healed" }.joined(separator: "; "))
        }
        return Result(
            name: "fault took effect", passed: true,
            detail: h.faults.map {
                "\($0.kind) on \($0.node): \($0.confirmation)" + ($0.healConfirmation.map { "; healed: \($0)" } ?? "")
            }
            .joined(separator: "; "))
    }

    /// Raft's election safety: at most one node is leader in a term. Judged on the
    /// elections Raft logged on every member (complete, when the adapter reads them)
    /// and on sampled leadership claims (a node that reports itself leader), since a
    /// follower's view may lag its term. etcd reads a node's leader and term one after
    /// the other, so a node stepping down can report itself leader in the new term for
    /// an instant: a claim counts when the node repeats it on its next poll.
    func singleLeaderPerTerm(_ h: FailoverHistory) -> Result {
        let name = "one leader per term"
        var leaders: [Int: Set<String>] = [:]
        var claimed: Set<Int> = []
        for (_, views) in Dictionary(grouping: h.observations, by: \.node) {
            let ordered = views.sorted { $0.time < $1.time }
            for (a, b) in zip(ordered, ordered.dropFirst())
            where a.leader == a.member && !a.leader.isEmpty && b.leader == a.leader && b.member == a.member
                && b.term == a.term
            {
                leaders[a.term, default: []].insert(a.leader)
                claimed.insert(a.term)
            }
        }
        for e in h.elections ?? [] { leaders[e.term, default: []].insert(e.leader) }
        let split = leaders.filter { $0.value.count > 1 }.sorted { $0.key < $1.key }
        if let (term, ids) = split.first {
            let logged = (h.elections ?? []).filter { $0.term == term }.map { "\($0.node) logged \($0.leader)" }
            return Result(
                name: name, passed: false,
                detail: "term \(term) has leaders \(ids.sorted().joined(separator: " and "))"
                    + (logged.isEmpty ? "" : " (\(logged.sorted().joined(separator: ", ")))"))
        }
        guard let elections = h.elections else {
            let observed = Set(h.observations.map(\.term)).count
            return Result(
                name: name, passed: true,
                detail:
                    "\(claimed.count) of \(observed) observed term(s) with a repeated leadership claim, one leader each"
            )
        }
        guard !elections.isEmpty else {
            return Result(
                name: name, passed: false, detail: "the members' Raft logs name no election, not even the first")
        }
        let terms = leaders.keys.sorted()
        return Result(
            name: name, passed: true,
            detail:
                "\(terms.count) term(s) with a leader (\(terms.map(String.init).joined(separator: ", "))), one each: "
                + "\(Set(elections.map(\.term)).count) from Raft's logs on \(Set(elections.map(\.node)).count) members, \(claimed.count) also from repeated claims"
        )
    }

    func acknowledgedWritesSurvive(_ h: FailoverHistory) -> Result {
        let acked = h.operations.filter { $0.outcome == .ok }
        guard !acked.isEmpty else {
            return Result(name: "no acknowledged write lost", passed: false, detail: "no write was acknowledged")
        }
        guard !h.finalKeys.isEmpty else {
            return Result(name: "no acknowledged write lost", passed: false, detail: "no final read")
        }
        var lost: [String] = []
        for (node, keys) in h.finalKeys.sorted(by: { $0.key < $1.key }) {
            let present = Set(keys)
            let missing = acked.filter { !present.contains($0.key) }
            if !missing.isEmpty { lost.append("\(node) lacks \(missing.count) (first \(missing[0].key))") }
        }
        let unknown = h.operations.filter { $0.outcome == .unknown }.count
        if !lost.isEmpty {
            return Result(name: "no acknowledged write lost", passed: false, detail: lost.joined(separator: "; "))
        }
        return Result(
            name: "no acknowledged write lost", passed: true,
            detail:
                "\(acked.count) acknowledged writes on all \(h.finalKeys.count) nodes; \(unknown) of unknown outcome")
    }

    func newLeaderWithinBound(_ h: FailoverHistory) -> Result {
        let name = "new leader within bound"
        guard let fault = h.faults.first, fault.confirmed != nil else {
            return Result(name: name, passed: false, detail: "no confirmed fault")
        }
        let before = h.observations.filter { $0.time < fault.injected && $0.node == fault.node }.last
        guard let old = before?.member else {
            return Result(name: name, passed: false, detail: "no observation of \(fault.node) before the fault")
        }
        let bound = electionBoundFactor * h.electionTimeout * h.timeScale
        // The first time every survivor's latest view agrees on one leader other than the old one.
        var latest: [String: FailoverHistory.LeaderObservation] = [:]
        let survivors = Set(h.observations.map(\.node)).subtracting([fault.node])
        // From the injection: confirming a fault can take longer than the election.
        for o in h.observations
        where o.time >= fault.injected && o.node != fault.node && (fault.healed.map { o.time < $0 } ?? true) {
            latest[o.node] = o
            let views = survivors.compactMap { latest[$0]?.leader }
            if views.count == survivors.count, Set(views).count == 1, let leader = views.first, leader != old,
                leader != "0"
            {
                let took = o.time - fault.injected
                return Result(
                    name: name, passed: took <= bound,
                    detail: String(
                        format:
                            "survivors agreed on %@ %.2f s after the fault (bound %.1f s = %.0f x election timeout x %.0f for the accelerator)",
                        leader, took, bound, electionBoundFactor, h.timeScale))
            }
        }
        return Result(name: name, passed: false, detail: "the survivors never agreed on a new leader before the heal")
    }

    func oldLeaderRejoined(_ h: FailoverHistory) -> Result {
        let name = "old leader rejoined as follower with the same data"
        guard let fault = h.faults.first, let healed = fault.healed else {
            return Result(name: name, passed: false, detail: "no healed fault")
        }
        let oldTerm = h.observations.filter { $0.node == fault.node && $0.time < fault.injected }.last?.term ?? 0
        let after = h.observations.filter { $0.node == fault.node && $0.time > healed }
        guard !after.isEmpty else {
            return Result(name: name, passed: false, detail: "\(fault.node) was not observed after the heal")
        }
        // Rejoining is the first time it follows someone else in a newer term; winning a
        // later election is Raft's right (two leaders in a term is a separate check).
        guard let follow = after.first(where: { $0.leader != $0.member && $0.leader != "0" && $0.term > oldTerm })
        else {
            let last = after.last!
            return Result(
                name: name, passed: false,
                detail:
                    "\(fault.node) never followed another leader after the heal; last it reported leader \(last.leader) in term \(last.term) (itself: \(last.member))"
            )
        }
        let counts = Set(h.finalKeys.values.map(\.count))
        guard let own = h.finalKeys[fault.node], counts.count == 1 else {
            return Result(
                name: name, passed: false, detail: "final key counts differ: \(h.finalKeys.mapValues(\.count))")
        }
        var detail =
            "\(fault.node) followed \(follow.leader) in term \(follow.term) "
            + String(format: "%.2f", follow.time - healed) + " s after the heal and holds the same \(own.count) keys"
        if let reelected = after.first(where: { $0.time > follow.time && $0.leader == $0.member }) {
            detail += "; it won a later election (term \(reelected.term))"
        }
        return Result(name: name, passed: true, detail: detail)
    }
}
