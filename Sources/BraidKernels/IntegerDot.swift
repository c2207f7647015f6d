// The small-batch matrix kernel: up to eight activation rows against one quantized weight row,
// reading the weights once. Per block of groups of 32 (one weight scale per block):
//
//   Σ wᵢ·xᵢ ≈ w_scale · Σ_groups x_scale · Σ qᵢ·x̂ᵢ  +  Σ_groups w_offset · Σ xᵢ
//
// with the integer dot exact in Int32 (AVX2: vpmaddwd pairs). Groups are unpacked once and used
// for every row, so a batch of rows costs one pass over the weights plus the arithmetic per row:
// per group and row two multiply-adds of integers, a conversion and one Float multiply-add.
import BraidCPU
#if canImport(BraidAVX2)
import _Builtin_intrinsics.intel
#endif

/// How many activation rows a kernel call takes, as a type, so that each count gets its own
/// specialized kernel with no run-time branches on it.
protocol RowBlock {
    static var count: Int { get }
}

enum OneRow: RowBlock { static var count: Int { 1 } }
enum TwoRows: RowBlock { static var count: Int { 2 } }
enum FourRows: RowBlock { static var count: Int { 4 } }
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
    /// How far ahead of the weights being read the single-row kernel asks for cache lines, in
    /// bytes (measured: SmolLM2 decode 110 → 145 tokens/s with it).
    static let prefetchDistance = 2048

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

    /// The portable kernel: plain loops over Int16 that the compiler vectorizes for the target
    /// (SSE2 `pmaddwd`, NEON `smlal`). Each group is unpacked once into a small buffer and then
    /// multiplied with every row.
    @inline(__always)
    static func dotPortable<F: IntegerDotFormat>(_: F.Type, weights: UnsafeRawPointer, blocks: Int,
                                                 activations a: QuantizedRows, firstRow: Int, rowCount: Int) -> SIMD8<Float> {
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: QuantizedActivations.groupSize) { buffer in
            let q = buffer.baseAddress!
            var totals = SIMD8<Float>(), offsets = SIMD8<Float>()
            for b in 0..<blocks {
                let block = weights + b * F.blockBytes
                let weightScales = F.blockScales(block)
                var blockTotals = SIMD8<Float>()
                for g in 0..<F.groupsPerBlock {
                    let group = b * F.groupsPerBlock + g
                    F.values(block, group: g, into: q)
                    for r in 0..<rowCount {
                        let index = a.index(group: group, row: firstRow + r)
                        let x = a.values + index * QuantizedActivations.groupSize
                        // Two sums of 16: each fits Int32 even for Q6_K (|q| ≤ 4096, |x| ≤ 32767).
                        var low: Int32 = 0, high: Int32 = 0
                        for i in 0..<16 { low &+= Int32(q[i]) &* Int32(x[i]) }
                        for i in 16..<32 { high &+= Int32(q[i]) &* Int32(x[i]) }
                        blockTotals[r] += (Float(low) + Float(high)) * a.scales[index]
                        if F.hasOffset { offsets[r] += weightScales.offsets[g] * a.sums[index] }
                    }
                }
                totals += blockTotals * weightScales.scale
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

    /// A group's product added to a block's running sum with the group's activation scale (the
    /// first group of a block starts the sum): the same operations in every kernel, so that a row
    /// gives the same bits whichever computed it.
    @inline(__always)
    private static func groupStep(_ product: __m256, scale: Float, _ sum: __m256, first: Bool) -> __m256 {
        first ? _mm256_mul_ps(product, _mm256_set1_ps(scale)) : _mm256_fmadd_ps(product, _mm256_set1_ps(scale), sum)
    }

    /// One group's integer dot with AVX2 (`x`: the group's 32 activations), as Float lanes
    /// (8 partial sums).
    @inline(__always)
    private static func productAVX2(_ w: (__m256i, __m256i), _ x: UnsafeRawPointer) -> __m256 {
        let x0 = _mm256_loadu_si256(x.assumingMemoryBound(to: __m256i.self))
        let x1 = _mm256_loadu_si256((x + 32).assumingMemoryBound(to: __m256i.self))
        return _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(w.0, x0), _mm256_madd_epi16(w.1, x1)))
    }

    /// Up to eight activation rows against one weight row: each group is unpacked once, then
    /// multiplied with every row (eight accumulators stay in registers; the rows of a group are
    /// side by side in the activations, at fixed offsets from one pointer).
    @inline(__always)
    static func dotAVX2<F: IntegerDotFormat, R: RowBlock>(_ format: F.Type, _ rows: R.Type, weights: UnsafeRawPointer, blocks: Int,
                                                          activations a: QuantizedRows, firstRow: Int) -> SIMD8<Float> {
        let rowCount = R.count  // a constant in each specialization: the branches below fold away
        var a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        var offsets = SIMD8<Float>()
        for b in 0..<blocks {
            let block = weights + b &* F.blockBytes
            let weightScales = F.blockScales(block)
            // This block's sums of every row, in units of the block's scale.
            var p0 = _mm256_setzero_ps(), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0, p6 = p0, p7 = p0
            forEachGroup(F.groupsPerBlock) { g in
                let first = a.index(group: b &* F.groupsPerBlock &+ g, row: firstRow)
                let x = UnsafeRawPointer(a.values + first &* QuantizedActivations.groupSize)
                let xScales = a.scales + first
                let w = F.valuesAVX2(block, group: g)
                @inline(__always) func row(_ r: Int, _ sum: __m256) -> __m256 {
                    groupStep(productAVX2(w, x + 64 &* r), scale: xScales[r], sum, first: g == 0)
                }
                p0 = row(0, p0)
                if rowCount > 1 { p1 = row(1, p1) }
                if rowCount > 2 { p2 = row(2, p2); p3 = row(3, p3) }
                if rowCount > 4 { p4 = row(4, p4); p5 = row(5, p5); p6 = row(6, p6); p7 = row(7, p7) }
                if F.hasOffset {
                    // The group sums of eight rows side by side (padded past the last row): one
                    // multiply-add for all of them; lanes past rowCount are never read.
                    offsets += weightScales.offsets[g] * UnsafeRawPointer(a.sums + first).loadUnaligned(as: SIMD8<Float>.self)
                }
            }
            let scale = _mm256_set1_ps(weightScales.scale)
            a0 = _mm256_fmadd_ps(p0, scale, a0)
            if rowCount > 1 { a1 = _mm256_fmadd_ps(p1, scale, a1) }
            if rowCount > 2 { a2 = _mm256_fmadd_ps(p2, scale, a2); a3 = _mm256_fmadd_ps(p3, scale, a3) }
            if rowCount > 4 {
                a4 = _mm256_fmadd_ps(p4, scale, a4); a5 = _mm256_fmadd_ps(p5, scale, a5)
                a6 = _mm256_fmadd_ps(p6, scale, a6); a7 = _mm256_fmadd_ps(p7, scale, a7)
            }
        }
        // The accumulators' horizontal sums, side by side: a tree of pairwise adds for eight,
        // single sums for fewer (unused accumulators are never summed).
        var sums = SIMD8<Float>()
        if rowCount == 8 {
            let h0123 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3))
            let h4567 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7))
            sums = SIMD8(lowHalf: h0123.lowHalf + h0123.highHalf, highHalf: h4567.lowHalf + h4567.highHalf)
        } else {
            sums[0] = horizontalSum(a0)
            if rowCount > 1 { sums[1] = horizontalSum(a1) }
            if rowCount > 2 { sums[2] = horizontalSum(a2); sums[3] = horizontalSum(a3) }
        }
        return sums + offsets
    }

    /// One activation row against two weight rows at once: the two rows' chains of multiply-adds
    /// are independent, so each hides the other's latency, and the activations are loaded once.
    @inline(__always)
    static func dotTwoWeightRowsAVX2<F: IntegerDotFormat>(_: F.Type, weights first: UnsafeRawPointer, _ second: UnsafeRawPointer,
                                                          blocks: Int, activations a: QuantizedRows, row: Int) -> (Float, Float) {
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
        var offset0: Float = 0, offset1: Float = 0
        for b in 0..<blocks {
            let blockOffset = b &* F.blockBytes
            let block0 = first + blockOffset, block1 = second + blockOffset
            braid_prefetch(block0 + Self.prefetchDistance)
            braid_prefetch(block1 + Self.prefetchDistance)
            let scales0 = F.blockScales(block0), scales1 = F.blockScales(block1)
            var sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps()
            forEachGroup(F.groupsPerBlock) { g in
                let index = a.index(group: b &* F.groupsPerBlock &+ g, row: row)
                let x = UnsafeRawPointer(a.values + index &* QuantizedActivations.groupSize)
                let p0 = productAVX2(F.valuesAVX2(block0, group: g), x), p1 = productAVX2(F.valuesAVX2(block1, group: g), x)
                sum0 = groupStep(p0, scale: a.scales[index], sum0, first: g == 0)
                sum1 = groupStep(p1, scale: a.scales[index], sum1, first: g == 0)
                if F.hasOffset {
                    offset0 += scales0.offsets[g] * a.sums[index]
                    offset1 += scales1.offsets[g] * a.sums[index]
                }
            }
            acc0 = _mm256_fmadd_ps(sum0, _mm256_set1_ps(scales0.scale), acc0)
            acc1 = _mm256_fmadd_ps(sum1, _mm256_set1_ps(scales1.scale), acc1)
        }
        return (horizontalSum(acc0) + offset0, horizontalSum(acc1) + offset1)
    }
    #endif
}
