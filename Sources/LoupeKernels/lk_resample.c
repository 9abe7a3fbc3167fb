// Separable resampling (weights precomputed by the caller), pixel layout conversion, EXIF
// orientation.
#include "lk_internal.h"

void lk_resample_rows(const float *x, int in_w, int out_w, const int32_t *start, const int32_t *count,
                      const float *weights, int taps, size_t r0, size_t r1, float *y) {
    for (size_t r = r0; r < r1; r++) {
        const float *src = x + r * (size_t)in_w;  // [in_w]
        float *dst = y + r * (size_t)out_w;       // [out_w]
        for (int j = 0; j < out_w; j++) {
            const float *w = weights + (size_t)j * taps;
            const float *s = src + start[j];
            float acc = 0.0f;
            for (int t = 0; t < count[j]; t++) acc += w[t] * s[t];
            dst[j] = acc;
        }
    }
}

LK_AVX2 static void resample_columns_avx2(const float *x, int in_h, int width, int out_h, const int32_t *start,
                                          const int32_t *count, const float *weights, int taps, size_t p0,
                                          size_t p1, float *y) {
    for (size_t p = p0; p < p1; p++) {  // p = channel * out_h + i
        const size_t c = p / (size_t)out_h, i = p % (size_t)out_h;
        const float *w = weights + i * (size_t)taps;
        const float *base = x + (c * (size_t)in_h + (size_t)start[i]) * (size_t)width;  // [count, width]
        float *dst = y + p * (size_t)width;
        int j = 0;
        for (; j + 8 <= width; j += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int t = 0; t < count[i]; t++)
                acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(base + (size_t)t * width + j), acc);
            _mm256_storeu_ps(dst + j, acc);
        }
        for (; j < width; j++) {
            float acc = 0.0f;
            for (int t = 0; t < count[i]; t++) acc += w[t] * base[(size_t)t * width + j];
            dst[j] = acc;
        }
    }
}

void lk_resample_columns(const float *x, int in_h, int width, int out_h, const int32_t *start, const int32_t *count,
                         const float *weights, int taps, size_t p0, size_t p1, float *y) {
    if (lk_simd_level() >= 1) {
        resample_columns_avx2(x, in_h, width, out_h, start, count, weights, taps, p0, p1, y);
        return;
    }
    for (size_t p = p0; p < p1; p++) {
        const size_t c = p / (size_t)out_h, i = p % (size_t)out_h;
        const float *w = weights + i * (size_t)taps;
        const float *base = x + (c * (size_t)in_h + (size_t)start[i]) * (size_t)width;
        float *dst = y + p * (size_t)width;
        for (int j = 0; j < width; j++) {
            float acc = 0.0f;
            for (int t = 0; t < count[i]; t++) acc += w[t] * base[(size_t)t * width + j];
            dst[j] = acc;
        }
    }
}

void lk_rgb8_to_planar(const uint8_t *rgb, size_t plane, size_t i0, size_t i1, float *y) {
    for (size_t i = i0; i < i1; i++) {
        y[i] = rgb[3 * i];
        y[plane + i] = rgb[3 * i + 1];
        y[2 * plane + i] = rgb[3 * i + 2];
    }
}

void lk_planar_to_rgb8(const float *x, size_t plane, uint8_t *rgb) {
    for (size_t i = 0; i < plane; i++) {
        for (int c = 0; c < 3; c++) {
            float v = x[(size_t)c * plane + i];
            v = v != v ? 0.0f : v;  // NaN -> 0
            v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
            rgb[3 * i + (size_t)c] = (uint8_t)(v + 0.5f);
        }
    }
}

void lk_orient(const float *x, int channels, int height, int width, int orientation, float *y) {
    const int swap = orientation >= 5;
    const int OH = swap ? width : height, OW = swap ? height : width;
    for (int c = 0; c < channels; c++) {
        const float *xc = x + (size_t)c * height * width;
        float *yc = y + (size_t)c * OH * OW;
        for (int i = 0; i < OH; i++) {
            for (int j = 0; j < OW; j++) {
                int sy, sx;
                switch (orientation) {
                case 2: sy = i; sx = width - 1 - j; break;
                case 3: sy = height - 1 - i; sx = width - 1 - j; break;
                case 4: sy = height - 1 - i; sx = j; break;
                case 5: sy = j; sx = i; break;
                case 6: sy = height - 1 - j; sx = i; break;
                case 7: sy = height - 1 - j; sx = width - 1 - i; break;
                case 8: sy = j; sx = width - 1 - i; break;
                default: sy = i; sx = j;
                }
                yc[(size_t)i * OW + j] = xc[(size_t)sy * width + sx];
            }
        }
    }
}
