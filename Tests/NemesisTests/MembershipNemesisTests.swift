import Foundation
import XCTest

@testable import Nemesis

/// The membership change's logic against a model of the adapter's verbs: removed,
/// confirmed gone, joined again and confirmed started; a removal that does not take is
/// not confirmed, and the member is still joined again.
final class MembershipNemesisTests: XCTestCase {
    final class ModelCluster: @unchecked Sendable {
        private let lock = NSLock()
        private var listed: [String: String] = ["n1": "started", "n2": "started", "n3": "started"]
        private(set) var verbs: [String] = []
        let obeys: Bool
        init(obeys: Bool = true) { self.obeys = obeys }

        func adapter(_ node: String, _ arguments: String) -> String? {
            lock.withLock {
                verbs.append("\(node) \(arguments)")
                let words = arguments.split(separator: " ").map(String.init)
                switch words[0] {
                case "member-remove":
                    if obeys { listed[words[1]] = nil }
                    return ""
                case "members":
                    return listed.sorted { $0.key < $1.key }.map { "1\($0.key.last!) \($0.key) http://x \($0.value)" }
                        .joined(separator: "\n")
                case "leave": return ""
                case "join":
                    listed[node] = "started"
                    return ""
                case "leader": return listed[node] == nil ? nil : "12 11 4"
                default: return nil
                }
            }
        }
    }

    func run(_ cluster: ModelCluster) async -> NemesisOutcome {
        await MembershipNemesis(
            start: 0, hold: 0, timeoutScale: 0.05, choose: { ("n3", "n1") }, adapter: { cluster.adapter($0, $1) }
        ).run { _, _ in }
    }

    func testAMemberIsRemovedAndJoinsAgain() async {
        let cluster = ModelCluster()
        let outcome = await run(cluster)
        XCTAssertTrue(outcome.sound, outcome.detail)
        XCTAssertEqual(outcome.fault, "replace n3: removed, then joined again as a new member")
        XCTAssertTrue(outcome.detail.hasPrefix("n1 does not list n3"), outcome.detail)
        XCTAssertTrue(outcome.detail.contains("healed: n1 lists 13 n3 http://x started; n3 follows 11"), outcome.detail)
        XCTAssertEqual(
            cluster.verbs.filter { !$0.hasSuffix("members") && !$0.hasSuffix("leader") },
            ["n1 member-remove n3", "n3 leave", "n3 join"])
    }

    func testARemovalThatDoesNotTakeIsNotConfirmedAndTheMemberStillJoins() async {
        let cluster = ModelCluster(obeys: false)
        let outcome = await run(cluster)
        XCTAssertTrue(outcome.injected)
        XCTAssertFalse(outcome.confirmed)
        XCTAssertTrue(outcome.detail.contains("n3 was not removed within 1 s"), outcome.detail)
        XCTAssertTrue(cluster.verbs.contains("n3 join"))
        XCTAssertFalse(cluster.verbs.contains("n3 leave"), "a member still listed keeps its data")
    }
}
