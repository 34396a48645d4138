import Foundation

/// Checks a history against a named model and, when it is not linearizable, draws
/// the failing key next to it.
public enum HistoryCheck {
    public static func run(
        _ history: History, model: ModelName, timeLimit: Double, memoryBytes: Int = 4 << 30, picture: URL? = nil
    ) async throws -> LinearizabilityResult {
        switch model {
        case .casRegister: return try await run(history, CASRegister(), timeLimit, memoryBytes, picture)
        case .kv: return try await run(history, KV(), timeLimit, memoryBytes, picture)
        }
    }

    static func run<M: SequentialModel>(
        _ history: History, _ model: M, _ timeLimit: Double, _ memoryBytes: Int, _ picture: URL?
    ) async throws -> LinearizabilityResult {
        let checker = LinearizabilityChecker(model: model, timeLimit: timeLimit, memoryBytes: memoryBytes)
        var (result, part) = try await checker.check(history)
        if let picture, let part, var anomaly = result.anomaly {
            let svg = AnomalyPicture.svg(
                history: history, operationIDs: part.operationIDs, anomaly: anomaly, describe: model.describe)
            do {
                try svg.write(to: picture, atomically: true, encoding: .utf8)
                anomaly.picture = picture.path
                result.anomaly = anomaly
            } catch {
                throw HistoryShapeError(
                    line: 0, message: "cannot write the picture \(picture.path): \(EDNStreamReader.reason(error))")
            }
        }
        return result
    }

    /// Where the picture of `history` goes: beside it, `<name>.linear.svg`.
    public static func pictureURL(for history: URL) -> URL {
        history.deletingPathExtension().appendingPathExtension("linear.svg")
    }
}
