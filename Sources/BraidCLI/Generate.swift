// `braid generate`: text from a prompt, streamed as it is produced, or one JSON object.
import ArgumentParser
import Braid
import Foundation

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a prompt.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .shortAndLong, help: "The prompt.")
    var prompt: String

    @Option(name: [.customShort("n"), .customLong("max-tokens")], parsing: .unconditional, help: "Most tokens to generate.")
    var maxTokens = 128

    @Option(parsing: .unconditional, help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.8

    @Option(name: .customLong("top-k"), parsing: .unconditional, help: "Keep the k most likely tokens (0: all).")
    var topK = 40

    @Option(name: .customLong("top-p"), parsing: .unconditional, help: "Nucleus sampling threshold (1: off).")
    var topP: Float = 0.95

    @Option(name: .customLong("min-p"), parsing: .unconditional, help: "Drop tokens below min-p × the top probability (0: off).")
    var minP: Float = 0.05

    @Option(name: .customLong("repeat-penalty"), parsing: .unconditional, help: "Penalty for the last 64 tokens (1: off).")
    var repeatPenalty: Float = 1.0

    @Option(help: "Random seed (default: a fresh one each run).")
    var seed: UInt64?

    @Option(name: [.customShort("c"), .customLong("context")], parsing: .unconditional, help: "Context length (default: the model's, at most 4096).")
    var context: Int?

    @Flag(help: "Wrap the prompt in the model's chat template.")
    var chat = false

    @Flag(help: "Print one JSON object instead of streaming text.")
    var json = false

    func run() throws {
        try reportingErrors {
            var sampling = SamplingParameters()
            sampling.temperature = temperature
            sampling.topK = topK
            sampling.topP = topP
            sampling.minP = minP
            sampling.repetitionPenalty = repeatPenalty
            sampling.seed = seed ?? UInt64.random(in: 0...UInt64.max)
            let parameters = GenerationParameters(maxTokens: maxTokens, sampling: sampling, contextLength: context,
                                                  threads: modelOptions.threads)
            try parameters.sampling.validate()
            let (model, loadMilliseconds) = try modelOptions.load()
            let text = chat ? try model.chatPrompt(user: prompt) : prompt
            let result = try model.generate(prompt: text, parameters: parameters, onText: json ? { _ in } : writeOut)
            if json {
                let t = result.timings
                try printJSON([
                    "prompt_tokens": result.promptTokens.map(Int.init),
                    "tokens": result.tokens.map(Int.init),
                    "text": result.text,
                    "finish_reason": result.finishReason.rawValue,
                    "seed": NSNumber(value: sampling.seed),
                    "timings": [
                        "load_ms": loadMilliseconds,
                        "prompt_ms": t.promptMilliseconds,
                        "decode_ms": t.decodeMilliseconds,
                        "prompt_tokens_per_s": t.promptTokensPerSecond,
                        "decode_tokens_per_s": t.decodeTokensPerSecond,
                    ],
                ] as [String: Any])
            } else {
                writeOut("\n")
            }
        }
    }
}
