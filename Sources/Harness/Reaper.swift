import Foundation
import Libvirt
import Logging

/// Removes what dead runs left behind: domains, networks and run directories. Every
/// harness on the host shares one libvirtd, whatever its state directory
/// (`PHOTONCLOUD_HARNESS_STATE`), so it removes only what it can prove dead:
/// - a `phc-` domain or network records its run's lock and the boot it was made in
///   (`RunOwner`); it is dead when that lock is free (its process is gone, even by
///   SIGKILL) or the host has rebooted since. A missing lock or directory proves
///   nothing: a live run may hold a lock whose file was deleted.
/// - an object without that record (an older harness's, or someone else's) is left,
///   and logged with how to remove it by hand;
/// - a run directory is removed only from this state directory, when its lock is free.
/// A run kept with `--keep` is left until `harness down`, and then only by a harness
/// with the same state directory: its files are there.
public struct Reaper: Sendable {
    public let connection: Connection
    public let state: StateDirectory
    public let logger: Logger
    /// Only objects whose names start with this are considered: tests narrow it to their own.
    public let namePrefix: String

    public init(connection: Connection, state: StateDirectory, logger: Logger, namePrefix: String = RunID.namespace) {
        self.connection = connection
        self.state = state
        self.logger = logger
        self.namePrefix = namePrefix
    }

    public struct Reaped: Sendable {
        public var runs: [RunID] = []
        public var domains: [String] = []
        public var networks: [String] = []
        public var tables: [String] = []
        public var skippedKept: [RunID] = []
        /// Objects left because nothing proves them dead, with why and how to remove them by hand.
        public var left: [String: String] = [:]
    }

    private struct Objects {
        var domains: [Domain] = []
        var networks: [Network] = []
        /// nftables tables (bridge family) holding the run's partitions.
        var tables: [String] = []
        var names: [String] { domains.map(\.name) + networks.map(\.name) + tables }
    }

    /// Reaps dead runs; with `includeKept`, this state directory's kept ones too (that is `harness down`).
    @discardableResult
    public func reap(includeKept: Bool = false) async throws -> Reaped {
        let bootID = try HostBoot.id()
        var reaped = Reaped()
        var left: [(name: String, why: String)] = []

        var owned: [RunOwner: Objects] = [:]
        for domain in try await connection.allDomains() where domain.name.hasPrefix(namePrefix) {
            let xml: String
            do { xml = try await domain.xmlDescription() } catch let error as LibvirtError where error.isNoDomain {
                continue  // gone meanwhile
            }
            if let owner = RunOwner(readingXML: xml) {
                owned[owner, default: Objects()].domains.append(domain)
            } else {
                left.append(
                    (
                        domain.name,
                        "it records no harness run (made by an older harness, or not by one), "
                            + "so nothing proves it dead; if it is a leftover: \(handRemoval(domain: domain.name))"
                    ))
            }
        }
        for network in try await connection.allNetworks() where network.name.hasPrefix(namePrefix) {
            let xml: String
            do { xml = try await network.xmlDescription() } catch let error as LibvirtError where error.isNoNetwork {
                continue
            }
            if let owner = RunOwner(readingXML: xml) {
                owned[owner, default: Objects()].networks.append(network)
            } else {
                left.append(
                    (
                        network.name,
                        "it records no harness run (made by an older harness, or not by one), "
                            + "so nothing proves it dead; if it is a leftover: \(handRemoval(network: network.name))"
                    ))
            }
        }

        // The runs' bridge firewalls: `phc_<hex>` for `phc-<hex>`.
        let tablePrefix = "phc_" + namePrefix.dropFirst(min(4, namePrefix.count))
        for (table, owner) in try await BridgeFirewall.tables() where table.hasPrefix(tablePrefix) {
            if let owner {
                owned[owner, default: Objects()].tables.append(table)
            } else {
                left.append(
                    (
                        table,
                        "it records no harness run, so nothing proves it dead; if it is a leftover: "
                            + "`nft delete table bridge \(table)`"
                    ))
            }
        }

        var handled = Set<RunID>()
        for (owner, objects) in owned.sorted(by: { $0.key.lockPath < $1.key.lockPath }) {
            let ours = state.run(ownedBy: owner.lockPath)
            if let ours { handled.insert(ours) }
            let runDirectory = URL(fileURLWithPath: owner.lockPath).deletingLastPathComponent()
            let run =
                ours ?? RunID(prefix: runDirectory.lastPathComponent)
                ?? objects.names.lazy.compactMap(RunID.init(owning:)).first
            let label = run?.prefix ?? owner.lockPath
            // Held until its objects are gone, so a concurrent reaper leaves them alone meanwhile.
            let lock: RunLock?
            switch RunLock.probe(owner.lockPath) {
            case .held:
                logger.debug("left a live run's objects", metadata: ["run": "\(label)", "lock": "\(owner.lockPath)"])
                continue
            case .free(let taken):
                lock = taken
            case .unknown(let why) where owner.bootID == bootID:
                // A table whose run directory, in our own state directory, is gone: only a
                // teardown or a reaper holding the free lock removes those, so its run is over.
                if objects.domains.isEmpty && objects.networks.isEmpty,
                    let run = RunID(prefix: runDirectory.lastPathComponent),
                    runDirectory.path == state.runDirectory(run).path,
                    !FileManager.default.fileExists(atPath: runDirectory.path)
                {
                    for table in objects.tables { try await BridgeFirewall.delete(table) }
                    reaped.tables += objects.tables
                    logger.info("reaped the bridge rules of \(label): its run directory is gone")
                    continue
                }
                for table in objects.tables {
                    left.append(
                        (
                            table,
                            "\(why), and the host has not rebooted since its run began, so nothing "
                                + "proves that run dead; if it is: `nft delete table bridge \(table)`"
                        ))
                }
                for domain in objects.domains {
                    left.append(
                        (
                            domain.name,
                            "\(why), and the host has not rebooted since its run began, so nothing "
                                + "proves that run dead; if it is: \(handRemoval(domain: domain.name))"
                        ))
                }
                for network in objects.networks {
                    left.append(
                        (
                            network.name,
                            "\(why), and the host has not rebooted since its run began, so nothing "
                                + "proves that run dead; if it is: \(handRemoval(network: network.name))"
                        ))
                }
                continue
            case .unknown:
                lock = nil  // made before the host last booted: its run cannot be alive
            }
            if KeptRun.isKept(runDirectory) {
                if !includeKept {
                    if let run { reaped.skippedKept.append(run) }
                    continue
                }
                guard ours != nil else {
                    let root = runDirectory.deletingLastPathComponent().deletingLastPathComponent().path
                    for name in objects.names {
                        left.append(
                            (
                                name,
                                "its run was kept (--keep) by a harness with another state directory; "
                                    + "`PHOTONCLOUD_HARNESS_STATE='\(root)' harness down` removes it"
                            ))
                    }
                    continue
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for domain in objects.domains {
                    group.addTask {
                        try await domain.destroy(); try await domain.undefineIfPersistent()
                    }
                }
                try await group.waitForAll()
            }
            reaped.domains += objects.domains.map(\.name)
            for network in objects.networks { try await network.remove() }
            reaped.networks += objects.networks.map(\.name)
            for table in objects.tables { try await BridgeFirewall.delete(table) }
            reaped.tables += objects.tables
            // Files only in our own state directory: a record names a path, it does not make it ours.
            if let ours { try? FileManager.default.removeItem(at: state.runDirectory(ours)) }
            withExtendedLifetime(lock) {}
            if let run { reaped.runs.append(run) }
            logger.info(
                "reaped leftovers of \(label)",
                metadata: [
                    "domains": "\(objects.domains.count)", "networks": "\(objects.networks.count)",
                    "tables": "\(objects.tables.count)",
                    "why": "\(owner.bootID == bootID ? "its lock is free" : "the host has rebooted since")",
                ])
        }

        // Run directories of this state directory that no libvirt object named.
        let names = (try? FileManager.default.contentsOfDirectory(atPath: state.runs.path)) ?? []
        let unnamed = names.compactMap(RunID.init(prefix:)).filter { !handled.contains($0) }
        for run in unnamed.sorted(by: { $0.prefix < $1.prefix }) {
            let dir = state.runDirectory(run)
            guard let lock = try RunLock(path: dir.appendingPathComponent("run.lock").path) else { continue }  // alive
            if KeptRun.isKept(dir), !includeKept {
                reaped.skippedKept.append(run)
                continue
            }
            try? FileManager.default.removeItem(at: dir)
            withExtendedLifetime(lock) {}
            reaped.runs.append(run)
            logger.info("reaped the run directory of \(run)")
        }

        // A live run's teardown may have removed an object since it was listed: only what is still there counts.
        if !left.isEmpty {
            let present = Set(
                try await connection.allDomains().map(\.name) + connection.allNetworks().map(\.name)
                    + BridgeFirewall.tables().map(\.name))
            for (name, why) in left where present.contains(name) {
                reaped.left[name] = why
                logger.warning("left \(name): \(why)")
            }
        }
        return reaped
    }

    private func handRemoval(domain name: String) -> String {
        "`virsh -c \(connection.uri) destroy \(name)` (and `undefine \(name)` if it is persistent)"
    }

    private func handRemoval(network name: String) -> String {
        "`virsh -c \(connection.uri) net-destroy \(name)` (and `net-undefine \(name)` if it is persistent)"
    }
}
