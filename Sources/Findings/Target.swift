import Foundation
import Glibc
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
    /// Fixes applied to the miniature, by finding id, in catalog order without repeats.
    public let fixes: [String]
    /// The shipped miniature (as opposed to a user's checkout).
    public let isMiniature: Bool

    /// The flake reference of `subdirectory` (e.g. `nix/test-cluster`) of this target:
    /// its path as nix reads it, percent-encoded when the path has spaces or non-ASCII.
    public func flake(_ subdirectory: String = "") -> String {
        FlakeReference.local(root, subdirectory: subdirectory)
    }

    public func file(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    public func text(_ relative: String) -> String? {
        try? String(contentsOf: file(relative), encoding: .utf8)
    }

    /// A user's checkout. It must be a directory with a flake.nix. `origin` names where
    /// the path came from in messages (`--repo`, `PHOTONCLOUD_REPO`).
    public static func checkout(
        _ path: String, overrides: [InputOverride] = [],
        origin: String = "--repo"
    ) throws -> Target {
        guard !path.isEmpty else {
            throw FindingsError(.badTarget, "\(origin) is empty; give the path of a PhotonCloud monorepo checkout")
        }
        var isDir: ObjCBool = false
        let url = URL(fileURLWithPath: path).standardizedFileURL
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue else {
            throw FindingsError(
                .badTarget,
                "\(origin) \(path): no such directory; give the path of a PhotonCloud "
                    + "monorepo checkout")
        }
        guard FileManager.default.fileExists(atPath: url.appendingPathComponent("flake.nix").path) else {
            throw FindingsError(
                .badTarget,
                "\(origin) \(path) is not a PhotonCloud checkout: it has no flake.nix "
                    + "at its top")
        }
        return Target(root: url, name: url.path, overrides: overrides, fixes: [], isMiniature: false)
    }

    /// Where copies of the miniature are kept: `$TMPDIR/photoncloud-harness-miniature`.
    public static var defaultCache: URL {
        URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("photoncloud-harness-miniature")
    }

    /// A copy of the miniature with `fixes` applied, as a git repository (so
    /// `./nix/test-cluster` may import `../modules`, as in the real monorepo), its
    /// nixpkgs input redirected to the stand-in, and the stand-in's lib to `lib`
    /// when given (e.g. a checkout of nix-community/nixpkgs.lib). Copies are cached
    /// by content in `cache`: preparing one costs more than the evaluation it serves.
    /// `fixes` may repeat ids or use lower case; an unknown one is named.
    public static func miniature(
        home: HarnessHome, fixes: [String] = [], lib: String? = nil,
        cache: URL = Target.defaultCache
    ) async throws -> Target {
        let plan = try FixPlan(home: home, fixes: fixes)
        let key = ContentKey.of(
            directory: home.miniature, extraFiles: plan.patches,
            salt: plan.ids.joined(separator: ","))
        try Staging.prepare(cache)
        // Copies a killed run left half-made (its lock died with it).
        Staging.sweep(cache)
        let root = cache.appendingPathComponent(key).appendingPathComponent("photoncloud")
        if !FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path) {
            try await prepareCopy(of: home.miniature, plan: plan, in: cache, key: key)
        }
        let libRef = FlakeReference.path(
            lib.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
                ?? home.nixpkgsStandIn.appendingPathComponent("lib").path)
        return Target(
            root: root,
            name: plan.ids.isEmpty ? "miniature" : "miniature + fix \(plan.ids.joined(separator: ", "))",
            overrides: [
                InputOverride(input: "nixpkgs", reference: FlakeReference.path(home.nixpkgsStandIn.path)),
                InputOverride(input: "nixpkgs/nixpkgs-lib", reference: libRef),
                InputOverride(input: "nixpkgs/guest-tools", reference: home.guestToolsReference),
                // Every input is a local path: no evaluation waits on a binary cache.
                .noSubstitutes,
            ],
            fixes: plan.ids, isMiniature: true)
    }

    /// Builds the copy in a locked staging directory beside its final place and renames
    /// it in, so a concurrent run sees a whole copy or none. A cancelled run removes its
    /// staging directory; a killed one leaves it unlocked for the next run to remove.
    static func prepareCopy(of miniature: URL, plan: FixPlan, in cache: URL, key: String) async throws {
        try Task.checkCancellation()
        let staging = try Staging(in: cache, key: key)
        defer { staging.remove() }
        let root = staging.url.appendingPathComponent("photoncloud")
        do {
            try FileManager.default.copyItem(at: miniature, to: root)
        } catch {
            throw FindingsError(
                .environment,
                FileProblem.describe(error, "copy the miniature into \(staging.url.path)"))
        }
        let git = { (args: [String]) in
            HostCommand(
                "git",
                [
                    "-C", root.path, "-c", "user.name=harness", "-c", "user.email=harness@localhost",
                    "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                ] + args)
        }
        do {
            try await git(["init", "-q"]).succeed(timeout: 30)
            var applied: [String] = []
            for (id, patch) in zip(plan.order, plan.patches) {
                let out = try await git(["apply", patch.path]).run(timeout: 30)
                guard out.status == 0 else {
                    let said = out.stderr + out.stdout
                    // A full or read-only TMPDIR is not the patch's fault.
                    if FileProblem.knownError(in: said) != nil {
                        throw FindingsError(.environment, FileProblem.describeCommand(said, in: staging.url.path))
                    }
                    throw FindingsError(
                        .environment, FixPlan.applyFailure(id, patch: patch, after: applied, output: said))
                }
                applied.append(id)
            }
            try await git(["add", "-A"]).succeed(timeout: 30)
            let message = plan.ids.isEmpty ? "miniature" : "miniature + fixes \(plan.ids.joined(separator: " "))"
            try await git(["commit", "-q", "-m", message]).succeed(timeout: 30)
        } catch let error as CancellationError {
            throw error
        } catch let error as FindingsError {
            throw error
        } catch {
            throw FindingsError(.environment, FileProblem.describeCommand("\(error)", in: staging.url.path))
        }
        // Losing the race to another run is fine: its copy is the same.
        staging.finish(as: cache.appendingPathComponent(key))
    }
}

/// The fixes to apply to the miniature: their ids in catalog order without repeats, and
/// the patches that make them up in the order they apply. Each `<ID>.patch` applies to
/// the broken tree; where two fixes change the same lines (F4.1 and F6 both edit the
/// generators' `leader_url`), `after-<OTHER>/<ID>.patch` is ID's fix written for the tree
/// with OTHER's fix, and applies after it instead of `<ID>.patch`.
public struct FixPlan: Sendable {
    public let ids: [String]
    /// The ids in the order their patches apply.
    public let order: [String]
    public let patches: [URL]

    public init(home: HarnessHome, fixes: [String]) throws {
        var ids: [String] = []
        for raw in fixes {
            let given = raw.trimmingCharacters(in: .whitespaces)
            guard !given.isEmpty else {
                throw FindingsError(
                    .unknownFinding,
                    "an empty fix id; give finding ids such as F5.1, separated "
                        + "by commas")
            }
            let id: String
            do { id = try Catalog.finding(given).id } catch {
                throw FindingsError(
                    .unknownFinding,
                    "unknown finding id `\(given)` among the fixes; the findings are "
                        + Catalog.ids.joined(separator: ", "))
            }
            if !ids.contains(id) { ids.append(id) }
        }
        let available = home.availableFixes()
        for id in ids where !available.contains(id) {
            throw FindingsError(
                .badTarget,
                "no fix for `\(id)` in \(home.fixes.path); fixes: "
                    + available.joined(separator: ", "))
        }
        ids.sort { Catalog.ids.firstIndex(of: $0)! < Catalog.ids.firstIndex(of: $1)! }
        let variant = { (base: String, id: String) in home.fixes.appendingPathComponent("after-\(base)/\(id).patch") }
        var bases: [String: String] = [:]
        for id in ids {
            let after = ids.filter { $0 != id && FileManager.default.fileExists(atPath: variant($0, id).path) }
            guard after.count <= 1 else {
                throw FindingsError(
                    .badTarget,
                    "fix \(id) has a variant for each of \(after.joined(separator: ", ")) "
                        + "but none for all of them: add one to \(home.fixes.path)")
            }
            bases[id] = after.first
        }
        var order: [String] = [], pending = ids
        while let next = pending.firstIndex(where: { bases[$0].map(order.contains) ?? true }) {
            order.append(pending.remove(at: next))
        }
        guard pending.isEmpty else {
            throw FindingsError(
                .badTarget,
                "the variants in \(home.fixes.path) of \(pending.joined(separator: ", ")) "
                    + "each need the other applied first")
        }
        self.ids = ids
        self.order = order
        self.patches = order.map { id in
            bases[id].map { variant($0, id) } ?? home.fixes.appendingPathComponent("\(id).patch")
        }
    }

    /// Why a patch did not apply, for whoever maintains the fixes.
    static func applyFailure(_ id: String, patch: URL, after applied: [String], output: String) -> String {
        let said = output.split(separator: "\n").prefix(4).joined(separator: "; ")
        let onto = applied.isEmpty ? "to the miniature" : "after the fixes of \(applied.joined(separator: ", "))"
        return "the fix of \(id) (\(patch.path)) does not apply \(onto): git apply says: \(said). "
            + (applied.isEmpty
                ? "Regenerate it against Scenarios/targets/miniature."
                : "Two fixes that change the same lines need a variant of one written for the tree "
                    + "with the other, in after-<ID>/ beside it.")
    }
}

/// A staging directory for one copy, locked (flock) while its maker lives. It is made
/// under a name the sweep ignores, locked, then renamed, so the sweep never sees it
/// unlocked while its maker works on it.
final class Staging {
    static let prefix = ".staging-"
    let url: URL
    private var descriptor: Int32

    init(in cache: URL, key: String) throws {
        let name = "\(Self.prefix)\(key)-\(UUID().uuidString.prefix(8))"
        let making = cache.appendingPathComponent(name + ".new")
        do { try FileManager.default.createDirectory(at: making, withIntermediateDirectories: false) } catch {
            throw FindingsError(
                .environment,
                FileProblem.describe(error, "create a staging directory in \(cache.path)"))
        }
        descriptor = open(making.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        url = cache.appendingPathComponent(name)
        guard descriptor >= 0, flock(descriptor, LOCK_EX) == 0, rename(making.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if descriptor >= 0 { close(descriptor) }
            try? FileManager.default.removeItem(at: making)
            throw FindingsError(.environment, "cannot lock the staging directory \(making.path): \(reason)")
        }
    }

    /// Renames the copy into place; a copy already there (another run's) is kept.
    func finish(as final: URL) {
        _ = rename(url.path, final.path)
    }

    /// Removes what is left (nothing after `finish`) and drops the lock.
    func remove() {
        try? FileManager.default.removeItem(at: url)
        if descriptor >= 0 { close(descriptor); descriptor = -1 }
    }

    deinit { remove() }

    /// Checks that the copies can live in `cache`, and makes it.
    static func prepare(_ cache: URL) throws {
        let parent = cache.deletingLastPathComponent()
        let isTMPDIR = cache == Target.defaultCache
        let name = isTMPDIR ? "TMPDIR (\(parent.path))" : parent.path
        let advice =
            isTMPDIR
            ? "set TMPDIR to a writable directory, or unset it to use /tmp"
            : "give a writable directory"
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent.path, isDirectory: &isDir) else {
            throw FindingsError(
                .environment,
                "\(name) does not exist; the miniature's copies are made there: "
                    + "create it, or \(advice)")
        }
        guard isDir.boolValue else {
            throw FindingsError(
                .environment,
                "\(name) is a file, not a directory; the miniature's copies are made "
                    + "there: \(advice)")
        }
        do { try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true) } catch {
            throw FindingsError(.environment, FileProblem.describe(error, "create \(cache.path)"))
        }
    }

    /// Removes the staging directories whose makers are gone: their lock is free (a
    /// lock dies with its process, however it ended). Locked ones and anything else
    /// (a directory still being made, an older harness's) are left alone.
    static func sweep(_ cache: URL) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []
        for name in names where name.hasPrefix(prefix) && !name.hasSuffix(".new") {
            let path = cache.appendingPathComponent(name).path
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { try? FileManager.default.removeItem(atPath: path) }
            close(fd)
        }
    }
}

/// File-system errors as sentences: what failed, on which path, why, and what to do
/// (Foundation's own say `NSCocoaErrorDomain Code=640`).
enum FileProblem {
    static func describe(_ error: any Error, _ what: String) -> String {
        let ns = error as NSError
        let path = ns.userInfo["NSDestinationFilePath"] as? String ?? ns.userInfo[NSFilePathErrorKey] as? String
        let on = path.map { " (\($0))" } ?? ""
        guard let code = posixCode(error) else { return "cannot \(what)\(on): \(ns.localizedDescription)" }
        return "cannot \(what)\(on): \(String(cString: strerror(code)))\(advice(code))"
    }

    /// The errno behind a Foundation error: its underlying POSIX error, else what its
    /// Cocoa code stands for.
    static func posixCode(_ error: any Error) -> Int32? {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return Int32(ns.code) }
        if let underlying = (ns.userInfo[NSUnderlyingErrorKey] as? any Error).map({ $0 as NSError }),
            underlying.domain == NSPOSIXErrorDomain
        {
            return Int32(underlying.code)
        }
        switch (error as? CocoaError)?.code {
        case .fileWriteOutOfSpace?: return ENOSPC
        case .fileWriteNoPermission?, .fileReadNoPermission?: return EACCES
        case .fileWriteVolumeReadOnly?: return EROFS
        case .fileNoSuchFile?, .fileReadNoSuchFile?: return ENOENT
        case .fileWriteFileExists?: return EEXIST
        default: return nil
        }
    }

    /// A host command (git) that failed while making a copy in `directory`, from what it said.
    static func describeCommand(_ text: String, in directory: String) -> String {
        guard let (code, words) = knownError(in: text) else {
            return "cannot prepare the miniature's copy in \(directory): \(text)"
        }
        let said = text.split(separator: "\n").prefix(3).joined(separator: "; ")
        return "cannot prepare the miniature's copy in \(directory): \(words)\(advice(code)); git said: \(said)"
    }

    /// A file-system error named in a command's output.
    static func knownError(in text: String) -> (Int32, String)? {
        let known = [
            (ENOSPC, "No space left on device"), (EDQUOT, "Disk quota exceeded"),
            (EROFS, "Read-only file system"), (EACCES, "Permission denied"),
        ]
        return known.first { text.contains($0.1) }
    }

    static func advice(_ code: Int32) -> String {
        switch code {
        case ENOSPC, EDQUOT:
            "; free space there, or set TMPDIR to a directory on a file system with room (a copy "
                + "of the miniature takes about 1 MB)"
        case EACCES, EPERM, EROFS: "; set TMPDIR to a directory this user can write"
        case ENOTDIR: "; part of that path is a file: set TMPDIR to a directory"
        default: ""
        }
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
        let files = (FileManager.default.enumerator(atPath: directory.path)?.compactMap { $0 as? String } ?? [])
            .sorted()
        for file in files {
            mix(file.utf8)
            if let data = FileManager.default.contents(atPath: directory.appendingPathComponent(file).path) {
                mix(data)
            }
        }
        for file in extraFiles {
            mix(file.deletingLastPathComponent().lastPathComponent.utf8)
            mix(file.lastPathComponent.utf8)
            mix(FileManager.default.contents(atPath: file.path) ?? Data())
        }
        mix(salt.utf8)
        return String(format: "%016llx", hash)
    }
}
