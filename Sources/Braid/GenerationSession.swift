// A generation session: a model with one compute pool and one paged KV cache that outlive single
// requests, so a prompt seen before is not processed again (the prefix cache adopts its blocks).
// N branches: the prompt is processed once, forked N times (no copy), and the branches decode
// together, one forward pass of one token per live branch per step:
//
//   step      prompt            1        2        3
//   branch 0  [p0 … p511] ──┬── a0 ──── a1 ──── a2 ──  EOS: stop, blocks freed
//   branch 1                ├── b0 ──── b1 ──── b2 ──── …
//   branch 2                └── c0 ──── c1 ──── stop string: stop
//   batch                       3 rows   3 rows   2 rows
//
// A prepared prompt stays in the cache between rounds: branches of streams 0..<4 now and 4..<8
// later are the same as 0..<8 at once (each branch draws from its own stream), which is how
// Adaptive-Consistency and DeepConf sample in waves. A monitor may stop any branch early.
import Foundation

/// A model, a compute pool and a paged KV cache with prefix reuse across requests.
///
/// ```swift
/// let session = try GenerationSession(model: model, kvBudgetBytes: 256 << 20)
/// let result = try session.generateBranches(promptTokens: model.tokenizer.encode(prompt), count: 8,
///                                           parameters: GenerationParameters(maxTokens: 128))
/// for branch in result.branches { print(branch.finishReason, branch.text) }
/// ```
public final class GenerationSession {
    /// The model.
    public let model: LanguageModel
    /// The KV cache every request of the session shares.
    public let cache: PagedKVCache
    /// Threads for the kernels.
    public let pool: ComputePool
    /// The most positions a sequence may hold.
    public let contextLength: Int

    /// A session with a KV pool of at most `kvBudgetBytes` (at least one block), sequences of up
    /// to `contextLength` positions (nil: the model's, at most 4096) and `threads` kernel threads.
    public init(model: LanguageModel, kvBudgetBytes: Int, contextLength: Int? = nil, threads: Int? = nil,
                blockSize: Int = PagedKVCache.defaultBlockSize) throws {
        let context = contextLength ?? Self.defaultContextLength(model)
        guard context > 0 else { throw BraidError.invalidParameter("context must be > 0 (got \(context))") }
        guard context <= model.configuration.contextLength else {
            throw BraidError.invalidParameter("context \(context) exceeds the model's \(model.configuration.contextLength)")
        }
        if let threads, threads <= 0 { throw BraidError.invalidParameter("threads must be > 0 (got \(threads))") }
        guard blockSize > 0 else { throw BraidError.invalidParameter("block size must be > 0 (got \(blockSize))") }
        let bytesPerBlock = PagedKVCache.blockBytes(configuration: model.configuration, blockSize: blockSize,
                                                    type: model.transformer.kvCacheType)
        guard kvBudgetBytes >= bytesPerBlock else {
            throw BraidError.kvCacheTooSmall("a budget of \(kvBudgetBytes) bytes is less than one block (\(bytesPerBlock) bytes)")
        }
        let memory = ProcessInfo.processInfo.physicalMemory
        guard UInt64(kvBudgetBytes) <= memory else {
            throw BraidError.invalidParameter("a KV cache of \(kvBudgetBytes >> 20) MiB exceeds this machine's \(memory >> 20) MiB of memory")
        }
        self.model = model
        self.contextLength = context
        cache = PagedKVCache(configuration: model.configuration, blockSize: blockSize, blockCount: kvBudgetBytes / bytesPerBlock,
                             maximumSequenceLength: context, type: model.transformer.kvCacheType)
        pool = ComputePool(threadCount: threads)
    }

    /// The context when none is asked for: the model's, at most 4096 positions.
    public static func defaultContextLength(_ model: LanguageModel) -> Int { min(model.configuration.contextLength, 4096) }

    /// A session sized for one request: blocks for the prompt and for `branches` branches of
    /// `parameters.maxTokens` tokens each.
    public convenience init(model: LanguageModel, parameters: GenerationParameters, promptTokens: Int, branches: Int) throws {
        let blockSize = PagedKVCache.defaultBlockSize
        let context = parameters.contextLength ?? Self.defaultContextLength(model)
        func blocks(_ positions: Int) -> Int { (max(0, positions) + blockSize - 1) / blockSize }
        // Each branch may copy the prompt's partly filled last block, then fills its own.
        let perBranch = min(blocks(context), blocks(min(parameters.maxTokens, context)) + 1)
        let (branchBlocks, overflow1) = max(1, branches).multipliedReportingOverflow(by: perBranch)
        let (count, overflow2) = branchBlocks.addingReportingOverflow(blocks(min(promptTokens, context)))
        let (bytes, overflow3) = count.multipliedReportingOverflow(
            by: PagedKVCache.blockBytes(configuration: model.configuration, blockSize: blockSize, type: model.transformer.kvCacheType))
        guard !overflow1, !overflow2, !overflow3 else {
            throw BraidError.invalidParameter("\(branches) branches of up to \(parameters.maxTokens) tokens need a KV cache larger than this machine's memory")
        }
        try self.init(model: model, kvBudgetBytes: bytes, contextLength: parameters.contextLength, threads: parameters.threads,
                      blockSize: blockSize)
    }

    /// Generates one continuation, streaming its text to `onText` (never half a UTF-8 character,
    /// never the start of a stop string that may still complete).
    public func generate(promptTokens: [TokenID], parameters: GenerationParameters = GenerationParameters(),
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        let prompt = try prepare(promptTokens: promptTokens, parameters: parameters)
        defer { release(prompt) }
        let result = try withoutActuallyEscaping(onText) {
            try decode(from: prompt, streams: 0..<1, parameters: parameters, monitor: nil, onText: $0)
        }
        let branch = result.branches[0]
        return GenerationResult(promptTokens: promptTokens, tokens: branch.tokens, text: branch.text, finishReason: branch.finishReason,
                                logprobs: branch.logprobs, timings: result.timings)
    }

    /// Samples `count` branches from one prompt (see the file header); branch i draws from random
    /// stream i of the seed, so its tokens do not depend on how many branches run.
    public func generateBranches(promptTokens: [TokenID], count: Int, parameters: GenerationParameters = GenerationParameters()) throws
        -> BranchedGenerationResult {
        guard count >= 1 else { throw BraidError.invalidParameter("branches must be ≥ 1 (got \(count))") }
        let prompt = try prepare(promptTokens: promptTokens, parameters: parameters)
        defer { release(prompt) }
        return try generateBranches(from: prompt, streams: 0..<count, parameters: parameters)
    }

    /// Processes a prompt once (its cached blocks first) and keeps it, so that branches can be
    /// sampled from it in several rounds; `release` frees it. Resets the cache's peak usage.
    public func prepare(promptTokens: [TokenID], parameters: GenerationParameters = GenerationParameters()) throws -> PreparedPrompt {
        try parameters.validate()
        guard !promptTokens.isEmpty else { throw BraidError.emptyPrompt }
        guard promptTokens.count <= contextLength else { throw BraidError.promptTooLong(tokens: promptTokens.count, context: contextLength) }
        let clock = ContinuousClock()
        let start = clock.now
        cache.resetPeak()
        let root = cache.createSequence()
        do {
            let (reused, logits) = try prefill(promptTokens, into: root, batchSize: parameters.promptBatchSize)
            return PreparedPrompt(tokens: promptTokens, sequence: root, logits: logits, reusedTokens: reused,
                                  milliseconds: (clock.now - start).milliseconds)
        } catch {
            cache.free(root)
            throw error
        }
    }

    /// Frees a prepared prompt's sequence (its full blocks stay in the prefix cache).
    public func release(_ prompt: PreparedPrompt) {
        cache.free(prompt.sequence)
    }

    /// Samples one branch per stream of `streams` from a prepared prompt, decoding them together.
    /// Branch i draws from random stream i, so sampling streams 0..<4 and then 4..<8 gives the
    /// same branches as 0..<8 at once. `monitor` sees every accepted token and may stop a branch
    /// early (finish reason `pruned`).
    public func generateBranches(from prompt: PreparedPrompt, streams: Range<Int>, parameters: GenerationParameters = GenerationParameters(),
                                 monitor: BranchMonitor? = nil) throws -> BranchedGenerationResult {
        try parameters.validate()
        guard !streams.isEmpty, streams.lowerBound >= 0 else {
            throw BraidError.invalidParameter("branch streams must be a non-empty range of non-negative numbers (got \(streams))")
        }
        return try decode(from: prompt, streams: streams, parameters: parameters, monitor: monitor, onText: nil)
    }

    /// The logits that follow each of several prompts (one row of the vocabulary per prompt), and
    /// how many tokens had to be computed. The prompts go through batched forward passes
    /// together, each starting from its cached blocks; their full blocks stay cached afterwards.
    /// Judges use this to score answers.
    public func nextTokenLogits(prompts: [[TokenID]], batchSize: Int = 512) throws -> (logits: [[Float]], computedTokens: Int) {
        guard batchSize > 0 else { throw BraidError.invalidParameter("batch size must be > 0 (got \(batchSize))") }
        for prompt in prompts {
            guard !prompt.isEmpty else { throw BraidError.emptyPrompt }
            guard prompt.count <= contextLength else { throw BraidError.promptTooLong(tokens: prompt.count, context: contextLength) }
        }
        var sequences: [SequenceID] = []
        defer { for sequence in sequences { cache.free(sequence) } }
        // Every prompt's tokens after its cached prefix, as (sequence, position, token) rows.
        var rows: [(sequence: SequenceID, position: Int, token: TokenID, last: Bool)] = []
        for prompt in prompts {
            let sequence = cache.createSequence()
            sequences.append(sequence)
            let reused = cache.adoptCachedPrefix(prompt, into: sequence)
            for position in reused..<prompt.count {
                rows.append((sequence, position, prompt[position], position == prompt.count - 1))
            }
        }
        let vocabulary = model.configuration.vocabularySize
        var result: [[Float]] = []
        do {
            for start in stride(from: 0, to: rows.count, by: batchSize) {
                var batch = Batch()
                for row in rows[start..<min(start + batchSize, rows.count)] {
                    batch.append(row.token, position: row.position, sequence: row.sequence, wantsLogits: row.last)
                }
                let logits = try model.transformer.forward(batch, cache: cache, pool: pool)
                for row in 0..<logits.count / vocabulary { result.append(Array(logits[row * vocabulary..<(row + 1) * vocabulary])) }
            }
        } catch KVCacheError.full {
            throw BraidError.kvCacheTooSmall("\(cache.blockCount) blocks of \(cache.blockSize) positions cannot hold \(prompts.count) prompts of \(rows.count) new tokens")
        }
        return (result, rows.count)
    }

    /// A branch while it is generated.
    struct LiveBranch {
        var stream: Int
        var sequence: SequenceID
        var sampler: Sampler
        var history: [TokenID]
        var text: StopStringText
        var detokenizer: StreamingDetokenizer
        var tokens: [TokenID] = []
        var logprobs: [SampledToken] = []
        var finishReason: FinishReason?
        /// Row of the last forward's logits this branch samples from next.
        var logitsRow = 0

        /// Takes a sampled token (its text goes to `onText`) and returns why the branch ends here,
        /// or nil when the token is to be run through the next forward pass.
        mutating func accept(_ sampled: SampledToken, parameters: GenerationParameters, tokenizer: Tokenizer, promptLength: Int,
                             contextLength: Int, monitor: BranchMonitor?, onText: ((String) -> Void)?) -> FinishReason? {
            let token = sampled.chosen.token
            if !parameters.ignoreEndOfGeneration && tokenizer.isEndOfGeneration(token) { return .stop }
            tokens.append(token)
            logprobs.append(sampled)
            history.append(token)
            let window = parameters.sampling.repetitionWindow
            if history.count > 2 * max(1, window) { history.removeFirst(history.count - window) }
            let (released, stopped) = text.append(detokenizer.append(token))
            onText?(released)
            if stopped { return .stop }
            if monitor?(stream, sampled) == true { return .pruned }
            // The token would go at this position: stop at the token limit or the context's end.
            let position = promptLength + tokens.count - 1
            return tokens.count >= parameters.maxTokens || position + 1 >= contextLength ? .length : nil
        }
    }

    private func decode(from prompt: PreparedPrompt, streams: Range<Int>, parameters: GenerationParameters, monitor: BranchMonitor?,
                        onText: ((String) -> Void)?) throws -> BranchedGenerationResult {
        let clock = ContinuousClock()
        let promptTokens = prompt.tokens
        var sequences: [SequenceID] = []
        defer { for sequence in sequences { cache.free(sequence) } }

        // The branches share the prompt's blocks; each samples its first token from its logits.
        for _ in streams { sequences.append(try cache.fork(prompt.sequence)) }
        var branches = try zip(streams, sequences).map { stream, sequence in
            LiveBranch(stream: stream, sequence: sequence, sampler: try Sampler(parameters.sampling, stream: stream),
                       history: Array(promptTokens.suffix(parameters.sampling.repetitionWindow)),
                       text: StopStringText(stopStrings: parameters.stopStrings),
                       detokenizer: StreamingDetokenizer(tokenizer: model.tokenizer),
                       finishReason: parameters.maxTokens == 0 ? .length : nil)
        }
        let decodeStart = clock.now
        var decodedTokens = 0
        var logits = prompt.logits
        while true {
            let live = branches.indices.filter { branches[$0].finishReason == nil }
            let picks = sample(&branches, live: live, logits: logits, alternatives: parameters.topLogprobs)
            var batch = Batch()
            var batchBranches: [Int] = []
            for (i, sampled) in zip(live, picks) {
                if let reason = branches[i].accept(sampled, parameters: parameters, tokenizer: model.tokenizer,
                                                   promptLength: promptTokens.count, contextLength: contextLength, monitor: monitor,
                                                   onText: onText) {
                    finish(&branches[i], reason)
                } else {
                    batch.append(sampled.chosen.token, position: promptTokens.count + branches[i].tokens.count - 1,
                                 sequence: branches[i].sequence, wantsLogits: true)
                    batchBranches.append(i)
                }
            }
            // One forward for every live branch; when the cache runs out of blocks, the last
            // branch of the batch stops with `kv_full` (its blocks return to the pool) and the
            // rest try again.
            while !batch.tokens.isEmpty {
                do {
                    logits = try model.transformer.forward(batch, cache: cache, pool: pool)
                    decodedTokens += batch.count
                    break
                } catch KVCacheError.full {
                    finish(&branches[batchBranches.removeLast()], .kvFull)
                    batch = batch.droppingLast()
                }
            }
            guard !batchBranches.isEmpty else { break }
            for (row, i) in batchBranches.enumerated() { branches[i].logitsRow = row }
        }
        for i in branches.indices {
            let (released, _) = branches[i].text.append(branches[i].detokenizer.finish())
            onText?(released + branches[i].text.finish())
        }
        let decodeDuration = clock.now - decodeStart

        return BranchedGenerationResult(
            promptTokens: promptTokens,
            branches: branches.map {
                Branch(stream: $0.stream, tokens: $0.tokens, text: $0.text.text, finishReason: $0.finishReason ?? .length,
                       logprobs: $0.logprobs)
            },
            timings: GenerationTimings(promptMilliseconds: prompt.milliseconds, decodeMilliseconds: decodeDuration.milliseconds,
                                       promptTokens: promptTokens.count, reusedPromptTokens: prompt.reusedTokens, decodedTokens: decodedTokens),
            kvCache: KVCacheReport(blockSize: cache.blockSize, blockCount: cache.blockCount, bytesPerBlock: cache.bytesPerBlock,
                                   peakUsedBlocks: cache.peakUsedBlocks))
    }

    /// Gives `root` the prompt's cached blocks, then runs the rest in chunks; returns how many
    /// tokens came from the cache and the logits of the last token.
    private func prefill(_ tokens: [TokenID], into root: SequenceID, batchSize: Int) throws -> (reused: Int, logits: [Float]) {
        let reused = cache.adoptCachedPrefix(tokens, into: root)
        var logits: [Float] = []
        do {
            for start in stride(from: reused, to: tokens.count, by: batchSize) {
                let chunk = Array(tokens[start..<min(start + batchSize, tokens.count)])
                logits = try model.transformer.forward(Batch(tokens: chunk, startPosition: start, sequence: root), cache: cache, pool: pool)
            }
        } catch KVCacheError.full {
            throw BraidError.kvCacheTooSmall("\(cache.blockCount) blocks of \(cache.blockSize) positions cannot hold a prompt of \(tokens.count) tokens")
        }
        return (reused, logits)
    }

    /// The next token of each live branch, from its row of `logits`, sampled in parallel (each
    /// branch has its own random stream, so the order does not matter).
    private func sample(_ branches: inout [LiveBranch], live: [Int], logits: [Float], alternatives: Int) -> [SampledToken] {
        let vocabulary = model.configuration.vocabularySize
        var picks = [SampledToken?](repeating: nil, count: live.count)
        logits.withUnsafeBufferPointer { all in
            branches.withUnsafeMutableBufferPointer { branches in
                picks.withUnsafeMutableBufferPointer { picks in
                    pool.forEach(live.count) { k in
                        let i = live[k], row = branches[i].logitsRow
                        picks[k] = branches[i].sampler.sampleWithLogprobs(
                            UnsafeBufferPointer(rebasing: all[row * vocabulary..<(row + 1) * vocabulary]),
                            history: branches[i].history, alternatives: alternatives)
                    }
                }
            }
        }
        return picks.compactMap { $0 }
    }

    /// Ends a branch and returns its blocks to the pool at once.
    private func finish(_ branch: inout LiveBranch, _ reason: FinishReason) {
        branch.finishReason = reason
        cache.free(branch.sequence)
    }
}
