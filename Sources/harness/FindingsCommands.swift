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
    @Option(help: "Miniature only: a nixpkgs lib to use instead of the stand-in (e.g. a nix-community/nixpkgs.lib checkout).")
    var nixpkgsLib: String?
    @Option(help: "Ledger of expected outcomes (default: Scenarios/ledgers/photoncloud-2026-03-02.json).")
    var ledger: String?

    var fixes: [String] { fix.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? [] }

    /// Decides `ids` on the chosen target against the chosen ledger.
    func check(_ ids: [String], logger: Logger) async throws -> CheckRun.Report {
        let home = try HarnessHome.locate()
        // Checking nix's version and preparing the target overlap: both are waits.
        async let located = Nix.locate(logger: logger)
        let (target, ledger) = try await prepare(home: home)
        return try await CheckRun(nix: try await located, logger: logger).run(ids, on: target, ledger: ledger)
    }

    func prepare(home: HarnessHome) async throws -> (Target, Ledger) {
        let repo = self.repo ?? ProcessInfo.processInfo.environment["PHOTONCLOUD_REPO"].flatMap { $0.isEmpty ? nil : $0 }
        let fixIDs = try fixes.map { try Catalog.finding($0).id }
        var ledger = try Ledger.load(ledger.map(URL.init(fileURLWithPath:)) ?? home.defaultLedger)
        let target: Target
        if let repo {
            guard fixIDs.isEmpty, nixpkgsLib == nil else {
                throw FindingsError(.badTarget, "--fix and --nixpkgs-lib apply to the miniature only, not to --repo")
            }
            target = try Target.checkout(repo)
        } else {
            target = try await Target.miniature(home: home, fixes: fixIDs, lib: nixpkgsLib)
            // A shipped fix is recorded as resolving its own finding.
            ledger = ledger.withResolved(fixIDs)
        }
        return (target, ledger)
    }
}

func findingsExit(for error: any Error) -> ExitCode {
    switch error {
    case is FindingsError, is NixError:
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        return ExitCode(2)
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
    static let configuration = CommandConfiguration(abstract: "The findings catalog with each finding's expected status.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Ledger of expected outcomes.") var ledger: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        do {
            let home = try HarnessHome.locate()
            let ledger = try Ledger.load(self.ledger.map(URL.init(fileURLWithPath:)) ?? home.defaultLedger)
            if json {
                struct Row: Encodable { let finding: Finding; let expected: String?; let checkedBy: String }
                try printJSON(Catalog.findings.map {
                    Row(finding: $0, expected: ledger.expected[$0.id]?.rawValue, checkedBy: $0.runtimeOnly ? "harness run" : "harness check")
                })
                return
            }
            for f in Catalog.findings {
                let layers = f.layers.map(\.rawValue).joined(separator: "+")
                print("\(f.id.padding(toLength: 5, withPad: " ", startingAt: 0)) \(f.severity.rawValue)  \(layers.padding(toLength: 12, withPad: " ", startingAt: 0)) expected \((ledger.expected[f.id]?.rawValue ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0))  \(f.title)")
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

    func run() async throws {
        let logger = global.logger()
        do {
            let ids = try CheckRun.select(only.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } })
            let report = try await target.check(ids, logger: logger)
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
    @Flag(help: "Decide F3 at runtime (the ISO's phone-home on a booted node) instead of from the definitions.") var runtime = false
    @Flag(help: "Runtime findings: leave the cluster up afterwards.") var keep = false
    @Flag(help: "Runtime findings: on the miniature's NixOS nodes (on the nixpkgs stand-in) instead of fixture guests.") var nixos = false

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
                    throw FindingsError(.notAvailable, "runtime checks run on the miniature (fixture guests, or its NixOS nodes with --nixos): a checkout needs its own scenario adapter, which the harness does not have yet")
                }
                logger.logLevel = global.verbose ? .debug : .info
                try await reproRuntime(finding.id, fixes: try target.fixes.map { try Catalog.finding($0).id }, json: json, keep: keep,
                                       nixos: nixos, logger: logger)
                return
            }
            let ids = try CheckRun.select([id])
            let report = try await target.check(ids, logger: logger)
            let r = report.results[0]
            if json { try printJSON(r) } else {
                let finding = try Catalog.finding(r.id)
                print("\(r.id) [\(finding.severity.rawValue)] \(finding.title)")
                print("investigation: \(finding.investigation)")
                print("target: \(report.target)")
                print("outcome: \(r.outcome.rawValue) (expected \(r.expected?.rawValue ?? "-")) in \(String(format: "%.2f", r.seconds)) s: \(r.summary)")
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
