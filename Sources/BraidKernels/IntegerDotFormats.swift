// Each quantized block layout seen by the integer dot kernels as groups of 32 small integers q
// with one Float scale and offset per group: weight = scale·q + offset. Sub-block scales that are
// integers (Q6_K's int8 scales) are folded into q, which stays well inside Int16. Layouts as in
// Dequantize.swift (ggml-common.h); every format has a portable and an AVX2 unpacker, and the
// tests check both against dequantization.
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// A quantized block layout, group by group.
protocol IntegerDotFormat {
    /// Bytes per block.
    static var blockBytes: Int { get }
    /// Groups of 32 values per block.
    static var groupsPerBlock: Int { get }
    /// Whether groups carry an offset (then the kernels need the activations' group sums).
    static var hasOffset: Bool { get }
    /// Scale and offset of group `group` of the block at `block`.
    static func scaleAndOffset(_ block: UnsafeRawPointer, group: Int) -> (scale: Float, offset: Float)
    /// The 32 integers of group `group`, with Swift SIMD.
    static func values(_ block: UnsafeRawPointer, group: Int) -> SIMD32<Int16>
    #if arch(x86_64)
    /// The 32 integers of group `group` as two vectors of 16 int16 (values 0…15, 16…31).
    static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i)
    #endif
}

@inline(__always)
private func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    fastFloatFromHalf(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
}

@inline(__always)
private func bytes16(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<UInt8> {
    p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
}

@inline(__always)
private func widen(_ low: SIMD16<UInt8>, _ high: SIMD16<UInt8>) -> SIMD32<Int16> {
    SIMD32(lowHalf: SIMD16<Int16>(truncatingIfNeeded: low), highHalf: SIMD16<Int16>(truncatingIfNeeded: high))
}

/// 0x10 in byte j where bit j of `bits` is set (j = 0…15).
@inline(__always)
private func fifthBits(_ bits: UInt32) -> SIMD16<UInt8> {
    let lanes = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    return SIMD16<UInt8>(truncatingIfNeeded: ((SIMD16<UInt32>(repeating: bits) &>> lanes) & 1) &<< 4)
}

/// The 6-bit scale and minimum of sub-block `j` of a Q4_K/Q5_K block (ggml's get_scale_min_k4).
@inline(__always)
private func kScaleAndMin(_ block: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
    let s = block + 4
    let scale: UInt8, minimum: UInt8
    if j < 4 {
        scale = s.load(fromByteOffset: j, as: UInt8.self) & 63
        minimum = s.load(fromByteOffset: j + 4, as: UInt8.self) & 63
    } else {
        let packed = s.load(fromByteOffset: j + 4, as: UInt8.self)
        scale = (packed & 0x0F) | ((s.load(fromByteOffset: j - 4, as: UInt8.self) >> 6) << 4)
        minimum = (packed >> 4) | ((s.load(fromByteOffset: j, as: UInt8.self) >> 6) << 4)
    }
    return (half(block, 0) * Float(scale), -half(block, 2) * Float(minimum))
}

#if arch(x86_64)
@inline(__always)
private func load128(_ p: UnsafeRawPointer, _ offset: Int) -> __m128i {
    _mm_loadu_si128((p + offset).assumingMemoryBound(to: __m128i.self))
}

@inline(__always)
private func lowNibbles(_ v: __m128i) -> __m128i { _mm_and_si128(v, _mm_set1_epi8(0x0F)) }

@inline(__always)
private func highNibbles(_ v: __m128i) -> __m128i { _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F)) }

/// 0xFF in byte j where bit j of the low 16 bits of `bits` is set.
@inline(__always)
private func bitMask16(_ bits: UInt32) -> __m128i {
    let replicated = _mm_shuffle_epi8(_mm_set1_epi16(Int16(truncatingIfNeeded: bits)),
                                      _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1))
    let select = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128)
    return _mm_cmpeq_epi8(_mm_and_si128(replicated, select), select)
}
#endif

/// Q4_0: q = nibble − 8, scale d.
enum Q4_0Format: IntegerDotFormat {
    static let blockBytes = 18, groupsPerBlock = 1, hasOffset = false
    @inline(__always) static func scaleAndOffset(_ block: UnsafeRawPointer, group: Int) -> (scale: Float, offset: Float) {
        (half(block, 0), 0)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int) -> SIMD32<Int16> {
        let raw = bytes16(block, 2)
        return widen(raw & 0x0F, raw &>> 4) &- 8
    }
    #if arch(x86_64)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let raw = load128(block, 2), eight = _mm_set1_epi8(8)
        return (_mm256_cvtepi8_epi16(_mm_sub_epi8(lowNibbles(raw), eight)),
                _mm256_cvtepi8_epi16(_mm_sub_epi8(highNibbles(raw), eight)))
    }
    #endif
}

/// Q4_1: q = nibble, scale d, offset m.
enum Q4_1Format: IntegerDotFormat {
    static let blockBytes = 20, groupsPerBlock = 1, hasOffset = true
    @inline(__always) static func scaleAndOffset(_ block: UnsafeRawPointer, group: Int) -> (scale: Float, offset: Float) {
        (half(block, 0), half(block, 2))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int) -> SIMD32<Int16> {
        let raw = bytes16(block, 4)
        return widen(raw & 0x0F, raw &>> 4)
    }
    #if arch(x86_64)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let bytes = _mm256_cvtepu8_epi16(load128(block, 4))  // one byte per 16-bit lane: both nibbles
        return (_mm256_and_si256(bytes, _mm256_set1_epi16(0x0F)), _mm256_srli_epi16(bytes, 4))
    }
    #endif
}

/// Q5_0: q = (nibble | fifth bit << 4) − 16, scale d.
enum Q5_0Format: IntegerDotFormat {
    static let blockBytes = 22, groupsPerBlock = 1, hasOffset = false
    @inline(__always) static func scaleAndOffset(_ block: UnsafeRawPointer, group: Int) -> (scale: Float, offset: Float) {
        (half(block, 0), 0)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int) -> SIMD32<Int16> {
        let raw = bytes16(block, 6), bits = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        return widen((raw & 0x0F) | fifthBits(bits), (raw &>> 4) | fifthBits(bits >> 16)) &- 16
    }
    #if arch(x86_64)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let raw = load128(block, 6), bits = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        let sixteen = _mm_set1_epi8(16)
        // nibble − 16 where the fifth bit is clear, the nibble itself where it is set.
        let low = _mm_sub_epi8(lowNibbles(raw), _mm_andnot_si128(bitMask16(bits), sixteen))
        let high = _mm_sub_epi8(highNibbles(raw), _mm_andnot_si128(bitMask16(bits >> 16), sixteen))
        return (_mm256_cvtepi8_epi16(low), _mm256_cvtepi8_epi16(high))
    }
    #endif
}

/// Q5_1: q = nibble | fifth bit << 4, scale d, offset m.
enum Q5_1Format: IntegerDotFormat {
    static let blockBytes = 24, groupsPerBlock = 1, hasOffset = true
    @inline(__always) static func scaleAndOffset(_ block: UnsafeRawPointer, group: Int) -> (scale: Float, offset: Float) {
        (half(block, 0), half(block, 2))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int) -> SIMD32<Int16> {
        let raw = bytes16(block, 8), bits = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        return widen((raw & 0x0F) | fifthBits(bits), (raw &>> 4) | fifthBits(bits >> 16))
    }
    #if arch(x86_64)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let raw = load128(block, 8), bits = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let sixteen = _mm_set1_epi8(16)
        let low = _mm_or_si128(lowNibbles(raw), _mm_and_si128(bitMask16(bits), sixteen))
        let high = _mm_or_si128(highNibbles(raw), _mm_and_si128(bitMask16(bits >> 16), sixteen))
        return (_mm256_cvtepu8_epi16(low), _mm256_cvtepu8_epi16(high))
    }
    #endif
}

/// Q8_0: q = int8, scale d.
enum Q8_0Format: IntegerDotFormat {
    static let blockBytes = 34, groupsPerBlock = 1, hasOffset = false
    @inline(__always) static func scaleAndOffset(_ block: UnsafeRawPointer, group: Int) -> (scale: Float, offset: Float) {
        (half(block, 0), 0)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int) -> SIMD32<Int16> {
        SIMD32<Int16>(truncatingIfNeeded: block.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self))
    }
    #if arch(x86_64)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        (_mm256_cvtepi8_epi16(load128(block, 2)), _mm256_cvtepi8_epi16(load128(block, 18)))
    }
    #endif
}

/// Q4_K: 8 groups; group g is the low (g even) or high (g odd) nibbles of 32 bytes;
/// scale d·scale(g), offset −dmin·min(g).
enum Q4_KFormat: IntegerDotFormat {
    static let blockBytes = 144, groupsPerBlock = 8, hasOffset = true
    @inline(__always) static func scaleAndOffset(_ block: UnsafeRawPointer, group: Int) -> (scale: Float, offset: Float) {
        kScaleAndMin(block, group)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int) -> SIMD32<Int16> {
        let q = 16 + 32 * (group >> 1), shift = UInt8(4 * (group & 1))
        return widen((bytes16(block, q) &>> shift) & 0x0F, (bytes16(block, q + 16) &>> shift) & 0x0F)
    }
    #if arch(x86_64)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let q = 16 + 32 * (group >> 1), shift = Int32(4 * (group & 1)), mask = _mm_set1_epi8(0x0F)
        return (_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(load128(block, q), shift), mask)),
                _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(load128(block, q + 16), shift), mask)))
    }
    #endif
}

/// Q5_K: as Q4_K with bit g of each of the 32 bytes of qh as the fifth bit.
enum Q5_KFormat: IntegerDotFormat {
    static let blockBytes = 176, groupsPerBlock = 8, hasOffset = true
    @inline(__always) static func scaleAndOffset(_ block: UnsafeRawPointer, group: Int) -> (scale: Float, offset: Float) {
        kScaleAndMin(block, group)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int) -> SIMD32<Int16> {
        let q = 48 + 32 * (group >> 1), shift = UInt8(4 * (group & 1)), bit = UInt8(group)
        let low = ((bytes16(block, q) &>> shift) & 0x0F) | (((bytes16(block, 16) &>> bit) & 1) &<< 4)
        let high = ((bytes16(block, q + 16) &>> shift) & 0x0F) | (((bytes16(block, 32) &>> bit) & 1) &<< 4)
        return widen(low, high)
    }
    #if arch(x86_64)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let q = 48 + 32 * (group >> 1), shift = Int32(4 * (group & 1)), mask = _mm_set1_epi8(0x0F)
        let bit = _mm_set1_epi8(Int8(truncatingIfNeeded: 1 << group)), sixteen = _mm_set1_epi8(16)
        func fifth(_ offset: Int) -> __m128i {
            _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(load128(block, offset), bit), bit), sixteen)
        }
        let low = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(load128(block, q), shift), mask), fifth(16))
        let high = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(load128(block, q + 16), shift), mask), fifth(32))
        return (_mm256_cvtepu8_epi16(low), _mm256_cvtepu8_epi16(high))
    }
    #endif
}

/// Q6_K: 8 groups of 32 in two halves of 128; q = (6-bit − 32)·int8 sub-block scale (one per 16
/// values), scale d.
enum Q6_KFormat: IntegerDotFormat {
    static let blockBytes = 210, groupsPerBlock = 8, hasOffset = false
    @inline(__always) static func scaleAndOffset(_ block: UnsafeRawPointer, group: Int) -> (scale: Float, offset: Float) {
        (half(block, 208), 0)
    }
    /// Where group `group` lives: low-bits offset, nibble shift, high-bits offset and shift, scales offset.
    @inline(__always) private static func layout(_ group: Int) -> (ql: Int, qlShift: Int, qh: Int, qhShift: Int, scales: Int) {
        let half128 = group >> 2, k = group & 3
        return (64 * half128 + 32 * (k & 1), 4 * (k >> 1), 128 + 32 * half128, 2 * k, 192 + 8 * half128 + 2 * k)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int) -> SIMD32<Int16> {
        let l = layout(group)
        func part(_ i: Int) -> SIMD16<Int16> {
            let low = (bytes16(block, l.ql + 16 * i) &>> UInt8(l.qlShift)) & 0x0F
            let high = ((bytes16(block, l.qh + 16 * i) &>> UInt8(l.qhShift)) & 3) &<< 4
            let scale = Int16(block.load(fromByteOffset: l.scales + i, as: Int8.self))
            return (SIMD16<Int16>(truncatingIfNeeded: low | high) &- 32) &* scale
        }
        return SIMD32(lowHalf: part(0), highHalf: part(1))
    }
    #if arch(x86_64)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let l = layout(group)
        let mask4 = _mm_set1_epi8(0x0F), mask2 = _mm_set1_epi8(3), thirtyTwo = _mm_set1_epi8(32)
        func part(_ i: Int) -> __m256i {
            let low = _mm_and_si128(_mm_srli_epi16(load128(block, l.ql + 16 * i), Int32(l.qlShift)), mask4)
            let high = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(load128(block, l.qh + 16 * i), Int32(l.qhShift)), mask2), 4)
            let q = _mm256_cvtepi8_epi16(_mm_sub_epi8(_mm_or_si128(low, high), thirtyTwo))
            return _mm256_mullo_epi16(q, _mm256_set1_epi16(Int16(block.load(fromByteOffset: l.scales + i, as: Int8.self))))
        }
        return (part(0), part(1))
    }
    #endif
}
