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
    public static let features = [
        "--extra-experimental-features", "nix-command flakes", "--option", "eval-cache", "false",
    ]

    /// Finds `nix` and checks it is new enough for flakes (2.4). The version is
    /// remembered per nix binary (path, size, mtime): asking costs a process.
    public static func locate(_ executable: String = "nix", logger: Logger) async throws -> Nix {
        guard let path = HostCommand.resolve(executable) else {
            throw NixError(
                .notInstalled, "`nix` is not installed: `Images/setup.sh` installs it (Debian package nix-bin)")
        }
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let attributes = try? FileManager.default.attributesOfItem(atPath: real)
        let identity =
            "\(real) \((attributes?[.size] as? Int) ?? 0) \(((attributes?[.modificationDate] as? Date)?.timeIntervalSince1970) ?? 0)"
        let memo = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "photoncloud-harness-nix-version")
        if let line = try? String(contentsOf: memo, encoding: .utf8), line.hasPrefix(identity + " ") {
            return Nix(executable: path, version: String(line.dropFirst(identity.count + 1)), logger: logger)
        }
        let out: HostCommand.Output
        do { out = try await HostCommand(path, ["--version"]).run(timeout: 20) } catch {
            throw NixError(.notInstalled, "`\(path) --version` failed: \(error)")
        }
        let version =
            out.stdout.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        let parts = version.split(separator: ".").compactMap { Int($0) }
        // A nix that fails or prints no version is broken, not old: show what it said.
        guard out.status == 0, out.stdout.hasPrefix("nix (Nix) "), parts.count >= 2 else {
            let said = (out.stdout + out.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
            throw NixError(
                .notInstalled,
                "`\(path) --version` \(out.status == 0 ? "printed no version" : "exited \(out.status)"): "
                    + "\(said.isEmpty ? "(nothing)" : String(said.prefix(400)))\nnix looks broken: reinstall it "
                    + "(`Images/setup.sh` installs Debian's nix-bin), or put a working nix first in PATH")
        }
        guard (parts[0], parts[1]) >= (2, 4) else {
            throw NixError(.tooOld, "nix \(version) is too old: flakes need nix 2.4 or newer")
        }
        try? "\(identity) \(version)".write(to: memo, atomically: true, encoding: .utf8)
        return Nix(executable: path, version: version, logger: logger)
    }

    /// `nix build` of derivations' outputs, without result links. From 2.13 a bare
    /// .drv installable means the file itself, so the outputs are asked for.
    public func build(derivations: [String], offline: Bool) -> HostCommand {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        let suffix = parts.count >= 2 && (parts[0], parts[1]) >= (2, 13) ? "^*" : ""
        return HostCommand(
            executable,
            Self.features + ["build", "--no-link"] + (offline ? ["--offline"] : []) + derivations.map { $0 + suffix })
    }

    /// Whether this nix decodes percent-encoded paths in `path:` and `git+file:` references
    /// (2.10 and newer; NixOS/nix#6614).
    public var decodesFileURLs: Bool {
        let parts = version.split(separator: ".").compactMap { Int($0) }
        return parts.count >= 2 && (parts[0], parts[1]) >= (2, 10)
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
                throw NixError(
                    .unexpectedOutput, "`\(command)` printed JSON that is not \(T.self): \(json.prefix(200))")
            }
        }
    }

    /// `nix eval --json INSTALLABLE [--apply F]` with the target's input overrides.
    public func eval(
        _ installable: String, apply: String? = nil, overrides: [InputOverride] = [], impure: Bool = false,
        timeout: Double = 120
    ) async throws -> Result {
        var args = Self.features + ["eval", "--json", installable]
        if let apply { args += ["--apply", apply] }
        if impure { args.append("--impure") }
        args += overrides.flatMap(\.arguments) + ["--no-write-lock-file"]
        return try await run(args, timeout: timeout)
    }

    /// `nix flake show --json FLAKE`.
    public func flakeShow(_ flake: String, overrides: [InputOverride] = [], timeout: Double = 120) async throws
        -> Result
    {
        try await run(
            Self.features + ["flake", "show", "--json", flake] + overrides.flatMap(\.arguments) + [
                "--no-write-lock-file"
            ],
            timeout: timeout)
    }

    /// The store path nix copied the flake's source tree to (`nix flake metadata`):
    /// modules named through it are the same modules the flake imports.
    public func sourcePath(_ flake: String, overrides: [InputOverride] = [], timeout: Double = 60) async throws
        -> Result
    {
        let result = try await run(
            Self.features + ["flake", "metadata", "--json", flake] + overrides.flatMap(\.arguments) + [
                "--no-write-lock-file"
            ],
            timeout: timeout)
        guard let json = result.json,
            let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let path = object["path"] as? String
        else { return result }
        return Result(command: result.command, json: "\"\(path)\"", failure: nil, seconds: result.seconds)
    }

    func run(_ args: [String], timeout: Double) async throws -> Result {
        var args = args
        // nix < 2.10 does not decode a `git+file:` path, so it fetches the repository like a
        // remote one and reuses that fetch for tarball-ttl (an hour): ask for the current commit.
        if !decodesFileURLs, args.contains(where: FlakeReference.isEncodedGitURL) {
            args += ["--option", "tarball-ttl", "0"]
        }
        let command = HostCommand(executable, args)
        let out: HostCommand.Output
        do { out = try await command.run(timeout: timeout) } catch let error as HostCommandError
            where error.kind == .timeout
        {
            throw NixError(.timeout, error.message)
        }
        let shown = "nix " + args.dropFirst(Self.features.count).map(HostCommand.shellQuote).joined(separator: " ")
        logger.debug("nix", metadata: ["command": "\(shown)", "status": "\(out.status)", "seconds": "\(out.seconds)"])
        if out.status == 0 {
            return Result(
                command: shown, json: out.stdout.trimmingCharacters(in: .whitespacesAndNewlines), failure: nil,
                seconds: out.seconds)
        }
        return Result(
            command: shown, json: nil, failure: NixFailure.classify(out.stderr, status: out.status),
            seconds: out.seconds)
    }
}

/// What nix is told about a target's flake inputs: an input redirected
/// (`--override-input NAME REF`: how the miniature gets its nixpkgs stand-in, and how
/// the real nixpkgs lib can be put in its place), or that no input comes from a binary
/// cache (`noSubstitutes`).
public struct InputOverride: Sendable, Equatable {
    public let input: String
    public let reference: String
    let substitutes: Bool

    public init(input: String, reference: String) {
        self.input = input
        self.reference = reference
        self.substitutes = true
    }

    private init(substitutes: Bool) {
        (input, reference, self.substitutes) = ("", "", substitutes)
    }

    /// For a target whose every input is a local path: nix 2.8 asks its substituters
    /// for a locked input (one with a narHash) that is not in the store yet, and on a
    /// host without network retries cache.nixos.org for about 5 s before copying it.
    public static let noSubstitutes = InputOverride(substitutes: false)

    public var arguments: [String] {
        substitutes ? ["--override-input", input, reference] : ["--option", "substitute", "false"]
    }
}

/// Flake references to local directories. nix reads a bare path only when every
/// character is allowed in a URL path (`/tmp/a dir` is "not a valid URL"); otherwise the
/// reference must be a URL with the path percent-encoded. nix 2.8 decodes `git+file:`
/// paths but not `path:` ones (2.10 and newer decode both).
public enum FlakeReference {
    /// The flake in `directory` (or its `subdirectory`), named as nix names a bare path:
    /// inside a git repository the repository with `?dir=`, else the directory itself.
    public static func local(_ directory: URL, subdirectory: String = "") -> String {
        let base = directory.standardizedFileURL.path
        let full = subdirectory.isEmpty ? base : URL(fileURLWithPath: base).appendingPathComponent(subdirectory).path
        if isBarePath(full) { return full }
        if let repository = gitRoot(of: full) {
            let inside = String(full.dropFirst(repository.count))
                .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            var query: [String] = []
            if !inside.isEmpty { query.append("dir=" + encode(inside, keeping: "/")) }
            if FileManager.default.fileExists(atPath: repository + "/.git/shallow") { query.append("shallow=1") }
            let suffix = query.isEmpty ? "" : "?" + query.joined(separator: "&")
            return "git+file://" + encode(repository, keeping: "/") + suffix
        }
        return path(full)
    }

    /// `path:DIR`, percent-encoded when it must be.
    public static func path(_ directory: String) -> String {
        "path:" + (isBarePath(directory) ? directory : encode(directory, keeping: "/"))
    }

    /// Whether nix needs percent-encoding to read this path: a `path:` reference to it
    /// then works only with nix 2.10 or newer.
    public static func needsEncoding(_ path: String) -> Bool { !isBarePath(path) }

    /// A `git+file:` reference (or installable) with a percent-encoded path: nix before
    /// 2.10 reads it as a remote repository, which has only committed files.
    public static func isEncodedGitURL(_ reference: String) -> Bool {
        reference.hasPrefix("git+file://") && reference.split(separator: "?")[0].contains("%")
    }

    /// nix's URL path characters: unreserved, sub-delims, `:`, `@` and `/` (no `%`: a
    /// literal one would be read as an escape).
    static let unreserved = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~"
    static let pathCharacters = CharacterSet(charactersIn: unreserved + "!$&'()*+,;=:@/")

    static func isBarePath(_ path: String) -> Bool {
        path.hasPrefix("/") && path.unicodeScalars.allSatisfy { pathCharacters.contains($0) }
    }

    /// Every byte but the unreserved ones and `keeping` as %XX.
    static func encode(_ text: String, keeping: String) -> String {
        let allowed = CharacterSet(charactersIn: unreserved + keeping)
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// The nearest directory at or above `path` with a `.git` (a directory, or a file
    /// in a worktree), as nix looks for one.
    static func gitRoot(of path: String) -> String? {
        var dir = path
        while !dir.isEmpty {
            if FileManager.default.fileExists(atPath: (dir == "/" ? "" : dir) + "/.git") { return dir }
            if dir == "/" { return nil }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return nil
    }
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
