import Foundation

/// The baseline beside a workload: the same protocol from the same host through the
/// same forwards, as a plain keep-alive loop (half reads, half puts) that records
/// nothing and checks nothing. What the cluster itself can take.
public struct BareLoad: Sendable {
    public var concurrency: Int
    public var duration: Double
    public var prefix: String

    public init(concurrency: Int, duration: Double, prefix: String) {
        self.concurrency = concurrency
        self.duration = duration
        self.prefix = prefix
    }

    /// Acknowledged operations per second.
    public func run(clients: [EtcdGatewayClient]) async -> Double {
        let end = ContinuousClock.now + .milliseconds(Int64(duration * 1000))
        let start = ContinuousClock.now
        let total = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<concurrency {
                let client = clients[worker % clients.count]
                let key = "\(prefix)/bare\(worker)"
                group.addTask {
                    var done = 0, i = 0
                    while ContinuousClock.now < end {
                        i += 1
                        if i % 2 == 0 {
                            if (try? await client.get(key)) != nil { done += 1 }
                        } else if (try? await client.put(key, "\(i)")) != nil {
                            done += 1
                        }
                    }
                    return done
                }
            }
            return await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        return Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
