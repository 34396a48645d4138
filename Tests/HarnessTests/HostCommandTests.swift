import Dispatch
import Foundation
import HostCommand
import XCTest

/// Children in their own process group, with a clean signal mask, and nothing of theirs
/// left behind (issue 10, class 1). EngineLogicTests.swift holds `HostCommandTests`; the
/// name keeps `--filter HostCommandTests` matching both.
final class ProcessGroupHostCommandTests: XCTestCase {
    /// grep's own signal state; not through sh, which clears its mask at start-up.
    static let signalLines = ["-E", "^Sig(Blk|Ign):", "/proc/self/status"]

    func testChildHasAnEmptySignalMaskAndDoesNotIgnoreSIGTERM() async throws {
        // The CLI ignores SIGTERM (runCancellable); a child must not inherit that.
        let previous = signal(SIGTERM, SIG_IGN)
        defer { signal(SIGTERM, previous) }
        let out = try await HostCommand("grep", Self.signalLines).run(timeout: 10)
        XCTAssertEqual(out.status, 0, out.stderr)
        try assertCleanSignals(out.stdout)
    }

    func testMaskIsEmptyWhenSpawnedFromAThreadThatBlocksEverything() async throws {
        let file = temporaryPath("status")
        let child = try await onBlockingThread { () throws -> ChildProcess in
            var all = sigset_t(), previous = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_BLOCK, &all, &previous)
            defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
            return try ChildProcess.spawn(
                try XCTUnwrap(HostCommand.resolve("grep")), Self.signalLines,
                stdout: .file(file))
        }
        let exited = await child.waitForExit(within: 10)
        XCTAssertTrue(exited)
        let status = await child.terminateGroup()
        XCTAssertEqual(status, 0)
        try assertCleanSignals(String(contentsOfFile: file, encoding: .utf8))
    }

    /// The hang: a wrapper that backgrounds a child keeping stdout open, then exits 0.
    func testGrandchildHoldingStdoutDoesNotHoldRunAndIsEnded() async throws {
        let start = ContinuousClock.now
        let out = try await HostCommand("sh", ["-c", "sleep 600 & echo $$ $!"]).run(timeout: 30)
        XCTAssertLessThan((ContinuousClock.now - start).seconds, 10, "run waited for the grandchild's EOF")
        XCTAssertEqual(out.status, 0)
        let pids = out.stdout.split(separator: " ").compactMap(pid)
        XCTAssertEqual(pids.count, 2, out.stdout)
        guard pids.count == 2 else { return }
        XCTAssertEqual(survivors(ofGroup: pids[0]), [], "the command's group outlived run")
        XCTAssertFalse(isLive(pids[1]), "sleep 600 outlived run")
    }

    func testTimeoutEscalatesToSIGKILLForAGroupThatIgnoresSIGTERM() async throws {
        let file = temporaryPath("pgid")
        let start = ContinuousClock.now
        do {
            // `echo done` keeps sh from exec'ing sleep: two processes, both ignoring SIGTERM.
            let script = "trap '' TERM; echo $$ > \(file); sleep 600; echo done"
            _ = try await HostCommand("sh", ["-c", script]).run(timeout: 1)
            XCTFail("sleep 600 finished within 1 s")
        } catch let error as HostCommandError {
            XCTAssertEqual(error.kind, .timeout)
            XCTAssertTrue(error.message.contains("sleep 600"), error.message)
        }
        let elapsed = (ContinuousClock.now - start).seconds
        XCTAssertLessThan(elapsed, 8)
        XCTAssertGreaterThan(elapsed, 2.5, "SIGTERM was ignored: only SIGKILL after the grace can have ended it")
        let pgid = try XCTUnwrap(pid(String(contentsOfFile: file, encoding: .utf8)))
        XCTAssertEqual(survivors(ofGroup: pgid), [])
    }

    func testCancellationEndsTheChildPromptly() async throws {
        let file = temporaryPath("pid")
        let task = Task { try await HostCommand("sh", ["-c", "echo $$ > \(file); exec sleep 600"]).run(timeout: 600) }
        var started: pid_t?
        for _ in 0..<100 where started == nil {
            try await Task.sleep(for: .milliseconds(100))
            started = (try? String(contentsOfFile: file, encoding: .utf8)).flatMap(pid)
        }
        let child = try XCTUnwrap(started, "the command never started")
        let start = ContinuousClock.now
        task.cancel()
        do {
            _ = try await task.value
            XCTFail("a cancelled run returned")
        } catch is CancellationError {
        } catch { XCTFail("expected CancellationError, got \(error)") }
        // Under the 2 s grace: sleep obeyed SIGTERM, so its mask and handlers were clean.
        XCTAssertLessThan((ContinuousClock.now - start).seconds, 1.9)
        XCTAssertEqual(survivors(ofGroup: child), [])
    }

    /// A `nix` first in PATH that is a wrapper forking a child that keeps stdout open: the
    /// call `Nix.locate` makes (resolve, then `--version` with a 20 s bound) comes back.
    func testFakeNixWrapperFirstInPATHReturns() async throws {
        let dir = temporaryPath("bin")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let script = "#!/bin/sh\nsleep 600 &\necho $$ > \(dir)/pgid\necho 'nix (Nix) 2.18.1'\n"
        try script.write(toFile: "\(dir)/nix", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: "\(dir)/nix")
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        setenv("PATH", "\(dir):\(path)", 1)
        defer { setenv("PATH", path, 1) }

        let nix = try XCTUnwrap(HostCommand.resolve("nix"))
        XCTAssertEqual(nix, "\(dir)/nix")
        let start = ContinuousClock.now
        let out = try await HostCommand(nix, ["--version"]).run(timeout: 20)
        XCTAssertLessThan((ContinuousClock.now - start).seconds, 10)
        XCTAssertEqual(out.stdout, "nix (Nix) 2.18.1\n")
        let pgid = try XCTUnwrap(pid(String(contentsOfFile: "\(dir)/pgid", encoding: .utf8)))
        XCTAssertEqual(survivors(ofGroup: pgid), [])
    }

    func testStdinEnvironmentAndDirectory() async throws {
        let echoed = try await HostCommand("cat", []).run(timeout: 10, stdin: Data("hello\n".utf8))
        XCTAssertEqual(echoed.stdout, "hello\n")
        // A child that never reads 4 MiB of stdin: no SIGPIPE for the harness, no stall.
        let ignored = try await HostCommand("true", []).run(timeout: 10, stdin: Data(count: 4 << 20))
        XCTAssertEqual(ignored.status, 0)
        let out = try await HostCommand(
            "/bin/sh", ["-c", "pwd; echo \"$PHC_TEST\""], environment: ["PHC_TEST": "a b"],
            currentDirectory: URL(fileURLWithPath: "/tmp")
        ).run(timeout: 10)
        XCTAssertEqual(out.stdout, "/tmp\na b\n")
    }

    func testSignalStatusAndUnusableDirectory() async throws {
        let killed = try await HostCommand("sh", ["-c", "kill -9 $$"]).run(timeout: 10)
        XCTAssertEqual(killed.status, SIGKILL, "like Foundation: the signal's number")
        do {
            let nowhere = URL(fileURLWithPath: "/no/such/dir")
            _ = try await HostCommand("true", [], currentDirectory: nowhere).run(timeout: 10)
            XCTFail("started in a missing directory")
        } catch let error as HostCommandError {
            XCTAssertEqual(error.kind, .cannotStart)
            XCTAssertTrue(error.message.contains("No such file or directory"), error.message)
        }
    }

    // MARK: - Helpers

    private func assertCleanSignals(_ status: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var masks: [String: UInt64] = [:]
        for row in status.split(separator: "\n") {
            let parts = row.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { masks[parts[0]] = UInt64(parts[1], radix: 16) }
        }
        XCTAssertEqual(masks["SigBlk"], 0, "blocked signals in the child: \(status)", file: file, line: line)
        let ignored = try XCTUnwrap(masks["SigIgn"], status, file: file, line: line)
        XCTAssertEqual(
            ignored & (1 << UInt64(SIGTERM - 1)), 0, "the child ignores SIGTERM: \(status)",
            file: file, line: line)
    }

    private func pid(_ text: some StringProtocol) -> pid_t? {
        pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func temporaryPath(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "phc-hostcommand-\(UUID().uuidString)-\(name)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// Processes of group `pgid` that are not zombies (PID 1 here may never reap orphans),
    /// read from /proc independently of the code under test.
    private func survivors(ofGroup pgid: pid_t) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.compactMap { entry in
            guard let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[2] == "\(pgid)", fields[0] != "Z" else { return nil }
            return stat
        }
    }

    private func isLive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    private func onBlockingThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }
}
