import ArgumentParser
import Findings
import Foundation
import Harness
import Nix

/// What every `--json` command prints on stdout when it could not run, so a pipeline
/// always gets one JSON document: the message (as on stderr) and the exit code.
struct JSONFailure: Encodable {
    var error: String
    var exitCode: Int32
}

enum CLIOutput {
    /// `--json` before any `--`. Read from the arguments rather than the parsed command,
    /// so an error that stops parsing is answered in JSON too.
    static let wantsJSON: Bool = CommandLine.arguments.dropFirst().prefix { $0 != "--" }.contains("--json")
}

/// Reports a failure: `error: MESSAGE` on stderr and, with `--json`, the error object
/// on stdout. Returns the exit code to throw.
func failure(_ message: String, exitCode: Int32) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    if CLIOutput.wantsJSON { try? printJSON(JSONFailure(error: message, exitCode: exitCode)) }
    return ExitCode(exitCode)
}

extension HarnessCommand {
    /// ArgumentParser's own entry point, with its exit codes mapped to the README's:
    /// its usage errors (64, EX_USAGE) and errors thrown while validating (1) are bad
    /// input, 2; help stays 0; a command's own ExitCode (0, 1, 2, 130, a remote status) passes.
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot(Array(CommandLine.arguments.dropFirst()))
        } catch {
            exitOnParseError(error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            exit(withError: code)
        } catch {
            // Help asked for from run() (the bare `harness`), or an error no command caught.
            if exitCode(for: error) == .success { exit(withError: error) }
            if exitCode(for: error) == .validationFailure { exit(withError: failure(message(for: error), exitCode: 2)) }
            exit(withError: findingsExit(for: error))
        }
    }

    static func exitOnParseError(_ error: any Error) -> Never {
        if exitCode(for: error) == .success { exit(withError: error) }
        // The usage that ArgumentParser adds says what to pass; the exit code is the README's.
        FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
        if CLIOutput.wantsJSON { try? printJSON(JSONFailure(error: message(for: error), exitCode: 2)) }
        Foundation.exit(2)
    }
}

/// Comma-separated finding ids from `option`: each a known id in any case, returned in
/// the catalog's spelling, each once, in the order given. Empty lists and empty items
/// are mistakes (`--only ''` would otherwise mean every finding, `--fix ,` none).
func findingIDs(_ raw: String, option: String) throws -> [String] {
    let items = raw.split(separator: ",", omittingEmptySubsequences: false)
        .map { $0.trimmingCharacters(in: .whitespaces) }
    guard items.contains(where: { !$0.isEmpty }) else {
        throw ValidationError("\(option) '\(raw)' names no finding: give ids such as F5.1,F5.2, or leave \(option) out")
    }
    guard !items.contains(where: \.isEmpty) else {
        throw ValidationError("\(option) '\(raw)' has an empty id: separate ids with single commas, as in F5.1,F5.2")
    }
    var ids: [String] = []
    for item in items {
        let id: String
        do { id = try Catalog.finding(item).id } catch { throw ValidationError("\(option): \(error)") }
        if !ids.contains(id) { ids.append(id) }
    }
    return ids
}

/// A path option that is present but empty would silently mean the working directory.
func rejectEmpty(_ value: String?, _ option: String, what: String) throws {
    if value?.isEmpty == true { throw ValidationError("\(option) is empty: \(what)") }
}

/// `--nodes` of `up` and `bench boot`, checked while parsing so nothing is booted first.
func validateNodeCount(_ count: Int) throws {
    do { _ = try NodeSpec.fixture(count: count) } catch let error as HarnessError {
        throw ValidationError(error.message)
    }
}

enum NixpkgsLib {
    static let what = "a nixpkgs lib flake: a nix-community/nixpkgs.lib checkout, or the lib directory of nixpkgs"

    /// `--nixpkgs-lib` must be a directory with a flake.nix: anything else turned into
    /// finding verdicts (every node failing to evaluate) instead of an error.
    static func checkDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FindingsError(
                .badTarget,
                "--nixpkgs-lib \(path): no such directory; give \(what), "
                    + "or leave the option out to use the stand-in")
        }
        let flake = URL(fileURLWithPath: path).appendingPathComponent("flake.nix").path
        guard FileManager.default.fileExists(atPath: flake) else {
            throw FindingsError(
                .badTarget,
                "--nixpkgs-lib \(path) has no flake.nix: give \(what) "
                    + "(its flake.nix has a `lib` output)")
        }
    }

    /// The flake must also have a `lib` output with the module system, which the target's
    /// nixpkgs input is built on: asked of nix with the reference the evaluation will use.
    static func checkFlake(_ path: String, target: Target, nix: Nix) async throws {
        guard let override = target.overrides.first(where: { $0.input == "nixpkgs/nixpkgs-lib" }) else { return }
        let result = try await nix.eval(
            override.reference + "#lib",
            apply: "lib: builtins.isAttrs lib && lib ? evalModules && lib ? mkOption")
        guard result.json == "true" else {
            let why: String
            if let failure = result.failure {
                let said = [failure.headline, failure.evidence].first { !$0.isEmpty } ?? ""
                why = said.isEmpty ? "nix cannot evaluate its `lib` output" : "nix: \(said)"
            } else {
                why = "its `lib` output has no evalModules or mkOption"
            }
            throw FindingsError(.badTarget, "--nixpkgs-lib \(path) is not \(what) (\(why))")
        }
    }
}
