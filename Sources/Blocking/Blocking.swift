import Dispatch

/// Runs a blocking C call on a Dispatch thread, so it never occupies a thread of
/// Swift's cooperative pool. The body must do all of its C work, including reading
/// the library's error state, before it returns: nothing here crosses an `await`.
public func runBlocking<T: Sendable>(
    on queue: DispatchQueue = .global(qos: .userInitiated),
    _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        queue.async {
            continuation.resume(with: Result { try body() })
        }
    }
}
