// Activations in the form the integer dot kernels read: every group of 32 values of a row is
// stored as int16, q = round(x / d) with d = max|x| / 32767 over the group's *span* — up to 8
// consecutive groups, as many as divide the row (the 256 values of a K-quant block when rows are
// whole blocks of 256; 6 groups for rows of 576, 7 for 896) — plus the exact Float sum of the group
// (for formats whose weights carry an offset, w = scale·q + offset). One scale per span lets the
// kernels sum a K block's eight groups in Int32 before converting, and apply a span's activation
// scale once to the sum of its blocks for formats of one group per block.
// Storage is group-major — group g of rows 0, 1, 2, … side by side — so a kernel that takes
// several rows through one weight group finds them at fixed distances from one pointer.
//
// Error bound: |x − d·q| ≤ d/2 = max|x| / 65534 per value (max over the span), so a dot product
// with weights w is off by at most Σ|wᵢ|·maxⱼ|xⱼ| / 65534 over each span — 128 times below ggml's
// 8-bit activations over the same 256 values (Q8_K: max|x| / 254), and small enough that Braid's
// logits still match an exact float64 forward pass to 1e-3 (the golden tests check it).
#if canImport(BraidAVX2)
import _Builtin_intrinsics.intel
#endif

/// Rows of activations quantized to int16 per group of 32 values.
final class QuantizedActivations: @unchecked Sendable {  // written before, read during a parallel loop
    /// Values per group.
    static let groupSize = 32
    /// Most values sharing one scale (a K-quant block).
    static let spanSize = 256
    /// Rows held.
    let rows: Int
    /// Values per row (a multiple of 32).
    let columns: Int
    /// Groups sharing one scale: the largest count up to 8 that divides the row's groups (8 when
    /// `columns` is a multiple of `spanSize`).
    let groupsPerScale: Int
    /// Int16 values, 64-byte aligned: group g of row r at `(g·rows + r)·32`.
    let values: UnsafeMutablePointer<Int16>
    /// Scales d: group g of row r at `g·rows + r` (then `rowPadding` more, readable, unused).
    let scales: UnsafeMutablePointer<Float>
    /// Exact sums of each group's Float values, laid out as `scales`.
    let sums: UnsafeMutablePointer<Float>
    /// The same sums row by row — group g of row r at `r·columns/32 + g` — so that a kernel
    /// finds the eight group sums of one row in a K block side by side.
    let rowSums: UnsafeMutablePointer<Float>
    /// Extra readable entries after `scales` and `sums`, so a kernel may load 8 rows' worth at once.
    static let rowPadding = 8

    /// Quantizes `rows` rows of `columns` Floats (row-major, `columns` a multiple of 32).
    init(_ x: UnsafePointer<Float>, rows: Int, columns: Int) {
        precondition(columns % Self.groupSize == 0, "activation rows must be whole groups of 32")
        self.rows = rows
        self.columns = columns
        groupsPerScale = Self.groupsPerScale(groups: columns / Self.groupSize)
        let count = rows * columns, groups = columns / Self.groupSize
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 2, alignment: 64)
        values = raw.bindMemory(to: Int16.self, capacity: count)
        scales = .allocate(capacity: count / Self.groupSize + Self.rowPadding)
        sums = .allocate(capacity: count / Self.groupSize + Self.rowPadding)
        rowSums = .allocate(capacity: rows * groups)
        // Every group of every row is written below; only the padding after the scales and sums,
        // which kernels read and ignore, needs values of its own.
        (scales + count / Self.groupSize).initialize(repeating: 0, count: Self.rowPadding)
        (sums + count / Self.groupSize).initialize(repeating: 0, count: Self.rowPadding)
        for row in 0..<rows {
            for span in stride(from: 0, to: groups, by: groupsPerScale) {
                let start = x + row * columns + span * Self.groupSize
                let largest = Self.largestMagnitude(start, count: groupsPerScale * Self.groupSize)
                for group in span..<(span + groupsPerScale) {
                    let source = x + row * columns + group * Self.groupSize, index = group * rows + row
                    #if canImport(BraidAVX2)
                    quantizeGroupAVX2(source, index: index, largest: largest)
                    #else
                    quantizeGroup(source, index: index, largest: largest)
                    #endif
                    rowSums[row * groups + group] = sums[index]
                }
            }
        }
    }

    deinit {
        values.deallocate()
        scales.deallocate()
        sums.deallocate()
        rowSums.deallocate()
    }

    /// The span for rows of `groups` groups: the largest count up to 8 that divides `groups`.
    static func groupsPerScale(groups: Int) -> Int {
        (1...(spanSize / groupSize)).last { groups % $0 == 0 } ?? 1
    }

    /// The contents as plain pointers, for the kernels' inner loops.
    var rowsView: QuantizedRows {
        QuantizedRows(rows: rows, groupsPerRow: columns / Self.groupSize, groupsPerScale: groupsPerScale,
                      values: values, scales: scales, sums: sums, rowSums: rowSums)
    }

    /// The largest |x| of `count` values (a multiple of 8; NaN ignored).
    @inline(__always)
    private static func largestMagnitude(_ x: UnsafePointer<Float>, count: Int) -> Float {
        #if canImport(BraidAVX2)
        let signless = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF))
        var largest = _mm256_setzero_ps()
        for i in stride(from: 0, to: count, by: 8) {
            // maxps returns its second operand when either is NaN: a NaN never replaces.
            largest = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), signless), largest)
        }
        return unsafeBitCast(largest, to: SIMD8<Float>.self).max()
        #else
        var largest = SIMD8<Float>()
        for i in stride(from: 0, to: count, by: 8) {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            largest = pointwiseMax(largest, pointwiseMax(v, -v))  // |v|; a NaN never replaces
        }
        return largest.max()
        #endif
    }

    #if !canImport(BraidAVX2)
    /// One group with its span's largest |x|, in plain Swift (vectorized by the compiler where it can).
    @inline(__always)
    private func quantizeGroup(_ x: UnsafePointer<Float>, index: Int, largest: Float) {
        var total: Float = 0
        for i in 0..<Self.groupSize { total += x[i] }
        // A group of NaN, ∞ or values too small to invert becomes zeros rather than a trap.
        var inverse: Float = largest > 0 ? 32767 / largest : 0
        if !inverse.isFinite { inverse = 0 }
        scales[index] = largest / 32767
        sums[index] = total
        let output = values + index * Self.groupSize
        for i in 0..<Self.groupSize {
            let q = (x[i] * inverse).rounded(.toNearestOrEven)
            output[i] = q.isNaN ? 0 : Int16(max(-32767, min(32767, q)))
        }
    }
    #else
    /// One group with its span's largest |x|, with AVX2: the values `quantizeGroup` gives
    /// (cvtps2dq rounds to nearest even; NaN and out-of-range values saturate instead of
    /// trapping), the sum added in another order.
    @inline(__always)
    private func quantizeGroupAVX2(_ x: UnsafePointer<Float>, index: Int, largest: Float) {
        let input = UnsafeRawPointer(x)
        let v0 = input.loadUnaligned(as: SIMD8<Float>.self), v1 = input.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        let v2 = input.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self), v3 = input.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
        let total = (v0 + v1) + (v2 + v3)
        let scaled: Float = largest > 0 ? 32767 / largest : 0
        let inverse = _mm256_set1_ps(scaled.isFinite ? scaled : 0)
        scales[index] = largest / 32767
        sums[index] = total.sum()
        let q0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, inverse)), q1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, inverse))
        let q2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, inverse)), q3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, inverse))
        // packs interleaves 128-bit lanes; the permute puts the four quarters back in order.
        let order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)
        let low = _mm256_permutevar8x32_epi32(_mm256_packs_epi32(q0, q1), order)
        let high = _mm256_permutevar8x32_epi32(_mm256_packs_epi32(q2, q3), order)
        let output = UnsafeMutableRawPointer(values + index * Self.groupSize)
        _mm256_storeu_si256(output.assumingMemoryBound(to: __m256i.self), low)
        _mm256_storeu_si256((output + 32).assumingMemoryBound(to: __m256i.self), high)
    }
    #endif
}

/// A read-only view of `QuantizedActivations` for the kernels.
struct QuantizedRows {
    let rows: Int
    /// Groups of 32 per row.
    let groupsPerRow: Int
    /// Groups sharing one scale (see `QuantizedActivations.groupsPerScale`).
    let groupsPerScale: Int
    let values: UnsafePointer<Int16>
    let scales: UnsafePointer<Float>
    let sums: UnsafePointer<Float>
    let rowSums: UnsafePointer<Float>

    /// Where group `group` of row `row` sits in `scales` and `sums` (and, ×32, in `values`).
    @inline(__always)
    func index(group: Int, row: Int) -> Int { group &* rows &+ row }

    /// The sums of groups `group ..< group + 8` of row `row`, from `rowSums`.
    @inline(__always)
    func eightSums(row: Int, group: Int) -> SIMD8<Float> {
        UnsafeRawPointer(rowSums + (row &* groupsPerRow &+ group)).loadUnaligned(as: SIMD8<Float>.self)
    }
}
