// The BraidVNNI module (see module.modulemap): importable only in builds that also target AVX-512
// VNNI. Helpers for the integer kernels that Swift cannot write itself: their intrinsics are C
// macros, or the compiler would undo them.
#ifndef BRAID_VNNI_H
#define BRAID_VNNI_H
#include <immintrin.h>

/// sum + the pairwise products of `weights` and the 32 int16 at `x` (pairs of int16 products
/// added into each int32 lane): one vpdpwssd with its load folded in. Written as assembly because
/// the compiler, tuning for a generic x86-64-v4 CPU, turns the intrinsic back into vpmaddwd +
/// vpaddd.
static inline __attribute__((always_inline)) __m512i braid_dpwssd(__m512i sum, __m512i weights, const void *x) {
    __asm__("vpdpwssd %2, %1, %0" : "+v"(sum) : "v"(weights), "m"(*(const __m512i *)x));
    return sum;
}

/// sum + the dot products of each 32-bit lane's four unsigned bytes of `weights` with the four
/// signed bytes at `x`, broadcast to every lane: one vpdpbusd with its broadcast load folded in.
/// Assembly for the same reason as `braid_dpwssd`.
static inline __attribute__((always_inline)) __m512i braid_dpbusd_broadcast(__m512i sum, __m512i weights, const void *x) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(sum) : "v"(weights), "m"(*(const int *)x));
    return sum;
}

#endif
