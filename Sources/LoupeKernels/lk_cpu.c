#include "lk_internal.h"
#include <stdatomic.h>

static _Atomic int lk_detected = -1;
static _Atomic int lk_forced = -1;

int lk_simd_level(void) {
    int forced = atomic_load_explicit(&lk_forced, memory_order_relaxed);
    if (forced >= 0) return forced;
    int level = atomic_load_explicit(&lk_detected, memory_order_relaxed);
    if (level < 0) {
        __builtin_cpu_init();
        level = (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
        atomic_store_explicit(&lk_detected, level, memory_order_relaxed);
    }
    return level;
}

void lk_force_simd_level(int level) {
    if (level < 0) { atomic_store_explicit(&lk_forced, -1, memory_order_relaxed); return; }
    atomic_store_explicit(&lk_forced, -1, memory_order_relaxed);
    const int detected = lk_simd_level();  // never force a level the CPU lacks
    atomic_store_explicit(&lk_forced, level < detected ? level : detected, memory_order_relaxed);
}

void lk_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
