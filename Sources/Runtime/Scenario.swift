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

/// A scenario that stopped at a failed step; carries what it did so far.
public struct ScenarioFailure: Error, CustomStringConvertible {
    public let result: ScenarioResult
    public var description: String {
        let failed = result.steps.last { !$0.passed }
        return "\(result.name) failed at `\(failed?.name ?? "?")`: \(failed?.detail ?? "")"
    }
}
