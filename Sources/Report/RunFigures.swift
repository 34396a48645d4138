import Foundation
import Linearizability

/// What a workload's history shows over time, in the units the pictures use: seconds
/// since the first event, each operation with its latency, and the fault windows the
/// nemesis recorded (:start … :stop, Jepsen's nemesis process).
public struct RunFigures: Sendable {
    public struct Operation: Sendable {
        public var process: String
        public var f: String
        public var key: String
        public var input: String
        public var output: String
        public var status: HistoryOperation.Status
        public var start: Double
        /// When it completed; nil for one still open when the history ended.
        public var end: Double?
        public var latency: Double? { end.map { $0 - start } }
    }

    public struct FaultWindow: Sendable, Equatable {
        public var label: String
        public var start: Double
        /// nil while the fault was never healed in the history.
        public var end: Double?
    }

    public var operations: [Operation]
    public var faults: [FaultWindow]
    /// The last event's time, in seconds.
    public var duration: Double

    /// Operations without times (a history written by hand) cannot be placed: they are left out.
    public init(_ history: History) {
        let origin = history.events.compactMap(\.time).min() ?? 0
        func seconds(_ t: Int64?) -> Double? { t.map { Double($0 - origin) / 1e9 } }
        operations = history.operations.compactMap { op in
            guard let start = seconds(op.invokeTime) else { return nil }
            return Operation(
                process: op.process.description, f: op.f, key: op.key.map { $0.description } ?? "",
                input: op.input.description, output: op.output?.description ?? "", status: op.status, start: start,
                end: seconds(op.completeTime))
        }
        var faults: [FaultWindow] = []
        for e in history.events {
            guard case .named = e.process, let t = seconds(e.time) else { continue }
            let label = e.value.stringValue ?? e.value.description
            if e.f == "start" {
                faults.append(FaultWindow(label: label, start: t, end: nil))
            } else if e.f == "stop", let i = faults.lastIndex(where: { $0.end == nil }) {
                faults[i].end = t
            }
        }
        self.faults = faults
        duration = seconds(history.events.compactMap(\.time).max()) ?? 0
    }

    /// One function's operations with one outcome.
    public struct Series: Sendable {
        public var f: String
        public var status: HistoryOperation.Status
        public var operations: [Operation]
        public var name: String { "\(f) \(status.rawValue)" }
    }

    /// The series the plots draw, in a stable order (by function, then ok, info, fail).
    public var series: [Series] {
        let order: [HistoryOperation.Status] = [.ok, .info, .fail]
        let grouped = Dictionary(grouping: operations) { "\($0.f)\u{0}\($0.status.rawValue)" }
        return grouped.values.map { ops in Series(f: ops[0].f, status: ops[0].status, operations: ops) }
            .sorted { ($0.f, order.firstIndex(of: $0.status)!) < ($1.f, order.firstIndex(of: $1.status)!) }
    }

    /// The functions, in the order the series come.
    public var functions: [String] { Array(Set(operations.map(\.f))).sorted() }
}

extension EDNValue {
    fileprivate var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
