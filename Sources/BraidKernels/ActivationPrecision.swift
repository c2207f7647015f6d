/// How finely the byte kernels of AVX-512 VNNI builds quantize a matrix product's activations
/// (ByteDot.swift), in bits per value. Other builds' int16 kernels always take 16 bits.
public enum ActivationPrecision: Int, Sendable, CaseIterable {
    /// 15-bit integers per 32 values, two bytes each: decoded logits within about 0.6% of a
    /// float64 forward pass (golden-tested to 1%). The default.
    case fifteenBit = 15
    /// One byte per value, per 32 values, as llama.cpp quantizes them: half the byte kernels'
    /// multiply-adds, and about llama.cpp's precision.
    case eightBit = 8
}
