import Blocking
import CLibvirt

#if canImport(Glibc)
    import Glibc
#endif

/// One libvirt domain. Owns its `virDomainPtr` (freed in `deinit`) and holds its
/// connection so the connection outlives it.
public final class Domain: @unchecked Sendable {
    let pointer: OpaquePointer
    public let connection: Connection
    /// Read once at init: a domain's name never changes while we hold it.
    public let name: String

    init(pointer: OpaquePointer, connection: Connection) {
        self.pointer = pointer
        self.connection = connection
        self.name = virDomainGetName(pointer).map { String(cString: $0) } ?? "?"
    }

    deinit { virDomainFree(pointer) }

    public enum State: Sendable, Equatable {
        case running, blocked, paused, shutdown, shutoff, crashed, suspendedByPM, other(Int32)
    }

    public func state() async throws -> State {
        try await runBlocking { [self] in
            var state: Int32 = 0, reason: Int32 = 0
            guard virDomainGetState(pointer, &state, &reason, 0) == 0 else {
                throw LibvirtError.last("virDomainGetState(\(name))")
            }
            switch UInt32(state) {
            case VIR_DOMAIN_RUNNING.rawValue: return .running
            case VIR_DOMAIN_BLOCKED.rawValue: return .blocked
            case VIR_DOMAIN_PAUSED.rawValue: return .paused
            case VIR_DOMAIN_SHUTDOWN.rawValue: return .shutdown
            case VIR_DOMAIN_SHUTOFF.rawValue: return .shutoff
            case VIR_DOMAIN_CRASHED.rawValue: return .crashed
            case VIR_DOMAIN_PMSUSPENDED.rawValue: return .suspendedByPM
            default: return .other(state)
            }
        }
    }

    /// Hard power-off. A domain that is already gone counts as destroyed.
    public func destroy() async throws {
        try await runBlocking { [self] in
            if virDomainDestroy(pointer) != 0 {
                let error = LibvirtError.last("virDomainDestroy(\(name))")
                if error.isNoDomain || error.isOperationInvalid { return }
                throw error
            }
        }
    }

    /// Removes a persistent definition; transient domains have none.
    public func undefineIfPersistent() async throws {
        try await runBlocking { [self] in
            guard virDomainIsPersistent(pointer) == 1 else { return }
            if virDomainUndefine(pointer) != 0 {
                let error = LibvirtError.last("virDomainUndefine(\(name))")
                if error.isNoDomain { return }
                throw error
            }
        }
    }

    public func suspend() async throws {
        try await runBlocking { [self] in
            guard virDomainSuspend(pointer) == 0 else { throw LibvirtError.last("virDomainSuspend(\(name))") }
        }
    }

    public func resume() async throws {
        try await runBlocking { [self] in
            guard virDomainResume(pointer) == 0 else { throw LibvirtError.last("virDomainResume(\(name))") }
        }
    }

    public func xmlDescription() async throws -> String {
        try await runBlocking { [self] in
            guard let cstr = virDomainGetXMLDesc(pointer, 0) else {
                throw LibvirtError.last("virDomainGetXMLDesc(\(name))")
            }
            defer { free(cstr) }
            return String(cString: cstr)
        }
    }

    /// Changes a device of the running domain, e.g. an `<interface>` with a new `<link state=…>`.
    public func updateDevice(xml: String) async throws {
        try await runBlocking { [self] in
            let flags = VIR_DOMAIN_AFFECT_LIVE.rawValue
            guard virDomainUpdateDeviceFlags(pointer, xml, flags) == 0 else {
                throw LibvirtError.last("virDomainUpdateDeviceFlags(\(name))")
            }
        }
    }

    /// Runs a QEMU monitor command (HMP when `hmp`), returning QEMU's reply.
    public func qemuMonitorCommand(_ command: String, hmp: Bool = true) async throws -> String {
        try await runBlocking { [self] in
            var reply: UnsafeMutablePointer<CChar>?
            let flags = hmp ? UInt32(VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP.rawValue) : 0
            guard virDomainQemuMonitorCommand(pointer, command, &reply, flags) == 0 else {
                throw LibvirtError.last("virDomainQemuMonitorCommand(\(name), \(command))")
            }
            defer { free(reply) }
            return reply.map { String(cString: $0) } ?? ""
        }
    }
}
