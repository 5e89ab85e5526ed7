/*
The CPU trainer's one GEMM, through which train_gpt.c runs every matmul, attention's per-head products and
Muon's Newton-Schulz iterations: packed, blocked for the caches, with an AVX-512 register tile (or portable
C, which the compiler vectorises and the double-precision gradient-check build uses). Its result does not
depend on the thread count. Include it after defining `real`, the element type.

    gemm(C, ldc, A, B, M, N, K, mode)     C (M,N), rows ldc apart, =, += or lower-triangle-only A @ B,
                                          where A and B are strided views (MatrixView, transposed())
*/
#ifndef LLMC_CPU_GEMM_H
#define LLMC_CPU_GEMM_H

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "../utils.h"

// One packed GEMM, C (M,N) (+)= A (M,K) @ B (K,N), serves all three products of a layer through
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

// The packed blocks of A (MC x KC) and B (KC x NC) of a call at the top level, allocated on the first one and
// kept for the process's life; a call nested in a parallel region allocates its own.
static real* gemm_top_level_blocks(void) {
    static real* blocks = NULL;
    if (blocks == NULL) {
        size_t bytes = (size_t)(GEMM_MC * GEMM_KC + GEMM_KC * GEMM_NC) * sizeof(real);
        blocks = (real*)aligned_alloc(64, bytes); // cache-line aligned panels; bytes is a multiple of 64
        if (blocks == NULL) die("could not allocate the GEMM's %.1f MiB of packing blocks", bytes / 1048576.0);
    }
    return blocks;
}

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
    real *a_block = nested ? NULL : gemm_top_level_blocks(), *b_block = nested ? NULL : a_block + GEMM_MC * GEMM_KC;
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

#endif // LLMC_CPU_GEMM_H
