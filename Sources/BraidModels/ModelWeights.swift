// The weights of a decoder-only transformer, bound to tensors of a GGUF file by their canonical
// (llama.cpp) names. Matrices stay in the mapped file in their stored type; the small vectors
// (norm weights, biases) are converted to Float once.
import BraidGGUF
import BraidKernels

/// Weights of one transformer block. Matrix shapes are `[rows × columns]` = `[out × in]`.
struct LayerWeights: Sendable {
    let attentionNorm: [Float]     // (embedding)
    let query: WeightMatrix        // (headCount·headDim × embedding)
    let key: WeightMatrix          // (kvHeadCount·headDim × embedding)
    let value: WeightMatrix        // (kvHeadCount·headDim × embedding)
    let queryBias: [Float]?        // (headCount·headDim)
    let keyBias: [Float]?          // (kvHeadCount·headDim)
    let valueBias: [Float]?        // (kvHeadCount·headDim)
    let attentionOutput: WeightMatrix  // (embedding × headCount·headDim)
    let feedForwardNorm: [Float]   // (embedding)
    let gate: WeightMatrix         // (feedForward × embedding)
    let up: WeightMatrix           // (feedForward × embedding)
    let down: WeightMatrix         // (embedding × feedForward)
}

/// All weights of a model.
struct ModelWeights: Sendable {
    let tokenEmbedding: WeightMatrix   // (vocabulary × embedding)
    let layers: [LayerWeights]
    let outputNorm: [Float]            // (embedding)
    let output: WeightMatrix           // (output tokens × embedding); token_embd when tied

    /// The weights of `gguf`; with `requantizedTo`, matrices that take products and are stored
    /// in more bits per value are requantized to that type (see `WeightMatrix.tiled`); products
    /// quantize their activations to `activations`; with `outputTokens`, the output matrix keeps
    /// only the rows of the first that many tokens.
    init(gguf: GGUFFile, configuration c: ModelConfiguration, architecture: any TransformerArchitecture.Type,
         requantizedTo target: TensorType?, activations: ActivationPrecision, outputTokens: Int?) throws {
        let pool = ComputePool()
        // Matrices that take products are tiled for the byte kernels where the build has them.
        // `keeping` rows (all by default) of a matrix of `rows`: the first ones, which follow each other.
        func matrix(_ name: String, rows: Int, columns: Int, keeping: Int? = nil, products: Bool = true) throws -> WeightMatrix {
            let tensor = try gguf.requireTensor(name)
            guard tensor.dimensions == [columns, rows] else {
                throw ModelError.tensorShape(tensor: name, expected: [columns, rows], found: tensor.dimensions)
            }
            let matrix = WeightMatrix(type: tensor.type, rows: min(keeping ?? rows, rows), columns: columns, data: tensor.data)
            return products ? tiled(matrix, of: tensor) : matrix
        }
        func tiled(_ matrix: WeightMatrix, of tensor: GGUFTensor) -> WeightMatrix {
            let tiled = matrix.tiled(requantizedTo: target, activations: activations, pool: pool)
            // Repacked weights are read from their tiles; the mapped bytes need not stay in memory
            // too (rows looked up in a tied embedding are read back from the file as needed).
            if tiled.tiles != nil { gguf.release(tensor) }
            return tiled
        }
        func vector(_ name: String, count: Int) throws -> [Float] {
            let tensor = try gguf.requireTensor(name)
            guard tensor.dimensions == [count] else {
                throw ModelError.tensorShape(tensor: name, expected: [count], found: tensor.dimensions)
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBufferPointer { tensor.type.dequantize(tensor.data, into: $0.baseAddress!, count: count) }
            return values
        }
        let d = c.embeddingLength, q = c.queryDimension, kv = c.kvDimension, ff = c.feedForwardLength
        tokenEmbedding = try matrix("token_embd.weight", rows: c.vocabularySize, columns: d, products: false)  // rows looked up
        outputNorm = try vector("output_norm.weight", count: d)
        // The output matrix, or the token embedding when they are tied.
        let outputName = gguf.tensor(named: "output.weight") == nil ? "token_embd.weight" : "output.weight"
        output = try matrix(outputName, rows: c.vocabularySize, columns: d, keeping: outputTokens)
        layers = try (0..<c.layerCount).map { i in
            let p = "blk.\(i)."
            let biases = architecture.hasQKVBiases
            return LayerWeights(
                attentionNorm: try vector(p + "attn_norm.weight", count: d),
                query: try matrix(p + "attn_q.weight", rows: q, columns: d),
                key: try matrix(p + "attn_k.weight", rows: kv, columns: d),
                value: try matrix(p + "attn_v.weight", rows: kv, columns: d),
                queryBias: biases ? try vector(p + "attn_q.bias", count: q) : nil,
                keyBias: biases ? try vector(p + "attn_k.bias", count: kv) : nil,
                valueBias: biases ? try vector(p + "attn_v.bias", count: kv) : nil,
                attentionOutput: try matrix(p + "attn_output.weight", rows: d, columns: q),
                feedForwardNorm: try vector(p + "ffn_norm.weight", count: d),
                gate: try matrix(p + "ffn_gate.weight", rows: ff, columns: d),
                up: try matrix(p + "ffn_up.weight", rows: ff, columns: d),
                down: try matrix(p + "ffn_down.weight", rows: d, columns: ff))
        }
    }
}
