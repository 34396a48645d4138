import Foundation
import XCTest

@testable import Nix

final class NixFailureTests: XCTestCase {
    func testUndefinedOption() {
        let f = NixFailure.classify(
            """
            warning: the group 'nixbld' specified in 'build-users-group' does not exist
            error: The option `services.chainfire.joinAddr' does not exist. Definition values:
                   - In `/nix/store/q9sk0lja5ks6i43hq8cccjvz7awfb60w-source/nix/test-cluster/node02.nix': "10.66.0.11:2380"
            (use '--show-trace' to show detailed location information)
            """)
        XCTAssertEqual(f.kind, .undefinedOption)
        XCTAssertEqual(f.subject, "services.chainfire.joinAddr")
        XCTAssertEqual(f.location, SourceLocation(file: "nix/test-cluster/node02.nix", line: nil))
        XCTAssertTrue(f.headline.hasPrefix("error: The option `services.chainfire.joinAddr' does not exist."))
        XCTAssertFalse(f.evidence.contains("nixbld"))
        XCTAssertFalse(f.evidence.contains("--show-trace"))
    }

    func testMissingAttributeWithLocation() {
        let f = NixFailure.classify(
            """
            error: attribute 'flaredb' missing

                   at /nix/store/q9sk0lja5ks6i43hq8cccjvz7awfb60w-source/nix/modules/creditservice.nix:5:13:

                        4|   cfg = config.services.creditservice;
                        5|   flaredb = config.services.flaredb;
            """)
        XCTAssertEqual(f.kind, .missingAttribute)
        XCTAssertEqual(f.subject, "flaredb")
        XCTAssertEqual(f.location?.description, "nix/modules/creditservice.nix:5")
    }

    func testMissingPathInOldAndNewWording() {
        let old = NixFailure.classify(
            "error: getting status of '/nix/store/abc-source/docs': No such file or directory")
        XCTAssertEqual(old.kind, .missingPath)
        XCTAssertEqual(old.subject, "docs")
        let new = NixFailure.classify(
            "error: path '/nix/store/abc-source/docs/por/T036-vm-cluster-deployment/node01/configuration.nix' does not exist"
        )
        XCTAssertEqual(new.kind, .missingPath)
        XCTAssertEqual(new.subject, "docs/por/T036-vm-cluster-deployment/node01/configuration.nix")
    }

    func testSyntaxAndOther() {
        XCTAssertEqual(
            NixFailure.classify("error: syntax error, unexpected end of file\n       at /tmp/x/flake.nix:3:1:").kind,
            .syntax)
        let other = NixFailure.classify("error: infinite recursion encountered")
        XCTAssertEqual(other.kind, .other)
        XCTAssertNil(other.subject)
    }

    func testEvalCacheNoiseIsDropped() {
        let f = NixFailure.classify(
            "error (ignored): error: SQLite database '/root/.cache/nix/eval-cache-v2/x.sqlite' is busy\nerror: attribute 'flaredb' missing"
        )
        XCTAssertEqual(f.headline, "error: attribute 'flaredb' missing")
    }

    func testStorePathsBecomeRepositoryRelative() {
        XCTAssertEqual(
            SourceLocation.repositoryRelative("/nix/store/q9sk-source/nix/modules/x.nix"), "nix/modules/x.nix")
        XCTAssertEqual(SourceLocation.repositoryRelative("/tmp/x.nix"), "/tmp/x.nix")
    }

    /// Class 4: a failure's evidence is nix's error, not the warnings around it (a
    /// binary cache retried on a host without network, the lock file not written).
    func testWarningsStayOutOfEvidence() {
        let f = NixFailure.classify(
            """
            warning: error: unable to download 'https://cache.nixos.org/nix-cache-info': \
            Couldn't resolve host name (6); retrying in 251 ms
            warning: unable to download 'https://cache.nixos.org/nix-cache-info': Couldn't resolve host name (6)
            warning: not writing modified lock file of flake 'git+file:///tmp/x?dir=nix%2ftest-cluster':
            • Added input 'nixpkgs':
                'path:/work/main/Scenarios/targets/nixpkgs-standin?lastModified=1&narHash=sha256-x'
            error: attribute 'flaredb' missing

                   at /nix/store/q9sk-source/nix/modules/creditservice.nix:5:13:
            (use '--show-trace' to show detailed location information)
            """, status: 1)
        XCTAssertEqual(f.kind, .missingAttribute)
        XCTAssertTrue(f.evidence.hasPrefix("error: attribute 'flaredb' missing"), f.evidence)
        XCTAssertFalse(f.evidence.contains("warning"), f.evidence)
        XCTAssertFalse(f.evidence.contains("cache.nixos.org"), f.evidence)
        XCTAssertFalse(f.evidence.contains("Added input"), f.evidence)
        XCTAssertEqual(f.location?.description, "nix/modules/creditservice.nix:5")
    }

    /// Class 4: an error line that names a `path:/` flake is the error, not noise.
    func testErrorNamingAPathFlakeIsKept() {
        let line =
            "error: flake 'path:/tmp/noout' does not provide attribute "
            + "'packages.x86_64-linux.nixosConfigurations.node01', "
            + "'legacyPackages.x86_64-linux.nixosConfigurations.node01' or 'nixosConfigurations.node01'"
        let f = NixFailure.classify(line + "\n", status: 1)
        XCTAssertEqual(f.headline, line)
        XCTAssertEqual(f.evidence, line)
        XCTAssertEqual(f.kind, .missingOutput)
        XCTAssertEqual(f.subject, "packages.x86_64-linux.nixosConfigurations.node01")
    }

    /// Class 4: evidence is never empty, even when nix printed nothing or only warnings.
    func testEvidenceIsNeverEmpty() {
        let silent = NixFailure.classify("", status: 1)
        XCTAssertEqual(silent.headline, "nix exited 1 without an error message")
        XCTAssertEqual(silent.evidence, silent.headline)
        let warned = NixFailure.classify(
            "warning: unable to download 'https://cache.nixos.org/nix-cache-info'\n",
            status: 1)
        XCTAssertFalse(warned.headline.isEmpty)
        XCTAssertTrue(warned.evidence.hasPrefix("nix exited 1 without an error message"), warned.evidence)
    }

    /// Class 5: a path nix cannot read bare is percent-encoded, as `git+file:` inside a
    /// git repository (nix 2.8 decodes those) and `path:` elsewhere.
    func testFlakeReferencesEncodeSpacesAndNonASCII() throws {
        let plain = URL(fileURLWithPath: "/tmp/plain-dir_1.2")
        XCTAssertEqual(
            FlakeReference.local(plain, subdirectory: "nix/test-cluster"),
            "/tmp/plain-dir_1.2/nix/test-cluster")
        let base = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("phc-ref-\(UUID().uuidString.prefix(8))")
        let odd = base.appendingPathComponent("a dir ü☃#?%")
        let files = FileManager.default
        try files.createDirectory(at: odd.appendingPathComponent("nix/test-cluster"), withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: base) }
        let encoded = base.path + "/a%20dir%20%C3%BC%E2%98%83%23%3F%25"
        XCTAssertEqual(FlakeReference.local(odd), "path:" + encoded)
        XCTAssertEqual(FlakeReference.path(odd.path), "path:" + encoded)
        try files.createDirectory(at: odd.appendingPathComponent(".git"), withIntermediateDirectories: true)
        XCTAssertEqual(FlakeReference.local(odd), "git+file://" + encoded)
        XCTAssertEqual(
            FlakeReference.local(odd, subdirectory: "nix/test-cluster"),
            "git+file://\(encoded)?dir=nix/test-cluster")
        XCTAssertEqual(FlakeReference.local(odd.appendingPathComponent("nix")), "git+file://\(encoded)?dir=nix")
    }
}
