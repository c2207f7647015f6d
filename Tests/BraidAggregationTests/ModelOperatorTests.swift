// Operators that drive a real (tiny, random) model: DeepConf online stops exactly the branches
// whose window confidence falls below the warm-up threshold, a replay of recorded branches
// makes the same decisions as a live run, and the model judges score branches through the
// session, reusing the branches' cached blocks.
@testable import BraidAggregation
import BraidTestSupport
import Foundation
import Testing

@Suite("Aggregation with a model")
struct ModelOperatorTests {
    func session(context: Int = 512) throws -> GenerationSession {
        var tiny = TinyModel()
        tiny.contextLength = context
        let model = try LanguageModel(path: tiny.write())
        return try GenerationSession(model: model, kvBudgetBytes: 64 << 20, contextLength: context, threads: 2)
    }

    func parameters(seed: UInt64) -> GenerationParameters {
        var parameters = GenerationParameters(maxTokens: 40, topLogprobs: 20)
        parameters.sampling.temperature = 1.5
        parameters.sampling.topK = 0
        parameters.sampling.minP = 0
        parameters.sampling.seed = seed
        return parameters
    }

    /// The first character of a branch is its "answer", so that the tiny model's branches vote.
    struct FirstCharacter: AnswerExtractor {
        func extract(from text: String) -> String? { text.first.map { String($0) } }
    }

    /// Every branch gives the same answer.
    struct SameAnswer: AnswerExtractor {
        func extract(from text: String) -> String? { "42" }
    }

    let firstCharacter = FirstCharacter()

    @Test("DeepConf online prunes exactly the branches whose window confidence drops below the threshold, as a replay does")
    func deepConfOnline() throws {
        let session = try session()
        let parameters = parameters(seed: 11)
        let promptTokens = session.model.tokenizer.encode("hello hello")
        let online = try DeepConf.Online(keep: 0.5, warmup: 3, wave: 2, window: 6, consensus: 1)
        let live = try session.reason(question: "", promptTokens: promptTokens, budget: 9, parameters: parameters,
                                      aggregation: online, extractor: firstCharacter)
        #expect(live.candidates.map(\.branch.stream) == Array(0..<9))
        let warmup = Array(live.candidates.prefix(3))
        #expect(warmup.allSatisfy { $0.branch.finishReason != .pruned })
        let threshold = online.threshold(warmup: warmup)
        var pruned = 0
        for candidate in live.candidates.dropFirst(3) {
            let windows = DeepConf.groupConfidences(DeepConf.tokenConfidences(candidate.branch), window: 6)
            let full = candidate.branch.tokens.count >= 6 ? windows : []
            if let first = full.firstIndex(where: { $0 < threshold }) {
                pruned += 1
                #expect(candidate.branch.finishReason == .pruned)
                #expect(first == full.count - 1, "stopped at the first window below the threshold")
            } else {
                #expect(candidate.branch.finishReason != .pruned)
            }
        }
        #expect(pruned > 0 && pruned < 6, "the seed should prune some branches and keep others (pruned \(pruned))")
        // Pruned branches do not vote.
        #expect(live.votes.reduce(0) { $0 + $1.count } == live.candidates.filter { $0.branch.finishReason != .pruned && $0.answer != nil }.count)

        // The same decisions from recorded full branches.
        let full = try session.generateBranches(promptTokens: promptTokens, count: 9, parameters: parameters).branches
        let replayContext = try AggregationContext(source: RecordedBranches(full, tokenizer: session.model.tokenizer), budget: 9,
                                                   extractor: firstCharacter)
        let replay = try online.run(replayContext)
        #expect(replay.candidates.map(\.branch.tokens) == live.candidates.map(\.branch.tokens))
        #expect(replay.candidates.map(\.branch.finishReason) == live.candidates.map(\.branch.finishReason))
        #expect(replay.answer == live.answer)
    }

    @Test("DeepConf-low stops every branch DeepConf-high stops, and more, spending fewer tokens")
    func deepConfLow() throws {
        let session = try session()
        let promptTokens = session.model.tokenizer.encode("hello hello")
        let full = try session.generateBranches(promptTokens: promptTokens, count: 9, parameters: parameters(seed: 11)).branches
        func replay(keep: Double) throws -> Aggregate {
            let context = try AggregationContext(source: RecordedBranches(full, tokenizer: session.model.tokenizer), budget: 9,
                                                 extractor: firstCharacter)
            return try DeepConf.Online(keep: keep, warmup: 3, wave: 2, window: 6, consensus: 1).run(context)
        }
        let low = try replay(keep: DeepConf.Online.lowKeep), high = try replay(keep: 0.9)
        func pruned(_ aggregate: Aggregate) -> Set<Int> {
            Set(aggregate.candidates.filter { $0.branch.finishReason == .pruned }.map(\.branch.stream))
        }
        #expect(pruned(high).isSubset(of: pruned(low)) && pruned(low).count > pruned(high).count, "\(pruned(low)) against \(pruned(high))")
        #expect(low.generatedTokens < high.generatedTokens)
    }

    @Test("consensus ends DeepConf online after the warm-up; the monitor's KV blocks are freed")
    func deepConfConsensus() throws {
        let session = try session()
        let promptTokens = session.model.tokenizer.encode("hello")
        let result = try session.reason(question: "", promptTokens: promptTokens, budget: 8, parameters: parameters(seed: 2),
                                        aggregation: DeepConf.Online(), extractor: SameAnswer())
        #expect(result.candidates.count == 4, "warm-up of half the budget, then consensus")
        #expect(session.cache.usage.usedBlocks == 0, "every branch and the prompt returned their blocks")
    }

    @Test("model judges: verification reuses the branches' blocks; tournament, USC and synthesis pick a branch or write one")
    func judges() throws {
        let session = try session(context: 2048)
        var parameters = parameters(seed: 5)
        parameters.maxTokens = 70
        parameters.ignoreEndOfGeneration = true
        // Prompt and branches fill whole blocks, which the prefix cache can hand back.
        let question = String(repeating: "what is 2 + 2? ", count: 18)
        let promptTokens = session.model.tokenizer.encode(try session.model.chatPrompt(user: question))
        #expect(promptTokens.count > PagedKVCache.defaultBlockSize)
        let verify = try session.reason(question: question, promptTokens: promptTokens, budget: 4, parameters: parameters,
                                        aggregation: BestOfVerification(), extractor: firstCharacter)
        let followUp = session.model.tokenizer.encode(try #require(session.model.chatTemplate).followUp(user: BestOfVerification().question))
        let total = verify.candidates.reduce(0) { $0 + promptTokens.count + $1.branch.tokens.count + followUp.count }
        // Each branch's conversation holds at least two full blocks (prompt and branch) that
        // come from the cache; only the rest is computed.
        let reusable = verify.candidates.reduce(0) {
            $0 + (promptTokens.count + $1.branch.tokens.count) / PagedKVCache.defaultBlockSize * PagedKVCache.defaultBlockSize
        }
        #expect(reusable >= 4 * 2 * PagedKVCache.defaultBlockSize)
        #expect(verify.judgeTokens == total - reusable)
        #expect(verify.scores.count == 4 && verify.scores.values.allSatisfy { $0 > 0 && $0 < 1 })
        #expect(verify.chosenStream.map { (0..<4).contains($0) } == true)

        for aggregation: any AggregationOperator in [Tournament(), UniversalSelfConsistency(), try Synthesis(maxTokens: 8)] {
            let result = try session.reason(question: question, promptTokens: promptTokens, budget: 4, parameters: parameters,
                                            aggregation: aggregation, extractor: firstCharacter)
            #expect(result.judgeTokens > 0 || result.votes.count <= 1, "\(aggregation.name)")
            #expect(result.candidates.count == 4)
            if !(aggregation is Synthesis) { #expect(result.chosenStream != nil, "\(aggregation.name)") }
        }
        #expect(throws: AggregationError.self) {
            try session.reason(question: "", promptTokens: promptTokens, budget: 10, parameters: parameters,
                               aggregation: UniversalSelfConsistency(), extractor: firstCharacter)
        }
    }
}
