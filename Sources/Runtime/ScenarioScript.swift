import Foundation
import Harness
import Workloads

/// A scenario as a file under `Scenarios/`: one statement a line, read top to bottom like
/// a NixOS testScript. Interpreted, not compiled, so adding a scenario is adding a file:
/// the CLI, its help and the tests find it without a rebuild. The first comment lines
/// say what it proves.
///
///     # Failover: the leader loses power while a writer runs.
///     fixes F5.1 F5.2 F4.1 F4.2 F3
///     bootstrap
///     join
///     failover destroy
///
/// A line ending in `\` goes on in the next. Statements:
/// - `fixes ID…`: the fixes applied to the miniature (before any step; default: those
///   that let bootstrap, join and failover work).
/// - `variant store-on-tmpfs`: Chainfire's data in the guest's RAM, the seeded bug whose
///   acknowledged writes a power loss erases (before any step).
/// - `bootstrap`, `join`, `failover destroy|suspend|link-down`: the built-in scenarios.
/// - `on NODE VERB ARG…`: an adapter verb that must succeed on NODE.
/// - `expect NODE VERB ARG… => TEXT`: an adapter verb whose output must be TEXT.
/// - `wait SECONDS NODE VERB ARG… [=> TEXT]`: polls the verb until it succeeds (with TEXT).
/// - `workload cas-register|set [OPTION VALUE]…`: a workload phase with its fault schedule
///   and checkers; options `nemesis LIST`, `schedule once|random`, `concurrency N`,
///   `rate OPS`, `duration S`, `start S`, `hold S`, `keys N`, `values N`,
///   `read-consistency linearizable|serializable`, `seed N`, `members NODE,…` and
///   `expect-invalid CHECKER,…` (a seeded bug: the run passes only when one of these
///   checkers rejects the history).
public struct ScenarioScript: Sendable, Equatable {
    public enum Statement: Sendable, Equatable {
        case bootstrap
        case join
        case failover(Fault)
        case on(node: String, verb: [String])
        case expect(node: String, verb: [String], output: String)
        case wait(seconds: Double, node: String, verb: [String], output: String?)
        case workload(WorkloadOptions)
    }

    public struct Line: Sendable, Equatable {
        public var number: Int
        public var statement: Statement
    }

    public var name: String
    /// The leading comment, what the scenario proves.
    public var summary: String
    public var fixes: [String]?
    /// `variant store-on-tmpfs`: the seeded unpersisted-writes bug (`ClusterPlan.withStoreOnTmpfs`).
    public var storeOnTmpfs = false
    public var lines: [Line]

    /// A script that does not parse: which file, which line, what was wrong.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var file: String
        public var line: Int
        public var message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    public static let fileExtension = "scenario"

    public static func parse(_ text: String, name: String, file: String? = nil) throws -> ScenarioScript {
        var script = ScenarioScript(name: name, summary: "", fixes: nil, lines: [])
        var summary: [String] = []
        var inHeader = true
        // A line ending in `\` goes on in the next; a statement is numbered by its first line.
        var logical: [(number: Int, text: String)] = []
        var continued = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            let continues = line.hasSuffix("\\") && !line.hasPrefix("#")
            if continues { line = String(line.dropLast()).trimmingCharacters(in: .whitespaces) }
            if continued, let last = logical.popLast() {
                logical.append((last.number, last.text + " " + line))
            } else {
                logical.append((index + 1, line))
            }
            continued = continues
        }
        for (number, trimmed) in logical {
            func fail(_ message: String) -> ParseError {
                ParseError(file: file ?? name, line: number, message: message)
            }
            if trimmed.hasPrefix("#") {
                if inHeader { summary.append(trimmed.dropFirst().trimmingCharacters(in: .whitespaces)) }
                continue
            }
            inHeader = false
            if trimmed.isEmpty { continue }
            // Expected output follows `=>`, kept as written (spaces included).
            let parts = trimmed.components(separatedBy: "=>")
            let words = parts[0].split(whereSeparator: \.isWhitespace).map(String.init)
            guard !words.isEmpty else { throw fail("a statement starts with its name, not `=>`") }
            let output =
                parts.count > 1 ? parts.dropFirst().joined(separator: "=>").trimmingCharacters(in: .whitespaces) : nil
            let statement: Statement
            switch words[0] {
            case "fixes":
                guard script.lines.isEmpty else { throw fail("`fixes` comes before the first step") }
                guard script.fixes == nil else { throw fail("a second `fixes` line; list every fix on one") }
                guard words.count > 1 else { throw fail("`fixes` lists at least one fix id (F1 … F7)") }
                script.fixes = Array(words.dropFirst())
                continue
            case "variant":
                guard script.lines.isEmpty else { throw fail("`variant` comes before the first step") }
                guard words.count == 2, words[1] == "store-on-tmpfs" else {
                    throw fail("`variant` names a variant of the fixture: store-on-tmpfs")
                }
                script.storeOnTmpfs = true
                continue
            case "bootstrap", "join":
                guard words.count == 1, output == nil else { throw fail("`\(words[0])` takes nothing") }
                statement = words[0] == "bootstrap" ? .bootstrap : .join
            case "failover":
                guard words.count == 2, let fault = Fault(rawValue: words[1]), output == nil else {
                    throw fail(
                        "`failover` takes one fault: " + Fault.allCases.map(\.rawValue).joined(separator: ", "))
                }
                statement = .failover(fault)
            case "on":
                guard words.count >= 3, output == nil else { throw fail("`on NODE VERB ARG…`, with no `=>`") }
                statement = .on(node: words[1], verb: Array(words.dropFirst(2)))
            case "expect":
                guard words.count >= 3, let output else { throw fail("`expect NODE VERB ARG… => TEXT`") }
                statement = .expect(node: words[1], verb: Array(words.dropFirst(2)), output: output)
            case "wait":
                guard words.count >= 4, let seconds = Double(words[1]), seconds.isFinite, seconds > 0,
                    seconds <= 3600
                else { throw fail("`wait SECONDS NODE VERB ARG… [=> TEXT]`, SECONDS more than 0 and at most 3600") }
                statement = .wait(seconds: seconds, node: words[2], verb: Array(words.dropFirst(3)), output: output)
            case "workload":
                guard output == nil else { throw fail("`workload` takes no `=>`") }
                do { statement = .workload(try workload(Array(words.dropFirst()))) } catch let message as Message {
                    throw fail(message.text)
                }
            default:
                throw fail(
                    "unknown statement `\(words[0])`: one of fixes, variant, bootstrap, join, failover, on, expect, "
                        + "wait, workload")
            }
            script.lines.append(Line(number: number, statement: statement))
        }
        guard !script.lines.isEmpty else {
            throw ParseError(file: file ?? name, line: 1, message: "no steps: a scenario needs at least one statement")
        }
        script.summary = summary.joined(separator: " ")
        return script
    }

    /// Every node a statement names is one of `nodes`; else bad input naming the line.
    /// The leading `bootstrap` and `join` lines: the cluster the file's steps start from.
    public var setup: [Statement] {
        Array(lines.map(\.statement).prefix { $0 == .bootstrap || $0 == .join })
    }

    public func checkNodes(_ nodes: [String]) throws {
        for line in lines {
            let named: [String]
            switch line.statement {
            case .on(let node, _), .expect(let node, _, _), .wait(_, let node, _, _): named = [node]
            case .workload(let options): named = options.members ?? []
            case .bootstrap, .join, .failover: named = []
            }
            if let unknown = named.first(where: { !nodes.contains($0) }) {
                throw HarnessError(
                    .badInput,
                    "\(name).scenario:\(line.number): no node `\(unknown)` in this cluster "
                        + "(\(nodes.joined(separator: ", ")))")
            }
        }
    }

    private struct Message: Error { var text: String }

    private static func workload(_ words: [String]) throws -> WorkloadOptions {
        guard let first = words.first, let kind = WorkloadKind(rawValue: first) else {
            throw Message(
                text: "`workload` names its kind first: "
                    + WorkloadKind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var w = WorkloadOptions(kind: kind)
        var rest = words.dropFirst()
        while let option = rest.first {
            guard rest.count >= 2 else { throw Message(text: "workload option `\(option)` has no value") }
            let value = rest.dropFirst().first!
            rest = rest.dropFirst(2)
            func number<T: LosslessStringConvertible>(_ range: ClosedRange<Double>) throws -> T {
                guard let n = T(value), let d = Double(value), d.isFinite, range.contains(d) else {
                    throw Message(text: "workload option `\(option)` takes a number in \(range), not `\(value)`")
                }
                return n
            }
            switch option {
            case "nemesis":
                w.nemesis = try value.split(separator: ",").map {
                    guard let c = NemesisChoice(rawValue: String($0)) else {
                        throw Message(
                            text: "unknown fault `\($0)`: "
                                + NemesisChoice.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                    return c
                }
            case "schedule":
                guard let s = NemesisSchedule(rawValue: value) else {
                    throw Message(text: "`schedule` is once or random, not `\(value)`")
                }
                w.schedule = s
            case "concurrency": w.concurrency = try number(1...1000)
            case "rate": w.rate = try number(0...1_000_000)
            case "duration": w.duration = try number(0.1...3600)
            case "start": w.start = try number(0...3600)
            case "hold": w.hold = try number(0...3600)
            case "keys": w.keys = try number(1...1000)
            case "values": w.values = try number(1...1_000_000)
            case "seed": w.seed = try number(0...Double(UInt64.max))
            case "read-consistency":
                guard let c = ReadConsistency(rawValue: value) else {
                    throw Message(text: "`read-consistency` is linearizable or serializable, not `\(value)`")
                }
                w.consistency = c
            case "members": w.members = value.split(separator: ",").map(String.init)
            case "expect-invalid":
                // The checkers this kind runs that can reject a history (the nemesis' verdict is
                // valid or unknown, never invalid).
                let rejecting = [kind == .casRegister ? "linearizable" : "set", "liveness", "convergence"]
                let names = value.split(separator: ",").map(String.init)
                w.expectInvalid = names
                if let unknown = names.first(where: { !rejecting.contains($0) }) {
                    throw Message(
                        text: "`\(unknown)` in expect-invalid never rejects a \(kind.rawValue) history: one of "
                            + rejecting.joined(separator: ", "))
                }
            default:
                throw Message(
                    text: "unknown workload option `\(option)`: nemesis, schedule, concurrency, rate, duration, start, "
                        + "hold, keys, values, read-consistency, seed, members, expect-invalid")
            }
        }
        return w
    }
}

/// The scenario files of a harness checkout: `Scenarios/*.scenario`.
public struct ScenarioLibrary: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    public var names: [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix("." + ScenarioScript.fileExtension) }
            .map { String($0.dropLast(ScenarioScript.fileExtension.count + 1)) }.sorted()
    }

    /// NAME (a file of the library) or PATH (any file), parsed.
    public func load(_ nameOrPath: String) throws -> ScenarioScript {
        let url: URL
        if nameOrPath.contains("/") || nameOrPath.hasSuffix("." + ScenarioScript.fileExtension) {
            url = URL(fileURLWithPath: nameOrPath)
        } else {
            guard names.contains(nameOrPath) else {
                throw HarnessError(
                    .badInput,
                    "unknown scenario `\(nameOrPath)` (no \(nameOrPath).scenario in \(directory.path)): one of "
                        + "\(names.joined(separator: ", ")), or the path of a .scenario file "
                        + "(`harness scenarios` lists them)")
            }
            url = directory.appendingPathComponent("\(nameOrPath).\(ScenarioScript.fileExtension)")
        }
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw HarnessError(.badInput, "cannot read the scenario file \(url.path)", cause: error)
        }
        let name = url.deletingPathExtension().lastPathComponent
        do { return try ScenarioScript.parse(text, name: name, file: url.path) } catch let error
            as ScenarioScript
            .ParseError
        {
            throw HarnessError(.badInput, "\(error)")
        }
    }
}
