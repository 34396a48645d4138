import Foundation
import HostCommand
import Logging
import Nix

/// Runs the checks of some findings on one target and compares with a ledger.
public struct CheckRun: Sendable {
    public struct Result: Sendable, Codable {
        public let id: String
        public let title: String
        public let severity: Finding.Severity
        public let outcome: Outcome
        public let expected: Ledger.Status?
        public let matches: Bool
        public let summary: String
        public let evidence: [Evidence]
        public let seconds: Double
    }

    public struct Report: Sendable, Codable {
        public let target: String
        public let fixes: [String]
        public let results: [Result]
        /// Findings that only booted nodes decide: not run by `check`.
        public let runtimeOnly: [String]
        public let seconds: Double

        public var allMatch: Bool { results.allSatisfy(\.matches) }
    }

    public let nix: Nix
    public let logger: Logger

    public init(nix: Nix, logger: Logger) {
        self.nix = nix
        self.logger = logger
    }

    /// The finding ids to check: all that need no nodes, or `only` (validated: an
    /// unknown or empty id is named; repeats and case do not matter), in catalog order.
    public static func select(_ only: [String]?) throws -> [String] {
        guard let only, !only.isEmpty else { return EvaluationChecks.all.map(\.id) }
        var ids: [String] = []
        for raw in only {
            let given = raw.trimmingCharacters(in: .whitespaces)
            guard !given.isEmpty else {
                throw FindingsError(
                    .unknownFinding,
                    "an empty finding id; give ids such as F1 or F5.1, "
                        + "separated by commas")
            }
            let finding = try Catalog.finding(given)
            guard EvaluationChecks.check(for: finding.id) != nil else {
                throw FindingsError(
                    .notAvailable,
                    "\(finding.id) is decided at runtime on booted nodes; its checks come with the scenarios (`harness run`), not `harness check`"
                )
            }
            if !ids.contains(finding.id) { ids.append(finding.id) }
        }
        return Catalog.ids.filter(ids.contains)
    }

    /// Decides `ids` on `target`, two at a time (nix evaluation is CPU-bound and
    /// this host has two cores), in catalog order.
    public func run(_ ids: [String], on target: Target, ledger: Ledger) async throws -> Report {
        let ids = ids.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let clock = ContinuousClock()
        let start = clock.now
        // The shipped miniature is known to parse (its tests say so); a checkout is checked.
        if !target.isMiniature { try await validate(target) }
        let verdicts = try await withThrowingTaskGroup(of: Verdict.self) { group in
            var pending = ids[...]
            var done: [Verdict] = []
            for _ in 0..<2 {
                guard let id = pending.popFirst() else { break }
                group.addTask { try await decide(id, on: target) }
            }
            while let verdict = try await group.next() {
                done.append(verdict)
                logger.info(
                    "\(verdict.id): \(verdict.outcome.rawValue)",
                    metadata: ["seconds": "\(String(format: "%.2f", verdict.seconds))"])
                if let id = pending.popFirst() { group.addTask { try await decide(id, on: target) } }
            }
            return done
        }
        let results = try ids.map { id -> Result in
            let finding = try Catalog.finding(id)
            let verdict = verdicts.first { $0.id == id }!
            let expected = ledger.expected[id]
            return Result(
                id: id, title: finding.title, severity: finding.severity, outcome: verdict.outcome, expected: expected,
                matches: expected.map { $0.rawValue == verdict.outcome.rawValue } ?? false,
                summary: verdict.summary, evidence: verdict.evidence, seconds: verdict.seconds)
        }
        return Report(
            target: target.name, fixes: target.fixes, results: results,
            runtimeOnly: Catalog.findings.filter(\.runtimeOnly).map(\.id), seconds: (clock.now - start).seconds)
    }

    /// A target whose flake.nix does not even parse is bad input, not seven findings.
    func validate(_ target: Target) async throws {
        let reference = target.flake()
        if !nix.decodesFileURLs, reference.hasPrefix("path:"), reference.contains("%") {
            throw FindingsError(
                .badTarget,
                "\(target.name): nix \(nix.version) cannot read a flake whose path has "
                    + "spaces or non-ASCII characters unless it is in a git repository (nix 2.10 and "
                    + "newer can): make it a git repository with a commit "
                    + "(`git init && git add -A && git commit`), or move it to a plain path")
        }
        if !nix.decodesFileURLs, FlakeReference.isEncodedGitURL(reference) {
            // Read as a git URL, the checkout is its last commit: say so rather than decide
            // on files that are not what the user sees.
            let status = try await HostCommand("git", ["-C", target.root.path, "diff-index", "--quiet", "HEAD", "--"])
                .run(timeout: 60).status
            if status != 0 {
                let what = status == 1 ? "has uncommitted changes" : "has no commit"
                throw FindingsError(
                    .badTarget,
                    "\(target.name) \(what): nix \(nix.version) reads a checkout whose path "
                        + "has spaces or non-ASCII characters as a git URL, which sees committed files "
                        + "only (nix 2.10 and newer read it as it is): commit, or move it to a plain path")
            }
        }
        let metadata = try await nix.sourcePath(reference, overrides: target.overrides)
        if let failure = metadata.failure {
            throw FindingsError(
                .badTarget,
                "\(target.name): its flake cannot be read by nix (\(failure.location.map { "\($0): " } ?? "")\(failure.headline))"
            )
        }
    }

    func decide(_ id: String, on target: Target) async throws -> Verdict {
        guard let check = EvaluationChecks.check(for: id) else {
            throw FindingsError(.notAvailable, "no evaluation check for \(id)")
        }
        let start = ContinuousClock.now
        var verdict: Verdict
        do {
            verdict = try await check.decide(on: target, nix: nix)
        } catch let error as NixError where error.kind == .timeout {
            verdict = Verdict(
                id: id, outcome: .error, summary: "nix timed out", evidence: [Evidence(excerpt: error.message)])
        }
        verdict.seconds = (ContinuousClock.now - start).seconds
        return verdict
    }
}

/// Terminal rendering of a report.
public enum ReportText {
    public static func render(_ report: CheckRun.Report, evidence: Bool) -> String {
        var out = ["target: \(report.target)"]
        for r in report.results {
            let mark = r.matches ? "ok  " : "FAIL"
            out.append(
                "\(mark) \(r.id.padding(toLength: 5, withPad: " ", startingAt: 0)) \(r.outcome.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) expected \(r.expected?.rawValue ?? "(not in ledger)")  \(String(format: "%.2fs", r.seconds))"
            )
            out.append("      \(r.summary)")
            if evidence || !r.matches { out += r.evidence.map { render($0) } }
        }
        let mismatches = report.results.filter { !$0.matches }.count
        out.append(
            mismatches == 0
                ? "all \(report.results.count) outcomes match the ledger (\(String(format: "%.2f", report.seconds)) s)"
                : "\(mismatches) of \(report.results.count) outcomes differ from the ledger")
        if !report.runtimeOnly.isEmpty {
            out.append("runtime-only findings not checked here: \(report.runtimeOnly.joined(separator: ", "))")
        }
        return out.joined(separator: "\n")
    }

    public static func render(_ e: Evidence) -> String {
        var lines: [String] = []
        if let command = e.command { lines.append("      $ \(command)") }
        let prefix = e.location.map { "      \($0): " } ?? "      "
        let body = e.excerpt.split(separator: "\n", omittingEmptySubsequences: false)
        if let first = body.first { lines.append(prefix + first) }
        lines += body.dropFirst().map { "        " + $0 }
        return lines.joined(separator: "\n")
    }
}
