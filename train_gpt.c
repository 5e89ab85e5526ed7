/*
GPT training on the CPU, fp32 with OpenMP. Every matmul, and attention's per-head products, run through
one packed GEMM (an AVX-512 register tile, or portable C); the elementwise kernels vectorise (exp in
plain arithmetic). Each fast kernel keeps the plain reference it replaced beside it, which the tests
compare it with; results do not depend on the thread count.

The model is a pre-LN GPT-2 (docs/design.md §2): token embedding (+ learned positions, or RoPE),
L blocks of x += Attn(LN1(x)); x += MLP(LN2(x)), a final LayerNorm and an LM head tied to the
embedding. Attention is MHA, GQA, MQA, GTA, MLA or GLA (docs/design.md §2.1), each with a KV-cache decode
path; the optimizer is AdamW or Muon (§3). Checkpoints, data, tokenizer, sampling, schedules and the
command line are shared with the CUDA trainer through llmc/.

Shape legend used in every comment:
    B batch, T sequence, C channels, H query heads, Hkv key/value heads, dh = C/H head width,
    Dqkv fused q|k|v width ((H + 2*Hkv)*dh; GTA (H + Hkv)*dh + dR), F MLP width, V vocabulary, Vp padded vocabulary,
    L layers, N = B*T rows.

Every layer has a forward and, right after it, its backward with the same arguments in the same
order; gradient buffers have a d prefix. Weight gradients accumulate (+=, for gradient accumulation);
input gradients are written (=) unless a comment says they accumulate.
*/
#include <float.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h> // exp, log, sqrt, tanh follow the type of `real`
#ifdef _OPENMP
#include <omp.h>
#endif

#include "llmc/args.h"
#include "llmc/attention_layout.h"
#include "llmc/checkpoint.h"
#include "llmc/dataloader.h"
#include "llmc/distributed.h"
#include "llmc/gpt.h"
#include "llmc/run.h"
#include "llmc/sampler.h"
#include "llmc/schedule.h"
#include "llmc/tokenizer.h"
#include "llmc/utils.h"

// The type of every tensor: fp32 here. The gradient-check tests build this same file with
// -DREAL_DOUBLE so that finite differences run in double precision.
#ifdef REAL_DOUBLE
typedef double real;
#define REAL_DTYPE "F64"
#else
typedef float real;
#define REAL_DTYPE "F32"
#endif

#include "llmc/model_tensors.h"

static int imin(int a, int b) { return a < b ? a : b; }

// exp in plain arithmetic, so that the loops of softmax, GELU and cross-entropy vectorise (libm's expf is
// a call the compiler does not vectorise): Cephes' expf. x = n ln2 + r with |r| <= ln2/2 (ln2 in two
// parts, so that n ln2 is exact), a polynomial for e^r, and 2^n built in the exponent bits; within
// 7.5e-8 relative (measured) on [-87, 88], clamped outside. The double build keeps libm's exp, so that
// the gradient checks see the exact function.
#ifdef REAL_DOUBLE
static inline real exp_vec(real x) { return exp(x); }
#else
static inline float exp_vec(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x; // a ternary, unlike fminf, vectorises here
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}
#endif

// ----------------------------------------------------------------------------
// all the individual layers' forward and backward passes

// Sums over rows (weight and bias gradients) take this many columns per thread at a time.
#define COLUMN_BLOCK 64

// out (B,T,C) = wte[inp] + wpe[t]. inp (B,T) token ids, wte (Vp,C), wpe (T,C) or NULL (RoPE).
static void encoder_forward(real* out, const int* inp, const real* wte, const real* wpe, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            real* o = out + ((size_t)b * T + t) * C;
            const real* e = wte + (size_t)inp[b * T + t] * C;
            for (int i = 0; i < C; i++) o[i] = e[i] + (wpe ? wpe[(size_t)t * C + i] : 0);
        }
    }
}

// dwte, dwpe accumulate dout (B,T,C) at the rows the forward read.
static void encoder_backward(real* dwte, real* dwpe, const real* dout, const int* inp, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const real* d = dout + ((size_t)b * T + t) * C;
            real* dw = dwte + (size_t)inp[b * T + t] * C;
            for (int i = 0; i < C; i++) dw[i] += d[i];
            if (dwpe) {
                for (int i = 0; i < C; i++) dwpe[(size_t)t * C + i] += d[i];
            }
        }
    }
}

// out (N,C) = (inp - mean) * rstd * weight + bias over each row; mean, rstd (N,) saved for the
// backward (NULL when not needed, as in decoding). bias (C,) or NULL.
static void layernorm_forward(real* out, real* mean, real* rstd, const real* inp, const real* weight,
                              const real* bias, int N, int C) {
    const real eps = 1e-5f;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * C;
        real m = 0;
        for (int i = 0; i < C; i++) m += x[i];
        m /= C;
        real var = 0;
        for (int i = 0; i < C; i++) var += (x[i] - m) * (x[i] - m);
        real s = 1 / sqrt(var / C + eps);
        real* o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * s * weight[i] + (bias ? bias[i] : 0);
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
    }
}

// dinp (N,C) accumulates (+=): it is the residual stream's gradient. dweight, dbias (C,).
static void layernorm_backward(real* dinp, real* dweight, real* dbias, const real* dout, const real* inp,
                               const real* weight, const real* mean, const real* rstd, int N, int C) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * C;
        const real* d = dout + (size_t)n * C;
        real* dx = dinp + (size_t)n * C;
        // dnorm = dout * weight; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
        real dnorm_mean = 0, dnorm_norm_mean = 0;
        for (int i = 0; i < C; i++) {
            real norm = (x[i] - mean[n]) * rstd[n];
            dnorm_mean += d[i] * weight[i];
            dnorm_norm_mean += d[i] * weight[i] * norm;
        }
        dnorm_mean /= C;
        dnorm_norm_mean /= C;
        for (int i = 0; i < C; i++) {
            real norm = (x[i] - mean[n]) * rstd[n];
            dx[i] += (d[i] * weight[i] - dnorm_mean - norm * dnorm_norm_mean) * rstd[n];
        }
    }
    // weight and bias gradients sum over rows, a block of columns per thread (rows read contiguously);
    // each column belongs to one thread, so the sum's order (and result) does not depend on the thread count
    #pragma omp parallel for schedule(static)
    for (int i0 = 0; i0 < C; i0 += COLUMN_BLOCK) {
        int width = imin(COLUMN_BLOCK, C - i0);
        real dw[COLUMN_BLOCK] = {0}, db[COLUMN_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *x = inp + (size_t)n * C + i0, *d = dout + (size_t)n * C + i0;
            for (int i = 0; i < width; i++) {
                dw[i] += d[i] * (x[i] - mean[n]) * rstd[n];
                db[i] += d[i];
            }
        }
        for (int i = 0; i < width; i++) {
            dweight[i0 + i] += dw[i];
            if (dbias) dbias[i0 + i] += db[i];
        }
    }
}

// out (N,C) = inp * rstd * weight with rstd = 1/sqrt(mean(inp^2) + eps) over each row; rstd (N,) saved
// for the backward (NULL when not needed). Rows of inp are inp_stride apart (a slice of a wider row).
static void rmsnorm_forward(real* out, real* rstd, const real* inp, const real* weight, int N, int C, int inp_stride) {
    const real eps = 1e-6f;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * inp_stride;
        real ms = 0;
        for (int i = 0; i < C; i++) ms += x[i] * x[i];
        real r = 1 / sqrt(ms / C + eps);
        real* o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = x[i] * r * weight[i];
        if (rstd) rstd[n] = r;
    }
}

// dinp (rows inp_stride apart) accumulates (+=); dweight (C,).
static void rmsnorm_backward(real* dinp, real* dweight, const real* dout, const real* inp, const real* weight,
                             const real* rstd, int N, int C, int inp_stride) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * inp_stride;
        const real* d = dout + (size_t)n * C;
        real* dx = dinp + (size_t)n * inp_stride;
        // y = w x r, r = (mean(x^2) + eps)^-1/2  =>  dx = r (dy w - x r^2 mean(dy w x))
        real dot = 0;
        for (int i = 0; i < C; i++) dot += d[i] * weight[i] * x[i];
        real r = rstd[n], k = r * r * dot / C;
        for (int i = 0; i < C; i++) dx[i] += r * (d[i] * weight[i] - x[i] * k);
    }
    #pragma omp parallel for schedule(static)
    for (int i0 = 0; i0 < C; i0 += COLUMN_BLOCK) { // as in layernorm_backward
        int width = imin(COLUMN_BLOCK, C - i0);
        real dw[COLUMN_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *x = inp + (size_t)n * inp_stride + i0, *d = dout + (size_t)n * C + i0;
            for (int i = 0; i < width; i++) dw[i] += d[i] * x[i] * rstd[n];
        }
        for (int i = 0; i < width; i++) dweight[i0 + i] += dw[i];
    }
}

// The reference matmuls: plain loops, kept to test the fast path against (and used by it for fewer rows
// than a register tile, as in decoding, where packing would cost more than the product).
// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC,) or no bias.
static void matmul_forward_reference(real* out, const real* inp, const real* weight, const real* bias, int N, int C, int OC) {
    #pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            const real *x = inp + (size_t)n * C, *w = weight + (size_t)o * C;
            real s = 0;
            for (int i = 0; i < C; i++) s += x[i] * w[i];
            out[(size_t)n * OC + o] = s + (bias ? bias[o] : 0);
        }
    }
}

// dinp (N,C) = dout (N,OC) @ weight (OC,C); dweight (OC,C) += dout^T @ inp; dbias (OC,) += column sums
// of dout, or no bias.
static void matmul_backward_reference(real* dinp, real* dweight, real* dbias, const real* dout, const real* inp,
                                      const real* weight, int N, int C, int OC) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        real* dx = dinp + (size_t)n * C;
        for (int i = 0; i < C; i++) dx[i] = 0;
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < C; i++) dx[i] += dout[(size_t)n * OC + o] * weight[(size_t)o * C + i];
        }
    }
    #pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        for (int n = 0; n < N; n++) {
            real g = dout[(size_t)n * OC + o];
            for (int i = 0; i < C; i++) dweight[(size_t)o * C + i] += g * inp[(size_t)n * C + i];
            if (dbias) dbias[o] += g;
        }
    }
}

// The fast path: one packed GEMM, C (M,N) (+)= A (M,K) @ B (K,N), serves all three products through
// strided views of the operands (Goto and van de Geijn's blocking, as BLIS and OpenBLAS do it):
//   forward  out  = inp @ weight^T    A = inp,    B = weight read transposed
//   backward dinp = dout @ weight     A = dout,   B = weight
//            dW  += dout^T @ inp      A = dout read transposed, B = inp
// B is copied a KC x NC block at a time into panels of NR columns (so a panel streams through the
// cache contiguously), A an MC x KC block at a time into panels of MR rows, and a register tile
// multiplies one A panel by one B panel: MR x NR accumulators, each step of k one broadcast of A per row
// and NR/16 loads of B. Threads share out the tiles of a block; every element of C is one thread's, its
// sum running over k in blocks of KC in order, so the result does not depend on the thread count.
#define GEMM_MR 6    // 6 x 32 tile: 12 AVX-512 accumulators, 2 loads of B and 6 broadcasts per 12 FMAs
#define GEMM_NR 32
#define GEMM_KC 384  // a B panel is KC x NR = 48 KB, an A panel KC x MR = 9 KB
#define GEMM_MC 264  // A block 396 KB: stays in L2 while B panels pass
#define GEMM_NC 3072 // B block 4.5 MB: stays in L3 while the A blocks pass

// element (i, j) of a matrix view is p[i * rs + j * cs]
typedef struct {
    const real* p;
    size_t rs, cs;
} MatrixView;

static MatrixView transposed(MatrixView m) {
    MatrixView t = {m.p, m.cs, m.rs};
    return t;
}

static real gemm_a_block[GEMM_MC * GEMM_KC] __attribute__((aligned(64)));
static real gemm_b_block[GEMM_KC * GEMM_NC] __attribute__((aligned(64)));

// rows i0.. (up to MR) of A, columns k0..k0+kc, as one panel: panel[k * MR + r], zero past the last row
static void gemm_pack_a(real* panel, MatrixView A, int i0, int rows, int k0, int kc) {
    for (int k = 0; k < kc; k++) {
        const real* a = A.p + (size_t)i0 * A.rs + (size_t)(k0 + k) * A.cs;
        for (int r = 0; r < GEMM_MR; r++) panel[k * GEMM_MR + r] = r < rows ? a[r * A.rs] : 0;
    }
}

#if defined(__AVX512F__) && !defined(REAL_DOUBLE)
#include <immintrin.h>
// r[i] = row i of a 16x16 block -> r[i] = column i: pairs, then quads, then 128-bit lanes swapped
static inline void transpose16x16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 8; i++) {
        int j = (i / 4) * 8 + i % 4;
        t[j] = _mm512_shuffle_f32x4(r[j], r[j + 4], 0x88);
        t[j + 4] = _mm512_shuffle_f32x4(r[j], r[j + 4], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}
#endif

// columns j0.. (up to NR) of B, rows k0..k0+kc, as one panel: panel[k * NR + c], zero past the last column.
// The forward's B is the weight read transposed (B.rs == 1): with AVX-512 a whole panel moves 16x16
// blocks through registers, which reads each weight row in cache-line runs (about twice as fast).
static void gemm_pack_b(real* panel, MatrixView B, int j0, int cols, int k0, int kc) {
#if defined(__AVX512F__) && !defined(REAL_DOUBLE)
    if (B.rs == 1 && cols == GEMM_NR && kc % 16 == 0) {
        for (int c0 = 0; c0 < GEMM_NR; c0 += 16) {
            for (int k = 0; k < kc; k += 16) {
                __m512 r[16];
                for (int c = 0; c < 16; c++) r[c] = _mm512_loadu_ps(B.p + (size_t)(j0 + c0 + c) * B.cs + k0 + k);
                transpose16x16(r);
                for (int i = 0; i < 16; i++) _mm512_storeu_ps(panel + (k + i) * GEMM_NR + c0, r[i]);
            }
        }
        return;
    }
#endif
    for (int k = 0; k < kc; k++) {
        const real* b = B.p + (size_t)(k0 + k) * B.rs + (size_t)j0 * B.cs;
        for (int c = 0; c < GEMM_NR; c++) panel[k * GEMM_NR + c] = c < cols ? b[c * B.cs] : 0;
    }
}

// c (MR rows ldc apart, NR columns) = a panel @ b panel (+ c when accumulate)
#if defined(__AVX512F__) && !defined(REAL_DOUBLE)
static void gemm_tile(int kc, const float* a, const float* b, float* c, size_t ldc, int accumulate) {
    __m512 acc[GEMM_MR][2];
    for (int r = 0; r < GEMM_MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++, a += GEMM_MR, b += GEMM_NR) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int r = 0; r < GEMM_MR; r++) {
            __m512 ar = _mm512_set1_ps(a[r]);
            acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < GEMM_MR; r++, c += ldc) {
        if (accumulate) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_loadu_ps(c));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_loadu_ps(c + 16));
        }
        _mm512_storeu_ps(c, acc[r][0]);
        _mm512_storeu_ps(c + 16, acc[r][1]);
    }
}
#else
// portable: the compiler vectorises the NR-wide rows (and the double build uses this)
static void gemm_tile(int kc, const real* a, const real* b, real* c, size_t ldc, int accumulate) {
    real acc[GEMM_MR][GEMM_NR] = {{0}};
    for (int k = 0; k < kc; k++, a += GEMM_MR, b += GEMM_NR) {
        for (int r = 0; r < GEMM_MR; r++) {
            for (int j = 0; j < GEMM_NR; j++) acc[r][j] += a[r] * b[j];
        }
    }
    for (int r = 0; r < GEMM_MR; r++) {
        for (int j = 0; j < GEMM_NR; j++) c[r * ldc + j] = acc[r][j] + (accumulate ? c[r * ldc + j] : 0);
    }
}
#endif

typedef enum {
    GEMM_SET,   // C = A @ B
    GEMM_ADD,   // C += A @ B
    GEMM_LOWER, // C = A @ B on and below the diagonal: tiles wholly above it are skipped (causal scores,
                // and symmetric products, which mirror_lower completes)
} GemmMode;

// C (M,N), rows ldc apart, = or += A @ B. A tile that overhangs C's edge is computed in a local tile and
// its valid part copied out. Called inside a parallel region (attention runs its products head by head,
// one head per thread), it runs on the calling thread alone, with its own blocks.
static void gemm(real* C, size_t ldc, MatrixView A, MatrixView B, int M, int N, int K, GemmMode mode) {
    if (K == 0) { // an empty sum (GTA with every key dim rotated has no k1 part)
        for (int i = 0; i < M && mode != GEMM_ADD; i++) memset(C + (size_t)i * ldc, 0, N * sizeof(real));
        return;
    }
    int nested = 0;
#ifdef _OPENMP
    nested = omp_in_parallel();
#endif
    real *a_block = gemm_a_block, *b_block = gemm_b_block;
    if (nested) {
        a_block = (real*)mallocCheck((size_t)round_up(imin(M, GEMM_MC), GEMM_MR) * imin(K, GEMM_KC) * sizeof(real));
        b_block = (real*)mallocCheck((size_t)round_up(imin(N, GEMM_NC), GEMM_NR) * imin(K, GEMM_KC) * sizeof(real));
    }
    #pragma omp parallel if (!nested)
    for (int jc = 0; jc < N; jc += GEMM_NC) {
        int nc = imin(GEMM_NC, N - jc), npanels = (nc + GEMM_NR - 1) / GEMM_NR;
        for (int pc = 0; pc < K; pc += GEMM_KC) {
            int kc = imin(GEMM_KC, K - pc), acc = mode == GEMM_ADD || pc > 0;
            #pragma omp for schedule(static)
            for (int j = 0; j < npanels; j++) {
                gemm_pack_b(b_block + (size_t)j * GEMM_NR * kc, B, jc + j * GEMM_NR, imin(GEMM_NR, nc - j * GEMM_NR), pc, kc);
            }
            for (int ic = 0; ic < M; ic += GEMM_MC) {
                int mc = imin(GEMM_MC, M - ic), mpanels = (mc + GEMM_MR - 1) / GEMM_MR;
                #pragma omp for schedule(static)
                for (int i = 0; i < mpanels; i++) {
                    gemm_pack_a(a_block + (size_t)i * GEMM_MR * kc, A, ic + i * GEMM_MR, imin(GEMM_MR, mc - i * GEMM_MR), pc, kc);
                }
                #pragma omp for collapse(2) schedule(static)
                for (int j = 0; j < npanels; j++) {
                    for (int i = 0; i < mpanels; i++) {
                        const real* a = a_block + (size_t)i * GEMM_MR * kc;
                        const real* b = b_block + (size_t)j * GEMM_NR * kc;
                        int rows = imin(GEMM_MR, mc - i * GEMM_MR), cols = imin(GEMM_NR, nc - j * GEMM_NR);
                        int row0 = ic + i * GEMM_MR, col0 = jc + j * GEMM_NR;
                        if (mode == GEMM_LOWER && row0 + rows - 1 < col0) continue;
                        real* c = C + (size_t)row0 * ldc + col0;
                        if (rows == GEMM_MR && cols == GEMM_NR) {
                            gemm_tile(kc, a, b, c, ldc, acc);
                        } else {
                            real tile[GEMM_MR * GEMM_NR];
                            gemm_tile(kc, a, b, tile, GEMM_NR, 0);
                            for (int r = 0; r < rows; r++) {
                                for (int q = 0; q < cols; q++) c[r * ldc + q] = tile[r * GEMM_NR + q] + (acc ? c[r * ldc + q] : 0);
                            }
                        }
                    }
                }
            }
        }
    }
    if (nested) {
        free(a_block);
        free(b_block);
    }
}

// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC,) or no bias
static void matmul_forward(real* out, const real* inp, const real* weight, const real* bias, int N, int C, int OC) {
    if (N < GEMM_MR) { // decoding: fewer rows than a register tile, and packing would cost more than it saves
        matmul_forward_reference(out, inp, weight, bias, N, C, OC);
        return;
    }
    if (bias) {
        #pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, OC * sizeof(real));
    }
    MatrixView x = {inp, (size_t)C, 1}, w = {weight, (size_t)C, 1};
    gemm(out, OC, x, transposed(w), N, OC, C, bias ? GEMM_ADD : GEMM_SET);
}

// dinp (N,C) = dout (N,OC) @ weight (OC,C); dweight (OC,C) += dout^T @ inp; dbias (OC,) += column sums
// of dout (a block of columns per thread, as in layernorm_backward), or no bias.
static void matmul_backward(real* dinp, real* dweight, real* dbias, const real* dout, const real* inp,
                            const real* weight, int N, int C, int OC) {
    MatrixView dy = {dout, (size_t)OC, 1}, w = {weight, (size_t)C, 1}, x = {inp, (size_t)C, 1};
    gemm(dinp, C, dy, w, N, C, OC, GEMM_SET);
    gemm(dweight, C, transposed(dy), x, OC, C, N, GEMM_ADD);
    if (dbias == NULL) return;
    #pragma omp parallel for schedule(static)
    for (int o0 = 0; o0 < OC; o0 += COLUMN_BLOCK) {
        int width = imin(COLUMN_BLOCK, OC - o0);
        real sum[COLUMN_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            for (int o = 0; o < width; o++) sum[o] += dout[(size_t)n * OC + o0 + o];
        }
        for (int o = 0; o < width; o++) dbias[o0 + o] += sum[o];
    }
}

// RoPE, rotate-half layout: within each head's first rot_dim dims, the pair (i, i + rot_dim/2) is
// rotated by the angle pos * theta^(-2i/rot_dim). x (B,T,row_stride) holds num_heads vectors per row,
// head_stride apart; the row at time t has position pos0 + t. cos, sin (maxT, rot_dim/2).
// sign = +1 rotates forward, -1 applies the inverse (transposed) rotation.
static void rope_rotate(real* x, const real* cos_table, const real* sin_table, int B, int T, int pos0, int num_heads,
                        int row_stride, int head_stride, int rot_dim, real sign) {
    int half = rot_dim / 2;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const real* c = cos_table + (size_t)(pos0 + t) * half;
            const real* s = sin_table + (size_t)(pos0 + t) * half;
            for (int h = 0; h < num_heads; h++) {
                real* v = x + ((size_t)b * T + t) * row_stride + (size_t)h * head_stride;
                for (int i = 0; i < half; i++) {
                    real x1 = v[i], x2 = v[i + half];
                    v[i] = x1 * c[i] - sign * x2 * s[i];
                    v[i + half] = x2 * c[i] + sign * x1 * s[i];
                }
            }
        }
    }
}

// y = R x in place (arguments as rope_rotate)
static void rope_forward(real* x, const real* cos_table, const real* sin_table, int B, int T, int pos0,
                         int num_heads, int row_stride, int head_stride, int rot_dim) {
    rope_rotate(x, cos_table, sin_table, B, T, pos0, num_heads, row_stride, head_stride, rot_dim, 1);
}

// dx = R^T dy in place: dx = dy*cos - rot(dy*sin) inverts the rotation of rope_forward
static void rope_backward(real* dx, const real* cos_table, const real* sin_table, int B, int T, int pos0,
                          int num_heads, int row_stride, int head_stride, int rot_dim) {
    rope_rotate(dx, cos_table, sin_table, B, T, pos0, num_heads, row_stride, head_stride, rot_dim, -1);
}

// The causal attention core every variant shares, in training (Tq == Tk == T) and in KV-cache decoding
// (Tq == 1, Tk = position + 1): query row t sits at position t + Tk - Tq and sees keys 0..that.
// Query head h reads kv head h / (H/Hkv). A query head is d1 dims scored against its kv head's key k1,
// then d2 dims scored against k2, a key shared by all heads (the decoupled RoPE key of GTA, MLA, GLA):
//     score = scale * (q[:d1] . k1 + q[d1:] . k2),   out = softmax(scores) @ v
// The reference core, plain loops along each head.
// q (B,Tq,q_stride): head h at h*(d1+d2)          k1 (B,Tk,k1_stride): kv head g at g*k1_head
// k2 (B,Tk,k2_stride), or NULL when d2 = 0       v (B,Tk,v_stride): kv head g at g*v_head, dv wide
// out (B,Tq,out_stride): head h at h*dv          att (B,H,Tq,Tk): probabilities, zero above the diagonal
static void attention_forward_reference(real* out, real* att, const real* q, const real* k1, const real* k2, const real* v,
                                        int B, int Tq, int Tk, const AttentionDims* d) {
    int H = d->H, group = d->H / d->Hkv, d1 = d->d1, d2 = d->d2;
    #pragma omp parallel for collapse(3) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < Tq; t++) {
            for (int h = 0; h < H; h++) {
                int g = h / group, last = t + Tk - Tq;
                const real* qh = q + ((size_t)b * Tq + t) * d->q_stride + (size_t)h * (d1 + d2);
                real* a = att + (((size_t)b * H + h) * Tq + t) * Tk;
                real maxval = -INFINITY;
                for (int s = 0; s <= last; s++) {
                    const real* kh = k1 + ((size_t)b * Tk + s) * d->k1_stride + (size_t)g * d->k1_head;
                    real dot = 0;
                    for (int i = 0; i < d1; i++) dot += qh[i] * kh[i];
                    if (d2 > 0) {
                        const real* kr = k2 + ((size_t)b * Tk + s) * d->k2_stride;
                        for (int i = 0; i < d2; i++) dot += qh[d1 + i] * kr[i];
                    }
                    a[s] = dot * (real)d->scale;
                    if (a[s] > maxval) maxval = a[s];
                }
                real sum = 0;
                for (int s = 0; s <= last; s++) {
                    a[s] = exp(a[s] - maxval);
                    sum += a[s];
                }
                for (int s = 0; s <= last; s++) a[s] /= sum;
                for (int s = last + 1; s < Tk; s++) a[s] = 0;
                real* o = out + ((size_t)b * Tq + t) * d->out_stride + (size_t)h * d->dv;
                for (int i = 0; i < d->dv; i++) o[i] = 0;
                for (int s = 0; s <= last; s++) {
                    const real* vh = v + ((size_t)b * Tk + s) * d->v_stride + (size_t)g * d->v_head;
                    for (int i = 0; i < d->dv; i++) o[i] += a[s] * vh[i];
                }
            }
        }
    }
}

// dk2 (B,T,k2_stride) += the shared key's gradient that each (b, kv head) pair left in its scratch block
// (B,Hkv,T,1+d2) at offset T, summed over kv heads in order
static void attention_add_shared_key_grads(real* dk2, const real* scratch, int B, int T, const AttentionDims* d) {
    int Hkv = d->Hkv, d2 = d->d2;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int s = 0; s < T; s++) {
            real* dkr = dk2 + ((size_t)b * T + s) * d->k2_stride;
            for (int g = 0; g < Hkv; g++) {
                const real* part = scratch + ((size_t)b * Hkv + g) * T * (1 + d2) + T + (size_t)s * d2;
                for (int i = 0; i < d2; i++) dkr[i] += part[i];
            }
        }
    }
}

// Training only (Tq == Tk == T); dq has q's layout, dk1/dk2/dv those of k1/k2/v. dq is written; dk1, dk2
// and dv accumulate (+=), so a kv head read by several query heads, and k2 read by all of them, get the
// sum of their gradients, and dk1 may alias dv (GTA's tied state is both). Threads split (b, kv head)
// pairs; k2's gradient is summed per kv head in scratch (B,Hkv,T,1+d2), then over kv heads in a fixed
// order: the result does not depend on the thread count.
static void attention_backward_reference(real* dq, real* dk1, real* dk2, real* dv, real* scratch, const real* dout,
                                         const real* att, const real* q, const real* k1, const real* k2,
                                         const real* v, int B, int T, const AttentionDims* d) {
    int H = d->H, Hkv = d->Hkv, group = d->H / d->Hkv, d1 = d->d1, d2 = d->d2;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int g = 0; g < Hkv; g++) {
            real* datt = scratch + ((size_t)b * Hkv + g) * T * (1 + d2);
            real* dk2_part = datt + T; // (T, d2)
            memset(dk2_part, 0, (size_t)T * d2 * sizeof(real));
            for (int h = g * group; h < (g + 1) * group; h++) {
                for (int t = 0; t < T; t++) {
                    const real* a = att + (((size_t)b * H + h) * T + t) * T;
                    const real* dy = dout + ((size_t)b * T + t) * d->out_stride + (size_t)h * d->dv;
                    const real* qh = q + ((size_t)b * T + t) * d->q_stride + (size_t)h * (d1 + d2);
                    real* dqh = dq + ((size_t)b * T + t) * d->q_stride + (size_t)h * (d1 + d2);
                    // out = sum_s a[s] v_s  =>  datt[s] = dy . v_s,  dv_s += a[s] dy
                    real datt_dot_att = 0;
                    for (int s = 0; s <= t; s++) {
                        const real* vh = v + ((size_t)b * T + s) * d->v_stride + (size_t)g * d->v_head;
                        real* dvh = dv + ((size_t)b * T + s) * d->v_stride + (size_t)g * d->v_head;
                        real dot = 0;
                        for (int i = 0; i < d->dv; i++) dot += dy[i] * vh[i];
                        for (int i = 0; i < d->dv; i++) dvh[i] += a[s] * dy[i];
                        datt[s] = dot;
                        datt_dot_att += dot * a[s];
                    }
                    // a = softmax(scores)  =>  dscore[s] = a[s] (datt[s] - sum_r a[r] datt[r])
                    for (int i = 0; i < d1 + d2; i++) dqh[i] = 0;
                    for (int s = 0; s <= t; s++) {
                        real dscore = a[s] * (datt[s] - datt_dot_att) * (real)d->scale;
                        const real* kh = k1 + ((size_t)b * T + s) * d->k1_stride + (size_t)g * d->k1_head;
                        real* dkh = dk1 + ((size_t)b * T + s) * d->k1_stride + (size_t)g * d->k1_head;
                        for (int i = 0; i < d1; i++) {
                            dqh[i] += dscore * kh[i];
                            dkh[i] += dscore * qh[i];
                        }
                        if (d2 > 0) {
                            const real* kr = k2 + ((size_t)b * T + s) * d->k2_stride;
                            for (int i = 0; i < d2; i++) {
                                dqh[d1 + i] += dscore * kr[i];
                                dk2_part[(size_t)s * d2 + i] += dscore * qh[d1 + i];
                            }
                        }
                    }
                }
            }
        }
    }
    if (d2 > 0) attention_add_shared_key_grads(dk2, scratch, B, T, d);
}

// The fast core: per head, the same arithmetic as products of small matrices through the GEMM (on strided
// views of the rows, one head per thread), and the softmax and its backward as vector loops along the
// keys. Above the diagonal the probabilities are zero, so the products run over whole rows and those
// terms add exact zeros.
//     scores S = Q1 K1^T + Q2 K2^T (Tq, Tk),  P = softmax(scale S),  out = P V

// the views of head h's queries (d1 and d2 parts), kv head g's keys (k1, k2) and values, in sequence b
typedef struct {
    MatrixView q1, q2, k1, k2, v;
} HeadViews;

static HeadViews head_views(const real* q, const real* k1, const real* k2, const real* v, int b, int h, int Tq, int Tk,
                            const AttentionDims* d) {
    int g = h / (d->H / d->Hkv);
    const real* qh = q + (size_t)b * Tq * d->q_stride + (size_t)h * (d->d1 + d->d2);
    HeadViews w = {{qh, (size_t)d->q_stride, 1},
                   {qh + d->d1, (size_t)d->q_stride, 1},
                   {k1 + (size_t)b * Tk * d->k1_stride + (size_t)g * d->k1_head, (size_t)d->k1_stride, 1},
                   {k2 ? k2 + (size_t)b * Tk * d->k2_stride : NULL, (size_t)d->k2_stride, 1},
                   {v + (size_t)b * Tk * d->v_stride + (size_t)g * d->v_head, (size_t)d->v_stride, 1}};
    return w;
}

// Arguments as attention_forward_reference. Threads take whole heads.
static void attention_forward(real* out, real* att, const real* q, const real* k1, const real* k2, const real* v,
                              int B, int Tq, int Tk, const AttentionDims* d) {
    if (Tq < GEMM_MR) { // decoding: fewer query rows than a register tile, and the plain loops are faster
        attention_forward_reference(out, att, q, k1, k2, v, B, Tq, Tk, d);
        return;
    }
    int H = d->H;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            HeadViews w = head_views(q, k1, k2, v, b, h, Tq, Tk, d);
            real* S = att + ((size_t)b * H + h) * Tq * Tk;
            gemm(S, Tk, w.q1, transposed(w.k1), Tq, Tk, d->d1, Tq == Tk ? GEMM_LOWER : GEMM_SET);
            if (d->d2 > 0) gemm(S, Tk, w.q2, transposed(w.k2), Tq, Tk, d->d2, GEMM_ADD);
            for (int t = 0; t < Tq; t++) {
                int n = t + Tk - Tq + 1; // keys this row sees
                real* a = S + (size_t)t * Tk;
                real maxval = -INFINITY, sum = 0;
                #pragma omp simd reduction(max : maxval) // a max in any order is exact: this lets it vectorise
                for (int s = 0; s < n; s++) maxval = a[s] > maxval ? a[s] : maxval;
                for (int s = 0; s < n; s++) {
                    a[s] = exp_vec((a[s] - maxval) * (real)d->scale);
                    sum += a[s];
                }
                for (int s = 0; s < n; s++) a[s] /= sum;
                for (int s = n; s < Tk; s++) a[s] = 0;
            }
            MatrixView p = {S, (size_t)Tk, 1};
            gemm(out + (size_t)b * Tq * d->out_stride + (size_t)h * d->dv, d->out_stride, p, w.v, Tq, d->dv, Tk, GEMM_SET);
        }
    }
}

// Arguments as attention_backward_reference. Threads take (b, kv head) pairs, whose key and value
// gradients collect the products of the kv head's query heads in order; the RoPE key's share goes to
// scratch per pair and is summed over kv heads in order, as in the reference. Each thread holds one
// head's score gradients (T, T).
//     dP = dout V^T,  dS = P (dP - rowsum(P dP)) scale,  dQ = dS K,  dK += dS^T Q,  dV += P^T dout
static void attention_backward(real* dq, real* dk1, real* dk2, real* dv, real* scratch, const real* dout,
                               const real* att, const real* q, const real* k1, const real* k2, const real* v,
                               int B, int T, const AttentionDims* d) {
    int H = d->H, Hkv = d->Hkv, group = H / Hkv, d1 = d->d1, d2 = d->d2;
    #pragma omp parallel
    {
        real* dS = (real*)mallocCheck((size_t)T * T * sizeof(real));
        MatrixView ds = {dS, (size_t)T, 1};
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int g = 0; g < Hkv; g++) {
                real* dk2_part = scratch + ((size_t)b * Hkv + g) * T * (1 + d2) + T; // (T, d2)
                for (int h = g * group; h < (g + 1) * group; h++) {
                    HeadViews w = head_views(q, k1, k2, v, b, h, T, T, d);
                    const real* P = att + ((size_t)b * H + h) * T * T;
                    MatrixView p = {P, (size_t)T, 1}, dy = {dout + (size_t)b * T * d->out_stride + (size_t)h * d->dv, (size_t)d->out_stride, 1};
                    gemm(dS, T, dy, transposed(w.v), T, T, d->dv, GEMM_LOWER);
                    for (int t = 0; t < T; t++) {
                        const real* a = P + (size_t)t * T;
                        real* r = dS + (size_t)t * T;
                        real dot = 0;
                        for (int s = 0; s <= t; s++) dot += a[s] * r[s];
                        for (int s = 0; s <= t; s++) r[s] = a[s] * (r[s] - dot) * (real)d->scale;
                        for (int s = t + 1; s < T; s++) r[s] = 0;
                    }
                    real* dqh = dq + (size_t)b * T * d->q_stride + (size_t)h * (d1 + d2);
                    gemm(dqh, d->q_stride, ds, w.k1, T, d1, T, GEMM_SET);
                    gemm(dk1 + (size_t)b * T * d->k1_stride + (size_t)g * d->k1_head, d->k1_stride, transposed(ds), w.q1, T, d1, T, GEMM_ADD);
                    if (d2 > 0) {
                        gemm(dqh + d1, d->q_stride, ds, w.k2, T, d2, T, GEMM_SET);
                        gemm(dk2_part, d2, transposed(ds), w.q2, T, d2, T, h > g * group ? GEMM_ADD : GEMM_SET);
                    }
                    gemm(dv + (size_t)b * T * d->v_stride + (size_t)g * d->v_head, d->v_stride, transposed(p), dy, T, d->dv, T, GEMM_ADD);
                }
            }
        }
        free(dS);
    }
    if (d2 > 0) attention_add_shared_key_grads(dk2, scratch, B, T, d);
}

#define GELU_SCALING_FACTOR 0.7978845608028654f // sqrt(2 / pi)

// The reference GELU: out (N,) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), GPT-2's tanh
// approximation, with libm's tanh.
static void gelu_forward_reference(real* out, const real* inp, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        real x = inp[i];
        out[i] = 0.5f * x * (1 + tanh(GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x)));
    }
}

// dinp (N,) = dout * gelu'(inp); dinp may be dout itself
static void gelu_backward_reference(real* dinp, const real* inp, const real* dout, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        real x = inp[i];
        real u = GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x);
        real th = tanh(u);
        real sech2 = 1 - th * th;
        real local_grad = 0.5f * (1 + th) + 0.5f * x * sech2 * GELU_SCALING_FACTOR * (1 + 3 * 0.044715f * x * x);
        dinp[i] = local_grad * dout[i];
    }
}

// The same function vectorised: 0.5 (1 + tanh u) = sigmoid(2u), so gelu = x s with s = sigmoid(2u), and
// gelu' = s + 2 x u' s (1 - s). Both come from e = exp_vec(-2|u|) <= 1, which neither overflows nor
// cancels: with r = 1 / (1 + e), s = r (u >= 0) or e r (u < 0), and s (1 - s) = e r^2.
static inline real gelu_sigmoid(real x, real* s_one_minus_s) {
    real u = GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x);
    real e = exp_vec(-2 * fabs(u)), r = 1 / (1 + e);
    *s_one_minus_s = e * r * r;
    return u >= 0 ? r : e * r;
}

static void gelu_forward(real* out, const real* inp, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        real unused;
        out[i] = inp[i] * gelu_sigmoid(inp[i], &unused);
    }
}

// dinp (N,) = dout * gelu'(inp); dinp may be dout itself
static void gelu_backward(real* dinp, const real* inp, const real* dout, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        real x = inp[i], s_one_minus_s, s = gelu_sigmoid(x, &s_one_minus_s);
        real du = GELU_SCALING_FACTOR * (1 + 3 * 0.044715f * x * x);
        dinp[i] = (s + 2 * x * du * s_one_minus_s) * dout[i];
    }
}

// out (N,) = a + b; out may alias a or b. Its backward passes the gradient to both inputs unchanged,
// which the model's backward does by sharing the residual stream's gradient buffer.
static void residual_forward(real* out, const real* a, const real* b, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}

// The reference cross-entropy: losses (N,) = -log softmax(logits[:V])[target]. logits (N,Vp); the padded
// columns are ignored.
static void crossentropy_forward_reference(real* losses, const real* logits, const int* targets, int N, int V, int Vp) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* l = logits + (size_t)n * Vp;
        real maxval = -INFINITY;
        for (int i = 0; i < V; i++) maxval = l[i] > maxval ? l[i] : maxval;
        real sum = 0;
        for (int i = 0; i < V; i++) sum += exp(l[i] - maxval);
        losses[n] = log(sum) + maxval - l[targets[n]];
    }
}

// dlogits (N,Vp) = (softmax(logits) - onehot(target)) * dloss, zero in the padded columns; dloss is the
// gradient of each position's loss (1/N for the mean). dlogits may be logits itself (in place).
static void crossentropy_backward_reference(real* dlogits, const real* logits, const int* targets, real dloss, int N,
                                            int V, int Vp) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* l = logits + (size_t)n * Vp;
        real* dl = dlogits + (size_t)n * Vp;
        real maxval = -INFINITY;
        for (int i = 0; i < V; i++) maxval = l[i] > maxval ? l[i] : maxval;
        real sum = 0;
        for (int i = 0; i < V; i++) sum += exp(l[i] - maxval);
        for (int i = 0; i < V; i++) dl[i] = (exp(l[i] - maxval) / sum - (i == targets[n])) * dloss;
        for (int i = V; i < Vp; i++) dl[i] = 0;
    }
}

// The fused softmax + cross-entropy: the forward keeps each row's log-sum-exp lse (N,), so that the
// backward writes the gradient exp(logit - lse) - onehot in a single pass and no softmax is stored. A
// row (200 KB at V = 50257) stays in L2 between the forward's max and sum passes, so the vocabulary-sized
// logits come from memory once in each direction.
// losses (N,) = lse - logits[target]; logits (N,Vp), the padded columns ignored.
static void crossentropy_forward(real* losses, real* lse, const real* logits, const int* targets, int N, int V, int Vp) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* l = logits + (size_t)n * Vp;
        real maxval = -INFINITY;
        #pragma omp simd reduction(max : maxval) // a max in any order is exact: this lets it vectorise
        for (int i = 0; i < V; i++) maxval = l[i] > maxval ? l[i] : maxval;
        real sum = 0;
        for (int i = 0; i < V; i++) sum += exp_vec(l[i] - maxval);
        lse[n] = maxval + log(sum);
        losses[n] = lse[n] - l[targets[n]];
    }
}

// dlogits (N,Vp) = (exp(logits - lse) - onehot(target)) * dloss, zero in the padded columns; dlogits may
// be logits itself (in place).
static void crossentropy_backward(real* dlogits, const real* lse, const real* logits, const int* targets, real dloss,
                                  int N, int V, int Vp) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* l = logits + (size_t)n * Vp;
        real* dl = dlogits + (size_t)n * Vp;
        for (int i = 0; i < V; i++) dl[i] = exp_vec(l[i] - lse[n]) * dloss;
        for (int i = V; i < Vp; i++) dl[i] = 0;
        dl[targets[n]] -= dloss;
    }
}

// ----------------------------------------------------------------------------
// GPT model definition

// The parameter tensors (ParameterTensors, layer_params) are llmc/model_tensors.h's.

// What one block keeps for N = B*T rows: training saves these for the backward (L of them in one block
// of memory); decoding holds one set for a single row and reuses it in every layer. A variant leaves the
// fields it does not use empty.
typedef struct {
    real* ln1;        // (N, C)
    real* ln1_mean;   // (N,)
    real* ln1_rstd;   // (N,)
    real* qkv;        // (N, Dqkv) fused projection, RoPE applied          MHA/GQA/MQA/GTA
    real* qlat;       // (N, rq) compressed query                           MLA/GLA, rq > 0
    real* qlat_norm;  // (N, rq)
    real* qlat_rstd;  // (N,)
    real* q;          // (N, H*(dh+dR)) queries, RoPE applied               MLA/GLA
    real* kvlat;      // (N, n*dc+dR) latent groups and the rotated RoPE key
    real* kvlat_norm; // (n, N, dc) normalised groups, group-major           training
    real* kvlat_rstd; // (n, N)
    real* ukv;        // (n, N, (H/n)*2*dh) per group: [k_nope | v] of its heads  training
    real* att;        // (B, H, T, Tk) softmax probabilities
    real* atty;       // (N, H*dh) attention output before its projection
    real* q_absorbed; // (H, dc+dR) queries absorbed into the key up-projection   MLA/GLA decoding
    real* ctx;        // (H, dc) attention-weighted latent per head                 MLA/GLA decoding
    real* residual2;  // (N, C) residual + attention
    real* ln2;        // (N, C)
    real* ln2_mean;   // (N,)
    real* ln2_rstd;   // (N,)
    real* fch;        // (N, F) MLP pre-activation
    real* fch_gelu;   // (N, F)
    real* residual3;  // (N, C) the block's output
} BlockActivations;

#define NUM_BLOCK_ACTIVATIONS 23

// sizes of the BlockActivations fields for B*T rows attending over Tk keys, for training or decoding
static void block_activation_sizes(size_t sizes[NUM_BLOCK_ACTIVATIONS], const GPTConfig* c, int B, int T, int Tk,
                                   int decoding) {
    size_t N = (size_t)B * T, C = c->channels, H = c->num_heads, dh = c->head_dim, F = c->mlp_hidden;
    size_t lat = is_latent(c), rq = c->q_rank, n = c->latent_groups, dc = c->latent_dim, dR = c->rope_dim;
    size_t train_lat = lat && !decoding, decode_lat = lat && decoding;
    size_t s[NUM_BLOCK_ACTIVATIONS] = {
        N * C, N, N, N * qkv_width(c), N * rq, N * rq, rq > 0 ? N : 0, lat * N * H * (dh + dR), lat * N * latent_width(c),
        train_lat * N * n * dc, train_lat * n * N, train_lat * N * 2 * H * dh, B * H * T * Tk, N * H * dh,
        decode_lat * H * (dc + dR), decode_lat * H * dc, N * C, N * C, N, N, N * F, N * F, N * C};
    memcpy(sizes, s, sizeof(s));
}

// points acts[0..L) into memory, layer after layer; returns the elements used (memory NULL: just count)
static size_t point_block_activations(BlockActivations* acts, int L, const size_t sizes[NUM_BLOCK_ACTIVATIONS], real* memory) {
    size_t used = 0;
    for (int l = 0; l < L; l++) {
        BlockActivations* a = &acts[l];
        real** ptrs[NUM_BLOCK_ACTIVATIONS] = {
            &a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->qlat, &a->qlat_norm, &a->qlat_rstd, &a->q, &a->kvlat,
            &a->kvlat_norm, &a->kvlat_rstd, &a->ukv, &a->att, &a->atty, &a->q_absorbed, &a->ctx, &a->residual2,
            &a->ln2, &a->ln2_mean, &a->ln2_rstd, &a->fch, &a->fch_gelu, &a->residual3};
        for (int i = 0; i < NUM_BLOCK_ACTIVATIONS; i++) {
            *ptrs[i] = memory && sizes[i] ? memory + used : NULL;
            used += sizes[i];
        }
    }
    return used;
}

// Training activations for (B, T), and the backward's scratch, which every layer reuses.
typedef struct {
    real* encoded;      // (N, C)
    BlockActivations* blocks; // (L,)
    real* lnf;          // (N, C)
    real* lnf_mean;     // (N,)
    real* lnf_rstd;     // (N,)
    real* logits;       // (N, Vp); the backward overwrites it with dlogits
    real* losses;       // (N,)
    real* lse;          // (N,) log-sum-exp of each row of logits, for the backward
    real* proj;         // (N, C) attention/MLP output projection before the residual add
    // backward scratch
    real* dresidual;    // (N, C) gradient of the residual stream
    real* dln;          // (N, C)
    real* dln_q;        // (N, C) the query path's share of dln1 (MLA/GLA)
    real* datty;        // (N, H*dh)
    real* dqkv;         // (N, Dqkv)
    real* dq;           // (N, H*(dh+dR))
    real* dqlat;        // (N, rq)
    real* dqlat_norm;   // (N, rq)
    real* dkvlat;       // (N, n*dc+dR)
    real* dkvlat_norm;  // (N, dc), one group at a time
    real* dukv;         // (n, N, (H/n)*2*dh)
    real* dfch;         // (N, F)
    real* attn_scratch; // (B, Hkv, T, 1+d2) of the attention core
} ActivationTensors;

typedef struct {
    GPTConfig config;
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    size_t num_parameters;
    ParameterTensors params;
    real* params_memory;
    ParameterTensors grads;
    real* grads_memory;
    // optimizer state in units (llmc/distributed.h): AdamW's moments, or Muon's momentum in m, each unit
    // packed; under ZeRO-1 this process keeps and updates only the units it owns
    OptimizerPlan plan; // its units, and which are this process's
    real* m_memory;
    real* v_memory;
    real* muon_scratch; // the largest Muon block's working space
    // RoPE tables (maxT, dR/2), NULL without RoPE
    real* rope_cos;
    real* rope_sin;
    // activations, sized once for (B, T) by gpt_allocate_activations
    int batch_size, seq_len;
    ActivationTensors acts;
    real* acts_memory;
    const int* inputs;  // (B, T) of the last forward
    const int* targets; // (B, T) or NULL
    float mean_loss;    // of the last forward with targets
} GPT;

// Allocates parameters and gradients (one block each) for a config, zero-filled; gpt_setup_optimizer
// adds the optimizer state.
static void gpt_build(GPT* model, const GPTConfig* config) {
    memset(model, 0, sizeof(*model));
    model->config = *config;
    gpt_param_specs(config, model->specs);
    model->num_parameters = gpt_num_parameters(config);
    fitsInMemoryCheck(2.0 * model->num_parameters * sizeof(real), "the parameters and their gradients",
                         "choose a smaller model (--layers, --channels, --mlp-hidden, --latent-dim, --q-rank)");
    model->params_memory = (real*)callocCheck(model->num_parameters, sizeof(real));
    model->grads_memory = (real*)callocCheck(model->num_parameters, sizeof(real));
    point_parameters(&model->params, model->specs, model->params_memory);
    point_parameters(&model->grads, model->specs, model->grads_memory);
    if (config->rope_dim > 0) { // frequencies theta^(-2i/dR) over the rotated width
        int half = config->rope_dim / 2;
        model->rope_cos = (real*)mallocCheck((size_t)config->max_seq_len * half * sizeof(real));
        model->rope_sin = (real*)mallocCheck((size_t)config->max_seq_len * half * sizeof(real));
        for (int p = 0; p < config->max_seq_len; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * pow((double)config->rope_theta, -2.0 * i / config->rope_dim);
                model->rope_cos[p * half + i] = (real)cos(angle);
                model->rope_sin[p * half + i] = (real)sin(angle);
            }
        }
    }
}

static void gpt_free(GPT* model) {
    free(model->params_memory);
    free(model->grads_memory);
    free(model->m_memory);
    free(model->v_memory);
    free(model->muon_scratch);
    free(model->rope_cos);
    free(model->rope_sin);
    free(model->acts.blocks);
    free(model->acts_memory);
}

// GPT-2 init (llmc/gpt.h), the same draws as the CUDA trainer's for the same seed
static void gpt_init_random(GPT* model, uint64_t seed) { gpt_init_params(model->params_memory, sizeof(real), &model->config, seed); }

// the attention core's scratch for a backward over (B, T): (B, Hkv, T, 1+d2) of the core's calls
static size_t attention_scratch_size(const GPTConfig* c, int B, int T) {
    if (is_latent(c)) return (size_t)B * (c->num_heads / c->latent_groups) * T * (1 + c->rope_dim); // one group at a time
    int d2 = c->attn == ATTN_GTA ? c->rope_dim : 0;
    return (size_t)B * c->num_kv_heads * T * (1 + d2);
}

// Sizes and allocates the training activations (one block) for micro-batches of (B, T).
static void gpt_allocate_activations(GPT* model, int B, int T) {
    const GPTConfig* c = &model->config;
    if (T > c->max_seq_len) {
        die_hint("lower -t, or train a model with a larger --max-seq-len",
                 "sequence length -t %d exceeds the model's maximum %d", T, c->max_seq_len);
    }
    size_t N = (size_t)B * T, C = c->channels, L = c->num_layers, H = c->num_heads, dh = c->head_dim;
    size_t lat = is_latent(c), rq = c->q_rank;
    size_t block_sizes[NUM_BLOCK_ACTIVATIONS];
    block_activation_sizes(block_sizes, c, B, T, T, 0);
    ActivationTensors* a = &model->acts;
    a->blocks = (BlockActivations*)mallocCheck(L * sizeof(BlockActivations));
    size_t blocks = point_block_activations(a->blocks, (int)L, block_sizes, NULL);
    real** ptrs[] = {&a->encoded, &a->lnf, &a->lnf_mean, &a->lnf_rstd, &a->logits, &a->losses, &a->lse, &a->proj, &a->dresidual,
                     &a->dln, &a->dln_q, &a->datty, &a->dqkv, &a->dq, &a->dqlat, &a->dqlat_norm, &a->dkvlat,
                     &a->dkvlat_norm, &a->dukv, &a->dfch, &a->attn_scratch};
    size_t sizes[] = {N * C, N * C, N, N, N * c->padded_vocab_size, N, N, N * C, N * C,
                      N * C, lat * N * C, N * H * dh, N * qkv_width(c), lat * N * H * qk_head_dim(c), N * rq, N * rq,
                      lat * N * latent_width(c), lat * N * c->latent_dim, lat * N * 2 * H * dh, N * c->mlp_hidden,
                      attention_scratch_size(c, B, T)};
    size_t total = blocks;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) total += sizes[i];
    char what[128];
    snprintf(what, sizeof(what), "the parameters, gradients, optimizer state and activations for B=%d T=%d", B, T);
    fitsInMemoryCheck(((double)total + 2.0 * model->num_parameters + 2.0 * model->plan.state_size) * sizeof(real), what,
                         "lower -b (use -d for the same tokens per step) or -t, or choose a smaller model");
    model->acts_memory = (real*)callocCheck(total, sizeof(real));
    point_block_activations(a->blocks, (int)L, block_sizes, model->acts_memory);
    real* next = model->acts_memory + blocks;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        *ptrs[i] = sizes[i] ? next : NULL;
        next += sizes[i];
    }
    model->batch_size = B;
    model->seq_len = T;
}

// ----------------------------------------------------------------------------
// attention of each variant: from ln1 (N,C) to atty (N,H*dh)

// -- MHA, GQA, MQA and GTA: one fused projection x -> [q (H heads) | kv part]. The kv part ([K | V], or
// GTA's [S | kr]) is exactly what the KV cache keeps for a token.

// RoPE on the fused rows (B,T,Dqkv) at positions pos0..: the rotated slice of each query head, then the
// keys: every key head's first dR dims (MHA/GQA/MQA) or the one RoPE key (GTA). sign -1 inverts it.
static void fused_rope(const GPT* model, real* qkv, int B, int T, int pos0, real sign) {
    const GPTConfig* c = &model->config;
    if (c->rope_dim == 0) return;
    FusedLayout f = fused_layout(c, qkv_width(c));
    int H = c->num_heads, dh = c->head_dim, Dqkv = qkv_width(c);
    rope_rotate(qkv + f.q_rope, model->rope_cos, model->rope_sin, B, T, pos0, H, Dqkv, dh, c->rope_dim, sign);
    rope_rotate(qkv + H * dh + f.k_rope, model->rope_cos, model->rope_sin, B, T, pos0, f.k_rope_heads, Dqkv, dh, c->rope_dim, sign);
}

// ln1 -> atty through the fused projection. With a cache (maxT, kv part) this decodes one row at pos0:
// its kv part is appended and attention reads the cache.
static void fused_attention_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int T,
                                    int pos0, real* cache) {
    const GPTConfig* c = &model->config;
    int H = c->num_heads, dh = c->head_dim, Dqkv = qkv_width(c);
    matmul_forward(acts->qkv, acts->ln1, p->qkvw, p->qkvb, B * T, c->channels, Dqkv);
    fused_rope(model, acts->qkv, B, T, pos0, 1);
    const real* kv = acts->qkv + H * dh;
    int kv_stride = Dqkv, Tk = T;
    if (cache) {
        int E = (int)gpt_kv_elements_per_token_layer(c);
        memcpy(cache + (size_t)pos0 * E, kv, E * sizeof(real));
        kv = cache;
        kv_stride = E;
        Tk = pos0 + 1;
    }
    FusedLayout f = fused_layout(c, kv_stride);
    attention_forward(acts->atty, acts->att, acts->qkv, kv + f.k1, f.k2 >= 0 ? kv + f.k2 : NULL, kv + f.v, B, T, Tk, &f.dims);
}

// datty -> dln (written), accumulating the projection's weight gradients into g
static void fused_attention_backward(GPT* model, const ParameterTensors* p, const ParameterTensors* g,
                                     const BlockActivations* acts, int B, int T) {
    const GPTConfig* c = &model->config;
    ActivationTensors* s = &model->acts;
    int N = B * T, H = c->num_heads, dh = c->head_dim, Dqkv = qkv_width(c);
    FusedLayout f = fused_layout(c, Dqkv);
    const real* kv = acts->qkv + H * dh;
    real* dkv = s->dqkv + H * dh;
    // atty = attention(rope(qkv)): the core accumulates into the kv part
    memset(s->dqkv, 0, (size_t)N * Dqkv * sizeof(real));
    attention_backward(s->dqkv, dkv + f.k1, f.k2 >= 0 ? dkv + f.k2 : NULL, dkv + f.v, s->attn_scratch, s->datty, acts->att,
                       acts->qkv, kv + f.k1, f.k2 >= 0 ? kv + f.k2 : NULL, kv + f.v, B, T, &f.dims);
    fused_rope(model, s->dqkv, B, T, 0, -1);
    // qkv = ln1 @ qkvw^T + qkvb
    matmul_backward(s->dln, g->qkvw, g->qkvb, s->dqkv, acts->ln1, p->qkvw, N, c->channels, Dqkv);
}

// -- MLA and GLA: queries (through a normalised low-rank bottleneck unless rq = 0), and a latent of n
// normalised groups plus one RoPE key; group g up-projects into k_nope and v for its H/n heads.

// ln1 -> q (N, H*(dh+dR)), rotated at positions pos0..
static void latent_queries_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int T, int pos0) {
    const GPTConfig* c = &model->config;
    int N = B * T, C = c->channels, rq = c->q_rank, dh = c->head_dim, dR = c->rope_dim, Dq = c->num_heads * (dh + dR);
    if (rq > 0) {
        matmul_forward(acts->qlat, acts->ln1, p->dqw, p->dqb, N, C, rq);
        rmsnorm_forward(acts->qlat_norm, acts->qlat_rstd, acts->qlat, p->qnormw, N, rq, rq);
        matmul_forward(acts->q, acts->qlat_norm, p->uqw, p->uqb, N, rq, Dq);
    } else {
        matmul_forward(acts->q, acts->ln1, p->qw, p->qb, N, C, Dq);
    }
    rope_forward(acts->q + dh, model->rope_cos, model->rope_sin, B, T, pos0, c->num_heads, Dq, dh + dR, dR);
}

// ln1 -> atty for training: keys and values materialised per head, group by group
static void latent_attention_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int T) {
    const GPTConfig* c = &model->config;
    int N = B * T, n = c->latent_groups, dc = c->latent_dim, Hg = c->num_heads / n, dh = c->head_dim;
    int dR = c->rope_dim, Dlat = latent_width(c);
    latent_queries_forward(model, p, acts, B, T, 0);
    matmul_forward(acts->kvlat, acts->ln1, p->dkvw, p->dkvb, N, c->channels, Dlat);
    rope_forward(acts->kvlat + n * dc, model->rope_cos, model->rope_sin, B, T, 0, 1, Dlat, dR, dR);
    AttentionDims d = latent_group_dims(c);
    for (int g = 0; g < n; g++) {
        real* cg = acts->kvlat_norm + (size_t)g * N * dc;
        real* ukv = acts->ukv + (size_t)g * N * Hg * 2 * dh;
        rmsnorm_forward(cg, acts->kvlat_rstd + (size_t)g * N, acts->kvlat + g * dc, p->kvnormw + g * dc, N, dc, Dlat);
        matmul_forward(ukv, cg, p->ukvw + (size_t)g * Hg * 2 * dh * dc, p->ukvb ? p->ukvb + g * Hg * 2 * dh : NULL, N, dc, Hg * 2 * dh);
        attention_forward(acts->atty + g * Hg * dh, acts->att + (size_t)g * B * Hg * T * T, acts->q + g * Hg * (dh + dR), ukv,
                          acts->kvlat + n * dc, ukv + Hg * dh, B, T, T, &d);
    }
}

// datty -> dln (written), accumulating the weight gradients into g
static void latent_attention_backward(GPT* model, const ParameterTensors* p, const ParameterTensors* g,
                                      const BlockActivations* acts, int B, int T) {
    const GPTConfig* c = &model->config;
    ActivationTensors* s = &model->acts;
    int N = B * T, C = c->channels, n = c->latent_groups, dc = c->latent_dim, Hg = c->num_heads / n, dh = c->head_dim;
    int dR = c->rope_dim, Dlat = latent_width(c), rq = c->q_rank, Dq = c->num_heads * (dh + dR);
    // atty = attention per group; the core accumulates into dukv and the RoPE key's gradient
    memset(s->dkvlat, 0, (size_t)N * Dlat * sizeof(real));
    memset(s->dukv, 0, (size_t)N * 2 * c->num_heads * dh * sizeof(real));
    AttentionDims d = latent_group_dims(c);
    for (int grp = 0; grp < n; grp++) {
        const real* ukv = acts->ukv + (size_t)grp * N * Hg * 2 * dh;
        real* dukv = s->dukv + (size_t)grp * N * Hg * 2 * dh;
        attention_backward(s->dq + grp * Hg * (dh + dR), dukv, s->dkvlat + n * dc, dukv + Hg * dh, s->attn_scratch,
                           s->datty + grp * Hg * dh, acts->att + (size_t)grp * B * Hg * T * T, acts->q + grp * Hg * (dh + dR),
                           ukv, acts->kvlat + n * dc, ukv + Hg * dh, B, T, &d);
    }
    rope_backward(s->dq + dh, model->rope_cos, model->rope_sin, B, T, 0, c->num_heads, Dq, dh + dR, dR);
    rope_backward(s->dkvlat + n * dc, model->rope_cos, model->rope_sin, B, T, 0, 1, Dlat, dR, dR);
    // ukv_g = rmsnorm(c_g) @ ukvw_g^T + ukvb_g, c_g the group's slice of kvlat
    for (int grp = 0; grp < n; grp++) {
        size_t w = (size_t)grp * Hg * 2 * dh;
        matmul_backward(s->dkvlat_norm, g->ukvw + w * dc, g->ukvb ? g->ukvb + w : NULL, s->dukv + (size_t)grp * N * Hg * 2 * dh,
                        acts->kvlat_norm + (size_t)grp * N * dc, p->ukvw + w * dc, N, dc, Hg * 2 * dh);
        rmsnorm_backward(s->dkvlat + grp * dc, g->kvnormw + grp * dc, s->dkvlat_norm, acts->kvlat + grp * dc,
                         p->kvnormw + grp * dc, acts->kvlat_rstd + (size_t)grp * N, N, dc, Dlat);
    }
    // kvlat = ln1 @ dkvw^T + dkvb
    matmul_backward(s->dln, g->dkvw, g->dkvb, s->dkvlat, acts->ln1, p->dkvw, N, C, Dlat);
    // q = rmsnorm(ln1 @ dqw^T + dqb) @ uqw^T + uqb, or ln1 @ qw^T + qb; its share of dln1 adds to the latent's
    if (rq > 0) {
        matmul_backward(s->dqlat_norm, g->uqw, g->uqb, s->dq, acts->qlat_norm, p->uqw, N, rq, Dq);
        memset(s->dqlat, 0, (size_t)N * rq * sizeof(real));
        rmsnorm_backward(s->dqlat, g->qnormw, s->dqlat_norm, acts->qlat, p->qnormw, acts->qlat_rstd, N, rq, rq);
        matmul_backward(s->dln_q, g->dqw, g->dqb, s->dqlat, acts->ln1, p->dqw, N, C, rq);
    } else {
        matmul_backward(s->dln_q, g->qw, g->qb, s->dq, acts->ln1, p->qw, N, C, Dq);
    }
    residual_forward(s->dln, s->dln, s->dln_q, (size_t)N * C);
}

// Decoding one token at pos without materialising any key or value: the cache row holds the normalised
// latent groups and the rotated RoPE key. Each head's query is absorbed into its group's key
// up-projection, q~ = W_uk,h^T q_nope (the key bias shifts all of a head's scores equally, so softmax
// ignores it), attention runs over the latents themselves, and the head's output is
// W_uv,h (sum_t p_t c_t) + b_v,h (the weights sum to one, so the value bias passes through).
static void latent_attention_decode(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int pos, real* cache) {
    const GPTConfig* c = &model->config;
    int C = c->channels, H = c->num_heads, n = c->latent_groups, dc = c->latent_dim, Hg = H / n, dh = c->head_dim;
    int dR = c->rope_dim, Dlat = latent_width(c);
    latent_queries_forward(model, p, acts, 1, 1, pos);
    real* row = cache + (size_t)pos * Dlat;
    matmul_forward(acts->kvlat, acts->ln1, p->dkvw, p->dkvb, 1, C, Dlat);
    for (int g = 0; g < n; g++) rmsnorm_forward(row + g * dc, NULL, acts->kvlat + g * dc, p->kvnormw + g * dc, 1, dc, Dlat);
    memcpy(row + n * dc, acts->kvlat + n * dc, dR * sizeof(real));
    rope_forward(row + n * dc, model->rope_cos, model->rope_sin, 1, 1, pos, 1, Dlat, dR, dR);
    for (int h = 0; h < H; h++) { // q~_h = [W_uk,h^T q_nope,h | q_rope,h]
        const real* qh = acts->q + (size_t)h * (dh + dR);
        const real* w_uk = p->ukvw + ((size_t)(h / Hg) * Hg * 2 * dh + (size_t)(h % Hg) * dh) * dc; // (dh, dc)
        real* qa = acts->q_absorbed + (size_t)h * (dc + dR);
        for (int j = 0; j < dc; j++) qa[j] = 0;
        for (int i = 0; i < dh; i++) {
            for (int j = 0; j < dc; j++) qa[j] += qh[i] * w_uk[(size_t)i * dc + j];
        }
        memcpy(qa + dc, qh + dh, dR * sizeof(real));
    }
    AttentionDims d = latent_decode_dims(c);
    attention_forward(acts->ctx, acts->att, acts->q_absorbed, cache, cache + n * dc, cache, 1, 1, pos + 1, &d);
    for (int h = 0; h < H; h++) { // o_h = W_uv,h ctx_h + b_v,h
        size_t v_row = (size_t)(h / Hg) * Hg * 2 * dh + (size_t)Hg * dh + (size_t)(h % Hg) * dh;
        matmul_forward(acts->atty + (size_t)h * dh, acts->ctx + (size_t)h * dc, p->ukvw + v_row * dc,
                       p->ukvb ? p->ukvb + v_row : NULL, 1, dc, dh);
    }
}

// ----------------------------------------------------------------------------
// the transformer block and the whole model

// One block forward on B*T rows at positions pos0.. (decoding: B = T = 1 with a cache (maxT, E) for this
// layer, E = KV elements per token). x (N,C) is the input; the output goes to acts->residual3, which may
// be x itself.
static void block_forward(const GPT* model, int l, BlockActivations* acts, real* proj, const real* x, int B, int T,
                          int pos0, real* cache) {
    const GPTConfig* c = &model->config;
    ParameterTensors p = layer_params(&model->params, model->specs, l);
    int N = B * T, C = c->channels, F = c->mlp_hidden, Dv = c->num_heads * c->head_dim;
    // x + attention
    layernorm_forward(acts->ln1, acts->ln1_mean, acts->ln1_rstd, x, p.ln1w, p.ln1b, N, C);
    if (!is_latent(c)) fused_attention_forward(model, &p, acts, B, T, pos0, cache);
    else if (cache) latent_attention_decode(model, &p, acts, pos0, cache);
    else latent_attention_forward(model, &p, acts, B, T);
    matmul_forward(proj, acts->atty, p.attprojw, p.attprojb, N, Dv, C);
    residual_forward(acts->residual2, x, proj, (size_t)N * C);
    // + MLP
    layernorm_forward(acts->ln2, acts->ln2_mean, acts->ln2_rstd, acts->residual2, p.ln2w, p.ln2b, N, C);
    matmul_forward(acts->fch, acts->ln2, p.fcw, p.fcb, N, C, F);
    gelu_forward(acts->fch_gelu, acts->fch, (size_t)N * F);
    matmul_forward(proj, acts->fch_gelu, p.fcprojw, p.fcprojb, N, F, C);
    residual_forward(acts->residual3, acts->residual2, proj, (size_t)N * C);
}

// The block's backward for training. dresidual (N,C) holds the gradient of the block's output and
// leaves holding the gradient of its input x.
static void block_backward(GPT* model, int l, const BlockActivations* acts, const real* x, int B, int T) {
    const GPTConfig* c = &model->config;
    ParameterTensors p = layer_params(&model->params, model->specs, l);
    ParameterTensors g = layer_params(&model->grads, model->specs, l);
    ActivationTensors* s = &model->acts;
    int N = B * T, C = c->channels, F = c->mlp_hidden, Dv = c->num_heads * c->head_dim;
    // residual3 = residual2 + fcproj(gelu(fc(ln2(residual2))))
    matmul_backward(s->dfch, g.fcprojw, g.fcprojb, s->dresidual, acts->fch_gelu, p.fcprojw, N, F, C);
    gelu_backward(s->dfch, acts->fch, s->dfch, (size_t)N * F);
    matmul_backward(s->dln, g.fcw, g.fcb, s->dfch, acts->ln2, p.fcw, N, C, F);
    layernorm_backward(s->dresidual, g.ln2w, g.ln2b, s->dln, acts->residual2, p.ln2w, acts->ln2_mean, acts->ln2_rstd, N, C);
    // residual2 = x + attproj(attention(ln1(x)))
    matmul_backward(s->datty, g.attprojw, g.attprojb, s->dresidual, acts->atty, p.attprojw, N, Dv, C);
    if (is_latent(c)) latent_attention_backward(model, &p, &g, acts, B, T);
    else fused_attention_backward(model, &p, &g, acts, B, T);
    layernorm_backward(s->dresidual, g.ln1w, g.ln1b, s->dln, x, p.ln1w, acts->ln1_mean, acts->ln1_rstd, N, C);
}

// Forward over a batch. inputs, targets (B,T); targets may be NULL (no loss). Sets mean_loss.
static void gpt_forward(GPT* model, const int* inputs, const int* targets, int B, int T) {
    const GPTConfig* c = &model->config;
    if (B > model->batch_size || T != model->seq_len) {
        die("forward with B=%d T=%d, but activations were allocated for B<=%d T=%d", B, T, model->batch_size, model->seq_len);
    }
    int N = B * T, C = c->channels, V = c->vocab_size, Vp = c->padded_vocab_size;
    for (int i = 0; i < N; i++) {
        if (inputs[i] < 0 || inputs[i] >= V) die("token id %d at position %d is outside the vocabulary [0, %d)", inputs[i], i, V);
    }
    ActivationTensors* a = &model->acts;
    model->inputs = inputs;
    model->targets = targets;
    encoder_forward(a->encoded, inputs, model->params.wte, model->params.wpe, B, T, C);
    for (int l = 0; l < c->num_layers; l++) {
        const real* x = l == 0 ? a->encoded : a->blocks[l - 1].residual3;
        block_forward(model, l, &a->blocks[l], a->proj, x, B, T, 0, NULL);
    }
    const real* last = a->blocks[c->num_layers - 1].residual3;
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, model->params.lnfw, model->params.lnfb, N, C);
    matmul_forward(a->logits, a->lnf, model->params.wte, NULL, N, C, Vp);
    if (targets != NULL) {
        crossentropy_forward(a->losses, a->lse, a->logits, targets, N, V, Vp);
        double sum = 0;
        for (int i = 0; i < N; i++) sum += a->losses[i];
        model->mean_loss = (float)(sum / N);
    }
}

// Backward of the last forward (which had targets). Gradients accumulate into model->grads; the loss
// being differentiated is grad_scale * mean loss (grad_scale = 1/accumulation steps).
static void gpt_backward(GPT* model, float grad_scale) {
    const GPTConfig* c = &model->config;
    if (model->targets == NULL) die("gpt_backward needs a forward pass with targets first");
    int B = model->batch_size, T = model->seq_len, N = B * T, C = c->channels;
    ActivationTensors* a = &model->acts;
    // logits = lnf @ wte^T, losses = crossentropy(logits); dlogits overwrite the logits
    crossentropy_backward(a->logits, a->lse, a->logits, model->targets, (real)grad_scale / N, N, c->vocab_size,
                          c->padded_vocab_size);
    matmul_backward(a->dln, model->grads.wte, NULL, a->logits, a->lnf, model->params.wte, N, C, c->padded_vocab_size);
    // lnf = layernorm(residual of the last block)
    memset(a->dresidual, 0, (size_t)N * C * sizeof(real));
    const real* last = a->blocks[c->num_layers - 1].residual3;
    layernorm_backward(a->dresidual, model->grads.lnfw, model->grads.lnfb, a->dln, last, model->params.lnfw, a->lnf_mean,
                       a->lnf_rstd, N, C);
    for (int l = c->num_layers - 1; l >= 0; l--) {
        const real* x = l == 0 ? a->encoded : a->blocks[l - 1].residual3;
        block_backward(model, l, &a->blocks[l], x, B, T);
    }
    // encoded = wte[inputs] + wpe
    encoder_backward(model->grads.wte, model->grads.wpe, a->dresidual, model->inputs, B, T, C);
}

static void gpt_zero_grad(GPT* model) { memset(model->grads_memory, 0, model->num_parameters * sizeof(real)); }

// ----------------------------------------------------------------------------
// optimizers: AdamW, and Muon for the hidden matrices (with AdamW for the rest)

// (AdamWConfig, MuonConfig and Newton-Schulz's coefficients are in llmc/run.h, shared with the CUDA trainer)

// One AdamW step at step t (1-based) on n elements. grad_scale multiplies the gradients (clipping);
// weight_decay is decoupled and the caller passes 0 for tensors that are not 2-D matrices.
static void adamw_update(real* params, const real* grads, real* m, real* v, size_t n, const AdamWConfig* cfg,
                         float weight_decay, float grad_scale, int t) {
    real beta1_correction = 1 - pow((real)cfg->beta1, (real)t);
    real beta2_correction = 1 - pow((real)cfg->beta2, (real)t);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        real g = grads[i] * grad_scale;
        m[i] = cfg->beta1 * m[i] + (1 - cfg->beta1) * g;
        v[i] = cfg->beta2 * v[i] + (1 - cfg->beta2) * g * g;
        real m_hat = m[i] / beta1_correction;
        real v_hat = v[i] / beta2_correction;
        params[i] -= cfg->lr * (m_hat / (sqrt(v_hat) + cfg->eps) + weight_decay * params[i]);
    }
}

// Sum of squares in double over fixed chunks, so that the result does not depend on the thread count.
#define NORM_CHUNKS 64
static double sum_squares(const real* x, size_t n) {
    double partial[NORM_CHUNKS];
    size_t chunk = (n + NORM_CHUNKS - 1) / NORM_CHUNKS;
    #pragma omp parallel for schedule(static)
    for (int k = 0; k < NORM_CHUNKS; k++) {
        double s = 0;
        size_t end = (k + 1) * chunk < n ? (k + 1) * chunk : n;
        for (size_t i = k * chunk; i < end; i++) s += (double)x[i] * x[i];
        partial[k] = s;
    }
    double total = 0;
    for (int k = 0; k < NORM_CHUNKS; k++) total += partial[k];
    return total;
}

// A (n, n) above the diagonal = A below it: completes a symmetric product that GEMM_LOWER computed
static void mirror_lower(real* A, int n) {
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) A[(size_t)i * n + j] = A[(size_t)j * n + i];
    }
}

// Newton-Schulz orthogonalisation of X (rows, cols) in place; X arrives with singular values <= 1. With
// A = X X^T (r x r, r = rows <= cols), each step X <- a X + (b A + c A A) X maps every singular value s to
// a s + b s^3 + c s^5, pushing them towards 1 without an SVD. A tall X takes the same step on X^T without
// transposing it: A = X^T X and X <- a X + X (b A + c A A). Every product is the GEMM on views of X;
// A and A A are symmetric (each pair of mirrored elements is the same sum of the same products), so only
// their lower triangles are computed.
// scratch: 2 r^2 + rows*cols.
static void newton_schulz(real* X, int rows, int cols, int steps, int polar_express, real* scratch) {
    int tall = rows > cols, r = tall ? cols : rows, c = tall ? rows : cols;
    size_t n = (size_t)rows * cols;
    real* A = scratch;             // (r, r)
    real* AA = A + (size_t)r * r;  // (r, r)
    real* BX = AA + (size_t)r * r; // (rows, cols): B X, or X B when tall
    MatrixView x = {X, (size_t)cols, 1}, xt = transposed(x), a = {A, (size_t)r, 1};
    for (int k = 0; k < steps; k++) {
        const float* abc = polar_express ? POLAR_EXPRESS[k] : NS_QUINTIC;
        gemm(A, r, tall ? xt : x, tall ? x : xt, r, r, c, GEMM_LOWER);
        mirror_lower(A, r);
        gemm(AA, r, a, a, r, r, r, GEMM_LOWER);
        mirror_lower(AA, r);
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)r * r; i++) A[i] = abc[1] * A[i] + abc[2] * AA[i]; // B = b A + c A A
        gemm(BX, cols, tall ? x : a, tall ? a : x, rows, cols, r, GEMM_SET);
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) X[i] = abc[0] * X[i] + BX[i];
    }
}

// scratch elements muon_update needs for a (rows, cols) block
static size_t muon_scratch_size(int rows, int cols) {
    size_t r = rows < cols ? rows : cols, n = (size_t)rows * cols;
    return 2 * n + 2 * r * r;
}

// Muon on one matrix (rows, cols) with momentum mu (docs/design.md §3):
//   M <- mu M + (1 - mu) G;  U <- (1 - mu) G + mu M (Nesterov);  X <- NS(U / ||U||_F)
//   W <- W (1 - lr wd) - lr s X,  s = sqrt(max(1, rows/cols)) or Moonlight's 0.2 sqrt(max(rows, cols))
static void muon_update(real* param, const real* grad, real* momentum, int rows, int cols, const MuonConfig* cfg,
                        float lr, float mu, float grad_scale, real* scratch) {
    size_t n = (size_t)rows * cols;
    real* X = scratch; // (rows, cols)
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        real g = grad[i] * grad_scale;
        momentum[i] = mu * momentum[i] + (1 - mu) * g;
        X[i] = (1 - mu) * g + mu * momentum[i];
    }
    real norm = (real)sqrt(sum_squares(X, n)) * (cfg->polar_express ? 1.02f : 1.0f) + 1e-7f;
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) X[i] /= norm;
    newton_schulz(X, rows, cols, cfg->ns_steps, cfg->polar_express, X + n);
    real scale = cfg->moonlight_scale ? 0.2f * sqrt((real)(rows > cols ? rows : cols))
                                      : sqrt(rows > cols ? (real)rows / cols : (real)1);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) param[i] = param[i] * (1 - lr * cfg->weight_decay) - lr * scale * X[i];
}

static float gpt_grad_norm(const GPT* model) { return (float)sqrt(sum_squares(model->grads_memory, model->num_parameters)); }

// Divides the optimizer state into units, among the processes under ZeRO-1 (else every unit is every
// process's), and allocates this process's state and the scratch of its largest Muon block.
static void gpt_setup_optimizer(GPT* model, int muon, int zero, const Dist* dist) {
    model->plan = optimizer_plan(&model->config, muon, zero, dist);
    model->m_memory = (real*)callocCheck(model->plan.state_size + 1, sizeof(real));
    model->v_memory = (real*)callocCheck(model->plan.state_size + 1, sizeof(real));
    size_t most = 0;
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        if (!u->muon || !plan_owns(&model->plan, u)) continue;
        size_t need = muon_scratch_size(u->rows, (int)model->specs[u->tensor].shape[2]);
        most = need > most ? need : most;
    }
    model->muon_scratch = (real*)mallocCheck((most + 1) * sizeof(real));
}

// One optimizer step t (1-based): clip by the global norm (grad_clip > 0), then each unit: Muon with
// momentum mu on a hidden matrix's row block, one layer at a time, or AdamW on a tensor (AdamW for every
// tensor without muon). Under ZeRO-1 a process updates the units it owns, then each owner broadcasts the
// parameters it updated.
static void gpt_optimizer_step(GPT* model, const Dist* dist, const AdamWConfig* adamw, const MuonConfig* muon, float mu,
                               float grad_norm, float grad_clip, int t) {
    float scale = (grad_clip > 0.0f && grad_norm > grad_clip) ? grad_clip / grad_norm : 1.0f;
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        const ParamSpec* s = &model->specs[u->tensor];
        real *m = model->m_memory + u->state_at, *v = model->v_memory + u->state_at;
        if (!plan_owns(&model->plan, u)) continue;
        UnitRuns r = unit_runs(&model->config, u);
        if (u->muon) {
            for (int l = 0; l < r.runs; l++) {
                size_t w = r.first + l * r.stride;
                muon_update(model->params_memory + w, model->grads_memory + w, m + l * r.run, u->rows, (int)s->shape[2], muon, muon->lr,
                            mu, scale, model->muon_scratch);
            }
        } else {
            adamw_update(model->params_memory + r.first, model->grads_memory + r.first, m, v, r.run, adamw,
                         s->is_matrix ? adamw->weight_decay : 0.0f, scale, t);
        }
    }
    if (model->plan.zero_rank < 0) return;
    for (int k = 0; k < model->plan.num_units; k++) {
        UnitRuns r = unit_runs(&model->config, &model->plan.units[k]);
        for (int l = 0; l < r.runs; l++) {
            dist_broadcast(dist, model->params_memory + r.first + l * r.stride, r.run * sizeof(real), model->plan.units[k].owner);
        }
    }
}

// The optimizer state in the parameter layout checkpoints use (m, v: parameter-shaped). Every process
// takes part: under ZeRO-1 each unit's state comes from its owner.
static void gpt_gather_optimizer_state(const GPT* model, const Dist* dist, real* m, real* v) {
    size_t most = 1;
    for (int k = 0; k < model->plan.num_units; k++) most = model->plan.units[k].numel > most ? model->plan.units[k].numel : most;
    real* unit = (real*)mallocCheck(most * sizeof(real));
    real* state[2] = {model->m_memory, model->v_memory};
    real* full[2] = {m, v};
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        for (int j = 0; j < 2; j++) {
            const real* src = state[j] + u->state_at;
            if (model->plan.zero_rank >= 0) {
                if (u->owner == model->plan.zero_rank) memcpy(unit, src, u->numel * sizeof(real));
                dist_broadcast(dist, unit, u->numel * sizeof(real), u->owner);
                src = unit;
            }
            unit_state_copy(&model->config, u, (void*)src, full[j], sizeof(real), 1);
        }
    }
    free(unit);
}

// a checkpoint's optimizer state (parameter layout) into this process's units
static void gpt_scatter_optimizer_state(GPT* model, real* m, real* v) {
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        if (!plan_owns(&model->plan, u)) continue;
        unit_state_copy(&model->config, u, model->m_memory + u->state_at, m, sizeof(real), 0);
        unit_state_copy(&model->config, u, model->v_memory + u->state_at, v, sizeof(real), 0);
    }
}

// ----------------------------------------------------------------------------
// decoding with a KV cache

typedef struct {
    real* cache;           // (L, maxT, E): per token what each variant keeps (E = KV elements per token)
    BlockActivations acts; // one row; att holds (H, maxT)
    real* x;               // (C,) the residual stream
    real* proj;            // (C,)
    real* lnf;             // (C,)
    real* logits;          // (Vp,)
    real* memory;
} DecodeState;

static void decode_state_init(DecodeState* d, const GPTConfig* c) {
    size_t cache = (size_t)c->num_layers * c->max_seq_len * gpt_kv_elements_per_token_layer(c);
    size_t sizes[NUM_BLOCK_ACTIVATIONS];
    block_activation_sizes(sizes, c, 1, 1, c->max_seq_len, 1);
    size_t blocks = point_block_activations(&d->acts, 1, sizes, NULL);
    d->memory = (real*)callocCheck(cache + blocks + 3 * (size_t)c->channels + c->padded_vocab_size, sizeof(real));
    d->cache = d->memory;
    point_block_activations(&d->acts, 1, sizes, d->cache + cache);
    d->x = d->cache + cache + blocks;
    d->proj = d->x + c->channels;
    d->lnf = d->proj + c->channels;
    d->logits = d->lnf + c->channels;
}

static void decode_state_free(DecodeState* d) { free(d->memory); }

// Runs one token at position pos through the model, appending to the cache; leaves the next-token
// logits (Vp,) in d->logits.
static void gpt_decode_step(const GPT* model, DecodeState* d, int token, int pos) {
    const GPTConfig* c = &model->config;
    size_t layer_cache = (size_t)c->max_seq_len * gpt_kv_elements_per_token_layer(c);
    const real* wpe = model->params.wpe ? model->params.wpe + (size_t)pos * c->channels : NULL;
    encoder_forward(d->x, &token, model->params.wte, wpe, 1, 1, c->channels);
    for (int l = 0; l < c->num_layers; l++) {
        d->acts.residual3 = d->x; // the block's output replaces its input
        block_forward(model, l, &d->acts, d->proj, d->x, 1, 1, pos, d->cache + l * layer_cache);
    }
    layernorm_forward(d->lnf, NULL, NULL, d->x, model->params.lnfw, model->params.lnfb, 1, c->channels);
    matmul_forward(d->logits, d->lnf, model->params.wte, NULL, 1, c->channels, c->padded_vocab_size);
}

// generate()'s view of decoding (llmc/run.h): one token through the model, the logits as floats
typedef struct {
    const GPT* model;
    DecodeState state;
} Decoder;

static void decoder_step(void* ctx, int token, int pos, float* logits) {
    Decoder* d = (Decoder*)ctx;
    gpt_decode_step(d->model, &d->state, token, pos);
    for (int i = 0; i < d->model->config.padded_vocab_size; i++) logits[i] = (float)d->state.logits[i];
}

// samples from the model as generate() describes, with a fresh KV cache
static int gpt_generate(const GPT* model, const Tokenizer* tok, const char* prompt, int n_gen, const SamplerConfig* sc,
                        uint64_t* rng, double* seconds) {
    Decoder d = {model, {0}};
    decode_state_init(&d.state, &model->config);
    int n = generate(&model->config, tok, prompt, n_gen, sc, rng, decoder_step, &d, seconds);
    decode_state_free(&d.state);
    return n;
}

// ----------------------------------------------------------------------------
// checkpoints: the model's side (the format is in llmc/checkpoint.h)

// Loads a model for -e (weights only) or -y (weights and training state, read by the caller):
// our checkpoint or an llm.c model file. Returns the open checkpoint in *st (not for llm.c files).
static int gpt_load(GPT* model, const char* path, SafeTensors* st) {
    GPTConfig config;
    if (is_llmc_model_file(path)) {
        llmc_model_read_config(path, &config);
        gpt_build(model, &config);
        llmc_model_read_params(path, model->params_memory, REAL_DTYPE);
        return 0;
    }
    checkpoint_open(st, path);
    gpt_config_from_checkpoint(st, &config);
    gpt_build(model, &config);
    StateBlock params = {"", model->params_memory, NULL};
    checkpoint_read_block(st, &config, &params, REAL_DTYPE);
    return 1;
}

#ifndef TESTING
// ----------------------------------------------------------------------------
// main: sampling, and the training loop (its bookkeeping is llmc/run.h's, shared with train_gpt.cu)

// mean loss over the first val_batches batches of the validation shards (this process's slices)
static float evaluate(GPT* model, DataLoader* val, int val_batches) {
    dataloader_reset(val);
    int n = val_batches < (int)val->batches_per_epoch ? val_batches : (int)val->batches_per_epoch;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        dataloader_next_batch(val);
        gpt_forward(model, val->inputs, val->targets, val->B, val->T);
        sum += model->mean_loss;
    }
    return (float)(sum / n);
}

static int sample_main(ArgParser* p) {
    TrainArgs* a = &p->a;
    char path[4096];
    const char* ckpt = a->init_from;
    if (ckpt == NULL) {
        if (checkpoint_find_latest(a->output_dir, path, sizeof(path)) < 0) die_hint("train first, or pass -e CKPT", "no checkpoint in '%s'", a->output_dir);
        ckpt = path;
    }
    GPT model;
    SafeTensors st;
    int ours = gpt_load(&model, ckpt, &st);
    Tokenizer tok;
    tokenizer_load(&tok, ours && !args_given(p, &a->tokenizer) ? checkpoint_meta(&st, "tokenizer") : a->tokenizer, a->vocab);
    int trained_T = ours ? checkpoint_meta_int(&st, "train.seq_len") : 0;
    if (ours) safetensors_close(&st);
    if (tok.vocab_size != model.config.vocab_size) {
        die_hint("pass the tokenizer the model was trained with (--tokenizer)", "the model's vocabulary has %d tokens, but tokenizer '%s' has %d",
                 model.config.vocab_size, tokenizer_name(&tok), tok.vocab_size);
    }
    args_check_model_flags(p, &model.config, ckpt);
    printf("checkpoint: %s\n", ckpt);
    gpt_print_config(&model.config, sizeof(real));
    if (trained_T > 0 && (int)strlen(a->prompt) + a->gen_tokens > trained_T) {
        printf("note: the model was trained on sequences of %d tokens; text beyond that position is out of its training distribution "
               "and usually degrades\n", trained_T);
    }
    SamplerConfig sc = {a->temperature, a->top_k, a->top_p};
    uint64_t rng = rng_seed(a->seed);
    printf("---\n");
    double seconds;
    int n = gpt_generate(&model, &tok, a->prompt, a->gen_tokens, &sc, &rng, &seconds);
    printf("---\n");
    size_t kv_bytes = gpt_kv_elements_per_token_layer(&model.config) * model.config.num_layers * sizeof(real);
    printf("generated %d tokens in %.2f s: %.1f tokens/s (prompt included in the time), KV cache %zu bytes/token\n", n, seconds,
           (n + strlen(a->prompt)) / (seconds > 0 ? seconds : 1e-9), kv_bytes);
    tokenizer_free(&tok);
    gpt_free(&model);
    return 0;
}

int main(int argc, char** argv) {
    process_setup();
    Dist dist = dist_init(&argc, &argv);
    ArgParser parser;
    args_defaults(&parser, "fp32");
    args_parse(&parser, argc, argv);
    args_validate(&parser);
    TrainArgs* a = &parser.a;
    if (a->sample_mode) return sample_main(&parser);
    if (a->num_processes > 1) {
        die_hint("build with make USE_MPI=1 and launch with mpirun -np N", "the CPU trainer runs several processes under MPI only");
    }
    if (strcmp(a->precision, "bf16") == 0) die_hint("drop --precision (or use train_gptcu)", "the CPU trainer computes in fp32");
    if (dist.rank > 0 && freopen("/dev/null", "w", stdout) == NULL) die("cannot silence rank %d's output", dist.rank);

    // the model: resumed, initialised from a file, or fresh; every process loads it
    Run run;
    memset(&run, 0, sizeof(run));
    run.a = a;
    run.dist = dist;
    run.rs.sample_rng = rng_seed(a->seed + 1); // its own stream: sampling never shifts init or data order
    tokenizer_load(&run.tok, a->tokenizer, a->vocab);
    char resume_path[4096];
    run_open_output(&run, resume_path, sizeof(resume_path));
    const char* source = a->resume ? resume_path : a->init_from;
    GPT model;
    int use_muon = strcmp(a->optimizer, "muon") == 0;
    if (source != NULL) {
        SafeTensors st;
        int ours = gpt_load(&model, source, &st);
        args_check_model_flags(&parser, &model.config, source);
        gpt_setup_optimizer(&model, use_muon, a->zero_stage, &dist);
        if (ours) {
            const char* ckpt_tok = checkpoint_meta(&st, "tokenizer");
            if (strcmp(ckpt_tok, a->tokenizer) != 0) {
                die_hint("pass --tokenizer to match the checkpoint", "checkpoint '%s' uses tokenizer '%s', this run '%s'", source, ckpt_tok,
                         a->tokenizer);
            }
            if (a->resume) {
                real* m = (real*)callocCheck(model.num_parameters, sizeof(real));
                real* v = (real*)callocCheck(model.num_parameters, sizeof(real));
                run_restore(&run, &st, &model.config, REAL_DTYPE, m, v);
                gpt_scatter_optimizer_state(&model, m, v);
                free(m);
                free(v);
            }
            safetensors_close(&st);
        }
        printf("%s %s at step %d\n", a->resume ? "resuming from" : "initialised from", source, run.rs.step);
    } else {
        GPTConfig config;
        args_model_config(&parser, &config, run.tok.vocab_size);
        gpt_build(&model, &config);
        gpt_init_random(&model, a->seed);
        gpt_setup_optimizer(&model, use_muon, a->zero_stage, &dist);
    }
    const GPTConfig* c = &model.config;
    if (c->vocab_size != run.tok.vocab_size) {
        die_hint("use --tokenizer to match the model's vocabulary", "the model's vocabulary has %d tokens, tokenizer '%s' has %d",
                 c->vocab_size, tokenizer_name(&run.tok), run.tok.vocab_size);
    }
    gpt_allocate_activations(&model, a->B, a->T);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    char compute[256];
    snprintf(compute, sizeof(compute), "%d process(es) x %d CPU thread(s)%s", dist.size, threads, a->zero_stage ? ", ZeRO-1" : "");
    run_setup(&run, c, compute);
    if (run.use_muon) print_optimizer_groups(c, &run.muon, &run.adamw);
    if (a->dump_step) { // one forward and backward on the first training batch, for comparing trainers
        dataloader_next_batch(&run.train);
        gpt_zero_grad(&model);
        gpt_forward(&model, run.train.inputs, run.train.targets, a->B, a->T);
        size_t nl = (size_t)a->B * a->T * c->padded_vocab_size;
        float* logits = (float*)mallocCheck(nl * sizeof(float));
        float* grads = (float*)mallocCheck(model.num_parameters * sizeof(float));
        for (size_t i = 0; i < nl; i++) logits[i] = (float)model.acts.logits[i];
        gpt_backward(&model, 1.0f);
        for (size_t i = 0; i < model.num_parameters; i++) grads[i] = (float)model.grads_memory[i];
        if (dist.rank == 0) run_dump_step(a->dump_step, c, model.mean_loss, logits, a->B * a->T, grads);
        free(logits);
        free(grads);
        run_finish(&run);
        gpt_free(&model);
        dist_finalize();
        return 0;
    }

    SamplerConfig sc = {a->temperature, a->top_k, a->top_p};
    float train_loss = 0.0f;
    for (int step = run.start_step; step <= run.max_steps; step++) {
        int last_step = step == run.max_steps;
        if ((a->val_every > 0 && step % a->val_every == 0) || last_step) {
            run_log_val(&run, step, (float)dist_mean_double(&dist, evaluate(&model, &run.val, a->val_batches)));
        }
        if (dist.rank == 0 && a->sample_every > 0 && ((step > 0 && step % a->sample_every == 0) || last_step)) {
            printf("step %d | sample:\n---\n", step);
            double seconds;
            gpt_generate(&model, &run.tok, a->prompt, a->gen_tokens, &sc, &run.rs.sample_rng, &seconds);
            printf("---\n");
        }
        if (last_step) break;

        // one optimizer step: accumulate gradients over micro-batches, then average them over the processes
        double t0 = wall_seconds();
        gpt_zero_grad(&model);
        double loss_sum = 0;
        for (int micro = 0; micro < run.accum_steps; micro++) {
            dataloader_next_batch(&run.train);
            gpt_forward(&model, run.train.inputs, run.train.targets, a->B, a->T);
            gpt_backward(&model, 1.0f / run.accum_steps);
            loss_sum += model.mean_loss;
        }
        dist_mean(&dist, (float*)model.grads_memory, model.num_parameters);
        train_loss = (float)dist_mean_double(&dist, loss_sum / run.accum_steps);
        float norm = gpt_grad_norm(&model);
        run_schedule(&run, step);
        double t_opt = wall_seconds();
        if (run_update_allowed(&run, step, train_loss, norm)) {
            run.rs.opt_steps++;
            gpt_optimizer_step(&model, &dist, &run.adamw, run.use_muon ? &run.muon : NULL, run.muon_momentum, norm, a->grad_clip,
                               run.rs.opt_steps);
        }
        double now = wall_seconds();
        run_log_step(&run, step, train_loss, norm, 1e3 * (now - t0), 1e3 * (now - t_opt), a->peak_gflops);
        run_mark_position(&run);
        if (run_checkpoint_due(&run, step + 1)) {
            run.rs.step = step + 1;
            real* m = (real*)callocCheck(model.num_parameters, sizeof(real));
            real* v = (real*)callocCheck(model.num_parameters, sizeof(real));
            gpt_gather_optimizer_state(&model, &dist, m, v);
            if (dist.rank == 0) run_save_checkpoint(&run, c, REAL_DTYPE, model.params_memory, m, v, train_loss);
            free(m);
            free(v);
        }
    }
    run_finish(&run);
    gpt_free(&model);
    dist_finalize();
    return 0;
}
#endif // TESTING
