import Foundation
import Logging
import Synchronization

/// The run directory's harness.log: a sink that log handlers write to once a run
/// has a directory (logging is set up before any run exists).
public final class RunLogFile: Sendable {
    public static let shared = RunLogFile()
    private let handle = Mutex<FileHandle?>(nil)

    public func open(_ url: URL) {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let file = FileHandle(forWritingAtPath: url.path)
        handle.withLock { $0 = file }
    }

    public func close() {
        handle.withLock {
            try? $0?.close(); $0 = nil
        }
    }

    func write(_ line: String) {
        handle.withLock { try? $0?.write(contentsOf: Data(line.utf8)) }
    }

    /// A swift-log handler that writes to the current run's harness.log.
    public struct Handler: LogHandler {
        public var metadata: Logger.Metadata = [:]
        public var logLevel: Logger.Level = .debug
        let label: String

        public init(label: String) { self.label = label }

        public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        public func log(
            level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
            file: String, function: String, line: UInt
        ) {
            let all = self.metadata.merging(metadata ?? [:]) { $1 }
            let meta =
                all.isEmpty
                ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            RunLogFile.shared.write("\(ISO8601DateFormatter().string(from: Date())) \(level)\(meta) \(message)\n")
        }
    }
}
