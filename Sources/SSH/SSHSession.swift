import Blocking
import CLibSSH
import Dispatch
import Foundation
import Synchronization

/// What one remote command did.
public struct ExecResult: Sendable {
    public let exitStatus: Int32
    public let stdout: String
    public let stderr: String
    public let seconds: Double
}

/// An authenticated SSH session to one guest. Owns its `ssh_session` (disconnected
/// and freed in `deinit`) and the key it authenticated with.
///
/// libssh sessions are not thread-safe, so every C call on this one runs on its own
/// serial queue: that is the invariant that makes it Sendable.
public final class SSHSession: @unchecked Sendable {
    let pointer: OpaquePointer
    let key: SSHKey
    public let endpoint: String
    private let queue: DispatchQueue

    private init(pointer: OpaquePointer, key: SSHKey, endpoint: String) {
        self.pointer = pointer
        self.key = key
        self.endpoint = endpoint
        self.queue = DispatchQueue(label: "ssh \(endpoint)")
    }

    deinit {
        ssh_disconnect(pointer)
        ssh_free(pointer)
    }

    /// Connects, checks that the server's host key is `pinnedHostKey` (an
    /// `ssh-ed25519 BASE64` line, taken out of band), and authenticates as root
    /// with `key`. `timeout` bounds the TCP connect and the key exchange.
    public static func connect(
        host: String, port: Int, user: String = "root", key: SSHKey,
        pinnedHostKey: String, timeout: Double
    ) async throws -> SSHSession {
        let endpoint = "\(host):\(port)"
        return try await runBlocking {
            guard let s = ssh_new() else {
                throw SSHError(.connect, message: "ssh_new failed", operation: "connect \(endpoint)")
            }
            let session = SSHSession(pointer: s, key: key, endpoint: endpoint)
            var cport = UInt32(port)
            var ctimeout = Int(max(1, timeout.rounded(.up)))
            var noConfig = false
            ssh_options_set(s, SSH_OPTIONS_HOST, host)
            ssh_options_set(s, SSH_OPTIONS_PORT, &cport)
            ssh_options_set(s, SSH_OPTIONS_USER, user)
            ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &ctimeout)
            // Never read ~/.ssh/config or known_hosts: the pin below is the only trust.
            ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &noConfig)
            ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null")
            ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, "ssh-ed25519")

            guard ssh_connect(s) == SSH_OK else {
                throw session.error(.connect, "connect \(endpoint)")
            }
            var serverKey: OpaquePointer?
            guard ssh_get_server_publickey(s, &serverKey) == SSH_OK, let serverKey else {
                throw session.error(.hostKeyUnavailable, "host key of \(endpoint)")
            }
            defer { ssh_key_free(serverKey) }
            let offered = "ssh-ed25519 " + (try SSHKey.base64(of: serverKey))
            let pinned = pinnedHostKey.split(separator: " ").prefix(2).joined(separator: " ")
            guard offered == pinned else {
                throw SSHError(
                    .hostKeyMismatch,
                    message: "server offered \(offered), pinned \(pinned)",
                    operation: "verify host key of \(endpoint)")
            }
            let rc = ssh_userauth_publickey(s, nil, key.pointer)
            guard rc == SSH_AUTH_SUCCESS.rawValue else {
                throw session.error(.authentication, "public key auth as \(user) on \(endpoint)")
            }
            return session
        }
    }

    /// Reads the connection's state, for deciding whether to reconnect.
    public var isConnected: Bool {
        queue.sync { ssh_is_connected(pointer) == 1 }
    }

    /// Runs `command` with optional stdin, collecting stdout, stderr and the exit
    /// status. Throws `SSHError(.timeout)` past `timeout` seconds and
    /// `CancellationError` when the task is cancelled: the two are distinct.
    public func exec(_ command: String, stdin: Data? = nil, timeout: Double) async throws -> ExecResult {
        let cancelled = CancelFlag()
        return try await withTaskCancellationHandler {
            try await runBlocking(on: queue) { [self] in
                try execBlocking(command, stdin: stdin, timeout: timeout, cancelled: cancelled)
            }
        } onCancel: {
            cancelled.set()
        }
    }

    /// Writes `data` to `path` in the guest (mode `mode`, octal), through `cat`: into a
    /// file beside it, renamed over `path` only when every byte arrived, so a connection
    /// lost midway never leaves a truncated file (a truncated script would run, and do nothing).
    public func upload(_ data: Data, to path: String, mode: String = "0644", timeout: Double) async throws {
        let quoted = "'" + path.replacingOccurrences(of: "'", with: "'\\''") + "'"
        let partial = "'" + (path + ".phc-upload").replacingOccurrences(of: "'", with: "'\\''") + "'"
        let result = try await exec(
            "mkdir -p \"$(dirname \(quoted))\" && cat > \(partial) && [ \"$(wc -c < \(partial))\" -eq \(data.count) ] "
                + "&& chmod \(mode) \(partial) && mv -f \(partial) \(quoted)",
            stdin: data, timeout: timeout)
        guard result.exitStatus == 0 else {
            throw SSHError(
                .channel, message: "exit \(result.exitStatus): \(result.stderr)",
                operation: "upload \(path) to \(endpoint)")
        }
    }

    private func execBlocking(_ command: String, stdin: Data?, timeout: Double, cancelled: CancelFlag) throws
        -> ExecResult
    {
        let start = DispatchTime.now()
        let operation = "exec `\(command.prefix(80))` on \(endpoint)"
        // Until the exec request is accepted the command has not run: `.channelOpen`, safe to retry.
        guard let channel = ssh_channel_new(pointer) else { throw error(.channelOpen, operation) }
        defer { ssh_channel_free(channel) }
        guard ssh_channel_open_session(channel) == SSH_OK else { throw error(.channelOpen, operation) }
        defer { ssh_channel_close(channel) }
        guard ssh_channel_request_exec(channel, command) == SSH_OK else { throw error(.channelOpen, operation) }
        if let stdin, !stdin.isEmpty {
            try stdin.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = ssh_channel_write(channel, raw.baseAddress! + offset, UInt32(raw.count - offset))
                    guard n > 0 else { throw error(.channel, operation + " (writing stdin)") }
                    offset += Int(n)
                }
            }
        }
        ssh_channel_send_eof(channel)

        var out = [UInt8](), err = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        let deadline = start.uptimeNanoseconds + UInt64(timeout * 1e9)
        while true {
            if cancelled.isSet { throw CancellationError() }
            if DispatchTime.now().uptimeNanoseconds > deadline {
                throw SSHError(
                    .timeout,
                    message:
                        "no exit after \(timeout) s; stdout so far: \(String(decoding: out.suffix(400), as: UTF8.self))",
                    operation: operation)
            }
            let n = buffer.withUnsafeMutableBytes {
                ssh_channel_read_timeout(channel, $0.baseAddress, UInt32($0.count), 0, 100)
            }
            if n == SSH_ERROR { throw error(.channel, operation) }
            if n > 0 { out.append(contentsOf: buffer[0..<Int(n)]) }
            let m = buffer.withUnsafeMutableBytes {
                ssh_channel_read_nonblocking(channel, $0.baseAddress, UInt32($0.count), 1)
            }
            if m == SSH_ERROR { throw error(.channel, operation) }
            if m > 0 { err.append(contentsOf: buffer[0..<Int(m)]) }
            if n <= 0, m <= 0, ssh_channel_is_eof(channel) != 0 { break }
        }
        let status = ssh_channel_get_exit_status(channel)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return ExecResult(
            exitStatus: status, stdout: String(decoding: out, as: UTF8.self),
            stderr: String(decoding: err, as: UTF8.self), seconds: seconds)
    }

    /// libssh's error for this session, read on the thread that just failed.
    private func error(_ kind: SSHError.Kind, _ operation: String) -> SSHError {
        let raw = UnsafeMutableRawPointer(pointer)
        return SSHError(
            kind, code: ssh_get_error_code(raw), message: String(cString: ssh_get_error(raw)), operation: operation)
    }
}

/// Set from a task's cancellation handler, polled by a blocking loop on another thread.
final class CancelFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
