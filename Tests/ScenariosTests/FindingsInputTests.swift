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
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "phc-input-\(UUID().uuidString.prefix(8))")
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
        try #"{"target": "x", "expected": {"F1": "reproduced", "F8": "resolved"}}"#.write(
            to: ledger, atomically: true, encoding: .utf8)
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
        try "{ outputs = { self }: {\n".write(
            to: dir.appendingPathComponent("flake.nix"), atomically: true, encoding: .utf8)
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

    /// Class 5: a checkout whose path has spaces and non-ASCII characters decides exactly
    /// as the miniature does (it was "is not a valid URL").
    func testCheckoutPathWithSpacesAndNonASCII() async throws {
        let home = try HarnessHome.locate()
        let dir = try temporaryDirectory().appendingPathComponent("a dir ü☃")
        try FileManager.default.copyItem(at: home.miniature, to: dir)
        let git = { (args: [String]) in
            HostCommand("git", ["-C", dir.path, "-c", "user.name=t", "-c", "user.email=t@t"] + args)
        }
        try await git(["init", "-q"]).succeed(timeout: 30)
        try await git(["add", "-A"]).succeed(timeout: 30)
        try await git(["commit", "-qm", "copy"]).succeed(timeout: 30)
        let miniature = try await Target.miniature(home: home)
        let target = try Target.checkout(dir.path, overrides: miniature.overrides)
        XCTAssertTrue(target.flake("nix/test-cluster").hasPrefix("git+file://"), target.flake("nix/test-cluster"))
        let run = CheckRun(nix: try await Nix.locate(logger: logger), logger: logger)
        let report = try await run.run(
            try CheckRun.select(nil), on: target,
            ledger: try Ledger.load(home.defaultLedger))
        for result in report.results {
            XCTAssertEqual(result.outcome, .reproduced, "\(result.id): \(result.summary)")
        }
        XCTAssertTrue(report.allMatch)

        // Through the CLI: a flake with no inputs, in git and outside it.
        let flakeDir = try temporaryDirectory().appendingPathComponent("other dir ü☃")
        try FileManager.default.createDirectory(at: flakeDir, withIntermediateDirectories: true)
        try "{ outputs = { self }: { }; }\n".write(
            to: flakeDir.appendingPathComponent("flake.nix"), atomically: true,
            encoding: .utf8)
        let outside = try await cli(["check", "--repo", flakeDir.path, "--only", "F1"])
        XCTAssertFalse(outside.stderr.contains("is not a valid URL"), outside.stderr)
        let nix = try await Nix.locate(logger: logger)
        if !nix.decodesFileURLs {
            XCTAssertEqual(outside.status, 2, outside.stderr)
            XCTAssertTrue(outside.stderr.contains("unless it is in a git repository"), outside.stderr)
        }
        for args in [["init", "-q"], ["add", "-A"], ["commit", "-qm", "t"]] {
            try await HostCommand("git", ["-C", flakeDir.path, "-c", "user.name=t", "-c", "user.email=t@t"] + args)
                .succeed(timeout: 30)
        }
        let inGit = try await cli(["check", "--repo", flakeDir.path, "--only", "F1", "--evidence"])
        XCTAssertEqual(inGit.status, 1, inGit.stderr)
        XCTAssertTrue(inGit.stdout.contains("git+file://"), inGit.stdout)
        XCTAssertTrue(inGit.stdout.contains("does not provide attribute"), inGit.stdout)
        // Old nix sees only what is committed there: uncommitted changes are refused, not ignored.
        try "{ outputs = { self }: { x = 1; }; }\n".write(
            to: flakeDir.appendingPathComponent("flake.nix"),
            atomically: true, encoding: .utf8)
        let dirty = try await cli(["check", "--repo", flakeDir.path, "--only", "F1"])
        if !nix.decodesFileURLs {
            XCTAssertEqual(dirty.status, 2, dirty.stderr)
            XCTAssertTrue(dirty.stderr.contains("has uncommitted changes"), dirty.stderr)
        }
    }

    /// Class 4: a flake without outputs: every finding says why, with nix's own error
    /// (it was "evaluation failed for another reason: node01: ; node02: ;").
    func testFlakeWithoutOutputsKeepsNixsError() async throws {
        let dir = try temporaryDirectory()
        try "{ outputs = { self }: { }; }\n".write(
            to: dir.appendingPathComponent("flake.nix"), atomically: true,
            encoding: .utf8)
        let run = CheckRun(nix: try await Nix.locate(logger: logger), logger: logger)
        let report = try await run.run(
            try CheckRun.select(nil), on: try Target.checkout(dir.path),
            ledger: try Ledger.load(try HarnessHome.locate().defaultLedger))
        let f1 = try XCTUnwrap(report.results.first { $0.id == "F1" })
        XCTAssertEqual(f1.outcome, .error)
        XCTAssertTrue(
            f1.summary.contains("node01: error: flake 'path:\(dir.path)' does not provide attribute"),
            f1.summary)
        XCTAssertFalse(f1.summary.contains(": ;"), f1.summary)
        for result in report.results {
            for evidence in result.evidence {
                XCTAssertFalse(
                    evidence.excerpt.trimmingCharacters(in: .whitespaces).isEmpty,
                    "\(result.id): empty evidence")
            }
        }
    }
}
