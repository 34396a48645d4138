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
    /// Removed when the check is done (the miniature's work copy).
    let scratch: URL?

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
        return Target(root: url, name: url.path, overrides: overrides, fixes: [], scratch: nil)
    }

    /// A fresh copy of the miniature with `fixes` applied, as a git repository (so
    /// `./nix/test-cluster` may import `../modules`, as in the real monorepo), its
    /// nixpkgs input redirected to the stand-in, and the stand-in's lib to `lib`
    /// when given (e.g. a checkout of nix-community/nixpkgs.lib).
    public static func miniature(home: HarnessHome, fixes: [String] = [], lib: String? = nil) async throws -> Target {
        let available = home.availableFixes()
        for fix in fixes where !available.contains(fix) {
            throw FindingsError(.badTarget, "no fix for `\(fix)` in \(home.fixes.path); fixes: \(available.joined(separator: ", "))")
        }
        let scratch = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("phc-miniature-\(UUID().uuidString.prefix(8))")
        let root = scratch.appendingPathComponent("photoncloud")
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: home.miniature, to: root)
            let git = { (args: [String]) in
                HostCommand("git", ["-C", root.path, "-c", "user.name=harness", "-c", "user.email=harness@localhost",
                                    "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"] + args)
            }
            try await git(["init", "-q"]).succeed(timeout: 30)
            for fix in fixes {
                try await git(["apply", home.fixes.appendingPathComponent("\(fix).patch").path]).succeed(timeout: 30)
            }
            try await git(["add", "-A"]).succeed(timeout: 30)
            try await git(["commit", "-q", "-m", fixes.isEmpty ? "miniature" : "miniature + fixes \(fixes.joined(separator: " "))"]).succeed(timeout: 30)
        } catch {
            try? FileManager.default.removeItem(at: scratch)
            throw FindingsError(.environment, "cannot prepare the miniature: \(error)")
        }
        let libRef = lib.map { "path:" + URL(fileURLWithPath: $0).standardizedFileURL.path }
            ?? "path:" + home.nixpkgsStandIn.appendingPathComponent("lib").path
        return Target(
            root: root,
            name: fixes.isEmpty ? "miniature" : "miniature + fix \(fixes.joined(separator: ", "))",
            overrides: [InputOverride(input: "nixpkgs", reference: "path:" + home.nixpkgsStandIn.path),
                        InputOverride(input: "nixpkgs/nixpkgs-lib", reference: libRef)],
            fixes: fixes, scratch: scratch)
    }

    /// Removes the miniature's work copy; a user's checkout is never touched.
    public func cleanUp() {
        if let scratch { try? FileManager.default.removeItem(at: scratch) }
    }
}
