import ArgumentParser
import Findings
import Foundation
import Logging
import Nix
import Runtime

/// Where the checks run: a user's checkout, or the miniature (the default).
struct TargetOptions: ParsableArguments {
    @Option(help: "A PhotonCloud monorepo checkout (default: $PHOTONCLOUD_REPO, else the built-in miniature).")
    var repo: String?
    @Option(help: "Miniature only: apply the fixes of these findings first (comma-separated ids).")
    var fix: String?
    @Option(
        help:
            "Miniature only: a nixpkgs lib to use instead of the stand-in (e.g. a nix-community/nixpkgs.lib checkout).")
    var nixpkgsLib: String?
    @Option(help: "Ledger of expected outcomes (default: Scenarios/ledgers/photoncloud-2026-03-02.json).")
    var ledger: String?

    /// `--fix` as catalog ids, each once (validated while parsing).
    var fixes: [String] { get throws { try fix.map { try findingIDs($0, option: "--fix") } ?? [] } }

    mutating func validate() throws {
        try rejectEmpty(
            repo, "--repo",
            what: "give the path of a PhotonCloud monorepo checkout, or leave --repo out "
                + "to use the built-in miniature")
        try rejectEmpty(
            nixpkgsLib, "--nixpkgs-lib",
            what: "give \(NixpkgsLib.what), or leave it out to use the stand-in")
        try rejectEmpty(
            ledger, "--ledger",
            what: "give a ledger file, or leave --ledger out for "
                + "Scenarios/ledgers/photoncloud-2026-03-02.json")
        if repo != nil, fix != nil || nixpkgsLib != nil {
            throw ValidationError(
                "--fix and --nixpkgs-lib apply to the miniature only, not to --repo: leave them out, "
                    + "or leave out --repo")
        }
        _ = try fixes
    }

    /// The checkout to use, from --repo or else PHOTONCLOUD_REPO, checked here so an
    /// error names where the path came from.
    func checkout() throws -> Target? {
        let environment = ProcessInfo.processInfo.environment["PHOTONCLOUD_REPO"].flatMap { $0.isEmpty ? nil : $0 }
        guard let path = repo ?? environment else { return nil }
        let (source, instead) =
            repo != nil
            ? ("--repo \(path)", "give the path of a PhotonCloud monorepo checkout")
            : (
                "PHOTONCLOUD_REPO=\(path)",
                "set PHOTONCLOUD_REPO to a PhotonCloud monorepo checkout, or unset it "
                    + "to use the built-in miniature"
            )
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FindingsError(.badTarget, "\(source): no such directory; \(instead)")
        }
        let flake = URL(fileURLWithPath: path).appendingPathComponent("flake.nix").path
        guard FileManager.default.fileExists(atPath: flake) else {
            throw FindingsError(
                .badTarget,
                "\(source) is not a PhotonCloud checkout: it has no flake.nix at its top; \(instead)")
        }
        if repo == nil, fix != nil || nixpkgsLib != nil {
            throw FindingsError(
                .badTarget,
                "--fix and --nixpkgs-lib apply to the miniature only, not to the checkout "
                    + "PHOTONCLOUD_REPO names: unset PHOTONCLOUD_REPO, or leave them out")
        }
        return try Target.checkout(path)
    }

    /// Decides `ids` on the chosen target against the chosen ledger.
    func check(_ ids: [String], logger: Logger) async throws -> CheckRun.Report {
        let home = try HarnessHome.locate()
        // Checking nix's version and preparing the target overlap: both are waits.
        async let located = Nix.locate(logger: logger)
        let (target, ledger) = try await prepare(home: home)
        let nix = try await located
        try await checkLib(target, nix: nix)
        return try await CheckRun(nix: nix, logger: logger).run(ids, on: target, ledger: ledger)
    }

    /// The miniature with `--nixpkgs-lib` put in must be one whose lib flake evaluates.
    func checkLib(_ target: Target, nix: Nix) async throws {
        if let nixpkgsLib { try await NixpkgsLib.checkFlake(nixpkgsLib, target: target, nix: nix) }
    }

    func prepare(home: HarnessHome) async throws -> (Target, Ledger) {
        let fixIDs = try fixes
        var ledger = try loadLedger(home: home)
        let target: Target
        if let checkout = try checkout() {
            target = checkout
        } else {
            if let nixpkgsLib { try NixpkgsLib.checkDirectory(nixpkgsLib) }
            target = try await Target.miniature(home: home, fixes: fixIDs, lib: nixpkgsLib)
            // A shipped fix is recorded as resolving its own finding.
            ledger = ledger.withResolved(fixIDs)
        }
        return (target, ledger)
    }

    func loadLedger(home: HarnessHome) throws -> Ledger {
        try Ledger.load(ledger.map(URL.init(fileURLWithPath:)) ?? home.defaultLedger)
    }

    /// For commands that build or boot and compare nothing with a ledger.
    func rejectLedger(_ command: String) throws {
        if ledger != nil {
            throw ValidationError(
                "--ledger is what check and repro compare outcomes with; `\(command)` compares "
                    + "nothing: leave it out")
        }
    }
}

func findingsExit(for error: any Error) -> ExitCode {
    switch error {
    case is FindingsError, is NixError:
        return failure("\(error)", exitCode: 2)
    default:
        return reportedExit(for: error)
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The findings catalog with each finding's expected status.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Ledger of expected outcomes.") var ledger: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        do {
            let home = try HarnessHome.locate()
            let ledger = try Ledger.load(self.ledger.map(URL.init(fileURLWithPath:)) ?? home.defaultLedger)
            if json {
                struct Row: Encodable { let finding: Finding; let expected: String?; let checkedBy: String }
                try printJSON(
                    Catalog.findings.map {
                        Row(
                            finding: $0, expected: ledger.expected[$0.id]?.rawValue,
                            checkedBy: $0.runtimeOnly ? "harness run" : "harness check")
                    })
                return
            }
            for f in Catalog.findings {
                let layers = f.layers.map(\.rawValue).joined(separator: "+")
                print(
                    "\(f.id.padding(toLength: 5, withPad: " ", startingAt: 0)) \(f.severity.rawValue)  \(layers.padding(toLength: 12, withPad: " ", startingAt: 0)) expected \((ledger.expected[f.id]?.rawValue ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0))  \(f.title)"
                )
            }
        } catch {
            throw findingsExit(for: error)
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decide the evaluation and static findings on a target and compare with the ledger.",
        discussion: "Exit status: 0 every outcome matches the ledger, 1 some differ, 2 the checks could not run.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: TargetOptions
    @Option(help: "Only these finding ids (comma-separated).") var only: String?
    @Flag(help: "Print the report as JSON.") var json = false
    @Flag(help: "Show every finding's evidence, not only the mismatches'.") var evidence = false

    func validate() throws {
        _ = try only.map { try findingIDs($0, option: "--only") }
    }

    func run() async throws {
        let logger = global.logger()
        do {
            let ids = try CheckRun.select(only.map { try findingIDs($0, option: "--only") })
            // Cancellable, so SIGINT unwinds and the miniature's staging copy is removed at once.
            let target = self.target
            let report = try await runCancellable { try await target.check(ids, logger: logger) }
            if json { try printJSON(report) } else { print(ReportText.render(report, evidence: evidence)) }
            if !report.allMatch { throw ExitCode(1) }
        } catch let code as ExitCode {
            throw code
        } catch {
            throw findingsExit(for: error)
        }
    }
}

struct Repro: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reproduce one finding and print its evidence as the investigation saw it.",
        discussion: "Exit status: 0 the outcome matches the ledger, 1 it differs, 2 it could not run.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "A finding id: F1, F2, F3, F4.1, F4.2, F4.3, F5.1, F5.2, F6, F7.") var id: String
    @OptionGroup var target: TargetOptions
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Decide F3 at runtime (the ISO's phone-home on a booted node) instead of from the definitions.")
    var runtime = false
    @Flag(help: "Runtime findings: leave the cluster up afterwards.") var keep = false
    @Flag(help: "Runtime findings: on the miniature's NixOS nodes (on the nixpkgs stand-in) instead of fixture guests.")
    var nixos = false

    func validate() throws {
        // An unknown id is reported by run(), with the list of ids.
        guard let finding = try? Catalog.finding(id), !finding.runtimeOnly, !runtime, keep || nixos else { return }
        throw ValidationError(
            "--keep and --nixos apply to findings decided on booted nodes (F4.1, F4.2, F4.3, and F3 "
                + "with --runtime); \(finding.id) is decided from the definitions: leave them out")
    }

    func run() async throws {
        var logger = global.logger()
        logger.logLevel = global.verbose ? .debug : .warning
        do {
            let finding = try Catalog.finding(id)
            if finding.runtimeOnly || runtime {
                guard RuntimeChecks.ids.contains(finding.id) else {
                    throw FindingsError(.notAvailable, "\(finding.id) has no runtime check")
                }
                guard target.repo == nil else {
                    throw FindingsError(
                        .notAvailable,
                        "runtime checks run on the miniature (fixture guests, or its NixOS nodes with --nixos): a checkout needs its own scenario adapter, which the harness does not have yet"
                    )
                }
                logger.logLevel = global.verbose ? .debug : .info
                try await reproRuntime(finding.id, target: target, json: json, keep: keep, nixos: nixos, logger: logger)
                return
            }
            let ids = try CheckRun.select([id])
            // Cancellable, so SIGINT unwinds and the miniature's staging copy is removed at once.
            let (target, checkLogger) = (self.target, logger)
            let report = try await runCancellable { try await target.check(ids, logger: checkLogger) }
            let r = report.results[0]
            if json {
                try printJSON(r)
            } else {
                let finding = try Catalog.finding(r.id)
                print("\(r.id) [\(finding.severity.rawValue)] \(finding.title)")
                print("investigation: \(finding.investigation)")
                print("target: \(report.target)")
                print(
                    "outcome: \(r.outcome.rawValue) (expected \(r.expected?.rawValue ?? "-")) in \(String(format: "%.2f", r.seconds)) s: \(r.summary)"
                )
                for e in r.evidence { print(ReportText.render(e)) }
            }
            if !r.matches { throw ExitCode(1) }
        } catch let code as ExitCode {
            throw code
        } catch {
            throw findingsExit(for: error)
        }
    }
}
