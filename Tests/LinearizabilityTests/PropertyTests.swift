import XCTest

@testable import Linearizability

/// Histories of a store that is linearizable are always valid; the same histories
/// with one read changed to a value never written, or with an acknowledged write
/// missing from every later read, are always invalid.
final class PropertyTests: XCTestCase {
    static let seeds: [UInt64] = Array(1...40)

    func simulate(_ model: ModelName, seed: UInt64) -> History {
        var rng = SplitMix64(seed: seed &* 7919)
        let processes = 1 + Int(rng.next() % 8)
        let keys = 1 + Int(rng.next() % 3)
        let operations = 20 + Int(rng.next() % 180)
        let timeouts = Double(rng.next() % 4) / 10
        return HistorySimulator(
            model: model, processes: processes, keys: keys, operations: operations, timeoutRate: timeouts, seed: seed
        ).history()
    }

    func check(_ h: History, _ model: ModelName) async throws -> LinearizabilityResult.Validity {
        try await HistoryCheck.run(h, model: model, timeLimit: 60).validity
    }

    func testSimulatedLinearizableStoresAreValid() async throws {
        for model in ModelName.allCases {
            for seed in Self.seeds {
                let h = simulate(model, seed: seed)
                let v = try await check(h, model)
                XCTAssertEqual(v, .valid, "\(model) seed \(seed):\n\(h.edn())")
            }
        }
    }

    func testAReadOfAValueNeverWrittenIsInvalid() async throws {
        for model in ModelName.allCases {
            var mutated = 0
            for seed in Self.seeds {
                var h = simulate(model, seed: seed)
                guard
                    let i = h.events.indices.first(where: {
                        h.events[$0].kind == .ok && (h.events[$0].f == "read" || h.events[$0].f == "get")
                    })
                else { continue }
                h.events[i].value = model == .kv ? .string("never-written") : .int(-999)
                h = try History(events: h.events)
                let v = try await check(h, model)
                XCTAssertEqual(v, .invalid, "\(model) seed \(seed): line \(i + 1) changed")
                mutated += 1
            }
            XCTAssertGreaterThan(mutated, Self.seeds.count / 2, "too few histories had a read to change")
        }
    }

    /// A write w of v acknowledged after the write of the previous value u had
    /// completed: every read that began after w completed and saw v now sees u.
    /// Written values are unique, so nothing else can bring u back.
    func testAnAcknowledgedWriteMissingFromLaterReadsIsInvalid() async throws {
        for model in ModelName.allCases {
            var mutated = 0
            for seed in Self.seeds {
                var h = simulate(model, seed: seed &+ 1000)
                guard let (w, prior) = lostWriteCandidate(h, model) else { continue }
                let written = writtenValue(w, model)
                let after = w.completePosition!
                var changed = 0
                for op in h.operations where op.key == w.key && isRead(op) && op.status == .ok {
                    guard op.invokePosition > after, op.output == written, let c = op.completePosition else { continue }
                    h.events[c].value = prior
                    changed += 1
                }
                guard changed > 0 else { continue }
                h = try History(events: h.events)
                let v = try await check(h, model)
                XCTAssertEqual(
                    v, .invalid, "\(model) seed \(seed): write at line \(w.invokeLine) removed from \(changed) read(s)")
                mutated += 1
            }
            XCTAssertGreaterThan(mutated, 5, "\(model): too few histories had a write to remove")
        }
    }

    func isRead(_ op: HistoryOperation) -> Bool { op.f == "read" || op.f == "get" }

    func writtenValue(_ op: HistoryOperation, _ model: ModelName) -> EDNValue {
        if case .vector(let pair) = op.input, op.f == "cas" { return pair[1] }
        return op.input
    }

    /// An acknowledged write (or put) whose predecessor in its key is known for
    /// certain: the last acknowledged write of the key that completed before it
    /// began, with nothing of that key running in between. Appends are left out:
    /// a later append keeps the earlier one's text.
    func lostWriteCandidate(_ h: History, _ model: ModelName) -> (HistoryOperation, EDNValue)? {
        let writes: Set<String> = model == .kv ? ["put", "append"] : ["write", "cas"]
        let byKey = Dictionary(grouping: h.operations.filter { writes.contains($0.f) }, by: \.key)
        for (_, ops) in byKey.sorted(by: { "\($0.key as Any)" < "\($1.key as Any)" }) {
            for (i, w) in ops.enumerated() where i > 0 && w.status == .ok && w.f != "append" && w.f != "cas" {
                let u = ops[i - 1]
                // u acknowledged and done before w began; no other write of the key overlaps w or u.
                guard u.status == .ok, u.f != "append", u.f != "cas", let uc = u.completePosition,
                    uc < w.invokePosition,
                    !ops.contains(where: {
                        $0.id != u.id && $0.id != w.id && $0.invokePosition < (w.completePosition ?? 0)
                            && ($0.completePosition ?? Int.max) > u.invokePosition
                    })
                else { continue }
                return (w, u.input)
            }
        }
        return nil
    }
}
