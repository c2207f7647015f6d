// Each quantized block layout seen by the integer dot kernels as groups of 32 small integers q
// with one Float scale per block and one offset per group: weight = scale·q + offset. Sub-block
// scales that are integers (Q4_K/Q5_K's 6-bit ones, Q6_K's int8 ones) are folded into q, which
// stays well inside Int16 (|q| ≤ 31·63 and 32·128), so the kernels sum a whole block's groups
// before they apply its one Float scale. Layouts as in Dequantize.swift (ggml-common.h); every
// format has a portable and an AVX2 unpacker, and the tests check both against dequantization.
#if canImport(BraidAVX2)
import _Builtin_intrinsics.intel
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
    /// The scale of the block at `block` and the offset of every group, lane g for group g
    /// (lanes past `groupsPerBlock` are unused): computed once per block.
    static func blockScales(_ block: UnsafeRawPointer) -> WeightScales
    /// Writes the 32 integers of group `group` to `q`, in plain Swift.
    static func values(_ block: UnsafeRawPointer, group: Int, into q: UnsafeMutablePointer<Int16>)
    #if canImport(BraidAVX2)
    /// The 32 integers of group `group` as two vectors of 16 int16 (values 0…15, 16…31).
    static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i)
    #endif
}

extension IntegerDotFormat {
    static var groupsPerIntegerSum: Int { groupsPerBlock }
}

/// The scale of a block and the offsets of its groups.
struct WeightScales {
    var scale: Float
    var offsets: SIMD8<Float>

    @inline(__always)
    init(scale: Float, offset: Float = 0) {
        self.scale = scale
        offsets = SIMD8(repeating: offset)
    }

    @inline(__always)
    init(scale: Float, offsets: SIMD8<Float>) {
        self.scale = scale
        self.offsets = offsets
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

/// The scale d and offsets −dmin·min(j) of the 8 sub-blocks of a Q4_K/Q5_K block; the sub-block
/// scales themselves are folded into q (`kSubBlockScale`).
@inline(__always)
private func kBlockScales(_ block: UnsafeRawPointer) -> WeightScales {
    var minima = SIMD8<Float>()
    for j in 0..<8 { minima[j] = Float(Blocks.scaleAndMin(j, block + 4).min) }
    return WeightScales(scale: Blocks.half(block, 0), offsets: minima * -Blocks.half(block, 2))
}

/// The 6-bit scale of sub-block `j` of a Q4_K/Q5_K block.
@inline(__always)
private func kSubBlockScale(_ block: UnsafeRawPointer, _ j: Int) -> Int16 {
    Int16(Blocks.scaleAndMin(j, block + 4).scale)
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
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, into q: UnsafeMutablePointer<Int16>) {
        nibbleValues(block, nibblesAt: 2, fifthBitsAt: nil, bias: 8, into: q)
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let bytes = _mm256_cvtepu8_epi16(load128(block, 2)), eight = _mm256_set1_epi16(8)
        return (_mm256_sub_epi16(lowNibbles16(bytes), eight), _mm256_sub_epi16(highNibbles16(bytes), eight))
    }
    #endif
}

/// Q4_1: q = nibble, scale d, offset m.
enum Q4_1Format: IntegerDotFormat {
    static let blockBytes = 20, groupsPerBlock = 1, hasOffset = true
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 0), offset: Blocks.half(block, 2))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, into q: UnsafeMutablePointer<Int16>) {
        nibbleValues(block, nibblesAt: 4, fifthBitsAt: nil, bias: 0, into: q)
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let bytes = _mm256_cvtepu8_epi16(load128(block, 4))
        return (lowNibbles16(bytes), highNibbles16(bytes))
    }
    #endif
}

/// Q5_0: q = (nibble | fifth bit << 4) − 16, scale d.
enum Q5_0Format: IntegerDotFormat {
    static let blockBytes = 22, groupsPerBlock = 1, hasOffset = false
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 0))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, into q: UnsafeMutablePointer<Int16>) {
        nibbleValues(block, nibblesAt: 6, fifthBitsAt: 2, bias: 16, into: q)
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let bytes = _mm256_cvtepu8_epi16(load128(block, 6)), bits = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        let sixteen = _mm256_set1_epi16(16)
        // nibble − 16 where the fifth bit is clear, the nibble itself where it is set.
        return (_mm256_sub_epi16(lowNibbles16(bytes), _mm256_andnot_si256(bitLanes(bits), sixteen)),
                _mm256_sub_epi16(highNibbles16(bytes), _mm256_andnot_si256(bitLanes(bits >> 16), sixteen)))
    }
    #endif
}

/// Q5_1: q = nibble | fifth bit << 4, scale d, offset m.
enum Q5_1Format: IntegerDotFormat {
    static let blockBytes = 24, groupsPerBlock = 1, hasOffset = true
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 0), offset: Blocks.half(block, 2))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, into q: UnsafeMutablePointer<Int16>) {
        nibbleValues(block, nibblesAt: 8, fifthBitsAt: 4, bias: 0, into: q)
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let bytes = _mm256_cvtepu8_epi16(load128(block, 8)), bits = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let sixteen = _mm256_set1_epi16(16)
        return (_mm256_or_si256(lowNibbles16(bytes), _mm256_and_si256(bitLanes(bits), sixteen)),
                _mm256_or_si256(highNibbles16(bytes), _mm256_and_si256(bitLanes(bits >> 16), sixteen)))
    }
    #endif
}

/// Q8_0: q = int8, scale d.
enum Q8_0Format: IntegerDotFormat {
    static let blockBytes = 34, groupsPerBlock = 1, hasOffset = false
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 0))
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, into q: UnsafeMutablePointer<Int16>) {
        for j in 0..<32 { q[j] = Int16(block.load(fromByteOffset: 2 + j, as: Int8.self)) }
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        (_mm256_cvtepi8_epi16(load128(block, 2)), _mm256_cvtepi8_epi16(load128(block, 18)))
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
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, into q: UnsafeMutablePointer<Int16>) {
        let start = 16 + 32 * (group >> 1), shift = UInt8(4 * (group & 1)), scale = kSubBlockScale(block, group)
        for l in 0..<32 { q[l] = Int16((Blocks.byte(block, start + l) >> shift) & 0x0F) * scale }
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let q = 16 &+ 32 &* (group >> 1), shift = Int32(truncatingIfNeeded: 4 &* (group & 1)), mask = _mm_set1_epi8(0x0F)
        let scale = _mm256_set1_epi16(kSubBlockScale(block, group))
        return (_mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(load128(block, q), shift), mask)), scale),
                _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(load128(block, q + 16), shift), mask)), scale))
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
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, into q: UnsafeMutablePointer<Int16>) {
        let start = 48 + 32 * (group >> 1), shift = UInt8(4 * (group & 1)), scale = kSubBlockScale(block, group)
        for l in 0..<32 {
            q[l] = Int16(((Blocks.byte(block, start + l) >> shift) & 0x0F) | fifthBit(UInt32(Blocks.byte(block, 16 + l)), group)) * scale
        }
    }
    #if canImport(BraidAVX2)
    @inline(__always) static func valuesAVX2(_ block: UnsafeRawPointer, group: Int) -> (__m256i, __m256i) {
        let q = 48 &+ 32 &* (group >> 1), shift = Int32(truncatingIfNeeded: 4 &* (group & 1)), mask = _mm_set1_epi8(0x0F)
        let bit = _mm_set1_epi8(Int8(truncatingIfNeeded: 1 << group)), sixteen = _mm_set1_epi8(16)
        func fifth(_ offset: Int) -> __m128i {
            _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(load128(block, offset), bit), bit), sixteen)
        }
        let low = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(load128(block, q), shift), mask), fifth(16))
        let high = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(load128(block, q + 16), shift), mask), fifth(32))
        let scale = _mm256_set1_epi16(kSubBlockScale(block, group))
        return (_mm256_mullo_epi16(_mm256_cvtepu8_epi16(low), scale), _mm256_mullo_epi16(_mm256_cvtepu8_epi16(high), scale))
    }
    #endif
}

/// Q6_K: 8 groups of 32 in two halves of 128; q = (6-bit − 32)·int8 sub-block scale (one per 16
/// values), scale d.
enum Q6_KFormat: IntegerDotFormat {
    static let blockBytes = 210, groupsPerBlock = 8, hasOffset = false, groupsPerIntegerSum = 4
    @inline(__always) static func blockScales(_ block: UnsafeRawPointer) -> WeightScales {
        WeightScales(scale: Blocks.half(block, 208))
    }
    /// Where group `group` lives: low-bits offset, nibble shift, high-bits offset and shift, scales offset.
    @inline(__always) private static func layout(_ group: Int) -> (ql: Int, qlShift: Int, qh: Int, qhShift: Int, scales: Int) {
        let half128 = group >> 2, k = group & 3
        return (64 * half128 + 32 * (k & 1), 4 * (k >> 1), 128 + 32 * half128, 2 * k, 192 + 8 * half128 + 2 * k)
    }
    @inline(__always) static func values(_ block: UnsafeRawPointer, group: Int, into q: UnsafeMutablePointer<Int16>) {
        let l = layout(group)
        for i in 0..<32 {
            let low = (Blocks.byte(block, l.ql + i) >> UInt8(l.qlShift)) & 0x0F
            let high = ((Blocks.byte(block, l.qh + i) >> UInt8(l.qhShift)) & 3) << 4
            q[i] = (Int16(low | high) - 32) * Int16(block.load(fromByteOffset: l.scales + i / 16, as: Int8.self))
        }
    }
    #if canImport(BraidAVX2)
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
