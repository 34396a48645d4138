import Foundation

/// Why a `nix` evaluation failed, classified from nix's own error text.
public struct NixFailure: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// A path the definitions import does not exist.
        case missingPath
        /// A definition sets an option that no module declares.
        case undefinedOption
        /// An expression selects an attribute that is not there.
        case missingAttribute
        /// The flake has no such output (`does not provide attribute`).
        case missingOutput
        /// The flake or a file does not parse.
        case syntax
        case other
    }

    public let kind: Kind
    /// The path, option or attribute named by the error, when there is one.
    public let subject: String?
    /// The line that says what went wrong, e.g. ``error: The option `x' does not exist. …``.
    public let headline: String
    /// Where nix points: a repository-relative file and, when nix gives it, line.
    public let location: SourceLocation?
    /// nix's stderr, trimmed of progress noise.
    public let evidence: String

    public init(kind: Kind, subject: String?, headline: String, location: SourceLocation?, evidence: String) {
        self.kind = kind; self.subject = subject; self.headline = headline; self.location = location;
        self.evidence = evidence
    }

    /// Classifies nix's stderr (`status`: its exit status, for a failure that printed
    /// nothing). Both old and new nix wordings are recognised. The evidence is nix's
    /// messages without its warnings (a binary cache it retried, a lock file it did not
    /// write) and progress lines; it is never empty.
    public static func classify(_ stderr: String, status: Int32? = nil) -> NixFailure {
        let kept = messages(stderr).filter { message in !Self.noise.contains { message.first?.hasPrefix($0) ?? true } }
        let lines = kept.flatMap { $0 }
        var evidence = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        let headline: String
        if evidence.isEmpty {
            // Nothing but warnings, or nothing at all: say so, with the last of what nix did print.
            let printed = stderr.split(separator: "\n").suffix(3).joined(separator: "\n")
            headline = "nix exited\(status.map { " \($0)" } ?? "") without an error message"
            evidence = printed.isEmpty ? headline : headline + "; it printed:\n" + printed
        } else {
            let first =
                lines.first { $0.hasPrefix("error:") }
                ?? lines.first { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty } ?? evidence
            headline = first.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let location = SourceLocation.firstIn(evidence)

        if let option = firstMatch(#"The option `([^']+)' does not exist"#, in: evidence) {
            return NixFailure(
                kind: .undefinedOption, subject: option, headline: headline, location: location, evidence: evidence)
        }
        if let path = firstMatch(#"path '([^']+)' does not exist"#, in: evidence)
            ?? firstMatch(#"getting status of '([^']+)': No such file or directory"#, in: evidence)
            ?? firstMatch(#"opening file '([^']+)': No such file or directory"#, in: evidence)
        {
            let relative = SourceLocation.repositoryRelative(path)
            return NixFailure(
                kind: .missingPath, subject: relative, headline: headline, location: location, evidence: evidence)
        }
        if let attribute = firstMatch(#"attribute '([^']+)' missing"#, in: evidence) {
            return NixFailure(
                kind: .missingAttribute, subject: attribute, headline: headline, location: location, evidence: evidence)
        }
        // The installable names an output the flake does not have (its own attribute
        // path, not a module reading a missing attribute).
        if let output = firstMatch(#"does not provide attribute '([^']+)'"#, in: evidence) {
            return NixFailure(
                kind: .missingOutput, subject: output, headline: headline, location: location,
                evidence: evidence)
        }
        if evidence.contains("syntax error") {
            return NixFailure(kind: .syntax, subject: nil, headline: headline, location: location, evidence: evidence)
        }
        return NixFailure(kind: .other, subject: nil, headline: headline, location: location, evidence: evidence)
    }

    /// nix's stderr as messages: a line at column 0 starts one, and the indented or
    /// empty lines after it belong to it (an error's trace, the lock file's inputs).
    static func messages(_ stderr: String) -> [[String]] {
        var messages: [[String]] = []
        for line in stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let continues = line.isEmpty || line.first == " " || line.first == "\t"
            if continues, !messages.isEmpty {
                messages[messages.count - 1].append(line)
            } else if !line.isEmpty {
                messages.append([line])
            }
        }
        return messages
    }

    /// Messages that are not the failure: warnings (the binary cache nix retried on a
    /// host without network, the lock file it did not write, whose inputs follow as
    /// `• Added input` lines), progress, and the show-trace hint.
    static let noise = [
        "warning:", "• ", "evaluating '", "copying path ", "these ", "(use '--show-trace'",
        // Two nix processes at once share the eval cache; nix retries and says so.
        "error (ignored):",
    ]

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let regex = try? Regex(pattern), let match = text.firstMatch(of: regex), match.count > 1,
            let range = match[1].range
        else { return nil }
        return String(text[range])
    }
}

/// A place in the target repository.
public struct SourceLocation: Sendable, Equatable, Codable, CustomStringConvertible {
    public let file: String
    public let line: Int?

    public init(file: String, line: Int?) {
        self.file = file
        self.line = line
    }

    public var description: String { line.map { "\(file):\($0)" } ?? file }

    /// `/nix/store/<hash>-source/nix/modules/x.nix` → `nix/modules/x.nix`.
    public static func repositoryRelative(_ path: String) -> String {
        guard path.hasPrefix("/nix/store/"), let source = path.range(of: "-source/") else { return path }
        return String(path[source.upperBound...])
    }

    /// nix's first `at FILE:LINE:COL:` or ``In `FILE'`` pointer.
    static func firstIn(_ text: String) -> SourceLocation? {
        if let regex = try? Regex(#"at (/[^:\s]+):(\d+):\d+"#), let m = text.firstMatch(of: regex),
            let file = m[1].substring, let line = m[2].substring
        {
            return SourceLocation(file: repositoryRelative(String(file)), line: Int(line))
        }
        if let regex = try? Regex(#"In `(/[^']+)'"#), let m = text.firstMatch(of: regex), let file = m[1].substring {
            return SourceLocation(file: repositoryRelative(String(file)), line: nil)
        }
        return nil
    }
}
