import Harness

/// A partition of the cluster network in Jepsen's terms: who does not hear whom. The
/// result is a set of directed cuts (`to` never receives `from`'s frames), enforced on
/// the host's bridge.
public enum Partition: Sendable, Equatable, CustomStringConvertible {
    /// One node hears nobody and nobody hears it.
    case isolate(String)
    /// The nodes split in two: the first ⌊n/2⌋ (a minority) against the rest.
    case halves
    /// Every node sees a majority (itself included) and no two see the same one: each
    /// node hears a window of the ring around it.
    case majoritiesRing
    /// Two halves that do not hear each other, joined by one node (the middle one) that
    /// hears and is heard by all.
    case bridge
    /// `to` does not hear `from`; `from` still hears `to`.
    case oneWay(from: String, to: String)

    public var description: String {
        switch self {
        case .isolate(let n): return "isolate \(n)"
        case .halves: return "halves"
        case .majoritiesRing: return "majorities ring"
        case .bridge: return "bridge"
        case .oneWay(let from, let to): return "one way: \(to) does not hear \(from)"
        }
    }

    /// The directed cuts over `nodes` (in the order given: the ring and the halves follow it).
    public func cuts(_ nodes: [String]) throws -> Set<BridgeFirewall.Cut> {
        func both(_ a: [String], _ b: [String]) -> Set<BridgeFirewall.Cut> {
            var cuts = Set<BridgeFirewall.Cut>()
            for x in a {
                for y in b where x != y {
                    cuts.insert(.init(from: x, to: y))
                    cuts.insert(.init(from: y, to: x))
                }
            }
            return cuts
        }
        func known(_ n: String) throws {
            guard nodes.contains(n) else {
                throw HarnessError(
                    .badInput, "\(n) is not one of the partitioned nodes \(nodes.joined(separator: ", "))")
            }
        }
        switch self {
        case .isolate(let n):
            try known(n)
            return both([n], nodes.filter { $0 != n })
        case .halves:
            guard nodes.count >= 2 else { throw HarnessError(.badInput, "halves need 2 nodes or more") }
            let k = nodes.count / 2
            return both(Array(nodes.prefix(k)), Array(nodes.dropFirst(k)))
        case .bridge:
            guard nodes.count >= 3 else { throw HarnessError(.badInput, "a bridge needs 3 nodes or more") }
            let middle = nodes.count / 2
            return both(Array(nodes.prefix(middle)), Array(nodes.dropFirst(middle + 1)))
        case .majoritiesRing:
            guard nodes.count >= 3 else { throw HarnessError(.badInput, "a majorities ring needs 3 nodes or more") }
            let n = nodes.count, majority = n / 2 + 1
            let before = (majority - 1) / 2, after = majority - 1 - before
            var cuts = Set<BridgeFirewall.Cut>()
            for (i, node) in nodes.enumerated() {
                let heard = Set((-before...after).map { nodes[((i + $0) % n + n) % n] })
                for other in nodes where !heard.contains(other) { cuts.insert(.init(from: other, to: node)) }
            }
            return cuts
        case .oneWay(let from, let to):
            try known(from)
            try known(to)
            guard from != to else { throw HarnessError(.badInput, "a one-way cut needs two different nodes") }
            return [.init(from: from, to: to)]
        }
    }

    /// Who each node hears (itself included), given `cuts`.
    public static func heard(_ nodes: [String], cuts: Set<BridgeFirewall.Cut>) -> [String: Set<String>] {
        Dictionary(
            uniqueKeysWithValues: nodes.map { node in
                (node, Set(nodes.filter { $0 == node || !cuts.contains(.init(from: $0, to: node)) }))
            })
    }
}
