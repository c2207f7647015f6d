// Qwen2 / Qwen2.5 (Yang et al. 2024): the Llama block with biases on the Q, K and V projections,
// RoPE in NeoX layout (rotating the two halves of each head, llama.cpp LLAMA_ROPE_TYPE_NEOX) and a
// large frequency base (1e6); grouped-query attention (14 query / 2 KV heads in the 0.5B model).
// Reference: llama.cpp src/models/qwen2.cpp.
import BraidKernels

/// The `qwen2` architecture.
public enum Qwen2: TransformerArchitecture {
    public static let name = "qwen2"
    public static let ropeStyle = RoPEStyle.halves
    public static let hasQKVBiases = true
}
