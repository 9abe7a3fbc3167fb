// LoupeKernels: the one C boundary of Loupe.
//
// Plain C11 kernels over flat Float32 buffers. Conventions:
// - Images are one image at a time, channel-major: x is [C, H, W] contiguous.
// - Every function works on a half-open channel range [c0, c1) (or element range) so that the
//   Swift layer can split the work over threads without the kernel knowing about threads.
// - No kernel allocates: buffers and workspaces come from the caller, with documented sizes.
// - AVX2+FMA variants are chosen at run time (lk_simd_level); every kernel has a scalar fallback.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: CPU dispatch

/// 0 = scalar, 1 = AVX2 + FMA. Detected once with __builtin_cpu_supports.
int lk_simd_level(void);
/// Forces the scalar fallback (level 0) or restores detection (level < 0). For tests and benchmarks.
void lk_force_simd_level(int level);

// MARK: Activations and elementwise

typedef enum {
    LK_ACT_IDENTITY = 0,
    LK_ACT_RELU = 1,
    LK_ACT_RELU6 = 2,
    LK_ACT_SILU = 3,    // x * sigmoid(x)
    LK_ACT_SIGMOID = 4,
} lk_activation;

/// y[c * ld + i] = act(y[c * ld + i] + bias[c]) for c in [c0, c1), i in [0, width): a bias per
/// row (per channel of a [C, plane] map, or of a column tile of it when ld > width).
/// bias may be NULL (= 0). In place.
void lk_bias_activation(float *y, size_t ld, const float *bias, size_t width, size_t c0, size_t c1,
                        lk_activation act);

/// y[r * ld + i] = act(y[r * ld + i] + bias[i]) for r in [r0, r1), i in [0, width): a bias per
/// column, as in a linear layer's [N, out] output. bias may be NULL. In place.
void lk_column_bias_activation(float *y, size_t ld, const float *bias, size_t width, size_t r0,
                               size_t r1, lk_activation act);

/// y[i] = a[i] + b[i], i in [0, n). y may alias a or b.
void lk_add(const float *a, const float *b, float *y, size_t n);
/// y[i] = a[i] * b[i], i in [0, n). y may alias a or b.
void lk_mul(const float *a, const float *b, float *y, size_t n);
/// y[c, i] = x[c, i] * scale[c] for c in [c0, c1). x, y: [C, plane]; may alias.
void lk_scale_channels(const float *x, const float *scale, float *y, size_t plane, size_t c0,
                       size_t c1);

// MARK: Convolution

/// Geometry of a 2-D convolution or pooling window over one image [C, H, W].
/// pad_top/pad_left are explicit; the bottom/right padding is implied by out_h/out_w
/// (any tap beyond the input reads zero), which covers symmetric and TF "SAME" padding alike.
typedef struct {
    int channels, height, width;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_top, pad_left;
    int dilation_h, dilation_w;
    int out_h, out_w;
} lk_conv_geometry;

/// Unfolds channels [c0, c1) of x [C, H, W], output positions p = oh*OW + ow in [p0, p1), into
/// col [C*KH*KW, ld]: col[row * ld + (p − p0)] with row = (c*KH + ky)*KW + kx holds
/// x[c, oh*SH − PT + ky*DH, ow*SW − PL + kx*DW] (0 outside the input). With p0 = 0,
/// p1 = ld = OH*OW this is the whole im2col matrix; a narrower range is one column tile of it.
void lk_im2col(const float *x, const lk_conv_geometry *g, int c0, int c1, size_t p0, size_t p1,
               float *col, size_t ld);

/// Floats of workspace one thread needs for lk_depthwise_conv with geometry g.
size_t lk_depthwise_workspace_floats(const lk_conv_geometry *g);

/// Depthwise convolution (groups = channels, one filter per channel), fused bias + activation.
/// x: [C, H, W]; w: [C, KH, KW]; bias: [C] or NULL; y: [C, OH, OW]; channels [c0, c1).
/// workspace: lk_depthwise_workspace_floats(g) floats, private to the calling thread.
/// 3x3 and 5x5 at stride 1 or 2 without dilation take the direct SIMD path; everything else a
/// direct scalar path over the same zero-padded copy of the channel.
void lk_depthwise_conv(const float *x, const float *w, const float *bias, const lk_conv_geometry *g,
                       lk_activation act, int c0, int c1, float *workspace, float *y);

// MARK: Pooling and resampling

/// Floats of workspace one thread needs for lk_max_pool2d / lk_avg_pool2d: H * OW.
size_t lk_pool_workspace_floats(const lk_conv_geometry *g);

/// Max pooling of channels [c0, c1): taps outside the input are ignored (padding is -inf).
/// Uses g's kernel, stride, padding and dilation; y: [C, OH, OW]. The window is separable, so a
/// row pass (into workspace [H, OW]) and a column pass cost O(KH + KW) per output, not O(KH*KW):
/// YOLOX's 13x13 SPP window stays cheap.
void lk_max_pool2d(const float *x, const lk_conv_geometry *g, int c0, int c1, float *workspace,
                   float *y);

/// Average pooling of channels [c0, c1). count_include_pad != 0 divides by KH*KW (PyTorch's
/// default), otherwise by the number of taps inside the input. Workspace as for max pooling.
void lk_avg_pool2d(const float *x, const lk_conv_geometry *g, int count_include_pad, int c0, int c1,
                   float *workspace, float *y);

/// y[c] = mean over plane of x[c, :], c in [c0, c1). x: [C, plane], y: [C].
void lk_global_avg_pool(const float *x, size_t plane, size_t c0, size_t c1, float *y);
/// y[c] = max over plane of x[c, :], c in [c0, c1).
void lk_global_max_pool(const float *x, size_t plane, size_t c0, size_t c1, float *y);

/// Nearest-neighbour x2 upsampling: x [C, H, W] -> y [C, 2H, 2W], channels [c0, c1).
void lk_upsample_nearest2x(const float *x, int height, int width, int c0, int c1, float *y);

/// YOLOX "Focus" space-to-depth: x [C, H, W] (H, W even) -> y [4C, H/2, W/2] with the blocks in
/// YOLOX's order: (even row, even col), (odd row, even col), (even row, odd col), (odd row, odd col).
/// Channels [c0, c1) of x are written into all four blocks.
void lk_space_to_depth2(const float *x, int channels, int height, int width, int c0, int c1,
                        float *y);

#ifdef __cplusplus
}
#endif
