// The element types a tensor in a model file can have, with ggml's ids and block geometry.
// Reference: ggml's `ggml_type` enum and `type_traits` (ggml/src/ggml.c); block layouts in
// ggml-common.h. Quantized types store `blockSize` values in `blockBytes` bytes.

/// The storage type of a tensor's elements, numbered as ggml numbers them.
public enum TensorType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case bf16 = 30

    /// Number of values in one block (1 for plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: 32
        case .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes taken by one block.
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18   // f16 d, 16 bytes of nibbles
        case .q4_1: 20   // f16 d, f16 m, 16 bytes of nibbles
        case .q5_0: 22   // f16 d, 4 bytes of high bits, 16 bytes of nibbles
        case .q5_1: 24   // f16 d, f16 m, 4 bytes of high bits, 16 bytes of nibbles
        case .q8_0: 34   // f16 d, 32 int8
        case .q4_K: 144  // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
        case .q5_K: 176  // as q4_K plus 32 bytes of high bits
        case .q6_K: 210  // 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, f16 d
        }
    }

    /// Bytes needed for `count` values; `count` must be a multiple of `blockSize`.
    public func byteCount(values count: Int) -> Int {
        count / blockSize * blockBytes
    }

    /// The name ggml prints, e.g. `Q4_K`.
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        }
    }
}
