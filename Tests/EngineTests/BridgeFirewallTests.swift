import Foundation
import Harness
import HostCommand
import Logging
import Nemesis
import SSH
import XCTest

/// Partitions on the host's bridge, on three real fixture guests: each cut confirmed
/// by what the receivers counted, a one-way cut seen as one way, the heal confirmed,
/// and no table left once the run is torn down.
final class BridgeFirewallTests: XCTestCase {
    func testPartitionsOnTheBridgeAreConfirmedAndHealed() async throws {
        let logger = Logger(label: "firewall-test")
        var table = ""
        try await Cluster.with(try ClusterOptions(nodes: NodeSpec.fixture(count: 3)), logger: logger) { cluster in
            table = cluster.firewall.table
            let names = cluster.nodes.map(\.name)
            var taps: [String: String] = [:]
            for node in cluster.nodes { taps[node.name] = try await node.clusterTap() }
            let scale = cluster.timeoutScale
            let open = try await Reachability.blocked(among: cluster.nodes, timeoutScale: scale)
            XCTAssertEqual(open, [], "before any fault every path carries frames")

            let isolate = try Partition.isolate("node01").cuts(names)
            try await cluster.firewall.apply(isolate, taps: taps)
            let isolated = try await Reachability.blocked(among: cluster.nodes, timeoutScale: scale)
            XCTAssertEqual(isolated, isolate)

            let oneWay = try Partition.oneWay(from: "node02", to: "node03").cuts(names)
            try await cluster.firewall.apply(oneWay, taps: taps)
            let seen = try await Reachability.blocked(among: cluster.nodes, timeoutScale: scale)
            XCTAssertEqual(seen, oneWay, "node03 does not hear node02, node02 still hears node03")

            // Packet loss: some echoes cross, some do not, and the rules' counters show the drops.
            try await cluster.firewall.apply([], taps: taps, lossPercent: 50, lossAmong: names)
            let ping = try await cluster.nodes[0].exec(
                "ping -c 30 -i 0.2 -w \(Int(20 * scale)) -q \(cluster.nodes[1].spec.ip)", timeout: 40 * scale)
            let received = ping.stdout.split(separator: ",").first { $0.contains("received") }
                .flatMap { Int($0.split(separator: " ").first ?? "") }
            let lossy = try XCTUnwrap(received, ping.stdout)
            XCTAssertTrue((1..<30).contains(lossy), "50 % loss each way: \(ping.stdout)")
            let dropped = try await cluster.firewall.droppedFrames()
            XCTAssertGreaterThan(dropped, 0)

            try await cluster.firewall.clear()
            let healed = try await Reachability.blocked(among: cluster.nodes, timeoutScale: scale)
            XCTAssertEqual(healed, [])

            try await cluster.firewall.apply(isolate, taps: taps)  // left for teardown to remove
        }
        let tables = try await HostCommand("nft", ["list", "tables"]).run(timeout: 30)
        XCTAssertFalse(tables.stdout.contains(table), "teardown left \(table): \(tables.stdout)")
    }
}
