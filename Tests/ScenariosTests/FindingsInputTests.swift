import Findings
import Foundation
import HostCommand
import Logging
import Nix
import XCTest

/// Bad input to the findings side: each a clear error, and exit 2 from the CLI.
final class FindingsInputTests: XCTestCase {
    let logger = Logger(label: "scenarios")

    var harness: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("harness").path
    }

    func cli(_ args: [String]) async throws -> HostCommand.Output {
        try await HostCommand(harness, args).run(timeout: 120)
    }

    func temporaryDirectory() throws -> URL {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("phc-input-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func testUnknownFindingID() async throws {
        XCTAssertThrowsError(try Catalog.finding("F9")) { XCTAssertTrue("\($0)".contains("F5.1")) }
        let out = try await cli(["repro", "F9"])
        XCTAssertEqual(out.status, 2)
        XCTAssertTrue(out.stderr.contains("unknown finding id `F9`"), out.stderr)
    }

    func testRuntimeFindingIsNotACheckYet() async throws {
        XCTAssertThrowsError(try CheckRun.select(["F4.2"])) { XCTAssertTrue("\($0)".contains("runtime")) }
    }

    func testLedgerNamingUnknownID() async throws {
        let dir = try temporaryDirectory()
        let ledger = dir.appendingPathComponent("ledger.json")
        try #"{"target": "x", "expected": {"F1": "reproduced", "F8": "resolved"}}"#.write(to: ledger, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Ledger.load(ledger)) { XCTAssertTrue("\($0)".contains("F8")) }
        let out = try await cli(["check", "--ledger", ledger.path])
        XCTAssertEqual(out.status, 2)
        XCTAssertTrue(out.stderr.contains("unknown finding id(s) F8"), out.stderr)
    }

    func testRepoThatIsNotACheckout() async throws {
        let dir = try temporaryDirectory()
        var out = try await cli(["check", "--repo", dir.path])
        XCTAssertEqual(out.status, 2)
        XCTAssertTrue(out.stderr.contains("has no flake.nix"), out.stderr)
        out = try await cli(["check", "--repo", dir.appendingPathComponent("missing").path])
        XCTAssertEqual(out.status, 2)
        XCTAssertTrue(out.stderr.contains("no such directory"), out.stderr)
    }

    func testFlakeThatDoesNotParse() async throws {
        let dir = try temporaryDirectory()
        try "{ outputs = { self }: {\n".write(to: dir.appendingPathComponent("flake.nix"), atomically: true, encoding: .utf8)
        let out = try await cli(["check", "--repo", dir.path])
        XCTAssertEqual(out.status, 2)
        XCTAssertTrue(out.stderr.contains("its flake cannot be read by nix"), out.stderr)
        XCTAssertTrue(out.stderr.contains("flake.nix"), out.stderr)
    }

    func testNixMissingOrTooOld() async throws {
        do {
            _ = try await Nix.locate("/nonexistent/nix", logger: logger)
            XCTFail("found a nix that does not exist")
        } catch let error as NixError { XCTAssertEqual(error.kind, .notInstalled) }
        let dir = try temporaryDirectory()
        let fake = dir.appendingPathComponent("nix")
        try "#!/bin/sh\necho 'nix (Nix) 2.3.16'\n".write(to: fake, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
        do {
            _ = try await Nix.locate(fake.path, logger: logger)
            XCTFail("accepted nix 2.3.16")
        } catch let error as NixError {
            XCTAssertEqual(error.kind, .tooOld)
            XCTAssertTrue(error.message.contains("2.3.16"))
        }
    }

    func testExitCodesAndJSONShape() async throws {
        let ok = try await cli(["check", "--json"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(ok.stdout.utf8)) as? [String: Any]
        let results = try XCTUnwrap(report?["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 7)
        for r in results {
            for key in ["id", "outcome", "expected", "evidence"] { XCTAssertNotNil(r[key], "no \(key) in \(r)") }
        }
        // A fix nobody recorded: F7 fixed but the ledger still expects it reproduced.
        let dir = try temporaryDirectory()
        let ledger = dir.appendingPathComponent("ledger.json")
        try #"{"target": "x", "expected": {"F7": "resolved"}}"#.write(to: ledger, atomically: true, encoding: .utf8)
        let differs = try await cli(["check", "--only", "F7", "--ledger", ledger.path])
        XCTAssertEqual(differs.status, 1)
        XCTAssertTrue(differs.stdout.contains("FAIL F7"), differs.stdout)
        let repro = try await cli(["repro", "F5.2"])
        XCTAssertEqual(repro.status, 0, repro.stderr)
        XCTAssertTrue(repro.stdout.contains("attribute 'flaredb' missing"), repro.stdout)
    }
}
