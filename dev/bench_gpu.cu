/*
GPU training speed (dev/bench_common.h has the driver, the table and the flags) with train_gpt.cu's
kernels on one GPU. Each phase (forward with the loss, backward, optimizer: one training step) ends with
the device synchronised. The peak is the trainer's own (an 8192^3 matmul in
the chosen --precision, as train_gptcu prints at start) or given. CI compiles this; it needs a GPU to run.

    make bench-gpu                                        GPT-2 124M's shape at T=1024 (--preset gpt2-1k, B=16):
                                                          every variant with AdamW and Muon, decode at 1K and 8K
    ./dev/bench_gpu --preset gpt2-1k -b 32 --attn mla     one row; raise -b to find the largest micro-batch that fits
    ./dev/bench_gpu --preset gpt2-1k --precision fp32     true fp32 matmuls
*/
#define TESTING
#include "../train_gpt.cu"
#include "bench_common.h"

static int bench_bf16 = 1;

static double bench_setup(const BenchArgs* a, char* machine, size_t n) {
    if (a->threads > 0) die_hint("drop --threads: it sets the CPU benchmark's OpenMP threads", "--threads given to the GPU benchmark");
    const char* precision = a->precision != NULL ? a->precision : "bf16";
    if (strcmp(precision, "bf16") != 0 && strcmp(precision, "fp32") != 0) {
        die_hint("use --precision bf16 or fp32", "unknown --precision '%s'", precision);
    }
    bench_bf16 = strcmp(precision, "bf16") == 0;
    cudaDeviceProp prop = require_gpu();
    snprintf(machine, n, "GPU %s, %s matmuls; the peak: %s", prop.name, bench_bf16 ? "bf16 (fp32 accumulation)" : "fp32",
             a->peak_gflops > 0 ? "--peak-gflops" : "8192^3 matmul");
    return a->peak_gflops > 0 ? a->peak_gflops : measure_peak_gflops(bench_bf16);
}

static void bench_begin(GPT* model, const BenchArgs* a) { matmul_setup(bench_bf16, largest_matmul_input(&model->config, a->B, a->T)); }

static void bench_end(GPT* model) {
    (void)model;
    matmul_teardown();
}

// nothing beyond the table yet
static void bench_report(const BenchArgs* a, double peak) { (void)a, (void)peak; }
