// Causal attention for one KV head, the way FlashAttention does it (Dao et al. 2022) but on a
// CPU: keys and values are read a run at a time (a block of the paged cache), each query row
// keeps a running maximum m, a running sum l and an unnormalized output o, and a chunk's scores s
// update them as
//
//   m' = max(m, max s);  o ← o·e^(m−m') + Σ e^(s−m')·v;  l ← l·e^(m−m') + Σ e^(s−m');  m ← m'
//
// so no row ever holds more than one chunk of scores, whatever the context length. Several
// query rows (the query heads that share this KV head, for several tokens, and the branches that
// share a block) go through each chunk together, in register tiles of 4 rows:
//
//   scores   s[r][j…j+15] = Σ_c q[r][c] · K[c][j…j+15]     keys in tiles of 16: component c of
//                                                          16 consecutive keys is one 16-lane vector
//   outputs  o[r][c…c+15] += Σ_j p[r][j] · V[j][c…c+15]    values in tiles of 16 columns
//
// Both tiles are contiguous in the cache (see `KeyValueLayout`), so every pass streams memory in
// order: for 8 branches of a long prompt the cache is as much to read per step as the weights. A
// cache of half floats (`KVCacheType.f16`) halves those bytes; each 16-lane line is converted to
// Float as it is loaded, and the arithmetic is the same.
//
// Each score and each output element is one chain of multiply-adds in a fixed order (c = 0, 1, …
// for a score; j = 0, 1, … through the runs for an output), whatever tile it falls in, so a row's
// result is the same bits however many other rows go through beside it.
import BraidCPU
#if canImport(BraidAVX2)
import _Builtin_intrinsics.intel
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Consecutive positions whose keys (and values) are adjacent rows of the cache: positions
/// `position ..< position + count` are rows `row ..< row + count`, all in one block.
public struct KeyRun: Sendable, Equatable {
    public var position: Int
    public var row: Int
    public var count: Int

    public init(position: Int, row: Int, count: Int) {
        self.position = position
        self.row = row
        self.count = count
    }

    /// `count` keys stored in order from row 0, in runs of `length` (one block each).
    public static func contiguous(count: Int, length: Int = 128) -> [KeyRun] {
        stride(from: 0, to: count, by: length).map { KeyRun(position: $0, row: $0, count: min(length, count - $0)) }
    }
}

/// Query rows `firstRow ..< firstRow + rowCount` of an attention call and the runs of keys they read.
public struct QueryGroup: Sendable {
    public var firstRow: Int
    public var rowCount: Int
    public var runs: [KeyRun]

    public init(firstRow: Int, rowCount: Int, runs: [KeyRun]) {
        self.firstRow = firstRow
        self.rowCount = rowCount
        self.runs = runs
    }
}

/// How a KV cache stores each key and value.
public enum KVCacheType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// 32-bit floats: attention sees the keys and values exactly as the model computed them.
    case f32
    /// IEEE half floats, as llama.cpp keeps its cache by default: half the memory, and half the
    /// bytes attention reads per step; each value rounded to 11 significant bits.
    case f16

    /// Bytes per stored value.
    public var byteCount: Int { self == .f32 ? 4 : 2 }

    public var description: String { rawValue }
}

/// Where the cached keys and values of one KV head lie. The cache is made of blocks of
/// `blockSize` positions, `blockStride` values apart; within a block each head holds
/// `headDimension · blockSize` values of keys and as many of values, in tiles of 16 so that each
/// pass of the kernel reads consecutive values:
///
///   keys   [key tile t: slots 16t…16t+15][component c][slot − 16t]
///          t = 0 │ c=0: k0 … k15 │ c=1: k0 … k15 │ … │ c=d−1: k0 … k15 │  t = 1 │ c=0: k16 … k31 │ …
///   values [column tile u: columns 16u…16u+15][slot][column − 16u]
///          u = 0 │ slot 0: v0 … v15 │ slot 1: v0 … v15 │ … │  u = 1 │ slot 0: v16 … v31 │ …
///
/// A last tile narrower than 16 (a block size or head dimension that is not a multiple of 16) is
/// stored at its own width. Each value is a `type`: a Float or a half float's bits.
public struct KeyValueLayout {
    /// Keys (of scores) and columns (of outputs) per tile: one 16-lane vector (one AVX-512
    /// register, two AVX2 or four NEON ones).
    public static let tile = 16

    /// This head's keys in block 0.
    public var keys: UnsafeRawPointer
    /// This head's values in block 0.
    public var values: UnsafeRawPointer
    public var blockSize: Int
    /// Values from one block to the next.
    public var blockStride: Int
    public var headDimension: Int
    /// How each key and value is stored.
    public var type: KVCacheType

    public init(keys: UnsafeRawPointer, values: UnsafeRawPointer, blockSize: Int, blockStride: Int, headDimension: Int,
                type: KVCacheType = .f32) {
        self.keys = keys
        self.values = values
        self.blockSize = blockSize
        self.blockStride = blockStride
        self.headDimension = headDimension
        self.type = type
    }

    /// Offset of component `component` of the key in `slot`, from the start of its head's keys in the block.
    public static func keyOffset(slot: Int, component: Int, blockSize: Int, headDimension: Int) -> Int {
        let start = slot / tile * tile
        return start * headDimension + component * min(tile, blockSize - start) + slot - start
    }

    /// Offset of column `column` of the value in `slot`, from the start of its head's values in the block.
    public static func valueOffset(slot: Int, column: Int, blockSize: Int, headDimension: Int) -> Int {
        let start = column / tile * tile
        return start * blockSize + slot * min(tile, headDimension - start) + column - start
    }

    /// Component `component` of the key cached in `slot` of `block`, as a Float.
    public func key(block: Int, slot: Int, component: Int) -> Float {
        element(keys, block: block, offset: Self.keyOffset(slot: slot, component: component, blockSize: blockSize, headDimension: headDimension))
    }

    /// Column `column` of the value cached in `slot` of `block`, as a Float.
    public func value(block: Int, slot: Int, column: Int) -> Float {
        element(values, block: block, offset: Self.valueOffset(slot: slot, column: column, blockSize: blockSize, headDimension: headDimension))
    }

    private func element(_ start: UnsafeRawPointer, block: Int, offset: Int) -> Float {
        let index = block * blockStride + offset
        switch type {
        case .f32: return SingleFloats.value(start, index)
        case .f16: return HalfFloats.value(start, index)
        }
    }
}

/// How the attention kernel reads the values of one `KVCacheType`: 16 consecutive ones as a
/// vector of Floats, or one. Both read exactly the stored value (a half float converts exactly).
protocol CachedValues {
    /// Bytes per value.
    static var size: Int { get }
    /// Values `0..<16` from `p`.
    static func line(_ p: UnsafeRawPointer) -> SIMD16<Float>
    /// Value `index` from `p`.
    static func value(_ p: UnsafeRawPointer, _ index: Int) -> Float
}

/// `KVCacheType.f32`.
enum SingleFloats: CachedValues {
    static var size: Int { KVCacheType.f32.byteCount }

    @inline(__always)
    static func line(_ p: UnsafeRawPointer) -> SIMD16<Float> { p.loadUnaligned(as: SIMD16<Float>.self) }

    @inline(__always)
    static func value(_ p: UnsafeRawPointer, _ index: Int) -> Float { p.loadUnaligned(fromByteOffset: 4 * index, as: Float.self) }
}

/// `KVCacheType.f16`: one conversion instruction per line where the build has one (F16C). The
/// byte kernels read their half-float scales with `line` too.
enum HalfFloats: CachedValues {
    static var size: Int { KVCacheType.f16.byteCount }

    @inline(__always)
    static func line(_ p: UnsafeRawPointer) -> SIMD16<Float> {
        #if canImport(BraidAVX512)
        return _mm512_cvtph_ps(_mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)))
        #elseif canImport(BraidAVX2)
        let low = _mm256_cvtph_ps(_mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)))
        let high = _mm256_cvtph_ps(_mm_loadu_si128((p + 16).assumingMemoryBound(to: __m128i.self)))
        return SIMD16(lowHalf: low, highHalf: high)
        #else
        var line = SIMD16<Float>()
        for i in 0..<16 { line[i] = value(p, i) }
        return line
        #endif
    }

    @inline(__always)
    static func value(_ p: UnsafeRawPointer, _ index: Int) -> Float {
        fastFloatFromHalf(p.loadUnaligned(fromByteOffset: 2 * index, as: UInt16.self))
    }
}

/// Causal scaled dot-product attention over a KV cache.
public enum Attention {
    /// `output[i] = softmax(scale · queries[i] · Kᵀ) · V` over positions `0...limits[i]` (row i's
    /// own causal mask), for `rows` query rows of `headDimension` values (dense, row-major). The
    /// key and value of position p, in run r, are at row `r.row + p − r.position` of `cache`;
    /// `runs` cover positions in order from 0, and positions past the largest limit are never
    /// read. Output row i goes to `output + i·outputStride`.
    public static func attend(
        queries: UnsafePointer<Float>, rows: Int, limits: UnsafePointer<Int>, headDimension d: Int,
        cache: KeyValueLayout, runs: [KeyRun], scale: Float, into output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        attend(queries: queries, limits: limits, headDimension: d, cache: cache,
               groups: [QueryGroup(firstRow: 0, rowCount: rows, runs: runs)], scale: scale, into: output, outputStride: outputStride)
    }

    /// Attention for several groups of query rows at once (the tokens of different sequences),
    /// each reading its own runs of keys. Runs of different groups that lie at the same place in
    /// the cache (a block of a prompt that branches share) are read once for all of them: the
    /// groups' rows go through that block together. Every row still meets its keys in the same
    /// runs, in the same order, in the same chains of multiply-adds as it would alone, so its
    /// result does not depend on which other groups are present.
    ///
    ///   groups   rows     runs (cache row of each block)
    ///   branch 0 0…2      [0] [64] [128] [512]
    ///   branch 1 3…5      [0] [64] [128] [576]
    ///   branch 2 6…8      [0] [64] [128] [640]
    ///   products          9 rows × block 0, 1, 2;  then 3 rows × each own block
    public static func attend(
        queries: UnsafePointer<Float>, limits: UnsafePointer<Int>, headDimension d: Int, cache: KeyValueLayout,
        groups: [QueryGroup], scale: Float, into output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        switch cache.type {
        case .f32:
            attend(SingleFloats.self, queries: queries, limits: limits, headDimension: d, cache: cache, groups: groups, scale: scale,
                   into: output, outputStride: outputStride)
        case .f16:
            attend(HalfFloats.self, queries: queries, limits: limits, headDimension: d, cache: cache, groups: groups, scale: scale,
                   into: output, outputStride: outputStride)
        }
    }

    /// `attend(queries:limits:headDimension:cache:groups:…)` for a cache of values `E`.
    private static func attend<E: CachedValues>(
        _: E.Type, queries: UnsafePointer<Float>, limits: UnsafePointer<Int>, headDimension d: Int, cache: KeyValueLayout,
        groups: [QueryGroup], scale: Float, into output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let rows = groups.reduce(0) { max($0, $1.firstRow + $1.rowCount) }
        // The queries times the scale (so the scores come out scaled), one chunk of scores per row
        // (a tile wider than the longest run: tiles may run past a run's end), the unnormalized
        // outputs, running maxima and sums.
        let scaled = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        let chunk = (groups.lazy.flatMap(\.runs).map(\.count).max() ?? 1) + KeyValueLayout.tile
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * chunk)
        let o = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        let l = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        defer { for p in [scaled, scores, o, m, l] { p.deallocate() } }
        for i in 0..<rows * d { scaled[i] = queries[i] * scale }
        o.initialize(repeating: 0, count: rows * d)
        m.initialize(repeating: -.infinity, count: rows)
        l.initialize(repeating: 0, count: rows)
        // Keys each group reads: up to its largest limit.
        let keyCounts = groups.map { group in (group.firstRow..<group.firstRow + group.rowCount).reduce(0) { max($0, limits[$1] + 1) } }
        let runCount = groups.lazy.map(\.runs.count).max() ?? 0

        for index in 0..<runCount {
            // Spans of consecutive groups that read the same run (one pass each).
            var g = 0
            while g < groups.count {
                guard index < groups[g].runs.count, groups[g].runs[index].position < keyCounts[g] else {
                    g += 1
                    continue
                }
                let run = groups[g].runs[index]
                precondition(run.row % cache.blockSize + run.count <= cache.blockSize, "a run of keys lies in one block")
                var last = g, width = min(run.count, keyCounts[g] - run.position)
                while last + 1 < groups.count, index < groups[last + 1].runs.count, groups[last + 1].runs[index].row == run.row,
                      groups[last + 1].firstRow == groups[last].firstRow + groups[last].rowCount, run.position < keyCounts[last + 1] {
                    last += 1
                    width = max(width, min(groups[last].runs[index].count, keyCounts[last] - run.position))
                }
                let first = groups[g].firstRow, count = groups[last].firstRow + groups[last].rowCount - first
                update(E.self, queries: scaled + first * d, rows: count, limits: limits + first, headDimension: d, start: run.position,
                       width: width, row: run.row, cache: cache, scores: scores, chunk: chunk, o: o + first * d,
                       m: m + first, l: l + first)
                g = last + 1
            }
        }
        for i in 0..<rows {
            let inverse = l[i] > 0 ? 1 / l[i] : 0
            for c in 0..<d { output[i * outputStride + c] = o[i * d + c] * inverse }
        }
    }

    /// One run of `width` keys from position `start`, cache row `row`, for `rows` query rows
    /// (scaled): scores, the online softmax update of each row's running maximum `m`, sum `l` and output `o`.
    @inline(__always)
    private static func update<E: CachedValues>(_: E.Type, queries: UnsafePointer<Float>, rows: Int, limits: UnsafePointer<Int>, headDimension d: Int,
                               start: Int, width: Int, row: Int, cache: KeyValueLayout,
                               scores: UnsafeMutablePointer<Float>, chunk: Int, o: UnsafeMutablePointer<Float>,
                               m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>) {
        let tile = KeyValueLayout.tile, blockSize = cache.blockSize, first = row % blockSize
        let blockBytes = row / blockSize * cache.blockStride * E.size
        let keys = cache.keys + blockBytes, values = cache.values + blockBytes
        // Scores, whole tiles of 16 keys (4 KB each for d = 64, in order) by every tile of 4 rows,
        // two tiles at a time where the build pairs them; keys in part of a tile one at a time. A
        // last partial row tile repeats its last row: the repeat's results are the same bits,
        // written twice.
        var j = 0
        while j < width {
            let slot = first + j, tileStart = slot / tile * tile, tileWidth = min(tile, blockSize - tileStart)
            let keyTile = keys + tileStart * d * E.size
            if slot == tileStart && tileWidth == tile {
                let paired = pairsTiles && j + tile < width && tileStart + 2 * tile <= blockSize
                let step = paired ? 2 * tile : tile
                let ahead = j + step < width ? step * d * E.size : nil
                forEachRowTile(rows) { r0, r1, r2, r3 in
                    multiplyTiles(E.self, queries + r0 * d, queries + r1 * d, queries + r2 * d, queries + r3 * d, tile: keyTile,
                                  second: paired ? tile * d : nil, count: d, ahead: r0 == 0 ? ahead : nil, accumulate: false,
                                  scores + r0 * chunk + j, scores + r1 * chunk + j, scores + r2 * chunk + j, scores + r3 * chunk + j)
                }
                j += step
            } else {
                let end = min(width, j + tileStart + tileWidth - slot)
                for i in 0..<rows {
                    for key in j..<end {
                        var s: Float = 0
                        for c in 0..<d { s = multiplyAdd(s, queries[i * d + c], E.value(keyTile, c * tileWidth + first + key - tileStart)) }
                        scores[i * chunk + key] = s
                    }
                }
                j = end
            }
        }
        // Online softmax (the scores are scaled already: the queries were): mask, rescale the
        // running output, exponentiate.
        for i in 0..<rows {
            let row = scores + i * chunk
            let visible = min(width, limits[i] + 1 - start)  // keys of this run row i may see
            guard visible > 0 else {
                row.initialize(repeating: 0, count: width)
                continue
            }
            let newMax = max(m[i], VectorMath.maximum(row, count: visible))
            let correction = m[i] == -.infinity ? 0 : expf(m[i] - newMax)
            l[i] = l[i] * correction + VectorMath.exponentiate(row, subtracting: newMax, count: visible)
            if visible < width { (row + visible).initialize(repeating: 0, count: width - visible) }
            m[i] = newMax
            if correction != 1 { VectorMath.scale(o + i * d, by: correction, count: d) }
        }
        // Weighted values, tiles of 16 columns (width × 64 bytes each, in order) by every tile of 4
        // rows, two at a time where the build pairs them.
        var column = 0
        while column < d {
            let columns = min(tile, d - column), valueTile = values + (column * blockSize + first * columns) * E.size
            if columns == tile {
                let paired = pairsTiles && column + 2 * tile <= d
                let step = paired ? 2 * tile : tile
                let ahead = column + step < d ? step * blockSize * E.size : nil
                forEachRowTile(rows) { r0, r1, r2, r3 in
                    multiplyTiles(E.self, scores + r0 * chunk, scores + r1 * chunk, scores + r2 * chunk, scores + r3 * chunk, tile: valueTile,
                                  second: paired ? tile * blockSize : nil, count: width, ahead: r0 == 0 ? ahead : nil,
                                  accumulate: true, o + r0 * d + column, o + r1 * d + column, o + r2 * d + column, o + r3 * d + column)
                }
                column += step
            } else {
                for i in 0..<rows {
                    for c in 0..<columns {
                        var sum = o[i * d + column + c]
                        for j in 0..<width { sum = multiplyAdd(sum, scores[i * chunk + j], E.value(valueTile, j * columns + c)) }
                        o[i * d + column + c] = sum
                    }
                }
                column += columns
            }
        }
    }

    /// Calls `body` with the rows of each tile of 4 of `rows` rows; a last partial tile repeats its last row.
    @inline(__always)
    private static func forEachRowTile(_ rows: Int, _ body: (Int, Int, Int, Int) -> Void) {
        var r = 0
        while r < rows {
            body(r, min(r + 1, rows - 1), min(r + 2, rows - 1), min(r + 3, rows - 1))
            r += 4
        }
    }

    /// Whether the passes multiply two tiles at once: 8 chains of multiply-adds in flight for 4
    /// rows, as two 512-bit fused multiply-add units of 4 cycles' latency need. AVX2 and NEON
    /// builds split each 16-lane line into 2 or 4 registers, so one tile already makes 8 or 16
    /// chains, and a second would run out of registers.
    #if canImport(BraidAVX512)
    private static let pairsTiles = true
    #else
    private static let pairsTiles = false
    #endif

    /// The product both passes are made of, for 4 rows: `y_r[0…15] (+)= Σ_i x_r[i] · tile[16i …
    /// 16i+15]` over `count` lines of a tile (scores: x = queries, lines = key components;
    /// outputs: x = probabilities, lines = value slots), and where `second` is given, the same for
    /// the tile `second` values further into `y_r[16…31]`. Asks for the line `ahead` bytes past
    /// each line it reads, where `ahead` is given (the next tiles, on the first pass over these). A
    /// line is one 16-lane vector: one register on AVX-512, two on AVX2, four on NEON (each
    /// lane's chain of multiply-adds is the same either way).
    @inline(__always)
    private static func multiplyTiles<E: CachedValues>(_: E.Type, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                                      _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>, tile: UnsafeRawPointer, second: Int?,
                                      count: Int, ahead: Int?,
                                      accumulate: Bool, _ y0: UnsafeMutablePointer<Float>, _ y1: UnsafeMutablePointer<Float>,
                                      _ y2: UnsafeMutablePointer<Float>, _ y3: UnsafeMutablePointer<Float>) {
        if let second {
            multiplyTiles(E.self, x0, x1, x2, x3, tile: tile, pairedAt: second, count: count, ahead: ahead, accumulate: accumulate, y0, y1, y2, y3)
        } else {
            multiplyTiles(E.self, x0, x1, x2, x3, tile: tile, pairedAt: 0, count: count, ahead: ahead, accumulate: accumulate, y0, y1, y2, y3)
        }
    }

    /// `multiplyTiles` with the second tile `second` values further, or none where `second` is 0
    /// (a constant once inlined, so each case is its own loop).
    @inline(__always)
    private static func multiplyTiles<E: CachedValues>(_: E.Type, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                                      _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>, tile: UnsafeRawPointer,
                                      pairedAt second: Int, count: Int, ahead: Int?,
                                      accumulate: Bool, _ y0: UnsafeMutablePointer<Float>, _ y1: UnsafeMutablePointer<Float>,
                                      _ y2: UnsafeMutablePointer<Float>, _ y3: UnsafeMutablePointer<Float>) {
        let two = second != 0, offset = E.size * second
        var a0 = accumulate ? load(y0) : .zero, a1 = accumulate ? load(y1) : .zero
        var a2 = accumulate ? load(y2) : .zero, a3 = accumulate ? load(y3) : .zero
        var b0 = two && accumulate ? load(y0 + 16) : .zero, b1 = two && accumulate ? load(y1 + 16) : .zero
        var b2 = two && accumulate ? load(y2 + 16) : .zero, b3 = two && accumulate ? load(y3 + 16) : .zero
        var line = tile
        for i in 0..<count {
            if let ahead {
                braid_prefetch(line + ahead)
                if two { braid_prefetch(line + ahead + offset) }
            }
            let s0 = SIMD16(repeating: x0[i]), s1 = SIMD16(repeating: x1[i])
            let s2 = SIMD16(repeating: x2[i]), s3 = SIMD16(repeating: x3[i])
            let v = E.line(line)
            a0 = multiplyAdd(a0, s0, v)
            a1 = multiplyAdd(a1, s1, v)
            a2 = multiplyAdd(a2, s2, v)
            a3 = multiplyAdd(a3, s3, v)
            if two {
                let w = E.line(line + offset)
                b0 = multiplyAdd(b0, s0, w)
                b1 = multiplyAdd(b1, s1, w)
                b2 = multiplyAdd(b2, s2, w)
                b3 = multiplyAdd(b3, s3, w)
            }
            line += E.size * KeyValueLayout.tile
        }
        store(a0, to: y0)
        store(a1, to: y1)
        store(a2, to: y2)
        store(a3, to: y3)
        if two {
            store(b0, to: y0 + 16)
            store(b1, to: y1 + 16)
            store(b2, to: y2 + 16)
            store(b3, to: y3 + 16)
        }
    }

    @inline(__always)
    private static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    private static func store(_ value: SIMD16<Float>, to p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD16<Float>.self)
    }

    /// a + x·y, fused where the build has a fused multiply-add instruction (x86 builds without FMA
    /// would turn it into a library call per lane, so they round twice instead). Lanes and
    /// scalars round alike, so a tile and the scalar loops for its edges give the same bits.
    @inline(__always)
    private static func multiplyAdd(_ a: SIMD16<Float>, _ x: SIMD16<Float>, _ y: SIMD16<Float>) -> SIMD16<Float> {
        #if canImport(BraidAVX2) || arch(arm64)
        return a.addingProduct(x, y)
        #else
        return a + x * y
        #endif
    }

    @inline(__always)
    private static func multiplyAdd(_ a: Float, _ x: Float, _ y: Float) -> Float {
        #if canImport(BraidAVX2) || arch(arm64)
        return a.addingProduct(x, y)
        #else
        return a + x * y
        #endif
    }
}
