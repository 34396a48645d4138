import Foundation
import HostCommand
import Nix

/// The monorepo checkout the checks run against: a user's, or a prepared copy of
/// the miniature with some of its fixes applied.
public struct Target: Sendable {
    public let root: URL
    /// What to call it in reports.
    public let name: String
    /// How the flakes' inputs are redirected (the miniature's nixpkgs stand-in).
    public let overrides: [InputOverride]
    /// Fixes applied to the miniature, by finding id.
    public let fixes: [String]
    /// The shipped miniature (as opposed to a user's checkout).
    public let isMiniature: Bool

    /// The flake reference of `subdirectory` (e.g. `nix/test-cluster`) of this target.
    public func flake(_ subdirectory: String = "") -> String {
        subdirectory.isEmpty ? root.path : root.appendingPathComponent(subdirectory).path
    }

    public func file(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    public func text(_ relative: String) -> String? {
        try? String(contentsOf: file(relative), encoding: .utf8)
    }

    /// A user's checkout. It must be a directory with a flake.nix.
    public static func checkout(_ path: String, overrides: [InputOverride] = []) throws -> Target {
        var isDir: ObjCBool = false
        let url = URL(fileURLWithPath: path).standardizedFileURL
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
            throw FindingsError(.badTarget, "--repo \(path): no such directory; give the path of a PhotonCloud monorepo checkout")
        }
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("flake.nix").path) else {
            throw FindingsError(.badTarget, "--repo \(path) is not a PhotonCloud checkout: it has no flake.nix at its top")
        }
        return Target(root: url, name: url.path, overrides: overrides, fixes: [], isMiniature: false)
    }

    /// A copy of the miniature with `fixes` applied, as a git repository (so
    /// `./nix/test-cluster` may import `../modules`, as in the real monorepo), its
    /// nixpkgs input redirected to the stand-in, and the stand-in's lib to `lib`
    /// when given (e.g. a checkout of nix-community/nixpkgs.lib). Copies are cached
    /// by content: preparing one costs more than the evaluation it serves.
    public static func miniature(home: HarnessHome, fixes: [String] = [], lib: String? = nil) async throws -> Target {
        let available = home.availableFixes()
        for fix in fixes where !available.contains(fix) {
            throw FindingsError(.badTarget, "no fix for `\(fix)` in \(home.fixes.path); fixes: \(available.joined(separator: ", "))")
        }
        let patches = fixes.map { home.fixes.appendingPathComponent("\($0).patch") }
        let key = ContentKey.of(directory: home.miniature, extraFiles: patches, salt: fixes.joined(separator: ","))
        let cache = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("photoncloud-harness-miniature")
        let root = cache.appendingPathComponent(key).appendingPathComponent("photoncloud")
        if !FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path) {
            try await prepareCopy(of: home.miniature, patches: patches, fixes: fixes, in: cache, key: key)
        }
        let libRef = lib.map { "path:" + URL(fileURLWithPath: $0).standardizedFileURL.path }
            ?? "path:" + home.nixpkgsStandIn.appendingPathComponent("lib").path
        return Target(
            root: root,
            name: fixes.isEmpty ? "miniature" : "miniature + fix \(fixes.joined(separator: ", "))",
            overrides: [InputOverride(input: "nixpkgs", reference: "path:" + home.nixpkgsStandIn.path),
                        InputOverride(input: "nixpkgs/nixpkgs-lib", reference: libRef),
                        InputOverride(input: "nixpkgs/guest-tools", reference: home.guestToolsReference)],
            fixes: fixes, isMiniature: true)
    }

    /// Builds the copy beside its final place and renames it in, so a concurrent
    /// run sees a whole copy or none.
    static func prepareCopy(of miniature: URL, patches: [URL], fixes: [String], in cache: URL, key: String) async throws {
        let staging = cache.appendingPathComponent(".\(key)-\(UUID().uuidString.prefix(8))")
        let root = staging.appendingPathComponent("photoncloud")
        defer { try? FileManager.default.removeItem(at: staging) }
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: miniature, to: root)
            let git = { (args: [String]) in
                HostCommand("git", ["-C", root.path, "-c", "user.name=harness", "-c", "user.email=harness@localhost",
                                    "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"] + args)
            }
            try await git(["init", "-q"]).succeed(timeout: 30)
            for patch in patches { try await git(["apply", patch.path]).succeed(timeout: 30) }
            try await git(["add", "-A"]).succeed(timeout: 30)
            try await git(["commit", "-q", "-m", fixes.isEmpty ? "miniature" : "miniature + fixes \(fixes.joined(separator: " "))"]).succeed(timeout: 30)
        } catch {
            throw FindingsError(.environment, "cannot prepare the miniature: \(error)")
        }
        // Losing the race to another run is fine: its copy is the same.
        try? FileManager.default.moveItem(at: staging, to: cache.appendingPathComponent(key))
    }

}

/// A 64-bit FNV-1a digest of a directory's paths and contents: a cache key, not a
/// security boundary.
enum ContentKey {
    static func of(directory: URL, extraFiles: [URL], salt: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for b in bytes { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        }
        let files = (FileManager.default.enumerator(atPath: directory.path)?.compactMap { $0 as? String } ?? []).sorted()
        for file in files {
            mix(file.utf8)
            if let data = FileManager.default.contents(atPath: directory.appendingPathComponent(file).path) { mix(data) }
        }
        for file in extraFiles { mix(file.lastPathComponent.utf8); mix(FileManager.default.contents(atPath: file.path) ?? Data()) }
        mix(salt.utf8)
        return String(format: "%016llx", hash)
    }
}
