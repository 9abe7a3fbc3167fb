// Fused bias + activation epilogue and elementwise arithmetic.
#include "lk_internal.h"

LK_AVX2 static void bias_activation_avx2(float *y, size_t ld, const float *bias, size_t plane,
                                         size_t c0, size_t c1, lk_activation act) {
    for (size_t c = c0; c < c1; c++) {
        float *row = y + c * ld;  // [plane]
        const __m256 b = _mm256_set1_ps(bias ? bias[c] : 0.0f);
        size_t i = 0;
        for (; i + 8 <= plane; i += 8)
            _mm256_storeu_ps(row + i, lk_act256(_mm256_add_ps(_mm256_loadu_ps(row + i), b), act));
        if (i < plane) {
            __m256i m = lk_tail_mask(plane - i);
            __m256 v = lk_act256(_mm256_add_ps(_mm256_maskload_ps(row + i, m), b), act);
            _mm256_maskstore_ps(row + i, m, v);
        }
    }
}

void lk_bias_activation(float *y, size_t ld, const float *bias, size_t plane, size_t c0, size_t c1,
                        lk_activation act) {
    if (!bias && act == LK_ACT_IDENTITY) return;
    if (lk_simd_level() >= 1) { bias_activation_avx2(y, ld, bias, plane, c0, c1, act); return; }
    for (size_t c = c0; c < c1; c++) {
        float *row = y + c * ld;
        const float b = bias ? bias[c] : 0.0f;
        for (size_t i = 0; i < plane; i++) row[i] = lk_act_scalar(row[i] + b, act);
    }
}

LK_AVX2 static void column_bias_activation_avx2(float *y, size_t ld, const float *bias, size_t width,
                                                size_t r0, size_t r1, lk_activation act) {
    for (size_t r = r0; r < r1; r++) {
        float *row = y + r * ld;
        size_t i = 0;
        for (; i + 8 <= width; i += 8) {
            const __m256 b = bias ? _mm256_loadu_ps(bias + i) : _mm256_setzero_ps();
            _mm256_storeu_ps(row + i, lk_act256(_mm256_add_ps(_mm256_loadu_ps(row + i), b), act));
        }
        if (i < width) {
            const __m256i m = lk_tail_mask(width - i);
            const __m256 b = bias ? _mm256_maskload_ps(bias + i, m) : _mm256_setzero_ps();
            _mm256_maskstore_ps(row + i, m, lk_act256(_mm256_add_ps(_mm256_maskload_ps(row + i, m), b), act));
        }
    }
}

void lk_column_bias_activation(float *y, size_t ld, const float *bias, size_t width, size_t r0,
                               size_t r1, lk_activation act) {
    if (!bias && act == LK_ACT_IDENTITY) return;
    if (lk_simd_level() >= 1) { column_bias_activation_avx2(y, ld, bias, width, r0, r1, act); return; }
    for (size_t r = r0; r < r1; r++)
        for (size_t i = 0; i < width; i++) y[r * ld + i] = lk_act_scalar(y[r * ld + i] + (bias ? bias[i] : 0.0f), act);
}

#define LK_BINARY(NAME, VOP, SOP)                                                               \
    LK_AVX2 static void NAME##_avx2(const float *a, const float *b, float *y, size_t n) {      \
        size_t i = 0;                                                                           \
        for (; i + 8 <= n; i += 8)                                                              \
            _mm256_storeu_ps(y + i, VOP(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));       \
        for (; i < n; i++) y[i] = a[i] SOP b[i];                                                \
    }                                                                                           \
    void lk_##NAME(const float *a, const float *b, float *y, size_t n) {                       \
        if (lk_simd_level() >= 1) { NAME##_avx2(a, b, y, n); return; }                          \
        for (size_t i = 0; i < n; i++) y[i] = a[i] SOP b[i];                                    \
    }

LK_BINARY(add, _mm256_add_ps, +)
LK_BINARY(mul, _mm256_mul_ps, *)

LK_AVX2 static void scale_channels_avx2(const float *x, const float *scale, float *y, size_t plane,
                                        size_t c0, size_t c1) {
    for (size_t c = c0; c < c1; c++) {
        const float *xr = x + c * plane;
        float *yr = y + c * plane;
        const __m256 s = _mm256_set1_ps(scale[c]);
        size_t i = 0;
        for (; i + 8 <= plane; i += 8) _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_loadu_ps(xr + i), s));
        for (; i < plane; i++) yr[i] = xr[i] * scale[c];
    }
}

void lk_scale_channels(const float *x, const float *scale, float *y, size_t plane, size_t c0,
                       size_t c1) {
    if (lk_simd_level() >= 1) { scale_channels_avx2(x, scale, y, plane, c0, c1); return; }
    for (size_t c = c0; c < c1; c++)
        for (size_t i = 0; i < plane; i++) y[c * plane + i] = x[c * plane + i] * scale[c];
}
