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

    /// Whether this CPU can run this build: false only for a fast (AVX2) build on a CPU or
    /// operating system without AVX2/FMA, where the first vector instruction would kill the process.
    public static var buildRunsOnThisCPU: Bool {
        !compiledForAVX2 || braid_cpu_vector_level() >= 1
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
