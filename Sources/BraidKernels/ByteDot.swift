// The byte kernels of AVX-512 VNNI builds: up to eight activation rows against one tile of
// `TiledWeights`, writing 16 outputs per row. Activations are 15-bit integers per 32 values,
// x̂ = round(x / d) with d = max|x| / 16256, split in two bytes x̂ = 128·h + l (h in −127…127, l in
// −64…63), so that vpdpbusd (unsigned weight bytes × signed activation bytes) takes them:
//
//   Σ q·x̂ = 128·Σ q·h + Σ q·l      (two int32 sums per row and sub-block, exact)
//
// then one conversion and one multiply-add by the 16 rows' scales times the group's d. The Q4_K
// minimum term uses the exact Float sums of each 32 activations, as the int16 kernels do. Every
// row is summed in the same order whatever the number of rows beside it, so a batch gives each
// row the bits it gets alone.
//
// Error: |x − d·x̂| ≤ d/2 = max|x| / 32512 per value (max over its 32): about the int16 kernels'
// precision (they have max|x| / 65534 over up to 256 values). One byte per value (x̂ = round(x/d),
// d = max|x| / 127 per 32, as llama.cpp's Q8_0) would halve the vpdpbusd and was measured
// (2026-11-25) at 1.25–1.3× the decode speed of 8 branches, but its decoded logits were up to 14%
// (SmolLM2) and 1.8% (Qwen2.5-0.5B) off the float64 forward, against 0.43% and 0.04% here (the
// golden test `exactReferenceDecoding` holds them to 1%) — and 54% and 6.8% when the Q4_1/Q4_K
// minimum terms kept the exact Float sums, whose errors no longer cancel against the products'.
#if canImport(BraidVNNI)
import BraidCPU
import BraidVNNI
import _Builtin_intrinsics.intel

/// Rows of activations as 15-bit integers per 32 values, in two bytes each, for the byte kernels.
final class ByteActivations: @unchecked Sendable {  // written before, read during a parallel loop
    /// Rows held.
    let rows: Int
    /// Rows laid out: as `QuantizedActivations.paddedRows`, the extra rows all zeros.
    let paddedRows: Int
    /// Values per row (a multiple of 32).
    let columns: Int
    /// The high bytes h of the 15-bit values x̂ = 128·h + l, row r at `r·columns`.
    let highs: UnsafeMutablePointer<Int8>
    /// The low bytes l (−64…63), laid out as `highs`.
    let lows: UnsafeMutablePointer<Int8>
    /// Scales d of x̂, row r's group of 32 g at `r·columns/32 + g`.
    let scales: UnsafeMutablePointer<Float>
    /// Exact sums of each 32 Float values, row r's group g at `r·columns/32 + g`.
    let groupSums: UnsafeMutablePointer<Float>
    /// −32·Σx̂ of each 16 values (the Q6_K kernel's starting sums), row r's at `r·columns/16 + s`.
    let offsets: UnsafeMutablePointer<Int32>
    /// Σx̂ of each 32 values (for the zero points of the 32-value formats), laid out as `scales`.
    let integerSums: UnsafeMutablePointer<Int32>

    /// Quantizes `rows` rows of `columns` Floats (row-major, `columns` a multiple of 32).
    init(_ x: UnsafePointer<Float>, rows: Int, columns: Int) {
        precondition(columns % 32 == 0, "byte activations are whole groups of 32")
        self.rows = rows
        self.columns = columns
        paddedRows = WeightMatrix.kernelRows(rows)
        let count = paddedRows * columns
        highs = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64).bindMemory(to: Int8.self, capacity: count)
        highs.initialize(repeating: 0, count: count)
        lows = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64).bindMemory(to: Int8.self, capacity: count)
        lows.initialize(repeating: 0, count: count)
        scales = .allocate(capacity: count / 32)
        scales.initialize(repeating: 0, count: count / 32)
        groupSums = .allocate(capacity: count / 32)
        groupSums.initialize(repeating: 0, count: count / 32)
        offsets = .allocate(capacity: count / 16)
        offsets.initialize(repeating: 0, count: count / 16)
        integerSums = .allocate(capacity: count / 32)
        integerSums.initialize(repeating: 0, count: count / 32)
        let signless = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFF_FFFF)), limit = Int32(Self.largest)
        let upper = _mm512_set1_epi32(limit), lower = _mm512_set1_epi32(-limit)
        for row in 0..<rows {
            for group in 0..<(columns / 32) {
                let start = row * columns + group * 32
                let source = x + start
                // maxps returns its second operand when either is NaN: a NaN never replaces.
                let largest = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(source), signless),
                                            _mm512_and_ps(_mm512_loadu_ps(source + 16), signless))
                let maximum = _mm512_reduce_max_ps(_mm512_max_ps(largest, _mm512_setzero_ps()))
                let inverse: Float = maximum > 0 ? Self.largest / maximum : 0
                let scale = _mm512_set1_ps(inverse.isFinite ? inverse : 0)
                scales[start / 32] = maximum / Self.largest
                var total: Float = 0, integerTotal: Int32 = 0
                for sixteen in 0..<2 {
                    let v = _mm512_loadu_ps(source + 16 * sixteen)
                    // cvtps2dq rounds to nearest even; NaN and huge values become INT32_MIN, clamped.
                    let q = _mm512_max_epi32(_mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v, scale)), upper), lower)
                    let high = _mm512_srai_epi32(_mm512_add_epi32(q, _mm512_set1_epi32(64)), 7)  // x̂ / 128, rounded
                    let low = _mm512_sub_epi32(q, _mm512_slli_epi32(high, 7))
                    _mm_storeu_si128(UnsafeMutableRawPointer(highs + start + 16 * sixteen).assumingMemoryBound(to: __m128i.self),
                                     _mm512_cvtepi32_epi8(high))
                    _mm_storeu_si128(UnsafeMutableRawPointer(lows + start + 16 * sixteen).assumingMemoryBound(to: __m128i.self),
                                     _mm512_cvtepi32_epi8(low))
                    let integerSum = _mm512_reduce_add_epi32(q)
                    offsets[start / 16 + sixteen] = -32 &* integerSum
                    integerTotal &+= integerSum
                    total += _mm512_reduce_add_ps(v)
                }
                groupSums[start / 32] = total
                integerSums[start / 32] = integerTotal
            }
        }
    }

    /// The largest |x̂|: 127·128, so that h stays within −127…127.
    static let largest: Float = 16256

    deinit {
        highs.deallocate()
        lows.deallocate()
        scales.deallocate()
        groupSums.deallocate()
        offsets.deallocate()
        integerSums.deallocate()
    }
}

/// Eight values of one kind, one per activation row, that stay in registers once inlined (every
/// index the kernels use is a constant).
struct EightLanes<Value> {
    var v0, v1, v2, v3, v4, v5, v6, v7: Value

    @inline(__always)
    init(_ value: Value) { (v0, v1, v2, v3, v4, v5, v6, v7) = (value, value, value, value, value, value, value, value) }

    @inline(__always)
    subscript(_ i: Int) -> Value {
        get {
            switch i {
            case 0: v0
            case 1: v1
            case 2: v2
            case 3: v3
            case 4: v4
            case 5: v5
            case 6: v6
            default: v7
            }
        }
        set {
            switch i {
            case 0: v0 = newValue
            case 1: v1 = newValue
            case 2: v2 = newValue
            case 3: v3 = newValue
            case 4: v4 = newValue
            case 5: v5 = newValue
            case 6: v6 = newValue
            default: v7 = newValue
            }
        }
    }
}

/// Calls `body` for rows 0..<count, written out one by one so each call sees a constant.
@inline(__always)
private func forEachRow(_ count: Int, _ body: (Int) -> Void) {
    body(0)
    if count > 1 { body(1) }
    if count > 2 { body(2); body(3) }
    if count > 4 { body(4); body(5); body(6); body(7) }
}

/// The byte kernels over one tile.
enum ByteDot {
    @inline(__always)
    private static func halves(_ p: UnsafeRawPointer) -> __m512 {
        _mm512_cvtph_ps(_mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)))
    }

    @inline(__always)
    private static func bytes16(_ p: UnsafeRawPointer) -> __m128i {
        _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self))
    }

    /// Each row's integer sum over the 15-bit activations: 128 × the high bytes' sum + the low bytes'.
    @inline(__always)
    private static func joined(_ highs: EightLanes<__m512i>, _ lows: EightLanes<__m512i>, _ n: Int) -> EightLanes<__m512i> {
        var sums = lows
        forEachRow(n) { r in sums[r] = _mm512_add_epi32(_mm512_slli_epi32(highs[r], 7), lows[r]) }
        return sums
    }

    /// Adds to each activation row's high and low sums the products of 16 weight rows' 4
    /// columns `v` (a lane's 4 bytes) with that row's activation bytes at `column`.
    @inline(__always)
    private static func addBytes(_ v: __m512i, x: ByteActivations, firstRow: Int, column: Int, _ n: Int,
                                 _ highSums: inout EightLanes<__m512i>, _ lowSums: inout EightLanes<__m512i>) {
        forEachRow(n) { r in
            let at = (firstRow &+ r) &* x.columns &+ column
            highSums[r] = braid_dpbusd_broadcast(highSums[r], v, UnsafeRawPointer(x.highs + at))
            lowSums[r] = braid_dpbusd_broadcast(lowSums[r], v, UnsafeRawPointer(x.lows + at))
        }
    }

    /// As `addBytes` for 8 columns held as nibbles: the low nibbles are columns `column ..<
    /// column + 4`, the high nibbles the next 4.
    @inline(__always)
    private static func addNibbles(_ lowNibbles: __m512i, _ highNibbles: __m512i, x: ByteActivations, firstRow: Int, column: Int,
                                   _ n: Int, _ highSums: inout EightLanes<__m512i>, _ lowSums: inout EightLanes<__m512i>) {
        addBytes(lowNibbles, x: x, firstRow: firstRow, column: column, n, &highSums, &lowSums)
        addBytes(highNibbles, x: x, firstRow: firstRow, column: column &+ 4, n, &highSums, &lowSums)
    }

    /// Rows `firstRow ..< firstRow + R.count` of `x` times the 16 weight rows of Q4_K tile `tile`
    /// (`blocks` tile-blocks): row r's 16 outputs go to `output + r·outputStride`, rows past
    /// `x.rows` are not written.
    @inline(__always)
    static func q4_K<R: RowBlock>(_: R.Type, tile: UnsafeRawPointer, blocks: Int, x: ByteActivations, firstRow: Int,
                                   output: UnsafeMutablePointer<Float>, outputStride: Int) {
        let n = R.count, columns = x.columns
        let low = _mm512_set1_epi8(0x0F)
        var totals = EightLanes(_mm512_setzero_ps())
        for b in 0..<blocks {
            let block = tile + b &* Q4_KTile.bytes
            IntegerDot.prefetchBlock(block + Q4_KTile.scales, bytes: Q4_KTile.bytes - Q4_KTile.scales)
            let d = halves(block + Q4_KTile.d), dmin = halves(block + Q4_KTile.dmin)
            forEachGroup(8) { g in
                let scale = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes16(block + (Q4_KTile.scales &+ 16 &* g)))), d)
                let minimum = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes16(block + (Q4_KTile.minima &+ 16 &* g)))), dmin)
                var highSums = EightLanes(_mm512_setzero_si512()), lowSums = highSums
                for c in 0..<4 {
                    let chunk = block + (g &* 4 &+ c) &* 64
                    IntegerDot.prefetchBlock(chunk, bytes: 64)
                    let v = _mm512_loadu_si512(chunk)
                    let lowNibbles = _mm512_and_si512(v, low), highNibbles = _mm512_and_si512(_mm512_srli_epi16(v, 4), low)
                    let column = b &* 256 &+ 32 &* g &+ 8 &* c
                    addNibbles(lowNibbles, highNibbles, x: x, firstRow: firstRow, column: column, n, &highSums, &lowSums)
                }
                let sums = joined(highSums, lowSums, n)
                forEachRow(n) { r in
                    let group = (firstRow &+ r) &* (columns / 32) &+ b &* 8 &+ g
                    let rowScale = _mm512_mul_ps(scale, _mm512_set1_ps(x.scales[group]))
                    totals[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[r]), rowScale, totals[r])
                    totals[r] = _mm512_fnmadd_ps(minimum, _mm512_set1_ps(x.groupSums[group]), totals[r])
                }
            }
        }
        forEachRow(n) { r in
            if firstRow &+ r < x.rows { _mm512_storeu_ps(output + r &* outputStride, totals[r]) }
        }
    }

    /// As `q4_K`, for a Q6_K tile.
    @inline(__always)
    static func q6_K<R: RowBlock>(_: R.Type, tile: UnsafeRawPointer, blocks: Int, x: ByteActivations, firstRow: Int,
                                   output: UnsafeMutablePointer<Float>, outputStride: Int) {
        let n = R.count, columns = x.columns
        var totals = EightLanes(_mm512_setzero_ps())
        for b in 0..<blocks {
            let block = tile + b &* Q6_KTile.bytes
            IntegerDot.prefetchBlock(block + Q6_KTile.scales, bytes: Q6_KTile.bytes - Q6_KTile.scales)
            let d = halves(block + Q6_KTile.d)
            for s in 0..<16 {
                let scale = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes16(block + (Q6_KTile.scales &+ 16 &* s)))), d)
                var highSums = EightLanes(_mm512_setzero_si512()), lowSums = highSums
                forEachRow(n) { r in lowSums[r] = _mm512_set1_epi32(x.offsets[(firstRow &+ r) &* (columns / 16) &+ b &* 16 &+ s]) }
                for c in 0..<4 {
                    let chunk = block + (s &* 4 &+ c) &* 64
                    IntegerDot.prefetchBlock(chunk, bytes: 64)
                    let v = _mm512_loadu_si512(chunk)
                    let column = b &* 256 &+ 16 &* s &+ 4 &* c
                    addBytes(v, x: x, firstRow: firstRow, column: column, n, &highSums, &lowSums)
                }
                let sums = joined(highSums, lowSums, n)
                forEachRow(n) { r in
                    let rowScale = _mm512_mul_ps(scale, _mm512_set1_ps(x.scales[(firstRow &+ r) &* (columns / 32) &+ b &* 8 &+ s / 2]))
                    totals[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[r]), rowScale, totals[r])
                }
            }
        }
        forEachRow(n) { r in
            if firstRow &+ r < x.rows { _mm512_storeu_ps(output + r &* outputStride, totals[r]) }
        }
    }

    /// As `q4_K`, for a tile of a 32-value format (`SmallBlockTile`): each block's integer sum
    /// starts at −zero point·Σx̂ and is scaled by the rows' d; with a minimum, m·Σx is added.
    @inline(__always)
    static func smallBlocks<F: SmallBlockTiling, R: RowBlock>(_ format: F.Type, _: R.Type, tile: UnsafeRawPointer, blocks: Int,
                                                             x: ByteActivations, firstRow: Int, output: UnsafeMutablePointer<Float>,
                                                             outputStride: Int) {
        let n = R.count, columns = x.columns, regions = SmallBlockTile(format, blocks: blocks)
        let low = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16)
        var totals = EightLanes(_mm512_setzero_ps())
        for b in 0..<blocks {
            let values = tile + b &* regions.valueBytes, fifthBits = tile + (regions.fifthBits &+ b &* 64)
            IntegerDot.prefetchBlock(values, bytes: regions.valueBytes)
            if F.bits == 5 { IntegerDot.prefetchBlock(fifthBits, bytes: 64) }
            if b & 1 == 0 {
                IntegerDot.prefetchBlock(tile + (regions.d &+ b &* 32), bytes: 64)
                if F.hasOffset { IntegerDot.prefetchBlock(tile + (regions.m &+ b &* 32), bytes: 64) }
            }
            var highSums = EightLanes(_mm512_setzero_si512()), lowSums = highSums
            if F.zeroPoint != 0 {
                forEachRow(n) { r in
                    lowSums[r] = _mm512_set1_epi32(-F.zeroPoint &* x.integerSums[(firstRow &+ r) &* (columns / 32) &+ b])
                }
            }
            if F.bits == 8 {
                for c in 0..<8 {
                    let v = _mm512_loadu_si512(values + c &* 64), column = b &* 32 &+ 4 &* c
                    addBytes(v, x: x, firstRow: firstRow, column: column, n, &highSums, &lowSums)
                }
            } else {
                for c in 0..<4 {
                    let v = _mm512_loadu_si512(values + c &* 64)
                    var lowNibbles = _mm512_and_si512(v, low), highNibbles = _mm512_and_si512(_mm512_srli_epi16(v, 4), low)
                    if F.bits == 5 {
                        lowNibbles = _mm512_mask_add_epi8(lowNibbles, fifthBits.loadUnaligned(fromByteOffset: 16 &* c, as: UInt64.self),
                                                          lowNibbles, sixteen)
                        highNibbles = _mm512_mask_add_epi8(highNibbles, fifthBits.loadUnaligned(fromByteOffset: 16 &* c &+ 8, as: UInt64.self),
                                                           highNibbles, sixteen)
                    }
                    let column = b &* 32 &+ 8 &* c
                    addNibbles(lowNibbles, highNibbles, x: x, firstRow: firstRow, column: column, n, &highSums, &lowSums)
                }
            }
            let sums = joined(highSums, lowSums, n)
            let d = halves(tile + (regions.d &+ b &* 32)), m = F.hasOffset ? halves(tile + (regions.m &+ b &* 32)) : _mm512_setzero_ps()
            forEachRow(n) { r in
                let group = (firstRow &+ r) &* (columns / 32) &+ b
                totals[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[r]), _mm512_mul_ps(d, _mm512_set1_ps(x.scales[group])), totals[r])
                if F.hasOffset { totals[r] = _mm512_fmadd_ps(m, _mm512_set1_ps(x.groupSums[group]), totals[r]) }
            }
        }
        forEachRow(n) { r in
            if firstRow &+ r < x.rows { _mm512_storeu_ps(output + r &* outputStride, totals[r]) }
        }
    }

    /// Weight rows `tiles` (in tiles of 16) of y = x̂ · Wᵀ for every row of `x`: rows in passes of
    /// 8, then 4, 2 and 1, each pass over every tile of the range.
    static func multiply(_ weights: TiledWeights, tiles: Range<Int>, x: ByteActivations, into y: UnsafeMutablePointer<Float>, rows: Int) {
        var first = 0
        func pass<R: RowBlock>(_ block: R.Type) {
            for t in tiles {
                let tile = UnsafeRawPointer(weights.data + t &* weights.blocksPerRow &* weights.tileBlockBytes)
                let output = y + (first &* rows &+ t &* TiledWeights.tileRows)
                let blocks = weights.blocksPerRow
                switch weights.type {
                case .q4_K: q4_K(block, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                case .q6_K: q6_K(block, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                case .q4_0: smallBlocks(Q4_0Format.self, block, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                case .q4_1: smallBlocks(Q4_1Format.self, block, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                case .q5_0: smallBlocks(Q5_0Format.self, block, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                case .q5_1: smallBlocks(Q5_1Format.self, block, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                case .q8_0: smallBlocks(Q8_0Format.self, block, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                case .f32, .f16, .bf16, .q5_K: preconditionFailure("\(weights.type) is never tiled")
                }
            }
            first += R.count
        }
        while x.paddedRows - first >= 8 { pass(EightRows.self) }
        if x.paddedRows - first >= 4 { pass(FourRows.self) }
        if x.rows - first >= 2 { pass(TwoRows.self) }
        if x.rows - first == 1 { pass(OneRow.self) }
    }
}
#endif
