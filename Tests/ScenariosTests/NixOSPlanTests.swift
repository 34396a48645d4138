import Findings
import Foundation
import Logging
import Nix
import Runtime
import XCTest

/// The vmVariant projection evaluated by the real nix against the miniature,
/// whose stand-in declares virtualisation.vmVariant as nixpkgs' build-vm.nix does.
final class NixOSPlanTests: XCTestCase {
    let logger = Logger(label: "nixos-plan")

    func project(fixes: [String]) async throws -> [NixOSImageProvider.Projected] {
        let target = try await Target.miniature(home: try HarnessHome.locate(), fixes: fixes)
        let provider = NixOSImageProvider(target: target, nix: try await Nix.locate(logger: logger))
        return try await provider.project(publicKey: "ssh-ed25519 AAAATESTKEY harness")
    }

    func testEveryNodeProjectsWithTheHarnessKeyAdded() async throws {
        let projected = try await project(fixes: ["F5.1", "F5.2"])
        var nodes: [NixOSNode] = []
        for p in projected { if case let .node(node, _) = p { nodes.append(node) } }
        XCTAssertEqual(nodes.map(\.hostName), ["node01", "node02", "node03", "node04", "node05", "node06"])
        for (i, node) in nodes.enumerated() {
            XCTAssertEqual(node.clusterInterface?.interface.addresses, ["10.66.0.\(11 + i)/24"])
            XCTAssertTrue(
                node.toplevel.hasPrefix("/nix/store/") && node.toplevel.hasSuffix("-nixos-system-\(node.hostName)"),
                node.toplevel)
            XCTAssertEqual(node.rootKeys, ["ssh-ed25519 AAAATESTKEY harness"])
            XCTAssertEqual(node.shares["nix-store"]?.source, "/nix/store")
            XCTAssertEqual(
                node.interfaces["mgmt0"]?.addresses, ["10.0.2.15/24"], "the harness module names the management NIC")
            XCTAssertTrue(
                !node.derivations.isEmpty && node.derivations.allSatisfy { $0.hasSuffix(".drv") }, "\(node.derivations)"
            )
        }
    }

    func testNodesThatDoNotEvaluateNameTheirFinding() async throws {
        var failed: [String: String] = [:]
        for p in try await project(fixes: []) {
            if case let .failed(name, finding, failure, _) = p {
                failed[name] = finding
                XCTAssertFalse(failure.headline.isEmpty)
            }
        }
        XCTAssertEqual(failed, ["node02": "F5.1", "node03": "F5.1", "node06": "F5.2"])
    }
}
