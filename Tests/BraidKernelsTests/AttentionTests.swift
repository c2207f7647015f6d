// Chunked online-softmax attention and the vector exponential against plain references.
import BraidKernels
import Foundation
import Testing

@Suite("Attention and exponential")
struct AttentionTests {
    @Test("vector exp is within 2 ulp of expf, 0 below −87.3, ∞ above 88.7")
    func exponential() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 0.013 })
            let got = VectorMath.exp(lanes)
            for i in 0..<8 {
                let expected = expf(lanes[i])
                worst = max(worst, abs(got[i] - expected) / expected.ulp)
            }
            x += 0.37
        }
        #expect(worst <= 2, "worst error \(worst) ulp")
        let special = VectorMath.exp(SIMD8(-.infinity, -100, -87.5, 0, 1, 89, .infinity, -0.0))
        #expect(special[0] == 0 && special[1] == 0 && special[2] == 0 && special[3] == 1)
        #expect(abs(special[4] - Float(M_E)) <= Float(M_E).ulp)
        #expect(special[5] == .infinity && special[6] == .infinity && special[7] == 1)
    }

    /// Plain attention in Double: full scores, softmax, weighted sum.
    func reference(_ q: [Float], rows: Int, limits: [Int], d: Int, keys: [Float], values: [Float], stride: Int, scale: Float) -> [Double] {
        var out = [Double](repeating: 0, count: rows * d)
        for i in 0..<rows {
            let scores = (0...limits[i]).map { j in (0..<d).reduce(0.0) { $0 + Double(q[i * d + $1]) * Double(keys[j * stride + $1]) } * Double(scale) }
            let top = scores.max() ?? 0
            let weights = scores.map { Foundation.exp($0 - top) }
            let total = weights.reduce(0, +)
            for (j, w) in weights.enumerated() {
                for c in 0..<d { out[i * d + c] += w / total * Double(values[j * stride + c]) }
            }
        }
        return out
    }

    @Test("chunked online softmax equals full softmax: vector and sgemm paths, ragged limits, chunk edges",
          arguments: [(rows: 1, keys: 200), (rows: 3, keys: 1), (rows: 7, keys: 300), (rows: 16, keys: 128), (rows: 40, keys: 257)])
    func attention(shape: (rows: Int, keys: Int)) {
        var random = TestRandom(state: UInt64(shape.rows * 1000 + shape.keys))
        let d = 64, stride = 3 * 64 + 5  // keys of one head spread through a wider cache row
        let q = (0..<shape.rows * d).map { _ in random.float(-2...2) }
        let keys = (0..<shape.keys * stride).map { _ in random.float(-2...2) }
        let values = (0..<shape.keys * stride).map { _ in random.float(-1...1) }
        // Causal limits as in a prompt tile: the last rows see every key, earlier ones fewer.
        let limits = (0..<shape.rows).map { max(0, shape.keys - 1 - (shape.rows - 1 - $0) * 3) }
        var out = [Float](repeating: .nan, count: shape.rows * d)
        let scale = 1 / Float(d).squareRoot()
        Attention.attend(queries: q, rows: shape.rows, limits: limits, headDimension: d, keys: keys, values: values,
                         stride: stride, runs: KeyRun.contiguous(count: shape.keys), scale: scale, into: &out, outputStride: d)
        let expected = reference(q, rows: shape.rows, limits: limits, d: d, keys: keys, values: values, stride: stride, scale: scale)
        for i in 0..<out.count {
            #expect(abs(Double(out[i]) - expected[i]) < 1e-5, "row \(i / d) column \(i % d)")
        }
    }

    @Test("keys in scattered blocks give the same bits as the same blocks stored in order", arguments: [1, 7])
    func scatteredBlocks(rows: Int) {
        var random = TestRandom(state: UInt64(rows))
        let d = 64, stride = 64, block = 16, blocks = 5, keyCount = 70
        let q = (0..<rows * d).map { _ in random.float(-2...2) }
        let keys = (0..<blocks * block * stride).map { _ in random.float(-2...2) }
        let values = (0..<blocks * block * stride).map { _ in random.float(-1...1) }
        let limits = [Int](repeating: keyCount - 1, count: rows)
        // The same blocks in reverse order in the pool: block b of the sequence is pool block 4 − b.
        var scatteredKeys = keys, scatteredValues = values
        for b in 0..<blocks {
            let from = b * block * stride, to = (blocks - 1 - b) * block * stride
            scatteredKeys.replaceSubrange(to..<to + block * stride, with: keys[from..<from + block * stride])
            scatteredValues.replaceSubrange(to..<to + block * stride, with: values[from..<from + block * stride])
        }
        let inOrder = KeyRun.contiguous(count: keyCount, length: block)
        let scattered = inOrder.map { KeyRun(position: $0.position, row: (blocks - 1 - $0.position / block) * block, count: $0.count) }
        var a = [Float](repeating: .nan, count: rows * d), b = a
        Attention.attend(queries: q, rows: rows, limits: limits, headDimension: d, keys: keys, values: values,
                         stride: stride, runs: inOrder, scale: 0.125, into: &a, outputStride: d)
        Attention.attend(queries: q, rows: rows, limits: limits, headDimension: d, keys: scatteredKeys, values: scatteredValues,
                         stride: stride, runs: scattered, scale: 0.125, into: &b, outputStride: d)
        #expect(a == b)
        let expected = reference(q, rows: rows, limits: limits, d: d, keys: keys, values: values, stride: stride, scale: 0.125)
        for i in 0..<a.count { #expect(abs(Double(a[i]) - expected[i]) < 1e-5) }
    }

    @Test("groups that share blocks, with ragged lengths, equal each group alone and the float64 reference")
    func sharedBlocks() {
        var random = TestRandom(state: 99)
        let d = 64, stride = 64, block = 16
        // Pool: blocks 0–2 shared (a prompt), then one private block per group.
        let keys = (0..<7 * block * stride).map { _ in random.float(-2...2) }
        let values = (0..<7 * block * stride).map { _ in random.float(-1...1) }
        // Group lengths (keys each reads) straddle the shared blocks: 20 and 45 end inside them.
        let lengths = [20, 45, 60, 52]
        let rowsPerGroup = [3, 6, 3, 3]
        var groups: [QueryGroup] = [], limits: [Int] = [], firstRow = 0
        for (g, length) in lengths.enumerated() {
            let runs = Swift.stride(from: 0, to: length, by: block).map { position in
                KeyRun(position: position, row: position < 48 ? position : (3 + g) * block, count: min(block, length - position))
            }
            groups.append(QueryGroup(firstRow: firstRow, rowCount: rowsPerGroup[g], runs: runs))
            // A group's rows are a prompt tile's tokens: the last sees every key, earlier ones fewer.
            limits += (0..<rowsPerGroup[g]).map { length - 1 - (rowsPerGroup[g] - 1 - $0) }
            firstRow += rowsPerGroup[g]
        }
        let q = (0..<firstRow * d).map { _ in random.float(-2...2) }
        var together = [Float](repeating: .nan, count: firstRow * d)
        Attention.attend(queries: q, limits: limits, headDimension: d, keys: keys, values: values, stride: stride, groups: groups,
                         scale: 0.125, into: &together, outputStride: d)
        for group in groups {
            let rows = group.firstRow..<group.firstRow + group.rowCount
            var alone = [Float](repeating: .nan, count: group.rowCount * d)
            Attention.attend(queries: Array(q[rows.lowerBound * d..<rows.upperBound * d]), rows: group.rowCount,
                             limits: Array(limits[rows]), headDimension: d, keys: keys, values: values, stride: stride,
                             runs: group.runs, scale: 0.125, into: &alone, outputStride: d)
            // The float64 reference over the group's keys laid out in order.
            var orderedKeys: [Float] = [], orderedValues: [Float] = []
            for run in group.runs {
                orderedKeys += keys[run.row * stride..<(run.row + run.count) * stride]
                orderedValues += values[run.row * stride..<(run.row + run.count) * stride]
            }
            let expected = reference(Array(q[rows.lowerBound * d..<rows.upperBound * d]), rows: group.rowCount,
                                     limits: Array(limits[rows]), d: d, keys: orderedKeys, values: orderedValues, stride: stride,
                                     scale: 0.125)
            for i in 0..<group.rowCount * d {
                #expect(abs(together[rows.lowerBound * d + i] - alone[i]) < 1e-6)
                #expect(abs(Double(together[rows.lowerBound * d + i]) - expected[i]) < 1e-5)
            }
        }
    }
}
