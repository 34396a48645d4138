/// Convergence: after the last heal every member holds the same data. Given each member's
/// own copy (key → value; nil for a member that could not be read), says whether they
/// agree and, if not, the first difference, naming the members and the key.
public struct ConvergenceChecker: Sendable {
    public struct Result: Sendable, Equatable {
        public var converged: Bool
        public var explanation: String
    }

    public init() {}

    public func check(_ copies: [String: [String: String]?]) -> Result {
        let members = copies.keys.sorted()
        if let unread = members.first(where: { copies[$0]! == nil }) {
            return Result(converged: false, explanation: "\(unread)'s copy could not be read")
        }
        let views = members.map { (member: $0, data: copies[$0]!!) }
        guard let reference = views.first else { return Result(converged: false, explanation: "no member to read") }
        for other in views.dropFirst() where other.data != reference.data {
            let keys = Set(reference.data.keys).union(other.data.keys).sorted()
            let key = keys.first { reference.data[$0] != other.data[$0] }!
            func shown(_ v: String?) -> String { v.map { "`\($0)`" } ?? "nothing" }
            return Result(
                converged: false,
                explanation: "\(reference.member) holds \(shown(reference.data[key])) at \(key), \(other.member) "
                    + "\(shown(other.data[key])) (\(reference.data.count) vs \(other.data.count) keys)")
        }
        return Result(
            converged: true,
            explanation: "\(members.joined(separator: ", ")) hold the same \(reference.data.count) keys")
    }
}
