import XCTest

@testable import Linearizability

final class SetCheckerTests: XCTestCase {
    /// Adds 1 (ok), 2 (info), 3 (fail), then `reads`, one final read a process.
    func history(_ reads: [String]) throws -> History {
        var lines = [
            "{:process 0, :type :invoke, :f :add, :value 1}", "{:process 0, :type :ok, :f :add, :value 1}",
            "{:process 1, :type :invoke, :f :add, :value 2}", "{:process 1, :type :info, :f :add, :value 2}",
            "{:process 0, :type :invoke, :f :add, :value 3}", "{:process 0, :type :fail, :f :add, :value 3}",
        ]
        for (i, r) in reads.enumerated() {
            lines.append("{:process \(10 + i), :type :invoke, :f :read, :value nil}")
            lines.append("{:process \(10 + i), :type :ok, :f :read, :value \(r)}")
        }
        return try History.parse(lines.joined(separator: "\n"))
    }

    func testEveryAcknowledgedAddInEveryReadIsValid() throws {
        let r = SetChecker().check(try history(["#{1}", "#{1 2}"]))
        XCTAssertEqual(r.valid, true, r.explanation)
        XCTAssertEqual(r.attempted, 3)
        XCTAssertEqual(r.acknowledged, 1)
        XCTAssertEqual(r.reads, 2)
        XCTAssertEqual(r.recovered, 1, "the :info add of 2 took effect")
    }

    func testAReadLackingAnAcknowledgedAddIsALoss() throws {
        let r = SetChecker().check(try history(["#{1 2}", "#{2}"]))
        XCTAssertEqual(r.valid, false)
        XCTAssertEqual(r.lost, [1])
        XCTAssertTrue(r.explanation.contains("process 11 lacks 1 acknowledged add(s): 1"), r.explanation)
    }

    func testAnElementNeverAddedIsCaught() throws {
        let r = SetChecker().check(try history(["#{1 7}"]))
        XCTAssertEqual(r.valid, false)
        XCTAssertEqual(r.unexpected, [7])
        XCTAssertTrue(r.explanation.contains("never added: 7"), r.explanation)
    }

    /// A failed add is attempted: reading it is no invention (a :fail may be a lost reply
    /// elsewhere), but nothing requires it either.
    func testAFailedAddMayAppear() throws {
        XCTAssertEqual(SetChecker().check(try history(["#{1 3}"])).valid, true)
    }

    func testNoFinalReadIsUnknown() throws {
        let r = SetChecker().check(try history([]))
        XCTAssertNil(r.valid)
        XCTAssertTrue(r.explanation.contains("no final read"), r.explanation)
    }
}
