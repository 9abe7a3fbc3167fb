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

// 8×8 block of a row-major [.., ldx] matrix transposed into [.., ldy].
LK_AVX2 static inline void lk_transpose8x8_avx2(const float *x, size_t ldx, float *y, size_t ldy) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(x + (size_t)i * ldx);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {  // [a0 b0 c0 d0 | a4 b4 c4 d4] ...
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(y + (size_t)i * ldy, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(y + (size_t)(i + 4) * ldy, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

LK_AVX2 static void lk_transpose_avx2(const float *x, int rows, int cols, float *y) {
    int i = 0;
    for (; i + 8 <= rows; i += 8) {
        int j = 0;
        for (; j + 8 <= cols; j += 8) lk_transpose8x8_avx2(x + (size_t)i * cols + j, (size_t)cols, y + (size_t)j * rows + i, (size_t)rows);
        for (; j < cols; j++) {
            for (int k = i; k < i + 8; k++) y[(size_t)j * rows + k] = x[(size_t)k * cols + j];
        }
    }
    for (; i < rows; i++) {
        for (int j = 0; j < cols; j++) y[(size_t)j * rows + i] = x[(size_t)i * cols + j];
    }
}

void lk_transpose(const float *x, int rows, int cols, float *y) {
    if (lk_simd_level() >= 1) { lk_transpose_avx2(x, rows, cols, y); return; }
    for (int i0 = 0; i0 < rows; i0 += 16) {
        for (int j0 = 0; j0 < cols; j0 += 16) {
            for (int i = i0; i < i0 + 16 && i < rows; i++) {
                for (int j = j0; j < j0 + 16 && j < cols; j++) y[(size_t)j * rows + i] = x[(size_t)i * cols + j];
            }
        }
    }
}
