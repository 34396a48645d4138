import Foundation

/// One line of a Jepsen history: an invocation or a completion by a process, or a
/// nemesis event (`:process :nemesis`).
public struct HistoryEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case invoke, ok, fail, info }
    public enum Process: Sendable, Hashable, CustomStringConvertible {
        case client(Int64)
        /// Any process that is not a number: Jepsen's `:nemesis`, or a named one.
        case named(String)
        public var description: String {
            switch self {
            case .client(let n): return String(n)
            case .named(let s): return s
            }
        }
    }

    public var process: Process
    public var kind: Kind
    public var f: String
    /// nil for a history of one register (Jepsen's etcd test writes no `:key`).
    public var key: EDNValue?
    public var value: EDNValue
    /// Nanoseconds, on the writer's clock.
    public var time: Int64?
    public var index: Int64?
    /// Where the event was read (line, from 1); 0 when built in memory.
    public var line: Int = 0

    public init(
        process: Process, kind: Kind, f: String, key: EDNValue? = nil, value: EDNValue = .null,
        time: Int64? = nil, index: Int64? = nil
    ) {
        self.process = process
        self.kind = kind
        self.f = f
        self.key = key
        self.value = value
        self.time = time
        self.index = index
    }

    /// The event as one EDN map, in Jepsen's key order.
    public var edn: EDNValue {
        var entries: [EDNMapEntry] = [
            EDNMapEntry(.keyword("process"), Self.processValue(process)),
            EDNMapEntry(.keyword("type"), .keyword(kind.rawValue)),
            EDNMapEntry(.keyword("f"), .name(f)),
        ]
        if let key { entries.append(EDNMapEntry(.keyword("key"), key)) }
        entries.append(EDNMapEntry(.keyword("value"), value))
        if let time { entries.append(EDNMapEntry(.keyword("time"), .int(time))) }
        if let index { entries.append(EDNMapEntry(.keyword("index"), .int(index))) }
        return .map(entries)
    }

    static func processValue(_ p: Process) -> EDNValue {
        switch p {
        case .client(let n): return .int(n)
        case .named(let s): return .name(s)
        }
    }

    /// Reads one history map; the message says what is wrong with it.
    public init(edn: EDNValue, line: Int) throws {
        func fail(_ message: String) -> EDNError { EDNError(line: line, column: 1, message: message) }
        switch edn {
        case .map, .tagged(_, .map): break
        default: throw fail("an operation must be a map like {:process 0, :type :invoke, :f :read, :value nil}")
        }
        switch edn[keyword: "process"] {
        case .int(let n)?: process = .client(n)
        case .keyword(let s)?, .symbol(let s)?, .string(let s)?: process = .named(s)
        case nil: throw fail("the operation has no :process")
        case let other?: throw fail(":process must be a number or a keyword, not \(other)")
        }
        switch edn[keyword: "type"] {
        case .keyword(let t)?:
            guard let k = Kind(rawValue: t) else {
                throw fail(":type must be :invoke, :ok, :fail or :info, not :\(t)")
            }
            kind = k
        case nil: throw fail("the operation has no :type")
        case let other?: throw fail(":type must be :invoke, :ok, :fail or :info, not \(other)")
        }
        switch edn[keyword: "f"] {
        case .keyword(let s)?, .string(let s)?, .symbol(let s)?: f = s
        case nil: throw fail("the operation has no :f")
        case let other?: throw fail(":f must be a keyword such as :read, not \(other)")
        }
        key = edn[keyword: "key"]
        value = edn[keyword: "value"] ?? .null
        switch edn[keyword: "time"] {
        case .int(let t)?: time = t
        case nil, .null?: time = nil
        case let other?: throw fail(":time must be an integer (nanoseconds), not \(other)")
        }
        switch edn[keyword: "index"] {
        case .int(let i)?: index = i
        default: index = nil
        }
        self.line = line
    }
}

/// An operation: an invocation paired with its completion.
public struct HistoryOperation: Sendable, Equatable {
    public enum Status: String, Sendable { case ok, fail, info }
    /// Position in the history's operation list.
    public var id: Int
    public var process: HistoryEvent.Process
    public var f: String
    public var key: EDNValue?
    /// The invocation's value (a cas's `[old new]`, a write's value, nil for a read).
    public var input: EDNValue
    /// The completion's value: what a read returned. nil when the outcome is unknown.
    public var output: EDNValue?
    public var status: Status
    /// Positions in the history's event order: the checker's notion of real time.
    public var invokePosition: Int
    /// nil when the operation never completed, or completed :info.
    public var completePosition: Int?
    public var invokeTime: Int64?
    public var completeTime: Int64?
    public var invokeLine: Int
    public var completeLine: Int?

    public var isUnknown: Bool { status == .info }
}

/// A history: its events in order, and the operations they make.
public struct History: Sendable {
    public var events: [HistoryEvent]
    public var operations: [HistoryOperation]

    public init(events: [HistoryEvent]) throws {
        self.events = events
        self.operations = try Self.pair(events)
    }

    /// Pairs each invocation with the process's next completion. A process that invokes
    /// while its previous operation is open (Jepsen never does) is an error; an
    /// operation still open at the end is :info, as Jepsen's checkers treat it.
    static func pair(_ events: [HistoryEvent]) throws -> [HistoryOperation] {
        var open: [HistoryEvent.Process: Int] = [:]
        var operations: [HistoryOperation] = []
        operations.reserveCapacity(events.count / 2)
        for (position, e) in events.enumerated() {
            if case .named = e.process { continue }  // the nemesis: recorded, not checked
            switch e.kind {
            case .invoke:
                if let previous = open[e.process] {
                    throw EDNError(
                        line: e.line, column: 1,
                        message: "process \(e.process) invokes again while its operation from line "
                            + "\(operations[previous].invokeLine) has not completed")
                }
                open[e.process] = operations.count
                operations.append(
                    HistoryOperation(
                        id: operations.count, process: e.process, f: e.f, key: e.key, input: e.value, output: nil,
                        status: .info, invokePosition: position, completePosition: nil, invokeTime: e.time,
                        completeTime: nil, invokeLine: e.line, completeLine: nil))
            case .ok, .fail, .info:
                guard let i = open.removeValue(forKey: e.process) else {
                    throw EDNError(
                        line: e.line, column: 1,
                        message: "process \(e.process) completes (:\(e.kind.rawValue)) an operation it never invoked")
                }
                guard operations[i].f == e.f else {
                    throw EDNError(
                        line: e.line, column: 1,
                        message: "process \(e.process) completes :\(e.f) but invoked :\(operations[i].f) "
                            + "on line \(operations[i].invokeLine)")
                }
                operations[i].completeLine = e.line
                operations[i].completeTime = e.time
                switch e.kind {
                case .ok:
                    operations[i].status = .ok
                    operations[i].output = e.value
                    operations[i].completePosition = position
                case .fail:
                    operations[i].status = .fail
                    operations[i].output = e.value
                    operations[i].completePosition = position
                default:
                    break  // :info: it may take effect at any time after its invocation, or never
                }
            }
        }
        return operations
    }

    /// Reads a history.edn (one map per line, or one vector of maps). Nemesis events
    /// are kept as events; only clients' operations are checked.
    public static func read(_ url: URL) throws -> History {
        let reader = try EDNStreamReader(url: url)
        var events: [HistoryEvent] = []
        while let (value, line) = try reader.next() {
            events.append(try HistoryEvent(edn: value, line: line))
        }
        return try History(events: events)
    }

    /// Reads history.edn text held in memory (one map per line, or one vector of maps).
    public static func parse(_ text: String) throws -> History {
        var copy = text
        let events: [HistoryEvent] = try copy.withUTF8 { buffer in
            var parser = EDNParser(bytes: buffer)
            var events: [HistoryEvent] = []
            var forms: [(EDNValue, Int)] = []
            while try parser.skipToForm() {
                let line = parser.line
                forms.append((try parser.readForm(depth: 0), line))
            }
            if forms.count == 1, case .vector(let items) = forms[0].0 {
                forms = items.map { ($0, forms[0].1) }
            }
            for (value, line) in forms { events.append(try HistoryEvent(edn: value, line: line)) }
            return events
        }
        return try History(events: events)
    }

    /// The history as history.edn: one map per line.
    public func edn() -> String {
        var out = ""
        out.reserveCapacity(events.count * 80)
        for e in events {
            e.edn.write(to: &out)
            out += "\n"
        }
        return out
    }

    public var keys: Set<EDNValue?> { Set(operations.map(\.key)) }
}
