/// Interns EDN values as small integers, so model states hash and compare cheaply.
public struct ValueTable: Sendable {
    private var ids: [EDNValue: Int32] = [:]
    public private(set) var values: [EDNValue] = []

    public init() {}

    public mutating func id(_ value: EDNValue) -> Int32 {
        if let id = ids[value] { return id }
        let id = Int32(values.count)
        ids[value] = id
        values.append(value)
        return id
    }

    public func value(_ id: Int32) -> EDNValue { id < 0 ? .null : values[Int(id)] }
}

/// A sequential specification: what one key's operations do, one at a time.
/// Keys are independent: the checker splits a history by key and checks each part
/// against a fresh model (P-compositionality).
public protocol SequentialModel: Sendable {
    associatedtype State: Hashable & Sendable
    /// An operation made ready for `step`: inputs and outputs interned.
    associatedtype Step: Sendable

    /// The name `--model` takes.
    static var name: String { get }
    /// The functions (`:f`) this model knows, for messages.
    static var functions: [String] { get }

    var initialState: State { get }

    /// The operation ready to check, or nil when it did nothing and is left out (a
    /// :fail read or write). Throws a message naming what is wrong with its shape.
    func compile(_ op: HistoryOperation, values: inout ValueTable) throws(ModelError) -> Step?

    /// The state after `op`, or nil when `op` cannot have happened in `state` with
    /// the result it returned. An unknown result (:info) matches any.
    func step(_ state: State, _ op: Step) -> State?

    func describe(_ op: HistoryOperation) -> String
    func describe(_ state: State, values: ValueTable) -> String
}

extension SequentialModel {
    /// The error for a function this model does not have.
    func unknownFunction(_ op: HistoryOperation) -> ModelError {
        ModelError(
            ":\(op.f) is not an operation of \(Self.name) (it has \(Self.functions.map { ":" + $0 }.joined(separator: ", ")))"
        )
    }
}

public struct ModelError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension HistoryOperation {
    fileprivate var resultText: String {
        switch status {
        case .info: return "?"
        case .fail: return "fail"
        case .ok: return output.map(\.description) ?? "?"
        }
    }
}

/// Jepsen's compare-and-set register: read, write, cas `[old new]`. It starts nil.
/// A :fail cas observed a value other than `old` and changed nothing; a :fail read
/// or write did nothing.
public struct CASRegister: SequentialModel {
    public enum Step: Sendable {
        /// The value read, or nil when unknown.
        case read(Int32?)
        case write(Int32)
        /// `succeeded` is nil when the outcome is unknown.
        case cas(old: Int32, new: Int32, succeeded: Bool?)
    }

    public static let name = "cas-register"
    public static let functions = ["read", "write", "cas"]
    public init() {}

    /// -1 is nil, the register's first value.
    public var initialState: Int32 { -1 }

    public func compile(_ op: HistoryOperation, values: inout ValueTable) throws(ModelError) -> Step? {
        func id(_ v: EDNValue) -> Int32 { v.isNull ? -1 : values.id(v) }
        switch op.f {
        case "read":
            if op.status == .fail { return nil }
            return .read(op.status == .ok ? id(op.output ?? .null) : nil)
        case "write":
            if op.status == .fail { return nil }
            return .write(id(op.input))
        case "cas":
            guard case .vector(let pair) = op.input, pair.count == 2 else {
                throw ModelError("a cas takes [old new], not \(op.input)")
            }
            let succeeded: Bool? = op.status == .info ? nil : op.status == .ok
            return .cas(old: id(pair[0]), new: id(pair[1]), succeeded: succeeded)
        default: throw unknownFunction(op)
        }
    }

    @inline(__always)
    public func step(_ state: Int32, _ op: Step) -> Int32? {
        switch op {
        case .read(let seen):
            guard let seen else { return state }
            return seen == state ? state : nil
        case .write(let v):
            return v
        case .cas(let old, let new, let succeeded):
            let matches = old == state
            if let succeeded, succeeded != matches { return nil }
            return matches ? new : state
        }
    }

    public func describe(_ op: HistoryOperation) -> String {
        switch op.f {
        case "read": return "read() → \(op.resultText)"
        case "write": return "write(\(op.input))" + (op.status == .info ? " → ?" : "")
        case "cas":
            if case .vector(let p) = op.input, p.count == 2 {
                return "cas(\(p[0]), \(p[1])) → \(op.status == .info ? "?" : op.status == .ok ? "ok" : "fail")"
            }
            return "cas(\(op.input))"
        default: return "\(op.f)(\(op.input))"
        }
    }

    public func describe(_ state: Int32, values: ValueTable) -> String { values.value(state).description }
}

/// A key-value store, one key at a time: get, put, append (string concatenation).
/// Every key starts as "", and a get that returns nil read "". A :fail operation
/// did nothing.
public struct KV: SequentialModel {
    public enum Step: Sendable {
        /// nil when unknown.
        case get(String?)
        case put(String)
        case append(String)
    }

    public static let name = "kv"
    public static let functions = ["get", "put", "append"]
    public init() {}

    public var initialState: String { "" }

    static func text(_ v: EDNValue, _ what: String) throws(ModelError) -> String {
        switch v {
        case .string(let s): return s
        case .null: return ""
        case .int(let i): return String(i)
        default: throw ModelError("\(what) must be a string, not \(v)")
        }
    }

    public func compile(_ op: HistoryOperation, values: inout ValueTable) throws(ModelError) -> Step? {
        if op.status == .fail { return nil }
        switch op.f {
        case "get":
            guard op.status == .ok else { return .get(nil) }
            return .get(try Self.text(op.output ?? .null, "a get's result"))
        case "put": return .put(try Self.text(op.input, "a put's value"))
        case "append": return .append(try Self.text(op.input, "an append's value"))
        default: throw unknownFunction(op)
        }
    }

    @inline(__always)
    public func step(_ state: String, _ op: Step) -> String? {
        switch op {
        case .get(let seen):
            guard let seen else { return state }
            return seen == state ? state : nil
        case .put(let v): return v
        case .append(let v): return state + v
        }
    }

    public func describe(_ op: HistoryOperation) -> String {
        switch op.f {
        case "get": return "get() → \(op.resultText)"
        case "put": return "put(\(op.input))" + (op.status == .info ? " → ?" : "")
        case "append": return "append(\(op.input))" + (op.status == .info ? " → ?" : "")
        default: return "\(op.f)(\(op.input))"
        }
    }

    public func describe(_ state: String, values: ValueTable) -> String { EDNValue.string(state).description }
}

/// The models `--model` names.
public enum ModelName: String, CaseIterable, Sendable, Codable {
    case casRegister = "cas-register"
    case kv

    /// The model a history's functions imply, or nil when they fit neither.
    public static func infer(from operations: [HistoryOperation]) -> ModelName? {
        let fs = Set(operations.map(\.f))
        if fs.isEmpty { return nil }
        if fs.isSubset(of: Set(CASRegister.functions)) { return .casRegister }
        if fs.isSubset(of: Set(KV.functions)) { return .kv }
        return nil
    }
}
