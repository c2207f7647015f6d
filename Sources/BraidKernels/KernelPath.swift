// Which implementation of the quantized kernels runs. The x86 intrinsics path is only fast when
// the compiler may emit AVX2 (the fast build: `-Xswiftc -Xcc -Xswiftc -march=x86-64-v3`, see the
// README); without those flags it still computes the same numbers, slowly, so the portable Swift
// SIMD path is chosen instead. Both are always compiled on x86-64, so tests check both.
import BraidCPU

/// An implementation of the quantized matrix kernels.
public enum KernelPath: String, Sendable, CaseIterable {
    /// Swift SIMD types only: runs on every CPU Swift targets (NEON on Apple Silicon).
    case portable
    /// x86-64 AVX2/FMA/F16C intrinsics.
    case avx2

    /// The fastest path this build supports: AVX2 when compiled for it, otherwise portable.
    public static let preferred: KernelPath = {
        #if arch(x86_64)
        return braid_compiled_for_avx2() != 0 ? .avx2 : .portable
        #else
        return .portable
        #endif
    }()

    /// The paths that can run in this build (AVX2 only on x86-64).
    public static var available: [KernelPath] {
        #if arch(x86_64)
        return [.portable, .avx2]
        #else
        return [.portable]
        #endif
    }

    /// Whether this build was compiled with the flags that make the AVX2 path fast.
    public static var compiledForAVX2: Bool {
        #if arch(x86_64)
        return braid_compiled_for_avx2() != 0
        #else
        return false
        #endif
    }
}

/// IEEE half bits → Float through the hardware conversion where Swift has `Float16` (one
/// instruction with F16C or on ARM), else bit by bit.
@inline(__always)
func fastFloatFromHalf(_ bits: UInt16) -> Float {
    #if os(macOS) && arch(x86_64)
    return floatFromHalf(bits)
    #else
    return Float(Float16(bitPattern: bits))
    #endif
}
