// Llama (Touvron et al. 2023) as SmolLM2 uses it: pre-norm blocks with RMSNorm, grouped-query
// attention with RoPE on adjacent pairs (llama.cpp LLAMA_ROPE_TYPE_NORM; the GGUF converter
// permutes Q/K rows to match), SwiGLU MLP, no biases, output tied to token_embd when absent.
// Reference: llama.cpp src/models/llama.cpp.
import BraidKernels

/// The `llama` architecture.
public enum Llama: TransformerArchitecture {
    public static let name = "llama"
    public static let ropeStyle = RoPEStyle.adjacentPairs
    public static let hasQKVBiases = false
}
