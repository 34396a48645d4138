import Foundation
import Harness
import Logging

/// The result of one scenario or runtime check, as report.json and JUnit show it.
public struct ScenarioResult: Sendable, Codable {
    public struct Step: Sendable, Codable {
        public let name: String
        public let passed: Bool
        public let detail: String
        public let seconds: Double
    }

    public let name: String
    public var steps: [Step] = []
    public var seconds: Double = 0
    public var passed: Bool { !steps.isEmpty && steps.allSatisfy(\.passed) }

    public init(name: String) { self.name = name }
}

/// Records steps with their time; a failing step throws after it is recorded.
struct StepRecorder {
    var result: ScenarioResult
    let session: RuntimeSession
    let started: Double

    init(_ name: String, session: RuntimeSession) {
        result = ScenarioResult(name: name)
        self.session = session
        started = session.now
    }

    mutating func step(_ name: String, _ body: () async throws -> String) async throws {
        let start = session.now
        session.logger.info("[\(String(format: "%6.1f", start)) s] \(result.name): \(name)…")
        do {
            let detail = try await body()
            result.steps.append(.init(name: name, passed: true, detail: detail, seconds: session.now - start))
            result.seconds = session.now - started
        } catch {
            result.steps.append(.init(name: name, passed: false, detail: "\(error)", seconds: session.now - start))
            result.seconds = session.now - started
            throw ScenarioFailure(result: result)
        }
    }
}

extension StepRecorder {
    /// A step decided without running anything (a checker's verdict); it does not throw, so
    /// that every verdict is recorded: `finish()` throws if one failed.
    mutating func record(_ name: String, passed: Bool, detail: String) {
        result.steps.append(.init(name: name, passed: passed, detail: detail, seconds: 0))
        result.seconds = session.now - started
    }

    func finish() throws {
        if !result.passed { throw ScenarioFailure(result: result) }
    }

    /// Another scenario's steps, as steps of this one named `prefix › step`; its failure is
    /// this one's.
    mutating func include(_ prefix: String, _ body: () async throws -> ScenarioResult) async throws {
        let start = session.now
        var inner: [ScenarioResult.Step]
        do { inner = try await body().steps } catch let failure as ScenarioFailure {
            inner = failure.result.steps
        } catch {
            inner = [.init(name: "", passed: false, detail: "\(error)", seconds: session.now - start)]
        }
        result.steps += inner.map {
            .init(
                name: $0.name.isEmpty ? prefix : "\(prefix) › \($0.name)", passed: $0.passed, detail: $0.detail,
                seconds: $0.seconds)
        }
        result.seconds = session.now - started
        try finish()
    }
}

/// A scenario that stopped at a failed step; carries what it did so far.
public struct ScenarioFailure: Error, CustomStringConvertible {
    public let result: ScenarioResult
    public init(result: ScenarioResult) { self.result = result }
    public var description: String {
        let failed = result.steps.last { !$0.passed }
        return "\(result.name) failed at `\(failed?.name ?? "?")`: \(failed?.detail ?? "")"
    }
}
