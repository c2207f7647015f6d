// Draft-model speculation (Leviathan et al. 2023, Chen et al. 2023): a smaller model with the
// same vocabulary proposes k tokens, one cheap forward each; the target checks them in one
// forward. The draft model keeps its own KV cache, trimmed back to the accepted text before every
// draft. Without a fixed k, k follows the measured acceptance and costs: the k that maximizes
// expected tokens per millisecond,
//
//   (1 − αᵏ⁺¹) / (1 − α)  /  (follow + (k − 1) · draft step + verify forward of k + 1 rows)
//
// where *follow* is the draft's first forward: the last draft's accepted tokens and the new
// pending one, in one batch.
import Foundation

/// Drafts with a smaller model of the same vocabulary.
public final class DraftModelDrafter: Drafter {
    public var name: String { "draft" }
    /// Longest draft an adaptive k tries.
    public static let longestDraft = 12
    /// The draft model.
    public let draft: LanguageModel
    /// A fixed draft length, or nil to adapt it.
    public let fixedLength: Int?
    private let cache: PagedKVCache
    private let pool: ComputePool
    private let sequence: SequenceID
    private var sampler: Sampler
    /// Running estimate of the chance a draft token is accepted (after the ones before it were).
    private var acceptance = RunningAverage(prior: 0.7)
    /// Running average of one draft forward of one token.
    private var stepMilliseconds = RunningAverage()
    /// Running average of the first forward of a draft (the last draft's accepted tokens and the
    /// new pending one), when it is not a catch-up.
    private var followMilliseconds = RunningAverage()
    private let verifyCosts: ForwardCosts
    /// The length of the last draft.
    public private(set) var currentLength = 4
    public private(set) var catchUpMilliseconds = 0.0

    /// Throws when the vocabularies differ (naming both models) or k < 1. `costs`: the target's
    /// forward costs, shared with other drafters of the same generation.
    public init(draft: LanguageModel, target: LanguageModel, pool: ComputePool, contextLength: Int, fixedLength: Int?,
                sampling: SamplingParameters, costs: ForwardCosts = ForwardCosts()) throws {
        guard draft.tokenizer.tokens == target.tokenizer.tokens else {
            throw BraidError.incompatibleModels("the draft model \(draft.name) has a vocabulary of \(draft.tokenizer.vocabularySize) tokens, "
                                                + "the target \(target.name) one of \(target.tokenizer.vocabularySize)"
                                                + (draft.tokenizer.vocabularySize == target.tokenizer.vocabularySize ? " with different tokens" : "")
                                                + "; a draft model must share the target's vocabulary")
        }
        if let fixedLength, fixedLength < 1 { throw BraidError.invalidParameter("draft length k must be ≥ 1 (got \(fixedLength))") }
        self.draft = draft
        self.fixedLength = fixedLength
        self.pool = pool
        verifyCosts = costs
        cache = draft.transformer.makeCache(capacity: min(contextLength, draft.configuration.contextLength))
        sequence = 0
        sampler = try Sampler(sampling, stream: 1)
        if let fixedLength { currentLength = fixedLength }
    }

    public func draft(context: [TokenID], maximumDepth: Int) throws -> DraftTree {
        guard context.count < cache.maximumSequenceLength else { return DraftTree() }
        let clock = ContinuousClock()
        // Keep the cached prefix the text still has (never all of it: the last token's logits are needed).
        let cached = cache.tokens(of: sequence)
        var common = 0
        while common < min(cached.count, context.count - 1) && cached[common] == context[common] { common += 1 }
        cache.truncate(sequence, to: common)
        var logits: [Float] = []
        let catchUpStart = clock.now
        for chunk in stride(from: common, to: context.count, by: 512) {
            let tokens = Array(context[chunk..<min(chunk + 512, context.count)])
            logits = try forward(Batch(tokens: tokens, startPosition: chunk, sequence: sequence))
        }
        // Following the accepted text costs a forward of the last draft's accepted tokens and the
        // new pending one; anything beyond is catching up.
        let steadyTokens = currentLength + 1
        let followed = (clock.now - catchUpStart).milliseconds
        if context.count - common > steadyTokens {
            catchUpMilliseconds = followed
        } else {
            catchUpMilliseconds = 0
            followMilliseconds.add(followed)
        }
        let length = max(0, min(fixedLength ?? chooseLength(), maximumDepth, cache.maximumSequenceLength - context.count))
        currentLength = length
        var tree = DraftTree()
        var history = context, parent = DraftTree.root
        let stepStart = clock.now
        for depth in 0..<length {
            let q = logits.withUnsafeBufferPointer { sampler.distribution($0, history: history) }
            let token = sampler.parameters.temperature == 0 ? q.mostLikely : sampler.draw(from: q)
            parent = tree.add(token, parent: parent, proposal: sampler.parameters.temperature == 0 ? nil : q)
            history.append(token)
            if depth + 1 < length {
                logits = try forward(Batch(tokens: [token], startPosition: context.count + depth, sequence: sequence))
            }
        }
        if length > 1 {
            stepMilliseconds.add((clock.now - stepStart).milliseconds / Double(length - 1))
        }
        return tree
    }

    public func observe(_ verification: Verification, tree: DraftTree, context: [TokenID]) {
        verifyCosts.record(rows: tree.count + 1, milliseconds: verification.forwardMilliseconds)
        // Trials until the first rejection: each accepted draft, and the rejected one if any.
        let accepted = Double(verification.acceptedTokens.count)
        let trials = accepted + (verification.acceptedTokens.count < tree.count ? 1 : 0)
        if trials > 0 { acceptance.add(accepted / trials) }
    }

    /// The k with the most expected tokens per millisecond.
    private func chooseLength() -> Int {
        guard let step = stepMilliseconds.value, let acceptance = acceptance.value, verifyCosts.estimate(rows: 1) != nil else {
            return currentLength
        }
        let follow = followMilliseconds.value ?? step
        var best = 1, bestRate = 0.0
        for k in 1...Self.longestDraft {
            guard let verify = verifyCosts.estimate(rows: k + 1) else { continue }
            let rate = expectedTokens(length: k, acceptance: acceptance) / (follow + Double(k - 1) * step + verify)
            if rate > bestRate { (best, bestRate) = (k, rate) }
        }
        return best
    }

    private func forward(_ batch: Batch) throws -> [Float] {
        do {
            return try draft.transformer.forward(batch, cache: cache, pool: pool)
        } catch KVCacheError.full {
            throw BraidError.kvCacheTooSmall("the draft model's cache of \(cache.blockCount) blocks cannot hold the text")
        }
    }
}
