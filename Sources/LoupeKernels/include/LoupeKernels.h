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

/// 0 = scalar, 1 = AVX2 + FMA, 2 = AVX-512 (F, BW, DQ, VL). Detected once from CPUID and the
/// state the OS saves (XCR0); the environment variable LOUPE_ISA (scalar, avx2, avx512) caps it.
int lk_simd_level(void);
/// The level the CPU and OS allow, before LOUPE_ISA and forcing.
int lk_simd_level_detected(void);
/// Caps the level at `level` (never above what the CPU has), or restores detection (level < 0).
/// For tests and benchmarks.
void lk_force_simd_level(int level);
/// A spin-wait hint (x86 `pause`): lets the sibling hyperthread run and saves power while a
/// thread polls a flag.
void lk_cpu_relax(void);

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

// MARK: Convolution GEMM

/// Floats of A packed by lk_gemm_pack_a: M rounded up to 6 rows, times K.
size_t lk_gemm_packed_a_floats(int m, int k);
/// Packs row-major A[M, K] (leading dimension lda) into 6-row panels, k-major, zero-padded.
void lk_gemm_pack_a(const float *a, size_t lda, int m, int k, float *packed);
/// Floats of the per-thread workspace lk_gemm needs (a packed block of B).
size_t lk_gemm_workspace_floats(void);
/// C[M, N] = act(A · B + bias[m]) with A packed by lk_gemm_pack_a, B row-major [K, N] (leading
/// dimension ldb), C row-major (leading dimension ldc), bias per row (NULL = 0). C is written,
/// never read before: no zeroing pass. Single-threaded; callers split N, or M at multiples of 6
/// (offsetting packed_a by 6 · K floats per panel).
void lk_gemm(int m, int n, int k, const float *packed_a, const float *b, size_t ldb, float *c, size_t ldc,
             const float *bias, lk_activation act, float *workspace);

/// y[r * ld + i] = act(y[r * ld + i] + bias[i]) for r in [r0, r1), i in [0, width): a bias per
/// column, as in a linear layer's [N, out] output. bias may be NULL. In place.
void lk_column_bias_activation(float *y, size_t ld, const float *bias, size_t width, size_t r0,
                               size_t r1, lk_activation act);

/// y [cols, rows] = transpose of x [rows, cols] (row-major, no aliasing); 8×8 AVX2 blocks.
void lk_transpose(const float *x, int rows, int cols, float *y);
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

/// Floats of 3×3 weights [M, C, 3, 3] transformed for Winograd F(2×2, 3×3) and packed: 16
/// blocks of lk_gemm_packed_a_floats(m, c).
size_t lk_winograd_packed_floats(int m, int c);
/// U_ξ = (G w Gᵀ)[ξ] for ξ in 0..<16, each [M, C] packed by lk_gemm_pack_a; scratch: 16·M·C floats.
void lk_winograd_pack_weights(const float *w, int m, int c, float *scratch, float *packed);
/// Workspace floats of one lk_winograd_conv3x3 call over at most `tiles` tiles and `m_block`
/// output channels.
size_t lk_winograd_workspace_floats(const lk_conv_geometry *g, int m_block, int tiles);
/// 3×3 stride-1 undilated convolution of one image x [C, H, W] by Winograd F(2×2, 3×3), for the
/// output tiles [t0, t1) (2×2 tiles, index ty·ceil(OW/2) + tx) and output channels [m0, m1)
/// (m0 a multiple of 6) of y [M, OH, OW]; fused bias (or NULL) and activation. packed: from
/// lk_winograd_pack_weights with m = m_total. Needs AVX2 (lk_simd_level() >= 1).
void lk_winograd_conv3x3(const float *x, const lk_conv_geometry *g, const float *packed, int m_total, int m0, int m1,
                         int t0, int t1, const float *bias, lk_activation act, float *workspace, float *y);

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
/// Output rows [i0, i1) of every channel (input rows [2·i0, 2·i1)) are written, into all four blocks.
void lk_space_to_depth2(const float *x, int channels, int height, int width, int i0, int i1, float *y);

// MARK: Resampling and pixel layout (lk_resample.c)

/// Horizontal resampling pass over rows [r0, r1) of x [rows, in_w] into y [rows, out_w]:
/// y[r, j] = Σ_t weights[j*taps + t] · x[r, start[j] + t] for t < count[j] (count[j] <= taps,
/// start[j] + count[j] <= in_w).
void lk_resample_rows(const float *x, int in_w, int out_w, const int32_t *start, const int32_t *count,
                      const float *weights, int taps, size_t r0, size_t r1, float *y);

/// Vertical resampling pass: x [C, in_h, width] -> y [C, out_h, width] for output rows
/// p = c*out_h + i in [p0, p1): y[c, i, :] = Σ_t weights[i*taps + t] · x[c, start[i] + t, :].
void lk_resample_columns(const float *x, int in_h, int width, int out_h, const int32_t *start, const int32_t *count,
                         const float *weights, int taps, size_t p0, size_t p1, float *y);

/// Interleaved RGB8 [plane, 3] -> planar float [3, plane] (0...255), pixels [i0, i1).
void lk_rgb8_to_planar(const uint8_t *rgb, size_t plane, size_t i0, size_t i1, float *y);
/// Planar float [3, plane] -> interleaved RGB8, rounded and clamped to 0...255 (NaN -> 0).
void lk_planar_to_rgb8(const float *x, size_t plane, uint8_t *rgb);

/// Applies EXIF orientation 1...8 to x [C, H, W]; y is [C, H, W] for 1-4, [C, W, H] for 5-8.
void lk_orient(const float *x, int channels, int height, int width, int orientation, float *y);

// MARK: RoIAlign (lk_roi_align.c)

/// Samples of workspace lk_roi_align needs for this box (one precomputed bilinear sample, 32
/// bytes, per bin sample).
size_t lk_roi_align_workspace(const float *box, float spatial_scale, int pooled_h, int pooled_w, int sampling_ratio,
                              int aligned);
/// RoIAlign of one box (x0, y0, x1, y1 in input-image pixels) over x [C, H, W] into
/// y [C, pooled_h, pooled_w], with torchvision's semantics (spatial_scale maps image pixels to the
/// map, aligned shifts by half a pixel, sampling_ratio <= 0 is adaptive). workspace:
/// lk_roi_align_workspace(...) * 32 bytes.
void lk_roi_align(const float *x, int channels, int H, int W, const float *box, float spatial_scale, int pooled_h,
                  int pooled_w, int sampling_ratio, int aligned, void *workspace, float *y);

// MARK: Top-k (lk_topk.c)

/// Merges rows [r0, r1) of a score block scores [rows, ld] (cols valid columns, global index of
/// column j = base + j) into running top-k lists best [rows, k] (descending) and ids [rows, k].
/// Initialise best to -INFINITY and ids to -1. A score enters only if it is strictly greater than
/// the current k-th, so ties keep the lower index; NaN never enters.
void lk_topk_update(const float *scores, size_t ld, size_t cols, int k, int64_t base, size_t r0, size_t r1,
                    float *best, int64_t *ids);

// MARK: Checksums (lk_checksum.c)

/// CRC-32C of data[n], continuing from crc (0 for a fresh checksum): crc32c("123456789") is
/// 0xE3069283.
uint32_t lk_crc32c(uint32_t crc, const uint8_t *data, size_t n);

// MARK: Inverted-list scans (lk_pq.c)

/// Scores n product-quantization codes codes[n][m] (one byte per sub-quantizer, 256 centres each)
/// against a query's look-up table table[m][256] (table[j][c]: the query's j-th sub-vector with
/// centre c), score = bias + sum_j table[j][codes[i][j]], and merges them into the running top-k
/// best[k] / best_ids[k] as lk_topk_update does (id of code i: ids[i], or base + i when ids is NULL).
/// Scalar code, eight codes at a time: the reference of lk_pq_scan_blocked_topk.
void lk_pq_scan_topk(const float *table, int m, const uint8_t *codes, size_t n, const int64_t *ids, int64_t base,
                     float bias, int k, float *best, int64_t *best_ids);
/// Codes per block of the blocked code layout: block b holds codes 64b ..< 64b + 64 as [m][64]
/// bytes (byte j of its 64 codes side by side); a list of n codes takes lk_pq_blocked_bytes(n, m)
/// bytes, the last block padded.
#define LK_PQ_BLOCK 64
size_t lk_pq_blocked_bytes(size_t n, int m);
/// Writes codes rows[n][m] as codes at ..< at + n of a blocked array (sized for at least at + n).
void lk_pq_put_codes(uint8_t *blocked, size_t at, const uint8_t *rows, size_t n, int m);
/// Reads codes at ..< at + n of a blocked array into rows[n][m].
void lk_pq_get_codes(const uint8_t *blocked, size_t at, size_t n, int m, uint8_t *rows);
/// A query's look-up table table[m][256] with a byte copy for the blocked scan (bytes[m][256]:
/// each entry less its sub-table's minimum, in steps of `step`; `offset` the sum of the minima,
/// `magnitude` the sum of each sub-table's largest |entry|). Points into the caller's storage;
/// bytes NULL (no byte copy made: lk_pq_has_byte_lookups() was 0) scans the float table.
typedef struct {
    const float *table;
    const uint8_t *bytes;
    int m;
    float step, offset, magnitude;
} lk_pq_table;
/// Fills bytes[m][256] (the caller's, alive as long as *out is used) and *out from table[m][256].
void lk_pq_quantize_table(const float *table, int m, uint8_t *bytes, lk_pq_table *out);
/// lk_pq_scan_topk over n codes in the blocked layout (codes holds lk_pq_blocked_bytes(n, m)
/// bytes): the same scores, ids and order bit for bit. With AVX-512 VBMI the byte table is
/// looked up 64 codes at a time and only codes whose byte sum could beat the running k-th are
/// scored with the float table; else scalar code over the float table, eight codes at a time.
void lk_pq_scan_blocked_topk(const lk_pq_table *table, const uint8_t *codes, size_t n, const int64_t *ids, int64_t base,
                             float bias, int k, float *best, int64_t *best_ids);
/// 1 when lk_pq_scan_blocked_topk uses byte look-ups (AVX-512 VBMI and the dispatch level allows AVX-512).
int lk_pq_has_byte_lookups(void);
/// For each column i of s[k][b]: the row r with the largest s[r][i] - bias[r] (the first on
/// ties; NaN never wins) into at[i], and that value into best[i] (-INFINITY when none won).
void lk_column_argmax(const float *s, int k, int b, const float *bias, float *best, int32_t *at);
/// For each row i of x[n][d]: the centre c with the largest x_i . c - half[c] (the first on
/// ties) into at[i] and that value into best[i], the centres given transposed, ct[d][k]. For
/// few dimensions (sub-vectors of a product quantizer), where a matrix product would spend its
/// time writing the [n, k] result.
void lk_nearest_small(const float *x, int n, int d, const float *ct, const float *half, int k, float *best, int32_t *at);
/// Merges scores[n] (id of column j: ids[j], or base + j when ids is NULL) into the running top-k
/// best[k] / best_ids[k] (initialised to -INFINITY / -1).
void lk_topk_scan_ids(const float *scores, size_t n, const int64_t *ids, int64_t base, int k, float *best,
                      int64_t *best_ids);

// MARK: Local features (lk_sift.c)

/// Settings of the scale-invariant local features (Lowe's difference-of-Gaussians detector and
/// 4 x 4 x 8 gradient-histogram descriptor).
typedef struct {
    int octaves;            // octaves of the pyramid (each half the size of the previous)
    int layers;             // scales per octave where extrema are looked for (3)
    float sigma;            // blur of each octave's first image (1.6)
    float contrast;         // minimum |DoG| at a refined extremum, image in [0, 1] (0.04 / layers)
    float edge_ratio;       // maximum ratio of principal curvatures (10)
    int upsample;           // 1: the first octave is the image doubled (finds smaller features)
} lk_sift_params;

/// One detected feature, in the input image's pixels.
typedef struct {
    float x, y;             // centre
    float size;             // blur scale sigma of the feature
    float angle;            // dominant gradient direction, radians in [0, 2 pi)
    float response;         // |DoG| at the refined extremum
    int32_t octave;         // pyramid octave (0 = the doubled image when upsampled)
    int32_t layer;          // scale within the octave, in [1, layers]
} lk_keypoint;

/// Floats of workspace lk_sift needs for a w x h image.
size_t lk_sift_workspace_floats(int w, int h, const lk_sift_params *params);
/// Detects features of the grey image gray[h][w] (values in [0, 1]): the strongest extrema (by
/// response) each get a feature per dominant orientation until `capacity` features are written
/// (keypoints[capacity] and 128-float descriptors[capacity * 128], RootSIFT: L1-normalised square
/// roots, so each has unit L2 norm). Returns the number written. `workspace` holds
/// lk_sift_workspace_floats floats (uninitialised is fine); `candidates` holds
/// `candidate_capacity` extrema (beyond it, extrema of the coarser octaves are dropped).
int lk_sift(const float *gray, int w, int h, const lk_sift_params *params, float *workspace,
            lk_keypoint *candidates, int candidate_capacity, lk_keypoint *keypoints, float *descriptors,
            int capacity);
/// The best and second-best dot products of each query row with the database rows
/// sims[q * n + j] (a block of a query x database similarity matrix, rows q in [0, nq)), skipping
/// columns whose owner[j] == skip_owner; merges into best/second (values) and best_index (the
/// column's id: ids[j] when ids is not NULL, else column_offset + j), which the caller
/// initialises to -inf / -1. `rows` (NULL = 0, 1, ...) names the entry of best/second/best_index
/// each query row merges into.
void lk_top2_rows(const float *sims, int nq, int n, const int32_t *owner, int32_t skip_owner, int64_t column_offset,
                  const int32_t *ids, const int32_t *rows, float *best, float *second, int64_t *best_index);

/// The k largest dot products of each query row with the database rows sims[q * n + j] (columns
/// whose owner[j] == skip_owner skipped), merged into values[r * k ..< r * k + k] (descending) and
/// indices (ids[j] when ids is not NULL, else column_offset + j), which the caller initialises to
/// -inf / -1; r = rows[q] (NULL = q). Ties keep the earlier column.
void lk_topk_rows(const float *sims, int nq, int n, const int32_t *owner, int32_t skip_owner, int64_t column_offset,
                  const int32_t *ids, const int32_t *rows, int k, float *values, int64_t *indices);

/// dst[r * dim + j] = src[ids[r] * dim + j] * scale for r in [0, n) (ids NULL: rows 0 ..< n): byte
/// rows gathered and widened to floats.
void lk_u8_rows_to_f32(const uint8_t *src, const int32_t *ids, int n, int dim, float scale, float *dst);

// MARK: Images (lk_image.c; every libpng/libjpeg longjmp stays inside that file)

enum {
    LK_IMAGE_OK = 0,
    LK_IMAGE_UNRECOGNIZED = 1,  // not the format asked for
    LK_IMAGE_CORRUPT = 2,       // the library reported an error; message says which
    LK_IMAGE_TRUNCATED = 3,     // the data ends before the image does
    LK_IMAGE_UNSUPPORTED = 4,   // a valid file Loupe does not decode (e.g. CMYK JPEG)
};

typedef struct {
    int64_t width, height;
    int orientation;   // EXIF orientation 1...8 (JPEG), 1 otherwise
    char message[200]; // the library's message on failure
} lk_image_info;

/// Reads the PNG header only: width and height, so that the caller can check its pixel budget.
int lk_png_read_header(const uint8_t *data, size_t size, lk_image_info *info);
/// Decodes a PNG to interleaved 8-bit RGB into out [H, W, 3]: palette and gray expanded, 16-bit
/// reduced to the high byte, alpha dropped (not composited), interlacing undone.
int lk_png_decode_rgb8(const uint8_t *data, size_t size, uint8_t *out, lk_image_info *info);
/// Encodes out-of-place RGB8 [H, W, 3] as PNG into out (capacity bytes); returns the PNG's size,
/// which may exceed capacity (then nothing useful was written: call again with a larger buffer),
/// or 0 on failure. With out = NULL it only measures.
size_t lk_png_encode_rgb8(const uint8_t *rgb, int width, int height, uint8_t *out, size_t capacity);

/// Reads the JPEG header only: width, height and the EXIF orientation.
int lk_jpeg_read_header(const uint8_t *data, size_t size, lk_image_info *info);
/// Decodes a baseline or progressive JPEG (gray or YCbCr) to RGB8 into out [H, W, 3] with
/// Pillow's settings (ISLOW IDCT, fancy upsampling). A premature end is an error, not gray fill.
int lk_jpeg_decode_rgb8(const uint8_t *data, size_t size, uint8_t *out, lk_image_info *info);

#ifdef __cplusplus
}
#endif
