import Findings
import Foundation
import HostCommand
import XCTest

/// Bad input to the CLI, through the real `harness` binary: exit 2 with a message that
/// says what to do, valid JSON on stdout with `--json`, 255 when SSH cannot connect.
/// Nothing here boots a VM: every case fails on validation before libvirt.
final class CLIInputTests: XCTestCase {
    var harness: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("harness").path
    }

    /// The harness with the test's environment, less PHOTONCLOUD_REPO, plus `environment`.
    func cli(_ args: [String], environment: [String: String] = [:]) async throws -> HostCommand.Output {
        var env = ProcessInfo.processInfo.environment
        env["PHOTONCLOUD_REPO"] = nil
        env.merge(environment) { $1 }
        return try await HostCommand(harness, args, environment: env).run(timeout: 120)
    }

    func temporaryDirectory() throws -> URL {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("phc-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    /// Exit 2 and every `fragment` in stderr.
    func assertBadInput(
        _ args: [String], environment: [String: String] = [:], _ fragments: String...,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let out = try await cli(args, environment: environment)
        XCTAssertEqual(out.status, 2, "harness \(args): \(out.stderr)", file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(
                out.stderr.contains(fragment), "harness \(args): no `\(fragment)` in \(out.stderr)",
                file: file, line: line)
        }
    }

    // Class 6: ArgumentParser's usage errors are bad input, 2 (not its 64); help stays 0.
    func testParserErrorsExitTwo() async throws {
        try await assertBadInput(["frobnicate"], "Unexpected argument 'frobnicate'")
        try await assertBadInput(["run", "all", "--fault", "bogus"], "'destroy', 'suspend' or 'link-down'")
        try await assertBadInput(["up", "--nodes", "abc"], "'abc' is invalid for '--nodes")
        try await assertBadInput(["run", "nosuch"], "unknown scenario `nosuch`")
        for args in [["--help"], ["check", "--help"], []] {
            let out = try await cli(args)
            XCTAssertEqual(out.status, 0, "harness \(args): \(out.stderr)")
            XCTAssertTrue(out.stdout.contains("USAGE"), out.stdout)
        }
    }

    // Class 6: a negative count is a number out of range, not a missing value.
    func testNegativeNumbersAreRangeErrors() async throws {
        try await assertBadInput(["up", "--nodes", "-1"], "--nodes -1 is out of range", "give 1 to 6")
        try await assertBadInput(["bench", "boot", "--nodes", "-1"], "--nodes -1 is out of range")
        try await assertBadInput(["bench", "boot", "--repetitions", "-2"], "--repetitions -2", "1 to 20")
        try await assertBadInput(["bench", "eval", "--repetitions", "-2"], "--repetitions -2", "1 to 100")
    }

    // Class 3: --nixpkgs-lib must be a lib flake; anything else used to become verdicts.
    func testNixpkgsLibIsValidated() async throws {
        let dir = try temporaryDirectory()
        let missing = dir.appendingPathComponent("missing").path
        try await assertBadInput(
            ["repro", "F1", "--fix", "F1", "--nixpkgs-lib", missing],
            "--nixpkgs-lib \(missing): no such directory", "nixpkgs.lib")
        try await assertBadInput(["check", "--nixpkgs-lib", missing], "--nixpkgs-lib \(missing): no such directory")
        try await assertBadInput(["check", "--nixpkgs-lib", dir.path], "--nixpkgs-lib \(dir.path) has no flake.nix")
        try await assertBadInput(["check", "--nixpkgs-lib", ""], "--nixpkgs-lib is empty")
        // A flake, but without the module system in its lib.
        try "{ outputs = { self }: { lib = { }; }; }\n".write(
            to: dir.appendingPathComponent("flake.nix"),
            atomically: true, encoding: .utf8)
        try await assertBadInput(
            ["check", "--only", "F1", "--nixpkgs-lib", dir.path],
            "--nixpkgs-lib \(dir.path) is not a nixpkgs lib flake")
        // The stand-in's own lib is one.
        let lib = try HarnessHome.locate().nixpkgsStandIn.appendingPathComponent("lib")
        let ok = try await cli(["check", "--only", "F1", "--nixpkgs-lib", lib.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
    }

    // Classes 9 and 10: empty values rejected; ids in any case, each once, in every command.
    func testEmptyValuesAndIDLists() async throws {
        try await assertBadInput(["check", "--only", ""], "--only '' names no finding")
        try await assertBadInput(["check", "--fix", ","], "--fix ',' names no finding")
        try await assertBadInput(["check", "--fix", "F5.1,,F5.2"], "has an empty id")
        try await assertBadInput(["check", "--repo", ""], "--repo is empty", "built-in miniature")
        try await assertBadInput(["check", "--ledger", ""], "--ledger is empty")
        try await assertBadInput(["run", "all", "--fix", ""], "--fix '' names no finding")
        // Lower case is accepted by run --fix as everywhere: only the unknown id is named.
        let out = try await cli(["run", "all", "--fix", "f5.1,f5.2,F9"])
        XCTAssertEqual(out.status, 2)
        XCTAssertTrue(out.stderr.contains("unknown finding id `F9`"), out.stderr)
        XCTAssertFalse(out.stderr.contains("f5.1"), out.stderr)
        let once = try await cli(["check", "--only", "f7,F7", "--fix", "f7,F7", "--json"])
        XCTAssertEqual(once.status, 0, once.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(once.stdout.utf8)) as? [String: Any])
        let results = try XCTUnwrap(report["results"] as? [[String: Any]])
        XCTAssertEqual(results.map { $0["id"] as? String }, ["F7"])
        XCTAssertEqual(results.first?["outcome"] as? String, "resolved")
    }

    // Class 10: options that would be ignored are rejected, and say what to do.
    func testOptionsThatWouldBeIgnored() async throws {
        try await assertBadInput(["up", "--repo", "/tmp", "--nodes", "1"], "--repo chooses", "add --nixos")
        try await assertBadInput(
            ["up", "--fix", "F5.1", "--nixpkgs-lib", "/x"],
            "--fix, --nixpkgs-lib choose", "add --nixos")
        try await assertBadInput(["bench", "boot", "--fix", "F5.1"], "`bench boot --nixos`")
        try await assertBadInput(["plan", "--ledger", "/x"], "--ledger")
        try await assertBadInput(["repro", "F1", "--keep"], "decided from the definitions")
        try await assertBadInput(["check", "--repo", "/tmp", "--fix", "F1"], "miniature only")
        try await assertBadInput(
            ["run", "failover", "--workload", "set", "--seed", "3"],
            "--workload, --seed apply to workload phases", "the scenario failover has none")
        try await assertBadInput(["run", "workload", "--concurrency", "0"], "--concurrency must be 1 to 1000")
        try await assertBadInput(["run", "workload", "--duration", "nan"], "--duration must be more than 0")
        try await assertBadInput(
            ["run", "workload", "--nemesis", "kill-leader,chaos"], "unknown fault `chaos` in --nemesis",
            "isolate-leader", "power-loss-all")
        try await assertBadInput(["run", "workload", "--schedule", "often"], "'once' and 'random'")
        try await assertBadInput(
            ["run", "workload", "--client", "/nonexistent"], "no such executable", "client-contract")
        try await assertBadInput(["run", "join", "--schedule", "random"], "--schedule apply to workload phases")
        try await assertBadInput(["run", "workload", "--fault", "suspend"], "--fault applies to failover steps")
        try await assertBadInput(["run", "workload", "--store-on-tmpfs", "--nixos"], "fixture guests", "drop --nixos")
        // Runtime repro honours --ledger and --nixpkgs-lib: bad ones stop it before anything boots.
        let dir = try temporaryDirectory()
        let ledger = dir.appendingPathComponent("none.json").path
        try await assertBadInput(["repro", "F4.2", "--ledger", ledger], "no ledger")
        try await assertBadInput(["repro", "F4.2", "--nixpkgs-lib", dir.path], "has no flake.nix")
    }

    // Class 10: a bad PHOTONCLOUD_REPO is blamed on the variable, not on --repo.
    func testPhotonCloudRepoIsNamed() async throws {
        let dir = try temporaryDirectory()
        let missing = dir.appendingPathComponent("missing").path
        try await assertBadInput(
            ["check"], environment: ["PHOTONCLOUD_REPO": missing],
            "PHOTONCLOUD_REPO=\(missing): no such directory", "unset it")
        try await assertBadInput(
            ["plan"], environment: ["PHOTONCLOUD_REPO": dir.path],
            "PHOTONCLOUD_REPO=\(dir.path) is not a PhotonCloud checkout")
        let out = try await cli(["check"], environment: ["PHOTONCLOUD_REPO": missing])
        XCTAssertFalse(out.stderr.contains("--repo"), out.stderr)
    }

    /// `harness scenarios` lists the files of Scenarios/; a file that does not parse is bad
    /// input naming its line.
    func testScenarioFiles() async throws {
        let listed = try await cli(["scenarios", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let entries = try XCTUnwrap(
            try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]], listed.stdout)
        let names = entries.compactMap { $0["name"] as? String }
        XCTAssertTrue(
            Set(names).isSuperset(of: ["bootstrap", "join", "failover", "workload", "stale-reads"]), "\(names)")
        XCTAssertTrue(entries.allSatisfy { !($0["summary"] as? String ?? "").isEmpty }, listed.stdout)
        let bad = try temporaryDirectory().appendingPathComponent("bad.scenario")
        try "# A bad one.\nbootstrap\nfailover unplug\n".write(to: bad, atomically: true, encoding: .utf8)
        try await assertBadInput(["run", bad.path], "bad.scenario:3: `failover` takes one fault")
    }

    // Class 7: every --json command prints one JSON object on every error path.
    func testJSONOnErrorPaths() async throws {
        let cases: [[String]] = [
            ["list", "--json", "--ledger", "/nonexistent"],
            ["check", "--json", "--only", "F9"],
            ["check", "--json", "--repo", "/nonexistent"],
            ["check", "--json", "--nixpkgs-lib", "/nonexistent"],
            ["repro", "F9", "--json"],
            ["repro", "F1", "--json", "--nixpkgs-lib", "/nonexistent"],
            ["repro", "F4.2", "--json", "--ledger", "/nonexistent"],
            ["plan", "--json", "--repo", "/nonexistent"],
            ["plan", "--json", "--bogus"],
            ["run", "nosuch", "--json"],
            ["run", "all", "--json", "--fault", "bogus"],
            ["run", "all", "--json", "--fix", ""],
            ["bench", "boot", "--json", "--nodes", "9"],
            ["bench", "eval", "--json", "--repetitions", "0"],
        ]
        for args in cases {
            let out = try await cli(args)
            XCTAssertEqual(out.status, 2, "harness \(args): \(out.stderr)")
            let object = try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
            XCTAssertNotNil(object, "harness \(args) printed no JSON object: \(out.stdout)")
            XCTAssertFalse((object?["error"] as? String ?? "").isEmpty, "harness \(args): \(out.stdout)")
            XCTAssertEqual(object?["exitCode"] as? Int, 2, "harness \(args): \(out.stdout)")
        }
        // check-history keeps its own shape, with an error too.
        let history = try await cli(["check-history", "--json", "/nonexistent"])
        XCTAssertEqual(history.status, 2)
        let object = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [String: Any]
        XCTAssertNotNil(object?["error"] as? String, history.stdout)
    }

    // Class 6: SSH that cannot connect exits 255 with a message, a shell included.
    func testSSHToADeadNode() async throws {
        let state = try temporaryDirectory()
        let run = state.appendingPathComponent("runs/phc-0dead0ff")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let key = run.appendingPathComponent("id_ed25519").path
        let keygen = try await HostCommand("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]).run(timeout: 30)
        XCTAssertEqual(keygen.status, 0, keygen.stderr)
        try Data().write(to: run.appendingPathComponent("kept"))
        // Port 9 (discard) has no SSH server: the connection is refused, or fails at the key exchange.
        let nodes =
            #"[{"name": "node01", "domain": "phc-0dead0ff-node01", "sshPort": 9, "#
            + #""hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB9Yz4ZqLJ0gJ5c1E8m8H0m9z1qYk2v3t0mYh8aRr1oQ", "#
            + #""clusterAddress": "10.66.0.11", "console": "/dev/null"}]"#
        try nodes.write(to: run.appendingPathComponent("nodes.json"), atomically: true, encoding: .utf8)
        let environment = ["PHOTONCLOUD_HARNESS_STATE": state.path]
        var out = try await cli(["ssh", "node01", "--", "true"], environment: environment)
        XCTAssertEqual(out.status, 255, out.stderr)
        XCTAssertTrue(out.stderr.contains("node01 of run phc-0dead0ff: SSH failed"), out.stderr)
        out = try await cli(["ssh", "node01"], environment: environment)
        XCTAssertEqual(out.status, 255, out.stderr)
        XCTAssertTrue(out.stderr.contains("does not answer over SSH"), out.stderr)
        // Bad input is still 2.
        try await assertBadInput(["ssh", "node07", "--", "true"], environment: environment, "unknown node `node07`")
    }
}
