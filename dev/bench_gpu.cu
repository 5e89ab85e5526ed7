/*
GPU training speed (dev/bench_common.h has the driver, the table and the flags) with train_gpt.cu's
kernels on one GPU. Each phase ends with the device synchronised; forward is a forward pass alone (the
loss included), backward is the trainer's forward-and-backward pass (fused classifier) less that, so
forward + backward + optimizer is one training step. The peak is the trainer's own (an 8192^3 matmul in
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

static void bench_step(GPT* model, const int* tokens, const BenchArgs* a, int use_muon, int t, double ms[3]) {
    GpuGroup single;
    memset(&single, 0, sizeof(single));
    single.dist.size = 1;
    cudaCheck(cudaDeviceSynchronize());
    double t0 = wall_seconds();
    gpt_forward(model, tokens, tokens + 1, a->B, a->T);
    cudaCheck(cudaDeviceSynchronize());
    double t1 = wall_seconds();
    gpt_zero_grad(model);
    gpt_forward_backward(model, tokens, tokens + 1, a->B, a->T, 1.0f, NULL);
    cudaCheck(cudaDeviceSynchronize());
    double t2 = wall_seconds();
    float norm = gpt_grad_norm(model);
    gpt_optimizer_step(model, &single, &BENCH_ADAMW, use_muon ? &BENCH_MUON : NULL, BENCH_MUON.momentum, norm, 1.0f, t);
    cudaCheck(cudaDeviceSynchronize());
    double t3 = wall_seconds();
    ms[0] = 1e3 * (t1 - t0);
    ms[1] = 1e3 * ((t2 - t1) - (t1 - t0));
    ms[2] = 1e3 * (t3 - t2);
}

// as sampling decodes: one token per step, its logits downloaded to the host
static double bench_decode_ms(GPT* model, int context, int n) {
    DecodeState d;
    decode_state_init(&d, model);
    double ms = time_decode_ms(&model->config, gpt_decode_step, &d, context, n);
    decode_state_free(&d);
    return ms;
}
