/// An EDN value (https://github.com/edn-format/edn), as Jepsen writes histories.
/// Maps keep their entries in the order read; sets keep theirs too (equality is
/// by order, which is enough for histories: a value is compared with itself).
public indirect enum EDNValue: Hashable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    /// An integer too large for Int64, or one written with the `N` suffix, kept as written.
    case bigInt(String)
    case double(Double)
    case string(String)
    case char(Character)
    case keyword(String)
    case symbol(String)
    case vector([EDNValue])
    case list([EDNValue])
    case set([EDNValue])
    case map([EDNMapEntry])
    /// `#tag value`, e.g. `#inst "…"` or a record `#jepsen.history.Op{…}`.
    case tagged(String, EDNValue)

    /// The value under `key` in a map (or in a tagged map, such as a Jepsen record).
    public subscript(key: EDNValue) -> EDNValue? {
        switch self {
        case .map(let entries): return entries.first { $0.key == key }?.value
        case .tagged(_, let inner): return inner[key]
        default: return nil
        }
    }

    public subscript(keyword name: String) -> EDNValue? { self[.keyword(name)] }

    public var isNull: Bool { self == .null }

    /// A name as a keyword when it reads back as the same keyword, else as a string
    /// (a `:f` read from a string such as ":t," must not become `::t,`).
    public static func name(_ text: String) -> EDNValue {
        guard let first = text.unicodeScalars.first, !(first.properties.numericType != nil), first != ":",
            text.unicodeScalars.allSatisfy({ scalar in
                scalar.properties.isAlphabetic || scalar.properties.numericType != nil
                    || "*+!-_?<>=/.#:'".unicodeScalars.contains(scalar)
            }), (try? EDNValue.parse(":" + text)) == .keyword(text)
        else { return .string(text) }
        return .keyword(text)
    }
}

public struct EDNMapEntry: Hashable, Sendable {
    public var key: EDNValue
    public var value: EDNValue
    public init(_ key: EDNValue, _ value: EDNValue) {
        self.key = key
        self.value = value
    }
}

extension EDNValue: CustomStringConvertible {
    /// The value written as EDN, readable by Clojure's `clojure.edn/read-string`.
    public var description: String {
        var out = ""
        write(to: &out)
        return out
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "nil"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .bigInt(let digits): out += digits + "N"
        case .double(let d):
            if d.isNaN {
                out += "##NaN"
            } else if d.isInfinite {
                out += d < 0 ? "##-Inf" : "##Inf"
            } else {
                let text = String(d)
                out += text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) ? text : text + ".0"
            }
        case .string(let s): Self.writeString(s, to: &out)
        case .char(let c): out += Self.charLiteral(c)
        case .keyword(let k): out += ":" + k
        case .symbol(let s): out += s
        case .vector(let items): writeSequence(items, open: "[", close: "]", to: &out)
        case .list(let items): writeSequence(items, open: "(", close: ")", to: &out)
        case .set(let items): writeSequence(items, open: "#{", close: "}", to: &out)
        case .map(let entries):
            out += "{"
            for (i, entry) in entries.enumerated() {
                if i > 0 { out += ", " }
                entry.key.write(to: &out)
                out += " "
                entry.value.write(to: &out)
            }
            out += "}"
        case .tagged(let tag, let inner):
            out += "#" + tag
            // A record's map follows its tag directly, as Clojure prints it.
            if case .map = inner {} else { out += " " }
            inner.write(to: &out)
        }
    }

    private func writeSequence(_ items: [EDNValue], open: String, close: String, to out: inout String) {
        out += open
        for (i, item) in items.enumerated() {
            if i > 0 { out += " " }
            item.write(to: &out)
        }
        out += close
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    static func charLiteral(_ c: Character) -> String {
        switch c {
        case "\n": return "\\newline"
        case " ": return "\\space"
        case "\t": return "\\tab"
        case "\r": return "\\return"
        default: return "\\" + String(c)
        }
    }
}

/// Why EDN text could not be read: where (line, column, both from 1) and what.
public struct EDNError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String
    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }
    public var description: String { "line \(line), column \(column): \(message)" }
}

/// Reads EDN forms from UTF-8 bytes. Works on a window of bytes so that a
/// history of any size can be read in pieces (see `EDNStreamReader`).
struct EDNParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private(set) var position: Int
    private(set) var line: Int
    private var lineStart: Int
    /// Nesting bound: a hostile file cannot exhaust the stack.
    static let maxDepth = 200

    init(bytes: UnsafeBufferPointer<UInt8>, line: Int = 1) {
        self.bytes = bytes
        self.position = 0
        self.line = line
        self.lineStart = 0
    }

    var column: Int { position - lineStart + 1 }

    private func error(_ message: String) -> EDNError {
        EDNError(line: line, column: column, message: message)
    }

    /// Skips white space (commas count), comments and `#_` discarded forms; true
    /// when a form follows.
    mutating func skipToForm() throws -> Bool {
        while position < bytes.count {
            let b = bytes[position]
            switch b {
            case 0x0A:
                position += 1
                line += 1
                lineStart = position
            case 0x20, 0x09, 0x0D, 0x2C, 0x0C:
                position += 1
            case 0x3B:  // ;
                while position < bytes.count && bytes[position] != 0x0A { position += 1 }
            case 0x23 where position + 1 < bytes.count && bytes[position + 1] == 0x5F:  // #_
                position += 2
                guard try skipToForm() else { throw error("`#_` discards nothing: the input ends") }
                _ = try readForm(depth: 0)
            default:
                return true
            }
        }
        return false
    }

    /// The next form; the caller has checked one follows.
    mutating func readForm(depth: Int) throws -> EDNValue {
        guard depth < Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth) levels") }
        guard position < bytes.count else { throw error("a value was expected, the input ends") }
        let b = bytes[position]
        switch b {
        case 0x22: return .string(try readString())
        case 0x3A:  // :
            position += 1
            let name = readToken()
            guard !name.isEmpty else { throw error("`:` is not followed by a keyword name") }
            return .keyword(name)
        case 0x5B:  // [
            position += 1
            return .vector(try readSequence(close: 0x5D, depth: depth))
        case 0x28:  // (
            position += 1
            return .list(try readSequence(close: 0x29, depth: depth))
        case 0x7B:  // {
            position += 1
            return try readMap(depth: depth)
        case 0x5C: return .char(try readChar())
        case 0x23: return try readDispatch(depth: depth)
        case 0x5D, 0x29, 0x7D:
            throw error("unexpected `\(Character(Unicode.Scalar(b)))`: nothing is open here")
        default:
            let token = readToken()
            guard !token.isEmpty else {
                throw error("unexpected character `\(Character(Unicode.Scalar(b)))`")
            }
            return try atom(token)
        }
    }

    private mutating func readSequence(close: UInt8, depth: Int) throws -> [EDNValue] {
        var items: [EDNValue] = []
        while true {
            guard try skipToForm() else {
                throw error("`\(Character(Unicode.Scalar(close)))` is missing: the input ends inside a collection")
            }
            if bytes[position] == close {
                position += 1
                return items
            }
            items.append(try readForm(depth: depth + 1))
        }
    }

    private mutating func readMap(depth: Int) throws -> EDNValue {
        let items = try readSequence(close: 0x7D, depth: depth)
        guard items.count % 2 == 0 else { throw error("a map has a key without a value") }
        var entries: [EDNMapEntry] = []
        entries.reserveCapacity(items.count / 2)
        for i in stride(from: 0, to: items.count, by: 2) {
            entries.append(EDNMapEntry(items[i], items[i + 1]))
        }
        return .map(entries)
    }

    private mutating func readDispatch(depth: Int) throws -> EDNValue {
        position += 1
        guard position < bytes.count else { throw error("`#` at the end of the input") }
        switch bytes[position] {
        case 0x7B:  // #{
            position += 1
            return .set(try readSequence(close: 0x7D, depth: depth))
        case 0x23:  // ##Inf, ##-Inf, ##NaN
            position += 1
            switch readToken() {
            case "Inf": return .double(.infinity)
            case "-Inf": return .double(-.infinity)
            case "NaN": return .double(.nan)
            case let other: throw error("unknown symbolic value `##\(other)`")
            }
        default:
            let tag = readToken()
            guard let first = tag.unicodeScalars.first, first.properties.isAlphabetic else {
                throw error("`#` is not followed by a tag")
            }
            guard try skipToForm() else { throw error("tag `#\(tag)` has no value: the input ends") }
            return .tagged(tag, try readForm(depth: depth + 1))
        }
    }

    private mutating func readString() throws -> String {
        position += 1
        var utf8: [UInt8] = []
        let start = position
        // Fast path: no escapes.
        while position < bytes.count {
            let b = bytes[position]
            if b == 0x22 {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
                position += 1
                return s
            }
            if b == 0x5C { break }
            if b == 0x0A {
                line += 1
                lineStart = position + 1
            }
            position += 1
        }
        utf8.append(contentsOf: bytes[start..<position])
        while position < bytes.count {
            let b = bytes[position]
            position += 1
            switch b {
            case 0x22: return String(decoding: utf8, as: UTF8.self)
            case 0x0A:
                line += 1
                lineStart = position
                utf8.append(b)
            case 0x5C:
                guard position < bytes.count else { break }
                let e = bytes[position]
                position += 1
                switch e {
                case 0x6E: utf8.append(0x0A)  // n
                case 0x74: utf8.append(0x09)  // t
                case 0x72: utf8.append(0x0D)  // r
                case 0x62: utf8.append(0x08)  // b
                case 0x66: utf8.append(0x0C)  // f
                case 0x22, 0x5C, 0x2F: utf8.append(e)
                case 0x75:  // uXXXX
                    guard position + 4 <= bytes.count,
                        let code = UInt32(
                            String(
                                decoding: UnsafeBufferPointer(rebasing: bytes[position..<position + 4]),
                                as: UTF8.self), radix: 16)
                    else { throw error("`\\u` in a string is not followed by four hex digits") }
                    position += 4
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    utf8.append(contentsOf: Array(String(scalar).utf8))
                default:
                    throw error("unknown escape `\\\(Character(Unicode.Scalar(e)))` in a string")
                }
            default: utf8.append(b)
            }
        }
        throw error("a string is not closed: the input ends before its `\"`")
    }

    private mutating func readChar() throws -> Character {
        position += 1
        guard position < bytes.count else { throw error("`\\` at the end of the input") }
        // The first character always belongs to the literal, even `\(` or `\ `.
        let start = position
        position += 1
        while position < bytes.count && (bytes[position] & 0xC0) == 0x80 { position += 1 }
        let rest = readToken()
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        if rest.isEmpty, let c = text.first { return c }
        switch text {
        case "newline": return "\n"
        case "space": return " "
        case "tab": return "\t"
        case "return": return "\r"
        case "backspace": return "\u{8}"
        case "formfeed": return "\u{C}"
        default:
            if text.hasPrefix("u"), text.count == 5, let code = UInt32(text.dropFirst(), radix: 16),
                let scalar = Unicode.Scalar(code)
            {
                return Character(scalar)
            }
            throw error("unknown character literal `\\\(text)`")
        }
    }

    /// A run of bytes up to white space or a delimiter.
    private mutating func readToken() -> String {
        let start = position
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D, 0x2C, 0x0C, 0x5B, 0x5D, 0x28, 0x29, 0x7B, 0x7D, 0x22, 0x3B: break
            default:
                position += 1
                continue
            }
            break
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    private func atom(_ token: String) throws -> EDNValue {
        switch token {
        case "nil": return .null
        case "true": return .bool(true)
        case "false": return .bool(false)
        default: break
        }
        let first = token.utf8.first!
        let startsNumber =
            (first >= 0x30 && first <= 0x39)
            || ((first == 0x2B || first == 0x2D) && token.utf8.count > 1
                && {
                    let s = token.utf8.dropFirst().first!; return s >= 0x30 && s <= 0x39
                }())
        guard startsNumber else { return .symbol(token) }
        if let i = Int64(token) { return .int(i) }
        if token.hasSuffix("N"), token.dropLast().allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == "+") })
        {
            let digits = String(token.dropLast())
            if let i = Int64(digits) { return .int(i) }
            return .bigInt(digits)
        }
        if token.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == "+") }) {
            return .bigInt(token)
        }
        let decimal = token.hasSuffix("M") ? String(token.dropLast()) : token
        if let d = Double(decimal), !decimal.lowercased().contains("n") { return .double(d) }
        throw error("`\(token)` is not a number")
    }
}

extension EDNValue {
    /// Parses exactly one EDN form from `text`.
    public static func parse(_ text: String) throws -> EDNValue {
        var copy = text
        return try copy.withUTF8 { buffer in
            var parser = EDNParser(bytes: buffer)
            guard try parser.skipToForm() else {
                throw EDNError(line: parser.line, column: parser.column, message: "no value: the text is empty")
            }
            let value = try parser.readForm(depth: 0)
            if try parser.skipToForm() {
                throw EDNError(line: parser.line, column: parser.column, message: "more than one value")
            }
            return value
        }
    }
}
