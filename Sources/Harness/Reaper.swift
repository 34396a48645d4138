import Foundation
import Libvirt
import Logging

/// Removes what runs left behind: domains, networks and run directories whose
/// owning process is gone (its run.lock is free). A run marked kept (`--keep`)
/// is left alone until `harness down`.
public struct Reaper: Sendable {
    public let connection: Connection
    public let state: StateDirectory
    public let logger: Logger

    public init(connection: Connection, state: StateDirectory, logger: Logger) {
        self.connection = connection
        self.state = state
        self.logger = logger
    }

    public struct Reaped: Sendable {
        public var runs: [RunID] = []
        public var domains: [String] = []
        public var networks: [String] = []
        public var skippedKept: [RunID] = []
    }

    /// Reaps dead runs; with `includeKept`, kept ones too (that is `harness down`).
    @discardableResult
    public func reap(includeKept: Bool = false) async throws -> Reaped {
        let domains = try await connection.allDomains()
        let networks = try await connection.allNetworks()
        var runs = Set(domains.compactMap { RunID(owning: $0.name) } + networks.compactMap { RunID(owning: $0.name) })
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: state.runs.path)) ?? []
        runs.formUnion(dirs.compactMap { RunID(prefix: $0) })

        var reaped = Reaped()
        for run in runs.sorted(by: { $0.prefix < $1.prefix }) {
            let dir = state.runDirectory(run)
            var lock: RunLock?
            if FileManager.default.fileExists(atPath: dir.path) {
                guard let taken = try RunLock(path: dir.appendingPathComponent("run.lock").path) else { continue }  // alive
                lock = taken
                if !includeKept, FileManager.default.fileExists(atPath: dir.appendingPathComponent("kept").path) {
                    reaped.skippedKept.append(run)
                    continue
                }
            }
            let mine = domains.filter { RunID(owning: $0.name) == run }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for domain in mine { group.addTask { try await domain.destroy(); try await domain.undefineIfPersistent() } }
                try await group.waitForAll()
            }
            reaped.domains += mine.map(\.name)
            for network in networks where RunID(owning: network.name) == run {
                try await network.remove()
                reaped.networks.append(network.name)
            }
            try? FileManager.default.removeItem(at: dir)
            // Held until here, so a concurrent reaper leaves this run alone meanwhile.
            withExtendedLifetime(lock) {}
            reaped.runs.append(run)
            logger.info("reaped leftovers of \(run)", metadata: ["domains": "\(mine.count)"])
        }
        return reaped
    }
}
