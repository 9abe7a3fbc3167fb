// Streaming top-k of score rows: keeps, per row, the k largest scores seen so far in descending
// order. Ties keep the earlier (lower) index first: a new score must beat the current k-th
// strictly, and it is inserted after every kept score it does not exceed.
#include "lk_internal.h"
#include <string.h>

LK_AVX2 static void topk_avx2(const float *scores, size_t ld, size_t cols, int k, int64_t base, size_t r0,
                              size_t r1, float *best, int64_t *ids) {
    for (size_t r = r0; r < r1; r++) {
        const float *row = scores + r * ld;
        float *b = best + r * (size_t)k;
        int64_t *d = ids + r * (size_t)k;
        size_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            const __m256 v = _mm256_loadu_ps(row + j);
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(b[k - 1]), _CMP_GT_OQ));
            while (mask) {
                const int lane = __builtin_ctz(mask);
                mask &= mask - 1;
                const float s = row[j + (size_t)lane];
                if (s > b[k - 1]) lk_topk_insert(b, d, k, s, base + (int64_t)(j + (size_t)lane));
            }
        }
        for (; j < cols; j++)
            if (row[j] > b[k - 1]) lk_topk_insert(b, d, k, row[j], base + (int64_t)j);
    }
}

void lk_topk_update(const float *scores, size_t ld, size_t cols, int k, int64_t base, size_t r0, size_t r1,
                    float *best, int64_t *ids) {
    if (k <= 0) return;
    if (lk_simd_level() >= 1) { topk_avx2(scores, ld, cols, k, base, r0, r1, best, ids); return; }
    for (size_t r = r0; r < r1; r++) {
        const float *row = scores + r * ld;
        float *b = best + r * (size_t)k;
        int64_t *d = ids + r * (size_t)k;
        for (size_t j = 0; j < cols; j++)
            if (row[j] > b[k - 1]) lk_topk_insert(b, d, k, row[j], base + (int64_t)j);
    }
}
