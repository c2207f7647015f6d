// Q4_K and Q6_K matrices repacked for the byte kernels of AVX-512 VNNI builds. A tile holds 16
// weight rows; in each 64-byte register the 16 int32 lanes are the 16 rows, and the four bytes of
// a lane are four consecutive columns of its row. One vpdpbusd then multiplies 4 columns of 16
// rows by the same 4 activation bytes, broadcast from memory — 64 multiply-adds where the int16
// kernels do 32 — and every per-row scale of a sub-block lands in its row's lane, so a whole
// sub-block's integer sum is scaled by one float multiply-add for all 16 rows. Unpacking is one
// `and` (and a shift) per 128 weights, shared by every activation row: a forward of 8 tokens
// reads the weights at about the speed of one (see Benchmarks/README.md).
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
    /// Bytes held.
    public let byteCount: Int

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
        tileBlockBytes = type == .q4_K ? 2368 : 4384
        let tiles = matrix.rows / Self.tileRows
        byteCount = tiles * blocksPerRow * tileBlockBytes
        data = .allocate(byteCount: byteCount, alignment: 64)
        let (data, blocks, tileBytes, rowBytes) = (data, blocksPerRow, tileBlockBytes, matrix.rowBytes)
        pool.forEach(tiles) { t in
            for b in 0..<blocks {
                let destination = data + (t * blocks + b) * tileBytes
                let sources = (0..<Self.tileRows).map { j in matrix.data + (t * Self.tileRows + j) * rowBytes + b * matrix.type.blockBytes }
                if matrix.type == .q4_K { Self.packQ4_K(sources, into: destination) } else { Self.packQ6_K(sources, into: destination) }
            }
        }
    }

    deinit { data.deallocate() }

    /// The 4-bit value of column `column` (0…255) of the Q4_K block at `block`.
    private static func q4_K(_ block: UnsafeRawPointer, _ column: Int) -> UInt8 {
        let group = column / 32
        return (Blocks.byte(block, 16 + 32 * (group >> 1) + column % 32) >> UInt8(4 * (group & 1))) & 0x0F
    }

    /// The 6-bit value (0…63, before its −32) of column `column` of the Q6_K block at `block`.
    private static func q6_K(_ block: UnsafeRawPointer, _ column: Int) -> UInt8 {
        let half = column / 128, k = column % 128 / 32, l = column % 32
        let low = (Blocks.byte(block, 64 * half + 32 * (k & 1) + l) >> UInt8(4 * (k >> 1))) & 0x0F
        let high = (Blocks.byte(block, 128 + 32 * half + l) >> UInt8(2 * k)) & 3
        return low | high << 4
    }

    private static func packQ4_K(_ sources: [UnsafeRawPointer], into destination: UnsafeMutableRawPointer) {
        let out = destination.assumingMemoryBound(to: UInt8.self)
        for (j, block) in sources.enumerated() {
            for g in 0..<8 {
                for c in 0..<4 {
                    for k in 0..<4 {
                        let column = 32 * g + 8 * c + k
                        out[((g * 4 + c) * 16 + j) * 4 + k] = q4_K(block, column) | q4_K(block, column + 4) << 4
                    }
                }
            }
            let (scales, mins) = Blocks.scalesAndMins(block + 4)
            for g in 0..<8 {
                out[2048 + 16 * g + j] = scales[g]
                out[2176 + 16 * g + j] = mins[g]
            }
            destination.storeBytes(of: block.loadUnaligned(as: UInt16.self), toByteOffset: 2304 + 2 * j, as: UInt16.self)
            destination.storeBytes(of: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: 2336 + 2 * j, as: UInt16.self)
        }
    }

    private static func packQ6_K(_ sources: [UnsafeRawPointer], into destination: UnsafeMutableRawPointer) {
        let out = destination.assumingMemoryBound(to: UInt8.self)
        for (j, block) in sources.enumerated() {
            for s in 0..<16 {
                for c in 0..<4 {
                    for k in 0..<4 { out[((s * 4 + c) * 16 + j) * 4 + k] = q6_K(block, 16 * s + 4 * c + k) }
                }
                out[4096 + 16 * s + j] = Blocks.byte(block, 192 + s)
            }
            destination.storeBytes(of: block.loadUnaligned(fromByteOffset: 208, as: UInt16.self), toByteOffset: 4352 + 2 * j, as: UInt16.self)
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
                        let d = Blocks.half(block, 2304 + 2 * j), dmin = Blocks.half(block, 2336 + 2 * j)
                        for g in 0..<8 {
                            let scale = d * Float(Blocks.byte(block, 2048 + 16 * g + j))
                            let minimum = dmin * Float(Blocks.byte(block, 2176 + 16 * g + j))
                            for c in 0..<4 {
                                for k in 0..<4 {
                                    let byte = Blocks.byte(block, ((g * 4 + c) * 16 + j) * 4 + k)
                                    out[32 * g + 8 * c + k] = scale * Float(byte & 0x0F) - minimum
                                    out[32 * g + 8 * c + 4 + k] = scale * Float(byte >> 4) - minimum
                                }
                            }
                        }
                    } else {
                        let d = Blocks.half(block, 4352 + 2 * j)
                        for s in 0..<16 {
                            let scale = d * Float(block.load(fromByteOffset: 4096 + 16 * s + j, as: Int8.self))
                            for c in 0..<4 {
                                for k in 0..<4 {
                                    out[16 * s + 4 * c + k] = scale * Float(Int32(Blocks.byte(block, ((s * 4 + c) * 16 + j) * 4 + k)) - 32)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
