#include "lk_internal.h"
#include <stdatomic.h>

#include <cpuid.h>
#include <stdlib.h>
#include <string.h>

static _Atomic int lk_detected = -1;   // what the CPU and OS allow
static _Atomic int lk_capped = -1;     // after LOUPE_ISA
static _Atomic int lk_forced = -1;

// The state components the OS saves on a context switch (XCR0), 0 without XSAVE enabled.
static unsigned long long xcr0(void) {
#if !defined(__x86_64__) && !defined(__i386__)
    return 0;
#else
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
#endif
}

int lk_simd_level_detected(void) {
    int level = atomic_load_explicit(&lk_detected, memory_order_relaxed);
    if (level >= 0) return level;
    __builtin_cpu_init();
    const unsigned long long state = xcr0();
    const int ymm = (state & 0x6) == 0x6, zmm = (state & 0xE6) == 0xE6;  // SSE+AVX; + opmask, ZMM_Hi256, Hi16_ZMM
    level = 0;
    if (ymm && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) level = 1;
    if (level == 1 && zmm && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) level = 2;
    atomic_store_explicit(&lk_detected, level, memory_order_relaxed);
    return level;
}

static int capped_level(void) {
    int level = atomic_load_explicit(&lk_capped, memory_order_relaxed);
    if (level >= 0) return level;
    level = lk_simd_level_detected();
    const char *isa = getenv("LOUPE_ISA");
    if (isa) {
        const int wanted = strcmp(isa, "scalar") == 0 ? 0 : strcmp(isa, "avx2") == 0 ? 1 : strcmp(isa, "avx512") == 0 ? 2 : level;
        if (wanted < level) level = wanted;
    }
    atomic_store_explicit(&lk_capped, level, memory_order_relaxed);
    return level;
}

int lk_simd_level(void) {
    int forced = atomic_load_explicit(&lk_forced, memory_order_relaxed);
    if (forced >= 0) return forced;
    return capped_level();
}

void lk_force_simd_level(int level) {
    if (level < 0) { atomic_store_explicit(&lk_forced, -1, memory_order_relaxed); return; }
    const int detected = lk_simd_level_detected();  // never force a level the CPU lacks
    atomic_store_explicit(&lk_forced, level < detected ? level : detected, memory_order_relaxed);
}

void lk_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
