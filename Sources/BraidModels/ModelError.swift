// Errors of loading and running a model that are not file-format errors.

/// Why a model cannot be loaded or a batch cannot be run.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    /// `general.architecture` names an architecture Braid does not implement.
    case unsupportedArchitecture(String, supported: [String])
    /// A tensor's shape differs from what the configuration implies.
    case tensorShape(tensor: String, expected: [Int], found: [Int])
    /// A position at or past the KV cache's capacity (the prompt is longer than the context).
    case contextExceeded(position: Int, capacity: Int)
    /// A token id outside the vocabulary.
    case invalidToken(Int32, vocabularySize: Int)
    /// A malformed batch (mismatched arrays, unknown sequence, empty, a gap in positions).
    case invalidBatch(String)
    /// The file asks for something Braid does not implement (it would compute wrong logits).
    case unsupportedFeature(String)
    /// The forward pass gave NaN or infinite logits: the weights are corrupt.
    case nonFiniteLogits

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(name, supported):
            "unsupported architecture '\(name)' (supported: \(supported.joined(separator: ", ")))"
        case let .tensorShape(tensor, expected, found):
            "tensor '\(tensor)' has shape \(found), expected \(expected)"
        case let .contextExceeded(position, capacity):
            "context exceeded: position \(position) does not fit in a context of \(capacity) tokens"
        case let .invalidToken(id, size):
            "token id \(id) is outside the vocabulary of \(size) tokens"
        case let .invalidBatch(why):
            "invalid batch: \(why)"
        case let .unsupportedFeature(what):
            "unsupported: \(what)"
        case .nonFiniteLogits:
            "the model computed NaN or infinite logits; its weights are probably corrupt"
        }
    }
}
