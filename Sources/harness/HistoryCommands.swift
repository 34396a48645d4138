import ArgumentParser
import Foundation
import Linearizability
import Report
import Runtime

extension ModelName: ExpressibleByArgument {}

struct CheckHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-history",
        abstract: "Check a history: a Jepsen history.edn for linearizability, or a failover history's checks.",
        discussion: """
            A history.edn (Jepsen's format, one map per line: {:process 0, :type :invoke, :f :cas, :key "k1", \
            :value [1 2], :time 123456789, :index 7}) is checked for linearizability against --model, split by \
            :key (a history without keys is one register). Unknown outcomes (:info, or never completed) may take \
            effect at any time after their invocation, or never. When it is not linearizable, a picture of the \
            failing key is written beside the file (NAME.linear.svg). With --report, Jepsen's pictures of the \
            run are written beside it too: NAME.timeline.html, NAME.latency.svg, NAME.rate.svg and \
            NAME.results.json.
            A history-failover-<fault>.json from a run directory gets the failover checks.
            Exit 0 valid, 1 not linearizable (or a failover check failed), 2 could not decide.
            """)
    @Argument(help: "A history.edn, or a history-failover-<fault>.json.") var file: String
    @Option(help: "cas-register (read, write, cas) or kv (get, put, append); default: from the functions used.")
    var model: ModelName?
    @Option(parsing: .unconditional, help: "Seconds to search before answering unknown.") var timeLimit = 300.0
    @Option(
        parsing: .unconditional,
        help: "Failover histories: the new-leader bound, as a multiple of the election timeout.")
    var electionBoundFactor = 20.0
    @Flag(help: "Print the verdict as JSON.") var json = false
    @Flag(help: "Also write the timeline, latency and rate plots and results.json beside a history.edn.")
    var report = false

    func run() async throws {
        do {
            let url = URL(fileURLWithPath: file)
            guard FileManager.default.isReadableFile(atPath: url.path) else {
                throw ValidationFailure("\(file): no such readable file")
            }
            guard timeLimit.isFinite, timeLimit > 0 else {
                throw ValidationFailure("--time-limit must be a positive number of seconds, not \(timeLimit)")
            }
            if try Self.isFailoverJSON(url) {
                try checkFailover(url)
            } else {
                try await checkLinearizability(url)
            }
        } catch let code as ExitCode {
            throw code
        } catch {
            throw failure((error as? ValidationFailure)?.message ?? "\(file): \(error)", exitCode: 2)
        }
    }

    func checkLinearizability(_ url: URL) async throws {
        let history = try History.read(url)
        guard let model = model ?? ModelName.infer(from: history.operations) else {
            let fs = Set(history.operations.map { ":" + $0.f }).sorted().joined(separator: ", ")
            throw ValidationFailure(
                "\(file): cannot tell the model from its functions (\(fs.isEmpty ? "none" : fs)); "
                    + "pass --model cas-register or --model kv")
        }
        let result = try await HistoryCheck.run(
            history, model: model, timeLimit: timeLimit, picture: HistoryCheck.pictureURL(for: url))
        if report {
            let name = url.deletingPathExtension().lastPathComponent
            let files = try WorkloadReport.write(
                history, verdicts: [CheckerVerdict(result)], name: name, title: url.lastPathComponent,
                in: url.deletingLastPathComponent(), edn: false)
            if !json { print("report: " + files.map(\.path).joined(separator: ", ")) }
        }
        if json { try printJSON(result) } else { print(Self.render(result)) }
        switch result.validity {
        case .valid: return
        case .invalid: throw ExitCode(1)
        case .unknown: throw ExitCode(2)
        }
    }

    func checkFailover(_ url: URL) throws {
        guard electionBoundFactor.isFinite, electionBoundFactor > 0 else {
            throw ValidationFailure("--election-bound-factor must be a positive number, not \(electionBoundFactor)")
        }
        let history = try FailoverHistory.load(url)
        let results = HistoryChecker(electionBoundFactor: electionBoundFactor).check(history)
        if json {
            try printJSON(results)
        } else {
            for r in results { print("\(r.passed ? "ok  " : "FAIL") \(r.name): \(r.detail)") }
        }
        if !results.allSatisfy(\.passed) { throw ExitCode(1) }
    }

    /// A failover history is a JSON object; history.edn starts with an EDN map or vector.
    static func isFailoverJSON(_ url: URL) throws -> Bool {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        let head = String(decoding: try handle.read(upToCount: 256) ?? Data(), as: UTF8.self)
        let text = head.drop { $0.isWhitespace }
        return text.hasPrefix("{") && text.dropFirst().drop { $0.isWhitespace }.hasPrefix("\"")
    }

    static func render(_ r: LinearizabilityResult) -> String {
        let what =
            "\(r.operations) operation(s) on \(r.keys) key(s), \(r.model), \(String(format: "%.3f", r.seconds)) s"
        switch r.validity {
        case .valid: return "linearizable: \(what)"
        case .unknown(let why): return "unknown: \(why) (\(what))"
        case .invalid:
            var lines = ["NOT linearizable: \(what)"]
            if let a = r.anomaly {
                if let key = a.key { lines.append("  key: \(key)") }
                lines.append("  \(a.explanation)")
                lines.append(
                    "  smallest prefix that cannot be linearized: \(a.prefixOperations) operation(s) of this key, "
                        + "up to line \(a.prefixLastLine.map(String.init) ?? "?")"
                        + (a.prefixIsMinimal ? "" : " (not minimised: the budget ran out)"))
                if !a.concurrent.isEmpty {
                    lines.append("  concurrent with it:")
                    for c in a.concurrent.prefix(12) {
                        lines.append(
                            "    process \(c.process): \(c.description) (lines \(c.invokeLine)–"
                                + "\(c.completeLine.map(String.init) ?? "end"))")
                    }
                    if a.concurrent.count > 12 { lines.append("    … and \(a.concurrent.count - 12) more") }
                }
                if !a.statesBefore.isEmpty {
                    lines.append("  states possible just before it: \(a.statesBefore.joined(separator: ", "))")
                }
                if let p = a.picture { lines.append("  picture: \(p)") }
            }
            return lines.joined(separator: "\n")
        }
    }
}

/// A bad argument: the message says what and what to do.
struct ValidationFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

struct BenchCheckHistory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-history",
        abstract: "Check every history.edn in a directory, timed; and a synthetic kv history.",
        discussion: """
            Per file: the verdict, the time to check (and, apart, to read), and whether the verdict is the \
            expected one when the name says it (NAME-ok.edn, NAME-bad.edn, as Tests/Bench/porcupine-to-edn.py \
            names Porcupine's histories). Then a generated history of a linearizable kv store \
            (--synthetic-operations over --synthetic-keys keys), with the process's peak memory after it. \
            Build with -c release for figures worth comparing.
            """)
    @Argument(help: "A directory of history.edn files.") var directory: String?
    @Option(help: "Operations in the synthetic kv history (0: none).") var syntheticOperations = 100_000
    @Option(help: "Keys in the synthetic kv history.") var syntheticKeys = 100
    @Option(parsing: .unconditional, help: "Seconds per history before answering unknown.") var timeLimit = 300.0
    @Flag(help: "Print the report as JSON.") var json = false

    struct FileResult: Encodable {
        var file: String
        var model: String
        var operations: Int
        var valid: String
        var expected: String?
        var matches: Bool?
        /// The search for the verdict, comparable with Porcupine's CheckEvents.
        var checkSeconds: Double
        /// Explaining an invalid history: the smallest failing prefix, the states.
        var explainSeconds: Double
        var readSeconds: Double
    }

    struct Synthetic: Encodable {
        var operations: Int
        var keys: Int
        var valid: String
        var checkSeconds: Double
        var peakRSSMiB: Double
    }

    struct Report: Encodable {
        var synthetic: Synthetic?
        var files: [FileResult]
        var totalCheckSeconds: Double
        var totalExplainSeconds: Double
        var totalReadSeconds: Double
        var slowestFile: String?
        var mismatches: [String]
    }

    func run() async throws {
        do {
            guard timeLimit.isFinite, timeLimit > 0 else {
                throw ValidationFailure("--time-limit must be a positive number of seconds, not \(timeLimit)")
            }
            guard syntheticOperations >= 0, syntheticKeys >= 1 else {
                throw ValidationFailure("--synthetic-operations must be 0 or more and --synthetic-keys 1 or more")
            }
            var report = Report(
                synthetic: nil, files: [], totalCheckSeconds: 0, totalExplainSeconds: 0, totalReadSeconds: 0,
                mismatches: [])
            // First, so the peak memory it reports is its own.
            if syntheticOperations > 0 {
                let history = HistorySimulator(
                    model: .kv, processes: 30, keys: syntheticKeys, operations: syntheticOperations, seed: 7
                ).history()
                let result = try await HistoryCheck.run(history, model: .kv, timeLimit: timeLimit)
                report.synthetic = Synthetic(
                    operations: result.operations, keys: result.keys, valid: Self.text(result.validity),
                    checkSeconds: result.seconds, peakRSSMiB: Self.peakRSSMiB())
            }
            if let directory {
                try await checkDirectory(directory, into: &report)
            }
            if json { try printJSON(report) } else { print(Self.render(report)) }
            if !report.mismatches.isEmpty { throw ExitCode(1) }
        } catch let code as ExitCode {
            throw code
        } catch {
            throw failure((error as? ValidationFailure)?.message ?? "\(error)", exitCode: 2)
        }
    }

    func checkDirectory(_ directory: String, into report: inout Report) async throws {
        let dir = URL(fileURLWithPath: directory)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".edn") }
                .sorted()
        } catch {
            throw ValidationFailure("\(directory): cannot list it (\(EDNStreamReader.reason(error)))")
        }
        guard !names.isEmpty else { throw ValidationFailure("\(directory) holds no .edn file") }
        var slowest = 0.0
        for name in names {
            let url = dir.appendingPathComponent(name)
            let readStart = Date()
            let history: History
            do { history = try History.read(url) } catch { throw ValidationFailure("\(name): \(error)") }
            let readSeconds = Date().timeIntervalSince(readStart)
            guard let model = ModelName.infer(from: history.operations) else {
                throw ValidationFailure("\(name): cannot tell its model from its functions")
            }
            let result = try await HistoryCheck.run(history, model: model, timeLimit: timeLimit)
            let stem = url.deletingPathExtension().lastPathComponent
            let expected = stem.hasSuffix("-ok") ? "true" : stem.hasSuffix("-bad") ? "false" : nil
            let valid = Self.text(result.validity)
            report.files.append(
                FileResult(
                    file: name, model: model.rawValue, operations: result.operations, valid: valid,
                    expected: expected, matches: expected.map { $0 == valid }, checkSeconds: result.searchSeconds,
                    explainSeconds: result.seconds - result.searchSeconds, readSeconds: readSeconds))
            if let expected, expected != valid { report.mismatches.append(name) }
            report.totalCheckSeconds += result.searchSeconds
            report.totalExplainSeconds += result.seconds - result.searchSeconds
            report.totalReadSeconds += readSeconds
            if result.searchSeconds > slowest {
                slowest = result.searchSeconds
                report.slowestFile = name
            }
        }
    }

    static func text(_ v: LinearizabilityResult.Validity) -> String {
        switch v {
        case .valid: return "true"
        case .invalid: return "false"
        case .unknown: return "unknown"
        }
    }

    static func peakRSSMiB() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }

    static func render(_ r: Report) -> String {
        var lines: [String] = []
        for f in r.files {
            let mark = f.matches.map { $0 ? "ok  " : "MISMATCH" } ?? "    "
            lines.append(
                String(
                    format: "%@ %-22@ %-12@ %6d ops  valid=%-7@ check %.4f s  explain %.4f s  read %.4f s", mark,
                    f.file, f.model, f.operations, f.valid, f.checkSeconds, f.explainSeconds, f.readSeconds))
        }
        if !r.files.isEmpty {
            lines.append(
                String(
                    format: "%d histories: check %.3f s in all (explaining the invalid ones %.3f s, reading %.3f s); "
                        + "slowest check %@; %d mismatch(es)", r.files.count, r.totalCheckSeconds,
                    r.totalExplainSeconds, r.totalReadSeconds, r.slowestFile ?? "-", r.mismatches.count))
        }
        if let s = r.synthetic {
            lines.append(
                String(
                    format: "synthetic kv: %d operations on %d keys, valid=%@, check %.3f s, peak RSS %.1f MiB",
                    s.operations, s.keys, s.valid, s.checkSeconds, s.peakRSSMiB))
        }
        return lines.joined(separator: "\n")
    }
}
