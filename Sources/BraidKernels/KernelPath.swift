// Which implementation of the quantized kernels runs. The x86 intrinsics path exists only in
// builds that target AVX2/FMA/F16C (the fast build: `swift build -c release $(tools/swift-flags)`,
// see the README): the module BraidAVX2 is importable exactly then, and without those instruction
// sets the intrinsics would not compile. The portable Swift SIMD path is always there, so the
// fast build's tests check both.
import BraidCPU
/// An implementation of the quantized matrix kernels.
public enum KernelPath: String, Sendable, CaseIterable {
    /// Swift SIMD types only: runs on every CPU Swift targets (NEON on Apple Silicon).
    case portable
    /// x86-64 AVX2/FMA/F16C intrinsics (fast builds only).
    case avx2

    /// The fastest path this build has: AVX2 when compiled for it, otherwise portable.
    public static let preferred: KernelPath = compiledForAVX2 ? .avx2 : .portable

    /// The paths that can run in this build.
    public static var available: [KernelPath] { compiledForAVX2 ? [.portable, .avx2] : [.portable] }

    /// Whether this CPU can run this build: false only for a fast build on a CPU or operating
    /// system without the instructions it targets (AVX2/FMA, AVX-512 for an x86-64-v4 build, VNNI
    /// for a VNNI build), where the first vector instruction would kill the process.
    public static var buildRunsOnThisCPU: Bool {
        let level = braid_cpu_vector_level()
        return (!compiledForAVX2 || level >= 1) && (!compiledForAVX512 || level >= 2) && (!compiledForVNNI || level >= 3)
    }

    /// The instruction sets this build targets, for messages.
    public static var targetDescription: String {
        compiledForVNNI ? "AVX-512 VNNI (x86-64-v4 + VNNI)"
            : compiledForAVX512 ? "AVX-512 (x86-64-v4)" : compiledForAVX2 ? "AVX2/FMA/F16C (x86-64-v3)" : "baseline"
    }

    /// Whether this build targets AVX-512 VNNI (the integer kernels use vpdpwssd).
    public static var compiledForVNNI: Bool {
        #if canImport(BraidVNNI)
        return true
        #else
        return false
        #endif
    }

    /// Whether this build targets AVX-512 (the compiler may use it anywhere).
    public static var compiledForAVX512: Bool {
        #if canImport(BraidAVX512)
        return true
        #else
        return false
        #endif
    }

    /// Whether this build targets AVX2/FMA/F16C (and so has the AVX2 kernels).
    public static var compiledForAVX2: Bool {
        #if canImport(BraidAVX2)
        return true
        #else
        return false
        #endif
    }
}
