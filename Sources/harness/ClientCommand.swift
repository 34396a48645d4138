import ArgumentParser
import Dispatch
import Foundation
import Workloads

/// The built-in client behind the JSON-lines contract (docs/client-contract.md): what a
/// checkout's client program must do, done with the miniature's etcd gateway client.
struct ClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Speak the client contract in JSON lines on stdin and stdout to an etcd v3 JSON gateway.",
        discussion: """
            The reference for a checkout's client (docs/client-contract.md): one JSON request a line on stdin \
            ({"id":1,"op":"put","key":"k","value":"v"}), one reply a line on stdout, in any order, matched by id. \
            Requests are served concurrently. Ends at EOF on stdin.
            """)
    @Argument(help: "The store's client URL, e.g. http://127.0.0.1:2379.") var endpoint: String
    @Option(help: "Seconds each request may take before its outcome is unknown.") var timeout: Double = 5

    func validate() throws {
        guard let url = URL(string: endpoint), url.scheme == "http", url.host != nil, url.port != nil else {
            throw ValidationError("the endpoint must be http://HOST:PORT, not `\(endpoint)`")
        }
        guard timeout.isFinite, timeout > 0 else { throw ValidationError("--timeout must be more than 0 seconds") }
    }

    func run() async throws {
        let client = EtcdGatewayClient(endpoint: URL(string: endpoint)!, timeout: timeout)
        let requests = AsyncStream<String> { continuation in
            DispatchQueue.global().async {
                while let line = readLine() { continuation.yield(line) }
                continuation.finish()
            }
        }
        let output = ReplyWriter()
        await withTaskGroup(of: Void.self) { group in
            for await line in requests where !line.isEmpty {
                group.addTask {
                    let reply = await JSONLinesServer.answer(Data(line.utf8), with: client)
                    output.write(reply)
                }
            }
        }
    }
}

/// Replies to stdout, a whole line at a time.
final class ReplyWriter: Sendable {
    private let lock = NSLock()
    func write(_ reply: Data) { lock.withLock { FileHandle.standardOutput.write(reply + Data([0x0A])) } }
}
