import Foundation
import Workloads

/// What a scenario's `workload` line, or `harness run`'s flags, say of a workload phase;
/// what neither says, `phase(name:)` fills in.
public struct WorkloadOptions: Sendable, Equatable {
    public var kind: WorkloadKind?
    public var nemesis: [NemesisChoice]?
    public var schedule: NemesisSchedule?
    public var concurrency: Int?
    public var rate: Double?
    public var duration: Double?
    public var start: Double?
    public var hold: Double?
    public var keys: Int?
    public var values: Int?
    public var consistency: ReadConsistency?
    public var seed: UInt64?
    public var members: [String]?
    /// Checkers of which one must reject the history: the run is a seeded bug.
    public var expectInvalid: [String]?
    public var clientProgram: [String]?

    public init(kind: WorkloadKind? = nil) { self.kind = kind }

    /// These options, with every one `other` gives in their place (the CLI over the file).
    public func overridden(by other: WorkloadOptions) -> WorkloadOptions {
        var o = self
        o.kind = other.kind ?? kind
        o.nemesis = other.nemesis ?? nemesis
        o.schedule = other.schedule ?? schedule
        o.concurrency = other.concurrency ?? concurrency
        o.rate = other.rate ?? rate
        o.duration = other.duration ?? duration
        o.start = other.start ?? start
        o.hold = other.hold ?? hold
        o.keys = other.keys ?? keys
        o.values = other.values ?? values
        o.consistency = other.consistency ?? consistency
        o.seed = other.seed ?? seed
        o.members = other.members ?? members
        o.expectInvalid = other.expectInvalid ?? expectInvalid
        o.clientProgram = other.clientProgram ?? clientProgram
        return o
    }

    /// The phase, with the defaults: a cas-register of 10 clients as fast as they go for 30 s,
    /// no fault, a random seed; the fault `start` s in (at most 5, a quarter of the run),
    /// held for half the run shared among the faults (a random schedule: at most 8 s each).
    public func phase(name: String? = nil) -> WorkloadPhase {
        let kind = self.kind ?? .casRegister
        let faults = (nemesis ?? []).filter { $0 != .none }
        let duration = self.duration ?? 30
        let schedule = self.schedule ?? .once
        let consistency = self.consistency ?? .linearizable
        return WorkloadPhase(
            name: name ?? ([kind.rawValue] + faults.map(\.rawValue)).joined(separator: "-"), workload: kind,
            generator: Generator(
                concurrency: concurrency ?? 10, rate: rate ?? 0, duration: duration,
                seed: seed ?? UInt64.random(in: 1...UInt64(UInt32.max))),
            consistency: consistency, nemesis: faults, schedule: schedule, start: start ?? min(5, duration / 4),
            hold: hold ?? (schedule == .random ? min(8, duration / 4) : duration / (2 * Double(max(faults.count, 1)))),
            keys: keys ?? 3,
            // Jepsen's 5 values let most compares succeed; with serializable reads many values
            // make a stale read visible (with 5, nearly every read has a concurrent write of it).
            values: values ?? (consistency == .serializable ? 1000 : 5), clientProgram: clientProgram)
    }
}
