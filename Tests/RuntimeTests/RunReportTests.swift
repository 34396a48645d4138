import Foundation
import XCTest

@testable import Runtime

/// `harness run --json`: each checker's `valid` as Jepsen says it, and the run directory.
final class RunReportTests: XCTestCase {
    func testCheckersAndTheRunDirectoryInTheJSON() throws {
        var report = RunReport(target: "miniature", fixes: ["F3"])
        report.runDirectory = "/var/lib/photoncloud-harness/reports/x"
        report.checkers = [
            .init(phase: "cas-register", checker: "linearizable", valid: .valid, evidence: "ok"),
            .init(phase: "cas-register", checker: "set", valid: .invalid, evidence: "lost 1"),
            .init(phase: "cas-register", checker: "nemesis", valid: .unknown, evidence: "not healed"),
        ]
        let data = try JSONEncoder().encode(report)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["runDirectory"] as? String, "/var/lib/photoncloud-harness/reports/x")
        let checkers = try XCTUnwrap(object["checkers"] as? [[String: Any]])
        XCTAssertEqual(checkers[0]["valid"] as? Bool, true)
        XCTAssertEqual(checkers[1]["valid"] as? Bool, false)
        XCTAssertEqual(checkers[2]["valid"] as? String, "unknown")
        XCTAssertEqual(try JSONDecoder().decode(RunReport.self, from: data).checkers, report.checkers)
    }
}
