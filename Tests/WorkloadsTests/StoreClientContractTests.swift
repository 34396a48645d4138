import Foundation
import Harness
import HostCommand
import Linearizability
import Logging
import Workloads
import XCTest

/// docs/client-contract.md, as tests every client must pass against a real etcd on the
/// loopback: the built-in gateway client, and a client program speaking JSON lines
/// (`harness client`, the reference a checkout's program is held to).
final class StoreClientContractTests: XCTestCase {
    var etcd: LoopbackEtcd!
    var log: String!

    override func setUp() async throws {
        etcd = try await LoopbackEtcd.start()
        log = etcd.directory.appendingPathComponent("client.log").path
    }

    override func tearDown() async throws {
        await etcd?.stop()
    }

    var harness: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("harness").path
    }

    func jsonLines(_ endpoint: String, timeout: Double = 5) throws -> JSONLinesClient {
        let client = try JSONLinesClient(command: [harness, "client"], endpoint: endpoint, log: log, timeout: timeout)
        addTeardownBlock { await client.close() }
        return client
    }

    func testTheBuiltInClientMeetsTheContract() async throws {
        try await assertMeetsContract(EtcdGatewayClient(endpoint: etcd.endpoint), prefix: "builtin")
    }

    func testAJSONLinesClientProgramMeetsTheContract() async throws {
        try await assertMeetsContract(try jsonLines(etcd.endpoint.absoluteString), prefix: "lines")
    }

    func assertMeetsContract(_ client: any StoreClient, prefix p: String) async throws {
        let absent = try await client.get("\(p)/k")
        XCTAssertNil(absent, "an absent key reads as nil")
        try await client.put("\(p)/k", "1")
        let one = try await client.get("\(p)/k"), local = try await client.get("\(p)/k", consistency: .serializable)
        XCTAssertEqual(one, "1")
        XCTAssertEqual(local, "1")
        let refused = try await client.compareAndSet("\(p)/k", old: "2", new: "3")
        XCTAssertFalse(refused, "a compare that fails is an answer, not an error")
        let swapped = try await client.compareAndSet("\(p)/k", old: "1", new: "3")
        XCTAssertTrue(swapped)
        let three = try await client.get("\(p)/k")
        XCTAssertEqual(three, "3")
        // Many requests in flight at once, each answered.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<40 { group.addTask { try await client.put("\(p)/many/\(i)", "\(i)") } }
            try await group.waitForAll()
        }
        let many = try await client.keys(prefix: "\(p)/many/")
        XCTAssertEqual(many.count, 40)
        XCTAssertEqual(many, many.sorted(), "keys come in order")
        XCTAssertFalse(many.contains("\(p)/k"), "only keys under the prefix")
        try await client.delete("\(p)/many/0")
        let fewer = try await client.keys(prefix: "\(p)/many/", consistency: .serializable)
        XCTAssertEqual(fewer.count, 39)
        let status = try await client.status()
        XCTAssertEqual(status.member, status.leader, "a single member leads itself")
        XCTAssertFalse(status.member.isEmpty)
        XCTAssertGreaterThan(status.term, 0)
    }

    /// A request that never reached the store says so, and only then: the workloads
    /// record it as :fail, anything else as :info.
    func testAnUnreachableStoreIsNotAppliedThroughEitherClient() async throws {
        let closed = "http://127.0.0.1:\(try LoopbackPort.free())"
        for client in [EtcdGatewayClient(endpoint: URL(string: closed)!, timeout: 2), try jsonLines(closed)]
            as [any StoreClient]
        {
            do throws(ClientError) {
                try await client.put("k", "1")
                XCTFail("a put to a closed port succeeded")
            } catch {
                XCTAssertTrue(error.notApplied, error.message)
            }
        }
    }

    /// A program that does not answer leaves the outcome unknown within the timeout; one
    /// that exits fails every request in flight as unknown and every later one as not applied.
    func testAProgramThatHangsOrExitsGivesUnknownOutcomesWithinTheBound() async throws {
        let silent = try JSONLinesClient(
            command: ["/bin/sh", "-c", "cat >/dev/null", "sh"], endpoint: "x", log: log, timeout: 1)
        let start = ContinuousClock.now
        do throws(ClientError) {
            try await silent.put("k", "1")
            XCTFail("no reply, yet a success")
        } catch {
            XCTAssertFalse(error.notApplied, error.message)
            XCTAssertTrue(error.message.contains("no reply within"), error.message)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(30))
        await silent.close()

        let gone = try JSONLinesClient(command: ["/bin/true"], endpoint: "x", log: log, timeout: 30)
        try await Task.sleep(for: .milliseconds(500))
        do throws(ClientError) {
            _ = try await gone.get("k")
            XCTFail("an exited program answered")
        } catch {
            XCTAssertTrue(error.message.contains("exited") || error.message.contains("does not read"), error.message)
        }
        await gone.close()
    }

    /// The cas-register workload through client programs: a dense history, linearizable.
    func testTheCASRegisterWorkloadThroughAClientProgramIsLinearizable() async throws {
        let clients: [any StoreClient] = [
            try jsonLines(etcd.endpoint.absoluteString), try jsonLines(etcd.endpoint.absoluteString),
        ]
        let history = await CASRegisterWorkload(
            generator: Generator(concurrency: 8, rate: 0, duration: 3, seed: 9), keys: 3, prefix: "program"
        ).run(clients: clients, logger: Logger(label: "contract-test"))
        XCTAssertGreaterThan(history.operations.filter { $0.status == .ok }.count, 50)
        let result = try await HistoryCheck.run(history, model: .casRegister, timeLimit: 60)
        XCTAssertEqual(result.validity, .valid, result.anomaly?.explanation ?? "")
    }
}
