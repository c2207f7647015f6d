// `braid bench --branches N,…`: the aggregate decode throughput of N real branches forked from one
// prompt (paged cache, shared prefix, per-branch sampling at the default temperature, end-of-
// generation ignored so every branch runs the full length, as llama-batched-bench does), the peak
// KV memory against storing the prompt once, and the time to first token of a repeated prompt
// (the prefix cache) against the first.
import Braid
import Foundation

/// Figures for one branch count.
struct BranchResult {
    let branches: Int
    let tokensPerSecond: Statistics
    let stepMilliseconds: Statistics
    let kvPeakBytes: Int
    /// Peak KV bytes over the bytes of (prompt + branches × generated) positions: 1 when the
    /// prompt is stored once and no block is wasted.
    let kvPeakVsSharedPrompt: Double
}

/// Time to first token of a prompt seen for the first time and of the same prompt again.
struct PrefixCacheResult {
    let firstMilliseconds: Statistics
    let repeatMilliseconds: Statistics
    var ratio: Double { firstMilliseconds.median > 0 ? repeatMilliseconds.median / firstMilliseconds.median : 0 }
}

enum BranchBench {
    /// Decodes `genTokens` tokens on each of N branches of `prompt`, `repetitions` times per N.
    static func measure(model: LanguageModel, prompt: [TokenID], counts: [Int], genTokens: Int, repetitions: Int,
                        threads: Int?) throws -> [BranchResult] {
        var parameters = GenerationParameters(maxTokens: genTokens, threads: threads)
        parameters.sampling.seed = 1234
        parameters.ignoreEndOfGeneration = true
        return try counts.map { count in
            let session = try GenerationSession(model: model, parameters: parameters, promptTokens: prompt.count, branches: count)
            var rates: [Double] = [], steps: [Double] = []
            var peakBytes = 0
            for _ in 0..<repetitions {
                let result = try session.generateBranches(promptTokens: prompt, count: count, parameters: parameters)
                let t = result.timings
                rates.append(t.decodeTokensPerSecond)
                steps.append(t.decodeMilliseconds / Double(max(1, t.decodedTokens / count)))
                peakBytes = max(peakBytes, result.kvCache.peakBytes)
            }
            let cache = session.cache
            let idealBytes = (prompt.count + count * genTokens) * cache.bytesPerBlock / cache.blockSize
            return BranchResult(branches: count, tokensPerSecond: Statistics(rates), stepMilliseconds: Statistics(steps),
                                kvPeakBytes: peakBytes, kvPeakVsSharedPrompt: Double(peakBytes) / Double(idealBytes))
        }
    }

    /// Two requests with the same prompt in one session, `repetitions` times (a fresh session each).
    static func measurePrefixCache(model: LanguageModel, prompt: [TokenID], repetitions: Int, threads: Int?) throws -> PrefixCacheResult {
        let parameters = GenerationParameters(maxTokens: 1, sampling: .greedy, threads: threads)
        var first: [Double] = [], again: [Double] = []
        for _ in 0..<repetitions {
            let session = try GenerationSession(model: model, parameters: parameters, promptTokens: prompt.count, branches: 2)
            first.append(try session.generate(promptTokens: prompt, parameters: parameters).timings.promptMilliseconds)
            again.append(try session.generate(promptTokens: prompt, parameters: parameters).timings.promptMilliseconds)
        }
        return PrefixCacheResult(firstMilliseconds: Statistics(first), repeatMilliseconds: Statistics(again))
    }
}

extension BranchResult {
    func json(baseline: Double) -> [String: Any] {
        ["branches": branches, "tokens_per_s": tokensPerSecond.json, "ms_per_step": stepMilliseconds.json,
         "speedup_vs_1": baseline > 0 ? tokensPerSecond.median / baseline : 0, "kv_peak_bytes": kvPeakBytes,
         "kv_peak_vs_shared_prompt": kvPeakVsSharedPrompt]
    }
}

extension PrefixCacheResult {
    var json: [String: Any] {
        ["ttft_first_ms": firstMilliseconds.json, "ttft_repeat_ms": repeatMilliseconds.json, "repeat_vs_first": ratio]
    }
}
