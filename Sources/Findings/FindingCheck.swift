import Foundation
import Nix

/// Decides one finding on one target.
public protocol FindingCheck: Sendable {
    var id: String { get }
    func decide(on target: Target, nix: Nix) async throws -> Verdict
}

/// The checks that need no booted nodes, by finding id.
public enum EvaluationChecks {
    public static let all: [any FindingCheck] = [
        MissingNodeDefinitionsCheck(), DiskoLayoutCheck(), DeployerWiringCheck(),
        UndeclaredOptionCheck(), UnimportedModuleCheck(), ClusterConfigDriftCheck(), DisabledChecksCheck(),
    ]

    public static func check(for id: String) -> (any FindingCheck)? { all.first { $0.id == id } }
}

/// Lines of a target's files, for static evidence with file:line.
struct TextSearch {
    let target: Target

    func lines(in relative: String, where match: (String) -> Bool) -> [(location: SourceLocation, text: String)] {
        guard let text = target.text(relative) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { i, line in
            match(String(line))
                ? (SourceLocation(file: relative, line: i + 1), line.trimmingCharacters(in: .whitespaces)) : nil
        }
    }

    /// Every file under `directory` whose name ends in one of `suffixes`, relative to the target.
    func files(under directory: String, suffixes: [String]) -> [String] {
        let base = target.file(directory)
        guard let walker = FileManager.default.enumerator(atPath: base.path) else { return [] }
        return walker.compactMap { $0 as? String }.filter { name in suffixes.contains { name.hasSuffix($0) } }
            .map { directory.isEmpty ? $0 : "\(directory)/\($0)" }.sorted()
    }

    func evidence(_ hits: [(location: SourceLocation, text: String)], command: String? = nil) -> [Evidence] {
        hits.enumerated().map {
            Evidence(command: $0.offset == 0 ? command : nil, excerpt: $0.element.text, location: $0.element.location)
        }
    }
}

extension Nix.Result {
    /// This evaluation as evidence: the command, then nix's verdict.
    var evidence: Evidence {
        if let failure {
            return Evidence(
                command: command, excerpt: failure.evidence.split(separator: "\n").prefix(8).joined(separator: "\n"),
                location: failure.location)
        }
        return Evidence(command: command, excerpt: String((json ?? "").prefix(300)))
    }
}

/// Evaluates `nixosConfigurations.NODE.config.system.build.toplevel.drvPath`, the
/// attribute the investigation used.
func evaluateToplevel(_ node: String, flake: String, target: Target, nix: Nix) async throws -> Nix.Result {
    try await nix.eval(
        "\(flake)#nixosConfigurations.\(node).config.system.build.toplevel.drvPath", overrides: target.overrides)
}
