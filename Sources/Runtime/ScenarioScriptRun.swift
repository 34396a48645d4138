import Foundation
import Harness
import HostCommand
import Logging
import Nemesis
import Report

/// What running a scenario file gave: its steps (each built-in scenario's steps prefixed
/// by its name), and what its failovers and workload phases recorded, for a caller
/// (a test) to look into.
public struct ScenarioScriptRun: Sendable {
    public var result: ScenarioResult
    public var failovers: [FailoverHistory] = []
    public var workloads: [WorkloadPhase.Outcome] = []
    /// Every checker verdict of the workload phases, by phase.
    public var checkers: [String: [CheckerVerdict]] = [:]
}

/// What `harness run`'s flags put in place of a file's: the fault of its failovers and the
/// options of its workload phases.
public struct ScenarioOverrides: Sendable {
    public var fault: Fault?
    public var workload = WorkloadOptions()
    public init(fault: Fault? = nil, workload: WorkloadOptions = WorkloadOptions()) {
        self.fault = fault
        self.workload = workload
    }
}

extension Scenarios {
    /// Runs a scenario file's statements in order on this cluster. A failed step stops it,
    /// with a `ScenarioScriptFailure` carrying what it recorded so far; a node the file names
    /// that the cluster lacks stops it before any step.
    ///
    /// With `reusing`, a suite of files shares the cluster: when the previous file formed
    /// the same cluster (same plan, same `bootstrap`/`join` lines) and left it sound, and it
    /// is still sound (every member healthy and started, one leader seen by all), this file's
    /// setup lines are not run again; a step says whose cluster it took. A file without a
    /// workload or failover proves its setup itself, and always runs it.
    public func run(_ script: ScenarioScript, overrides: ScenarioOverrides = .init(), reusing: Bool = false)
        async throws -> ScenarioScriptRun
    {
        try script.checkNodes(session.cluster.nodes.map(\.name))
        let s = script.storeOnTmpfs ? Scenarios(session: session, plan: plan.withStoreOnTmpfs()) : self
        var run = ScenarioScriptRun(result: ScenarioResult(name: script.name))
        var r = StepRecorder(script.name, session: session)
        // Who serves clients: the founders, and the joiners once they joined.
        var members = Self.founders
        let phases = script.lines.filter { if case .workload = $0.statement { true } else { false } }.count
        var phaseIndex = 0
        var lines = script.lines[...]
        var formedBy = script.name
        let formed = session.formedCluster
        session.formedCluster = nil
        let setup = script.setup
        let setupMembers = setup.contains(.join) ? Self.founders + Self.joiners : Self.founders
        let provesSetup = !script.lines.contains {
            switch $0.statement {
            case .workload, .failover: true
            default: false
            }
        }
        if reusing, !provesSetup, let formed, !setup.isEmpty, formed.setup == setup, formed.plan == s.plan {
            if let problem = await s.formedClusterProblem(setupMembers) {
                session.logger.warning("not reusing the cluster \(formed.by).scenario formed: \(problem)")
            } else {
                session.logger.info("\(script.name): reusing the cluster \(formed.by).scenario formed")
                r.record(
                    "reuse the cluster \(formed.by).scenario formed", passed: true,
                    detail: "same plan and setup lines; \(setupMembers.joined(separator: ", ")) healthy and started, "
                        + "one leader seen by all")
                lines = lines.dropFirst(setup.count)
                members = setupMembers
                formedBy = formed.by
            }
        }
        do {
            for line in lines {
                switch line.statement {
                case .bootstrap:
                    try await r.include("bootstrap") { try await s.bootstrap() }
                case .join:
                    try await r.include("join") { try await s.join() }
                    members = Self.founders + Self.joiners
                case .failover(let written):
                    let fault = overrides.fault ?? written
                    try await r.include("failover \(fault.rawValue)") {
                        let (result, history) = try await s.failover(fault)
                        run.failovers.append(history)
                        return result
                    }
                case .on(let node, let verb):
                    try await r.step("on \(node): \(verb.joined(separator: " "))") {
                        try await s.adapterVerb(node, verb, expecting: nil)
                    }
                case .expect(let node, let verb, let output):
                    try await r.step("on \(node): \(verb.joined(separator: " ")) => \(output)") {
                        try await s.adapterVerb(node, verb, expecting: output)
                    }
                case .wait(let seconds, let node, let verb, let output):
                    let what = "\(verb.joined(separator: " "))" + (output.map { " => \($0)" } ?? "")
                    try await r.step("wait \(Int(seconds)) s on \(node): \(what)") {
                        try await session.waitFor("`\(what)` on \(node)", node: node, seconds: seconds) {
                            try? await s.adapterVerb(node, verb, expecting: output)
                        }
                    }
                case .workload(let written):
                    phaseIndex += 1
                    let options = written.overridden(by: overrides.workload)
                    // Named by the file too: phases of several files share a test run's directory.
                    var phase = options.phase()
                    phase.name = "\(script.name)-" + (phases > 1 ? "\(phaseIndex)-" : "") + phase.name
                    try await r.include("workload \(phase.name)") {
                        let (result, outcome) = try await s.workload(
                            phase, members: options.members ?? members, expectInvalid: options.expectInvalid ?? [])
                        run.workloads.append(outcome)
                        run.checkers[phase.name] = outcome.verdicts
                        return result
                    }
                }
            }
        } catch let failure as ScenarioFailure {
            run.result = failure.result
            throw ScenarioScriptFailure(run: run)
        }
        run.result = r.result
        // Sound for the next file: every step passed and no checker rejected a history
        // (a seeded bug's expected rejection included).
        let sound = run.result.passed && !run.checkers.values.joined().contains { $0.validity == .invalid }
        if sound, !setup.isEmpty {
            session.formedCluster = .init(plan: s.plan, setup: setup, by: formedBy)
        }
        return run
    }

    /// Why the cluster is not the one `members` form, nil when it is: each member answers
    /// healthy and is listed as started, and all see one leader. Bounded by 10 s (×TCG).
    func formedClusterProblem(_ members: [String]) async -> String? {
        var problem = ""
        let deadline = session.now + 10 * session.cluster.timeoutScale
        repeat {
            let listed = (await session.adapter(members[0], "members") ?? "").split(separator: "\n").compactMap {
                line -> String? in
                let fields = line.split(separator: " ")
                return fields.count == 4 && fields[3] == "started" ? String(fields[1]) : nil
            }
            var leaders: Set<String> = []
            var unhealthy: [String] = []
            for member in members {
                if await session.adapter(member, "health") == nil { unhealthy.append(member) }
                let view = await session.adapter(member, "leader").flatMap(LeaderView.init(adapterOutput:))
                leaders.insert(view.map { $0.hasLeader ? $0.leader : "none" } ?? "unknown")
            }
            if Set(listed) != Set(members) {
                problem = "\(members[0]) lists \(listed.sorted()) as started members"
            } else if !unhealthy.isEmpty {
                problem = "not healthy: \(unhealthy.joined(separator: ", "))"
            } else if leaders.count != 1 || leaders.contains("none") || leaders.contains("unknown") {
                problem = "leaders seen: \(leaders.sorted())"
            } else {
                return nil
            }
            try? await Task.sleep(for: .seconds(1))
        } while session.now < deadline
        return problem
    }

    /// Runs an adapter verb on `node` (each word quoted, so a script cannot reach the shell);
    /// with `expecting`, its output must be that text.
    func adapterVerb(_ node: String, _ verb: [String], expecting: String?) async throws -> String {
        let command = verb.map(HostCommand.shellQuote).joined(separator: " ")
        guard let output = await session.adapter(node, command) else {
            throw HarnessError(.failure, "`adapter \(verb.joined(separator: " "))` failed on \(node)")
        }
        if let expecting, output != expecting {
            throw HarnessError(.failure, "\(node) printed `\(output.prefix(300))`, not `\(expecting)`")
        }
        return output.isEmpty ? "ok" : String(output.prefix(300))
    }
}

/// A scenario file that stopped at a failed step, with what it recorded so far.
public struct ScenarioScriptFailure: Error, CustomStringConvertible {
    public let run: ScenarioScriptRun
    public var description: String { "\(ScenarioFailure(result: run.result))" }
}
