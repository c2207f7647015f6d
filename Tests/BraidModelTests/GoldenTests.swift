// Real models against llama.cpp's numbers: greedy tokens, top-5 logits, perplexity.
import Braid
import Foundation
import Testing

@Suite("Golden tests against llama.cpp", .serialized)
struct GoldenTests {
    /// Logits of every step of `c` under teacher forcing: the prompt, then llama.cpp's own tokens,
    /// so one divergence cannot hide the steps after it. Row i predicts tokens[i].
    static func teacherForcedLogits(_ model: LanguageModel, _ c: GreedyCase) throws -> [[Float]] {
        let sequence = c.promptTokens + c.tokens.dropLast()
        let cache = model.transformer.makeCache(capacity: sequence.count)
        var batch = Batch()
        for (i, token) in sequence.enumerated() {
            batch.append(token, position: i, wantsLogits: i >= c.promptTokens.count - 1)
        }
        let logits = try model.transformer.forward(batch, cache: cache, pool: ComputePool())
        let vocabulary = model.configuration.vocabularySize
        return (0..<c.tokens.count).map { Array(logits[$0 * vocabulary..<($0 + 1) * vocabulary]) }
    }

    @Test("top-5 logits within 2% and greedy tokens equal where llama.cpp's margin is clear",
          arguments: Fixtures.modelNames)
    func greedyAndLogits(model name: String) throws {
        let model = try Fixtures.model(name)
        for c in try GreedyCase.load(model: name) {
            #expect(model.tokenizer.encode(c.prompt) == c.promptTokens, "prompt tokens of \(c.prompt.debugDescription)")
            let rows = try Self.teacherForcedLogits(model, c)
            var worst: Float = 0
            do { let r = rows[0]; let top = r.indices.sorted { r[$0] > r[$1] }.prefix(5).map { "[\($0), \(r[$0])]" }; print("DEBUG \(name) \(c.prompt.prefix(20).debugDescription) braid: \(top)") }
            for (step, row) in rows.enumerated() {
                let reference = c.top5[step]
                for (token, logit) in reference {
                    let error = abs(row[Int(token)] - logit) / max(abs(logit), 1)
                    worst = max(worst, error)
                }
                // Our arg-max must be llama.cpp's token unless its top two were within noise.
                let ours = row.indices.max { row[$0] < row[$1] } ?? 0
                let margin = reference[0].logit - reference[1].logit
                if margin > 0.1 {
                    #expect(Int32(ours) == c.tokens[step], "\(name) \(c.prompt.debugDescription) step \(step): margin \(margin)")
                }
            }
            print("golden \(name) \(c.prompt.prefix(30).debugDescription): worst top-5 relative logit error \(worst)")
            #expect(worst < 0.02, "\(name) \(c.prompt.debugDescription): top-5 logits differ by \(worst * 100)%")
        }
    }
}
