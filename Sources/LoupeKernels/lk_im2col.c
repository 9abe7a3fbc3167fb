// im2col for convolution by GEMM: one image, a range of input channels, a range of output
// positions (a column tile of the GEMM's B matrix, so that a tile can stay in cache).
#include "lk_internal.h"
#include <string.h>

/// Valid output range [*lo, *hi) of positions o with 0 <= o*stride + offset < extent.
static inline void lk_valid_range(int out, int stride, int offset, int extent, int *lo, int *hi) {
    int l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int h = (extent - 1 - offset) < 0 ? 0 : (extent - 1 - offset) / stride + 1;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/// dst[j] = src_row[(ow0 + j) * SW + xoff] for j in [0, n), zero where the column is outside.
static inline void lk_im2col_segment(const float *src_row, int ow0, int n, int ow_lo, int ow_hi, int SW,
                                     int xoff, int simd, float *dst) {
    int a = ow_lo > ow0 ? ow_lo : ow0, b = ow_hi < ow0 + n ? ow_hi : ow0 + n;
    if (b < a) b = a;
    if (a > ow0) memset(dst, 0, sizeof(float) * (size_t)(a - ow0));
    if (b > a) {
        const float *s = src_row + (ptrdiff_t)a * SW + xoff;
        float *d = dst + (a - ow0);
        if (SW == 1) memcpy(d, s, sizeof(float) * (size_t)(b - a));
        else if (SW == 2 && simd) lk_deinterleave_avx2(s, (size_t)(b - a), d, NULL);
        else for (int i = 0; i < b - a; i++) d[i] = s[i * SW];
    }
    if (ow0 + n > b) memset(dst + (b - ow0), 0, sizeof(float) * (size_t)(ow0 + n - b));
}

void lk_im2col(const float *x, const lk_conv_geometry *g, int c0, int c1, size_t p0, size_t p1,
               float *col, size_t ld) {
    const int simd = lk_simd_level() >= 1;
    const int H = g->height, W = g->width, KH = g->kernel_h, KW = g->kernel_w;
    const int SH = g->stride_h, SW = g->stride_w, OH = g->out_h, OW = g->out_w;
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * H * W;  // [H, W]
        for (int ky = 0; ky < KH; ky++) {
            const int yoff = ky * g->dilation_h - g->pad_top;
            int oh_lo, oh_hi;
            lk_valid_range(OH, SH, yoff, H, &oh_lo, &oh_hi);
            for (int kx = 0; kx < KW; kx++) {
                const int xoff = kx * g->dilation_w - g->pad_left;
                int ow_lo, ow_hi;
                lk_valid_range(OW, SW, xoff, W, &ow_lo, &ow_hi);
                float *row = col + ((size_t)(c * KH + ky) * KW + kx) * ld;  // [p1 - p0]
                size_t p = p0;
                while (p < p1) {
                    const int oh = (int)(p / OW), ow0 = (int)(p % OW);
                    int n = OW - ow0;
                    if ((size_t)n > p1 - p) n = (int)(p1 - p);
                    float *dst = row + (p - p0);
                    if (oh < oh_lo || oh >= oh_hi) memset(dst, 0, sizeof(float) * (size_t)n);
                    else lk_im2col_segment(xc + (size_t)(oh * SH + yoff) * W, ow0, n, ow_lo, ow_hi, SW, xoff, simd, dst);
                    p += (size_t)n;
                }
            }
        }
    }
}
