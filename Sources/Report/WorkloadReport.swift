import Foundation
import Linearizability

/// A checker's verdict on a history, as results.json carries it.
public struct CheckerVerdict: Sendable, Codable, Equatable {
    public enum Validity: Sendable, Equatable { case valid, invalid, unknown }
    public var checker: String
    public var validity: Validity
    /// Why, in words: the anomaly, the lost writes, or what ran out.
    public var evidence: String

    public init(checker: String, validity: Validity, evidence: String) {
        self.checker = checker
        self.validity = validity
        self.evidence = evidence
    }

    /// The linearizability checker's result, with its anomaly as the evidence.
    public init(_ result: LinearizabilityResult) {
        checker = "linearizable"
        switch result.validity {
        case .valid:
            validity = .valid
            evidence = "\(result.operations) operations on \(result.keys) keys linearize as a \(result.model)"
        case .invalid:
            validity = .invalid
            evidence = result.anomaly?.explanation ?? "no linearization exists"
        case .unknown(let why):
            validity = .unknown
            evidence = why
        }
    }

    /// The set checker's result.
    public init(_ result: SetChecker.Result) {
        checker = "set"
        validity = result.valid.map { $0 ? .valid : .invalid } ?? .unknown
        evidence = result.explanation
    }

    enum CodingKeys: String, CodingKey {
        case checker, evidence
        case validity = "valid"
    }
}

extension CheckerVerdict.Validity: Codable {
    /// As Jepsen's results say it: true, false or "unknown".
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .valid: try c.encode(true)
        case .invalid: try c.encode(false)
        case .unknown: try c.encode("unknown")
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let valid = try? c.decode(Bool.self) {
            self = valid ? .valid : .invalid
        } else if try c.decode(String.self) == "unknown" {
            self = .unknown
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "valid is true, false or \"unknown\"")
        }
    }
}

/// What a workload phase leaves in its run directory, Jepsen's store layout:
/// `NAME.history.edn`, `NAME.results.json` (each checker's verdict and evidence),
/// `NAME.timeline.html`, `NAME.latency.svg` and `NAME.rate.svg`.
public enum WorkloadReport {
    /// Writes the files and returns them; without `edn`, the history itself is not written
    /// (it is already there).
    public static func write(
        _ history: History, verdicts: [CheckerVerdict], name: String, title: String, in directory: URL,
        edn: Bool = true
    ) throws -> [URL] {
        let figures = RunFigures(history)
        func url(_ suffix: String) -> URL { directory.appendingPathComponent("\(name).\(suffix)") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        struct Results: Encodable {
            var valid: CheckerVerdict.Validity
            var checkers: [CheckerVerdict]
            var operations: Int
            var faults: [String]
        }
        let overall: CheckerVerdict.Validity =
            verdicts.contains { $0.validity == .invalid }
            ? .invalid : verdicts.contains { $0.validity == .unknown } ? .unknown : .valid
        let data = try encoder.encode(
            Results(
                valid: overall, checkers: verdicts, operations: history.operations.count,
                faults: figures.faults.map(\.label)))
        var files: [(URL, Data)] = edn ? [(url("history.edn"), Data(history.edn().utf8))] : []
        files += [
            (url("results.json"), data),
            (url("timeline.html"), Data(TimelinePage.render(figures, title: title).utf8)),
            (url("latency.svg"), Data(RunPlots.latency(figures, title: "\(title): latency").utf8)),
            (url("rate.svg"), Data(RunPlots.rate(figures, title: "\(title): throughput").utf8)),
        ]
        for (file, contents) in files { try contents.write(to: file, options: .atomic) }
        return files.map(\.0)
    }
}
