// The `braid` command line: generate, tokenize, perplexity, bench, evaluate.
import ArgumentParser
import Braid
import Foundation

@main
struct BraidCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "braid",
        abstract: "Run language models on this machine (GGUF; SmolLM2, Qwen2.5).",
        subcommands: [Generate.self, Tokenize.self, Perplexity.self, Bench.self, Evaluate.self]
    )
}

/// Options every command that loads a model shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "A GGUF file or a name from models/manifest.json (default: the manifest's default).")
    var model: String?

    @Option(parsing: .unconditional, help: "Threads for the kernels (default: every core).")
    var threads: Int?

    @Option(name: .customLong("activation-bits"),
            help: "Bits per activation in the byte kernels of AVX-512 VNNI builds: 15 (logits within about 0.6% of a float64 pass) or 8 (llama.cpp's precision; faster for several tokens or branches at once).")
    var activationBits: ActivationPrecision = .fifteenBit

    @Option(name: .customLong("kv-type"),
            help: "How the KV cache stores keys and values: f32 (exact) or f16 (half the memory and half the bytes attention reads, as llama.cpp's default).")
    var kvType: KVCacheType = .f32

    func load() throws -> (LanguageModel, milliseconds: Double) {
        if let threads, threads <= 0 { throw BraidError.invalidParameter("--threads must be > 0 (got \(threads))") }
        if activationBits == .eightBit && !KernelPath.compiledForVNNI {
            FileHandle.standardError.write(Data("braid: note: --activation-bits 8 applies to AVX-512 VNNI builds only; this build's kernels take 16 bits\n".utf8))
        }
        let clock = ContinuousClock()
        let start = clock.now
        let model = try load(model)
        return (model, (clock.now - start).milliseconds)
    }

    /// Another model (a draft, a synthesizer), its activations as precise as the main model's.
    func load(_ nameOrPath: String?, requantizedTo target: TensorType? = nil, outputTokens: Int? = nil) throws -> LanguageModel {
        try LanguageModel.load(nameOrPath, requantizedTo: target, activations: activationBits, outputTokens: outputTokens, kvCache: kvType)
    }
}

extension ActivationPrecision: ExpressibleByArgument {}
extension KVCacheType: ExpressibleByArgument {}

/// Runs `body`, turning any error into one line on stderr and exit code 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("braid: error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

/// Writes text to stdout immediately (for streaming).
func writeOut(_ text: String) {
    guard !text.isEmpty else { return }
    FileHandle.standardOutput.write(Data(text.utf8))
}

/// Prints a JSON value on one line.
func printJSON(_ value: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: value, options: [.withoutEscapingSlashes, .sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}
