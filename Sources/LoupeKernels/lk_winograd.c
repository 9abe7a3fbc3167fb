// Winograd F(2×2, 3×3) convolution (Lavin & Gray, 2015): 3×3, stride 1, no dilation, one group.
//
// The output is cut into 2×2 tiles; tile t reads the 4×4 input patch d at (2ty − PT, 2tx − PL).
// With U = G g Gᵀ (per output/input channel pair, 16 values) and V = Bᵀ d B (per input channel
// and tile, 16 values), the 16 products U[ξ] · V[ξ] summed over input channels are 16 GEMMs
// M_ξ[OC, T] = U_ξ[OC, C] · V_ξ[C, T], and the tile's output is Aᵀ M A: 16 multiply-adds per
// tile and channel pair instead of 36, i.e. 2.25× fewer than im2col + GEMM.
//
//   G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
//   Aᵀ = [1 1 1 0; 0 1 −1 −1]
//
// A call handles a run of tiles [t0, t1) (tile index ty·TW + tx) and a block of output channels,
// so a thread's V and M blocks stay in L2: the input transform writes V_ξ rows of T floats, the
// GEMMs (lk_gemm on weights transformed and packed at load) fill M_ξ, the output transform adds
// the bias, applies the activation and writes each tile's 2×2 outputs. Transforms run 8 tiles at
// a time in AVX2 registers; this path is only taken when AVX2 is present.
#include "lk_internal.h"
#include <string.h>

static inline int lk_wmin(int a, int b) { return a < b ? a : b; }

size_t lk_winograd_packed_floats(int m, int c) { return 16 * lk_gemm_packed_a_floats(m, c); }

void lk_winograd_pack_weights(const float *w, int m, int c, float *u, float *packed) {
    // U[ξ][oc][ic] into the scratch u, then each ξ packed for the GEMM
    const size_t mc = (size_t)m * c;
    for (size_t i = 0; i < mc; i++) {
        const float *g = w + 9 * i;  // [3, 3]
        float t[4][3];               // G g: 4 × 3
        for (int j = 0; j < 3; j++) {
            t[0][j] = g[j];
            t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
            t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
            t[3][j] = g[6 + j];
        }
        for (int a = 0; a < 4; a++) {  // (G g) Gᵀ: 4 × 4
            u[(size_t)(4 * a + 0) * mc + i] = t[a][0];
            u[(size_t)(4 * a + 1) * mc + i] = 0.5f * (t[a][0] + t[a][1] + t[a][2]);
            u[(size_t)(4 * a + 2) * mc + i] = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
            u[(size_t)(4 * a + 3) * mc + i] = t[a][2];
        }
    }
    const size_t block = lk_gemm_packed_a_floats(m, c);
    for (int xi = 0; xi < 16; xi++) lk_gemm_pack_a(u + (size_t)xi * mc, (size_t)c, m, c, packed + (size_t)xi * block);
}

/// Padded rows of a run of tile rows [ty0, ty1]: 2 per tile row + 2; each row's pitch.
static inline void lk_winograd_block(const lk_conv_geometry *g, int ty0, int ty1, size_t *rows, size_t *pitch) {
    const int tw = (g->out_w + 1) / 2;
    *rows = (size_t)(2 * (ty1 - ty0 + 1) + 2);
    *pitch = (size_t)((2 * tw + 2 + 16 + 7) & ~7);
}

size_t lk_winograd_workspace_floats(const lk_conv_geometry *g, int m_block, int tiles) {
    const int tw = (g->out_w + 1) / 2;
    size_t rows, pitch;
    lk_winograd_block(g, 0, (tiles + tw - 1) / tw, &rows, &pitch);  // a run of tiles spans at most this many tile rows
    return 16 * (size_t)tiles * ((size_t)g->channels + (size_t)m_block) + rows * pitch + lk_gemm_workspace_floats();
}

/// Even and odd floats of src[0, 16): columns j = 0 and 1 (or 2 and 3) of 8 tiles.
LK_AVX2 static inline void lk_wsplit(const float *src, __m256 *even, __m256 *odd) {
    const __m256 a = _mm256_loadu_ps(src), b = _mm256_loadu_ps(src + 8);
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                                                   _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))),
                                                  _MM_SHUFFLE(3, 1, 2, 0)));
}

/// V for tiles tx0 .. tx0 + n − 1 (n ≤ 8) of one tile row of one channel: rows points at the
/// padded row 2ty − PT (pitch floats apart, column 0 = input column −PL). Stores 16 rows of V at
/// v + ξ·stride.
LK_AVX2 static inline void lk_winograd_input8(const float *rows, size_t pitch, int tx0, int n, float *v, size_t stride) {
    __m256 d[4][4];
    for (int r = 0; r < 4; r++) {
        const float *p = rows + (size_t)r * pitch + 2 * tx0;
        lk_wsplit(p, &d[r][0], &d[r][1]);
        lk_wsplit(p + 2, &d[r][2], &d[r][3]);
    }
    __m256 t[4][4];
    for (int j = 0; j < 4; j++) {  // Bᵀ d
        t[0][j] = _mm256_sub_ps(d[0][j], d[2][j]);
        t[1][j] = _mm256_add_ps(d[1][j], d[2][j]);
        t[2][j] = _mm256_sub_ps(d[2][j], d[1][j]);
        t[3][j] = _mm256_sub_ps(d[1][j], d[3][j]);
    }
    const __m256i mask = lk_tail_mask((size_t)n);
    for (int a = 0; a < 4; a++) {  // (Bᵀ d) B
        const __m256 o[4] = {_mm256_sub_ps(t[a][0], t[a][2]), _mm256_add_ps(t[a][1], t[a][2]),
                             _mm256_sub_ps(t[a][2], t[a][1]), _mm256_sub_ps(t[a][1], t[a][3])};
        for (int b = 0; b < 4; b++) {
            float *dst = v + (size_t)(4 * a + b) * stride;
            if (n == 8) _mm256_storeu_ps(dst, o[b]);
            else _mm256_maskstore_ps(dst, mask, o[b]);
        }
    }
}

/// Output of tiles tx0 .. tx0 + n − 1 of tile row ty, one output channel: mrow + ξ·stride holds
/// M_ξ for these tiles.
LK_AVX2 static inline void lk_winograd_output8(const float *mrow, size_t stride, int n, float bias, lk_activation act,
                                               float *y, int ow, int oh_left, int ow_left) {
    __m256 m[4][4];
    const __m256i mask = lk_tail_mask((size_t)n);
    for (int xi = 0; xi < 16; xi++) m[xi / 4][xi % 4] = _mm256_maskload_ps(mrow + (size_t)xi * stride, mask);
    __m256 s[2][4];
    for (int j = 0; j < 4; j++) {  // Aᵀ M
        s[0][j] = _mm256_add_ps(_mm256_add_ps(m[0][j], m[1][j]), m[2][j]);
        s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m[1][j], m[2][j]), m[3][j]);
    }
    const __m256 bv = _mm256_set1_ps(bias);
    const int cols = lk_wmin(2 * n, ow_left);
    for (int i = 0; i < 2 && i < oh_left; i++) {  // (Aᵀ M) A, row i of each 2×2 tile
        const __m256 y0 = lk_act256(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(s[i][0], s[i][1]), s[i][2]), bv), act);
        const __m256 y1 = lk_act256(_mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(s[i][1], s[i][2]), s[i][3]), bv), act);
        const __m256 lo = _mm256_unpacklo_ps(y0, y1), hi = _mm256_unpackhi_ps(y0, y1);
        const __m256 first = _mm256_permute2f128_ps(lo, hi, 0x20), second = _mm256_permute2f128_ps(lo, hi, 0x31);
        float *row = y + (size_t)i * ow;
        if (cols == 16) {
            _mm256_storeu_ps(row, first);
            _mm256_storeu_ps(row + 8, second);
        } else {
            _mm256_maskstore_ps(row, lk_tail_mask((size_t)lk_wmin(cols, 8)), first);
            if (cols > 8) _mm256_maskstore_ps(row + 8, lk_tail_mask((size_t)(cols - 8)), second);
        }
    }
}

LK_AVX2 void lk_winograd_conv3x3(const float *x, const lk_conv_geometry *g, const float *packed, int m_total, int m0, int m1,
                                 int t0, int t1, const float *bias, lk_activation act, float *workspace, float *y) {
    const int C = g->channels, H = g->height, W = g->width, OH = g->out_h, OW = g->out_w;
    const int tw = (OW + 1) / 2, T = t1 - t0, mb = m1 - m0;
    if (T <= 0 || mb <= 0) return;
    const int ty0 = t0 / tw, ty1 = (t1 - 1) / tw;
    size_t rows, pitch;
    lk_winograd_block(g, ty0, ty1, &rows, &pitch);
    float *v = workspace;                          // [16][C][T]
    float *mm = v + 16 * (size_t)C * T;            // [16][mb][T]
    float *pad = mm + 16 * (size_t)mb * T;         // [rows][pitch]
    float *gemm_ws = pad + rows * pitch;
    const size_t vstride = (size_t)C * T, mstride = (size_t)mb * T;
    const int row0 = 2 * ty0 - g->pad_top;         // input row of padded row 0
    // input transform, channel by channel through a zero-padded copy of the rows the run reads
    memset(pad, 0, sizeof(float) * rows * pitch);
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (size_t r = 0; r < rows; r++) {
            const int iy = row0 + (int)r;
            if (iy < 0 || iy >= H) continue;  // stays zero from the memset
            const int n = lk_wmin(W, (int)pitch - g->pad_left);
            memcpy(pad + r * pitch + g->pad_left, xc + (size_t)iy * W, sizeof(float) * (size_t)n);
        }
        for (int ty = ty0; ty <= ty1; ty++) {
            const int a = ty == ty0 ? t0 - ty * tw : 0, b = ty == ty1 ? t1 - ty * tw : tw;
            const float *prow = pad + (size_t)(2 * (ty - ty0)) * pitch;
            for (int tx = a; tx < b; tx += 8) {
                lk_winograd_input8(prow, pitch, tx, lk_wmin(8, b - tx), v + (size_t)c * T + (ty * tw + tx - t0), vstride);
            }
        }
    }
    // the 16 products, summed over input channels
    const size_t block = lk_gemm_packed_a_floats(m_total, C);
    for (int xi = 0; xi < 16; xi++) {
        lk_gemm(mb, T, C, packed + (size_t)xi * block + (size_t)m0 * C, v + (size_t)xi * vstride, (size_t)T,
                mm + (size_t)xi * mstride, (size_t)T, NULL, LK_ACT_IDENTITY, gemm_ws);
    }
    // output transform
    for (int m = 0; m < mb; m++) {
        const float b = bias ? bias[m0 + m] : 0.0f;
        float *ym = y + (size_t)(m0 + m) * OH * OW;
        for (int ty = ty0; ty <= ty1; ty++) {
            const int a = ty == ty0 ? t0 - ty * tw : 0, e = ty == ty1 ? t1 - ty * tw : tw;
            for (int tx = a; tx < e; tx += 8) {
                lk_winograd_output8(mm + (size_t)m * T + (ty * tw + tx - t0), mstride, lk_wmin(8, e - tx), b, act,
                                    ym + (size_t)(2 * ty) * OW + 2 * tx, OW, OH - 2 * ty, OW - 2 * tx);
            }
        }
    }
}
