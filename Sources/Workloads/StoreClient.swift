import Foundation

/// What a workload needs of a store's client: the contract in docs/client-contract.md.
/// The built-in `EtcdGatewayClient` meets it for the miniature; a checkout supplies a
/// program that speaks it in JSON lines (`JSONLinesClient`), with no Swift to write.
/// Every error says whether the store may have applied the request: a client that
/// cannot tell says it may have (Jepsen's :info), never that it did not.
public protocol StoreClient: Sendable {
    /// Where requests go, for logs and reports.
    var address: String { get }
    /// The value of `key`, nil when it is absent.
    func get(_ key: String, consistency: ReadConsistency) async throws(ClientError) -> String?
    func put(_ key: String, _ value: String) async throws(ClientError)
    /// Sets `key` to `new` if it holds `old`; whether it did.
    func compareAndSet(_ key: String, old: String, new: String) async throws(ClientError) -> Bool
    /// Every key under `prefix`, in order.
    func keys(prefix: String, consistency: ReadConsistency) async throws(ClientError) -> [String]
    func delete(_ key: String) async throws(ClientError)
    /// This member's view: its id, the leader's id (empty when it knows none), the term.
    func status() async throws(ClientError) -> (member: String, leader: String, term: Int)
}

extension StoreClient {
    public func get(_ key: String) async throws(ClientError) -> String? {
        try await get(key, consistency: .linearizable)
    }

    public func keys(prefix: String) async throws(ClientError) -> [String] {
        try await keys(prefix: prefix, consistency: .linearizable)
    }
}
