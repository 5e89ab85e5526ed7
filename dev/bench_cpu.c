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
*/
#define TESTING
#include "../train_gpt.c"
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

// nothing beyond the table yet
static void bench_report(const BenchArgs* a, double peak) { (void)a, (void)peak; }
