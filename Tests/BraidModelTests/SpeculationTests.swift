// Speculative decoding on tiny random models: every drafter gives exactly plain greedy's tokens
// (both architectures, many prompts, trees wider than the small-batch kernels), the verifier
// keeps the right lane of a branching tree with the right keys, speculative sampling draws from
// plain sampling's distribution (chi-squared), and bad parameters or vocabularies are refused.
@testable import Braid
import BraidTestSupport
import Foundation
import Testing

@Suite("Speculation")
struct SpeculationTests {
    static func model(_ architecture: String = "llama", seed: UInt64 = 1, scale: Float = 1, type: TensorType = .q8_0,
                      tokens: [String]? = nil, requantizedTo target: TensorType? = nil, activations: ActivationPrecision = .fifteenBit,
                      outputTokens: Int? = nil) throws -> LanguageModel {
        var tiny = TinyModel(architecture: architecture)
        tiny.contextLength = 256
        tiny.seed = seed
        tiny.blockOutputScale = scale
        tiny.matrixType = type
        if let tokens { tiny.extraMetadata = [("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))] }
        return try LanguageModel(path: tiny.write(), requantizedTo: target, activations: activations, outputTokens: outputTokens)
    }

    static let prompts = [
        "hello hello hello world world", "def f(x):\n    return x + 1\n\ndef g(x):\n    return", "abcabcabcab",
        "The quick brown fox jumps over the lazy dog. The quick brown", "0 1 2 3 4 5 6 7 8 9 0 1 2", "zz",
    ]

    static func methods(target: LanguageModel, draft: LanguageModel, fourBitDraft: LanguageModel, narrowDraft: LanguageModel) -> [(String, SpeculationMethod)] {
        [("ngram:8", .ngram(k: 8)), ("ngram:1", .ngram(k: 1)), ("jacobi:2", .jacobi(n: 2)), ("jacobi:6", .jacobi(n: 6)),
         ("lookahead:4,3,3", .lookahead(w: 4, n: 3, g: 3)), ("lookahead:1,2,0", .lookahead(w: 1, n: 2, g: 0)),
         ("lookahead:1,2,2", .lookahead(w: 1, n: 2, g: 2)), ("lookahead:8,4,6 (over 16 rows)", .lookahead(w: 8, n: 4, g: 6)),
         ("draft:self:3", .draftModel(target, k: 3)),
         ("draft:other", .draftModel(draft, k: nil)), ("draft:q4_0", .draftModel(fourBitDraft, k: nil)),
         ("draft:first 120 tokens", .draftModel(narrowDraft, k: nil)), ("auto", .auto(draftModel: draft))]
    }

    /// (architecture, block output scale, weight type): random models write random text; a small
    /// scale makes text that repeats, where drafts get accepted. Float weights take other kernels;
    /// 8-bit activations are exact against plain greedy with the same activations.
    @Test("every drafter, greedy, gives exactly plain greedy's tokens",
          arguments: [("llama", Float(1), TensorType.q8_0, ActivationPrecision.fifteenBit), ("qwen2", 1, .q8_0, .fifteenBit),
                      ("llama", 0.15, .q8_0, .fifteenBit), ("qwen2", 0.15, .q8_0, .fifteenBit), ("llama", 0.15, .f16, .fifteenBit),
                      ("qwen2", 0.15, .q8_0, .eightBit)])
    func greedyIsExact(architecture: String, scale: Float, type: TensorType, activations: ActivationPrecision) throws {
        // The draft: the same weights stored another way, so that it mostly agrees with the target.
        let target = try Self.model(architecture, scale: scale, type: type, activations: activations)
        let draft = try Self.model(architecture, scale: scale, type: type == .f16 ? .q8_0 : .f16)
        let fourBitDraft = try Self.model(architecture, scale: scale, type: .q8_0, requantizedTo: .q4_0)
        let narrowDraft = try Self.model(architecture, scale: scale, type: type == .f16 ? .q8_0 : .f16, outputTokens: 120)
        let parameters = GenerationParameters(maxTokens: 40, sampling: .greedy, topLogprobs: 2)
        let session = try GenerationSession(model: target, kvBudgetBytes: 8 << 20)
        var acceptedByMethod: [String: Int] = [:]
        for prompt in Self.prompts {
            let tokens = target.tokenizer.encode(prompt)
            let plain = try session.generate(promptTokens: tokens, parameters: parameters)
            for (name, method) in Self.methods(target: target, draft: draft, fourBitDraft: fourBitDraft, narrowDraft: narrowDraft) {
                let result = try session.generate(promptTokens: tokens, parameters: parameters, speculation: method)
                #expect(result.tokens == plain.tokens, "\(name) on \(prompt.debugDescription)")
                #expect(result.logprobs == plain.logprobs, "\(name) log-probabilities on \(prompt.debugDescription)")
                #expect(result.finishReason == plain.finishReason)
                let report = try #require(result.speculation)
                #expect(report.accepted <= report.drafted)
                #expect(report.targetForwards + report.accepted >= result.tokens.count - 1)
                acceptedByMethod[name, default: 0] += report.accepted
            }
        }
        // The paths that accept drafts were exercised, not only the rejections.
        let accepting = scale < 1 ? ["ngram:8", "draft:self:3", "draft:other", "draft:q4_0", "draft:first 120 tokens", "jacobi:6", "lookahead:4,3,3", "lookahead:1,2,2", "auto"] : ["draft:self:3"]
        for name in accepting { #expect(acceptedByMethod[name, default: 0] > 0, "\(name)") }
        // A draft model identical to the target is always right, when every forward runs on the
        // row-exact small-batch kernels: a prompt of at most 15 tokens, so that the draft's first
        // forward (the prompt and one token) is at most 16 rows. sgemm, which takes more rows, may
        // give a row other bits for another number of rows (OpenBLAS's Haswell kernels do).
        let tokens = target.tokenizer.encode("hello world")
        #expect(tokens.count < WeightMatrix.smallBatchLimit)
        let same = try session.generate(promptTokens: tokens, parameters: parameters, speculation: .draftModel(target, k: 3))
        #expect(same.speculation?.accepted == same.speculation?.drafted)
    }

    @Test("a branching tree: the accepted path in another lane, its keys right for the tokens after it")
    func branchingTree() throws {
        let model = try Self.model()
        let pool = ComputePool()
        let prompt = model.tokenizer.encode("hello world, hello")
        let plain = try model.generate(promptTokens: prompt, parameters: GenerationParameters(maxTokens: 8, sampling: .greedy))
        let g = plain.tokens
        try #require(g.count == 8)
        let wrong = { (token: TokenID) in TokenID((Int(token) + 1) % 256) }
        // root ─┬─ x ── y            (x wrong)
        //       └─ g0 ─┬─ z          (z wrong)
        //              └─ g1 ── g2
        var tree = DraftTree()
        let x = tree.add(wrong(g[1]), parent: DraftTree.root)
        tree.add(g[2], parent: x)
        let g0 = tree.add(g[1], parent: DraftTree.root)
        tree.add(wrong(g[2]), parent: g0)
        let g1 = tree.add(g[2], parent: g0)
        tree.add(g[3], parent: g1)
        let cache = model.transformer.makeCache(capacity: 64, sequenceCount: 3)
        _ = try model.transformer.forward(Batch(tokens: prompt, startPosition: 0), cache: cache, pool: pool)
        let verifier = TreeVerifier(model: model, cache: cache, pool: pool)
        var sampler = try Sampler(.greedy)
        let step = try verifier.verify(pending: g[0], tree: tree, sequence: 0, sampler: &sampler, history: prompt + [g[0]], alternatives: 0)
        #expect(step.verification.acceptedTokens == [g[1], g[2], g[3]])
        #expect(step.verification.next == g[4])
        #expect(step.sequence != 0, "the accepted path lies in a forked lane")
        #expect(cache.tokens(of: step.sequence) == prompt + Array(g[0...3]))
        #expect(cache.usage.usedBlocks == 1, "the other lanes are freed")
        // Decoding on from the kept lane gives plain greedy's next tokens.
        var token = g[4]
        for i in 5..<8 {
            let logits = try model.transformer.forward(Batch(tokens: [token], startPosition: prompt.count + i - 1, sequence: step.sequence),
                                                       cache: cache, pool: pool)
            token = logits.withUnsafeBufferPointer { Sampler.mostLikely($0) }
            #expect(token == g[i])
        }
    }

    /// With `narrow`, the draft model's logits cover only the tokens below the highest of the
    /// target's first three candidates, so that it cannot propose one of them.
    @Test("speculative sampling keeps plain sampling's distribution (chi-squared over the first 3 tokens)",
          arguments: [(2, false), (4, false), (4, true)])
    func samplingDistribution(k: Int, narrow: Bool) throws {
        // The draft: the same weights in F16, so its distributions are near the target's.
        let target = try Self.model(scale: 0.5)
        var outputTokens: Int?
        if narrow {
            let logits = try target.transformer.forward(Batch(tokens: target.tokenizer.encode("abab abab ab"), startPosition: 0),
                                                        cache: target.transformer.makeCache(capacity: 64), pool: ComputePool())
            let top = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(3)
            outputTokens = try #require(top.max())
        }
        let draft = try Self.model(scale: 0.5, type: .f16, outputTokens: outputTokens)
        // Six tokens, so drafts are accepted within the first three, whose distribution is compared.
        var parameters = GenerationParameters(maxTokens: 6)
        parameters.sampling.temperature = 1.5
        parameters.sampling.topK = 3
        parameters.sampling.topP = 1
        parameters.sampling.minP = 0
        let session = try GenerationSession(model: target, kvBudgetBytes: 4 << 20)
        let prompt = target.tokenizer.encode("abab abab ab")
        let samples = 3000
        var plain: [[TokenID]: Int] = [:], speculative: [[TokenID]: Int] = [:]
        var accepted = 0
        for seed in 0..<samples {
            parameters.sampling.seed = UInt64(seed)
            plain[Array(try session.generate(promptTokens: prompt, parameters: parameters).tokens.prefix(3)), default: 0] += 1
            let drafter = try session.makeDrafter(.draftModel(draft, k: k), sampling: parameters.sampling)
            parameters.sampling.seed = UInt64(seed + samples)  // independent of the plain sample
            let result = try session.generate(promptTokens: prompt, parameters: parameters, drafter: drafter)
            speculative[Array(result.tokens.prefix(3)), default: 0] += 1
            accepted += result.speculation?.accepted ?? 0
        }
        #expect(accepted > samples / 4, "drafts must be accepted often for the test to mean anything (\(accepted))")
        // Two-sample chi-squared over the outcomes (equal sample sizes).
        let outcomes = Set(plain.keys).union(speculative.keys)
        let statistic = outcomes.reduce(0.0) { sum, outcome in
            let a = Double(plain[outcome] ?? 0), b = Double(speculative[outcome] ?? 0)
            return sum + (a - b) * (a - b) / (a + b)
        }
        let df = Double(outcomes.count - 1)
        // Critical value at p = 0.001 (Wilson–Hilferty).
        let critical = df * pow(1 - 2 / (9 * df) + 3.09 * (2 / (9 * df)).squareRoot(), 3)
        #expect(statistic < critical, "χ² = \(statistic) over \(outcomes.count) outcomes, critical \(critical)")
    }

    @Test("a model with logits for the first tokens only: the full model's logits there, −∞ past them")
    func narrowOutput() throws {
        let full = try Self.model(), narrow = try Self.model(outputTokens: 100)
        #expect(narrow.transformer.outputTokens == 100 && full.transformer.outputTokens == full.configuration.vocabularySize)
        let vocabulary = full.configuration.vocabularySize
        let tokens = full.tokenizer.encode("hello world")
        let batch = Batch(tokens: tokens, startPosition: 0, allLogits: true)
        let pool = ComputePool()
        let expected = try full.transformer.forward(batch, cache: full.transformer.makeCache(capacity: 64), pool: pool)
        let logits = try narrow.transformer.forward(batch, cache: narrow.transformer.makeCache(capacity: 64), pool: pool)
        #expect(logits.count == tokens.count * vocabulary)
        for row in 0..<tokens.count {
            #expect(Array(logits[row * vocabulary ..< row * vocabulary + 100]) == Array(expected[row * vocabulary ..< row * vocabulary + 100]))
            #expect(logits[row * vocabulary + 100 ..< (row + 1) * vocabulary].allSatisfy { $0 == -.infinity })
        }
        #expect(throws: ModelError.self) { _ = try Self.model(outputTokens: 0) }
    }

    /// A draft model identical to the target, drafting one token at a time, whose draft is always
    /// accepted; the target's token after it is the draft model's own next choice (`agrees`) or
    /// another. Returns the tokens the draft model then expects of drafts of 1 and of 4.
    static func expectationsAfterLooks(agrees: Bool) throws -> (one: Double, four: Double) {
        let model = try Self.model(scale: 0.15)
        let session = try GenerationSession(model: model, kvBudgetBytes: 8 << 20)
        let drafter = try DraftModelDrafter(draft: model, target: model, pool: ComputePool(threadCount: 1), contextLength: 256,
                                            fixedLength: 1, sampling: .greedy)
        var context = model.tokenizer.encode("hello world")
        for _ in 0..<12 {
            let tree = try drafter.draft(context: context, maximumDepth: 8)
            let drafted = try #require(tree.tokens.first)
            let choice = try #require(session.generate(promptTokens: context + [drafted], parameters: GenerationParameters(maxTokens: 1, sampling: .greedy)).tokens.first)
            let next = agrees ? choice : (choice + 1) % TokenID(model.tokenizer.vocabularySize)
            context += [drafted, next]
            drafter.observe(Verification(acceptedNodes: [0], acceptedTokens: [drafted], next: next, targetChoices: []), tree: tree, context: context)
        }
        return (drafter.expectedTokens(length: 1), drafter.expectedTokens(length: 4))
    }

    @Test("a greedy draft accepted whole is looked past: the draft model's acceptance one token deeper is measured")
    func looksPastAcceptedDrafts() throws {
        // Every first token accepted: about 2 tokens from a draft of 1. A draft of 4 adds almost
        // nothing where the draft model's next choice was never the target's, and about 3 where
        // it always was (the depths beyond the second take the second's acceptance).
        let disagreeing = try Self.expectationsAfterLooks(agrees: false)
        #expect(disagreeing.one > 1.9 && disagreeing.four < disagreeing.one + 0.1, "\(disagreeing)")
        let agreeing = try Self.expectationsAfterLooks(agrees: true)
        #expect(agreeing.one > 1.9 && agreeing.four > agreeing.one + 2.7, "\(agreeing)")
    }

    @Test("bad parameters and a draft model of another vocabulary are refused with a clear error")
    func badInput() throws {
        let target = try Self.model()
        let load = { (_: String) in target }
        for (text, message) in [("ngram:0", "k must be ≥ 1"), ("jacobi:1", "n must be ≥ 2"), ("lookahead:0,3,3", "W must be ≥ 1"),
                                ("lookahead:4,1,3", "N must be ≥ 2"), ("lookahead:4,3", "three numbers"), ("draft:x:0", "k must be ≥ 1"),
                                ("ngram:many", "must be an integer"), ("medusa", "unknown speculative method"), ("draft", "needs a model")] {
            #expect(throws: BraidError.self, "\(text)") { try SpeculationMethod.parse(text, loadModel: load) }
            do {
                _ = try SpeculationMethod.parse(text, loadModel: load)
            } catch {
                #expect("\(error)".contains(message), "\(text): \(error)")
            }
        }
        #expect(throws: ModelError.self, "a draft model requantized to a type Braid does not write") {
            _ = try Self.model(requantizedTo: .q8_0)
        }
        var tokens = TinyModel.vocabulary.tokens
        tokens[100] = "renamed"
        let other = try Self.model(tokens: tokens)
        let session = try GenerationSession(model: target, kvBudgetBytes: 4 << 20)
        #expect(throws: BraidError.self) {
            try session.generate(promptTokens: [1, 2], speculation: .draftModel(other, k: 2))
        }
        do {
            _ = try session.generate(promptTokens: [1, 2], speculation: .draftModel(other, k: 2))
        } catch {
            #expect("\(error)".contains("vocabulary") && "\(error)".contains(other.name) && "\(error)".contains(target.name))
        }
    }
}
