// Adaptive-Consistency (Aggarwal et al. 2023, "Let's Sample Step by Step"): branches are
// launched in waves, and sampling stops as soon as a stopping rule says that more samples would
// not change the majority answer. The Beta rule asks how likely it is that the leader's share
// p₁ of the votes, against the runner-up's, is above one half: with v₁ and v₂ votes and a
// uniform prior, p₁ ~ Beta(v₁ + 1, v₂ + 1), and for whole counts
//
//   P(p₁ > ½) = 1 − I½(v₁ + 1, v₂ + 1) = Σ_{j=0}^{v₁} C(n, j) / 2ⁿ,   n = v₁ + v₂ + 1.
//
// Four agreeing votes give 31/32 ≈ 0.969 and stop at 0.95; three against one give 26/32.
import Foundation

/// When Adaptive-Consistency stops sampling.
public enum StoppingRule: Sendable, Equatable {
    /// P(the leader beats the runner-up) under a Beta posterior ≥ threshold.
    case beta(threshold: Double)
    /// P(the leader has the largest share) under a Dirichlet posterior over every answer seen
    /// (estimated with a fixed-seed Monte Carlo) ≥ threshold.
    case dirichlet(threshold: Double)
    /// Entropy of the answer distribution ≤ threshold × ln(votes), after at least 3 votes.
    case entropy(threshold: Double)

    /// The rule by its command-line name (`beta`, `dirichlet`, `entropy`) with `threshold`, or
    /// its default threshold (0.95, 0.95, 0.4).
    public static func named(_ name: String, threshold: Double? = nil) throws -> StoppingRule {
        switch name {
        case "beta": .beta(threshold: threshold ?? 0.95)
        case "dirichlet": .dirichlet(threshold: threshold ?? 0.95)
        case "entropy": .entropy(threshold: threshold ?? 0.4)
        default: throw AggregationError.invalidSpecification("unknown stopping rule '\(name)' (beta, dirichlet, entropy)")
        }
    }

    /// The threshold the rule compares with.
    public var threshold: Double {
        switch self {
        case .beta(let threshold), .dirichlet(let threshold), .entropy(let threshold): threshold
        }
    }

    /// The rule's name.
    public var name: String {
        switch self {
        case .beta: "beta"
        case .dirichlet: "dirichlet"
        case .entropy: "entropy"
        }
    }

    /// True when sampling can stop, given the vote counts per answer.
    public func shouldStop(counts: [Int]) -> Bool {
        let counts = counts.filter { $0 > 0 }.sorted(by: >)
        guard !counts.isEmpty else { return false }
        switch self {
        case .beta(let threshold):
            return Self.betaProbability(leader: counts[0], runnerUp: counts.count > 1 ? counts[1] : 0) >= threshold
        case .dirichlet(let threshold):
            return Self.dirichletProbability(counts) >= threshold
        case .entropy(let threshold):
            let total = Double(counts.reduce(0, +))
            guard total >= 3 else { return false }
            let entropy = counts.reduce(0.0) { let p = Double($1) / total; return $0 - p * log(p) }
            return entropy <= threshold * log(total)
        }
    }

    /// P(p₁ > ½) for p₁ ~ Beta(leader + 1, runnerUp + 1) (see the file header).
    public static func betaProbability(leader: Int, runnerUp: Int) -> Double {
        let n = leader + runnerUp + 1
        // Σ_{j ≤ leader} C(n, j) / 2ⁿ, with the binomial terms built up in floating point.
        var term = pow(0.5, Double(n)), sum = 0.0
        for j in 0...leader {
            if j > 0 { term *= Double(n - j + 1) / Double(j) }
            sum += term
        }
        return min(1, sum)
    }

    /// P(the first count's share is the largest) for shares ~ Dirichlet(counts + 1), from 4096
    /// draws of a fixed random stream (the same counts always give the same value).
    public static func dirichletProbability(_ counts: [Int]) -> Double {
        var random = RandomSource(seed: 0x5eed)
        let draws = 4096
        var wins = 0
        for _ in 0..<draws {
            // A Gamma(k + 1) draw for whole k is the sum of k + 1 unit exponentials.
            let shares = counts.map { count in (0...count).reduce(0.0) { sum, _ in sum - log(1 - random.nextUnit()) } }
            if shares.indices.allSatisfy({ $0 == 0 || shares[$0] < shares[0] }) { wins += 1 }
        }
        return Double(wins) / Double(draws)
    }
}

/// Adaptive-Consistency: majority vote over branches sampled in waves until the stopping rule
/// fires or the budget is spent.
public struct AdaptiveConsistency: AggregationOperator {
    /// `adaptive:RULE`, with the threshold and the wave sizes where they are not the defaults, as
    /// `AggregationOperators.named` takes it.
    public var name: String {
        var spelled = "adaptive:\(rule.name)"
        if rule.threshold != (try? StoppingRule.named(rule.name))?.threshold || firstWave != nil { spelled += ":\(rule.threshold)" }
        if let firstWave { spelled += ":\(firstWave)" + (wave.map { ":\($0)" } ?? "") }
        return spelled
    }
    /// When to stop.
    public let rule: StoppingRule
    /// Branches in the first wave (nil: half the budget, at least 1).
    public let firstWave: Int?
    /// Branches in each later wave (nil: a quarter of the budget, at least 1).
    public let wave: Int?
    public var samplesInRounds: Bool { true }

    public init(rule: StoppingRule = .beta(threshold: 0.95), firstWave: Int? = nil, wave: Int? = nil) throws {
        if let firstWave, firstWave < 1 { throw AggregationError.invalidSpecification("adaptive first wave must be ≥ 1 (got \(firstWave))") }
        if let wave, wave < 1 { throw AggregationError.invalidSpecification("adaptive wave must be ≥ 1 (got \(wave))") }
        switch rule {
        case .beta(let threshold), .dirichlet(let threshold):
            // At ½ or below a tie, or one vote, would stop sampling.
            guard threshold > 0.5, threshold <= 1 else {
                throw AggregationError.invalidSpecification("\(rule.name) threshold must be in (0.5, 1] (got \(threshold))")
            }
        case .entropy(let threshold):
            guard threshold > 0, threshold <= 1 else {
                throw AggregationError.invalidSpecification("entropy threshold must be in (0, 1] (got \(threshold))")
            }
        }
        self.rule = rule
        self.firstWave = firstWave
        self.wave = wave
    }

    public func run(_ context: AggregationContext) throws -> Aggregate {
        let budget = context.budget
        var candidates: [Candidate] = []
        var next = 0
        while next < budget {
            let size = next == 0 ? (firstWave ?? max(1, budget / 2)) : (wave ?? max(1, budget / 4))
            let end = next + min(size, budget - next)
            candidates += try context.sample(streams: next..<end)
            next = end
            if rule.shouldStop(counts: Voting.tally(candidates).map(\.count)) { break }
        }
        return try fold(candidates, context: context)
    }

    public func fold(_ candidates: [Candidate], context: AggregationContext) throws -> Aggregate {
        Voting.decide(name, candidates: candidates, weights: nil, context: context)
    }

    /// The operator the command line spells `RULE[:THRESHOLD[:FIRST[:WAVE]]]` after `adaptive:`
    /// ("beta", "beta:0.8", "beta:0.8:2:1"): a stopping rule, its threshold, and the sizes of the
    /// first and of each later wave (colons, not commas: `braid evaluate --methods` lists with commas).
    public static func named(_ specification: String) throws -> AdaptiveConsistency {
        let parts = specification.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 4 else {
            throw AggregationError.invalidSpecification("adaptive takes RULE[:THRESHOLD[:FIRST[:WAVE]]] (got '\(specification)')")
        }
        var threshold: Double?
        if parts.count > 1 {
            guard let value = Double(parts[1]), value.isFinite else {
                throw AggregationError.invalidSpecification("adaptive threshold '\(parts[1])' is not a number")
            }
            threshold = value
        }
        let sizes = try parts.dropFirst(2).map { part in
            guard let size = Int(part) else { throw AggregationError.invalidSpecification("adaptive wave size '\(part)' is not a whole number") }
            return size
        }
        return try AdaptiveConsistency(rule: StoppingRule.named(parts[0], threshold: threshold),
                                       firstWave: sizes.first, wave: sizes.dropFirst().first)
    }
}
