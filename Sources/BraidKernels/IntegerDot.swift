// The small-batch matrix kernel: up to eight activation rows against one quantized weight row,
// reading the weights once. Per block (one weight scale per block; activations of one scale per
// block, see QuantizedActivations, whenever the block is a 256-value K block):
//
//   Σ wᵢ·xᵢ ≈ (w_scale·x_scale) · Σ qᵢ·x̂ᵢ  +  Σ_groups w_offset · Σ xᵢ
//
// with the integer dot exact in Int32 and summed over as many of the block's groups as cannot
// overflow (`groupsPerIntegerSum`) before one conversion to Float. Per group and row that leaves
// one 512-bit vpdpwssd (AVX-512 VNNI builds; a vpmaddwd for the first group of a sum), one
// 512-bit vpmaddwd and add (AVX-512), or two 256-bit ones (AVX2); groups are unpacked once and
// used for every row, so a batch of rows costs one pass over the weights plus that per row.
// Formats of one group per block scale each block's sum by the weight scale only, and a whole
// activation span's total by its activation scale once. The offset term goes into the same
// accumulators: per group for formats of one group per block, per block and row for Q4_K/Q5_K
// (from the activations' row-major group sums).
import BraidCPU
#if canImport(BraidAVX2)
import _Builtin_intrinsics.intel
#endif
#if canImport(BraidAVX512)
import BraidAVX512
#endif
#if canImport(BraidVNNI)
import BraidVNNI
#endif

/// How many activation rows a kernel call takes, as a type, so that each count gets its own
/// specialized kernel with no run-time branches on it.
protocol RowBlock {
    static var count: Int { get }
}

enum OneRow: RowBlock { static var count: Int { 1 } }
enum TwoRows: RowBlock { static var count: Int { 2 } }
enum ThreeRows: RowBlock { static var count: Int { 3 } }
enum FourRows: RowBlock { static var count: Int { 4 } }
enum FiveRows: RowBlock { static var count: Int { 5 } }
enum SixRows: RowBlock { static var count: Int { 6 } }
enum SevenRows: RowBlock { static var count: Int { 7 } }
enum EightRows: RowBlock { static var count: Int { 8 } }

/// Calls `body` for each group 0..<count of a block, written out one by one for blocks of 8 (the
/// K formats), so that each call sees its group as a constant (shifts, scale lanes and the
/// first-group case fold away).
@inline(__always)
func forEachGroup(_ count: Int, _ body: (Int) -> Void) {
    if count == 8 {
        body(0); body(1); body(2); body(3); body(4); body(5); body(6); body(7)
    } else {
        for g in 0..<count { body(g) }
    }
}

/// Integer dot products of quantized weight rows with `QuantizedActivations`.
enum IntegerDot {
    /// How far ahead of the weights being read the kernels ask for cache lines, in bytes
    /// (measured on 2-core machines: 2 KiB took SmolLM2 decode from 110 to 145 tokens/s; 8 KiB
    /// took the 1.5B from 88 to 74 ms per token and the 0.5B from 30 to 33 tokens/s). Every line
    /// of a block is asked for, not just its first: that took one-token forwards of the 1.5B from
    /// 58.3 to 46.8 ms, the 0.5B from 24.6 to 21.8 and SmolLM2 from 7.8 to 7.0 (one run).
    static let prefetchDistance = 8192

    /// Kernels over up to this many activation rows prefetch their weights into the level-2
    /// cache only, blocks of 8 into level 1 (measured on the 2-core EPYC: level 2 took
    /// one-token decoding of the 1.5B from 38–39 to 29–35 ms and of SmolLM2 from 100–128 to
    /// 137–153 tokens/s, a forward of 4 tokens from 58–59 to 50–53 ms and one of 5 from 60–65 to
    /// 54–55 ms; 6 and 7 rows gain a little, 8 rows lost up to 10%).
    static let prefetchToL2Rows = 7

    /// Dots of activation rows `firstRow ..< firstRow + R.count` with the weight row at `weights`
    /// (`blocks` blocks of format `F`), returned in the first `R.count` lanes.
    @inline(__always)
    static func dot<F: IntegerDotFormat, R: RowBlock>(_ format: F.Type, _ rows: R.Type, path: KernelPath, weights: UnsafeRawPointer,
                                                      blocks: Int, activations: QuantizedRows, firstRow: Int) -> SIMD8<Float> {
        #if canImport(BraidAVX2)
        if path == .avx2 {
            return dotAVX2(format, rows, weights: weights, blocks: blocks, activations: activations, firstRow: firstRow)
        }
        #endif
        return dotPortable(format, weights: weights, blocks: blocks, activations: activations, firstRow: firstRow, rowCount: R.count)
    }

    /// Asks for every cache line of the block `prefetchDistance` bytes ahead of `block`, for a
    /// kernel over `rows` activation rows: into the level-2 cache only up to `prefetchToL2Rows`
    /// rows, into level 1 beyond.
    @inline(__always)
    static func prefetchBlock(_ block: UnsafeRawPointer, bytes: Int, rows: Int) {
        let toL2 = rows <= prefetchToL2Rows
        var offset = 0
        while offset < bytes {
            if toL2 {
                braid_prefetch_l2(block + Self.prefetchDistance + offset)
            } else {
                braid_prefetch(block + Self.prefetchDistance + offset)
            }
            offset &+= 64
        }
    }

    /// Whether group `g` of a block closes an integer sum (then it is converted and cleared).
    @inline(__always)
    private static func closesIntegerSum<F: IntegerDotFormat>(_: F.Type, _ g: Int) -> Bool {
        (g + 1) % F.groupsPerIntegerSum == 0
    }

    /// The portable kernel: plain loops over Int16 that the compiler vectorizes for the target
    /// (SSE2 `pmaddwd`, NEON `smlal`). Each group is unpacked once into a small buffer and then
    /// multiplied with every row; a block's integer sums are kept exact in Int64.
    @inline(__always)
    static func dotPortable<F: IntegerDotFormat>(_: F.Type, weights: UnsafeRawPointer, blocks: Int,
                                                 activations a: QuantizedRows, firstRow: Int, rowCount: Int) -> SIMD8<Float> {
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: QuantizedActivations.groupSize) { buffer in
            let q = buffer.baseAddress!
            var totals = SIMD8<Float>(), offsets = SIMD8<Float>(), spanTotals = SIMD8<Float>()
            for b in 0..<blocks {
                let block = weights + b * F.blockBytes
                let weightScales = F.blockScales(block)
                let first = a.index(group: b * F.groupsPerBlock, row: firstRow)
                var integers = SIMD8<Int64>(), partials = SIMD8<Float>()
                for g in 0..<F.groupsPerBlock {
                    let group = b * F.groupsPerBlock + g
                    F.values(block, group: g, scales: weightScales, into: q)
                    for r in 0..<rowCount {
                        let index = a.index(group: group, row: firstRow + r)
                        let x = a.values + index * QuantizedActivations.groupSize
                        // Two sums of 16: each fits Int32 even for Q6_K (|q| ≤ 4096, |x| ≤ 32767).
                        var low: Int32 = 0, high: Int32 = 0
                        for i in 0..<16 { low &+= Int32(q[i]) &* Int32(x[i]) }
                        for i in 16..<32 { high &+= Int32(q[i]) &* Int32(x[i]) }
                        integers[r] += Int64(low) + Int64(high)
                        if F.hasOffset { offsets[r] += weightScales.offsets[g] * a.sums[index] }
                    }
                    if closesIntegerSum(F.self, g) {
                        for r in 0..<rowCount { partials[r] += Float(integers[r]) }
                        integers = SIMD8()
                    }
                }
                if F.groupsPerBlock == 1 {
                    // One group per block: the weight scale per block, the activation scale per span.
                    for r in 0..<rowCount { spanTotals[r] += partials[r] * weightScales.scale }
                    if (b + 1) % a.groupsPerScale == 0 {
                        for r in 0..<rowCount { totals[r] += spanTotals[r] * a.scales[first + r] }
                        spanTotals = SIMD8()
                    }
                    continue
                }
                for r in 0..<rowCount { totals[r] += partials[r] * (weightScales.scale * a.scales[first + r]) }
            }
            return totals + offsets
        }
    }

    #if canImport(BraidAVX2)
    /// The sum of 8 lanes in the order of the eight-row kernel's tree, ((0+1)+(2+3))+((4+5)+(6+7)),
    /// so that a row gives the same bits whichever kernel and batch size computed it.
    @inline(__always)
    private static func horizontalSum(_ v: __m256) -> Float {
        let pairs = _mm256_hadd_ps(v, v), quads = _mm256_hadd_ps(pairs, pairs)
        return quads[0] + quads[4]
    }

    #if canImport(BraidAVX512)
    /// One row's Int32 accumulator: 16 lanes, folded to 8 when converted.
    typealias IntegerSums = __m512i
    /// A group's weights as the kernels multiply them: one 512-bit register of 32 int16.
    typealias GroupWeights = __m512i

    @inline(__always)
    private static func groupWeights<F: IntegerDotFormat>(_: F.Type, _ block: UnsafeRawPointer, group: Int,
                                                          scales: WeightScales) -> GroupWeights {
        F.valuesAVX512(block, group: group, scales: scales)
    }

    @inline(__always)
    private static var noSums: IntegerSums { _mm512_setzero_si512() }

    /// One group's integer dot (`x`: the group's 32 activations), opening a sum: one vpmaddwd.
    @inline(__always)
    private static func product(_ w: GroupWeights, _ x: UnsafeRawPointer) -> IntegerSums {
        _mm512_madd_epi16(w, _mm512_loadu_si512(x))
    }

    /// One group's integer dot added to `sums`: one vpdpwssd (VNNI builds) or a vpmaddwd and an add.
    @inline(__always)
    private static func accumulate(_ w: GroupWeights, _ x: UnsafeRawPointer, into sums: IntegerSums) -> IntegerSums {
        #if canImport(BraidVNNI)
        braid_dpwssd(sums, w, x)
        #else
        _mm512_add_epi32(sums, _mm512_madd_epi16(w, _mm512_loadu_si512(x)))
        #endif
    }

    @inline(__always)
    private static func folded(_ sums: IntegerSums) -> __m256i { braid_fold(sums) }

    /// A row's Float accumulator for formats of one group per block: all 16 lanes of each
    /// block's integer sum, converted and scaled without folding, folded once at the end.
    typealias WideTotals = __m512

    @inline(__always)
    private static var noWideTotals: WideTotals { _mm512_setzero_ps() }

    @inline(__always)
    private static func wideTotal(_ sums: IntegerSums, scale: Float, into acc: WideTotals) -> WideTotals {
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_set1_ps(scale), acc)
    }

    @inline(__always)
    private static func scaledWide(_ totals: WideTotals, scale: Float, into acc: WideTotals) -> WideTotals {
        _mm512_fmadd_ps(totals, _mm512_set1_ps(scale), acc)
    }

    @inline(__always)
    private static func foldedWide(_ totals: WideTotals) -> __m256 { braid_fold_ps(totals) }
    #else
    /// One row's two Int32 accumulators: the products of a group's first and second 16 values.
    typealias IntegerSums = (low: __m256i, high: __m256i)
    /// A group's weights as the kernels multiply them: values 0…15 and 16…31.
    typealias GroupWeights = (__m256i, __m256i)

    @inline(__always)
    private static func groupWeights<F: IntegerDotFormat>(_: F.Type, _ block: UnsafeRawPointer, group: Int,
                                                          scales: WeightScales) -> GroupWeights {
        F.valuesAVX2(block, group: group, scales: scales)
    }

    @inline(__always)
    private static var noSums: IntegerSums { (_mm256_setzero_si256(), _mm256_setzero_si256()) }

    /// One group's integer dot (`x`: the group's 32 activations), opening a sum: a vpmaddwd per half.
    @inline(__always)
    private static func product(_ w: GroupWeights, _ x: UnsafeRawPointer) -> IntegerSums {
        let x0 = _mm256_loadu_si256(x.assumingMemoryBound(to: __m256i.self))
        let x1 = _mm256_loadu_si256((x + 32).assumingMemoryBound(to: __m256i.self))
        return (_mm256_madd_epi16(w.0, x0), _mm256_madd_epi16(w.1, x1))
    }

    /// One group's integer dot added to `sums`: a vpmaddwd and an add per half.
    @inline(__always)
    private static func accumulate(_ w: GroupWeights, _ x: UnsafeRawPointer, into sums: IntegerSums) -> IntegerSums {
        let x0 = _mm256_loadu_si256(x.assumingMemoryBound(to: __m256i.self))
        let x1 = _mm256_loadu_si256((x + 32).assumingMemoryBound(to: __m256i.self))
        return (_mm256_add_epi32(sums.low, _mm256_madd_epi16(w.0, x0)), _mm256_add_epi32(sums.high, _mm256_madd_epi16(w.1, x1)))
    }

    @inline(__always)
    private static func folded(_ sums: IntegerSums) -> __m256i { _mm256_add_epi32(sums.low, sums.high) }

    /// A row's Float accumulator for formats of one group per block (the same as the others here).
    typealias WideTotals = __m256

    @inline(__always)
    private static var noWideTotals: WideTotals { _mm256_setzero_ps() }

    @inline(__always)
    private static func wideTotal(_ sums: IntegerSums, scale: Float, into acc: WideTotals) -> WideTotals {
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(folded(sums)), _mm256_set1_ps(scale), acc)
    }

    @inline(__always)
    private static func scaledWide(_ totals: WideTotals, scale: Float, into acc: WideTotals) -> WideTotals {
        _mm256_fmadd_ps(totals, _mm256_set1_ps(scale), acc)
    }

    @inline(__always)
    private static func foldedWide(_ totals: WideTotals) -> __m256 { totals }
    #endif

    /// One group's integer dot, opening an integer sum (`opening`) or added to `sums`.
    @inline(__always)
    private static func accumulate(_ w: GroupWeights, _ x: UnsafeRawPointer, into sums: IntegerSums, opening: Bool) -> IntegerSums {
        opening ? product(w, x) : accumulate(w, x, into: sums)
    }

    /// An integer sum converted and added to a block's Float partial (the block's first sum
    /// starts it): the same operations in every kernel, so that a row gives the same bits
    /// whichever kernel computed it.
    @inline(__always)
    private static func convert(_ sums: IntegerSums, into partial: __m256, first: Bool) -> __m256 {
        let sum = _mm256_cvtepi32_ps(folded(sums))
        return first ? sum : _mm256_add_ps(partial, sum)
    }

    /// A block's contribution to one row's accumulator: its integer partial times the weight and
    /// activation scales, then, for blocks of eight groups with offsets (Q4_K/Q5_K), the group
    /// offsets times the row's eight group sums, lane by lane (the lanes are summed at the end
    /// with the rest). The same operations in every kernel, so a row's bits do not depend on which
    /// kernel computed it.
    @inline(__always)
    private static func blockTotal<F: IntegerDotFormat>(_: F.Type, _ partial: __m256, scale: Float, _ weightScales: WeightScales,
                                                         _ a: QuantizedRows, row: Int, block: Int, into acc: __m256) -> __m256 {
        let scaled = _mm256_fmadd_ps(partial, _mm256_set1_ps(scale), acc)
        guard F.hasOffset && F.groupsPerBlock == 8 else { return scaled }
        let sums = a.eightSums(row: row, group: block &* 8)
        return _mm256_fmadd_ps(unsafeBitCast(weightScales.offsets, to: __m256.self), unsafeBitCast(sums, to: __m256.self), scaled)
    }

    /// Up to eight activation rows against one weight row: each group is unpacked once, then
    /// multiplied with every row (eight accumulators stay in registers; the rows of a group are
    /// side by side in the activations, at fixed offsets from one pointer).
    @inline(__always)
    static func dotAVX2<F: IntegerDotFormat, R: RowBlock>(_ format: F.Type, _ rows: R.Type, weights: UnsafeRawPointer, blocks: Int,
                                                          activations a: QuantizedRows, firstRow: Int) -> SIMD8<Float> {
        let rowCount = R.count  // a constant in each specialization: the branches below fold away
        var a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        // Formats of one group per block: each row's total (w) and its current span's (s).
        var w0 = noWideTotals, w1 = w0, w2 = w0, w3 = w0, w4 = w0, w5 = w0, w6 = w0, w7 = w0
        var s0 = noWideTotals, s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0
        var spanLeft = a.groupsPerScale  // blocks left in the span (formats of one group per block)
        var offsets = SIMD8<Float>()
        let groupStride = a.rows &* QuantizedActivations.groupSize &* 2  // bytes from a group's rows to the next group's
        for b in 0..<blocks {
            let block = weights + b &* F.blockBytes
            prefetchBlock(block, bytes: F.blockBytes, rows: rowCount)
            let weightScales = F.blockScales(block)
            let first = a.index(group: b &* F.groupsPerBlock, row: firstRow)
            let zero = noSums
            var i0 = zero, i1 = zero, i2 = zero, i3 = zero, i4 = zero, i5 = zero, i6 = zero, i7 = zero
            var p0 = _mm256_setzero_ps(), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0, p6 = p0, p7 = p0
            let blockActivations = UnsafeRawPointer(a.values + first &* QuantizedActivations.groupSize)
            forEachGroup(F.groupsPerBlock) { g in
                let index = first &+ g &* a.rows
                let x = blockActivations + g &* groupStride
                let w = groupWeights(F.self, block, group: g, scales: weightScales)
                let opensSum = g % F.groupsPerIntegerSum == 0
                i0 = accumulate(w, x, into: i0, opening: opensSum)
                if rowCount > 1 { i1 = accumulate(w, x + 64, into: i1, opening: opensSum) }
                if rowCount > 2 { i2 = accumulate(w, x + 128, into: i2, opening: opensSum) }
                if rowCount > 3 { i3 = accumulate(w, x + 192, into: i3, opening: opensSum) }
                if rowCount > 4 { i4 = accumulate(w, x + 256, into: i4, opening: opensSum) }
                if rowCount > 5 { i5 = accumulate(w, x + 320, into: i5, opening: opensSum) }
                if rowCount > 6 { i6 = accumulate(w, x + 384, into: i6, opening: opensSum) }
                if rowCount > 7 { i7 = accumulate(w, x + 448, into: i7, opening: opensSum) }
                if F.hasOffset && F.groupsPerBlock == 1 {
                    // The group sums of eight rows side by side (padded past the last row): one
                    // multiply-add for all of them; lanes past rowCount are never read.
                    offsets += weightScales.offsets[g] * UnsafeRawPointer(a.sums + index).loadUnaligned(as: SIMD8<Float>.self)
                }
                if F.groupsPerBlock > 1 && closesIntegerSum(F.self, g) {
                    let opening = g < F.groupsPerIntegerSum  // the block's first sum starts its partial
                    p0 = convert(i0, into: p0, first: opening)
                    if rowCount > 1 { p1 = convert(i1, into: p1, first: opening) }
                    if rowCount > 2 { p2 = convert(i2, into: p2, first: opening) }
                    if rowCount > 3 { p3 = convert(i3, into: p3, first: opening) }
                    if rowCount > 4 { p4 = convert(i4, into: p4, first: opening) }
                    if rowCount > 5 { p5 = convert(i5, into: p5, first: opening) }
                    if rowCount > 6 { p6 = convert(i6, into: p6, first: opening) }
                    if rowCount > 7 { p7 = convert(i7, into: p7, first: opening) }
                }
            }
            let xScales = a.scales + first
            if F.groupsPerBlock == 1 {
                // The block's sums times its weight scale into the span's totals; at the span's
                // end, those times each row's activation scale into the rows' totals.
                let scale = weightScales.scale
                s0 = wideTotal(i0, scale: scale, into: s0)
                if rowCount > 1 { s1 = wideTotal(i1, scale: scale, into: s1) }
                if rowCount > 2 { s2 = wideTotal(i2, scale: scale, into: s2) }
                if rowCount > 3 { s3 = wideTotal(i3, scale: scale, into: s3) }
                if rowCount > 4 { s4 = wideTotal(i4, scale: scale, into: s4) }
                if rowCount > 5 { s5 = wideTotal(i5, scale: scale, into: s5) }
                if rowCount > 6 { s6 = wideTotal(i6, scale: scale, into: s6) }
                if rowCount > 7 { s7 = wideTotal(i7, scale: scale, into: s7) }
                spanLeft &-= 1
                if spanLeft == 0 {
                    spanLeft = a.groupsPerScale
                    w0 = scaledWide(s0, scale: xScales[0], into: w0)
                    if rowCount > 1 { w1 = scaledWide(s1, scale: xScales[1], into: w1) }
                    if rowCount > 2 { w2 = scaledWide(s2, scale: xScales[2], into: w2) }
                    if rowCount > 3 { w3 = scaledWide(s3, scale: xScales[3], into: w3) }
                    if rowCount > 4 { w4 = scaledWide(s4, scale: xScales[4], into: w4) }
                    if rowCount > 5 { w5 = scaledWide(s5, scale: xScales[5], into: w5) }
                    if rowCount > 6 { w6 = scaledWide(s6, scale: xScales[6], into: w6) }
                    if rowCount > 7 { w7 = scaledWide(s7, scale: xScales[7], into: w7) }
                    let none = noWideTotals
                    (s0, s1, s2, s3, s4, s5, s6, s7) = (none, none, none, none, none, none, none, none)
                }
                continue
            }
            @inline(__always) func scaled(_ partial: __m256, _ r: Int, _ acc: __m256) -> __m256 {
                blockTotal(F.self, partial, scale: weightScales.scale * xScales[r], weightScales, a, row: firstRow &+ r, block: b, into: acc)
            }
            a0 = scaled(p0, 0, a0)
            if rowCount > 1 { a1 = scaled(p1, 1, a1) }
            if rowCount > 2 { a2 = scaled(p2, 2, a2) }
            if rowCount > 3 { a3 = scaled(p3, 3, a3) }
            if rowCount > 4 { a4 = scaled(p4, 4, a4) }
            if rowCount > 5 { a5 = scaled(p5, 5, a5) }
            if rowCount > 6 { a6 = scaled(p6, 6, a6) }
            if rowCount > 7 { a7 = scaled(p7, 7, a7) }
        }
        if F.groupsPerBlock == 1 {
            (a0, a1, a2, a3) = (foldedWide(w0), foldedWide(w1), foldedWide(w2), foldedWide(w3))
            (a4, a5, a6, a7) = (foldedWide(w4), foldedWide(w5), foldedWide(w6), foldedWide(w7))
        }
        // The accumulators' horizontal sums, side by side: a tree of pairwise adds for five to
        // eight (the unused accumulators stay zero and each row's sum is its own), single sums
        // for fewer (unused accumulators are never summed).
        var sums = SIMD8<Float>()
        if rowCount > 4 {
            let h0123 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3))
            let h4567 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7))
            sums = SIMD8(lowHalf: h0123.lowHalf + h0123.highHalf, highHalf: h4567.lowHalf + h4567.highHalf)
        } else {
            sums[0] = horizontalSum(a0)
            if rowCount > 1 { sums[1] = horizontalSum(a1) }
            if rowCount > 2 { sums[2] = horizontalSum(a2) }
            if rowCount > 3 { sums[3] = horizontalSum(a3) }
        }
        return sums + offsets
    }

    /// One activation row against two weight rows at once: the two rows' chains are independent,
    /// so each hides the other's latency, and the activations are loaded once.
    @inline(__always)
    static func dotTwoWeightRowsAVX2<F: IntegerDotFormat>(_: F.Type, weights first: UnsafeRawPointer, _ second: UnsafeRawPointer,
                                                          blocks: Int, activations a: QuantizedRows, row: Int) -> (Float, Float) {
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), wide0 = noWideTotals, wide1 = noWideTotals
        var span0 = noWideTotals, span1 = noWideTotals, spanLeft = a.groupsPerScale  // as in `dotAVX2`
        var offset0: Float = 0, offset1: Float = 0
        for b in 0..<blocks {
            let blockOffset = b &* F.blockBytes
            let block0 = first + blockOffset, block1 = second + blockOffset
            prefetchBlock(block0, bytes: F.blockBytes, rows: 1)
            prefetchBlock(block1, bytes: F.blockBytes, rows: 1)
            let scales0 = F.blockScales(block0), scales1 = F.blockScales(block1)
            let zero = noSums
            var i0 = zero, i1 = zero
            var p0 = _mm256_setzero_ps(), p1 = p0
            forEachGroup(F.groupsPerBlock) { g in
                let index = a.index(group: b &* F.groupsPerBlock &+ g, row: row)
                let x = UnsafeRawPointer(a.values + index &* QuantizedActivations.groupSize)
                let opensSum = g % F.groupsPerIntegerSum == 0
                i0 = accumulate(groupWeights(F.self, block0, group: g, scales: scales0), x, into: i0, opening: opensSum)
                i1 = accumulate(groupWeights(F.self, block1, group: g, scales: scales1), x, into: i1, opening: opensSum)
                if F.hasOffset && F.groupsPerBlock == 1 {
                    offset0 += scales0.offsets[g] * a.sums[index]
                    offset1 += scales1.offsets[g] * a.sums[index]
                }
                if F.groupsPerBlock > 1 && closesIntegerSum(F.self, g) {
                    let opening = g < F.groupsPerIntegerSum  // the block's first sum starts its partial
                    p0 = convert(i0, into: p0, first: opening)
                    p1 = convert(i1, into: p1, first: opening)
                }
            }
            let xScale = a.scales[a.index(group: b &* F.groupsPerBlock, row: row)]
            if F.groupsPerBlock == 1 {
                span0 = wideTotal(i0, scale: scales0.scale, into: span0)
                span1 = wideTotal(i1, scale: scales1.scale, into: span1)
                spanLeft &-= 1
                if spanLeft == 0 {
                    spanLeft = a.groupsPerScale
                    wide0 = scaledWide(span0, scale: xScale, into: wide0)
                    wide1 = scaledWide(span1, scale: xScale, into: wide1)
                    (span0, span1) = (noWideTotals, noWideTotals)
                }
                continue
            }
            acc0 = blockTotal(F.self, p0, scale: scales0.scale * xScale, scales0, a, row: row, block: b, into: acc0)
            acc1 = blockTotal(F.self, p1, scale: scales1.scale * xScale, scales1, a, row: row, block: b, into: acc1)
        }
        if F.groupsPerBlock == 1 { (acc0, acc1) = (foldedWide(wide0), foldedWide(wide1)) }
        return (horizontalSum(acc0) + offset0, horizontalSum(acc1) + offset1)
    }
    #endif
}
