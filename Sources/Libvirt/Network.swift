import Blocking
import CLibvirt

/// One libvirt network. Owns its `virNetworkPtr` and keeps its connection alive.
public final class Network: @unchecked Sendable {
    let pointer: OpaquePointer
    public let connection: Connection
    public let name: String

    init(pointer: OpaquePointer, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
        self.name = virNetworkGetName(pointer).map { String(cString: $0) } ?? "?"
    }

    deinit { virNetworkFree(pointer) }

    /// Stops the network and removes any persistent definition. Already gone counts as done.
    public func remove() async throws {
        try await runBlocking { [self] in
            if virNetworkIsActive(pointer) == 1, virNetworkDestroy(pointer) != 0 {
                let error = LibvirtError.last("virNetworkDestroy(\(name))")
                if !error.isNoNetwork { throw error }
            }
            if virNetworkIsPersistent(pointer) == 1, virNetworkUndefine(pointer) != 0 {
                let error = LibvirtError.last("virNetworkUndefine(\(name))")
                if !error.isNoNetwork { throw error }
            }
        }
    }

    /// The network's XML as libvirt keeps it, `<metadata>` included (`RunOwner(readingXML:)`).
    public func xmlDescription() async throws -> String {
        try await runBlocking { [self] in
            guard let cstr = virNetworkGetXMLDesc(pointer, 0) else {
                throw LibvirtError.last("virNetworkGetXMLDesc(\(name))")
            }
            defer { free(cstr) }
            return String(cString: cstr)
        }
    }

    public func bridgeName() async throws -> String {
        try await runBlocking { [self] in
            guard let cstr = virNetworkGetBridgeName(pointer) else {
                throw LibvirtError.last("virNetworkGetBridgeName(\(name))")
            }
            defer { free(cstr) }
            return String(cString: cstr)
        }
    }
}

#if canImport(Glibc)
    import Glibc
#endif
