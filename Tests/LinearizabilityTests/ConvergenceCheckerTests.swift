import Linearizability
import XCTest

final class ConvergenceCheckerTests: XCTestCase {
    let checker = ConvergenceChecker()

    func testTheSameCopiesConverge() {
        let copy = ["r0": "3", "r1": "1"]
        let r = checker.check(["node01": copy, "node02": copy, "node03": copy])
        XCTAssertTrue(r.converged, r.explanation)
        XCTAssertEqual(r.explanation, "node01, node02, node03 hold the same 2 keys")
    }

    func testADifferentValueAMissingKeyAndAnUnreadMemberAreNamed() {
        let a = ["r0": "3", "r1": "1"]
        let stale = checker.check(["node01": a, "node02": ["r0": "2", "r1": "1"]])
        XCTAssertFalse(stale.converged)
        XCTAssertEqual(stale.explanation, "node01 holds `3` at r0, node02 `2` (2 vs 2 keys)")
        let missing = checker.check(["node01": a, "node03": ["r1": "1"]])
        XCTAssertEqual(missing.explanation, "node01 holds `3` at r0, node03 nothing (2 vs 1 keys)")
        let unread = checker.check(["node01": a, "node02": nil])
        XCTAssertFalse(unread.converged)
        XCTAssertEqual(unread.explanation, "node02's copy could not be read")
        XCTAssertFalse(checker.check([:]).converged)
    }
}
