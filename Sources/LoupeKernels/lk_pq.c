// Scans of an inverted list or a whole store, fused with a running top-k: product-quantization
// codes scored against a query's look-up table (asymmetric distance computation), and plain
// score rows whose columns carry arbitrary ids.
#include "lk_internal.h"
#include <stdatomic.h>

int lk_pq_scan_variant(void);

// 8 scores of codes[8][m] at once: one 32-bit gather brings four consecutive code bytes of each
// of the 8 rows, and each byte then picks its table entry with one float gather.
LK_AVX2 static void pq_scan_avx2(const float *table, int m, const uint8_t *codes, size_t n, const int64_t *ids,
                                 int64_t base, float bias, int k, float *best, int64_t *best_ids) {
    const __m256i rows = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(m));
    const __m256i low = _mm256_set1_epi32(0xFF);
    size_t i = 0;
    for (; i + 8 <= n && m % 4 == 0; i += 8) {
        const uint8_t *block = codes + i * (size_t)m;
        __m256 acc0 = _mm256_set1_ps(bias), acc1 = _mm256_setzero_ps();
        for (int s = 0; s < m; s += 4) {
            // [8] words: codes s..s+3 of each row, little-endian
            const __m256i word = _mm256_i32gather_epi32((const int *)(block + s), rows, 1);
            const float *t = table + (size_t)s * 256;
            acc0 = _mm256_add_ps(acc0, _mm256_i32gather_ps(t, _mm256_and_si256(word, low), 4));
            acc1 = _mm256_add_ps(acc1, _mm256_i32gather_ps(t + 256, _mm256_and_si256(_mm256_srli_epi32(word, 8), low), 4));
            acc0 = _mm256_add_ps(acc0, _mm256_i32gather_ps(t + 512, _mm256_and_si256(_mm256_srli_epi32(word, 16), low), 4));
            acc1 = _mm256_add_ps(acc1, _mm256_i32gather_ps(t + 768, _mm256_srli_epi32(word, 24), 4));
        }
        const __m256 v = _mm256_add_ps(acc0, acc1);
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_set1_ps(best[k - 1]), _CMP_GT_OQ));
        if (!mask) continue;
        float out[8];
        _mm256_storeu_ps(out, v);
        while (mask) {
            const int lane = __builtin_ctz(mask);
            mask &= mask - 1;
            const size_t r = i + (size_t)lane;
            if (out[lane] > best[k - 1]) lk_topk_insert(best, best_ids, k, out[lane], ids ? ids[r] : base + (int64_t)r);
        }
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * (size_t)m;
        float s = bias;
        for (int j = 0; j < m; j++) s += table[(size_t)j * 256 + c[j]];
        if (s > best[k - 1]) lk_topk_insert(best, best_ids, k, s, ids ? ids[i] : base + (int64_t)i);
    }
}

// Four codes at a time, each with its own sum, so that the loads of one code do not wait on the
// additions of another.
static void pq_scan_scalar(const float *table, int m, const uint8_t *codes, size_t n, const int64_t *ids,
                           int64_t base, float bias, int k, float *best, int64_t *best_ids) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c = codes + i * (size_t)m;
        float s[4] = {bias, bias, bias, bias};
        for (int j = 0; j < m; j++) {
            const float *t = table + (size_t)j * 256;
            s[0] += t[c[j]];
            s[1] += t[c[m + j]];
            s[2] += t[c[2 * m + j]];
            s[3] += t[c[3 * m + j]];
        }
        for (int l = 0; l < 4; l++)
            if (s[l] > best[k - 1]) lk_topk_insert(best, best_ids, k, s[l], ids ? ids[i + l] : base + (int64_t)(i + l));
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * (size_t)m;
        float s = bias;
        for (int j = 0; j < m; j++) s += table[(size_t)j * 256 + c[j]];
        if (s > best[k - 1]) lk_topk_insert(best, best_ids, k, s, ids ? ids[i] : base + (int64_t)i);
    }
}

void lk_pq_scan_topk(const float *table, int m, const uint8_t *codes, size_t n, const int64_t *ids, int64_t base,
                     float bias, int k, float *best, int64_t *best_ids) {
    if (k <= 0 || n == 0) return;
    if (lk_pq_scan_variant() == 1) pq_scan_avx2(table, m, codes, n, ids, base, bias, k, best, best_ids);
    else pq_scan_scalar(table, m, codes, n, ids, base, bias, k, best, best_ids);
}

static _Atomic int lk_pq_variant = -1;

int lk_pq_scan_variant(void) {
    const int v = atomic_load_explicit(&lk_pq_variant, memory_order_relaxed);
    if (v >= 0) return v <= lk_simd_level() ? v : 0;
    return 0;
}

void lk_pq_set_scan_variant(int variant) { atomic_store_explicit(&lk_pq_variant, variant, memory_order_relaxed); }

LK_AVX2 static void topk_ids_avx2(const float *scores, size_t n, const int64_t *ids, int64_t base, int k, float *best,
                                  int64_t *best_ids) {
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(scores + j), _mm256_set1_ps(best[k - 1]), _CMP_GT_OQ));
        while (mask) {
            const int lane = __builtin_ctz(mask);
            mask &= mask - 1;
            const size_t r = j + (size_t)lane;
            if (scores[r] > best[k - 1]) lk_topk_insert(best, best_ids, k, scores[r], ids ? ids[r] : base + (int64_t)r);
        }
    }
    for (; j < n; j++)
        if (scores[j] > best[k - 1]) lk_topk_insert(best, best_ids, k, scores[j], ids ? ids[j] : base + (int64_t)j);
}

void lk_topk_scan_ids(const float *scores, size_t n, const int64_t *ids, int64_t base, int k, float *best,
                      int64_t *best_ids) {
    if (k <= 0 || n == 0) return;
    if (lk_simd_level() >= 1) { topk_ids_avx2(scores, n, ids, base, k, best, best_ids); return; }
    for (size_t j = 0; j < n; j++)
        if (scores[j] > best[k - 1]) lk_topk_insert(best, best_ids, k, scores[j], ids ? ids[j] : base + (int64_t)j);
}
