import Foundation

/// Where the harness keeps images and per-run files on this host. Root-owned and
/// world-traversable: QEMU runs as libvirt-qemu and must reach kernels and disks.
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

    public func runDirectory(_ id: RunID) -> URL { runs.appendingPathComponent(id.prefix) }
}
