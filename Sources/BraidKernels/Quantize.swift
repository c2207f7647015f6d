// Quantization of Float rows to the 4-bit block formats, as ggml's reference quantizers do it
// (ggml-quants.c, `quantize_row_q4_0_ref` and `quantize_row_q4_1_ref`): round to nearest, the
// block's scale kept in f16. Used to requantize a draft model's wider matrices at load, where a
// smaller copy of the weights makes every draft step cheaper and the target's verification keeps
// the output exact.

extension TensorType {
    /// The types `quantize` writes.
    public static let quantizable: [TensorType] = [.q4_0, .q4_1]

    /// Storage bits per value, scales included (Q4_0: 4.5, Q8_0: 8.5, F32: 32).
    public var bitsPerValue: Double {
        Double(blockBytes * 8) / Double(blockSize)
    }

    /// Quantizes `count` Floats (a multiple of `blockSize`) from `source` into blocks of this type
    /// at `destination`. Only the `quantizable` types.
    public func quantize(_ source: UnsafePointer<Float>, into destination: UnsafeMutableRawPointer, count: Int) {
        precondition(Self.quantizable.contains(self), "\(self) cannot be quantized to")
        for b in 0..<(count / blockSize) {
            let x = source + b * blockSize, block = destination + b * blockBytes
            if self == .q4_0 { Self.quantizeQ4_0(x, into: block) } else { Self.quantizeQ4_1(x, into: block) }
        }
    }

    /// Q4_0: d = the value of largest magnitude / −8; nibble = round(x / d) + 8, at most 15.
    private static func quantizeQ4_0(_ x: UnsafePointer<Float>, into block: UnsafeMutableRawPointer) {
        var extreme: Float = 0
        for j in 0..<32 where abs(x[j]) > abs(extreme) { extreme = x[j] }
        let d = extreme / -8, inverse = d != 0 ? 1 / d : 0
        block.storeBytes(of: halfFromFloat(d), as: UInt16.self)
        storeNibbles(x, into: block + 2) { $0 * inverse + 8.5 }
    }

    /// Q4_1: m = the smallest value, d = range / 15; nibble = round((x − m) / d), at most 15.
    private static func quantizeQ4_1(_ x: UnsafePointer<Float>, into block: UnsafeMutableRawPointer) {
        var smallest = x[0], largest = x[0]
        for j in 1..<32 {
            smallest = min(smallest, x[j])
            largest = max(largest, x[j])
        }
        let d = (largest - smallest) / 15, inverse = d != 0 ? 1 / d : 0
        block.storeBytes(of: halfFromFloat(d), as: UInt16.self)
        block.storeBytes(of: halfFromFloat(smallest), toByteOffset: 2, as: UInt16.self)
        storeNibbles(x, into: block + 4) { ($0 - smallest) * inverse + 0.5 }
    }

    /// Byte j holds value j's nibble low and value j + 16's high, as ggml lays them out; a
    /// nibble is `rounded(x)` truncated to 0…15 (NaN, from a corrupt file, as 0).
    private static func storeNibbles(_ x: UnsafePointer<Float>, into bytes: UnsafeMutableRawPointer, _ rounded: (Float) -> Float) {
        func nibble(_ value: Float) -> UInt8 {
            value.isNaN ? 0 : UInt8(max(0, min(15, value.rounded(.towardZero))))
        }
        for j in 0..<16 {
            bytes.storeBytes(of: nibble(rounded(x[j])) | nibble(rounded(x[j + 16])) << 4, toByteOffset: j, as: UInt8.self)
        }
    }
}
