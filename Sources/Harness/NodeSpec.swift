import Foundation

/// What the engine needs to boot one node: its name, memory, and its address and
/// MAC on the cluster network.
public struct NodeSpec: Sendable, Equatable, Codable {
    public var name: String
    public var memoryMiB: Int
    /// CIDR, e.g. `10.66.0.11/24`.
    public var clusterAddress: String
    public var mac: String

    public init(name: String, memoryMiB: Int, clusterAddress: String, mac: String) {
        self.name = name; self.memoryMiB = memoryMiB; self.clusterAddress = clusterAddress; self.mac = mac
    }

    public var ip: String { String(clusterAddress.split(separator: "/").first ?? "") }

    public static let maxNodes = 6

    /// node01…nodeNN of the fixture cluster, on 10.66.0.0/24.
    public static func fixture(count: Int, memoryMiB: Int = 384) throws -> [NodeSpec] {
        guard (1...maxNodes).contains(count) else {
            throw HarnessError(
                .badInput,
                "--nodes \(count) is out of range: the test cluster has node01…node0\(maxNodes), so give 1 to \(maxNodes)"
            )
        }
        return (1...count).map { i in
            let n = 10 + i
            return NodeSpec(
                name: String(format: "node%02d", i), memoryMiB: memoryMiB,
                clusterAddress: "10.66.0.\(n)/24", mac: String(format: "52:54:00:66:00:%02x", n))
        }
    }

    /// Checks what would otherwise surface as an obscure libvirt or guest error.
    public func validate() throws {
        let nameOK = !name.isEmpty && name.count <= 32 && name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" }
        guard nameOK else {
            throw HarnessError(.badInput, "node name `\(name)` must be 1-32 characters of a-z, 0-9 and -")
        }
        guard (64...65536).contains(memoryMiB) else {
            throw HarnessError(.badInput, "\(name): memory \(memoryMiB) MiB is out of range 64…65536")
        }
        let parts = clusterAddress.split(separator: "/")
        let octets = parts.first?.split(separator: ".").compactMap { UInt8($0) } ?? []
        guard parts.count == 2, octets.count == 4, let bits = Int(parts[1]), (8...30).contains(bits) else {
            throw HarnessError(
                .badInput, "\(name): cluster address `\(clusterAddress)` is not an IPv4 CIDR like 10.66.0.11/24")
        }
        let macParts = mac.split(separator: ":")
        guard macParts.count == 6, macParts.allSatisfy({ $0.count == 2 && UInt8($0, radix: 16) != nil }),
            mac == mac.lowercased()
        else {
            throw HarnessError(.badInput, "\(name): MAC `\(mac)` is not a lower-case 52:54:00:xx:xx:xx address")
        }
    }
}
