// The hyper-parameters of a decoder-only transformer, decoded and validated from GGUF metadata
// (`<arch>.block_count`, `<arch>.embedding_length`, …). Errors name the key.
import BraidGGUF

/// Hyper-parameters of a decoder-only transformer. Immutable and validated.
public struct ModelConfiguration: Sendable, Equatable {
    /// `general.architecture`, e.g. `llama` or `qwen2`.
    public let architecture: String
    /// Number of transformer blocks.
    public let layerCount: Int
    /// Width of the residual stream (model dimension).
    public let embeddingLength: Int
    /// Width of the MLP's hidden layer.
    public let feedForwardLength: Int
    /// Query heads.
    public let headCount: Int
    /// Key/value heads (fewer than `headCount` with grouped-query attention).
    public let kvHeadCount: Int
    /// Dimension of one head.
    public let headDimension: Int
    /// Longest context the model was trained for.
    public let contextLength: Int
    /// Number of output logits.
    public let vocabularySize: Int
    /// RMSNorm epsilon.
    public let rmsEpsilon: Float
    /// RoPE frequency base.
    public let ropeBase: Float
    /// Rotated dimensions per head.
    public let ropeDimensionCount: Int

    /// Width of all key (or value) heads of one token: `kvHeadCount × headDimension`.
    public var kvDimension: Int { kvHeadCount * headDimension }
    /// Width of all query heads of one token: `headCount × headDimension`.
    public var queryDimension: Int { headCount * headDimension }

    public init(architecture: String, layerCount: Int, embeddingLength: Int, feedForwardLength: Int,
                headCount: Int, kvHeadCount: Int, headDimension: Int, contextLength: Int, vocabularySize: Int,
                rmsEpsilon: Float, ropeBase: Float, ropeDimensionCount: Int) {
        self.architecture = architecture
        self.layerCount = layerCount
        self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDimension = headDimension
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
        self.rmsEpsilon = rmsEpsilon
        self.ropeBase = ropeBase
        self.ropeDimensionCount = ropeDimensionCount
    }

    /// Largest size any dimension may have: far above every real model, small enough that no
    /// product of two sizes overflows and no file can make Braid allocate absurd amounts.
    static let sizeLimit = 1 << 24

    /// Reads the configuration from GGUF metadata. `vocabularySize` falls back to the token list.
    public init(gguf: GGUFFile) throws {
        let arch = try gguf.string("general.architecture")
        func key(_ name: String) -> String { "\(arch).\(name)" }
        func size(_ name: String, default fallback: Int? = nil) throws -> Int {
            let value = try fallback.map { try gguf.integer(key(name), default: $0) } ?? gguf.integer(key(name))
            guard value > 0, value <= Self.sizeLimit else {
                throw GGUFError.invalidValue(key: key(name), reason: "\(value) is not in 1…\(Self.sizeLimit)")
            }
            return value
        }
        let embedding = try size("embedding_length")
        let heads = try size("attention.head_count")
        let kvHeads = try size("attention.head_count_kv", default: heads)
        guard heads % kvHeads == 0 else {
            throw GGUFError.invalidValue(key: key("attention.head_count_kv"), reason: "\(kvHeads) does not divide head_count \(heads)")
        }
        guard gguf.metadata[key("attention.key_length")] != nil || embedding % heads == 0 else {
            throw GGUFError.invalidValue(key: key("attention.head_count"), reason: "\(heads) does not divide embedding_length \(embedding)")
        }
        let headDimension = try size("attention.key_length", default: embedding / heads)
        let layers = try size("block_count")
        guard layers <= gguf.tensors.count else {
            throw GGUFError.invalidValue(key: key("block_count"), reason: "\(layers) blocks but only \(gguf.tensors.count) tensors")
        }
        let tokenCount = gguf.metadata["tokenizer.ggml.tokens"]?.array?.count
        guard let vocabulary = try gguf.metadata[key("vocab_size")] == nil ? tokenCount : size("vocab_size"), vocabulary > 0 else {
            throw GGUFError.missingKey("tokenizer.ggml.tokens")
        }
        let ropeDimensions = try size("rope.dimension_count", default: headDimension)
        guard ropeDimensions <= headDimension, ropeDimensions % 2 == 0 else {
            throw GGUFError.invalidValue(key: key("rope.dimension_count"), reason: "\(ropeDimensions) is not an even number ≤ the head dimension \(headDimension)")
        }
        let epsilon = try gguf.float(key("attention.layer_norm_rms_epsilon"))
        guard epsilon > 0, epsilon.isFinite else {
            throw GGUFError.invalidValue(key: key("attention.layer_norm_rms_epsilon"), reason: "\(epsilon) is not a positive number")
        }
        let ropeBase = try gguf.float(key("rope.freq_base"), default: 10_000)
        guard ropeBase > 1, ropeBase.isFinite else {
            throw GGUFError.invalidValue(key: key("rope.freq_base"), reason: "\(ropeBase) is not a number > 1")
        }
        // Context extension (linear, YaRN, Llama 3 frequency factors) changes every angle; refuse
        // it rather than compute wrong logits.
        if let scaling = gguf.metadata[key("rope.scaling.type")]?.string, scaling != "none" {
            throw ModelError.unsupportedFeature("RoPE scaling '\(scaling)'")
        }
        if gguf.tensor(named: "rope_freqs.weight") != nil {
            throw ModelError.unsupportedFeature("RoPE frequency factors (rope_freqs.weight)")
        }
        self.init(architecture: arch, layerCount: layers, embeddingLength: embedding, feedForwardLength: try size("feed_forward_length"),
                  headCount: heads, kvHeadCount: kvHeads, headDimension: headDimension, contextLength: try size("context_length"),
                  vocabularySize: vocabulary, rmsEpsilon: epsilon, ropeBase: ropeBase, ropeDimensionCount: ropeDimensions)
    }
}
