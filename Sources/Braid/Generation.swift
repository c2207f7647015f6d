// What a generation is asked for and what it returns: parameters, finish reasons, timings, and
// the result of one chain or of N branches sampled from one prompt.

/// Options of one generation.
public struct GenerationParameters: Sendable {
    /// Most tokens to generate per branch.
    public var maxTokens: Int
    /// How tokens are picked (each branch draws from its own random stream of the seed).
    public var sampling: SamplingParameters
    /// Context length (prompt + generated tokens); nil: the model's, at most 4096.
    public var contextLength: Int?
    /// Threads for the kernels; nil: every core.
    public var threads: Int?
    /// Tokens per prompt-processing forward pass.
    public var promptBatchSize: Int
    /// A branch stops when its text contains one of these; the text ends before it.
    public var stopStrings: [String]
    /// How many most-likely alternatives to record with every generated token (0: none).
    public var topLogprobs: Int
    /// Keep generating past end-of-generation tokens (for benchmarks, as llama.cpp's --ignore-eos).
    public var ignoreEndOfGeneration: Bool

    public init(maxTokens: Int = 128, sampling: SamplingParameters = SamplingParameters(), contextLength: Int? = nil,
                threads: Int? = nil, promptBatchSize: Int = 512, stopStrings: [String] = [], topLogprobs: Int = 0,
                ignoreEndOfGeneration: Bool = false) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.contextLength = contextLength
        self.threads = threads
        self.promptBatchSize = promptBatchSize
        self.stopStrings = stopStrings
        self.topLogprobs = topLogprobs
        self.ignoreEndOfGeneration = ignoreEndOfGeneration
    }

    func validate() throws {
        try sampling.validate()
        guard maxTokens >= 0 else { throw BraidError.invalidParameter("max tokens must be ≥ 0 (got \(maxTokens))") }
        if let contextLength, contextLength <= 0 { throw BraidError.invalidParameter("context must be > 0 (got \(contextLength))") }
        if let threads, threads <= 0 { throw BraidError.invalidParameter("threads must be > 0 (got \(threads))") }
        guard promptBatchSize > 0 else { throw BraidError.invalidParameter("batch size must be > 0 (got \(promptBatchSize))") }
        guard topLogprobs >= 0 else { throw BraidError.invalidParameter("top logprobs must be ≥ 0 (got \(topLogprobs))") }
    }
}

/// Why generation of a branch stopped.
public enum FinishReason: String, Sendable, Codable {
    /// The model produced an end-of-generation token, or the text reached a stop string.
    case stop
    /// The token limit or the context length was reached.
    case length
    /// The KV cache had no block left for the branch.
    case kvFull = "kv_full"
    /// A monitor stopped the branch early (DeepConf: its confidence fell below the threshold).
    case pruned
}

/// Sees each token a branch accepts, with the branch's random stream, and returns true to stop
/// that branch there (the token is kept; the branch ends with `pruned`).
public typealias BranchMonitor = (_ stream: Int, _ token: SampledToken) -> Bool

/// A prompt processed once and held in a session's cache, ready for rounds of branches.
public struct PreparedPrompt: Sendable {
    /// The prompt's tokens.
    public let tokens: [TokenID]
    /// The sequence holding the prompt's keys and values; branches fork from it.
    let sequence: SequenceID
    /// Logits after the last prompt token.
    let logits: [Float]
    /// Prompt tokens whose keys and values came from the prefix cache.
    public let reusedTokens: Int
    /// Time the prompt took to process.
    public let milliseconds: Double
}

/// Wall-clock times of one generation, in milliseconds.
public struct GenerationTimings: Sendable, Codable {
    /// Time to process the prompt, up to the first token's logits (time to first token).
    public var promptMilliseconds: Double
    /// Time from the first sampled token to the end.
    public var decodeMilliseconds: Double
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Prompt tokens whose keys and values came from the prefix cache instead of a forward pass.
    public var reusedPromptTokens: Int
    /// Tokens run through forward passes after the prompt (one per branch per decoding step).
    public var decodedTokens: Int

    /// Prompt tokens processed per second (reused ones count: they are part of the prompt).
    public var promptTokensPerSecond: Double { promptMilliseconds > 0 ? Double(promptTokens) / promptMilliseconds * 1000 : 0 }
    /// Tokens generated per second over all branches, counting the forward passes after the first token.
    public var decodeTokensPerSecond: Double { decodeMilliseconds > 0 ? Double(decodedTokens) / decodeMilliseconds * 1000 : 0 }
}

/// One branch: a continuation sampled from the shared prompt.
public struct Branch: Sendable {
    /// The random stream the branch drew from (its number among the prompt's branches).
    public var stream: Int
    /// Generated tokens, without the end-of-generation token.
    public var tokens: [TokenID]
    /// The generated text (cut before a stop string).
    public var text: String
    /// Why the branch stopped.
    public var finishReason: FinishReason
    /// Log-probability of each generated token, with the alternatives asked for.
    public var logprobs: [SampledToken]

    public init(stream: Int, tokens: [TokenID], text: String, finishReason: FinishReason, logprobs: [SampledToken]) {
        self.stream = stream
        self.tokens = tokens
        self.text = text
        self.finishReason = finishReason
        self.logprobs = logprobs
    }

    /// Mean log-probability of the generated tokens (0 for none): a length-normalized likelihood.
    public var meanLogprob: Double {
        logprobs.isEmpty ? 0 : logprobs.reduce(0.0) { $0 + Double($1.chosen.logprob) } / Double(logprobs.count)
    }
}

/// KV memory of a generation.
public struct KVCacheReport: Sendable {
    /// Positions per block.
    public var blockSize: Int
    /// Blocks in the pool (the memory budget).
    public var blockCount: Int
    /// Bytes of one block (keys and values, all layers).
    public var bytesPerBlock: Int
    /// The most blocks in use at once during the generation.
    public var peakUsedBlocks: Int

    /// Bytes of the most blocks in use at once.
    public var peakBytes: Int { peakUsedBlocks * bytesPerBlock }
}

/// What sampling several branches from one prompt produced.
public struct BranchedGenerationResult: Sendable {
    /// The prompt as token ids.
    public var promptTokens: [TokenID]
    /// The branches, in order of their random streams.
    public var branches: [Branch]
    /// Where the time went.
    public var timings: GenerationTimings
    /// How much KV memory the branches took.
    public var kvCache: KVCacheReport
}

/// What one generation produced.
public struct GenerationResult: Sendable {
    /// The prompt as token ids.
    public var promptTokens: [TokenID]
    /// Generated tokens, without the end-of-generation token.
    public var tokens: [TokenID]
    /// The generated text.
    public var text: String
    /// Why generation stopped.
    public var finishReason: FinishReason
    /// Log-probabilities of the generated tokens.
    public var logprobs: [SampledToken]
    /// Where the time went.
    public var timings: GenerationTimings
    /// What speculative decoding did (nil for plain decoding).
    public var speculation: SpeculationReport? = nil
}

extension LanguageModel {
    /// Generates a continuation of `prompt` (special tokens in it are parsed). `onText` receives
    /// the text as it is produced, never splitting a UTF-8 character.
    public func generate(prompt: String, parameters: GenerationParameters = GenerationParameters(),
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try generate(promptTokens: tokenizer.encode(prompt), parameters: parameters, onText: onText)
    }

    /// Generates a continuation of the given prompt tokens.
    public func generate(promptTokens: [TokenID], parameters: GenerationParameters = GenerationParameters(),
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        try parameters.validate()
        let session = try GenerationSession(model: self, parameters: parameters, promptTokens: promptTokens.count, branches: 1)
        return try session.generate(promptTokens: promptTokens, parameters: parameters, onText: onText)
    }

    /// Samples `count` branches from one prompt: the prompt is processed once, the branches share
    /// its KV blocks and decode together, one forward pass per step for all of them.
    public func generateBranches(prompt: String, count: Int, parameters: GenerationParameters = GenerationParameters()) throws
        -> BranchedGenerationResult {
        try parameters.validate()
        let tokens = tokenizer.encode(prompt)
        let session = try GenerationSession(model: self, parameters: parameters, promptTokens: tokens.count, branches: count)
        return try session.generateBranches(promptTokens: tokens, count: count, parameters: parameters)
    }
}

extension Duration {
    /// The duration in milliseconds.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) * 1e-15
    }
}
