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
        XCTAssertNil(
            DomainXML.alias(ofInterfaceWithMAC: "52:54:00:66:00:0d", in: sample().render()),
            "a defined domain has no aliases yet")
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

    // MARK: - the run's record in <metadata>

    let owner = RunOwner(
        lockPath: "/var/lib/photoncloud-harness/runs/phc-0011aabb/run.lock",
        bootID: "3df1c306-1494-4955-9acf-7b8438fe7462")

    func testOwnerIsWrittenInMetadataAndReadBack() {
        var d = sample()
        XCTAssertFalse(d.render().contains("<metadata>"), "no owner, no metadata")
        XCTAssertNil(RunOwner(readingXML: d.render()))
        d.owner = owner
        let xml = d.render()
        XCTAssertTrue(
            xml.contains(
                """
                  <name>phc-0011aabb-node01</name>
                  <metadata>
                    <phc:run xmlns:phc='https://photoncloud.example/harness/1' \
                lock='/var/lib/photoncloud-harness/runs/phc-0011aabb/run.lock' \
                boot-id='3df1c306-1494-4955-9acf-7b8438fe7462'/>
                  </metadata>
                """), xml)
        XCTAssertEqual(RunOwner(readingXML: xml), owner)
        let network = NetworkXML(name: "phc-0011aabb-net", bridge: "phcbr0011aabb", owner: owner).render()
        XCTAssertEqual(RunOwner(readingXML: network), owner)
        XCTAssertNil(RunOwner(readingXML: NetworkXML(name: "phc-0011aabb-net", bridge: "phcbr0011aabb").render()))
    }

    func testOwnerPathsWithSpacesQuotesAndNonASCIISurviveTheRoundTrip() {
        for path in [
            "/tmp/a dir ü☃/runs/phc-0011aabb/run.lock", "/tmp/it's \"<&>\"/run.lock",
            "/tmp/tab\there/line\nbreak/cr\r\nlf/run.lock", "/tmp/&amp;/&#x41;/run.lock",
        ] {
            let written = RunOwner(lockPath: path, bootID: "b'o\"ot")
            var d = sample()
            d.owner = written
            XCTAssertEqual(RunOwner(readingXML: d.render()), written, path)
            let network = NetworkXML(name: "n", bridge: "b", owner: written).render()
            XCTAssertEqual(RunOwner(readingXML: network), written, path)
        }
    }

    func testOwnerIsReadFromXMLAsLibvirtRewritesIt() {
        // As `virsh net-dumpxml` gives it back on libvirt 9.0: double quotes, non-ASCII as references.
        let live = """
            <network>
              <name>phc-0011aabb-net</name>
              <uuid>2390a23c-d32b-4b4f-bc75-fad334f046af</uuid>
              <metadata>
                <other:app xmlns:other="https://example.org/other"><run lock="/not/ours"/></other:app>
                <h:run xmlns:h="https://photoncloud.example/harness/1" \
            lock="/tmp/a dir &#xFC;&#x2603;/&quot;x'&amp;&lt;/run.lock" boot-id="abc"/>
              </metadata>
              <bridge name='phcbr0011aabb' stp='off' delay='0'/>
            </network>
            """
        let expected = RunOwner(lockPath: "/tmp/a dir ü☃/\"x'&</run.lock", bootID: "abc")
        XCTAssertEqual(RunOwner(readingXML: live), expected)
    }

    func testOnlyOurNamespaceInMetadataCounts() {
        let ns = RunOwner.namespace
        let cases = [
            // Another application's element called run.
            "<domain><metadata><x:run xmlns:x='https://example.org/x' lock='/l' boot-id='b'/></metadata></domain>",
            // Ours, but outside <metadata> (text elsewhere cannot forge it: it would be escaped).
            "<domain><description><phc:run xmlns:phc='\(ns)' lock='/l' boot-id='b'/></description></domain>",
            "<domain><cmdline>&lt;metadata>&lt;phc:run xmlns:phc='\(ns)' lock='/l' boot-id='b'/></cmdline></domain>",
            // Ours, incomplete.
            "<domain><metadata><phc:run xmlns:phc='\(ns)' lock='' boot-id='b'/></metadata></domain>",
            "<domain><metadata><phc:run xmlns:phc='\(ns)' lock='/l'/></metadata></domain>",
            // Truncated.
            "<domain><metadata><phc:run xmlns:phc='\(ns)' lock='/l",
        ]
        for xml in cases { XCTAssertNil(RunOwner(readingXML: xml), xml) }
        let defaultNamespace =
            "<domain><!-- <metadata> --><metadata><run xmlns='\(ns)' "
            + "boot-id='b' lock='/l'></run></metadata></domain>"
        XCTAssertEqual(RunOwner(readingXML: defaultNamespace), RunOwner(lockPath: "/l", bootID: "b"))
    }
}
