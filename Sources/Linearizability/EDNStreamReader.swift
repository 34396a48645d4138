import Foundation

/// Reads the top-level EDN forms of a file one at a time, holding only a window
/// of it in memory: Jepsen's history.edn (one map per line), or a file holding one
/// vector of maps, whose elements are then read one at a time as well.
public final class EDNStreamReader {
    /// The next chunk of input; nil or empty at the end.
    private let readChunk: () throws -> Data?
    private let close: () -> Void
    private let path: String
    private var window: [UInt8] = []
    private var start = 0
    private var line = 1
    private var atEnd = false
    private var began = false
    private var insideVector = false
    private var closed = false
    /// Bound on one form: a line-less file cannot make the window grow without end.
    public static let maxFormBytes = 64 << 20
    static let chunk = 1 << 20

    public init(url: URL) throws {
        path = url.path
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw EDNError(line: 0, column: 0, message: "cannot open \(url.path): \(Self.reason(error))")
        }
        readChunk = { try handle.read(upToCount: Self.chunk) }
        close = { try? handle.close() }
    }

    /// Reads `bytes` in pieces of `chunkSize`: forms that cross pieces are read whole.
    public init(bytes: Data, chunkSize: Int, name: String = "input") {
        path = name
        var offset = bytes.startIndex
        readChunk = {
            guard offset < bytes.endIndex else { return nil }
            let end = min(bytes.endIndex, offset + max(1, chunkSize))
            defer { offset = end }
            return bytes[offset..<end]
        }
        close = {}
    }

    deinit { close() }

    public static func reason(_ error: any Error) -> String {
        (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    }

    /// The next top-level form and the line it starts on; nil at the end.
    public func next() throws -> (value: EDNValue, line: Int)? {
        while true {
            switch try step() {
            case .form(let value, let line): return (value, line)
            case .consumed: continue
            case .needMore:
                if atEnd {
                    if insideVector {
                        throw EDNError(line: line, column: 1, message: "the history's `[` is never closed")
                    }
                    return nil
                }
                if window.count - start >= Self.maxFormBytes {
                    throw EDNError(
                        line: line, column: 1, message: "one value is longer than \(Self.maxFormBytes >> 20) MiB")
                }
                try refill()
            }
        }
    }

    private enum Step {
        case form(EDNValue, Int)
        /// White space, comments, or the brackets of a history written as one vector.
        case consumed
        case needMore
    }

    private func step() throws -> Step {
        if closed { return .needMore }
        let (outcome, consumed, endLine): (Step, Int, Int) = try window.withUnsafeBufferPointer { all in
            let bytes = UnsafeBufferPointer(rebasing: all[start...])
            var parser = EDNParser(bytes: bytes, line: line)
            var formLine = line
            do {
                guard try parser.skipToForm() else {
                    // A comment may go on in the next window: keep what follows the last newline.
                    if atEnd { return (.needMore, parser.position, parser.line) }
                    let kept = bytes[..<parser.position].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
                    return (.needMore, kept, parser.line)
                }
                formLine = parser.line
                let first = bytes[parser.position]
                if !began {
                    began = true
                    if first == 0x5B {
                        insideVector = true
                        return (.consumed, parser.position + 1, parser.line)
                    }
                }
                if insideVector && first == 0x5D {
                    insideVector = false
                    closed = true
                    return (.consumed, parser.position + 1, parser.line)
                }
                let value = try parser.readForm(depth: 0)
                // A form touching the window's end may go on past it (a number, a symbol).
                if parser.position == bytes.count && !atEnd { return (.needMore, 0, line) }
                return (.form(value, formLine), parser.position, parser.line)
            } catch let error as EDNError {
                guard parser.position >= bytes.count else { throw error }
                guard atEnd else { return (.needMore, 0, line) }
                // Where the unfinished value began, not where the input ran out.
                throw EDNError(
                    line: formLine, column: 1,
                    message: "the history ends inside the value that starts here (a truncated last line?): "
                        + error.message)
            }
        }
        start += consumed
        line = endLine
        return outcome
    }

    private func refill() throws {
        if start > 0 {
            window.removeFirst(start)
            start = 0
        }
        let data: Data?
        do { data = try readChunk() } catch {
            throw EDNError(line: line, column: 1, message: "cannot read \(path): \(Self.reason(error))")
        }
        guard let data, !data.isEmpty else {
            atEnd = true
            return
        }
        window.append(contentsOf: data)
    }
}
