// Writes GGUF version 3 files. Tests use it to build tiny models in-process; tools can use it
// to convert weights. The layout mirrors GGUFFile's reader.
import BraidKernels

/// Builds a GGUF file in memory: metadata in insertion order, then tensors.
public struct GGUFWriter {
    private var metadata: [(String, GGUFValue)] = []
    private var tensors: [(name: String, dimensions: [Int], type: TensorType, bytes: [UInt8])] = []
    /// Data alignment written to the file.
    public var alignment = 32

    /// An empty file.
    public init() {}

    /// Sets one metadata entry: a new key is added at the end, an existing one keeps its place.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let index = metadata.firstIndex(where: { $0.0 == key }) {
            metadata[index].1 = value
        } else {
            metadata.append((key, value))
        }
    }

    /// Adds a tensor whose bytes are already in `type`'s storage format.
    public mutating func addTensor(_ name: String, dimensions: [Int], type: TensorType, bytes: [UInt8]) {
        tensors.append((name, dimensions, type, bytes))
    }

    /// Adds an F32 tensor.
    public mutating func addTensor(_ name: String, dimensions: [Int], values: [Float]) {
        let bytes = values.withUnsafeBytes { Array($0) }
        addTensor(name, dimensions: dimensions, type: .f32, bytes: bytes)
    }

    /// The complete file.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func putString(_ s: String) { put(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        func putValue(_ v: GGUFValue) {
            switch v {
            case let .uint8(x): put(x)
            case let .int8(x): put(x)
            case let .uint16(x): put(x)
            case let .int16(x): put(x)
            case let .uint32(x): put(x)
            case let .int32(x): put(x)
            case let .uint64(x): put(x)
            case let .int64(x): put(x)
            case let .float32(x): put(x.bitPattern)
            case let .float64(x): put(x.bitPattern)
            case let .bool(x): put(UInt8(x ? 1 : 0))
            case let .string(x): putString(x)
            case let .array(elements):
                put((elements.first?.typeID ?? .uint8).rawValue)
                put(UInt64(elements.count))
                elements.forEach(putValue)
            }
        }
        put(UInt32(0x4655_4747))
        put(UInt32(3))
        put(UInt64(tensors.count))
        put(UInt64(metadata.count))
        for (key, value) in metadata {
            putString(key)
            put(value.typeID.rawValue)
            putValue(value)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset = (offset + t.bytes.count + alignment - 1) / alignment * alignment
        }
        for (t, tensorOffset) in zip(tensors, offsets) {
            putString(t.name)
            put(UInt32(t.dimensions.count))
            t.dimensions.forEach { put(UInt64($0)) }
            put(t.type.rawValue)
            put(UInt64(tensorOffset))
        }
        func pad() { while out.count % alignment != 0 { out.append(0) } }
        pad()
        for t in tensors {
            out.append(contentsOf: t.bytes)
            pad()
        }
        return out
    }
}
