import Foundation
import Harness
import Workloads

extension RuntimeSession {
    /// A client of each member's etcd gateway (its client port, 2379 in the miniature),
    /// through a 127.0.0.1 forward on the member's management NIC, never the cluster network.
    public func gatewayClients(_ members: [String], clientPort: Int = 2379) async throws -> [EtcdGatewayClient] {
        var clients: [EtcdGatewayClient] = []
        for name in members {
            let port = try await node(name).forward(guestPort: clientPort)
            clients.append(EtcdGatewayClient(endpoint: URL(string: "http://127.0.0.1:\(port)")!))
        }
        return clients
    }
}
