// The BraidAVX512 module (see module.modulemap): importable only in builds that target AVX-512
// (x86-64-v4). Helpers for the integer kernels whose intrinsics are C macros, which Swift cannot
// call.
#ifndef BRAID_AVX512_H
#define BRAID_AVX512_H
#include <immintrin.h>

/// Two 256-bit halves as one 512-bit register (`low` in lanes 0…15 of int16, `high` above).
static inline __attribute__((always_inline)) __m512i braid_join(__m256i low, __m256i high) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

/// The 16 int32 lanes of `v` folded to 8: lane i + lane i + 8 (the same integers the 256-bit
/// kernels sum).
static inline __attribute__((always_inline)) __m256i braid_fold(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/// The 16 float lanes of `v` folded to 8: lane i + lane i + 8.
static inline __attribute__((always_inline)) __m256 braid_fold_ps(__m512 v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

#endif
