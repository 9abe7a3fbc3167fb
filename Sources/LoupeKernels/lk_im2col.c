// im2col for convolution by GEMM: one image, a range of input channels.
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

void lk_im2col(const float *x, const lk_conv_geometry *g, int c0, int c1, float *col) {
    const int H = g->height, W = g->width, KH = g->kernel_h, KW = g->kernel_w;
    const int SH = g->stride_h, SW = g->stride_w, OH = g->out_h, OW = g->out_w;
    const size_t plane = (size_t)OH * OW;
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
                float *row = col + ((size_t)(c * KH + ky) * KW + kx) * plane;  // [OH, OW]
                if (oh_lo > 0) memset(row, 0, sizeof(float) * (size_t)oh_lo * OW);
                for (int oh = oh_lo; oh < oh_hi; oh++) {
                    float *dst = row + (size_t)oh * OW;  // [OW]
                    const float *src = xc + (size_t)(oh * SH + yoff) * W;  // x[c, ih, :]
                    if (ow_lo > 0) memset(dst, 0, sizeof(float) * ow_lo);
                    if (SW == 1) {
                        if (ow_hi > ow_lo)
                            memcpy(dst + ow_lo, src + ow_lo + xoff, sizeof(float) * (size_t)(ow_hi - ow_lo));
                    } else {
                        for (int ow = ow_lo; ow < ow_hi; ow++) dst[ow] = src[ow * SW + xoff];
                    }
                    if (ow_hi < OW) memset(dst + ow_hi, 0, sizeof(float) * (size_t)(OW - ow_hi));
                }
                if (oh_hi < OH)
                    memset(row + (size_t)oh_hi * OW, 0, sizeof(float) * (size_t)(OH - oh_hi) * OW);
            }
        }
    }
}
