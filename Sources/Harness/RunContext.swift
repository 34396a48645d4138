import Foundation
import Libvirt
import Logging
import SSH

/// What every node of one run shares. Immutable once the run has started.
struct RunContext: Sendable {
    let runID: RunID
    let directory: URL
    /// The run's image; every domain it describes records `owner`.
    let image: any GuestImage
    /// The run's lock and this boot, recorded in each of its libvirt objects.
    let owner: RunOwner
    let accelerator: DomainXML.Accelerator
    let connection: Connection
    let key: SSHKey
    let publicKey: String
    let networkName: String
    let nodes: [NodeSpec]
    let logger: Logger

    init(
        runID: RunID, directory: URL, image: any GuestImage, owner: RunOwner, accelerator: DomainXML.Accelerator,
        connection: Connection, key: SSHKey, publicKey: String, networkName: String, nodes: [NodeSpec],
        logger: Logger
    ) {
        self.runID = runID
        self.directory = directory
        self.image = OwnedImage(base: image, owner: owner)
        self.owner = owner
        self.accelerator = accelerator
        self.connection = connection
        self.key = key
        self.publicKey = publicKey
        self.networkName = networkName
        self.nodes = nodes
        self.logger = logger
    }

    var timeoutScale: Double { AcceleratorProbe.timeoutScale(accelerator) }
}

/// A run's image with the run recorded in every domain it describes: so a reaper,
/// whatever its state directory, removes the domain only once this run is dead.
struct OwnedImage: GuestImage {
    let base: any GuestImage
    let owner: RunOwner

    var probeKernel: String { base.probeKernel }

    func prepare(_ node: NodeSpec, in run: GuestRun) async throws { try await base.prepare(node, in: run) }

    func domainXML(for node: NodeSpec, in run: GuestRun, sshPort: Int) throws -> DomainXML {
        var xml = try base.domainXML(for: node, in: run, sshPort: sshPort)
        xml.owner = owner
        return xml
    }

    func qemuArguments(for node: NodeSpec, in run: GuestRun, sshPort: Int) throws -> [String] {
        try base.qemuArguments(for: node, in: run, sshPort: sshPort)
    }
}
