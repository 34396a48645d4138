import Foundation
import Harness
import HostCommand
import Linearizability
import Logging
import Workloads
import XCTest

/// The gateway client and the cas-register workload against a real etcd (Debian's, as
/// in the guests) on the host's loopback: no VM needed to prove the protocol.
final class EtcdGatewayClientTests: XCTestCase {
    var etcd: LoopbackEtcd!
    var client: EtcdGatewayClient!

    override func setUp() async throws {
        etcd = try await LoopbackEtcd.start()
        client = EtcdGatewayClient(endpoint: etcd.endpoint, timeout: 5)
    }

    override func tearDown() async throws {
        await etcd?.stop()
    }

    func testReadWriteCompareAndSet() async throws {
        let absent = try await client.get("k")
        XCTAssertNil(absent)
        try await client.put("k", "1")
        let one = try await client.get("k"), stale = try await client.get("k", consistency: .serializable)
        XCTAssertEqual(one, "1")
        XCTAssertEqual(stale, "1")
        let refused = try await client.compareAndSet("k", old: "2", new: "3")
        XCTAssertFalse(refused)
        let unchanged = try await client.get("k")
        XCTAssertEqual(unchanged, "1")
        let swapped = try await client.compareAndSet("k", old: "1", new: "3")
        XCTAssertTrue(swapped)
        let three = try await client.get("k")
        XCTAssertEqual(three, "3")
        let status = try await client.status()
        XCTAssertEqual(status.member, status.leader, "a single member leads itself")
        XCTAssertGreaterThan(status.term, 0)
        let names = try await client.memberNames()
        XCTAssertEqual(names, ["solo"])
    }

    func testAnUnreachableMemberIsNotApplied() async throws {
        let gone = EtcdGatewayClient(endpoint: URL(string: "http://127.0.0.1:\(try LoopbackPort.free())")!, timeout: 2)
        do {
            try await gone.put("k", "1")
            XCTFail("a put to a closed port succeeded")
        } catch {
            XCTAssertTrue(error.notApplied, error.message)
        }
    }

    /// Ten clients at once, a few seconds: a dense history, linearizable, with every
    /// function; the same history with one read changed is not.
    func testTheCASRegisterWorkloadMakesALinearizableHistory() async throws {
        let workload = CASRegisterWorkload(
            generator: Generator(concurrency: 10, rate: 0, duration: 4, seed: 3), keys: 3, prefix: "w")
        let history = await workload.run(clients: [client], logger: Logger(label: "workload-test"))
        let ok = history.operations.filter { $0.status == .ok }
        XCTAssertGreaterThan(ok.count, 100)
        XCTAssertEqual(Set(history.operations.map(\.f)), ["read", "write", "cas"])
        XCTAssertTrue(history.operations.contains { $0.f == "cas" && $0.status == .fail }, "some compares fail")
        let concurrent = history.events.indices.contains { i in
            i > 0 && history.events[i].kind == .invoke && history.events[i - 1].kind == .invoke
        }
        XCTAssertTrue(concurrent, "operations overlap")
        let valid = try await HistoryCheck.run(history, model: .casRegister, timeLimit: 60)
        XCTAssertEqual(valid.validity, .valid, valid.anomaly?.explanation ?? "")

        var events = history.events
        let read = try XCTUnwrap(events.lastIndex { $0.kind == .ok && $0.f == "read" })
        events[read].value = .int(99)
        let broken = try await HistoryCheck.run(try History(events: events), model: .casRegister, timeLimit: 60)
        XCTAssertEqual(broken.validity, .invalid)
    }

    func testKeysUnderAPrefixAndDelete() async throws {
        for k in ["a/1", "a/2", "a0", "b/1"] { try await client.put(k, "x") }
        let under = try await client.keys(prefix: "a/")
        XCTAssertEqual(under, ["a/1", "a/2"])
        let local = try await client.keys(prefix: "a/", consistency: .serializable)
        XCTAssertEqual(local, ["a/1", "a/2"])
        try await client.delete("a/1")
        let after = try await client.keys(prefix: "a/")
        XCTAssertEqual(after, ["a/2"])
    }

    /// The set workload against the real store passes; the same run with a store that
    /// loses an acknowledged add (a key deleted behind the clients' backs) fails.
    func testTheSetWorkloadCatchesALostAdd() async throws {
        let sound = await SetWorkload(generator: Generator(concurrency: 6, rate: 0, duration: 2, seed: 1), prefix: "s1")
            .run(clients: [client, client], logger: Logger(label: "set-test"))
        let valid = SetChecker().check(sound)
        XCTAssertEqual(valid.valid, true, valid.explanation)
        XCTAssertGreaterThan(valid.acknowledged, 20)
        XCTAssertEqual(valid.reads, 2, "one final read a client's member")

        let store = client!
        let lossy = await SetWorkload(generator: Generator(concurrency: 6, rate: 0, duration: 2, seed: 2), prefix: "s2")
            .run(clients: [client], logger: Logger(label: "set-test")) { _ in
                try? await Task.sleep(for: .seconds(1))
                try? await store.delete("s2/e1")  // element 1 was acknowledged long before
            }
        let invalid = SetChecker().check(lossy)
        XCTAssertEqual(invalid.valid, false, invalid.explanation)
        XCTAssertEqual(invalid.lost, [1])
    }
}

/// A single-member etcd (Debian's, as in the guests) on the host's loopback, answering
/// before `start` returns; `stop` ends it and removes its data.
final class LoopbackEtcd: Sendable {
    let endpoint: URL
    let process: ChildProcess
    let directory: URL

    private init(endpoint: URL, process: ChildProcess, directory: URL) {
        self.endpoint = endpoint
        self.process = process
        self.directory = directory
    }

    static func start() async throws -> LoopbackEtcd {
        guard let binary = HostCommand.resolve("etcd") else {
            XCTFail("etcd is not installed: Images/setup.sh installs it (Debian's etcd-server)")
            throw XCTSkip("no etcd")
        }
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "phc-etcd-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let client = try LoopbackPort.free(), peer = try LoopbackPort.free()
        let process = try ChildProcess.spawn(
            binary,
            [
                "--name", "solo", "--data-dir", dir.appendingPathComponent("data").path,
                "--listen-client-urls", "http://127.0.0.1:\(client)", "--advertise-client-urls",
                "http://127.0.0.1:\(client)",
                "--listen-peer-urls", "http://127.0.0.1:\(peer)", "--initial-advertise-peer-urls",
                "http://127.0.0.1:\(peer)",
                "--initial-cluster", "solo=http://127.0.0.1:\(peer)", "--log-level", "error",
            ],
            stderr: .file(dir.appendingPathComponent("etcd.log").path))
        let etcd = LoopbackEtcd(endpoint: URL(string: "http://127.0.0.1:\(client)")!, process: process, directory: dir)
        let probe = EtcdGatewayClient(endpoint: etcd.endpoint, timeout: 5)
        // Bounded: etcd answers in well under a second here; 60 s for a loaded host.
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if (try? await probe.status()) != nil { return etcd }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOf: dir.appendingPathComponent("etcd.log"), encoding: .utf8)) ?? ""
        await etcd.stop()
        XCTFail("etcd did not answer on \(etcd.endpoint) within 60 s; its log:\n\(log.suffix(2000))")
        throw XCTSkip("etcd did not start")
    }

    func stop() async {
        await process.terminateGroup()
        try? FileManager.default.removeItem(at: directory)
    }
}
