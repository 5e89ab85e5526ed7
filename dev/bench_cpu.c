/*
CPU training speed (dev/bench_common.h has the driver, the table and the flags): the peak is the FMA
throughput measured here (12 independent AVX-512 FMA chains per thread, enough to
hide the FMA latency) or given (--peak-gflops).

    make bench                                           the small table, then GPT-2 124M with MHA and AdamW
    ./dev/bench_cpu --preset gpt2                        GPT-2 124M: L=12 C=768 H=12 V=50257, learned positions, B=4 T=64
    ./dev/bench_cpu --preset gpt2 --table 1              the same for every variant and optimizer (minutes: Muon)
    ./dev/bench_cpu --preset small --table 1             L=4 C=256 H=4 V=50257, B=4 T=64: 6 variants x 2 optimizers
    ./dev/bench_cpu --preset train --attn gqa            make train's model (L=4 C=128 H=4 V=257, B=6 T=128)
    ./dev/bench_cpu --layers 6 --channels 384 --heads 6 --vocab-size 257 -b 8 -t 256 --optimizer muon --threads 2
    ./dev/bench_cpu --preset gpt2 --gemm 2               the GEMM table alone: ours against OpenBLAS on GPT-2's shapes
    ./dev/bench_cpu --preset small --pos rope --decode 1 adds decoding at 1K and 8K context, its GB/s and the read bandwidth

--rounds N (default 3) repeats the whole table with its rows interleaved; --gemm 1 adds the GEMM table after it.
*/
#define TESTING
#include <dlfcn.h>
#include <unistd.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "../train_gpt.c"

// The read bandwidth of all threads over `bytes`, GB/s: a STREAM-like loop summing a buffer (each thread a
// contiguous share, 8 independent vector sums so that the adds keep up with any cache), the best of 5
// passes after one that warms it.
static double read_pass_gbs(const float* x, size_t n) {
    double t0 = wall_seconds();
    float total = 0;
    #pragma omp parallel reduction(+ : total)
    {
        int t = 0, P = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), P = omp_get_num_threads();
#endif
        size_t share = (n / P + 127) / 128 * 128, i0 = t * share, i1 = i0 + share < n ? i0 + share : n, i = i0;
        float s = 0;
#if defined(__AVX512F__)
        __m512 acc[8];
        for (int k = 0; k < 8; k++) acc[k] = _mm512_setzero_ps();
        for (; i + 128 <= i1; i += 128) {
            for (int k = 0; k < 8; k++) acc[k] = _mm512_add_ps(acc[k], _mm512_loadu_ps(x + i + 16 * k));
        }
        for (int k = 1; k < 8; k++) acc[0] = _mm512_add_ps(acc[0], acc[k]);
        s = _mm512_reduce_add_ps(acc[0]);
#endif
        for (; i < i1; i++) s += x[i];
        total += s;
    }
    double seconds = wall_seconds() - t0;
    return total == -1.0f ? 0 : n * sizeof(float) / seconds / 1e9; // total keeps the loop alive
}

static double read_bandwidth(double bytes) {
    size_t n = (size_t)(bytes / sizeof(float));
    float* x = (float*)mallocCheck(n * sizeof(float));
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = 1.0f;
    double best = 0;
    for (int pass = 0; pass < 6; pass++) {
        double gbs = read_pass_gbs(x, n);
        if (pass > 0) best = fmax(best, gbs);
    }
    free(x);
    return best;
}

// the decode columns' bandwidth: over one decode step's bytes at 8K, and over 1 GiB (memory) for reference
static double decode_read_bandwidth(double bytes) {
    double gbs = read_bandwidth(bytes), dram = read_bandwidth(1 << 30);
    printf("read bandwidth (a STREAM-like sum, all threads, best of 5): %.1f GB/s over %.0f MB (one decode step's bytes at 8K), "
           "%.1f GB/s over 1 GiB\n", gbs, bytes / 1e6, dram);
    return gbs;
}
#define BENCH_READ_BANDWIDTH decode_read_bandwidth
// the step bound's bandwidth: over as many bytes as the per-parameter passes touch (a small model's stay in
// cache), at most 1 GiB
static double memory_read_bandwidth(double bytes) { return read_bandwidth(fmin(bytes, 1 << 30)); }
#define BENCH_MEMORY_BANDWIDTH memory_read_bandwidth

#include "bench_common.h"

// The FMA throughput of all threads in GFLOP/s: the best of three runs of 12 independent chains.
static double measure_peak_gflops(void) {
#if defined(__AVX512F__)
    double best = 0;
    long iters = 20000000;
    for (int run = 0; run < 3; run++) {
        int threads = 1;
        float sink = 0;
        double t0 = wall_seconds();
        #pragma omp parallel reduction(+ : sink)
        {
#ifdef _OPENMP
            #pragma omp single
            threads = omp_get_num_threads();
#endif
            __m512 acc[12], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
            for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
            for (long it = 0; it < iters; it++) {
                for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
            }
            for (int i = 1; i < 12; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
            sink += _mm512_reduce_add_ps(acc[0]);
        }
        double gflops = threads * (double)iters * 12 * 16 * 2 / (wall_seconds() - t0) / 1e9;
        if (gflops > best && sink != 12345.0f) best = gflops; // sink keeps the loop alive
    }
    return best;
#else
    die_hint("pass the machine's peak with --peak-gflops", "the FMA peak loop needs AVX-512 (build with -march=native on such a CPU)");
#endif
}

static double bench_setup(const BenchArgs* a, char* machine, size_t n) {
    if (a->precision != NULL && strcmp(a->precision, "fp32") != 0) {
        die_hint("drop --precision: the CPU trainer computes in fp32", "--precision %s is for dev/bench_gpu", a->precision);
    }
#ifdef _OPENMP
    if (a->threads > 0) omp_set_num_threads(a->threads);
    int threads = omp_get_max_threads();
#else
    int threads = 1;
#endif
    snprintf(machine, n, "CPU, %d thread(s), fp32; the peak: AVX-512 FMA loop, all threads", threads);
    return a->peak_gflops > 0 ? a->peak_gflops : measure_peak_gflops();
}

// the CPU trainer needs nothing beyond the model
static void bench_begin(GPT* model, const BenchArgs* a) { (void)model, (void)a; }

static void bench_end(GPT* model) { (void)model; }

// ----------------------------------------------------------------------------
// The GEMM table (--gemm 1): train_gpt.c's GEMM and, where the machine has it, OpenBLAS's cblas_sgemm on each
// of the model's matmul shapes. OpenBLAS is loaded at run time (dlopen), so nothing here needs it to build.

// cblas_sgemm's arguments; the enums are ints: CblasRowMajor 101, CblasNoTrans 111, CblasTrans 112
typedef void (*SgemmFn)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef struct {
    SgemmFn sgemm;
    char core[64];    // the kernels OpenBLAS chose (openblas_get_corename)
    char how[160];    // how that core came about
} OpenBlas;

// Loads libopenblas.so.0 with as many threads as OpenMP has. Debian's OpenBLAS misdetects recent Intel
// processors with AVX-512 and falls back to SSE3 kernels: there OPENBLAS_CORETYPE=SkylakeX is set first
// (unless the environment already sets it), and the core type it then ran is printed.
static OpenBlas openblas_load(int threads) {
    OpenBlas ob = {NULL, "", ""};
    const char* given = getenv("OPENBLAS_CORETYPE");
    int intel_avx512 = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    intel_avx512 = __builtin_cpu_is("intel") && __builtin_cpu_supports("avx512f");
#endif
    if (given == NULL && intel_avx512) setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    void* lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) return ob;
    ob.sgemm = (SgemmFn)dlsym(lib, "cblas_sgemm");
    void (*set_threads)(int) = (void (*)(int))dlsym(lib, "openblas_set_num_threads");
    char* (*corename)(void) = (char* (*)(void))dlsym(lib, "openblas_get_corename");
    if (set_threads) set_threads(threads);
    snprintf(ob.core, sizeof(ob.core), "%s", corename ? corename() : "unknown");
    snprintf(ob.how, sizeof(ob.how), "%s", given ? "OPENBLAS_CORETYPE from the environment"
                                             : intel_avx512 ? "OPENBLAS_CORETYPE=SkylakeX set by this benchmark (Intel, AVX-512)"
                                                            : "detected by OpenBLAS");
    return ob;
}

// one product of the table: C (M,N) (+)= op(A) @ op(B) as a layer's forward, dinp or dweight computes it
typedef struct {
    char name[40];
    int M, N, K, a_trans, b_trans, add; // a_trans: A is stored (K,M); b_trans: B is stored (N,K)
} GemmShape;

// seconds per product: the median of `reps` timed runs after `warm` untimed ones
static double time_gemm(const GemmShape* g, const float* A, const float* B, float* C, const OpenBlas* ob, int reps) {
    double* t = (double*)mallocCheck(reps * sizeof(double));
    MatrixView a = {A, g->a_trans ? 1 : (size_t)g->K, g->a_trans ? (size_t)g->M : 1};
    MatrixView b = {B, g->b_trans ? 1 : (size_t)g->N, g->b_trans ? (size_t)g->K : 1};
    for (int r = -1; r < reps; r++) {
        double t0 = wall_seconds();
        if (ob == NULL) {
            gemm(C, g->N, a, b, g->M, g->N, g->K, g->add ? GEMM_ADD : GEMM_SET);
        } else {
            ob->sgemm(ROW_MAJOR, g->a_trans ? TRANS : NO_TRANS, g->b_trans ? TRANS : NO_TRANS, g->M, g->N, g->K, 1.0f, A,
                      g->a_trans ? g->M : g->K, B, g->b_trans ? g->K : g->N, g->add ? 1.0f : 0.0f, C, g->N);
        }
        if (r >= 0) t[r] = wall_seconds() - t0;
    }
    double s = median(t, reps);
    free(t);
    return s;
}

// The model's matmuls at N = B*T rows: each layer's forward (out = inp @ W^T), and its backward's two
// products (dinp = dout @ W, dW += dout^T @ inp); the LM head last.
static int model_gemm_shapes(const BenchArgs* a, GemmShape* s) {
    GPTConfig c = bench_config(a, a->attn);
    int N = a->B * a->T, n = 0;
    struct {
        const char* name;
        int in, out;
    } layers[] = {{"qkv", c.channels, qkv_width(&c)}, {"attproj", c.num_heads * c.head_dim, c.channels},
                  {"fc", c.channels, c.mlp_hidden}, {"fcproj", c.mlp_hidden, c.channels}, {"lm head", c.channels, c.padded_vocab_size}};
    for (size_t l = 0; l < sizeof(layers) / sizeof(layers[0]); l++) {
        int in = layers[l].in, out = layers[l].out;
        if (is_latent(&c) && l == 0) continue; // the latent variants' projections differ; the table is for the fused ones
        GemmShape f = {"", N, out, in, 0, 1, 0}, di = {"", N, in, out, 0, 0, 0}, dw = {"", out, in, N, 1, 0, 1};
        snprintf(f.name, sizeof(f.name), "%s forward", layers[l].name);
        snprintf(di.name, sizeof(di.name), "%s dinp", layers[l].name);
        snprintf(dw.name, sizeof(dw.name), "%s dweight", layers[l].name);
        s[n++] = f, s[n++] = di, s[n++] = dw;
    }
    return n;
}

static void bench_report(const BenchArgs* a, double peak) {
    if (!a->gemm) return;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    OpenBlas ob = openblas_load(threads);
    GemmShape shapes[16];
    int n = model_gemm_shapes(a, shapes);
    printf("\nGEMM: train_gpt.c's packed GEMM");
    if (ob.sgemm) printf(" and OpenBLAS's cblas_sgemm (core %s: %s)", ob.core, ob.how);
    else printf(" (OpenBLAS: libopenblas.so.0 not found, so no comparison; Debian: apt-get install libopenblas0)");
    printf(", %d thread(s), %d rounds, ours and OpenBLAS's runs interleaved; GFLOP/s: medians; ratio: the median of each\n"
           "round's ours/OpenBLAS with its range; %% peak: of the FMA loop's %.1f GFLOP/s\n\n", threads, a->rounds, peak);
    printf("| product | M | N | K | ours GFLOP/s | %% peak |%s\n", ob.sgemm ? " OpenBLAS GFLOP/s | ours / OpenBLAS (min-max) | max rel diff |" : "");
    printf("|---|---|---|---|---|---|%s\n", ob.sgemm ? "---|---|---|" : "");
    for (int i = 0; i < n; i++) {
        const GemmShape* g = &shapes[i];
        size_t na = (size_t)g->M * g->K, nb = (size_t)g->K * g->N, nc = (size_t)g->M * g->N;
        float *A = (float*)mallocCheck(na * 4), *B = (float*)mallocCheck(nb * 4), *C = (float*)callocCheck(nc, 4);
        float* C2 = (float*)callocCheck(nc, 4);
        uint64_t rng = rng_seed(7);
        for (size_t k = 0; k < na; k++) A[k] = random_f32(&rng) - 0.5f;
        for (size_t k = 0; k < nb; k++) B[k] = random_f32(&rng) - 0.5f;
        double flop = 2.0 * g->M * g->N * g->K;
        int reps = (int)fmax(3, fmin(50, 0.05 / (flop / (peak * 1e9)))); // about 50 ms of work per timing at the peak
        double ours[64], theirs[64], ratio[64];
        int rounds = a->rounds < 64 ? a->rounds : 64;
        for (int r = 0; r < rounds; r++) {
            // alternate which goes first; between libraries, a pause lets the other's worker threads stop spinning
            for (int side = 0; side < 2; side++) {
                int openblas = (side ^ (r & 1)) == 1;
                if (openblas && !ob.sgemm) continue;
                if (ob.sgemm) usleep(200000);
                double s = time_gemm(g, A, B, openblas ? C2 : C, openblas ? &ob : NULL, reps);
                (openblas ? theirs : ours)[r] = flop / s / 1e9;
            }
            if (ob.sgemm) ratio[r] = ours[r] / theirs[r];
        }
        double lo = 1e30, hi = 0;
        for (int r = 0; r < rounds && ob.sgemm; r++) lo = fmin(lo, ratio[r]), hi = fmax(hi, ratio[r]);
        double gf = median(ours, rounds);
        printf("| %s | %d | %d | %d | %.1f | %.1f |", g->name, g->M, g->N, g->K, gf, 100 * gf / peak);
        if (ob.sgemm) {
            // a dweight product accumulates: both ran the same number of times from zero, so C and C2 match
            double diff = 0, scale = 1e-30;
            for (size_t k = 0; k < nc; k++) diff = fmax(diff, fabs((double)C[k] - C2[k])), scale = fmax(scale, fabs((double)C2[k]));
            printf(" %.1f | %.2f (%.2f-%.2f) | %.1e |", median(theirs, rounds), median(ratio, rounds), lo, hi, diff / scale);
            // both sum in fp32 in different orders; a larger gap is a wrong product, and its speed means nothing
            if (!(diff / scale < 1e-4)) die("%s: train_gpt.c's GEMM and OpenBLAS differ by %.1e of the largest element", g->name, diff / scale);
        }
        printf("\n");
        free(A), free(B), free(C), free(C2);
    }
}
