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

/// The columns m of a split row whose even or odd source column lies inside the input, but not
/// both: at most one on the left (when PL is odd) and a couple on the right.
static inline void lk_split_edges(const float *src, int W, int PL, size_t lo, size_t hi, size_t half,
                                  float *even, float *odd) {
    size_t end = (size_t)((long)W + PL) / 2 + 1;  // beyond it both sources are right of the input
    if (end > half) end = half;
    for (size_t m = 0; m < end; m++) {
        if (m == lo) m = hi;
        if (m >= end) break;
        const long qe = 2 * (long)m - PL, qo = qe + 1;
        if (qe >= 0 && qe < W) even[m] = src[qe];
        if (qo >= 0 && qo < W) odd[m] = src[qo];
    }
}

/// Interior split columns [lo, hi): both sources inside the input.
static inline void lk_split_interior(int W, int PL, size_t half, size_t *lo, size_t *hi) {
    *lo = (size_t)(PL + 1) / 2;
    *hi = *lo;
    if ((long)W - 2 + PL >= 0) *hi = (size_t)((long)W - 2 + PL) / 2 + 1;
    if (*hi > half) *hi = half;
    if (*hi < *lo) *hi = *lo;
}

/// Copies channel xc [H, W] into the data positions of ws [rows, pitch]: padded row r, column q
/// holds x[r - PT, q - PL]. split != 0 stores the even padded columns in the first half of each
/// row, the odd ones in the second half. The padding positions are the same for every channel, so
/// the caller zeroes the workspace once per call and the fill writes only data: on late layers
/// (7×7 and 14×14 maps) the per-channel cost is then a handful of vector moves.
LK_AVX2 static void lk_pad_channel_avx2(const float *xc, const lk_conv_geometry *g, size_t rows,
                                        size_t pitch, int split, float *ws) {
    const int H = g->height, W = g->width, PT = g->pad_top, PL = g->pad_left;
    for (size_t r = (size_t)PT; r < rows && (int)r - PT < H; r++) {
        float *dst = ws + r * pitch;
        const int ih = (int)r - PT;
        const float *src = xc + (size_t)ih * W;  // [W]
        if (!split) {
            // padded column q holds x[ih, q - PL]; columns past the pitch are never read
            float *d = dst + PL;
            const int n = (size_t)W + PL <= pitch ? W : (int)pitch - PL;
            int q = 0;
            for (; q + 8 <= n; q += 8) _mm256_storeu_ps(d + q, _mm256_loadu_ps(src + q));
            if (q < n) {
                const __m256i m = lk_tail_mask((size_t)(n - q));
                _mm256_maskstore_ps(d + q, m, _mm256_maskload_ps(src + q, m));
            }
        } else {
            const size_t half = pitch / 2;
            size_t lo, hi;
            lk_split_interior(W, PL, half, &lo, &hi);
            if (hi > lo) lk_deinterleave_avx2(src + 2 * lo - PL, hi - lo, dst + lo, dst + half + lo);
            lk_split_edges(src, W, PL, lo, hi, half, dst, dst + half);
        }
    }
}

static void lk_pad_channel_scalar(const float *xc, const lk_conv_geometry *g, size_t rows,
                                  size_t pitch, int split, float *ws) {
    const int H = g->height, W = g->width, PT = g->pad_top, PL = g->pad_left;
    for (size_t r = (size_t)PT; r < rows && (int)r - PT < H; r++) {
        float *dst = ws + r * pitch;
        const int ih = (int)r - PT;
        const float *src = xc + (size_t)ih * W;
        if (!split) {
            for (int q = 0; q < W && (size_t)(q + PL) < pitch; q++) dst[q + PL] = src[q];
        } else {
            const size_t half = pitch / 2;
            size_t lo, hi;
            lk_split_interior(W, PL, half, &lo, &hi);
            for (size_t m = lo; m < hi; m++) { dst[m] = src[2 * m - PL]; dst[half + m] = src[2 * m + 1 - PL]; }
            lk_split_edges(src, W, PL, lo, hi, half, dst, dst + half);
        }
    }
}

// One channel of a KxK depthwise filter at stride S. ws holds the padded channel, `pitch` floats
// per row; for S = 2 each row is [even | odd] halves of pitch / 2 floats.
#define LK_DW_CHANNEL(K, S)                                                                        \
    LK_AVX2 static void dw_k##K##_s##S(const float *ws, size_t pitch, int oh_count, int ow,          \
                                       const float *w, float b, lk_activation act, float *out) {   \
        __m256 wv[K * K];                                                                          \
        for (int t = 0; t < K * K; t++) wv[t] = _mm256_set1_ps(w[t]);                              \
        const __m256 bv = _mm256_set1_ps(b);                                                       \
        const size_t half = pitch / 2;                                                             \
        const __m256i tail = lk_tail_mask((size_t)(ow & 7));                                       \
        for (int oh = 0; oh < oh_count; oh++) {                                                    \
            const float *base = ws + (size_t)oh * S * pitch;                                       \
            float *o = out + (size_t)oh * ow;                                                      \
            for (int j = 0; j < ow; j += 8) {                                                      \
                /* one accumulator per filter row: chains of K FMAs, not K², so that the FMA   \
                   latency hides even on 7- and 13-wide maps with few iterations per row */     \
                __m256 acc[K];                                                                     \
                for (int ky = 0; ky < K; ky++) {                                                   \
                    const float *r = base + (size_t)ky * pitch;                                    \
                    acc[ky] = ky == 0 ? bv : _mm256_setzero_ps();                                  \
                    for (int kx = 0; kx < K; kx++) {                                               \
                        const float *p = (S == 1) ? r + j + kx                                     \
                                                  : ((kx & 1) ? r + half + j + (kx >> 1) : r + j + (kx >> 1)); \
                        acc[ky] = _mm256_fmadd_ps(_mm256_loadu_ps(p), wv[ky * K + kx], acc[ky]);   \
                    }                                                                              \
                }                                                                                  \
                for (int ky = 1; ky < K; ky++) acc[0] = _mm256_add_ps(acc[0], acc[ky]);            \
                const __m256 sum = lk_act256(acc[0], act);                                         \
                if (j + 8 <= ow) _mm256_storeu_ps(o + j, sum);                                     \
                else _mm256_maskstore_ps(o + j, tail, sum);                                        \
            }                                                                                      \
        }                                                                                          \
    }

LK_DW_CHANNEL(3, 1)
LK_DW_CHANNEL(3, 2)
LK_DW_CHANNEL(5, 1)
LK_DW_CHANNEL(5, 2)

// The same at AVX-512: 16 outputs per FMA chain; every load is masked to the outputs the row
// has (a masked-out lane is never read), so the 16-wide reads stay inside the workspace.
#define LK_DW_CHANNEL512(K, S)                                                                     \
    LK_AVX512 static void dw512_k##K##_s##S(const float *ws, size_t pitch, int oh_count, int ow,     \
                                            const float *w, float b, lk_activation act, float *out) { \
        __m512 wv[K * K];                                                                          \
        for (int t = 0; t < K * K; t++) wv[t] = _mm512_set1_ps(w[t]);                              \
        const __m512 bv = _mm512_set1_ps(b);                                                       \
        const size_t half = pitch / 2;                                                             \
        for (int oh = 0; oh < oh_count; oh++) {                                                    \
            const float *base = ws + (size_t)oh * S * pitch;                                       \
            float *o = out + (size_t)oh * ow;                                                      \
            for (int j = 0; j < ow; j += 16) {                                                     \
                const __mmask16 m = j + 16 <= ow ? (__mmask16)0xFFFF : (__mmask16)((1u << (ow - j)) - 1); \
                __m512 acc[K];                                                                     \
                for (int ky = 0; ky < K; ky++) {                                                   \
                    const float *r = base + (size_t)ky * pitch;                                    \
                    acc[ky] = ky == 0 ? bv : _mm512_setzero_ps();                                  \
                    for (int kx = 0; kx < K; kx++) {                                               \
                        const float *p = (S == 1) ? r + j + kx                                     \
                                                  : ((kx & 1) ? r + half + j + (kx >> 1) : r + j + (kx >> 1)); \
                        acc[ky] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, p), wv[ky * K + kx], acc[ky]); \
                    }                                                                              \
                }                                                                                  \
                for (int ky = 1; ky < K; ky++) acc[0] = _mm512_add_ps(acc[0], acc[ky]);            \
                _mm512_mask_storeu_ps(o + j, m, lk_act512(acc[0], act));                           \
            }                                                                                      \
        }                                                                                          \
    }

LK_DW_CHANNEL512(3, 1)
LK_DW_CHANNEL512(3, 2)
LK_DW_CHANNEL512(5, 1)
LK_DW_CHANNEL512(5, 2)

void lk_depthwise_conv(const float *x, const float *w, const float *bias, const lk_conv_geometry *g,
                       lk_activation act, int c0, int c1, float *workspace, float *y) {
    int path = lk_depthwise_path(g);
    const int simd = lk_simd_level() >= 1, wide = lk_simd_level() >= 2;
    if (!simd) path = PATH_GENERIC;
    size_t rows, pitch;
    lk_depthwise_layout(g, path, &rows, &pitch);
    const int KH = g->kernel_h, KW = g->kernel_w, OH = g->out_h, OW = g->out_w;
    const int SH = g->stride_h, SW = g->stride_w, DH = g->dilation_h, DW = g->dilation_w;
    memset(workspace, 0, sizeof(float) * rows * pitch);
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * g->height * g->width;  // [H, W]
        const float *wc = w + (size_t)c * KH * KW;               // [KH, KW]
        float *yc = y + (size_t)c * OH * OW;                     // [OH, OW]
        const float b = bias ? bias[c] : 0.0f;
        if (simd) lk_pad_channel_avx2(xc, g, rows, pitch, path == PATH_S2, workspace);
        else lk_pad_channel_scalar(xc, g, rows, pitch, path == PATH_S2, workspace);
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
        if (wide) {
            if (KH == 3) {
                if (SH == 1) dw512_k3_s1(workspace, pitch, OH, OW, wc, b, act, yc);
                else dw512_k3_s2(workspace, pitch, OH, OW, wc, b, act, yc);
            } else {
                if (SH == 1) dw512_k5_s1(workspace, pitch, OH, OW, wc, b, act, yc);
                else dw512_k5_s2(workspace, pitch, OH, OW, wc, b, act, yc);
            }
            continue;
        }
        if (KH == 3) {
            if (SH == 1) dw_k3_s1(workspace, pitch, OH, OW, wc, b, act, yc);
            else dw_k3_s2(workspace, pitch, OH, OW, wc, b, act, yc);
        } else {
            if (SH == 1) dw_k5_s1(workspace, pitch, OH, OW, wc, b, act, yc);
            else dw_k5_s2(workspace, pitch, OH, OW, wc, b, act, yc);
        }
    }
}
