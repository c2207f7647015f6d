// The paged KV cache on tiny random models: forks share blocks and copy on write, block
// accounting survives many forks and frees, a full pool is an error that changes nothing, the
// prefix cache hands back exactly the blocks of a prompt seen before and never a stale one, and a
// batch that mixes sequences equals running each alone, and a block is written through when the
// pool first hands it out.
import Braid
@testable import BraidModels
import BraidTestSupport
import Testing

@Suite("Paged KV cache")
struct PagedKVCacheTests {
    static let vocabularyPrompt: [Int32] = (0..<100).map { Int32(($0 * 37 + 11) % 250) }

    func model(context: Int = 256) throws -> LanguageModel {
        var tiny = TinyModel(architecture: "qwen2")
        tiny.contextLength = context
        return try LanguageModel(path: tiny.write())
    }

    /// Not inlined: where this is inlined into `accounting`, the optimizer of Swift 6.3.1 puts
    /// the cache on the stack and then lays the loop's array literal over its last stored
    /// properties while it is still in use (seen with a watchpoint; the test then fails or the
    /// heap is corrupted). A cache made here is on the heap.
    @inline(never)
    func cache(_ model: LanguageModel, blocks: Int, blockSize: Int = 16, type: KVCacheType = .f32) -> PagedKVCache {
        PagedKVCache(configuration: model.configuration, blockSize: blockSize, blockCount: blocks, maximumSequenceLength: 256, type: type)
    }

    /// A new sequence holding the first `count` tokens of the test prompt.
    func prefilled(_ model: LanguageModel, _ kv: PagedKVCache, count: Int) throws -> SequenceID {
        let sequence = kv.createSequence()
        _ = try model.transformer.forward(Batch(tokens: Array(Self.vocabularyPrompt.prefix(count)), startPosition: 0, sequence: sequence),
                                          cache: kv, pool: ComputePool())
        return sequence
    }

    /// Logits of the last token of `chunks` run one after another as a single sequence in a cache
    /// of its own. The same chunks take the same kernels, so the bits must match exactly.
    func alone(_ model: LanguageModel, type: KVCacheType = .f32, _ chunks: [Int32]...) throws -> [Float] {
        let fresh = cache(model, blocks: 32, type: type)
        let sequence = fresh.createSequence()
        var logits: [Float] = []
        var position = 0
        for chunk in chunks where !chunk.isEmpty {
            logits = try model.transformer.forward(Batch(tokens: chunk, startPosition: position, sequence: sequence), cache: fresh, pool: ComputePool())
            position += chunk.count
        }
        return logits
    }

    @Test("a fork shares every block; writing to one branch never changes the other", arguments: KVCacheType.allCases)
    func forkAndCopyOnWrite(type: KVCacheType) throws {
        let model = try model()
        let pool = ComputePool()
        let kv = cache(model, blocks: 32, type: type)
        let prompt = Array(Self.vocabularyPrompt.prefix(40))  // 2 full blocks and 8 positions of a third
        let a = try prefilled(model, kv, count: 40)
        let b = try kv.fork(a)
        #expect(kv.blockTable(of: b) == kv.blockTable(of: a))
        #expect(kv.usage == KVCacheUsage(usedBlocks: 3, sharedBlocks: 3, cachedBlocks: 0, freeBlocks: 29))

        // b goes first: it copies the partly filled block; a keeps the original.
        let bLogits = try model.transformer.forward(Batch(tokens: [7, 8, 9], startPosition: 40, sequence: b), cache: kv, pool: pool)
        #expect(kv.blockTable(of: b)[..<2] == kv.blockTable(of: a)[..<2])
        #expect(kv.blockTable(of: b)[2] != kv.blockTable(of: a)[2])
        #expect(kv.usage.sharedBlocks == 2)
        let aLogits = try model.transformer.forward(Batch(tokens: [200, 201], startPosition: 40, sequence: a), cache: kv, pool: pool)
        #expect(try aLogits == alone(model, type: type, prompt, [200, 201]))
        #expect(try bLogits == alone(model, type: type, prompt, [7, 8, 9]))
        // And b still reads its own tokens after a wrote its own.
        let bNext = try model.transformer.forward(Batch(tokens: [10], startPosition: 43, sequence: b), cache: kv, pool: pool)
        #expect(try bNext == alone(model, type: type, prompt, [7, 8, 9], [10]))
        #expect(kv.tokens(of: a) == prompt + [200, 201] && kv.tokens(of: b) == prompt + [7, 8, 9, 10])
    }

    @Test("a half-float cache takes half the bytes of a Float one, and its logits are close to the Float cache's")
    func halfFloatCache() throws {
        let model = try model()
        let single = cache(model, blocks: 8), half = cache(model, blocks: 8, type: .f16)
        #expect(half.byteCount * 2 == single.byteCount)
        #expect(PagedKVCache.blockBytes(configuration: model.configuration, blockSize: 16, type: .f16) == half.bytesPerBlock)
        // 100 tokens: several blocks and key tiles, so attention reads many half-float keys.
        let exact = try model.transformer.forward(Batch(tokens: Self.vocabularyPrompt, startPosition: 0, sequence: single.createSequence()),
                                                  cache: single, pool: ComputePool())
        let rounded = try model.transformer.forward(Batch(tokens: Self.vocabularyPrompt, startPosition: 0, sequence: half.createSequence()),
                                                    cache: half, pool: ComputePool())
        let largest = exact.map(abs).max() ?? 0
        let worst = zip(exact, rounded).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 0.01 * largest, "largest difference \(worst) against logits up to \(largest)")
        #expect(worst > 0, "the half cache changed no logit: it would not see keys stored as Floats")
    }

    @Test("a block the pool hands out for the first time is written through: slots not yet filled read as zeros")
    func freshBlocksWrittenThrough() throws {
        let model = try model()
        // Dirty memory of the pool's size, freed just before the pool is allocated (malloc tends to
        // hand the same chunks back), so that blocks not written through would read as ones.
        let blocks = 4, blockSize = 16  // the pool made below
        // Keys and values are each half of the pool's bytes.
        let storageFloats = PagedKVCache.blockBytes(configuration: model.configuration, blockSize: blockSize) * blocks / 2
            / MemoryLayout<Float>.size
        let dirt = (0..<2).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: storageFloats) }
        for chunk in dirt {
            chunk.initialize(repeating: 1, count: storageFloats)
            chunk.deallocate()
        }
        let kv = cache(model, blocks: blocks, blockSize: blockSize)
        let block = try #require(kv.blockTable(of: try prefilled(model, kv, count: 3)).first).index
        let c = model.configuration
        var filled = 0, unfilled = 0
        for layer in 0..<c.layerCount {
            for head in 0..<c.kvHeadCount {
                let layout = kv.layout(layer: layer, head: head)
                for slot in 0..<kv.blockSize {
                    for component in 0..<c.headDimension {
                        let key = layout.key(block: block, slot: slot, component: component)
                        let value = layout.value(block: block, slot: slot, column: component)
                        if slot < 3 {
                            filled += key != 0 || value != 0 ? 1 : 0
                        } else {
                            unfilled += key != 0 || value != 0 ? 1 : 0
                        }
                    }
                }
            }
        }
        #expect(filled > 0)
        #expect(unfilled == 0)
    }

    @Test("block accounting after many forks, writes, truncations and frees")
    func accounting() throws {
        let model = try model()
        let pool = ComputePool()
        let kv = cache(model, blocks: 64)
        let root = try prefilled(model, kv, count: 40)
        var forks: [SequenceID] = []
        for i in 0..<10 {
            let fork = try kv.fork(root)
            forks.append(fork)
            _ = try model.transformer.forward(Batch(tokens: [Int32(i)], startPosition: 40, sequence: fork), cache: kv, pool: pool)
        }
        // Two full blocks shared by all 11; each fork copied the third.
        #expect(kv.usage == KVCacheUsage(usedBlocks: 13, sharedBlocks: 2, cachedBlocks: 0, freeBlocks: 51))
        // Forks of forks, then growth past a block boundary.
        let grandchild = try kv.fork(forks[0])
        _ = try model.transformer.forward(Batch(tokens: Array(repeating: 5, count: 30), startPosition: 41, sequence: grandchild),
                                          cache: kv, pool: pool)
        #expect(kv.length(of: grandchild) == 71 && kv.blockTable(of: grandchild).count == 5)
        #expect(kv.usage.usedBlocks == 16)  // a copy of its parent's third block and two new ones
        kv.truncate(grandchild, to: 45)
        #expect(kv.blockTable(of: grandchild).count == 3 && kv.usage.usedBlocks == 14)
        for fork in forks { kv.free(fork) }
        kv.free(grandchild)
        // Root keeps its 3 blocks; the grandchild's blocks that were once full (positions 32…47 and
        // 48…63) stay cached for prefix reuse, the partly filled ones are free.
        #expect(kv.usage == KVCacheUsage(usedBlocks: 3, sharedBlocks: 0, cachedBlocks: 2, freeBlocks: 59))
        kv.free(root)
        #expect(kv.usage == KVCacheUsage(usedBlocks: 0, sharedBlocks: 0, cachedBlocks: 4, freeBlocks: 60))
        #expect(kv.peakUsedBlocks == 16)
    }

    @Test("a full pool throws KVCacheError.full and changes nothing")
    func full() throws {
        let model = try model()
        let pool = ComputePool()
        let kv = cache(model, blocks: 3)
        let a = try prefilled(model, kv, count: 40)
        let b = try kv.fork(a)
        // b needs a copy of the third block: no block is left.
        #expect(throws: KVCacheError.full(neededBlocks: 1, availableBlocks: 0)) {
            try model.transformer.forward(Batch(tokens: [1], startPosition: 40, sequence: b), cache: kv, pool: pool)
        }
        #expect(kv.length(of: b) == 40 && kv.usage.sharedBlocks == 3)
        kv.free(b)
        let next = try model.transformer.forward(Batch(tokens: [1], startPosition: 40, sequence: a), cache: kv, pool: pool)
        #expect(try next == alone(model, Array(Self.vocabularyPrompt.prefix(40)), [1]))
        #expect(throws: ModelError.contextExceeded(position: 256, capacity: 256)) {
            try model.transformer.forward(Batch(tokens: [1], startPosition: 256, sequence: a), cache: kv, pool: pool)
        }
    }

    @Test("the prefix cache returns a seen prompt's blocks, recomputes the last token, and never a stale block after eviction")
    func prefixCache() throws {
        let model = try model()
        let pool = ComputePool()
        let kv = cache(model, blocks: 12)
        let prompt = Self.vocabularyPrompt  // 6 full blocks and 4 positions
        kv.free(try prefilled(model, kv, count: prompt.count))
        #expect(kv.usage.cachedBlocks == 6)

        func rerun(_ tokens: [Int32]) throws -> (reused: Int, logits: [Float]) {
            let sequence = kv.createSequence()
            defer { kv.free(sequence) }
            let reused = kv.adoptCachedPrefix(tokens, into: sequence)
            let logits = try model.transformer.forward(Batch(tokens: Array(tokens[reused...]), startPosition: reused, sequence: sequence),
                                                       cache: kv, pool: pool)
            return (reused, logits)
        }
        let again = try rerun(prompt)
        #expect(try again.reused == 96 && again.logits == alone(model, Array(prompt[..<96]), Array(prompt[96...])))
        // A prompt of whole blocks: all adopted but the last token, which is computed again. The
        // adopted keys came from the 100-token sgemm forward, the reference's from a 63-token one:
        // OpenBLAS's kernels for some CPUs (Haswell's, Zen's) give a row other bits for another
        // row count, so they are equal to float rounding only, as below.
        let exact = Array(prompt.prefix(64))
        let whole = try rerun(exact)
        #expect(whole.reused == 63)
        #expect(try maxDifference(whole.logits[...], alone(model, Array(exact[..<63]), [exact[63]])[...]) < 2e-3)
        // A prompt that differs in its second block reuses only the first (keys from the 100-token
        // forward again).
        var changed = prompt
        changed[20] = 3
        let partial = try rerun(changed)
        #expect(partial.reused == 16)
        #expect(try maxDifference(partial.logits[...], alone(model, changed)[...]) < 2e-3)

        // Other content fills the pool: the LRU blocks are evicted and their ids reused.
        let other = kv.createSequence()
        let otherTokens = (0..<180).map { Int32(($0 * 13 + 5) % 250) }
        _ = try model.transformer.forward(Batch(tokens: otherTokens, startPosition: 0, sequence: other), cache: kv, pool: pool)
        kv.free(other)
        let evicted = try rerun(prompt)
        #expect(evicted.reused < 96)
        #expect(try maxDifference(evicted.logits[...], alone(model, prompt)[...]) < 2e-3)
    }

    @Test("a batch mixing a prompt chunk, forked decoders and a new sequence equals each run alone")
    func batchedEqualsSeparate() throws {
        let model = try model()
        let pool = ComputePool()
        let kv = cache(model, blocks: 32)
        let vocabulary = model.configuration.vocabularySize
        let prompt = Array(Self.vocabularyPrompt.prefix(20))
        let root = try prefilled(model, kv, count: 20)
        let forks = try (0..<3).map { _ in try kv.fork(root) }
        let fresh = kv.createSequence()
        var batch = Batch()
        for (i, fork) in forks.enumerated() { batch.append(Int32(50 + i), position: 20, sequence: fork, wantsLogits: true) }
        for (i, token) in [Int32(9), 8, 7, 6, 5].enumerated() { batch.append(token, position: i, sequence: fresh, wantsLogits: i == 4) }
        batch.append(99, position: 20, sequence: root, wantsLogits: true)
        let logits = try model.transformer.forward(batch, cache: kv, pool: pool)
        // Rows of up to 16 tokens take the integer kernels, which give a row the same bits in any batch.
        let expected = try [alone(model, prompt, [50]), alone(model, prompt, [51]), alone(model, prompt, [52]),
                            alone(model, [9, 8, 7, 6, 5]), alone(model, prompt, [99])]
        for (row, want) in expected.enumerated() {
            #expect(Array(logits[row * vocabulary..<(row + 1) * vocabulary]) == want, "row \(row)")
        }
    }
}
