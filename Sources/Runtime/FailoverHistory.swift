import Foundation
import Linearizability

/// Everything a failover run did and saw, on the host's clock (seconds since the
/// run started). Saved beside the run report; the checkers run on it, then or later.
public struct FailoverHistory: Sendable, Codable {
    public struct Operation: Sendable, Codable, Equatable {
        public enum Outcome: String, Sendable, Codable { case ok, unknown }
        public var key: String
        public var invoke: Double
        public var complete: Double
        public var outcome: Outcome
        public init(key: String, invoke: Double, complete: Double, outcome: Outcome) {
            self.key = key; self.invoke = invoke; self.complete = complete; self.outcome = outcome
        }
    }

    public struct Fault: Sendable, Codable, Equatable {
        public var kind: String
        public var node: String
        public var injected: Double
        /// When the harness saw the fault in effect; nil if it never did.
        public var confirmed: Double?
        public var confirmation: String
        public var healed: Double?
        /// How the harness saw the fault undone, and any remedy the heal needed.
        public var healConfirmation: String?
        public init(
            kind: String, node: String, injected: Double, confirmed: Double?, confirmation: String, healed: Double?
        ) {
            self.kind = kind; self.node = node; self.injected = injected; self.confirmed = confirmed
            self.confirmation = confirmation; self.healed = healed
        }
    }

    /// One node's view: who it is, whom it follows, in which term.
    public struct LeaderObservation: Sendable, Codable, Equatable {
        public var time: Double
        public var node: String
        public var member: String
        public var leader: String
        public var term: Int
        public init(time: Double, node: String, member: String, leader: String, term: Int) {
            self.time = time; self.node = node; self.member = member; self.leader = leader; self.term = term
        }
    }

    /// An election as Raft itself logged it on `node`: `leader` won `term`.
    public struct Election: Sendable, Codable, Equatable, Hashable {
        public var node: String
        public var term: Int
        public var leader: String
        public init(node: String, term: Int, leader: String) {
            self.node = node; self.term = term; self.leader = leader
        }
    }

    public var operations: [Operation] = []
    public var faults: [Fault] = []
    public var observations: [LeaderObservation] = []
    /// Every election in the members' Raft logs, read after the heal; nil when the
    /// target's adapter cannot tell (then only the sampled views are judged).
    public var elections: [Election]?
    /// Keys present on each node at the end, after the heal.
    public var finalKeys: [String: [String]] = [:]
    /// The election timeout the target configures, in seconds: bounds derive from it.
    public var electionTimeout: Double = 1
    /// How much slower guests run than on KVM (3 under TCG): bounds scale with it.
    public var timeScale: Double = 1

    public init() {}

    /// Saves as `history-failover-<fault>.json`, one file per failover of a run, and
    /// the same in Jepsen's format beside it (`.edn`).
    public func save(in dir: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(
            to: dir.appendingPathComponent("history-failover-\(faults.first?.kind ?? "none").json"))
        try saveJepsen(in: dir)
    }

    public static func load(_ url: URL) throws -> FailoverHistory {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw HistoryError(message: "no history at \(url.path)")
        }
        let history: FailoverHistory
        do { history = try JSONDecoder().decode(FailoverHistory.self, from: data) } catch {
            throw HistoryError(message: "\(url.path) is not a failover history: \(error)")
        }
        if let problem = history.inconsistency {
            throw HistoryError(message: "\(url.path) cannot be judged: \(problem)")
        }
        return history
    }

    /// What makes the history impossible (so no verdict on it means anything), or nil.
    public var inconsistency: String? {
        func bad(_ t: Double) -> Bool { !t.isFinite || t < 0 }
        if !electionTimeout.isFinite || electionTimeout <= 0 {
            return "its electionTimeout is \(electionTimeout); it must be a positive number of seconds"
        }
        if !timeScale.isFinite || timeScale <= 0 { return "its timeScale is \(timeScale); it must be positive" }
        for (i, f) in faults.enumerated() {
            if bad(f.injected) { return "fault \(i + 1) (\(f.kind) on \(f.node)) was injected at \(f.injected) s" }
            if let c = f.confirmed, bad(c) || c < f.injected {
                return
                    "fault \(i + 1) (\(f.kind) on \(f.node)) was confirmed at \(c) s, before its injection at \(f.injected) s"
            }
            if let h = f.healed, bad(h) || h < f.injected {
                return
                    "fault \(i + 1) (\(f.kind) on \(f.node)) was healed at \(h) s, before its injection at \(f.injected) s"
            }
        }
        for (i, op) in operations.enumerated() where bad(op.invoke) || bad(op.complete) || op.complete < op.invoke {
            return
                "operation \(i + 1) (\(op.key)) completes at \(op.complete) s, before its invocation at \(op.invoke) s"
        }
        if let o = observations.first(where: { bad($0.time) || $0.term < 0 }) {
            return "an observation of \(o.node) has time \(o.time) s and term \(o.term)"
        }
        return nil
    }

    /// Parses the adapter's `elections` output: "TERM LEADER" lines.
    public static func elections(fromAdapter output: String, node: String) -> [Election] {
        output.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 2, let term = Int(f[0]), !f[1].isEmpty else { return nil }
            return Election(node: node, term: term, leader: String(f[1]))
        }
    }
}

public struct HistoryError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

extension FailoverHistory {
    /// The history in Jepsen's format, for Knossos, Elle, Porcupine or `harness check-history`:
    /// the writer's writes as kv puts (one client; a write of unknown outcome retires its
    /// process, as in Jepsen), the fault as the nemesis' :start and :stop, then each
    /// member's final read of every key (`"1"` when it holds the key, nil when not). An
    /// acknowledged write that a member lost reads nil: the kv model rejects it.
    public var jepsen: Linearizability.History {
        var timed: [(Double, HistoryEvent)] = []
        var process: Int64 = 0
        for op in operations {
            let key = EDNValue.string(op.key)
            timed.append(
                (
                    op.invoke,
                    HistoryEvent(
                        process: .client(process), kind: .invoke, f: "put", key: key,
                        value: .string("1"))
                ))
            timed.append(
                (
                    op.complete,
                    HistoryEvent(
                        process: .client(process), kind: op.outcome == .ok ? .ok : .info,
                        f: "put", key: key, value: .string("1"))
                ))
            if op.outcome != .ok { process += 1 }
        }
        for fault in faults {
            let what = EDNValue.string("\(fault.kind) \(fault.node)")
            timed.append(
                (fault.injected, HistoryEvent(process: .named("nemesis"), kind: .info, f: "start", value: what)))
            if let healed = fault.healed {
                timed.append((healed, HistoryEvent(process: .named("nemesis"), kind: .info, f: "stop", value: what)))
            }
        }
        // The final reads come after everything else; each member is a client of its own.
        var clock = (timed.map(\.0).max() ?? 0) + 0.001
        let keys = operations.map(\.key)
        for (n, member) in finalKeys.keys.sorted().enumerated() {
            let held = Set(finalKeys[member] ?? [])
            let reader = HistoryEvent.Process.client(1000 + Int64(n))
            for key in keys {
                timed.append((clock, HistoryEvent(process: reader, kind: .invoke, f: "get", key: .string(key))))
                clock += 0.000_001
                timed.append(
                    (
                        clock,
                        HistoryEvent(
                            process: reader, kind: .ok, f: "get", key: .string(key),
                            value: held.contains(key) ? .string("1") : .null)
                    ))
                clock += 0.000_001
            }
        }
        timed.sort { $0.0 < $1.0 }
        let events = timed.enumerated().map { i, t in
            var e = t.1
            e.time = Int64((t.0 * 1e9).rounded())
            e.index = Int64(i)
            return e
        }
        // Built from one sequential writer and per-member readers: it always pairs.
        return try! Linearizability.History(events: events)
    }

    /// Writes `history-failover-<fault>.edn` beside the JSON.
    public func saveJepsen(in dir: URL) throws {
        let url = dir.appendingPathComponent("history-failover-\(faults.first?.kind ?? "none").edn")
        try jepsen.edn().write(to: url, atomically: true, encoding: .utf8)
    }
}
