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
// precision (they have max|x| / 65534 over up to 256 values). Decoded logits are within 0.56%
// (SmolLM2) and 0.02% (Qwen2.5-0.5B) of a float64 forward pass; with one byte (below), 7.7% and
// 3.3% (`GoldenTests`).
//
// `ActivationPrecision.eightBit` takes one byte per value instead (x̂ = h, d = max|x| / 127 per 32,
// as llama.cpp's Q8_0/Q8_1): one vpdpbusd per 4 weights and row instead of two. The minimum
// terms (Q4_K, Q4_1, Q5_1) then use the quantized sums d·Σx̂ (as llama.cpp's Q8_1 and Q8_K do),
// whose errors cancel against the products'; with the exact Float sums they do not (logits 54% off
// on SmolLM2, measured 2026-11-25). Zero points take Σx̂ in either mode.
#if canImport(BraidVNNI)
import BraidCPU
import BraidVNNI
import _Builtin_intrinsics.intel

/// Rows of activations as 15-bit integers per 32 values in two bytes each (or 8-bit integers in
/// one), for the byte kernels.
///
/// The rows are stored in the blocks that the kernels take them in (8 rows, then the 1–7 left; see
/// `blockRows(from:)`), and within a block interleaved by 4 columns, so that every activation
/// byte a kernel broadcasts lies at a constant offset from one pointer per 4 columns:
///
///   block of n rows, first row f, at byte f·columns·B (B bytes per value):
///   two bytes  [columns 0–3: row 0 h h h h l l l l │ row 1 h h h h l l l l │ … row n−1] [columns 4–7: …] …
///   one byte   [columns 0–3: row 0 h h h h │ row 1 h h h h │ … row n−1] [columns 4–7: …] …
///
/// The per-group values (scales, sums) are blocked the same way: block f's group g, row r at
/// f·groups + g·n + r.
final class ByteActivations: @unchecked Sendable {  // written before, read during a parallel loop
    /// Rows held.
    let rows: Int
    /// Values per row (a multiple of 32).
    let columns: Int
    /// Bytes per value: 2 (x̂ = 128·h + l) or 1 (x̂ = h).
    let bytesPerValue: Int
    /// The values x̂ as bytes h (−127…127) and, with two bytes, l (−64…63), laid out as above.
    let bytes: UnsafeMutablePointer<Int8>
    /// Scales d of x̂, one per 32 values.
    let scales: UnsafeMutablePointer<Float>
    /// Sums of each 32 values: exact sums of the Floats with two bytes, d·Σx̂ with one.
    let groupSums: UnsafeMutablePointer<Float>
    /// −32·Σx̂ of each 16 values (the Q6_K kernel's starting sums), blocked as the others per 16.
    let offsets: UnsafeMutablePointer<Int32>
    /// Σx̂ of each 32 values (for the zero points of the 32-value formats).
    let integerSums: UnsafeMutablePointer<Int32>

    /// Quantizes `rows` rows of `columns` Floats (row-major, `columns` a multiple of 32).
    init(_ x: UnsafePointer<Float>, rows: Int, columns: Int, precision: ActivationPrecision) {
        precondition(columns % 32 == 0, "byte activations are whole groups of 32")
        self.rows = rows
        self.columns = columns
        let oneByte = precision == .eightBit, bytesPerValue = oneByte ? 1 : 2
        self.bytesPerValue = bytesPerValue
        // No padding rows: the loop below writes every byte and value of every row.
        let count = rows * columns
        bytes = UnsafeMutableRawPointer.allocate(byteCount: bytesPerValue * count, alignment: 64)
            .bindMemory(to: Int8.self, capacity: bytesPerValue * count)
        scales = .allocate(capacity: count / 32)
        groupSums = .allocate(capacity: count / 32)
        offsets = .allocate(capacity: count / 16)
        integerSums = .allocate(capacity: count / 32)
        let largestValue = oneByte ? Self.largestOneByte : Self.largest, rowQuadBytes = 4 * bytesPerValue
        let signless = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFF_FFFF)), limit = Int32(largestValue)
        let upper = _mm512_set1_epi32(limit), lower = _mm512_set1_epi32(-limit)
        var first = 0
        while first < rows {
            let n = blockRows(from: first)
            for r in 0..<n {
                let source = x + (first + r) * columns
                let values = UnsafeMutableRawPointer(mutating: values(block: first) + r * rowQuadBytes)
                for group in 0..<(columns / 32) {
                    let v0 = _mm512_loadu_ps(source + 32 * group), v1 = _mm512_loadu_ps(source + 32 * group + 16)
                    // maxps returns its second operand when either is NaN: a NaN never replaces.
                    let largest = _mm512_max_ps(_mm512_and_ps(v0, signless), _mm512_and_ps(v1, signless))
                    let maximum = _mm512_reduce_max_ps(_mm512_max_ps(largest, _mm512_setzero_ps()))
                    let inverse: Float = maximum > 0 ? largestValue / maximum : 0
                    let scale = _mm512_set1_ps(inverse.isFinite ? inverse : 0)
                    let groupIndex = firstGroup(block: first) + group * n + r
                    scales[groupIndex] = maximum / largestValue
                    var total: Float = 0, integerTotal: Int32 = 0
                    for sixteen in 0..<2 {
                        let v = sixteen == 0 ? v0 : v1
                        // cvtps2dq rounds to nearest even; NaN and huge values become INT32_MIN, clamped.
                        let q = _mm512_max_epi32(_mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(v, scale)), upper), lower)
                        // Two bytes: h = x̂ / 128 rounded, l = x̂ − 128·h. One byte: h = x̂.
                        let high = oneByte ? q : _mm512_srai_epi32(_mm512_add_epi32(q, _mm512_set1_epi32(64)), 7)
                        let highs = unsafeBitCast(_mm512_cvtepi32_epi8(high), to: SIMD4<UInt32>.self)
                        let lows = oneByte ? nil : unsafeBitCast(_mm512_cvtepi32_epi8(_mm512_sub_epi32(q, _mm512_slli_epi32(high, 7))),
                                                                 to: SIMD4<UInt32>.self)
                        for quad in 0..<4 {
                            let at = ((8 * group + 4 * sixteen + quad) * n) * rowQuadBytes
                            values.storeBytes(of: highs[quad], toByteOffset: at, as: UInt32.self)
                            if let lows { values.storeBytes(of: lows[quad], toByteOffset: at + 4, as: UInt32.self) }
                        }
                        let integerSum = _mm512_reduce_add_epi32(q)
                        offsets[2 * firstGroup(block: first) + (2 * group + sixteen) * n + r] = -32 &* integerSum
                        integerTotal &+= integerSum
                        if !oneByte { total += _mm512_reduce_add_ps(v) }
                    }
                    groupSums[groupIndex] = oneByte ? scales[groupIndex] * Float(integerTotal) : total
                    integerSums[groupIndex] = integerTotal
                }
            }
            first += n
        }
    }

    /// The bytes of the block that starts at row `first`.
    @inline(__always)
    func values(block first: Int) -> UnsafeRawPointer {
        UnsafeRawPointer(bytes + first &* columns &* bytesPerValue)
    }

    /// The index of the first per-32 value (scale, sum) of the block that starts at row `first`
    /// (twice that for the per-16 `offsets`).
    @inline(__always)
    func firstGroup(block first: Int) -> Int {
        first &* (columns / 32)
    }

    /// The rows of the block that starts at row `first`: 8 while 8 rows remain, then the 1–7 left
    /// (each count has its own kernel, so a forward of 5 rows costs 5, not 8).
    @inline(__always)
    func blockRows(from first: Int) -> Int {
        min(8, rows - first)
    }

    /// The largest |x̂| with two bytes: 127·128, so that h stays within −127…127.
    static let largest: Float = 16256
    /// The largest |x̂| with one byte.
    static let largestOneByte: Float = 127

    deinit {
        bytes.deallocate()
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

/// Bytes per activation value in a kernel: a constant once the kernel is specialized.
protocol ValueBytes {
    static var count: Int { get }
}

/// 8-bit activations (`ActivationPrecision.eightBit`).
enum OneByte: ValueBytes { static var count: Int { 1 } }

/// 15-bit activations in two bytes (`ActivationPrecision.fifteenBit`).
enum TwoBytes: ValueBytes { static var count: Int { 2 } }

/// Calls `body` for rows 0..<count (1–8), written out one by one so each call sees a constant.
@inline(__always)
private func forEachRow(_ count: Int, _ body: (Int) -> Void) {
    body(0)
    if count > 1 { body(1) }
    if count > 2 { body(2) }
    if count > 3 { body(3) }
    if count > 4 { body(4) }
    if count > 5 { body(5) }
    if count > 6 { body(6) }
    if count > 7 { body(7) }
}

/// The byte kernels over one tile.
enum ByteDot {
    @inline(__always)
    private static func bytes16(_ p: UnsafeRawPointer) -> __m128i {
        _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self))
    }

    /// Each row's integer sum over the activations: 128 × the high bytes' sum + the low bytes'
    /// with two bytes; with one, the sum of both (the low sums then hold only their starting values).
    @inline(__always)
    private static func joined<B: ValueBytes>(_: B.Type, _ highs: EightLanes<__m512i>, _ lows: EightLanes<__m512i>,
                                              _ n: Int) -> EightLanes<__m512i> {
        var sums = lows
        forEachRow(n) { r in sums[r] = _mm512_add_epi32(B.count == 2 ? _mm512_slli_epi32(highs[r], 7) : highs[r], lows[r]) }
        return sums
    }

    /// Adds to each activation row's high and low sums the products of 16 weight rows' 4
    /// columns `v` (a lane's 4 bytes) with that row's activation bytes at `quad` (the block's
    /// 4 columns: row r's high bytes at r·4·B, with two bytes its low bytes at r·8 + 4).
    @inline(__always)
    private static func addBytes<B: ValueBytes>(_: B.Type, _ v: __m512i, quad: UnsafeRawPointer, _ n: Int,
                                                _ highSums: inout EightLanes<__m512i>, _ lowSums: inout EightLanes<__m512i>) {
        forEachRow(n) { r in
            highSums[r] = braid_dpbusd_broadcast(highSums[r], v, quad + r &* 4 &* B.count)
            if B.count == 2 { lowSums[r] = braid_dpbusd_broadcast(lowSums[r], v, quad + (r &* 8 &+ 4)) }
        }
    }

    /// As `addBytes` for 8 columns held as nibbles: the low nibbles are the 4 columns at `quad`,
    /// the high nibbles the next 4.
    @inline(__always)
    private static func addNibbles<B: ValueBytes>(_: B.Type, _ lowNibbles: __m512i, _ highNibbles: __m512i, quad: UnsafeRawPointer,
                                                  _ n: Int, _ highSums: inout EightLanes<__m512i>, _ lowSums: inout EightLanes<__m512i>) {
        addBytes(B.self, lowNibbles, quad: quad, n, &highSums, &lowSums)
        addBytes(B.self, highNibbles, quad: quad + n &* 4 &* B.count, n, &highSums, &lowSums)
    }

    /// Rows `firstRow ..< firstRow + R.count` of `x` (one of its blocks) times the 16 weight rows
    /// of Q4_K tile `tile` (`blocks` tile-blocks): row r's 16 outputs go to `output +
    /// r·outputStride`.
    @inline(__always)
    static func q4_K<R: RowBlock, B: ValueBytes>(_: R.Type, _: B.Type, tile: UnsafeRawPointer, blocks: Int, x: ByteActivations,
                                                 firstRow: Int, output: UnsafeMutablePointer<Float>, outputStride: Int) {
        let n = R.count, quadBytes = n &* 4 &* B.count
        let values = x.values(block: firstRow), firstGroup = x.firstGroup(block: firstRow)
        let scales = x.scales + firstGroup, groupSums = x.groupSums + firstGroup
        let low = _mm512_set1_epi8(0x0F)
        var totals = EightLanes(_mm512_setzero_ps())
        for b in 0..<blocks {
            let block = tile + b &* Q4_KTile.bytes
            IntegerDot.prefetchBlock(block + Q4_KTile.scales, bytes: Q4_KTile.bytes - Q4_KTile.scales, rows: n)
            let d = HalfFloats.line(block + Q4_KTile.d), dmin = HalfFloats.line(block + Q4_KTile.dmin)
            // A loop, not unrolled: unrolled, the eight groups' scales and the 8 rows' totals
            // spilled to the stack around every group (8 rows of the 1.5B: 95 ms → 79 ms a forward).
            for g in 0..<8 {
                let scale = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes16(block + (Q4_KTile.scales &+ 16 &* g)))), d)
                let minimum = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes16(block + (Q4_KTile.minima &+ 16 &* g)))), dmin)
                var highSums = EightLanes(_mm512_setzero_si512()), lowSums = highSums
                let groupValues = values + (b &* 64 &+ 8 &* g) &* quadBytes
                for c in 0..<4 {
                    let chunk = block + (g &* 4 &+ c) &* 64
                    IntegerDot.prefetchBlock(chunk, bytes: 64, rows: n)
                    let v = _mm512_loadu_si512(chunk)
                    let lowNibbles = _mm512_and_si512(v, low), highNibbles = _mm512_and_si512(_mm512_srli_epi16(v, 4), low)
                    addNibbles(B.self, lowNibbles, highNibbles, quad: groupValues + 2 &* c &* quadBytes, n, &highSums, &lowSums)
                }
                let sums = joined(B.self, highSums, lowSums, n)
                let group = (b &* 8 &+ g) &* n
                forEachRow(n) { r in
                    let rowScale = _mm512_mul_ps(scale, _mm512_set1_ps(scales[group &+ r]))
                    totals[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[r]), rowScale, totals[r])
                    totals[r] = _mm512_fnmadd_ps(minimum, _mm512_set1_ps(groupSums[group &+ r]), totals[r])
                }
            }
        }
        forEachRow(n) { r in
            _mm512_storeu_ps(output + r &* outputStride, totals[r])
        }
    }

    /// As `q4_K`, for a Q6_K tile.
    @inline(__always)
    static func q6_K<R: RowBlock, B: ValueBytes>(_: R.Type, _: B.Type, tile: UnsafeRawPointer, blocks: Int, x: ByteActivations,
                                                 firstRow: Int, output: UnsafeMutablePointer<Float>, outputStride: Int) {
        let n = R.count, quadBytes = n &* 4 &* B.count
        let values = x.values(block: firstRow)
        let scales = x.scales + x.firstGroup(block: firstRow), offsets = x.offsets + 2 &* x.firstGroup(block: firstRow)
        let low = _mm512_set1_epi8(0x0F), top = _mm512_set1_epi8(0x30)
        var totals = EightLanes(_mm512_setzero_ps())
        for b in 0..<blocks {
            let block = tile + b &* Q6_KTile.bytes
            IntegerDot.prefetchBlock(block + Q6_KTile.scales, bytes: Q6_KTile.bytes - Q6_KTile.scales, rows: n)
            let d = HalfFloats.line(block + Q6_KTile.d)
            for s in 0..<16 {
                let scale = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(bytes16(block + (Q6_KTile.scales &+ 16 &* s)))), d)
                var highSums = EightLanes(_mm512_setzero_si512()), lowSums = highSums
                let sixteen = (b &* 16 &+ s) &* n
                forEachRow(n) { r in lowSums[r] = _mm512_set1_epi32(offsets[sixteen &+ r]) }
                let groupValues = values + (b &* 64 &+ 4 &* s) &* quadBytes
                // Chunks 0–3 of the sub-block: the nibbles of two registers, each with its two high bits.
                let nibbles = block + s &* 128, highs = block + (Q6_KTile.highBits &+ s &* 64)
                IntegerDot.prefetchBlock(nibbles, bytes: 128, rows: n)
                IntegerDot.prefetchBlock(highs, bytes: 64, rows: n)
                let v0 = _mm512_loadu_si512(nibbles), v1 = _mm512_loadu_si512(nibbles + 64), h = _mm512_loadu_si512(highs)
                let chunks = (_mm512_or_si512(_mm512_and_si512(v0, low), _mm512_and_si512(_mm512_slli_epi16(h, 4), top)),
                              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v0, 4), low), _mm512_and_si512(_mm512_slli_epi16(h, 2), top)),
                              _mm512_or_si512(_mm512_and_si512(v1, low), _mm512_and_si512(h, top)),
                              _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v1, 4), low), _mm512_and_si512(_mm512_srli_epi16(h, 2), top)))
                addBytes(B.self, chunks.0, quad: groupValues, n, &highSums, &lowSums)
                addBytes(B.self, chunks.1, quad: groupValues + quadBytes, n, &highSums, &lowSums)
                addBytes(B.self, chunks.2, quad: groupValues + 2 &* quadBytes, n, &highSums, &lowSums)
                addBytes(B.self, chunks.3, quad: groupValues + 3 &* quadBytes, n, &highSums, &lowSums)
                let sums = joined(B.self, highSums, lowSums, n)
                let group = (b &* 8 &+ s / 2) &* n
                forEachRow(n) { r in
                    let rowScale = _mm512_mul_ps(scale, _mm512_set1_ps(scales[group &+ r]))
                    totals[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[r]), rowScale, totals[r])
                }
            }
        }
        forEachRow(n) { r in
            _mm512_storeu_ps(output + r &* outputStride, totals[r])
        }
    }

    /// As `q4_K`, for a tile of a 32-value format (`SmallBlockTile`): each block's integer sum
    /// starts at −zero point·Σx̂ and is scaled by the rows' d; with a minimum, m·Σx is added.
    @inline(__always)
    static func smallBlocks<F: SmallBlockTiling, R: RowBlock, B: ValueBytes>(
        _ format: F.Type, _: R.Type, _: B.Type, tile: UnsafeRawPointer, blocks: Int, x: ByteActivations, firstRow: Int,
        output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let n = R.count, quadBytes = n &* 4 &* B.count, regions = SmallBlockTile(format, blocks: blocks)
        let values = x.values(block: firstRow), firstGroup = x.firstGroup(block: firstRow)
        let scales = x.scales + firstGroup, groupSums = x.groupSums + firstGroup, integerSums = x.integerSums + firstGroup
        let low = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16)
        var totals = EightLanes(_mm512_setzero_ps())
        for b in 0..<blocks {
            let weights = tile + b &* regions.valueBytes, fifthBits = tile + (regions.fifthBits &+ b &* 64)
            IntegerDot.prefetchBlock(weights, bytes: regions.valueBytes, rows: n)
            if F.bits == 5 { IntegerDot.prefetchBlock(fifthBits, bytes: 64, rows: n) }
            if b & 1 == 0 {
                IntegerDot.prefetchBlock(tile + (regions.d &+ b &* 32), bytes: 64, rows: n)
                if F.hasOffset { IntegerDot.prefetchBlock(tile + (regions.m &+ b &* 32), bytes: 64, rows: n) }
            }
            let group = b &* n, blockValues = values + b &* 8 &* quadBytes
            var highSums = EightLanes(_mm512_setzero_si512()), lowSums = highSums
            if F.zeroPoint != 0 {
                forEachRow(n) { r in lowSums[r] = _mm512_set1_epi32(-F.zeroPoint &* integerSums[group &+ r]) }
            }
            if F.bits == 8 {
                for c in 0..<8 {
                    addBytes(B.self, _mm512_loadu_si512(weights + c &* 64), quad: blockValues + c &* quadBytes, n, &highSums, &lowSums)
                }
            } else {
                for c in 0..<4 {
                    let v = _mm512_loadu_si512(weights + c &* 64)
                    var lowNibbles = _mm512_and_si512(v, low), highNibbles = _mm512_and_si512(_mm512_srli_epi16(v, 4), low)
                    if F.bits == 5 {
                        lowNibbles = _mm512_mask_add_epi8(lowNibbles, fifthBits.loadUnaligned(fromByteOffset: 16 &* c, as: UInt64.self),
                                                          lowNibbles, sixteen)
                        highNibbles = _mm512_mask_add_epi8(highNibbles, fifthBits.loadUnaligned(fromByteOffset: 16 &* c &+ 8, as: UInt64.self),
                                                           highNibbles, sixteen)
                    }
                    addNibbles(B.self, lowNibbles, highNibbles, quad: blockValues + 2 &* c &* quadBytes, n, &highSums, &lowSums)
                }
            }
            let sums = joined(B.self, highSums, lowSums, n)
            let d = HalfFloats.line(tile + (regions.d &+ b &* 32)), m = F.hasOffset ? HalfFloats.line(tile + (regions.m &+ b &* 32)) : _mm512_setzero_ps()
            forEachRow(n) { r in
                totals[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[r]), _mm512_mul_ps(d, _mm512_set1_ps(scales[group &+ r])), totals[r])
                if F.hasOffset { totals[r] = _mm512_fmadd_ps(m, _mm512_set1_ps(groupSums[group &+ r]), totals[r]) }
            }
        }
        forEachRow(n) { r in
            _mm512_storeu_ps(output + r &* outputStride, totals[r])
        }
    }

    /// Weight rows `tiles` (in tiles of 16) of y = x̂ · Wᵀ for every row of `x`: rows in passes of
    /// 8, then one of the 1–7 left, each pass over every tile of the range.
    static func multiply(_ weights: TiledWeights, tiles: Range<Int>, x: ByteActivations, into y: UnsafeMutablePointer<Float>, rows: Int) {
        if x.bytesPerValue == 1 {
            multiply(OneByte.self, weights, tiles: tiles, x: x, into: y, rows: rows)
        } else {
            multiply(TwoBytes.self, weights, tiles: tiles, x: x, into: y, rows: rows)
        }
    }

    private static func multiply<B: ValueBytes>(_ bytes: B.Type, _ weights: TiledWeights, tiles: Range<Int>, x: ByteActivations,
                                                into y: UnsafeMutablePointer<Float>, rows: Int) {
        var first = 0
        func pass<R: RowBlock>(_ block: R.Type) {
            for t in tiles {
                let tile = UnsafeRawPointer(weights.data + t &* weights.blocksPerRow &* weights.tileBlockBytes)
                let output = y + (first &* rows &+ t &* TiledWeights.tileRows)
                let blocks = weights.blocksPerRow
                func small<F: SmallBlockTiling>(_ format: F.Type) {
                    smallBlocks(format, block, bytes, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                }
                switch weights.type {
                case .q4_K: q4_K(block, bytes, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                case .q6_K: q6_K(block, bytes, tile: tile, blocks: blocks, x: x, firstRow: first, output: output, outputStride: rows)
                case .q4_0: small(Q4_0Format.self)
                case .q4_1: small(Q4_1Format.self)
                case .q5_0: small(Q5_0Format.self)
                case .q5_1: small(Q5_1Format.self)
                case .q8_0: small(Q8_0Format.self)
                case .f32, .f16, .bf16, .q5_K: preconditionFailure("\(weights.type) is never tiled")
                }
            }
            first += R.count
        }
        while first < x.rows {
            switch x.blockRows(from: first) {
            case 8: pass(EightRows.self)
            case 7: pass(SevenRows.self)
            case 6: pass(SixRows.self)
            case 5: pass(FiveRows.self)
            case 4: pass(FourRows.self)
            case 3: pass(ThreeRows.self)
            case 2: pass(TwoRows.self)
            default: pass(OneRow.self)
            }
        }
    }
}
#endif
