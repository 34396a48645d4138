import Foundation
import XCTest

@testable import Linearizability

/// Jepsen's history format: reading EDN, writing it back, and streaming files of any size.
final class EDNTests: XCTestCase {
    func testScalarsAndCollections() throws {
        XCTAssertEqual(try EDNValue.parse("nil"), .null)
        XCTAssertEqual(try EDNValue.parse("true"), .bool(true))
        XCTAssertEqual(try EDNValue.parse("-42"), .int(-42))
        XCTAssertEqual(try EDNValue.parse("+7"), .int(7))
        XCTAssertEqual(try EDNValue.parse("12N"), .int(12))
        XCTAssertEqual(try EDNValue.parse("123456789012345678901234567890"), .bigInt("123456789012345678901234567890"))
        XCTAssertEqual(try EDNValue.parse("1.5"), .double(1.5))
        XCTAssertEqual(try EDNValue.parse("2.5M"), .double(2.5))
        XCTAssertEqual(try EDNValue.parse(":cas"), .keyword("cas"))
        XCTAssertEqual(try EDNValue.parse(":jepsen.history/op"), .keyword("jepsen.history/op"))
        XCTAssertEqual(try EDNValue.parse("foo/bar"), .symbol("foo/bar"))
        XCTAssertEqual(try EDNValue.parse("[1 2]"), .vector([.int(1), .int(2)]))
        XCTAssertEqual(try EDNValue.parse("(1, 2)"), .list([.int(1), .int(2)]))
        XCTAssertEqual(try EDNValue.parse("#{:a}"), .set([.keyword("a")]))
        XCTAssertEqual(try EDNValue.parse("\\a"), .char("a"))
        XCTAssertEqual(try EDNValue.parse("\\newline"), .char("\n"))
        XCTAssertEqual(try EDNValue.parse("[1 #_ 2 3]"), .vector([.int(1), .int(3)]))
        XCTAssertEqual(
            try EDNValue.parse("#inst \"2026-11-30T00:00:00Z\""), .tagged("inst", .string("2026-11-30T00:00:00Z")))
        XCTAssertEqual(try EDNValue.parse("##Inf"), .double(.infinity))
        XCTAssertEqual(try EDNValue.parse("{:a 1 ; comment\n :b [nil]}")[keyword: "b"], .vector([.null]))
    }

    func testStringsWithEscapes() throws {
        XCTAssertEqual(try EDNValue.parse(#""a\"b\\c\nd\te\u00e9""#), .string("a\"b\\c\nd\teé"))
        XCTAssertEqual(try EDNValue.parse("\"ü☃ plain\""), .string("ü☃ plain"))
        let tricky = EDNValue.string("quote \" back \\ nl \n tab \t ctl \u{1} ü☃")
        XCTAssertEqual(try EDNValue.parse(tricky.description), tricky)
    }

    func testErrorsNameLineAndColumn() {
        XCTAssertThrowsError(try EDNValue.parse("{:a 1\n :b")) { error in
            let e = error as! EDNError
            XCTAssertEqual(e.line, 2)
            XCTAssertTrue(
                e.message.contains("map has a key without a value") || e.message.contains("missing"), e.message)
        }
        XCTAssertThrowsError(try EDNValue.parse("\"open")) { XCTAssertTrue("\($0)".contains("not closed")) }
        XCTAssertThrowsError(try EDNValue.parse("[1 2")) { XCTAssertTrue("\($0)".contains("`]` is missing")) }
        XCTAssertThrowsError(try EDNValue.parse("1 2")) { XCTAssertTrue("\($0)".contains("more than one")) }
        XCTAssertThrowsError(try EDNValue.parse(")")) { XCTAssertTrue("\($0)".contains("nothing is open")) }
        XCTAssertThrowsError(try EDNValue.parse("\"\\q\"")) { XCTAssertTrue("\($0)".contains("unknown escape")) }
        XCTAssertThrowsError(try EDNValue.parse(String(repeating: "[", count: 500))) {
            XCTAssertTrue("\($0)".contains("nesting"))
        }
    }

    func testOperationsWithExtraKeysInAnyOrderAndBlankLines() throws {
        let text = """

            {:index 0, :time 10, :value nil, :f :read, :type :invoke, :process 0, :extra {:a [1 "x"]}}

            ; a comment line
            {:process 0 :type :ok :f :read :value 3 :time 20 :index 1}
            #jepsen.history.Op{:process :nemesis, :type :info, :f :start, :value "partition"}
            {:process 1, :type :invoke, :f :cas, :key "k1", :value [1 2]}
            """
        let h = try History.parse(text)
        XCTAssertEqual(h.events.count, 4)
        XCTAssertEqual(h.events[0].time, 10)
        XCTAssertEqual(h.events[1].line, 5)
        XCTAssertEqual(h.events[2].process, .named("nemesis"))
        XCTAssertEqual(h.operations.count, 2, "the nemesis is recorded, not checked")
        XCTAssertEqual(h.operations[0].output, .int(3))
        XCTAssertEqual(h.operations[1].status, .info, "never completed: unknown")
        XCTAssertEqual(h.operations[1].key, .string("k1"))
    }

    func testMalformedOperationsAreNamed() {
        func message(_ text: String) -> String {
            do {
                _ = try History.parse(text)
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(message("{:process 0, :type :ok, :f :read}").contains("never invoked"))
        XCTAssertTrue(message("{:process 0, :type :begin, :f :read}").contains(":type must be"))
        XCTAssertTrue(message("{:process 0, :type :invoke}").contains("no :f"))
        XCTAssertTrue(message("[1 2]").contains("must be a map"))
        XCTAssertTrue(
            message("{:process 0, :type :invoke, :f :read}\n{:process 0, :type :invoke, :f :read}")
                .contains("line 2"))
    }

    func testWrittenHistoriesReadBackTheSame() throws {
        let h = HistorySimulator(model: .casRegister, processes: 4, keys: 3, operations: 300, seed: 3).history()
        let url = temporaryFile("roundtrip.edn")
        try h.edn().write(to: url, atomically: true, encoding: .utf8)
        let back = try History.read(url)
        XCTAssertEqual(back.events.map(\.edn), h.events.map(\.edn))
        XCTAssertEqual(back.operations.count, h.operations.count)
    }

    /// Found by the fuzzer: a function or process named by a string that is no valid
    /// keyword is written as a string, so the history reads back the same.
    func testNamesThatAreNoKeywordsStayStrings() throws {
        let h = try History.parse(
            "{:process \"a b\", :type :invoke, :f \":t,\", :value nil}\n{:process 0, :type :invoke, :f cas, :value [1 2]}"
        )
        XCTAssertEqual(h.events[0].edn[keyword: "f"], .string(":t,"))
        XCTAssertEqual(h.events[0].edn[keyword: "process"], .string("a b"))
        XCTAssertEqual(h.events[1].edn[keyword: "f"], .keyword("cas"))
        XCTAssertEqual(try History.parse(h.edn()).events.map(\.edn), h.events.map(\.edn))
    }

    func testAVectorOfOperationsIsReadToo() throws {
        let url = temporaryFile("vector.edn")
        try "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value nil}]\n"
            .write(to: url, atomically: true, encoding: .utf8)
        XCTAssertEqual(try History.read(url).operations.count, 1)
    }

    func testATruncatedLastLineIsAnErrorWithItsLine() throws {
        let url = temporaryFile("truncated.edn")
        try "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :re"
            .write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try History.read(url)) { error in
            let e = error as! EDNError
            XCTAssertEqual(e.line, 2)
            XCTAssertTrue(e.message.contains("truncated"), e.message)
        }
    }

    /// 100 MB read as a stream: memory stays bounded by the window, not the file.
    func testAHundredMegabyteFileStreamsInBoundedMemory() throws {
        let url = temporaryFile("large.edn")
        let block = (0..<1000).map {
            "{:process \($0 % 10), :type :invoke, :f :write, :key \"k\($0 % 7)\", :value \($0), :time \($0)}\n"
        }.joined()
        let handle = try { () throws -> FileHandle in
            FileManager.default.createFile(atPath: url.path, contents: nil)
            return try FileHandle(forWritingTo: url)
        }()
        let data = Data(block.utf8)
        var size = 0
        while size < 100_000_000 {
            handle.write(data)
            size += data.count
        }
        try handle.close()
        defer { try? FileManager.default.removeItem(at: url) }

        let reader = try EDNStreamReader(url: url)
        let before = residentMiB()
        var count = 0
        var peak = before
        while let (value, _) = try reader.next() {
            count += 1
            if count % 100_000 == 0 { peak = max(peak, residentMiB()) }
            if count == 1 { XCTAssertEqual(value[keyword: "f"], .keyword("write")) }
        }
        XCTAssertEqual(count, (size / data.count) * 1000)
        XCTAssertLessThan(peak - before, 64, "reading \(size) bytes grew the process by \(peak - before) MiB")
    }

    func residentMiB() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
}

func temporaryFile(_ name: String) -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lin-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name)
}

extension EDNTests {
    /// A value split across the reader's windows is read whole, wherever the split falls.
    func testFormsAcrossWindowBoundaries() throws {
        let h = HistorySimulator(model: .kv, processes: 3, keys: 2, operations: 40, seed: 5).history()
        let text = "; comment\n" + h.edn() + "  \n"
        let expected = h.events.map(\.edn)
        for size in [1, 2, 3, 7, 64, 1 << 20] {
            let reader = EDNStreamReader(bytes: Data(text.utf8), chunkSize: size)
            var values: [EDNValue] = []
            while let (v, _) = try reader.next() { values.append(v) }
            XCTAssertEqual(values, expected, "chunk size \(size)")
        }
        let cut = EDNStreamReader(bytes: Data("{:a 1}\n{:b 12".utf8), chunkSize: 3)
        XCTAssertNotNil(try cut.next())
        XCTAssertThrowsError(try cut.next()) { XCTAssertEqual(($0 as? EDNError)?.line, 2) }
    }
}
