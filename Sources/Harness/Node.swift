import Foundation
import HostCommand
import Libvirt
import Logging
import SSH

/// One guest of a run: its libvirt domain, its 127.0.0.1 forward, its SSH session.
/// An actor because the domain and session change when the node is destroyed and
/// started again.
public actor Node {
    public nonisolated let spec: NodeSpec
    public nonisolated let console: ConsoleLog
    public nonisolated let domainName: String
    nonisolated let context: RunContext
    let overlay: URL
    private(set) var domain: Domain?
    private var session: SSHSession?
    private var hostKey: String?
    public private(set) var sshPort: Int?
    public private(set) var domainXML: String?
    /// Extra 127.0.0.1 forwards on the management NIC (guest port → host port), kept
    /// across restarts: a client reaches the guest's service there, never through the
    /// cluster network.
    private var forwards: [Int: Int] = [:]
    /// When SSH first answered in the latest start, from that start.
    public private(set) var readySeconds: Double?
    private var startedAt: ContinuousClock.Instant?
    /// Where this start's console output begins.
    private var consoleOffset: UInt64 = 0

    init(spec: NodeSpec, context: RunContext) {
        self.spec = spec
        self.context = context
        self.domainName = context.runID.name(spec.name)
        self.overlay = context.directory.appendingPathComponent("\(spec.name).qcow2")
        self.console = ConsoleLog(path: context.directory.appendingPathComponent("\(spec.name).console.log").path)
    }

    public nonisolated var name: String { spec.name }

    var guestRun: GuestRun {
        GuestRun(
            domainName: domainName, accelerator: context.accelerator, disk: overlay,
            directory: context.directory.appendingPathComponent(spec.name),
            networkName: context.networkName, consoleLog: console.path, publicKey: context.publicKey,
            peers: context.nodes)
    }

    /// Makes the node's disk and whatever else its image needs on the host.
    func prepare() async throws {
        try FileManager.default.createDirectory(
            at: guestRun.directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        try await context.image.prepare(spec, in: guestRun)
    }

    /// Starts the domain. A forward port lost to a race fails fast in QEMU; then
    /// another port is tried.
    public func start() async throws {
        guard domain == nil else { return }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try LoopbackPort.free()
            let definition = try context.image.domainXML(for: spec, in: guestRun, sshPort: port).render()
            do {
                startedAt = .now
                consoleOffset = console.size()
                domain = try await context.connection.createDomain(xml: definition)
                sshPort = port
                domainXML = definition
                for (guestPort, hostPort) in forwards.sorted(by: { $0.key < $1.key }) {
                    try await addForward(guestPort: guestPort, hostPort: hostPort)
                }
                try? definition.write(
                    to: context.directory.appendingPathComponent("\(spec.name).xml"), atomically: true, encoding: .utf8)
                context.logger.debug("started", metadata: ["node": "\(spec.name)", "port": "\(port)"])
                return
            } catch let error as LibvirtError where error.message.contains("host forwarding") {
                lastError = error
                continue
            } catch {
                throw HarnessError(.node, "\(spec.name): libvirt could not start the domain", cause: error)
            }
        }
        throw HarnessError(
            .node, "\(spec.name): no free 127.0.0.1 port for the SSH forward after 5 tries", cause: lastError)
    }

    /// The 127.0.0.1 port forwarded to `guestPort` on the management NIC, added on first
    /// use through QEMU's monitor (`hostfwd_add`) and again after every start. The host
    /// port stays the same for the node's life, so clients keep their address.
    public func forward(guestPort: Int) async throws -> Int {
        if let port = forwards[guestPort] { return port }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try LoopbackPort.free()
            do {
                if domain != nil { try await addForward(guestPort: guestPort, hostPort: port) }
                forwards[guestPort] = port
                return port
            } catch {
                lastError = error  // the port was taken meanwhile: another
            }
        }
        throw HarnessError(
            .node, "\(spec.name): no 127.0.0.1 port could be forwarded to its port \(guestPort)",
            cause: lastError)
    }

    private func addForward(guestPort: Int, hostPort: Int) async throws {
        let domain = try libvirtDomain()
        // The management NIC is the user-mode netdev `mgmt` in every guest image.
        let reply = try await domain.qemuMonitorCommand("hostfwd_add mgmt tcp:127.0.0.1:\(hostPort)-:\(guestPort)")
        let text = reply.trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.isEmpty else {
            throw HarnessError(
                .node, "\(spec.name): QEMU refused the forward 127.0.0.1:\(hostPort) → \(guestPort): \(text)")
        }
    }

    /// Waits until the guest accepts SSH with the run's key and the host key it
    /// printed on its console. On timeout the error shows the console's last lines.
    public func waitForSSH(timeout: Double) async throws {
        let start = ContinuousClock.now
        let limit = Duration.milliseconds(Int64(timeout * 1000))
        var lastError: String = "the guest has not printed its host key yet"
        var scannedSize: UInt64 = .max
        var printedKey: String?
        while ContinuousClock.now - start < limit {
            try Task.checkCancellation()
            guard let domain, let port = sshPort else {
                throw HarnessError(.node, "\(spec.name) is not running: start it first")
            }
            let state = try await domain.state()
            if state != .running && state != .blocked {
                throw HarnessError(
                    .node,
                    "\(spec.name) stopped while booting (state \(state)); last console lines:\n\(console.formattedTail())"
                )
            }
            // The console is read again only when it has grown: a booting kernel
            // writes tens of kilobytes, and this loop runs ten times a second per node.
            let size = console.size()
            if size != scannedSize {
                scannedSize = size
                if console.panicked(after: consoleOffset) {
                    throw HarnessError(
                        .node,
                        "\(spec.name): its kernel panicked while booting; last console lines (\(console.path)):\n\(console.formattedTail())"
                    )
                }
                printedKey = console.pinnedHostKey()
            }
            if let key = printedKey {
                do {
                    session = try await SSHSession.connect(
                        host: "127.0.0.1", port: port, key: context.key,
                        pinnedHostKey: key, timeout: 3 * context.timeoutScale)
                    hostKey = key
                    readySeconds = startedAt.map { (ContinuousClock.now - $0).seconds }
                    return
                } catch let error as SSHError where error.kind == .hostKeyMismatch || error.kind == .authentication {
                    throw HarnessError(.node, "\(spec.name): SSH refused", cause: error)
                } catch {
                    lastError = "\(error)"
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError(
            .timeout,
            """
            \(spec.name) did not accept SSH on 127.0.0.1:\(sshPort ?? 0) within \(Int(timeout)) s (last attempt: \(lastError)); \
            last console lines (\(console.path)):
            \(console.formattedTail())
            """)
    }

    func connectedSession() async throws -> SSHSession {
        if let session, session.isConnected { return session }
        guard let port = sshPort, let hostKey else {
            throw HarnessError(.node, "\(spec.name) has not been reached over SSH yet")
        }
        // A guest just booted on a busy TCG host can take seconds over the key exchange.
        let fresh = try await SSHSession.connect(
            host: "127.0.0.1", port: port, key: context.key, pinnedHostKey: hostKey, timeout: 5 * context.timeoutScale)
        session = fresh
        return fresh
    }

    /// Runs `body` on the session; once more on a new session when the first attempt
    /// failed before the guest ran anything (no connection, or no channel opened): a
    /// session can drop under load, and the command is then safe to send again.
    /// `idempotent`: also after any other failure but a timeout.
    private func withSession<T>(idempotent: Bool = false, _ body: (SSHSession) async throws -> T) async throws -> T {
        do {
            return try await body(connectedSession())
        } catch let error as SSHError
            where error.kind == .connect || error.kind == .channelOpen || (idempotent && error.kind == .channel)
        {
            session = nil
            context.logger.debug(
                "SSH: retrying on a new session", metadata: ["node": "\(spec.name)", "error": "\(error)"])
            return try await body(connectedSession())
        }
    }

    /// Runs a shell command in the guest.
    public func exec(_ command: String, timeout: Double = 30, stdin: Data? = nil) async throws -> ExecResult {
        do {
            return try await withSession {
                try await $0.exec(command, stdin: stdin, timeout: timeout * context.timeoutScale)
            }
        } catch let error as SSHError {
            session = nil
            if error.kind == .timeout {
                throw HarnessError(
                    .timeout,
                    "\(spec.name): `\(command)` did not finish within \(Int(timeout * context.timeoutScale)) s",
                    cause: error)
            }
            throw HarnessError(.node, "\(spec.name): could not run `\(command)`", cause: error)
        }
    }

    /// Runs a command that must exit 0; returns its stdout.
    @discardableResult
    public func succeed(_ command: String, timeout: Double = 30) async throws -> String {
        let result = try await exec(command, timeout: timeout)
        guard result.exitStatus == 0 else {
            let output = [
                result.stderr.isEmpty ? nil : "  stderr: \(result.stderr.suffix(800))",
                result.stdout.isEmpty ? nil : "  stdout: \(result.stdout.suffix(800))",
            ].compactMap { $0 }
            throw HarnessError(
                .failure, "\(spec.name): `\(command)` exited \(result.exitStatus)\n" + output.joined(separator: "\n"))
        }
        return result.stdout
    }

    /// Runs a command that must fail; returns its stderr.
    @discardableResult
    public func fail(_ command: String, timeout: Double = 30) async throws -> String {
        let result = try await exec(command, timeout: timeout)
        guard result.exitStatus != 0 else {
            throw HarnessError(
                .failure,
                "\(spec.name): `\(command)` was expected to fail but exited 0\n  stdout: \(result.stdout.suffix(800))")
        }
        return result.stderr
    }

    /// Polls `command` until it exits 0, at most `timeout` seconds.
    @discardableResult
    public func waitUntil(_ command: String, timeout: Double, interval: Double = 0.25) async throws -> String {
        let start = ContinuousClock.now
        let limit = Duration.milliseconds(Int64(timeout * context.timeoutScale * 1000))
        var last = ""
        while true {
            try Task.checkCancellation()
            if let result = try? await exec(command, timeout: max(5, timeout)) {
                if result.exitStatus == 0 { return result.stdout }
                last = "exit \(result.exitStatus): \(result.stderr.suffix(300))"
            }
            if ContinuousClock.now - start >= limit { break }
            try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        }
        throw HarnessError(
            .timeout,
            """
            \(spec.name): waited \(Int(timeout * context.timeoutScale)) s for `\(command)` to succeed (last: \(last)); last console lines:
            \(console.formattedTail())
            """)
    }

    public func upload(_ data: Data, to path: String, mode: String = "0644") async throws {
        do {
            // Safe to send again whatever failed: the file is replaced only when complete.
            try await withSession(idempotent: true) {
                try await $0.upload(data, to: path, mode: mode, timeout: 30 * context.timeoutScale)
            }
        } catch let error as SSHError {
            session = nil
            throw HarnessError(.node, "\(spec.name): upload of \(path) failed", cause: error)
        }
    }

    /// Power loss: the domain is destroyed; its disk overlay stays.
    public func destroy() async throws {
        session = nil
        guard let domain else { return }
        self.domain = nil
        try await domain.destroy()
    }

    /// Starts a destroyed node again on the same disk and waits for SSH.
    public func restart(timeout: Double) async throws {
        try await destroy()
        try await start()
        try await waitForSSH(timeout: timeout)
    }

    /// How to reach this node from the host, for `--keep` and `harness ssh`.
    public func endpoint() throws -> NodeEndpoint {
        guard let sshPort, let hostKey else { throw HarnessError(.node, "\(spec.name) has not answered SSH") }
        return NodeEndpoint(
            name: spec.name, domain: domainName, sshPort: sshPort, hostKey: hostKey,
            clusterAddress: spec.clusterAddress, console: console.path)
    }

    /// Freezes the guest (its clock stops too); `resume()` thaws it.
    public func suspend() async throws { try await libvirtDomain().suspend() }
    public func resume() async throws { try await libvirtDomain().resume() }

    /// Sets the cluster NIC's link state on the running guest: down isolates the
    /// node from every peer while its SSH forward keeps working.
    public func setClusterLink(up: Bool) async throws {
        let nic = DomainXML.NetworkInterface(network: context.networkName, mac: spec.mac, linkUp: up)
        try await libvirtDomain().updateDevice(xml: DomainXML.interfaceXML(nic))
    }

    /// QEMU's view of the cluster NIC's transmit ring: `shadow_avail_idx` ahead of
    /// `last_avail_idx` counts packets the guest posted that QEMU has not taken,
    /// `inuse` those taken but not completed.
    public func clusterTXRing() async throws -> String {
        let domain = try libvirtDomain()
        guard let alias = DomainXML.alias(ofInterfaceWithMAC: spec.mac, in: try await domain.xmlDescription()) else {
            throw HarnessError(.node, "\(spec.name) has no interface \(spec.mac) in its live XML")
        }
        // Queue 1 is the first pair's transmit queue.
        let status = try await domain.qemuMonitorCommand(
            "info virtio-queue-status /machine/peripheral/\(alias)/virtio-backend 1")
        return status.split(whereSeparator: \.isNewline).map { $0.split(separator: " ").joined(separator: " ") }
            .filter { ["inuse:", "used_idx:", "last_avail_idx:", "shadow_avail_idx:"].contains(where: $0.hasPrefix) }
            .joined(separator: ", ")
    }

    /// Whether the domain exists and runs (a crashed or destroyed one does not).
    public func isRunning() async -> Bool {
        guard let state = try? await domainState() else { return false }
        return state == .running || state == .blocked
    }

    public func domainState() async throws -> Domain.State? {
        guard let domain else { return nil }
        return try await domain.state()
    }

    /// The host-side tap device of the node's cluster NIC (it changes with every start).
    public func clusterTap() async throws -> String {
        let xml = try await libvirtDomain().xmlDescription()
        guard let tap = DomainXML.targetDevice(ofInterfaceWithMAC: spec.mac, in: xml) else {
            throw HarnessError(.node, "\(spec.name) has no tap device for \(spec.mac) in its live XML")
        }
        return tap
    }

    public func libvirtDomain() throws -> Domain {
        guard let domain else { throw HarnessError(.node, "\(spec.name) is not running") }
        return domain
    }
}

/// A reachable node, as a kept run records it in `nodes.json`.
public struct NodeEndpoint: Codable, Sendable {
    public let name: String
    public let domain: String
    public let sshPort: Int
    public let hostKey: String
    public let clusterAddress: String
    public let console: String
}
