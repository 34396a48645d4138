import Findings
import Foundation
import Harness
import Workloads
import XCTest

@testable import Runtime

/// Scenario files: what they say, and the errors that name the line of what is wrong.
final class ScenarioScriptTests: XCTestCase {
    func parse(_ text: String) throws -> ScenarioScript {
        try ScenarioScript.parse(text, name: "t", file: "t.scenario")
    }

    func assertError(_ text: String, line: Int, _ fragment: String, file: StaticString = #filePath, at: UInt = #line) {
        XCTAssertThrowsError(try parse(text), file: file, line: at) { error in
            guard let e = error as? ScenarioScript.ParseError else {
                return XCTFail("not a parse error: \(error)", file: file, line: at)
            }
            XCTAssertEqual(e.line, line, "\(e)", file: file, line: at)
            XCTAssertTrue(e.description.hasPrefix("t.scenario:\(line): "), e.description, file: file, line: at)
            XCTAssertTrue(e.message.contains(fragment), e.message, file: file, line: at)
        }
    }

    func testEveryStatement() throws {
        let script = try parse(
            """
            # What it proves,
            # on two lines.
            fixes F5.1 F3
            variant store-on-tmpfs

            bootstrap
            join
            failover link-down
            on node02 put k v
            expect node01 get k => v w
            wait 30 node05 get k
            wait 2.5 node05 get k => a => b
            workload set nemesis kill-leader,halves schedule random concurrency 4 rate 20 duration 12 \\
                start 1 hold 2 keys 5 values 9 read-consistency serializable seed 42 members node01,node02 \\
                expect-invalid set,liveness
            # a comment between steps is not summary
            """)
        XCTAssertEqual(script.summary, "What it proves, on two lines.")
        XCTAssertEqual(script.fixes, ["F5.1", "F3"])
        XCTAssertTrue(script.storeOnTmpfs)
        var w = WorkloadOptions(kind: .set)
        w.nemesis = [.killLeader, .halves]
        w.schedule = .random
        w.concurrency = 4
        w.rate = 20
        w.duration = 12
        w.start = 1
        w.hold = 2
        w.keys = 5
        w.values = 9
        w.consistency = .serializable
        w.seed = 42
        w.members = ["node01", "node02"]
        w.expectInvalid = ["set", "liveness"]
        XCTAssertEqual(
            script.lines.map(\.statement),
            [
                .bootstrap, .join, .failover(.linkDown), .on(node: "node02", verb: ["put", "k", "v"]),
                .expect(node: "node01", verb: ["get", "k"], output: "v w"),
                .wait(seconds: 30, node: "node05", verb: ["get", "k"], output: nil),
                .wait(seconds: 2.5, node: "node05", verb: ["get", "k"], output: "a => b"), .workload(w),
            ])
        // A continued statement is numbered by its first line.
        XCTAssertEqual(script.lines.map(\.number), [6, 7, 8, 9, 10, 11, 12, 13])
    }

    func testErrorsNameTheLineAndWhatToWrite() {
        assertError("bootstrap\nfrobnicate", line: 2, "unknown statement `frobnicate`: one of fixes")
        assertError("failover unplug", line: 1, "destroy, suspend, link-down")
        assertError("bootstrap\nfixes F1", line: 2, "`fixes` comes before the first step")
        assertError("fixes F1\nfixes F3\nbootstrap", line: 2, "a second `fixes` line")
        assertError("variant on-ramfs", line: 1, "store-on-tmpfs")
        assertError("expect node01 get k", line: 1, "`expect NODE VERB ARG… => TEXT`")
        assertError("on node01 get k => v", line: 1, "with no `=>`")
        assertError("wait nan node01 health", line: 1, "SECONDS more than 0")
        assertError("wait -1 node01 health", line: 1, "SECONDS more than 0")
        assertError("join now", line: 1, "`join` takes nothing")
        assertError("workload queue", line: 1, "cas-register, set")
        assertError("workload set\\\n  concurrency 0", line: 1, "`concurrency` takes a number in 1.0...1000.0")
        assertError("workload set duration inf", line: 1, "`duration` takes a number")
        assertError("workload set concurrency", line: 1, "`concurrency` has no value")
        assertError("workload set nemesis kill-leader,chaos", line: 1, "unknown fault `chaos`")
        assertError("workload set expect-invalid sets", line: 1, "`sets` in expect-invalid never rejects a set history")
        assertError("workload set expect-invalid linearizable", line: 1, "one of set, liveness, convergence")
        assertError("workload cas-register expect-invalid nemesis", line: 1, "one of linearizable, liveness")
        assertError("=> text", line: 1, "not `=>`")
        assertError("fixes\nbootstrap", line: 1, "at least one fix id")
        assertError("workload set colour blue", line: 1, "unknown workload option `colour`")
        assertError("# only a comment\n\n", line: 1, "no steps")
    }

    func testNodesNamedMustBeInTheCluster() throws {
        let script = try parse("bootstrap\non node01 health\nworkload set members node01,node09")
        XCTAssertNoThrow(try script.checkNodes(["node01", "node09"]))
        XCTAssertThrowsError(try script.checkNodes(["node01", "node02"])) { error in
            XCTAssertTrue(
                "\(error)".contains("t.scenario:3: no node `node09` in this cluster (node01, node02)"), "\(error)")
        }
    }

    /// Every file of Scenarios/ parses and says what it proves; the ones the suite runs are there.
    func testTheLibraryParses() throws {
        let library = ScenarioLibrary(directory: try HarnessHome.locate().scenarios)
        XCTAssertTrue(
            Set(library.names).isSuperset(of: ["bootstrap", "join", "failover", "workload"]), "\(library.names)")
        for name in library.names {
            let script = try library.load(name)
            XCTAssertFalse(script.summary.isEmpty, "\(name) has no leading comment saying what it proves")
        }
        XCTAssertThrowsError(try library.load("nosuch")) { error in
            XCTAssertTrue("\(error)".contains("unknown scenario `nosuch`"), "\(error)")
        }
    }

    /// The CLI's flags win over the file's options; what neither gives has its default.
    func testWorkloadOptionsAndTheirDefaults() {
        var file = WorkloadOptions(kind: .set)
        file.nemesis = [.majoritiesRing]
        file.duration = 20
        file.seed = 5
        var flags = WorkloadOptions()
        flags.duration = 8
        flags.consistency = .serializable
        let phase = file.overridden(by: flags).phase()
        XCTAssertEqual(phase.name, "set-majorities-ring")
        XCTAssertEqual(phase.workload, .set)
        XCTAssertEqual(phase.generator.duration, 8)
        XCTAssertEqual(phase.generator.seed, 5)
        XCTAssertEqual(phase.generator.concurrency, 10)
        XCTAssertEqual(phase.nemesis, [.majoritiesRing])
        XCTAssertEqual(phase.start, 2)
        XCTAssertEqual(phase.hold, 4)
        XCTAssertEqual(phase.values, 1000, "serializable reads get many values, so a stale one shows")
        let bare = WorkloadOptions().phase()
        XCTAssertEqual(bare.name, "cas-register")
        XCTAssertEqual(bare.nemesis, [])
        XCTAssertEqual(bare.values, 5)
    }
}
