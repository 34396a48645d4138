import Foundation
import Libvirt

/// What a run's nodes boot from: the fixture guest, or a checkout's NixOS
/// configurations. It makes each node's disk and describes its domain; the
/// engine does the rest (network, forwards, SSH, teardown) the same for both.
public protocol GuestImage: Sendable {
    /// A kernel that boots with no root, for the KVM probe.
    var probeKernel: String { get }
    /// Makes what `node` needs on the host before its domain starts (its disk at
    /// `run.disk`, shared directories). Called once per run, not on restarts.
    func prepare(_ node: NodeSpec, in run: GuestRun) async throws
    /// The domain of `node`; `sshPort` is the 127.0.0.1 port forwarded to its port 22.
    func domainXML(for node: NodeSpec, in run: GuestRun, sshPort: Int) throws -> DomainXML
    /// The same guest on a bare `qemu-system-x86_64` command line without the cluster
    /// NIC (`-accel`, `-serial` and the rest of the machine are the caller's): the
    /// baseline `harness bench boot` measures the engine against.
    func qemuArguments(for node: NodeSpec, in run: GuestRun, sshPort: Int) throws -> [String]
}

/// What a guest image knows of the run it serves, for one node.
public struct GuestRun: Sendable {
    public let domainName: String
    public let accelerator: DomainXML.Accelerator
    /// The node's root disk, in the run directory (removed with it).
    public let disk: URL
    /// The node's own directory for host-side files (shares), in the run directory.
    public let directory: URL
    public let networkName: String
    public let consoleLog: String
    /// The run's public key (base64 of the ed25519 key).
    public let publicKey: String
    /// Every node of the run, for /etc/hosts-like wiring.
    public let peers: [NodeSpec]
}
