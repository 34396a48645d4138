import Blocking
import Dispatch
import Foundation
import Glibc
import Synchronization

/// A host program started with `posix_spawn` in a process group of its own, with an
/// empty signal mask and default signal handlers: Foundation's `Process` passes on the
/// spawning Dispatch thread's mask (SIGTERM blocked) and the harness's ignored signals,
/// so its children shrug off SIGTERM. The only owner of the pid: the only thing that
/// signals the group and reaps the leader.
public final class ChildProcess: Sendable {
    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        case null
        /// Duplicated onto the child's stream; the caller keeps owning the descriptor.
        case descriptor(Int32)
        /// Opened by the child: read-only for stdin, created and truncated for stdout/stderr.
        case file(String)
    }

    /// The leader's pid, which is also the group's id.
    public let pid: pid_t
    public let commandLine: String
    private let exit: ExitLatch
    private let teardown = Mutex<Task<Int32, Never>?>(nil)

    private init(pid: pid_t, commandLine: String, exit: ExitLatch) {
        self.pid = pid
        self.commandLine = commandLine
        self.exit = exit
    }

    /// Starts `path` with `arguments`; `environment` nil inherits the harness's.
    public static func spawn(
        _ path: String, _ arguments: [String], environment: [String: String]? = nil,
        currentDirectory: String? = nil, stdin: Stream = .null, stdout: Stream = .null,
        stderr: Stream = .null
    ) throws -> ChildProcess {
        let commandLine = ([path] + arguments).map(HostCommand.shellQuote).joined(separator: " ")
        func failure(_ call: String, _ code: Int32) -> HostCommandError {
            HostCommandError(
                kind: .cannotStart, command: commandLine,
                message: "cannot start \(commandLine): \(call): \(String(cString: strerror(code)))")
        }
        var attributes = posix_spawnattr_t()
        var code = posix_spawnattr_init(&attributes)
        guard code == 0 else { throw failure("posix_spawnattr_init", code) }
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        let flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP
        for (call, result) in [
            ("posix_spawnattr_setsigmask", posix_spawnattr_setsigmask(&attributes, &none)),
            ("posix_spawnattr_setsigdefault", posix_spawnattr_setsigdefault(&attributes, &all)),
            ("posix_spawnattr_setpgroup", posix_spawnattr_setpgroup(&attributes, 0)),
            ("posix_spawnattr_setflags", posix_spawnattr_setflags(&attributes, Int16(flags))),
        ]
        where result != 0 { throw failure(call, result) }

        var actions = posix_spawn_file_actions_t()
        code = posix_spawn_file_actions_init(&actions)
        guard code == 0 else { throw failure("posix_spawn_file_actions_init", code) }
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            let mode = target == 0 ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC
            switch stream {
            case .null: code = posix_spawn_file_actions_addopen(&actions, target, "/dev/null", mode, 0)
            case .descriptor(let fd): code = posix_spawn_file_actions_adddup2(&actions, fd, target)
            case .file(let file): code = posix_spawn_file_actions_addopen(&actions, target, file, mode, 0o644)
            }
            guard code == 0 else { throw failure("posix_spawn_file_actions for fd \(target)", code) }
        }
        if let currentDirectory {
            guard let addchdir = LibC.addchdir else { throw failure("posix_spawn_file_actions_addchdir_np", ENOSYS) }
            code = addchdir(&actions, currentDirectory)
            guard code == 0 else { throw failure("posix_spawn_file_actions_addchdir_np(\(currentDirectory))", code) }
        }
        // No other descriptor of the harness (sockets, other children's pipes) leaks into the child.
        if let addclosefrom = LibC.addclosefrom {
            code = addclosefrom(&actions, 3)
            guard code == 0 else { throw failure("posix_spawn_file_actions_addclosefrom_np", code) }
        }

        let argv = CStrings([path] + arguments)
        let envp = environment.map { CStrings($0.map { "\($0.key)=\($0.value)" }) }
        var pid: pid_t = 0
        code = argv.withPointers { argvp in
            if let envp { return envp.withPointers { posix_spawn(&pid, path, &actions, &attributes, argvp, $0) } }
            return posix_spawn(&pid, path, &actions, &attributes, argvp, environ)
        }
        guard code == 0 else { throw failure("posix_spawn(\(path))", code) }

        let exit = ExitLatch(), leader = pid
        // Waits without reaping: the zombie leader keeps the pid, so the group id cannot
        // be reused while `terminateGroup` may still signal it.
        Task.detached {
            _ = try? await runBlocking {
                var info = siginfo_t()
                while waitid(P_PID, id_t(leader), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
            }
            exit.open()
        }
        return ChildProcess(pid: leader, commandLine: commandLine, exit: exit)
    }

    deinit {
        // Dropped without `terminateGroup` (a teardown path missed it): still leave nothing running.
        guard teardown.withLock({ $0 == nil }) else { return }
        let pid = pid
        kill(-pid, SIGKILL)
        Task.detached {
            _ = try? await runBlocking {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            }
        }
    }

    /// Whether the leader has exited (it may not be reaped yet).
    public var hasExited: Bool { exit.isOpen }

    /// Waits for the leader to exit: true when it did within `seconds`, false on time-out
    /// or when the task is cancelled. Neither kills it.
    public func waitForExit(within seconds: Double) async -> Bool {
        await exit.wait(within: seconds)
    }

    /// Ends the group and reaps the leader, on every path: a leader that has exited is
    /// reaped, and whatever it left in its group (a grandchild holding a pipe) is ended too;
    /// SIGTERM to the group, `grace` seconds, then SIGKILL. Returns the leader's exit status,
    /// or the number of the signal that ended it. Idempotent; a cancelled caller still gets
    /// the whole teardown.
    @discardableResult
    public func terminateGroup(grace: Double = 2) async -> Int32 {
        let (pid, exit) = (pid, exit)  // not self: the stored task must not keep self alive
        let task = teardown.withLock { task in
            if let task { return task }
            let new = Task { await Self.endGroup(pid, exit: exit, grace: grace) }
            task = new
            return new
        }
        return await task.value
    }

    private static func endGroup(_ pid: pid_t, exit: ExitLatch, grace: Double) async -> Int32 {
        var status: Int32? = exit.isOpen ? reap(pid) : nil
        if let status, !groupIsAlive(pid) { return status }
        let deadline = ContinuousClock.now + .seconds(grace)
        kill(-pid, SIGTERM)
        kill(-pid, SIGCONT)  // a stopped member acts on SIGTERM only once continued
        if status == nil, await exit.wait(within: grace) { status = reap(pid) }
        while ContinuousClock.now < deadline, groupIsAlive(pid) { await pause(0.05) }
        if status == nil || groupIsAlive(pid) { kill(-pid, SIGKILL) }
        if let status { return status }
        _ = await exit.wait(within: .infinity)  // SIGKILL cannot be ignored
        return reap(pid)
    }

    /// Reaps the exited leader; its exit code, or the signal that ended it (-1: already reaped).
    private static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return -1 }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    /// Whether a process that is not a zombie is still in the group. Zombies are not
    /// counted: orphans are reparented to PID 1, which may not reap them (in a container).
    private static func groupIsAlive(_ pgid: pid_t) -> Bool {
        guard kill(-pgid, 0) == 0 else { return errno != ESRCH }
        return !liveMembers(ofGroup: pgid).isEmpty
    }

    /// The pids of processes in group `pgid` that are not zombies, from /proc.
    public static func liveMembers(ofGroup pgid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return nil }
            // After the command name: state, ppid, pgrp.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[2] == "\(pgid)", fields[0] != "Z", fields[0] != "X" else { return nil }
            return pid
        }
    }

    /// Sleeps without reacting to cancellation: a teardown must run to its end.
    static func pause(_ seconds: Double) async {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { continuation.resume() }
        }
    }
}

/// Opens once, when the leader has exited; waiters give up at their own time-out or
/// when their task is cancelled.
private final class ExitLatch: Sendable {
    private enum Slot { case reserved, cancelled, waiting(CheckedContinuation<Bool, Never>) }
    private struct State {
        var isOpen = false
        var next = 0
        var slots: [Int: Slot] = [:]
    }
    private let state = Mutex(State())

    var isOpen: Bool { state.withLock { $0.isOpen } }

    func open() {
        let waiting = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.isOpen = true
            var waiting: [CheckedContinuation<Bool, Never>] = []
            for (id, slot) in state.slots {
                if case .waiting(let continuation) = slot { waiting.append(continuation); state.slots[id] = nil }
            }
            return waiting
        }
        for continuation in waiting { continuation.resume(returning: true) }
    }

    func wait(within seconds: Double) async -> Bool {
        // The slot exists before the cancellation handler can run, so a cancellation that
        // comes before the continuation is registered is not lost.
        let id = state.withLock { state in
            state.next += 1
            state.slots[state.next] = .reserved
            return state.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now: Bool? = state.withLock { state in
                    if state.isOpen { state.slots[id] = nil; return true }
                    if case .cancelled = state.slots[id] { state.slots[id] = nil; return false }
                    state.slots[id] = .waiting(continuation)
                    return nil
                }
                if let now { return continuation.resume(returning: now) }
                if seconds.isFinite {
                    DispatchQueue.global().asyncAfter(deadline: .now() + max(0, seconds)) { self.giveUp(id) }
                }
            }
        } onCancel: {
            giveUp(id)
        }
    }

    private func giveUp(_ id: Int) {
        let continuation = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            switch state.slots[id] {
            case .reserved: state.slots[id] = .cancelled
            case .waiting(let c): state.slots[id] = nil; return c
            case .cancelled, nil: break
            }
            return nil
        }
        continuation?.resume(returning: false)
    }
}

/// glibc functions Swift's Glibc module does not declare (they need _GNU_SOURCE).
enum LibC {
    typealias Actions = UnsafeMutablePointer<posix_spawn_file_actions_t>
    typealias AddChdir = @convention(c) (Actions?, UnsafePointer<CChar>?) -> Int32
    typealias AddClosefrom = @convention(c) (Actions?, Int32) -> Int32
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32

    /// glibc 2.29+.
    static let addchdir = symbol("posix_spawn_file_actions_addchdir_np", AddChdir.self)
    /// glibc 2.34+.
    static let addclosefrom = symbol("posix_spawn_file_actions_addclosefrom_np", AddClosefrom.self)
    static let pipe2 = symbol("pipe2", Pipe2.self)

    private static func symbol<T>(_ name: String, _ type: T.Type) -> T? {
        dlsym(nil, name).map { unsafeBitCast($0, to: type) }  // nil handle: RTLD_DEFAULT
    }
}

/// A NUL-terminated array of C strings, freed with it.
private final class CStrings {
    private var pointers: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String]) { pointers = strings.map { strdup($0) } + [nil] }
    deinit { pointers.forEach { free($0) } }

    func withPointers<R>(_ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// The pipes between `HostCommand.run` and its child: the only owner of their
/// descriptors. The child's ends are closed once it is started; `drain` reads stdout and
/// stderr and writes stdin until EOF or until `stop(after:)`'s deadline, then closes ours.
final class ChildPipes: Sendable {
    let childStdin: ChildProcess.Stream, childStdout: Int32, childStderr: Int32
    private let stdinWrite: Int32?, stdoutRead: Int32, stderrRead: Int32
    private let input: [UInt8]
    private let openDescriptors: Mutex<Set<Int32>>
    private let deadline = Mutex<ContinuousClock.Instant?>(nil)

    init(stdin: Data?, command: String) throws {
        var made: [Int32] = []
        func pipe() throws -> (read: Int32, write: Int32) {
            do {
                let fds = try Self.pipe(command: command)
                made += [fds.read, fds.write]
                return fds
            } catch {
                made.forEach { _ = Glibc.close($0) }
                throw error
            }
        }
        let out = try pipe(), err = try pipe()
        let inPipe = try stdin.map { _ in try pipe() }
        if let inPipe {
            // Ours never blocks: a child that does not read its stdin must not stall the drain.
            _ = fcntl(inPipe.write, F_SETFL, fcntl(inPipe.write, F_GETFL) | O_NONBLOCK)
        }
        childStdin = inPipe.map { .descriptor($0.read) } ?? .null
        childStdout = out.write
        childStderr = err.write
        stdinWrite = inPipe?.write
        stdoutRead = out.read
        stderrRead = err.read
        input = stdin.map { [UInt8]($0) } ?? []
        openDescriptors = Mutex(Set(made))
    }

    deinit { openDescriptors.withLock { $0.forEach { _ = Glibc.close($0) } } }

    /// A pipe, close-on-exec from the start, so a child spawned at the same time elsewhere
    /// cannot inherit it.
    static func pipe(command: String) throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard let pipe2 = LibC.pipe2, pipe2(&fds, O_CLOEXEC) == 0 else {
            let code = LibC.pipe2 == nil ? ENOSYS : errno
            let message = "cannot start \(command): pipe2: \(String(cString: strerror(code)))"
            throw HostCommandError(kind: .cannotStart, command: command, message: message)
        }
        return (fds[0], fds[1])
    }

    private func close(_ fd: Int32) {
        if openDescriptors.withLock({ $0.remove(fd) }) != nil { _ = Glibc.close(fd) }
    }

    /// Once the child has its copies: EOF on our ends then depends on the child alone.
    func closeChildEnds() {
        if case .descriptor(let fd) = childStdin { close(fd) }
        close(childStdout)
        close(childStderr)
    }

    /// Ends `drain` at `seconds` from now even if a pipe is still open (a grandchild holds it).
    func stop(after seconds: Double) {
        let at = ContinuousClock.now + .seconds(seconds)
        deadline.withLock { $0 = min($0 ?? at, at) }
    }

    /// Pumps the pipes on a Dispatch thread: poll is a blocking call.
    func drain() async -> (stdout: String, stderr: String) {
        let bytes = (try? await runBlocking { self.pump() }) ?? ([], [])
        return (String(decoding: bytes.0, as: UTF8.self), String(decoding: bytes.1, as: UTF8.self))
    }

    private func pump() -> ([UInt8], [UInt8]) {
        var out: [UInt8] = [], err: [UInt8] = []
        var open: [Int32] = [stdoutRead, stderrRead] + (stdinWrite.map { [$0] } ?? [])
        var written = 0
        if let stdinWrite, input.isEmpty { close(stdinWrite); open.removeAll { $0 == stdinWrite } }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !open.isEmpty {
            // Polls in short ticks, so a deadline set meanwhile is seen within 100 ms.
            var tick = 100
            if let deadline = deadline.withLock({ $0 }) {
                let left = deadline - ContinuousClock.now
                if left <= .zero { break }
                tick = min(tick, Int((left / .milliseconds(1)).rounded(.up)))
            }
            var fds = open.map { pollfd(fd: $0, events: Int16($0 == stdinWrite ? POLLOUT : POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(tick))
            if ready < 0 && errno != EINTR { break }
            for entry in fds where entry.revents != 0 {
                let fd = entry.fd
                var finished = false
                if fd == stdinWrite {
                    let n = input.withUnsafeBytes {
                        Self.writeWithoutSIGPIPE(fd, $0.baseAddress! + written, $0.count - written)
                    }
                    if n > 0 { written += n }
                    finished = written == input.count || (n < 0 && errno != EAGAIN && errno != EINTR)
                } else {
                    let n = read(fd, &buffer, buffer.count)
                    if n > 0 {
                        if fd == stdoutRead { out += buffer[..<n] } else { err += buffer[..<n] }
                    }
                    finished = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)
                }
                if finished { close(fd); open.removeAll { $0 == fd } }
            }
        }
        open.forEach(close)
        return (out, err)
    }

    /// A write to a pipe whose reader is gone raises SIGPIPE, which would end the harness:
    /// it is blocked on this thread for the write, and the one this write raised is consumed.
    static func writeWithoutSIGPIPE(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
        var pipeSignal = sigset_t(), previous = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        let n = write(fd, bytes, count)
        let code = errno
        if n < 0, code == EPIPE {
            var now = timespec()
            _ = sigtimedwait(&pipeSignal, nil, &now)
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        errno = code
        return n
    }
}
