import Foundation
import Harness
import Linearizability
import Logging
import Nemesis
import Report
import Workloads

/// The workloads a phase can run (Jepsen's): registers checked for linearizability, or
/// unique adds checked as a set.
public enum WorkloadKind: String, Sendable, CaseIterable, Codable {
    case casRegister = "cas-register"
    case set
}

/// The partition a phase's nemesis puts on the bridge, once, after `start` for `hold` seconds.
public enum PartitionChoice: String, Sendable, CaseIterable, Codable {
    case none
    /// The leader of that moment, alone.
    case isolateLeader = "isolate-leader"
    case halves
    case majoritiesRing = "majorities-ring"
    case bridge
}

/// A scenario's workload phase, composed as Jepsen composes a test: a workload and its
/// generator, a nemesis, and the checkers its history goes through. Leaves
/// NAME.history.edn, NAME.results.json, NAME.timeline.html and the plots in the run directory.
public struct WorkloadPhase: Sendable {
    public var name: String
    public var workload: WorkloadKind
    public var generator: Generator
    public var consistency: ReadConsistency
    public var partition: PartitionChoice
    public var start: Double
    public var hold: Double
    /// cas-register: registers and values (many values, so that a stale read is visible).
    public var keys: Int
    public var values: Int

    public init(
        name: String, workload: WorkloadKind, generator: Generator, consistency: ReadConsistency = .linearizable,
        partition: PartitionChoice = .none, start: Double = 5, hold: Double = 10, keys: Int = 3, values: Int = 5
    ) {
        self.name = name
        self.workload = workload
        self.generator = generator
        self.consistency = consistency
        self.partition = partition
        self.start = start
        self.hold = hold
        self.keys = keys
        self.values = values
    }

    public struct Outcome: Sendable {
        public var history: History
        public var verdicts: [CheckerVerdict]
        public var nemesis: PartitionNemesis.Outcome?
        /// The cas-register's checker result, with its anomaly when there is one.
        public var linearizability: LinearizabilityResult?
        public var set: SetChecker.Result?
        public var valid: Bool { verdicts.allSatisfy { $0.validity == .valid } }
    }

    /// Runs on `members` (clients through their forwards, 2 a member unless the generator
    /// says otherwise) and checks the history.
    public func run(on session: RuntimeSession, members: [String]) async throws -> Outcome {
        let clients = try await session.gatewayClients(members)
        let box = NemesisBox()
        let nemesis: NemesisHook?
        if let partition = try partitionNemesis(members: members, clients: clients) {
            nemesis = { record in box.set(await partition.run(cluster: session.cluster, record: record)) }
        } else {
            nemesis = nil
        }
        let prefix = "\(name)-\(UUID().uuidString.prefix(8))"
        var outcome: Outcome
        switch workload {
        case .casRegister:
            let history = await CASRegisterWorkload(
                generator: generator, keys: keys, values: values, prefix: prefix, consistency: consistency
            ).run(clients: clients, logger: session.logger, nemesis: nemesis)
            let result = try await HistoryCheck.run(
                history, model: .casRegister, timeLimit: 300,
                picture: session.artifacts.appendingPathComponent("\(name).linear.svg"))
            outcome = Outcome(history: history, verdicts: [CheckerVerdict(result)], linearizability: result)
        case .set:
            let history = await SetWorkload(generator: generator, prefix: prefix)
                .run(clients: clients, logger: session.logger, nemesis: nemesis)
            let result = SetChecker().check(history)
            outcome = Outcome(history: history, verdicts: [CheckerVerdict(result)], set: result)
        }
        outcome.nemesis = nemesis == nil ? nil : box.value
        if let fault = outcome.nemesis {
            // A fault that never took effect (or was never undone) leaves the run undecided.
            let sound = fault.injected && fault.confirmed && fault.healed && fault.healConfirmed
            outcome.verdicts.append(
                CheckerVerdict(
                    checker: "nemesis", validity: sound ? .valid : .unknown,
                    evidence: "\(fault.partition): \(fault.detail)"))
        }
        let title =
            "\(workload.rawValue), \(partition == .none ? "no fault" : partition.rawValue)"
            + (workload == .casRegister ? ", \(consistency.rawValue) reads" : "")
        _ = try WorkloadReport.write(
            outcome.history, verdicts: outcome.verdicts, name: name, title: title, in: session.artifacts)
        return outcome
    }

    func partitionNemesis(members: [String], clients: [EtcdGatewayClient]) throws -> PartitionNemesis? {
        let shape: @Sendable () async -> Partition?
        switch partition {
        case .none: return nil
        case .halves: shape = { .halves }
        case .majoritiesRing: shape = { .majoritiesRing }
        case .bridge: shape = { .bridge }
        case .isolateLeader:
            shape = {
                // An election may be under way: ask again, 10 s at most.
                for _ in 0..<20 {
                    for (name, client) in zip(members, clients) {
                        if let st = try? await client.status(), !st.leader.isEmpty, st.member == st.leader {
                            return .isolate(name)
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(500))
                }
                return nil
            }
        }
        return PartitionNemesis(members: members, start: start, hold: hold, choose: shape)
    }
}

/// Carries a nemesis' outcome out of the workload it ran beside.
final class NemesisBox: @unchecked Sendable {
    private let lock = NSLock()
    private var outcome = PartitionNemesis.Outcome()
    func set(_ o: PartitionNemesis.Outcome) { lock.withLock { outcome = o } }
    var value: PartitionNemesis.Outcome { lock.withLock { outcome } }
}

extension Scenarios {
    /// A workload phase as a scenario of the run report: a step for the workload (with its
    /// seed, so it can be replayed) and one a checker.
    public func workload(_ phase: WorkloadPhase, members: [String]) async throws -> ScenarioResult {
        var r = StepRecorder("workload-\(phase.name)", session: session)
        var outcome: WorkloadPhase.Outcome?
        try await r.step("\(phase.workload.rawValue) on \(members.count) members, \(phase.partition.rawValue)") {
            let o = try await phase.run(on: session, members: members)
            outcome = o
            let counts = Dictionary(grouping: o.history.operations, by: \.status).mapValues(\.count)
            return "seed \(phase.generator.seed): \(o.history.operations.count) operations, ok \(counts[.ok] ?? 0), "
                + "info \(counts[.info] ?? 0), fail \(counts[.fail] ?? 0); report: \(phase.name).timeline.html"
        }
        for v in outcome?.verdicts ?? [] {
            try await r.step("checker: \(v.checker)") {
                guard v.validity == .valid else { throw HarnessError(.failure, "\(v.validity): \(v.evidence)") }
                return v.evidence
            }
        }
        return r.result
    }
}
