// The one place Braid calls BLAS: single-precision matrix multiply.
// Linux: OpenBLAS through the CBLAS system-library module; macOS: Accelerate.
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// Single-precision matrix products through the platform's BLAS.
public enum BLAS {
    /// C[m×n] = A[m×k] · B[n×k]ᵀ (+ C when `accumulate`), all row-major.
    /// `ldc` is the row stride of C, so a caller can write a column tile of a wider matrix.
    public static func multiplyTransposed(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, ldc: Int, accumulate: Bool = false
    ) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(k),
                    accumulate ? 1 : 0, c, Int32(ldc))
    }

    /// Keeps BLAS to one thread: Braid splits work over its own pool, and two pools on two cores fight.
    public static func useSingleThread() {
        #if !canImport(Accelerate)
        openblas_set_num_threads(1)
        #endif
    }
}
