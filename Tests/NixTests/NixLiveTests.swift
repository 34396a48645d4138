import Foundation
import HostCommand
import Logging
import XCTest

@testable import Nix

/// With the real nix: flake references to awkward paths, and evaluations that need
/// nothing from a binary cache not waiting on one.
final class NixLiveTests: XCTestCase {
    let logger = Logger(label: "nix-tests")

    func temporaryDirectory(_ name: String = "") throws -> URL {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("phc-nix-\(UUID().uuidString.prefix(8))\(name)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    /// Class 4: a locked local input that is not in the store yet made nix ask its binary
    /// cache first; without network that cost ~4.7 s of retries, and the retries were
    /// evidence. Here the cache is a port nobody listens on, so the test does not depend
    /// on this host's network.
    func testLocalInputDoesNotWaitOnABinaryCache() async throws {
        let nix = try await Nix.locate(logger: logger)
        let dir = try temporaryDirectory()
        try write(
            """
            { inputs.dep = { url = "path:/nonexistent"; flake = false; };
              outputs = { self, dep }: { v = builtins.readFile "${dep}/x"; missing = builtins.readFile "${dep}/y"; }; }
            """, to: dir.appendingPathComponent("flake/flake.nix"))
        setenv("NIX_CONFIG", "substituters = http://127.0.0.1:9\n", 1)
        defer { unsetenv("NIX_CONFIG") }

        // A fresh input each time: one already in the store is never substituted.
        func freshInput() async throws -> InputOverride {
            let dep = try temporaryDirectory("-dep")
            try write("content \(UUID().uuidString)\n", to: dep.appendingPathComponent("x"))
            let hash = try await HostCommand(nix.executable, Nix.features + ["hash", "path", dep.path])
                .succeed(timeout: 30)
            let narHash = hash.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
            let query = narHash.addingPercentEncoding(withAllowedCharacters: allowed)!
            return InputOverride(input: "dep", reference: FlakeReference.path(dep.path) + "?narHash=" + query)
        }
        let flake = dir.appendingPathComponent("flake").path
        let start = ContinuousClock.now
        let ok = try await nix.eval("\(flake)#v", overrides: [try await freshInput(), .noSubstitutes])
        let seconds = (ContinuousClock.now - start).seconds
        XCTAssertNil(ok.failure, ok.failure?.evidence ?? "")
        XCTAssertLessThan(seconds, 2.5, "an evaluation of local inputs waited on a binary cache")
        XCTAssertTrue(ok.command.contains("--option substitute false"), ok.command)

        let failed = try await nix.eval("\(flake)#missing", overrides: [try await freshInput(), .noSubstitutes])
        let evidence = try XCTUnwrap(failed.failure).evidence
        XCTAssertFalse(evidence.contains("127.0.0.1:9"), evidence)
        XCTAssertTrue(evidence.contains("/y"), evidence)

        // Without it nix does wait (2.8 here); the bound above is what the change buys.
        let control = ContinuousClock.now
        _ = try await nix.eval("\(flake)#v", overrides: [try await freshInput()])
        logger.info("with substitutes: \((ContinuousClock.now - control).seconds) s; without: \(seconds) s")
    }

    /// Class 5: flakes in a directory whose path has spaces and non-ASCII characters, in
    /// a git repository (a subdirectory flake importing `../`, as the test cluster does)
    /// and outside one.
    func testFlakesAtPathsWithSpacesAndNonASCII() async throws {
        let nix = try await Nix.locate(logger: logger)
        let repository = try temporaryDirectory(" a dir ü☃")
        try write(
            "{ outputs = { self }: { v = import ./lib/v.nix; }; }\n",
            to: repository.appendingPathComponent("flake.nix"))
        try write("\"ok\"\n", to: repository.appendingPathComponent("lib/v.nix"))
        try write(
            "{ outputs = { self }: { v = import ../../lib/v.nix; }; }\n",
            to: repository.appendingPathComponent("nix/test cluster/flake.nix"))
        let plain = try temporaryDirectory(" not git ü☃")
        try write("{ outputs = { self }: { v = \"ok\"; }; }\n", to: plain.appendingPathComponent("flake.nix"))
        // Before: the bare path.
        let bare = try await nix.eval("\(repository.path)#v")
        XCTAssertTrue(bare.failure?.headline.contains("is not a valid URL") ?? false, bare.failure?.evidence ?? "")

        let git = { (args: [String]) in
            HostCommand("git", ["-C", repository.path, "-c", "user.name=t", "-c", "user.email=t@t"] + args)
        }
        try await git(["init", "-q"]).succeed(timeout: 30)
        try await git(["add", "-A"]).succeed(timeout: 30)
        try await git(["commit", "-qm", "t"]).succeed(timeout: 30)
        let references = [
            FlakeReference.local(repository),
            FlakeReference.local(repository, subdirectory: "nix/test cluster"),
        ]
        for reference in references {
            let result = try await nix.eval("\(reference)#v")
            XCTAssertEqual(try result.decode(String.self), "ok", "\(reference): \(result.failure?.evidence ?? "")")
        }
        let metadata = try await nix.sourcePath(FlakeReference.local(repository))
        XCTAssertTrue((try metadata.decode(String.self)).hasPrefix("/nix/store/"))
        // A new commit is seen at once (nix 2.8 fetches such a URL like a remote repository,
        // and without tarball-ttl 0 reused the old fetch for an hour).
        try write("\"second\"\n", to: repository.appendingPathComponent("lib/v.nix"))
        try await git(["commit", "-qam", "second"]).succeed(timeout: 30)
        let second = try await nix.eval("\(FlakeReference.local(repository, subdirectory: "nix/test cluster"))#v")
        XCTAssertEqual(try second.decode(String.self), "second", second.failure?.evidence ?? "")

        // Outside git only `path:` can name it; nix decodes that from 2.10 on.
        let outside = try await nix.eval("\(FlakeReference.local(plain))#v")
        let parts = nix.version.split(separator: ".").compactMap { Int($0) }
        if parts.count >= 2, (parts[0], parts[1]) >= (2, 10) {
            XCTAssertEqual(try outside.decode(String.self), "ok", outside.failure?.evidence ?? "")
        } else {
            XCTAssertNotNil(outside.failure)
            XCTAssertFalse(outside.failure?.headline.contains("is not a valid URL") ?? true)
        }
    }
}

/// A nix that fails or prints garbage for its version is called broken, with what it said.
final class NixLocateTests: XCTestCase {
    func fake(_ script: String) throws -> String {
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "phc-nix-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("nix").path
        try "#!/bin/sh\n\(script)\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    func testABrokenNixIsNotCalledTooOld() async throws {
        for (script, expected) in [
            ("echo 'garbage output'", "printed no version: garbage output"),
            ("echo 'nix: cannot load libnixstore' >&2; exit 127", "exited 127: nix: cannot load libnixstore"),
        ] {
            do {
                _ = try await Nix.locate(try fake(script), logger: Logger(label: "nix-test"))
                XCTFail("accepted a nix that \(script)")
            } catch let error as NixError {
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
                XCTAssertFalse("\(error)".contains("too old"), "\(error)")
            }
        }
        do {
            _ = try await Nix.locate(try fake("echo 'nix (Nix) 2.3.16'"), logger: Logger(label: "nix-test"))
            XCTFail("accepted nix 2.3")
        } catch let error as NixError {
            XCTAssertTrue("\(error)".contains("nix 2.3.16 is too old"), "\(error)")
        }
    }
}
