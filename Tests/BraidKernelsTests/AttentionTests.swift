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

    /// Plain attention in Double: full scores, softmax, weighted sum; key and value j are `d`
    /// floats at `j·d`.
    func reference(_ q: [Float], rows: Int, limits: [Int], d: Int, keys: [Float], values: [Float], scale: Float) -> [Double] {
        var out = [Double](repeating: 0, count: rows * d)
        for i in 0..<rows {
            let scores = (0...limits[i]).map { j in (0..<d).reduce(0.0) { $0 + Double(q[i * d + $1]) * Double(keys[j * d + $1]) } * Double(scale) }
            let top = scores.max() ?? 0
            let weights = scores.map { Foundation.exp($0 - top) }
            let total = weights.reduce(0, +)
            for (j, w) in weights.enumerated() {
                for c in 0..<d { out[i * d + c] += w / total * Double(values[j * d + c]) }
            }
        }
        return out
    }

    /// Random queries (`rows` × d), keys and values (`keys` × d each), and the keys and values
    /// stored in blocks of `block` positions.
    func problem(_ shape: (rows: Int, keys: Int, block: Int, d: Int), seed: UInt64)
        -> (queries: [Float], keys: [Float], values: [Float], cache: CacheFixture) {
        var random = TestRandom(state: seed)
        let q = (0..<shape.rows * shape.d).map { _ in random.float(-2...2) }
        let keys = (0..<shape.keys * shape.d).map { _ in random.float(-2...2) }
        let values = (0..<shape.keys * shape.d).map { _ in random.float(-1...1) }
        return (q, keys, values, CacheFixture(keys: keys, values: values, d: shape.d, blockSize: shape.block, random: &random))
    }

    @Test("chunked online softmax equals full softmax: ragged limits, chunk edges, blocks that are not whole key tiles",
          arguments: [(rows: 1, keys: 200, block: 128, d: 64), (rows: 3, keys: 1, block: 128, d: 64),
                      (rows: 7, keys: 300, block: 24, d: 40), (rows: 16, keys: 128, block: 128, d: 128),
                      (rows: 40, keys: 257, block: 40, d: 64), (rows: 5, keys: 100, block: 48, d: 48)])
    func attention(shape: (rows: Int, keys: Int, block: Int, d: Int)) {
        let d = shape.d
        let (q, keys, values, cache) = problem(shape, seed: UInt64(shape.rows * 1000 + shape.keys))
        // Causal limits as in a prompt tile: the last rows see every key, earlier ones fewer.
        let limits = (0..<shape.rows).map { max(0, shape.keys - 1 - (shape.rows - 1 - $0) * 3) }
        var out = [Float](repeating: .nan, count: shape.rows * d)
        let scale = 1 / Float(d).squareRoot()
        cache.withLayout { layout in
            Attention.attend(queries: q, rows: shape.rows, limits: limits, headDimension: d, cache: layout,
                             runs: KeyRun.contiguous(count: shape.keys, length: shape.block), scale: scale, into: &out, outputStride: d)
        }
        let expected = reference(q, rows: shape.rows, limits: limits, d: d, keys: keys, values: values, scale: scale)
        for i in 0..<out.count {
            #expect(abs(Double(out[i]) - expected[i]) < 1e-5, "row \(i / d) column \(i % d)")
        }
    }

    @Test("a half-float cache gives the same bits as a Float cache of the same values rounded to half; both near the exact values",
          arguments: [(rows: 3, keys: 300, block: 128, d: 64), (rows: 7, keys: 100, block: 24, d: 40), (rows: 12, keys: 600, block: 128, d: 64)])
    func halfFloatCache(shape: (rows: Int, keys: Int, block: Int, d: Int)) {
        let d = shape.d
        let (q, keys, values, cache) = problem(shape, seed: UInt64(shape.rows * 31 + shape.keys))
        let rounded = cache.roundedToHalf()
        let limits = (0..<shape.rows).map { max(0, shape.keys - 1 - (shape.rows - 1 - $0) * 5) }
        let scale = 1 / Float(d).squareRoot(), runs = KeyRun.contiguous(count: shape.keys, length: shape.block)
        var half = [Float](repeating: .nan, count: shape.rows * d), single = half
        cache.withHalfLayout { layout in
            #expect(layout.type == .f16)
            Attention.attend(queries: q, rows: shape.rows, limits: limits, headDimension: d, cache: layout, runs: runs, scale: scale,
                             into: &half, outputStride: d)
        }
        rounded.withLayout { layout in
            Attention.attend(queries: q, rows: shape.rows, limits: limits, headDimension: d, cache: layout, runs: runs, scale: scale,
                             into: &single, outputStride: d)
        }
        #expect(half.map(\.bitPattern) == single.map(\.bitPattern))
        // Half floats keep 11 significant bits: outputs within a few thousandths of the exact ones.
        let expected = reference(q, rows: shape.rows, limits: limits, d: d, keys: keys, values: values, scale: scale)
        let worst = zip(half, expected).map { abs(Double($0) - $1) }.max() ?? .infinity
        #expect(worst < 3e-3, "largest error \(worst)")
        #expect(worst > 0, "the half cache rounded nothing: the test would not see a wrong conversion")
    }

    @Test("the cache layout puts every key and value component of a block in a place of its own, inside the block",
          arguments: [(block: 128, d: 64), (block: 24, d: 40), (block: 16, d: 16), (block: 7, d: 9)])
    func layoutIsOneToOne(shape: (block: Int, d: Int)) {
        let size = shape.block * shape.d
        var keys = Set<Int>(), values = Set<Int>()
        for slot in 0..<shape.block {
            for c in 0..<shape.d {
                keys.insert(KeyValueLayout.keyOffset(slot: slot, component: c, blockSize: shape.block, headDimension: shape.d))
                values.insert(KeyValueLayout.valueOffset(slot: slot, column: c, blockSize: shape.block, headDimension: shape.d))
            }
        }
        #expect(keys == Set(0..<size) && values == Set(0..<size))
        // A whole tile of keys is component-major: component c of 16 keys is 16 consecutive floats.
        if shape.block >= 16 {
            #expect(KeyValueLayout.keyOffset(slot: 3, component: 2, blockSize: shape.block, headDimension: shape.d) == 2 * 16 + 3)
        }
    }

    @Test("a row's result is the same bits whatever rows go through beside it", arguments: [1, 2, 5, 9])
    func rowsAreIndependent(rows: Int) {
        var random = TestRandom(state: 7)
        let d = 64, keyCount = 150
        let keys = (0..<keyCount * d).map { _ in random.float(-2...2) }
        let values = (0..<keyCount * d).map { _ in random.float(-1...1) }
        let cache = CacheFixture(keys: keys, values: values, d: d, blockSize: 40, random: &random)
        let q = (0..<rows * d).map { _ in random.float(-2...2) }
        let limits = (0..<rows).map { keyCount - 1 - $0 * 7 }
        let runs = KeyRun.contiguous(count: keyCount, length: 40)
        var together = [Float](repeating: .nan, count: rows * d)
        cache.withLayout { layout in
            Attention.attend(queries: q, rows: rows, limits: limits, headDimension: d, cache: layout, runs: runs, scale: 0.125,
                             into: &together, outputStride: d)
            for i in 0..<rows {
                var alone = [Float](repeating: .nan, count: d)
                Attention.attend(queries: Array(q[i * d..<(i + 1) * d]), rows: 1, limits: [limits[i]], headDimension: d, cache: layout,
                                 runs: runs, scale: 0.125, into: &alone, outputStride: d)
                #expect(Array(together[i * d..<(i + 1) * d]) == alone, "row \(i)")
            }
        }
    }

    @Test("keys in scattered blocks give the same bits as the same blocks stored in order", arguments: [1, 7])
    func scatteredBlocks(rows: Int) {
        var random = TestRandom(state: UInt64(rows))
        let d = 64, block = 16, blocks = 5, keyCount = 70
        let q = (0..<rows * d).map { _ in random.float(-2...2) }
        let keys = (0..<blocks * block * d).map { _ in random.float(-2...2) }
        let values = (0..<blocks * block * d).map { _ in random.float(-1...1) }
        let limits = [Int](repeating: keyCount - 1, count: rows)
        // The same blocks in reverse order in the pool: block b of the sequence is pool block 4 − b.
        var scatteredKeys = keys, scatteredValues = values
        for b in 0..<blocks {
            let from = b * block * d, to = (blocks - 1 - b) * block * d
            scatteredKeys.replaceSubrange(to..<to + block * d, with: keys[from..<from + block * d])
            scatteredValues.replaceSubrange(to..<to + block * d, with: values[from..<from + block * d])
        }
        let inOrder = KeyRun.contiguous(count: keyCount, length: block)
        let scattered = inOrder.map { KeyRun(position: $0.position, row: (blocks - 1 - $0.position / block) * block, count: $0.count) }
        var a = [Float](repeating: .nan, count: rows * d), b = a
        CacheFixture(keys: keys, values: values, d: d, blockSize: block, random: &random).withLayout { layout in
            Attention.attend(queries: q, rows: rows, limits: limits, headDimension: d, cache: layout, runs: inOrder, scale: 0.125,
                             into: &a, outputStride: d)
        }
        CacheFixture(keys: scatteredKeys, values: scatteredValues, d: d, blockSize: block, random: &random).withLayout { layout in
            Attention.attend(queries: q, rows: rows, limits: limits, headDimension: d, cache: layout, runs: scattered, scale: 0.125,
                             into: &b, outputStride: d)
        }
        #expect(a == b)
        let expected = reference(q, rows: rows, limits: limits, d: d, keys: keys, values: values, scale: 0.125)
        for i in 0..<a.count { #expect(abs(Double(a[i]) - expected[i]) < 1e-5) }
    }

    @Test("groups that share blocks, with ragged lengths, equal each group alone and the float64 reference")
    func sharedBlocks() {
        var random = TestRandom(state: 99)
        let d = 64, block = 16
        // Pool: blocks 0–2 shared (a prompt), then one private block per group.
        let keys = (0..<7 * block * d).map { _ in random.float(-2...2) }
        let values = (0..<7 * block * d).map { _ in random.float(-1...1) }
        let cache = CacheFixture(keys: keys, values: values, d: d, blockSize: block, random: &random)
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
        cache.withLayout { layout in
            Attention.attend(queries: q, limits: limits, headDimension: d, cache: layout, groups: groups, scale: 0.125,
                             into: &together, outputStride: d)
        }
        for group in groups {
            let rows = group.firstRow..<group.firstRow + group.rowCount
            var alone = [Float](repeating: .nan, count: group.rowCount * d)
            cache.withLayout { layout in
                Attention.attend(queries: Array(q[rows.lowerBound * d..<rows.upperBound * d]), rows: group.rowCount,
                                 limits: Array(limits[rows]), headDimension: d, cache: layout, runs: group.runs, scale: 0.125,
                                 into: &alone, outputStride: d)
            }
            // The float64 reference over the group's keys laid out in order.
            var orderedKeys: [Float] = [], orderedValues: [Float] = []
            for run in group.runs {
                orderedKeys += keys[run.row * d..<(run.row + run.count) * d]
                orderedValues += values[run.row * d..<(run.row + run.count) * d]
            }
            let expected = reference(Array(q[rows.lowerBound * d..<rows.upperBound * d]), rows: group.rowCount,
                                     limits: Array(limits[rows]), d: d, keys: orderedKeys, values: orderedValues, scale: 0.125)
            #expect(Array(together[rows.lowerBound * d..<rows.upperBound * d]) == alone)
            for i in 0..<group.rowCount * d {
                #expect(abs(Double(together[rows.lowerBound * d + i]) - expected[i]) < 1e-5)
            }
        }
    }
}

/// Keys and values given position by position (`d` floats each) stored as `PagedKVCache` stores
/// them: blocks of `blockSize` positions, each head's keys and values in tiles (`KeyValueLayout`).
/// The data is KV head 1 of 3; the other heads hold noise, so a kernel that strays outside its
/// head reads wrong numbers.
struct CacheFixture {
    let keys: [Float], values: [Float]
    let d: Int, blockSize: Int
    static let heads = 3, head = 1

    init(keys rowKeys: [Float], values rowValues: [Float], d: Int, blockSize: Int, random: inout TestRandom) {
        self.d = d
        self.blockSize = blockSize
        let positions = rowKeys.count / d, blockFloats = Self.heads * d * blockSize
        let capacity = (positions + blockSize - 1) / blockSize * blockFloats
        var keys = (0..<capacity).map { _ in random.float(-50...50) }, values = keys
        for p in 0..<positions {
            let head = p / blockSize * blockFloats + Self.head * d * blockSize, slot = p % blockSize
            for c in 0..<d {
                keys[head + KeyValueLayout.keyOffset(slot: slot, component: c, blockSize: blockSize, headDimension: d)] = rowKeys[p * d + c]
                values[head + KeyValueLayout.valueOffset(slot: slot, column: c, blockSize: blockSize, headDimension: d)] = rowValues[p * d + c]
            }
        }
        self.keys = keys
        self.values = values
    }

    /// The same cache with every key and value rounded to the nearest half float.
    func roundedToHalf() -> CacheFixture {
        CacheFixture(d: d, blockSize: blockSize, keys: keys.map { floatFromHalf(halfFromFloat($0)) },
                     values: values.map { floatFromHalf(halfFromFloat($0)) })
    }

    private init(d: Int, blockSize: Int, keys: [Float], values: [Float]) {
        self.d = d
        self.blockSize = blockSize
        self.keys = keys
        self.values = values
    }

    /// `body` over this cache stored as half floats (`KVCacheType.f16`).
    func withHalfLayout<R>(_ body: (KeyValueLayout) -> R) -> R {
        let halfKeys = keys.map(halfFromFloat), halfValues = values.map(halfFromFloat)
        return halfKeys.withUnsafeBufferPointer { k in
            halfValues.withUnsafeBufferPointer { v in
                guard let k = k.baseAddress, let v = v.baseAddress else { preconditionFailure("an empty cache") }
                let head = Self.head * d * blockSize
                return body(KeyValueLayout(keys: k + head, values: v + head, blockSize: blockSize,
                                           blockStride: Self.heads * d * blockSize, headDimension: d, type: .f16))
            }
        }
    }

    func withLayout<R>(_ body: (KeyValueLayout) -> R) -> R {
        keys.withUnsafeBufferPointer { k in
            values.withUnsafeBufferPointer { v in
                guard let k = k.baseAddress, let v = v.baseAddress else { preconditionFailure("an empty cache") }
                let head = Self.head * d * blockSize
                return body(KeyValueLayout(keys: k + head, values: v + head, blockSize: blockSize,
                                           blockStride: Self.heads * d * blockSize, headDimension: d))
            }
        }
    }
}
