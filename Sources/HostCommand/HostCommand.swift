import Blocking
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

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, currentDirectory: URL? = nil) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.currentDirectory = currentDirectory
    }

    public var commandLine: String { ([executable] + arguments).map(Self.shellQuote).joined(separator: " ") }

    /// Runs the command; past `timeout` seconds the process is killed and a
    /// `.timeout` error names the command. Cancellation kills it too.
    public func run(timeout: Double, stdin: Data? = nil) async throws -> Output {
        guard let path = Self.resolve(executable) else {
            throw HostCommandError(kind: .notInstalled, command: commandLine, message: "`\(executable)` is not installed or not on PATH")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = stdin == nil ? FileHandle.nullDevice : inPipe
        let start = Date()
        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { p in
            exited.continuation.yield(p.terminationStatus)
            exited.continuation.finish()
        }
        do { try process.run() } catch {
            throw HostCommandError(kind: .cannotStart, command: commandLine, message: "cannot start \(commandLine): \(error)")
        }
        if let stdin {
            try? inPipe.fileHandleForWriting.write(contentsOf: stdin)
            try? inPipe.fileHandleForWriting.close()
        }
        // Drain both pipes concurrently so a chatty child never blocks on a full pipe.
        async let out = Self.readAll(outPipe.fileHandleForReading)
        async let err = Self.readAll(errPipe.fileHandleForReading)
        let status: Int32? = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { for await s in exited.stream { return s }; return nil }
            group.addTask {
                try? await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if status == nil {
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
        }
        let stdout = await out, stderr = await err
        guard let status else {
            if Task.isCancelled { throw CancellationError() }
            throw HostCommandError(kind: .timeout, command: commandLine,
                                   message: "`\(commandLine)` did not finish within \(Int(timeout)) s\n" + Self.tail(stderr + stdout))
        }
        return Output(status: status, stdout: stdout, stderr: stderr, seconds: Date().timeIntervalSince(start))
    }

    /// Runs and demands exit status 0.
    @discardableResult
    public func succeed(timeout: Double) async throws -> Output {
        let out = try await run(timeout: timeout)
        guard out.status == 0 else {
            throw HostCommandError(kind: .exitStatus, command: commandLine,
                                   message: "`\(commandLine)` exited \(out.status):\n" + Self.tail(out.stderr + out.stdout))
        }
        return out
    }

    /// Reads to EOF on a Dispatch thread: a blocking read on the cooperative pool
    /// (two threads on this host) would starve every other task, timeouts included.
    static func readAll(_ handle: FileHandle) async -> String {
        (try? await runBlocking { String(decoding: handle.readDataToEndOfFile(), as: UTF8.self) }) ?? ""
    }

    public static func tail(_ text: String, lines: Int = 15) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    public static func resolve(_ executable: String) -> String? {
        if executable.contains("/") { return FileManager.default.isExecutableFile(atPath: executable) ? executable : nil }
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
