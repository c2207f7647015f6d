// Rotary position embedding (RoPE, Su et al. 2021) in the two layouts ggml uses.
// Angles follow ggml_rope_cache_init: θ starts at the position and is multiplied by
// base^(−2/dims) per pair, in Float, so positions rotate exactly as llama.cpp rotates them.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How the rotated pairs of a head vector are laid out.
public enum RoPEStyle: Sendable {
    /// Adjacent pairs (x[2i], x[2i+1]): ggml's "normal" mode, used by `llama`
    /// (whose GGUF conversion permutes the Q/K rows to match).
    case adjacentPairs
    /// Halves (x[i], x[i + dims/2]): ggml's NeoX mode, used by `qwen2`.
    case halves
}

/// Rotates query and key head vectors by their position.
public struct RotaryEmbedding: Sendable {
    /// Which dimensions form the rotated pairs.
    public let style: RoPEStyle
    /// How many leading dimensions of each head are rotated (the rest pass through).
    public let dimensionCount: Int
    /// The frequency base (`rope.freq_base`), e.g. 10 000 or 1 000 000.
    public let base: Float

    /// A rotation over the first `dimensionCount` dimensions of each head with frequency `base`.
    public init(style: RoPEStyle, dimensionCount: Int, base: Float) {
        self.style = style
        self.dimensionCount = dimensionCount
        self.base = base
    }

    /// cos and sin of each pair's angle at `position`, written to `cosines`/`sines` (dims/2 each).
    public func angles(position: Int, cosines: UnsafeMutablePointer<Float>, sines: UnsafeMutablePointer<Float>) {
        let thetaScale = powf(base, -2 / Float(dimensionCount))
        var theta = Float(position)
        for pair in 0..<dimensionCount / 2 {
            cosines[pair] = cosf(theta)
            sines[pair] = sinf(theta)
            theta *= thetaScale
        }
    }

    /// Rotates one head vector in place with angles from `angles(position:…)`.
    public func rotate(_ x: UnsafeMutablePointer<Float>, cosines: UnsafePointer<Float>, sines: UnsafePointer<Float>) {
        let pairs = dimensionCount / 2
        switch style {
        case .adjacentPairs:
            for i in 0..<pairs {
                let x0 = x[2 * i], x1 = x[2 * i + 1]
                x[2 * i] = x0 * cosines[i] - x1 * sines[i]
                x[2 * i + 1] = x0 * sines[i] + x1 * cosines[i]
            }
        case .halves:
            for i in 0..<pairs {
                let x0 = x[i], x1 = x[i + pairs]
                x[i] = x0 * cosines[i] - x1 * sines[i]
                x[i + pairs] = x0 * sines[i] + x1 * cosines[i]
            }
        }
    }
}
