// Generating text from a prompt: tokenize, prefill the prompt in chunks, then decode one token at
// a time with the sampler until an end-of-generation token, the token limit or the context end.
import Foundation

/// Options of one generation.
public struct GenerationParameters: Sendable {
    /// Most tokens to generate.
    public var maxTokens: Int
    /// How tokens are picked.
    public var sampling: SamplingParameters
    /// Context length (prompt + generated tokens); nil: the model's, at most 4096.
    public var contextLength: Int?
    /// Threads for the kernels; nil: every core.
    public var threads: Int?
    /// Tokens per prompt-processing forward pass.
    public var promptBatchSize: Int

    public init(maxTokens: Int = 128, sampling: SamplingParameters = SamplingParameters(), contextLength: Int? = nil,
                threads: Int? = nil, promptBatchSize: Int = 512) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.contextLength = contextLength
        self.threads = threads
        self.promptBatchSize = promptBatchSize
    }

    func validate() throws {
        try sampling.validate()
        guard maxTokens >= 0 else { throw BraidError.invalidParameter("max tokens must be ≥ 0 (got \(maxTokens))") }
        if let contextLength, contextLength <= 0 { throw BraidError.invalidParameter("context must be > 0 (got \(contextLength))") }
        if let threads, threads <= 0 { throw BraidError.invalidParameter("threads must be > 0 (got \(threads))") }
        guard promptBatchSize > 0 else { throw BraidError.invalidParameter("batch size must be > 0 (got \(promptBatchSize))") }
    }
}

/// Why generation stopped.
public enum FinishReason: String, Sendable, Codable {
    /// The model produced an end-of-generation token.
    case stop
    /// The token limit or the context length was reached.
    case length
}

/// Wall-clock times of one generation, in milliseconds.
public struct GenerationTimings: Sendable, Codable {
    /// Time to process the prompt, up to the first token's logits.
    public var promptMilliseconds: Double
    /// Time from the first sampled token to the end.
    public var decodeMilliseconds: Double
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Forward passes of one generated token each.
    public var decodedTokens: Int

    /// Prompt tokens processed per second.
    public var promptTokensPerSecond: Double { promptMilliseconds > 0 ? Double(promptTokens) / promptMilliseconds * 1000 : 0 }
    /// Tokens generated per second, counting the forward passes after the first token.
    public var decodeTokensPerSecond: Double { decodeMilliseconds > 0 ? Double(decodedTokens) / decodeMilliseconds * 1000 : 0 }
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
    /// Where the time went.
    public var timings: GenerationTimings
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
        guard !promptTokens.isEmpty else { throw BraidError.emptyPrompt }
        let context = parameters.contextLength ?? min(configuration.contextLength, 4096)
        guard context <= configuration.contextLength else {
            throw BraidError.invalidParameter("context \(context) exceeds the model's \(configuration.contextLength)")
        }
        guard promptTokens.count <= context else { throw BraidError.promptTooLong(tokens: promptTokens.count, context: context) }
        let pool = ComputePool(threadCount: parameters.threads)
        let cache = transformer.makeCache(capacity: min(context, promptTokens.count + min(parameters.maxTokens, context)))
        var sampler = try Sampler(parameters.sampling)
        let clock = ContinuousClock()

        let promptStart = clock.now
        var logits: [Float] = []
        var start = 0
        while start < promptTokens.count {
            let chunk = Array(promptTokens[start..<min(start + parameters.promptBatchSize, promptTokens.count)])
            logits = try transformer.forward(Batch(tokens: chunk, startPosition: start), cache: cache, pool: pool)
            start += chunk.count
        }
        let promptDuration = clock.now - promptStart

        var history = promptTokens
        var generated: [TokenID] = []
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        var finish = FinishReason.length
        let decodeStart = clock.now
        var decodedForwards = 0
        while generated.count < parameters.maxTokens {
            let token = logits.withUnsafeBufferPointer { sampler.sample($0, history: history) }
            if tokenizer.isEndOfGeneration(token) {
                finish = .stop
                break
            }
            generated.append(token)
            history.append(token)
            onText(stream.append(token))
            let position = history.count - 1
            // Stop at the token limit, or when the next token would not fit in the context.
            if generated.count == parameters.maxTokens || position + 1 >= cache.capacity { break }
            logits = try transformer.forward(Batch(tokens: [token], startPosition: position), cache: cache, pool: pool)
            decodedForwards += 1
        }
        onText(stream.finish())
        let decodeDuration = clock.now - decodeStart
        return GenerationResult(
            promptTokens: promptTokens, tokens: generated, text: tokenizer.decode(generated), finishReason: finish,
            timings: GenerationTimings(promptMilliseconds: promptDuration.milliseconds, decodeMilliseconds: decodeDuration.milliseconds,
                                       promptTokens: promptTokens.count, decodedTokens: decodedForwards))
    }
}

extension Duration {
    /// The duration in milliseconds.
    public var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) * 1e-15
    }
}
