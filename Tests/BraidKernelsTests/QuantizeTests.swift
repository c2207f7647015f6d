// Quantization to Q4_0 and Q4_1 against a plain transliteration of ggml's reference quantizers,
// byte for byte, on random and awkward blocks; the round trip within half a step (a whole step at
// Q4_0's clamped end); and input from a corrupt file (NaN, infinities) quantized without a trap.
import BraidKernels
import Testing

@Suite("Quantization")
struct QuantizeTests {
    /// ggml's `quantize_row_q4_0_ref` / `quantize_row_q4_1_ref` for one block, written plainly.
    static func reference(_ x: [Float], _ type: TensorType) -> [UInt8] {
        var header: [UInt16] = [], nibbles: [Int] = []
        if type == .q4_0 {
            var amax: Float = 0, max: Float = 0
            for v in x where abs(v) > amax {
                amax = abs(v)
                max = v
            }
            let d = max / -8, id = d != 0 ? 1 / d : 0
            header = [halfFromFloat(d)]
            nibbles = x.map { Swift.min(15, Int(Int8(($0 * id + 8.5).rounded(.towardZero)))) }
        } else {
            let min = x.min()!, max = x.max()!
            let d = (max - min) / 15, id = d != 0 ? 1 / d : 0
            header = [halfFromFloat(d), halfFromFloat(min)]
            nibbles = x.map { Swift.min(15, Int(Int8((($0 - min) * id + 0.5).rounded(.towardZero)))) }
        }
        return header.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } + (0..<16).map { UInt8(nibbles[$0] | nibbles[$0 + 16] << 4) }
    }

    static func quantized(_ x: [Float], _ type: TensorType) -> [UInt8] {
        var bytes = [UInt8](repeating: 0xAA, count: type.byteCount(values: x.count))
        x.withUnsafeBufferPointer { source in
            bytes.withUnsafeMutableBytes { type.quantize(source.baseAddress!, into: $0.baseAddress!, count: x.count) }
        }
        return bytes
    }

    static func blocks() -> [[Float]] {
        var random = TestRandom(state: 11)
        var blocks = (0..<200).map { _ in (0..<32).map { _ in random.float(-3...3) } }
        blocks += [
            [Float](repeating: 0, count: 32), [Float](repeating: 0.25, count: 32), [Float](repeating: -7, count: 32),
            (0..<32).map { Float($0) }, (0..<32).map { -Float($0) / 1000 },
            (0..<32).map { $0 == 5 ? 100 : random.float(-0.01...0.01) }, (0..<32).map { $0 == 9 ? -100 : random.float() },
            (0..<32).map { Float($0 % 2) * 1e-6 },
        ]
        return blocks
    }

    @Test("Q4_0 and Q4_1 blocks byte for byte as ggml's reference quantizers", arguments: TensorType.quantizable)
    func matchesReference(type: TensorType) {
        for (index, block) in Self.blocks().enumerated() {
            #expect(Self.quantized(block, type) == Self.reference(block, type), "\(type) block \(index)")
        }
        let rows = Self.blocks().prefix(8).flatMap { $0 }  // several blocks in one call
        #expect(Self.quantized(rows, type) == Self.blocks().prefix(8).flatMap { Self.reference($0, type) })
    }

    @Test("the round trip stays within half a step of each value (a step at Q4_0's clamped end)", arguments: TensorType.quantizable)
    func roundTrip(type: TensorType) {
        for block in Self.blocks() {
            var back = [Float](repeating: .nan, count: 32)
            Self.quantized(block, type).withUnsafeBytes { raw in
                back.withUnsafeMutableBufferPointer { type.dequantize(raw.baseAddress!, into: $0.baseAddress!, count: 32) }
            }
            let range = (block.max()! - block.min()!), largest = block.map(abs).max()!
            let step = type == .q4_0 ? largest / 8 : range / 15
            let allowed = (type == .q4_0 ? step : step / 2) * 1.002 + largest * 1e-3 + 1e-7  // f16 scales
            for j in 0..<32 {
                #expect(abs(back[j] - block[j]) <= allowed, "\(type): \(block[j]) came back as \(back[j])")
            }
        }
    }

    @Test("NaN and infinite values quantize without a trap", arguments: TensorType.quantizable)
    func corruptValues(type: TensorType) {
        for special in [Float.nan, .infinity, -.infinity] {
            var block = (0..<32).map { Float($0) / 10 }
            block[3] = special
            #expect(Self.quantized(block, type).count == type.blockBytes)
        }
    }
}
