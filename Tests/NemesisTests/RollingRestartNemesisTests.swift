import Foundation
import XCTest

@testable import Nemesis

/// The rolling restart's logic against a model of three members' adapter verbs: each is
/// restarted only after the one before came back, a member that does not come back stops
/// the roll unconfirmed, and the heal starts what was left down.
final class RollingRestartNemesisTests: XCTestCase {
    /// Each member's store: its pid (nil when down); `stuck` never starts again after a restart.
    final class ModelCluster: @unchecked Sendable {
        private let lock = NSLock()
        private var pids: [String: Int?] = ["n1": 10, "n2": 20, "n3": 30]
        private var next = 100
        private(set) var verbs: [String] = []
        let stuck: String?
        init(stuck: String? = nil) { self.stuck = stuck }

        func adapter(_ node: String, _ arguments: String) -> String? {
            lock.withLock {
                verbs.append("\(node) \(arguments)")
                switch arguments {
                case "process": return pids[node]!.map { "\($0) S" } ?? ""
                case "restart", "start":
                    next += 1
                    pids[node] = node == stuck && arguments == "restart" ? nil : next
                    return ""
                case "leader": return pids[node]! == nil ? nil : "7 5 3"
                default: return nil
                }
            }
        }
    }

    func run(_ cluster: ModelCluster) async -> (NemesisOutcome, [String]) {
        let events = GuestFaultNemesisTests.Events()
        let outcome = await RollingRestartNemesis(
            members: ["n1", "n2", "n3"], start: 0, timeoutScale: 0.05, adapter: { cluster.adapter($0, $1) }
        ).run { f, value in events.append("\(f) \(value)") }
        return (outcome, events.all)
    }

    func testEachMemberIsRestartedInTurnAndConfirmed() async {
        let cluster = ModelCluster()
        let (outcome, events) = await run(cluster)
        XCTAssertTrue(outcome.sound, outcome.detail)
        XCTAssertEqual(cluster.verbs.filter { $0.hasSuffix("restart") }, ["n1 restart", "n2 restart", "n3 restart"])
        XCTAssertTrue(outcome.detail.contains("n2: pid 20 → 102, follows 5 in term 3"), outcome.detail)
        XCTAssertTrue(outcome.detail.contains("healed: every member follows 5"), outcome.detail)
        XCTAssertEqual(events, ["start rolling restart of n1, n2, n3", "stop rolling restart of n1, n2, n3"])
    }

    func testAMemberThatDoesNotComeBackStopsTheRollAndIsStartedByTheHeal() async {
        let cluster = ModelCluster(stuck: "n2")
        let (outcome, _) = await run(cluster)
        XCTAssertTrue(outcome.injected)
        XCTAssertFalse(outcome.confirmed, outcome.detail)
        XCTAssertFalse(outcome.sound)
        XCTAssertTrue(
            outcome.detail.contains("n2 did not come back within 3 s (last: no store process)"), outcome.detail)
        XCTAssertFalse(cluster.verbs.contains("n3 restart"), "the roll stops at the member that did not come back")
        XCTAssertTrue(cluster.verbs.contains("n2 start"))
        XCTAssertTrue(outcome.healed && outcome.healConfirmed, outcome.detail)
    }
}
