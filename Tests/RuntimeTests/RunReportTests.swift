import Foundation
import Report
import XCTest

@testable import Runtime

/// `harness run --json`: each checker's `valid` as Jepsen says it, and the run directory.
final class RunReportTests: XCTestCase {
    func testCheckersAndTheRunDirectoryInTheJSON() throws {
        var report = RunReport(target: "miniature", fixes: ["F3"])
        report.runDirectory = "/var/lib/photoncloud-harness/reports/x"
        report.checkers["cas-register"] = [
            CheckerVerdict(checker: "linearizable", validity: .valid, evidence: "ok"),
            CheckerVerdict(checker: "set", validity: .invalid, evidence: "lost 1"),
            CheckerVerdict(checker: "nemesis", validity: .unknown, evidence: "not healed"),
        ]
        let data = try JSONEncoder().encode(report)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["runDirectory"] as? String, "/var/lib/photoncloud-harness/reports/x")
        let phases = try XCTUnwrap(object["checkers"] as? [String: [[String: Any]]])
        let checkers = try XCTUnwrap(phases["cas-register"])
        XCTAssertEqual(checkers[0]["valid"] as? Bool, true)
        XCTAssertEqual(checkers[1]["valid"] as? Bool, false)
        XCTAssertEqual(checkers[2]["valid"] as? String, "unknown")
        XCTAssertEqual(try JSONDecoder().decode(RunReport.self, from: data).checkers, report.checkers)
    }
}
