import Foundation

/// The status each finding is expected to have on a target. A check passes when
/// its outcome equals the ledger's: a regression fails, and so does a fix nobody
/// recorded here.
public struct Ledger: Sendable, Codable {
    public enum Status: String, Sendable, Codable { case reproduced, resolved }

    public var target: String
    public var expected: [String: Status]

    public init(target: String, expected: [String: Status]) {
        self.target = target
        self.expected = expected
    }

    public static func load(_ url: URL) throws -> Ledger {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw FindingsError(.badLedger, "no ledger at \(url.path)")
        }
        let ledger: Ledger
        do { ledger = try JSONDecoder().decode(Ledger.self, from: data) } catch {
            throw FindingsError(
                .badLedger,
                "\(url.path) is not a ledger (`{\"target\": …, \"expected\": {\"F1\": \"reproduced\", …}}`): \(error)")
        }
        let unknown = ledger.expected.keys.filter { !Catalog.ids.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw FindingsError(
                .badLedger,
                "\(url.path) names unknown finding id(s) \(unknown.joined(separator: ", ")): the findings are \(Catalog.ids.joined(separator: ", "))"
            )
        }
        return ledger
    }

    /// The same ledger after fixes that are known to resolve `ids`.
    public func withResolved(_ ids: [String]) -> Ledger {
        var copy = self
        for id in ids { copy.expected[id] = .resolved }
        return copy
    }
}
