import Foundation

/// Where the harness keeps images and per-run files on this host. Root-owned and
/// world-traversable: QEMU runs as libvirt-qemu and must reach kernels and disks.
/// `PHOTONCLOUD_HARNESS_STATE` moves it (default `/var/lib/photoncloud-harness`).
/// Harnesses with different state directories share the host's libvirtd: the reaper
/// tells runs apart by what each libvirt object records, not by this directory.
public struct StateDirectory: Sendable {
    public let root: URL

    public init(root: URL? = nil) {
        if let root {
            self.root = root
        } else if let env = ProcessInfo.processInfo.environment["PHOTONCLOUD_HARNESS_STATE"], !env.isEmpty {
            self.root = URL(fileURLWithPath: env)
        } else {
            self.root = URL(fileURLWithPath: "/var/lib/photoncloud-harness")
        }
    }

    public var images: URL { root.appendingPathComponent("images") }
    public var runs: URL { root.appendingPathComponent("runs") }

    public var reports: URL { root.appendingPathComponent("reports") }

    public func runDirectory(_ id: RunID) -> URL { runs.appendingPathComponent(id.prefix) }

    /// The run whose `run.lock` is `lockPath`, when that run's directory is one of
    /// ours (`runs/phc-…/run.lock`): only those may this harness delete files of.
    public func run(ownedBy lockPath: String) -> RunID? {
        let lock = URL(fileURLWithPath: lockPath)
        let directory = lock.deletingLastPathComponent()
        guard lock.lastPathComponent == "run.lock", let run = RunID(prefix: directory.lastPathComponent) else {
            return nil
        }
        let resolve = { (url: URL) in url.standardizedFileURL.resolvingSymlinksInPath().path }
        return resolve(directory.deletingLastPathComponent()) == resolve(runs) ? run : nil
    }

    /// A new report directory, `reports/<time>-<what>`. Reports are kept for reading
    /// after the run, so the oldest beyond the newest `keep` are removed here: they
    /// would otherwise pile up with every nightly run.
    public func newReportDirectory(_ what: String, keep: Int = 50) -> URL {
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let keys: [URLResourceKey] = [.contentModificationDateKey]
        let existing =
            (try? FileManager.default.contentsOfDirectory(at: reports, includingPropertiesForKeys: keys)) ?? []
        let oldestFirst = existing.sorted {
            let a = (try? $0.resourceValues(forKeys: Set(keys)).contentModificationDate) ?? .distantPast
            let b = (try? $1.resourceValues(forKeys: Set(keys)).contentModificationDate) ?? .distantPast
            return a < b
        }
        for old in oldestFirst.dropLast(max(0, keep - 1)) { try? FileManager.default.removeItem(at: old) }
        return reports.appendingPathComponent("\(stamp)-\(what)")
    }
}
