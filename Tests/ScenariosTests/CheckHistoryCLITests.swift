import Foundation
import HostCommand
import Linearizability
import Runtime
import XCTest

/// `harness check-history` as a user runs it: exit 0 valid, 1 not linearizable, 2
/// could not decide; `--json` always prints JSON; the picture lands beside the file.
final class CheckHistoryCLITests: XCTestCase {
    var harness: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("harness").path
    }

    func cli(_ args: [String]) async throws -> HostCommand.Output {
        try await HostCommand(harness, ["check-history"] + args).run(timeout: 120)
    }

    func file(_ name: String, _ text: String) throws -> URL {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "phc-ch-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func json(_ out: HostCommand.Output) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8))
        return try XCTUnwrap(object as? [String: Any], out.stdout)
    }

    static let stale = """
        {:process 0, :type :invoke, :f :write, :value 1}
        {:process 0, :type :ok, :f :write, :value 1}
        {:process 0, :type :invoke, :f :write, :value 2}
        {:process 0, :type :ok, :f :write, :value 2}
        {:process 1, :type :invoke, :f :read, :value nil}
        {:process 1, :type :ok, :f :read, :value 1}

        """

    func testAValidHistoryExitsZero() async throws {
        let h = HistorySimulator(model: .casRegister, processes: 5, keys: 3, operations: 300, seed: 11).history()
        let url = try file("history.edn", h.edn())
        let out = try await cli([url.path])
        XCTAssertEqual(out.status, 0, out.stderr)
        XCTAssertTrue(out.stdout.hasPrefix("linearizable: 300 operation(s) on 3 key(s), cas-register"), out.stdout)
        let j = try json(try await cli([url.path, "--json", "--model", "cas-register"]))
        XCTAssertEqual(j["valid"] as? Bool, true)
        XCTAssertEqual(j["operations"] as? Int, 300)
        XCTAssertEqual(j["keys"] as? Int, 3)
    }

    func testAStaleReadExitsOneWithTheAnomalyAndItsPicture() async throws {
        let url = try file("history.edn", Self.stale)
        let out = try await cli([url.path])
        XCTAssertEqual(out.status, 1)
        XCTAssertTrue(out.stdout.contains("read() → 1 by process 1 (lines 5–6) cannot take effect"), out.stdout)
        let picture = url.deletingLastPathComponent().appendingPathComponent("history.linear.svg")
        XCTAssertTrue(FileManager.default.fileExists(atPath: picture.path))
        let j = try json(try await cli([url.path, "--json"]))
        XCTAssertEqual(j["valid"] as? Bool, false)
        XCTAssertEqual(j["model"] as? String, "cas-register")
        let anomaly = try XCTUnwrap(j["anomaly"] as? [String: Any])
        XCTAssertEqual(anomaly["statesBefore"] as? [String], ["2"])
        XCTAssertEqual(anomaly["picture"] as? String, picture.path)
    }

    func testBadInputExitsTwoNamingTheLine() async throws {
        let url = try file("bad.edn", Self.stale + "{:process 2, :type :invoke, :f :read, :value nil\n")
        let out = try await cli([url.path])
        XCTAssertEqual(out.status, 2)
        XCTAssertTrue(out.stderr.contains("line 7"), out.stderr)
        XCTAssertTrue(out.stderr.contains("truncated"), out.stderr)
        let j = try json(try await cli([url.path, "--json"]))
        XCTAssertEqual(j["exitCode"] as? Int, 2)
        XCTAssertTrue((j["error"] as? String ?? "").contains("line 7"))

        let mixed = try file(
            "mixed.edn",
            "{:process 0, :type :invoke, :f :append, :value \"a\"}\n"
                + "{:process 1, :type :invoke, :f :cas, :value [1 2]}\n")
        let m = try await cli([mixed.path])
        XCTAssertEqual(m.status, 2)
        XCTAssertTrue(m.stderr.contains("pass --model cas-register or --model kv"), m.stderr)

        let wrong = try await cli([url.path, "--model", "kv"])
        XCTAssertEqual(wrong.status, 2)
        let missing = try await cli(["/nonexistent/history.edn", "--json"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertNotNil(try? json(missing))
        let limit = try await cli([url.path, "--time-limit", "nan"])
        XCTAssertEqual(limit.status, 2)
        XCTAssertTrue(limit.stderr.contains("--time-limit"), limit.stderr)
    }

    func testAFailoverHistoryStillGetsTheFailoverChecks() async throws {
        let empty = String(decoding: try JSONEncoder().encode(FailoverHistory()), as: UTF8.self)
        let url = try file("history-failover-destroy.json", empty)
        let out = try await cli([url.path])
        XCTAssertEqual(out.status, 1, "no fault was injected: the check fails")
        XCTAssertTrue(out.stdout.contains("FAIL fault took effect: no fault was injected"), out.stdout)
        let bad = try await cli([url.path, "--election-bound-factor", "-5"])
        XCTAssertEqual(bad.status, 2)
    }
}
