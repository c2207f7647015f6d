// What Swift code cannot say by itself about the CPU: which vector instruction sets it and the
// operating system support, and hints for spinning and prefetching.
#ifndef BRAID_CPU_H
#define BRAID_CPU_H

/// Tells the CPU the thread is spinning on a memory location (x86 `pause`, ARM `yield`).
static inline void braid_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

/// What the CPU and the operating system can run: 3 for AVX-512 (F, CD, BW, DQ, VL) with VNNI, 2
/// for AVX-512 without it, 1 for AVX2 with FMA, 0 for less or for a CPU that is not x86-64.
static inline int braid_cpu_vector_level(void) {
#if defined(__x86_64__)
    unsigned int a, b, c, d;
    __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (a < 7) return 0;
    __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    unsigned int xcr0, xcr0High;
    __asm__ __volatile__("xgetbv" : "=a"(xcr0), "=d"(xcr0High) : "c"(0));
    if ((xcr0 & 0x6) != 0x6) return 0;  // the OS saves XMM and YMM state
    __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    if (!((b >> 5) & 1)) return 0;  // AVX2
    unsigned int avx512 = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31);  // F DQ CD BW VL
    if ((b & avx512) == avx512 && (xcr0 & 0xE0) == 0xE0) {  // and the OS saves ZMM state
        return ((c >> 11) & 1) ? 3 : 2;  // AVX512_VNNI
    }
    return 1;
#else
    return 0;
#endif
}

/// Asks for the cache line at `address` ahead of its use (a hint; never faults).
static inline void braid_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// As `braid_prefetch`, into the level-2 cache only (prefetcht1).
static inline void braid_prefetch_l2(const void *address) {
    __builtin_prefetch(address, 0, 2);
}

#endif
