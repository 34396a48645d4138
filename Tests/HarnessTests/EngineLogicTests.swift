import HostCommand
import XCTest

@testable import Harness

final class RunIDTests: XCTestCase {
    func testPrefixShapeAndOwnership() throws {
        let id = RunID()
        XCTAssertTrue(id.prefix.hasPrefix("phc-"))
        XCTAssertEqual(id.prefix.count, 12)
        XCTAssertEqual(RunID(owning: id.name("node01")), id)
        XCTAssertEqual(RunID(owning: id.name("net")), id)
        XCTAssertLessThanOrEqual(id.bridgeName.count, 15)
    }

    func testForeignNamesAreNotOwned() {
        XCTAssertNil(RunID(owning: "default"))
        XCTAssertNil(RunID(owning: "phc-zzzzzzzz-node01"))
        XCTAssertNil(RunID(owning: "phc-0011aabb"))
        XCTAssertNil(RunID(owning: "phc-0011aabbX-node01"))
        XCTAssertNil(RunID(prefix: "phc-0011aab"))
    }
}

final class NodeSpecTests: XCTestCase {
    func testFixtureNodes() throws {
        let nodes = try NodeSpec.fixture(count: 6)
        XCTAssertEqual(nodes.map(\.name), ["node01", "node02", "node03", "node04", "node05", "node06"])
        XCTAssertEqual(nodes[0].clusterAddress, "10.66.0.11/24")
        XCTAssertEqual(nodes[5].mac, "52:54:00:66:00:10")
        XCTAssertEqual(Set(nodes.map(\.mac)).count, 6)
        for n in nodes { XCTAssertNoThrow(try n.validate()) }
    }

    func testNodeCountOutOfRangeIsBadInput() {
        for n in [0, 7, -1] {
            XCTAssertThrowsError(try NodeSpec.fixture(count: n)) { error in
                let e = error as? HarnessError
                XCTAssertEqual(e?.code, .badInput)
                XCTAssertEqual(e?.exitCode, 2)
                XCTAssertTrue(e?.message.contains("out of range") ?? false)
            }
        }
    }

    func testValidationNamesTheBadField() {
        let good = NodeSpec(name: "node01", memoryMiB: 384, clusterAddress: "10.66.0.11/24", mac: "52:54:00:66:00:0b")
        var bad = good; bad.name = "Node 1"
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("node name")) }
        bad = good; bad.clusterAddress = "10.66.0.300/24"
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("cluster address")) }
        bad = good; bad.mac = "52:54:00:66:00"
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("MAC")) }
        bad = good; bad.memoryMiB = 10
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("memory")) }
    }

    func testManagementMACDiffersFromClusterMAC() {
        XCTAssertEqual(FixtureImage.managementMAC(for: "52:54:00:66:00:0b"), "52:55:00:66:00:0b")
    }
}

final class ConsoleLogTests: XCTestCase {
    func write(_ text: String) throws -> ConsoleLog {
        let path = NSTemporaryDirectory() + "console-\(UUID().uuidString).log"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return ConsoleLog(path: path)
    }

    func testHostKeyIsTheLastPrintedOneAndCRLFSplits() throws {
        let log = try write(
            "\u{1b}[2Jboot\r\nphc-hostkey: ssh-ed25519 AAAAold\r\nphc-init: x\r\nphc-hostkey: ssh-ed25519 AAAAnew comment\r\nphc-init: sysinit done\r\n"
        )
        XCTAssertEqual(log.pinnedHostKey(), "ssh-ed25519 AAAAnew")
    }

    /// Seen in a CI run: the console was read while the guest was printing the key,
    /// and the harness pinned a truncated key.
    func testAKeyStillBeingPrintedIsNotPinned() throws {
        XCTAssertNil(
            try write("phc-init: x\r\nphc-hostkey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHU2i7psA7Fmfaag7RP")
                .pinnedHostKey())
        XCTAssertEqual(
            try write("phc-hostkey: ssh-ed25519 AAAAold\r\nphc-hostkey: ssh-ed25519 AAAAne").pinnedHostKey(),
            "ssh-ed25519 AAAAold")
    }

    func testNoHostKeyYet() throws {
        XCTAssertNil(try write("SeaBIOS\r\nBooting from ROM...\r\n").pinnedHostKey())
        XCTAssertNil(ConsoleLog(path: "/nonexistent/console.log").pinnedHostKey())
    }

    func testPanicCountsOnlyAfterThisBoot() throws {
        let log = try write("Kernel panic - not syncing: VFS: Unable to mount root fs\r\n")
        let offset = log.size()
        XCTAssertTrue(log.panicked(after: 0))
        XCTAssertFalse(log.panicked(after: offset), "an earlier boot's panic is not this boot's")
    }

    func testTailStripsEscapesAndKeepsLastLines() throws {
        let log = try write((1...30).map { "\u{1b}[0mline \($0)\r" }.joined(separator: "\n"))
        let tail = log.tail(3)
        XCTAssertEqual(tail, ["line 28", "line 29", "line 30"])
    }
}

final class StateDirectoryTests: XCTestCase {
    func testOldestReportsArePruned() throws {
        let state = StateDirectory(root: URL(fileURLWithPath: NSTemporaryDirectory() + "state-\(UUID().uuidString)"))
        addTeardownBlock { try? FileManager.default.removeItem(at: state.root) }
        for i in 1...5 {
            let dir = state.reports.appendingPathComponent("r\(i)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try FileManager.default.setAttributes(
                [.modificationDate: Date(timeIntervalSinceNow: Double(i * 60 - 3600))], ofItemAtPath: dir.path)
        }
        let new = state.newReportDirectory("run", keep: 3)
        XCTAssertTrue(new.lastPathComponent.hasSuffix("-run"))
        let left = try FileManager.default.contentsOfDirectory(atPath: state.reports.path).sorted()
        XCTAssertEqual(left, ["r4", "r5"], "room for the new one among the newest three")
    }
}

final class HostCommandTests: XCTestCase {
    func testTimeoutKillsAndNamesTheCommand() async throws {
        let start = Date()
        do {
            _ = try await HostCommand("sleep", ["30"]).run(timeout: 0.5)
            XCTFail("sleep 30 finished within 0.5 s")
        } catch let error as HostCommandError {
            XCTAssertEqual(error.kind, .timeout)
            XCTAssertTrue(error.message.contains("sleep 30"))
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    func testMissingExecutableIsAnEnvironmentError() async {
        do {
            _ = try await HostCommand("no-such-tool-xyz", []).run(timeout: 5)
            XCTFail("ran a missing tool")
        } catch let error as HostCommandError {
            XCTAssertEqual(error.kind, .notInstalled)
            XCTAssertTrue(error.message.contains("no-such-tool-xyz"))
        } catch { XCTFail("\(error)") }
    }

    func testCapturesOutputAndStatus() async throws {
        let out = try await HostCommand("sh", ["-c", "echo out; echo err >&2; exit 3"]).run(timeout: 10)
        XCTAssertEqual(out.status, 3)
        XCTAssertEqual(out.stdout, "out\n")
        XCTAssertEqual(out.stderr, "err\n")
    }
}
