import ArgumentParser
import Dispatch
import Findings
import Foundation
import Harness
import Logging
import Nix
import Runtime
import SSH

/// Runs `body` as a task that SIGINT and SIGTERM cancel, so every scope in it
/// unwinds and tears down what it made before the process exits.
func runCancellable<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task { try await body() }
    var sources: [DispatchSourceSignal] = []
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler { task.cancel() }
        source.resume()
        sources.append(source)
    }
    defer { sources.forEach { $0.cancel() } }
    return try await task.value
}

struct GlobalOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Log debug detail.") var verbose = false

    func logger() -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            // Everything also goes to the run directory's harness.log, when a run has one.
            return MultiplexLogHandler([handler, RunLogFile.Handler(label: label)])
        }
        var logger = Logger(label: "harness")
        logger.logLevel = verbose ? .debug : .info
        return logger
    }
}

/// Maps errors to exit codes: 2 could not run, 1 ran and failed, 130 interrupted.
func reportedExit(for error: any Error) -> ExitCode {
    if let error = error as? HarnessError {
        return failure("\(error)", exitCode: error.exitCode)
    }
    if error is CancellationError {
        let message = "interrupted: everything this run made was removed"
        FileHandle.standardError.write(Data("\(message)\n".utf8))
        if CLIOutput.wantsJSON { try? printJSON(JSONFailure(error: message, exitCode: 130)) }
        return ExitCode(130)
    }
    return failure("\(error)", exitCode: 2)
}

@main
struct HarnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "harness",
        abstract: "VM-based integration harness for the PhotonCloud findings.",
        subcommands: [
            List.self, Check.self, Repro.self, ListScenarios.self, RunScenario.self, CheckHistory.self, Plan.self,
            Up.self, SSHCommand.self,
            Down.self, Bench.self, ClientCommand.self,
        ])
}

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Boot node01…nodeNN, run a command on each, and tear down (or keep them with --keep).",
        discussion: """
            By default the nodes are fixture guests. With --nixos they are the test cluster's NixOS configurations \
            (nix/test-cluster of --repo, or of the miniature on the nixpkgs stand-in): each node's vmVariant with the \
            harness's SSH module added, built with nix and booted as a libvirt domain. Nodes that do not evaluate \
            are named with their finding and not booted.
            """)
    @OptionGroup var global: GlobalOptions
    // .unconditional: `--nodes -1` is a number to reject for its range, not a missing value.
    @Option(parsing: .unconditional, help: "How many nodes, 1 to 6.") var nodes = 6
    @Flag(help: "Leave the cluster up; reach it with `harness ssh NODE`, remove it with `harness down`.") var keep =
        false
    @Option(help: "Command to run on every node once it is up.") var command = "echo \"$(hostname) $(uname -r)\""
    @Flag(help: "Boot the test cluster's NixOS configurations instead of fixture guests.") var nixos = false
    @OptionGroup var target: TargetOptions

    func validate() throws {
        try validateNodeCount(nodes)
        try target.requireNixOS(nixos, command: "up")
        try target.rejectLedger("up")
    }

    func run() async throws {
        let logger = global.logger()
        let (nodes, keep, command) = (self.nodes, self.keep, self.command)
        do {
            let options = try await target.clusterOptions(nixos: nixos, count: nodes, logger: logger)
            let out = try await runCancellable {
                try await Cluster.with(options, keep: keep, logger: logger) { cluster in
                    var lines: [String] = []
                    for node in cluster.nodes {
                        let stdout = try await node.succeed(command)
                        lines.append("\(node.name): \(stdout.trimmingCharacters(in: .whitespacesAndNewlines))")
                    }
                    if keep {
                        lines.append("kept run \(cluster.runID) (\(cluster.directory.path)):")
                        for node in cluster.nodes {
                            let e = try await node.endpoint()
                            lines.append(
                                "  \(e.name)  \(e.clusterAddress)  harness ssh \(e.name)   (ssh -p \(e.sshPort) -i \(cluster.directory.path)/id_ed25519 root@127.0.0.1)"
                            )
                        }
                        lines.append("remove it with: harness down")
                    }
                    return lines
                }
            }
            print(out.joined(separator: "\n"))
        } catch {
            throw reportedExit(for: error)
        }
    }
}

struct SSHCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh", abstract: "Run a command on a node of the kept cluster, or open a shell.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "A kept run's id (default: the newest).") var run: String?
    @Argument(help: "node01…node06") var node: String
    @Argument(parsing: .postTerminator, help: "Command to run; none opens a shell.") var command: [String] = []

    func run() async throws {
        let logger = global.logger()
        do {
            let kept = try KeptRun.find(in: StateDirectory(), runID: run)
            let endpoint = try kept.node(node)
            if command.isEmpty {
                try await openShell(kept: kept, endpoint: endpoint)
            }
            let result: ExecResult
            do {
                let shell = NodeShell(kept: kept, endpoint: endpoint, logger: logger)
                result = try await shell.exec(command.joined(separator: " "))
            } catch let error as HarnessError where error.cause is SSHError {
                throw failure("\(error)", exitCode: Self.connectionFailed)
            }
            FileHandle.standardOutput.write(Data(result.stdout.utf8))
            FileHandle.standardError.write(Data(result.stderr.utf8))
            throw ExitCode(result.exitStatus)
        } catch let code as ExitCode {
            throw code
        } catch {
            throw reportedExit(for: error)
        }
    }

    /// No remote status came back: 255, as OpenSSH's client exits, so it cannot be taken
    /// for the remote command's own failure.
    static let connectionFailed: Int32 = 255

    /// An interactive shell wants a terminal, which OpenSSH's client does well: hand
    /// over to it, with the pinned host key as its only known host. The node is asked
    /// first, with the same pin and key: OpenSSH would fail without saying why.
    func openShell(kept: KeptRun, endpoint: NodeEndpoint) async throws -> Never {
        let key = try SSHKey.load(privateKeyAt: kept.keyPath)  // unreadable: a local problem, 2
        do {
            _ = try await SSHSession.connect(
                host: "127.0.0.1", port: endpoint.sshPort, key: key,
                pinnedHostKey: endpoint.hostKey, timeout: 5)
        } catch let error as SSHError {
            throw failure(
                "\(endpoint.name) of run \(kept.runID) does not answer over SSH (is the cluster still up? "
                    + "`harness up --keep` starts one)\n  cause: \(error)", exitCode: Self.connectionFailed)
        }
        let knownHosts = kept.directory.appendingPathComponent("known_hosts").path
        do {
            try "[127.0.0.1]:\(endpoint.sshPort) \(endpoint.hostKey)\n".write(
                toFile: knownHosts, atomically: true, encoding: .utf8)
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
            throw HarnessError(
                .environment,
                "cannot write the pinned host key to \(knownHosts) (\(reason)): OpenSSH needs it "
                    + "as its only known host; make \(kept.directory.path) writable, or pass a command after -- "
                    + "(libssh needs no file)")
        }
        // LogLevel=ERROR rather than -q: quiet about the banner, not about a failure.
        let args = [
            "ssh", "-o", "LogLevel=ERROR", "-i", kept.keyPath, "-p", "\(endpoint.sshPort)",
            "-o", "UserKnownHostsFile=\(knownHosts)", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "root@127.0.0.1",
        ]
        let cargs = args.map { strdup($0) } + [nil]
        execvp("ssh", cargs)
        FileHandle.standardError.write(
            Data(
                "error: cannot run ssh: \(String(cString: strerror(errno))); install openssh-client, or pass a command after --\n"
                    .utf8))
        Foundation.exit(2)
    }
}

struct Down: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove kept clusters and anything a killed run left behind.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let logger = global.logger()
        do {
            let connection = try await Cluster.connect(uri: "qemu:///system")
            let reaped = try await Reaper(connection: connection, state: StateDirectory(), logger: logger).reap(
                includeKept: true)
            print(
                reaped.runs.isEmpty && reaped.tables.isEmpty
                    ? "nothing to remove"
                    : "removed \(reaped.runs.count) run(s): \(reaped.domains.count) domain(s), "
                        + "\(reaped.networks.count) network(s), \(reaped.tables.count) bridge table(s)"
            )
        } catch {
            throw reportedExit(for: error)
        }
    }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks.",
        subcommands: [BenchBoot.self, BenchEval.self, BenchCheckHistory.self, BenchWorkload.self])
}

struct BenchBoot: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot", abstract: "Boot N nodes cold to SSH-ready three times; compare with a bare QEMU guest.")
    @OptionGroup var global: GlobalOptions
    @Option(parsing: .unconditional, help: "How many nodes, 1 to 6.") var nodes = 6
    @Option(parsing: .unconditional, help: "How many cold boots, 1 to 20.") var repetitions = 3
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(
        help:
            "Boot the test cluster's NixOS configurations (see `harness up --help`); the baseline is node01's run-vm qemu line."
    ) var nixos = false
    @OptionGroup var target: TargetOptions

    func validate() throws {
        try validateNodeCount(nodes)
        guard (1...20).contains(repetitions) else {
            throw ValidationError("--repetitions \(repetitions): give 1 to 20")
        }
        try target.requireNixOS(nixos, command: "bench boot")
        try target.rejectLedger("bench boot")
    }

    func run() async throws {
        let logger = global.logger()
        let (nodes, repetitions) = (self.nodes, self.repetitions)
        do {
            let options = try await target.clusterOptions(nixos: nixos, count: nodes, logger: logger)
            let report = try await runCancellable {
                try await BootBenchmark(options: options, repetitions: repetitions, logger: logger).run()
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                for (i, r) in report.runs.enumerated() {
                    print(
                        String(
                            format:
                                "run %d: all %d ready in %.2f s (harness CPU %.2f s), teardown %.2f s, slowest destroy %.2f s",
                            i + 1, report.nodes, r.wallSeconds, r.harnessCPUSeconds, r.teardownSeconds,
                            r.destroySeconds.values.max() ?? 0))
                }
                print(
                    String(
                        format:
                            "bare qemu guest: SSH-ready in %.2f s, %.2f CPU s; target for %d nodes: %.2f s; harness peak RSS %.1f MiB",
                        report.bare.readySeconds, report.bare.qemuCPUSeconds, report.nodes, report.targetWallSeconds,
                        report.harnessPeakRSSMiB))
            }
        } catch {
            throw reportedExit(for: error)
        }
    }
}

struct BenchEval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Time `harness repro F5.2` and `harness check` against the bare `nix eval` they wrap.")
    @OptionGroup var global: GlobalOptions
    @Option(parsing: .unconditional, help: "Samples per figure, 1 to 100 (the median is reported).") var repetitions = 9
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard (1...100).contains(repetitions) else {
            throw ValidationError("--repetitions \(repetitions): give 1 to 100")
        }
    }

    func run() async throws {
        let logger = global.logger()
        do {
            let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            let report = try await EvaluationBenchmark(
                home: try HarnessHome.locate(), harnessBinary: binary,
                repetitions: repetitions, logger: logger
            ).run()
            if json {
                try printJSON(report)
            } else {
                let ms = { (s: Double) in String(format: "%.0f ms", s * 1000) }
                print("bare nix eval (F5.2): \(ms(report.bareNixEval))")
                print(
                    "harness repro F5.2: \(ms(report.reproCLI)) as a command (\(String(format: "%.2f", report.reproCLIOverBare))x; process start alone \(ms(report.harnessProcessStart))), \(ms(report.reproInProcess)) in process (\(String(format: "%.2f", report.reproInProcessOverBare))x)"
                )
                print(
                    "harness check, all evaluation findings: \(ms(report.checkAllCLI)) as a command, \(ms(report.checkAllInProcess)) in process"
                )
            }
        } catch {
            throw findingsExit(for: error)
        }
    }
}

extension TargetOptions {
    /// Fixture guests have no NixOS configuration to take from a checkout, fixes or a lib.
    func requireNixOS(_ nixos: Bool, command: String) throws {
        let given = [("--repo", repo), ("--fix", fix), ("--nixpkgs-lib", nixpkgsLib)].filter { $0.1 != nil }.map(\.0)
        guard !nixos, !given.isEmpty else { return }
        let (verb, pronoun) = given.count == 1 ? ("chooses", "it") : ("choose", "them")
        throw ValidationError(
            "\(given.joined(separator: ", ")) \(verb) the NixOS configurations to boot, which only "
                + "`\(command) --nixos` uses: add --nixos, or leave \(pronoun) out for fixture guests")
    }

    /// node01…nodeNN as fixture guests, or with `nixos` as the target's NixOS nodes.
    func clusterOptions(nixos: Bool, count: Int, logger: Logger) async throws -> ClusterOptions {
        nixos
            ? try await nixosClusterOptions(count: count, logger: logger)
            : try ClusterOptions(nodes: NodeSpec.fixture(count: count))
    }

    /// The first `count` nodes of the target's test cluster that evaluate, built for
    /// a fresh key.
    func nixosClusterOptions(count: Int, logger: Logger) async throws -> ClusterOptions {
        _ = try NodeSpec.fixture(count: count)  // the same range check
        let (checkout, _) = try await prepare(home: try HarnessHome.locate())
        let key = try SSHKey.generateEd25519()
        let nix = try await Nix.locate(logger: logger)
        try await checkLib(checkout, nix: nix)
        let provider = NixOSImageProvider(target: checkout, nix: nix)
        let (image, failed) = try await NixOSImage.make(provider: provider, key: key, logger: logger)
        for node in failed {
            logger.warning(
                "not booted: it does not evaluate",
                metadata: [
                    "node": "\(node.name)", "finding": "\(node.finding ?? "none")",
                    "error": "\(node.failure.headline)",
                ])
        }
        return ClusterOptions(nodes: Array(image.specs.prefix(count)), image: image, key: key)
    }
}
