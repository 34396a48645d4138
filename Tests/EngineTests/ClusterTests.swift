import Foundation
import HostCommand
import Libvirt
import Logging
import SSH
import XCTest

@testable import Harness

/// Against the real libvirtd, QEMU and libssh. Fails, never skips, when the host is
/// not set up: run `Images/setup.sh` first.
final class ClusterTests: XCTestCase {
    let logger = Logger(label: "engine-tests")

    func virshNames(_ args: String...) async throws -> [String] {
        let out = try await HostCommand("virsh", ["-c", "qemu:///system"] + args).succeed(timeout: 30)
        return out.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Starts `harness up --nodes N` and returns once libvirt has its first new domain.
    func startHarnessUp(nodes: Int) async throws -> (Process, [String]) {
        // The harness CLI is built beside the test binary (this target depends on it).
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("harness")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: binary.path), "no harness binary at \(binary.path)")
        let before = Set(try await virshNames("list", "--all", "--name"))
        let process = Process()
        process.executableURL = binary
        process.arguments = ["up", "--nodes", "\(nodes)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var mine: [String] = []
        for _ in 0..<300 where mine.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            mine = try await virshNames("list", "--all", "--name").filter {
                $0.hasPrefix(RunID.namespace) && !before.contains($0)
            }
        }
        XCTAssertFalse(mine.isEmpty, "the harness never created a domain")
        return (process, mine)
    }

    func testSixNodesBootRunReachPersistAndLeaveNothing() async throws {
        let cluster = try await Cluster.boot(ClusterOptions(nodes: try NodeSpec.fixture(count: 6)), logger: logger)
        let prefix = cluster.runID.prefix
        do {
            // Each node runs uname -r and reports its own hostname.
            let image = try FixtureImage.load(from: StateDirectory())
            for node in cluster.nodes {
                let out = try await node.succeed("uname -r; hostname")
                XCTAssertEqual(out, "\(image.kernelVersion)\n\(node.name)\n")
            }
            let v1 = try await virshNames("list", "--name").filter { $0.hasPrefix(prefix) }.count
            XCTAssertEqual(v1, 6)

            // node01 reaches node06 over the isolated cluster network.
            let node01 = try cluster.node("node01")
            try await node01.succeed("ping -c 2 -W 3 node06")
            let v2 = try await node01.succeed("ip -4 -o addr show | grep -c 10.66.0.11/24")
            XCTAssertEqual(v2, "1\n")

            // A node destroyed and started again keeps what it wrote to its disk.
            let node03 = try cluster.node("node03")
            try await node03.succeed("echo survived-\(prefix) > /data/marker && sync")
            try await node03.destroy()
            let v3 = try await virshNames("list", "--name").contains(node03.domainName)
            XCTAssertFalse(v3)
            try await node03.start()
            try await node03.waitForSSH(timeout: 60)
            let v4 = try await node03.succeed("cat /data/marker")
            XCTAssertEqual(v4, "survived-\(prefix)\n")

            // Unknown node names are refused with the names that exist.
            XCTAssertThrowsError(try cluster.node("node09")) { error in
                XCTAssertEqual((error as? HarnessError)?.code, .badInput)
                XCTAssertTrue("\(error)".contains("node01"))
            }
            let failed = try await node01.exec("exit 7")
            XCTAssertEqual(failed.exitStatus, 7)
            do {
                try await node01.succeed("echo oops >&2; false")
                XCTFail("succeed() accepted a failing command")
            } catch let error as HarnessError { XCTAssertTrue(error.message.contains("oops")) }
        } catch {
            await cluster.teardown()
            throw error
        }
        let times = await cluster.teardown()
        XCTAssertEqual(times.destroySeconds.count, 6)
        let v5 = try await virshNames("list", "--all", "--name").filter { $0.hasPrefix(prefix) }.isEmpty
        XCTAssertTrue(v5)
        let v6 = try await virshNames("net-list", "--all", "--name").filter { $0.hasPrefix(prefix) }.isEmpty
        XCTAssertTrue(v6)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cluster.directory.path))
    }

    func testKilledRunIsReapedByTheNext() async throws {
        // Kill it with SIGKILL as soon as its domains exist: mid-boot.
        let (process, leaked) = try await startHarnessUp(nodes: 2)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        guard let run = leaked.first.flatMap(RunID.init(owning:)) else { return }
        let v7 = try await virshNames("net-list", "--all", "--name").contains(run.name("net"))
        XCTAssertTrue(v7, "the killed run's network is gone already")

        let connection = try await Cluster.connect(uri: "qemu:///system")
        let reaped = try await Reaper(connection: connection, state: StateDirectory(), logger: logger).reap()
        XCTAssertTrue(reaped.runs.contains(run))
        let v8 = try await virshNames("list", "--all", "--name").filter { $0.hasPrefix(run.prefix) }.isEmpty
        XCTAssertTrue(v8)
        let v9 = try await virshNames("net-list", "--all", "--name").filter { $0.hasPrefix(run.prefix) }.isEmpty
        XCTAssertTrue(v9)
        XCTAssertFalse(FileManager.default.fileExists(atPath: StateDirectory().runDirectory(run).path))
    }

    /// SIGINT and SIGTERM cancel the run, which removes what it made before exiting.
    func testSignalsTearDown() async throws {
        for sig in [SIGINT, SIGTERM] {
            let (process, mine) = try await startHarnessUp(nodes: 1)
            kill(process.processIdentifier, sig)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 130, "exit status after signal \(sig)")
            guard let run = mine.first.flatMap(RunID.init(owning:)) else { continue }
            let domains = try await virshNames("list", "--all", "--name").filter { $0.hasPrefix(run.prefix) }
            let networks = try await virshNames("net-list", "--all", "--name").filter { $0.hasPrefix(run.prefix) }
            XCTAssertEqual(domains + networks, [], "left by a run stopped with signal \(sig)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: StateDirectory().runDirectory(run).path))
        }
    }

    func testNodeThatNeverAnswersShowsItsConsole() async throws {
        // Other runs (a shared runtime cluster) may be up: only what this one made counts.
        let domainsBefore = Set(try await virshNames("list", "--all", "--name"))
        let networksBefore = Set(try await virshNames("net-list", "--all", "--name"))
        // 0.2 s (scaled for TCG) is less than any boot takes: the wait must give up.
        let options = ClusterOptions(nodes: try NodeSpec.fixture(count: 1), bootTimeout: 0.2)
        do {
            _ = try await Cluster.boot(options, logger: logger)
            XCTFail("a node answered SSH within 0.2 s")
        } catch let error as HarnessError {
            XCTAssertEqual(error.code, .timeout)
            XCTAssertTrue(error.message.contains("node01 did not accept SSH"), error.message)
            XCTAssertTrue(error.message.contains("last console lines"), error.message)
        }
        let domainsLeft = Set(try await virshNames("list", "--all", "--name")).subtracting(domainsBefore)
        let networksLeft = Set(try await virshNames("net-list", "--all", "--name")).subtracting(networksBefore)
        XCTAssertEqual(domainsLeft, [])
        XCTAssertEqual(networksLeft, [])
    }

    func testTakenForwardPortFailsFastWithQemusMessage() async throws {
        let image = try FixtureImage.load(from: StateDirectory())
        let connection = try await Cluster.connect(uri: "qemu:///system")
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, len) == 0 && getsockname(listener, $0, &len) == 0
            }
        }
        XCTAssertEqual(listen(listener, 1), 0)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let run = RunID()
        let xml = DomainXML(
            name: run.name("porttest"), accelerator: .tcg, memoryMiB: 128, kernel: image.kernel,
            initrd: image.initrd, cmdline: "console=ttyS0",
            management: .init(hostPort: port, mac: "52:55:00:00:00:01"),
            consoleLog: NSTemporaryDirectory() + "\(run.prefix).log"
        ).render()
        do {
            let domain = try await connection.createDomain(xml: xml)
            try await domain.destroy()
            XCTFail("QEMU started with its forward port taken")
        } catch let error as LibvirtError {
            XCTAssertTrue(error.message.contains("host forwarding"), error.message)
            XCTAssertEqual(error.operation, "virDomainCreateXML")
        }
        try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "\(run.prefix).log")
    }

    func testLibvirtdNotReachableIsAnEnvironmentError() async {
        do {
            _ = try await Cluster.connect(uri: "qemu+unix:///system?socket=/nonexistent/libvirt-sock")
            XCTFail("connected to a socket that does not exist")
        } catch let error as HarnessError {
            XCTAssertEqual(error.code, .environment)
            XCTAssertEqual(error.exitCode, 2)
            XCTAssertTrue(error.message.contains("Images/setup.sh"))
            XCTAssertTrue(error.cause is LibvirtError)
        } catch { XCTFail("\(error)") }
    }

    func testMissingImageIsAnEnvironmentError() {
        let empty = StateDirectory(root: URL(fileURLWithPath: NSTemporaryDirectory() + "no-state-\(getpid())"))
        XCTAssertThrowsError(try FixtureImage.load(from: empty)) { error in
            XCTAssertEqual((error as? HarnessError)?.code, .environment)
            XCTAssertTrue("\(error)".contains("Images/setup.sh"))
        }
    }
}
