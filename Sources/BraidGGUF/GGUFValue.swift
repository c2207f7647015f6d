// GGUF metadata values: every type of the specification, arrays nested to any depth.

/// One metadata value of a GGUF file.
public enum GGUFValue: Sendable, Equatable {
    /// One case per GGUF value type, holding the value as stored.
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    indirect case array([GGUFValue])

    /// The GGUF type id of each case (`gguf_type` in the specification).
    enum TypeID: UInt32 {
        case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
        case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
    }

    /// The type id this value is written with.
    var typeID: TypeID {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// The value as an integer, if it is one of the integer types.
    public var integer: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }

    /// The value as a floating-point number, if it is numeric.
    public var double: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: integer.map(Double.init)
        }
    }

    /// The value as a string, if it is one.
    public var string: String? {
        if case let .string(v) = self { return v }
        return nil
    }

    /// The value as a Boolean, if it is one.
    public var bool: Bool? {
        if case let .bool(v) = self { return v }
        return nil
    }

    /// The elements, if the value is an array.
    public var array: [GGUFValue]? {
        if case let .array(v) = self { return v }
        return nil
    }
}
