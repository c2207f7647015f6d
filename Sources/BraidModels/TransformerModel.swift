// The forward pass shared by every registered decoder-only architecture, over a batch of tokens
// with explicit positions and sequences. Per block (pre-norm):
//
//   h = RMSNorm(x);  q,k,v = h·Wqᵀ(+b), h·Wkᵀ(+b), h·Wvᵀ(+b);  RoPE(q, k);  cache ← k, v
//   x += Attention(q, cache)·Woᵀ
//   h = RMSNorm(x);  x += (SiLU(h·Wgᵀ) ⊙ h·Wuᵀ)·Wdᵀ
//
// then logits = RMSNorm(x)·Woutputᵀ for the tokens that want them. Matrix products run over all
// batch rows at once (one read of each weight per call; q/k/v and gate/up as one parallel loop);
// attention runs per (run of one sequence's tokens, KV head), chunk by chunk.
import BraidGGUF
import BraidKernels

/// A loaded decoder-only transformer, ready to run batches.
///
/// ```swift
/// let model = try TransformerModel(gguf: file)
/// let cache = model.makeCache(capacity: 2048)            // sequence 0, up to 2048 positions
/// let logits = try model.forward(Batch(tokens: prompt, startPosition: 0), cache: cache, pool: pool)
/// ```
public final class TransformerModel: Sendable {
    /// The model's hyper-parameters.
    public let configuration: ModelConfiguration
    /// The architecture's traits.
    public let architecture: any TransformerArchitecture.Type
    /// How finely small batches' activations are quantized where the byte kernels run.
    public let activationPrecision: ActivationPrecision
    /// How the caches this model makes store keys and values.
    public let kvCacheType: KVCacheType
    let weights: ModelWeights
    let rope: RotaryEmbedding
    /// Keeps the mapped file (which the weights point into) alive.
    private let file: GGUFFile

    /// Binds a model to the tensors of a GGUF file; throws if the architecture is unknown or a
    /// tensor is missing or misshapen. `requantizedTo` (a `TensorType.quantizable` type) makes
    /// every matrix product use weights no wider than that type, where the build has the byte
    /// kernels: a smaller, faster and slightly less exact model (for drafting). `outputTokens`
    /// computes logits for only the first that many tokens of the vocabulary, the others' being
    /// −∞ (for drafting: in byte-level BPE vocabularies ids follow merge order, so the first
    /// tokens are the frequent ones, and the output matrix is the largest the model reads).
    /// `activations` sets how finely the byte kernels quantize the activations of small batches
    /// (`ActivationPrecision`; AVX-512 VNNI builds only). `kvCache` is how the caches of
    /// `makeCache` (and of the sessions over this model) store keys and values.
    public init(gguf: GGUFFile, requantizedTo target: TensorType? = nil, activations: ActivationPrecision = .fifteenBit,
                outputTokens: Int? = nil, kvCache: KVCacheType = .f32) throws {
        if let target, !TensorType.quantizable.contains(target) {
            throw ModelError.unsupportedFeature("weights can be requantized to \(TensorType.quantizable.map(\.description).joined(separator: " or ")), not \(target)")
        }
        file = gguf
        // The architecture first: an unknown one is reported as such, not as its first missing key.
        architecture = try ArchitectureRegistry.architecture(named: gguf.string("general.architecture"))
        configuration = try ModelConfiguration(gguf: gguf)
        if let outputTokens, outputTokens < 1 {
            throw ModelError.unsupportedFeature("logits for \(outputTokens) tokens: at least one is needed")
        }
        weights = try ModelWeights(gguf: gguf, configuration: configuration, architecture: architecture, requantizedTo: target,
                                   activations: activations, outputTokens: outputTokens)
        activationPrecision = activations
        kvCacheType = kvCache
        rope = RotaryEmbedding(style: architecture.ropeStyle, dimensionCount: configuration.ropeDimensionCount,
                               base: configuration.ropeBase)
    }

    /// A paged KV cache with blocks for `sequenceCount` sequences of up to `capacity` positions
    /// each, and those sequences (ids 0 ..< sequenceCount) already created.
    public func makeCache(capacity: Int, sequenceCount: Int = 1, blockSize: Int = PagedKVCache.defaultBlockSize) -> PagedKVCache {
        let blocksPerSequence = (capacity + blockSize - 1) / blockSize
        let cache = PagedKVCache(configuration: configuration, blockSize: blockSize, blockCount: max(1, blocksPerSequence * sequenceCount),
                                 maximumSequenceLength: capacity, type: kvCacheType)
        for _ in 0..<sequenceCount { _ = cache.createSequence() }
        return cache
    }

    /// Tokens whose logits `forward` computes: the first ones of the vocabulary (all unless the
    /// model was loaded with `outputTokens`).
    public var outputTokens: Int { weights.output.rows }

    /// Runs `batch` through the model, writing its keys and values into `cache`.
    /// Returns the logits of the tokens whose `wantsLogits` is set, in batch order:
    /// `(batch.logitCount × vocabularySize)` row-major, −∞ past `outputTokens`. Throws before changing anything for a
    /// malformed batch, or `KVCacheError.full` when the cache lacks blocks for it; throws
    /// `ModelError.nonFiniteLogits` (the cache holding the batch) when corrupt weights give NaN.
    public func forward(_ batch: Batch, cache: PagedKVCache, pool: ComputePool) throws -> [Float] {
        try validate(batch)
        try cache.prepareWrites(for: batch)
        let c = configuration
        let n = batch.count, d = c.embeddingLength, qDim = c.queryDimension, kvDim = c.kvDimension
        let ff = c.feedForwardLength, headDim = c.headDimension, pairs = c.ropeDimensionCount / 2

        let exact = batch.rowExact
        let buffers = ForwardBuffers(rows: n, configuration: c)
        defer { buffers.deallocate() }
        let x = buffers.residual, h = buffers.normed

        // Embeddings: dequantize each token's row.
        for i in 0..<n {
            weights.tokenEmbedding.dequantizeRow(Int(batch.tokens[i]), into: x + i * d)
        }
        // Where each token's keys go, and the cached runs each attention tile reads.
        let rows = (0..<n).map { i in
            [cache.row(of: batch.sequences[i], position: batch.positions[i])] + batch.mirrors[i].map { cache.row(of: $0, position: batch.positions[i]) }
        }
        let tiles = attentionTiles(batch, cache: cache)
        // RoPE angles once per token, shared by every head and layer.
        for i in 0..<n {
            rope.angles(position: batch.positions[i], cosines: buffers.cosines + i * pairs, sines: buffers.sines + i * pairs)
        }

        for (layerIndex, layer) in weights.layers.enumerated() {
            // Attention.
            layer.attentionNorm.withUnsafeBufferPointer { w in
                for i in 0..<n { VectorMath.rmsNorm(x + i * d, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: h + i * d, count: d) }
            }
            WeightMatrix.multiply([layer.query, layer.key, layer.value], into: [buffers.query, buffers.key, buffers.value],
                                  input: h, count: n, pool: pool, rowExact: exact)
            Self.addBias(layer.queryBias, to: buffers.query, rows: n, width: qDim)
            Self.addBias(layer.keyBias, to: buffers.key, rows: n, width: kvDim)
            Self.addBias(layer.valueBias, to: buffers.value, rows: n, width: kvDim)
            for i in 0..<n {
                let cosines = buffers.cosines + i * pairs, sines = buffers.sines + i * pairs
                for head in 0..<c.headCount { rope.rotate(buffers.query + i * qDim + head * headDim, cosines: cosines, sines: sines) }
                for head in 0..<c.kvHeadCount { rope.rotate(buffers.key + i * kvDim + head * headDim, cosines: cosines, sines: sines) }
                for row in rows[i] {
                    cache.store(layer: layerIndex, row: row, key: buffers.key + i * kvDim, value: buffers.value + i * kvDim)
                }
            }
            attend(batch: batch, tiles: tiles, layer: layerIndex, cache: cache, query: buffers.query, into: buffers.attention, pool: pool)
            layer.attentionOutput.multiply(buffers.attention, count: n, into: h, pool: pool, rowExact: exact)
            for i in 0..<n * d { x[i] += h[i] }

            // MLP.
            layer.feedForwardNorm.withUnsafeBufferPointer { w in
                for i in 0..<n { VectorMath.rmsNorm(x + i * d, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: h + i * d, count: d) }
            }
            WeightMatrix.multiply([layer.gate, layer.up], into: [buffers.gate, buffers.up], input: h, count: n, pool: pool, rowExact: exact)
            VectorMath.swiGLU(gate: buffers.gate, up: buffers.up, count: n * ff)
            layer.down.multiply(buffers.gate, count: n, into: h, pool: pool, rowExact: exact)
            for i in 0..<n * d { x[i] += h[i] }
        }
        cache.commitWrites(of: batch)

        // Logits for the rows that want them.
        let wanted = (0..<n).filter { batch.wantsLogits[$0] }
        guard !wanted.isEmpty else { return [] }
        weights.outputNorm.withUnsafeBufferPointer { w in
            for (row, i) in wanted.enumerated() {
                VectorMath.rmsNorm(x + i * d, weight: w.baseAddress!, epsilon: c.rmsEpsilon, into: h + row * d, count: d)
            }
        }
        let vocabulary = c.vocabularySize, computed = outputTokens
        var logits = [Float](repeating: computed < vocabulary ? -.infinity : 0, count: wanted.count * vocabulary)
        let finite = logits.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            guard computed < vocabulary else {
                weights.output.multiply(h, count: wanted.count, into: out, pool: pool, rowExact: exact)
                return VectorMath.allFinite(out, count: wanted.count * vocabulary)
            }
            // Rows of `computed` logits, spread to rows of the whole vocabulary.
            let narrow = UnsafeMutablePointer<Float>.allocate(capacity: wanted.count * computed)
            defer { narrow.deallocate() }
            weights.output.multiply(h, count: wanted.count, into: narrow, pool: pool, rowExact: exact)
            for row in 0..<wanted.count { (out + row * vocabulary).update(from: narrow + row * computed, count: computed) }
            return VectorMath.allFinite(narrow, count: wanted.count * computed)
        }
        guard finite else { throw ModelError.nonFiniteLogits }
        return logits
    }

    /// Checks what the cache cannot: array lengths and token ids (sequences and positions are the
    /// cache's to check).
    private func validate(_ batch: Batch) throws {
        guard batch.count > 0 else { throw ModelError.invalidBatch("no tokens") }
        guard batch.positions.count == batch.count, batch.sequences.count == batch.count, batch.wantsLogits.count == batch.count,
              batch.mirrors.count == batch.count else {
            throw ModelError.invalidBatch("tokens, positions, sequences, wantsLogits and mirrors differ in length")
        }
        for (i, mirrors) in batch.mirrors.enumerated() where mirrors.contains(batch.sequences[i]) || Set(mirrors).count < mirrors.count {
            throw ModelError.invalidBatch("token \(i) mirrors its keys into a sequence twice")
        }
        for token in batch.tokens where token < 0 || Int(token) >= configuration.vocabularySize {
            throw ModelError.invalidToken(token, vocabularySize: configuration.vocabularySize)
        }
    }

    private static func addBias(_ bias: [Float]?, to rows: UnsafeMutablePointer<Float>, rows n: Int, width: Int) {
        guard let bias else { return }
        bias.withUnsafeBufferPointer { b in
            for i in 0..<n {
                for j in 0..<width { rows[i * width + j] += b[j] }
            }
        }
    }

    /// Causal attention: each token's query heads attend to the cached keys and values of its
    /// own sequence at positions 0…its position. Grouped-query: query head h reads KV head
    /// h / (headCount / kvHeadCount). Consecutive tokens of one sequence go through together, in
    /// tiles, with the query heads that share a KV head. A task is one KV head and a range of
    /// tiles: the tiles of branches that share a prompt read its blocks once, together.
    private func attend(batch: Batch, tiles: [AttentionTile], layer: Int, cache: PagedKVCache, query: UnsafeMutablePointer<Float>,
                        into output: UnsafeMutablePointer<Float>, pool: ComputePool) {
        let c = configuration
        let headDim = c.headDimension, qDim = c.queryDimension
        let layouts = (0..<c.kvHeadCount).map { cache.layout(layer: layer, head: $0) }
        let group = c.headCount / c.kvHeadCount
        let scale = 1 / Float(headDim).squareRoot()
        let query = UncheckedPointer(query), output = UncheckedPointer(output)
        // As few tile ranges as keep every thread busy (KV heads × ranges a multiple of the thread
        // count): the fewer the ranges, the more branches read each shared block together.
        var parts = 1
        while (c.kvHeadCount * parts) % pool.threadCount != 0 && parts < pool.threadCount { parts += 1 }
        let ranges = Self.balancedRanges(tiles, parts: parts)
        pool.forEach(ranges.count * c.kvHeadCount) { task in
            let range = ranges[task / c.kvHeadCount], kvHead = task % c.kvHeadCount
            let rows = tiles[range].reduce(0) { $0 + $1.count } * group
            let queries = UnsafeMutablePointer<Float>.allocate(capacity: rows * headDim)
            let results = UnsafeMutablePointer<Float>.allocate(capacity: rows * headDim)
            let limits = UnsafeMutablePointer<Int>.allocate(capacity: rows)
            defer {
                queries.deallocate()
                results.deallocate()
                limits.deallocate()
            }
            // Rows ordered (tile, token, head of the group): gather the queries, attend, scatter back.
            var groups: [QueryGroup] = []
            var row = 0
            for tile in tiles[range] {
                groups.append(QueryGroup(firstRow: row, rowCount: tile.count * group, runs: tile.runs))
                for i in tile.first..<tile.first + tile.count {
                    for h in 0..<group {
                        (queries + row * headDim).update(from: query.pointer + i * qDim + (kvHead * group + h) * headDim, count: headDim)
                        limits[row] = batch.positions[i]
                        row += 1
                    }
                }
            }
            Attention.attend(queries: queries, limits: limits, headDimension: headDim,
                             cache: layouts[kvHead], groups: groups, scale: scale,
                             into: results, outputStride: headDim)
            row = 0
            for tile in tiles[range] {
                for i in tile.first..<tile.first + tile.count {
                    (output.pointer + i * qDim + kvHead * group * headDim).update(from: results + row * headDim, count: group * headDim)
                    row += group
                }
            }
        }
    }

    /// At most `parts` consecutive ranges of `tiles` with about equal attention work (query rows
    /// × keys read) in each.
    static func balancedRanges(_ tiles: [AttentionTile], parts: Int) -> [Range<Int>] {
        let costs = tiles.map { $0.count * (($0.runs.last.map { $0.position + $0.count }) ?? 1) }
        let total = costs.reduce(0, +)
        var ranges: [Range<Int>] = []
        var start = 0, accumulated = 0
        for (i, cost) in costs.enumerated() {
            accumulated += cost
            if accumulated * parts >= total * (ranges.count + 1) || i == tiles.count - 1 {
                ranges.append(start..<i + 1)
                start = i + 1
            }
        }
        return ranges
    }

    /// Runs of consecutive batch rows of one sequence, at most 64 query rows each, with the cached
    /// runs of keys they read (positions up to the last token's).
    func attentionTiles(_ batch: Batch, cache: PagedKVCache) -> [AttentionTile] {
        let maxTokens = max(1, 64 / (configuration.headCount / configuration.kvHeadCount))
        var spans: [(sequence: SequenceID, first: Int, count: Int)] = []
        for i in 0..<batch.count {
            if let last = spans.last, last.sequence == batch.sequences[i], last.count < maxTokens {
                spans[spans.count - 1].count += 1
            } else {
                spans.append((batch.sequences[i], i, 1))
            }
        }
        return spans.map { span in
            let keyCount = (span.first..<span.first + span.count).map { batch.positions[$0] }.max()! + 1
            return AttentionTile(first: span.first, count: span.count, runs: cache.runs(of: span.sequence, count: keyCount))
        }
    }
}

/// Consecutive batch rows of one sequence that attend together, and where their keys are.
struct AttentionTile {
    let first: Int
    let count: Int
    let runs: [KeyRun]
}

/// A pointer shared by parallel loop iterations that write disjoint parts of it.
struct UncheckedPointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

/// Scratch activations of one forward pass, `rows` tokens wide.
struct ForwardBuffers {
    let residual: UnsafeMutablePointer<Float>   // (rows, embedding)
    let normed: UnsafeMutablePointer<Float>     // (rows, embedding)
    let query: UnsafeMutablePointer<Float>      // (rows, headCount·headDim)
    let key: UnsafeMutablePointer<Float>        // (rows, kvHeadCount·headDim)
    let value: UnsafeMutablePointer<Float>      // (rows, kvHeadCount·headDim)
    let attention: UnsafeMutablePointer<Float>  // (rows, headCount·headDim)
    let gate: UnsafeMutablePointer<Float>       // (rows, feedForward)
    let up: UnsafeMutablePointer<Float>         // (rows, feedForward)
    let cosines: UnsafeMutablePointer<Float>    // (rows, ropeDims/2)
    let sines: UnsafeMutablePointer<Float>      // (rows, ropeDims/2)

    init(rows n: Int, configuration c: ModelConfiguration) {
        residual = .allocate(capacity: n * c.embeddingLength)
        normed = .allocate(capacity: n * max(c.embeddingLength, c.queryDimension))
        query = .allocate(capacity: n * c.queryDimension)
        key = .allocate(capacity: n * c.kvDimension)
        value = .allocate(capacity: n * c.kvDimension)
        attention = .allocate(capacity: n * c.queryDimension)
        gate = .allocate(capacity: n * c.feedForwardLength)
        up = .allocate(capacity: n * c.feedForwardLength)
        cosines = .allocate(capacity: n * c.ropeDimensionCount / 2)
        sines = .allocate(capacity: n * c.ropeDimensionCount / 2)
    }

    func deallocate() {
        for p in [residual, normed, query, key, value, attention, gate, up, cosines, sines] { p.deallocate() }
    }
}
