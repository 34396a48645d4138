import Foundation
import Harness

/// Which directed paths of the cluster network carry frames, seen from the receiving
/// side: a node's ICMP `InEchos` counter (`/proc/net/snmp`) rises when an echo request
/// reaches it, whatever becomes of the reply. So a one-way cut shows as one way: a
/// ping's own verdict fails in both directions when only the replies are dropped.
public enum Reachability {
    /// The directed pairs (from → to) whose echo requests did not arrive. Each round
    /// pairs every node with a different receiver, so a counter's rise has one sender.
    public static func blocked(among nodes: [Node], timeoutScale: Double = 1) async throws -> Set<BridgeFirewall.Cut> {
        let n = nodes.count
        guard n >= 2 else { return [] }
        var blocked = Set<BridgeFirewall.Cut>()
        for round in 1..<n {
            let before = try await echoCounts(nodes)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (i, sender) in nodes.enumerated() {
                    let receiver = nodes[(i + round) % n]
                    group.addTask {
                        // Busybox ping: -w is the whole deadline; its exit status is not the verdict.
                        _ = try await sender.exec(
                            "ping -c 3 -i 0.3 -w \(Int(max(2, timeoutScale).rounded(.up))) -q \(receiver.spec.ip) "
                                + ">/dev/null 2>&1; true", timeout: 20 * timeoutScale)
                    }
                }
                try await group.waitForAll()
            }
            let after = try await echoCounts(nodes)
            for (i, sender) in nodes.enumerated() {
                let receiver = nodes[(i + round) % n]
                if (after[receiver.name] ?? 0) <= (before[receiver.name] ?? 0) {
                    blocked.insert(.init(from: sender.name, to: receiver.name))
                }
            }
        }
        return blocked
    }

    /// Each node's count of ICMP echo requests received.
    static func echoCounts(_ nodes: [Node]) async throws -> [String: Int] {
        try await withThrowingTaskGroup(of: (String, Int).self) { group in
            for node in nodes {
                group.addTask {
                    let snmp = try await node.succeed("cat /proc/net/snmp")
                    guard let count = inEchos(snmp) else {
                        throw HarnessError(
                            .node, "\(node.name): no Icmp InEchos in /proc/net/snmp:\n\(snmp.prefix(400))")
                    }
                    return (node.name, count)
                }
            }
            var counts: [String: Int] = [:]
            for try await (name, count) in group { counts[name] = count }
            return counts
        }
    }

    /// `InEchos` from /proc/net/snmp's two Icmp lines (names, then values).
    static func inEchos(_ snmp: String) -> Int? {
        let icmp = snmp.split(separator: "\n").filter { $0.hasPrefix("Icmp:") }.map { $0.split(separator: " ") }
        guard icmp.count >= 2, let column = icmp[0].firstIndex(of: "InEchos"), column < icmp[1].count else {
            return nil
        }
        return Int(icmp[1][column])
    }
}
