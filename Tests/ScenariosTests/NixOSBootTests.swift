import Findings
import Foundation
import Harness
import Logging
import Nemesis
import Nix
import Runtime
import SSH
import XCTest

/// The NixOS image provider end to end with real nix, libvirt and SSH: the
/// miniature's test-cluster configurations on the nixpkgs stand-in, whose
/// vmVariant boots the way qemu-vm.nix's does (kernel and initrd from the system,
/// the disk labelled nixos, /nix/store over 9p). What the stand-in cannot stand in
/// for is real NixOS userland; that runs only on a host with nixpkgs.
final class NixOSBootTests: XCTestCase {
    let logger = Logger(label: "nixos-boot")

    /// The image and the nodes left out (their findings are checked at the projection, in NixOSPlanTests).
    func image(fixes: [String], key: SSHKey) async throws -> (NixOSImage, failed: [String]) {
        let target = try await Target.miniature(home: try HarnessHome.locate(), fixes: fixes)
        let provider = NixOSImageProvider(target: target, nix: try await Nix.locate(logger: logger))
        let (image, failed) = try await NixOSImage.make(provider: provider, key: key, logger: logger)
        return (image, failed.map(\.name))
    }

    /// Each node booted from its own definition: host name, the cluster NIC named and
    /// addressed as the definition says, root on the disk labelled nixos, the store over
    /// 9p, /etc from the definition, every peer reachable on the cluster network; and a
    /// node destroyed and started again comes back with its host key.
    func assertBootedFromTheirDefinitions(_ cluster: Cluster) async throws {
        XCTAssertEqual(cluster.nodes.map(\.name), ["node01", "node02", "node03", "node04", "node05", "node06"])
        for node in cluster.nodes {
            let spec = node.spec
            let facts = try await node.succeed(
                """
                hostname; ip -4 -o addr show eth1 | awk '{print $4}'; cat /sys/class/net/eth1/address; findfs LABEL=nixos; \
                awk '$2 == "/" {print $3} $2 == "/nix/.ro-store" {print $1, $3} $2 == "/nix/store" {print $3}' /proc/mounts; \
                test -s /etc/plasmacloud/cluster-config.json && echo etc-ok
                """)
            XCTAssertEqual(
                facts.split(separator: "\n").map(String.init),
                [spec.name, spec.clusterAddress, spec.mac, "/dev/vda", "ext4", "nix-store 9p", "overlay", "etc-ok"],
                spec.name)
        }
        let peers = cluster.nodes.map { $0.spec.ip }.joined(separator: " ")
        for node in cluster.nodes {
            try await node.succeed(
                "for ip in \(peers); do ping -c1 -W5 $ip >/dev/null || { echo \"no answer from $ip\"; exit 1; }; done")
        }
        let node = try cluster.node("node06")
        let before = try await node.endpoint().hostKey
        try await node.restart(timeout: 40 * cluster.timeoutScale)
        let after = try await node.endpoint().hostKey
        XCTAssertEqual(before, after, "the host key lives on the node's disk")
        try await node.succeed("ip -4 -o addr show eth1 | grep -q ' \(node.spec.clusterAddress) '")
    }

    /// Scenarios/failover.scenario (bootstrap, join and failover with a power loss) on
    /// NixOS nodes: node01-node03 and node06 boot with their units started by their own
    /// systems; node04 and node05 boot during join, their systems running the first-boot
    /// join; the destroyed leader's heal is a boot. Then a partition phase, and every
    /// node's boot checked against its definition.
    func testScenariosRunOnNixOSNodes() async throws {
        let script = try ScenarioLibrary(directory: try HarnessHome.locate().scenarios).load("failover")
        try await withNixOSSession(fixes: script.fixes ?? Scenarios.runnableFixes) { session, plan in
            XCTAssertTrue(session.nodesRunTheirOwnUnits)
            let result: ScenarioResult
            do { result = try await Scenarios(session: session, plan: plan).run(script).result } catch let
                failure as ScenarioScriptFailure
            {
                result = failure.run.result
            }
            XCTAssertTrue(
                result.passed,
                result.steps.filter { !$0.passed }.map { "\($0.name): \($0.detail)" }.joined(separator: "\n"))
            let booted = try XCTUnwrap(result.steps.first { $0.name.hasPrefix("join › node04 boots") })
            XCTAssertTrue(booted.detail.contains("first-boot-chainfire-join done"), booted.detail)

            // A partition on the host's bridge, under clients in the harness, on the same
            // NixOS nodes: their taps, forwards and adapter are the fixture's.
            var options = WorkloadOptions(kind: .casRegister)
            options.nemesis = [.isolateLeader]
            options.duration = 20
            options.concurrency = 6
            options.seed = 9
            let (partitioned, outcome) = try await Scenarios(session: session, plan: plan).workload(
                options.phase(name: "nixos-isolate-leader"), members: Scenarios.founders + Scenarios.joiners)
            XCTAssertTrue(
                partitioned.passed, partitioned.steps.map { "\($0.name): \($0.detail)" }.joined(separator: "\n"))
            XCTAssertTrue(try XCTUnwrap(outcome.faults.first).sound, "\(outcome.faults)")

            // Every node, the joiners booted during join included, as its definition says.
            try await assertBootedFromTheirDefinitions(session.cluster)
        }
    }

    /// A runtime finding on NixOS nodes: F4.2 reproduces with only F5 fixed and is
    /// resolved by its fix, node04's own system running the generated FlareDB join
    /// at its first boot.
    func testRuntimeFindingOnNixOSNodes() async throws {
        for (fixes, expected) in [
            (RuntimeChecks.baseFixes, Outcome.reproduced), (RuntimeChecks.baseFixes + ["F4.2"], .resolved),
        ] {
            let verdict = try await withNixOSSession(fixes: fixes) { session, plan in
                try await RuntimeChecks(session: session, plan: plan).decide("F4.2")
            }
            XCTAssertEqual(verdict.outcome, expected, "with \(fixes): \(verdict.summary)")
        }
    }

    /// Boots the miniature with `fixes` as NixOS nodes, runs `body`, and tears down.
    func withNixOSSession<T: Sendable>(fixes: [String], _ body: (RuntimeSession, ClusterPlan) async throws -> T)
        async throws -> T
    {
        let home = try HarnessHome.locate()
        let nix = try await Nix.locate(logger: logger)
        let plan = try await RuntimeSession.plan(home: home, fixes: fixes, nix: nix)
        let session = try await RuntimeSession.boot(
            plan: plan, home: home, nix: nix, logger: logger,
            artifacts: StateDirectory().reports.appendingPathComponent(
                "tests-nixos-\(ProcessInfo.processInfo.processIdentifier)"),
            nixos: try await Target.miniature(home: home, fixes: fixes))
        do {
            let result = try await body(session, plan)
            await session.close()
            return result
        } catch {
            await session.close()
            throw error
        }
    }

    /// Without the stand-in's guest tools nothing can be built: the error says how to build them.
    func testMissingGuestToolsAreNamed() async throws {
        let empty = NSTemporaryDirectory() + "phc-empty-state-\(UUID().uuidString)"
        let saved = ProcessInfo.processInfo.environment["PHOTONCLOUD_HARNESS_STATE"]
        setenv("PHOTONCLOUD_HARNESS_STATE", empty, 1)
        defer {
            if let saved {
                setenv("PHOTONCLOUD_HARNESS_STATE", saved, 1)
            } else {
                unsetenv("PHOTONCLOUD_HARNESS_STATE")
            }
        }
        do {
            _ = try await image(fixes: ["F5.1", "F5.2"], key: try SSHKey.generateEd25519())
            XCTFail("built without guest tools")
        } catch {
            XCTAssertTrue("\(error)".contains("Images/setup.sh"), "\(error)")
        }
    }
}
