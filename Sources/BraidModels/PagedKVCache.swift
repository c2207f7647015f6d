// The attention key/value cache, paged as vLLM's PagedAttention keeps it (Kwon et al. 2023): keys
// and values live in fixed-size blocks from one pool allocated up front; a sequence is a table of
// block ids; blocks are reference-counted, so branches forked from one prompt share its blocks.
//
//   keys[layer]   : (blockCount, kvHeadCount, headDim·blockSize)   in tiles of 16 keys
//   values[layer] : (blockCount, kvHeadCount, headDim·blockSize)   in tiles of 16 columns
//
// each value a Float or a half float (`KVCacheType`).
//
// (The tiles let attention read each head's keys and values of a block in order, as vector
// multiply-adds over 16 keys or 16 columns; see `KeyValueLayout`.)
//
//   prompt of 53 tokens, blocks of 16:  A: [b0 b1 b2 b3]            b3 holds 5 of 16 positions
//   fork A → B (nothing copied):        A: [b0 b1 b2 b3]  B: [b0 b1 b2 b3]   every refcount 2
//   B writes position 53:               B: [b0 b1 b2 b7]  b7 = copy of b3's 5 positions, b3 back to 1
//   A writes position 53:               A writes into b3 in place (its only owner now)
//
// Prefix cache (vLLM's automatic prefix caching, with exact keys): a full block is registered
// under (the registration of the block before it, its tokens); a new request walks that chain from
// the start of its prompt and adopts every block that matches instead of recomputing it.
// Registered blocks are immutable. When no sequence references one it stays cached, in
// least-recently-used order, until a fresh block is needed and it is evicted. A registration's
// serial number is never reused, so a key whose parent was evicted can no longer be reached: a
// lookup never returns a stale block.
import BraidKernels

/// Identifies a sequence (a prompt, a branch) in a `PagedKVCache`.
public struct SequenceID: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The id's number.
    public let rawValue: Int

    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public init(integerLiteral value: Int) { rawValue = value }
    public static func < (a: SequenceID, b: SequenceID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(rawValue)" }
}

/// Identifies a block of a `PagedKVCache`'s pool.
public struct BlockID: Hashable, Sendable, CustomStringConvertible {
    /// The block's index in the pool.
    public let index: Int

    public var description: String { "b\(index)" }
}

/// Why the KV cache could not take a write (recoverable: free or stop sequences and retry).
public enum KVCacheError: Error, Equatable, CustomStringConvertible {
    /// The pool has fewer free or evictable blocks than the write needs.
    case full(neededBlocks: Int, availableBlocks: Int)

    public var description: String {
        switch self {
        case let .full(needed, available):
            "KV cache full: the batch needs \(needed) more blocks, \(available) are free or evictable"
        }
    }
}

/// How the blocks of a `PagedKVCache` are used at one moment.
public struct KVCacheUsage: Sendable, Equatable {
    /// Blocks referenced by at least one sequence.
    public var usedBlocks: Int
    /// Blocks referenced by more than one sequence.
    public var sharedBlocks: Int
    /// Blocks no sequence references, kept for prefix reuse (evictable).
    public var cachedBlocks: Int
    /// Blocks holding nothing.
    public var freeBlocks: Int

    public init(usedBlocks: Int, sharedBlocks: Int, cachedBlocks: Int, freeBlocks: Int) {
        self.usedBlocks = usedBlocks
        self.sharedBlocks = sharedBlocks
        self.cachedBlocks = cachedBlocks
        self.freeBlocks = freeBlocks
    }
}

/// A paged, reference-counted KV cache with a prefix cache.
///
/// ```swift
/// let cache = PagedKVCache(configuration: model.configuration, blockCount: 256, maximumSequenceLength: 2048)
/// let prompt = cache.createSequence()
/// _ = try model.forward(Batch(tokens: tokens, startPosition: 0, sequence: prompt), cache: cache, pool: pool)
/// let branch = try cache.fork(prompt)     // shares every block; no copy
/// ```
public final class PagedKVCache: @unchecked Sendable {
    /// Positions per block unless asked otherwise: attention takes a block of keys per step, and
    /// 128 keys halve its small matrix products against 64 (SmolLM2, 8 branches of a 512-token
    /// prompt: 372 → 473 tokens/s), while a fork copies at most 127 positions and a branch holds
    /// at most 127 unused ones.
    public static let defaultBlockSize = 128
    /// Positions per block.
    public let blockSize: Int
    /// Blocks in the pool.
    public let blockCount: Int
    /// The most positions one sequence may hold (the context length).
    public let maximumSequenceLength: Int
    let layerCount: Int
    let kvHeadCount: Int
    let headDimension: Int
    var kvDimension: Int { kvHeadCount * headDimension }
    /// How each key and value is stored.
    public let type: KVCacheType
    private let keyStorage: UnsafeMutableRawPointer
    private let valueStorage: UnsafeMutableRawPointer

    private struct SequenceState {
        var blocks: [Int] = []
        var tokens: [Int32] = []
    }

    private struct PrefixKey: Hashable {
        let parent: UInt64
        let tokens: [Int32]
    }

    /// Where a registered block sits in the prefix index, and its serial (never reused).
    private struct Registration {
        let key: PrefixKey
        let serial: UInt64
    }

    private var sequences: [SequenceID: SequenceState] = [:]
    private var nextSequence = 0
    private var referenceCounts: [Int]
    /// Blocks holding nothing, popped from the end (a fresh pool hands out ascending ids).
    private var freeList: [Int]
    private var prefixIndex: [PrefixKey: Int] = [:]
    /// Per block: its registration in the prefix index (nil: not registered).
    private var registrations: [Registration?]
    private var nextSerial: UInt64 = 1
    /// Registered blocks that no sequence references, least recently used first.
    private var cached: LeastRecentlyUsedList
    /// Per block: whether its pages have been written since the pool was allocated (see `allocate`).
    private var backed: [Bool]
    /// The most blocks in use at once since the cache was made (or `resetPeak`).
    public private(set) var peakUsedBlocks = 0

    /// Bytes of keys and values one block holds across all layers.
    public static func blockBytes(configuration: ModelConfiguration, blockSize: Int, type: KVCacheType = .f32) -> Int {
        2 * configuration.layerCount * blockSize * configuration.kvDimension * type.byteCount
    }

    /// A cache of `blockCount` blocks of `blockSize` positions, each key and value stored as
    /// `type`. The pool is allocated at once but the operating system backs a block's pages only
    /// when it is first handed out (`allocate`).
    public init(configuration: ModelConfiguration, blockSize: Int = defaultBlockSize, blockCount: Int, maximumSequenceLength: Int,
                type: KVCacheType = .f32) {
        precondition(blockSize > 0 && blockCount > 0 && maximumSequenceLength > 0, "a cache holds at least one block and one position")
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.maximumSequenceLength = maximumSequenceLength
        layerCount = configuration.layerCount
        kvHeadCount = configuration.kvHeadCount
        headDimension = configuration.headDimension
        self.type = type
        let bytes = layerCount * blockCount * blockSize * configuration.kvDimension * type.byteCount
        keyStorage = .allocate(byteCount: bytes, alignment: 64)
        valueStorage = .allocate(byteCount: bytes, alignment: 64)
        referenceCounts = Array(repeating: 0, count: blockCount)
        freeList = Array((0..<blockCount).reversed())
        registrations = Array(repeating: nil, count: blockCount)
        cached = LeastRecentlyUsedList(capacity: blockCount)
        backed = Array(repeating: false, count: blockCount)
    }

    deinit {
        keyStorage.deallocate()
        valueStorage.deallocate()
    }

    /// Bytes of the whole pool.
    public var byteCount: Int { 2 * layerCount * blockCount * blockSize * kvDimension * type.byteCount }

    /// Bytes of one block across all layers.
    public var bytesPerBlock: Int { byteCount / blockCount }

    /// How the blocks are used now.
    public var usage: KVCacheUsage {
        KVCacheUsage(usedBlocks: usedBlockCount, sharedBlocks: referenceCounts.lazy.filter { $0 > 1 }.count,
                            cachedBlocks: cached.count, freeBlocks: freeList.count)
    }

    /// Starts the peak count again from the blocks in use now.
    public func resetPeak() { peakUsedBlocks = usage.usedBlocks }

    // MARK: Sequences

    /// A new, empty sequence.
    public func createSequence() -> SequenceID {
        let id = SequenceID(nextSequence)
        nextSequence += 1
        sequences[id] = SequenceState()
        return id
    }

    /// Positions `sequence` holds (0 for an unknown sequence).
    public func length(of sequence: SequenceID) -> Int { sequences[sequence]?.tokens.count ?? 0 }

    /// The tokens `sequence` holds, by position.
    public func tokens(of sequence: SequenceID) -> [Int32] { sequences[sequence]?.tokens ?? [] }

    /// The blocks of `sequence`, in position order.
    public func blockTable(of sequence: SequenceID) -> [BlockID] { (sequences[sequence]?.blocks ?? []).map(BlockID.init) }

    /// A new sequence sharing every block of `sequence` (no key or value is copied; the partly
    /// filled last block is copied when either sequence first writes into it).
    public func fork(_ sequence: SequenceID) throws -> SequenceID {
        guard let state = sequences[sequence] else { throw ModelError.invalidBatch("sequence \(sequence) is not in the cache") }
        for block in state.blocks { referenceCounts[block] += 1 }
        let id = createSequence()
        sequences[id] = state
        return id
    }

    /// Forgets `sequence` and returns its blocks to the pool (registered ones stay cached).
    public func free(_ sequence: SequenceID) {
        guard let state = sequences.removeValue(forKey: sequence) else { return }
        for block in state.blocks.reversed() { release(block) }
    }

    /// Forgets what `sequence` holds from `position` on (to re-run or roll back): the next token of
    /// the sequence goes at `position`. Blocks past it return to the pool.
    public func truncate(_ sequence: SequenceID, to position: Int) {
        guard var state = sequences[sequence], position < state.tokens.count else { return }
        let length = max(0, position)
        let keep = (length + blockSize - 1) / blockSize
        for block in state.blocks[keep...].reversed() { release(block) }
        state.blocks.removeLast(state.blocks.count - keep)
        state.tokens.removeLast(state.tokens.count - length)
        sequences[sequence] = state
    }

    // MARK: Prefix cache

    /// Gives the empty `sequence` the cached blocks that hold a prefix of `tokens` and returns how
    /// many positions it now holds: whole blocks, except that the last token of `tokens` is never
    /// counted (its logits are needed, so the caller computes it again, into a copy of its block).
    @discardableResult
    public func adoptCachedPrefix(_ tokens: [Int32], into sequence: SequenceID) -> Int {
        guard var state = sequences[sequence], state.tokens.isEmpty else { return 0 }
        var parent: UInt64 = 0
        for start in stride(from: 0, through: tokens.count - blockSize, by: blockSize) {
            let key = PrefixKey(parent: parent, tokens: Array(tokens[start..<start + blockSize]))
            guard let block = prefixIndex[key] else { break }
            if referenceCounts[block] == 0 { cached.remove(block) }
            referenceCounts[block] += 1
            state.blocks.append(block)
            state.tokens += key.tokens
            parent = registrations[block]?.serial ?? 0
        }
        if !tokens.isEmpty && state.tokens.count == tokens.count { state.tokens.removeLast() }
        sequences[sequence] = state
        notePeak()
        return state.tokens.count
    }

    /// Registers the full blocks of `sequence` that are not yet in the prefix index, in order.
    private func registerFullBlocks(of sequence: SequenceID) {
        guard let state = sequences[sequence] else { return }
        var parent: UInt64 = 0
        for (index, block) in state.blocks.enumerated() where (index + 1) * blockSize <= state.tokens.count {
            if registrations[block] == nil {
                let key = PrefixKey(parent: parent, tokens: Array(state.tokens[index * blockSize..<(index + 1) * blockSize]))
                // The same content already cached in another block: keep that one; this chain stops here.
                guard prefixIndex[key] == nil else { return }
                prefixIndex[key] = block
                registrations[block] = Registration(key: key, serial: nextSerial)
                nextSerial += 1
            }
            parent = registrations[block]?.serial ?? 0
        }
    }

    private func unregister(_ block: Int) {
        if let registration = registrations[block] { prefixIndex[registration.key] = nil }
        registrations[block] = nil
    }

    // MARK: Blocks

    private func release(_ block: Int) {
        referenceCounts[block] -= 1
        guard referenceCounts[block] == 0 else { return }
        if registrations[block] != nil { cached.append(block) } else { freeList.append(block) }
    }

    /// A block for new keys: a free one, else the least recently used cached one (evicted).
    private func allocate() -> Int {
        let block: Int
        if let free = freeList.popLast() {
            block = free
        } else {
            block = cached.removeFirst()
            unregister(block)
        }
        referenceCounts[block] = 1
        if !backed[block] {
            // The first touch of a page decides how the OS backs it. Attention reads whole tiles
            // of keys, slots not yet written included, and a read maps the shared zero page; the
            // write that follows then copies it and interrupts every other core to flush its TLB
            // (with 8 branches, 4% of a decode step and the worker thread stalled). Written first,
            // the page is simply backed.
            for layer in 0..<layerCount {
                let start = byteOffset(layer: layer, block: block)
                (keyStorage + start).initializeMemory(as: UInt8.self, repeating: 0, count: layerBlockBytes)
                (valueStorage + start).initializeMemory(as: UInt8.self, repeating: 0, count: layerBlockBytes)
            }
            backed[block] = true
        }
        return block
    }

    /// Blocks referenced by at least one sequence.
    private var usedBlockCount: Int { blockCount - freeList.count - cached.count }

    private func notePeak() { peakUsedBlocks = max(peakUsedBlocks, usedBlockCount) }

    /// Stores the key and value of pool row `row` (block · blockSize + slot) in `layer`, each
    /// `kvDimension` floats (head after head), into their tiles.
    func store(layer: Int, row: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let block = byteOffset(layer: layer, block: row / blockSize), keys = keyStorage + block, values = valueStorage + block
        let slot = row % blockSize, size = type.byteCount
        for head in 0..<kvHeadCount {
            let start = head * headDimension * blockSize
            for c in 0..<headDimension {
                let keyAt = size * (start + KeyValueLayout.keyOffset(slot: slot, component: c, blockSize: blockSize, headDimension: headDimension))
                let valueAt = size * (start + KeyValueLayout.valueOffset(slot: slot, column: c, blockSize: blockSize, headDimension: headDimension))
                switch type {
                case .f32:
                    keys.storeBytes(of: key[head * headDimension + c], toByteOffset: keyAt, as: Float.self)
                    values.storeBytes(of: value[head * headDimension + c], toByteOffset: valueAt, as: Float.self)
                case .f16:
                    keys.storeBytes(of: fastHalfFromFloat(key[head * headDimension + c]), toByteOffset: keyAt, as: UInt16.self)
                    values.storeBytes(of: fastHalfFromFloat(value[head * headDimension + c]), toByteOffset: valueAt, as: UInt16.self)
                }
            }
        }
    }

    /// Keys (or values) one block holds in one layer.
    private var blockValues: Int { blockSize * kvDimension }

    /// Bytes of keys (or of values) one block holds in one layer.
    private var layerBlockBytes: Int { blockValues * type.byteCount }

    /// Where `block` of `layer` starts in the key storage (and in the value storage), in bytes:
    /// each layer is a run of `blockCount` blocks, one after another.
    private func byteOffset(layer: Int, block: Int) -> Int { (layer * blockCount + block) * layerBlockBytes }

    /// Where attention finds the keys and values of KV head `head` in `layer`.
    func layout(layer: Int, head: Int) -> KeyValueLayout {
        let start = byteOffset(layer: layer, block: 0) + head * headDimension * blockSize * type.byteCount
        return KeyValueLayout(keys: keyStorage + start, values: valueStorage + start, blockSize: blockSize,
                              blockStride: blockValues, headDimension: headDimension, type: type)
    }

    /// Copies block `source` to block `target`, in every layer.
    private func copyBlock(_ source: Int, to target: Int) {
        for layer in 0..<layerCount {
            let from = byteOffset(layer: layer, block: source), to = byteOffset(layer: layer, block: target)
            (keyStorage + to).copyMemory(from: keyStorage + from, byteCount: layerBlockBytes)
            (valueStorage + to).copyMemory(from: valueStorage + from, byteCount: layerBlockBytes)
        }
    }

    /// The pool row of `position` of `sequence` (which must hold a block for it).
    func row(of sequence: SequenceID, position: Int) -> Int {
        sequences[sequence]!.blocks[position / blockSize] * blockSize + position % blockSize
    }

    /// Positions `0..<count` of `sequence` as one run per block. Attention goes through keys a
    /// run at a time, so runs that follow the blocks, not where the blocks happen to lie in the
    /// pool, make its result independent of the allocation history (a branch gives the same bits
    /// however many other branches run beside it).
    func runs(of sequence: SequenceID, count: Int) -> [KeyRun] {
        guard let blocks = sequences[sequence]?.blocks else { return [] }
        return stride(from: 0, to: count, by: blockSize).map { position in
            KeyRun(position: position, row: blocks[position / blockSize] * blockSize, count: min(blockSize, count - position))
        }
    }

    // MARK: Writing a batch

    /// Checks `batch` against the cache and gives every position it writes a block of its own:
    /// new blocks past a sequence's table, and a copy of a block that other sequences share or
    /// that the prefix index holds (registered blocks never change, so the index stays true and
    /// the blocks after it stay reachable). Throws, changing nothing, for an
    /// unknown sequence, a gap, a position past the context, or when the pool is short of blocks.
    func prepareWrites(for batch: Batch) throws {
        // Blocks each sequence writes into, in order, and the lengths the batch brings them to.
        var written: [SequenceID: Set<Int>] = [:]
        var order: [SequenceID] = []
        var filled: [SequenceID: Int] = [:]
        for (sequence, position, _) in batch.writes {
            guard let state = sequences[sequence] else {
                throw ModelError.invalidBatch("sequence \(sequence) is not in the cache")
            }
            guard position >= 0 else { throw ModelError.invalidBatch("negative position \(position)") }
            guard position < maximumSequenceLength else {
                throw ModelError.contextExceeded(position: position, capacity: maximumSequenceLength)
            }
            // Attention reads positions 0…p of a sequence, so they must all have been written: each
            // token continues its sequence or rewrites a position it already holds, never leaves a gap.
            let length = filled[sequence] ?? state.tokens.count
            guard position <= length else {
                throw ModelError.invalidBatch("position \(position) of sequence \(sequence) leaves a gap after its \(length) positions")
            }
            filled[sequence] = max(length, position + 1)
            if written[sequence] == nil { order.append(sequence) }
            written[sequence, default: []].insert(position / blockSize)
        }
        // Plan with simulated reference counts (two sequences sharing a block in one batch: the
        // first copies it, the second then owns it alone), then check the plan fits.
        enum Step { case append, copy(Int) }
        var plan: [(SequenceID, Int, Step)] = []
        var references: [Int: Int] = [:]
        for sequence in order {
            let blocks = sequences[sequence]!.blocks
            for index in written[sequence]!.sorted() {
                guard index < blocks.count else {
                    plan.append((sequence, index, .append))
                    continue
                }
                let block = blocks[index]
                let count = references[block] ?? referenceCounts[block]
                if count > 1 || registrations[block] != nil {
                    plan.append((sequence, index, .copy(block)))
                    references[block] = count - 1
                }
            }
        }
        let needed = plan.count
        let available = freeList.count + cached.count
        guard needed <= available else { throw KVCacheError.full(neededBlocks: needed, availableBlocks: available) }

        for (sequence, index, step) in plan {
            switch step {
            case .append:
                sequences[sequence]!.blocks.append(allocate())
            case let .copy(source):
                let copy = allocate()
                copyBlock(source, to: copy)
                sequences[sequence]!.blocks[index] = copy
                release(source)
            }
        }
        notePeak()
    }

    /// Records the tokens `batch` wrote (after its keys and values are in place) and registers the
    /// blocks it filled in the prefix index.
    func commitWrites(of batch: Batch) {
        var touched: [SequenceID] = []
        var seen = Set<SequenceID>()
        for (sequence, position, token) in batch.writes {
            if sequences[sequence]!.tokens.count == position {
                sequences[sequence]!.tokens.append(token)
            } else {
                sequences[sequence]!.tokens[position] = token
            }
            if seen.insert(sequence).inserted { touched.append(sequence) }
        }
        for sequence in touched { registerFullBlocks(of: sequence) }
    }
}

/// A doubly linked list of block indices in use order, with O(1) append, removal and pop of the
/// oldest (arrays of links indexed by block).
private struct LeastRecentlyUsedList {
    private var previous: [Int], next: [Int]
    private var member: [Bool]
    private var head = -1, tail = -1
    private(set) var count = 0

    init(capacity: Int) {
        previous = Array(repeating: -1, count: capacity)
        next = Array(repeating: -1, count: capacity)
        member = Array(repeating: false, count: capacity)
    }

    /// Adds `block` as the most recently used.
    mutating func append(_ block: Int) {
        previous[block] = tail
        next[block] = -1
        if tail >= 0 { next[tail] = block } else { head = block }
        tail = block
        member[block] = true
        count += 1
    }

    mutating func remove(_ block: Int) {
        guard member[block] else { return }
        if previous[block] >= 0 { next[previous[block]] = next[block] } else { head = next[block] }
        if next[block] >= 0 { previous[next[block]] = previous[block] } else { tail = previous[block] }
        member[block] = false
        count -= 1
    }

    /// Removes and returns the least recently used block (the list must not be empty).
    mutating func removeFirst() -> Int {
        let block = head
        remove(block)
        return block
    }
}
