import Foundation
import Linearizability
import Logging

/// How hard a workload drives the cluster.
public struct Generator: Sendable, Codable {
    /// Clients at once, each with one operation in flight (Jepsen's workers).
    public var concurrency: Int
    /// Operations per second over all clients; 0 for as fast as they go.
    public var rate: Double
    public var duration: Double
    public var seed: UInt64

    public init(concurrency: Int, rate: Double, duration: Double, seed: UInt64) {
        self.concurrency = concurrency
        self.rate = rate
        self.duration = duration
        self.seed = seed
    }
}

/// A nemesis run beside a workload: it records its events (Jepsen's `:nemesis` process,
/// `:start` and `:stop` with what it did) through the function it is given.
public typealias NemesisHook =
    @Sendable (_ record: @escaping @Sendable (_ f: String, _ value: String) -> Void) async
    -> Void

extension Generator {
    /// Runs `concurrency` workers until `duration` ends, paced to `rate` over all of them,
    /// with `nemesis` beside them and progress logged every `progressEvery` seconds.
    /// `step` is one operation of a worker's process, with the worker's own random numbers
    /// (from the seed); it returns how the operation completed. After :info the process is
    /// retired, as Jepsen's are; after :info or :fail the worker waits 100 ms, so that clients
    /// of a member that is down or removed (answering at once) do not spin: a run that
    /// replaced a member once made 700 :info operations in 20 s, each open forever for the
    /// linearizability checker.
    func drive(
        clients: [any StoreClient], recorder: HistoryRecorder, logger: Logger, progressEvery: Double,
        nemesis: NemesisHook?,
        step:
            @escaping @Sendable (_ client: any StoreClient, _ process: Int64, _ rng: inout SplitMix64) async ->
            HistoryEvent.Kind
    ) async {
        let interval = rate > 0 ? Double(concurrency) / rate : 0
        let end = ContinuousClock.now + .milliseconds(Int64(duration * 1000))
        let concurrency = concurrency
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var last = (ok: 0, info: 0, fail: 0)
                while ContinuousClock.now < end {
                    try? await Task.sleep(for: .milliseconds(Int64(progressEvery * 1000)))
                    let c = recorder.counts()
                    let rate = Double(c.ok + c.info + c.fail - last.ok - last.info - last.fail) / progressEvery
                    logger.info(
                        "workload",
                        metadata: [
                            "ops/s": "\(String(format: "%.1f", rate))", "ok": "\(c.ok)", "info": "\(c.info)",
                            "fail": "\(c.fail)", "fault": "\(recorder.fault ?? "none")",
                        ])
                    last = c
                }
            }
            if let nemesis {
                group.addTask {
                    await nemesis { f, value in
                        recorder.record(
                            HistoryEvent(process: .named("nemesis"), kind: .info, f: f, value: .string(value)))
                    }
                }
            }
            for i in 0..<concurrency {
                let client = clients[i % clients.count]
                let seed = seed &+ UInt64(i) &* 0x9E37_79B9
                group.addTask {
                    var rng = SplitMix64(seed: seed)
                    var process = Int64(i)
                    var next = ContinuousClock.now
                    while ContinuousClock.now < end && !Task.isCancelled {
                        if interval > 0 {
                            next = next + .milliseconds(Int64(interval * 1000))
                            try? await Task.sleep(until: next, clock: .continuous)
                        }
                        switch await step(client, process, &rng) {
                        case .info:
                            process += Int64(concurrency)
                            try? await Task.sleep(for: .milliseconds(100))
                        case .fail: try? await Task.sleep(for: .milliseconds(100))
                        default: break
                        }
                    }
                }
            }
        }
    }
}

/// Records events as they happen, on the host's monotonic clock (nanoseconds from the
/// workload's start). The time is taken under the lock, so the order of events is their
/// real-time order: an operation completed before another was invoked comes first.
final class HistoryRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [HistoryEvent] = []
    private let start = ContinuousClock.now

    /// The nemesis' fault in effect, for the progress line.
    private(set) var fault: String? {
        get { lock.withLock { currentFault } }
        set { lock.withLock { currentFault = newValue } }
    }
    private var currentFault: String?

    func record(_ event: HistoryEvent) {
        if case .named = event.process {
            if case .string(let what) = event.value, event.f == "start" { fault = what } else { fault = nil }
        }
        lock.lock()
        var e = event
        let elapsed = ContinuousClock.now - start
        e.time = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        e.index = Int64(events.count)
        events.append(e)
        lock.unlock()
    }

    var all: [HistoryEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    /// ok, info and fail completions so far.
    func counts() -> (ok: Int, info: Int, fail: Int) {
        lock.lock()
        defer { lock.unlock() }
        var c = (ok: 0, info: 0, fail: 0)
        for e in events {
            switch e.kind {
            case .ok: c.ok += 1
            case .info: c.info += 1
            case .fail: c.fail += 1
            case .invoke: break
            }
        }
        return c
    }
}

/// Jepsen's register workload: read, write and cas on `keys` independent registers,
/// values 0…`values`-1 (Jepsen's 5 by default), through every member's client port;
/// checked with the cas-register model. Keys carry the workload's own prefix, so each
/// register starts absent (nil). With few values and dense writes almost any read has a
/// concurrent write of the value it saw, so a stale read goes unseen: a test that must
/// see one asks for many values.
public struct CASRegisterWorkload: Sendable {
    public var generator: Generator
    public var keys: Int
    public var prefix: String
    public var consistency: ReadConsistency
    public var values: Int

    public init(
        generator: Generator, keys: Int = 5, values: Int = 5, prefix: String,
        consistency: ReadConsistency = .linearizable
    ) {
        self.generator = generator
        self.keys = keys
        self.values = max(values, 1)
        self.prefix = prefix
        self.consistency = consistency
    }

    /// Runs the clients (client i talks to member i mod n) and returns the history.
    /// `nemesis` runs beside them from the start, and records its events through the
    /// function it is given (Jepsen's `:nemesis` process). Progress goes to `logger`
    /// every `progressEvery` seconds.
    public func run(
        clients: [any StoreClient], logger: Logger, progressEvery: Double = 5,
        nemesis: NemesisHook? = nil
    ) async -> History {
        let recorder = HistoryRecorder()
        await generator.drive(
            clients: clients, recorder: recorder, logger: logger, progressEvery: progressEvery, nemesis: nemesis
        ) { client, process, rng in
            await operation(&rng, process: process, client: client, recorder: recorder)
        }
        // Every invocation has its completion: nothing is left open.
        return (try? History(events: recorder.all)) ?? (try! History(events: []))
    }

    /// One operation, recorded; how it completed.
    func operation(_ rng: inout SplitMix64, process: Int64, client: any StoreClient, recorder: HistoryRecorder)
        async -> HistoryEvent.Kind
    {
        let keyNumber = Int(rng.next() % UInt64(max(keys, 1)))
        let key = "\(prefix)/r\(keyNumber)"
        let ednKey = EDNValue.int(Int64(keyNumber))
        let p = HistoryEvent.Process.client(process)
        func event(_ kind: HistoryEvent.Kind, _ f: String, _ value: EDNValue) -> HistoryEvent {
            HistoryEvent(process: p, kind: kind, f: f, key: ednKey, value: value)
        }
        func value(_ text: String?) -> EDNValue { text.flatMap { Int64($0) }.map(EDNValue.int) ?? .null }
        switch rng.next() % 3 {
        case 0:
            recorder.record(event(.invoke, "read", .null))
            do {
                let v = try await client.get(key, consistency: consistency)
                recorder.record(event(.ok, "read", value(v)))
                return .ok
            } catch {
                recorder.record(event(.fail, "read", .null))  // a read that failed changed nothing
                return .fail
            }
        case 1:
            let v = EDNValue.int(Int64(rng.next() % UInt64(values)))
            recorder.record(event(.invoke, "write", v))
            do {
                try await client.put(key, "\(v)")
                recorder.record(event(.ok, "write", v))
                return .ok
            } catch {
                recorder.record(event(error.notApplied ? .fail : .info, "write", v))
                return error.notApplied ? .fail : .info
            }
        default:
            let old = Int64(rng.next() % UInt64(values)), new = Int64(rng.next() % UInt64(values))
            let pair = EDNValue.vector([.int(old), .int(new)])
            recorder.record(event(.invoke, "cas", pair))
            do {
                let swapped = try await client.compareAndSet(key, old: "\(old)", new: "\(new)")
                recorder.record(event(swapped ? .ok : .fail, "cas", pair))
                return .ok  // a compare that failed is an answer: no back-off
            } catch {
                // Not :fail even when it never got there: the model reads a :fail cas as
                // "the compare failed", an observation of the register.
                recorder.record(event(.info, "cas", pair))
                return .info
            }
        }
    }
}
