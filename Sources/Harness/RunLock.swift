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

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// What a reaper learns from a lock file named in a libvirt object's metadata.
    public enum Probe: Sendable {
        /// Nobody holds it: the run's process is gone. Held by the caller until released.
        case free(RunLock)
        /// A live process holds it.
        case held
        /// It cannot tell: the file is gone (a live run may still hold it, unlinked) or
        /// is not a lock file. Why, in words.
        case unknown(String)
    }

    /// Tries the lock at `path` without creating it: a missing file proves nothing.
    public static func probe(_ path: String) -> Probe {
        guard path.hasPrefix("/") else { return .unknown("its lock path `\(path)` is not absolute") }
        // O_NONBLOCK: a FIFO put where a lock was must not hang the reaper.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { return .unknown("its lock \(path) cannot be opened: \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            return .unknown("its lock \(path) is not a regular file")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            close(fd)
            return error == EWOULDBLOCK ? .held : .unknown("flock(\(path)): \(String(cString: strerror(error)))")
        }
        return .free(RunLock(fd: fd, path: path))
    }
}

/// This boot of the host. Objects recorded under another boot id outlived their run
/// (a persistent domain or network, or a state directory kept across the reboot).
public enum HostBoot {
    public static let idPath = "/proc/sys/kernel/random/boot_id"

    public static func id() throws -> String {
        do {
            let id = try String(contentsOfFile: idPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !id.isEmpty else { throw HarnessError(.environment, "\(idPath) is empty") }
            return id
        } catch let error as HarnessError {
            throw error
        } catch {
            throw HarnessError(.environment, "cannot read the host's boot id from \(idPath)", cause: error)
        }
    }
}
