import XCTest
@testable import Libvirt

final class DomainXMLTests: XCTestCase {
    func sample(accel: DomainXML.Accelerator = .tcg) -> DomainXML {
        DomainXML(
            name: "phc-0011aabb-node01", accelerator: accel, memoryMiB: 384,
            kernel: "/img/vmlinuz", initrd: "/img/initrd.img", cmdline: "console=ttyS0 phc.host=node01",
            disks: [.init(path: "/runs/node01.qcow2")],
            interfaces: [.init(network: "phc-0011aabb-net", mac: "52:54:00:66:00:0b")],
            management: .init(hostPort: 40022, mac: "52:55:00:66:00:0b"),
            consoleLog: "/runs/node01.console.log")
    }

    func testTCGDomainHasQemuTypeCacheAndForward() {
        let xml = sample().render()
        XCTAssertTrue(xml.hasPrefix("<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"))
        XCTAssertTrue(xml.contains("<tb-cache unit='MiB'>32</tb-cache>"))
        XCTAssertFalse(xml.contains("<cpu"))
        XCTAssertTrue(xml.contains("<controller type='usb' model='none'/>"))
        XCTAssertTrue(xml.contains("user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22"))
        XCTAssertTrue(xml.contains("virtio-net-pci,netdev=mgmt,mac=52:55:00:66:00:0b,romfile=,bus=pci.0,addr=0x1e"))
        XCTAssertTrue(xml.contains("<source network='phc-0011aabb-net'/>"))
        XCTAssertTrue(xml.contains("<mac address='52:54:00:66:00:0b'/>"))
        XCTAssertTrue(xml.contains("<source file='/runs/node01.qcow2'/>"))
        XCTAssertTrue(xml.contains("<on_reboot>destroy</on_reboot>"))
        XCTAssertTrue(xml.contains("<source path='/runs/node01.console.log' append='on'/>"))
    }

    func testInterfaceAliasIsReadFromLiveXML() {
        // As `virsh dumpxml` gives a running cluster node.
        let live = """
            <domain type='qemu' id='4'>
              <devices>
                <interface type='network'>
                  <mac address='52:54:00:66:00:0d'/>
                  <source network='phc-ca382354-net' portid='011f01f9' bridge='phcbrca382354'/>
                  <target dev='vnet3'/>
                  <model type='virtio'/>
                  <link state='up'/>
                  <alias name='net0'/>
                </interface>
                <interface type='network'>
                  <mac address='52:54:00:66:00:0e'/>
                  <alias name='net1'/>
                </interface>
              </devices>
            </domain>
            """
        XCTAssertEqual(DomainXML.alias(ofInterfaceWithMAC: "52:54:00:66:00:0d", in: live), "net0")
        XCTAssertEqual(DomainXML.alias(ofInterfaceWithMAC: "52:54:00:66:00:0E", in: live), "net1")
        XCTAssertNil(DomainXML.alias(ofInterfaceWithMAC: "52:54:00:66:00:0f", in: live))
        XCTAssertNil(DomainXML.alias(ofInterfaceWithMAC: "52:54:00:66:00:0d", in: sample().render()), "a defined domain has no aliases yet")
    }

    func testKVMDomainHasNoTCGCache() {
        let xml = sample(accel: .kvm).render()
        XCTAssertTrue(xml.hasPrefix("<domain type='kvm'"))
        XCTAssertFalse(xml.contains("tb-cache"))
        XCTAssertTrue(xml.contains("host-passthrough"))
    }

    func testNoManagementMeansNoQemuCommandline() {
        var d = sample()
        d.management = nil
        XCTAssertFalse(d.render().contains("qemu:commandline"))
    }

    func testEscapesSpecialCharacters() {
        var d = sample()
        d.cmdline = "a='b' & <c>"
        XCTAssertTrue(d.render().contains("<cmdline>a=&apos;b&apos; &amp; &lt;c&gt;</cmdline>"))
    }

    func testNinePShareRendersReadOnly() {
        var d = sample()
        d.shares = [.init(source: "/nix/store", tag: "nix-store", readOnly: true)]
        let xml = d.render()
        XCTAssertTrue(xml.contains("<filesystem type='mount' accessmode='squash'>"))
        XCTAssertTrue(xml.contains("<target dir='nix-store'/>"))
        XCTAssertTrue(xml.contains("<readonly/>"))
    }

    func testInterfaceLinkStateForLiveUpdate() {
        let down = DomainXML.interfaceXML(.init(network: "n", mac: "52:54:00:00:00:01", linkUp: false))
        XCTAssertTrue(down.contains("<link state='down'/>"))
        XCTAssertTrue(down.hasPrefix("<interface type='network'>"))
    }

    func testIsolatedNetworkHasNoForwardAndNoAddress() {
        let xml = NetworkXML(name: "phc-0011aabb-net", bridge: "phcbr0011aabb").render()
        XCTAssertTrue(xml.contains("<bridge name='phcbr0011aabb' stp='off' delay='0'/>"))
        XCTAssertFalse(xml.contains("<forward"))
        XCTAssertFalse(xml.contains("<ip"))
    }
}
