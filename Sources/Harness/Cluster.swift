import Foundation
import HostCommand
import Libvirt
import Logging
import SSH

/// Options for bringing a cluster up.
public struct ClusterOptions: Sendable {
    public var nodes: [NodeSpec]
    public var state: StateDirectory
    /// Seconds a node may take from create to SSH, before scaling for TCG.
    public var bootTimeout: Double
    public var libvirtURI: String
    /// What the nodes boot; the fixture guest when nil.
    public var image: (any GuestImage)?
    /// The run's SSH key, when the image was made for it (a NixOS closure
    /// authorises it); a fresh one when nil.
    public var key: SSHKey?
    /// Nodes prepared but not started: they boot later (`Node.start`), as a new
    /// machine joining a running cluster does.
    public var deferred: Set<String>

    public init(
        nodes: [NodeSpec], state: StateDirectory = StateDirectory(), bootTimeout: Double = 40,
        libvirtURI: String = "qemu:///system", image: (any GuestImage)? = nil, key: SSHKey? = nil,
        deferred: Set<String> = []
    ) {
        self.nodes = nodes
        self.state = state
        self.bootTimeout = bootTimeout
        self.libvirtURI = libvirtURI
        self.image = image
        self.key = key
        self.deferred = deferred
    }
}

/// One run's nodes on their isolated cluster network. Everything it creates carries
/// the run's prefix and is removed by `teardown()`; if the process dies first, the
/// next run's `Reaper` removes it.
public final class Cluster: Sendable {
    public let runID: RunID
    public let directory: URL
    public let nodes: [Node]
    public let accelerator: DomainXML.Accelerator
    /// The run's partitions and packet loss, on the host's bridge.
    public let firewall: BridgeFirewall
    let context: RunContext
    let network: Network
    private let lock: RunLock

    private init(context: RunContext, network: Network, lock: RunLock, nodes: [Node]) {
        self.runID = context.runID
        self.directory = context.directory
        self.accelerator = context.accelerator
        self.context = context
        self.network = network
        self.lock = lock
        self.nodes = nodes
        self.firewall = BridgeFirewall(runID: context.runID, owner: context.owner, logger: context.logger)
    }

    public var logger: Logger { context.logger }
    public var timeoutScale: Double { context.timeoutScale }

    public func node(_ name: String) throws -> Node {
        guard let node = nodes.first(where: { $0.name == name }) else {
            throw HarnessError(
                .badInput, "unknown node `\(name)`: this run has \(nodes.map(\.name).joined(separator: ", "))")
        }
        return node
    }

    /// Opens libvirt with a message that says what to do when it is not there.
    public static func connect(uri: String) async throws -> Connection {
        do {
            return try await Connection.open(uri)
        } catch let error as LibvirtError {
            throw HarnessError(
                .environment,
                "cannot reach libvirtd at \(uri): is it running? `Images/setup.sh` installs and starts it", cause: error
            )
        }
    }

    /// Boots every node (but the deferred ones) in parallel and waits until each accepts SSH. On any error
    /// or cancellation, everything made so far is removed before the error is thrown.
    public static func boot(_ options: ClusterOptions, logger: Logger) async throws -> Cluster {
        guard !options.nodes.isEmpty, options.nodes.count <= NodeSpec.maxNodes else {
            throw HarnessError(.badInput, "a cluster has 1 to \(NodeSpec.maxNodes) nodes, not \(options.nodes.count)")
        }
        for spec in options.nodes { try spec.validate() }
        guard Set(options.nodes.map(\.name)).count == options.nodes.count else {
            throw HarnessError(.badInput, "node names repeat: \(options.nodes.map(\.name))")
        }
        let image = try options.image ?? FixtureImage.load(from: options.state)
        let connection = try await connect(uri: options.libvirtURI)
        try await Reaper(connection: connection, state: options.state, logger: logger).reap()
        let accelerator = await AcceleratorProbe.detect(kernel: image.probeKernel, state: options.state, logger: logger)

        let bootID = try HostBoot.id()
        let runID = RunID()
        let logger = {
            var l = logger; l[metadataKey: "run"] = "\(runID)"; return l
        }()
        let directory = options.state.runDirectory(runID)
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o755])
        guard let lock = try RunLock(path: directory.appendingPathComponent("run.lock").path) else {
            throw HarnessError(.environment, "run directory \(directory.path) is locked by another process")
        }
        // Recorded in every object of the run, so a reaper anywhere can prove it dead.
        let owner = RunOwner(lockPath: lock.path, bootID: bootID)
        let key = try options.key ?? SSHKey.generateEd25519()
        try key.write(privateKeyTo: directory.appendingPathComponent("id_ed25519").path)

        let networkName = runID.name("net")
        let network: Network
        do {
            let xml = NetworkXML(name: networkName, bridge: runID.bridgeName, owner: owner).render()
            network = try await connection.createNetwork(xml: xml)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw HarnessError(.environment, "cannot create the isolated cluster network", cause: error)
        }
        let context = RunContext(
            runID: runID, directory: directory, image: image, owner: owner, accelerator: accelerator,
            connection: connection, key: key, publicKey: try key.publicKeyBase64(), networkName: networkName,
            nodes: options.nodes, logger: logger)
        let cluster = Cluster(
            context: context, network: network, lock: lock,
            nodes: options.nodes.map { Node(spec: $0, context: context) })
        do {
            let timeout = options.bootTimeout * context.timeoutScale
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in cluster.nodes {
                    group.addTask {
                        try await node.prepare()
                        if options.deferred.contains(node.name) { return }
                        try await node.start()
                        try await node.waitForSSH(timeout: timeout)
                        logger.info("ready", metadata: ["node": "\(node.name)"])
                    }
                }
                try await group.waitForAll()
            }
        } catch {
            await cluster.teardown()
            throw error
        }
        return cluster
    }

    public struct TeardownTimes: Sendable {
        public var destroySeconds: [String: Double] = [:]
        public var totalSeconds: Double = 0
    }

    /// Removes every domain, the network, the overlays, the key and the run
    /// directory. Never throws: what it cannot remove is logged and left to the reaper.
    @discardableResult
    public func teardown() async -> TeardownTimes {
        let start = ContinuousClock.now
        var times = TeardownTimes()
        let logger = context.logger
        await withTaskGroup(of: (String, Double).self) { group in
            for node in nodes {
                group.addTask {
                    let t = ContinuousClock.now
                    do { try await node.destroy() } catch {
                        logger.error("destroy failed", metadata: ["node": "\(node.name)", "error": "\(error)"])
                    }
                    return (node.name, (ContinuousClock.now - t).seconds)
                }
            }
            for await (name, seconds) in group { times.destroySeconds[name] = seconds }
        }
        // Anything of this run's that a node no longer tracks (a half-made restart).
        if let leftovers = try? await context.connection.allDomains() {
            for domain in leftovers where RunID(owning: domain.name) == runID { try? await domain.destroy() }
        }
        do { try await network.remove() } catch {
            logger.error("network removal failed", metadata: ["error": "\(error)"])
        }
        do { try await firewall.clear() } catch {
            logger.error("bridge rules removal failed", metadata: ["table": "\(firewall.table)", "error": "\(error)"])
        }
        try? FileManager.default.removeItem(at: directory)
        times.totalSeconds = (ContinuousClock.now - start).seconds
        return times
    }

    /// Leaves the cluster running after this process exits; `harness down` removes it.
    public func markKept() async throws {
        var endpoints: [NodeEndpoint] = []
        // A deferred node that never started has no endpoint.
        for node in nodes where await node.sshPort != nil { endpoints.append(try await node.endpoint()) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(endpoints).write(to: directory.appendingPathComponent("nodes.json"))
        try Data().write(to: directory.appendingPathComponent("kept"))
    }

    /// Boots, runs `body`, and tears down whatever `body` did, including when it
    /// throws or the task is cancelled; with `keep`, a successful run stays up.
    public static func with<T: Sendable>(
        _ options: ClusterOptions, keep: Bool = false, logger: Logger,
        _ body: (Cluster) async throws -> T
    ) async throws -> T {
        let cluster = try await boot(options, logger: logger)
        do {
            let result = try await body(cluster)
            if keep { try await cluster.markKept() } else { await cluster.teardown() }
            return result
        } catch {
            if keep {
                try? await cluster.markKept()
                logger.warning(
                    "kept the cluster after a failure: `harness ssh NODE` to look, `harness down` to remove it")
            } else {
                await cluster.teardown()
            }
            throw error
        }
    }
}
