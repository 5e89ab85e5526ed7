/*
The CPU trainer's one GEMM, through which train_gpt.c runs every matmul, attention's per-head products and
Muon's Newton-Schulz iterations: packed, blocked for the caches of the machine it runs on, with an
AVX-512 register tile (or portable C, which the compiler vectorises and the double-precision gradient-check
build uses). Its result does not depend on the thread count. Include it after defining `real`.

    gemm(C, ldc, A, B, M, N, K, mode)     C (M,N), rows ldc apart, =, += or lower-triangle-only A @ B,
                                          where A and B are strided views (MatrixView, transposed())
    gemm_blocking()                       the blocking chosen for this machine (sizes found at run time)
*/
#ifndef LLMC_CPU_GEMM_H
#define LLMC_CPU_GEMM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "../utils.h"

// One packed GEMM, C (M,N) (+)= A (M,K) @ B (K,N), serves all three products of a layer through strided
// views of the operands (Goto and van de Geijn's blocking, as BLIS and OpenBLAS do it):
//   forward  out  = inp @ weight^T    A = inp,    B = weight read transposed
//   backward dinp = dout @ weight     A = dout,   B = weight
//            dW  += dout^T @ inp      A = dout read transposed, B = inp
//
// The register tile multiplies an A micro-panel (MR rows, k-major) by a B micro-panel (NR columns,
// k-major): MR x NR accumulators, each step of k NR/16 vector loads of B and MR broadcasts of A. C is
// row-major, so the tile's vectors run along C's rows and store whole.
//
// The caches decide the rest (gemm_blocking, from the sizes the OS reports):
//   kc   the depth of a slab: an A micro-panel (MR x kc) in half of L1;
//   chunk  the B panels (kc x NR each) packed at once when the threads split C's rows: half of L2 each;
//   a_budget  how much packed A is kept at once (rows x all of K when it fits): a share of L3.
// Packing copies each element of A and of B once per block of A's rows; at GPT-2's shapes (B*T = 256 rows)
// A is small and packed once, and B (the weights) once per call, with 16x16 register transposes where B is
// read transposed and contiguous vector copies elsewhere.
//
// Threads split C's column panels (after packing a block of A together) or, when C has too few columns or
// all of B fits one chunk, its pairs of row panels (after packing a chunk of B together; a pair of A's
// panels is packed by whoever takes it). Each thread claims the next unclaimed panel or pair, so that a
// thread the host slows down takes fewer (the two cores of a shared VM can differ by 15%). A tile's sum runs over k in slabs of kc in order and its
// arithmetic is the same whichever thread runs it: the result does not depend on the thread count, nor on
// who claimed what. (It does depend on kc, which the caches choose: machines with other caches round
// differently.)

#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512DQ__) && !defined(REAL_DOUBLE)
#include <immintrin.h>
#define GEMM_AVX512 1
// the tile's loops over its rows unrolled whole (gcc's pragma; nvcc, which compiles this file in the kernel
// lab's CPU references, has no such pragma)
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define GEMM_UNROLL_ROWS _Pragma("GCC unroll 8")
#else
#define GEMM_UNROLL_ROWS
#endif
#define GEMM_MR 8  // 8 x 48 tile: 24 AVX-512 accumulators, 3 loads of B and 8 broadcasts per 24 FMAs; 8 and 48
#define GEMM_NR 48 // divide GPT-2's widths (B*T, 768, 2304, 3072, 50304), so its tiles are whole
#define GEMM_B_AHEAD 8 // steps of k ahead that the tile prefetches B
#else
#define GEMM_MR 6  // portable: 6 x 16 (12 AVX2 registers of floats, as the classic Haswell tile)
#define GEMM_NR 16
#endif

// element (i, j) of a matrix view is p[i * rs + j * cs]
typedef struct {
    const real* p;
    size_t rs, cs;
} MatrixView;

static MatrixView transposed(MatrixView m) {
    MatrixView t = {m.p, m.cs, m.rs};
    return t;
}

typedef enum {
    GEMM_SET,   // C = A @ B
    GEMM_ADD,   // C += A @ B
    GEMM_LOWER, // C = A @ B on and below the diagonal: tiles wholly above it are skipped (causal scores,
                // and symmetric products, which mirror_lower completes)
} GemmMode;

// ----------------------------------------------------------------------------
// the blocking, from the machine's caches

typedef struct {
    int kc;          // depth of a slab of K (a multiple of 16)
    int chunk;       // B panels (kc x NR) packed at once when the threads split C's rows
    size_t a_budget; // elements of packed A kept at once
    long l1, l2, l3; // data cache sizes found, bytes
} GemmBlocking;

// A data or unified cache's size in bytes (level 1-3) as the OS reports it: sysconf, else sysfs; 0 if neither.
static long gemm_cache_bytes(int level) {
    long size = 0;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
    size = sysconf(level == 1 ? _SC_LEVEL1_DCACHE_SIZE : level == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
#endif
    for (int index = 0; size <= 0 && index < 8; index++) {
        char path[96], type[32] = "";
        int lv = 0;
        long kib = 0;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        FILE* f = fopen(path, "r");
        if (f == NULL) break;
        if (fscanf(f, "%d", &lv) != 1) lv = 0;
        fclose(f);
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        if ((f = fopen(path, "r")) != NULL) {
            if (fscanf(f, "%31s", type) != 1) type[0] = '\0';
            fclose(f);
        }
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        if (lv == level && strcmp(type, "Instruction") != 0 && (f = fopen(path, "r")) != NULL) {
            if (fscanf(f, "%ldK", &kib) == 1) size = kib * 1024;
            fclose(f);
        }
    }
    return size > 0 ? size : 0;
}

static GemmBlocking gemm_blocking_chosen;

// The blocking for this machine, chosen once. Unknown caches count as 32 KB, 512 KB and 4 MB, small ones
// of today's server cores.
static const GemmBlocking* gemm_blocking(void) {
    GemmBlocking* b = &gemm_blocking_chosen;
    if (b->kc > 0) return b;
    long l1 = gemm_cache_bytes(1), l2 = gemm_cache_bytes(2), l3 = gemm_cache_bytes(3);
    b->l1 = l1 > 0 ? l1 : 32 << 10;
    b->l2 = l2 > 0 ? l2 : 512 << 10;
    b->l3 = l3 > 0 ? l3 : 4 << 20;
    // the A micro-panel in half of L1: 384 deep at 32 KB (BLIS's choice for Skylake-X), 768 at 48 KB
    int kc = (int)(b->l1 / 2 / (GEMM_MR * sizeof(real))) / 16 * 16;
    b->kc = kc < 128 ? 128 : kc > 1024 ? 1024 : kc;
    // a chunk of B panels in half of L2
    long chunk = b->l2 / 2 / ((long)b->kc * GEMM_NR * sizeof(real));
    b->chunk = chunk < 1 ? 1 : chunk > 64 ? 64 : (int)chunk;
    // packed A: a quarter of L3, between 1 and 8 MB
    long a_bytes = b->l3 / 4;
    a_bytes = a_bytes < (1L << 20) ? 1L << 20 : a_bytes > (8L << 20) ? 8L << 20 : a_bytes;
    b->a_budget = (size_t)a_bytes / sizeof(real);
    return b;
}

// Replaces the blocking (0 keeps a value): the tests shrink the blocks to cross every edge at small sizes,
// the benchmark tries others. Not for use while a GEMM runs.
static void gemm_set_blocking(int kc, int chunk, size_t a_budget) {
    gemm_blocking();
    if (kc > 0) gemm_blocking_chosen.kc = kc;
    if (chunk > 0) gemm_blocking_chosen.chunk = chunk;
    if (a_budget > 0) gemm_blocking_chosen.a_budget = a_budget;
}

// ----------------------------------------------------------------------------
// packing: A as panels of MR rows (panel[k * MR + r]), B as panels of NR columns (panel[k * NR + c]), each
// zero past the matrix's edge so that the tile always runs whole

#ifdef GEMM_AVX512
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

// mask of the first n (0..16) lanes
static inline __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1); }

// Lines x (up to 16, each a contiguous run along k, `stride` apart), k0..k0+kc, transposed into
// out[k * ld + line]: 16x16 blocks through registers, so each line is read in cache-line runs. Missing
// lines read as zeros; the k tail loads masked.
static void pack_transposed16(real* out, size_t ld, const real* x, size_t stride, int lines, int kc) {
    for (int k = 0; k < kc; k += 16) {
        int n = imin(16, kc - k);
        __m512 r[16];
        for (int l = 0; l < 16; l++) r[l] = l < lines ? _mm512_maskz_loadu_ps(lanes(n), x + (size_t)l * stride + k) : _mm512_setzero_ps();
        transpose16x16(r);
        for (int i = 0; i < n; i++) _mm512_storeu_ps(out + (size_t)(k + i) * ld, r[i]);
    }
}
#endif

// rows i0..i0+rows (rows <= MR) of A, k0..k0+kc, as one panel
static void pack_a_panel(real* panel, MatrixView A, int i0, int rows, int k0, int kc) {
    const real* a = A.p + (size_t)i0 * A.rs + (size_t)k0 * A.cs;
#ifdef GEMM_AVX512
    if (A.rs == 1) { // dweight's dout^T: the panel's rows are contiguous at each k
        __mmask16 m = lanes(rows);
        for (int k = 0; k < kc; k++) _mm256_storeu_ps(panel + k * GEMM_MR, _mm256_maskz_loadu_ps((__mmask8)m, a + (size_t)k * A.cs));
        return;
    }
#endif
    for (int k = 0; k < kc; k++) {
        for (int r = 0; r < GEMM_MR; r++) panel[k * GEMM_MR + r] = r < rows ? a[(size_t)r * A.rs + (size_t)k * A.cs] : 0;
    }
}

// Two panels of A (rows i0.., `rows` of them up to 2 MR; the second panel `stride` after the first) in one
// pass; where A's rows are contiguous along k (the forward's and dinp's A), 16 rows transposed at a time,
// each 16-wide column of the transpose holding k's 8 values of the first panel, then the second's.
static void pack_a_pair(real* panels, size_t stride, MatrixView A, int i0, int rows, int k0, int kc) {
#ifdef GEMM_AVX512
    if (A.cs == 1 && GEMM_MR == 8) {
        real* first = panels;
        real* second = panels + stride;
        const real* a = A.p + (size_t)i0 * A.rs + k0;
        for (int k = 0; k < kc; k += 16) {
            int n = imin(16, kc - k);
            __m512 r[16];
            for (int l = 0; l < 16; l++) r[l] = l < rows ? _mm512_maskz_loadu_ps(lanes(n), a + (size_t)l * A.rs + k) : _mm512_setzero_ps();
            transpose16x16(r);
            for (int i = 0; i < n; i++) {
                _mm256_storeu_ps(first + (size_t)(k + i) * GEMM_MR, _mm512_castps512_ps256(r[i]));
                if (rows > GEMM_MR) _mm256_storeu_ps(second + (size_t)(k + i) * GEMM_MR, _mm512_extractf32x8_ps(r[i], 1));
            }
        }
        return;
    }
#endif
    pack_a_panel(panels, A, i0, imin(rows, GEMM_MR), k0, kc);
    if (rows > GEMM_MR) pack_a_panel(panels + stride, A, i0 + GEMM_MR, rows - GEMM_MR, k0, kc);
}

// columns j0..j0+cols (cols <= NR) of B, k0..k0+kc, as one panel
static void pack_b_panel(real* panel, MatrixView B, int j0, int cols, int k0, int kc) {
    const real* b = B.p + (size_t)k0 * B.rs + (size_t)j0 * B.cs;
#ifdef GEMM_AVX512
    if (B.cs == 1) { // dinp's and dweight's B: rows of B are contiguous
        for (int k = 0; k < kc; k++) {
            for (int v = 0; v < GEMM_NR / 16; v++) {
                _mm512_storeu_ps(panel + k * GEMM_NR + 16 * v, _mm512_maskz_loadu_ps(lanes(cols - 16 * v), b + (size_t)k * B.rs + 16 * v));
            }
        }
        return;
    }
    if (B.rs == 1) { // the forward's B, the weight read transposed: its columns are contiguous
        for (int v = 0; v < GEMM_NR / 16; v++) {
            if (cols > 16 * v) {
                pack_transposed16(panel + 16 * v, GEMM_NR, b + (size_t)16 * v * B.cs, B.cs, cols - 16 * v, kc);
            } else {
                for (int k = 0; k < kc; k++) _mm512_storeu_ps(panel + k * GEMM_NR + 16 * v, _mm512_setzero_ps());
            }
        }
        return;
    }
#endif
    for (int k = 0; k < kc; k++) {
        for (int c = 0; c < GEMM_NR; c++) panel[k * GEMM_NR + c] = c < cols ? b[(size_t)k * B.rs + (size_t)c * B.cs] : 0;
    }
}

// ----------------------------------------------------------------------------
// the register tile: c (rows <= MR of C, ldc apart; cols <= NR) = a panel @ b panel over kc (+ c when
// accumulate). It computes the whole MR x NR tile and stores its valid part.

#ifdef GEMM_AVX512
static void gemm_tile(int kc, const float* a, const float* b, float* c, size_t ldc, int rows, int cols, int accumulate) {
    __m512 acc[GEMM_MR][3];
    for (int r = 0; r < GEMM_MR; r++) acc[r][0] = acc[r][1] = acc[r][2] = _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) { // C's lines are wanted at the end (for the add, or the store's ownership)
        for (int v = 0; v < 3; v++) _mm_prefetch((const char*)(c + r * ldc + 16 * v), _MM_HINT_T0);
    }
    for (int k = 0; k < kc; k++, a += GEMM_MR, b += GEMM_NR) {
        // B's micro-panel (kc x NR) does not fit in L1 beside A's at GPT-2's depths: its lines come from L2,
        // asked for GEMM_B_AHEAD steps of k early (2-8% faster across GPT-2's products, measured side by side)
        for (int v = 0; v < 3; v++) _mm_prefetch((const char*)(b + GEMM_B_AHEAD * GEMM_NR + 16 * v), _MM_HINT_T0);
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32);
        GEMM_UNROLL_ROWS
        for (int r = 0; r < GEMM_MR; r++) {
            __m512 ar = _mm512_set1_ps(a[r]);
            acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(ar, b2, acc[r][2]);
        }
    }
    if (rows == GEMM_MR && cols == GEMM_NR) { // a whole tile: plain stores, the accumulators stay in registers
        GEMM_UNROLL_ROWS
        for (int r = 0; r < GEMM_MR; r++) {
            for (int v = 0; v < 3; v++) {
                __m512 x = accumulate ? _mm512_add_ps(acc[r][v], _mm512_loadu_ps(c + r * ldc + 16 * v)) : acc[r][v];
                _mm512_storeu_ps(c + r * ldc + 16 * v, x);
            }
        }
        return;
    }
    __mmask16 m[3] = {lanes(cols), lanes(cols - 16), lanes(cols - 32)};
    for (int r = 0; r < rows; r++, c += ldc) {
        for (int v = 0; v < 3; v++) {
            __m512 x = accumulate ? _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(m[v], c + 16 * v)) : acc[r][v];
            _mm512_mask_storeu_ps(c + 16 * v, m[v], x);
        }
    }
}
#else
// portable: the compiler vectorises the NR-wide rows (and the double build uses this)
static void gemm_tile(int kc, const real* a, const real* b, real* c, size_t ldc, int rows, int cols, int accumulate) {
    real acc[GEMM_MR][GEMM_NR] = {{0}};
    for (int k = 0; k < kc; k++, a += GEMM_MR, b += GEMM_NR) {
        for (int r = 0; r < GEMM_MR; r++) {
            for (int j = 0; j < GEMM_NR; j++) acc[r][j] += a[r] * b[j];
        }
    }
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < cols; j++) c[r * ldc + j] = acc[r][j] + (accumulate ? c[r * ldc + j] : 0);
    }
}
#endif

// ----------------------------------------------------------------------------
// the driver

// Packing buffers for calls at the top level (shared by the team), grown as needed and kept. A call nested
// in a parallel region (attention's per-head products) runs on the calling thread alone and allocates its
// own for the call: its products are small, and buffers kept per thread would be lost when OpenMP retires
// the thread.
typedef struct {
    real* p;
    size_t n;
} GemmBuffer;

static real* gemm_alloc(size_t n) {
    real* p = (real*)aligned_alloc(64, (n * sizeof(real) + 63) / 64 * 64);
    if (p == NULL) die("could not allocate the GEMM's %.1f MiB of packing buffers", n * sizeof(real) / 1048576.0);
    return p;
}

static real* gemm_buffer(GemmBuffer* b, size_t n) {
    if (n > b->n) {
        free(b->p);
        b->n = n + n / 4;
        b->p = gemm_alloc(b->n);
    }
    return b->p;
}

static GemmBuffer gemm_top_a, gemm_top_b;

// Slab s (of those from p0) of pair q of a block of A's rows (ic.., m of them) into the packed block: each
// panel kc x MR apart, whatever the slab's depth, a_slab apart from slab to slab.
static void pack_a_block_pair(real* a_block, size_t a_slab, int kc, MatrixView A, int ic, int m, int p0, int K, int q, int s) {
    int k0 = p0 + s * kc;
    pack_a_pair(a_block + s * a_slab + (size_t)q * 2 * GEMM_MR * kc, (size_t)GEMM_MR * kc, A, ic + q * 2 * GEMM_MR,
                imin(2 * GEMM_MR, m - q * 2 * GEMM_MR), k0, imin(kc, K - k0));
}

// C (M,N), rows ldc apart, = or += A @ B (see GemmMode). Called inside a parallel region it runs on the
// calling thread alone.
static void gemm(real* C, size_t ldc, MatrixView A, MatrixView B, int M, int N, int K, GemmMode mode) {
    if (M <= 0 || N <= 0) return;
    if (K == 0) { // an empty sum (GTA with every key dim rotated has no k1 part)
        for (int i = 0; i < M && mode != GEMM_ADD; i++) memset(C + (size_t)i * ldc, 0, N * sizeof(real));
        return;
    }
    const GemmBlocking* blk = gemm_blocking();
    int nested = 0, threads = 1;
#ifdef _OPENMP
    nested = omp_in_parallel();
    threads = nested ? 1 : omp_get_max_threads();
#endif
    int kc = blk->kc, mpanels = (M + GEMM_MR - 1) / GEMM_MR, npanels = (N + GEMM_NR - 1) / GEMM_NR;
    // Split the columns, unless the rows divide more evenly: tiles per thread, the busiest thread's
    // against the even share (a column split of 3 panels over 2 threads leaves one thread twice the work)
    int mpairs = (mpanels + 1) / 2; // A panels go to threads in pairs (packed together)
    double n_excess = (double)((npanels + threads - 1) / threads) * threads / npanels;
    double m_excess = (double)((mpairs + threads - 1) / threads) * threads / mpairs;
    // Split the rows, too, when A has rows enough and K is one slab deep (a weight gradient: B*T deep) or
    // one chunk holds all of B's panels: each pair of A panels, packed once, meets all of B chunk by chunk,
    // where a column split would stream all of A once per panel of B (GPT-2's weight gradients 1.07-1.21x
    // faster, measured side by side; the MLP projection's, whose B takes 4 chunks, 1.10x). A chunk holds
    // blk->chunk panels kc deep: more when K is shallower.
    int chunk_fit = (int)((long)blk->chunk * kc / imin(kc, K));
    int split_m = threads > 1 && (m_excess < n_excess || ((K <= kc || npanels <= chunk_fit) && mpairs >= 4 * threads));
    // A's rows per block: all of K for as many rows as the budget holds (then a block of C is visited
    // once per call, not once per slab), else one slab of K at a time
    int k_outer = K;
    int mc = (int)(blk->a_budget / ((size_t)K * 2 * GEMM_MR)) * 2 * GEMM_MR;
    if (mc < 8 * GEMM_MR) {
        k_outer = kc;
        mc = (int)(blk->a_budget / ((size_t)kc * 2 * GEMM_MR)) * 2 * GEMM_MR;
    }
    mc = imin(mc < 2 * GEMM_MR ? 2 * GEMM_MR : mc, round_up(M, 2 * GEMM_MR));
    // With the columns split, a thread claims C's column panels one at a time (the next unclaimed, so a
    // thread slowed by the host takes fewer) and runs all of the block's A panels past each, packing the
    // panel into a buffer of its own. With the rows split, the threads pack a chunk of B panels together (as
    // equal as the chunks can be, up to chunk_fit panels), then claim pairs of A panels. Either way a tile of
    // C takes the slabs of K in order (with the rows split, a barrier between slabs) and its arithmetic is
    // the same whichever thread runs it: the result does not depend on who claimed what.
    int nchunks = (npanels + chunk_fit - 1) / chunk_fit, chunk = split_m ? (npanels + nchunks - 1) / nchunks : 1;
    size_t a_slab = (size_t)mc * kc, b_panel = (size_t)kc * GEMM_NR;
    size_t a_size = a_slab * ((k_outer + kc - 1) / kc), b_size = b_panel * (split_m ? chunk : threads);
    real* a_block = nested ? gemm_alloc(a_size) : gemm_buffer(&gemm_top_a, a_size);
    real* b_block = nested ? gemm_alloc(b_size) : gemm_buffer(&gemm_top_b, b_size);
    // one claim counter per round of claims, every thread going through the same rounds
    int n_ic = (M + mc - 1) / mc, n_p0 = (K + k_outer - 1) / k_outer, slabs = (k_outer + kc - 1) / kc;
    size_t rounds = (size_t)n_ic * n_p0 * (split_m ? (size_t)nchunks * slabs : 1);
    int* claims = threads > 1 ? (int*)calloc(rounds, sizeof(int)) : NULL; // one thread claims from a counter of its own
    if (threads > 1 && claims == NULL) die("could not allocate the GEMM's %zu claim counters", rounds);

    #pragma omp parallel num_threads(threads) if (!nested)
    {
        int t = 0, P = 1;
#ifdef _OPENMP
        if (!nested) t = omp_get_thread_num(), P = omp_get_num_threads();
#endif
        size_t round = 0;
        int own = 0; // the claim counter of a GEMM on one thread
        for (int ic = 0; ic < M; ic += mc) {
            int m = imin(mc, M - ic), mp = (m + GEMM_MR - 1) / GEMM_MR, pairs = (mp + 1) / 2;
            for (int p0 = 0; p0 < K; p0 += k_outer) {
                int ns = (imin(k_outer, K - p0) + kc - 1) / kc;
                // nobody may still read the previous block's packed A (or, with the rows split, B)
                if (p0 > 0 || ic > 0) {
                    #pragma omp barrier
                }
                if (!split_m) {
                    // everyone reads all of A's panels: packed together, then a barrier
                    for (int q = t; q < pairs; q += P) {
                        for (int s = 0; s < ns; s++) pack_a_block_pair(a_block, a_slab, kc, A, ic, m, p0, K, q, s);
                    }
                    #pragma omp barrier
                    int* next = claims ? &claims[round++] : (own = 0, &own);
                    real* b = b_block + (size_t)t * b_panel;
                    for (;;) {
                        int j;
                        #pragma omp atomic capture
                        j = (*next)++;
                        if (j >= npanels) break;
                        int col0 = j * GEMM_NR, cols = imin(GEMM_NR, N - col0);
                        for (int s = 0; s < ns; s++) {
                            int k0 = p0 + s * kc, kk = imin(kc, K - k0), acc = mode == GEMM_ADD || k0 > 0;
                            pack_b_panel(b, B, col0, cols, k0, kk);
                            for (int i = 0; i < mp; i++) {
                                int row0 = ic + i * GEMM_MR, rows = imin(GEMM_MR, M - row0);
                                if (mode == GEMM_LOWER && row0 + rows - 1 < col0) continue;
                                gemm_tile(kk, a_block + s * a_slab + (size_t)i * GEMM_MR * kc, b, C + (size_t)row0 * ldc + col0, ldc, rows,
                                          cols, acc);
                            }
                        }
                    }
                    continue;
                }
                // the rows split: a chunk of B panels and a slab at a time, packed together between barriers;
                // a pair of A's panels is packed by whoever claims it first (in the first chunk), just before
                // its tiles, and read from the block in the later chunks
                for (int j0 = 0; j0 < npanels; j0 += chunk) {
                    int jn = imin(chunk, npanels - j0);
                    for (int s = 0; s < ns; s++) {
                        int k0 = p0 + s * kc, kk = imin(kc, K - k0), acc = mode == GEMM_ADD || k0 > 0;
                        if (j0 > 0 || s > 0) {
                            #pragma omp barrier
                        }
                        for (int jj = t; jj < jn; jj += P) {
                            int j = j0 + jj;
                            pack_b_panel(b_block + (size_t)jj * b_panel, B, j * GEMM_NR, imin(GEMM_NR, N - j * GEMM_NR), k0, kk);
                        }
                        #pragma omp barrier
                        int* next = claims ? &claims[round++] : (own = 0, &own);
                        for (;;) {
                            int q;
                            #pragma omp atomic capture
                            q = (*next)++;
                            if (q >= pairs) break;
                            if (j0 == 0) pack_a_block_pair(a_block, a_slab, kc, A, ic, m, p0, K, q, s);
                            for (int i = 2 * q; i < imin(2 * q + 2, mp); i++) {
                                int row0 = ic + i * GEMM_MR, rows = imin(GEMM_MR, M - row0);
                                const real* a = a_block + s * a_slab + (size_t)i * GEMM_MR * kc;
                                for (int jj = 0; jj < jn; jj++) {
                                    int col0 = (j0 + jj) * GEMM_NR;
                                    if (mode == GEMM_LOWER && row0 + rows - 1 < col0) continue;
                                    gemm_tile(kk, a, b_block + (size_t)jj * b_panel, C + (size_t)row0 * ldc + col0, ldc, rows,
                                              imin(GEMM_NR, N - col0), acc);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    free(claims);
    if (nested) {
        free(a_block);
        free(b_block);
    }
}

#endif // LLMC_CPU_GEMM_H
