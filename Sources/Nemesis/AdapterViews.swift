/// A node's view of Raft as the adapter's `leader` verb prints it: "MEMBER LEADER TERM",
/// decimal member ids; leader 0 when it knows none.
public struct LeaderView: Sendable, Equatable {
    public var member: String
    public var leader: String
    public var term: Int

    public init?(adapterOutput: String) {
        let words = adapterOutput.split(separator: " ")
        guard words.count == 3, let term = Int(words[2]) else { return nil }
        (member, leader, self.term) = (String(words[0]), String(words[1]), term)
    }

    /// It knows a leader (itself or another).
    public var hasLeader: Bool { leader != "0" }
    /// It follows another member.
    public var follows: Bool { hasLeader && leader != member }
}

/// The store's live processes as the adapter's `process` verb prints them: "PID STATE" lines.
public struct StoreProcess: Sendable, Equatable {
    public var pid: String
    public var state: String

    public static func parse(_ adapterOutput: String) -> [StoreProcess] {
        adapterOutput.split(separator: "\n").compactMap {
            let words = $0.split(separator: " ")
            return words.count == 2 ? StoreProcess(pid: String(words[0]), state: String(words[1])) : nil
        }
    }
}
