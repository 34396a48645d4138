import ArgumentParser
import Findings
import Foundation
import Harness
import HostCommand
import Libvirt
import Logging
import Nix
import Runtime
import Workloads

extension Fault: ExpressibleByArgument {}
extension WorkloadKind: ExpressibleByArgument {}
extension NemesisSchedule: ExpressibleByArgument {}
extension ReadConsistency: ExpressibleByArgument {}

/// Boots the planned nodes, runs `body`, writes the report, and tears down (or keeps).
/// `lib`: a nixpkgs lib in place of the stand-in's (`--nixpkgs-lib`), for the plan and the NixOS nodes.
func withRuntimeSession(
    fixes: [String], keep: Bool, what: String, nixos: Bool = false, lib: String? = nil,
    logger: Logger,
    _ body: @escaping @Sendable (RuntimeSession, ClusterPlan, inout RunReport) async throws -> Void
) async throws -> (RunReport, URL) {
    let home = try HarnessHome.locate()
    if let lib { try NixpkgsLib.checkDirectory(lib) }
    let nix = try await Nix.locate(logger: logger)
    // What RuntimeSession.plan does, with the lib put in.
    let target = try await Target.miniature(home: home, fixes: fixes, lib: lib)
    if let lib { try await NixpkgsLib.checkFlake(lib, target: target, nix: nix) }
    let plan = try await ClusterPlan.evaluate(target, nix: nix)
    let dir = StateDirectory().newReportDirectory(what)
    RunLogFile.shared.open(dir.appendingPathComponent("harness.log"))
    defer { RunLogFile.shared.close() }
    let nixosTarget = nixos ? target : nil
    let session = try await RuntimeSession.boot(
        plan: plan, home: home, nix: nix, logger: logger, artifacts: dir, nixos: nixosTarget)
    var report = RunReport(target: nixos ? "miniature (NixOS nodes)" : "miniature", fixes: fixes)
    report.runDirectory = dir.path
    report.unplanned = plan.unplanned
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try? encoder.encode(plan).write(to: dir.appendingPathComponent("plan.json"))
    var failure: (any Error)?
    do { try await body(session, plan, &report) } catch { failure = error }
    report.seconds = session.now
    if let scenarioFailure = failure as? ScenarioFailure { report.scenarios.append(scenarioFailure.result) }
    try report.write(to: dir)
    if keep {
        try await session.cluster.markKept()
        await session.saveServiceLogs()
        session.saveNodeArtifacts()
        var lines = ["kept run \(session.cluster.runID) (remove it with `harness down`):"]
        for node in session.cluster.nodes {
            guard let e = try? await node.endpoint() else { lines.append("  \(node.name)  (never started)"); continue }
            lines.append(
                "  \(e.name)  \(e.clusterAddress)  harness ssh \(e.name)   (ssh -p \(e.sshPort) -i \(session.cluster.directory.path)/id_ed25519 root@127.0.0.1)"
            )
        }
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    } else {
        await session.close()
    }
    if let failure, !(failure is ScenarioFailure) { throw failure }
    return (report, dir)
}

struct RunScenario: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a scenario file of Scenarios/ (or any .scenario file) on the miniature's node01-node06.",
        discussion: """
            NAME is a file of Scenarios/ without its .scenario (`harness scenarios` lists them; `all` is `failover`), \
            PATH any scenario file (docs/scenarios.md). The file gives the fixes, the steps, its workload phases and \
            their faults; the flags below put their values in place of the file's. A workload phase runs clients \
            in the harness (--workload, --concurrency, --rate, --duration, --read-consistency, --seed) beside \
            faults (--nemesis, --schedule): partitions, one-way cuts and packet loss on the host's bridge; kill -9, \
            SIGSTOP or a clock shift of the leader's store; a rolling restart; a member replaced; power loss of a \
            majority or of every member. Checked (linearizable, or set; liveness and convergence after the heal) \
            and drawn: NAME.history.edn, NAME.results.json, NAME.timeline.html, \
            NAME.latency.svg, NAME.rate.svg. The run directory also holds harness.log, report.json, junit.xml, \
            plan.json, the failover history, consoles, service logs and domain XML. \
            Exit 0 passed, 1 failed, 2 could not run.
            """
    )
    @OptionGroup var global: GlobalOptions
    @Argument(help: "A scenario: NAME (of Scenarios/) or PATH (a .scenario file).") var scenario: String
    @Option(help: "failover steps: the fault injected into the leader: destroy, suspend, link-down.") var fault: Fault?
    @Option(help: "Fixes to apply to the miniature (comma-separated), in place of the file's `fixes`.") var fix: String?
    // Workload options: nil when not given, so that a scenario without a workload refuses them.
    @Option(help: "workload: cas-register or set.") var workload: WorkloadKind?
    @Option(
        help: .init(
            "workload: a comma-separated list of faults: none, isolate-leader, halves, majorities-ring, "
                + "bridge, one-way-leader (partitions on the host's bridge), packet-loss (30 % of frames dropped "
                + "there), kill-leader, pause-leader, clock-skew (in the leader's guest), rolling-restart (each "
                + "member's store in turn), member-replace (a joined member removed, then joined again as a new "
                + "one), power-loss-majority or power-loss-all (domains destroyed together, then started)."))
    var nemesis: String?
    @Option(
        help: .init(
            "workload: once (each fault of --nemesis in turn) or random (faults from the list at random "
                + "intervals, from --seed, while the workload runs)."))
    var schedule: NemesisSchedule?
    @Option(help: "workload: clients at once (the file's, else 10).") var concurrency: Int?
    @Option(help: "workload: operations per second over all clients; 0 for as fast as they go (the file's, else 0).")
    var rate: Double?
    @Option(help: "workload: seconds (the file's, else 30).") var duration: Double?
    @Option(help: "workload: cas-register reads, linearizable or serializable (the file's, else linearizable).")
    var readConsistency: ReadConsistency?
    @Option(help: "workload: the generator's seed (a run prints it; the same seed replays its choices).")
    var seed: UInt64?
    @Flag(
        help: .init(
            "Chainfire's data directory on a tmpfs, the seeded bug whose acknowledged writes a power loss "
                + "erases (try --nemesis power-loss-all); fixture guests only."))
    var storeOnTmpfs = false
    @Option(
        help: .init(
            "workload: a client program speaking docs/client-contract.md in JSON lines, started once per member as "
                + "PROGRAM ENDPOINT, instead of the built-in client."))
    var client: String?
    @Flag(help: "Leave the cluster up afterwards.") var keep = false
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(
        help:
            "Boot the test cluster's NixOS configurations (on the nixpkgs stand-in) instead of fixture guests: their own systems start their units at boot, and node04 and node05 boot when they join."
    ) var nixos = false

    /// --nemesis as faults.
    func faults() throws -> [NemesisChoice]? {
        try nemesis?.split(separator: ",", omittingEmptySubsequences: false).map { word in
            let name = word.trimmingCharacters(in: .whitespaces)
            guard let fault = NemesisChoice(rawValue: name) else {
                throw ValidationError(
                    "unknown fault `\(name)` in --nemesis: a comma-separated list of "
                        + NemesisChoice.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return fault
        }
    }

    /// The scenario file; `all` (the README's) is the whole failover.
    func script() throws -> ScenarioScript {
        let library = ScenarioLibrary(directory: try HarnessHome.locate().scenarios)
        do { return try library.load(scenario == "all" ? "failover" : scenario) } catch let error as HarnessError {
            throw ValidationError(error.message)
        }
    }

    /// What the flags put in place of the file's workload options.
    func overrides() throws -> ScenarioOverrides {
        var w = WorkloadOptions(kind: workload)
        w.nemesis = try faults()
        w.schedule = schedule
        w.concurrency = concurrency
        w.rate = rate
        w.duration = duration
        w.consistency = readConsistency
        w.seed = seed
        w.clientProgram = client.map { [URL(fileURLWithPath: $0).standardizedFileURL.path] }
        return ScenarioOverrides(fault: fault, workload: w)
    }

    func validate() throws {
        let script = try script()
        let given: [String?] = [
            workload.map { _ in "--workload" }, nemesis.map { _ in "--nemesis" }, schedule.map { _ in "--schedule" },
            concurrency.map { _ in "--concurrency" }, rate.map { _ in "--rate" }, duration.map { _ in "--duration" },
            readConsistency.map { _ in "--read-consistency" }, seed.map { _ in "--seed" },
            client.map { _ in "--client" },
        ]
        let statements = script.lines.map(\.statement)
        if !statements.contains(where: { if case .workload = $0 { true } else { false } }),
            !given.compactMap({ $0 }).isEmpty
        {
            throw ValidationError(
                "\(given.compactMap { $0 }.joined(separator: ", ")) apply to workload phases, and the scenario "
                    + "\(script.name) has none (`harness run workload` has one)")
        }
        if fault != nil, !statements.contains(where: { if case .failover = $0 { true } else { false } }) {
            throw ValidationError("--fault applies to failover steps, and the scenario \(script.name) has none")
        }
        _ = try faults()
        if let client, !FileManager.default.isExecutableFile(atPath: client) {
            throw ValidationError(
                "--client \(client): no such executable; give the path of a program that speaks docs/client-contract.md"
            )
        }
        if (storeOnTmpfs || script.storeOnTmpfs) && nixos {
            throw ValidationError(
                "--store-on-tmpfs (or a file's `variant store-on-tmpfs`) applies to fixture guests, whose units the "
                    + "harness installs: drop --nixos")
        }
        if let concurrency, !(1...1000).contains(concurrency) {
            throw ValidationError("--concurrency must be 1 to 1000 clients, not \(concurrency)")
        }
        if let rate, !rate.isFinite || rate < 0 { throw ValidationError("--rate must be 0 or more, not \(rate)") }
        if let duration, !duration.isFinite || duration <= 0 || duration > 3600 {
            throw ValidationError("--duration must be more than 0 and at most 3600 seconds, not \(duration)")
        }
        if let fix { _ = try findingIDs(fix, option: "--fix") }
    }

    func run() async throws {
        let logger = global.logger()
        var script = try script()
        if storeOnTmpfs { script.storeOnTmpfs = true }
        let overrides = try overrides()
        let (keep, nixos) = (self.keep, self.nixos)
        do {
            let fixes = try fix.map { try findingIDs($0, option: "--fix") } ?? script.fixes ?? Scenarios.runnableFixes
            let (report, dir) = try await runCancellable { [script] in
                try await withRuntimeSession(
                    fixes: fixes, keep: keep, what: nixos ? "\(script.name)-nixos" : script.name, nixos: nixos,
                    logger: logger
                ) { session, plan, report in
                    do {
                        let run = try await Scenarios(session: session, plan: plan).run(script, overrides: overrides)
                        report.scenarios.append(run.result)
                        report.checkers = run.checkers
                    } catch let failure as ScenarioScriptFailure {
                        report.checkers = failure.run.checkers
                        throw ScenarioFailure(result: failure.run.result)
                    }
                }
            }
            if json { try printJSON(report) } else { print(renderRun(report, dir: dir)) }
            if !report.passed { throw ExitCode(1) }
        } catch let code as ExitCode {
            throw code
        } catch {
            throw findingsExit(for: error)
        }
    }
}

/// `harness scenarios`: the scenario files of Scenarios/, each with what it proves.
struct ListScenarios: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenarios",
        abstract: "List the scenario files of Scenarios/ that `harness run NAME` runs, each with what it proves.")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print JSON.") var json = false

    struct Entry: Encodable {
        let name: String
        let path: String
        let summary: String
        let error: String?
    }

    func run() async throws {
        do {
            let library = ScenarioLibrary(directory: try HarnessHome.locate().scenarios)
            let entries = library.names.map { name in
                let path = library.directory.appendingPathComponent("\(name).\(ScenarioScript.fileExtension)").path
                do {
                    let script = try library.load(name)
                    return Entry(name: name, path: path, summary: script.summary, error: nil)
                } catch { return Entry(name: name, path: path, summary: "", error: "\(error)") }
            }
            if json {
                try printJSON(entries)
            } else {
                let width = entries.map(\.name.count).max() ?? 0
                for e in entries {
                    print(e.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + (e.error ?? e.summary))
                }
            }
            if entries.contains(where: { $0.error != nil }) { throw ExitCode(2) }
        } catch let code as ExitCode {
            throw code
        } catch {
            throw findingsExit(for: error)
        }
    }
}

func renderRun(_ report: RunReport, dir: URL) -> String {
    var out: [String] = []
    for node in report.unplanned {
        out.append("not booted: \(node.name) (\(node.finding ?? "-"): \(node.failure.headline))")
    }
    for s in report.scenarios {
        out.append("\(s.passed ? "PASS" : "FAIL") \(s.name) (\(String(format: "%.1f", s.seconds)) s)")
        for step in s.steps {
            out.append(
                "  \(step.passed ? "ok  " : "FAIL") \(step.name) [\(String(format: "%.1f", step.seconds)) s]: \(step.detail.prefix(300))"
            )
        }
    }
    for f in report.findings {
        out.append(
            "\(f.matches ? "ok  " : "FAIL") \(f.verdict.id) \(f.verdict.outcome.rawValue) (expected \(f.expected?.rawValue ?? "-")): \(f.verdict.summary)"
        )
        for e in f.verdict.evidence { out.append(ReportText.render(e)) }
    }
    out.append("run directory: \(dir.path)")
    return out.joined(separator: "\n")
}

/// `harness repro` of a runtime finding: boots the cluster with F5 fixed, judged by
/// `--ledger`, on `--nixpkgs-lib` when given.
func reproRuntime(
    _ id: String, target: TargetOptions, json: Bool, keep: Bool, nixos: Bool = false,
    logger: Logger
) async throws {
    let home = try HarnessHome.locate()
    let extra = try target.fixes
    let fixes = RuntimeChecks.baseFixes + extra.filter { !RuntimeChecks.baseFixes.contains($0) }
    let ledger = try target.loadLedger(home: home).withResolved(extra)
    let lib = target.nixpkgsLib
    let (report, dir) = try await runCancellable {
        try await withRuntimeSession(
            fixes: fixes, keep: keep, what: nixos ? "repro-\(id)-nixos" : "repro-\(id)",
            nixos: nixos, lib: lib, logger: logger
        ) { session, plan, report in
            let start = session.now
            var verdict = try await RuntimeChecks(session: session, plan: plan).decide(id)
            verdict.seconds = session.now - start
            report.findings.append(RunReport.FindingResult(verdict: verdict, expected: ledger.expected[id]))
        }
    }
    if json { try printJSON(report) } else { print(renderRun(report, dir: dir)) }
    if !report.passed { throw ExitCode(1) }
}

struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show how each test-cluster node would be booted as a NixOS VM, without booting anything.",
        discussion:
            "Per node: the vmVariant projection, the commands that prepare it, and the domain XML. Nodes that do not evaluate are listed with their finding. Exit 0 when every node plans, 1 when some do not, 2 when it could not run."
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: TargetOptions
    @Flag(help: "Print JSON.") var json = false

    func validate() throws { try target.rejectLedger("plan") }

    struct NodeOut: Encodable {
        let node: String
        let projection: NixOSNode?
        let evaluate: String
        let commands: [String]
        let domainXML: String?
        let finding: String?
        let error: String?
    }

    func run() async throws {
        let logger = global.logger()
        do {
            let home = try HarnessHome.locate()
            let nix = try await Nix.locate(logger: logger)
            let (checkout, _) = try await target.prepare(home: home)
            try await target.checkLib(checkout, nix: nix)
            let provider = NixOSImageProvider(target: checkout, nix: nix)
            let runDir = StateDirectory().root.appendingPathComponent("runs/phc-RUNID")
            let projected = try await provider.project(publicKey: "ssh-ed25519 RUN-KEY harness")
            var rows: [NodeOut] = []
            for p in projected {
                switch p {
                case let .node(node, command):
                    let disk = runDir.appendingPathComponent("\(node.hostName).qcow2").path
                    let directory = runDir.appendingPathComponent(node.hostName)
                    let xml = NixOSImageProvider.domainXML(
                        node, domainName: "phc-RUNID-\(node.hostName)", accelerator: .tcg, disk: disk,
                        network: "phc-RUNID-net",
                        sshPort: 0, consoleLog: runDir.appendingPathComponent("\(node.hostName).console.log").path,
                        directory: directory)
                    rows.append(
                        NodeOut(
                            node: node.hostName, projection: node, evaluate: command,
                            commands: ([provider.build([node])]
                                + provider.preparation(node, directory: directory, disk: disk)).map(\.commandLine),
                            domainXML: xml.render(), finding: nil, error: nil))
                case let .failed(name, finding, failure, command):
                    rows.append(
                        NodeOut(
                            node: name, projection: nil, evaluate: command, commands: [], domainXML: nil,
                            finding: finding, error: failure.headline))
                }
            }
            if json {
                try printJSON(rows)
            } else {
                for row in rows {
                    if let error = row.error {
                        print(
                            "== \(row.node): does not evaluate (\(row.finding ?? "no finding")): \(error)\n   $ \(row.evaluate.prefix(200))…"
                        )
                        continue
                    }
                    print("== \(row.node)")
                    print("   $ \(row.evaluate.prefix(200))…")
                    for c in row.commands { print("   $ \(c)") }
                    print(row.domainXML ?? "")
                }
            }
            if rows.contains(where: { $0.error != nil }) { throw ExitCode(1) }
        } catch let code as ExitCode {
            throw code
        } catch {
            throw findingsExit(for: error)
        }
    }
}
