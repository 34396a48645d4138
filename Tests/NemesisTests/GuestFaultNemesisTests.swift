import Foundation
import XCTest

@testable import Nemesis

/// The in-guest nemesis' logic against a model of the adapter's verbs: what it confirms,
/// what it refuses to confirm, and that it always heals. (The real verbs run in
/// RuntimeScenarioTests, on fixture guests.)
final class GuestFaultNemesisTests: XCTestCase {
    /// The adapter's verbs over a modelled store process and clock; `obeys` false models a
    /// guest where the signal or the clock change does not take.
    final class ModelGuest: @unchecked Sendable {
        private let lock = NSLock()
        private var state: String? = "S"  // nil: no process
        private var offset: Double = 0
        private(set) var verbs: [String] = []
        let obeys: Bool
        init(obeys: Bool = true) { self.obeys = obeys }

        func adapter(_ node: String, _ arguments: String) -> String? {
            lock.withLock {
                verbs.append(arguments)
                let words = arguments.split(separator: " ")
                switch words.first ?? "" {
                case "process": return state.map { "41 \($0)" } ?? ""
                case "kill":
                    guard state != nil else { return nil }
                    if obeys { state = nil }
                    return ""
                case "pause":
                    if obeys { state = "T" }
                    return ""
                case "resume":
                    state = "S"
                    return ""
                case "start":
                    state = "S"
                    return ""
                case "leader": return state == "S" ? "1 1 2" : nil
                case "clock": return String(Int(Date().timeIntervalSince1970 + offset))
                case "clock-shift":
                    if obeys { offset += Double(words[1])! }
                    return ""
                default: return nil
                }
            }
        }
    }

    func run(_ kind: GuestFaultNemesis.Kind, _ guest: ModelGuest, leader: String? = "node02") async -> (
        NemesisOutcome, [String]
    ) {
        let events = Events()
        let nemesis = GuestFaultNemesis(
            kind: kind, start: 0, hold: 0, timeoutScale: 0.1, choose: { leader },
            adapter: { guest.adapter($0, $1) })
        let outcome = await nemesis.run { f, value in events.append("\(f) \(value)") }
        return (outcome, events.all)
    }

    func testKillIsConfirmedGoneThenStartedAndServing() async {
        let guest = ModelGuest()
        let (outcome, events) = await run(.kill, guest)
        XCTAssertTrue(outcome.sound, outcome.detail)
        XCTAssertEqual(events, ["start kill -9 node02's store", "stop kill -9 node02's store"])
        XCTAssertEqual(guest.verbs.first, "kill")
        XCTAssertTrue(guest.verbs.contains("start"))
        XCTAssertEqual(guest.verbs.last, "leader", "the heal is confirmed by the store answering")
    }

    func testASignalThatDoesNotTakeIsNotConfirmedAndIsStillHealed() async {
        for kind in [GuestFaultNemesis.Kind.kill, .pause, .clockShift(seconds: 60)] {
            let guest = ModelGuest(obeys: false)
            let (outcome, events) = await run(kind, guest)
            XCTAssertTrue(outcome.injected, "\(kind)")
            XCTAssertFalse(outcome.confirmed, "\(kind): \(outcome.detail)")
            XCTAssertTrue(outcome.detail.contains("did not show on node02"), outcome.detail)
            XCTAssertTrue(outcome.healed, "\(kind)")
            XCTAssertEqual(events.count, 2, "\(kind): the heal is recorded too")
        }
    }

    func testPauseIsConfirmedStoppedThenContinued() async {
        let guest = ModelGuest()
        let (outcome, _) = await run(.pause, guest)
        XCTAssertTrue(outcome.sound, outcome.detail)
        XCTAssertTrue(outcome.detail.contains("41 T"), outcome.detail)
        XCTAssertTrue(guest.verbs.contains("resume"))
    }

    func testClockShiftIsMeasuredAgainstTheHostAndShiftedBack() async {
        let guest = ModelGuest()
        let (outcome, events) = await run(.clockShift(seconds: -30), guest)
        XCTAssertTrue(outcome.sound, outcome.detail)
        XCTAssertEqual(events.first, "start shift node02's clock by -30 s")
        XCTAssertTrue(guest.verbs.contains("clock-shift -30"))
        XCTAssertTrue(guest.verbs.contains("clock-shift 30"), "shifted back by the same amount")
        XCTAssertTrue(outcome.detail.contains("moved -30"), outcome.detail)
    }

    func testNoLeaderMeansNoFaultAndNothingToHeal() async {
        let guest = ModelGuest()
        let (outcome, events) = await run(.kill, guest, leader: nil)
        XCTAssertFalse(outcome.injected)
        XCTAssertEqual(events, [])
        XCTAssertEqual(guest.verbs, [])
        XCTAssertTrue(outcome.detail.contains("no node could be chosen"), outcome.detail)
    }

    final class Events: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [String] = []
        func append(_ e: String) { lock.withLock { events.append(e) } }
        var all: [String] { lock.withLock { events } }
    }
}
