import Foundation

/// A cluster left up by `--keep`: its run directory, key and node endpoints.
public struct KeptRun: Sendable {
    public let runID: RunID
    public let directory: URL
    public let nodes: [NodeEndpoint]

    public var keyPath: String { directory.appendingPathComponent("id_ed25519").path }

    /// Whether the run in `directory` was left up with `--keep`: its `kept` marker,
    /// written while the run still held its lock.
    public static func isKept(_ directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent("kept").path)
    }

    /// The newest kept run, or the one named.
    public static func find(in state: StateDirectory, runID: String? = nil) throws -> KeptRun {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: state.runs.path)) ?? []
        let kept = names.compactMap(RunID.init(prefix:)).filter { isKept(state.runDirectory($0)) }
        let chosen: RunID
        if let runID {
            guard let match = kept.first(where: { $0.prefix == runID }) else {
                throw HarnessError(
                    .badInput,
                    "no kept run `\(runID)`; kept runs: \(kept.map(\.prefix).joined(separator: ", ").ifEmpty("none"))")
            }
            chosen = match
        } else {
            let byDate = kept.sorted {
                let a =
                    (try? state.runDirectory($0).appendingPathComponent("kept").resourceValues(forKeys: [
                        .contentModificationDateKey
                    ]).contentModificationDate) ?? .distantPast
                let b =
                    (try? state.runDirectory($1).appendingPathComponent("kept").resourceValues(forKeys: [
                        .contentModificationDateKey
                    ]).contentModificationDate) ?? .distantPast
                return a > b
            }
            guard let newest = byDate.first else {
                throw HarnessError(.badInput, "no cluster is up: start one with `harness up --nodes N --keep`")
            }
            chosen = newest
        }
        let dir = state.runDirectory(chosen)
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("nodes.json").path),
            let nodes = try? JSONDecoder().decode([NodeEndpoint].self, from: data)
        else {
            throw HarnessError(
                .environment, "kept run \(chosen) has no readable nodes.json: remove it with `harness down`")
        }
        return KeptRun(runID: chosen, directory: dir, nodes: nodes)
    }

    public func node(_ name: String) throws -> NodeEndpoint {
        guard let node = nodes.first(where: { $0.name == name }) else {
            throw HarnessError(
                .badInput, "unknown node `\(name)`: run \(runID) has \(nodes.map(\.name).joined(separator: ", "))")
        }
        return node
    }
}

extension String {
    /// `replacement` in place of an empty string, for messages and evidence.
    public func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
