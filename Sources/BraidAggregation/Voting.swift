// Votes over branch answers: plain self-consistency (Wang et al. 2023), a vote weighted by a
// branch score, and best-of-N by length-normalized log-likelihood.
import Foundation

/// Self-consistency: the answer most branches reached wins (ties: the one that appeared first).
public struct MajorityVote: AggregationOperator {
    public let name = "vote"

    public init() {}

    public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
        Voting.decide(name, candidates: candidates, weights: nil, context: context)
    }
}

/// A number per branch that says how much to trust it (higher: more).
public enum BranchScore: String, Sendable, CaseIterable {
    /// exp(mean token log-probability): the geometric mean of the chosen tokens' probabilities.
    case likelihood
    /// DeepConf: mean token confidence over the whole branch.
    case meanConfidence = "mean"
    /// DeepConf: the lowest group (sliding-window) confidence.
    case lowestGroup = "lowest"
    /// DeepConf: the mean of the lowest 10% of group confidences.
    case bottom10 = "bottom10"
    /// DeepConf: mean token confidence over the branch's last `tail` tokens.
    case tail

    /// The score of `branch`; confidences use groups of `window` tokens and a tail of `tail`.
    public func score(_ branch: Branch, window: Int = DeepConf.defaultWindow, tail: Int = DeepConf.defaultTail) -> Double {
        switch self {
        case .likelihood: return exp(branch.meanLogprob)
        case .meanConfidence: return DeepConf.mean(DeepConf.tokenConfidences(branch))
        case .lowestGroup: return DeepConf.groupConfidences(DeepConf.tokenConfidences(branch), window: window).min() ?? 0
        case .bottom10:
            let groups = DeepConf.groupConfidences(DeepConf.tokenConfidences(branch), window: window).sorted()
            return DeepConf.mean(Array(groups.prefix(max(1, Int((Double(groups.count) * 0.1).rounded(.up))))))
        case .tail: return DeepConf.mean(Array(DeepConf.tokenConfidences(branch).suffix(tail)))
        }
    }

    /// True for the scores that need each token's top alternatives.
    public var needsAlternatives: Bool { self != .likelihood }
}

/// A vote in which each branch counts with its score.
public struct WeightedVote: AggregationOperator {
    public var name: String { "weighted:\(score.rawValue)" }
    /// What a branch's vote weighs.
    public let score: BranchScore
    public var needsTokenAlternatives: Bool { score.needsAlternatives }

    public init(score: BranchScore = .likelihood) {
        self.score = score
    }

    public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
        try DeepConf.requireAlternatives(candidates, for: score)
        let weights = candidates.map { score.score($0.branch) }
        return Voting.decide(name, candidates: candidates, weights: weights, scores: Voting.byStream(candidates, weights), context: context)
    }
}

/// Best-of-N by length-normalized log-likelihood: the answered branch with the highest mean
/// token log-probability.
public struct BestOfLikelihood: AggregationOperator {
    public let name = "best-of:ll"

    public init() {}

    public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
        BestOf.choose(name, candidates: candidates, scores: candidates.map(\.branch.meanLogprob), context: context)
    }
}

/// Picking the single best-scored branch.
enum BestOf {
    /// The answered branch with the highest score (ties: the lowest stream); unanswered
    /// branches win only when no branch has an answer.
    static func choose(_ operatorName: String, candidates: [Candidate], scores: [Double], context: AggregationContext) -> Aggregate {
        let answered = candidates.indices.filter { candidates[$0].answer != nil }
        let pool = answered.isEmpty ? Array(candidates.indices) : answered
        let best = pool.max { (scores[$0], -$0) < (scores[$1], -$1) }
        return Aggregate(operatorName: operatorName, answer: best.flatMap { candidates[$0].answer },
                         text: best.map { candidates[$0].branch.text } ?? "", chosenStream: best.map { candidates[$0].branch.stream },
                         votes: Voting.tally(candidates), scores: Voting.byStream(candidates, scores), candidates: candidates,
                         judgeTokens: context.judgeTokens)
    }
}
