// Scale-invariant local features: a difference-of-Gaussians pyramid, refined extrema, dominant
// orientations and 4 x 4 x 8 gradient histograms (after Lowe, IJCV 2004), returned as RootSIFT.
// Written from the paper's description; the blur is the only hot loop and has an AVX2 build.
#include "lk_internal.h"
#include <stdlib.h>
#include <string.h>

#define SIFT_BORDER 5
#define SIFT_ORI_BINS 36
#define SIFT_D 4
#define SIFT_N 8

typedef struct { int w, h; size_t gauss, dog; } octave_layout;

static int sift_octaves(int w0, int h0, const lk_sift_params *p) {
    int side = w0 < h0 ? w0 : h0, n = 0;
    while (n < p->octaves && side >= 16) { n++; side /= 2; }
    return n;
}

static void base_size(int w, int h, const lk_sift_params *p, int *w0, int *h0) {
    *w0 = p->upsample ? 2 * w : w;
    *h0 = p->upsample ? 2 * h : h;
}

// Lays the octaves out in the workspace; returns the floats used (before the blur scratch).
static size_t layout(int w, int h, const lk_sift_params *p, octave_layout *out, int *count) {
    int w0, h0;
    base_size(w, h, p, &w0, &h0);
    int n = sift_octaves(w0, h0, p);
    size_t at = 0;
    for (int o = 0; o < n; o++) {
        size_t plane = (size_t)w0 * h0;
        if (out) { out[o].w = w0; out[o].h = h0; out[o].gauss = at; out[o].dog = at + plane * (p->layers + 3); }
        at += plane * (size_t)(2 * p->layers + 5);
        w0 /= 2; h0 /= 2;
    }
    *count = n;
    return at;
}

static int kernel_radius(float sigma) { int r = (int)ceilf(3.0f * sigma); return r < 1 ? 1 : r; }

size_t lk_sift_workspace_floats(int w, int h, const lk_sift_params *p) {
    if (w <= 0 || h <= 0 || p->layers < 1 || p->octaves < 1) return 0;
    int n, w0, h0;
    size_t pyramid = layout(w, h, p, NULL, &n);
    base_size(w, h, p, &w0, &h0);
    // blur scratch: one plane, one padded row, and the taps of the widest kernel
    float widest = p->sigma * 2.0f;
    int r = kernel_radius(widest * 2.0f);
    return pyramid + (size_t)w0 * h0 + (size_t)(w0 > h0 ? w0 : h0) + 2 * (size_t)r + 2 * (size_t)r + 1 + 64;
}

// MARK: blur

static inline void blur_rows_body(const float *src, float *dst, int w, int h, const float *k, int r, float *row) {
    for (int y = 0; y < h; y++) {
        const float *s = src + (size_t)y * w;
        for (int i = 0; i < r; i++) { row[i] = s[0]; row[r + w + i] = s[w - 1]; }
        memcpy(row + r, s, sizeof(float) * (size_t)w);
        float *d = dst + (size_t)y * w;
        for (int x = 0; x < w; x++) d[x] = k[0] * row[x];
        for (int t = 1; t <= 2 * r; t++) {
            const float kt = k[t], *rt = row + t;
            for (int x = 0; x < w; x++) d[x] += kt * rt[x];
        }
    }
}

static inline void blur_cols_body(const float *src, float *dst, int w, int h, const float *k, int r) {
    for (int y = 0; y < h; y++) {
        float *d = dst + (size_t)y * w;
        for (int x = 0; x < w; x++) d[x] = 0.0f;
        for (int t = -r; t <= r; t++) {
            int yy = y + t < 0 ? 0 : (y + t >= h ? h - 1 : y + t);
            const float kt = k[t + r], *s = src + (size_t)yy * w;
            for (int x = 0; x < w; x++) d[x] += kt * s[x];
        }
    }
}

LK_AVX2 static void blur_rows_avx2(const float *src, float *dst, int w, int h, const float *k, int r, float *row) {
    blur_rows_body(src, dst, w, h, k, r, row);
}
LK_AVX2 static void blur_cols_avx2(const float *src, float *dst, int w, int h, const float *k, int r) {
    blur_cols_body(src, dst, w, h, k, r);
}

// dst = src blurred by a Gaussian of `sigma` (edges clamped); tmp holds w * h floats, row
// max(w, h) + 2r, taps 2r + 1. src and dst may not alias tmp.
static void gaussian_blur(const float *src, float *dst, int w, int h, float sigma, float *tmp, float *row, float *taps) {
    int r = kernel_radius(sigma);
    float sum = 0.0f;
    for (int t = -r; t <= r; t++) { taps[t + r] = expf(-0.5f * (float)(t * t) / (sigma * sigma)); sum += taps[t + r]; }
    for (int t = 0; t <= 2 * r; t++) taps[t] /= sum;
    if (lk_simd_level() >= 1) {
        blur_rows_avx2(src, tmp, w, h, taps, r, row);
        blur_cols_avx2(tmp, dst, w, h, taps, r);
    } else {
        blur_rows_body(src, tmp, w, h, taps, r, row);
        blur_cols_body(tmp, dst, w, h, taps, r);
    }
}

// atan2 to about 1e-5 rad (a degree-11 odd minimax polynomial for atan on [0, 1] after folding the
// octants): the histograms bin angles to 10 and 45 degrees, far coarser.
static inline float fast_atan2f(float y, float x) {
    float ax = fabsf(x), ay = fabsf(y);
    float hi = ax > ay ? ax : ay, lo = ax > ay ? ay : ax;
    if (hi == 0.0f) return 0.0f;
    float t = lo / hi, t2 = t * t;
    float r = t * (0.99997726f + t2 * (-0.33262347f + t2 * (0.19354346f + t2 * (-0.11643287f + t2 * (0.05265332f + t2 * -0.01172120f)))));
    if (ay > ax) r = 1.57079632679f - r;
    if (x < 0) r = 3.14159265359f - r;
    return y < 0 ? -r : r;
}

// MARK: extrema

static inline float at(const float *plane, int w, int x, int y) { return plane[(size_t)y * w + x]; }

static int is_extremum(const float *dog, size_t plane, int w, int layer, int x, int y, float v) {
    const float *c = dog + plane * layer + (size_t)y * w + x;
    if (v > 0) {
        for (int s = -1; s <= 1; s++) for (int dy = -1; dy <= 1; dy++) for (int dx = -1; dx <= 1; dx++) {
            if ((s | dy | dx) == 0) continue;
            if (c[(ptrdiff_t)s * (ptrdiff_t)plane + dy * w + dx] >= v) return 0;
        }
    } else {
        for (int s = -1; s <= 1; s++) for (int dy = -1; dy <= 1; dy++) for (int dx = -1; dx <= 1; dx++) {
            if ((s | dy | dx) == 0) continue;
            if (c[(ptrdiff_t)s * (ptrdiff_t)plane + dy * w + dx] <= v) return 0;
        }
    }
    return 1;
}

// Refines an extremum by a quadratic fit (up to 5 steps); on success sets the sub-pixel offsets
// and the interpolated |DoG|.
static int refine(const float *dog, int w, int h, int layers, int *x, int *y, int *layer, float contrast,
                  float edge_ratio, float *ox, float *oy, float *os, float *value) {
    size_t plane = (size_t)w * h;
    float dx = 0, dy = 0, ds = 0, gx = 0, gy = 0, gs = 0;
    int step = 0;
    for (; step < 5; step++) {
        const float *c = dog + plane * *layer + (size_t)*y * w + *x;
        const float *up = c + plane, *down = c - plane;
        gx = 0.5f * (c[1] - c[-1]); gy = 0.5f * (c[w] - c[-w]); gs = 0.5f * (up[0] - down[0]);
        float v2 = 2.0f * c[0];
        float hxx = c[1] + c[-1] - v2, hyy = c[w] + c[-w] - v2, hss = up[0] + down[0] - v2;
        float hxy = 0.25f * (c[w + 1] - c[w - 1] - c[-w + 1] + c[-w - 1]);
        float hxs = 0.25f * (up[1] - up[-1] - down[1] + down[-1]);
        float hys = 0.25f * (up[w] - up[-w] - down[w] + down[-w]);
        // solve H * d = -g by Cramer's rule
        float det = hxx * (hyy * hss - hys * hys) - hxy * (hxy * hss - hys * hxs) + hxs * (hxy * hys - hyy * hxs);
        if (fabsf(det) < 1e-12f) return 0;
        float inv = 1.0f / det;
        float i00 = (hyy * hss - hys * hys) * inv, i01 = (hxs * hys - hxy * hss) * inv, i02 = (hxy * hys - hxs * hyy) * inv;
        float i11 = (hxx * hss - hxs * hxs) * inv, i12 = (hxy * hxs - hxx * hys) * inv, i22 = (hxx * hyy - hxy * hxy) * inv;
        dx = -(i00 * gx + i01 * gy + i02 * gs);
        dy = -(i01 * gx + i11 * gy + i12 * gs);
        ds = -(i02 * gx + i12 * gy + i22 * gs);
        if (fabsf(dx) < 0.5f && fabsf(dy) < 0.5f && fabsf(ds) < 0.5f) break;
        if (fabsf(dx) > 1e4f || fabsf(dy) > 1e4f || fabsf(ds) > 1e4f) return 0;
        *x += (int)lroundf(dx); *y += (int)lroundf(dy); *layer += (int)lroundf(ds);
        if (*layer < 1 || *layer > layers || *x < SIFT_BORDER || *x >= w - SIFT_BORDER || *y < SIFT_BORDER || *y >= h - SIFT_BORDER)
            return 0;
    }
    if (step >= 5) return 0;
    const float *c = dog + plane * *layer + (size_t)*y * w + *x;
    float v = c[0] + 0.5f * (gx * dx + gy * dy + gs * ds);
    if (fabsf(v) < contrast) return 0;
    float v2 = 2.0f * c[0];
    float hxx = c[1] + c[-1] - v2, hyy = c[w] + c[-w] - v2, hxy = 0.25f * (c[w + 1] - c[w - 1] - c[-w + 1] + c[-w - 1]);
    float tr = hxx + hyy, det = hxx * hyy - hxy * hxy;
    if (det <= 0 || tr * tr * edge_ratio >= (edge_ratio + 1) * (edge_ratio + 1) * det) return 0;
    *ox = dx; *oy = dy; *os = ds; *value = fabsf(v);
    return 1;
}

// The dominant orientations (peaks within 80 % of the highest) of the gradients around (x, y).
static int orientations(const float *g, int w, int h, int x, int y, float sigma, float *angles) {
    float hist[SIFT_ORI_BINS + 4] = {0}, *bins = hist + 2;
    int radius = (int)lroundf(3.0f * 1.5f * sigma);
    float denom = -1.0f / (2.0f * (1.5f * sigma) * (1.5f * sigma));
    // the Gaussian weight is separable: exp(d (i² + j²)) = exp(d i²) exp(d j²)
    float axis[2 * 64 + 1];
    if (radius > 64) radius = 64;
    for (int i = -radius; i <= radius; i++) axis[i + radius] = expf((float)(i * i) * denom);
    for (int j = -radius; j <= radius; j++) {
        int yy = y + j;
        if (yy <= 0 || yy >= h - 1) continue;
        for (int i = -radius; i <= radius; i++) {
            int xx = x + i;
            if (xx <= 0 || xx >= w - 1) continue;
            float gx = at(g, w, xx + 1, yy) - at(g, w, xx - 1, yy), gy = at(g, w, xx, yy + 1) - at(g, w, xx, yy - 1);
            float weight = axis[i + radius] * axis[j + radius];
            float angle = fast_atan2f(gy, gx);
            int bin = (int)lroundf(angle * (SIFT_ORI_BINS / (2.0f * (float)M_PI)));
            bin = ((bin % SIFT_ORI_BINS) + SIFT_ORI_BINS) % SIFT_ORI_BINS;
            bins[bin] += weight * sqrtf(gx * gx + gy * gy);
        }
    }
    float smooth[SIFT_ORI_BINS];
    bins[-1] = bins[SIFT_ORI_BINS - 1]; bins[-2] = bins[SIFT_ORI_BINS - 2];
    bins[SIFT_ORI_BINS] = bins[0]; bins[SIFT_ORI_BINS + 1] = bins[1];
    float best = 0;
    for (int b = 0; b < SIFT_ORI_BINS; b++) {
        smooth[b] = (bins[b - 2] + bins[b + 2]) * (1.0f / 16) + (bins[b - 1] + bins[b + 1]) * (4.0f / 16) + bins[b] * (6.0f / 16);
        if (smooth[b] > best) best = smooth[b];
    }
    int n = 0;
    if (best <= 0) return 0;
    for (int b = 0; b < SIFT_ORI_BINS && n < 4; b++) {
        float l = smooth[(b + SIFT_ORI_BINS - 1) % SIFT_ORI_BINS], r = smooth[(b + 1) % SIFT_ORI_BINS], c = smooth[b];
        if (c > l && c > r && c >= 0.8f * best) {
            float bin = (float)b + 0.5f * (l - r) / (l - 2 * c + r);
            float angle = bin * (2.0f * (float)M_PI / SIFT_ORI_BINS);
            if (angle < 0) angle += 2.0f * (float)M_PI;
            if (angle >= 2.0f * (float)M_PI) angle -= 2.0f * (float)M_PI;
            angles[n++] = angle;
        }
    }
    return n;
}

// MARK: descriptor

static void descriptor(const float *g, int w, int h, float x, float y, float sigma, float angle, float *out) {
    float hist[(SIFT_D + 2) * (SIFT_D + 2) * (SIFT_N + 2)];
    memset(hist, 0, sizeof hist);
    float width = 3.0f * sigma;
    int radius = (int)lroundf(width * 1.41421356f * (SIFT_D + 1) * 0.5f);
    int limit = (int)sqrtf((float)w * w + (float)h * h);
    if (radius > limit) radius = limit;
    float c = cosf(angle) / width, s = sinf(angle) / width;
    float scale = -1.0f / (0.5f * SIFT_D * SIFT_D), per = SIFT_N / (2.0f * (float)M_PI);
    int cx = (int)lroundf(x), cy = (int)lroundf(y);
    // exp(scale (rx² + ry²)) with rx² + ry² = (i² + j²) / width²: separable in i and j
    float axis[2 * 96 + 1];
    if (radius > 96) radius = 96;
    for (int i = -radius; i <= radius; i++) axis[i + radius] = expf((float)(i * i) * scale / (width * width));
    for (int j = -radius; j <= radius; j++) {
        int yy = cy + j;
        if (yy <= 0 || yy >= h - 1) continue;
        for (int i = -radius; i <= radius; i++) {
            int xx = cx + i;
            if (xx <= 0 || xx >= w - 1) continue;
            // the sample in the feature's frame, in histogram cells
            float rx = c * (float)i + s * (float)j, ry = -s * (float)i + c * (float)j;
            float rbin = ry + SIFT_D / 2 - 0.5f, cbin = rx + SIFT_D / 2 - 0.5f;
            if (rbin <= -1 || rbin >= SIFT_D || cbin <= -1 || cbin >= SIFT_D) continue;
            float gx = at(g, w, xx + 1, yy) - at(g, w, xx - 1, yy), gy = at(g, w, xx, yy + 1) - at(g, w, xx, yy - 1);
            float theta = fast_atan2f(gy, gx) - angle;
            while (theta < 0) theta += 2.0f * (float)M_PI;
            while (theta >= 2.0f * (float)M_PI) theta -= 2.0f * (float)M_PI;
            float obin = theta * per;
            float mag = sqrtf(gx * gx + gy * gy) * axis[i + radius] * axis[j + radius];
            int r0 = (int)floorf(rbin), c0 = (int)floorf(cbin), o0 = (int)floorf(obin);
            float dr = rbin - r0, dc = cbin - c0, dob = obin - o0;
            for (int a = 0; a <= 1; a++) {
                float wr = a ? dr : 1 - dr;
                for (int b = 0; b <= 1; b++) {
                    float wc = b ? dc : 1 - dc;
                    float *cell = hist + ((size_t)(r0 + 1 + a) * (SIFT_D + 2) + (size_t)(c0 + 1 + b)) * (SIFT_N + 2);
                    cell[o0] += mag * wr * wc * (1 - dob);
                    cell[o0 + 1] += mag * wr * wc * dob;
                }
            }
        }
    }
    float norm = 0;
    for (int r = 0; r < SIFT_D; r++) for (int cc = 0; cc < SIFT_D; cc++) {
        float *cell = hist + ((size_t)(r + 1) * (SIFT_D + 2) + (size_t)(cc + 1)) * (SIFT_N + 2);
        cell[0] += cell[SIFT_N];          // orientation wraps around
        cell[1] += cell[SIFT_N + 1];
        for (int o = 0; o < SIFT_N; o++) { float v = cell[o]; out[(r * SIFT_D + cc) * SIFT_N + o] = v; norm += v * v; }
    }
    // clip large gradients at 0.2 of the norm, then RootSIFT (L1, square root)
    float clip = 0.2f * sqrtf(norm), l1 = 0;
    for (int k = 0; k < 128; k++) { if (out[k] > clip) out[k] = clip; l1 += out[k]; }
    float inv = l1 > 0 ? 1.0f / l1 : 0;
    for (int k = 0; k < 128; k++) out[k] = sqrtf(out[k] * inv);
}

// The x in [x0, x1) where |row[x]| > threshold, written to out; returns their count.
static inline int above_body(const float *row, int x0, int x1, float threshold, int *out) {
    int n = 0;
    for (int x = x0; x < x1; x++) if (fabsf(row[x]) > threshold) out[n++] = x;
    return n;
}

LK_AVX2 static int above_avx2(const float *row, int x0, int x1, float threshold, int *out) {
    const __m256 t = _mm256_set1_ps(threshold), sign = _mm256_set1_ps(-0.0f);
    int n = 0, x = x0;
    for (; x + 8 <= x1; x += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(row + x)), t, _CMP_GT_OQ));
        while (mask) { int b = __builtin_ctz(mask); out[n++] = x + b; mask &= mask - 1; }
    }
    return n + above_body(row, x, x1, threshold, out + n);
}

static inline void subtract_body(const float *a, const float *b, float *d, size_t n) { for (size_t j = 0; j < n; j++) d[j] = b[j] - a[j]; }
LK_AVX2 static void subtract_avx2(const float *a, const float *b, float *d, size_t n) { subtract_body(a, b, d, n); }

static int by_response(const void *a, const void *b) {
    float ra = ((const lk_keypoint *)a)->response, rb = ((const lk_keypoint *)b)->response;
    return ra < rb ? 1 : (ra > rb ? -1 : 0);
}

int lk_sift(const float *gray, int w, int h, const lk_sift_params *p, float *ws, lk_keypoint *cand, int cand_capacity,
            lk_keypoint *keypoints, float *descriptors, int capacity) {
    if (w < 16 || h < 16 || p->layers < 1 || capacity <= 0) return 0;
    octave_layout oct[32];
    int n;
    size_t used = layout(w, h, p, NULL, &n);
    if (n > 32) n = 32;
    layout(w, h, p, oct, &n);
    int w0 = oct[0].w, h0 = oct[0].h;
    float *tmp = ws + used, *row = tmp + (size_t)w0 * h0;
    float *taps = row + (size_t)(w0 > h0 ? w0 : h0) + 2 * (size_t)kernel_radius(p->sigma * 4.0f);
    const int layers = p->layers;
    const float k = powf(2.0f, 1.0f / (float)layers);
    // octave 0, first image: the input (doubled bilinearly when upsampling) blurred to sigma
    float *g0 = ws + oct[0].gauss;
    if (p->upsample) {
        for (int y = 0; y < h0; y++) {
            float sy = (y + 0.5f) * 0.5f - 0.5f; if (sy < 0) sy = 0;
            int y0 = (int)sy, y1 = y0 + 1 < h ? y0 + 1 : h - 1; float fy = sy - y0;
            for (int x = 0; x < w0; x++) {
                float sx = (x + 0.5f) * 0.5f - 0.5f; if (sx < 0) sx = 0;
                int x0 = (int)sx, x1 = x0 + 1 < w ? x0 + 1 : w - 1; float fx = sx - x0;
                float top = gray[(size_t)y0 * w + x0] * (1 - fx) + gray[(size_t)y0 * w + x1] * fx;
                float bottom = gray[(size_t)y1 * w + x0] * (1 - fx) + gray[(size_t)y1 * w + x1] * fx;
                tmp[(size_t)y * w0 + x] = top * (1 - fy) + bottom * fy;
            }
        }
        memcpy(g0 + (size_t)w0 * h0, tmp, sizeof(float) * (size_t)w0 * h0);   // layer 1 as scratch source
        float prior = 1.0f;   // input assumed blurred by 0.5, doubled
        gaussian_blur(g0 + (size_t)w0 * h0, g0, w0, h0, sqrtf(fmaxf(p->sigma * p->sigma - prior * prior, 0.01f)), tmp, row, taps);
    } else {
        gaussian_blur(gray, g0, w0, h0, sqrtf(fmaxf(p->sigma * p->sigma - 0.25f, 0.01f)), tmp, row, taps);
    }
    int found = 0;
    for (int o = 0; o < n; o++) {
        int wo = oct[o].w, ho = oct[o].h;
        size_t plane = (size_t)wo * ho;
        float *g = ws + oct[o].gauss, *dog = ws + oct[o].dog;
        if (o > 0) {   // first image: layer `layers` of the previous octave (2 sigma), every other pixel
            const float *src = ws + oct[o - 1].gauss + (size_t)oct[o - 1].w * oct[o - 1].h * layers;
            int pw = oct[o - 1].w;
            for (int y = 0; y < ho; y++) for (int x = 0; x < wo; x++) g[(size_t)y * wo + x] = src[(size_t)(2 * y) * pw + 2 * x];
        }
        for (int i = 1; i < layers + 3; i++) {
            float prev = p->sigma * powf(k, (float)(i - 1)), total = prev * k;
            gaussian_blur(g + plane * (i - 1), g + plane * i, wo, ho, sqrtf(total * total - prev * prev), tmp, row, taps);
        }
        for (int i = 0; i < layers + 2; i++) {
            const float *a = g + plane * i, *b = g + plane * (i + 1);
            float *d = dog + plane * i;
            if (lk_simd_level() >= 1) subtract_avx2(a, b, d, plane); else subtract_body(a, b, d, plane);
        }
        float factor = (p->upsample ? 0.5f : 1.0f) * (float)(1 << o);
        float pre = 0.5f * p->contrast;
        int *xs = (int *)tmp;   // the blur scratch is free while extrema are looked for: a row of x
        for (int layer = 1; layer <= layers; layer++) {
            const float *d = dog + plane * layer;
            for (int y = SIFT_BORDER; y < ho - SIFT_BORDER; y++) for (int c = 0,
                     count = lk_simd_level() >= 1 ? above_avx2(d + (size_t)y * wo, SIFT_BORDER, wo - SIFT_BORDER, pre, xs)
                                                  : above_body(d + (size_t)y * wo, SIFT_BORDER, wo - SIFT_BORDER, pre, xs);
                     c < count; c++) {
                int x = xs[c];
                float v = d[(size_t)y * wo + x];
                if (!is_extremum(dog, plane, wo, layer, x, y, v)) continue;
                int rx = x, ry = y, rl = layer;
                float ox, oy, os, value;
                if (!refine(dog, wo, ho, layers, &rx, &ry, &rl, p->contrast, p->edge_ratio, &ox, &oy, &os, &value)) continue;
                if (found >= cand_capacity) continue;
                float sigma = p->sigma * powf(2.0f, ((float)rl + os) / (float)layers);
                lk_keypoint kp = { ((float)rx + ox) * factor, ((float)ry + oy) * factor, sigma * factor, 0, value, o, rl };
                cand[found++] = kp;
            }
        }
    }
    // the strongest extrema get orientations (one feature per dominant direction), then descriptors
    qsort(cand, (size_t)found, sizeof(lk_keypoint), by_response);
    int kept = 0;
    for (int i = 0; i < found && kept < capacity; i++) {
        lk_keypoint kp = cand[i];
        int o = kp.octave;
        float factor = (p->upsample ? 0.5f : 1.0f) * (float)(1 << o);
        int wo = oct[o].w, ho = oct[o].h;
        const float *g = ws + oct[o].gauss + (size_t)wo * ho * kp.layer;
        int x = (int)lroundf(kp.x / factor), y = (int)lroundf(kp.y / factor);
        float angles[4];
        int count = orientations(g, wo, ho, x, y, kp.size / factor, angles);
        for (int a = 0; a < count && kept < capacity; a++) {
            kp.angle = angles[a];
            descriptor(g, wo, ho, kp.x / factor, kp.y / factor, kp.size / factor, kp.angle, descriptors + (size_t)kept * 128);
            keypoints[kept++] = kp;
        }
    }
    return kept;
}

void lk_top2_rows(const float *sims, int nq, int n, const int32_t *owner, int32_t skip_owner, int64_t column_offset,
                  const int32_t *ids, const int32_t *rows, float *best, float *second, int64_t *best_index) {
    for (int q = 0; q < nq; q++) {
        const float *row = sims + (size_t)q * n;
        int r = rows ? rows[q] : q;
        float b = best[r], s2 = second[r];
        int64_t bi = best_index[r];
        for (int j = 0; j < n; j++) {
            float v = row[j];
            if (v <= s2 || owner[j] == skip_owner) continue;
            if (v > b) { s2 = b; b = v; bi = ids ? ids[j] : column_offset + j; } else s2 = v;
        }
        best[r] = b; second[r] = s2; best_index[r] = bi;
    }
}

void lk_topk_rows(const float *sims, int nq, int n, const int32_t *owner, int32_t skip_owner, int64_t column_offset,
                  const int32_t *ids, const int32_t *rows, int k, float *values, int64_t *indices) {
    if (k <= 0) return;
    for (int q = 0; q < nq; q++) {
        const float *row = sims + (size_t)q * n;
        int r = rows ? rows[q] : q;
        float *v = values + (size_t)r * k;
        int64_t *ix = indices + (size_t)r * k;
        float worst = v[k - 1];
        for (int j = 0; j < n; j++) {
            float x = row[j];
            if (!(x > worst) || owner[j] == skip_owner) continue;
            int p = k - 1;
            while (p > 0 && v[p - 1] < x) { v[p] = v[p - 1]; ix[p] = ix[p - 1]; p--; }
            v[p] = x;
            ix[p] = ids ? ids[j] : column_offset + j;
            worst = v[k - 1];
        }
    }
}

LK_AVX2 static void u8_rows_avx2(const uint8_t *src, const int32_t *ids, int n, int dim, float scale, float *dst) {
    const __m256 k = _mm256_set1_ps(scale);
    for (int r = 0; r < n; r++) {
        const uint8_t *row = src + (size_t)(ids ? ids[r] : r) * (size_t)dim;
        float *out = dst + (size_t)r * dim;
        int j = 0;
        for (; j + 8 <= dim; j += 8) {
            __m128i bytes = _mm_loadl_epi64((const __m128i *)(row + j));
            _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), k));
        }
        for (; j < dim; j++) out[j] = (float)row[j] * scale;
    }
}

void lk_u8_rows_to_f32(const uint8_t *src, const int32_t *ids, int n, int dim, float scale, float *dst) {
    if (lk_simd_level() >= 1) { u8_rows_avx2(src, ids, n, dim, scale, dst); return; }
    for (int r = 0; r < n; r++) {
        const uint8_t *row = src + (size_t)(ids ? ids[r] : r) * (size_t)dim;
        for (int j = 0; j < dim; j++) dst[(size_t)r * dim + j] = (float)row[j] * scale;
    }
}
