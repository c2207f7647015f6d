// Multi-branch generation on tiny random models: branches are reproducible from the seed whatever
// their number, greedy branches equal a single generation, log-probabilities are consistent, a
// small KV budget stops branches with kv_full, a session reuses a prompt it has seen, and stop
// strings cut the text (held back while streaming).
@testable import Braid
import BraidTestSupport
import Foundation
import Testing

@Suite("Branches")
struct BranchTests {
    func model() throws -> LanguageModel {
        var tiny = TinyModel()
        tiny.contextLength = 512
        return try LanguageModel(path: tiny.write())
    }

    func sampling(seed: UInt64) -> GenerationParameters {
        var parameters = GenerationParameters(maxTokens: 24, topLogprobs: 3)
        parameters.sampling.temperature = 1.2
        parameters.sampling.topK = 0
        parameters.sampling.minP = 0
        parameters.sampling.seed = seed
        return parameters
    }

    @Test("branch i is the same whatever the number of branches and whenever the others finish")
    func reproducibleBranches() throws {
        let model = try model()
        var parameters = sampling(seed: 42)
        parameters.stopStrings = ["e", "a", "o"]  // branches finish at different steps
        // Two full blocks of prompt that the branches share (their rows read them together).
        let prompt = String(repeating: "hello world ", count: 28)
        #expect(model.tokenizer.encode(prompt).count >= 2 * PagedKVCache.defaultBlockSize)
        let six = try model.generateBranches(prompt: prompt, count: 6, parameters: parameters).branches
        #expect(Set(six.map(\.tokens.count)).count > 1, "the branches should finish at different steps")
        #expect(Set(six.map(\.tokens)).count > 1, "the branches should differ")
        for count in [1, 2, 5] {
            let some = try model.generateBranches(prompt: prompt, count: count, parameters: parameters).branches
            for i in 0..<count {
                #expect(some[i].tokens == six[i].tokens && some[i].text == six[i].text, "branch \(i) of \(count)")
                #expect(some[i].logprobs == six[i].logprobs)
            }
        }
        // A single generation is branch 0.
        let single = try model.generate(prompt: prompt, parameters: parameters)
        #expect(single.tokens == six[0].tokens)
    }

    @Test("log-probabilities: ≤ 0, alternatives best first, the chosen token's value among them when listed")
    func logprobs() throws {
        let model = try model()
        let result = try model.generateBranches(prompt: "abc", count: 3, parameters: sampling(seed: 3))
        for branch in result.branches {
            #expect(branch.logprobs.count == branch.tokens.count)
            for step in branch.logprobs {
                #expect(step.chosen.logprob <= 0 && step.alternatives.count == 3)
                #expect(zip(step.alternatives, step.alternatives.dropFirst()).allSatisfy { $0.logprob >= $1.logprob })
                if let listed = step.alternatives.first(where: { $0.token == step.chosen.token }) { #expect(listed == step.chosen) }
                #expect(step.alternatives.reduce(Float(0)) { $0 + exp($1.logprob) } <= 1.0001)
            }
            let mean = branch.logprobs.map { Double($0.chosen.logprob) }.reduce(0, +) / Double(max(1, branch.tokens.count))
            #expect(abs(branch.meanLogprob - mean) < 1e-9)
        }
    }

    @Test("greedy branches all equal one greedy generation")
    func greedyBranches() throws {
        let model = try model()
        let parameters = GenerationParameters(maxTokens: 16, sampling: .greedy)
        let single = try model.generate(prompt: "hello", parameters: parameters)
        let branches = try model.generateBranches(prompt: "hello", count: 4, parameters: parameters).branches
        #expect(branches.allSatisfy { $0.tokens == single.tokens && $0.finishReason == single.finishReason })
    }

    @Test("a KV budget too small for every branch stops the last ones with kv_full, and their blocks let the others go on")
    func kvFull() throws {
        let model = try model()
        let prompt = model.tokenizer.encode(String(repeating: "abcdefgh", count: 16))
        var parameters = GenerationParameters(maxTokens: 100, sampling: .greedy)
        parameters.ignoreEndOfGeneration = true
        let blockSize = PagedKVCache.defaultBlockSize
        let blockBytes = PagedKVCache.blockBytes(configuration: model.configuration, blockSize: blockSize)
        let promptBlocks = (prompt.count + blockSize - 1) / blockSize
        let session = try GenerationSession(model: model, kvBudgetBytes: (promptBlocks + 4) * blockBytes)
        let result = try session.generateBranches(promptTokens: prompt, count: 6, parameters: parameters)
        let reasons = result.branches.map(\.finishReason)
        // The last branches stop first; the blocks they free let branch 0 reach its token limit.
        #expect(reasons[0] == .length && result.branches[0].tokens.count == 100)
        #expect(reasons[4...].allSatisfy { $0 == .kvFull })
        #expect(result.branches.allSatisfy { $0.tokens.count >= 1 })
        #expect(result.kvCache.peakUsedBlocks == promptBlocks + 4)
        #expect(session.cache.usage.usedBlocks == 0)
        // Greedy branches are identical, so a branch stopped early is a prefix of branch 0.
        #expect(result.branches.allSatisfy { Array(result.branches[0].tokens.prefix($0.tokens.count)) == $0.tokens })
    }

    @Test("a session reuses a prompt it has seen, and the output is unchanged")
    func prefixReuse() throws {
        let model = try model()
        let prompt = model.tokenizer.encode(String(repeating: "the cat sat on the mat. ", count: 8))
        let parameters = GenerationParameters(maxTokens: 8, sampling: .greedy)
        let session = try GenerationSession(model: model, kvBudgetBytes: 64 << 20)
        let first = try session.generate(promptTokens: prompt, parameters: parameters)
        let second = try session.generate(promptTokens: prompt, parameters: parameters)
        #expect(first.timings.reusedPromptTokens == 0)
        #expect(second.timings.reusedPromptTokens == (prompt.count - 1) / 64 * 64 || second.timings.reusedPromptTokens == prompt.count - 1)
        #expect(second.timings.reusedPromptTokens > 0)
        #expect(second.tokens == first.tokens)
    }

    @Test("stop strings cut the text and are held back while they may still complete")
    func stopStrings() {
        var text = StopStringText(stopStrings: ["END", "\n\n"])
        var streamed = ""
        for piece in ["Hello E", "N", "x then E", "N", "D and more"] {
            let (released, stopped) = text.append(piece)
            streamed += released
            if stopped { break }
        }
        #expect(text.text == "Hello ENx then ")
        #expect(streamed == "Hello ENx then ")
        var plain = StopStringText(stopStrings: [])
        #expect(plain.append("abc").released == "abc" && plain.finish() == "")
        var held = StopStringText(stopStrings: ["STOP"])
        #expect(held.append("ab ST").released == "ab " && held.finish() == "ST")
    }

    @Test("a prepared prompt gives the same branches in rounds as at once; a monitor prunes a branch and frees it")
    func roundsAndMonitor() throws {
        let model = try model()
        let session = try GenerationSession(model: model, kvBudgetBytes: 16 << 20, threads: 2)
        let parameters = sampling(seed: 9)
        let tokens = model.tokenizer.encode(String(repeating: "hello world ", count: 8))
        let prompt = try session.prepare(promptTokens: tokens, parameters: parameters)
        let atOnce = try session.generateBranches(from: prompt, streams: 0..<6, parameters: parameters).branches
        let first = try session.generateBranches(from: prompt, streams: 0..<2, parameters: parameters).branches
        let rest = try session.generateBranches(from: prompt, streams: 2..<6, parameters: parameters) { stream, _ in stream == 4 }
        #expect((first + rest.branches).map(\.stream) == Array(0..<6))
        for (a, b) in zip(atOnce, first + rest.branches) where b.stream != 4 {
            #expect(a.tokens == b.tokens && a.logprobs == b.logprobs && a.finishReason == b.finishReason)
        }
        let pruned = rest.branches[2]
        #expect(pruned.finishReason == .pruned && pruned.tokens == [atOnce[4].tokens[0]])
        session.release(prompt)
        #expect(session.cache.usage.usedBlocks == 0)
        #expect(throws: BraidError.self) { try session.generateBranches(from: prompt, streams: 3..<3, parameters: parameters) }
        #expect(throws: (any Error).self, "a released prompt") { try session.generateBranches(from: prompt, streams: 0..<1, parameters: parameters) }
    }
}
