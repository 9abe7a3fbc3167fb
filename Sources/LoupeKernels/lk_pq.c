// Scans of an inverted list or a whole store, fused with a running top-k: product-quantization
// codes stored as rows scored against a query's look-up table (asymmetric distance computation:
// the reference for the blocked scan of lk_pq_blocked.c, which searches use), and plain score
// rows whose columns carry arbitrary ids.
#include "lk_internal.h"

#ifndef LK_PQ_ROWS
#define LK_PQ_ROWS 8
#endif

// Eight codes at a time, each with its own sum, so that the loads of one code do not wait on
// the additions of another. (Building the sums 16 sub-quantizers at a time, to keep a slice of a
// 64 KiB table in L1, measured 1.5x slower on Zen 3: the look-ups hit L2 well enough.)
static void pq_scan_scalar(const float *table, int m, const uint8_t *codes, size_t n, const int64_t *ids,
                           int64_t base, float bias, int k, float *best, int64_t *best_ids) {
    size_t i = 0;
    for (; i + LK_PQ_ROWS <= n; i += LK_PQ_ROWS) {
        const uint8_t *c = codes + i * (size_t)m;
        float s[LK_PQ_ROWS];
        for (int l = 0; l < LK_PQ_ROWS; l++) s[l] = bias;
        for (int j = 0; j < m; j++) {
            const float *t = table + (size_t)j * 256;
            for (int l = 0; l < LK_PQ_ROWS; l++) s[l] += t[c[(size_t)l * m + j]];
        }
        for (int l = 0; l < LK_PQ_ROWS; l++)
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
    pq_scan_scalar(table, m, codes, n, ids, base, bias, k, best, best_ids);
}

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

// Row after row, so that the matrix streams once; the block's running best and rows stay in cache.
LK_AVX2 static void column_argmax_avx2(const float *s, int k, int b, const float *bias, float *best, int32_t *at) {
    for (int i = 0; i < b; i++) { best[i] = -INFINITY; at[i] = 0; }
    for (int r = 0; r < k; r++) {
        const float *row = s + (size_t)r * b;
        const __m256 c = _mm256_set1_ps(bias[r]);
        const __m256i rr = _mm256_set1_epi32(r);
        int i = 0;
        for (; i + 8 <= b; i += 8) {
            const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(row + i), c), v = _mm256_loadu_ps(best + i);
            const __m256 gt = _mm256_cmp_ps(x, v, _CMP_GT_OQ);
            _mm256_storeu_ps(best + i, _mm256_blendv_ps(v, x, gt));
            const __m256i a = _mm256_loadu_si256((const __m256i *)(at + i));
            _mm256_storeu_si256((__m256i *)(at + i), _mm256_blendv_epi8(a, rr, _mm256_castps_si256(gt)));
        }
        for (; i < b; i++) {
            const float x = row[i] - bias[r];
            if (x > best[i]) { best[i] = x; at[i] = r; }
        }
    }
}

// Nearest of k centres for rows of few dimensions, without the [n, k] product in memory: per
// row, 64 centres at a time in eight independent accumulators over the transposed centres
// ct[d][k]; each lane keeps its best value and centre, and the lanes are reduced at the end
// (the larger value, the lower centre on ties).
LK_AVX2 static void nearest_small_avx2(const float *x, int n, int d, const float *ct, const float *half, int k,
                                       float *best, int32_t *at) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int i = 0; i < n; i++) {
        const float *row = x + (size_t)i * d;
        __m256 vbest = _mm256_set1_ps(-INFINITY);
        __m256i vat = _mm256_setzero_si256();
        int c0 = 0;
        for (; c0 + 64 <= k; c0 += 64) {
            __m256 s[8];
            for (int t = 0; t < 8; t++) s[t] = _mm256_setzero_ps();
            for (int j = 0; j < d; j++) {
                const __m256 xj = _mm256_set1_ps(row[j]);
                const float *c = ct + (size_t)j * k + c0;
                for (int t = 0; t < 8; t++) s[t] = _mm256_fmadd_ps(xj, _mm256_loadu_ps(c + 8 * t), s[t]);
            }
            for (int t = 0; t < 8; t++) {
                const __m256 v = _mm256_sub_ps(s[t], _mm256_loadu_ps(half + c0 + 8 * t));
                const __m256 gt = _mm256_cmp_ps(v, vbest, _CMP_GT_OQ);
                vbest = _mm256_blendv_ps(vbest, v, gt);
                vat = _mm256_blendv_epi8(vat, _mm256_add_epi32(lanes, _mm256_set1_epi32(c0 + 8 * t)), _mm256_castps_si256(gt));
            }
        }
        float bv[8];
        int32_t ba[8];
        _mm256_storeu_ps(bv, vbest);
        _mm256_storeu_si256((__m256i *)ba, vat);
        float v = -INFINITY;
        int32_t a = 0;
        for (int t = 0; t < 8; t++)
            if (bv[t] > v || (bv[t] == v && ba[t] < a)) { v = bv[t]; a = ba[t]; }
        for (; c0 < k; c0++) {
            float sum = 0;
            for (int j = 0; j < d; j++) sum += row[j] * ct[(size_t)j * k + c0];
            sum -= half[c0];
            if (sum > v) { v = sum; a = c0; }
        }
        best[i] = v;
        at[i] = a;
    }
}

void lk_nearest_small(const float *x, int n, int d, const float *ct, const float *half, int k, float *best, int32_t *at) {
    if (lk_simd_level() >= 1) { nearest_small_avx2(x, n, d, ct, half, k, best, at); return; }
    for (int i = 0; i < n; i++) {
        float v = -INFINITY;
        int32_t a = 0;
        for (int c = 0; c < k; c++) {
            float s = 0;
            for (int j = 0; j < d; j++) s += x[(size_t)i * d + j] * ct[(size_t)j * k + c];
            s -= half[c];
            if (s > v) { v = s; a = c; }
        }
        best[i] = v;
        at[i] = a;
    }
}

void lk_column_argmax(const float *s, int k, int b, const float *bias, float *best, int32_t *at) {
    if (lk_simd_level() >= 1) { column_argmax_avx2(s, k, b, bias, best, at); return; }
    for (int i = 0; i < b; i++) {
        float v = -INFINITY;
        int32_t a = 0;
        for (int r = 0; r < k; r++) {
            const float x = s[(size_t)r * b + i] - bias[r];
            if (x > v) { v = x; a = r; }
        }
        best[i] = v;
        at[i] = a;
    }
}
