import Foundation
import Harness
import HostCommand
import Logging
import Nemesis
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

            try await cluster.firewall.clear()
            let healed = try await Reachability.blocked(among: cluster.nodes, timeoutScale: scale)
            XCTAssertEqual(healed, [])

            try await cluster.firewall.apply(isolate, taps: taps)  // left for teardown to remove
        }
        let tables = try await HostCommand("nft", ["list", "tables"]).run(timeout: 30)
        XCTAssertFalse(tables.stdout.contains(table), "teardown left \(table): \(tables.stdout)")
    }
}
