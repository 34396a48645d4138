import Findings
import Foundation
import Logging
import Nix
import XCTest

/// The broken miniature's verdicts, computed once per test process.
actor Baseline {
    static let shared = Baseline()
    private var verdicts: [String: CheckRun.Result]?

    func get(_ run: CheckRun, home: HarnessHome) async throws -> [String: CheckRun.Result] {
        if let verdicts { return verdicts }
        let target = try await Target.miniature(home: home)
        let ledger = try Ledger.load(home.defaultLedger)
        let report = try await run.run(try CheckRun.select(nil), on: target, ledger: ledger)
        let byID = Dictionary(uniqueKeysWithValues: report.results.map { ($0.id, $0) })
        verdicts = byID
        return byID
    }
}

/// One test per evaluation finding, with the real nix on the shipped miniature:
/// reproduced on the broken tree; resolved by its own fix; that fix changes no
/// other finding's outcome.
final class FindingScenarioTests: XCTestCase {
    let logger = Logger(label: "scenarios")

    func assertFinding(_ id: String, file: StaticString = #filePath, line: UInt = #line) async throws {
        let home = try HarnessHome.locate()
        let run = CheckRun(nix: try await Nix.locate(logger: logger), logger: logger)
        let baseline = try await Baseline.shared.get(run, home: home)
        let broken = try XCTUnwrap(baseline[id], file: file, line: line)
        XCTAssertEqual(
            broken.outcome, .reproduced, "\(id) on the broken miniature: \(broken.summary)", file: file, line: line)
        XCTAssertTrue(broken.matches, file: file, line: line)
        XCTAssertFalse(broken.evidence.isEmpty, "\(id) reproduced without evidence", file: file, line: line)

        let fixed = try await Target.miniature(home: home, fixes: [id])
        let ledger = try Ledger.load(home.defaultLedger).withResolved([id])
        let report = try await run.run(try CheckRun.select(nil), on: fixed, ledger: ledger)
        for result in report.results {
            if result.id == id {
                XCTAssertEqual(result.outcome, .resolved, "\(id)'s own fix: \(result.summary)", file: file, line: line)
            } else {
                XCTAssertEqual(
                    result.outcome, baseline[result.id]?.outcome,
                    "\(id)'s fix changed \(result.id): \(result.summary)", file: file, line: line)
            }
            XCTAssertTrue(result.matches, "\(result.id) vs ledger with \(id) fixed", file: file, line: line)
        }
    }

    func testF1MainFlakeNodesImportMissingPaths() async throws { try await assertFinding("F1") }
    func testF2InstallerDiskoLayoutsMissing() async throws { try await assertFinding("F2") }
    func testF3NoDeployerWired() async throws { try await assertFinding("F3") }
    func testF5_1JoinAddrUndeclared() async throws { try await assertFinding("F5.1") }
    func testF5_2Node06LacksFlareDBModule() async throws { try await assertFinding("F5.2") }
    func testF6ClusterConfigGeneratorsDrift() async throws { try await assertFinding("F6") }
    func testF7ChecksDisabled() async throws { try await assertFinding("F7") }

    /// The evidence says what the investigation saw, not just an outcome.
    func testEvidenceNamesWhatTheInvestigationSaw() async throws {
        let home = try HarnessHome.locate()
        let baseline = try await Baseline.shared.get(
            CheckRun(nix: try await Nix.locate(logger: logger), logger: logger), home: home)
        let text = { (id: String) in
            baseline[id]!.evidence.map { "\($0.location?.description ?? "") \($0.excerpt)" }.joined(separator: "\n")
        }
        XCTAssertTrue(text("F1").contains("docs/por/T036-vm-cluster-deployment/node01/configuration.nix"))
        XCTAssertTrue(text("F2").contains("docs/por/T036-vm-cluster-deployment/node02/disko.nix is missing"))
        XCTAssertTrue(text("F3").contains("nix.yml"))
        XCTAssertTrue(text("F5.1").contains("The option `services.chainfire.joinAddr' does not exist."))
        XCTAssertTrue(text("F5.1").contains("nix/test-cluster/node03.nix:"))
        XCTAssertTrue(text("F5.2").contains("attribute 'flaredb' missing"))
        XCTAssertTrue(text("F5.2").contains("nix/modules/creditservice.nix:5"))
        XCTAssertTrue(text("F6").contains("flaredb_endpoints"))
        XCTAssertTrue(baseline["F7"]!.summary.contains("8 of 9 packages"))
    }
}
