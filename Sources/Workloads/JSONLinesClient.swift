import Foundation
import HostCommand
import Synchronization

/// A checkout's client as a program that speaks docs/client-contract.md: one JSON
/// request a line on its stdin, one JSON reply a line on its stdout, in any order,
/// matched by `id` (as Maelstrom speaks to its nodes). Started once per member as
/// `COMMAND… ENDPOINT`; requests go out as they come, many in flight at once. A reply
/// that does not come within `timeout` makes the operation's outcome unknown.
public final class JSONLinesClient: StoreClient {
    public let address: String
    public let timeout: Double
    private let child: LineProcess
    private let state = Shared()

    /// The requests awaiting replies, shared with the reader and the timers.
    private final class Shared: Sendable {
        let mutex = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    private struct State {
        var next: Int64 = 1
        var waiting: [Int64: CheckedContinuation<Reply, Never>] = [:]
        /// Why no more replies will come (the program exited), once it is so.
        var ended: String?
    }

    private enum Reply: Sendable {
        case line(Data)
        case failed(ClientError)
    }

    /// Starts `command` (a path and its first arguments) with `endpoint` as its last
    /// argument; its stderr goes to `log`.
    public init(command: [String], endpoint: String, log: String, timeout: Double = 5) throws {
        guard let program = command.first else {
            throw ClientError(notApplied: true, message: "the client command is empty")
        }
        address = endpoint
        self.timeout = timeout
        child = try LineProcess(program, Array(command.dropFirst()) + [endpoint], stderr: .file(log))
        let lines = child.lines()
        Task { [state, address] in
            for await line in lines {
                guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any],
                    let id = (object["id"] as? NSNumber)?.int64Value
                else { continue }  // not a reply: the contract lets a client log to stderr only
                state.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: .line(line))
            }
            let why = "the client for \(address) exited"
            let orphans = state.withLock { s in
                s.ended = why
                defer { s.waiting = [:] }
                return Array(s.waiting.values)
            }
            for c in orphans { c.resume(returning: .failed(ClientError(notApplied: false, message: why))) }
        }
    }

    deinit {
        let child = child
        Task { await child.terminate() }
    }

    /// Ends the client program.
    public func close() async { await child.terminate() }

    func call(_ op: String, _ fields: [String: Any]) async throws(ClientError) -> [String: Any] {
        var request = fields
        request["op"] = op
        let (id, ended) = state.withLock { s in
            defer { s.next += 1 }
            return (s.next, s.ended)
        }
        if let ended { throw ClientError(notApplied: true, message: ended) }
        request["id"] = id
        let line: Data
        do { line = try JSONSerialization.data(withJSONObject: request) } catch {
            throw ClientError(notApplied: true, message: "cannot encode \(op): \(error)")
        }
        let (timeout, state, child) = (timeout, state, child)
        let reply = await withCheckedContinuation { (continuation: CheckedContinuation<Reply, Never>) in
            state.withLock { $0.waiting[id] = continuation }
            Task {
                if !(await child.send(line)) {
                    let why = ClientError(notApplied: true, message: "the client for \(address) does not read requests")
                    state.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: .failed(why))
                }
            }
            Task {
                try? await Task.sleep(for: .milliseconds(Int64(timeout * 1000)))
                let late = ClientError(notApplied: false, message: "\(op): no reply within \(timeout) s")
                state.withLock { $0.waiting.removeValue(forKey: id) }?.resume(returning: .failed(late))
            }
        }
        switch reply {
        case .failed(let error): throw error
        case .line(let data):
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ClientError(notApplied: false, message: "\(op): a reply that is not a JSON object")
            }
            guard object["ok"] as? Bool == true else {
                // Only a client that knows the store never saw it may say so.
                throw ClientError(
                    notApplied: object["applied"] as? Bool == false,
                    message: "\(op): \(object["error"] as? String ?? "failed, no error given")")
            }
            return object
        }
    }

    public func get(_ key: String, consistency: ReadConsistency) async throws(ClientError) -> String? {
        let reply = try await call("get", ["key": key, "consistency": consistency.rawValue])
        return reply["value"] as? String
    }

    public func put(_ key: String, _ value: String) async throws(ClientError) {
        _ = try await call("put", ["key": key, "value": value])
    }

    public func compareAndSet(_ key: String, old: String, new: String) async throws(ClientError) -> Bool {
        let reply = try await call("cas", ["key": key, "old": old, "new": new])
        guard let swapped = reply["swapped"] as? Bool else {
            throw ClientError(notApplied: false, message: "cas: the reply has no \"swapped\"")
        }
        return swapped
    }

    public func keys(prefix: String, consistency: ReadConsistency) async throws(ClientError) -> [String] {
        let reply = try await call("keys", ["prefix": prefix, "consistency": consistency.rawValue])
        guard let keys = reply["keys"] as? [String] else {
            throw ClientError(notApplied: false, message: "keys: the reply has no \"keys\" list")
        }
        return keys
    }

    public func delete(_ key: String) async throws(ClientError) {
        _ = try await call("delete", ["key": key])
    }

    public func status() async throws(ClientError) -> (member: String, leader: String, term: Int) {
        let reply = try await call("status", [:])
        return (
            "\(reply["member"] ?? "")", "\(reply["leader"] ?? "")", (reply["term"] as? NSNumber)?.intValue ?? 0
        )
    }
}

/// The other side of the contract: answers one JSON-lines request with any `StoreClient`.
/// `harness client ENDPOINT` serves the built-in client this way, the reference a
/// checkout's program is compared with by the same contract tests.
public enum JSONLinesServer {
    public static func answer(_ line: Data, with client: any StoreClient) async -> Data {
        let request = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any]
        var reply: [String: Any] = ["id": request?["id"] ?? NSNull()]
        do throws(ClientError) {
            guard let request, let op = request["op"] as? String else {
                throw ClientError(notApplied: true, message: "not a request: a JSON object with \"op\" and \"id\"")
            }
            func text(_ name: String) throws(ClientError) -> String {
                guard let value = request[name] as? String else {
                    throw ClientError(notApplied: true, message: "\(op) needs \"\(name)\", a string")
                }
                return value
            }
            let consistency = ReadConsistency(rawValue: request["consistency"] as? String ?? "") ?? .linearizable
            switch op {
            case "get": reply["value"] = try await client.get(try text("key"), consistency: consistency) ?? NSNull()
            case "put": try await client.put(try text("key"), try text("value"))
            case "cas":
                reply["swapped"] = try await client.compareAndSet(
                    try text("key"), old: try text("old"), new: try text("new"))
            case "keys": reply["keys"] = try await client.keys(prefix: try text("prefix"), consistency: consistency)
            case "delete": try await client.delete(try text("key"))
            case "status":
                let s = try await client.status()
                (reply["member"], reply["leader"], reply["term"]) = (s.member, s.leader, s.term)
            default:
                throw ClientError(
                    notApplied: true, message: "unknown op `\(op)`: get, put, cas, keys, delete or status")
            }
            reply["ok"] = true
        } catch {
            reply["ok"] = false
            reply["error"] = error.message
            if error.notApplied { reply["applied"] = false }
        }
        return (try? JSONSerialization.data(withJSONObject: reply)) ?? Data(#"{"ok":false,"error":"unencodable"}"#.utf8)
    }
}
