// Draft-model speculation (Leviathan et al. 2023, Chen et al. 2023): a smaller model with the
// same vocabulary proposes k tokens, one cheap forward each; the target checks them in one
// forward. The draft model keeps its own KV cache, trimmed back to the accepted text before every
// draft. Without a fixed k, k follows the measured acceptance and costs: the k that maximizes
// expected tokens per millisecond,
//
//   (1 + α₁ + α₁α₂ + … + α₁⋯αₖ)  /  (follow + (k − 1) · draft step + verify forward of k + 1 rows)
//
// where *follow* is the draft's first forward: the last draft's accepted tokens and the new
// pending one, in one batch; and α_d the chance that the d-th draft token is accepted once the
// ones before it were, measured per depth (beyond the deepest measured, the deepest's). Text
// runs in stretches the draft model gets right or wrong together (boilerplate, then a choice), so
// a token after accepted ones is likelier accepted than the first: with one α for every depth, a
// draft of 1 measured only first tokens and never looked deeper (2026-12-07, code on the 2-core
// AVX2 VM: `auto`'s draft model at k = 1 for whole answers, 1.8 tokens per forward against
// 2.6–3.2 for the draft model alone).
//
// Greedy drafts also look one token past a draft that was accepted whole, for free: the next
// follow forward runs over its last token and the target's next one, and asking for the logits
// of both rows tells whether the draft model would have drafted that next token, an observation
// of α_(k+1):
//
//   draft    d₁ d₂ d₃            all accepted, the target adds t
//   follow   [d₃ t]  logits of d₃'s row: argmax = t?  → α₄ measured;  of t's row: the next draft
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
    /// Running estimates of the chance a draft token is accepted once the ones before it were, by
    /// depth (index 0: the first token); deeper ones are added as they are observed.
    private var acceptance = [RunningAverage(prior: DraftModelDrafter.priorAcceptance)]
    /// The first token's acceptance before any draft was checked.
    static let priorAcceptance = 0.7
    /// Where the last draft was accepted whole (greedy only): its depth, and the context position
    /// of the target's token after it, which the next follow forward checks the draft model
    /// against.
    private var look: (depth: Int, position: Int)?
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
        // The steady follow after a draft accepted whole is [its last token, the target's next].
        let looking = look.flatMap { $0.position == context.count - 1 && common == context.count - 2 ? $0.depth : nil }
        look = nil
        for chunk in stride(from: common, to: context.count, by: 512) {
            let tokens = Array(context[chunk..<min(chunk + 512, context.count)])
            logits = try forward(Batch(tokens: tokens, startPosition: chunk, sequence: sequence, allLogits: looking != nil))
        }
        if let looking {
            let vocabulary = logits.count / 2
            let next = logits.withUnsafeBufferPointer {
                sampler.distribution(UnsafeBufferPointer(rebasing: $0[..<vocabulary]), history: Array(context.dropLast())).mostLikely
            }
            record(depth: looking, accepted: next == context[context.count - 1])
            logits.removeFirst(vocabulary)
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
        // Each accepted draft token, and the rejected one if any; a draft accepted whole is looked
        // past at the next follow (greedy only: a sampled draft token is accepted by chance).
        let accepted = verification.acceptedTokens.count
        for depth in 0..<accepted { record(depth: depth, accepted: true) }
        if accepted < tree.count {
            record(depth: accepted, accepted: false)
        } else if sampler.parameters.temperature == 0 && accepted > 0 {
            look = (depth: accepted, position: context.count - 1)
        }
    }

    /// Adds an observation of whether the draft token at `depth` (0: the first) was accepted.
    private func record(depth: Int, accepted: Bool) {
        guard depth <= Self.longestDraft else { return }
        while acceptance.count <= depth { acceptance.append(RunningAverage()) }
        acceptance[depth].add(accepted ? 1 : 0)
    }

    /// Tokens a draft of `length` is expected to produce, the target's own included: 1 + α₁ +
    /// α₁α₂ + …, each depth at its measured acceptance (beyond the deepest measured, the deepest's).
    func expectedTokens(length: Int) -> Double {
        var total = 1.0, reach = 1.0, last = Self.priorAcceptance
        for depth in 0..<length {
            if depth < acceptance.count, let measured = acceptance[depth].value { last = measured }
            reach *= last
            total += reach
        }
        return total
    }

    /// The k with the most expected tokens per millisecond.
    private func chooseLength() -> Int {
        guard let step = stepMilliseconds.value, verifyCosts.estimate(rows: 1) != nil else { return currentLength }
        let follow = followMilliseconds.value ?? step
        var best = 1, bestRate = 0.0
        for k in 1...Self.longestDraft {
            guard let verify = verifyCosts.estimate(rows: k + 1) else { continue }
            let rate = expectedTokens(length: k) / (follow + Double(k - 1) * step + verify)
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
