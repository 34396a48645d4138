import Foundation

/// A run's identity. Every libvirt object and file a run makes carries its prefix,
/// `phc-<8 hex>`, so the reaper can tell whose it is.
public struct RunID: Hashable, Sendable, CustomStringConvertible {
    public static let namespace = "phc-"
    public let prefix: String

    public init() {
        let hex = (0..<4).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        prefix = Self.namespace + hex
    }

    public init?(prefix: String) {
        guard prefix.hasPrefix(Self.namespace), prefix.count == Self.namespace.count + 8,
            prefix.dropFirst(Self.namespace.count).allSatisfy(\.isHexDigit)
        else { return nil }
        self.prefix = prefix
    }

    /// The run that owns a libvirt object named `<prefix>-<rest>`, if any.
    public init?(owning objectName: String) {
        let head = objectName.prefix(Self.namespace.count + 8)
        guard objectName.count > head.count, objectName.dropFirst(head.count).first == "-" else { return nil }
        self.init(prefix: String(head))
    }

    public func name(_ suffix: String) -> String { "\(prefix)-\(suffix)" }

    /// Linux bridge names are at most 15 bytes.
    public var bridgeName: String { "phcbr" + prefix.dropFirst(Self.namespace.count) }

    public var description: String { prefix }
}
