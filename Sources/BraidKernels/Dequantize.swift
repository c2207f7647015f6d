// Bit-exact dequantization of every supported tensor type to Float, block by block, as ggml
// defines it (ggml-quants.c, `dequantize_row_*`). Each function reads whole blocks from `source`
// and writes `blockSize` floats per block to `destination`.

extension TensorType {
    /// Dequantizes `count` consecutive values (a multiple of `blockSize`) starting at `source`.
    public func dequantize(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        let blocks = count / blockSize
        switch self {
        case .f32:
            destination.update(from: source.assumingMemoryBound(to: Float.self), count: count)
        case .f16:
            for i in 0..<count { destination[i] = floatFromHalf(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<count { destination[i] = floatFromBFloat16(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .q4_0: forEachBlock(blocks, source, destination, Blocks.q4_0)
        case .q4_1: forEachBlock(blocks, source, destination, Blocks.q4_1)
        case .q5_0: forEachBlock(blocks, source, destination, Blocks.q5_0)
        case .q5_1: forEachBlock(blocks, source, destination, Blocks.q5_1)
        case .q8_0: forEachBlock(blocks, source, destination, Blocks.q8_0)
        case .q4_K: forEachBlock(blocks, source, destination, Blocks.q4_K)
        case .q5_K: forEachBlock(blocks, source, destination, Blocks.q5_K)
        case .q6_K: forEachBlock(blocks, source, destination, Blocks.q6_K)
        }
    }

    @inline(__always)
    private func forEachBlock(_ blocks: Int, _ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>,
                              _ block: (UnsafeRawPointer, UnsafeMutablePointer<Float>) -> Void) {
        for b in 0..<blocks { block(source + b * blockBytes, destination + b * blockSize) }
    }
}

/// One function per block layout. `p` points at the block, `y` receives its values.
enum Blocks {
    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        fastFloatFromHalf(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    /// Q4_0: value = (nibble − 8) × d; low nibbles are values 0…15, high nibbles 16…31.
    static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<16 {
            let q = byte(p, 2 + j)
            y[j] = Float(Int32(q & 0x0F) - 8) * d
            y[j + 16] = Float(Int32(q >> 4) - 8) * d
        }
    }

    /// Q4_1: value = nibble × d + m.
    static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        for j in 0..<16 {
            let q = byte(p, 4 + j)
            y[j] = Float(q & 0x0F) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    /// Q5_0: a fifth bit per value from the 32-bit `qh`; value = (5-bit − 16) × d.
    static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qh = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        for j in 0..<16 {
            let q = byte(p, 6 + j)
            let high0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
            let high1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
            y[j] = Float(Int32((q & 0x0F) | high0) - 16) * d
            y[j + 16] = Float(Int32((q >> 4) | high1) - 16) * d
        }
    }

    /// Q5_1: as Q5_0 without the offset, plus a minimum: value = 5-bit × d + m.
    static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        let qh = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        for j in 0..<16 {
            let q = byte(p, 8 + j)
            let high0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
            let high1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
            y[j] = Float((q & 0x0F) | high0) * d + m
            y[j + 16] = Float((q >> 4) | high1) * d + m
        }
    }

    /// Q8_0: value = int8 × d.
    static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<32 {
            y[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d
        }
    }

    /// The 6-bit scales and minima of the 8 sub-blocks packed in the 12 bytes at `packed` (ggml's
    /// `get_scale_min_k4` for all eight at once), lane j for sub-block j. Sub-blocks 0…3 keep
    /// their scale and minimum in the low 6 bits of bytes j and j + 4; sub-blocks 4…7 take their
    /// low 4 bits from the nibbles of byte j + 4 and their top 2 bits from the top bits of bytes
    /// j − 4 (scale) and j (minimum): whole 32-bit words at a time.
    @inline(__always)
    static func scalesAndMins(_ packed: UnsafeRawPointer) -> (scales: SIMD8<UInt8>, mins: SIMD8<UInt8>) {
        let w0 = packed.loadUnaligned(as: UInt32.self), w1 = packed.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let w2 = packed.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        let low6: UInt32 = 0x3F3F_3F3F, low4: UInt32 = 0x0F0F_0F0F, top2: UInt32 = 0x0303_0303
        let scales = UInt64(w0 & low6) | UInt64((w2 & low4) | ((w0 >> 6) & top2) << 4) << 32
        let mins = UInt64(w1 & low6) | UInt64(((w2 >> 4) & low4) | ((w1 >> 6) & top2) << 4) << 32
        return (unsafeBitCast(scales.littleEndian, to: SIMD8<UInt8>.self), unsafeBitCast(mins.littleEndian, to: SIMD8<UInt8>.self))
    }

    /// Q4_K: 8 sub-blocks of 32; value = d × scale × nibble − dmin × min.
    static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let (scales, mins) = scalesAndMins(p + 4)
        let qs = p + 16
        for chunk in 0..<4 {  // 64 values per chunk: low nibbles, then high nibbles of 32 bytes
            let d0 = d * Float(scales[2 * chunk]), min0 = dmin * Float(mins[2 * chunk])
            let d1 = d * Float(scales[2 * chunk + 1]), min1 = dmin * Float(mins[2 * chunk + 1])
            let q = qs + 32 * chunk
            let out = y + 64 * chunk
            for l in 0..<32 {
                let b = byte(q, l)
                out[l] = d0 * Float(b & 0x0F) - min0
                out[l + 32] = d1 * Float(b >> 4) - min1
            }
        }
    }

    /// Q5_K: as Q4_K with a fifth bit per value from `qh`.
    static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let (scales, mins) = scalesAndMins(p + 4)
        let qh = p + 16
        let qs = p + 48
        for chunk in 0..<4 {
            let d0 = d * Float(scales[2 * chunk]), min0 = dmin * Float(mins[2 * chunk])
            let d1 = d * Float(scales[2 * chunk + 1]), min1 = dmin * Float(mins[2 * chunk + 1])
            let lowBit = UInt8(1) << UInt8(2 * chunk), highBit = UInt8(2) << UInt8(2 * chunk)
            let q = qs + 32 * chunk
            let out = y + 64 * chunk
            for l in 0..<32 {
                let b = byte(q, l), h = byte(qh, l)
                out[l] = d0 * Float((b & 0x0F) + (h & lowBit != 0 ? 16 : 0)) - min0
                out[l + 32] = d1 * Float((b >> 4) + (h & highBit != 0 ? 16 : 0)) - min1
            }
        }
    }

    /// Q6_K: 16 sub-blocks of 16 with int8 scales; value = d × scale × (6-bit − 32).
    static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        for half128 in 0..<2 {
            let ql = p + 64 * half128
            let qh = p + 128 + 32 * half128
            let sc = p + 192 + 8 * half128
            let out = y + 128 * half128
            for l in 0..<32 {
                let subBlock = l / 16
                let h = byte(qh, l)
                let q1 = Int32((byte(ql, l) & 0x0F) | ((h & 3) << 4)) - 32
                let q2 = Int32((byte(ql, l + 32) & 0x0F) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int32((byte(ql, l) >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int32((byte(ql, l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32
                out[l] = d * Float(sc.load(fromByteOffset: subBlock, as: Int8.self)) * Float(q1)
                out[l + 32] = d * Float(sc.load(fromByteOffset: subBlock + 2, as: Int8.self)) * Float(q2)
                out[l + 64] = d * Float(sc.load(fromByteOffset: subBlock + 4, as: Int8.self)) * Float(q3)
                out[l + 96] = d * Float(sc.load(fromByteOffset: subBlock + 6, as: Int8.self)) * Float(q4)
            }
        }
    }
}
