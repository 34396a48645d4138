import CLibvirt

/// A failed libvirt call: libvirt's own error code and message, copied from its
/// thread-local error in the same synchronous call that failed.
public struct LibvirtError: Error, CustomStringConvertible, Sendable {
    /// `virErrorNumber`, e.g. VIR_ERR_NO_DOMAIN (42).
    public let code: Int32
    /// `virErrorDomain`: which part of libvirt raised it.
    public let domain: Int32
    /// libvirt's message text.
    public let message: String
    /// What the harness was doing: the API call and the object it named.
    public let operation: String

    public init(code: Int32, domain: Int32, message: String, operation: String) {
        self.code = code
        self.domain = domain
        self.message = message
        self.operation = operation
    }

    /// Copies the calling thread's last libvirt error. Call it right after the
    /// failing C call, on the same thread, with no suspension point in between.
    static func last(_ operation: String) -> LibvirtError {
        guard let err = virGetLastError() else {
            return LibvirtError(code: -1, domain: -1, message: "libvirt reported no error text", operation: operation)
        }
        let message = err.pointee.message.map { String(cString: $0) } ?? "no message"
        let error = LibvirtError(
            code: err.pointee.code, domain: err.pointee.domain, message: message, operation: operation)
        virResetLastError()
        return error
    }

    public var isNoDomain: Bool { code == Int32(VIR_ERR_NO_DOMAIN.rawValue) }
    public var isNoNetwork: Bool { code == Int32(VIR_ERR_NO_NETWORK.rawValue) }
    public var isOperationInvalid: Bool { code == Int32(VIR_ERR_OPERATION_INVALID.rawValue) }
    /// The connection failed: libvirtd is not running or not reachable.
    public var isNoConnect: Bool {
        code == Int32(VIR_ERR_NO_CONNECT.rawValue) || code == Int32(VIR_ERR_SYSTEM_ERROR.rawValue)
    }

    public var description: String { "\(operation): \(message) (libvirt error \(code))" }
}
