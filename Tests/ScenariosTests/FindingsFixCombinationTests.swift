import Findings
import Foundation
import HostCommand
import Logging
import Nix
import XCTest

/// Class 9: every combination of the miniature's fixes applies, and with any two of
/// them every evaluation finding's outcome is what the ledger says.
final class FindingsFixCombinationTests: XCTestCase {
    let logger = Logger(label: "scenarios")

    var harness: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("harness").path
    }

    /// All 1024 subsets, in the order the harness applies them, with `git apply --cached`
    /// on one index (no work tree, no nix): fast enough to try every one.
    func testEverySubsetOfFixesApplies() async throws {
        let home = try HarnessHome.locate()
        let ids = home.availableFixes()
        XCTAssertEqual(ids, Catalog.ids, "a finding without a fix, or a fix without a finding")
        let repo = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("phc-fixsets-\(UUID().uuidString.prefix(8))")
        addTeardownBlock { try? FileManager.default.removeItem(at: repo) }
        try FileManager.default.copyItem(at: home.miniature, to: repo)
        let git = { (args: [String]) in
            HostCommand("git", ["-C", repo.path, "-c", "user.name=t", "-c", "user.email=t@t"] + args)
        }
        try await git(["init", "-q"]).succeed(timeout: 30)
        try await git(["add", "-A"]).succeed(timeout: 30)
        try await git(["commit", "-qm", "broken"]).succeed(timeout: 30)
        var failed: [String] = []
        for mask in 1..<(1 << ids.count) {
            let subset = ids.indices.filter { mask & (1 << $0) != 0 }.map { ids[$0] }
            let plan = try FixPlan(home: home, fixes: subset)
            try await git(["read-tree", "HEAD"]).succeed(timeout: 30)
            let out = try await git(["apply", "--cached"] + plan.patches.map(\.path)).run(timeout: 30)
            if out.status != 0 { failed.append("\(subset.joined(separator: "+")): \(out.stderr.prefix(200))") }
        }
        XCTAssertEqual(failed, [], "fix combinations that do not apply")
    }

    /// Every pair: the copy is prepared, and each evaluation finding is resolved when its
    /// fix is in the pair and reproduced otherwise, as the ledger says.
    func testEveryPairOfFixesDecidesAsTheLedgerSays() async throws {
        let home = try HarnessHome.locate()
        let run = CheckRun(
            nix: try await Nix.locate(logger: logger),
            logger: Logger(
                label: "quiet",
                factory: { _ in
                    SwiftLogNoOpLogHandler()
                }))
        let ids = home.availableFixes()
        let ledger = try Ledger.load(home.defaultLedger)
        // 45 copies: in a cache of this test's own, removed after it.
        let cache = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("phc-pairs-\(UUID().uuidString.prefix(8))")
        addTeardownBlock { try? FileManager.default.removeItem(at: cache) }
        for (i, a) in ids.enumerated() {
            for b in ids[(i + 1)...] {
                let target = try await Target.miniature(home: home, fixes: [b, a], cache: cache)
                XCTAssertEqual(target.fixes, [a, b])
                let report = try await run.run(
                    try CheckRun.select(nil), on: target,
                    ledger: ledger.withResolved([a, b]))
                for result in report.results {
                    let expected: Outcome = [a, b].contains(result.id) ? .resolved : .reproduced
                    XCTAssertEqual(result.outcome, expected, "\(result.id) with fixes \(a)+\(b): \(result.summary)")
                    XCTAssertTrue(result.matches, "\(result.id) with \(a)+\(b) does not match the ledger")
                }
            }
        }
    }

    /// Repeats, case and spaces do not matter; an unknown or empty id is named.
    func testFixListsAreNormalisedAndUnknownIDsNamed() async throws {
        let home = try HarnessHome.locate()
        let once = try await Target.miniature(home: home, fixes: ["F5.1"])
        let repeated = try await Target.miniature(home: home, fixes: ["F5.1", "f5.1", " F5.1 "])
        XCTAssertEqual(repeated.fixes, ["F5.1"])
        XCTAssertEqual(repeated.root, once.root)
        XCTAssertEqual(repeated.name, "miniature + fix F5.1")
        do {
            _ = try await Target.miniature(home: home, fixes: ["F5.1", "F9"])
            XCTFail("accepted F9")
        } catch { XCTAssertTrue("\(error)".contains("unknown finding id `F9`"), "\(error)") }
        do {
            _ = try await Target.miniature(home: home, fixes: ["F5.1", ""])
            XCTFail("accepted an empty id")
        } catch { XCTAssertTrue("\(error)".contains("empty fix id"), "\(error)") }
        XCTAssertEqual(try CheckRun.select(["F7", "f1", "F1"]), ["F1", "F7"])
        XCTAssertThrowsError(try CheckRun.select(["F1", " "])) { XCTAssertTrue("\($0)".contains("empty finding id")) }
        XCTAssertThrowsError(try CheckRun.select(["F1", "F10"])) { XCTAssertTrue("\($0)".contains("`F10`")) }
    }

    /// The combinations the issue reported, through the CLI: each exits 0.
    func testReportedCombinationsThroughTheCLI() async throws {
        for fixes in ["F5.1,F5.1", "F3,F7", "F4.1,F6", "f7,F3"] {
            let out = try await HostCommand(harness, ["check", "--fix", fixes]).run(timeout: 120)
            XCTAssertEqual(out.status, 0, "check --fix \(fixes): \(out.stderr.suffix(600))")
            XCTAssertFalse(out.stderr.contains("patch does not apply"), out.stderr)
        }
    }
}
