// Matrix multiply against a weight matrix stored in any tensor type, read in place from the
// memory-mapped model file; the weights stay quantized in memory. Up to 16 activation rows
// (decoding, branches, draft tokens) go through the integer kernels of IntegerDot.swift, or for
// tiled matrices (TiledWeights.swift) the byte kernels of ByteDot.swift, which read each weight
// once for all rows; more rows (prompts) through BLAS sgemm on tiles of rows dequantized into a
// small per-thread buffer. Float matrices use float dot products or sgemm.

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
    /// The same weights repacked for the byte kernels (AVX-512 VNNI builds, the types that
    /// `TiledWeights.canTile` takes), which then compute every product the integer kernels
    /// would; nil for a plain view.
    public let tiles: TiledWeights?

    /// A view of `rows` rows of `columns` values of `type` at `data`; `columns` must be a whole
    /// number of blocks (GGUFFile checks this for every tensor it reads).
    public init(type: TensorType, rows: Int, columns: Int, data: UnsafeRawPointer) {
        self.init(type: type, rows: rows, columns: columns, data: data, tiles: nil)
    }

    private init(type: TensorType, rows: Int, columns: Int, data: UnsafeRawPointer, tiles: TiledWeights?) {
        precondition(columns % type.blockSize == 0, "row length must be a whole number of blocks")
        self.type = type
        self.rows = rows
        self.columns = columns
        self.data = data
        self.tiles = tiles
    }

    /// This matrix with its weights repacked for the byte kernels when the build has them and
    /// the type and shape suit them (see `TiledWeights`), else this matrix as it is. The tiles
    /// are a copy: the caller may then let the mapped pages go (`MappedFile.release`). With
    /// `requantizedTo`, weights stored in more bits per value are requantized to that type
    /// (`TensorType.quantizable`) for every product; rows looked up keep the stored values.
    /// Products of the tiles quantize their activations to `activations`.
    public func tiled(requantizedTo target: TensorType? = nil, activations: ActivationPrecision = .fifteenBit,
                      pool: ComputePool) -> WeightMatrix {
        guard tiles == nil, let tiles = TiledWeights(self, requantizedTo: target, precision: activations, pool: pool) else { return self }
        return WeightMatrix(type: type, rows: rows, columns: columns, data: data, tiles: tiles)
    }

    /// Bytes per row.
    public var rowBytes: Int { type.byteCount(values: columns) }

    /// Dequantizes row `row` into `destination` (`columns` floats).
    public func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        type.dequantize(data + row * rowBytes, into: destination, count: columns)
    }

    /// Rows per tile of the sgemm path: enough to amortize a BLAS call, small enough to stay in cache.
    static let tileRows = 64

    /// Most activation rows the integer kernels take; larger batches (prompt processing) go to
    /// sgemm over dequantized tiles, which does more arithmetic per weight byte.
    public static let smallBatchLimit = 16

    /// Whether batches of `n` rows run on the integer kernels for this matrix's type.
    func usesIntegerKernels(rows n: Int) -> Bool {
        n <= Self.smallBatchLimit && type.blockSize >= QuantizedActivations.groupSize
    }

    /// y[n × rows] = x[n × columns] · Wᵀ — every activation row times every weight row.
    /// Work is split over `pool` by weight rows, so each weight is read once per call.
    /// `rowExact`: every row gets the bits it would get alone (as in decoding), however many rows
    /// there are — rows past the small-batch limit go through the integer kernels 16 at a time
    /// instead of sgemm.
    public func multiply(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutablePointer<Float>, pool: ComputePool,
                         path: KernelPath = .preferred, rowExact: Bool = false) {
        Self.multiply([self], into: [y], input: x, count: n, pool: pool, path: path, rowExact: rowExact)
    }

    /// Several products of one input, `outputs[m] = x · matrices[m]ᵀ`, in one parallel loop: the
    /// activations are quantized once and the threads meet once (for q/k/v, gate/up).
    public static func multiply(_ matrices: [WeightMatrix], into outputs: [UnsafeMutablePointer<Float>], input x: UnsafePointer<Float>,
                                count n: Int, pool: ComputePool, path: KernelPath = .preferred, rowExact: Bool = false) {
        precondition(matrices.count == outputs.count, "one output per matrix")
        if rowExact && n > smallBatchLimit {
            for first in stride(from: 0, to: n, by: smallBatchLimit) {
                let count = min(smallBatchLimit, n - first)
                multiply(matrices, into: outputs, input: x + first * matrices[0].columns, count: count, pool: pool,
                         path: path, rowExact: true, outputRowOffset: first)
            }
            return
        }
        multiply(matrices, into: outputs, input: x, count: n, pool: pool, path: path, rowExact: rowExact, outputRowOffset: 0)
    }

    /// Rows `outputRowOffset ..< outputRowOffset + n` of the products.
    private static func multiply(_ matrices: [WeightMatrix], into outputs: [UnsafeMutablePointer<Float>], input x: UnsafePointer<Float>,
                                 count n: Int, pool: ComputePool, path: KernelPath, rowExact: Bool, outputRowOffset: Int) {
        var small: [(matrix: WeightMatrix, output: UnsafeMutablePointer<Float>)] = []
        for (matrix, output) in zip(matrices, outputs) {
            let output = output + outputRowOffset * matrix.rows
            if matrix.usesIntegerKernels(rows: n) {
                small.append((matrix, output))
            } else {
                matrix.multiplyByTiles(x, count: n, into: output, pool: pool, rowExact: rowExact)
            }
        }
        guard let first = small.first else { return }
        let columns = first.matrix.columns
        precondition(small.allSatisfy { $0.matrix.columns == columns }, "every matrix of a fused product reads the same input")
        let int16 = small.contains { !$0.matrix.usesByteKernels(path) } ? QuantizedActivations(x, rows: n, columns: columns) : nil
        let view = int16?.rowsView
        #if canImport(BraidVNNI)
        let precision = small.first { $0.matrix.usesByteKernels(path) }?.matrix.tiles?.precision
        precondition(small.allSatisfy { !$0.matrix.usesByteKernels(path) || $0.matrix.tiles?.precision == precision },
                     "every matrix of a fused product quantizes its activations alike")
        let bytes = precision.map { ByteActivations(x, rows: n, columns: columns, precision: $0) }
        #endif
        // Tasks of a few weight rows (whole tiles for the byte kernels), and what each product's
        // tasks read, held without counting references (`small` and the activations outlive the
        // loop), so that the threads never touch a shared reference count.
        let totalRows = small.reduce(0) { $0 + $1.matrix.rows }
        let rowsPerTask = max(4, totalRows / (pool.threadCount * 16))
        var tasks: [(product: Int, start: Int, end: Int)] = []
        for (index, product) in small.enumerated() {
            let step = product.matrix.usesByteKernels(path) ? (rowsPerTask + 15) / 16 * 16 : rowsPerTask
            for start in stride(from: 0, to: product.matrix.rows, by: step) {
                tasks.append((index, start, min(product.matrix.rows, start + step)))
            }
        }
        let outputs = small.map(\.output)
        #if canImport(BraidVNNI)
        let tiled = small.map { $0.matrix.usesByteKernels(path) ? $0.matrix.tiles.map(Unmanaged.passUnretained) : nil }
        let rows = small.map(\.matrix.rows)
        let byteRows = bytes.map(Unmanaged.passUnretained)
        #endif
        // The int16 kernels' matrices as plain views (no tiles to retain), only where they run.
        let plain = view == nil ? [] : small.map {
            WeightMatrix(type: $0.matrix.type, rows: $0.matrix.rows, columns: $0.matrix.columns, data: $0.matrix.data)
        }
        withExtendedLifetime((small, int16)) {
            pool.forEach(tasks.count) { t in
                let task = tasks[t]
                #if canImport(BraidVNNI)
                if let tiles = tiled[task.product], let byteRows {
                    tiles._withUnsafeGuaranteedRef { tiles in
                        byteRows._withUnsafeGuaranteedRef { x in
                            ByteDot.multiply(tiles, tiles: (task.start / TiledWeights.tileRows)..<(task.end / TiledWeights.tileRows),
                                             x: x, into: outputs[task.product], rows: rows[task.product])
                        }
                    }
                    return
                }
                #endif
                if let view { plain[task.product].integerRows(task.start..<task.end, activations: view, into: outputs[task.product], path: path) }
            }
        }
        #if canImport(BraidVNNI)
        withExtendedLifetime(bytes) {}
        #endif
    }

    /// Whether this matrix's small batches run on the byte kernels.
    func usesByteKernels(_ path: KernelPath) -> Bool {
        tiles != nil && path == .avx2
    }

    /// Rows `range` of y = x̂ · Wᵀ with the integer kernels.
    func integerRows(_ range: Range<Int>, activations: QuantizedRows, into y: UnsafeMutablePointer<Float>, path: KernelPath) {
        switch type {
        case .q4_0: integerRows(Q4_0Format.self, range, activations, y, path)
        case .q4_1: integerRows(Q4_1Format.self, range, activations, y, path)
        case .q5_0: integerRows(Q5_0Format.self, range, activations, y, path)
        case .q5_1: integerRows(Q5_1Format.self, range, activations, y, path)
        case .q8_0: integerRows(Q8_0Format.self, range, activations, y, path)
        case .q4_K: integerRows(Q4_KFormat.self, range, activations, y, path)
        case .q5_K: integerRows(Q5_KFormat.self, range, activations, y, path)
        case .q6_K: integerRows(Q6_KFormat.self, range, activations, y, path)
        case .f32, .f16, .bf16: preconditionFailure("float matrices take the tile path")
        }
    }

    private func integerRows<F: IntegerDotFormat>(_ format: F.Type, _ range: Range<Int>, _ activations: QuantizedRows,
                                                  _ y: UnsafeMutablePointer<Float>, _ path: KernelPath) {
        let blocks = columns / (F.groupsPerBlock * QuantizedActivations.groupSize), n = activations.rows
        let rowBytes = blocks * F.blockBytes, rows = rows
        // Activation rows in blocks of 8, then one block of the 2–7 left, each count with a
        // kernel of its own, each block over every weight row of the range (which stays in cache
        // from one block to the next); a last single row goes on below.
        var first = 0
        func pass<R: RowBlock>(_ block: R.Type) {
            for r in range {
                let dots = IntegerDot.dot(format, block, path: path, weights: data + r * rowBytes, blocks: blocks,
                                          activations: activations, firstRow: first)
                for i in 0..<R.count { y[(first + i) * rows + r] = dots[i] }
            }
            first += R.count
        }
        while n - first >= 8 { pass(EightRows.self) }
        switch n - first {
        case 7: pass(SevenRows.self)
        case 6: pass(SixRows.self)
        case 5: pass(FiveRows.self)
        case 4: pass(FourRows.self)
        case 3: pass(ThreeRows.self)
        case 2: pass(TwoRows.self)
        default: break
        }
        guard n - first == 1 else { return }
        var r = range.lowerBound
        #if canImport(BraidAVX2)
        if path == .avx2 {
            // One activation row (decoding): two weight rows at a time.
            while r + 1 < range.upperBound {
                (y[first * rows + r], y[first * rows + r + 1]) = IntegerDot.dotTwoWeightRowsAVX2(
                    format, weights: data + r * rowBytes, data + (r + 1) * rowBytes, blocks: blocks, activations: activations, row: first)
                r += 2
            }
        }
        #endif
        for r in r..<range.upperBound {
            y[first * rows + r] = IntegerDot.dot(format, OneRow.self, path: path, weights: data + r * rowBytes, blocks: blocks,
                                                 activations: activations, firstRow: first)[0]
        }
    }

    /// y = x · Wᵀ over tiles of weight rows: float dot products for one activation row (and for
    /// every row when `rowExact`), sgemm on a dequantized tile for several.
    func multiplyByTiles(_ x: UnsafePointer<Float>, count n: Int, into y: UnsafeMutablePointer<Float>, pool: ComputePool,
                         rowExact: Bool = false) {
        let tiles = (rows + Self.tileRows - 1) / Self.tileRows
        let columns = columns, rows = rows
        let dots = n == 1 || rowExact
        if type == .f32 && !dots {
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
            let scratchRows = dots ? 1 : Self.tileRows
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchRows * columns)
            defer { scratch.deallocate() }
            for tile in (task * chunk)..<min(tiles, (task + 1) * chunk) {
                let first = tile * Self.tileRows, count = min(Self.tileRows, rows - first)
                if dots {
                    for r in first..<(first + count) {
                        type.dequantize(data + r * rowBytes, into: scratch, count: columns)
                        for i in 0..<n { y[i * rows + r] = VectorMath.dot(scratch, x + i * columns, count: columns) }
                    }
                } else if let packed = self.tiles {
                    packed.dequantize(rows: first..<(first + count), into: scratch)
                    BLAS.multiplyTransposed(x, scratch, into: y + first, m: n, n: count, k: columns, ldc: rows)
                } else {
                    type.dequantize(data + first * rowBytes, into: scratch, count: count * columns)
                    BLAS.multiplyTransposed(x, scratch, into: y + first, m: n, n: count, k: columns, ldc: rows)
                }
            }
        }
    }
}
