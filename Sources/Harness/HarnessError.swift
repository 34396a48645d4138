/// An error the harness reports to its user: what went wrong, what to do, and the
/// underlying cause (a LibvirtError, an SSHError, …) when there is one.
public struct HarnessError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The host is not ready: libvirtd, the image, nix, a package.
        case environment
        /// The user asked for something that does not exist or is out of range.
        case badInput
        /// A bounded wait ran out.
        case timeout
        /// A node or an operation on it failed.
        case node
        /// A check ran and the target misbehaved.
        case failure
    }

    public let code: Code
    public let message: String
    public let cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// Exit code for the CLI: 2 when the harness could not run, 1 when what it ran failed.
    public var exitCode: Int32 {
        switch code {
        case .environment, .badInput: 2
        case .timeout, .node, .failure: 1
        }
    }

    public var description: String {
        guard let cause else { return message }
        return "\(message)\n  cause: \(cause)"
    }
}
