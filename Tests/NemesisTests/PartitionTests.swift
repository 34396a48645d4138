import XCTest

@testable import Harness
@testable import Libvirt
@testable import Nemesis

/// The partition shapes as Jepsen defines them, and the rules they become.
final class PartitionTests: XCTestCase {
    let five = ["n1", "n2", "n3", "n4", "n5"]
    typealias Cut = BridgeFirewall.Cut

    func testIsolateCutsOneNodeBothWays() throws {
        let heard = Partition.heard(five, cuts: try Partition.isolate("n3").cuts(five))
        XCTAssertEqual(heard["n3"], ["n3"])
        XCTAssertEqual(heard["n1"], ["n1", "n2", "n4", "n5"])
        XCTAssertThrowsError(try Partition.isolate("n9").cuts(five))
    }

    func testHalvesAreAMinorityAndAMajority() throws {
        let heard = Partition.heard(five, cuts: try Partition.halves.cuts(five))
        XCTAssertEqual(heard["n1"], ["n1", "n2"])
        XCTAssertEqual(heard["n5"], ["n3", "n4", "n5"])
    }

    func testBridgeJoinsTwoHalvesThroughTheMiddleNode() throws {
        let heard = Partition.heard(five, cuts: try Partition.bridge.cuts(five))
        XCTAssertEqual(heard["n3"], Set(five))
        XCTAssertEqual(heard["n1"], ["n1", "n2", "n3"])
        XCTAssertEqual(heard["n5"], ["n3", "n4", "n5"])
    }

    /// For 3 to 6 nodes: every node hears a majority, and no two hear the same one.
    func testMajoritiesRingGivesEachNodeItsOwnMajority() throws {
        for n in 3...6 {
            let nodes = (1...n).map { "n\($0)" }
            let heard = Partition.heard(nodes, cuts: try Partition.majoritiesRing.cuts(nodes))
            for node in nodes {
                XCTAssertGreaterThan(heard[node]!.count * 2, n, "\(n) nodes: \(node) hears \(heard[node]!)")
                XCTAssertTrue(heard[node]!.contains(node))
            }
            XCTAssertEqual(Set(heard.values).count, n, "\(n) nodes: two nodes hear the same majority")
            XCTAssertFalse(try Partition.majoritiesRing.cuts(nodes).isEmpty)
        }
    }

    func testOneWayCutsOneDirection() throws {
        XCTAssertEqual(try Partition.oneWay(from: "n1", to: "n2").cuts(five), [Cut(from: "n1", to: "n2")])
        XCTAssertThrowsError(try Partition.oneWay(from: "n1", to: "n1").cuts(five))
    }

    func testTheRulesetDropsEachCutBetweenTaps() throws {
        let owner = RunOwner(lockPath: "/var/lib/x/runs/phc-0a0b0c0d/run.lock", bootID: "b00t")
        let text = try BridgeFirewall.ruleset(
            table: "phc_0a0b0c0d", owner: owner, cuts: [Cut(from: "n1", to: "n2")],
            taps: ["n1": "vnet1", "n2": "vnet2"],
            lossPercent: 30, lossAmong: ["n1", "n2"])
        XCTAssertTrue(text.contains("iifname \"vnet1\" oifname \"vnet2\" counter drop"), text)
        XCTAssertTrue(
            text.contains("iifname \"vnet2\" oifname \"vnet1\" numgen random mod 100 < 30 counter drop"), text)
        XCTAssertTrue(text.hasPrefix("table bridge phc_0a0b0c0d {}\ndelete table bridge phc_0a0b0c0d\n"))
        XCTAssertEqual(
            BridgeFirewall.owner(fromComment: "phc-run lock=\(owner.lockPath) boot-id=b00t"), owner)
        XCTAssertNil(BridgeFirewall.owner(fromComment: "someone else's table"))
        // nft's JSON has no table comments: the reaper reads them from the text listing.
        let listing =
            "table bridge phc_0a0b0c0d {\n\tcomment \"phc-run lock=\(owner.lockPath) boot-id=b00t\"\n"
            + "\tchain forward {\n\t}\n}\n"
        XCTAssertEqual(BridgeFirewall.comment(inListing: listing).flatMap(BridgeFirewall.owner(fromComment:)), owner)
        XCTAssertNil(BridgeFirewall.comment(inListing: "table bridge x {\n}\n"))
        XCTAssertThrowsError(
            try BridgeFirewall.ruleset(
                table: "t", owner: owner, cuts: [Cut(from: "n1", to: "n9")], taps: ["n1": "vnet1"], lossPercent: 0,
                lossAmong: []))
    }

    /// Packet loss is confirmed by the rules' counters, summed from nft's listing.
    func testDroppedFramesAreTheSumOfTheCounters() {
        let listing = """
            table bridge phc_0a0b0c0d {
            	chain forward {
            		type filter hook forward priority filter; policy accept;
            		iifname "vnet1" oifname "vnet2" numgen random mod 100 < 30 counter packets 12 bytes 1176 drop
            		iifname "vnet2" oifname "vnet1" numgen random mod 100 < 30 counter packets 3 bytes 294 drop
            	}
            }
            """
        XCTAssertEqual(BridgeFirewall.droppedFrames(inListing: listing), 15)
        XCTAssertEqual(BridgeFirewall.droppedFrames(inListing: "table bridge x {\n}\n"), 0)
    }

    func testInEchosIsReadByName() {
        let snmp = """
            Ip: Forwarding DefaultTTL
            Ip: 2 64
            Icmp: InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects InEchos InEchoReps
            Icmp: 12 0 0 3 0 0 0 0 7 2
            """
        XCTAssertEqual(Reachability.inEchos(snmp), 7)
        XCTAssertNil(Reachability.inEchos("Ip: 1\n"))
    }

    func testTargetDeviceIsReadFromLiveXML() {
        let xml = """
            <domain>
              <interface type='user'>
                <mac address='52:54:00:aa:00:01'/>
              </interface>
              <interface type='network'>
                <mac address='52:54:00:12:01:01'/>
                <source network='phc-x-net' bridge='phcbrx'/>
                <target dev='vnet7'/>
              </interface>
            </domain>
            """
        XCTAssertEqual(DomainXML.targetDevice(ofInterfaceWithMAC: "52:54:00:12:01:01", in: xml), "vnet7")
        XCTAssertNil(DomainXML.targetDevice(ofInterfaceWithMAC: "52:54:00:aa:00:01", in: xml))
    }
}
