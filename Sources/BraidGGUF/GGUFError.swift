// Everything that can be wrong with a model file, each case naming the problem precisely.
import BraidKernels

/// Why a GGUF file could not be read or used.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened or mapped.
    case cannotOpen(path: String, reason: String)
    /// The file does not start with the GGUF magic.
    case notGGUF(path: String)
    /// A GGUF version this reader does not know (it reads 2 and 3).
    case unsupportedVersion(UInt32)
    /// The file ends inside the header, the metadata or the tensor table.
    case truncated(String)
    /// A metadata value type id outside the GGUF specification.
    case unknownValueType(key: String, type: UInt32)
    /// A tensor whose element type Braid does not support.
    case unknownTensorType(tensor: String, type: UInt32)
    /// A tensor whose data would extend past the end of the file.
    case tensorDataPastEnd(tensor: String, end: Int, fileSize: Int)
    /// A tensor with an impossible shape or an offset that breaks the alignment rule.
    case invalidTensor(tensor: String, reason: String)
    /// A metadata key the model needs is absent.
    case missingKey(String)
    /// A metadata key holds a value of the wrong type.
    case wrongValueType(key: String, expected: String)
    /// A tensor the model needs is absent.
    case missingTensor(String)
    /// A metadata value of the right type but an impossible value.
    case invalidValue(key: String, reason: String)
    /// The same metadata key or tensor name appears twice.
    case duplicate(String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): "cannot open \(path): \(reason)"
        case let .notGGUF(path): "\(path) is not a GGUF file (bad magic)"
        case let .unsupportedVersion(version): "unsupported GGUF version \(version) (Braid reads versions 2 and 3)"
        case let .truncated(what): "truncated GGUF file: it ends inside \(what)"
        case let .unknownValueType(key, type): "metadata key '\(key)' has unknown value type \(type)"
        case let .unknownTensorType(tensor, type): "tensor '\(tensor)' has unsupported type \(type) (supported: \(TensorTypeNames.supported))"
        case let .tensorDataPastEnd(tensor, end, size): "tensor '\(tensor)' data ends at byte \(end), past the end of the file (\(size) bytes)"
        case let .invalidTensor(tensor, reason): "tensor '\(tensor)' is invalid: \(reason)"
        case let .missingKey(key): "missing metadata key '\(key)'"
        case let .wrongValueType(key, expected): "metadata key '\(key)' is not \(expected)"
        case let .missingTensor(name): "missing tensor '\(name)'"
        case let .invalidValue(key, reason): "metadata key '\(key)': \(reason)"
        case let .duplicate(what): "duplicate \(what)"
        }
    }
}

enum TensorTypeNames {
    static let supported = TensorType.allCases.map(\.description).joined(separator: ", ")
}
