import Foundation
import Nix

/// This checkout of the harness: where the miniature, its fixes, the nixpkgs
/// stand-in and the ledgers are.
public struct HarnessHome: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    public var scenarios: URL { root.appendingPathComponent("Scenarios") }
    public var miniature: URL { scenarios.appendingPathComponent("targets/miniature") }
    public var fixes: URL { scenarios.appendingPathComponent("targets/miniature-fixes") }
    public var nixpkgsStandIn: URL { scenarios.appendingPathComponent("targets/nixpkgs-standin") }
    public var defaultLedger: URL { scenarios.appendingPathComponent("ledgers/photoncloud-2026-03-02.json") }

    /// `PHOTONCLOUD_HARNESS_HOME`, else the nearest ancestor of the running binary or
    /// of the working directory that holds the miniature.
    public static func locate() throws -> HarnessHome {
        if let env = ProcessInfo.processInfo.environment["PHOTONCLOUD_HARNESS_HOME"], !env.isEmpty {
            let home = HarnessHome(root: URL(fileURLWithPath: env))
            guard home.isComplete else {
                throw FindingsError(
                    .environment,
                    "PHOTONCLOUD_HARNESS_HOME=\(env) is not a harness checkout (no Scenarios/targets/miniature)")
            }
            return home
        }
        let starts = [
            URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent(),
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
        ]
        for start in starts {
            var dir = start
            while dir.path != "/" {
                let home = HarnessHome(root: dir)
                if home.isComplete { return home }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw FindingsError(
            .environment,
            "cannot find the harness checkout (Scenarios/targets/miniature): run from it, or set PHOTONCLOUD_HARNESS_HOME"
        )
    }

    /// The stand-in's `guest-tools` input: the tools Images/guest-tools/build.sh
    /// made, locked by their recorded narHash (nix then finds them in the store
    /// instead of hashing them on every evaluation), or, before they are built, an
    /// empty directory: evaluation needs no tools, only building does.
    public var guestToolsReference: String {
        struct Built: Decodable { let path: String; let narHash: String }
        let state =
            ProcessInfo.processInfo.environment["PHOTONCLOUD_HARNESS_STATE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "/var/lib/photoncloud-harness"
        let manifest = URL(fileURLWithPath: state).appendingPathComponent("images/guest-tools.json")
        if let data = try? Data(contentsOf: manifest), let built = try? JSONDecoder().decode(Built.self, from: data),
            FileManager.default.fileExists(atPath: built.path)
        {
            return FlakeReference.path(built.path) + "?narHash=\(Self.queryEscaped(built.narHash))"
        }
        return FlakeReference.path(nixpkgsStandIn.appendingPathComponent(Self.absentGuestTools).path)
    }

    /// The stand-in's empty `guest-tools` directory, used until the tools are built.
    public static let absentGuestTools = "guest-tools-absent"

    static func queryEscaped(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? value
    }

    var isComplete: Bool {
        FileManager.default.fileExists(atPath: miniature.appendingPathComponent("flake.nix").path)
    }

    /// The fixes shipped for the miniature, by finding id (`<ID>.patch`; the variants in
    /// `after-<ID>/` are not fixes of their own).
    public func availableFixes() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixes.path)) ?? []
        return names.filter { $0.hasSuffix(".patch") }.map { String($0.dropLast(".patch".count)) }.sorted()
    }
}
