// Convolution GEMM: C[M, N] = act(A[M, K] · B[K, N] + bias[m]), row-major, A packed once per call.
//
// Blocking (GotoBLAS order; the K block depth kc from the L2 size, 256 on Zen 3's 512 KiB):
//   for each K block of kc rows: pack B[kc, nc] into 16-column panels (kc × 16, contiguous)
//   (with AVX-512, level 2, two adjacent panels make a 6 × 32 tile of 12 zmm accumulators)
//     for each 6-row panel of A (kc × 6 floats, stays in L1)
//       for each 16-column panel of B (streams from L2): the 6 × 16 micro-kernel, 12 ymm
//       accumulators; the first K block overwrites C (no separate zeroing pass), later ones add,
//       the last one adds the bias and applies the activation before the store.
#include "lk_internal.h"
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define MR 6
#define NR 16
#define KC_MAX 512
#define NC 256
#define DIRECT_B_MAX_M 48
#define WIDE 64  // columns per AVX-512 tile

static inline int lk_min(int a, int b) { return a < b ? a : b; }

size_t lk_gemm_packed_a_floats(int m, int k) { return (size_t)((m + MR - 1) / MR) * MR * (size_t)k; }

size_t lk_gemm_workspace_floats(void) { return (size_t)KC_MAX * NC; }

// K block depth from the L2 size: the packed B block (kc × NC floats) takes at most half of it —
// 256 on a 512 KiB L2 (Zen 3), 512 on 1 MiB (Zen 5) and larger; 256 when the size is unknown.
static int gemm_kc(void) {
    static _Atomic int cached = 0;
    int kc = atomic_load_explicit(&cached, memory_order_relaxed);
    if (kc > 0) return kc;
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    kc = 256;
    while (l2 > 0 && kc < KC_MAX && (long)(2 * kc) * NC * 4 * 2 <= l2) kc *= 2;
    atomic_store_explicit(&cached, kc, memory_order_relaxed);
    return kc;
}

void lk_gemm_pack_a(const float *a, size_t lda, int m, int k, float *packed) {
    for (int p = 0; p < m; p += MR) {
        const int rows = lk_min(MR, m - p);
        float *dst = packed + (size_t)p * k;
        for (int kk = 0; kk < k; kk++) {
            for (int r = 0; r < MR; r++) dst[(size_t)kk * MR + r] = r < rows ? a[(size_t)(p + r) * lda + kk] : 0.0f;
        }
    }
}

// B[kc, n] (leading dimension ldb) → panels of 16 columns, [kc][16] each, zero-padded.
LK_AVX2 static void pack_b_avx2(const float *b, size_t ldb, int kc, int n, float *bp) {
    int j = 0;
    for (; j + NR <= n; j += NR) {
        float *dst = bp + (size_t)j * kc;
        const float *src = b + j;
        for (int kk = 0; kk < kc; kk++, src += ldb, dst += NR) {
            _mm256_storeu_ps(dst, _mm256_loadu_ps(src));
            _mm256_storeu_ps(dst + 8, _mm256_loadu_ps(src + 8));
        }
    }
    if (j < n) {
        const int cols = n - j;
        const __m256i m0 = lk_tail_mask(cols < 8 ? (size_t)cols : 8), m1 = lk_tail_mask(cols > 8 ? (size_t)(cols - 8) : 0);
        float *dst = bp + (size_t)j * kc;
        const float *src = b + j;
        for (int kk = 0; kk < kc; kk++, src += ldb, dst += NR) {
            _mm256_storeu_ps(dst, _mm256_maskload_ps(src, m0));
            _mm256_storeu_ps(dst + 8, _mm256_maskload_ps(src + 8, m1));
        }
    }
}

static void pack_b(const float *b, size_t ldb, int kc, int n, float *bp) {
    if (lk_simd_level() >= 1) { pack_b_avx2(b, ldb, kc, n, bp); return; }
    for (int j = 0; j < n; j += NR) {
        const int cols = lk_min(NR, n - j);
        float *dst = bp + (size_t)j * kc;
        for (int kk = 0; kk < kc; kk++) {
            for (int q = 0; q < NR; q++) dst[(size_t)kk * NR + q] = q < cols ? b[(size_t)kk * ldb + j + q] : 0.0f;
        }
    }
}

// R × 16 tile (R ≤ 6): the k loop keeps 2R accumulators in registers (the loops over r unroll for
// each constant R). add: C already holds a partial sum; finish: add the bias, apply the activation.
LK_AVX2 static inline __attribute__((always_inline)) void kernel_rows(const int R, int kc, const float *a, const float *b,
                                                                    size_t bstride, float *c, size_t ldc, int add, int finish,
                                                                    const float *bias, lk_activation act) {
    __m256 lo[MR], hi[MR];
    for (int r = 0; r < R; r++) { lo[r] = _mm256_setzero_ps(); hi[r] = _mm256_setzero_ps(); }
    for (int k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int r = 0; r < R; r++) {
            const __m256 x = _mm256_broadcast_ss(a + r);
            lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
            hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
        }
        a += MR;
        b += bstride;
    }
    for (int r = 0; r < R; r++) {
        float *row = c + (size_t)r * ldc;
        __m256 l = lo[r], h = hi[r];
        if (add) { l = _mm256_add_ps(l, _mm256_loadu_ps(row)); h = _mm256_add_ps(h, _mm256_loadu_ps(row + 8)); }
        if (finish) {
            const __m256 bv = _mm256_set1_ps(bias ? bias[r] : 0.0f);
            l = lk_act256(_mm256_add_ps(l, bv), act);
            h = lk_act256(_mm256_add_ps(h, bv), act);
        }
        _mm256_storeu_ps(row, l);
        _mm256_storeu_ps(row + 8, h);
    }
}

// b: a packed panel (bstride = 16) or B itself (bstride = ldb, 16 columns read per row).
LK_AVX2 static void kernel_avx2(int rows, int kc, const float *a, const float *b, size_t bstride, float *c, size_t ldc, int add,
                                int finish, const float *bias, lk_activation act) {
    switch (rows) {
    case 6: kernel_rows(6, kc, a, b, bstride, c, ldc, add, finish, bias, act); break;
    case 5: kernel_rows(5, kc, a, b, bstride, c, ldc, add, finish, bias, act); break;
    case 4: kernel_rows(4, kc, a, b, bstride, c, ldc, add, finish, bias, act); break;
    case 3: kernel_rows(3, kc, a, b, bstride, c, ldc, add, finish, bias, act); break;
    case 2: kernel_rows(2, kc, a, b, bstride, c, ldc, add, finish, bias, act); break;
    default: kernel_rows(1, kc, a, b, bstride, c, ldc, add, finish, bias, act); break;
    }
}

// R × 16·NB tile (R ≤ 6, NB 1 to 4) in zmm registers: R·NB accumulators (24 at most, with 4 for
// B and one broadcast: 29 of the 32 zmm registers), the 16-column blocks of B read `second` floats apart (the next packed panel, or the next 16 columns of B in
// place). `last` masks the columns of the last 16-column block that C has (a partial tile: the
// packed panels are zero-padded, so only C's loads and stores are masked).
LK_AVX512 static inline __attribute__((always_inline)) void kernel512_rows(const int R, const int NB, int kc, const float *a,
                                                                        const float *b, size_t bstride, size_t second, float *c,
                                                                        size_t ldc, __mmask16 last, int add, int finish,
                                                                        const float *bias, lk_activation act) {
    __m512 acc[MR][4];
    for (int r = 0; r < R; r++) for (int q = 0; q < NB; q++) acc[r][q] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 bv[4];
        for (int q = 0; q < NB; q++) bv[q] = _mm512_loadu_ps(b + q * second);
        for (int r = 0; r < R; r++) {
            const __m512 x = _mm512_set1_ps(a[r]);
            for (int q = 0; q < NB; q++) acc[r][q] = _mm512_fmadd_ps(x, bv[q], acc[r][q]);
        }
        a += MR;
        b += bstride;
    }
    for (int r = 0; r < R; r++) {
        float *row = c + (size_t)r * ldc;
        const __m512 bias_r = _mm512_set1_ps(bias ? bias[r] : 0.0f);
        for (int q = 0; q < NB; q++) {
            const __mmask16 m = q == NB - 1 ? last : (__mmask16)0xFFFF;
            __m512 v = acc[r][q];
            if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, row + 16 * q));
            if (finish) v = lk_act512(_mm512_add_ps(v, bias_r), act);
            _mm512_mask_storeu_ps(row + 16 * q, m, v);
        }
    }
}

// `cols` (1 ... 64) columns of C from one to four 16-column blocks of B.
LK_AVX512 static void kernel_avx512(int rows, int cols, int kc, const float *a, const float *b, size_t bstride, size_t second,
                                    float *c, size_t ldc, int add, int finish, const float *bias, lk_activation act) {
    const int nb = (cols + 15) / 16;
    const int tail = cols - 16 * (nb - 1);
    const __mmask16 last = (__mmask16)(tail >= 16 ? 0xFFFF : (1u << tail) - 1);
#define LK_K512(R)                                                                                          \
    switch (nb) {                                                                                           \
    case 4: kernel512_rows(R, 4, kc, a, b, bstride, second, c, ldc, last, add, finish, bias, act); break;   \
    case 3: kernel512_rows(R, 3, kc, a, b, bstride, second, c, ldc, last, add, finish, bias, act); break;   \
    case 2: kernel512_rows(R, 2, kc, a, b, bstride, second, c, ldc, last, add, finish, bias, act); break;   \
    default: kernel512_rows(R, 1, kc, a, b, bstride, second, c, ldc, last, add, finish, bias, act); break;  \
    }
    switch (rows) {
    case 6: LK_K512(6); break;
    case 5: LK_K512(5); break;
    case 4: LK_K512(4); break;
    case 3: LK_K512(3); break;
    case 2: LK_K512(2); break;
    default: LK_K512(1); break;
    }
#undef LK_K512
}

static void kernel_scalar(int kc, const float *a, const float *b, float *c, size_t ldc, int add, int finish,
                          const float *bias, lk_activation act) {
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++) {
        for (int r = 0; r < MR; r++) {
            for (int j = 0; j < NR; j++) acc[r][j] += a[r] * b[j];
        }
        a += MR;
        b += NR;
    }
    for (int r = 0; r < MR; r++) {
        for (int j = 0; j < NR; j++) {
            float v = acc[r][j] + (add ? c[(size_t)r * ldc + j] : 0.0f);
            if (finish) v = lk_act_scalar(v + (bias ? bias[r] : 0.0f), act);
            c[(size_t)r * ldc + j] = v;
        }
    }
}

void lk_gemm(int m, int n, int k, const float *packed_a, const float *b, size_t ldb, float *c, size_t ldc,
             const float *bias, lk_activation act, float *workspace) {
    if (m <= 0 || n <= 0) return;
    const int simd = lk_simd_level() >= 1, wide = lk_simd_level() >= 2, depth = gemm_kc();
    if (k <= 0) {  // an empty sum: only the bias and the activation
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = lk_act_scalar(bias ? bias[i] : 0.0f, act);
        }
        return;
    }
    float edge[MR * NR] = {0};
    // With few rows of A, each packed B panel would serve only a few micro-kernel calls: the
    // kernel then reads B where it lies (full panels) and only the edge panel is packed.
    const int direct = simd && m <= DIRECT_B_MAX_M;
    for (int n0 = 0; n0 < n; n0 += NC) {
        const int nc = lk_min(NC, n - n0);
        for (int k0 = 0; k0 < k; k0 += depth) {
            const int kc = lk_min(depth, k - k0);
            const int add = k0 > 0, finish = k0 + kc == k;
            const int packed_from = direct ? nc / NR * NR : 0;  // columns [packed_from, nc) are packed
            if (packed_from < nc) pack_b(b + (size_t)k0 * ldb + n0 + packed_from, ldb, kc, nc - packed_from, workspace + (size_t)packed_from * kc);
            for (int i = 0; i < m; i += MR) {
                const int rows = lk_min(MR, m - i);
                const float *ap = packed_a + (size_t)i * k + (size_t)k0 * MR;
                const float *bi = bias ? bias + i : NULL;
                float bias_edge[MR] = {0};
                if (bi && rows < MR) { memcpy(bias_edge, bi, (size_t)rows * sizeof(float)); bi = bias_edge; }
                for (int j = 0; j < nc; j += NR) {
                    const int cols = lk_min(NR, nc - j);
                    const float *bp = workspace + (size_t)j * kc;
                    float *ct = c + (size_t)i * ldc + n0 + j;
                    // AVX-512: up to 32 columns at a time, partial tiles through masks
                    if (wide && j < packed_from) {  // B in place: full 16-column blocks only
                        const int take = lk_min(WIDE, packed_from - j);
                        kernel_avx512(rows, take, kc, ap, b + (size_t)k0 * ldb + n0 + j, ldb, NR, ct, ldc, add, finish, bi, act);
                        j += take - NR;
                        continue;
                    }
                    if (wide) {  // up to four packed panels, kc × 16 floats apart
                        const int take = lk_min(WIDE, nc - j);
                        kernel_avx512(rows, take, kc, ap, bp, NR, (size_t)kc * NR, ct, ldc, add, finish, bi, act);
                        j += (take + NR - 1) / NR * NR - NR;
                        continue;
                    }
                    if (j < packed_from) {  // B read in place
                        kernel_avx2(rows, kc, ap, b + (size_t)k0 * ldb + n0 + j, ldb, ct, ldc, add, finish, bi, act);
                        continue;
                    }
                    if (simd && cols == NR) {  // only the rows that exist: no work on padding rows
                        kernel_avx2(rows, kc, ap, bp, NR, ct, ldc, add, finish, bi, act);
                        continue;
                    }
                    if (rows == MR && cols == NR) {
                        kernel_scalar(kc, ap, bp, ct, ldc, add, finish, bi, act);
                        continue;
                    }
                    // a partial tile: through a full-size buffer
                    if (add) {
                        for (int r = 0; r < rows; r++) memcpy(edge + r * NR, ct + (size_t)r * ldc, (size_t)cols * sizeof(float));
                    }
                    if (simd) kernel_avx2(rows, kc, ap, bp, NR, edge, NR, add, finish, bi, act);
                    else kernel_scalar(kc, ap, bp, edge, NR, add, finish, bi, act);
                    for (int r = 0; r < rows; r++) memcpy(ct + (size_t)r * ldc, edge + r * NR, (size_t)cols * sizeof(float));
                }
            }
        }
    }
}
