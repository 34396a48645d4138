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

final class RuntimeScenarioTests: XCTestCase {
    /// The miniature fixed so that bootstrap, join and failover can work.
    static let runnable = ["F5.1", "F5.2", "F4.1", "F4.2", "F3"]

    func scenarios() async throws -> Scenarios {
        let session = try await SharedCluster.shared.session()
        return Scenarios(session: session, plan: try await SharedCluster.shared.plan(Self.runnable))
    }

    func assertPassed(_ result: ScenarioResult, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(
            result.passed,
            result.steps.filter { !$0.passed }.map { "\($0.name): \($0.detail)" }.joined(separator: "\n"), file: file,
            line: line)
    }

    func run(_ body: () async throws -> ScenarioResult) async throws -> ScenarioResult {
        do { return try await body() } catch let failure as ScenarioFailure {
            XCTFail("\(failure)")
            throw failure
        }
    }

    func testBootstrapThenJoinThenFailoverWithPowerLoss() async throws {
        let s = try await scenarios()
        assertPassed(try await run { try await s.bootstrap() })
        assertPassed(try await run { try await s.join() })
        let (result, history) = try await s.failover(.destroy)
        assertPassed(result)
        XCTAssertGreaterThan(history.operations.filter { $0.outcome == .ok }.count, 5)
        XCTAssertEqual(history.faults.count, 1)
        XCTAssertNotNil(history.faults.first?.healed)
        // Raft's own logs record the failover's election: a newer term, another winner.
        let fault = try XCTUnwrap(history.faults.first)
        let old = try XCTUnwrap(history.observations.last { $0.node == fault.node && $0.time < fault.injected })
        let elections = try XCTUnwrap(history.elections, "the adapter read no Raft log")
        XCTAssertTrue(elections.contains { $0.term > old.term && $0.leader != old.member }, "\(elections)")
    }

    /// A link that carries no traffic after link up is repaired step by step, each
    /// failed step shown with the NIC's state. Here the guest's own interface is down,
    /// which only the last step, a reset of the guest's NIC, undoes.
    /// Clients in the harness, through each member's 127.0.0.1 forward: a dense
    /// concurrent cas-register history that the checker finds linearizable.
    func testCASRegisterFromTheHostIsLinearizable() async throws {
        let s = try await scenarios()
        _ = try await run { try await s.bootstrap() }
        let phase = WorkloadPhase(
            name: "cas-register", workload: .casRegister,
            generator: Generator(concurrency: 6, rate: 60, duration: 15, seed: 1))
        let outcome = try await phase.run(in: s, members: Scenarios.founders)
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
        let s = try await scenarios()
        _ = try await run { try await s.bootstrap() }
        func phase(_ consistency: ReadConsistency) async throws -> WorkloadPhase.Outcome {
            try await WorkloadPhase(
                name: "stale-\(consistency.rawValue)", workload: .casRegister,
                generator: Generator(concurrency: 6, rate: 0, duration: 40, seed: 7), consistency: consistency,
                nemesis: [.isolateLeader], start: 4, hold: 8, keys: 2, values: 1000
            ).run(in: s, members: Scenarios.founders)
        }
        let stale = try await phase(.serializable)
        let broken = try XCTUnwrap(stale.faults.first)
        XCTAssertTrue(broken.injected && broken.confirmed && broken.healed && broken.healConfirmed, broken.detail)
        XCTAssertTrue(broken.fault.hasPrefix("isolate node0"), broken.fault)
        XCTAssertEqual(
            stale.linearizability?.validity, .invalid, "serializable reads with the leader isolated must be caught")
        XCTAssertNotNil(stale.linearizability?.anomaly?.picture)

        let sound = try await phase(.linearizable)
        let healthy = try XCTUnwrap(sound.faults.first)
        XCTAssertTrue(healthy.confirmed && healthy.healConfirmed, healthy.detail)
        XCTAssertEqual(sound.linearizability?.validity, .valid, sound.linearizability?.anomaly?.explanation ?? "")
    }

    /// Faults inside the leader's guest, through the adapter's verbs, one after another in
    /// one workload: its store killed (SIGKILL, then started again), paused (SIGSTOP,
    /// SIGCONT) and its clock moved a minute ahead and back. Each is confirmed from the
    /// guest and healed, and the cas-register history through all three is linearizable.
    func testInGuestFaultsOfTheLeaderKeepTheRegisterLinearizable() async throws {
        let s = try await scenarios()
        _ = try await run { try await s.bootstrap() }
        let outcome = try await WorkloadPhase(
            name: "cas-in-guest-faults", workload: .casRegister,
            generator: Generator(concurrency: 6, rate: 0, duration: 45, seed: 3),
            nemesis: [.killLeader, .pauseLeader, .clockSkew], start: 3, hold: 6
        ).run(in: s, members: Scenarios.founders)
        XCTAssertEqual(outcome.faults.count, 3)
        for fault in outcome.faults { XCTAssertTrue(fault.sound, "\(fault.fault): \(fault.detail)") }
        XCTAssertEqual(
            outcome.faults.map { String($0.fault.split(separator: " ").first ?? "") }, ["kill", "pause", "shift"])
        XCTAssertEqual(outcome.linearizability?.validity, .valid, outcome.linearizability?.anomaly?.explanation ?? "")
        XCTAssertTrue(outcome.valid, outcome.verdicts.map(\.evidence).joined(separator: "\n"))
        XCTAssertGreaterThan(outcome.history.operations.filter { $0.status == .ok }.count, 50)
    }

    /// Proof that the harness catches unpersisted writes: with Chainfire's data directory on
    /// a tmpfs, power loss of every member at once erases acknowledged adds, and the set
    /// checker fails the run. The same run with etcd on its disk passes.
    func testPowerLossOfEveryMemberIsCaughtOnlyWhenTheStoreIsOnTmpfs() async throws {
        let disk = try await scenarios()
        let tmpfs = Scenarios(session: disk.session, plan: disk.plan.withStoreOnTmpfs())
        func phase(_ s: Scenarios, _ name: String) async throws -> WorkloadPhase.Outcome {
            _ = try await run { try await s.bootstrap() }
            return try await WorkloadPhase(
                name: name, workload: .set, generator: Generator(concurrency: 6, rate: 0, duration: 20, seed: 11),
                nemesis: [.powerLossAll], start: 8, hold: 2
            ).run(in: s, members: Scenarios.founders)
        }
        let lost = try await phase(tmpfs, "set-power-loss-tmpfs")
        let outage = try XCTUnwrap(lost.faults.first)
        XCTAssertTrue(outage.sound, outage.detail)
        XCTAssertEqual(outage.fault, "power loss of node01, node02, node03")
        // Acknowledged adds are gone, or the cluster does not come back at all.
        let failed = lost.verdicts.filter { $0.validity == .invalid }.map(\.checker)
        XCTAssertTrue(failed.contains("set") || failed.contains("liveness"), "\(lost.verdicts)")

        let kept = try await phase(disk, "set-power-loss-disk")
        XCTAssertTrue(try XCTUnwrap(kept.faults.first).sound, "\(kept.faults)")
        let sound = try XCTUnwrap(kept.set)
        XCTAssertEqual(sound.valid, true, sound.explanation)
        XCTAssertGreaterThan(sound.acknowledged, 20)
    }

    /// Jepsen's set workload on five members through a majorities ring on the bridge: every
    /// acknowledged add is in every member's final read.
    func testSetUnderAMajoritiesRingLosesNoAdd() async throws {
        let s = try await scenarios()
        _ = try await run { try await s.bootstrap() }
        _ = try await run { try await s.join() }
        let members = Scenarios.founders + Scenarios.joiners
        let outcome = try await WorkloadPhase(
            name: "set-majorities-ring", workload: .set,
            generator: Generator(concurrency: 10, rate: 0, duration: 30, seed: 5), nemesis: [.majoritiesRing]
        ).run(in: s, members: members)
        let fault = try XCTUnwrap(outcome.faults.first)
        XCTAssertTrue(fault.injected && fault.confirmed && fault.healed && fault.healConfirmed, fault.detail)
        let result = try XCTUnwrap(outcome.set)
        XCTAssertEqual(result.valid, true, result.explanation)
        XCTAssertEqual(result.reads, members.count, result.explanation)
        XCTAssertGreaterThan(result.acknowledged, 50)
        XCTAssertTrue(outcome.valid, outcome.verdicts.map(\.evidence).joined(separator: "\n"))
    }

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

    func testFailoverWithFrozenLeader() async throws {
        let s = try await scenarios()
        _ = try await run { try await s.bootstrap() }
        _ = try await run { try await s.join() }
        assertPassed(try await s.failover(.suspend).0)
    }

    func testFailoverWithIsolatedLeader() async throws {
        let s = try await scenarios()
        _ = try await run { try await s.bootstrap() }
        _ = try await run { try await s.join() }
        let (result, history) = try await s.failover(.linkDown)
        assertPassed(result)
        let heal = try XCTUnwrap(history.faults.first?.healConfirmation)
        XCTAssertTrue(heal.hasPrefix("cluster link up: "), heal)
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
