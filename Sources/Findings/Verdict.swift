import Nix

/// What a check decided about one finding on one target.
public enum Outcome: String, Sendable, Codable {
    /// The broken behaviour is there, with evidence.
    case reproduced
    /// The intended behaviour holds.
    case resolved
    /// The check could not decide; the evidence says why.
    case error
}

/// One piece of evidence: what was run or read, what it showed, and where.
public struct Evidence: Sendable, Codable, Equatable {
    public let command: String?
    public let excerpt: String
    public let location: SourceLocation?

    public init(command: String? = nil, excerpt: String, location: SourceLocation? = nil) {
        self.command = command
        self.excerpt = excerpt
        self.location = location
    }
}

public struct Verdict: Sendable, Codable {
    public let id: String
    public let outcome: Outcome
    /// One line: why this outcome.
    public let summary: String
    public let evidence: [Evidence]
    public var seconds: Double = 0

    public init(id: String, outcome: Outcome, summary: String, evidence: [Evidence]) {
        self.id = id
        self.outcome = outcome
        self.summary = summary
        self.evidence = evidence
    }
}
