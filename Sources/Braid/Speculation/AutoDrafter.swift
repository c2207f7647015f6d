// `auto`: per step, the drafter (or none: plain decoding) with the most tokens per millisecond
// measured so far. Every option is tried at the start; one that loses is tried again now and then
// (less often each time it loses again), so a request that changes character — prose, then code
// copied from the prompt — is noticed, and a losing option costs little. A drafter's catching up
// on text it missed (a draft model's forward over the prompt, or over what plain decoding wrote
// meanwhile) is left out of its speed: it is paid once per switch, not per step.

/// Chooses among drafters, and plain decoding, by measured speed.
public final class AutoDrafter: Drafter {
    public var name: String { "auto" }
    private let options: [any Drafter]
    /// Per option (the last is plain decoding): running averages of tokens and milliseconds per
    /// step (drafting and verifying), and steps measured.
    private var tokens: [RunningAverage], milliseconds: [RunningAverage], trials: [Int]
    /// Steps until each losing option is tried again, and the current wait.
    private var retryIn: [Int], retryWait: [Int]
    private var current = 0
    /// Steps each option gets at the start.
    static let warmupSteps = 3
    /// Most steps a losing option waits before it is tried again.
    static let longestWait = 32
    /// Forwards per option chosen, by name ("none": plain decoding).
    public private(set) var choices: [String: Int] = [:]

    /// Chooses among `options` and plain decoding.
    public init(options: [any Drafter]) {
        self.options = options
        let count = options.count + 1
        tokens = Array(repeating: RunningAverage(), count: count)
        milliseconds = Array(repeating: RunningAverage(), count: count)
        trials = Array(repeating: 0, count: count)
        retryIn = Array(repeating: 0, count: count)
        retryWait = Array(repeating: 4, count: count)
    }

    private var plain: Int { options.count }

    private func rate(_ option: Int) -> Double {
        guard let produced = tokens[option].value, let time = milliseconds[option].value, time > 0 else { return 0 }
        return produced / time
    }

    public func draft(context: [TokenID], maximumDepth: Int) throws -> DraftTree {
        // Warm-up: every option a few steps, in order; then the fastest, or a due retry.
        if let untried = trials.indices.first(where: { trials[$0] < Self.warmupSteps }) {
            current = untried
        } else {
            let best = trials.indices.max { rate($0) < rate($1) } ?? plain
            current = trials.indices.first { $0 != best && retryIn[$0] <= 0 } ?? best
            for option in trials.indices where option != best { retryIn[option] -= 1 }
        }
        let tree = current == plain ? DraftTree() : try options[current].draft(context: context, maximumDepth: maximumDepth)
        choices[tree.isEmpty ? "none" : options[current].name, default: 0] += 1
        return tree
    }

    public func observe(_ verification: Verification, tree: DraftTree, context: [TokenID]) {
        if current != plain { options[current].observe(verification, tree: tree, context: context) }
        // A drafter that proposed nothing made this a plain step.
        let option = tree.isEmpty ? plain : current
        tokens[option].add(Double(verification.producedTokens))
        let catchUp = option == plain ? 0 : options[option].catchUpMilliseconds
        milliseconds[option].add(max(0, verification.draftMilliseconds - catchUp) + verification.forwardMilliseconds)
        trials[option] += 1
        // A retried option that still loses waits twice as long; one that wins is simply chosen.
        if trials[option] > Self.warmupSteps && retryIn[option] <= 0 {
            let best = trials.indices.max { rate($0) < rate($1) } ?? plain
            if best != option {
                retryWait[option] = min(retryWait[option] * 2, Self.longestWait)
                retryIn[option] = retryWait[option]
            }
        }
    }
}
