// Each tensor type dequantized on a block whose values are worked out by hand from ggml's layout.
import BraidKernels
import Testing

/// Dequantizes one block of `type` given as raw bytes.
func dequantize(_ type: TensorType, _ bytes: [UInt8]) -> [Float] {
    precondition(bytes.count == type.blockBytes)
    var out = [Float](repeating: .nan, count: type.blockSize)
    bytes.withUnsafeBytes { raw in
        out.withUnsafeMutableBufferPointer { type.dequantize(raw.baseAddress!, into: $0.baseAddress!, count: type.blockSize) }
    }
    return out
}

/// Little-endian bytes of a half-precision value.
func half(_ value: Float) -> [UInt8] {
    let bits = halfFromFloat(value)
    return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
}

/// Nibble bytes with value j in the low and 15 − j in the high nibble.
let rampNibbles: [UInt8] = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }

@Suite("Dequantization, hand-computed blocks")
struct DequantizeTests {
    @Test func q4_0() {
        // d = 0.5; low nibble j → y[j] = (j − 8)·0.5; high nibble 15 − j → y[j+16] = (7 − j)·0.5.
        let y = dequantize(.q4_0, half(0.5) + rampNibbles)
        #expect(y[0] == -4 && y[1] == -3.5 && y[8] == 0 && y[15] == 3.5)
        #expect(y[16] == 3.5 && y[23] == 0 && y[31] == -4)
    }

    @Test func q4_1() {
        // d = 0.5, m = −1: y = q·0.5 − 1.
        let y = dequantize(.q4_1, half(0.5) + half(-1) + rampNibbles)
        #expect(y[0] == -1 && y[2] == 0 && y[15] == 6.5)
        #expect(y[16] == 6.5 && y[31] == -1)
    }

    @Test func q5_0() {
        // d = 1; qh bit 0 gives y[0] its fifth bit, bit 16 gives y[16] its fifth bit.
        // qs[0] = 0x00, qs[1] = 0x21 (low 1, high 2); y = (5-bit value − 16)·1.
        let qh: [UInt8] = [0x01, 0x00, 0x01, 0x00]
        let qs: [UInt8] = [0x00, 0x21] + [UInt8](repeating: 0, count: 14)
        let y = dequantize(.q5_0, half(1) + qh + qs)
        #expect(y[0] == 0 && y[1] == -15 && y[2] == -16)
        #expect(y[16] == 0 && y[17] == -14 && y[31] == -16)
    }

    @Test func q5_1() {
        // d = 2, m = 0.5; qh bit 31 gives y[31] its fifth bit; qs[15] = 0xF3 (low 3, high 15).
        let qh: [UInt8] = [0x00, 0x00, 0x00, 0x80]
        let qs = [UInt8](repeating: 0, count: 15) + [0xF3]
        let y = dequantize(.q5_1, half(2) + half(0.5) + qh + qs)
        #expect(y[0] == 0.5 && y[15] == 6.5)
        #expect(y[31] == 62.5 && y[30] == 0.5)
    }

    @Test func q8_0() {
        // d = 0.25; y = int8·0.25.
        var qs = [UInt8](repeating: 0, count: 32)
        qs[0] = UInt8(bitPattern: -127)
        qs[5] = 4
        qs[31] = 100
        let y = dequantize(.q8_0, half(0.25) + qs)
        #expect(y[0] == -31.75 && y[5] == 1 && y[31] == 25 && y[1] == 0)
    }

    @Test func q4_K() {
        // d = 1, dmin = 0.5. Sub-block 0: scale scales[0]&63 = 2, min scales[4]&63 = 3.
        // Sub-block 4: scale (scales[8]&15) | (scales[0]>>6)<<4 = 5 | 16 = 21, min (scales[8]>>4) | (scales[4]>>6)<<4 = 1.
        // All quants 0x21: low nibble 1 (sub-blocks 0, 2, 4, 6), high nibble 2 (1, 3, 5, 7).
        var scales = [UInt8](repeating: 0, count: 12)
        scales[0] = 0x42
        scales[4] = 3
        scales[8] = 0x15
        let y = dequantize(.q4_K, half(1) + half(0.5) + scales + [UInt8](repeating: 0x21, count: 128))
        #expect(y[0] == 2 * 1 - 1.5 && y[31] == 0.5)      // sub-block 0
        #expect(y[32] == 0 && y[63] == 0)                  // sub-block 1: scale 0, min 0
        #expect(y[128] == 21 * 1 - 0.5 && y[159] == 20.5)  // sub-block 4
    }

    @Test func q5_K() {
        // As q4_K, plus qh: bit 0 of qh[l] adds 16 to y[l] (sub-block 0), bit 1 to y[32 + l].
        var scales = [UInt8](repeating: 0, count: 12)
        scales[0] = 2
        scales[1] = 1
        scales[4] = 3
        var qh = [UInt8](repeating: 0, count: 32)
        qh[0] = 0b01
        qh[1] = 0b10
        let y = dequantize(.q5_K, half(1) + half(0.5) + scales + qh + [UInt8](repeating: 0x21, count: 128))
        #expect(y[0] == 2 * 17 - 1.5 && y[1] == 2 * 1 - 1.5)
        #expect(y[32] == 1 * 2 && y[33] == 1 * 18)
    }

    @Test func q6_K() {
        // d = 0.5; int8 scales[0] = 2, scales[2] = −1, scales[4] = 1.
        // ql[0] = 0x35 (low 5, high 3), ql[32] = 7, qh[0] = 0b0010_1001:
        //   y[0]  = 0.5·2·((5 | 1<<4) − 32) = −11
        //   y[32] = 0.5·(−1)·((7 | 2<<4) − 32) = −3.5
        //   y[64] = 0.5·1·((3 | 2<<4) − 32) = 1.5
        var ql = [UInt8](repeating: 0, count: 128)
        ql[0] = 0x35
        ql[32] = 7
        var qh = [UInt8](repeating: 0, count: 64)
        qh[0] = 0b0010_1001
        var scales = [UInt8](repeating: 0, count: 16)
        scales[0] = 2
        scales[2] = UInt8(bitPattern: -1)
        scales[4] = 1
        let y = dequantize(.q6_K, ql + qh + scales + half(0.5))
        #expect(y[0] == -11 && y[32] == -3.5 && y[64] == 1.5)
        #expect(y[96] == 0)  // scales[6] = 0
        #expect(y[1] == 0.5 * 2 * -32)
    }

    @Test func floats() {
        #expect(dequantize(.f16, half(-2.5)) == [-2.5])
        #expect(dequantize(.bf16, [0x80, 0x3F]) == [1])  // 0x3F80 → 1.0
        #expect(dequantize(.f32, [0, 0, 0x80, 0xBF]) == [-1])
    }
}

@Suite("Half precision")
struct HalfFloatTests {
    @Test("every half bit pattern converts exactly and back")
    func exhaustive() {
        for bits in UInt16.min...UInt16.max {
            let value = floatFromHalf(bits)
            if value.isNaN { continue }
            #expect(halfFromFloat(value) == bits)
        }
    }

    @Test func knownValues() {
        #expect(floatFromHalf(0x3C00) == 1)
        #expect(floatFromHalf(0xC000) == -2)
        #expect(floatFromHalf(0x0001) == 0x1p-24)
        #expect(floatFromHalf(0x7BFF) == 65504)
        #expect(floatFromHalf(0x7C00) == .infinity)
        #expect(halfFromFloat(1.0009765625) == 0x3C01)
        #expect(halfFromFloat(1.00048828125) == 0x3C00)  // tie rounds to even
    }
}
