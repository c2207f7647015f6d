// Q4_K and Q6_K matrices repacked for the byte kernels of AVX-512 VNNI builds. A tile holds 16
// weight rows; in each 64-byte register the 16 int32 lanes are the 16 rows, and the four bytes of
// a lane are four consecutive columns of its row. One vpdpbusd then multiplies 4 columns of 16
// rows by the same 4 activation bytes, broadcast from memory (ByteDot takes two, one per byte of
// its 15-bit activations), and every per-row scale of a sub-block lands in its row's lane, so a whole
// sub-block's integer sum is scaled by one float multiply-add for all 16 rows. Unpacking is one
// `and` (and a shift) per 128 weights, shared by every activation row: a forward of 8 tokens
// costs 1.9× one rather than 2.6× with the int16 kernels (README, "How the time is spent").
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
// Q6_K, 4384 bytes: the 6-bit values q (0…63) whole, sub-block s (16 columns), chunk c (4
// columns), row j, byte k at ((s·4 + c)·16 + j)·4 + k, column 16s + 4c + k; then the int8 scale of
// sub-block s, row j, at 4096 + 16s + j; then d of rows 0…15 (f16). The −32 of each value is
// taken with the activations: each sub-block's integer sum starts at −32·Σx̂ of its 16 columns.
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
    static let scales = 4096, d = 4352, bytes = 4384
}

/// A Q4_K or Q6_K weight matrix repacked in tiles of 16 rows for the byte kernels.
public final class TiledWeights: @unchecked Sendable {  // written once when packed, then only read
    /// Weight rows per tile.
    static let tileRows = 16
    /// The stored type the tiles came from (`.q4_K` or `.q6_K`).
    let type: TensorType
    /// K blocks (256 columns) per row.
    let blocksPerRow: Int
    /// Bytes of one tile-block (16 rows × 256 columns).
    let tileBlockBytes: Int
    /// The tiles: tile t's blocks side by side, tile after tile.
    let data: UnsafeMutableRawPointer

    /// Whether this build has the byte kernels and `matrix` can be tiled for them.
    static func canTile(_ matrix: WeightMatrix) -> Bool {
        #if canImport(BraidVNNI)
        return (matrix.type == .q4_K || matrix.type == .q6_K) && matrix.rows % tileRows == 0 && matrix.columns % 256 == 0
        #else
        return false
        #endif
    }

    /// `matrix` repacked, tiles spread over `pool`; nil when it cannot be tiled (see `canTile`).
    init?(_ matrix: WeightMatrix, pool: ComputePool) {
        guard Self.canTile(matrix) else { return nil }
        type = matrix.type
        blocksPerRow = matrix.columns / 256
        tileBlockBytes = type == .q4_K ? Q4_KTile.bytes : Q6_KTile.bytes
        let tiles = matrix.rows / Self.tileRows
        data = .allocate(byteCount: tiles * blocksPerRow * tileBlockBytes, alignment: 64)
        let (data, blocks, tileBytes) = (data, blocksPerRow, tileBlockBytes)
        pool.forEach(tiles) { t in
            // The tile's first row's block b; row j's is j·rowBytes further.
            for b in 0..<blocks {
                let first = matrix.data + t * Self.tileRows * matrix.rowBytes + b * matrix.type.blockBytes
                let destination = data + (t * blocks + b) * tileBytes
                if matrix.type == .q4_K {
                    Self.packQ4_K(first, rowBytes: matrix.rowBytes, into: destination)
                } else {
                    Self.packQ6_K(first, rowBytes: matrix.rowBytes, into: destination)
                }
            }
        }
    }

    deinit { data.deallocate() }

    /// Where byte `byte` of row `row`'s lane in 64-byte chunk `chunk` of a tile-block sits.
    @inline(__always)
    private static func valueIndex(chunk: Int, row: Int, byte: Int) -> Int { (chunk * 16 + row) * 4 + byte }

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
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: 32) { buffer in
            let q = buffer.baseAddress!
            for j in 0..<tileRows {
                let block = first + j * rowBytes
                for g in 0..<8 {
                    Q6_KFormat.values(block, group: g, scales: unscaled, into: q)
                    for i in 0..<32 {  // sub-block 2g + i/16, chunk i/4 of the group's 8
                        out[valueIndex(chunk: 8 * g + i / 4, row: j, byte: i % 4)] = UInt8(q[i] + 32)
                    }
                }
                for s in 0..<16 { out[Q6_KTile.scales + 16 * s + j] = Blocks.byte(block, 192 + s) }
                destination.storeBytes(of: block.loadUnaligned(fromByteOffset: 208, as: UInt16.self), toByteOffset: Q6_KTile.d + 2 * j,
                                       as: UInt16.self)
            }
        }
    }

    /// Dequantizes weight rows `rows` (whole tiles) into `destination`, row-major, with the same
    /// Float operations as `TensorType.dequantize` on the original blocks (so the sgemm path gives
    /// the same bits whether or not a matrix is tiled).
    func dequantize(rows: Range<Int>, into destination: UnsafeMutablePointer<Float>) {
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
                                let q = Blocks.byte(block, Self.valueIndex(chunk: 4 * s + i / 4, row: j, byte: i % 4))
                                out[16 * s + i] = scale * Float(Int32(q) - 32)
                            }
                        }
                    }
                }
            }
        }
    }
}
