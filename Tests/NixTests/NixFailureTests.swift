import XCTest
@testable import Nix

final class NixFailureTests: XCTestCase {
    func testUndefinedOption() {
        let f = NixFailure.classify("""
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
        let f = NixFailure.classify("""
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
        let old = NixFailure.classify("error: getting status of '/nix/store/abc-source/docs': No such file or directory")
        XCTAssertEqual(old.kind, .missingPath)
        XCTAssertEqual(old.subject, "docs")
        let new = NixFailure.classify("error: path '/nix/store/abc-source/docs/por/T036-vm-cluster-deployment/node01/configuration.nix' does not exist")
        XCTAssertEqual(new.kind, .missingPath)
        XCTAssertEqual(new.subject, "docs/por/T036-vm-cluster-deployment/node01/configuration.nix")
    }

    func testSyntaxAndOther() {
        XCTAssertEqual(NixFailure.classify("error: syntax error, unexpected end of file\n       at /tmp/x/flake.nix:3:1:").kind, .syntax)
        let other = NixFailure.classify("error: infinite recursion encountered")
        XCTAssertEqual(other.kind, .other)
        XCTAssertNil(other.subject)
    }

    func testEvalCacheNoiseIsDropped() {
        let f = NixFailure.classify("error (ignored): error: SQLite database '/root/.cache/nix/eval-cache-v2/x.sqlite' is busy\nerror: attribute 'flaredb' missing")
        XCTAssertEqual(f.headline, "error: attribute 'flaredb' missing")
    }

    func testStorePathsBecomeRepositoryRelative() {
        XCTAssertEqual(SourceLocation.repositoryRelative("/nix/store/q9sk-source/nix/modules/x.nix"), "nix/modules/x.nix")
        XCTAssertEqual(SourceLocation.repositoryRelative("/tmp/x.nix"), "/tmp/x.nix")
    }
}
