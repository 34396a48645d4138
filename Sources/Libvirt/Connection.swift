import Blocking
import CLibvirt

/// An open connection to a libvirt daemon. Owns its `virConnectPtr` and closes it
/// in `deinit`; domains and networks it hands out keep it alive.
///
/// Sendable because libvirt connections are thread-safe and the pointer never
/// changes after init.
public final class Connection: @unchecked Sendable {
    let pointer: OpaquePointer
    public let uri: String

    private init(pointer: OpaquePointer, uri: String) {
        self.pointer = pointer
        self.uri = uri
    }

    deinit { virConnectClose(pointer) }

    /// Opens `uri` (default `qemu:///system`). Silences libvirt's default handler,
    /// which would print every error to stderr: errors are thrown instead.
    public static func open(_ uri: String = "qemu:///system") async throws -> Connection {
        try await runBlocking {
            virSetErrorFunc(nil, { _, _ in })
            guard let ptr = virConnectOpen(uri) else { throw LibvirtError.last("virConnectOpen(\(uri))") }
            return Connection(pointer: ptr, uri: uri)
        }
    }

    public func version() async throws -> (libvirt: UInt, hypervisor: UInt) {
        try await runBlocking { [self] in
            var lib: UInt = 0, hv: UInt = 0
            guard virConnectGetLibVersion(pointer, &lib) == 0 else {
                throw LibvirtError.last("virConnectGetLibVersion")
            }
            guard virConnectGetVersion(pointer, &hv) == 0 else { throw LibvirtError.last("virConnectGetVersion") }
            return (lib, hv)
        }
    }

    /// Starts a transient domain: it disappears from libvirt once destroyed.
    public func createDomain(xml: String) async throws -> Domain {
        try await runBlocking { [self] in
            guard let ptr = virDomainCreateXML(pointer, xml, 0) else { throw LibvirtError.last("virDomainCreateXML") }
            return Domain(pointer: ptr, connection: self)
        }
    }

    public func domain(named name: String) async throws -> Domain? {
        try await runBlocking { [self] in
            guard let ptr = virDomainLookupByName(pointer, name) else {
                let error = LibvirtError.last("virDomainLookupByName(\(name))")
                if error.isNoDomain { return nil }
                throw error
            }
            return Domain(pointer: ptr, connection: self)
        }
    }

    /// All domains, running or defined.
    public func allDomains() async throws -> [Domain] {
        try await runBlocking { [self] in
            var list: UnsafeMutablePointer<virDomainPtr?>?
            let n = virConnectListAllDomains(pointer, &list, 0)
            guard n >= 0, let list else { throw LibvirtError.last("virConnectListAllDomains") }
            defer { free(list) }
            return (0..<Int(n)).compactMap { i in list[i].map { Domain(pointer: $0, connection: self) } }
        }
    }

    /// Starts a transient network.
    public func createNetwork(xml: String) async throws -> Network {
        try await runBlocking { [self] in
            guard let ptr = virNetworkCreateXML(pointer, xml) else { throw LibvirtError.last("virNetworkCreateXML") }
            return Network(pointer: ptr, connection: self)
        }
    }

    public func allNetworks() async throws -> [Network] {
        try await runBlocking { [self] in
            var list: UnsafeMutablePointer<virNetworkPtr?>?
            let n = virConnectListAllNetworks(pointer, &list, 0)
            guard n >= 0, let list else { throw LibvirtError.last("virConnectListAllNetworks") }
            defer { free(list) }
            return (0..<Int(n)).compactMap { i in list[i].map { Network(pointer: $0, connection: self) } }
        }
    }

    public func capabilities() async throws -> String {
        try await runBlocking { [self] in
            guard let cstr = virConnectGetCapabilities(pointer) else {
                throw LibvirtError.last("virConnectGetCapabilities")
            }
            defer { free(cstr) }
            return String(cString: cstr)
        }
    }
}

#if canImport(Glibc)
    import Glibc
#endif
