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

    /// Reads the configuration from GGUF metadata. `vocabularySize` falls back to the token list.
    public init(gguf: GGUFFile) throws {
        let arch = try gguf.string("general.architecture")
        func key(_ name: String) -> String { "\(arch).\(name)" }
        func positive(_ name: String) throws -> Int {
            let value = try gguf.integer(key(name))
            guard value > 0 else { throw GGUFError.wrongValueType(key: key(name), expected: "a positive integer") }
            return value
        }
        let embedding = try positive("embedding_length")
        let heads = try positive("attention.head_count")
        let kvHeads = gguf.metadata[key("attention.head_count_kv")] == nil ? heads : try positive("attention.head_count_kv")
        guard embedding % heads == 0 else {
            throw GGUFError.wrongValueType(key: key("attention.head_count"), expected: "a divisor of embedding_length \(embedding)")
        }
        guard heads % kvHeads == 0 else {
            throw GGUFError.wrongValueType(key: key("attention.head_count_kv"), expected: "a divisor of head_count \(heads)")
        }
        let headDimension = gguf.metadata[key("attention.key_length")] == nil ? embedding / heads : try positive("attention.key_length")
        let vocabulary = gguf.metadata[key("vocab_size")] == nil
            ? (try gguf.value("tokenizer.ggml.tokens").array?.count ?? 0) : try positive("vocab_size")
        guard vocabulary > 0 else { throw GGUFError.missingKey(key("vocab_size")) }
        let ropeDimensions = gguf.metadata[key("rope.dimension_count")] == nil ? headDimension : try positive("rope.dimension_count")
        guard ropeDimensions <= headDimension, ropeDimensions % 2 == 0 else {
            throw GGUFError.wrongValueType(key: key("rope.dimension_count"), expected: "an even number ≤ the head dimension")
        }
        let epsilon = try gguf.float(key("attention.layer_norm_rms_epsilon"))
        let ropeBase = gguf.metadata[key("rope.freq_base")] == nil ? 10_000 : try gguf.float(key("rope.freq_base"))
        guard epsilon > 0, epsilon.isFinite, ropeBase > 0, ropeBase.isFinite else {
            throw GGUFError.wrongValueType(key: key("rope.freq_base"), expected: "a positive number")
        }
        self.init(architecture: arch, layerCount: try positive("block_count"), embeddingLength: embedding,
                  feedForwardLength: try positive("feed_forward_length"), headCount: heads, kvHeadCount: kvHeads,
                  headDimension: headDimension, contextLength: try positive("context_length"),
                  vocabularySize: vocabulary, rmsEpsilon: epsilon, ropeBase: ropeBase, ropeDimensionCount: ropeDimensions)
    }
}
