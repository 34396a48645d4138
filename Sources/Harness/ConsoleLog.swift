import Foundation

/// A node's serial console, as virtlogd writes it to a file.
public struct ConsoleLog: Sendable {
    public let path: String

    /// The last `count` lines, with terminal escape sequences removed.
    public func tail(_ count: Int = 20) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return ["(no console log at \(path))"] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 16384 ? size - 16384 : 0)
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        return Self.clean(text).split(separator: "\n", omittingEmptySubsequences: true).suffix(count).map(String.init)
    }

    /// The host key the guest printed (`phc-hostkey: ssh-ed25519 …`); the last one
    /// wins, since a restarted guest prints it again.
    public func pinnedHostKey() -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let marker = "phc-hostkey: "
        var found: String?
        // clean() drops "\r": "\r\n" is one Character and would not split on "\n".
        // Only whole lines count: the guest may be mid-way through printing the key.
        let text = Self.clean(String(decoding: data, as: UTF8.self))
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            guard let range = line.range(of: marker) else { continue }
            let fields = line[range.upperBound...].split(separator: " ")
            if fields.count >= 2, fields[0] == "ssh-ed25519" { found = "ssh-ed25519 \(fields[1])" }
        }
        return found
    }

    /// How many bytes the console holds: where the next boot's output begins.
    public func size() -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// Whether the guest's kernel panicked after `offset`: it then never boots, and
    /// the domain keeps running.
    public func panicked(after offset: UInt64) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self).contains("Kernel panic - not syncing")
    }

    static func clean(_ text: String) -> String {
        var out = ""
        var inEscape = false
        for scalar in text.unicodeScalars {
            if inEscape {
                if (0x40...0x7e).contains(scalar.value), scalar != "[" { inEscape = false }
                continue
            }
            if scalar == "\u{1b}" { inEscape = true; continue }
            if scalar == "\r" { continue }
            if scalar.value < 0x20, scalar != "\n", scalar != "\t" { continue }
            out.unicodeScalars.append(scalar)
        }
        return out
    }

    public func formattedTail(_ count: Int = 20) -> String {
        tail(count).map { "    | " + $0 }.joined(separator: "\n")
    }
}
