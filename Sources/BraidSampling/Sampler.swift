// From logits to the next token, as llama.cpp's default sampler chain does it:
// repetition penalty → top-k → top-p → min-p → temperature → draw from the softmax.
// Temperature 0 means greedy: the arg-max after the penalty. Every pick can also report its
// log-probability and the most likely alternatives under the model's own distribution
// (log-softmax of the raw logits, before penalty and temperature), as OpenAI's and vLLM's
// `logprobs` do: aggregation operators score branches by them.
import BraidKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why sampling parameters were refused.
public struct SamplingError: Error, Equatable, CustomStringConvertible {
    /// What is wrong, naming the parameter and its value.
    public let description: String

    public init(description: String) {
        self.description = description
    }
}

/// How to pick tokens. Defaults follow llama.cpp's.
public struct SamplingParameters: Sendable, Equatable {
    /// Softmax temperature; 0 is greedy.
    public var temperature: Float = 0.8
    /// Keep only the k most likely tokens (0: all).
    public var topK: Int = 40
    /// Keep the smallest set of tokens whose probability reaches p (1: all).
    public var topP: Float = 0.95
    /// Drop tokens less likely than minP × the most likely one (0: none).
    public var minP: Float = 0.05
    /// Divide positive (multiply negative) logits of recently seen tokens by this (1: off).
    public var repetitionPenalty: Float = 1.0
    /// How many recent tokens the penalty looks at.
    public var repetitionWindow: Int = 64
    /// Seed of the random stream.
    public var seed: UInt64 = 0xB7A1_D5EE

    public init() {}

    /// Greedy decoding: always the most likely token.
    public static var greedy: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = 0
        return p
    }

    /// Throws when a parameter is negative, NaN or out of range, naming it.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw SamplingError(description: message) } }
        try check(temperature.isFinite && temperature >= 0, "temperature must be a finite number ≥ 0 (got \(temperature))")
        try check(topK >= 0, "top-k must be ≥ 0 (got \(topK))")
        try check(topP.isFinite && topP > 0 && topP <= 1, "top-p must be in (0, 1] (got \(topP))")
        try check(minP.isFinite && minP >= 0 && minP <= 1, "min-p must be in [0, 1] (got \(minP))")
        try check(repetitionPenalty.isFinite && repetitionPenalty > 0, "repeat-penalty must be a finite number > 0 (got \(repetitionPenalty))")
        try check(repetitionWindow >= 0, "repeat window must be ≥ 0 (got \(repetitionWindow))")
    }
}

/// A token and its log-probability under the model's distribution.
public struct TokenLogprob: Sendable, Equatable {
    /// The token id.
    public var token: Int32
    /// ln P(token) from the softmax of the raw logits.
    public var logprob: Float

    public init(token: Int32, logprob: Float) {
        self.token = token
        self.logprob = logprob
    }
}

/// One sampled token with its log-probability and the most likely tokens at that step.
public struct SampledToken: Sendable, Equatable {
    /// The pick and its log-probability.
    public var chosen: TokenLogprob
    /// The most likely tokens, best first (as many as asked for).
    public var alternatives: [TokenLogprob]

    public init(chosen: TokenLogprob, alternatives: [TokenLogprob]) {
        self.chosen = chosen
        self.alternatives = alternatives
    }
}

/// Picks tokens from logits with a fixed parameter set and its own random stream.
public struct Sampler: Sendable {
    /// The validated parameters.
    public let parameters: SamplingParameters
    private var random: RandomSource

    /// A sampler drawing from random stream `stream` of the seed (one per branch); throws
    /// `SamplingError` for invalid parameters.
    public init(_ parameters: SamplingParameters, stream: Int = 0) throws {
        try parameters.validate()
        self.parameters = parameters
        random = RandomSource(seed: parameters.seed, stream: UInt64(stream))
    }

    /// Samples the next token and reports its log-probability and the `alternatives` most
    /// likely tokens.
    public mutating func sampleWithLogprobs(_ logits: UnsafeBufferPointer<Float>, history: [Int32], alternatives: Int) -> SampledToken {
        Self.scored(sample(logits, history: history), logits: logits, alternatives: alternatives)
    }

    /// `token` with its log-probability under the softmax of `logits` and the `alternatives`
    /// most likely tokens.
    public static func scored(_ token: Int32, logits: UnsafeBufferPointer<Float>, alternatives: Int) -> SampledToken {
        let logNormalizer = logSumExp(logits)
        let top = alternatives > 0 ? topCandidates(count: min(alternatives, logits.count), of: logits) : []
        return SampledToken(chosen: TokenLogprob(token: token, logprob: logits[Int(token)] - logNormalizer),
                            alternatives: top.map { TokenLogprob(token: $0.token, logprob: $0.logit - logNormalizer) })
    }

    /// The token with the highest logit (the first of equals), as greedy decoding picks it.
    public static func mostLikely(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }

    /// ln Σ exp(logits), with the maximum taken out first so nothing overflows.
    static func logSumExp(_ logits: UnsafeBufferPointer<Float>) -> Float {
        guard let maximum = logits.max(), maximum.isFinite else { return logits.max() ?? 0 }
        let shifted = UnsafeMutableBufferPointer<Float>.allocate(capacity: logits.count)
        defer { shifted.deallocate() }
        _ = shifted.initialize(from: logits)
        let sum = VectorMath.exponentiate(shifted.baseAddress!, subtracting: maximum, count: logits.count)
        return maximum + logf(sum)
    }

    /// The next token given `logits` (one per vocabulary entry, at least one) and the tokens so far.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [Int32]) -> Int32 {
        draw(from: distribution(logits, history: history))
    }

    /// The distribution `sample` draws from: the repetition penalty, then arg-max at temperature
    /// 0 (one token with probability 1), else top-k → top-p → min-p → temperature.
    public func distribution(_ logits: UnsafeBufferPointer<Float>, history: [Int32]) -> TokenDistribution {
        precondition(!logits.isEmpty, "sampling needs at least one logit")
        guard parameters.repetitionPenalty != 1 else { return filtered(logits) }
        // The penalty on a copy: once per distinct recent token, from its original logit.
        var penalized = Array(logits)
        for token in Set(history.suffix(parameters.repetitionWindow)) where token >= 0 && Int(token) < logits.count {
            let value = logits[Int(token)]
            penalized[Int(token)] = value > 0 ? value / parameters.repetitionPenalty : value * parameters.repetitionPenalty
        }
        return penalized.withUnsafeBufferPointer { filtered($0) }
    }

    /// A token drawn from `distribution` (no random number is used when it holds one token).
    public mutating func draw(from distribution: TokenDistribution) -> Int32 {
        let entries = distribution.entries
        guard entries.count > 1 else { return entries[0].token }
        var r = Float(random.nextUnit())
        for entry in entries {
            r -= entry.probability
            if r < 0 { return entry.token }
        }
        return entries[entries.count - 1].token
    }

    /// A uniform number in [0, 1) from this sampler's stream (for accept/reject decisions).
    public mutating func uniform() -> Float { Float(random.nextUnit()) }

    /// The chain after the penalty.
    private func filtered(_ logits: UnsafeBufferPointer<Float>) -> TokenDistribution {
        if parameters.temperature == 0 { return TokenDistribution(token: Self.mostLikely(logits)) }

        // Candidates sorted by logit, descending (only the top k when k is set).
        var candidates = Self.topCandidates(count: parameters.topK > 0 ? parameters.topK : logits.count, of: logits)
        // Softmax at temperature 1 for the probability filters, as llama.cpp does before temperature.
        var probabilities = Self.softmax(candidates.map(\.logit))
        if parameters.topP < 1 {
            var cumulative: Float = 0
            var keep = candidates.count
            for (i, p) in probabilities.enumerated() {
                cumulative += p
                if cumulative >= parameters.topP { keep = i + 1; break }
            }
            candidates.removeLast(candidates.count - keep)
            probabilities.removeLast(probabilities.count - keep)
        }
        if parameters.minP > 0, let top = probabilities.first {
            let keep = max(1, probabilities.prefix { $0 >= parameters.minP * top }.count)
            candidates.removeLast(candidates.count - keep)
        }
        let final = Self.softmax(candidates.map { $0.logit / parameters.temperature })
        return TokenDistribution(entries: zip(candidates, final).map { ($0.token, $1) })
    }

    /// The `count` highest logits, best first.
    private static func topCandidates(count: Int, of logits: UnsafeBufferPointer<Float>) -> [(token: Int32, logit: Float)] {
        let vocabulary = logits.count
        // A sorted buffer costs O(V·k): past a few hundred, sorting everything is cheaper.
        if count >= vocabulary || count > 256 {
            var all: [(token: Int32, logit: Float)] = (0..<vocabulary).map { (Int32($0), logits[$0]) }
            all.sort { $0.logit > $1.logit }
            return Array(all.prefix(count))
        }
        // Keep a sorted buffer of the best `count`; most logits fail the first comparison.
        var top: [(token: Int32, logit: Float)] = []
        top.reserveCapacity(count + 1)
        var threshold = -Float.infinity
        for i in 0..<vocabulary {
            let value = logits[i]
            if top.count == count {
                if value <= threshold { continue }
                top.removeLast()
            }
            var j = top.count
            while j > 0 && top[j - 1].logit < value { j -= 1 }
            top.insert((Int32(i), value), at: j)
            if top.count == count { threshold = top[count - 1].logit }
        }
        return top
    }

    static func softmax(_ values: [Float]) -> [Float] {
        guard let maximum = values.max() else { return [] }
        let exps = values.map { expf($0 - maximum) }
        let sum = exps.reduce(0, +)
        return exps.map { $0 / sum }
    }
}

/// A probability distribution over a few tokens (the rest have probability 0), most likely first
/// as the sampler builds it.
public struct TokenDistribution: Sendable, Equatable {
    /// Tokens with non-zero probability; the probabilities sum to 1.
    public private(set) var entries: [(token: Int32, probability: Float)]

    public static func == (a: TokenDistribution, b: TokenDistribution) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.token == $1.token && $0.probability == $1.probability }
    }

    /// The given tokens and probabilities, which sum to 1 (zeros are dropped).
    public init(entries: [(token: Int32, probability: Float)]) {
        self.entries = entries.filter { $0.probability > 0 }
    }

    /// All probability on one token.
    public init(token: Int32) {
        entries = [(token, 1)]
    }

    /// P(token).
    public func probability(of token: Int32) -> Float {
        entries.first { $0.token == token }?.probability ?? 0
    }

    /// The most likely token.
    public var mostLikely: Int32 { entries.max { $0.probability < $1.probability }?.token ?? 0 }

    /// The residual of speculative sampling, norm(max(0, p − q)), after a draft drawn from `q` was
    /// rejected; nil when nothing is left (p ≤ q everywhere, so p = q).
    public func removing(_ q: TokenDistribution) -> TokenDistribution? {
        let rest = entries.map { ($0.token, max(0, $0.probability - q.probability(of: $0.token))) }
        let total = rest.reduce(0) { $0 + $1.1 }
        guard total > 0 else { return nil }
        return TokenDistribution(entries: rest.map { ($0.0, $0.1 / total) })
    }
}
