/// Why a `nix` evaluation failed, classified from nix's own error text.
public struct NixFailure: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// A path the definitions import does not exist.
        case missingPath
        /// A definition sets an option that no module declares.
        case undefinedOption
        /// An expression selects an attribute that is not there.
        case missingAttribute
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
        self.kind = kind; self.subject = subject; self.headline = headline; self.location = location; self.evidence = evidence
    }

    /// Classifies nix's stderr. Both old and new nix wordings are recognised.
    public static func classify(_ stderr: String) -> NixFailure {
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .filter { line in !Self.noise.contains { line.contains($0) } }
        let evidence = lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        let headline = lines.first { $0.hasPrefix("error:") }?.trimmingCharacters(in: .whitespaces) ?? lines.first ?? ""
        let location = SourceLocation.firstIn(evidence)

        if let option = firstMatch(#"The option `([^']+)' does not exist"#, in: evidence) {
            return NixFailure(kind: .undefinedOption, subject: option, headline: headline, location: location, evidence: evidence)
        }
        if let path = firstMatch(#"path '([^']+)' does not exist"#, in: evidence)
            ?? firstMatch(#"getting status of '([^']+)': No such file or directory"#, in: evidence)
            ?? firstMatch(#"opening file '([^']+)': No such file or directory"#, in: evidence) {
            let relative = SourceLocation.repositoryRelative(path)
            return NixFailure(kind: .missingPath, subject: relative, headline: headline, location: location, evidence: evidence)
        }
        if let attribute = firstMatch(#"attribute '([^']+)' missing"#, in: evidence) {
            return NixFailure(kind: .missingAttribute, subject: attribute, headline: headline, location: location, evidence: evidence)
        }
        if evidence.contains("syntax error") {
            return NixFailure(kind: .syntax, subject: nil, headline: headline, location: location, evidence: evidence)
        }
        return NixFailure(kind: .other, subject: nil, headline: headline, location: location, evidence: evidence)
    }

    static let noise = [
        "warning: the group 'nixbld'", "Added input", "path:/", "warning: not writing modified lock file",
        "warning: Git tree", "evaluating '", "(use '--show-trace'",
        // Two nix processes at once share the eval cache; nix retries and says so.
        "error (ignored): error: SQLite database",
    ]

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let regex = try? Regex(pattern), let match = text.firstMatch(of: regex), match.count > 1,
              let range = match[1].range else { return nil }
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
           let file = m[1].substring, let line = m[2].substring {
            return SourceLocation(file: repositoryRelative(String(file)), line: Int(line))
        }
        if let regex = try? Regex(#"In `(/[^']+)'"#), let m = text.firstMatch(of: regex), let file = m[1].substring {
            return SourceLocation(file: repositoryRelative(String(file)), line: nil)
        }
        return nil
    }
}
