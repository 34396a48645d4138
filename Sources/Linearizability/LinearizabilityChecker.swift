import Blocking
import Dispatch
import Foundation

/// A checked operation as a person reads it.
public struct OperationSummary: Sendable, Codable, Equatable {
    public var process: String
    public var description: String
    public var status: String
    public var invokeLine: Int
    public var completeLine: Int?
    /// Nanoseconds, when the history has `:time`.
    public var invokeTime: Int64?
    public var completeTime: Int64?
}

/// Why a history is not linearizable, in enough detail to see it.
public struct Anomaly: Sendable, Codable, Equatable {
    /// The key, as EDN; nil for a history of one register.
    public var key: String?
    /// The operation whose completion no linearization of what came before can explain.
    public var operation: OperationSummary
    /// The smallest prefix of the key's history that cannot be linearized ends with
    /// that completion: how many of the key's operations it holds, and its last line.
    public var prefixOperations: Int
    public var prefixLastLine: Int?
    /// Whether the prefix is the smallest (false when the budget ran out looking).
    public var prefixIsMinimal: Bool
    /// Operations of that key whose interval overlaps the failing one's.
    public var concurrent: [OperationSummary]
    /// The model's states in which the failing operation could take effect, given
    /// the order the operations before it impose; its result fits none of them.
    public var statesBefore: [String]
    public var explanation: String
    /// The picture of the key's operations, when one was written.
    public var picture: String?
}

/// The outcome of a check.
public struct LinearizabilityResult: Sendable, Codable {
    public enum Validity: Sendable, Equatable {
        case valid, invalid
        case unknown(String)
    }
    public var validity: Validity
    public var model: String
    public var operations: Int
    public var keys: Int
    /// All of it: the search, and for an invalid history the explanation.
    public var seconds: Double
    /// The search for a verdict alone (less than `seconds` when an anomaly was explained).
    public var searchSeconds: Double
    public var anomaly: Anomaly?

    enum CodingKeys: String, CodingKey {
        case valid, model, operations, keys, seconds, searchSeconds, anomaly, reason
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch validity {
        case .valid: try c.encode(true, forKey: .valid)
        case .invalid: try c.encode(false, forKey: .valid)
        case .unknown(let why):
            try c.encode("unknown", forKey: .valid)
            try c.encode(why, forKey: .reason)
        }
        try c.encode(model, forKey: .model)
        try c.encode(operations, forKey: .operations)
        try c.encode(keys, forKey: .keys)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(searchSeconds, forKey: .searchSeconds)
        try c.encodeIfPresent(anomaly, forKey: .anomaly)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let valid = try? c.decode(Bool.self, forKey: .valid) {
            validity = valid ? .valid : .invalid
        } else {
            validity = .unknown(try c.decodeIfPresent(String.self, forKey: .reason) ?? "")
        }
        model = try c.decode(String.self, forKey: .model)
        operations = try c.decode(Int.self, forKey: .operations)
        keys = try c.decode(Int.self, forKey: .keys)
        seconds = try c.decode(Double.self, forKey: .seconds)
        searchSeconds = try c.decodeIfPresent(Double.self, forKey: .searchSeconds) ?? seconds
        anomaly = try c.decodeIfPresent(Anomaly.self, forKey: .anomaly)
    }

    init(validity: Validity, model: String, operations: Int, keys: Int, seconds: Double, anomaly: Anomaly?) {
        self.validity = validity
        self.model = model
        self.operations = operations
        self.keys = keys
        self.seconds = seconds
        self.searchSeconds = seconds
        self.anomaly = anomaly
    }
}

/// A history that cannot be checked against the model: which line, and what is wrong.
public struct HistoryShapeError: Error, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

/// Checks a history for linearizability against a sequential model: split by key,
/// each key searched on its own (concurrently), the first invalid key explained.
public struct LinearizabilityChecker<M: SequentialModel>: Sendable {
    public var model: M
    public var timeLimit: Double
    public var memoryBytes: Int
    public var concurrency: Int

    public init(
        model: M, timeLimit: Double = 300, memoryBytes: Int = 4 << 30,
        concurrency: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        self.model = model
        self.timeLimit = timeLimit
        self.memoryBytes = memoryBytes
        self.concurrency = max(1, concurrency)
    }

    /// Checks off Swift's cooperative pool (the search is long CPU work).
    public func check(_ history: History) async throws -> (LinearizabilityResult, KeyHistory<M>?) {
        try await runBlocking { try checkNow(history) }
    }

    /// The verdict, and for an invalid history the failing key's part, to draw.
    public func checkNow(_ history: History) throws -> (LinearizabilityResult, KeyHistory<M>?) {
        let started = SearchBudget.now()
        let budget = SearchBudget(seconds: timeLimit, memoryBytes: memoryBytes)
        var values = ValueTable()
        let parts = try partition(history, values: &values)
        let frozen = values
        let outcomes = searchAll(parts, budget: budget)
        func result(_ validity: LinearizabilityResult.Validity, _ anomaly: Anomaly? = nil) -> LinearizabilityResult {
            LinearizabilityResult(
                validity: validity, model: M.name, operations: history.operations.count, keys: parts.count,
                seconds: SearchBudget.now() - started, anomaly: anomaly)
        }
        let searchSeconds = SearchBudget.now() - started
        if let failed = outcomes.firstIndex(where: { if case .notLinearizable = $0 { true } else { false } }),
            case .notLinearizable(let stuck) = outcomes[failed]
        {
            var part = parts[failed]
            part.values = frozen
            let anomaly = explain(part, stuck: stuck, history: history, budget: budget)
            var r = result(.invalid, anomaly)
            r.searchSeconds = searchSeconds
            return (r, part)
        }
        let limits = outcomes.compactMap { if case .undecided(let l) = $0 { l } else { nil } }
        if limits.contains(.memory) {
            return (result(.unknown("the memory budget of \(memoryBytes >> 20) MiB ran out")), nil)
        }
        if limits.contains(.time) {
            let done = outcomes.filter { if case .linearizable = $0 { true } else { false } }.count
            return (
                result(.unknown("the time limit of \(timeLimit) s ran out (\(done) of \(parts.count) keys decided)")),
                nil
            )
        }
        return (result(.valid), nil)
    }

    /// Splits the history by key and compiles each part's operations.
    func partition(_ history: History, values: inout ValueTable) throws -> [KeyHistory<M>] {
        var byKey: [EDNValue?: Int] = [:]
        var parts: [KeyHistory<M>] = []
        for op in history.operations {
            let step: M.Step?
            do { step = try model.compile(op, values: &values) } catch {
                throw HistoryShapeError(line: op.invokeLine, message: error.message)
            }
            guard let step else { continue }
            let index: Int
            if let i = byKey[op.key] {
                index = i
            } else {
                index = parts.count
                byKey[op.key] = index
                parts.append(KeyHistory(key: op.key))
            }
            parts[index].append(op, step)
        }
        return parts
    }

    /// Searches every part, `concurrency` at a time; the first invalid part stops the rest.
    func searchAll(_ parts: [KeyHistory<M>], budget: SearchBudget) -> [WGLSearch<M>.Outcome] {
        let results = OutcomeBox<M>(count: parts.count)
        let next = Counter()
        DispatchQueue.concurrentPerform(iterations: min(concurrency, max(parts.count, 1))) { _ in
            while let i = next.take(below: parts.count) {
                if let reason = budget.stopReason {
                    results.set(i, .undecided(reason))
                    continue
                }
                var search = WGLSearch(model: model, sub: parts[i].sub, budget: budget)
                let (outcome, _) = search.run()
                if case .notLinearizable = outcome { budget.stop(.cancelled) }
                results.set(i, outcome)
            }
        }
        return results.all
    }

    /// The smallest failing prefix, what overlapped its last operation, and the
    /// states the model could be in when that operation could take effect. Every
    /// prefix ending before the search's stuck return is linearizable; from there,
    /// gallop forward to a failing prefix and bisect (a prefix that fails makes every
    /// longer one fail). Usually the first prefix tried, the stuck one, fails.
    func explain(_ part: KeyHistory<M>, stuck: Int, history: History, budget: SearchBudget) -> Anomaly {
        let ops = part.sub.operations.map { history.operations[$0] }
        let ends = ops.compactMap(\.completePosition).sorted()
        let remaining = max(1, budget.deadline - SearchBudget.now())
        let local = SearchBudget(seconds: min(remaining, 60), memoryBytes: budget.memoryBytes)
        // The smallest j whose prefix through ends[j] fails; the one through ends[lo - 1] passes.
        var lo = ends.firstIndex(of: ops[stuck].completePosition ?? -1) ?? 0
        var hi = ends.count - 1
        var minimal = !ends.isEmpty
        var states: [M.State] = []
        func fails(_ j: Int) -> Bool? {
            let failing = ops.firstIndex { $0.completePosition == ends[j] }!
            var search = WGLSearch(model: model, sub: prefix(part, ops: ops, cut: ends[j] + 1), budget: local)
            let (outcome, watched) = search.run(watch: failing)
            switch outcome {
            case .linearizable: return false
            case .notLinearizable:
                states = watched
                return true
            case .undecided: return nil
            }
        }
        var step = 1
        var probe = lo
        gallop: while minimal && probe < hi {
            switch fails(probe) {
            case true?:
                hi = probe
                break gallop
            case false?:
                lo = probe + 1
                probe = min(hi, probe + step)
                step *= 2
            case nil:
                minimal = false
            }
        }
        while minimal && lo < hi {
            let mid = (lo + hi) / 2
            switch fails(mid) {
            case true?: hi = mid
            case false?: lo = mid + 1
            case nil: minimal = false
            }
        }
        if minimal && (states.isEmpty || hi != lo) {
            // The answer was never searched itself (the whole key, known to fail): do, for its states.
            minimal = fails(hi) ?? false
        }
        let failing = minimal ? ops.first { $0.completePosition == ends[hi] }! : ops[stuck]
        let end = failing.completePosition ?? Int.max
        let inPrefix = ops.filter { $0.invokePosition <= end }
        let concurrent = inPrefix.filter {
            $0.id != failing.id && $0.invokePosition < end
                && ($0.completePosition ?? Int.max) > failing.invokePosition
        }
        let stateTexts = states.map { model.describe($0, values: part.values) }
        let summary = summarize(failing)
        let explanation =
            "\(summary.description) by process \(summary.process) (lines \(summary.invokeLine)–"
            + "\(summary.completeLine.map(String.init) ?? "end")) cannot take effect: "
            + (stateTexts.isEmpty
                ? "no order of the operations before it explains its result"
                : "when it could take effect the \(M.name) can only hold \(stateTexts.joined(separator: " or "))"
                    + " (\(concurrent.count) operation(s) concurrent with it)")
        return Anomaly(
            key: part.key.map(\.description), operation: summary, prefixOperations: inPrefix.count,
            prefixLastLine: failing.completeLine, prefixIsMinimal: minimal,
            concurrent: concurrent.map(summarize), statesBefore: stateTexts, explanation: explanation, picture: nil)
    }

    func summarize(_ op: HistoryOperation) -> OperationSummary {
        OperationSummary(
            process: op.process.description, description: model.describe(op), status: op.status.rawValue,
            invokeLine: op.invokeLine, completeLine: op.completeLine, invokeTime: op.invokeTime,
            completeTime: op.completeTime)
    }

    /// The key's history up to event position `cut` (exclusive): operations invoked
    /// later are left out, and those still open at `cut` have an unknown outcome.
    func prefix(_ part: KeyHistory<M>, ops: [HistoryOperation], cut: Int) -> Subhistory<M> {
        var values = part.values
        var sub = Subhistory<M>(operations: [], steps: [], returns: [], calls: [])
        for (i, var op) in ops.enumerated() where op.invokePosition < cut {
            var step = part.sub.steps[i]
            if let c = op.completePosition, c >= cut {
                op.status = .info
                op.output = nil
                op.completePosition = nil
                guard let compiled = try? model.compile(op, values: &values) else { continue }
                step = compiled
            }
            sub.operations.append(part.sub.operations[i])
            sub.steps.append(step)
            sub.calls.append(op.invokePosition)
            sub.returns.append(op.completePosition ?? Int.max)
        }
        return sub
    }
}

/// One key's part of a history, compiled for the model.
public struct KeyHistory<M: SequentialModel>: Sendable {
    public let key: EDNValue?
    var sub = Subhistory<M>(operations: [], steps: [], returns: [], calls: [])
    var values = ValueTable()

    init(key: EDNValue?) { self.key = key }

    mutating func append(_ op: HistoryOperation, _ step: M.Step) {
        sub.operations.append(op.id)
        sub.steps.append(step)
        sub.calls.append(op.invokePosition)
        sub.returns.append(op.status == .info ? Int.max : op.completePosition ?? Int.max)
    }

    /// Indexes of the key's operations in the history.
    public var operationIDs: [Int] { sub.operations }
}

extension Subhistory: @unchecked Sendable {}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

private final class OutcomeBox<M: SequentialModel>: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [WGLSearch<M>.Outcome]
    init(count: Int) { outcomes = Array(repeating: .undecided(.cancelled), count: count) }
    func set(_ i: Int, _ outcome: WGLSearch<M>.Outcome) {
        lock.lock()
        outcomes[i] = outcome
        lock.unlock()
    }
    var all: [WGLSearch<M>.Outcome] {
        lock.lock()
        defer { lock.unlock() }
        return outcomes
    }
}
