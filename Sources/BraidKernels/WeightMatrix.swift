// Matrix multiply against a weight matrix stored in any tensor type, read in place from the
// memory-mapped model file. The weights stay quantized in memory: tiles of rows are dequantized
// into a small per-thread buffer and multiplied there, by dot products for one activation row
// (decode) and by BLAS sgemm for several (prompt processing, batches).

/// A row-major weight matrix `[rows × columns]` (ggml: ne0 = columns, ne1 = rows), not owned.
public struct WeightMatrix: @unchecked Sendable {
    /// Storage type of the elements.
    public let type: TensorType
    /// Output features: one row of weights per output value.
    public let rows: Int
    /// Input features: the length of each row.
    public let columns: Int
    /// Start of the first row; rows follow each other, `rowBytes` apart. Must outlive the matrix
    /// (it points into a mapped file the model keeps open).
    public let data: UnsafeRawPointer

    /// A view of `rows` rows of `columns` values of `type` at `data`; `columns` must be a whole
    /// number of blocks (GGUFFile checks this for every tensor it reads).
    public init(type: TensorType, rows: Int, columns: Int, data: UnsafeRawPointer) {
        precondition(columns % type.blockSize == 0, "row length must be a whole number of blocks")
        self.type = type
        self.rows = rows
        self.columns = columns
        self.data = data
    }

    /// Bytes per row.
    public var rowBytes: Int { type.byteCount(values: columns) }

    /// Dequantizes row `row` into `destination` (`columns` floats).
    public func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        type.dequantize(data + row * rowBytes, into: destination, count: columns)
    }

    /// Rows per tile: enough to amortize a BLAS call, small enough to stay in cache.
    static let tileRows = 64

    /// y[n × rows] = x[n × columns] · Wᵀ — every activation row times every weight row.
    /// Work is split over `pool` by tiles of weight rows, so each weight is read once per call.
    public func multiply(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutablePointer<Float>, pool: ComputePool) {
        let tiles = (rows + Self.tileRows - 1) / Self.tileRows
        let columns = columns, rows = rows
        if type == .f32 && n > 1 {
            // Already Float: one BLAS call per tile, straight from the mapped file.
            pool.forEach(tiles) { tile in
                let first = tile * Self.tileRows, count = min(Self.tileRows, rows - first)
                let w = data.assumingMemoryBound(to: Float.self) + first * columns
                BLAS.multiplyTransposed(x, w, into: y + first, m: n, n: count, k: columns, ldc: rows)
            }
            return
        }
        let chunk = max(1, (tiles + pool.threadCount * 4 - 1) / (pool.threadCount * 4))
        let tasks = (tiles + chunk - 1) / chunk
        pool.forEach(tasks) { task in
            // One activation row: dequantize a weight row at a time into a small buffer (kept in
            // L1) and dot it. Several rows: dequantize a tile and hand it to sgemm.
            let scratchRows = n == 1 ? 1 : Self.tileRows
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchRows * columns)
            defer { scratch.deallocate() }
            for tile in (task * chunk)..<min(tiles, (task + 1) * chunk) {
                let first = tile * Self.tileRows, count = min(Self.tileRows, rows - first)
                if n == 1 {
                    for r in first..<(first + count) {
                        type.dequantize(data + r * rowBytes, into: scratch, count: columns)
                        y[r] = VectorMath.dot(scratch, x, count: columns)
                    }
                } else {
                    type.dequantize(data + first * rowBytes, into: scratch, count: count * columns)
                    BLAS.multiplyTransposed(x, scratch, into: y + first, m: n, n: count, k: columns, ldc: rows)
                }
            }
        }
    }
}
