import Foundation
import HostCommand
import Libvirt
import Logging

/// Faults of the cluster network enforced on the host's bridge, where the guests
/// can neither see nor undo them: an nftables table of the bridge family, one per run
/// (`phc_<hex>`), dropping frames between the run's tap ports. Its comment records the
/// run's lock and the host's boot id, as the run's libvirt objects do, so a reaper can
/// prove it dead. `clear()` removes it; teardown does so on every path.
public actor BridgeFirewall {
    /// A directed cut: frames from `from` to `to` are dropped (`to` does not hear `from`).
    public struct Cut: Sendable, Hashable {
        public var from: String
        public var to: String
        public init(from: String, to: String) {
            self.from = from
            self.to = to
        }
    }

    public nonisolated let table: String
    let owner: RunOwner
    let logger: Logger
    private(set) var applied = false

    init(runID: RunID, owner: RunOwner, logger: Logger) {
        table = Self.tableName(runID)
        self.owner = owner
        self.logger = logger
    }

    static func tableName(_ runID: RunID) -> String { "phc_" + runID.bridgeName.dropFirst("phcbr".count) }

    /// The ruleset for `cuts` over `taps` (node → its cluster NIC's tap device) and, for
    /// `lossPercent`, random drops on every path between `lossAmong` nodes.
    static func ruleset(
        table: String, owner: RunOwner, cuts: Set<Cut>, taps: [String: String], lossPercent: Int, lossAmong: [String]
    ) throws -> String {
        func tap(_ node: String) throws -> String {
            guard let t = taps[node] else { throw HarnessError(.badInput, "no tap device known for \(node)") }
            return t
        }
        var rules: [String] = []
        for cut in cuts.sorted(by: { ($0.from, $0.to) < ($1.from, $1.to) }) {
            rules.append("iifname \"\(try tap(cut.from))\" oifname \"\(try tap(cut.to))\" counter drop")
        }
        if lossPercent > 0 {
            for a in lossAmong {
                for b in lossAmong where a != b {
                    rules.append(
                        "iifname \"\(try tap(a))\" oifname \"\(try tap(b))\" numgen random mod 100 < \(lossPercent) counter drop"
                    )
                }
            }
        }
        let comment = "phc-run lock=\(owner.lockPath) boot-id=\(owner.bootID)".replacingOccurrences(of: "\"", with: "")
        // Declaring, deleting and declaring again replaces the table in one transaction.
        return """
            table bridge \(table) {}
            delete table bridge \(table)
            table bridge \(table) {
              comment "\(comment)"
              chain forward {
                type filter hook forward priority 0; policy accept;
            \(rules.map { "    " + $0 }.joined(separator: "\n"))
              }
            }

            """
    }

    /// Makes the table hold exactly these cuts (and this loss), atomically.
    public func apply(_ cuts: Set<Cut>, taps: [String: String], lossPercent: Int = 0, lossAmong: [String] = [])
        async throws
    {
        let script = try Self.ruleset(
            table: table, owner: owner, cuts: cuts, taps: taps, lossPercent: lossPercent, lossAmong: lossAmong)
        let out = try await HostCommand("nft", ["-f", "-"]).run(timeout: 30, stdin: Data(script.utf8))
        guard out.status == 0 else {
            throw HarnessError(
                .environment,
                "nft refused the run's bridge rules (exit \(out.status)): \(out.stderr)\nthe rules:\n\(script)")
        }
        applied = true
        logger.debug("bridge rules applied", metadata: ["table": "\(table)", "cuts": "\(cuts.count)"])
    }

    /// Frames the table's rules have dropped so far (the sum of their counters); 0 with no table.
    public func droppedFrames() async throws -> Int {
        guard applied else { return 0 }
        let out = try await HostCommand("nft", ["list", "table", "bridge", table]).run(timeout: 30)
        guard out.status == 0 else {
            throw HarnessError(.environment, "nft could not list table bridge \(table): \(out.stderr)")
        }
        return Self.droppedFrames(inListing: out.stdout)
    }

    /// The sum of `counter packets N` in nft's text listing of a table.
    static func droppedFrames(inListing text: String) -> Int {
        var total = 0
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            for (i, word) in words.enumerated() where word == "packets" && i > 0 && words[i - 1] == "counter" {
                if i + 1 < words.count, let n = Int(words[i + 1]) { total += n }
            }
        }
        return total
    }

    /// Removes the table: every cut healed.
    public func clear() async throws {
        guard applied else { return }
        try await Self.delete(table)
        applied = false
    }

    static func delete(_ table: String) async throws {
        let out = try await HostCommand("nft", ["delete", "table", "bridge", table]).run(timeout: 30)
        guard out.status == 0 || out.stderr.contains("No such file") else {
            throw HarnessError(.environment, "nft could not delete table bridge \(table): \(out.stderr)")
        }
    }

    /// The `phc_` tables of the bridge family on this host, with their owner when the
    /// comment records one. nft 1.0.6's JSON leaves table comments out, so each table's
    /// comment is read from its text listing.
    static func tables() async throws -> [(name: String, owner: RunOwner?)] {
        guard HostCommand.resolve("nft") != nil else { return [] }
        let out = try await HostCommand("nft", ["-j", "list", "tables", "bridge"]).run(timeout: 30)
        guard out.status == 0,
            let object = try? JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any],
            let entries = object["nftables"] as? [[String: Any]]
        else { return [] }
        var found: [(String, RunOwner?)] = []
        for entry in entries {
            guard let t = entry["table"] as? [String: Any], let name = t["name"] as? String, name.hasPrefix("phc_")
            else { continue }
            let listing = try await HostCommand("nft", ["list", "table", "bridge", name]).run(timeout: 30)
            found.append((name, comment(inListing: listing.stdout).flatMap(owner(fromComment:))))
        }
        return found
    }

    /// The table's `comment "…"` in nft's text listing.
    static func comment(inListing text: String) -> String? {
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("comment \""), trimmed.hasSuffix("\"") else { continue }
            return String(trimmed.dropFirst("comment \"".count).dropLast())
        }
        return nil
    }

    static func owner(fromComment comment: String) -> RunOwner? {
        var fields: [String: String] = [:]
        for part in comment.split(separator: " ") {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        guard comment.hasPrefix("phc-run "), let lock = fields["lock"], let boot = fields["boot-id"] else { return nil }
        return RunOwner(lockPath: lock, bootID: boot)
    }
}

extension DomainXML {
    /// The host-side tap device of the interface with `mac`, from a live domain's XML.
    public static func targetDevice(ofInterfaceWithMAC mac: String, in xml: String) -> String? {
        let wanted = "<mac address='\(mac.lowercased())'/>"
        var inInterface = false, matches = false
        for line in xml.split(whereSeparator: \.isNewline).map({ $0.drop { $0 == " " }.lowercased() }) {
            if line.hasPrefix("<interface ") {
                inInterface = true
                matches = false
            } else if line == "</interface>" {
                inInterface = false
            } else if inInterface && line == wanted {
                matches = true
            } else if inInterface && matches && line.hasPrefix("<target dev='") {
                return String(line.dropFirst(13).prefix { $0 != "'" })
            }
        }
        return nil
    }
}
