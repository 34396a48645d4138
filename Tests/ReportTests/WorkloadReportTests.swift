import Foundation
import Linearizability
import XCTest

@testable import Report

#if canImport(FoundationXML)
    import FoundationXML
#endif

final class WorkloadReportTests: XCTestCase {
    /// A client history with a fault from 1 s to 2 s, and an operation never completed.
    let history = try! History.parse(
        """
        {:process 0, :type :invoke, :f :write, :key 1, :value 3, :time 0}
        {:process 1, :type :invoke, :f :read, :key 1, :value nil, :time 100000000}
        {:process 0, :type :ok, :f :write, :key 1, :value 3, :time 200000000}
        {:process 1, :type :ok, :f :read, :key 1, :value 3, :time 300000000}
        {:process :nemesis, :type :info, :f :start, :value "isolate node02", :time 1000000000}
        {:process 0, :type :invoke, :f :cas, :key 1, :value [3 4], :time 1100000000}
        {:process 1, :type :invoke, :f :write, :key 1, :value 1, :time 1200000000}
        {:process 0, :type :info, :f :cas, :key 1, :value [3 4], :time 1900000000}
        {:process :nemesis, :type :info, :f :stop, :value "isolate node02", :time 2000000000}
        {:process 2, :type :invoke, :f :read, :key 1, :value nil, :time 2500000000}
        {:process 2, :type :fail, :f :read, :key 1, :value nil, :time 3000000000}
        """)

    func testFiguresPlaceOperationsAndFaultWindows() {
        let f = RunFigures(history)
        XCTAssertEqual(f.operations.count, 5)
        XCTAssertEqual(f.faults, [RunFigures.FaultWindow(label: "isolate node02", start: 1, end: 2)])
        XCTAssertEqual(f.duration, 3, accuracy: 1e-9)
        let open = f.operations.first { $0.process == "1" && $0.f == "write" }
        XCTAssertNil(open?.end, "an operation never completed has no end")
        XCTAssertEqual(f.operations.first { $0.f == "read" && $0.status == .ok }?.latency ?? 0, 0.2, accuracy: 1e-9)
        XCTAssertEqual(f.series.map(\.name), ["cas info", "read ok", "read fail", "write ok", "write info"])
    }

    func testTheRunDirectoryGetsEveryFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let verdicts = [
            CheckerVerdict(checker: "linearizable", validity: .invalid, evidence: "read of 3 after the write of 1"),
            CheckerVerdict(checker: "liveness", validity: .unknown, evidence: "no write after the heal"),
        ]
        let files = try WorkloadReport.write(history, verdicts: verdicts, name: "cas", title: "cas <test>", in: dir)
        XCTAssertEqual(
            files.map(\.lastPathComponent),
            ["cas.history.edn", "cas.results.json", "cas.timeline.html", "cas.latency.svg", "cas.rate.svg"])
        let results = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("cas.results.json")))
                as? [String: Any])
        XCTAssertEqual(results["valid"] as? Bool, false, "one invalid checker makes the run invalid")
        let checkers = try XCTUnwrap(results["checkers"] as? [[String: Any]])
        XCTAssertEqual(checkers.map { $0["checker"] as? String }, ["linearizable", "liveness"])
        XCTAssertEqual(checkers[1]["valid"] as? String, "unknown")
        XCTAssertEqual(results["faults"] as? [String], ["isolate node02"])
        // The history reads back as it was written.
        let back = try History.read(dir.appendingPathComponent("cas.history.edn"))
        XCTAssertEqual(back.operations.count, history.operations.count)
        let page = try String(contentsOf: dir.appendingPathComponent("cas.timeline.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("cas &lt;test&gt;"), "titles are escaped")
        XCTAssertEqual(page.components(separatedBy: "class=\"op\"").count - 1, 5)
        XCTAssertEqual(page.components(separatedBy: "class=\"fault\"").count - 1, 1)
        for svg in ["cas.latency.svg", "cas.rate.svg"] {
            let data = try Data(contentsOf: dir.appendingPathComponent(svg))
            XCTAssertNoThrow(try XMLDocument(data: data), "\(svg) is well-formed XML")
        }
    }

    func testAllValidOrUnknownResults() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func overall(_ v: [CheckerVerdict.Validity]) throws -> Any? {
            _ = try WorkloadReport.write(
                history, verdicts: v.map { CheckerVerdict(checker: "c", validity: $0, evidence: "") }, name: "r",
                title: "t", in: dir)
            let json = try JSONSerialization.jsonObject(
                with: Data(contentsOf: dir.appendingPathComponent("r.results.json")))
            return (json as? [String: Any])?["valid"]
        }
        XCTAssertEqual(try overall([.valid, .valid]) as? Bool, true)
        XCTAssertEqual(try overall([.valid, .unknown]) as? String, "unknown")
    }
}
