import Foundation

/// Why a client operation did not complete: whether the store may have applied it
/// decides between Jepsen's :fail (it did not) and :info (it may have).
public struct ClientError: Error, Sendable, CustomStringConvertible {
    /// True when the request certainly never reached the store (no connection).
    public var notApplied: Bool
    public var message: String
    public var description: String { message }
}

/// Read consistency of a get: linearizable goes through Raft's read index on the
/// leader; serializable answers from the member's local copy, which may be stale.
public enum ReadConsistency: String, Sendable, CaseIterable, Codable {
    case linearizable, serializable
}

/// The miniature's client: etcd's v3 JSON gateway (`/v3/kv/range`, `/v3/kv/put`,
/// `/v3/kv/txn` for compare-and-set, `/v3/maintenance/status`, `/v3/cluster/member/list`)
/// over keep-alive HTTP/1.1, from the host through a member's 127.0.0.1 forward.
public final class EtcdGatewayClient: StoreClient {
    public let endpoint: URL
    public var address: String { endpoint.absoluteString }
    public let timeout: Double
    private let pool: HTTPConnectionPool

    /// `endpoint` is `http://127.0.0.1:PORT`: clients reach members only through forwards.
    public init(endpoint: URL, timeout: Double = 5) {
        self.endpoint = endpoint
        self.timeout = timeout
        pool = HTTPConnectionPool(port: endpoint.port ?? 2379)
    }

    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    static func text(_ b64: Any?) -> String? {
        guard let s = b64 as? String, let data = Data(base64Encoded: s) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The value of `key`, nil when it is absent.
    public func get(_ key: String, consistency: ReadConsistency) async throws(ClientError) -> String? {
        var body: [String: Any] = ["key": Self.b64(key)]
        if consistency == .serializable { body["serializable"] = true }
        let reply = try await call("/v3/kv/range", body)
        guard let kvs = reply["kvs"] as? [[String: Any]], let first = kvs.first else { return nil }
        return Self.text(first["value"]) ?? ""
    }

    /// Every key under `prefix` (etcdctl get --prefix --keys-only): a range from the prefix
    /// to the prefix with its last byte plus one.
    public func keys(prefix: String, consistency: ReadConsistency) async throws(ClientError)
        -> [String]
    {
        var end = Array(prefix.utf8)
        if let last = end.indices.last(where: { end[$0] < 0xFF }) {
            end[last] += 1
            end.removeSubrange((last + 1)...)
        } else {
            end = [0]  // every key from the prefix on
        }
        var body: [String: Any] = [
            "key": Self.b64(prefix), "range_end": Data(end).base64EncodedString(), "keys_only": true,
        ]
        if consistency == .serializable { body["serializable"] = true }
        let reply = try await call("/v3/kv/range", body)
        return (reply["kvs"] as? [[String: Any]] ?? []).compactMap { Self.text($0["key"]) }
    }

    public func put(_ key: String, _ value: String) async throws(ClientError) {
        _ = try await call("/v3/kv/put", ["key": Self.b64(key), "value": Self.b64(value)])
    }

    public func delete(_ key: String) async throws(ClientError) {
        _ = try await call("/v3/kv/deleterange", ["key": Self.b64(key)])
    }

    /// Sets `key` to `new` if it holds `old`; whether it did.
    public func compareAndSet(_ key: String, old: String, new: String) async throws(ClientError) -> Bool {
        let reply = try await call(
            "/v3/kv/txn",
            [
                "compare": [["key": Self.b64(key), "result": "EQUAL", "target": "VALUE", "value": Self.b64(old)]],
                "success": [["request_put": ["key": Self.b64(key), "value": Self.b64(new)]]],
            ])
        // proto3's JSON leaves out a false `succeeded`.
        return reply["succeeded"] as? Bool ?? false
    }

    /// This member's view: its id, the leader's id and the Raft term.
    public func status() async throws(ClientError) -> (member: String, leader: String, term: Int) {
        let reply = try await call("/v3/maintenance/status", [:])
        let header = reply["header"] as? [String: Any]
        return (
            "\(header?["member_id"] ?? "")", "\(reply["leader"] ?? "")",
            Int("\(reply["raft_term"] ?? reply["raftTerm"] ?? header?["raft_term"] ?? "0")") ?? 0
        )
    }

    /// The members' names.
    public func memberNames() async throws(ClientError) -> [String] {
        let reply = try await call("/v3/cluster/member/list", [:])
        return (reply["members"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    func call(_ path: String, _ body: [String: Any]) async throws(ClientError) -> [String: Any] {
        let request: Data
        do { request = try JSONSerialization.data(withJSONObject: body) } catch {
            throw ClientError(notApplied: true, message: "cannot encode the request: \(error)")
        }
        let status: Int, data: Data
        do { (status, data) = try await pool.post(path, body: request, timeout: timeout) } catch {
            // Only a connection never made is certain not to have reached the store.
            switch error {
            case HTTPConnection.Failure.connect(let why):
                throw ClientError(notApplied: true, message: "127.0.0.1:\(pool.port)\(path): \(why)")
            case HTTPConnection.Failure.exchange(let why):
                throw ClientError(notApplied: false, message: "127.0.0.1:\(pool.port)\(path): \(why)")
            default:
                throw ClientError(notApplied: false, message: "127.0.0.1:\(pool.port)\(path): \(error)")
            }
        }
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        guard status == 200, let object, object["error"] == nil else {
            let text =
                object.map { "\($0["message"] ?? $0["error"] ?? "")" }
                ?? String(decoding: data.prefix(300), as: UTF8.self)
            throw ClientError(notApplied: false, message: "\(path): HTTP \(status): \(text)")
        }
        return object
    }
}
