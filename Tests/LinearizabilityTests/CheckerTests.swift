import Foundation
import XCTest

@testable import Linearizability

/// Hand-written histories with known verdicts, and the anomaly a person is shown.
final class CheckerTests: XCTestCase {
    /// Builds a history from compact lines: `P invoke|ok|fail|info F VALUE [KEY]`.
    func history(_ lines: [String]) throws -> History {
        let edn = lines.map { line -> String in
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            let rest = parts.count > 3 ? parts[3] : "nil"
            var value = rest, key = ""
            if let at = rest.range(of: " @") {
                value = String(rest[..<at.lowerBound])
                key = ", :key \"\(rest[at.upperBound...])\""
            }
            return "{:process \(parts[0]), :type :\(parts[1]), :f :\(parts[2])\(key), :value \(value)}"
        }
        return try History.parse(edn.joined(separator: "\n"))
    }

    func verdict(_ lines: [String], _ model: ModelName = .casRegister) async throws -> LinearizabilityResult {
        try await HistoryCheck.run(try history(lines), model: model, timeLimit: 30)
    }

    func assertValid(
        _ lines: [String], _ model: ModelName = .casRegister, file: StaticString = #filePath, line: UInt = #line
    )
        async throws
    {
        let r = try await verdict(lines, model)
        XCTAssertEqual(r.validity, .valid, "\(r.anomaly?.explanation ?? "")", file: file, line: line)
    }

    func assertInvalid(
        _ lines: [String], _ model: ModelName = .casRegister, file: StaticString = #filePath, line: UInt = #line
    ) async throws -> Anomaly? {
        let r = try await verdict(lines, model)
        XCTAssertEqual(r.validity, .invalid, file: file, line: line)
        XCTAssertNotNil(r.anomaly, file: file, line: line)
        return r.anomaly
    }

    func testASequentialRegisterIsValid() async throws {
        try await assertValid([
            "0 invoke read nil", "0 ok read nil", "0 invoke write 1", "0 ok write 1", "0 invoke cas [1 2]",
            "0 ok cas [1 2]", "0 invoke cas [1 3]", "0 fail cas [1 3]", "0 invoke read nil", "0 ok read 2",
        ])
    }

    func testAStaleReadIsCaught() async throws {
        let a = try await assertInvalid([
            "0 invoke write 1", "0 ok write 1", "0 invoke write 2", "0 ok write 2", "1 invoke read nil", "1 ok read 1",
        ])
        XCTAssertEqual(a?.operation.description, "read() → 1")
        XCTAssertEqual(a?.statesBefore, ["2"])
        XCTAssertEqual(a?.prefixLastLine, 6)
        XCTAssertEqual(a?.prefixIsMinimal, true)
    }

    func testALostWriteIsCaught() async throws {
        // The write of 3 was acknowledged before the read began; the read saw the old value.
        try await _ = assertInvalid([
            "0 invoke write 1", "0 ok write 1", "1 invoke write 3", "1 ok write 3", "2 invoke read nil",
            "2 ok read 1", "2 invoke read nil", "2 ok read 1",
        ])
    }

    func testACasThatSwappedTwiceIsCaught() async throws {
        let a = try await assertInvalid([
            "0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "1 ok cas [1 2]", "2 invoke cas [1 2]",
            "2 ok cas [1 2]",
        ])
        XCTAssertEqual(a?.operation.process, "2")
    }

    func testConcurrentWritesMayTakeEitherOrder() async throws {
        for last in ["1", "2"] {
            try await assertValid([
                "0 invoke write 1", "1 invoke write 2", "0 ok write 1", "1 ok write 2", "2 invoke read nil",
                "2 ok read \(last)",
            ])
        }
        // But not a value neither wrote.
        try await _ = assertInvalid([
            "0 invoke write 1", "1 invoke write 2", "0 ok write 1", "1 ok write 2", "2 invoke read nil", "2 ok read 3",
        ])
    }

    func testAnInfoWriteMustBePlacedForTheHistoryToBeValid() async throws {
        // The write of 5 timed out, yet a later read saw 5: it took effect.
        try await assertValid([
            "0 invoke write 1", "0 ok write 1", "1 invoke write 5", "1 info write 5", "2 invoke read nil",
            "2 ok read 5", "2 invoke read nil", "2 ok read 5",
        ])
    }

    func testAnInfoWriteMustBeDroppedForTheHistoryToBeValid() async throws {
        // The write of 5 timed out and no read ever saw it: it may never have happened.
        try await assertValid([
            "1 invoke write 5", "1 info write 5", "0 invoke write 1", "0 ok write 1", "2 invoke read nil",
            "2 ok read 1", "2 invoke read nil", "2 ok read 1",
        ])
        // An operation that never completed is unknown too.
        try await assertValid([
            "1 invoke write 5", "0 invoke write 1", "0 ok write 1", "2 invoke read nil", "2 ok read 1",
        ])
    }

    func testAnInfoWriteCannotTakeEffectBeforeItsInvocation() async throws {
        try await _ = assertInvalid([
            "0 invoke read nil", "0 ok read 5", "1 invoke write 5", "1 info write 5",
        ])
    }

    func testFailedReadsAndWritesDidNothing() async throws {
        try await assertValid([
            "0 invoke write 1", "0 ok write 1", "1 invoke write 9", "1 fail write 9", "2 invoke read nil",
            "2 fail read 7", "2 invoke read nil", "2 ok read 1",
        ])
        // A failed cas observed another value: if the value matched, it is a violation.
        try await _ = assertInvalid(["0 invoke write 1", "0 ok write 1", "1 invoke cas [1 2]", "1 fail cas [1 2]"])
    }

    func testKeysAreIndependent() async throws {
        let r = try await verdict([
            "0 invoke write 1 @a", "0 ok write 1 @a", "1 invoke write 2 @b", "1 ok write 2 @b", "2 invoke read nil @a",
            "2 ok read 1 @a", "2 invoke read nil @b", "2 ok read 2 @b",
        ])
        XCTAssertEqual(r.validity, .valid)
        XCTAssertEqual(r.keys, 2)
        let a = try await assertInvalid([
            "0 invoke write 1 @a", "0 ok write 1 @a", "2 invoke read nil @b", "2 ok read 1 @b",
        ])
        XCTAssertEqual(a?.key, "\"b\"")
    }

    func testKVModel() async throws {
        try await assertValid(
            [
                "0 invoke put \"x\" @k", "0 ok put \"x\" @k", "1 invoke append \"y\" @k", "1 ok append \"y\" @k",
                "2 invoke get nil @k", "2 ok get \"xy\" @k", "2 invoke get nil @other", "2 ok get nil @other",
            ], .kv)
        let a = try await assertInvalid(
            [
                "0 invoke append \"a\" @k", "0 ok append \"a\" @k", "1 invoke append \"b\" @k",
                "1 ok append \"b\" @k", "2 invoke get nil @k", "2 ok get \"ba\" @k",
            ], .kv)
        XCTAssertEqual(a?.statesBefore, ["\"ab\""])
    }

    func testTheAnomalyNamesTheSmallestPrefixAndWhatWasConcurrent() async throws {
        var lines = ["0 invoke write 1", "0 ok write 1"]
        // Enough valid traffic after the violation that the full history is far longer than its failing prefix.
        lines += [
            "1 invoke read nil", "2 invoke write 2", "1 ok read 1", "2 ok write 2", "3 invoke read nil",
            "3 ok read 1",
        ]
        for i in 0..<20 { lines += ["0 invoke write \(10 + i)", "0 ok write \(10 + i)"] }
        let h = try history(lines)
        let url = temporaryFile("anomaly.edn")
        let r = try await HistoryCheck.run(
            h, model: .casRegister, timeLimit: 30, picture: HistoryCheck.pictureURL(for: url))
        XCTAssertEqual(r.validity, .invalid)
        let a = try XCTUnwrap(r.anomaly)
        XCTAssertEqual(a.operation.process, "3")
        XCTAssertEqual(a.prefixLastLine, 8)
        XCTAssertEqual(a.prefixOperations, 4)
        XCTAssertEqual(a.statesBefore, ["2"])
        XCTAssertEqual(a.concurrent.map(\.process), [], "process 3's read began after every other completed")
        let svg = try String(contentsOf: URL(fileURLWithPath: try XCTUnwrap(a.picture)), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg"))
        XCTAssertTrue(svg.contains("read() → 1"))
        XCTAssertTrue(svg.contains("#D62728"), "the failing operation is marked")
    }

    func testConcurrentOperationsAreListed() async throws {
        let a = try await assertInvalid([
            "0 invoke write 1", "0 ok write 1", "1 invoke write 2", "2 invoke read nil", "1 ok write 2", "2 ok read 3",
        ])
        XCTAssertEqual(a?.concurrent.map(\.description), ["write(2)"])
        XCTAssertEqual(Set(a?.statesBefore ?? []), ["1", "2"])
    }

    func testAnUnknownModelFunctionIsABadHistory() async throws {
        do {
            _ = try await verdict(["0 invoke frob nil", "0 ok frob nil"])
            XCTFail("accepted :frob")
        } catch let e as HistoryShapeError {
            XCTAssertTrue(e.message.contains(":frob is not an operation of cas-register"), e.message)
            XCTAssertEqual(e.line, 1)
        }
    }

    func testATimeBudgetAnswersUnknown() async throws {
        // Many concurrent unknown writes and reads that force a wide search.
        let h = HistorySimulator(
            model: .casRegister, processes: 40, keys: 1, operations: 4000, timeoutRate: 0.5, seed: 9
        )
        .history()
        let r = try await HistoryCheck.run(h, model: .casRegister, timeLimit: 0.001)
        guard case .unknown(let why) = r.validity else {
            // A fast machine may finish inside the budget; then it must be valid.
            XCTAssertEqual(r.validity, .valid)
            return
        }
        XCTAssertTrue(why.contains("time limit"), why)
    }

    func testInference() throws {
        XCTAssertEqual(ModelName.infer(from: try history(["0 invoke cas [1 2]"]).operations), .casRegister)
        XCTAssertEqual(ModelName.infer(from: try history(["0 invoke append \"a\" @k"]).operations), .kv)
        XCTAssertNil(ModelName.infer(from: try history(["0 invoke append \"a\"", "1 invoke cas [1 2]"]).operations))
    }
}
