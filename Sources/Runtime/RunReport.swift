import Findings
import Foundation
import Report

/// What a run leaves in its directory: report.json, junit.xml (one testcase per
/// scenario step or finding), and whatever the session saved beside them.
public struct RunReport: Sendable, Codable {
    public struct FindingResult: Sendable, Codable {
        public let verdict: Verdict
        public let expected: Ledger.Status?
        public init(verdict: Verdict, expected: Ledger.Status?) {
            self.verdict = verdict
            self.expected = expected
        }
        public var matches: Bool { expected?.rawValue == verdict.outcome.rawValue }
    }

    public var target: String
    public var fixes: [String]
    /// Where the run left its files (`--json` consumers need not parse the text).
    public var runDirectory: String?
    /// Each workload phase's checker verdicts, by phase (`valid`: true, false or "unknown").
    public var checkers: [String: [CheckerVerdict]] = [:]
    public var scenarios: [ScenarioResult] = []
    public var findings: [FindingResult] = []
    public var unplanned: [UnplannedNode] = []
    public var seconds: Double = 0

    public init(target: String, fixes: [String]) {
        self.target = target
        self.fixes = fixes
    }

    public var passed: Bool { scenarios.allSatisfy(\.passed) && findings.allSatisfy(\.matches) }

    public func write(to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: dir.appendingPathComponent("report.json"))
        try junit().write(to: dir.appendingPathComponent("junit.xml"), atomically: true, encoding: .utf8)
    }

    func junit() -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var cases: [String] = []
        var failures = 0
        for s in scenarios {
            for step in s.steps {
                var c =
                    "    <testcase classname=\"scenario.\(esc(s.name))\" name=\"\(esc(step.name))\" time=\"\(String(format: "%.3f", step.seconds))\">"
                if !step.passed {
                    failures += 1;
                    c += "<failure message=\"\(esc(String(step.detail.prefix(200))))\">\(esc(step.detail))</failure>"
                } else {
                    c += "<system-out>\(esc(step.detail))</system-out>"
                }
                cases.append(c + "</testcase>")
            }
        }
        for f in findings {
            var c =
                "    <testcase classname=\"finding\" name=\"\(esc(f.verdict.id))\" time=\"\(String(format: "%.3f", f.verdict.seconds))\">"
            let text = f.verdict.evidence.map { ($0.command.map { "$ \($0)\n" } ?? "") + $0.excerpt }.joined(
                separator: "\n")
            if !f.matches {
                failures += 1
                c +=
                    "<failure message=\"\(f.verdict.outcome.rawValue), expected \(f.expected?.rawValue ?? "-")\">\(esc(f.verdict.summary + "\n" + text))</failure>"
            } else {
                c +=
                    "<system-out>\(esc(f.verdict.outcome.rawValue + ": " + f.verdict.summary + "\n" + text))</system-out>"
            }
            cases.append(c + "</testcase>")
        }
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites>
              <testsuite name="photoncloud-harness" tests="\(cases.count)" failures="\(failures)" time="\(String(format: "%.3f", seconds))">
            \(cases.joined(separator: "\n"))
              </testsuite>
            </testsuites>

            """
    }
}
