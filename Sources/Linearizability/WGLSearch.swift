import Foundation

/// Why a search stopped before deciding.
enum SearchLimit: Sendable, Equatable {
    case time
    case memory
    case cancelled
}

/// Limits shared by the searches of one check: a deadline, a memory budget for
/// their caches, and a flag that stops them all (a key already failed).
final class SearchBudget: @unchecked Sendable {
    let deadline: Double
    let memoryBytes: Int
    private let lock = NSLock()
    private var used = 0
    private var stopped: SearchLimit?

    init(seconds: Double, memoryBytes: Int) {
        deadline = Self.now() + seconds
        self.memoryBytes = memoryBytes
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Adds `bytes` to what the caches hold; the limit hit, if any.
    func account(_ bytes: Int) -> SearchLimit? {
        lock.lock()
        defer { lock.unlock() }
        used += bytes
        if let stopped { return stopped }
        if used > memoryBytes { return .memory }
        if Self.now() > deadline { return .time }
        return nil
    }

    func stop(_ why: SearchLimit) {
        lock.lock()
        if stopped == nil { stopped = why }
        lock.unlock()
    }

    var stopReason: SearchLimit? {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }
}

/// One key's operations, ready for the search: compiled steps and their real-time
/// order (a call at the invocation's position, a return at the completion's, or at
/// the end for an operation whose outcome is unknown).
struct Subhistory<M: SequentialModel> {
    /// Indexes into the history's operations.
    var operations: [Int]
    var steps: [M.Step]
    /// Return position of each operation; `Int.max` when unknown.
    var returns: [Int]
    var calls: [Int]
}

/// Wing & Gong's search with Lowe's just-in-time linearization and a memo of
/// (linearized set, state): a doubly linked list of call and return entries; the
/// first entry is tried, a call is linearized when the model allows it and the
/// configuration is new, a return that comes up before its call was linearized
/// means backtracking.
struct WGLSearch<M: SequentialModel> {
    enum Outcome {
        case linearizable
        /// No linearization: `stuck` is the operation (subhistory index) whose return
        /// was the latest at which a path ended. Every prefix that ends before that
        /// return is linearizable (that path linearized all it completed).
        case notLinearizable(stuck: Int)
        case undecided(SearchLimit)
    }

    let model: M
    let sub: Subhistory<M>
    let budget: SearchBudget

    /// Entries: 2i is operation i's call, 2i+1 its return; `head` is the sentinel.
    private var next: [Int32]
    private var prev: [Int32]
    private let head: Int32
    private var bits: [UInt64]
    private var bitsHash: UInt64 = 0
    private let zobrist: [UInt64]

    init(model: M, sub: Subhistory<M>, budget: SearchBudget) {
        self.model = model
        self.sub = sub
        self.budget = budget
        let n = sub.steps.count
        head = Int32(2 * n)
        next = Array(repeating: -1, count: 2 * n + 1)
        prev = Array(repeating: -1, count: 2 * n + 1)
        bits = Array(repeating: 0, count: (n + 63) / 64)
        var rng = SplitMix64(seed: 0x9E37_79B9_7F4A_7C15 &+ UInt64(n))
        zobrist = (0..<n).map { _ in rng.next() }
        // Order entries by position; a return at the same position as a call
        // cannot happen (positions are distinct events), unknown returns go last.
        var order: [(position: Int, entry: Int32)] = []
        order.reserveCapacity(2 * n)
        for i in 0..<n {
            order.append((sub.calls[i], Int32(2 * i)))
            order.append((sub.returns[i] == Int.max ? Int.max - n + i : sub.returns[i], Int32(2 * i + 1)))
        }
        order.sort { $0.position < $1.position }
        var last = head
        for (_, e) in order {
            next[Int(last)] = e
            prev[Int(e)] = last
            last = e
        }
        next[Int(last)] = -1
    }

    @inline(__always)
    private mutating func unlink(_ e: Int32) {
        let p = prev[Int(e)], n = next[Int(e)]
        next[Int(p)] = n
        if n >= 0 { prev[Int(n)] = p }
    }

    @inline(__always)
    private mutating func relink(_ e: Int32) {
        let p = prev[Int(e)], n = next[Int(e)]
        next[Int(p)] = e
        if n >= 0 { prev[Int(n)] = e }
    }

    /// Takes a call and its return out of the list (the operation is linearized).
    private mutating func lift(_ call: Int32) {
        unlink(call)
        unlink(call + 1)
    }

    /// Puts them back, in the reverse order, so each finds its neighbours again.
    private mutating func unlift(_ call: Int32) {
        relink(call + 1)
        relink(call)
    }

    @inline(__always)
    private mutating func flip(_ op: Int) {
        bits[op >> 6] ^= 1 << UInt64(op & 63)
        bitsHash ^= zobrist[op]
    }

    /// Searches for a linearization. With `watch`, it also gathers the states in
    /// which that operation was tried (at most `watchLimit`): where it could take effect.
    mutating func run(watch: Int? = nil, watchLimit: Int = 16) -> (Outcome, [M.State]) {
        var cache = StateCache<M.State>(words: bits.count)
        var stack: [(entry: Int32, state: M.State)] = []
        var state = model.initialState
        var entry = next[Int(head)]
        var stuck = -1
        var stuckReturn = -1
        var collected: [M.State] = []
        var seen = Set<M.State>()
        var iterations = 0
        var accounted = 0
        var complete = false
        while true {
            iterations &+= 1
            if iterations & 0xFFF == 0 {
                let bytes = cache.bytes
                if let limit = budget.account(bytes - accounted) {
                    _ = budget.account(-bytes)
                    return (.undecided(limit), collected)
                }
                accounted = bytes
            }
            if entry >= 0 && entry & 1 == 0 {
                let op = Int(entry >> 1)
                if op == watch, collected.count < watchLimit, seen.insert(state).inserted { collected.append(state) }
                if let newState = model.step(state, sub.steps[op]) {
                    flip(op)
                    if cache.insert(bits: bits, bitsHash: bitsHash, state: newState) {
                        stack.append((entry, state))
                        state = newState
                        lift(entry)
                        entry = next[Int(head)]
                    } else {
                        flip(op)
                        entry = next[Int(entry)]
                    }
                } else {
                    entry = next[Int(entry)]
                }
                continue
            }
            // Every entry is lifted (success), or a return came up before its call
            // was linearized: a dead end to back out of.
            if entry < 0 {
                complete = true
                break
            }
            let op = Int(entry >> 1)
            if sub.returns[op] > stuckReturn {
                stuckReturn = sub.returns[op]
                stuck = op
            }
            guard let top = stack.popLast() else { break }
            state = top.state
            flip(Int(top.entry >> 1))
            unlift(top.entry)
            entry = next[Int(top.entry)]
        }
        _ = budget.account(-accounted)
        if complete { return (.linearizable, collected) }
        return (.notLinearizable(stuck: max(stuck, 0)), collected)
    }
}

/// The memo: every (linearized set, state) the search has reached. Open addressing
/// over one arena of bitset words, so an entry costs no allocation of its own.
struct StateCache<State: Hashable> {
    private let words: Int
    private var slots: [Int32]
    private var hashes: [UInt64] = []
    private var arena: [UInt64] = []
    private var states: [State] = []
    private var mask: Int

    init(words: Int) {
        self.words = words
        slots = Array(repeating: -1, count: 1024)
        mask = 1023
    }

    var bytes: Int {
        slots.count * 4 + hashes.count * 8 + arena.count * 8 + states.count * MemoryLayout<State>.stride
    }

    /// Inserts the configuration; false when it was there already.
    mutating func insert(bits: [UInt64], bitsHash: UInt64, state: State) -> Bool {
        let h = bitsHash ^ UInt64(bitPattern: Int64(state.hashValue)) &* 0x9E37_79B9_7F4A_7C15
        var slot = Int(truncatingIfNeeded: h ^ (h >> 29)) & mask
        while true {
            let index = slots[slot]
            if index < 0 { break }
            let i = Int(index)
            if hashes[i] == h && states[i] == state && sameBits(i, bits) { return false }
            slot = (slot + 1) & mask
        }
        let index = Int32(hashes.count)
        hashes.append(h)
        arena.append(contentsOf: bits)
        states.append(state)
        slots[slot] = index
        if hashes.count * 2 > slots.count { grow() }
        return true
    }

    private func sameBits(_ i: Int, _ bits: [UInt64]) -> Bool {
        let base = i * words
        for w in 0..<words where arena[base + w] != bits[w] { return false }
        return true
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = Array(repeating: -1, count: size)
        mask = size - 1
        for (i, h) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: h ^ (h >> 29)) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(i)
        }
    }
}

/// A small, seedable generator (SplitMix64): the same seed, the same numbers.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
