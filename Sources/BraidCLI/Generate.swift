// `braid generate`: text from a prompt, streamed as it is produced, or one JSON object. With
// --branches N the prompt is processed once and N branches are sampled from it together; they
// are printed one after another with a header, or as the JSON object's "branches". With
// --aggregate the branches are folded into one answer, shown with its vote table.
import ArgumentParser
import Braid
import BraidAggregation
import Foundation

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a prompt.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .shortAndLong, help: "The prompt.")
    var prompt: String

    @Option(name: [.customShort("n"), .customLong("max-tokens")], parsing: .unconditional, help: "Most tokens to generate.")
    var maxTokens = 128

    @Option(parsing: .unconditional, help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.8

    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Keep the k most likely tokens (0: all).")
    var topK = 40

    @Option(name: .customLong("top-p"), parsing: .unconditional, help: "Nucleus sampling threshold (1: off).")
    var topP: Float = 0.95

    @Option(name: .customLong("min-p"), parsing: .unconditional, help: "Drop tokens below min-p × the top probability (0: off).")
    var minP: Float = 0.05

    @Option(name: .customLong("repeat-penalty"), parsing: .unconditional, help: "Penalty for the last 64 tokens (1: off).")
    var repeatPenalty: Float = 1.0

    @Option(help: "Random seed (default: a fresh one each run).")
    var seed: UInt64?

    @Option(name: [.customShort("c"), .customLong("context")], parsing: .unconditional, help: "Context length (default: the model's, at most 4096).")
    var context: Int?

    @Option(parsing: .unconditional, help: "Branches sampled from the prompt at once (each with its own random stream).")
    var branches = 1

    @Option(parsing: .unconditionalSingleValue, help: "Stop a branch where its text contains this string (repeatable).")
    var stop: [String] = []

    @Option(name: .customLong("top-logprobs"), parsing: .unconditional,
            help: "Alternatives recorded with each token's log-probability (--json).")
    var topLogprobs = 0

    @Option(name: .customLong("kv-budget"), parsing: .unconditional,
            help: "KV cache memory in MiB (default: what the prompt and the branches need).")
    var kvBudget: Int?

    @Option(help: "Fold the branches into one answer: \(AggregationOperators.names.joined(separator: ", ")).")
    var aggregate: String?

    @Option(help: "How --aggregate finds a branch's answer: math (\\boxed, 'answer is', last number), number, boxed, answer, choice, code, regex:PATTERN. A branch cut off before its end answers only with an answer it marks (\\boxed, 'answer is').")
    var extract = "math"

    @Option(help: "A model (file or manifest name) that writes the answer for --aggregate synthesize (default: the same model).")
    var synthesizer: String?

    @Option(help: "Speculative decoding: draft:MODEL[:k], ngram[:k], jacobi[:n], lookahead[:W,N,G] or auto[:MODEL] (greedy output is exactly plain greedy's).")
    var speculative: String?

    @Option(help: "Weights of the draft model (draft:, auto:): q4_0 or q4_1 requantizes its wider matrices at load (smaller, faster drafts; the target's output is unchanged), stored keeps the file's.")
    var draftWeights = "q4_0"

    @Option(help: "Logits of the draft model (draft:, auto:) for only the first N tokens of the vocabulary, the frequent ones (a cheaper draft step; the target's output is unchanged), or full.")
    var draftVocabulary = "32768"

    @Flag(help: "Wrap the prompt in the model's chat template.")
    var chat = false

    @Flag(help: "Print one JSON object instead of streaming text.")
    var json = false

    func run() throws {
        try reportingErrors {
            var sampling = SamplingParameters()
            sampling.temperature = temperature
            sampling.topK = topK
            sampling.topP = topP
            sampling.minP = minP
            sampling.repetitionPenalty = repeatPenalty
            sampling.seed = seed ?? UInt64.random(in: 0...UInt64.max)
            let parameters = GenerationParameters(maxTokens: maxTokens, sampling: sampling, contextLength: context,
                                                  threads: modelOptions.threads, stopStrings: stop, topLogprobs: topLogprobs)
            try parameters.sampling.validate()
            guard branches >= 1 else { throw BraidError.invalidParameter("--branches must be ≥ 1 (got \(branches))") }
            if let kvBudget, kvBudget <= 0 { throw BraidError.invalidParameter("--kv-budget must be > 0 MiB (got \(kvBudget))") }
            if let kvBudget, kvBudget > Int.max >> 20 { throw BraidError.invalidParameter("--kv-budget \(kvBudget) MiB exceeds this machine's memory") }
            let draftType = try draftWeightsType(), draftTokens = try draftVocabularySize()
            if let aggregate {
                try runAggregation(aggregate, parameters: parameters)
                return
            }
            if let speculative {
                guard branches == 1 else { throw BraidError.invalidParameter("--speculative decodes one chain; it cannot take --branches \(branches)") }
                try runSpeculation(speculative, draftType: draftType, draftTokens: draftTokens, parameters: parameters)
                return
            }
            let (model, loadMilliseconds) = try modelOptions.load()
            let text = chat ? try model.chatPrompt(user: prompt) : prompt
            let promptTokens = model.tokenizer.encode(text)
            let session = try budgetedSession(model) ?? GenerationSession(model: model, parameters: parameters, promptTokens: promptTokens.count,
                                                                               branches: branches)
            let cache = session.cache
            if !json && branches > 1 {
                let mebibytes = Double(cache.byteCount) / 1_048_576
                FileHandle.standardError.write(Data(String(format: "braid: KV cache: %d blocks of %d positions (%.1f MiB)\n",
                                                           cache.blockCount, cache.blockSize, mebibytes).utf8))
            }
            if branches == 1 && !json {
                _ = try session.generate(promptTokens: promptTokens, parameters: parameters, onText: writeOut)
                writeOut("\n")
                return
            }
            let result = try session.generateBranches(promptTokens: promptTokens, count: branches, parameters: parameters)
            if json {
                try printJSON(Self.json(result, model: model, seed: sampling.seed, loadMilliseconds: loadMilliseconds))
            } else {
                for (i, branch) in result.branches.enumerated() {
                    writeOut(String(format: "── branch %d/%d · %@ · %d tokens · mean logprob %.3f ──\n", i + 1, branches,
                                    branch.finishReason.rawValue, branch.tokens.count, branch.meanLogprob))
                    writeOut(branch.text + "\n")
                }
            }
        }
    }

    /// Samples up to --branches branches, folds them with the operator and prints the answer, the
    /// vote table and each branch's tokens (or the JSON object with "aggregate").
    func runAggregation(_ name: String, parameters: GenerationParameters) throws {
        let aggregation = try AggregationOperators.named(name)
        let extractor = try AnswerExtraction.named(extract)
        var parameters = parameters
        if aggregation.needsTokenAlternatives {
            parameters.topLogprobs = max(parameters.topLogprobs, AggregationOperators.confidenceAlternatives)
        }
        let (model, loadMilliseconds) = try modelOptions.load()
        let promptTokens = model.tokenizer.encode(chat ? try model.chatPrompt(user: prompt) : prompt)
        let session = try budgetedSession(model) ?? GenerationSession(model: model, parameters: parameters, promptTokens: promptTokens.count,
                                                                           reasoningBudget: branches)
        let writer = try synthesizer.map { try GenerationSession(synthesizer: modelOptions.load($0), parameters: parameters) }
        let clock = ContinuousClock()
        let start = clock.now
        let result = try session.reason(question: prompt, promptTokens: promptTokens, budget: branches, parameters: parameters,
                                        aggregation: aggregation, extractor: extractor, synthesizer: writer)
        let milliseconds = (clock.now - start).milliseconds
        let peakBytes = session.cache.peakUsedBlocks * session.cache.bytesPerBlock
        if json {
            try printJSON([
                "prompt_tokens": promptTokens.map(Int.init), "seed": NSNumber(value: parameters.sampling.seed),
                "text": result.text, "answer": result.answer as Any,
                "branches": result.candidates.map { candidate in
                    Self.json(candidate.branch).merging([
                        "stream": candidate.branch.stream, "answer": candidate.answer as Any,
                        "score": result.scores[candidate.branch.stream] as Any,
                    ]) { _, new in new }
                },
                "aggregate": [
                    "operator": result.operatorName, "answer": result.answer as Any, "chosen_stream": result.chosenStream as Any,
                    "votes": result.votes.map { ["answer": $0.answer, "count": $0.count, "weight": $0.weight] },
                    "branches_sampled": result.candidates.count, "generated_tokens": result.generatedTokens,
                    "judge_tokens": result.judgeTokens,
                ],
                "kv_cache": ["peak_bytes": peakBytes, "peak_used_blocks": session.cache.peakUsedBlocks],
                "timings": ["load_ms": loadMilliseconds, "total_ms": milliseconds],
            ])
            return
        }
        for candidate in result.candidates {
            let branch = candidate.branch
            let score = result.scores[branch.stream].map { String(format: " · score %.3f", $0) } ?? ""
            writeOut("── branch \(branch.stream + 1) · \(branch.finishReason.rawValue) · \(branch.tokens.count) tokens · answer \(candidate.answer ?? "none")\(score)\n")
        }
        writeOut("votes: " + (result.votes.isEmpty ? "none" : result.votes.map {
            String(format: "%@ ×%d (weight %.3g)", $0.answer, $0.count, $0.weight)
        }.joined(separator: " · ")) + "\n")
        writeOut("── \(result.operatorName): \(result.candidates.count) branches, \(result.generatedTokens) tokens generated, \(result.judgeTokens) judging, KV peak "
                 + String(format: "%.1f MiB", Double(peakBytes) / 1_048_576) + " ──\n")
        writeOut(result.text + "\n")
        writeOut("answer: \(result.answer ?? "none")\n")
    }

    /// A session whose KV pool is --kv-budget, or nil to size it for the request.
    func budgetedSession(_ model: LanguageModel) throws -> GenerationSession? {
        try kvBudget.map { try GenerationSession(model: model, kvBudgetBytes: $0 << 20, contextLength: context, threads: modelOptions.threads) }
    }

    /// The type `--draft-weights` requantizes the draft model to, or nil for its stored weights.
    func draftWeightsType() throws -> TensorType? {
        if draftWeights == "stored" { return nil }
        guard let type = TensorType.quantizable.first(where: { $0.description.lowercased() == draftWeights.lowercased() }) else {
            throw BraidError.invalidParameter("--draft-weights must be stored, \(TensorType.quantizable.map { $0.description.lowercased() }.joined(separator: " or ")) (got \(draftWeights))")
        }
        return type
    }

    /// The tokens `--draft-vocabulary` keeps in the draft model's logits, or nil for all.
    func draftVocabularySize() throws -> Int? {
        if draftVocabulary == "full" { return nil }
        guard let count = Int(draftVocabulary), count >= 1 else {
            throw BraidError.invalidParameter("--draft-vocabulary must be a number of tokens ≥ 1 or full (got \(draftVocabulary))")
        }
        return count
    }

    /// Generates one chain with speculative decoding; text streams out, or the JSON object gets
    /// "speculation".
    func runSpeculation(_ specification: String, draftType: TensorType?, draftTokens: Int?, parameters: GenerationParameters) throws {
        let (model, loadMilliseconds) = try modelOptions.load()
        let method = try SpeculationMethod.parse(specification) {
            try modelOptions.load($0, requantizedTo: draftType, outputTokens: draftTokens)
        }
        let promptTokens = model.tokenizer.encode(chat ? try model.chatPrompt(user: prompt) : prompt)
        let session = try budgetedSession(model) ?? GenerationSession(model: model, parameters: parameters, promptTokens: promptTokens.count,
                                                                           branches: method.maximumLanes + 1)
        let result = try session.generate(promptTokens: promptTokens, parameters: parameters, speculation: method,
                                          onText: json ? { _ in } : writeOut)
        guard json else {
            writeOut("\n")
            return
        }
        let branch = Branch(stream: 0, tokens: result.tokens, text: result.text, finishReason: result.finishReason, logprobs: result.logprobs)
        let cache = session.cache
        var object = Self.json(promptTokens: promptTokens, branches: [branch], timings: result.timings,
                               kvCache: (cache.blockSize, cache.blockCount, cache.bytesPerBlock, cache.peakUsedBlocks),
                               seed: parameters.sampling.seed, loadMilliseconds: loadMilliseconds)
        if let speculation = result.speculation {
            object["speculation"] = [
                "method": speculation.method, "drafted": speculation.drafted, "accepted": speculation.accepted,
                "mean_accepted_length": speculation.meanAcceptedLength, "target_forwards": speculation.targetForwards,
                "draft_ms": speculation.draftMilliseconds, "verify_ms": speculation.verifyMilliseconds,
                "acceptance_rate": speculation.acceptanceRate, "choices": speculation.choices as Any,
            ]
        }
        try printJSON(object)
    }

    /// One branch's fields in the JSON object.
    static func json(_ branch: Branch) -> [String: Any] {
        func logprob(_ entry: TokenLogprob) -> [String: Any] { ["token": Int(entry.token), "logprob": Double(entry.logprob)] }
        return [
            "text": branch.text, "tokens": branch.tokens.map(Int.init), "finish_reason": branch.finishReason.rawValue,
            "mean_logprob": branch.meanLogprob,
            "logprobs": branch.logprobs.map { sampled -> [String: Any] in
                logprob(sampled.chosen).merging(["top_logprobs": sampled.alternatives.map(logprob)]) { a, _ in a }
            },
        ]
    }

    /// The JSON object: the first branch's fields at the top level (as a single generation
    /// prints them), every branch under "branches", timings and KV memory.
    static func json(_ result: BranchedGenerationResult, model: LanguageModel, seed: UInt64, loadMilliseconds: Double) -> [String: Any] {
        let kv = result.kvCache
        return json(promptTokens: result.promptTokens, branches: result.branches, timings: result.timings,
                    kvCache: (kv.blockSize, kv.blockCount, kv.bytesPerBlock, kv.peakUsedBlocks), seed: seed, loadMilliseconds: loadMilliseconds)
    }

    static func json(promptTokens: [TokenID], branches: [Branch], timings t: GenerationTimings,
                     kvCache kv: (blockSize: Int, blockCount: Int, bytesPerBlock: Int, peakUsedBlocks: Int),
                     seed: UInt64, loadMilliseconds: Double) -> [String: Any] {
        let first = branches[0]
        return [
            "prompt_tokens": promptTokens.map(Int.init),
            "tokens": first.tokens.map(Int.init),
            "text": first.text,
            "finish_reason": first.finishReason.rawValue,
            "seed": NSNumber(value: seed),
            "branches": branches.map(json),
            "timings": [
                "load_ms": loadMilliseconds,
                "prompt_ms": t.promptMilliseconds,
                "decode_ms": t.decodeMilliseconds,
                "prompt_tokens_per_s": t.promptTokensPerSecond,
                "decode_tokens_per_s": t.decodeTokensPerSecond,
                "reused_prompt_tokens": t.reusedPromptTokens,
            ],
            "kv_cache": [
                "block_size": kv.blockSize, "blocks": kv.blockCount, "bytes_per_block": kv.bytesPerBlock,
                "peak_used_blocks": kv.peakUsedBlocks, "peak_bytes": kv.peakUsedBlocks * kv.bytesPerBlock,
            ],
        ]
    }
}
