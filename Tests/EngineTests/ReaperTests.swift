import Foundation
import Libvirt
import Logging
import Synchronization
import XCTest

@testable import Harness

/// The reaper against the real libvirtd: it removes only what it can prove dead,
/// whatever state directory it runs with. Each test makes its own domains and
/// networks under a run prefix of its own, narrows the reaper to that prefix (other
/// runs on this host are not these tests' to remove), and removes what is left on
/// every path. Domains are paused at once: they need not boot.
final class ReaperTests: XCTestCase {
    /// Two state directories, as two harnesses with different PHOTONCLOUD_HARNESS_STATE
    /// have; the path has a space and non-ASCII letters, which the metadata must carry.
    let scratch = URL(fileURLWithPath: NSTemporaryDirectory())
        .appendingPathComponent("phc reaper ü☃ \(UUID().uuidString.prefix(8))")
    var runner: StateDirectory { StateDirectory(root: scratch.appendingPathComponent("runner")) }
    var other: StateDirectory { StateDirectory(root: scratch.appendingPathComponent("other")) }
    let logs = LogLines()

    override func tearDown() {
        try? FileManager.default.removeItem(at: scratch)
        super.tearDown()
    }

    func reaper(_ state: StateDirectory, _ run: RunID, _ connection: Connection) -> Reaper {
        let logs = self.logs
        let logger = Logger(label: "reaper-tests") { _ in CollectingHandler(sink: logs) }
        return Reaper(connection: connection, state: state, logger: logger, namePrefix: run.prefix + "-")
    }

    /// A run directory in `state` with its (not yet locked) run.lock.
    func runDirectory(_ run: RunID, in state: StateDirectory) throws -> String {
        let dir = state.runDirectory(run)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let lock = dir.appendingPathComponent("run.lock").path
        XCTAssertTrue(FileManager.default.createFile(atPath: lock, contents: nil))
        return lock
    }

    /// A transient domain as a run makes one (direct kernel boot of the fixture), paused
    /// at once: only its record matters here.
    func makeDomain(_ run: RunID, _ owner: RunOwner?, _ connection: Connection) async throws -> String {
        let image = try FixtureImage.load(from: StateDirectory())
        let name = run.name("node01")
        let xml = DomainXML(
            name: name, accelerator: .tcg, memoryMiB: 64, kernel: image.kernel, initrd: image.initrd,
            cmdline: "console=ttyS0", consoleLog: NSTemporaryDirectory() + "\(name).console.log",
            owner: owner)
        let domain = try await connection.createDomain(xml: xml.render())
        try await domain.suspend()
        return name
    }

    func makeNetwork(_ run: RunID, _ owner: RunOwner?, _ connection: Connection) async throws -> String {
        let xml = NetworkXML(name: run.name("net"), bridge: run.bridgeName, owner: owner)
        return try await connection.createNetwork(xml: xml.render()).name
    }

    func present(_ run: RunID, _ connection: Connection) async throws -> Set<String> {
        let names = try await connection.allDomains().map(\.name) + connection.allNetworks().map(\.name)
        return Set(names.filter { $0.hasPrefix(run.prefix + "-") })
    }

    /// Runs `body`, then removes every object named for `run` (only this test's), whatever happened.
    func withRun(_ body: (RunID, Connection) async throws -> Void) async throws {
        let connection = try await Cluster.connect(uri: "qemu:///system")
        let run = RunID()
        var failure: (any Error)?
        do { try await body(run, connection) } catch { failure = error }
        for domain in try await connection.allDomains() where domain.name.hasPrefix(run.prefix + "-") {
            try await domain.destroy()
            try await domain.undefineIfPersistent()
        }
        for network in try await connection.allNetworks() where network.name.hasPrefix(run.prefix + "-") {
            try await network.remove()
        }
        try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "\(run.name("node01")).console.log")
        if let failure { throw failure }
    }

    /// 1. A live run whose state directory is elsewhere keeps its domain and network.
    func testLiveRunElsewhereIsLeftWhileItsLockIsHeld() async throws {
        try await withRun { run, connection in
            let lockPath = try runDirectory(run, in: other)
            guard let lock = try RunLock(path: lockPath) else { return XCTFail("\(lockPath) is locked already") }
            let owner = RunOwner(lockPath: lockPath, bootID: try HostBoot.id())
            let objects: Set = [
                try await makeDomain(run, owner, connection),
                try await makeNetwork(run, owner, connection),
            ]

            let reaped = try await reaper(runner, run, connection).reap()
            let down = try await reaper(runner, run, connection).reap(includeKept: true)
            let own = try await reaper(other, run, connection).reap()
            for r in [reaped, down, own] {
                XCTAssertEqual(r.domains + r.networks, [])
                XCTAssertEqual(r.runs, [])
                XCTAssertEqual(r.left, [:], "a live run is not a leftover")
            }
            let left = try await present(run, connection)
            XCTAssertEqual(left, objects)
            XCTAssertTrue(FileManager.default.fileExists(atPath: lockPath))
            withExtendedLifetime(lock) {}
        }
    }

    /// 2. Once the process holding the lock is gone (SIGKILL), the same objects are reaped,
    /// by a reaper with another state directory; the run's files are left to its own.
    func testRunIsReapedOnceItsLockHolderIsKilled() async throws {
        try await withRun { run, connection in
            let lockPath = try runDirectory(run, in: other)
            let holder = Process()
            holder.executableURL = URL(fileURLWithPath: "/bin/sh")
            // fd 9 stays open in `sleep` (same process after exec), and with it the lock.
            holder.arguments = ["-c", "exec 9>>\"$0\" && flock 9 && exec sleep 600", lockPath]
            try holder.run()
            // Only while it runs: a reaped pid may be someone else's by then.
            defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() } }
            for _ in 0..<100 {
                if case .held = RunLock.probe(lockPath) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            guard case .held = RunLock.probe(lockPath) else { return XCTFail("the child never took \(lockPath)") }

            let owner = RunOwner(lockPath: lockPath, bootID: try HostBoot.id())
            let objects: Set = [
                try await makeDomain(run, owner, connection),
                try await makeNetwork(run, owner, connection),
            ]
            let before = try await reaper(runner, run, connection).reap()
            XCTAssertEqual(before.domains + before.networks, [])
            let stillThere = try await present(run, connection)
            XCTAssertEqual(stillThere, objects)

            kill(holder.processIdentifier, SIGKILL)
            holder.waitUntilExit()
            let after = try await reaper(runner, run, connection).reap()
            XCTAssertEqual(Set(after.domains + after.networks), objects)
            XCTAssertEqual(after.runs, [run])
            let gone = try await present(run, connection)
            XCTAssertEqual(gone, [])
            XCTAssertTrue(FileManager.default.fileExists(atPath: lockPath), "another state directory's files stay")
            let own = try await reaper(other, run, connection).reap()
            XCTAssertEqual(own.runs, [run])
            XCTAssertFalse(FileManager.default.fileExists(atPath: other.runDirectory(run).path))
        }
    }

    /// 3. A domain made in another boot of the host is reaped though its lock is gone.
    func testDomainFromAnotherBootIsReapedWithoutItsLock() async throws {
        try await withRun { run, connection in
            let lockPath = other.runDirectory(run).appendingPathComponent("run.lock").path
            XCTAssertFalse(FileManager.default.fileExists(atPath: lockPath))
            let owner = RunOwner(lockPath: lockPath, bootID: UUID().uuidString.lowercased())
            let domain = try await makeDomain(run, owner, connection)
            let reaped = try await reaper(runner, run, connection).reap()
            XCTAssertEqual(reaped.domains, [domain])
            let gone = try await present(run, connection)
            XCTAssertEqual(gone, [])
        }
    }

    /// A missing lock proves nothing in this boot (a live run's lock file may be
    /// deleted while held): the objects are left, and the log says how to remove them.
    func testMissingLockInThisBootIsNotProofOfDeath() async throws {
        try await withRun { run, connection in
            let lockPath = other.runDirectory(run).appendingPathComponent("run.lock").path
            let owner = RunOwner(lockPath: lockPath, bootID: try HostBoot.id())
            let network = try await makeNetwork(run, owner, connection)
            let reaped = try await reaper(runner, run, connection).reap(includeKept: true)
            XCTAssertEqual(reaped.networks, [])
            XCTAssertEqual(Array(reaped.left.keys), [network])
            let left = try await present(run, connection)
            XCTAssertEqual(left, [network])
            let warning = logs.all.first { $0.contains("left \(network)") }
            XCTAssertNotNil(warning, "\(logs.all)")
            XCTAssertTrue(warning?.contains(lockPath) == true, warning ?? "")
            XCTAssertTrue(warning?.contains("virsh -c qemu:///system net-destroy \(network)") == true, warning ?? "")
        }
    }

    /// 4. A phc- domain (and network) without our metadata is not provably ours: left, and logged.
    func testObjectsWithoutOurMetadataAreLeftAndLogged() async throws {
        try await withRun { run, connection in
            let domain = try await makeDomain(run, nil, connection)
            let network = try await makeNetwork(run, nil, connection)
            let reaped = try await reaper(runner, run, connection).reap(includeKept: true)
            XCTAssertEqual(reaped.domains + reaped.networks, [])
            XCTAssertEqual(Set(reaped.left.keys), [domain, network])
            let left = try await present(run, connection)
            XCTAssertEqual(left, [domain, network])
            let warning = logs.all.first { $0.contains("left \(domain)") }
            XCTAssertTrue(warning?.hasPrefix("warning") == true, "\(logs.all)")
            XCTAssertTrue(warning?.contains("records no harness run") == true, warning ?? "")
            XCTAssertTrue(warning?.contains("`virsh -c qemu:///system destroy \(domain)`") == true, warning ?? "")
        }
    }

    /// A kept run outlives its process: only `harness down` with its own state directory removes it.
    func testKeptRunIsRemovedOnlyByDownWithItsOwnStateDirectory() async throws {
        try await withRun { run, connection in
            let lockPath = try runDirectory(run, in: other)
            try Data().write(to: other.runDirectory(run).appendingPathComponent("kept"))
            let owner = RunOwner(lockPath: lockPath, bootID: try HostBoot.id())
            let network = try await makeNetwork(run, owner, connection)

            let up = try await reaper(runner, run, connection).reap()
            XCTAssertEqual(up.skippedKept, [run])
            let elsewhere = try await reaper(runner, run, connection).reap(includeKept: true)
            XCTAssertEqual(elsewhere.networks, [])
            XCTAssertTrue(
                elsewhere.left[network]?.contains("PHOTONCLOUD_HARNESS_STATE='\(other.root.path)'") == true,
                "\(elsewhere.left)")
            let ownUp = try await reaper(other, run, connection).reap()
            XCTAssertEqual(ownUp.skippedKept, [run])
            XCTAssertEqual(ownUp.networks, [])
            let stillThere = try await present(run, connection)
            XCTAssertEqual(stillThere, [network])

            let down = try await reaper(other, run, connection).reap(includeKept: true)
            XCTAssertEqual(down.networks, [network])
            XCTAssertEqual(down.runs, [run])
            let gone = try await present(run, connection)
            XCTAssertEqual(gone, [])
            XCTAssertFalse(FileManager.default.fileExists(atPath: other.runDirectory(run).path))
        }
    }
}

/// What a logger wrote, for assertions on it.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

struct CollectingHandler: LogHandler {
    let sink: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) { sink.append("\(event.level) \(event.message)") }
}
