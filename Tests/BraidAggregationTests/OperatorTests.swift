// Operators on hand-made branch sets with known answers: ties, branches without an answer, all
// different; weights and DeepConf's confidences; the stopping rules against values worked out by
// hand; waves that stop when the rule fires.
@testable import BraidAggregation
import Foundation
import Testing

/// A branch with `text` and, per token, a chosen log-probability and alternatives.
func branch(_ stream: Int, _ text: String, logprobs: [Float] = [-0.1], alternatives: [[Float]]? = nil,
            finish: FinishReason = .stop) -> Branch {
    let tokens = logprobs.indices.map { TokenID($0) }
    let sampled = logprobs.enumerated().map { i, logprob in
        SampledToken(chosen: TokenLogprob(token: TokenID(i), logprob: logprob),
                     alternatives: (alternatives?[i] ?? [logprob, -5]).map { TokenLogprob(token: 0, logprob: $0) })
    }
    return Branch(stream: stream, tokens: tokens, text: text, finishReason: finish, logprobs: sampled)
}

/// Branches given up front, served by stream; records which streams were asked for.
final class ScriptedBranches: BranchSource {
    let branches: [Branch]
    var requested: [Range<Int>] = []

    init(_ texts: [String], finishes: [FinishReason]? = nil) {
        branches = texts.enumerated().map { branch($0.offset, $0.element, finish: finishes?[$0.offset] ?? .stop) }
    }

    func sample(streams: Range<Int>, monitor: BranchMonitor?) throws -> [Branch] {
        requested.append(streams)
        return streams.map { branches[$0] }
    }
}

func context(_ texts: [String], finishes: [FinishReason]? = nil) throws -> (AggregationContext, ScriptedBranches) {
    let source = ScriptedBranches(texts, finishes: finishes)
    return (try AggregationContext(source: source, budget: texts.count, extractor: AnswerExtraction.math), source)
}

@Suite("Aggregation operators")
struct OperatorTests {
    @Test("majority vote: the most frequent answer; ties go to the first seen; no answer does not vote")
    func majority() throws {
        let (c1, _) = try context(["so \\boxed{5}", "it is 7", "no idea", "\\boxed{5.0}", "answer is 7", "hmm"])
        let vote = try MajorityVote().run(c1)
        #expect(vote.answer == "5")
        #expect(vote.votes == [VoteCount(answer: "5", count: 2, weight: 2), VoteCount(answer: "7", count: 2, weight: 2)])
        #expect(vote.chosenStream == 0)
        #expect(vote.candidates.count == 6)

        let (c2, _) = try context(["1", "2", "3"])
        #expect(try MajorityVote().run(c2).answer == "1", "all different: the first")

        let (c3, _) = try context(["nothing", "at all"])
        let none = try MajorityVote().run(c3)
        #expect(none.answer == nil && none.votes.isEmpty && none.chosenStream == nil)

        // Branches cut off by the token limit vote only with an answer they mark as one, not with
        // the last number of their working.
        let (c4, _) = try context(["so far 7", "then 7", "x = 7", "\\boxed{5}", "it is \\boxed{5}, and 7"],
                                  finishes: [.length, .length, .kvFull, .stop, .length])
        let cut = try MajorityVote().run(c4)
        #expect(cut.answer == "5")
        #expect(cut.votes == [VoteCount(answer: "5", count: 2, weight: 2)])
        #expect(cut.candidates.map(\.answer) == [nil, nil, nil, "5", "5"])
    }

    @Test("weighted vote: a heavier minority wins; best-of likelihood picks the likeliest answered branch")
    func weighted() throws {
        let source = ScriptedBranches([])
        let candidates = [
            Candidate(branch: branch(0, "3", logprobs: [-2, -2]), answer: "3"),
            Candidate(branch: branch(1, "3", logprobs: [-2, -2]), answer: "3"),
            Candidate(branch: branch(2, "4", logprobs: [-0.01]), answer: "4"),
            Candidate(branch: branch(3, "x", logprobs: [0]), answer: nil),
        ]
        let context = try AggregationContext(source: source, budget: 4, extractor: AnswerExtraction.math)
        let weighted = try WeightedVote(score: .likelihood).fold(candidates, context: context)
        // exp(-2) + exp(-2) = 0.27 < exp(-0.01) = 0.99
        #expect(weighted.answer == "4")
        #expect(abs(weighted.votes[1].weight - 2 * exp(-2.0)) < 1e-9)
        #expect(try MajorityVote().fold(candidates, context: context).answer == "3")
        let best = try BestOfLikelihood().fold(candidates, context: context)
        #expect(best.answer == "4" && best.chosenStream == 2, "the unanswered branch is likelier but cannot win")
    }

    @Test("DeepConf confidences: token, sliding group, lowest, bottom 10%, tail")
    func confidences() throws {
        // Token confidence = −mean(top-k log-probabilities).
        let token = SampledToken(chosen: TokenLogprob(token: 0, logprob: -1),
                                 alternatives: [-1, -2, -3].map { TokenLogprob(token: 0, logprob: $0) })
        #expect(DeepConf.tokenConfidence(token) == 2)
        #expect(DeepConf.groupConfidences([1, 2, 3, 4, 5], window: 2) == [1.5, 2.5, 3.5, 4.5])
        #expect(DeepConf.groupConfidences([1, 2], window: 4) == [1.5])
        // Ten tokens with confidences 1…10 (alternatives [−c, −c]).
        let b = branch(0, "", logprobs: Array(repeating: -0.5, count: 10), alternatives: (1...10).map { [-Float($0), -Float($0)] })
        #expect(BranchScore.meanConfidence.score(b) == 5.5)
        #expect(BranchScore.lowestGroup.score(b, window: 3) == 2)
        #expect(BranchScore.bottom10.score(b, window: 3) == 2, "8 groups: the lowest 10% is one group")
        #expect(BranchScore.tail.score(b, tail: 4) == 8.5)
        #expect(DeepConf.quantile([4, 1, 3, 2], 0.5) == 2.5)
    }

    @Test("DeepConf offline: only the most confident branches vote")
    func deepConfOffline() throws {
        let confident: [[Float]] = Array(repeating: [-0.01, -9], count: 4)   // confidence ≈ 4.5
        let unsure: [[Float]] = Array(repeating: [-0.7, -0.7], count: 4)     // confidence 0.7
        let candidates = [
            Candidate(branch: branch(0, "", logprobs: [-1, -1, -1, -1], alternatives: unsure), answer: "9"),
            Candidate(branch: branch(1, "", logprobs: [-1, -1, -1, -1], alternatives: unsure), answer: "9"),
            Candidate(branch: branch(2, "", logprobs: [-1, -1, -1, -1], alternatives: unsure), answer: "9"),
            Candidate(branch: branch(3, "", logprobs: [-1, -1, -1, -1], alternatives: confident), answer: "2"),
            Candidate(branch: branch(4, "", logprobs: [-1, -1, -1, -1], alternatives: confident), answer: "2"),
        ]
        let context = try AggregationContext(source: ScriptedBranches([]), budget: 5, extractor: AnswerExtraction.math)
        #expect(try MajorityVote().fold(candidates, context: context).answer == "9")
        let filtered = try DeepConf.Offline(keep: 0.4, window: 2).fold(candidates, context: context)
        #expect(filtered.answer == "2")
        #expect(filtered.votes.map(\.answer) == ["2"], "the three unsure branches were filtered out")
        #expect(throws: AggregationError.self) { try DeepConf.Offline(keep: 0) }
        // Without alternatives there is no confidence.
        let bare = [Candidate(branch: branch(0, "", logprobs: [-1], alternatives: [[]]), answer: "1")]
        #expect(throws: AggregationError.self) { try DeepConf.Offline().fold(bare, context: context) }
    }

    @Test("the Beta rule matches hand-computed posteriors")
    func betaRule() {
        // Σ_{j ≤ v1} C(n, j) / 2ⁿ with n = v1 + v2 + 1.
        #expect(abs(StoppingRule.betaProbability(leader: 4, runnerUp: 0) - 31.0 / 32) < 1e-12)
        #expect(abs(StoppingRule.betaProbability(leader: 3, runnerUp: 1) - 26.0 / 32) < 1e-12)
        #expect(abs(StoppingRule.betaProbability(leader: 1, runnerUp: 0) - 3.0 / 4) < 1e-12)
        #expect(abs(StoppingRule.betaProbability(leader: 2, runnerUp: 2) - 0.5) < 1e-12)
        #expect(abs(StoppingRule.betaProbability(leader: 6, runnerUp: 2) - 466.0 / 512) < 1e-12)
        let rule = StoppingRule.beta(threshold: 0.95)
        #expect(rule.shouldStop(counts: [4]))
        #expect(!rule.shouldStop(counts: [3]))
        #expect(!rule.shouldStop(counts: [3, 1]))
        #expect(rule.shouldStop(counts: [7, 1]), "n = 9: 1 − (1 + 9) / 512 = 0.980")
    }

    @Test("the Dirichlet and entropy rules")
    func otherRules() throws {
        #expect(abs(StoppingRule.dirichletProbability([3, 3]) - 0.5) < 0.04, "a tie is a coin flip")
        #expect(StoppingRule.dirichletProbability([8, 0]) > 0.99)
        #expect(StoppingRule.dirichletProbability([5, 1, 1]) == StoppingRule.dirichletProbability([5, 1, 1]), "fixed random stream")
        let entropy = try StoppingRule.named("entropy")
        #expect(!entropy.shouldStop(counts: [2]), "too few votes")
        #expect(entropy.shouldStop(counts: [4]))
        #expect(!entropy.shouldStop(counts: [3, 1]))
        #expect(throws: AggregationError.self) { try StoppingRule.named("gut") }
    }

    @Test("Adaptive-Consistency stops after the first wave when it agrees, samples the budget when it does not")
    func adaptiveWaves() throws {
        let (agreeing, agreeingSource) = try context(["7", "7", "7", "7", "7", "7", "7", "7"])
        let stopped = try AdaptiveConsistency().run(agreeing)
        #expect(stopped.answer == "7" && stopped.candidates.count == 4)
        #expect(agreeingSource.requested == [0..<4])

        let (split, splitSource) = try context(["1", "2", "1", "2", "1", "1", "1", "1"])
        let full = try AdaptiveConsistency().run(split)
        #expect(full.answer == "1" && full.candidates.count == 8)
        #expect(splitSource.requested == [0..<4, 4..<6, 6..<8])

        // Waves larger than what is left of the budget stop at the budget.
        let (huge, hugeSource) = try context(["1", "2", "3"])
        _ = try AdaptiveConsistency(firstWave: 1, wave: Int.max).run(huge)
        #expect(hugeSource.requested == [0..<1, 1..<3])
    }

    @Test("operators by name, and bad names")
    func names() throws {
        #expect(try AggregationOperators.named("deepconf:online:low").name == "deepconf:online:low")
        for name in ["vote", "weighted", "weighted:bottom10", "deepconf", "deepconf:online", "deepconf:online:low", "adaptive", "adaptive:dirichlet",
                     "best-of:ll", "best-of:verify", "tournament", "usc", "synthesize"] {
            #expect(try AggregationOperators.named(name).name.hasPrefix(name.split(separator: ":")[0]), "\(name)")
        }
        let tuned = try #require(try AggregationOperators.named("adaptive:beta:0.8:2:1") as? AdaptiveConsistency)
        #expect(tuned.rule == .beta(threshold: 0.8) && tuned.firstWave == 2 && tuned.wave == 1)
        #expect(try tuned.name == "adaptive:beta:0.8:2:1" && AdaptiveConsistency().name == "adaptive:beta")
        #expect(try AggregationOperators.named("adaptive:beta:0.95").name == "adaptive:beta")
        let entropy = try #require(try AggregationOperators.named("adaptive:entropy:0.3:3") as? AdaptiveConsistency)
        #expect(entropy.rule == .entropy(threshold: 0.3) && entropy.firstWave == 3 && entropy.wave == nil)
        #expect(entropy.name == "adaptive:entropy:0.3:3")
        for bad in ["", "votes", "weighted:loud", "deepconf:offline", "deepconf:online:medium", "best-of", "adaptive:vibes", "usc:3",
                    "adaptive:beta:x", "adaptive:beta:1.5", "adaptive:beta:0.8:2,1", "adaptive:beta:0.8:0:1", "adaptive:beta:0.8:2:0",
                    "adaptive:beta:0.8:2:1:4", "adaptive:beta:nan", "adaptive:beta:0.8:two", "adaptive:beta:0.5", "adaptive:dirichlet:0.3"] {
            #expect(throws: AggregationError.self, "\(bad)") { try AggregationOperators.named(bad) }
        }
        #expect(throws: AggregationError.self) { try AggregationContext(source: ScriptedBranches([]), budget: 0, extractor: LastNumberExtractor()) }
        let (needsJudge, _) = try context(["1"])
        #expect(throws: AggregationError.self) { try BestOfVerification().run(needsJudge) }
    }
}
