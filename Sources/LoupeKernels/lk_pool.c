// Pooling (separable: a row pass into a workspace, then a column pass), global pooling,
// nearest x2 upsampling and YOLOX's space-to-depth.
#include "lk_internal.h"
#include <float.h>
#include <string.h>

size_t lk_pool_workspace_floats(const lk_conv_geometry *g) {
    return (size_t)g->height * (size_t)g->out_w;
}

/// op 0: max (taps outside ignored), 1: sum. Row pass: t[ih, ow] over kx; column pass over ky.
static void lk_pool_separable(const float *x, const lk_conv_geometry *g, int op, int include_pad,
                              int c0, int c1, float *t, float *y) {
    const int H = g->height, W = g->width, OH = g->out_h, OW = g->out_w;
    const int KH = g->kernel_h, KW = g->kernel_w, SH = g->stride_h, SW = g->stride_w;
    const int DH = g->dilation_h, DW = g->dilation_w, PT = g->pad_top, PL = g->pad_left;
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * H * W;  // [H, W]
        float *yc = y + (size_t)c * OH * OW;      // [OH, OW]
        for (int ih = 0; ih < H; ih++) {
            const float *row = xc + (size_t)ih * W;
            float *tr = t + (size_t)ih * OW;  // [OW]
            for (int ow = 0; ow < OW; ow++) {
                float acc = op == 0 ? -FLT_MAX : 0.0f;
                const int base = ow * SW - PL;
                for (int kx = 0; kx < KW; kx++) {
                    const int iw = base + kx * DW;
                    if (iw < 0 || iw >= W) continue;
                    acc = op == 0 ? (row[iw] > acc ? row[iw] : acc) : acc + row[iw];
                }
                tr[ow] = acc;
            }
        }
        for (int oh = 0; oh < OH; oh++) {
            float *out = yc + (size_t)oh * OW;
            const int base = oh * SH - PT;
            int rows = 0;
            for (int ow = 0; ow < OW; ow++) out[ow] = op == 0 ? -FLT_MAX : 0.0f;
            for (int ky = 0; ky < KH; ky++) {
                const int ih = base + ky * DH;
                if (ih < 0 || ih >= H) continue;
                rows++;
                const float *tr = t + (size_t)ih * OW;
                if (op == 0) {
                    for (int ow = 0; ow < OW; ow++) out[ow] = tr[ow] > out[ow] ? tr[ow] : out[ow];
                } else {
                    for (int ow = 0; ow < OW; ow++) out[ow] += tr[ow];
                }
            }
            if (op == 1) {
                for (int ow = 0; ow < OW; ow++) {
                    int cols;
                    if (include_pad) {
                        cols = KW;
                    } else {
                        cols = 0;
                        for (int kx = 0; kx < KW; kx++) {
                            const int iw = ow * SW - PL + kx * DW;
                            cols += (iw >= 0 && iw < W);
                        }
                    }
                    const int n = include_pad ? KH * KW : rows * cols;
                    out[ow] = n > 0 ? out[ow] / (float)n : 0.0f;
                }
            }
        }
    }
}

void lk_max_pool2d(const float *x, const lk_conv_geometry *g, int c0, int c1, float *workspace,
                   float *y) {
    lk_pool_separable(x, g, 0, 0, c0, c1, workspace, y);
}

void lk_avg_pool2d(const float *x, const lk_conv_geometry *g, int count_include_pad, int c0, int c1,
                   float *workspace, float *y) {
    lk_pool_separable(x, g, 1, count_include_pad, c0, c1, workspace, y);
}

LK_AVX2 static void global_pool_avx2(const float *x, size_t plane, size_t c0, size_t c1, int op,
                                     float *y) {
    for (size_t c = c0; c < c1; c++) {
        const float *r = x + c * plane;
        __m256 a0 = _mm256_set1_ps(op == 0 ? -FLT_MAX : 0.0f), a1 = a0;
        size_t i = 0;
        for (; i + 16 <= plane; i += 16) {
            __m256 v0 = _mm256_loadu_ps(r + i), v1 = _mm256_loadu_ps(r + i + 8);
            if (op == 0) { a0 = _mm256_max_ps(a0, v0); a1 = _mm256_max_ps(a1, v1); }
            else { a0 = _mm256_add_ps(a0, v0); a1 = _mm256_add_ps(a1, v1); }
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, op == 0 ? _mm256_max_ps(a0, a1) : _mm256_add_ps(a0, a1));
        float acc = lanes[0];
        for (int l = 1; l < 8; l++) acc = op == 0 ? (lanes[l] > acc ? lanes[l] : acc) : acc + lanes[l];
        for (; i < plane; i++) acc = op == 0 ? (r[i] > acc ? r[i] : acc) : acc + r[i];
        y[c] = op == 0 ? acc : acc / (float)plane;
    }
}

static void global_pool(const float *x, size_t plane, size_t c0, size_t c1, int op, float *y) {
    if (lk_simd_level() >= 1) { global_pool_avx2(x, plane, c0, c1, op, y); return; }
    for (size_t c = c0; c < c1; c++) {
        const float *r = x + c * plane;
        float acc = op == 0 ? -FLT_MAX : 0.0f;
        for (size_t i = 0; i < plane; i++) acc = op == 0 ? (r[i] > acc ? r[i] : acc) : acc + r[i];
        y[c] = op == 0 ? acc : acc / (float)plane;
    }
}

void lk_global_avg_pool(const float *x, size_t plane, size_t c0, size_t c1, float *y) {
    global_pool(x, plane, c0, c1, 1, y);
}

void lk_global_max_pool(const float *x, size_t plane, size_t c0, size_t c1, float *y) {
    global_pool(x, plane, c0, c1, 0, y);
}

void lk_upsample_nearest2x(const float *x, int height, int width, int c0, int c1, float *y) {
    const size_t W2 = 2 * (size_t)width;
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * height * width;  // [H, W]
        float *yc = y + (size_t)c * 4 * height * width;    // [2H, 2W]
        for (int i = 0; i < height; i++) {
            float *r0 = yc + (size_t)(2 * i) * W2;
            const float *src = xc + (size_t)i * width;
            for (int j = 0; j < width; j++) r0[2 * j] = r0[2 * j + 1] = src[j];
            memcpy(r0 + W2, r0, sizeof(float) * W2);
        }
    }
}

LK_AVX2 static void lk_space_to_depth2_rows_avx2(const float *xc, int width, int OW, int i0, int i1, size_t block,
                                                 float *yc) {
    for (int i = i0; i < i1; i++) {
        // even input row → blocks 0 (even columns) and 2 (odd); odd row → blocks 1 and 3
        lk_deinterleave_avx2(xc + (size_t)(2 * i) * width, (size_t)OW, yc + (size_t)i * OW, yc + 2 * block + (size_t)i * OW);
        lk_deinterleave_avx2(xc + (size_t)(2 * i + 1) * width, (size_t)OW, yc + block + (size_t)i * OW,
                             yc + 3 * block + (size_t)i * OW);
    }
}

void lk_space_to_depth2(const float *x, int channels, int height, int width, int i0, int i1, float *y) {
    const int OH = height / 2, OW = width / 2;
    const size_t plane = (size_t)OH * OW, block = (size_t)channels * plane;
    const int simd = lk_simd_level() >= 1;
    // block b = 0: (even row, even col), 1: (odd row, even col), 2: (even row, odd col), 3: (odd, odd)
    static const int dy[4] = {0, 1, 0, 1}, dx[4] = {0, 0, 1, 1};
    for (int c = 0; c < channels; c++) {
        const float *xc = x + (size_t)c * height * width;  // [H, W]
        float *yc = y + (size_t)c * plane;                 // block 0's channel c: [OH, OW]
        if (simd) {
            lk_space_to_depth2_rows_avx2(xc, width, OW, i0, i1, block, yc);
            continue;
        }
        for (int b = 0; b < 4; b++) {
            for (int i = i0; i < i1; i++) {
                const float *src = xc + (size_t)(2 * i + dy[b]) * width + dx[b];
                float *dst = yc + b * block + (size_t)i * OW;
                for (int j = 0; j < OW; j++) dst[j] = src[2 * j];
            }
        }
    }
}
