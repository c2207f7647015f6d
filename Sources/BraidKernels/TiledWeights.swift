// Quantized matrices repacked for the byte kernels of AVX-512 VNNI builds. A tile holds 16
// weight rows; in each 64-byte register the 16 int32 lanes are the 16 rows, and the four bytes of
// a lane are four consecutive columns of its row. One vpdpbusd then multiplies 4 columns of 16
// rows by the same 4 activation bytes, broadcast from memory (ByteDot takes two, one per byte of
// its 15-bit activations, or one with 8-bit activations), and every per-row scale of a block or
// sub-block lands in its row's lane, so its integer sum is scaled by one float multiply-add for
// all 16 rows. Unpacking is one `and` (and a shift) per 128 weights, shared by every activation
// row: a forward of 8 tokens costs 1.9× one rather than 2.6× with the int16 kernels (README, "How
// the time is spent").
//
// One tile-block (16 rows × 256 columns, one K block of each row), Q4_K, 2368 bytes:
//
//   bytes 0 ..< 2048    sub-block g (32 columns), chunk c (8 columns), row j, byte k:
//                       at ((g·4 + c)·16 + j)·4 + k; low nibble column 32g + 8c + k, high
//                       nibble column 32g + 8c + 4 + k
//   bytes 2048 ..< 2176 6-bit scale of sub-block g, row j, at 2048 + 16g + j
//   bytes 2176 ..< 2304 6-bit minimum, the same way
//   bytes 2304 ..< 2368 d of rows 0…15 (f16), then dmin of rows 0…15
//
// Q6_K, 3360 bytes (the file's own size): the 6-bit values q (0…63) as a low nibble and two high
// bits, so that one 64-byte register of each gives 8 and 16 columns of 16 rows:
//
//   bytes 0 ..< 2048    low nibbles as Q4_K's values: register p, row j, byte k at
//                       (p·16 + j)·4 + k; low nibble column 8p + k, high nibble 8p + 4 + k
//   bytes 2048 ..< 3072 high bits: sub-block s (16 columns), row j, byte k at
//                       2048 + (s·16 + j)·4 + k; bits 2i, 2i + 1 are column 16s + 4i + k's
//   bytes 3072 ..< 3328 int8 scale of sub-block s, row j, at 3072 + 16s + j
//   bytes 3328 ..< 3360 d of rows 0…15 (f16)
//
// A sub-block's 4 chunks of 4 columns are then two registers' nibbles, each or-ed with one shift of
// the high-bit register, masked (one `and`, shift and or each). The −32 of each value is taken
// with the activations: each sub-block's integer sum starts at −32·Σx̂ of its 16 columns.
//
// The 32-value formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) keep their exact size: a tile of B blocks
// per row is four regions, each read as a stream, the values as unsigned bytes u = q + zero point
// (8, 0, 16, 0, 128), so that q = u − zero point:
//
//   values       block b, chunk c, row j, byte k at b·V + (c·16 + j)·4 + k; 4 and 5 bits
//                (V = 256): low nibble column 8c + k, high nibble column 8c + 4 + k; 8 bits
//                (V = 512): column 4c + k
//   fifth bits   (5 bits only) block b: eight 64-bit masks, the low nibbles' of chunk c at
//                b·64 + 16c, the high nibbles' at b·64 + 16c + 8; bit j·4 + k for row j, byte k
//   d            block b, row j at b·32 + 2j (f16)
//   m            (Q4_1, Q5_1) the same way
#if canImport(BraidVNNI)
import BraidCPU
import BraidVNNI
import _Builtin_intrinsics.intel
#endif

/// Where things sit in a Q4_K tile-block (see the diagram above).
enum Q4_KTile {
    static let scales = 2048, minima = 2176, d = 2304, dmin = 2336, bytes = 2368
}

/// Where things sit in a Q6_K tile-block (see the diagram above).
enum Q6_KTile {
    static let highBits = 2048, scales = 3072, d = 3328, bytes = 3360

    /// Value q (0…63) of column `column` (0…255), row `row` of the tile-block at `block`.
    static func value(_ block: UnsafeRawPointer, row: Int, column: Int) -> UInt8 {
        let k = column % 4, nibbles = Blocks.byte(block, TiledWeights.valueIndex(chunk: column / 8, row: row, byte: k))
        let highs = Blocks.byte(block, highBits + TiledWeights.valueIndex(chunk: column / 16, row: row, byte: k))
        return (nibbles >> (column / 4 % 2 * 4)) & 0x0F | ((highs >> (column % 16 / 4 * 2)) & 3) << 4
    }
}

/// A 32-value block format as the byte kernels read it from tiles (see the diagram above).
protocol SmallBlockTiling: IntegerDotFormat {
    /// Bits per value: 4, 5 or 8.
    static var bits: Int { get }
    /// What a stored unsigned value exceeds the format's q by.
    static var zeroPoint: Int32 { get }
}

extension Q4_0Format: SmallBlockTiling { static var bits: Int { 4 }; static var zeroPoint: Int32 { 8 } }
extension Q4_1Format: SmallBlockTiling { static var bits: Int { 4 }; static var zeroPoint: Int32 { 0 } }
extension Q5_0Format: SmallBlockTiling { static var bits: Int { 5 }; static var zeroPoint: Int32 { 16 } }
extension Q5_1Format: SmallBlockTiling { static var bits: Int { 5 }; static var zeroPoint: Int32 { 0 } }
extension Q8_0Format: SmallBlockTiling { static var bits: Int { 8 }; static var zeroPoint: Int32 { 128 } }

/// Where the regions of a tile of a 32-value format start (see the diagram above).
struct SmallBlockTile {
    /// Bytes of one block's values (16 rows × 32 columns).
    let valueBytes: Int
    let fifthBits: Int, d: Int, m: Int

    @inline(__always)
    init<F: SmallBlockTiling>(_: F.Type, blocks: Int) {
        valueBytes = F.bits == 8 ? 512 : 256
        fifthBits = blocks &* valueBytes
        d = fifthBits &+ (F.bits == 5 ? blocks &* 64 : 0)
        m = d &+ blocks &* 32
    }

    /// Row `row`'s 32 stored values u of block `block`, in column order.
    @inline(__always)
    func values<F: SmallBlockTiling>(_: F.Type, _ tile: UnsafeRawPointer, block: Int, row: Int, into u: UnsafeMutablePointer<Int32>) {
        let values = tile + block * valueBytes
        if F.bits == 8 {
            for c in 0..<8 {
                for k in 0..<4 { u[4 * c + k] = Int32(Blocks.byte(values, (c * 16 + row) * 4 + k)) }
            }
            return
        }
        for c in 0..<4 {
            let masks = F.bits == 5 ? tile + (fifthBits + block * 64 + 16 * c) : tile
            let lowBits = F.bits == 5 ? masks.loadUnaligned(as: UInt64.self) >> UInt64(row * 4) : 0
            let highBits = F.bits == 5 ? masks.loadUnaligned(fromByteOffset: 8, as: UInt64.self) >> UInt64(row * 4) : 0
            for k in 0..<4 {
                let byte = Int32(Blocks.byte(values, (c * 16 + row) * 4 + k))
                u[8 * c + k] = byte & 0x0F | Int32(truncatingIfNeeded: (lowBits >> UInt64(k)) & 1) << 4
                u[8 * c + 4 + k] = byte >> 4 | Int32(truncatingIfNeeded: (highBits >> UInt64(k)) & 1) << 4
            }
        }
    }
}

/// A quantized weight matrix repacked in tiles of 16 rows for the byte kernels: Q4_K, Q6_K and
/// the 32-value formats.
public final class TiledWeights: @unchecked Sendable {  // written once when packed, then only read
    /// Weight rows per tile.
    static let tileRows = 16
    /// The stored type the tiles came from.
    let type: TensorType
    /// Blocks (256 columns for K formats, 32 for the others) per row.
    let blocksPerRow: Int
    /// Bytes of one tile-block (16 rows × one block): a tile is `blocksPerRow` of them.
    let tileBlockBytes: Int
    /// The tiles: tile t's blocks side by side, tile after tile.
    let data: UnsafeMutableRawPointer
    /// How the small-batch products quantize their activations (sgemm, for prompts, takes the
    /// Floats as they are).
    let precision: ActivationPrecision

    /// Whether this build has the byte kernels and a matrix of `rows` rows stored as `type` can be
    /// tiled for them.
    static func canTile(_ type: TensorType, rows: Int) -> Bool {
        #if canImport(BraidVNNI)
        switch type {
        case .q4_K, .q6_K, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return rows % tileRows == 0
        case .f32, .f16, .bf16, .q5_K: return false
        }
        #else
        return false
        #endif
    }

    /// `matrix` repacked, tiles spread over `pool`; nil when it cannot be tiled (see `canTile`).
    /// With `requantizedTo` (a `TensorType.quantizable` type), a quantized matrix stored in more
    /// bits per value is first requantized to that type, row by row, so the tiles are smaller
    /// than the file's weights (and no longer equal to them). Products quantize their activations
    /// to `precision`.
    init?(_ matrix: WeightMatrix, requantizedTo target: TensorType? = nil, precision: ActivationPrecision = .fifteenBit,
          pool: ComputePool) {
        var stored = matrix.type
        if let target, matrix.type.blockSize >= target.blockSize, target.bitsPerValue < matrix.type.bitsPerValue {
            stored = target
        }
        guard Self.canTile(stored, rows: matrix.rows) else { return nil }
        type = stored
        self.precision = precision
        blocksPerRow = matrix.columns / stored.blockSize
        tileBlockBytes = Self.tileBlockBytes(stored)
        let tiles = matrix.rows / Self.tileRows
        data = .allocate(byteCount: tiles * blocksPerRow * tileBlockBytes, alignment: 64)
        let (data, blocks, tileBytes) = (data, blocksPerRow, tileBlockBytes)
        pool.forEach(tiles) { t in
            let first = matrix.data + t * Self.tileRows * matrix.rowBytes, destination = data + t * blocks * tileBytes
            guard stored != matrix.type else {
                return Self.pack(first, type: stored, rowBytes: matrix.rowBytes, blocks: blocks, into: destination)
            }
            let rowBytes = stored.byteCount(values: matrix.columns)
            let values = UnsafeMutablePointer<Float>.allocate(capacity: matrix.columns)
            let requantized = UnsafeMutableRawPointer.allocate(byteCount: Self.tileRows * rowBytes, alignment: 64)
            defer {
                values.deallocate()
                requantized.deallocate()
            }
            for j in 0..<Self.tileRows {
                matrix.type.dequantize(first + j * matrix.rowBytes, into: values, count: matrix.columns)
                stored.quantize(values, into: requantized + j * rowBytes, count: matrix.columns)
            }
            Self.pack(requantized, type: stored, rowBytes: rowBytes, blocks: blocks, into: destination)
        }
    }

    /// Bytes of one tile-block of `type`.
    private static func tileBlockBytes(_ type: TensorType) -> Int {
        switch type {
        case .q4_K: Q4_KTile.bytes
        case .q6_K: Q6_KTile.bytes
        default: tileRows * type.blockBytes
        }
    }

    /// Packs the 16 rows of `type` from `first` on (`rowBytes` apart) into one tile.
    private static func pack(_ first: UnsafeRawPointer, type: TensorType, rowBytes: Int, blocks: Int, into destination: UnsafeMutableRawPointer) {
        let tileBytes = tileBlockBytes(type)
        switch type {
        case .q4_0: return packSmallBlocks(Q4_0Format.self, first, rowBytes: rowBytes, blocks: blocks, into: destination)
        case .q4_1: return packSmallBlocks(Q4_1Format.self, first, rowBytes: rowBytes, blocks: blocks, into: destination)
        case .q5_0: return packSmallBlocks(Q5_0Format.self, first, rowBytes: rowBytes, blocks: blocks, into: destination)
        case .q5_1: return packSmallBlocks(Q5_1Format.self, first, rowBytes: rowBytes, blocks: blocks, into: destination)
        case .q8_0: return packSmallBlocks(Q8_0Format.self, first, rowBytes: rowBytes, blocks: blocks, into: destination)
        default: break
        }
        // The tile's first row's block b; row j's is j·rowBytes further.
        for b in 0..<blocks {
            let block = first + b * type.blockBytes, blockDestination = destination + b * tileBytes
            if type == .q4_K {
                packQ4_K(block, rowBytes: rowBytes, into: blockDestination)
            } else {
                packQ6_K(block, rowBytes: rowBytes, into: blockDestination)
            }
        }
    }

    deinit { data.deallocate() }

    /// Where byte `byte` of row `row`'s lane in 64-byte chunk `chunk` of a tile-block sits.
    @inline(__always)
    static func valueIndex(chunk: Int, row: Int, byte: Int) -> Int { (chunk * 16 + row) * 4 + byte }

    /// Unit sub-block scales: the formats' unpackers then give Q4_K's nibbles and Q6_K's q − 32.
    private static let unscaled = WeightScales(scale: 1, offsets: SIMD8(), subBlockScales: SIMD16(repeating: 1))

    /// The 16 Q4_K blocks at `first`, `rowBytes` apart, as one tile-block.
    private static func packQ4_K(_ first: UnsafeRawPointer, rowBytes: Int, into destination: UnsafeMutableRawPointer) {
        let out = destination.assumingMemoryBound(to: UInt8.self)
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: 32) { buffer in
            let q = buffer.baseAddress!
            for j in 0..<tileRows {
                let block = first + j * rowBytes
                for g in 0..<8 {
                    Q4_KFormat.values(block, group: g, scales: unscaled, into: q)
                    for c in 0..<4 {
                        for k in 0..<4 { out[valueIndex(chunk: g * 4 + c, row: j, byte: k)] = UInt8(q[8 * c + k] | q[8 * c + 4 + k] << 4) }
                    }
                }
                let (scales, mins) = Blocks.scalesAndMins(block + 4)
                for g in 0..<8 {
                    out[Q4_KTile.scales + 16 * g + j] = scales[g]
                    out[Q4_KTile.minima + 16 * g + j] = mins[g]
                }
                destination.storeBytes(of: block.loadUnaligned(as: UInt16.self), toByteOffset: Q4_KTile.d + 2 * j, as: UInt16.self)
                destination.storeBytes(of: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: Q4_KTile.dmin + 2 * j,
                                       as: UInt16.self)
            }
        }
    }

    /// The 16 Q6_K blocks at `first`, `rowBytes` apart, as one tile-block.
    private static func packQ6_K(_ first: UnsafeRawPointer, rowBytes: Int, into destination: UnsafeMutableRawPointer) {
        let out = destination.assumingMemoryBound(to: UInt8.self)
        out.initialize(repeating: 0, count: Q6_KTile.scales)  // the values are or-ed in
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: 32) { buffer in
            let q = buffer.baseAddress!
            for j in 0..<tileRows {
                let block = first + j * rowBytes
                for g in 0..<8 {
                    Q6_KFormat.values(block, group: g, scales: unscaled, into: q)
                    for i in 0..<32 {
                        let column = 32 * g + i, k = column % 4, value = UInt8(q[i] + 32)
                        out[valueIndex(chunk: column / 8, row: j, byte: k)] |= (value & 0x0F) << (column / 4 % 2 * 4)
                        out[Q6_KTile.highBits + valueIndex(chunk: column / 16, row: j, byte: k)] |= (value >> 4) << (column % 16 / 4 * 2)
                    }
                }
                for s in 0..<16 { out[Q6_KTile.scales + 16 * s + j] = Blocks.byte(block, 192 + s) }
                destination.storeBytes(of: block.loadUnaligned(fromByteOffset: 208, as: UInt16.self), toByteOffset: Q6_KTile.d + 2 * j,
                                       as: UInt16.self)
            }
        }
    }

    /// The 16 rows of `blocks` blocks of a 32-value format at `first`, `rowBytes` apart, as one tile.
    private static func packSmallBlocks<F: SmallBlockTiling>(_ format: F.Type, _ first: UnsafeRawPointer, rowBytes: Int, blocks: Int,
                                                             into destination: UnsafeMutableRawPointer) {
        let out = destination.assumingMemoryBound(to: UInt8.self), regions = SmallBlockTile(format, blocks: blocks)
        if F.bits == 5 { (destination + regions.fifthBits).initializeMemory(as: UInt8.self, repeating: 0, count: blocks * 64) }
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: 32) { buffer in
            let q = buffer.baseAddress!
            for j in 0..<tileRows {
                for b in 0..<blocks {
                    let block = first + j * rowBytes + b * F.blockBytes
                    F.values(block, group: 0, scales: unscaled, into: q)
                    for i in 0..<32 { q[i] += Int16(F.zeroPoint) }
                    let u = { (i: Int) in UInt8(q[i]) }
                    let values = b * regions.valueBytes
                    if F.bits == 8 {
                        for i in 0..<32 { out[values + valueIndex(chunk: i / 4, row: j, byte: i % 4)] = u(i) }
                    } else {
                        for c in 0..<4 {
                            for k in 0..<4 {
                                let (low, high) = (u(8 * c + k), u(8 * c + 4 + k))
                                out[values + valueIndex(chunk: c, row: j, byte: k)] = low & 0x0F | high << 4
                                if F.bits == 5 {
                                    let bit = UInt64(1) << UInt64(j * 4 + k), masks = destination + regions.fifthBits + b * 64 + 16 * c
                                    if low >= 16 { masks.storeBytes(of: masks.load(as: UInt64.self) | bit, as: UInt64.self) }
                                    if high >= 16 { masks.storeBytes(of: masks.load(fromByteOffset: 8, as: UInt64.self) | bit, toByteOffset: 8, as: UInt64.self) }
                                }
                            }
                        }
                    }
                    destination.storeBytes(of: block.loadUnaligned(as: UInt16.self), toByteOffset: regions.d + b * 32 + 2 * j, as: UInt16.self)
                    if F.hasOffset {
                        destination.storeBytes(of: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: regions.m + b * 32 + 2 * j,
                                               as: UInt16.self)
                    }
                }
            }
        }
    }

    /// Dequantizes weight rows `rows` (whole tiles) into `destination`, row-major, with the same
    /// Float operations as `TensorType.dequantize` on the original blocks (so the sgemm path gives
    /// the same bits whether or not a matrix is tiled).
    func dequantize(rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        switch type {
        case .q4_0: return dequantizeSmallBlocks(Q4_0Format.self, rows: rows, into: destination)
        case .q4_1: return dequantizeSmallBlocks(Q4_1Format.self, rows: rows, into: destination)
        case .q5_0: return dequantizeSmallBlocks(Q5_0Format.self, rows: rows, into: destination)
        case .q5_1: return dequantizeSmallBlocks(Q5_1Format.self, rows: rows, into: destination)
        case .q8_0: return dequantizeSmallBlocks(Q8_0Format.self, rows: rows, into: destination)
        default: break
        }
        let columns = blocksPerRow * 256
        for t in (rows.lowerBound / Self.tileRows)..<(rows.upperBound / Self.tileRows) {
            for b in 0..<blocksPerRow {
                let block = UnsafeRawPointer(data + (t * blocksPerRow + b) * tileBlockBytes)
                for j in 0..<Self.tileRows {
                    let out = destination + (t * Self.tileRows + j - rows.lowerBound) * columns + b * 256
                    if type == .q4_K {
                        let d = Blocks.half(block, Q4_KTile.d + 2 * j), dmin = Blocks.half(block, Q4_KTile.dmin + 2 * j)
                        for g in 0..<8 {
                            let scale = d * Float(Blocks.byte(block, Q4_KTile.scales + 16 * g + j))
                            let minimum = dmin * Float(Blocks.byte(block, Q4_KTile.minima + 16 * g + j))
                            for c in 0..<4 {
                                for k in 0..<4 {
                                    let byte = Blocks.byte(block, Self.valueIndex(chunk: g * 4 + c, row: j, byte: k))
                                    out[32 * g + 8 * c + k] = scale * Float(byte & 0x0F) - minimum
                                    out[32 * g + 8 * c + 4 + k] = scale * Float(byte >> 4) - minimum
                                }
                            }
                        }
                    } else {
                        let d = Blocks.half(block, Q6_KTile.d + 2 * j)
                        for s in 0..<16 {
                            let scale = d * Float(block.load(fromByteOffset: Q6_KTile.scales + 16 * s + j, as: Int8.self))
                            for i in 0..<16 {
                                out[16 * s + i] = scale * Float(Int32(Q6_KTile.value(block, row: j, column: 16 * s + i)) - 32)
                            }
                        }
                    }
                }
            }
        }
    }

    /// `dequantize` for a 32-value format: q·d as `Float(q) * d`, or `Float(u) * d + m` with a
    /// minimum, as Dequantize.swift computes them.
    private func dequantizeSmallBlocks<F: SmallBlockTiling>(_ format: F.Type, rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
        let columns = blocksPerRow * 32, regions = SmallBlockTile(format, blocks: blocksPerRow)
        for t in (rows.lowerBound / Self.tileRows)..<(rows.upperBound / Self.tileRows) {
            let tile = UnsafeRawPointer(data + t * blocksPerRow * tileBlockBytes)
            for j in 0..<Self.tileRows {
                let out = destination + (t * Self.tileRows + j - rows.lowerBound) * columns
                for b in 0..<blocksPerRow {
                    let d = Blocks.half(tile, regions.d + b * 32 + 2 * j), m = F.hasOffset ? Blocks.half(tile, regions.m + b * 32 + 2 * j) : 0
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: 32) { u in
                        regions.values(format, tile, block: b, row: j, into: u.baseAddress!)
                        for i in 0..<32 { out[32 * b + i] = F.hasOffset ? Float(u[i]) * d + m : Float(u[i] - F.zeroPoint) * d }
                    }
                }
            }
        }
    }
}
