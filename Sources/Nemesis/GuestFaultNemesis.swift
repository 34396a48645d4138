import Foundation

/// A fault inside one guest, through the target's adapter verbs (written once, in the
/// adapter): the store's process killed (kill -9) or paused (SIGSTOP), or the guest's
/// clock shifted. Injected after `start` seconds into the node `choose` names, confirmed
/// from the guest, held `hold` seconds, always healed (started again, SIGCONT, the clock
/// shifted back) and the heal confirmed; recorded as Jepsen's nemesis records (:start, :stop).
public struct GuestFaultNemesis: Sendable {
    public enum Kind: Sendable, Equatable {
        case kill
        case pause
        /// The guest's wall clock moved by this many seconds (either sign), then back.
        case clockShift(seconds: Int)
    }

    /// Runs an adapter verb on a node: its standard output, nil when it failed.
    public typealias Adapter = @Sendable (_ node: String, _ arguments: String) async -> String?

    public var kind: Kind
    public var start: Double
    public var hold: Double
    /// Bounds of the confirmations are multiplied by it (TCG guests are slow).
    public var timeoutScale: Double
    public var choose: @Sendable () async -> String?
    public var adapter: Adapter

    public init(
        kind: Kind, start: Double, hold: Double, timeoutScale: Double = 1,
        choose: @escaping @Sendable () async -> String?, adapter: @escaping Adapter
    ) {
        self.kind = kind
        self.start = start
        self.hold = hold
        self.timeoutScale = timeoutScale
        self.choose = choose
        self.adapter = adapter
    }

    public func run(record: @escaping @Sendable (String, String) -> Void) async -> NemesisOutcome {
        var outcome = NemesisOutcome()
        var chosen: String?
        var offset: ClockReading?
        do {
            try await Task.sleep(for: .milliseconds(Int64(start * 1000)))
            guard let node = await choose() else {
                outcome.detail = "no node could be chosen (no leader known?)"
                return outcome
            }
            chosen = node
            outcome.fault = description(node)
            if case .clockShift = kind { offset = try await clock(node) }
            record("start", outcome.fault)
            outcome.injected = await adapter(node, injectVerb) != nil
            guard outcome.injected else { throw NemesisError("`adapter \(injectVerb)` failed on \(node)") }
            outcome.detail = try await confirm(node, healed: false, before: offset)
            outcome.confirmed = true
            try await Task.sleep(for: .milliseconds(Int64(hold * 1000)))
        } catch {
            outcome.detail += (outcome.detail.isEmpty ? "" : "; ") + "\(error)"
        }
        guard let node = chosen else { return outcome }
        // Always healed, whatever happened above (a kill that failed half-way is started anyway).
        outcome.healed = await adapter(node, healVerb) != nil
        record("stop", outcome.fault)
        if !outcome.healed { outcome.detail += "; `adapter \(healVerb)` failed on \(node)" }
        do {
            outcome.detail += "; healed: " + (try await confirm(node, healed: true, before: offset))
            outcome.healConfirmed = outcome.healed
        } catch {
            outcome.detail += "; heal: \(error)"
        }
        return outcome
    }

    func description(_ node: String) -> String {
        switch kind {
        case .kill: "kill -9 \(node)'s store"
        case .pause: "pause \(node)'s store"
        case .clockShift(let s): "shift \(node)'s clock by \(s > 0 ? "+" : "")\(s) s"
        }
    }

    var injectVerb: String {
        switch kind {
        case .kill: "kill"
        case .pause: "pause"
        case .clockShift(let s): "clock-shift \(s)"
        }
    }

    var healVerb: String {
        switch kind {
        case .kill: "start"
        case .pause: "resume"
        case .clockShift(let s): "clock-shift \(-s)"
        }
    }

    /// Polls the guest until the fault (or its heal) shows; what it saw, or an error with
    /// the last answer.
    func confirm(_ node: String, healed: Bool, before: ClockReading?) async throws -> String {
        let bound = (healed ? 60 : 15) * timeoutScale
        let deadline = ContinuousClock.now + .milliseconds(Int64(bound * 1000))
        var last = "no answer"
        while ContinuousClock.now < deadline {
            switch kind {
            case .kill, .pause:
                if let states = await adapter(node, "process") {
                    last = states.isEmpty ? "no store process" : "store process (pid state): \(states)"
                    let running = StoreProcess.parse(states).map(\.state)
                    let shows: Bool
                    switch (kind, healed) {
                    case (.kill, false): shows = running.isEmpty
                    case (.pause, false): shows = !running.isEmpty && running.allSatisfy { $0 == "T" }
                    case (.pause, true): shows = !running.isEmpty && !running.contains("T")
                    default: shows = running.isEmpty ? false : await adapter(node, "leader") != nil
                    }
                    if shows { return last }
                }
            case .clockShift(let s):
                if let before, let now = try? await clock(node) {
                    let moved = now.offset - before.offset
                    let expected = healed ? 0 : Double(s)
                    last = "\(node)'s clock moved \(String(format: "%+.1f", moved)) s against the host's"
                    if abs(moved - expected) <= 2 + before.uncertainty + now.uncertainty { return last }
                }
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw NemesisError(
            "\(healed ? "the heal" : "the fault") did not show on \(node) within \(Int(bound)) s (last: \(last))")
    }

    /// The guest's wall clock against the host's, read through the adapter.
    struct ClockReading {
        var offset: Double
        var uncertainty: Double
    }

    func clock(_ node: String) async throws -> ClockReading {
        let sent = Date()
        guard let text = await adapter(node, "clock"), let guest = Double(text) else {
            throw NemesisError("`adapter clock` on \(node) gave no time")
        }
        let received = Date()
        let host = (sent.timeIntervalSince1970 + received.timeIntervalSince1970) / 2
        // `date +%s` truncates to the second; the round trip bounds when it was read.
        return ClockReading(offset: guest - host, uncertainty: received.timeIntervalSince(sent) / 2 + 1)
    }
}

struct NemesisError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
