import Foundation
import Harness
import HostCommand
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

/// The fault a phase's nemesis injects, once, `start` seconds in, for `hold` seconds:
/// a partition on the host's bridge, or a fault inside the leader's guest.
public enum NemesisChoice: String, Sendable, CaseIterable, Codable {
    case none
    /// The leader of that moment, alone.
    case isolateLeader = "isolate-leader"
    case halves
    case majoritiesRing = "majorities-ring"
    case bridge
    /// The leader's frames to one follower dropped: it hears the follower, the follower
    /// does not hear it (a one-way cut, confirmed by what the follower received).
    case oneWayLeader = "one-way-leader"
    /// 30 % of the frames between every two members dropped.
    case packetLoss = "packet-loss"
    /// The leader's store killed with SIGKILL, then started again.
    case killLeader = "kill-leader"
    /// The leader's store stopped with SIGSTOP, then continued.
    case pauseLeader = "pause-leader"
    /// The leader's wall clock moved 60 s ahead, then back.
    case clockSkew = "clock-skew"
    /// Every member's store restarted in turn, each back and following a leader before the next.
    case rollingRestart = "rolling-restart"
    /// A member that joined through the first-boot join removed under load, its data erased,
    /// then joined again as a new member.
    case memberReplace = "member-replace"
    /// Power lost at once by a majority of the members, the leader among them, then restored.
    case powerLossMajority = "power-loss-majority"
    /// Power lost at once by every member, then restored.
    case powerLossAll = "power-loss-all"
}

/// When a phase's faults happen. The seed of the phase's generator drives the random
/// schedule too, so `--seed` replays it.
public enum NemesisSchedule: String, Sendable, CaseIterable, Codable {
    /// Each fault of the list once, in order: `start` seconds in (and after each heal),
    /// held `hold` seconds.
    case once
    /// Faults drawn from the list at random, after random gaps of 1 to 2×`start` seconds,
    /// each held `hold` seconds, for as long as the workload runs.
    case random
}

/// A scenario's workload phase, composed as Jepsen composes a test: a workload and its
/// generator, a nemesis, and the checkers its history goes through. Leaves
/// NAME.history.edn, NAME.results.json, NAME.timeline.html and the plots in the run directory.
public struct WorkloadPhase: Sendable {
    public var name: String
    public var workload: WorkloadKind
    public var generator: Generator
    public var consistency: ReadConsistency
    /// The faults, as `schedule` orders them; none for a run without faults.
    public var nemesis: [NemesisChoice]
    public var schedule: NemesisSchedule
    public var start: Double
    public var hold: Double
    /// cas-register: registers and values (many values, so that a stale read is visible).
    public var keys: Int
    public var values: Int
    /// A checkout's client program (docs/client-contract.md); nil for the built-in client.
    public var clientProgram: [String]?

    public init(
        name: String, workload: WorkloadKind, generator: Generator, consistency: ReadConsistency = .linearizable,
        nemesis: [NemesisChoice] = [], schedule: NemesisSchedule = .once, start: Double = 5, hold: Double = 10,
        keys: Int = 3, values: Int = 5, clientProgram: [String]? = nil
    ) {
        self.name = name
        self.workload = workload
        self.generator = generator
        self.consistency = consistency
        self.nemesis = nemesis.filter { $0 != .none }
        self.schedule = schedule
        self.start = start
        self.hold = hold
        self.keys = keys
        self.values = values
        self.clientProgram = clientProgram
    }

    public struct Outcome: Sendable {
        public var history: History
        public var verdicts: [CheckerVerdict]
        /// Each fault the nemesis injected, in order.
        public var faults: [NemesisOutcome] = []
        /// The cas-register's checker result, with its anomaly when there is one.
        public var linearizability: LinearizabilityResult?
        public var set: SetChecker.Result?
        public var valid: Bool { verdicts.allSatisfy { $0.validity == .valid } }
    }

    /// Runs on `members` of the scenarios' cluster (clients through their forwards, client
    /// i on member i mod n) and checks the history.
    public func run(in scenarios: Scenarios, members: [String]) async throws -> Outcome {
        let session = scenarios.session
        let clients = try await session.storeClients(members, program: clientProgram)
        defer { Task { for case let program as JSONLinesClient in clients { await program.close() } } }
        let box = NemesisBox()
        let hook = nemesisHook(scenarios: scenarios, members: members, clients: clients, box: box)
        let prefix = "\(name)-\(UUID().uuidString.prefix(8))"
        var outcome: Outcome
        switch workload {
        case .casRegister:
            let history = await CASRegisterWorkload(
                generator: generator, keys: keys, values: values, prefix: prefix, consistency: consistency
            ).run(clients: clients, logger: session.logger, nemesis: hook)
            let result = try await HistoryCheck.run(
                history, model: .casRegister, timeLimit: 300,
                picture: session.artifacts.appendingPathComponent("\(name).linear.svg"))
            outcome = Outcome(history: history, verdicts: [CheckerVerdict(result)], linearizability: result)
        case .set:
            let history = await SetWorkload(generator: generator, prefix: prefix)
                .run(clients: clients, logger: session.logger, nemesis: hook)
            let result = SetChecker().check(history)
            outcome = Outcome(history: history, verdicts: [CheckerVerdict(result)], set: result)
        }
        let bound = 30 * session.cluster.timeoutScale
        outcome.verdicts.append(
            await Self.liveness(clients, members: members, key: "\(prefix)/liveness", bound: bound))
        outcome.verdicts.append(await Self.convergence(clients, members: members, prefix: "\(prefix)/", bound: bound))
        if hook != nil {
            outcome.faults = box.value
            // A fault that never took effect (or was never undone) leaves the run undecided.
            let sound = !outcome.faults.isEmpty && outcome.faults.allSatisfy(\.sound)
            outcome.verdicts.append(
                CheckerVerdict(
                    checker: "nemesis", validity: sound ? .valid : .unknown,
                    evidence: outcome.faults.isEmpty
                        ? "no fault was injected"
                        : outcome.faults.map { "\($0.fault): \($0.detail)" }.joined(separator: "\n")))
        }
        let title =
            "\(workload.rawValue), \(nemesisText)"
            + (workload == .casRegister ? ", \(consistency.rawValue) reads" : "")
        _ = try WorkloadReport.write(
            outcome.history, verdicts: outcome.verdicts, name: name, title: title, in: session.artifacts)
        return outcome
    }

    /// The faults and their schedule in words, e.g. "kill-leader, isolate-leader (random)".
    public var nemesisText: String {
        nemesis.isEmpty
            ? "no fault"
            : nemesis.map(\.rawValue).joined(separator: ", ") + (schedule == .random ? " (random)" : "")
    }

    /// The nemesis beside the workload, as the hook the workload runs: the faults on their
    /// schedule, each outcome kept in `box`; nil for none.
    func nemesisHook(
        scenarios: Scenarios, members: [String], clients: [any StoreClient], box: NemesisBox
    ) -> NemesisHook? {
        guard !nemesis.isEmpty else { return nil }
        let (start, hold, schedule, duration, seed) = (start, hold, schedule, generator.duration, generator.seed)
        typealias Fault = @Sendable (Double, @escaping @Sendable (String, String) -> Void) async -> NemesisOutcome
        let faults = nemesis.map { choice -> Fault in
            { start, record in
                await Self.inject(
                    choice, start: start, hold: hold, scenarios: scenarios, members: members, clients: clients,
                    record: record)
            }
        }
        return { record in
            let end = ContinuousClock.now + .milliseconds(Int64(duration * 1000))
            var rng = SplitMix64(seed: seed ^ 0x6E65_6D65_7369_7321)
            switch schedule {
            case .once:
                for fault in faults { box.append(await fault(start, record)) }
            case .random:
                // A fault starts only when its gap and hold fit in the workload's time.
                while true {
                    let gap = 1 + Double(rng.next() % UInt64(max(1000, Int(start * 2000)))) / 1000
                    guard ContinuousClock.now + .milliseconds(Int64((gap + hold) * 1000)) <= end else { break }
                    let fault = faults[Int(rng.next() % UInt64(faults.count))]
                    box.append(await fault(gap, record))
                }
            }
        }
    }

    /// One fault, injected `start` seconds from now and held `hold` seconds, then healed.
    static func inject(
        _ choice: NemesisChoice, start: Double, hold: Double, scenarios: Scenarios, members: [String],
        clients: [any StoreClient], record: @escaping @Sendable (String, String) -> Void
    ) async -> NemesisOutcome {
        let session = scenarios.session
        let cluster = session.cluster
        let partition: @Sendable () async -> Partition?
        switch choice {
        case .none: return NemesisOutcome()
        case .halves: partition = { .halves }
        case .majoritiesRing: partition = { .majoritiesRing }
        case .bridge: partition = { .bridge }
        case .isolateLeader:
            partition = { await Self.leader(members: members, clients: clients).map { .isolate($0) } }
        case .oneWayLeader:
            partition = {
                guard let leader = await Self.leader(members: members, clients: clients),
                    let follower = members.first(where: { $0 != leader })
                else { return nil }
                return .oneWay(from: leader, to: follower)
            }
        case .packetLoss:
            return await PacketLossNemesis(members: members, percent: 30, start: start, hold: hold)
                .run(cluster: cluster, record: record)
        case .killLeader, .pauseLeader, .clockSkew:
            let kind: GuestFaultNemesis.Kind =
                choice == .killLeader ? .kill : choice == .pauseLeader ? .pause : .clockShift(seconds: 60)
            let fault = GuestFaultNemesis(
                kind: kind, start: start, hold: hold, timeoutScale: cluster.timeoutScale,
                choose: { await Self.leader(members: members, clients: clients) },
                adapter: Self.nemesisAdapter(session))
            return await fault.run(record: record)
        case .rollingRestart:
            return await RollingRestartNemesis(
                members: members, start: start, timeoutScale: cluster.timeoutScale,
                adapter: Self.nemesisAdapter(session)
            ).run(record: record)
        case .memberReplace:
            let plan = scenarios.plan
            return await MembershipNemesis(
                start: start, hold: hold, timeoutScale: cluster.timeoutScale,
                choose: {
                    // Only a node the first-boot join brought in can join again; not the leader.
                    let leader = await Self.leader(members: members, clients: clients)
                    let joined = members.filter {
                        $0 != leader
                            && ((try? plan.node($0).bootOrder.contains { $0.hasPrefix("first-boot") }) ?? false)
                    }
                    guard let member = joined.last, let via = members.first(where: { $0 != member }) else {
                        return nil
                    }
                    return (member, via)
                },
                adapter: Self.nemesisAdapter(session)
            ).run(record: record)
        case .powerLossMajority, .powerLossAll:
            let all = choice == .powerLossAll
            let fault = PowerLossNemesis(
                start: start, hold: hold,
                choose: {
                    guard !all else { return members }
                    let leader = await Self.leader(members: members, clients: clients)
                    let others = members.filter { $0 != leader }
                    return leader.map { [$0] + others.prefix(members.count / 2) }
                },
                powerOn: { try await scenarios.powerOn($0) })
            return await fault.run(cluster: cluster, record: record)
        }
        return await PartitionNemesis(members: members, start: start, hold: hold, choose: partition)
            .run(cluster: cluster, record: record)
    }

    /// The adapter as the nemeses use it: verbs that stop or start a store (a unit's stop
    /// waits for its processes, a join asks the leader first) get 60 s, scaled for TCG.
    static func nemesisAdapter(_ session: RuntimeSession) -> GuestFaultNemesis.Adapter {
        let slow: Set<String> = ["start", "restart", "leave", "join"]
        let scale = session.cluster.timeoutScale
        return { node, arguments in
            let verb = String(arguments.split(separator: " ").first ?? "")
            return await session.adapter(node, arguments, timeout: slow.contains(verb) ? 60 * scale : 15)
        }
    }

    /// Liveness: after the workload and the last heal, the cluster takes a write through
    /// some member within `bound` seconds.
    static func liveness(_ clients: [any StoreClient], members: [String], key: String, bound: Double) async
        -> CheckerVerdict
    {
        let start = ContinuousClock.now
        var last = "no attempt"
        while ContinuousClock.now - start < .milliseconds(Int64(bound * 1000)) {
            for (name, client) in zip(members, clients) {
                do throws(ClientError) {
                    try await client.put(key, "alive")
                    let took = (ContinuousClock.now - start).seconds
                    return CheckerVerdict(
                        checker: "liveness", validity: .valid,
                        evidence:
                            "a write through \(name) acknowledged \(String(format: "%.1f", took)) s after the workload")
                } catch {
                    last = "\(name): \(error)"
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
        return CheckerVerdict(
            checker: "liveness", validity: .invalid,
            evidence: "no member acknowledged a write within \(Int(bound)) s after the workload (last: \(last))")
    }

    /// Convergence: after the workload, every member's own copy (serializable reads) of the
    /// phase's keys is the same, within `bound` seconds (a follower may still be applying).
    static func convergence(_ clients: [any StoreClient], members: [String], prefix: String, bound: Double) async
        -> CheckerVerdict
    {
        let start = ContinuousClock.now
        while true {
            let copies = await withTaskGroup(of: (String, [String: String]?).self) { group in
                for (name, client) in zip(members, clients) {
                    group.addTask { (name, try? await copy(of: client, prefix: prefix)) }
                }
                var copies: [String: [String: String]?] = [:]
                for await (name, copy) in group { copies[name] = copy }
                return copies
            }
            let result = ConvergenceChecker().check(copies)
            let took = (ContinuousClock.now - start).seconds
            if result.converged {
                return CheckerVerdict(
                    checker: "convergence", validity: .valid,
                    evidence: result.explanation + String(format: " (%.1f s after the workload)", took))
            }
            guard took < bound else {
                return CheckerVerdict(
                    checker: "convergence", validity: .invalid,
                    evidence: "the members' copies still differ \(Int(bound)) s after the workload: "
                        + result.explanation)
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// A member's own copy of the keys under `prefix`: the values too when they are few (a
    /// register's), the keys alone when many (a set's elements are its keys).
    static func copy(of client: any StoreClient, prefix: String) async throws(ClientError) -> [String: String] {
        let keys = try await client.keys(prefix: prefix, consistency: .serializable)
        guard keys.count <= 50 else { return Dictionary(uniqueKeysWithValues: keys.map { ($0, "") }) }
        var copy: [String: String] = [:]
        for key in keys { copy[key] = try await client.get(key, consistency: .serializable) ?? "" }
        return copy
    }

    /// The member that leads, as the members' own status says; an election may be under
    /// way, so asked again for 10 s at most.
    static func leader(members: [String], clients: [any StoreClient]) async -> String? {
        for _ in 0..<20 {
            for (name, client) in zip(members, clients) {
                if let st = try? await client.status(), !st.leader.isEmpty, st.member == st.leader { return name }
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return nil
    }
}

/// Carries a nemesis' outcomes out of the workload it ran beside.
final class NemesisBox: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [NemesisOutcome] = []
    func append(_ o: NemesisOutcome) { lock.withLock { outcomes.append(o) } }
    var value: [NemesisOutcome] { lock.withLock { outcomes } }
}

extension Scenarios {
    /// A workload phase as a scenario of the run report: a step for the workload (with its
    /// seed, so it can be replayed) and one a checker. With `expectInvalid` the run is a
    /// seeded bug: it passes when one of those checkers rejects the history (and the others,
    /// the nemesis among them, accept it). A checker's verdict does not throw: the result
    /// says whether the phase passed, and the outcome comes back either way.
    public func workload(
        _ phase: WorkloadPhase, members: [String], expectInvalid: [String] = []
    ) async throws -> (ScenarioResult, WorkloadPhase.Outcome) {
        var r = StepRecorder("workload-\(phase.name)", session: session)
        var outcome: WorkloadPhase.Outcome?
        session.logger.info("workload \(phase.name)", metadata: ["seed": "\(phase.generator.seed)"])
        try await r.step(
            "\(phase.workload.rawValue) on \(members.count) members, \(phase.nemesisText), seed \(phase.generator.seed)"
        ) {
            let o = try await phase.run(in: self, members: members)
            outcome = o
            let counts = Dictionary(grouping: o.history.operations, by: \.status).mapValues(\.count)
            return "\(o.history.operations.count) operations, ok \(counts[.ok] ?? 0), "
                + "info \(counts[.info] ?? 0), fail \(counts[.fail] ?? 0); report: \(phase.name).timeline.html"
        }
        guard let outcome else { throw ScenarioFailure(result: r.result) }
        // Every verdict is recorded before the phase fails, so the report shows them all.
        for v in outcome.verdicts where !expectInvalid.contains(v.checker) {
            r.record("checker: \(v.checker)", passed: v.validity == .valid, detail: "\(v.validity): \(v.evidence)")
        }
        if !expectInvalid.isEmpty {
            let rejecting = outcome.verdicts.filter { expectInvalid.contains($0.checker) && $0.validity == .invalid }
            r.record(
                "seeded bug caught: \(expectInvalid.joined(separator: " or ")) rejects the history",
                passed: !rejecting.isEmpty,
                detail: rejecting.isEmpty
                    ? "no checker caught it: "
                        + outcome.verdicts.map { "\($0.checker) \($0.validity)" }.joined(separator: ", ")
                    : rejecting.map { "\($0.checker): \($0.evidence)" }.joined(separator: "\n"))
        }
        return (r.result, outcome)
    }
}
