import Foundation

/// The simplest workload: one client writes `PREFIX<i>` = `v<i>`, one put at a time,
/// until stopped. After a failed put the next goes to the next member, as a client
/// fails over. A put that failed may still have been applied: its outcome is unknown.
public struct SteadyWritesWorkload: Sendable {
    public struct Write: Sendable, Equatable {
        public var key: String
        public var invoke: Double
        public var complete: Double
        public var acknowledged: Bool
    }

    public var prefix: String

    public init(prefix: String) { self.prefix = prefix }

    /// Writes until `stop` says so (checked between puts, so the last put's outcome is
    /// known) and returns every write, timed by `now` (seconds, the caller's clock).
    /// `progress` is told each write as it completes.
    public func run(
        clients: [any StoreClient], now: @escaping @Sendable () -> Double, stop: @escaping @Sendable () -> Bool,
        progress: @escaping @Sendable (Write) -> Void = { _ in }
    ) async -> [Write] {
        var writes: [Write] = []
        var member = 0
        var i = 0
        while !stop() && !Task.isCancelled && !clients.isEmpty {
            i += 1
            let key = "\(prefix)\(i)"
            let invoke = now()
            var acknowledged = true
            do { try await clients[member].put(key, "v\(i)") } catch {
                acknowledged = false
                member = (member + 1) % clients.count
                // A refused connection fails at once: do not spin through the members.
                if error.notApplied { try? await Task.sleep(for: .milliseconds(200)) }
            }
            let write = Write(key: key, invoke: invoke, complete: now(), acknowledged: acknowledged)
            writes.append(write)
            progress(write)
        }
        return writes
    }
}
