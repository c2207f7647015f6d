// The sampler chain on hand-made logits: each filter, the seed, and parameter validation.
import BraidSampling
import Testing

func sample(_ logits: [Float], _ parameters: SamplingParameters, history: [Int32] = [], draws: Int = 1) throws -> [Int32] {
    var sampler = try Sampler(parameters)
    return logits.withUnsafeBufferPointer { buffer in (0..<draws).map { _ in sampler.sample(buffer, history: history) } }
}

/// Sampling at `temperature` with every filter off (top-k 0, top-p 1, min-p 0); tests switch one on.
func unfiltered(temperature: Float = 1, seed: UInt64 = 1) -> SamplingParameters {
    var p = SamplingParameters()
    p.temperature = temperature
    p.topK = 0
    p.topP = 1
    p.minP = 0
    p.seed = seed
    return p
}

@Suite("Sampler")
struct SamplerTests {
    let logits: [Float] = [1, 5, 3, 4.9, -2]

    @Test func greedyTakesTheArgmax() throws {
        #expect(try sample(logits, .greedy) == [1])
    }

    @Test("repetition penalty divides positive and multiplies negative logits")
    func repetitionPenalty() throws {
        var p = SamplingParameters.greedy
        p.repetitionPenalty = 1.1
        // 5 / 1.1 = 4.545 < 4.9: token 3 wins once token 1 is penalized.
        #expect(try sample(logits, p, history: [1]) == [3])
        #expect(try sample(logits, p, history: [0]) == [1])
        p.repetitionWindow = 0
        #expect(try sample(logits, p, history: [1]) == [1])
    }

    @Test("top-k 1 and min-p 1 leave only the best token")
    func filtersToOne() throws {
        var p = unfiltered(temperature: 5)
        p.topK = 1
        #expect(Set(try sample(logits, p, draws: 50)) == [1])
        p.topK = 0
        p.minP = 1
        #expect(Set(try sample(logits, p, draws: 50)) == [1])
    }

    @Test("top-k 2 samples only the two best tokens, both of them")
    func topK() throws {
        var p = unfiltered()
        p.topK = 2
        #expect(Set(try sample(logits, p, draws: 200)) == [1, 3])
    }

    @Test("top-p keeps the smallest set reaching p")
    func topP() throws {
        var p = unfiltered()
        p.topP = 0.5  // token 1 alone has probability ≈ 0.47 < 0.5, tokens 1 and 3 ≈ 0.89
        let drawn = Set(try sample(logits, p, draws: 300))
        #expect(drawn == [1, 3])
    }

    @Test("min-p drops tokens far below the best")
    func minP() throws {
        var p = unfiltered()
        p.minP = 0.2  // p(2)/p(1) = e^-2 ≈ 0.135 < 0.2 is dropped; p(3)/p(1) = e^-0.1 kept
        #expect(Set(try sample(logits, p, draws: 300)) == [1, 3])
    }

    @Test("frequencies follow the softmax at the temperature")
    func distribution() throws {
        let p = unfiltered(temperature: 2)
        let draws = try sample([0, Float(2 * log(3.0))], p, draws: 4000)  // probabilities 1/4, 3/4
        let share = Double(draws.filter { $0 == 1 }.count) / 4000
        #expect(abs(share - 0.75) < 0.03)
    }

    @Test("the same seed gives the same tokens, another seed others")
    func seeds() throws {
        let p = unfiltered(temperature: 3, seed: 42)
        let a = try sample(logits, p, draws: 64), b = try sample(logits, p, draws: 64)
        #expect(a == b)
        #expect(try sample(logits, unfiltered(temperature: 3, seed: 43), draws: 64) != a)
    }

    @Test("the random stream is the same on every platform")
    func randomSource() {
        var random = RandomSource(seed: 0)
        let first = (0..<3).map { _ in random.next() }
        var again = RandomSource(seed: 0)
        #expect((0..<3).map { _ in again.next() } == first)
        #expect(Set(first).count == 3)
        let unit = random.nextUnit()
        #expect(unit >= 0 && unit < 1)
    }

    @Test("invalid parameters are refused with a message naming them")
    func validation() {
        var p = SamplingParameters()
        p.temperature = -0.5
        #expect(throws: SamplingError.self) { try Sampler(p) }
        p = SamplingParameters()
        p.topP = .nan
        #expect(throws: SamplingError(description: "top-p must be in (0, 1] (got nan)")) { try Sampler(p) }
        p = SamplingParameters()
        p.repetitionPenalty = -1
        #expect(throws: SamplingError.self) { try Sampler(p) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
