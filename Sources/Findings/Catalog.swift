import Foundation
import FoundationEssentials

/// One finding of the 2026-03-02 investigation (shared/findings/FINDINGS.md).
public struct Finding: Sendable, Codable, Equatable {
    public enum Severity: String, Sendable, Codable { case P0, P1, P2 }
    /// Where the evidence comes from.
    public enum Layer: String, Sendable, Codable {
        case evaluation = "eval", staticText = "static", runtime
    }

    public let id: String
    public let severity: Severity
    public let layers: [Layer]
    public let title: String
    /// What the investigation ran or read to show it.
    public let investigation: String

    /// Only booted nodes can decide it.
    public var runtimeOnly: Bool { layers == [.runtime] }
}

/// Every finding, by its stable id.
public enum Catalog {
    public static let findings: [Finding] = [
        Finding(
            id: "F1", severity: .P0, layers: [.evaluation],
            title:
                "flake.nix nixosConfigurations.node01/02/03 import docs/por/T036-vm-cluster-deployment/<node>/configuration.nix, which does not exist",
            investigation: "nix eval --show-trace .#nixosConfigurations.node01.config.system.build.toplevel.drvPath"),
        Finding(
            id: "F2", severity: .P0, layers: [.evaluation, .staticText],
            title:
                "the ISO auto-install hands disko docs/por/T036-vm-cluster-deployment/$NODE_ID/disko.nix, which exists for no node",
            investigation:
                "nix/iso/plasmacloud-iso.nix:236: nix run github:nix-community/disko -- --mode disko /opt/plasmacloud-src/docs/por/T036-vm-cluster-deployment/$NODE_ID/disko.nix"
        ),
        Finding(
            id: "F3", severity: .P0, layers: [.evaluation, .staticText],
            title:
                "bootstrap chicken-and-egg: the ISO phones home to $DEPLOYER_URL, CI builds a deployer, but no flake output or module provides one",
            investigation:
                "rg deployer flake.nix; rg deployer nix/modules; nix flake show . --all-systems | rg deployer"),
        Finding(
            id: "F4.1", severity: .P1, layers: [.runtime],
            title:
                "first-boot join uses https://…:2379 (leader_url default and generated), but Chainfire's /admin/member/add is plain-HTTP REST",
            investigation:
                "first-boot-automation.nix:37,46,83; plasmacloud-cluster.nix:63; nix-nos/topology.nix:110; chainfire-server rest.rs:143,404, server.rs:175,178"
        ),
        Finding(
            id: "F4.2", severity: .P1, layers: [.runtime],
            title: "first-boot POSTs /admin/member/add to FlareDB, whose REST router has no such route",
            investigation: "first-boot-automation.nix:266,270; flaredb-server rest.rs:149,156"),
        Finding(
            id: "F4.3", severity: .P1, layers: [.runtime],
            title: "the join curl has no -k and no CA, so a self-signed TLS leader is refused",
            investigation: "first-boot-automation.nix:147,148"),
        Finding(
            id: "F5.1", severity: .P1, layers: [.evaluation],
            title: "test-cluster node02/node03 set services.chainfire.joinAddr, which chainfire.nix does not declare",
            investigation:
                "nix eval ./nix/test-cluster#nixosConfigurations.node02… → The option `services.chainfire.joinAddr' does not exist"
        ),
        Finding(
            id: "F5.2", severity: .P1, layers: [.evaluation],
            title: "creditservice.nix reads config.services.flaredb, but node06 does not import the flaredb module",
            investigation:
                "nix eval ./nix/test-cluster#nixosConfigurations.node06… → error: attribute 'flaredb' missing"),
        Finding(
            id: "F6", severity: .P2, layers: [.evaluation, .staticText],
            title:
                "cluster-config generation is written twice (plasmacloud-cluster.nix and nix-nos/topology.nix) and can drift",
            investigation: "plasmacloud-cluster.nix:49-91 vs nix-nos/topology.nix:91-136"),
        Finding(
            id: "F7", severity: .P2, layers: [.evaluation, .staticText],
            title: "doCheck = false on many main service packages: regressions escape CI",
            investigation: "flake.nix:206,240,263,276,290,306,329,345"),
    ]

    public static var ids: [String] { findings.map(\.id) }

    public static func finding(_ id: String) throws -> Finding {
        guard let f = findings.first(where: { $0.id.caseInsensitiveCompare(id) == .orderedSame }) else {
            throw FindingsError(
                .unknownFinding, "unknown finding id `\(id)`: the findings are \(ids.joined(separator: ", "))")
        }
        return f
    }
}

/// The harness could not decide anything: bad input or a missing tool.
public struct FindingsError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable { case unknownFinding, badLedger, badTarget, notAvailable, environment }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
