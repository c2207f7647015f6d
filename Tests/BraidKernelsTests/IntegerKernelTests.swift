// The integer small-batch kernels (int16 activations × quantized weights) on both paths, against
// a float64 product of the dequantized weights, with the error bound the quantization promises.
@testable import BraidKernels
import Testing

/// Row `i` of `x` times weight row `r` of `dense` (both `columns` wide) in float64, the sum of the
/// products' magnitudes, and the rounding bound of activations with one scale per `span` values
/// and a step of max|x| / `steps` over the span: Σ over spans of Σ|w| · max|x| / steps.
func referenceDot(_ x: [Float], _ dense: [Float], row i: Int, weightRow r: Int, columns: Int, span: Int,
                  steps: Double) -> (expected: Double, magnitude: Double, bound: Double) {
    var expected = 0.0, magnitude = 0.0, bound = 0.0
    for start in stride(from: 0, to: columns, by: span) {
        let range = start..<(start + span)
        let largest = range.map { Double(abs(x[i * columns + $0])) }.max() ?? 0
        var weightSum = 0.0
        for c in range {
            let w = Double(dense[r * columns + c]), v = Double(x[i * columns + c])
            expected += w * v
            magnitude += abs(w * v)
            weightSum += abs(w)
        }
        bound += weightSum * largest / steps
    }
    return (expected, magnitude, bound)
}

@Suite("Integer kernels against the float64 reference")
struct IntegerKernelTests {
    static let quantizedTypes: [TensorType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    @Test("activations: each value within d/2, sums exact, zero groups stay zero, one scale per span of up to 8 groups")
    func activationQuantization() {
        #expect([1, 2, 3, 11, 16, 18, 28, 152].map { QuantizedActivations.groupsPerScale(groups: $0) } == [1, 2, 3, 1, 8, 6, 7, 8])
        var random = TestRandom(state: 11)
        var x = (0..<352).map { _ in random.float(-3...3) }  // 11 groups: spans of one group
        for i in 32..<64 { x[i] = 0 }
        x[70] = 1000  // an outlier only widens its own span's step
        let q = QuantizedActivations(x, rows: 1, columns: 352)
        #expect(q.groupsPerScale == 1)
        for group in 0..<11 {
            let values = x[(32 * group)..<(32 * group + 32)]
            let d = q.scales[group]
            #expect(d == (values.map(abs).max() ?? 0) / 32767)
            #expect(abs(Double(q.sums[group]) - values.reduce(0.0) { $0 + Double($1) }) < 1e-4)
            for i in values.indices {
                #expect(abs(Float(q.values[i]) * d - x[i]) <= d / 2 * 1.0001)
            }
        }
        #expect((32..<64).allSatisfy { q.values[$0] == 0 })

        // Rows of 18 groups: one scale per span of 6 groups, shared by them.
        let wide = (0..<576).map { i in i == 300 ? Float(50) : random.float(-3...3) }
        let spans = QuantizedActivations(wide, rows: 1, columns: 576)
        #expect(spans.groupsPerScale == 6)
        for group in 0..<18 {
            let span = (group / 6 * 192)..<(group / 6 * 192 + 192)
            #expect(spans.scales[group] == (wide[span].map(abs).max() ?? 0) / 32767)
            for i in (32 * group)..<(32 * group + 32) {
                #expect(abs(Float(spans.values[i]) * spans.scales[group] - wide[i]) <= spans.scales[group] / 2 * 1.001)  // and Float rounding
            }
        }
    }

    @Test("every format, both paths, 1…16 rows, odd sizes: within the quantization bound",
          arguments: quantizedTypes)
    func multiply(type: TensorType) {
        var random = TestRandom(state: 100 + UInt64(type.rawValue))
        // A single block; rows not a multiple of threads; for one-group formats, two spans of 6 blocks.
        let shapes = [(rows: 1, blocks: 1), (rows: 3, blocks: 1), (rows: 67, blocks: 3), (rows: 5, blocks: 12)]
        for shape in shapes {
            let columns = shape.blocks * type.blockSize
            let bytes = randomBlocks(type, blocks: shape.rows * shape.blocks, random: &random)
            var dense = [Float](repeating: 0, count: shape.rows * columns)
            bytes.withUnsafeBytes { raw in
                dense.withUnsafeMutableBufferPointer { type.dequantize(raw.baseAddress!, into: $0.baseAddress!, count: shape.rows * columns) }
            }
            for n in [1, 2, 3, 4, 5, 8, 13, 16] {
                let x = (0..<n * columns).map { _ in random.float(-2...2) }
                for path in KernelPath.available {
                    var y = [Float](repeating: .nan, count: n * shape.rows)
                    bytes.withUnsafeBytes { raw in
                        let matrix = WeightMatrix(type: type, rows: shape.rows, columns: columns, data: raw.baseAddress!)
                        #expect(matrix.usesIntegerKernels(rows: n))
                        matrix.multiply(x, count: n, into: &y, pool: ComputePool(), path: path)
                    }
                    for i in 0..<n {
                        for r in 0..<shape.rows {
                            // One activation scale per span of up to 8 groups (see QuantizedActivations).
                            let (expected, magnitude, bound) = referenceDot(x, dense, row: i, weightRow: r, columns: columns,
                                                                            span: 32 * QuantizedActivations.groupsPerScale(groups: columns / 32),
                                                                            steps: 65534)
                            let error = abs(Double(y[i * shape.rows + r]) - expected)
                            #expect(error <= bound + 1e-6 * magnitude + 1e-7,
                                    "\(type) \(path) rows \(shape.rows) n \(n) [\(i), \(r)]: error \(error), bound \(bound)")
                        }
                    }
                }
            }
        }
    }

    @Test("every row of a batch gives the same bits as that row alone, for batches of 1…16 rows", arguments: quantizedTypes)
    func batchEqualsRowByRow(type: TensorType) {
        var random = TestRandom(state: 900 + UInt64(type.rawValue))
        let rows = 37, columns = 2 * type.blockSize
        let bytes = randomBlocks(type, blocks: rows * columns / type.blockSize, random: &random)
        for path in KernelPath.available {
            for n in 1...16 {
                let x = (0..<n * columns).map { _ in random.float(-2...2) }
                var batch = [Float](repeating: .nan, count: n * rows), alone = [Float](repeating: .nan, count: rows)
                bytes.withUnsafeBytes { raw in
                    let matrix = WeightMatrix(type: type, rows: rows, columns: columns, data: raw.baseAddress!)
                    matrix.multiply(x, count: n, into: &batch, pool: ComputePool(), path: path)
                    for i in 0..<n {
                        Array(x[(i * columns)..<((i + 1) * columns)]).withUnsafeBufferPointer { row in
                            matrix.multiply(row.baseAddress!, count: 1, into: &alone, pool: ComputePool(), path: path)
                        }
                        // Every kernel sums a row in the same order, so batching changes no bit (the
                        // model's batched and single forwards then agree to the last bit too).
                        #expect(Array(batch[(i * rows)..<((i + 1) * rows)]) == alone, "\(type) \(path) n \(n) row \(i)")
                    }
                }
            }
        }
    }

    @Test("activations with NaN, ∞ or tiny groups quantize without trapping")
    func hostileActivations() {
        var x = [Float](repeating: 1, count: 96)
        x[3] = .nan
        x[40] = .infinity
        for i in 64..<96 { x[i] = 1e-40 }  // a group too small to invert
        let q = QuantizedActivations(x, rows: 1, columns: 96)
        #expect((64..<96).allSatisfy { q.values[$0] == 0 })
    }

    @Test("Q6_K at its extremes (scale −128, q −32, activations at full scale) sums exactly on both paths")
    func q6KExtremes() {
        var block = [UInt8](repeating: 0, count: 210)  // ql = qh = 0: every value is −32
        for i in 192..<208 { block[i] = 0x80 }           // every sub-block scale −128
        let d = halfFromFloat(1.0 / 4096)
        block[208] = UInt8(d & 0xFF)
        block[209] = UInt8(d >> 8)
        let x = [Float](repeating: 1, count: 256)
        for path in KernelPath.available {
            var y: [Float] = [0]
            block.withUnsafeBytes { raw in
                WeightMatrix(type: .q6_K, rows: 1, columns: 256, data: raw.baseAddress!).multiply(x, count: 1, into: &y, pool: ComputePool(), path: path)
            }
            #expect(abs(y[0] - 256) < 1e-3, "\(path): \(y[0])")  // 256 × (1/4096 · −128 · −32)
        }
    }

    @Test("a fused product of several matrices equals separate products")
    func fused() {
        var random = TestRandom(state: 5)
        let columns = 256, n = 3
        let types: [TensorType] = [.q4_1, .q6_K, .f32]
        let rows = [10, 7, 5]
        let blobs = zip(types, rows).map { randomBlocks($0, blocks: $1 * columns / $0.blockSize, random: &random) }
        let x = (0..<n * columns).map { _ in random.float() }
        var separate = rows.map { [Float](repeating: 0, count: n * $0) }
        var fused = separate
        for (i, blob) in blobs.enumerated() {
            blob.withUnsafeBytes { raw in
                WeightMatrix(type: types[i], rows: rows[i], columns: columns, data: raw.baseAddress!)
                    .multiply(x, count: n, into: &separate[i], pool: ComputePool())
            }
        }
        let raws = blobs.map { blob in
            let p = UnsafeMutableRawPointer.allocate(byteCount: blob.count, alignment: 64)
            p.copyMemory(from: blob, byteCount: blob.count)
            return p
        }
        defer { raws.forEach { $0.deallocate() } }
        let outputs = rows.map { UnsafeMutablePointer<Float>.allocate(capacity: n * $0) }
        defer { outputs.forEach { $0.deallocate() } }
        let matrices = (0..<3).map { WeightMatrix(type: types[$0], rows: rows[$0], columns: columns, data: raws[$0]) }
        WeightMatrix.multiply(matrices, into: outputs, input: x, count: n, pool: ComputePool())
        for i in 0..<3 { fused[i] = Array(UnsafeBufferPointer(start: outputs[i], count: n * rows[i])) }
        #expect(fused == separate)
    }
}
