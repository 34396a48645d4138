import Findings
import Foundation
import HostCommand
import Logging
import Nix
import XCTest

/// F6 on a checkout that is not the miniature: the generators' option schemas are read,
/// not assumed. The variant (Scenarios/targets/miniature-variant-schemas) is the
/// miniature with two generators whose schemas drifted apart: an attribute set of hosts
/// against a list of nodes with other field names.
final class FindingsSchemaDriftTests: XCTestCase {
    let logger = Logger(label: "scenarios")

    /// The miniature with `patches` applied and `edits` made, as a git checkout, its
    /// nixpkgs input pointed at the stand-in as the miniature's is.
    func variant(_ patches: [String], edits: [(file: String, from: String, to: String)] = []) async throws -> Target {
        let home = try HarnessHome.locate()
        let dir = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("phc-variant-\(UUID().uuidString.prefix(8))")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: home.miniature, to: dir)
        let git = { (args: [String]) in
            HostCommand("git", ["-C", dir.path, "-c", "user.name=t", "-c", "user.email=t@t"] + args)
        }
        let patchDirectory = home.scenarios.appendingPathComponent("targets/miniature-variant-schemas")
        try await git(["init", "-q"]).succeed(timeout: 30)
        for patch in patches {
            try await git(["apply", patchDirectory.appendingPathComponent(patch).path]).succeed(timeout: 30)
        }
        for edit in edits {
            let url = dir.appendingPathComponent(edit.file)
            let text = try String(contentsOf: url, encoding: .utf8)
            XCTAssertTrue(text.contains(edit.from), "\(edit.file) has no `\(edit.from)`")
            try text.replacingOccurrences(of: edit.from, with: edit.to)
                .write(to: url, atomically: true, encoding: .utf8)
        }
        try await git(["add", "-A"]).succeed(timeout: 30)
        try await git(["commit", "-qm", "variant"]).succeed(timeout: 30)
        let miniature = try await Target.miniature(home: home)
        return try Target.checkout(dir.path, overrides: miniature.overrides)
    }

    func decideF6(_ target: Target) async throws -> CheckRun.Result {
        let run = CheckRun(nix: try await Nix.locate(logger: logger), logger: logger)
        let ledger = try Ledger.load(try HarnessHome.locate().defaultLedger)
        return try await run.run(["F6"], on: target, ledger: ledger).results[0]
    }

    func text(_ result: CheckRun.Result) -> String {
        let lines = result.evidence.map { "\($0.location?.description ?? "") \($0.excerpt)" }
        return ([result.summary] + lines).joined(separator: "\n")
    }

    /// Different schemas, an evident mapping: each generator gets the cluster in its own
    /// schema, and the outputs are compared (this variant made the harness say "error":
    /// "The option `nix-nos.topology.name' does not exist").
    func testDifferentSchemasAreFedTheSameClusterAndCompared() async throws {
        let result = try await decideF6(try await variant(["schemas.patch"]))
        let all = text(result)
        XCTAssertEqual(result.outcome, .reproduced, all)
        XCTAssertTrue(result.summary.contains("disagree on"), all)
        XCTAssertTrue(
            all.contains(
                "fed plasmacloud.cluster ← enable, hosts.<name>.{ip, roles}, leader (leader), "
                    + "name (name)"), all)
        XCTAssertTrue(
            all.contains(
                "fed nix-nos.topology ← bootstrapNode (leader), clusterName (name), enable, "
                    + "nodes[].{name (name), address, services}"), all)
        XCTAssertTrue(
            all.contains(
                "flaredb_endpoints: plasmacloud/cluster-config.json has "
                    + #"["10.9.0.1:2479","10.9.0.2:2479"]"#), all)
        XCTAssertTrue(all.contains("schema: only plasmacloud.cluster"), all)
        XCTAssertFalse(all.contains("does not exist"), all)
    }

    /// The same JSON through different schemas: resolved.
    func testSameOutputThroughDifferentSchemasIsResolved() async throws {
        let result = try await decideF6(try await variant(["schemas.patch", "same-output.patch"]))
        XCTAssertEqual(result.outcome, .resolved, text(result))
        XCTAssertTrue(result.summary.contains("through different option schemas"), text(result))
    }

    /// A required field nothing in a cluster maps to: the schemas' difference is the evidence.
    func testUnmappableSchemaIsReportedWithTheSchemaDifference() async throws {
        let result = try await decideF6(
            try await variant(
                ["schemas.patch"],
                edits: [
                    (
                        file: "nix/modules/nix-nos/topology.nix",
                        from: "      address = mkOption { type = types.str; };",
                        to:
                            "      address = mkOption { type = types.str; };\n      rack = mkOption { type = types.str; };"
                    )
                ]))
        let all = text(result)
        XCTAssertEqual(result.outcome, .reproduced, all)
        XCTAssertTrue(result.summary.contains("declare different option schemas"), all)
        XCTAssertTrue(all.contains("nix-nos.topology.nodes.rack (str) has no default"), all)
        XCTAssertTrue(all.contains("only nix-nos.topology (nix/modules/nix-nos/topology.nix) declares"), all)
        XCTAssertTrue(all.contains("nodes[].rack (str, required)"), all)
    }

    /// "error" only when neither generator can be evaluated.
    func testNeitherGeneratorEvaluatesIsAnError() async throws {
        let broken = "config = mkIf cfg.enable {"
        let result = try await decideF6(
            try await variant(
                ["schemas.patch"],
                edits: [
                    (file: "nix/modules/plasmacloud-cluster.nix", from: broken, to: "config = mkIf cfg.enable {{"),
                    (file: "nix/modules/nix-nos/topology.nix", from: broken, to: "config = mkIf cfg.enable {{"),
                ]))
        XCTAssertEqual(result.outcome, .error, text(result))
        XCTAssertTrue(result.summary.contains("neither cluster-config generator can be evaluated"), text(result))
        XCTAssertTrue(text(result).contains("syntax error"), text(result))
    }

    /// One generator broken, the other fine: that is a difference, not an error.
    func testOneGeneratorThatDoesNotEvaluateIsReproduced() async throws {
        let result = try await decideF6(
            try await variant(
                ["schemas.patch", "same-output.patch"],
                edits: [
                    (file: "nix/modules/nix-nos/topology.nix", from: "cfg.clusterName;", to: "cfg.clusterName.missing;")
                ]))
        XCTAssertEqual(result.outcome, .reproduced, text(result))
        XCTAssertTrue(result.summary.contains("cannot be evaluated for it"), text(result))
    }
}
