import Findings
import Foundation
import Harness
import Linearizability
import Logging
import Nemesis
import Nix
import Report
import Workloads
import XCTest

@testable import Runtime

/// One cluster for every runtime test of this process: booted on first use,
/// brought to a known state by each test (reprovisioning, no reboot), and torn
/// down when the test bundle finishes.
actor SharedCluster {
    static let shared = SharedCluster()
    private var session: RuntimeSession?
    private var plans: [String: ClusterPlan] = [:]
    let logger = Logger(label: "runtime-tests")

    func plan(_ fixes: [String]) async throws -> ClusterPlan {
        let key = fixes.sorted().joined(separator: ",")
        if let plan = plans[key] { return plan }
        let plan = try await RuntimeSession.plan(
            home: try HarnessHome.locate(), fixes: fixes, nix: try await Nix.locate(logger: logger))
        plans[key] = plan
        return plan
    }

    func session() async throws -> RuntimeSession {
        if let session { return session }
        let plan = try await plan(RuntimeChecks.baseFixes)
        let dir = StateDirectory().reports.appendingPathComponent("tests-\(ProcessInfo.processInfo.processIdentifier)")
        let booted = try await RuntimeSession.boot(
            plan: plan, home: try HarnessHome.locate(), nix: try await Nix.locate(logger: logger),
            logger: logger, artifacts: dir)
        session = booted
        TeardownObserver.register()
        return booted
    }

    func close() async {
        await session?.close()
        session = nil
    }
}

/// Tears the shared cluster down once every test has run.
final class TeardownObserver: NSObject, XCTestObservation, @unchecked Sendable {
    nonisolated(unsafe) static var registered = false

    static func register() {
        guard !registered else { return }
        registered = true
        XCTestObservationCenter.shared.addTestObserver(TeardownObserver())
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await SharedCluster.shared.close()
            done.signal()
        }
        done.wait()
    }
}

/// Every scenario file of Scenarios/, run on the shared cluster. The files the suite knows
/// get their own test (and more assertions on what they recorded); any other file, one
/// added later, runs in `testEveryOtherScenarioFile` with no edit here.
final class RuntimeScenarioTests: XCTestCase {
    /// The files with a test of their own below.
    static let ownTests: Set<String> = [
        "failover", "failover-freeze", "failover-link-down", "cas-register", "stale-reads", "in-guest-faults",
        "unpersisted-writes", "power-loss-all", "set-majorities-ring",
    ]

    func scenarios(fixes: [String] = Scenarios.runnableFixes) async throws -> Scenarios {
        let session = try await SharedCluster.shared.session()
        return Scenarios(session: session, plan: try await SharedCluster.shared.plan(fixes))
    }

    /// Runs Scenarios/NAME.scenario; a failed step fails the test with every step so far.
    func runFile(_ name: String, file: StaticString = #filePath, line: UInt = #line) async throws -> ScenarioScriptRun {
        let script = try ScenarioLibrary(directory: try HarnessHome.locate().scenarios).load(name)
        let s = try await scenarios(fixes: script.fixes ?? Scenarios.runnableFixes)
        do { return try await s.run(script) } catch let failure as ScenarioScriptFailure {
            let steps = failure.run.result.steps.map { "\($0.passed ? "ok  " : "FAIL") \($0.name): \($0.detail)" }
            XCTFail("\(name).scenario failed:\n" + steps.joined(separator: "\n"), file: file, line: line)
            throw failure
        }
    }

    /// What the file's first workload phase recorded.
    func firstWorkload(_ name: String) async throws -> WorkloadPhase.Outcome {
        let run = try await runFile(name)
        return try XCTUnwrap(run.workloads.first, "\(name).scenario ran no workload phase")
    }

    func testEveryOtherScenarioFile() async throws {
        let names = ScenarioLibrary(directory: try HarnessHome.locate().scenarios).names
        XCTAssertTrue(Self.ownTests.isSubset(of: names), "files the tests name are missing: \(Self.ownTests)")
        for name in names where !Self.ownTests.contains(name) {
            // One file's failure is reported and the next still runs (runFile reports a
            // failed step itself; any other error is reported here).
            do { _ = try await runFile(name) } catch is ScenarioScriptFailure {} catch {
                XCTFail("\(name).scenario could not run: \(error)")
            }
        }
    }

    func testBootstrapThenJoinThenFailoverWithPowerLoss() async throws {
        let run = try await runFile("failover")
        let history = try XCTUnwrap(run.failovers.first)
        XCTAssertGreaterThan(history.operations.filter { $0.outcome == .ok }.count, 5)
        XCTAssertEqual(history.faults.count, 1)
        XCTAssertNotNil(history.faults.first?.healed)
        // Raft's own logs record the failover's election: a newer term, another winner.
        let fault = try XCTUnwrap(history.faults.first)
        let old = try XCTUnwrap(history.observations.last { $0.node == fault.node && $0.time < fault.injected })
        let elections = try XCTUnwrap(history.elections, "the adapter read no Raft log")
        XCTAssertTrue(elections.contains { $0.term > old.term && $0.leader != old.member }, "\(elections)")
    }

    func testFailoverWithFrozenLeader() async throws {
        let run = try await runFile("failover-freeze")
        XCTAssertEqual(run.failovers.first?.faults.first?.kind, "suspend")
    }

    func testFailoverWithIsolatedLeader() async throws {
        let run = try await runFile("failover-link-down")
        let heal = try XCTUnwrap(run.failovers.first?.faults.first?.healConfirmation)
        XCTAssertTrue(heal.hasPrefix("cluster link up: "), heal)
    }

    /// Clients in the harness, through each member's 127.0.0.1 forward: a dense
    /// concurrent cas-register history that the checker finds linearizable.
    func testCASRegisterFromTheHostIsLinearizable() async throws {
        let outcome = try await firstWorkload("cas-register")
        let ok = outcome.history.operations.filter { $0.status == .ok }.count
        XCTAssertGreaterThan(ok, 100, "acknowledged operations in 15 s from 6 clients")
        XCTAssertTrue(Set(outcome.history.operations.map(\.f)).isSuperset(of: ["read", "write", "cas"]))
        XCTAssertEqual(outcome.linearizability?.validity, .valid, outcome.linearizability?.anomaly?.explanation ?? "")
        XCTAssertEqual(outcome.linearizability?.keys, 3)
    }

    /// Proof that the checker catches a broken store: reads served from a member's local
    /// copy (serializable) while the leader is isolated on the host's bridge give stale
    /// reads, and the cas-register history is not linearizable. The same run with
    /// linearizable reads is.
    func testStaleReadsUnderAnIsolatedLeaderAreCaught() async throws {
        let run = try await runFile("stale-reads")
        XCTAssertEqual(run.workloads.count, 2)
        let (stale, sound) = (run.workloads[0], run.workloads[1])
        let broken = try XCTUnwrap(stale.faults.first)
        XCTAssertTrue(broken.sound, broken.detail)
        XCTAssertTrue(broken.fault.hasPrefix("isolate node0"), broken.fault)
        XCTAssertEqual(
            stale.linearizability?.validity, .invalid, "serializable reads with the leader isolated must be caught")
        XCTAssertNotNil(stale.linearizability?.anomaly?.picture)
        XCTAssertTrue(try XCTUnwrap(sound.faults.first).sound, "\(sound.faults)")
        XCTAssertEqual(sound.linearizability?.validity, .valid, sound.linearizability?.anomaly?.explanation ?? "")
    }

    /// Faults inside the leader's guest, through the adapter's verbs, one after another in
    /// one workload: its store killed, paused and its clock moved; each confirmed and healed.
    func testInGuestFaultsOfTheLeaderKeepTheRegisterLinearizable() async throws {
        let outcome = try await firstWorkload("in-guest-faults")
        XCTAssertEqual(outcome.faults.count, 3)
        for fault in outcome.faults { XCTAssertTrue(fault.sound, "\(fault.fault): \(fault.detail)") }
        XCTAssertEqual(
            outcome.faults.map { String($0.fault.split(separator: " ").first ?? "") }, ["kill", "pause", "shift"])
        XCTAssertEqual(outcome.linearizability?.validity, .valid, outcome.linearizability?.anomaly?.explanation ?? "")
        XCTAssertGreaterThan(outcome.history.operations.filter { $0.status == .ok }.count, 50)
    }

    /// Proof that the harness catches unpersisted writes: with Chainfire's data directory on
    /// a tmpfs, power loss of every member at once erases acknowledged adds, and the set
    /// checker fails the run. The same run with etcd on its disk passes.
    func testPowerLossOfEveryMemberIsCaughtOnlyWhenTheStoreIsOnTmpfs() async throws {
        let lost = try await firstWorkload("unpersisted-writes")
        let outage = try XCTUnwrap(lost.faults.first)
        XCTAssertTrue(outage.sound, outage.detail)
        XCTAssertEqual(outage.fault, "power loss of node01, node02, node03")
        // Acknowledged adds are gone, or the cluster does not come back at all.
        let failed = lost.verdicts.filter { $0.validity == .invalid }.map(\.checker)
        XCTAssertTrue(
            failed.contains("set") || failed.contains("liveness") || failed.contains("convergence"), "\(lost.verdicts)")

        let kept = try await firstWorkload("power-loss-all")
        XCTAssertTrue(try XCTUnwrap(kept.faults.first).sound, "\(kept.faults)")
        let sound = try XCTUnwrap(kept.set)
        XCTAssertEqual(sound.valid, true, sound.explanation)
        XCTAssertGreaterThan(sound.acknowledged, 20)
    }

    /// Jepsen's set workload on five members through a majorities ring on the bridge: every
    /// acknowledged add is in every member's final read.
    func testSetUnderAMajoritiesRingLosesNoAdd() async throws {
        let outcome = try await firstWorkload("set-majorities-ring")
        XCTAssertTrue(try XCTUnwrap(outcome.faults.first).sound, "\(outcome.faults)")
        let result = try XCTUnwrap(outcome.set)
        XCTAssertEqual(result.valid, true, result.explanation)
        XCTAssertEqual(result.reads, 5, result.explanation)
        XCTAssertGreaterThan(result.acknowledged, 50)
    }

    /// A link that carries no traffic after link up is repaired step by step, each
    /// failed step shown with the NIC's state. Here the guest's own interface is down,
    /// which only the last step, a reset of the guest's NIC, undoes.
    func testAHealedLinkThatCarriesNoTrafficIsRepaired() async throws {
        let s = try await scenarios()
        let node = try s.session.node("node03")
        _ = try await node.succeed("i=$(\(Scenarios.interface(mac: node.spec.mac))) && ip link set dev $i down")
        let confirmation = try await s.restoreClusterLink(of: node, probe: "node01", wait: 2)
        XCTAssertTrue(
            confirmation.hasPrefix(
                "cluster link up: node01 reaches node03 (10.66.0.13) after a reset of the guest's NIC"), confirmation)
        XCTAssertTrue(confirmation.contains("link up: no traffic (guest: eth0 carrier="), confirmation)
        XCTAssertTrue(confirmation.contains("operstate=down"), confirmation)
        XCTAssertTrue(confirmation.contains("a second link cycle: no traffic"), confirmation)
        XCTAssertTrue(confirmation.contains("QEMU TX ring: inuse: 0, used_idx: "), confirmation)
    }

}

/// Each runtime finding: reproduced with only F5 fixed, resolved by its own fix.
final class RuntimeFindingTests: XCTestCase {
    func decide(_ id: String, fixes: [String]) async throws -> Verdict {
        let session = try await SharedCluster.shared.session()
        let plan = try await SharedCluster.shared.plan(fixes)
        return try await RuntimeChecks(session: session, plan: plan).decide(id)
    }

    func assertFinding(_ id: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        let broken = try await decide(id, fixes: RuntimeChecks.baseFixes)
        XCTAssertEqual(
            broken.outcome, .reproduced, "\(id) with only F5 fixed: \(broken.summary)", file: file, line: line)
        XCTAssertFalse(broken.evidence.isEmpty, file: file, line: line)
        let fixed = try await decide(id, fixes: RuntimeChecks.baseFixes + [id])
        XCTAssertEqual(fixed.outcome, .resolved, "\(id) with its fix: \(fixed.summary)", file: file, line: line)
    }

    func testF3PhoneHomeReachesNoDeployer() async throws { try await assertFinding("F3") }
    func testF4_1JoinUsesTLSOnTheClientPort() async throws { try await assertFinding("F4.1") }
    func testF4_2FlareDBHasNoMemberRoute() async throws { try await assertFinding("F4.2") }
    func testF4_3JoinRefusesSelfSignedLeader() async throws { try await assertFinding("F4.3") }

    /// The plan reports nodes that do not evaluate, with their finding, and boots none of them.
    func testUnevaluableNodesAreReportedNotBooted() async throws {
        let plan = try await SharedCluster.shared.plan([])
        XCTAssertEqual(plan.nodes.map(\.name), ["node01", "node04", "node05"])
        XCTAssertEqual(plan.unplanned.map(\.name), ["node02", "node03", "node06"])
        XCTAssertEqual(plan.unplanned.map { $0.finding ?? "-" }, ["F5.1", "F5.1", "F5.2"])
        XCTAssertThrowsError(try plan.node("node02")) { XCTAssertTrue("\($0)".contains("F5.1")) }
    }
}
