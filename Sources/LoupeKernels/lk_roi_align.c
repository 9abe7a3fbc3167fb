// RoIAlign (He et al., Mask R-CNN) with torchvision's semantics: `aligned` shifts the box by half
// a pixel, `sampling_ratio` samples per bin side (adaptive ceil(size / bins) when <= 0), bilinear
// samples at -1 < coordinate < size are clamped to the border, farther ones read 0.
#include "lk_internal.h"
#include <math.h>

typedef struct { int i00, i01, i10, i11; float w00, w01, w10, w11; } lk_sample;

static lk_sample lk_bilinear_sample(float y, float x, int H, int W) {
    lk_sample s = {0, 0, 0, 0, 0.0f, 0.0f, 0.0f, 0.0f};
    if (y < -1.0f || y > (float)H || x < -1.0f || x > (float)W) return s;  // all weights 0
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int y0 = (int)y, x0 = (int)x, y1, x1;
    if (y0 >= H - 1) { y1 = y0 = H - 1; y = (float)y0; } else y1 = y0 + 1;
    if (x0 >= W - 1) { x1 = x0 = W - 1; x = (float)x0; } else x1 = x0 + 1;
    const float ly = y - (float)y0, lx = x - (float)x0, hy = 1.0f - ly, hx = 1.0f - lx;
    s.i00 = y0 * W + x0; s.i01 = y0 * W + x1; s.i10 = y1 * W + x0; s.i11 = y1 * W + x1;
    s.w00 = hy * hx; s.w01 = hy * lx; s.w10 = ly * hx; s.w11 = ly * lx;
    return s;
}

size_t lk_roi_align_workspace(const float *box, float spatial_scale, int pooled_h, int pooled_w, int sampling_ratio,
                              int aligned) {
    const float offset = aligned ? 0.5f : 0.0f;
    float h = box[3] * spatial_scale - offset - (box[1] * spatial_scale - offset);
    float w = box[2] * spatial_scale - offset - (box[0] * spatial_scale - offset);
    if (!aligned) { h = h > 1 ? h : 1; w = w > 1 ? w : 1; }
    const int gh = sampling_ratio > 0 ? sampling_ratio : (int)ceilf(h / (float)pooled_h);
    const int gw = sampling_ratio > 0 ? sampling_ratio : (int)ceilf(w / (float)pooled_w);
    return (size_t)pooled_h * pooled_w * (size_t)(gh > 0 ? gh : 1) * (size_t)(gw > 0 ? gw : 1);
}

void lk_roi_align(const float *x, int channels, int H, int W, const float *box, float spatial_scale, int pooled_h,
                  int pooled_w, int sampling_ratio, int aligned, void *workspace, float *y) {
    const float offset = aligned ? 0.5f : 0.0f;
    const float sx = box[0] * spatial_scale - offset, sy = box[1] * spatial_scale - offset;
    float rw = box[2] * spatial_scale - offset - sx, rh = box[3] * spatial_scale - offset - sy;
    if (!aligned) { rw = rw > 1 ? rw : 1; rh = rh > 1 ? rh : 1; }
    const float bh = rh / (float)pooled_h, bw = rw / (float)pooled_w;
    const int gh = sampling_ratio > 0 ? sampling_ratio : (int)ceilf(rh / (float)pooled_h);
    const int gw = sampling_ratio > 0 ? sampling_ratio : (int)ceilf(rw / (float)pooled_w);
    const int per_bin = (gh > 0 ? gh : 0) * (gw > 0 ? gw : 0);
    const float count = per_bin > 1 ? (float)per_bin : 1.0f;
    lk_sample *samples = (lk_sample *)workspace;  // [pooled_h * pooled_w * per_bin]: same for every channel
    size_t n = 0;
    for (int ph = 0; ph < pooled_h; ph++)
        for (int pw = 0; pw < pooled_w; pw++)
            for (int iy = 0; iy < gh; iy++) {
                const float yy = sy + ph * bh + (iy + 0.5f) * bh / (float)gh;
                for (int ix = 0; ix < gw; ix++) {
                    const float xx = sx + pw * bw + (ix + 0.5f) * bw / (float)gw;
                    samples[n++] = lk_bilinear_sample(yy, xx, H, W);
                }
            }
    const size_t plane = (size_t)H * W, bins = (size_t)pooled_h * pooled_w;
    for (int c = 0; c < channels; c++) {
        const float *xc = x + (size_t)c * plane;
        float *yc = y + (size_t)c * bins;
        for (size_t b = 0; b < bins; b++) {
            float acc = 0.0f;
            const lk_sample *s = samples + b * (size_t)per_bin;
            for (int k = 0; k < per_bin; k++)
                acc += s[k].w00 * xc[s[k].i00] + s[k].w01 * xc[s[k].i01] + s[k].w10 * xc[s[k].i10] + s[k].w11 * xc[s[k].i11];
            yc[b] = acc / count;
        }
    }
}
