/// Jepsen's set checker: clients add unique elements (`:f :add`), then each member's
/// final read (`:f :read`, a set) must hold every acknowledged add and nothing that
/// was never added. Adds of unknown outcome (:info) may be present or not.
public struct SetChecker: Sendable {
    public struct Result: Sendable, Codable, Equatable {
        /// nil when no final read completed: nothing could be judged.
        public var valid: Bool?
        public var attempted: Int
        public var acknowledged: Int
        /// How many final reads were judged (one a member).
        public var reads: Int
        /// Acknowledged adds some final read lacks.
        public var lost: [Int64]
        /// Elements a read returned that no client ever tried to add.
        public var unexpected: [Int64]
        /// Adds of unknown outcome that a read shows took effect.
        public var recovered: Int
        public var explanation: String
    }

    public init() {}

    public func check(_ history: History) -> Result {
        var attempted = Set<Int64>(), acknowledged = Set<Int64>(), unknown = Set<Int64>()
        var reads: [(process: String, elements: Set<Int64>)] = []
        for op in history.operations {
            switch op.f {
            case "add":
                guard case .int(let v) = op.input else { continue }
                attempted.insert(v)
                if op.status == .ok { acknowledged.insert(v) }
                if op.status == .info { unknown.insert(v) }
            case "read" where op.status == .ok:
                guard case .set(let values) = op.output ?? .null else { continue }
                reads.append(
                    (
                        op.process.description,
                        Set(values.compactMap { if case .int(let v) = $0 { v } else { nil } })
                    ))
            default: continue
            }
        }
        var lost = Set<Int64>(), unexpected = Set<Int64>(), recovered = Set<Int64>()
        var lines: [String] = []
        for read in reads {
            let missing = acknowledged.subtracting(read.elements)
            let never = read.elements.subtracting(attempted)
            lost.formUnion(missing)
            unexpected.formUnion(never)
            recovered.formUnion(read.elements.intersection(unknown))
            if !missing.isEmpty {
                lines.append(
                    "the final read of process \(read.process) lacks \(missing.count) acknowledged add(s): "
                        + Self.sample(missing))
            }
            if !never.isEmpty {
                lines.append(
                    "the final read of process \(read.process) holds \(never.count) element(s) never added: "
                        + Self.sample(never))
            }
        }
        if reads.isEmpty { lines.append("no final read completed: nothing to judge") }
        let valid = reads.isEmpty ? nil : lost.isEmpty && unexpected.isEmpty
        if valid == true {
            lines.append(
                "all \(acknowledged.count) acknowledged adds are in each of \(reads.count) final reads; "
                    + "\(recovered.count) of \(unknown.count) of unknown outcome took effect")
        }
        return Result(
            valid: valid, attempted: attempted.count, acknowledged: acknowledged.count, reads: reads.count,
            lost: lost.sorted(), unexpected: unexpected.sorted(), recovered: recovered.count,
            explanation: lines.joined(separator: "\n"))
    }

    static func sample(_ s: Set<Int64>) -> String {
        let sorted = s.sorted()
        return sorted.prefix(10).map(String.init).joined(separator: ", ") + (sorted.count > 10 ? ", …" : "")
    }
}
