// Kernels against plain reference implementations, on random data and awkward sizes.
@testable import BraidKernels
import Testing

struct TestRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return state ^ (state >> 29)
    }
    mutating func float(_ range: ClosedRange<Float> = -1...1) -> Float { Float.random(in: range, using: &self) }
}

/// Random bytes for `blocks` blocks of `type` whose f16 scales are small, finite numbers.
func randomBlocks(_ type: TensorType, blocks: Int, random: inout TestRandom) -> [UInt8] {
    var bytes = (0..<blocks * type.blockBytes).map { _ in UInt8.random(in: 0...255, using: &random) }
    let scaleOffsets: [Int] = switch type {
    case .q4_0, .q5_0, .q8_0: [0]
    case .q4_1, .q5_1, .q4_K, .q5_K: [0, 2]
    case .q6_K: [208]
    case .f16: Array(stride(from: 0, to: type.blockBytes, by: 2))
    default: []
    }
    for block in 0..<blocks {
        for offset in scaleOffsets {
            let h = halfFromFloat(random.float(-0.05...0.05))
            bytes[block * type.blockBytes + offset] = UInt8(h & 0xFF)
            bytes[block * type.blockBytes + offset + 1] = UInt8(h >> 8)
        }
    }
    if type == .f32 || type == .bf16 {
        let floats = (0..<blocks).map { _ in random.float() }
        bytes = type == .f32 ? floats.withUnsafeBytes { Array($0) }
            : floats.flatMap { f -> [UInt8] in let b = f.bitPattern >> 16; return [UInt8(b & 0xFF), UInt8(b >> 8)] }
    }
    return bytes
}

@Suite("Kernels against references")
struct KernelTests {
    @Test("float matrices and large batches (the sgemm path) equal dequantize-then-dot",
          arguments: [TensorType.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K])
    func multiply(type: TensorType) {
        var random = TestRandom(state: UInt64(type.rawValue) + 1)
        let columns = type.blockSize == 256 ? 512 : 96
        for (rows, n) in [(1, 1), (67, 1), (130, 3), (7, 5), (70, 17)] {  // odd row counts; 17 rows take the sgemm path
            // Quantized small batches run the integer kernels, which IntegerKernelTests checks
            // against their own error bound.
            if WeightMatrix(type: type, rows: rows, columns: columns, data: UnsafeRawPointer(bitPattern: 64)!).usesIntegerKernels(rows: n) { continue }
            let bytes = randomBlocks(type, blocks: rows * columns / type.blockSize, random: &random)
            let x = (0..<n * columns).map { _ in random.float() }
            var y = [Float](repeating: .nan, count: n * rows)
            var dense = [Float](repeating: 0, count: rows * columns)
            bytes.withUnsafeBytes { raw in
                let matrix = WeightMatrix(type: type, rows: rows, columns: columns, data: raw.baseAddress!)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { matrix.multiply(xp.baseAddress!, count: n, into: $0.baseAddress!, pool: ComputePool()) }
                }
                dense.withUnsafeMutableBufferPointer { type.dequantize(raw.baseAddress!, into: $0.baseAddress!, count: rows * columns) }
            }
            for i in 0..<n {
                for r in 0..<rows {
                    var expected: Double = 0, magnitude: Double = 0
                    for c in 0..<columns {
                        let product = Double(x[i * columns + c]) * Double(dense[r * columns + c])
                        expected += product
                        magnitude += abs(product)
                    }
                    let got = Double(y[i * rows + r])
                    // Float accumulation: within a few ulps of the sum of magnitudes.
                    #expect(abs(got - expected) <= 1e-6 * magnitude + 1e-7, "\(type) rows \(rows) n \(n) [\(i), \(r)]")
                }
            }
        }
    }

    @Test("dot product over odd lengths")
    func dot() {
        var random = TestRandom(state: 7)
        for count in [0, 1, 7, 16, 17, 33, 1000] {
            let a = (0..<count).map { _ in random.float() }, b = (0..<count).map { _ in random.float() }
            let expected = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let got = VectorMath.dot(a, b, count: count)
            #expect(abs(Double(got) - expected) < 1e-4)
        }
    }

    @Test("allFinite finds a NaN or an infinity anywhere, and passes large finite values")
    func allFinite() {
        for count in [1, 7, 8, 17, 1000] {
            let values = (0..<count).map { Float($0 % 2 == 0 ? 3e38 : -3e38) }
            #expect(VectorMath.allFinite(values, count: count))
            for bad in [Float.nan, .infinity, -.infinity] {
                for position in Set([0, count / 2, count - 1]) {
                    var spoiled = values
                    spoiled[position] = bad
                    #expect(!VectorMath.allFinite(spoiled, count: count), "\(bad) at \(position) of \(count)")
                }
            }
        }
    }

    @Test("RMSNorm, softmax and SwiGLU equal their formulas")
    func elementwise() {
        let x: [Float] = [1, -2, 3, 0.5], w: [Float] = [1, 2, 0.5, -1]
        var out = [Float](repeating: 0, count: 4)
        VectorMath.rmsNorm(x, weight: w, epsilon: 1e-5, into: &out, count: 4)
        let rms = ((1 + 4 + 9 + 0.25) / 4 + 1e-5 as Float).squareRoot()
        for i in 0..<4 { #expect(abs(out[i] - x[i] / rms * w[i]) < 1e-6) }

        var p: [Float] = [1, 2, 3, 1000]
        VectorMath.softmax(&p, count: 4)
        #expect(abs(p[3] - 1) < 1e-6 && p[0] >= 0 && abs(p.reduce(0, +) - 1) < 1e-6)

        var gate: [Float] = [0, 1, -2]
        VectorMath.swiGLU(gate: &gate, up: [5, 2, 3], count: 3)
        let silu = { (g: Float) in g / (1 + Float(exp(Double(-g)))) }
        #expect(gate[0] == 0 && abs(gate[1] - silu(1) * 2) < 1e-6 && abs(gate[2] - silu(-2) * 3) < 1e-6)
    }

    @Test("RoPE rotates pairs by position × base^(−2i/d)", arguments: [RoPEStyle.adjacentPairs, .halves])
    func rope(style: RoPEStyle) {
        let dims = 8, base: Float = 10_000, position = 5
        let rope = RotaryEmbedding(style: style, dimensionCount: dims, base: base)
        var cosines = [Float](repeating: 0, count: dims / 2), sines = cosines
        rope.angles(position: position, cosines: &cosines, sines: &sines)
        let x: [Float] = (0..<dims).map { Float($0) + 1 }
        var y = x
        rope.rotate(&y, cosines: cosines, sines: sines)
        for i in 0..<dims / 2 {
            let theta = Double(position) * pow(Double(base), -2 * Double(i) / Double(dims))
            let (a, b) = style == .adjacentPairs ? (2 * i, 2 * i + 1) : (i, i + dims / 2)
            #expect(abs(Double(y[a]) - (Double(x[a]) * cos(theta) - Double(x[b]) * sin(theta))) < 1e-4)
            #expect(abs(Double(y[b]) - (Double(x[a]) * sin(theta) + Double(x[b]) * cos(theta))) < 1e-4)
        }
        // Position 0 is the identity.
        rope.angles(position: 0, cosines: &cosines, sines: &sines)
        var z = x
        rope.rotate(&z, cosines: cosines, sines: sines)
        #expect(z == x)
    }

    @Test("the pool visits every index exactly once, with any thread count")
    func pool() {
        for threads in [1, 2, 8] {
            let pool = ComputePool(threadCount: threads)
            for count in [0, 1, 3, 100] {
                var hits = [Int](repeating: 0, count: count)
                hits.withUnsafeMutableBufferPointer { buffer in
                    let base = buffer.baseAddress
                    pool.forEach(count) { base![$0] += 1 }
                }
                #expect(hits.allSatisfy { $0 == 1 })
            }
        }
    }

    @Test("jobs with a different number of helpers each time never lose or repeat an index")
    func poolVaryingHelpers() {
        let pool = ComputePool()
        var total = 0
        let counts = [2, 100, 3, 1, 50, 7]
        var sums = [Int](repeating: 0, count: 100)
        for round in 0..<3000 {
            let count = counts[round % counts.count]
            sums.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress
                pool.forEach(count) { base![$0] += 1 }
            }
            total += count
        }
        #expect(sums.reduce(0, +) == total)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
