// The BraidVNNI module (see module.modulemap): importable only in builds that also target AVX-512
// VNNI. Helpers for the integer kernels that Swift cannot write itself: their intrinsics are C
// macros, or the compiler would undo them.
#ifndef BRAID_VNNI_H
#define BRAID_VNNI_H
#include <immintrin.h>

/// A group's 32 int16 weights as one 512-bit register (values 0…15 low, 16…31 high).
static inline __attribute__((always_inline)) __m512i braid_join(__m256i low, __m256i high) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

/// sum + the pairwise products of `weights` and the 32 int16 at `x` (pairs of int16 products
/// added into each int32 lane): one vpdpwssd with its load folded in. Written as assembly because
/// the compiler, tuning for a generic x86-64-v4 CPU, turns the intrinsic back into vpmaddwd +
/// vpaddd.
static inline __attribute__((always_inline)) __m512i braid_dpwssd(__m512i sum, __m512i weights, const void *x) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(sum) : "v"(weights), "m"(*(const __m512i *)x));
    return sum;
}

/// The 16 int32 lanes of `v` folded to 8: lane i + lane i + 8 (the same integers the 256-bit
/// kernels sum).
static inline __attribute__((always_inline)) __m256i braid_fold(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/// Zero.
static inline __attribute__((always_inline)) __m512i braid_zero512(void) {
    return _mm512_setzero_si512();
}

#endif
