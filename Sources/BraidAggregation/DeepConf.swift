// DeepConf (Fu et al. 2025, "Deep Think with Confidence"). A token's confidence is minus the
// mean log-probability of the k most likely tokens at that step (a peaked distribution gives a
// large value); a group confidence is the mean over a sliding window of tokens. Offline, the
// branches with the best scores vote, weighted by their score. Online, a few warm-up branches
// set a threshold; every later branch is watched while it is generated and stopped the moment
// its window confidence falls below the threshold (its KV blocks return to the pool at once),
// and no more branches are started once the weighted vote is decided:
//
//   warm-up    b0 ████████████ ┐
//              b1 ████████████ ├─ threshold = a low percentile of their lowest group confidence
//              b2 ████████████ │
//              b3 ████████████ ┘   consensus ≥ 0.95? stop here
//   wave       b4 ████████▌ pruned (window confidence < threshold)
//              b5 ████████████     consensus ≥ 0.95? stop here …
import Foundation

/// DeepConf's confidences and its two operators.
public enum DeepConf {
    /// Tokens per group (the paper uses 2048 for reasoning traces of many thousand tokens; GSM8K
    /// answers are a few hundred).
    public static let defaultWindow = 32
    /// Tokens the tail confidence averages.
    public static let defaultTail = 64

    /// Each token's confidence: −mean of the top-k alternatives' log-probabilities.
    public static func tokenConfidences(_ branch: Branch) -> [Double] {
        branch.logprobs.map(tokenConfidence)
    }

    /// One token's confidence (0 when no alternatives were recorded).
    public static func tokenConfidence(_ token: SampledToken) -> Double {
        guard !token.alternatives.isEmpty else { return 0 }
        return -token.alternatives.reduce(0.0) { $0 + Double($1.logprob) } / Double(token.alternatives.count)
    }

    /// Means over every window of `window` consecutive tokens (one group of all tokens when there
    /// are fewer).
    public static func groupConfidences(_ confidences: [Double], window: Int) -> [Double] {
        guard confidences.count > window else { return confidences.isEmpty ? [] : [mean(confidences)] }
        var sum = confidences[..<window].reduce(0, +)
        var groups = [sum / Double(window)]
        for i in window..<confidences.count {
            sum += confidences[i] - confidences[i - window]
            groups.append(sum / Double(window))
        }
        return groups
    }

    static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// The value below which a fraction `q` of `values` lies (linear interpolation).
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let position = q * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = min(low + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
    }

    /// Confidences need each token's alternatives (`GenerationParameters.topLogprobs` ≥ 2).
    static func requireAlternatives(_ candidates: [Candidate], for score: BranchScore) throws {
        guard score.needsAlternatives else { return }
        for candidate in candidates where candidate.branch.logprobs.contains(where: { $0.alternatives.count < 2 }) {
            throw AggregationError.invalidSpecification(
                "\(score.rawValue) confidence needs the top alternatives of every token; generate with topLogprobs ≥ 2 (stream \(candidate.branch.stream) has fewer)")
        }
    }

    /// Offline DeepConf: the top `keep` fraction of branches by `score` vote, weighted by it.
    public struct Offline: AggregationOperator {
        public var name: String { "deepconf" }
        /// Fraction of branches kept (the paper's DeepConf-low keeps 10%, -high 90%).
        public let keep: Double
        /// How branches are ranked and weighted.
        public let score: BranchScore
        /// Tokens per group.
        public let window: Int
        public var needsTokenAlternatives: Bool { true }

        public init(keep: Double = 0.5, score: BranchScore = .bottom10, window: Int = DeepConf.defaultWindow) throws {
            guard keep > 0, keep <= 1 else { throw AggregationError.invalidSpecification("deepconf keeps a fraction in (0, 1] (got \(keep))") }
            guard window >= 1 else { throw AggregationError.invalidSpecification("deepconf window must be ≥ 1 (got \(window))") }
            self.keep = keep
            self.score = score
            self.window = window
        }

        public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
            try requireAlternatives(candidates, for: score)
            let scores = candidates.map { score.score($0.branch, window: window) }
            // Rank the answered branches; the best ceil(keep × n) vote.
            let answered = candidates.indices.filter { candidates[$0].answer != nil }.sorted { (scores[$0], -$0) > (scores[$1], -$1) }
            let kept = Set(answered.prefix(Int((Double(answered.count) * keep).rounded(.up))))
            return Voting.decide(name, candidates: candidates, weights: scores, voters: candidates.indices.map(kept.contains),
                                 scores: Voting.byStream(candidates, scores), context: context)
        }
    }

    /// Online DeepConf: warm-up branches set a threshold, later branches are stopped as soon as
    /// their window confidence falls below it, and sampling ends once the weighted vote of the
    /// finished branches reaches `consensus`.
    public struct Online: AggregationOperator {
        public var name: String { keep == Self.lowKeep ? "deepconf:online:low" : "deepconf:online" }
        /// Fraction of warm-up branches that would pass the threshold (0.9: DeepConf-high).
        public let keep: Double
        /// DeepConf-low's fraction: the threshold sits near the best warm-up branch's lowest group
        /// confidence, so most later branches are stopped early (fewer tokens, more risk).
        public static let lowKeep = 0.1
        /// Branches sampled before the threshold is set (nil: half the budget, at least 2).
        public let warmup: Int?
        /// Branches started per round after the warm-up (nil: a quarter of the budget, at least 1).
        public let wave: Int?
        /// Tokens per group.
        public let window: Int
        /// Stop sampling when the leading answer holds this share of the vote weight.
        public let consensus: Double
        public var needsTokenAlternatives: Bool { true }
        public var samplesInRounds: Bool { true }

        public init(keep: Double = 0.9, warmup: Int? = nil, wave: Int? = nil, window: Int = DeepConf.defaultWindow,
                    consensus: Double = 0.95) throws {
            guard keep > 0, keep <= 1 else { throw AggregationError.invalidSpecification("deepconf keeps a fraction in (0, 1] (got \(keep))") }
            guard window >= 1 else { throw AggregationError.invalidSpecification("deepconf window must be ≥ 1 (got \(window))") }
            if let warmup, warmup < 1 { throw AggregationError.invalidSpecification("deepconf warm-up must be ≥ 1 (got \(warmup))") }
            if let wave, wave < 1 { throw AggregationError.invalidSpecification("deepconf wave must be ≥ 1 (got \(wave))") }
            guard consensus > 0, consensus <= 1 else {
                throw AggregationError.invalidSpecification("deepconf consensus is a share in (0, 1] (got \(consensus))")
            }
            self.keep = keep
            self.warmup = warmup
            self.wave = wave
            self.window = window
            self.consensus = consensus
        }

        /// The threshold from the warm-up branches' lowest group confidences.
        public func threshold(warmup: [Candidate]) -> Double {
            DeepConf.quantile(warmup.map { BranchScore.lowestGroup.score($0.branch, window: window) }, 1 - keep)
        }

        /// A monitor that stops a branch when the mean confidence of its last `window` tokens
        /// falls below `threshold`.
        public func monitor(threshold: Double) -> BranchMonitor {
            var windows: [Int: (values: [Double], sum: Double)] = [:]
            let window = window
            return { stream, token in
                var state = windows[stream] ?? ([], 0)
                let confidence = DeepConf.tokenConfidence(token)
                state.values.append(confidence)
                state.sum += confidence
                if state.values.count > window { state.sum -= state.values.removeFirst() }
                windows[stream] = state
                return state.values.count == window && state.sum / Double(window) < threshold
            }
        }

        public func run(_ context: AggregationContext) throws -> Aggregate {
            let budget = context.budget
            let warm = min(budget, warmup ?? max(2, budget / 2))
            var candidates = try context.sample(streams: 0..<warm)
            try requireAlternatives(candidates, for: .lowestGroup)
            let stop = monitor(threshold: threshold(warmup: candidates))
            var next = warm
            while next < budget && !decided(candidates) {
                let end = min(budget, next + (wave ?? max(1, budget / 4)))
                candidates += try context.sample(streams: next..<end, monitor: stop)
                next = end
            }
            return try fold(candidates, context: context)
        }

        /// True when the leading answer's share of the vote weight reaches `consensus`.
        func decided(_ candidates: [Candidate]) -> Bool {
            let finished = candidates.filter { $0.branch.finishReason != .pruned }
            let votes = Voting.tally(finished, weights: finished.map { BranchScore.lowestGroup.score($0.branch, window: window) })
            let total = votes.reduce(0) { $0 + $1.weight }
            return total > 0 && votes[0].weight / total >= consensus
        }

        /// The branches that were not pruned vote, weighted by their lowest group confidence.
        public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
            try requireAlternatives(candidates, for: .lowestGroup)
            let scores = candidates.map { BranchScore.lowestGroup.score($0.branch, window: window) }
            return Voting.decide(name, candidates: candidates, weights: scores, voters: candidates.map { $0.branch.finishReason != .pruned },
                                 scores: Voting.byStream(candidates, scores), context: context)
        }
    }
}
