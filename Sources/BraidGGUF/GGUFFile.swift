// The GGUF container (ggml's model file format), versions 2 and 3:
//
//   magic "GGUF" | version u32 | tensor count u64 | metadata count u64
//   metadata: (key string, type u32, value)*            string = u64 length + UTF-8 bytes
//   tensor table: (name string, dims u32, ne[dims] u64, type u32, offset u64)*
//   padding to `general.alignment` (default 32) | tensor data (offsets relative to here)
//
// All integers little-endian. Tensor data stays in the memory-mapped file.
import BraidKernels

/// A tensor's description and its bytes inside the mapped file; `data` is valid while the
/// `GGUFFile` it came from lives.
public struct GGUFTensor: @unchecked Sendable {  // `data` points into the immutable mapping
    /// Name in the file, e.g. `blk.0.attn_q.weight`.
    public let name: String
    /// ggml dimensions, innermost first: `[columns, rows, …]`.
    public let dimensions: [Int]
    /// Element storage type.
    public let type: TensorType
    /// The tensor's bytes.
    public let data: UnsafeRawPointer
    /// Number of bytes at `data`.
    public let byteCount: Int

    /// Total number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A parsed GGUF file: metadata and tensors, with the file kept mapped while this lives.
public final class GGUFFile: Sendable {
    /// The file format version (2 or 3).
    public let version: UInt32
    /// Every metadata key and value.
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensor]
    /// Data alignment (`general.alignment`).
    public let alignment: Int
    private let tensorIndex: [String: Int]
    private let file: MappedFile

    /// Lets `tensor`'s pages leave the process's memory until it is read again (see
    /// `MappedFile.release`): for tensors whose bytes were copied elsewhere.
    public func release(_ tensor: GGUFTensor) {
        file.release(tensor.data, byteCount: tensor.byteCount)
    }

    /// Opens and validates the GGUF file at `path`. Throws `GGUFError` naming what is wrong.
    public convenience init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    /// Parses an already mapped file.
    public init(mapped file: MappedFile) throws {
        self.file = file
        guard let base = file.bytes, file.count >= 4 else { throw GGUFError.notGGUF(path: file.path) }
        var reader = Reader(base: base, count: file.count)
        guard try reader.read(UInt32.self, "the magic") == 0x4655_4747 else { throw GGUFError.notGGUF(path: file.path) }
        version = try reader.read(UInt32.self, "the header")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(version) }
        let tensorCount = try reader.readCount("the header")
        let metadataCount = try reader.readCount("the header")

        var metadata: [String: GGUFValue] = [:]
        for _ in 0..<metadataCount {
            let key = try reader.readString("a metadata key")
            let type = try reader.read(UInt32.self, "metadata '\(key)'")
            guard metadata[key] == nil else { throw GGUFError.duplicate("metadata key '\(key)'") }
            metadata[key] = try reader.readValue(type: type, key: key)
        }
        self.metadata = metadata
        var alignment = 32
        if let value = metadata["general.alignment"] {
            // Tensor data is read as Float in place, so offsets must keep 4-byte alignment.
            guard let v = value.integer, v >= 4, v & (v - 1) == 0 else {
                throw GGUFError.wrongValueType(key: "general.alignment", expected: "a power of two ≥ 4")
            }
            alignment = v
        }
        self.alignment = alignment

        struct Entry { let name: String; let dimensions: [Int]; let typeID: UInt32; let offset: Int }
        var entries: [Entry] = []
        for _ in 0..<tensorCount {
            let name = try reader.readString("the tensor table")
            let dimensionCount = try reader.read(UInt32.self, "tensor '\(name)'")
            guard dimensionCount >= 1, dimensionCount <= 4 else {
                throw GGUFError.invalidTensor(tensor: name, reason: "\(dimensionCount) dimensions (1 to 4 allowed)")
            }
            var dimensions: [Int] = []
            for _ in 0..<dimensionCount {
                let size = try reader.read(UInt64.self, "tensor '\(name)'")
                guard size > 0, size < 1 << 40 else { throw GGUFError.invalidTensor(tensor: name, reason: "dimension \(size)") }
                dimensions.append(Int(size))
            }
            let typeID = try reader.read(UInt32.self, "tensor '\(name)'")
            let offset = try reader.read(UInt64.self, "tensor '\(name)'")
            guard offset < 1 << 50 else { throw GGUFError.invalidTensor(tensor: name, reason: "offset \(offset)") }
            entries.append(Entry(name: name, dimensions: dimensions, typeID: typeID, offset: Int(offset)))
        }
        let dataStart = (reader.offset + alignment - 1) / alignment * alignment

        var tensors: [GGUFTensor] = []
        var index: [String: Int] = [:]
        for entry in entries {
            guard let type = TensorType(rawValue: entry.typeID) else {
                throw GGUFError.unknownTensorType(tensor: entry.name, type: entry.typeID)
            }
            guard index[entry.name] == nil else { throw GGUFError.duplicate("tensor '\(entry.name)'") }
            // Sizes come from the file: multiply with overflow checks, and never beyond its length.
            var elements = 1
            for size in entry.dimensions {
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow, product / type.blockSize <= file.count else {
                    throw GGUFError.invalidTensor(tensor: entry.name, reason: "dimensions \(entry.dimensions) hold more data than the file")
                }
                elements = product
            }
            guard entry.dimensions[0] % type.blockSize == 0 else {
                throw GGUFError.invalidTensor(tensor: entry.name,
                    reason: "row of \(entry.dimensions[0]) is not a multiple of the \(type) block size \(type.blockSize)")
            }
            guard entry.offset % alignment == 0 else {
                throw GGUFError.invalidTensor(tensor: entry.name, reason: "offset \(entry.offset) not aligned to \(alignment)")
            }
            let byteCount = type.byteCount(values: elements)
            let end = dataStart + entry.offset + byteCount
            guard end <= file.count else {
                throw GGUFError.tensorDataPastEnd(tensor: entry.name, end: end, fileSize: file.count)
            }
            index[entry.name] = tensors.count
            tensors.append(GGUFTensor(name: entry.name, dimensions: entry.dimensions, type: type,
                                      data: base + dataStart + entry.offset, byteCount: byteCount))
        }
        self.tensors = tensors
        self.tensorIndex = index
    }

    /// The tensor called `name`, or nil.
    public func tensor(named name: String) -> GGUFTensor? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Size of the file in bytes.
    public var fileSize: Int { file.count }

    /// Path the file was opened from.
    public var path: String { file.path }
}

/// A bounds-checked little-endian cursor over the mapped bytes.
private struct Reader {
    let base: UnsafeRawPointer
    let count: Int
    var offset = 0

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ context: @autoclosure () -> String) throws -> T {
        guard offset + MemoryLayout<T>.size <= count else { throw GGUFError.truncated(context()) }
        let value = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    /// A u64 element count, refused when it could not possibly fit in the rest of the file.
    mutating func readCount(_ context: @autoclosure () -> String) throws -> Int {
        let value = try read(UInt64.self, context())
        guard value <= UInt64(count - offset) else { throw GGUFError.truncated(context()) }
        return Int(value)
    }

    mutating func readString(_ context: @autoclosure () -> String) throws -> String {
        let length = try readCount(context())
        guard offset + length <= count else { throw GGUFError.truncated(context()) }
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: length)
        offset += length
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Arrays of arrays are allowed, but not deep enough to exhaust the stack.
    static let maximumArrayDepth = 8

    mutating func readValue(type: UInt32, key: String, depth: Int = 0) throws -> GGUFValue {
        guard let id = GGUFValue.TypeID(rawValue: type) else { throw GGUFError.unknownValueType(key: key, type: type) }
        let context = "metadata '\(key)'"
        switch id {
        case .uint8: return .uint8(try read(UInt8.self, context))
        case .int8: return .int8(try read(Int8.self, context))
        case .uint16: return .uint16(try read(UInt16.self, context))
        case .int16: return .int16(try read(Int16.self, context))
        case .uint32: return .uint32(try read(UInt32.self, context))
        case .int32: return .int32(try read(Int32.self, context))
        case .uint64: return .uint64(try read(UInt64.self, context))
        case .int64: return .int64(try read(Int64.self, context))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, context)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, context)))
        case .bool: return .bool(try read(UInt8.self, context) != 0)
        case .string: return .string(try readString(context))
        case .array:
            guard depth < Self.maximumArrayDepth else { throw GGUFError.invalidValue(key: key, reason: "arrays nested deeper than \(Self.maximumArrayDepth)") }
            let elementType = try read(UInt32.self, context)
            let length = try readCount(context)
            // Every element takes at least one byte, so the count cannot exceed what is left.
            guard length <= count - offset else { throw GGUFError.truncated(context) }
            var elements: [GGUFValue] = []
            elements.reserveCapacity(length)
            for _ in 0..<length { elements.append(try readValue(type: elementType, key: key, depth: depth + 1)) }
            return .array(elements)
        }
    }
}
