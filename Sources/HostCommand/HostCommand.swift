import Foundation

/// Why a host program could not be run to completion.
public struct HostCommandError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable { case notInstalled, cannotStart, timeout, exitStatus }
    public let kind: Kind
    public let command: String
    public let message: String

    public var description: String { message }
}

/// A host program run to completion with a bound, e.g. `qemu-img`, `nix`.
public struct HostCommand: Sendable {
    public struct Output: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public let seconds: Double
    }

    public let executable: String
    public let arguments: [String]
    public var environment: [String: String]? = nil
    public var currentDirectory: URL? = nil

    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        currentDirectory: URL? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.currentDirectory = currentDirectory
    }

    public var commandLine: String { ([executable] + arguments).map(Self.shellQuote).joined(separator: " ") }

    /// How long `run` still reads the pipes after the command exited: a grandchild it
    /// left behind may hold them open. Then the group is ended.
    static let exitGrace = 1.0
    /// SIGTERM to SIGKILL, for the group of a command that timed out or was cancelled.
    static let killGrace = 2.0

    /// Runs the command in a process group of its own; past `timeout` seconds, or when the
    /// task is cancelled, the whole group is ended (SIGTERM, then SIGKILL) and a `.timeout`
    /// error names the command. Whatever the command leaves in its group is ended when it
    /// exits, so nothing it started outlives `run`, and no pipe it left open holds `run`.
    public func run(timeout: Double, stdin: Data? = nil) async throws -> Output {
        guard let path = Self.resolve(executable) else {
            throw HostCommandError(
                kind: .notInstalled, command: commandLine,
                message: "`\(executable)` is not installed or not on PATH")
        }
        let start = ContinuousClock.now
        let pipes = try ChildPipes(stdin: stdin, command: commandLine)
        let child = try ChildProcess.spawn(
            path, arguments, environment: environment,
            currentDirectory: currentDirectory?.path, stdin: pipes.childStdin,
            stdout: .descriptor(pipes.childStdout),
            stderr: .descriptor(pipes.childStderr))
        pipes.closeChildEnds()
        async let streams = pipes.drain()
        let exited = await child.waitForExit(within: timeout)
        let status: Int32, output: (stdout: String, stderr: String)
        if exited {
            pipes.stop(after: Self.exitGrace)
            output = await streams
            status = await child.terminateGroup(grace: Self.killGrace)
        } else {
            status = await child.terminateGroup(grace: Self.killGrace)
            // The group is gone: what is left in the pipes comes at once, unless a process
            // that left the group holds them.
            pipes.stop(after: 0.5)
            output = await streams
        }
        guard exited else {
            if Task.isCancelled { throw CancellationError() }
            throw HostCommandError(
                kind: .timeout, command: commandLine,
                message: "`\(commandLine)` did not finish within \(Int(timeout)) s\n"
                    + Self.tail(output.stderr + output.stdout))
        }
        return Output(
            status: status, stdout: output.stdout, stderr: output.stderr,
            seconds: (ContinuousClock.now - start).seconds)
    }

    /// Runs and demands exit status 0.
    @discardableResult
    public func succeed(timeout: Double) async throws -> Output {
        let out = try await run(timeout: timeout)
        guard out.status == 0 else {
            throw HostCommandError(
                kind: .exitStatus, command: commandLine,
                message: "`\(commandLine)` exited \(out.status):\n"
                    + Self.tail(out.stderr + out.stdout))
        }
        return out
    }

    public static func tail(_ text: String, lines: Int = 15) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    public static func resolve(_ executable: String) -> String? {
        if executable.contains("/") {
            return FileManager.default.isExecutableFile(atPath: executable) ? executable : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let dirs: [String] = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        for dir in dirs {
            let candidate = "\(dir)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    public static func shellQuote(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@+".contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension Duration {
    /// The duration in seconds, for reports and timeouts given as Double.
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
