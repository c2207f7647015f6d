// Perplexity as llama.cpp's `llama-perplexity` computes it: the text is tokenized once and cut
// into non-overlapping chunks of `context` tokens (a trailing partial chunk is dropped); each
// chunk is evaluated from scratch (the first token replaced by BOS when the model adds one) and
// only the predictions of its second half are scored, so every scored token has at least
// context/2 tokens of history. Perplexity = exp(mean negative log-likelihood).
import Foundation

/// The result of a perplexity run.
public struct PerplexityResult: Sendable, Codable {
    /// exp(mean negative log-likelihood of the scored tokens).
    public var perplexity: Double
    /// Chunks evaluated.
    public var chunks: Int
    /// Number of scored predictions.
    public var scoredTokens: Int
}

extension LanguageModel {
    /// Perplexity of `text` with chunks of `context` tokens.
    public func perplexity(of text: String, context: Int, threads: Int? = nil) throws -> PerplexityResult {
        guard context >= 4 else { throw BraidError.invalidParameter("context must be ≥ 4 (got \(context))") }
        guard context <= configuration.contextLength else {
            throw BraidError.invalidParameter("context \(context) exceeds the model's \(configuration.contextLength)")
        }
        if let threads, threads <= 0 { throw BraidError.invalidParameter("threads must be > 0 (got \(threads))") }
        let tokens = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
        // llama-perplexity refuses texts shorter than two chunks; so does Braid.
        guard tokens.count >= 2 * context else {
            throw BraidError.invalidParameter("the text has \(tokens.count) tokens; perplexity needs at least 2 × \(context)")
        }
        let chunks = tokens.count / context
        let pool = ComputePool(threadCount: threads)
        let cache = transformer.makeCache(capacity: context)
        let vocabulary = configuration.vocabularySize
        let first = context / 2
        var negativeLogLikelihood = 0.0
        var scored = 0
        for chunk in 0..<chunks {
            var ids = Array(tokens[chunk * context..<(chunk + 1) * context])
            if tokenizer.addsBOS, let bos = tokenizer.bosToken { ids[0] = bos }
            cache.truncate(0, to: 0)
            let logits = try transformer.forward(Batch(tokens: ids, startPosition: 0, allLogits: true), cache: cache, pool: pool)
            logits.withUnsafeBufferPointer { all in
                for i in first..<(context - 1) {
                    let row = UnsafeBufferPointer(rebasing: all[(i * vocabulary)..<((i + 1) * vocabulary)])
                    let maximum = row.max() ?? 0
                    var sum = 0.0
                    for value in row { sum += exp(Double(value - maximum)) }
                    negativeLogLikelihood += Double(maximum) + log(sum) - Double(row[Int(ids[i + 1])])
                    scored += 1
                }
            }
        }
        return PerplexityResult(perplexity: exp(negativeLogLikelihood / Double(scored)), chunks: chunks, scoredTokens: scored)
    }
}
