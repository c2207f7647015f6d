// The one place Braid calls BLAS: single-precision matrix multiply.
// Linux: OpenBLAS through the CBLAS system-library module; macOS: Accelerate.
#if canImport(Accelerate)
import Accelerate
#else
import BraidCPU
import CBLAS
#if canImport(Glibc)
import Glibc
#endif
#endif

/// Single-precision matrix products through the platform's BLAS.
public enum BLAS {
    /// C[m×n] = A[m×k] · B[n×k]ᵀ (+ C when `accumulate`), all row-major.
    /// `lda`, `ldb` and `ldc` are row strides (default: dense), so a caller can read rows spread
    /// through a wider matrix (one head of a KV cache) and write a column tile of a wider result.
    public static func multiplyTransposed(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int, accumulate: Bool = false
    ) {
        _ = configured
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda ?? k), b, Int32(ldb ?? k),
                    accumulate ? 1 : 0, c, Int32(ldc))
    }

    /// C[m×n] = A[m×k] · B[k×n] (+ C when `accumulate`), row-major with row strides.
    public static func multiply(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, accumulate: Bool = false
    ) {
        _ = configured
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb),
                    accumulate ? 1 : 0, c, Int32(ldc))
    }

    /// Done once, before the first product (and before any other thread can call BLAS through
    /// Braid): OpenBLAS kept to one thread, since Braid splits work over its own pool and two pools
    /// on two cores fight; and OpenBLAS's kernels matched to the CPU (`selectKernels`).
    private static let configured: Void = {
        #if !canImport(Accelerate)
        selectKernels()
        openblas_set_num_threads(1)
        #endif
    }()

    /// Configures BLAS now rather than at the first product.
    public static func prepare() {
        _ = configured
    }

    #if !canImport(Accelerate)
    /// OpenBLAS picks its kernels by CPU model when it loads. Virtual machines often report a
    /// generic model it does not know, and it falls back to its Prescott (SSE3) kernels — a
    /// quarter of the speed on a CPU with AVX-512 (measured on this project's machines: Qwen2.5
    /// 0.5B prompt processing 53 → 211 tokens/s). When the CPU and OS support AVX2 or AVX-512 but
    /// OpenBLAS chose older kernels, this re-initializes it as Haswell or SkylakeX, as setting
    /// OPENBLAS_CORETYPE would. A user's own OPENBLAS_CORETYPE is left alone.
    private static func selectKernels() {
        guard getenv("OPENBLAS_CORETYPE") == nil, let current = openblas_get_corename() else { return }
        let name = String(cString: current).lowercased()
        let level = braid_cpu_vector_level()
        let avx512Kernels = ["skylakex", "cooperlake", "sapphirerapids"]
        let avx2Kernels = avx512Kernels + ["haswell", "zen", "excavator"]
        let wanted: String
        if level >= 2 && !avx512Kernels.contains(name) {
            wanted = "SkylakeX"
        } else if level == 1 && !avx2Kernels.contains(name) {
            wanted = "Haswell"
        } else {
            return
        }
        // Only DYNAMIC_ARCH builds (Debian's, among others) can switch; look the entry points up.
        guard let quit = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_quit"),
              let initialize = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "gotoblas_dynamic_init") else { return }
        typealias Entry = @convention(c) () -> Void
        setenv("OPENBLAS_CORETYPE", wanted, 1)
        unsafeBitCast(quit, to: Entry.self)()
        unsafeBitCast(initialize, to: Entry.self)()
        unsetenv("OPENBLAS_CORETYPE")
    }
    #endif
}
