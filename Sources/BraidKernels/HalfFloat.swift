// Conversions from the 16-bit float formats stored in model files to Float.
// Bit-level and exact (IEEE 754 binary16 and bfloat16), so they work on every CPU Swift targets,
// including x86-64 macOS where `Float16` does not exist.
#if canImport(BraidAVX2)
import _Builtin_intrinsics.intel
#endif

/// Converts an IEEE 754 half-precision bit pattern to `Float`, exactly (subnormals, infinities, NaN).
@inlinable
public func floatFromHalf(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2⁻²⁴, exact in Float.
        let magnitude = Float(mantissa) * 0x1p-24
        return sign == 0 ? magnitude : -magnitude
    }
    if exponent == 31 {
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// IEEE half bits → Float by the hardware where it converts in one instruction (F16C in the fast
/// x86 build, ARM), otherwise `floatFromHalf` (a library call for `Float16` would be slower).
@inline(__always)
func fastFloatFromHalf(_ bits: UInt16) -> Float {
    #if canImport(BraidAVX2)
    return _cvtsh_ss(bits)
    #elseif arch(arm64)
    return Float(Float16(bitPattern: bits))
    #else
    return floatFromHalf(bits)
    #endif
}

/// Float → IEEE half bits, rounded to nearest even: Swift's `Float16` where it exists (one
/// instruction with F16C or on ARM), otherwise `halfFromFloat`.
@inline(__always)
public func fastHalfFromFloat(_ value: Float) -> UInt16 {
    #if arch(arm64) || (arch(x86_64) && os(Linux))
    return Float16(value).bitPattern
    #else
    return halfFromFloat(value)
    #endif
}

/// Converts a bfloat16 bit pattern (the upper half of a Float) to `Float`.
@inlinable
public func floatFromBFloat16(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// Converts a `Float` to the nearest half-precision bit pattern (round to nearest even).
/// The portable fallback of `fastHalfFromFloat`, and what tests and tools that write GGUF files use.
public func halfFromFloat(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    if value.isNaN { return sign | 0x7E00 }
    let magnitude = abs(value)
    if magnitude >= 65520 { return sign | 0x7C00 }
    if magnitude < 0x1p-14 {
        // Subnormal half: units of 2⁻²⁴, rounded to nearest even by Float's own rounding.
        let units = (magnitude * 0x1p24).rounded(.toNearestOrEven)
        return sign | UInt16(units)
    }
    let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
    var mantissa = bits & 0x7F_FFFF
    var halfExponent = UInt32(exponent)
    // Round the 23-bit mantissa to 10 bits, ties to even.
    let dropped = mantissa & 0x1FFF
    mantissa >>= 13
    if dropped > 0x1000 || (dropped == 0x1000 && (mantissa & 1) == 1) {
        mantissa += 1
        if mantissa == 0x400 { mantissa = 0; halfExponent += 1 }
    }
    return sign | UInt16(halfExponent << 10) | UInt16(mantissa)
}
