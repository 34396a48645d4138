import Foundation
import Libvirt
import Logging
import SSH

/// What every node of one run shares. Immutable once the run has started.
struct RunContext: Sendable {
    let runID: RunID
    let directory: URL
    let image: any GuestImage
    let accelerator: DomainXML.Accelerator
    let connection: Connection
    let key: SSHKey
    let publicKey: String
    let networkName: String
    let nodes: [NodeSpec]
    let logger: Logger

    var timeoutScale: Double { AcceleratorProbe.timeoutScale(accelerator) }
}
