// The small-batch matrix kernel: up to eight activation rows against one quantized weight row,
// reading the weights once. Per group of 32:
//
//   Σ wᵢ·xᵢ ≈ (w_scale·x_scale) · Σ qᵢ·x̂ᵢ  +  w_offset · Σ xᵢ
//
// with the integer dot exact in Int32 (AVX2: vpmaddwd pairs). Groups are unpacked once and used
// for every row, so a batch of rows costs one pass over the weights plus the arithmetic per row.
import BraidCPU
#if canImport(BraidAVX2)
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
        #if canImport(BraidAVX2)
        if path == .avx2 {
            return dotAVX2(format, weights: weights, blocks: blocks, activations: activations, firstRow: firstRow, rowCount: rowCount)
        }
        #endif
        return dotPortable(format, weights: weights, blocks: blocks, activations: activations, firstRow: firstRow, rowCount: rowCount)
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
                for g in 0..<F.groupsPerBlock {
                    let group = b * F.groupsPerBlock + g
                    F.values(block, group: g, into: q)
                    for r in 0..<rowCount {
                        let row = firstRow + r
                        let x = a.values + row * a.columns + group * QuantizedActivations.groupSize
                        var dot: Int32 = 0
                        for i in 0..<QuantizedActivations.groupSize { dot &+= Int32(q[i]) &* Int32(x[i]) }
                        totals[r] += Float(dot) * (weightScales.scales[g] * a.scales[row * a.groupsPerRow + group])
                        if F.hasOffset { offsets[r] += weightScales.offsets[g] * a.sums[row * a.groupsPerRow + group] }
                    }
                }
            }
            return totals + offsets
        }
    }

    #if canImport(BraidAVX2)
    /// One group's integer dot with AVX2, as Float lanes (8 partial sums).
    @inline(__always)
    private static func productAVX2(_ w: (__m256i, __m256i), _ x: UnsafeRawPointer, _ group: Int) -> __m256 {
        let x0 = _mm256_loadu_si256((x + 64 &* group).assumingMemoryBound(to: __m256i.self))
        let x1 = _mm256_loadu_si256((x + (64 &* group &+ 32)).assumingMemoryBound(to: __m256i.self))
        return _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(w.0, x0), _mm256_madd_epi16(w.1, x1)))
    }

    /// Up to eight activation rows against one weight row: each group is unpacked once, then
    /// multiplied with every row (eight accumulators stay in registers).
    @inline(__always)
    static func dotAVX2<F: IntegerDotFormat>(_ format: F.Type, weights: UnsafeRawPointer, blocks: Int,
                                             activations a: QuantizedRows, firstRow: Int, rowCount: Int) -> SIMD8<Float> {
        let columns = a.columns, groupsPerRow = a.groupsPerRow
        // Row r's activations, scales and sums; rows past rowCount alias the last one and are never computed.
        func x(_ r: Int) -> UnsafeRawPointer { UnsafeRawPointer(a.values + (firstRow + min(r, rowCount - 1)) * columns) }
        func s(_ r: Int) -> UnsafePointer<Float> { a.scales + (firstRow + min(r, rowCount - 1)) * groupsPerRow }
        func u(_ r: Int) -> UnsafePointer<Float> { a.sums + (firstRow + min(r, rowCount - 1)) * groupsPerRow }
        let x0 = x(0), x1 = x(1), x2 = x(2), x3 = x(3), x4 = x(4), x5 = x(5), x6 = x(6), x7 = x(7)
        let s0 = s(0), s1 = s(1), s2 = s(2), s3 = s(3), s4 = s(4), s5 = s(5), s6 = s(6), s7 = s(7)
        let u0 = u(0), u1 = u(1), u2 = u(2), u3 = u(3), u4 = u(4), u5 = u(5), u6 = u(6), u7 = u(7)
        var a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        var offsets = SIMD8<Float>()
        for b in 0..<blocks {
            let block = weights + b &* F.blockBytes
            let weightScales = F.blockScales(block)
            for g in 0..<F.groupsPerBlock {
                let group = b &* F.groupsPerBlock &+ g
                let w = F.valuesAVX2(block, group: g)
                let scale = weightScales.scales[g]
                @inline(__always) func row(_ x: UnsafeRawPointer, _ s: UnsafePointer<Float>, _ acc: inout __m256) {
                    acc = _mm256_fmadd_ps(productAVX2(w, x, group), _mm256_set1_ps(scale * s[group]), acc)
                }
                row(x0, s0, &a0)
                if rowCount > 1 {
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
                }
                if F.hasOffset {
                    // The group sums of all rows side by side: one multiply-add for every row.
                    offsets += weightScales.offsets[g]
                        * SIMD8(u0[group], u1[group], u2[group], u3[group], u4[group], u5[group], u6[group], u7[group])
                }
            }
        }
        return SIMD8(a0.sum(), a1.sum(), a2.sum(), a3.sum(), a4.sum(), a5.sum(), a6.sum(), a7.sum()) + offsets
    }

    /// One activation row against two weight rows at once: the two rows' chains of multiply-adds
    /// are independent, so each hides the other's latency, and the activations are loaded once.
    @inline(__always)
    static func dotTwoWeightRowsAVX2<F: IntegerDotFormat>(_: F.Type, weights first: UnsafeRawPointer, _ second: UnsafeRawPointer,
                                                          blocks: Int, activations a: QuantizedRows, row: Int) -> (Float, Float) {
        let x = UnsafeRawPointer(a.values + row * a.columns)
        let scales = a.scales + row * a.groupsPerRow, sums = a.sums + row * a.groupsPerRow
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
        var offset0: Float = 0, offset1: Float = 0
        for b in 0..<blocks {
            let blockOffset = b &* F.blockBytes
            let block0 = first + blockOffset, block1 = second + blockOffset
            braid_prefetch(block0 + Self.prefetchDistance)
            braid_prefetch(block1 + Self.prefetchDistance)
            let scales0 = F.blockScales(block0), scales1 = F.blockScales(block1)
            for g in 0..<F.groupsPerBlock {
                let group = b &* F.groupsPerBlock &+ g
                let x0 = _mm256_loadu_si256((x + 64 &* group).assumingMemoryBound(to: __m256i.self))
                let x1 = _mm256_loadu_si256((x + (64 &* group &+ 32)).assumingMemoryBound(to: __m256i.self))
                let w0 = F.valuesAVX2(block0, group: g), w1 = F.valuesAVX2(block1, group: g)
                let p0 = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(w0.0, x0), _mm256_madd_epi16(w0.1, x1)))
                let p1 = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(w1.0, x0), _mm256_madd_epi16(w1.1, x1)))
                acc0 = _mm256_fmadd_ps(p0, _mm256_set1_ps(scales0.scales[g] * scales[group]), acc0)
                acc1 = _mm256_fmadd_ps(p1, _mm256_set1_ps(scales1.scales[g] * scales[group]), acc1)
                if F.hasOffset {
                    offset0 += scales0.offsets[g] * sums[group]
                    offset1 += scales1.offsets[g] * sums[group]
                }
            }
        }
        return (acc0.sum() + offset0, acc1.sum() + offset1)
    }
    #endif
}
