import ArgumentParser
import Foundation
import Linearizability
import Logging
import Runtime
import Workloads

struct BenchWorkload: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workload",
        abstract: "cas-register from the host against five members, beside a bare client of the same protocol.",
        discussion: """
            Boots the miniature's cluster, runs bootstrap and join (five Chainfire members), then for each \
            --clients count: a bare keep-alive loop (half reads, half puts; nothing recorded) and the harness's \
            cas-register workload (recorded, then checked for linearizability), each for --duration seconds \
            through the members' 127.0.0.1 forwards. Reports acknowledged operations/s, latency quantiles of \
            acknowledged operations, and harness ÷ bare throughput as `ratio`.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "Client counts to measure, comma-separated.") var clients = "1,10,30"
    @Option(parsing: .unconditional, help: "Seconds per measurement.") var duration = 20.0
    @Flag(help: "Print the report as JSON.") var json = false

    struct Point: Encodable {
        var clients: Int
        var bareOpsPerSecond: Double
        var harnessOpsPerSecond: Double
        var ratio: Double
        var latencyMs: [String: Double]
        var outcomes: [String: Int]
        var linearizable: String
    }

    struct Report: Encodable {
        var members: [String]
        var duration: Double
        var points: [Point]
        var runDirectory: String
    }

    func counts() throws -> [Int] {
        let parts = clients.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count, values.allSatisfy({ (1...200).contains($0) }) else {
            throw ValidationError(
                "--clients takes counts from 1 to 200, comma-separated, e.g. 1,10,30; not `\(clients)`")
        }
        return values
    }

    func validate() throws {
        _ = try counts()
        guard duration.isFinite, (1...3600).contains(duration) else {
            throw ValidationError("--duration takes 1 to 3600 seconds, not \(duration)")
        }
    }

    func run() async throws {
        let logger = global.logger()
        let (counts, duration) = (try counts(), self.duration)
        do {
            let fixes = ["F5.1", "F5.2", "F4.1", "F4.2", "F3"]
            let box = ReportBox()
            let (_, dir) = try await runCancellable {
                try await withRuntimeSession(fixes: fixes, keep: false, what: "bench-workload", logger: logger) {
                    session, plan, report in
                    let s = Scenarios(session: session, plan: plan)
                    report.scenarios.append(try await s.bootstrap())
                    report.scenarios.append(try await s.join())
                    let members = Scenarios.founders + Scenarios.joiners
                    let clients = try await session.gatewayClients(members)
                    var points: [Point] = []
                    for n in counts {
                        let prefix = "bench-\(UInt32.random(in: 0...UInt32.max))"
                        let bare = await BareLoad(concurrency: n, duration: duration, prefix: prefix).run(
                            clients: clients)
                        let workload = CASRegisterWorkload(
                            generator: Generator(concurrency: n, rate: 0, duration: duration, seed: UInt64(n)),
                            keys: max(5, n / 2), prefix: prefix)
                        let history = await workload.run(clients: clients, logger: logger)
                        try? history.edn().write(
                            to: session.artifacts.appendingPathComponent("history-bench-\(n).edn"), atomically: true,
                            encoding: .utf8)
                        let check = try await HistoryCheck.run(history, model: .casRegister, timeLimit: 120)
                        points.append(Self.point(n, bare: bare, history: history, duration: duration, check: check))
                        logger.info(
                            "measured",
                            metadata: [
                                "clients": "\(n)", "bare": "\(bare)",
                                "harness": "\(points.last!.harnessOpsPerSecond)",
                            ])
                    }
                    box.set(Report(members: members, duration: duration, points: points, runDirectory: ""))
                }
            }
            guard var report = box.report else { throw ExitCode(1) }
            report.runDirectory = dir.path
            if json { try printJSON(report) } else { print(Self.render(report)) }
        } catch let code as ExitCode {
            throw code
        } catch {
            throw findingsExit(for: error)
        }
    }

    static func point(_ n: Int, bare: Double, history: History, duration: Double, check: LinearizabilityResult) -> Point
    {
        var latencies: [Double] = []
        var outcomes = ["ok": 0, "fail": 0, "info": 0]
        for op in history.operations {
            outcomes[op.status.rawValue, default: 0] += 1
            if op.status != .info, let a = op.invokeTime, let b = op.completeTime {
                latencies.append(Double(b - a) / 1e6)
            }
        }
        latencies.sort()
        func q(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(p * Double(latencies.count)))]
        }
        // Acknowledged: answered, :ok or :fail (a cas whose compare failed was answered too).
        let harness = Double((outcomes["ok"] ?? 0) + (outcomes["fail"] ?? 0)) / duration
        let valid: String
        switch check.validity {
        case .valid: valid = "true"
        case .invalid: valid = "false"
        case .unknown: valid = "unknown"
        }
        return Point(
            clients: n, bareOpsPerSecond: bare, harnessOpsPerSecond: harness, ratio: bare > 0 ? harness / bare : 0,
            latencyMs: ["p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "max": latencies.last ?? 0], outcomes: outcomes,
            linearizable: valid)
    }

    static func render(_ r: Report) -> String {
        var lines = [
            "cas-register from the host against \(r.members.joined(separator: ", ")), \(Int(r.duration)) s each"
        ]
        for p in r.points {
            lines.append(
                String(
                    format: "%3d clients: harness %.1f ops/s, bare %.1f ops/s, ratio %.2f; latency p50 %.0f ms, "
                        + "p95 %.0f ms, p99 %.0f ms; ok %d, info %d, fail %d; linearizable %@",
                    p.clients, p.harnessOpsPerSecond, p.bareOpsPerSecond, p.ratio, p.latencyMs["p50"] ?? 0,
                    p.latencyMs["p95"] ?? 0, p.latencyMs["p99"] ?? 0, p.outcomes["ok"] ?? 0, p.outcomes["info"] ?? 0,
                    p.outcomes["fail"] ?? 0, p.linearizable))
        }
        lines.append("run directory: \(r.runDirectory)")
        return lines.joined(separator: "\n")
    }
}

/// Carries the report out of the session's closure.
final class ReportBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: BenchWorkload.Report?
    func set(_ r: BenchWorkload.Report) {
        lock.lock()
        value = r
        lock.unlock()
    }
    var report: BenchWorkload.Report? {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
}
