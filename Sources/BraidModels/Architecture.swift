// What distinguishes one decoder-only architecture from another, and the registry of the ones
// Braid runs. Adding an architecture is one file describing it plus one line in `registered`;
// nothing else switches on the architecture's name.
import BraidKernels

/// The traits of a decoder-only transformer architecture that the shared forward pass needs.
public protocol TransformerArchitecture: Sendable {
    /// The `general.architecture` value this describes.
    static var name: String { get }
    /// How RoPE pairs the dimensions of a head.
    static var ropeStyle: RoPEStyle { get }
    /// Whether the Q, K and V projections carry biases (`attn_q.bias`, …).
    static var hasQKVBiases: Bool { get }
}

/// The architectures Braid can run, by name.
public enum ArchitectureRegistry {
    /// One line per architecture.
    public static let registered: [any TransformerArchitecture.Type] = [
        Llama.self,
        Qwen2.self,
    ]

    /// The architecture called `name`, or `ModelError.unsupportedArchitecture`.
    public static func architecture(named name: String) throws -> any TransformerArchitecture.Type {
        guard let found = registered.first(where: { $0.name == name }) else {
            throw ModelError.unsupportedArchitecture(name, supported: registered.map { $0.name })
        }
        return found
    }
}
