/// Histories of a store that IS linearizable: each operation takes effect at one
/// instant between its invocation and completion, in one global order, as a real
/// register or key-value store would. Some operations time out (:info); such an
/// operation takes effect or does not, at random. A process whose operation timed
/// out is retired and a new one takes its place, as in Jepsen.
public struct HistorySimulator: Sendable {
    public var model: ModelName
    public var processes: Int
    public var keys: Int
    public var operations: Int
    /// Chance that an operation's outcome is unknown.
    public var timeoutRate: Double
    public var seed: UInt64

    public init(
        model: ModelName, processes: Int = 5, keys: Int = 1, operations: Int = 200, timeoutRate: Double = 0.05,
        seed: UInt64 = 1
    ) {
        self.model = model
        self.processes = processes
        self.keys = keys
        self.operations = operations
        self.timeoutRate = timeoutRate
        self.seed = seed
    }

    struct Planned {
        var process: Int64
        var key: EDNValue?
        var f: String
        var input: EDNValue
        var invoke: Double
        var effect: Double
        var complete: Double
        var timedOut: Bool
        var applied: Bool
        var output: EDNValue = .null
        var ok = true
    }

    public func history() -> History {
        var rng = SplitMix64(seed: seed)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        var clock = [Double](repeating: 0, count: processes)
        var ids = (0..<processes).map { Int64($0) }
        var planned: [Planned] = []
        planned.reserveCapacity(operations)
        var written = 0
        var recent: [EDNValue?: [EDNValue]] = [:]
        for _ in 0..<operations {
            let slot = Int(rng.next() % UInt64(processes))
            let invoke = clock[slot] + uniform() * 2
            let duration = 0.2 + uniform() * uniform() * 8
            let key: EDNValue? = keys <= 1 ? nil : .string(String(rng.next() % UInt64(keys)))
            let choice = rng.next() % 10
            var f: String
            var input: EDNValue = .null
            written += 1
            switch model {
            case .casRegister:
                if choice < 4 {
                    f = "read"
                } else if choice < 7 {
                    f = "write"
                    input = .int(Int64(written))
                } else {
                    f = "cas"
                    let candidates = recent[key] ?? []
                    let old =
                        candidates.isEmpty || rng.next() % 4 == 0
                        ? EDNValue.int(Int64(rng.next() % 5)) : candidates[Int(rng.next() % UInt64(candidates.count))]
                    input = .vector([old, .int(Int64(written))])
                }
            case .kv:
                if choice < 4 {
                    f = "get"
                } else if choice < 6 {
                    f = "put"
                    input = .string("p\(written) ")
                } else {
                    f = "append"
                    input = .string("a\(written) ")
                }
            }
            let timedOut = uniform() < timeoutRate
            planned.append(
                Planned(
                    process: ids[slot], key: key, f: f, input: input, invoke: invoke,
                    effect: invoke + uniform() * duration, complete: invoke + duration, timedOut: timedOut,
                    applied: !timedOut || rng.next() % 2 == 0))
            clock[slot] = invoke + duration
            if timedOut { ids[slot] += Int64(processes) }
            if case .vector(let pair) = input {
                recent[key, default: []].append(pair[1])
            } else if f == "write" {
                recent[key, default: []].append(input)
            }
            if recent[key, default: []].count > 4 { recent[key]!.removeFirst() }
        }
        // Apply effects in effect order: the store's one global order.
        var state: [EDNValue?: EDNValue] = [:]
        for i in planned.indices.sorted(by: { planned[$0].effect < planned[$1].effect }) where planned[i].applied {
            let key = planned[i].key
            let current = state[key] ?? (model == .kv ? .string("") : .null)
            switch planned[i].f {
            case "read", "get": planned[i].output = current
            case "write", "put": state[key] = planned[i].input
            case "append":
                if case .string(let s) = current, case .string(let a) = planned[i].input { state[key] = .string(s + a) }
            case "cas":
                if case .vector(let pair) = planned[i].input {
                    planned[i].ok = pair[0] == current
                    if planned[i].ok { state[key] = pair[1] }
                }
            default: break
            }
        }
        var timed: [(time: Double, event: HistoryEvent)] = []
        for p in planned {
            let input: EDNValue = (p.f == "read" || p.f == "get") ? .null : p.input
            timed.append(
                (p.invoke, HistoryEvent(process: .client(p.process), kind: .invoke, f: p.f, key: p.key, value: input)))
            let kind: HistoryEvent.Kind = p.timedOut ? .info : (p.ok ? .ok : .fail)
            let value: EDNValue = (p.f == "read" || p.f == "get") && !p.timedOut ? p.output : input
            timed.append(
                (p.complete, HistoryEvent(process: .client(p.process), kind: kind, f: p.f, key: p.key, value: value)))
        }
        timed.sort { $0.time < $1.time }
        let events = timed.enumerated().map { i, t in
            var e = t.event
            e.time = Int64(t.time * 1e9)
            e.index = Int64(i)
            return e
        }
        // The simulator pairs what it makes: this cannot fail.
        return try! History(events: events)
    }
}
