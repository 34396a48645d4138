/// A failed SSH operation. `message` is libssh's own text where libssh failed.
public struct SSHError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case connect, hostKeyMismatch, hostKeyUnavailable, authentication, channel, timeout, key
        /// No channel could be opened, or the exec request was refused: the command never ran.
        case channelOpen
    }
    public let kind: Kind
    /// libssh's error code (`ssh_get_error_code`), or -1 where the harness decided.
    public let code: Int32
    public let message: String
    /// What was being done, with its target, e.g. `exec on 127.0.0.1:40022`.
    public let operation: String

    public init(_ kind: Kind, code: Int32 = -1, message: String, operation: String) {
        self.kind = kind; self.code = code; self.message = message; self.operation = operation
    }

    public var description: String { "\(operation): \(kind.rawValue): \(message)" }
}
