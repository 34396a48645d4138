import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive flock on a run's `run.lock`, held for as long as the run's process
/// lives. The kernel drops it when the process dies, even by SIGKILL, which is how
/// the reaper tells a live run from a killed one.
public final class RunLock: @unchecked Sendable {
    private let fd: Int32
    public let path: String

    /// Takes the lock, or returns nil when another live process holds it.
    public init?(path: String) throws {
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw HarnessError(.environment, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }
}
