// Direct depthwise convolution. Each channel is first copied into a zero-padded workspace
// (for stride 2 with its even and odd columns split apart, so that a stride-2 row becomes two
// contiguous rows); the inner loops then run branch-free over 8 output columns at a time.
#include "lk_internal.h"
#include <string.h>

static inline size_t lk_round8(size_t n) { return (n + 7) & ~(size_t)7; }

enum { PATH_GENERIC = 0, PATH_S1 = 1, PATH_S2 = 2 };

static int lk_depthwise_path(const lk_conv_geometry *g) {
    const int k = g->kernel_h;
    if (k != g->kernel_w || (k != 3 && k != 5)) return PATH_GENERIC;
    if (g->dilation_h != 1 || g->dilation_w != 1 || g->stride_h != g->stride_w) return PATH_GENERIC;
    if (g->stride_h == 1) return PATH_S1;
    if (g->stride_h == 2) return PATH_S2;
    return PATH_GENERIC;
}

/// Padded rows the kernel reads, and floats per workspace row, for path p.
static void lk_depthwise_layout(const lk_conv_geometry *g, int p, size_t *rows, size_t *pitch) {
    *rows = (size_t)(g->out_h - 1) * g->stride_h + (size_t)(g->kernel_h - 1) * g->dilation_h + 1;
    const size_t ow8 = lk_round8((size_t)g->out_w);
    switch (p) {
    case PATH_S1: *pitch = lk_round8(ow8 + g->kernel_w - 1); break;
    case PATH_S2: *pitch = 2 * lk_round8(ow8 + g->kernel_w / 2); break;
    default:
        *pitch = lk_round8((size_t)(g->out_w - 1) * g->stride_w + (size_t)(g->kernel_w - 1) * g->dilation_w + 1);
    }
}

size_t lk_depthwise_workspace_floats(const lk_conv_geometry *g) {
    size_t rows, pitch;
    lk_depthwise_layout(g, lk_depthwise_path(g), &rows, &pitch);
    return rows * pitch;
}

/// Copies channel xc [H, W] into ws [rows, pitch] with the padding applied (zeros outside).
/// split != 0 stores the even padded columns in the first half of each row, the odd ones in the
/// second half.
static void lk_pad_channel(const float *xc, const lk_conv_geometry *g, size_t rows, size_t pitch,
                           int split, float *ws) {
    const int H = g->height, W = g->width, PT = g->pad_top, PL = g->pad_left;
    for (size_t r = 0; r < rows; r++) {
        float *dst = ws + r * pitch;
        const int ih = (int)r - PT;
        if (ih < 0 || ih >= H) { memset(dst, 0, sizeof(float) * pitch); continue; }
        const float *src = xc + (size_t)ih * W;  // [W]
        if (!split) {
            // padded column q holds x[ih, q - PL]; PL >= 0 (checked by the Swift layer)
            size_t lo = (size_t)PL, hi = (size_t)W + (size_t)PL;
            if (lo > pitch) lo = pitch;
            if (hi > pitch) hi = pitch;
            memset(dst, 0, sizeof(float) * lo);
            memcpy(dst + lo, src, sizeof(float) * (hi - lo));
            memset(dst + hi, 0, sizeof(float) * (pitch - hi));
        } else {
            const size_t half = pitch / 2;
            float *even = dst, *odd = dst + half;
            for (size_t m = 0; m < half; m++) {
                const long qe = 2 * (long)m - PL, qo = qe + 1;
                even[m] = (qe >= 0 && qe < W) ? src[qe] : 0.0f;
                odd[m] = (qo >= 0 && qo < W) ? src[qo] : 0.0f;
            }
        }
    }
}

// One output row of a KxK depthwise filter. rows[ky] points at padded row oh*S + ky; for S = 2
// the row holds [even | odd] halves of `half` floats each.
#define LK_DW_ROW(K, S)                                                                            \
    LK_AVX2 static void dw_row_k##K##_s##S(const float *const *rows, size_t half, const float *w,   \
                                           float b, lk_activation act, int ow, float *out) {       \
        __m256 wv[K * K];                                                                          \
        for (int t = 0; t < K * K; t++) wv[t] = _mm256_set1_ps(w[t]);                              \
        const __m256 bv = _mm256_set1_ps(b);                                                       \
        for (int j = 0; j < ow; j += 8) {                                                          \
            __m256 acc = bv;                                                                       \
            for (int ky = 0; ky < K; ky++) {                                                       \
                const float *r = rows[ky];                                                         \
                for (int kx = 0; kx < K; kx++) {                                                   \
                    const float *p = (S == 1) ? r + j + kx                                         \
                                              : ((kx & 1) ? r + half + j + (kx >> 1) : r + j + (kx >> 1)); \
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(p), wv[ky * K + kx], acc);               \
                }                                                                                  \
            }                                                                                      \
            acc = lk_act256(acc, act);                                                             \
            if (j + 8 <= ow) _mm256_storeu_ps(out + j, acc);                                       \
            else _mm256_maskstore_ps(out + j, lk_tail_mask((size_t)(ow - j)), acc);                \
        }                                                                                          \
    }

LK_DW_ROW(3, 1)
LK_DW_ROW(3, 2)
LK_DW_ROW(5, 1)
LK_DW_ROW(5, 2)

void lk_depthwise_conv(const float *x, const float *w, const float *bias, const lk_conv_geometry *g,
                       lk_activation act, int c0, int c1, float *workspace, float *y) {
    int path = lk_depthwise_path(g);
    const int simd = lk_simd_level() >= 1;
    if (!simd) path = PATH_GENERIC;
    size_t rows, pitch;
    lk_depthwise_layout(g, path, &rows, &pitch);
    const int KH = g->kernel_h, KW = g->kernel_w, OH = g->out_h, OW = g->out_w;
    const int SH = g->stride_h, SW = g->stride_w, DH = g->dilation_h, DW = g->dilation_w;
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * g->height * g->width;  // [H, W]
        const float *wc = w + (size_t)c * KH * KW;               // [KH, KW]
        float *yc = y + (size_t)c * OH * OW;                     // [OH, OW]
        const float b = bias ? bias[c] : 0.0f;
        lk_pad_channel(xc, g, rows, pitch, path == PATH_S2, workspace);
        if (path == PATH_GENERIC) {
            for (int oh = 0; oh < OH; oh++) {
                for (int ow = 0; ow < OW; ow++) {
                    float acc = b;
                    for (int ky = 0; ky < KH; ky++) {
                        const float *r = workspace + (size_t)(oh * SH + ky * DH) * pitch + (size_t)ow * SW;
                        for (int kx = 0; kx < KW; kx++) acc += r[kx * DW] * wc[ky * KW + kx];
                    }
                    yc[(size_t)oh * OW + ow] = lk_act_scalar(acc, act);
                }
            }
            continue;
        }
        const float *rp[5];
        for (int oh = 0; oh < OH; oh++) {
            for (int ky = 0; ky < KH; ky++) rp[ky] = workspace + (size_t)(oh * SH + ky) * pitch;
            float *out = yc + (size_t)oh * OW;
            const size_t half = pitch / 2;
            if (KH == 3) {
                if (SH == 1) dw_row_k3_s1(rp, half, wc, b, act, OW, out);
                else dw_row_k3_s2(rp, half, wc, b, act, OW, out);
            } else {
                if (SH == 1) dw_row_k5_s1(rp, half, wc, b, act, OW, out);
                else dw_row_k5_s2(rp, half, wc, b, act, OW, out);
            }
        }
    }
}
