import Foundation
import Harness
import HostCommand
import Libvirt
import XCTest

@testable import Runtime

/// The NixOS provider's domain XML from a recorded projection (node01 of the
/// miniature, as `harness plan --fix F5.1,F5.2 --json` printed it), against a golden copy and
/// against libvirt's own schema.
final class NixOSDomainXMLTests: XCTestCase {
    static let projection = #"""
        {"cores":1,"derivations":["/nix/store/pa5sp2fpvyhdbp289j5wmm9s3bh8z45x-nixos-system-node01.drv"],"diskSize":1024,"hostName":"node01","initrd":"/nix/store/m0bwsgbz5vg4dj66l32lfngapk7jjy10-nixos-system-node01/initrd","interfaces":{"eth1":{"addresses":["10.66.0.11/24"],"mac":"52:54:00:66:00:0b"},"mgmt0":{"addresses":["10.0.2.15/24"]}},"kernel":"/nix/store/m0bwsgbz5vg4dj66l32lfngapk7jjy10-nixos-system-node01/kernel","kernelParams":["console=ttyS0,115200n8","init=/nix/store/m0bwsgbz5vg4dj66l32lfngapk7jjy10-nixos-system-node01/init"],"memorySize":384,"rootKeys":["ssh-ed25519 RUN-KEY harness"],"shares":{"nix-store":{"securityModel":"none","source":"/nix/store","target":"/nix/.ro-store"},"shared":{"securityModel":"none","source":"${SHARED_DIR:-$TMPDIR/xchg}","target":"/tmp/shared"},"xchg":{"securityModel":"none","source":"$TMPDIR/xchg","target":"/tmp/xchg"}},"toplevel":"/nix/store/m0bwsgbz5vg4dj66l32lfngapk7jjy10-nixos-system-node01"}
        """#

    static let golden = #"""
        <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
          <name>phc-RUNID-node01</name>
          <memory unit='MiB'>384</memory>
          <vcpu>1</vcpu>
          <os>
            <type arch='x86_64' machine='pc'>hvm</type>
            <kernel>/var/lib/photoncloud-harness/runs/phc-RUNID/node01/kernel</kernel>
            <initrd>/var/lib/photoncloud-harness/runs/phc-RUNID/node01/initrd</initrd>
            <cmdline>console=ttyS0,115200n8 init=/nix/store/m0bwsgbz5vg4dj66l32lfngapk7jjy10-nixos-system-node01/init no_timer_check</cmdline>
          </os>
          <features>
            <acpi/>
            <tcg><tb-cache unit='MiB'>64</tb-cache></tcg>
          </features>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>destroy</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2' cache='writeback'/>
              <source file='/var/lib/photoncloud-harness/runs/phc-RUNID/node01.qcow2'/>
              <target dev='vda' bus='virtio'/>
              <serial>root</serial>
            </disk>
            <filesystem type='mount' accessmode='squash'>
              <driver type='path'/>
              <source dir='/nix/store'/>
              <target dir='nix-store'/>
              <readonly/>
            </filesystem>
            <filesystem type='mount' accessmode='squash'>
              <driver type='path'/>
              <source dir='/var/lib/photoncloud-harness/runs/phc-RUNID/node01/shares/shared'/>
              <target dir='shared'/>
            </filesystem>
            <filesystem type='mount' accessmode='squash'>
              <driver type='path'/>
              <source dir='/var/lib/photoncloud-harness/runs/phc-RUNID/node01/shares/xchg'/>
              <target dir='xchg'/>
            </filesystem>
            <interface type='network'>
              <source network='phc-RUNID-net'/>
              <mac address='52:54:00:66:00:0b'/>
              <model type='virtio'/>
              <rom enabled='no'/>
              <link state='up'/>
            </interface>
            <serial type='file'>
              <source path='/var/lib/photoncloud-harness/runs/phc-RUNID/node01.console.log' append='on'/>
              <target port='0'/>
            </serial>
            <console type='file'>
              <source path='/var/lib/photoncloud-harness/runs/phc-RUNID/node01.console.log' append='on'/>
              <target type='serial' port='0'/>
            </console>
            <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
            <controller type='usb' model='none'/>
            <memballoon model='none'/>
          </devices>
          <qemu:commandline>
            <qemu:arg value='-netdev'/>
            <qemu:arg value='user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:0-:22'/>
            <qemu:arg value='-device'/>
            <qemu:arg value='virtio-net-pci,netdev=mgmt,mac=52:54:00:ff:00:01,romfile=,bus=pci.0,addr=0x1e'/>
          </qemu:commandline>
        </domain>

        """#

    func render() throws -> String {
        let node = try JSONDecoder().decode(NixOSNode.self, from: Data(Self.projection.utf8))
        let run = "/var/lib/photoncloud-harness/runs/phc-RUNID"
        return NixOSImageProvider.domainXML(
            node, domainName: "phc-RUNID-node01", accelerator: .tcg, disk: "\(run)/node01.qcow2",
            network: "phc-RUNID-net",
            sshPort: 0, consoleLog: "\(run)/node01.console.log", directory: URL(fileURLWithPath: "\(run)/node01")
        ).render()
    }

    func testGoldenDomainXML() throws {
        XCTAssertEqual(try render(), Self.golden)
    }

    func testProjectionDecisions() throws {
        let node = try JSONDecoder().decode(NixOSNode.self, from: Data(Self.projection.utf8))
        XCTAssertEqual(node.clusterInterface?.name, "eth1")
        XCTAssertEqual(node.clusterInterface?.interface.mac, "52:54:00:66:00:0b")
        // The harness's management NIC has an address too, but is never the cluster's.
        XCTAssertEqual(node.interfaces["mgmt0"]?.addresses, ["10.0.2.15/24"])
        XCTAssertEqual(
            node.spec,
            NodeSpec(name: "node01", memoryMiB: 384, clusterAddress: "10.66.0.11/24", mac: "52:54:00:66:00:0b"))
        let xml = try render()
        XCTAssertTrue(xml.contains("<source dir='/nix/store'/>\n      <target dir='nix-store'/>\n      <readonly/>"))
        XCTAssertTrue(xml.contains("<serial>root</serial>"))
        XCTAssertTrue(xml.contains("init=\(node.toplevel)/init"))
        XCTAssertEqual(
            xml.components(separatedBy: "console=ttyS0").count - 1, 1, "one serial console on the command line")
    }

    func testDomainXMLValidatesAgainstLibvirtsSchema() async throws {
        let file = NSTemporaryDirectory() + "nixos-domain-\(UUID().uuidString).xml"
        try render().write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let out = try await HostCommand("virt-xml-validate", [file, "domain"]).run(timeout: 30)
        XCTAssertEqual(out.status, 0, out.stdout + out.stderr)
    }
}
