// Causal attention for one KV head, the way FlashAttention does it (Dao et al. 2022) but on a
// CPU: keys and values are read a run at a time (a block of the paged cache), each query row keeps a running maximum m, a
// running sum l and an unnormalized output o, and a chunk's scores s update them as
//
//   m' = max(m, max s);  o ← o·e^(m−m') + Σ e^(s−m')·v;  l ← l·e^(m−m') + Σ e^(s−m');  m ← m'
//
// so no row ever holds more than one chunk of scores, whatever the context length. Several
// query rows (the query heads that share this KV head, for several tokens) go through each
// chunk together: the two products are sgemm calls, or vector loops for a single row.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Consecutive positions whose keys (and values) are adjacent rows in memory: positions
/// `position ..< position + count` are rows `row ..< row + count` from the keys' base pointer.
public struct KeyRun: Sendable, Equatable {
    public var position: Int
    public var row: Int
    public var count: Int

    public init(position: Int, row: Int, count: Int) {
        self.position = position
        self.row = row
        self.count = count
    }

    /// `count` keys stored in order from row 0, in runs of `length`.
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

/// Causal scaled dot-product attention over a KV cache.
public enum Attention {
    /// Query rows from which the products go to sgemm (measured: even 3 rows × 128 keys × 64 run
    /// faster through OpenBLAS's small-matrix kernels than through the vector loops).
    static let blasRows = 2

    /// `output[i] = softmax(scale · queries[i] · Kᵀ) · V` over positions `0...limits[i]` (row i's
    /// own causal mask), for `rows` query rows of `headDimension` values (dense, row-major). The
    /// key and value of position p, in run r, are at row `r.row + p − r.position` of `keys` and
    /// `values`, rows `stride` floats apart; `runs` cover positions in order from 0, and positions
    /// past the largest limit are never read. Output row i goes to `output + i·outputStride`.
    public static func attend(
        queries: UnsafePointer<Float>, rows: Int, limits: UnsafePointer<Int>, headDimension d: Int,
        keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, runs: [KeyRun], scale: Float,
        into output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        attend(queries: queries, limits: limits, headDimension: d, keys: keys, values: values, stride: stride,
               groups: [QueryGroup(firstRow: 0, rowCount: rows, runs: runs)], scale: scale, into: output, outputStride: outputStride)
    }

    /// Attention for several groups of query rows at once (the tokens of different sequences),
    /// each reading its own runs of keys. Runs of different groups that lie at the same place in
    /// memory (a block of a prompt that branches share) are read once for all of them: the
    /// groups' rows go through that block in one product. Every row still meets its keys in the
    /// same runs, in the same order, by the same kernel as it would alone, so its result does not
    /// depend on which other groups are present.
    ///
    ///   groups   rows     runs (pool row of each block)
    ///   branch 0 0…2      [0] [64] [128] [512]
    ///   branch 1 3…5      [0] [64] [128] [576]
    ///   branch 2 6…8      [0] [64] [128] [640]
    ///   products          9 rows × block 0, 1, 2;  then 3 rows × each own block
    public static func attend(
        queries: UnsafePointer<Float>, limits: UnsafePointer<Int>, headDimension d: Int,
        keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, groups: [QueryGroup], scale: Float,
        into output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let rows = groups.reduce(0) { max($0, $1.firstRow + $1.rowCount) }
        let chunk = groups.lazy.flatMap(\.runs).map(\.count).max() ?? 1
        // One chunk of scores, the unnormalized outputs, running maxima and sums, per row.
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * chunk)
        let o = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        let l = UnsafeMutablePointer<Float>.allocate(capacity: rows)
        defer { for p in [scores, o, m, l] { p.deallocate() } }
        o.initialize(repeating: 0, count: rows * d)
        m.initialize(repeating: -.infinity, count: rows)
        l.initialize(repeating: 0, count: rows)
        // Keys each group reads: up to its largest limit.
        let keyCounts = groups.map { group in (group.firstRow..<group.firstRow + group.rowCount).reduce(0) { max($0, limits[$1] + 1) } }
        let runCount = groups.lazy.map(\.runs.count).max() ?? 0

        for index in 0..<runCount {
            // Spans of consecutive groups that read the same run (one product each).
            var g = 0
            while g < groups.count {
                guard index < groups[g].runs.count, groups[g].runs[index].position < keyCounts[g] else {
                    g += 1
                    continue
                }
                let run = groups[g].runs[index]
                let useBLAS = groups[g].rowCount >= blasRows
                var last = g, width = min(run.count, keyCounts[g] - run.position)
                while useBLAS, last + 1 < groups.count, groups[last + 1].rowCount >= blasRows, index < groups[last + 1].runs.count,
                      groups[last + 1].runs[index].row == run.row, groups[last + 1].firstRow == groups[last].firstRow + groups[last].rowCount,
                      run.position < keyCounts[last + 1] {
                    last += 1
                    width = max(width, min(groups[last].runs[index].count, keyCounts[last] - run.position))
                }
                let first = groups[g].firstRow, count = groups[last].firstRow + groups[last].rowCount - first
                update(queries: queries + first * d, rows: count, limits: limits + first, headDimension: d, start: run.position,
                       width: width, keys: keys + run.row * stride, values: values + run.row * stride, stride: stride, scale: scale,
                       useBLAS: useBLAS, scores: scores, chunk: chunk, o: o + first * d, m: m + first, l: l + first)
                g = last + 1
            }
        }
        for i in 0..<rows {
            let inverse = l[i] > 0 ? 1 / l[i] : 0
            for c in 0..<d { output[i * outputStride + c] = o[i * d + c] * inverse }
        }
    }

    /// One run of `width` keys from position `start` for `rows` query rows: scores, the online
    /// softmax update of each row's running maximum `m`, sum `l` and output `o`.
    @inline(__always)
    private static func update(queries: UnsafePointer<Float>, rows: Int, limits: UnsafePointer<Int>, headDimension d: Int,
                               start: Int, width: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, stride: Int,
                               scale: Float, useBLAS: Bool, scores: UnsafeMutablePointer<Float>, chunk: Int,
                               o: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, l: UnsafeMutablePointer<Float>) {
        // Scores of the run.
        if useBLAS {
            BLAS.multiplyTransposed(queries, k, into: scores, m: rows, n: width, k: d, lda: d, ldb: stride, ldc: chunk)
        } else {
            for i in 0..<rows {
                for j in 0..<width { scores[i * chunk + j] = VectorMath.dot(queries + i * d, k + j * stride, count: d) }
            }
        }
        // Online softmax: mask, rescale the running output, exponentiate.
        for i in 0..<rows {
            let row = scores + i * chunk
            let visible = min(width, limits[i] + 1 - start)  // keys of this run row i may see
            guard visible > 0 else {
                row.initialize(repeating: 0, count: width)
                continue
            }
            var runMax = -Float.infinity
            for j in 0..<visible {
                row[j] *= scale
                runMax = max(runMax, row[j])
            }
            let newMax = max(m[i], runMax)
            let correction = m[i] == -.infinity ? 0 : expf(m[i] - newMax)
            l[i] = l[i] * correction + VectorMath.exponentiate(row, subtracting: newMax, count: visible)
            if visible < width { (row + visible).initialize(repeating: 0, count: width - visible) }
            m[i] = newMax
            if correction != 1 { VectorMath.scale(o + i * d, by: correction, count: d) }
        }
        // Weighted values.
        if useBLAS {
            BLAS.multiply(scores, v, into: o, m: rows, n: d, k: width, lda: chunk, ldb: stride, ldc: d, accumulate: true)
        } else {
            for i in 0..<rows {
                weightedSum(scores + i * chunk, of: v, stride: stride, count: width, into: o + i * d, width: d)
            }
        }
    }

    /// y += Σⱼ p[j]·v[j] over `count` rows of `width` values `stride` apart, 32 columns at a time
    /// so the running sums stay in registers while the rows stream past.
    @inline(__always)
    private static func weightedSum(_ p: UnsafePointer<Float>, of v: UnsafePointer<Float>, stride: Int, count: Int,
                                    into y: UnsafeMutablePointer<Float>, width: Int) {
        let ry = UnsafeMutableRawPointer(y)
        var c = 0
        while c + 32 <= width {
            var s0 = ry.loadUnaligned(fromByteOffset: 4 * c, as: SIMD8<Float>.self)
            var s1 = ry.loadUnaligned(fromByteOffset: 4 * c + 32, as: SIMD8<Float>.self)
            var s2 = ry.loadUnaligned(fromByteOffset: 4 * c + 64, as: SIMD8<Float>.self)
            var s3 = ry.loadUnaligned(fromByteOffset: 4 * c + 96, as: SIMD8<Float>.self)
            for j in 0..<count where p[j] != 0 {
                let row = UnsafeRawPointer(v + j * stride + c), weight = p[j]
                s0 += row.loadUnaligned(as: SIMD8<Float>.self) * weight
                s1 += row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self) * weight
                s2 += row.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self) * weight
                s3 += row.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self) * weight
            }
            ry.storeBytes(of: s0, toByteOffset: 4 * c, as: SIMD8<Float>.self)
            ry.storeBytes(of: s1, toByteOffset: 4 * c + 32, as: SIMD8<Float>.self)
            ry.storeBytes(of: s2, toByteOffset: 4 * c + 64, as: SIMD8<Float>.self)
            ry.storeBytes(of: s3, toByteOffset: 4 * c + 96, as: SIMD8<Float>.self)
            c += 32
        }
        for j in 0..<count where p[j] != 0 {
            for column in c..<width { y[column] += p[j] * v[j * stride + column] }
        }
    }
}
