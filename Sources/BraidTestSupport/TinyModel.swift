// Tiny transformer models with random weights, written as GGUF in-process, so every format,
// architecture and equivalence can be tested in milliseconds without downloading anything.
import BraidGGUF
import BraidKernels
import BraidSampling
import BraidTokenizer
import Foundation

/// A tiny decoder-only model description that serializes to a complete GGUF file.
public struct TinyModel {
    public var architecture = "llama"
    public var layers = 2
    public var embedding = 64
    public var heads = 4
    public var kvHeads = 2
    public var feedForward = 96
    public var contextLength = 64
    public var seed: UInt64 = 1
    /// Scale of what each block adds to the residual stream: small values make the next token
    /// depend mostly on the last one, so greedy text repeats itself (as drafters like).
    public var blockOutputScale: Float = 1
    /// Storage type of the big matrices (norms and biases stay F32).
    public var matrixType = TensorType.q8_0
    /// Extra metadata, applied after (and so overriding) the defaults.
    public var extraMetadata: [(String, GGUFValue)] = []
    /// Tensors to leave out, by name.
    public var omittedTensors: Set<String> = []

    public init(architecture: String = "llama") {
        self.architecture = architecture
    }

    /// Byte-level vocabulary: 256 byte tokens, two merges ("h e", "l l") and ChatML control tokens.
    public static let vocabulary: (tokens: [String], kinds: [Int], merges: [String]) = {
        var tokens = ByteLevel.characterForByte.map { String($0) }
        var kinds = [Int](repeating: 1, count: 256)
        tokens += ["he", "ll", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
        kinds += [1, 1, 3, 3, 3]
        return (tokens, kinds, ["h e", "l l"])
    }()

    public var vocabularySize: Int { Self.vocabulary.tokens.count }

    /// The complete GGUF file.
    public func ggufBytes() -> [UInt8] {
        var random = RandomSource(seed: seed)
        var writer = GGUFWriter()
        let a = architecture
        writer.set("general.architecture", .string(a))
        writer.set("\(a).block_count", .uint32(UInt32(layers)))
        writer.set("\(a).context_length", .uint32(UInt32(contextLength)))
        writer.set("\(a).embedding_length", .uint32(UInt32(embedding)))
        writer.set("\(a).feed_forward_length", .uint32(UInt32(feedForward)))
        writer.set("\(a).attention.head_count", .uint32(UInt32(heads)))
        writer.set("\(a).attention.head_count_kv", .uint32(UInt32(kvHeads)))
        writer.set("\(a).rope.freq_base", .float32(10_000))
        writer.set("\(a).attention.layer_norm_rms_epsilon", .float32(1e-5))
        writer.set("tokenizer.ggml.model", .string("gpt2"))
        writer.set("tokenizer.ggml.pre", .string(a == "qwen2" ? "qwen2" : "smollm"))
        writer.set("tokenizer.ggml.tokens", .array(Self.vocabulary.tokens.map { .string($0) }))
        writer.set("tokenizer.ggml.token_type", .array(Self.vocabulary.kinds.map { .int32(Int32($0)) }))
        writer.set("tokenizer.ggml.merges", .array(Self.vocabulary.merges.map { .string($0) }))
        writer.set("tokenizer.ggml.eos_token_id", .uint32(259))
        writer.set("tokenizer.ggml.bos_token_id", .uint32(260))
        writer.set("tokenizer.ggml.add_bos_token", .bool(false))
        writer.set("tokenizer.chat_template", .string("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"))
        for (key, value) in extraMetadata { writer.set(key, value) }

        let headDim = embedding / heads, q = heads * headDim, kv = kvHeads * headDim
        func matrix(_ name: String, rows: Int, columns: Int, scale: Float = 1) {
            guard !omittedTensors.contains(name) else { return }
            let values = (0..<rows * columns).map { _ in scale * Float.random(in: -0.5...0.5, using: &random) }
            writer.addTensor(name, dimensions: [columns, rows], type: matrixType, bytes: Self.quantize(values, as: matrixType))
        }
        func vector(_ name: String, count: Int, around center: Float) {
            guard !omittedTensors.contains(name) else { return }
            writer.addTensor(name, dimensions: [count], values: (0..<count).map { _ in center + Float.random(in: -0.1...0.1, using: &random) })
        }
        matrix("token_embd.weight", rows: vocabularySize, columns: embedding)
        vector("output_norm.weight", count: embedding, around: 1)
        for layer in 0..<layers {
            let p = "blk.\(layer)."
            vector(p + "attn_norm.weight", count: embedding, around: 1)
            matrix(p + "attn_q.weight", rows: q, columns: embedding)
            matrix(p + "attn_k.weight", rows: kv, columns: embedding)
            matrix(p + "attn_v.weight", rows: kv, columns: embedding)
            if a == "qwen2" {
                vector(p + "attn_q.bias", count: q, around: 0)
                vector(p + "attn_k.bias", count: kv, around: 0)
                vector(p + "attn_v.bias", count: kv, around: 0)
            }
            matrix(p + "attn_output.weight", rows: embedding, columns: q, scale: blockOutputScale)
            vector(p + "ffn_norm.weight", count: embedding, around: 1)
            matrix(p + "ffn_gate.weight", rows: feedForward, columns: embedding)
            matrix(p + "ffn_up.weight", rows: feedForward, columns: embedding)
            matrix(p + "ffn_down.weight", rows: embedding, columns: feedForward, scale: blockOutputScale)
        }
        return writer.serialized()
    }

    /// Writes the model to a fresh temporary file and returns its path.
    public func write() throws -> String {
        try Self.writeTemporary(ggufBytes(), suffix: ".gguf")
    }

    /// Writes `bytes` to a new file in this process's directory of test files.
    public static func writeTemporary(_ bytes: [UInt8], suffix: String) throws -> String {
        let path = temporaryDirectory.appendingPathComponent("\(UUID().uuidString)\(suffix)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The directory of the files one test process writes, removed when the process exits (the
    /// files of a run of the whole suite would otherwise pile up in the temporary directory).
    private static let temporaryDirectory: URL = {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("braid-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: TinyModel.temporaryDirectory) }
        return directory
    }()

    /// Quantizes floats to F32, F16 or Q8_0 bytes (enough types for tiny models).
    public static func quantize(_ values: [Float], as type: TensorType) -> [UInt8] {
        switch type {
        case .f16:
            return values.flatMap { v -> [UInt8] in let h = halfFromFloat(v); return [UInt8(h & 0xFF), UInt8(h >> 8)] }
        case .q8_0:
            var out: [UInt8] = []
            for start in stride(from: 0, to: values.count, by: 32) {
                let block = values[start..<start + 32]
                let amax = block.map(abs).max() ?? 0
                let d = amax / 127
                let h = halfFromFloat(d)
                out += [UInt8(h & 0xFF), UInt8(h >> 8)]
                out += block.map { UInt8(bitPattern: Int8(d == 0 ? 0 : ($0 / d).rounded())) }
            }
            return out
        default:
            return values.withUnsafeBytes { Array($0) }
        }
    }
}
