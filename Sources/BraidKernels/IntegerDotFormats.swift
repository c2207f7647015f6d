// Each quantized block layout seen by the integer dot kernels as groups of 32 small integers q
// with one Float scale per block and one offset per group: weight = scale·q + offset. Sub-block
// scales that are integers (Q4_K/Q5_K's 6-bit ones, Q6_K's int8 ones) are folded into q, which
// stays well inside Int16 (|q| ≤ 31·63 and 32·128), so the kernels sum a whole block's groups
// before they apply its one Float scale. Layouts as in Dequantize.swift (ggml-common.h); every
// format has a portable and an AVX2 unpacker, and an AVX-512 one that fills one register per group;
// the tests check each build's kernels against dequantization.
#if canImport(BraidAVX2)
import _Builtin_intrinsics.intel
#endif
#if canImport(BraidAVX512)
import BraidAVX512
#endif

/// A quantized block layout, group by group.
protocol IntegerDotFormat {
    /// Bytes per block.
    static var blockBytes: Int { get }
    /// Groups of 32 values per block.
    static var groupsPerBlock: Int { get }
    /// Groups whose integer dots the kernels may add in Int32 before converting to Float (with
    /// activations of one scale per block): as many as keep |Σ qᵢ·x̂ᵢ| < 2³¹ for the format's
    /// largest |q| and |x̂| ≤ 32767 — all 8 of Q4_K (|q| ≤ 945) and Q5_K (1953), 4 of Q6_K (4096).
    static var groupsPerIntegerSum: Int { get }
    /// Whether groups carry an offset (then the kernels need the activations' group sums).
    static var hasOffset: Bool { get }
    /// The scales of the block at `block` (see `WeightScales`): computed once per block and
    /// handed to the unpackers of its groups.
    static func blockScales(_ block: UnsafeRawPointer) -> WeightScales
    /// Writes the 32 integers of group `group` to `q`, in plain Swift.
    static func values(_ block: UnsafeRawPointer, group: Int, scales: WeightScales, into q: UnsafeMutablePointer<Int16>)
    #if canImport(BraidAVX2)
    /// The 32 integers of group `group` as two vectors of 16 int16 (values 0…15, 16…31).
    static func valuesAVX2(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> (__m256i, __m256i)
    #endif
    #if canImport(BraidAVX512)
    /// The 32 integers of group `group` as one vector of 32 int16 (by default `valuesAVX2` joined).
    static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i
    #endif
}

extension IntegerDotFormat {
    static var groupsPerIntegerSum: Int { groupsPerBlock }

    #if canImport(BraidAVX512)
    @inline(__always)
    static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i {
        let (low, high) = valuesAVX2(block, group: group, scales: scales)
        return braid_join(low, high)
    }
    #endif
}

/// The scale of a block, the offsets of its groups and their integer sub-block scales, lane g for
/// group g (lanes past `groupsPerBlock` unused).
struct WeightScales {
    var scale: Float
    var offsets: SIMD8<Float>
    /// Integer scales the unpacker folds into q: lane g for group g (Q4_K/Q5_K), lanes 2g and
    /// 2g + 1 for the halves of group g (Q6_K); else unused.
    var subBlockScales: SIMD16<Int16>

    @inline(__always)
    init(scale: Float, offset: Float = 0, subBlockScales: SIMD16<Int16> = SIMD16()) {
        self.init(scale: scale, offsets: SIMD8(repeating: offset), subBlockScales: subBlockScales)
    }

    @inline(__always)
    init(scale: Float, offsets: SIMD8<Float>, subBlockScales: SIMD16<Int16>) {
        self.scale = scale
        self.offsets = offsets
        self.subBlockScales = subBlockScales
    }
}

/// Bit `bit` of `bits` as 16 (the fifth bit of a 5-bit value), or 0. A test against a mask
/// rather than a shift by the lane's index, which SSE2 cannot do per lane.
@inline(__always)
private func fifthBit(_ bits: UInt32, _ bit: Int) -> UInt8 {
    bits & (UInt32(1) << UInt32(bit)) != 0 ? 16 : 0
}

/// The 32 values of a Q4_0/Q4_1/Q5_0/Q5_1 block, portably: value j is the low nibble of byte j
/// (j < 16) or the high nibble of byte j − 16, plus its fifth bit from the 32-bit field at
/// `fifthBitsAt` when there is one, minus `bias`.
@inline(__always)
private func nibbleValues(_ block: UnsafeRawPointer, nibblesAt offset: Int, fifthBitsAt bitsOffset: Int?, bias: Int16,
                          into q: UnsafeMutablePointer<Int16>) {
    let bits = bitsOffset.map { block.loadUnaligned(fromByteOffset: $0, as: UInt32.self) } ?? 0
    for j in 0..<16 {
        let b = Blocks.byte(block, offset + j)
        q[j] = Int16((b & 0x0F) | fifthBit(bits, j)) - bias
        q[j + 16] = Int16((b >> 4) | fifthBit(bits, j + 16)) - bias
    }
}

/// The scale d, offsets −dmin·min(j) and 6-bit sub-block scales (folded into q) of the 8
/// sub-blocks of a Q4_K/Q5_K block.
@inline(__always)
private func kBlockScales(_ block: UnsafeRawPointer) -> WeightScales {
    let (scales, mins) = Blocks.scalesAndMins(block + 4)
    #if canImport(BraidAVX2)
    // The generic SIMD conversions are calls, not instructions, even when specialized.
    let bytes = _mm_set_epi64x(0, Int64(bitPattern: unsafeBitCast(mins, to: UInt64.self)))
    let minima = unsafeBitCast(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), to: SIMD8<Float>.self)
    let subBlockScales = unsafeBitCast(_mm256_cvtepu8_epi16(_mm_set_epi64x(0, Int64(bitPattern: unsafeBitCast(scales, to: UInt64.self)))),
                                       to: SIMD16<Int16>.self)
    #else
    var minima = SIMD8<Float>(), subBlockScales = SIMD16<Int16>()
    for j in 0..<8 {
        minima[j] = Float(mins[j])
        subBlockScales[j] = Int16(scales[j])
    }
    #endif
    return WeightScales(scale: Blocks.half(block, 0), offsets: minima * -Blocks.half(block, 2), subBlockScales: subBlockScales)
}

#if canImport(BraidAVX2)
@inline(__always)
private func load128(_ p: UnsafeRawPointer, _ offset: Int) -> __m128i {
    _mm_loadu_si128((p + offset).assumingMemoryBound(to: __m128i.self))
}

/// Bytes widened to 16-bit lanes (`_mm256_cvtepu8_epi16`): their low and high nibbles.
@inline(__always)
private func lowNibbles16(_ v: __m256i) -> __m256i { _mm256_and_si256(v, _mm256_set1_epi16(0x0F)) }

@inline(__always)
private func highNibbles16(_ v: __m256i) -> __m256i { _mm256_srli_epi16(v, 4) }

#if canImport(BraidAVX512)
/// The 32 bytes at `p + offset` widened to 32 int16 lanes, zero-extended.
@inline(__always)
private func unsignedBytes32(_ p: UnsafeRawPointer, _ offset: Int) -> __m512i {
    _mm512_cvtepu8_epi16(_mm256_loadu_si256((p + offset).assumingMemoryBound(to: __m256i.self)))
}

/// The 16 bytes at `p + offset` as 32 int16 lanes: their low nibbles in lanes 0…15, their high
/// nibbles in lanes 16…31 (the layout of Q4_0/Q4_1 blocks).
@inline(__always)
private func nibbles32(_ p: UnsafeRawPointer, _ offset: Int) -> __m512i {
    let twice = _mm512_cvtepu8_epi16(_mm256_broadcastsi128_si256(load128(p, offset)))
    let shifts = braid_join(_mm256_setzero_si256(), _mm256_set1_epi16(4))
    return _mm512_and_si512(_mm512_srlv_epi16(twice, shifts), _mm512_set1_epi16(0x0F))
}

/// The low (`high` false) or high nibbles of 32 zero-extended bytes.
@inline(__always)
private func nibbles(_ bytes: __m512i, high: Bool) -> __m512i {
    high ? _mm512_srli_epi16(bytes, 4) : _mm512_and_si512(bytes, _mm512_set1_epi16(0x0F))
}
#endif

/// 0xFFFF in 16-bit lane j where bit j of the low 16 bits of `bits` is set.
@inline(__always)
private func bitLanes(_ bits: UInt32) -> __m256i {
    let select = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, -32768)
    return _mm256_cmpeq_epi16(_mm256_and_si256(_mm256_set1_epi16(Int16(truncatingIfNeeded: bits)), select), select)
}
#endif

/// Q4_0: q = nibble − 8, scale d.
enum Q4_0Format: IntegerDotFormat {
    static let blockBytes = 18, groupsPerBlock = 1, hasOffset = false
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 0))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, scales: WeightScales, into q: UnsafeMutablePointer<Int16>) {
        nibbleValues(block, nibblesAt: 2, fifthBitsAt: nil, bias: 8, into: q)
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> (__m256i, __m256i) {
        let bytes = _mm256_cvtepu8_epi16(load128(block, 2)), eight = _mm256_set1_epi16(8)
        return (_mm256_sub_epi16(lowNibbles16(bytes), eight), _mm256_sub_epi16(highNibbles16(bytes), eight))
    }
    #endif
    #if canImport(BraidAVX512)
    @inline(__always) static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i {
        _mm512_sub_epi16(nibbles32(block, 2), _mm512_set1_epi16(8))
    }
    #endif
}

/// Q4_1: q = nibble, scale d, offset m.
enum Q4_1Format: IntegerDotFormat {
    static let blockBytes = 20, groupsPerBlock = 1, hasOffset = true
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 0), offset: Blocks.half(block, 2))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, scales: WeightScales, into q: UnsafeMutablePointer<Int16>) {
        nibbleValues(block, nibblesAt: 4, fifthBitsAt: nil, bias: 0, into: q)
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> (__m256i, __m256i) {
        let bytes = _mm256_cvtepu8_epi16(load128(block, 4))
        return (lowNibbles16(bytes), highNibbles16(bytes))
    }
    #endif
    #if canImport(BraidAVX512)
    @inline(__always) static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i {
        nibbles32(block, 4)
    }
    #endif
}

/// Q5_0: q = (nibble | fifth bit << 4) − 16, scale d.
enum Q5_0Format: IntegerDotFormat {
    static let blockBytes = 22, groupsPerBlock = 1, hasOffset = false
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 0))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, scales: WeightScales, into q: UnsafeMutablePointer<Int16>) {
        nibbleValues(block, nibblesAt: 6, fifthBitsAt: 2, bias: 16, into: q)
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> (__m256i, __m256i) {
        let bytes = _mm256_cvtepu8_epi16(load128(block, 6)), bits = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        let sixteen = _mm256_set1_epi16(16)
        // nibble − 16 where the fifth bit is clear, the nibble itself where it is set.
        return (_mm256_sub_epi16(lowNibbles16(bytes), _mm256_andnot_si256(bitLanes(bits), sixteen)),
                _mm256_sub_epi16(highNibbles16(bytes), _mm256_andnot_si256(bitLanes(bits >> 16), sixteen)))
    }
    #endif
    #if canImport(BraidAVX512)
    @inline(__always) static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i {
        // The fifth bits are the lane mask as they stand: 16 off the lanes whose bit is clear.
        let nibbles = nibbles32(block, 6), fifthBits = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        return _mm512_mask_sub_epi16(nibbles, ~fifthBits, nibbles, _mm512_set1_epi16(16))
    }
    #endif
}

/// Q5_1: q = nibble | fifth bit << 4, scale d, offset m.
enum Q5_1Format: IntegerDotFormat {
    static let blockBytes = 24, groupsPerBlock = 1, hasOffset = true
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 0), offset: Blocks.half(block, 2))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, scales: WeightScales, into q: UnsafeMutablePointer<Int16>) {
        nibbleValues(block, nibblesAt: 8, fifthBitsAt: 4, bias: 0, into: q)
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> (__m256i, __m256i) {
        let bytes = _mm256_cvtepu8_epi16(load128(block, 8)), bits = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let sixteen = _mm256_set1_epi16(16)
        return (_mm256_or_si256(lowNibbles16(bytes), _mm256_and_si256(bitLanes(bits), sixteen)),
                _mm256_or_si256(highNibbles16(bytes), _mm256_and_si256(bitLanes(bits >> 16), sixteen)))
    }
    #endif
    #if canImport(BraidAVX512)
    @inline(__always) static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i {
        // The fifth bits are the lane mask as they stand: 16 onto the lanes whose bit is set.
        let nibbles = nibbles32(block, 8), fifthBits = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        return _mm512_mask_add_epi16(nibbles, fifthBits, nibbles, _mm512_set1_epi16(16))
    }
    #endif
}

/// Q8_0: q = int8, scale d.
enum Q8_0Format: IntegerDotFormat {
    static let blockBytes = 34, groupsPerBlock = 1, hasOffset = false
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 0))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, scales: WeightScales, into q: UnsafeMutablePointer<Int16>) {
        for j in 0..<32 { q[j] = Int16(block.load(fromByteOffset: 2 + j, as: Int8.self)) }
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> (__m256i, __m256i) {
        (_mm256_cvtepi8_epi16(load128(block, 2)), _mm256_cvtepi8_epi16(load128(block, 18)))
    }
    #endif
    #if canImport(BraidAVX512)
    @inline(__always) static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i {
        _mm512_cvtepi8_epi16(_mm256_loadu_si256((block + 2).assumingMemoryBound(to: __m256i.self)))
    }
    #endif
}

/// Q4_K: 8 groups; group g is the low (g even) or high (g odd) nibbles of 32 bytes times the
/// sub-block scale(g); scale d, offset −dmin·min(g).
enum Q4_KFormat: IntegerDotFormat {
    static let blockBytes = 144, groupsPerBlock = 8, hasOffset = true
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        kBlockScales(block)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, scales: WeightScales, into q: UnsafeMutablePointer<Int16>) {
        let start = 16 + 32 * (group >> 1), shift = UInt8(4 * (group & 1)), scale = scales.subBlockScales[group]
        for l in 0..<32 { q[l] = Int16((Blocks.byte(block, start + l) >> shift) & 0x0F) * scale }
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> (__m256i, __m256i) {
        let q = 16 &+ 32 &* (group >> 1), shift = Int32(truncatingIfNeeded: 4 &* (group & 1)), mask = _mm_set1_epi8(0x0F)
        let scale = _mm256_set1_epi16(scales.subBlockScales[group])
        return (_mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(load128(block, q), shift), mask)), scale),
                _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(load128(block, q + 16), shift), mask)), scale))
    }
    #endif
    #if canImport(BraidAVX512)
    @inline(__always) static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i {
        let bytes = unsignedBytes32(block, 16 &+ 32 &* (group >> 1))
        return _mm512_mullo_epi16(nibbles(bytes, high: group & 1 == 1), _mm512_set1_epi16(scales.subBlockScales[group]))
    }
    #endif
}

/// Q5_K: as Q4_K with bit g of each of the 32 bytes of qh as the fifth bit (before the sub-block
/// scale).
enum Q5_KFormat: IntegerDotFormat {
    static let blockBytes = 176, groupsPerBlock = 8, hasOffset = true
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        kBlockScales(block)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, scales: WeightScales, into q: UnsafeMutablePointer<Int16>) {
        let start = 48 + 32 * (group >> 1), shift = UInt8(4 * (group & 1)), scale = scales.subBlockScales[group]
        for l in 0..<32 {
            q[l] = Int16(((Blocks.byte(block, start + l) >> shift) & 0x0F) | fifthBit(UInt32(Blocks.byte(block, 16 + l)), group)) * scale
        }
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> (__m256i, __m256i) {
        let q = 48 &+ 32 &* (group >> 1), shift = Int32(truncatingIfNeeded: 4 &* (group & 1)), mask = _mm_set1_epi8(0x0F)
        let bit = _mm_set1_epi8(Int8(truncatingIfNeeded: 1 << group)), sixteen = _mm_set1_epi8(16)
        func fifth(_ offset: Int) -> __m128i {
            _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(load128(block, offset), bit), bit), sixteen)
        }
        let low = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(load128(block, q), shift), mask), fifth(16))
        let high = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(load128(block, q + 16), shift), mask), fifth(32))
        let scale = _mm256_set1_epi16(scales.subBlockScales[group])
        return (_mm256_mullo_epi16(_mm256_cvtepu8_epi16(low), scale), _mm256_mullo_epi16(_mm256_cvtepu8_epi16(high), scale))
    }
    #endif
    #if canImport(BraidAVX512)
    @inline(__always) static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i {
        let bytes = unsignedBytes32(block, 48 &+ 32 &* (group >> 1))
        // The fifth bits: bit `group` of each qh byte, moved to bit 4.
        let bit = _mm512_set1_epi16(Int16(1) << Int16(group)), fifth = _mm512_and_si512(unsignedBytes32(block, 16), bit)
        let shifted = group >= 4 ? _mm512_srli_epi16(fifth, UInt32(group &- 4)) : _mm512_slli_epi16(fifth, UInt32(4 &- group))
        let q = _mm512_or_si512(nibbles(bytes, high: group & 1 == 1), shifted)
        return _mm512_mullo_epi16(q, _mm512_set1_epi16(scales.subBlockScales[group]))
    }
    #endif
}

/// Q6_K: 8 groups of 32 in two halves of 128; q = (6-bit − 32)·int8 sub-block scale (one per 16
/// values), scale d.
enum Q6_KFormat: IntegerDotFormat {
    static let blockBytes = 210, groupsPerBlock = 8, hasOffset = false, groupsPerIntegerSum = 4
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        #if canImport(BraidAVX2)
        let scales = unsafeBitCast(_mm256_cvtepi8_epi16(load128(block, 192)), to: SIMD16<Int16>.self)
        #else
        var scales = SIMD16<Int16>()
        for j in 0..<16 { scales[j] = Int16(block.load(fromByteOffset: 192 + j, as: Int8.self)) }
        #endif
        return WeightScales(scale: Blocks.half(block, 208), subBlockScales: scales)
    }
    /// Where group `group` lives: low-bits offset, nibble shift, high-bits offset and shift (its
    /// sub-block scales are 2·group and 2·group + 1 of the 16 at byte 192).
    @inline(__always) private static func layout(_ group: Int) -> (ql: Int, qlShift: Int, qh: Int, qhShift: Int) {
        let half128 = group >> 2, k = group & 3
        return (64 * half128 + 32 * (k & 1), 4 * (k >> 1), 128 + 32 * half128, 2 * k)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, scales: WeightScales, into q: UnsafeMutablePointer<Int16>) {
        let l = layout(group)
        for i in 0..<32 {
            let low = (Blocks.byte(block, l.ql + i) >> UInt8(l.qlShift)) & 0x0F
            let high = ((Blocks.byte(block, l.qh + i) >> UInt8(l.qhShift)) & 3) << 4
            q[i] = (Int16(low | high) - 32) * scales.subBlockScales[2 * group + i / 16]
        }
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> (__m256i, __m256i) {
        let l = layout(group)
        let mask4 = _mm_set1_epi8(0x0F), mask2 = _mm_set1_epi8(3), thirtyTwo = _mm_set1_epi8(32)
        func part(_ i: Int) -> __m256i {
            let low = _mm_and_si128(_mm_srli_epi16(load128(block, l.ql + 16 * i), Int32(l.qlShift)), mask4)
            let high = _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(load128(block, l.qh + 16 * i), Int32(l.qhShift)), mask2), 4)
            let q = _mm256_cvtepi8_epi16(_mm_sub_epi8(_mm_or_si128(low, high), thirtyTwo))
            return _mm256_mullo_epi16(q, _mm256_set1_epi16(scales.subBlockScales[2 &* group &+ i]))
        }
        return (part(0), part(1))
    }
    #endif
    #if canImport(BraidAVX512)
    @inline(__always) static func valuesAVX512(_ block: UnsafeRawPointer, group: Int, scales: WeightScales) -> __m512i {
        let l = layout(group), lowBits = unsignedBytes32(block, l.ql), highBits = unsignedBytes32(block, l.qh)
        // Zero-extended bytes: a high nibble needs no mask; the 2-bit field moves to bits 4…5 in one shift.
        let low = nibbles(lowBits, high: l.qlShift == 4)
        let moved = l.qhShift <= 4 ? _mm512_slli_epi16(highBits, UInt32(4 &- l.qhShift)) : _mm512_srli_epi16(highBits, UInt32(l.qhShift &- 4))
        let q = _mm512_sub_epi16(_mm512_or_si512(low, _mm512_and_si512(moved, _mm512_set1_epi16(0x30))), _mm512_set1_epi16(32))
        // The group's two sub-block scales (lanes 2g and 2g + 1), each over 16 lanes.
        let lanes = braid_join(_mm256_set1_epi16(Int16(2 &* group)), _mm256_set1_epi16(Int16(2 &* group &+ 1)))
        let all = _mm512_castsi256_si512(unsafeBitCast(scales.subBlockScales, to: __m256i.self))
        return _mm512_mullo_epi16(q, _mm512_permutexvar_epi16(lanes, all))
    }
    #endif
}
