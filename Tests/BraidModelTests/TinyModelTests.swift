// The forward pass on tiny random models (both architectures): equivalences that must hold
// exactly up to float rounding, and the errors for malformed models and batches.
import Braid
import BraidTestSupport
import Foundation
import Testing

func maxDifference(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

@Suite("Tiny models")
struct TinyModelTests {
    static let architectures = ["llama", "qwen2"]

    @Test("a prompt in one batch equals the same prompt token by token (short, and over several blocks and tiles)",
          arguments: [("llama", 7), ("qwen2", 7), ("llama", 150), ("qwen2", 150)])
    func prefillEqualsStepByStep(architecture: String, length: Int) throws {
        var tiny = TinyModel(architecture: architecture)
        tiny.contextLength = 256
        let model = try LanguageModel(path: tiny.write())
        let tokens = (0..<length).map { Int32(($0 * 89 + 5) % 250) }
        let vocabulary = model.configuration.vocabularySize
        let pool = ComputePool()
        let whole = try model.transformer.forward(Batch(tokens: tokens, startPosition: 0, allLogits: true),
                                                  cache: model.transformer.makeCache(capacity: 256), pool: pool)
        let cache = model.transformer.makeCache(capacity: 256)
        for (i, token) in tokens.enumerated() {
            let step = try model.transformer.forward(Batch(tokens: [token], startPosition: i), cache: cache, pool: pool)
            // Above 16 rows the matrix products take sgemm on dequantized weights, below the integer
            // or byte kernels: the two agree to the activations' quantization error (the byte
            // kernels' 15 bits per 32 values: up to about 0.006 here, twice the int16 kernels').
            #expect(maxDifference(step[...], whole[i * vocabulary..<(i + 1) * vocabulary]) < (length > 16 ? 1e-2 : 1e-4), "position \(i)")
        }
    }

    /// Also three KV heads on two threads, where each head's attention is split between the
    /// threads by sequence.
    @Test("two sequences in one batch equal each run alone", arguments: [("llama", 2), ("qwen2", 2), ("llama", 3)])
    func batchedEqualsSeparate(architecture: String, kvHeads: Int) throws {
        var tiny = TinyModel(architecture: architecture)
        if kvHeads == 3 { (tiny.embedding, tiny.heads) = (96, 6) }
        tiny.kvHeads = kvHeads
        let model = try LanguageModel(path: tiny.write())
        let a: [Int32] = [1, 2, 3, 4, 5], b: [Int32] = [250, 7, 9]
        let vocabulary = model.configuration.vocabularySize
        let pool = ComputePool(threadCount: 2)
        var batch = Batch()
        for (i, t) in a.enumerated() { batch.append(t, position: i, sequence: 0, wantsLogits: i == a.count - 1) }
        for (i, t) in b.enumerated() { batch.append(t, position: i, sequence: 1, wantsLogits: i == b.count - 1) }
        let both = try model.transformer.forward(batch, cache: model.transformer.makeCache(capacity: 8, sequenceCount: 2), pool: pool)
        let aloneA = try model.transformer.forward(Batch(tokens: a, startPosition: 0), cache: model.transformer.makeCache(capacity: 8), pool: pool)
        let aloneB = try model.transformer.forward(Batch(tokens: b, startPosition: 0), cache: model.transformer.makeCache(capacity: 8), pool: pool)
        #expect(maxDifference(both[0..<vocabulary], aloneA[...]) < 1e-4)
        #expect(maxDifference(both[vocabulary..<2 * vocabulary], aloneB[...]) < 1e-4)
    }

    @Test("logits do not depend on the thread count", arguments: architectures)
    func threadCountInvariance(architecture: String) throws {
        let model = try LanguageModel(path: TinyModel(architecture: architecture).write())
        let tokens: [Int32] = [10, 20, 30, 40]
        let one = try model.transformer.forward(Batch(tokens: tokens, startPosition: 0), cache: model.transformer.makeCache(capacity: 8),
                                                pool: ComputePool(threadCount: 1))
        let all = try model.transformer.forward(Batch(tokens: tokens, startPosition: 0), cache: model.transformer.makeCache(capacity: 8),
                                                pool: ComputePool())
        #expect(one == all)
    }

    @Test("greedy generation is reproducible and sampling follows the seed")
    func generation() throws {
        let model = try LanguageModel(path: TinyModel().write())
        let greedy = GenerationParameters(maxTokens: 12, sampling: .greedy)
        let first = try model.generate(prompt: "hello", parameters: greedy)
        #expect(first.promptTokens == model.tokenizer.encode("hello"))
        #expect(try model.generate(prompt: "hello", parameters: greedy).tokens == first.tokens)
        var sampled = GenerationParameters(maxTokens: 12)
        sampled.sampling.temperature = 1.5
        sampled.sampling.seed = 7
        let a = try model.generate(prompt: "hello", parameters: sampled)
        let b = try model.generate(prompt: "hello", parameters: sampled)
        #expect(a.tokens == b.tokens)
        sampled.sampling.seed = 8
        let c = try model.generate(prompt: "hello", parameters: sampled)
        #expect(c.tokens != a.tokens)
        // Streamed text equals the final text.
        var streamed = ""
        let d = try model.generate(prompt: "hello", parameters: greedy) { streamed += $0 }
        #expect(streamed == d.text && d.finishReason == (d.tokens.count == 12 ? .length : .stop))
    }

    @Test("the chat template wraps a message in ChatML")
    func chat() throws {
        let model = try LanguageModel(path: TinyModel().write())
        #expect(try model.chatPrompt(user: "Hi") == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        let smol = try ChatTemplate(template: "{{ '<|im_start|>system\nYou are SmolLM<|im_end|>\n' }}{{'<|im_start|>' + message['role']}}<|im_end|>")
        #expect(smol.defaultSystemMessage == "You are SmolLM")
        let qwen = try ChatTemplate(template: "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{{- '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}")
        #expect(qwen.defaultSystemMessage == "You are Qwen.")
        #expect(throws: BraidError.self) { try ChatTemplate(template: "[INST] {{ message }} [/INST]") }
    }
}

@Suite("Tiny models: bad input")
struct TinyModelBadInputTests {
    @Test func unsupportedArchitecture() throws {
        var tiny = TinyModel()
        tiny.extraMetadata = [("general.architecture", .string("mamba"))]
        #expect(throws: ModelError.unsupportedArchitecture("mamba", supported: ["llama", "qwen2"])) {
            try LanguageModel(path: tiny.write())
        }
    }

    @Test func missingMetadataKey() throws {
        // The hyper-parameters are written under `qwen2.*`, but the file says `llama`: every
        // `llama.*` key is missing, and the error names the first one read.
        var tiny = TinyModel()
        tiny.architecture = "qwen2"
        tiny.extraMetadata = [("general.architecture", .string("llama"))]
        #expect(throws: GGUFError.missingKey("llama.embedding_length")) { try LanguageModel(path: tiny.write()) }
    }

    @Test func missingTensor() throws {
        var tiny = TinyModel()
        tiny.omittedTensors = ["blk.1.ffn_up.weight"]
        #expect(throws: GGUFError.missingTensor("blk.1.ffn_up.weight")) { try LanguageModel(path: tiny.write()) }
    }

    @Test func promptLongerThanContext() throws {
        let model = try LanguageModel(path: TinyModel().write())
        let prompt = String(repeating: "ab ", count: 40)
        #expect(throws: BraidError.promptTooLong(tokens: model.tokenizer.encode(prompt).count, context: 16)) {
            try model.generate(prompt: prompt, parameters: GenerationParameters(maxTokens: 4, contextLength: 16))
        }
        #expect(throws: ModelError.contextExceeded(position: 8, capacity: 8)) {
            try model.transformer.forward(Batch(tokens: [1], startPosition: 8), cache: model.transformer.makeCache(capacity: 8), pool: ComputePool())
        }
    }

    @Test func invalidBatches() throws {
        let model = try LanguageModel(path: TinyModel().write())
        let cache = model.transformer.makeCache(capacity: 8)
        #expect(throws: ModelError.invalidToken(999_999, vocabularySize: model.configuration.vocabularySize)) {
            try model.transformer.forward(Batch(tokens: [999_999], startPosition: 0), cache: cache, pool: ComputePool())
        }
        #expect(throws: ModelError.self) { try model.transformer.forward(Batch(), cache: cache, pool: ComputePool()) }
        var other = Batch()
        other.append(1, position: 0, sequence: 3, wantsLogits: true)
        #expect(throws: ModelError.self) { try model.transformer.forward(other, cache: cache, pool: ComputePool()) }
        // A gap would make attention read positions nobody wrote.
        #expect(throws: ModelError.invalidBatch("position 2 of sequence 0 leaves a gap after its 0 positions")) {
            try model.transformer.forward(Batch(tokens: [1], startPosition: 2), cache: cache, pool: ComputePool())
        }
        _ = try model.transformer.forward(Batch(tokens: [1, 2, 3], startPosition: 0), cache: cache, pool: ComputePool())
        cache.truncate(0, to: 1)
        #expect(throws: ModelError.self) {
            try model.transformer.forward(Batch(tokens: [9], startPosition: 2), cache: cache, pool: ComputePool())
        }
        _ = try model.transformer.forward(Batch(tokens: [9], startPosition: 1), cache: cache, pool: ComputePool())
    }

    @Test("weights that make NaN logits give an error, not a crash or garbage tokens")
    func corruptWeights() throws {
        var tiny = TinyModel()
        tiny.matrixType = .f32  // NaN stored as it is
        tiny.blockOutputScale = .nan
        let model = try LanguageModel(path: tiny.write())
        #expect(throws: ModelError.nonFiniteLogits) {
            try model.transformer.forward(Batch(tokens: [1, 2], startPosition: 0), cache: model.transformer.makeCache(capacity: 8), pool: ComputePool())
        }
        #expect(throws: ModelError.nonFiniteLogits) { try model.generate(prompt: "hi", parameters: GenerationParameters(maxTokens: 2)) }
    }

    @Test func invalidSamplingParameters() throws {
        let model = try LanguageModel(path: TinyModel().write())
        for change in [{ (p: inout SamplingParameters) in p.temperature = -1 }, { $0.temperature = .nan }, { $0.topP = 0 },
                       { $0.topP = .nan }, { $0.minP = -0.1 }, { $0.topK = -3 }, { $0.repetitionPenalty = 0 }] {
            var parameters = GenerationParameters(maxTokens: 2)
            change(&parameters.sampling)
            #expect(throws: SamplingError.self) { try model.generate(prompt: "hi", parameters: parameters) }
        }
        #expect(throws: BraidError.self) { try model.generate(prompt: "hi", parameters: GenerationParameters(maxTokens: -1)) }
        #expect(throws: BraidError.emptyPrompt) { try model.generate(prompt: "", parameters: GenerationParameters()) }
        // Limits far beyond the context neither overflow nor allocate: generation stops at the context.
        let long = try model.generate(prompt: "hi", parameters: GenerationParameters(maxTokens: .max, sampling: .greedy))
        #expect(long.promptTokens.count + long.tokens.count <= model.configuration.contextLength)
        #expect(throws: BraidError.invalidParameter("context 100000 exceeds the model's 64")) {
            try model.generate(prompt: "hi", parameters: GenerationParameters(contextLength: 100_000))
        }
        #expect(throws: BraidError.self) { try model.perplexity(of: "hello", context: 16) }
    }
}
