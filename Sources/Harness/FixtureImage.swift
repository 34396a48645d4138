import Foundation
import HostCommand
import Libvirt

/// The fixture guest built by `Images/fixture/build.sh`: kernel, initramfs and the
/// read-only base disk every node overlays. Read from the manifest the build writes.
public struct FixtureImage: Codable, Sendable {
    public let name: String
    public let key: String
    public let kernel: String
    public let initrd: String
    public let baseDisk: String
    public let kernelVersion: String
    public let memoryMiB: Int

    public static func load(from state: StateDirectory) throws -> FixtureImage {
        let manifest = state.images.appendingPathComponent("fixture.json")
        guard let data = try? Data(contentsOf: manifest) else {
            throw HarnessError(
                .environment,
                "the fixture guest image is not built (no \(manifest.path)): run `Images/setup.sh`, or `Images/fixture/build.sh` if the host is already set up"
            )
        }
        let image: FixtureImage
        do { image = try JSONDecoder().decode(FixtureImage.self, from: data) } catch {
            throw HarnessError(
                .environment, "\(manifest.path) is malformed: rebuild with `Images/fixture/build.sh`", cause: error)
        }
        for path in [image.kernel, image.initrd, image.baseDisk] where !FileManager.default.isReadableFile(atPath: path)
        {
            throw HarnessError(
                .environment, "fixture image file \(path) is missing: rebuild with `Images/fixture/build.sh`")
        }
        return image
    }
}

extension FixtureImage: GuestImage {
    public var probeKernel: String { kernel }

    /// A qcow2 overlay on the shared read-only base.
    public func prepare(_ node: NodeSpec, in run: GuestRun) async throws {
        do {
            try await HostCommand(
                "qemu-img", ["create", "-q", "-f", "qcow2", "-b", baseDisk, "-F", "qcow2", run.disk.path]
            )
            .succeed(timeout: 30)
        } catch {
            throw HarnessError(.environment, "\(node.name): cannot create its disk overlay", cause: error)
        }
    }

    /// The fixture's init configures the node from `phc.*` kernel parameters.
    /// `no_timer_check`: under TCG on a loaded host the kernel's IO-APIC timer check can
    /// lose its race and panic the boot (CI saw "setup_IO_APIC" in a power-loss restart).
    func commandLine(for node: NodeSpec, in run: GuestRun) -> String {
        let hosts = run.peers.map { "\($0.name)=\($0.ip)" }.joined(separator: ",")
        return [
            "console=ttyS0", "quiet", "panic=-1", "no_timer_check",
            "phc.host=\(node.name)", "phc.ip=\(node.clusterAddress)", "phc.mac=\(node.mac)",
            "phc.key=\(run.publicKey)", "phc.hosts=\(hosts)",
        ].joined(separator: " ")
    }

    public func domainXML(for node: NodeSpec, in run: GuestRun, sshPort: Int) -> DomainXML {
        DomainXML(
            name: run.domainName, accelerator: run.accelerator, memoryMiB: node.memoryMiB,
            kernel: kernel, initrd: initrd, cmdline: commandLine(for: node, in: run),
            disks: [.init(path: run.disk.path)],
            interfaces: [.init(network: run.networkName, mac: node.mac)],
            management: .init(hostPort: sshPort, mac: Self.managementMAC(for: node.mac)),
            consoleLog: run.consoleLog)
    }

    public func qemuArguments(for node: NodeSpec, in run: GuestRun, sshPort: Int) -> [String] {
        [
            "-m", "\(node.memoryMiB)", "-smp", "1", "-kernel", kernel, "-initrd", initrd,
            "-append", commandLine(for: node, in: run),
            "-drive", "file=\(run.disk.path),if=virtio,format=qcow2",
            "-netdev", "user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:\(sshPort)-:22",
            "-device", "virtio-net-pci,netdev=mgmt,romfile=",
        ]
    }

    /// The management NIC's MAC: the cluster MAC with its second octet changed, so
    /// the guest tells its two NICs apart by MAC.
    public static func managementMAC(for clusterMAC: String) -> String {
        var parts = clusterMAC.split(separator: ":").map(String.init)
        parts[1] = "55"
        return parts.joined(separator: ":")
    }
}
