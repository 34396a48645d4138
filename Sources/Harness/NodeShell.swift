import Foundation
import Logging
import SSH

/// SSH to one node of a kept run, from another process than the one that booted it.
public struct NodeShell: Sendable {
    public let kept: KeptRun
    public let endpoint: NodeEndpoint
    public let logger: Logger

    public init(kept: KeptRun, endpoint: NodeEndpoint, logger: Logger) {
        self.kept = kept
        self.endpoint = endpoint
        self.logger = logger
    }

    public func exec(_ command: String, timeout: Double = 300) async throws -> ExecResult {
        let key = try SSHKey.load(privateKeyAt: kept.keyPath)
        do {
            let session = try await SSHSession.connect(
                host: "127.0.0.1", port: endpoint.sshPort, key: key,
                pinnedHostKey: endpoint.hostKey, timeout: 5)
            return try await session.exec(command, timeout: timeout)
        } catch let error as SSHError {
            throw HarnessError(
                .node,
                "\(endpoint.name) of run \(kept.runID): SSH failed (is the cluster still up? `harness up --keep` starts one)",
                cause: error)
        }
    }
}
