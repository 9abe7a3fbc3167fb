// Private helpers shared by the kernel files: dispatch macro, AVX2 exp/sigmoid, activations.
#pragma once
#include "LoupeKernels.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define LK_AVX2 __attribute__((target("avx2,fma")))
// AVX-512 F/BW/DQ/VL (level 2): compiled on every machine, run only where lk_simd_level() >= 2.
#define LK_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

// Inserts score s with id into a descending top-k list best[k] / ids[k] whose k-th it beats:
// after every kept score it does not exceed, so ties keep the earlier id first.
static inline void lk_topk_insert(float *best, int64_t *ids, int k, float s, int64_t id) {
    int pos = k - 1;
    while (pos > 0 && best[pos - 1] < s) pos--;
    memmove(best + pos + 1, best + pos, sizeof(float) * (size_t)(k - 1 - pos));
    memmove(ids + pos + 1, ids + pos, sizeof(int64_t) * (size_t)(k - 1 - pos));
    best[pos] = s;
    ids[pos] = id;
}

static inline float lk_act_scalar(float v, lk_activation act) {
    switch (act) {
    case LK_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case LK_ACT_RELU6: return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
    case LK_ACT_SILU: return v / (1.0f + expf(-v));
    case LK_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    default: return v;
    }
}

// exp(x) for 8 lanes: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), a degree-6
// polynomial for exp(r), and 2^n built in the exponent bits. Relative error about 2 ulp on
// [-87, 88]; inputs are clamped so that large |x| saturates to 0 or FLT_MAX-ish instead of inf/NaN.
LK_AVX2 static inline __m256 lk_exp256(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f);
    const __m256 lo = _mm256_set1_ps(-87.3365478515625f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    // 2^n: n in [-126, 128] after the clamp; split to keep each factor a normal float.
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i half = _mm256_srai_epi32(ni, 1);
    __m256i rest = _mm256_sub_epi32(ni, half);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(rest, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

LK_AVX2 static inline __m256 lk_sigmoid256(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = lk_exp256(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(one, _mm256_add_ps(one, e));
}

LK_AVX2 static inline __m256 lk_act256(__m256 v, lk_activation act) {
    switch (act) {
    case LK_ACT_RELU: return _mm256_max_ps(v, _mm256_setzero_ps());
    case LK_ACT_RELU6:
        return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(6.0f));
    case LK_ACT_SILU: return _mm256_mul_ps(v, lk_sigmoid256(v));
    case LK_ACT_SIGMOID: return lk_sigmoid256(v);
    default: return v;
    }
}

/// The activation on 16 lanes, through the 8-lane one on each half (the same polynomial, so the
/// AVX-512 and AVX2 kernels give the same values).
LK_AVX512 static inline __m512 lk_act512(__m512 v, lk_activation act) {
    switch (act) {
    case LK_ACT_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case LK_ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6.0f));
    case LK_ACT_SILU:
    case LK_ACT_SIGMOID: {
        const __m256 lo = lk_act256(_mm512_castps512_ps256(v), act), hi = lk_act256(_mm512_extractf32x8_ps(v, 1), act);
        return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
    }
    default: return v;
    }
}

/// Mask with the first n (0..8) lanes set, for tail loads and stores.
LK_AVX2 static inline __m256i lk_tail_mask(size_t n) {
    static const int32_t table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(table + 8 - n));
}

/// even[i] = src[2i], odd[i] = src[2i + 1] for i in [0, n) (odd may be NULL). Reads exactly
/// src[0, 2n) (src[0, 2n − 1) when odd is NULL): the last block uses masked loads and stores, so
/// short rows (7 or 14 columns) cost one block, not a scalar loop.
LK_AVX2 static inline void lk_deinterleave_avx2(const float *src, size_t n, float *even, float *odd) {
    const size_t need = odd ? 2 * n : 2 * n - 1;  // source floats to read
    for (size_t i = 0; i < n; i += 8) {
        __m256 a, b;
        const size_t left = need - 2 * i;  // source floats left from src + 2i
        if (left >= 16) {
            a = _mm256_loadu_ps(src + 2 * i);
            b = _mm256_loadu_ps(src + 2 * i + 8);
        } else {
            a = _mm256_maskload_ps(src + 2 * i, lk_tail_mask(left < 8 ? left : 8));
            b = _mm256_maskload_ps(src + 2 * i + 8, lk_tail_mask(left > 8 ? left - 8 : 0));
        }
        // per 128-bit lane [a0 a2 b0 b2 | a4 a6 b4 b6], then 64-bit blocks reordered 0 2 1 3
        const __m256 e = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
        const __m256 o = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
        if (i + 8 <= n) {
            _mm256_storeu_ps(even + i, e);
            if (odd) _mm256_storeu_ps(odd + i, o);
        } else {
            const __m256i m = lk_tail_mask(n - i);
            _mm256_maskstore_ps(even + i, m, e);
            if (odd) _mm256_maskstore_ps(odd + i, m, o);
        }
    }
}
