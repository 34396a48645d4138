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

extension RuntimeSession {
    /// Each member's client: the built-in one, or `program` (a checkout's client speaking
    /// docs/client-contract.md in JSON lines), started once per member with the member's
    /// forwarded endpoint as its last argument, its stderr kept as client-<member>.log.
    public func storeClients(_ members: [String], program: [String]?) async throws -> [any StoreClient] {
        let gateways = try await gatewayClients(members)
        guard let program else { return gateways }
        return try zip(members, gateways).map { name, gateway in
            try JSONLinesClient(
                command: program, endpoint: gateway.address,
                log: artifacts.appendingPathComponent("client-\(name).log").path)
        }
    }
}
