import Foundation
import HostCommand
import Logging

/// The `nix` command on this host, with the experimental features flakes need.
public struct Nix: Sendable {
    public let executable: String
    public let version: String
    let logger: Logger

    // No eval cache: nix 2.8's SQLite cache confuses attributes between two concurrent
    // evaluations of one flake ("attribute … is unexpectedly missing").
    public static let features = ["--extra-experimental-features", "nix-command flakes", "--option", "eval-cache", "false"]

    /// Finds `nix` and checks it is new enough for flakes (2.4). The version is
    /// remembered per nix binary (path, size, mtime): asking costs a process.
    public static func locate(_ executable: String = "nix", logger: Logger) async throws -> Nix {
        guard let path = HostCommand.resolve(executable) else {
            throw NixError(.notInstalled, "`nix` is not installed: `Images/setup.sh` installs it (Debian package nix-bin)")
        }
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let attributes = try? FileManager.default.attributesOfItem(atPath: real)
        let identity = "\(real) \((attributes?[.size] as? Int) ?? 0) \(((attributes?[.modificationDate] as? Date)?.timeIntervalSince1970) ?? 0)"
        let memo = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("photoncloud-harness-nix-version")
        if let line = try? String(contentsOf: memo, encoding: .utf8), line.hasPrefix(identity + " ") {
            return Nix(executable: path, version: String(line.dropFirst(identity.count + 1)), logger: logger)
        }
        let out: HostCommand.Output
        do { out = try await HostCommand(path, ["--version"]).run(timeout: 20) } catch {
            throw NixError(.notInstalled, "`\(path) --version` failed: \(error)")
        }
        let version = out.stdout.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2, (parts[0], parts[1]) >= (2, 4) else {
            throw NixError(.tooOld, "nix \(version.isEmpty ? "(unknown version)" : version) is too old: flakes need nix 2.4 or newer")
        }
        try? "\(identity) \(version)".write(to: memo, atomically: true, encoding: .utf8)
        return Nix(executable: path, version: version, logger: logger)
    }

    /// `nix build` of derivations' outputs, without result links. From 2.13 a bare
    /// .drv installable means the file itself, so the outputs are asked for.
    public func build(derivations: [String], offline: Bool) -> HostCommand {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        let suffix = parts.count >= 2 && (parts[0], parts[1]) >= (2, 13) ? "^*" : ""
        return HostCommand(executable, Self.features + ["build", "--no-link"] + (offline ? ["--offline"] : []) + derivations.map { $0 + suffix })
    }

    /// What one nix invocation did.
    public struct Result: Sendable {
        public let command: String
        public let json: String?
        public let failure: NixFailure?
        public let seconds: Double

        /// Decodes the JSON value, when evaluation succeeded.
        public func decode<T: Decodable>(_ type: T.Type) throws -> T {
            guard let json else { throw NixError(.unexpectedOutput, "`\(command)` failed: \(failure?.headline ?? "")") }
            do { return try JSONDecoder().decode(T.self, from: Data(json.utf8)) } catch {
                throw NixError(.unexpectedOutput, "`\(command)` printed JSON that is not \(T.self): \(json.prefix(200))")
            }
        }
    }

    /// `nix eval --json INSTALLABLE [--apply F]` with the target's input overrides.
    public func eval(_ installable: String, apply: String? = nil, overrides: [InputOverride] = [], impure: Bool = false,
                     timeout: Double = 120) async throws -> Result {
        var args = Self.features + ["eval", "--json", installable]
        if let apply { args += ["--apply", apply] }
        if impure { args.append("--impure") }
        args += overrides.flatMap(\.arguments) + ["--no-write-lock-file"]
        return try await run(args, timeout: timeout)
    }

    /// `nix flake show --json FLAKE`.
    public func flakeShow(_ flake: String, overrides: [InputOverride] = [], timeout: Double = 120) async throws -> Result {
        try await run(Self.features + ["flake", "show", "--json", flake] + overrides.flatMap(\.arguments) + ["--no-write-lock-file"],
                      timeout: timeout)
    }

    /// The store path nix copied the flake's source tree to (`nix flake metadata`):
    /// modules named through it are the same modules the flake imports.
    public func sourcePath(_ flake: String, overrides: [InputOverride] = [], timeout: Double = 60) async throws -> Result {
        let result = try await run(Self.features + ["flake", "metadata", "--json", flake] + overrides.flatMap(\.arguments) + ["--no-write-lock-file"],
                                   timeout: timeout)
        guard let json = result.json, let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let path = object["path"] as? String else { return result }
        return Result(command: result.command, json: "\"\(path)\"", failure: nil, seconds: result.seconds)
    }

    func run(_ args: [String], timeout: Double) async throws -> Result {
        let command = HostCommand(executable, args)
        let out: HostCommand.Output
        do { out = try await command.run(timeout: timeout) } catch let error as HostCommandError where error.kind == .timeout {
            throw NixError(.timeout, error.message)
        }
        let shown = "nix " + args.dropFirst(Self.features.count).map(HostCommand.shellQuote).joined(separator: " ")
        logger.debug("nix", metadata: ["command": "\(shown)", "status": "\(out.status)", "seconds": "\(out.seconds)"])
        if out.status == 0 {
            return Result(command: shown, json: out.stdout.trimmingCharacters(in: .whitespacesAndNewlines), failure: nil, seconds: out.seconds)
        }
        return Result(command: shown, json: nil, failure: NixFailure.classify(out.stderr), seconds: out.seconds)
    }
}

/// `--override-input NAME REF`: how the miniature gets its nixpkgs stand-in, and how
/// the real nixpkgs lib can be put in its place.
public struct InputOverride: Sendable, Equatable {
    public let input: String
    public let reference: String

    public init(input: String, reference: String) {
        self.input = input
        self.reference = reference
    }

    var arguments: [String] { ["--override-input", input, reference] }
}

/// nix could not be used at all (as opposed to an evaluation that failed).
public struct NixError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable { case notInstalled, tooOld, timeout, unexpectedOutput }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
