import Foundation
import Linearizability
import Logging

/// Jepsen's set workload: clients add unique integers (each a key `PREFIX/e<N>`), then
/// each member's copy is read once, recorded as a `:read` of a set; checked with
/// `SetChecker`. The final reads are linearizable: etcd serves one from the member's own
/// copy once it has caught up with the leader's commit index, so a member that merely
/// lags after a heal is not mistaken for one that lost data.
public struct SetWorkload: Sendable {
    public var generator: Generator
    public var prefix: String

    public init(generator: Generator, prefix: String) {
        self.generator = generator
        self.prefix = prefix
    }

    /// Adds for the generator's duration (with `nemesis` beside, as in `CASRegisterWorkload`),
    /// then each member's final read, retried for up to `settle` seconds while it fails.
    public func run(
        clients: [any StoreClient], logger: Logger, settle: Double = 30, nemesis: NemesisHook? = nil
    ) async -> History {
        let recorder = HistoryRecorder()
        let counter = Counter()
        let prefix = prefix
        await generator.drive(clients: clients, recorder: recorder, logger: logger, progressEvery: 5, nemesis: nemesis)
        { client, process, _ in
            let v = counter.next()
            let p = HistoryEvent.Process.client(process)
            recorder.record(HistoryEvent(process: p, kind: .invoke, f: "add", value: .int(v)))
            do throws(ClientError) {
                try await client.put("\(prefix)/e\(v)", "\(v)")
                recorder.record(HistoryEvent(process: p, kind: .ok, f: "add", value: .int(v)))
                return .ok
            } catch {
                let kind: HistoryEvent.Kind = error.notApplied ? .fail : .info
                recorder.record(HistoryEvent(process: p, kind: kind, f: "add", value: .int(v)))
                return kind
            }
        }
        logger.info("set: adds done; each member's final read", metadata: ["adds": "\(counter.value)"])
        await withTaskGroup(of: Void.self) { group in
            for (i, client) in clients.enumerated() {
                group.addTask {
                    let p = HistoryEvent.Process.client(Int64(generator.concurrency * 1000 + i))
                    let deadline = ContinuousClock.now + .milliseconds(Int64(settle * 1000))
                    while true {
                        recorder.record(HistoryEvent(process: p, kind: .invoke, f: "read", value: .null))
                        do {
                            let keys = try await client.keys(prefix: "\(prefix)/e")
                            let elements = keys.compactMap { Int64($0.dropFirst(prefix.count + 2)) }.sorted()
                            recorder.record(
                                HistoryEvent(process: p, kind: .ok, f: "read", value: .set(elements.map(EDNValue.int))))
                            return
                        } catch {
                            recorder.record(HistoryEvent(process: p, kind: .fail, f: "read", value: .null))
                            if ContinuousClock.now >= deadline { return }
                            try? await Task.sleep(for: .milliseconds(500))
                        }
                    }
                }
            }
        }
        return (try? History(events: recorder.all)) ?? (try! History(events: []))
    }
}

/// Unique elements across the workload's clients.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n: Int64 = 0
    func next() -> Int64 {
        lock.withLock {
            n += 1; return n
        }
    }
    var value: Int64 { lock.withLock { n } }
}
