// swift-tools-version: 6.0
// Braid: a native, pure-Swift transformer inference engine built around parallel decoding.
//
// Modules, lowest layer first (dependencies flow one way):
//   CBLAS          system library: OpenBLAS (Linux) — cblas_sgemm for prompt processing
//   BraidCPU       a C header: which SIMD instruction sets the build's compiler flags enable
//   BraidKernels   numeric kernels: half floats, ggml block dequantization, BLAS, norms, RoPE, pool
//   BraidGGUF      the GGUF file format: header, metadata, tensor table, memory-mapped data
//   BraidTokenizer byte-level BPE from GGUF metadata, pre-tokenizers, streaming detokenizer
//   BraidModels    model configuration, architectures (one file each), batched forward, KV cache
//   BraidSampling  logits → token: greedy, temperature, top-k/p, min-p, repetition penalty, seeded RNG
//   Braid          the public API: load a model by path or manifest name, generate, perplexity
//   BraidAggregation  parallel reasoning: answer extraction and the operators that fold branches
//   braid          the command line
import PackageDescription

let package = Package(
    name: "Braid",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Braid", targets: ["Braid", "BraidAggregation"]),
        .executable(name: "braid", targets: ["BraidCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        // Header only: tells Swift code which instruction sets the compiler flags turned on.
        .systemLibrary(name: "BraidCPU"),
        .target(
            name: "BraidKernels",
            dependencies: ["BraidCPU", .target(name: "CBLAS", condition: .when(platforms: [.linux]))]
        ),
        .target(name: "BraidGGUF", dependencies: ["BraidKernels"]),
        .target(
            name: "BraidTokenizer",
            dependencies: ["BraidGGUF", .product(name: "HeapModule", package: "swift-collections")]
        ),
        .target(name: "BraidModels", dependencies: ["BraidKernels", "BraidGGUF"]),
        .target(name: "BraidSampling", dependencies: ["BraidKernels"]),
        .target(
            name: "Braid",
            dependencies: ["BraidKernels", "BraidGGUF", "BraidTokenizer", "BraidModels", "BraidSampling"]
        ),
        .target(name: "BraidAggregation", dependencies: ["Braid"]),
        .executableTarget(
            name: "BraidCLI",
            dependencies: ["Braid", "BraidAggregation", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Tiny random models written as GGUF, for tests (not part of the Braid product).
        .target(name: "BraidTestSupport", dependencies: ["BraidGGUF", "BraidKernels", "BraidSampling", "BraidTokenizer"]),
        .testTarget(name: "BraidKernelsTests", dependencies: ["BraidKernels"]),
        .testTarget(name: "BraidGGUFTests", dependencies: ["BraidGGUF", "BraidKernels", "BraidTestSupport"]),
        .testTarget(name: "BraidTokenizerTests", dependencies: ["Braid", "BraidTokenizer", "BraidTestSupport"]),
        .testTarget(name: "BraidSamplingTests", dependencies: ["BraidSampling"]),
        .testTarget(name: "BraidModelTests", dependencies: ["Braid", "BraidTestSupport"]),
        .testTarget(name: "BraidAggregationTests", dependencies: ["BraidAggregation", "BraidTestSupport"]),
        .testTarget(name: "BraidCLITests", dependencies: ["Braid", "BraidTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
