// The small-batch matrix kernel: up to eight activation rows against one quantized weight row,
// reading the weights once. Per group of 32:
//
//   Σ wᵢ·xᵢ ≈ (w_scale·x_scale) · Σ qᵢ·x̂ᵢ  +  w_offset · Σ xᵢ
//
// with the integer dot exact in Int32 (AVX2: vpmaddwd pairs). Groups are unpacked once and used
// for every row, so a batch of rows costs one pass over the weights plus the arithmetic per row.
import BraidCPU
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Integer dot products of quantized weight rows with `QuantizedActivations`.
enum IntegerDot {
    /// Most activation rows one pass handles (AVX2 has 16 vector registers: 8 accumulators, the
    /// weights and temporaries).
    static let rowsPerPass = 8
    /// How far ahead of the weights being read the kernels ask for cache lines, in bytes.
    static let prefetchDistance = 2048

    /// Dots of activation rows `firstRow ..< firstRow + rowCount` (1…8) with the weight row at
    /// `weights` (`blocks` blocks of format `F`), returned in the first `rowCount` lanes.
    @inline(__always)
    static func dot<F: IntegerDotFormat>(_ format: F.Type, path: KernelPath, weights: UnsafeRawPointer, blocks: Int,
                                         activations: QuantizedRows, firstRow: Int, rowCount: Int) -> SIMD8<Float> {
        #if arch(x86_64)
        if path == .avx2 {
            return dotAVX2(format, weights: weights, blocks: blocks, activations: activations, firstRow: firstRow, rowCount: rowCount)
        }
        #endif
        return dotPortable(format, weights: weights, blocks: blocks, activations: activations, firstRow: firstRow, rowCount: rowCount)
    }

    @inline(__always)
    static func dotPortable<F: IntegerDotFormat>(_: F.Type, weights: UnsafeRawPointer, blocks: Int,
                                                 activations a: QuantizedRows, firstRow: Int, rowCount: Int) -> SIMD8<Float> {
        let columns = a.columns, groupsPerRow = a.groupsPerRow
        var result = SIMD8<Float>()
        for r in 0..<rowCount {
            let row = firstRow + r
            let values = UnsafeRawPointer(a.values + row * columns)
            let scales = a.scales + row * groupsPerRow, sums = a.sums + row * groupsPerRow
            var total: Float = 0, offsets: Float = 0
            for b in 0..<blocks {
                let block = weights + b * F.blockBytes
                for g in 0..<F.groupsPerBlock {
                    let group = b * F.groupsPerBlock + g
                    let w = SIMD32<Int32>(truncatingIfNeeded: F.values(block, group: g))
                    let x = SIMD32<Int32>(truncatingIfNeeded: values.load(fromByteOffset: 64 * group, as: SIMD32<Int16>.self))
                    let (scale, offset) = F.scaleAndOffset(block, group: g)
                    total += Float(sum(w &* x)) * (scale * scales[group])
                    if F.hasOffset { offsets += offset * sums[group] }
                }
            }
            result[r] = total + offsets
        }
        return result
    }

    #if arch(x86_64)
    /// One group's integer dot with AVX2, as Float lanes (8 partial sums).
    @inline(__always)
    private static func productAVX2(_ w: (__m256i, __m256i), _ x: UnsafeRawPointer, _ group: Int) -> __m256 {
        let x0 = _mm256_loadu_si256((x + 64 &* group).assumingMemoryBound(to: __m256i.self))
        let x1 = _mm256_loadu_si256((x + (64 &* group &+ 32)).assumingMemoryBound(to: __m256i.self))
        return _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(w.0, x0), _mm256_madd_epi16(w.1, x1)))
    }

    @inline(__always)
    static func dotAVX2<F: IntegerDotFormat>(_ format: F.Type, weights: UnsafeRawPointer, blocks: Int,
                                             activations a: QuantizedRows, firstRow: Int, rowCount: Int) -> SIMD8<Float> {
        let columns = a.columns, groupsPerRow = a.groupsPerRow
        if rowCount == 1 {
            var result = SIMD8<Float>()
            result[0] = dotOneRowAVX2(format, weights: weights, groups: blocks &* F.groupsPerBlock,
                                      x: UnsafeRawPointer(a.values + firstRow * columns),
                                      scales: a.scales + firstRow * groupsPerRow, sums: a.sums + firstRow * groupsPerRow)
            return result
        }
        // Row r's activations, scales and sums; rows past rowCount alias the last one and are never computed.
        func x(_ r: Int) -> UnsafeRawPointer { UnsafeRawPointer(a.values + (firstRow + min(r, rowCount - 1)) * columns) }
        func s(_ r: Int) -> UnsafePointer<Float> { a.scales + (firstRow + min(r, rowCount - 1)) * groupsPerRow }
        func u(_ r: Int) -> UnsafePointer<Float> { a.sums + (firstRow + min(r, rowCount - 1)) * groupsPerRow }
        let x0 = x(0), x1 = x(1), x2 = x(2), x3 = x(3), x4 = x(4), x5 = x(5), x6 = x(6), x7 = x(7)
        let s0 = s(0), s1 = s(1), s2 = s(2), s3 = s(3), s4 = s(4), s5 = s(5), s6 = s(6), s7 = s(7)
        let u0 = u(0), u1 = u(1), u2 = u(2), u3 = u(3), u4 = u(4), u5 = u(5), u6 = u(6), u7 = u(7)
        var a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        var offsets = SIMD8<Float>()
        for group in 0..<(blocks &* F.groupsPerBlock) {
            let block = weights + (group / F.groupsPerBlock) &* F.blockBytes, g = group % F.groupsPerBlock
            let w = F.valuesAVX2(block, group: g)
            let (scale, offset) = F.scaleAndOffset(block, group: g)
            @inline(__always) func row(_ x: UnsafeRawPointer, _ s: UnsafePointer<Float>, _ acc: inout __m256) {
                acc = _mm256_fmadd_ps(productAVX2(w, x, group), _mm256_set1_ps(scale * s[group]), acc)
            }
            row(x0, s0, &a0)
            row(x1, s1, &a1)
            if rowCount > 2 {
                row(x2, s2, &a2)
                row(x3, s3, &a3)
                if rowCount > 4 {
                    row(x4, s4, &a4)
                    row(x5, s5, &a5)
                    if rowCount > 6 {
                        row(x6, s6, &a6)
                        row(x7, s7, &a7)
                    }
                }
            }
            if F.hasOffset {
                // The group sums of all rows side by side: one multiply-add for every row.
                offsets += offset * SIMD8(u0[group], u1[group], u2[group], u3[group], u4[group], u5[group], u6[group], u7[group])
            }
        }
        return SIMD8(a0.sum(), a1.sum(), a2.sum(), a3.sum(), a4.sum(), a5.sum(), a6.sum(), a7.sum()) + offsets
    }

    /// One activation row against two weight rows at once: the two rows' chains of multiply-adds
    /// are independent, so each hides the other's latency, and the activations are loaded once.
    @inline(__always)
    static func dotTwoWeightRowsAVX2<F: IntegerDotFormat>(_: F.Type, weights first: UnsafeRawPointer, _ second: UnsafeRawPointer,
                                                          groups: Int, activations a: QuantizedRows, row: Int) -> (Float, Float) {
        let x = UnsafeRawPointer(a.values + row * a.columns)
        let scales = a.scales + row * a.groupsPerRow, sums = a.sums + row * a.groupsPerRow
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
        var offset0: Float = 0, offset1: Float = 0
        for group in 0..<groups {
            let blockOffset = (group / F.groupsPerBlock) &* F.blockBytes, g = group % F.groupsPerBlock
            if g == 0 {
                braid_prefetch(first + blockOffset + Self.prefetchDistance)
                braid_prefetch(second + blockOffset + Self.prefetchDistance)
            }
            let x0 = _mm256_loadu_si256((x + 64 &* group).assumingMemoryBound(to: __m256i.self))
            let x1 = _mm256_loadu_si256((x + (64 &* group &+ 32)).assumingMemoryBound(to: __m256i.self))
            let xScale = scales[group]
            let w0 = F.valuesAVX2(first + blockOffset, group: g), w1 = F.valuesAVX2(second + blockOffset, group: g)
            let (scale0, o0) = F.scaleAndOffset(first + blockOffset, group: g)
            let (scale1, o1) = F.scaleAndOffset(second + blockOffset, group: g)
            let p0 = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(w0.0, x0), _mm256_madd_epi16(w0.1, x1)))
            let p1 = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(w1.0, x0), _mm256_madd_epi16(w1.1, x1)))
            acc0 = _mm256_fmadd_ps(p0, _mm256_set1_ps(scale0 * xScale), acc0)
            acc1 = _mm256_fmadd_ps(p1, _mm256_set1_ps(scale1 * xScale), acc1)
            if F.hasOffset {
                offset0 += o0 * sums[group]
                offset1 += o1 * sums[group]
            }
        }
        return (acc0.sum() + offset0, acc1.sum() + offset1)
    }

    /// One activation row, one weight row: two accumulators (even and odd groups) so consecutive
    /// groups' multiply-adds do not wait on each other.
    @inline(__always)
    private static func dotOneRowAVX2<F: IntegerDotFormat>(_: F.Type, weights: UnsafeRawPointer, groups: Int, x: UnsafeRawPointer,
                                                           scales: UnsafePointer<Float>, sums: UnsafePointer<Float>) -> Float {
        var even = _mm256_setzero_ps(), odd = _mm256_setzero_ps()
        var evenOffset: Float = 0, oddOffset: Float = 0
        @inline(__always) func step(_ group: Int, _ acc: inout __m256, _ offsets: inout Float) {
            let block = weights + (group / F.groupsPerBlock) &* F.blockBytes, g = group % F.groupsPerBlock
            let (scale, offset) = F.scaleAndOffset(block, group: g)
            acc = _mm256_fmadd_ps(productAVX2(F.valuesAVX2(block, group: g), x, group), _mm256_set1_ps(scale * scales[group]), acc)
            if F.hasOffset { offsets += offset * sums[group] }
        }
        var group = 0
        while group &+ 1 < groups {
            step(group, &even, &evenOffset)
            step(group &+ 1, &odd, &oddOffset)
            group &+= 2
        }
        if group < groups { step(group, &even, &evenOffset) }
        return (even + odd).sum() + (evenOffset + oddOffset)
    }
    #endif

    /// Σ of 32 lanes (exact: the kernels' products are far from Int32's limits).
    @inline(__always)
    private static func sum(_ v: SIMD32<Int32>) -> Int32 {
        let v16 = v.lowHalf &+ v.highHalf, v8 = v16.lowHalf &+ v16.highHalf, v4 = v8.lowHalf &+ v8.highHalf
        return v4[0] &+ v4[1] &+ v4[2] &+ v4[3]
    }
}
