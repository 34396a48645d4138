import Blocking
import Foundation
import Glibc
import Synchronization

/// A long-running child spoken to in lines: each `send` writes one line to its stdin,
/// `lines` yields each line of its stdout as it comes, and ends at EOF (the child exited
/// or closed it). Its stderr goes where the caller says. The only owner of its pipes;
/// `terminate` (or deinit) ends its process group.
public final class LineProcess: Sendable {
    public let process: ChildProcess
    private let stdinWrite: Int32
    private let stdoutRead: Int32
    private let closed = Mutex(false)
    /// Set once `lines` has started its reader, which then owns (and closes) stdout's pipe.
    private let reading = Mutex(false)
    /// One write at a time, so lines never interleave.
    private let writing = DispatchQueue(label: "LineProcess.send")

    public init(_ path: String, _ arguments: [String], stderr: ChildProcess.Stream = .null) throws {
        let command = ([path] + arguments).map(HostCommand.shellQuote).joined(separator: " ")
        let input = try ChildPipes.pipe(command: command)
        let output: (read: Int32, write: Int32)
        do { output = try ChildPipes.pipe(command: command) } catch {
            [input.read, input.write].forEach { _ = Glibc.close($0) }
            throw error
        }
        do {
            process = try ChildProcess.spawn(
                path, arguments, stdin: .descriptor(input.read), stdout: .descriptor(output.write), stderr: stderr)
        } catch {
            [input.read, input.write, output.read, output.write].forEach { _ = Glibc.close($0) }
            throw error
        }
        _ = Glibc.close(input.read)
        _ = Glibc.close(output.write)
        stdinWrite = input.write
        stdoutRead = output.read
    }

    deinit {
        _ = Glibc.close(stdinWrite)
        if !reading.withLock({ $0 }) { _ = Glibc.close(stdoutRead) }
    }

    /// Writes `line` and a newline; false when the child no longer reads (it exited).
    public func send(_ line: Data) async -> Bool {
        guard !closed.withLock({ $0 }) else { return false }
        let bytes = [UInt8](line) + [0x0A]
        let fd = stdinWrite
        return
            (try? await runBlocking(on: writing) {
                var written = 0
                while written < bytes.count {
                    let n = bytes.withUnsafeBytes {
                        ChildPipes.writeWithoutSIGPIPE(fd, $0.baseAddress! + written, $0.count - written)
                    }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { return false }
                    written += n
                }
                return true
            }) ?? false
    }

    /// The child's stdout, a line at a time (without the newline), until EOF. Read on a
    /// Dispatch thread: `read` blocks. Only the first call gets the lines.
    public func lines() -> AsyncStream<Data> {
        let fd = stdoutRead
        guard
            reading.withLock({ started in
                defer { started = true }; return !started
            })
        else {
            return AsyncStream { $0.finish() }
        }
        return AsyncStream { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                var pending = Data()
                var buffer = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let n = read(fd, &buffer, buffer.count)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    pending.append(contentsOf: buffer[..<n])
                    while let newline = pending.firstIndex(of: 0x0A) {
                        continuation.yield(Data(pending[pending.startIndex..<newline]))
                        pending.removeSubrange(pending.startIndex...newline)
                    }
                }
                if !pending.isEmpty { continuation.yield(pending) }
                _ = Glibc.close(fd)
                continuation.finish()
            }
        }
    }

    /// Ends the child's process group (SIGTERM, then SIGKILL) and reaps it.
    public func terminate() async {
        closed.withLock { $0 = true }
        await process.terminateGroup()
    }
}
