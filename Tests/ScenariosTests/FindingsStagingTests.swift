import Findings
import Foundation
import Glibc
import HostCommand
import XCTest

/// Class 11: an interrupted preparation of the miniature leaves nothing behind, or
/// leaves what the next run removes; class 8: a TMPDIR that is a file or full is named,
/// with what failed and what to do.
final class FindingsStagingTests: XCTestCase {
    var harness: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("harness").path
    }

    func temporaryDirectory() throws -> URL {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("phc-staging-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func entries(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    /// Cancelled (SIGINT through the CLI's cancellation) while preparing: the staging
    /// copy is removed and the cancellation comes through as such.
    func testCancelledPreparationLeavesNoStagingCopy() async throws {
        let home = try HarnessHome.locate()
        let cache = try temporaryDirectory().appendingPathComponent("photoncloud-harness-miniature")
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await Target.miniature(home: home, fixes: ["F1"], cache: cache)
        }
        do {
            _ = try await task.value
            XCTFail("a cancelled preparation finished")
        } catch is CancellationError {
        } catch { XCTFail("not a cancellation: \(error)") }
        XCTAssertEqual(entries(cache), [], "left in the cache")
    }

    /// A staging copy whose maker died (its lock is free) is removed by the next run; one
    /// whose maker lives (locked) and anything not provably ours are left.
    func testNextRunRemovesOnlyStagingCopiesWhoseMakerIsGone() async throws {
        let home = try HarnessHome.locate()
        let cache = try temporaryDirectory().appendingPathComponent("photoncloud-harness-miniature")
        let dead = cache.appendingPathComponent(".staging-0123456789abcdef-DEAD0001")
        let live = cache.appendingPathComponent(".staging-0123456789abcdef-LIVE0001")
        let older = cache.appendingPathComponent(".0123456789abcdef-0LD00001")
        for dir in [dead, live, older] {
            try FileManager.default.createDirectory(
                at: dir.appendingPathComponent("photoncloud/nix"),
                withIntermediateDirectories: true)
        }
        let lock = open(live.path, O_RDONLY | O_DIRECTORY)
        XCTAssertEqual(flock(lock, LOCK_EX), 0)
        defer { close(lock) }
        _ = try await Target.miniature(home: home, fixes: ["F2"], cache: cache)
        let left = entries(cache)
        XCTAssertFalse(left.contains(dead.lastPathComponent), "\(left)")
        XCTAssertTrue(left.contains(live.lastPathComponent), "\(left)")
        XCTAssertTrue(left.contains(older.lastPathComponent), "\(left)")
    }

    /// Through the CLI: `check` killed by SIGINT while it prepares a copy; the next
    /// `check` removes whatever it left and decides as usual.
    func testInterruptedCheckIsClearedByTheNextRun() async throws {
        let tmp = try temporaryDirectory()
        let cache = tmp.appendingPathComponent("photoncloud-harness-miniature")
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = tmp.path
        environment["PHOTONCLOUD_HARNESS_HOME"] = try HarnessHome.locate().root.path
        var interrupted = false
        // The copy takes a few hundred ms: catch it while the staging directory exists.
        for _ in 0..<5 where !interrupted {
            try? FileManager.default.removeItem(at: cache)
            let child = try ChildProcess.spawn(harness, ["check", "--fix", "F1,F2,F3,F5.2"], environment: environment)
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline, !child.hasExited {
                if entries(cache).contains(where: { $0.hasPrefix(".staging-") && !$0.hasSuffix(".new") }) {
                    kill(child.pid, SIGINT)
                    interrupted = true
                    break
                }
                try await Task.sleep(for: .milliseconds(2))
            }
            await child.terminateGroup()
        }
        try XCTSkipUnless(interrupted, "never caught the staging directory")
        let again = try await HostCommand(harness, ["check", "--fix", "F1,F2,F3,F5.2"], environment: environment)
            .run(timeout: 120)
        XCTAssertEqual(again.status, 0, again.stderr.suffix(500).description)
        XCTAssertEqual(entries(cache).filter { $0.hasPrefix(".") }, [], "left in \(cache.path)")
    }

    /// TMPDIR is a file: named, with what to do; no Foundation error codes.
    func testTMPDIRThatIsAFile() async throws {
        let file = try temporaryDirectory().appendingPathComponent("not-a-dir")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = file.path
        let out = try await HostCommand(harness, ["check", "--fix", "F1"], environment: environment).run(timeout: 120)
        XCTAssertEqual(out.status, 2, out.stderr)
        XCTAssertTrue(out.stderr.contains("TMPDIR (\(file.path)) is a file, not a directory"), out.stderr)
        XCTAssertTrue(out.stderr.contains("set TMPDIR to a writable directory"), out.stderr)
        XCTAssertFalse(out.stderr.contains("NSCocoaErrorDomain"), out.stderr)
    }

    /// TMPDIR on a full file system: which file could not be written, why, what to do,
    /// and nothing half-made left behind.
    func testFullTMPDIR() async throws {
        let mountPoint = try temporaryDirectory()
        let mounted = try await HostCommand("mount", ["-t", "tmpfs", "-o", "size=48k", "tmpfs", mountPoint.path])
            .run(timeout: 30)
        try XCTSkipUnless(mounted.status == 0, "cannot mount a small tmpfs here: \(mounted.stderr)")
        let cache = mountPoint.appendingPathComponent("photoncloud-harness-miniature")
        do {
            _ = try await Target.miniature(home: try HarnessHome.locate(), fixes: ["F1"], cache: cache)
            XCTFail("prepared a copy on a 48 kB file system")
        } catch {
            let message = "\(error)"
            XCTAssertTrue(message.contains("No space left on device"), message)
            XCTAssertTrue(message.contains(mountPoint.path), message)
            XCTAssertTrue(message.contains("free space there, or set TMPDIR"), message)
            XCTAssertFalse(message.contains("NSCocoaErrorDomain"), message)
        }
        XCTAssertEqual(entries(cache), [], "left on the full file system")
        _ = try await HostCommand("umount", ["-l", mountPoint.path]).run(timeout: 30)
    }
}
