// The byte kernels (15-bit activations in two bytes, or 8-bit in one, × tiled weights, AVX-512
// VNNI builds) against a float64 product of the dequantized weights, with the error bound of the
// activations;
// and the tiles' own dequantization against the original blocks'.
@testable import BraidKernels
import Testing

@Suite("Byte kernels on tiled weights")
struct ByteKernelTests {
    static let types: [TensorType] = [.q4_K, .q6_K, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0]

    /// `bytes` as a matrix, tiled (the bytes must outlive the result's use).
    static func tiled(_ type: TensorType, rows: Int, columns: Int, _ raw: UnsafeRawBufferPointer,
                      precision: ActivationPrecision = .fifteenBit) -> WeightMatrix {
        WeightMatrix(type: type, rows: rows, columns: columns, data: raw.baseAddress!).tiled(activations: precision, pool: ComputePool())
    }

    @Test("tiles exist exactly in builds with the byte kernels, for whole tiles of 16 rows")
    func tiling() {
        var random = TestRandom(state: 3)
        let bytes = randomBlocks(.q4_K, blocks: 34, random: &random)
        bytes.withUnsafeBytes { raw in
            #expect((Self.tiled(.q4_K, rows: 32, columns: 256, raw).tiles != nil) == KernelPath.compiledForVNNI)
            #expect(Self.tiled(.q4_K, rows: 17, columns: 512, raw).tiles == nil)  // not whole tiles
        }
    }

    @Test("dequantizing the tiles gives the original blocks' values, bit for bit", arguments: types)
    func dequantize(type: TensorType) throws {
        guard KernelPath.compiledForVNNI else { return }
        var random = TestRandom(state: 40 + UInt64(type.rawValue))
        let rows = 32, columns = 512
        let bytes = randomBlocks(type, blocks: rows * columns / type.blockSize, random: &random)
        try bytes.withUnsafeBytes { raw in
            let tiles = try #require(Self.tiled(type, rows: rows, columns: columns, raw).tiles)
            var original = [Float](repeating: 0, count: rows * columns), fromTiles = original
            original.withUnsafeMutableBufferPointer { type.dequantize(raw.baseAddress!, into: $0.baseAddress!, count: rows * columns) }
            fromTiles.withUnsafeMutableBufferPointer { tiles.dequantize(rows: 16..<32, into: $0.baseAddress! + 16 * columns) }
            fromTiles.withUnsafeMutableBufferPointer { tiles.dequantize(rows: 0..<16, into: $0.baseAddress!) }
            #expect(fromTiles == original)
        }
    }

    @Test("1…16 rows against float64, within the bound of the activations' precision; each row of a batch as alone",
          arguments: types, ActivationPrecision.allCases)
    func multiply(type: TensorType, precision: ActivationPrecision) throws {
        guard KernelPath.compiledForVNNI else { return }
        // The rounding of a value is at most half a step of its 32's scale: max|x| / 32512 or / 254.
        let steps: Double = precision == .eightBit ? 254 : 32512
        var random = TestRandom(state: 70 + UInt64(type.rawValue))
        for (rows, columns) in type.blockSize == 256 ? [(16, 256), (48, 768)] : [(16, 96), (48, 576)] {
            let bytes = randomBlocks(type, blocks: rows * columns / type.blockSize, random: &random)
            var dense = [Float](repeating: 0, count: rows * columns)
            bytes.withUnsafeBytes { raw in
                dense.withUnsafeMutableBufferPointer { type.dequantize(raw.baseAddress!, into: $0.baseAddress!, count: rows * columns) }
            }
            for n in [1, 2, 3, 4, 5, 6, 7, 8, 13, 16] {
                var x = (0..<n * columns).map { _ in random.float(-2...2) }
                x[0] = 40  // an outlier only widens its own group's step
                var y = [Float](repeating: .nan, count: n * rows), alone = [Float](repeating: .nan, count: rows)
                try bytes.withUnsafeBytes { raw in
                    let matrix = Self.tiled(type, rows: rows, columns: columns, raw, precision: precision)
                    _ = try #require(matrix.tiles)
                    matrix.multiply(x, count: n, into: &y, pool: ComputePool())
                    for i in 0..<n {
                        Array(x[(i * columns)..<((i + 1) * columns)]).withUnsafeBufferPointer { row in
                            matrix.multiply(row.baseAddress!, count: 1, into: &alone, pool: ComputePool())
                        }
                        #expect(Array(y[(i * rows)..<((i + 1) * rows)]) == alone, "\(type) n \(n) row \(i)")
                    }
                }
                for i in 0..<n {
                    for r in 0..<rows {
                        let (expected, magnitude, bound) = referenceDot(x, dense, row: i, weightRow: r, columns: columns, span: 32, steps: steps)
                        let error = abs(Double(y[i * rows + r]) - expected)
                        #expect(error <= bound + 1e-5 * magnitude + 1e-6, "\(type) rows \(rows) n \(n) [\(i), \(r)]: error \(error), bound \(bound)")
                    }
                }
            }
        }
    }

    @Test("requantized tiles give the products of the requantized matrix; narrower weights stay as stored",
          arguments: [(TensorType.q8_0, TensorType.q4_0), (.q6_K, .q4_0), (.q5_0, .q4_1), (.q8_0, .q4_1), (.q4_K, .q4_1)])
    func requantized(source: TensorType, target: TensorType) throws {
        var random = TestRandom(state: 90 + UInt64(source.rawValue))
        let rows = 32, columns = 512
        let bytes = randomBlocks(source, blocks: rows * columns / source.blockSize, random: &random)
        var dense = [Float](repeating: 0, count: rows * columns)
        bytes.withUnsafeBytes { raw in
            dense.withUnsafeMutableBufferPointer { source.dequantize(raw.baseAddress!, into: $0.baseAddress!, count: rows * columns) }
        }
        var expectedBytes = [UInt8](repeating: 0, count: target.byteCount(values: rows * columns))
        dense.withUnsafeBufferPointer { d in
            expectedBytes.withUnsafeMutableBytes { target.quantize(d.baseAddress!, into: $0.baseAddress!, count: rows * columns) }
        }
        let x = (0..<4 * columns).map { _ in random.float(-2...2) }
        var y = [Float](repeating: .nan, count: 4 * rows), expected = y
        try bytes.withUnsafeBytes { raw in
            let matrix = WeightMatrix(type: source, rows: rows, columns: columns, data: raw.baseAddress!)
                .tiled(requantizedTo: target, pool: ComputePool())
            guard KernelPath.compiledForVNNI else {
                #expect(matrix.tiles == nil)
                return
            }
            let tiles = try #require(matrix.tiles)
            guard target.bitsPerValue < source.bitsPerValue else {
                #expect(tiles.type == source)
                return
            }
            #expect(tiles.type == target)
            matrix.multiply(x, count: 4, into: &y, pool: ComputePool())
            try expectedBytes.withUnsafeBytes { raw in
                let requantized = Self.tiled(target, rows: rows, columns: columns, raw)
                _ = try #require(requantized.tiles)
                requantized.multiply(x, count: 4, into: &expected, pool: ComputePool())
            }
            #expect(y == expected)
        }
    }
}
