/*
GPT training on GPUs: the CUDA counterpart of train_gpt.c, with the same model (llmc/model.h, the graph both
trainers share), optimizers, flags, log and checkpoint files, so a run can start on one trainer and
continue on the other. This file is the trainer's own part: its memory (device buffers), its processes
(one per GPU, NCCL), and its hooks into main (llmc/train.h). The layers, with train_gpt.c's names and
arguments, are the kernels of llmc/cuda/ (namespace gpu).

Precision: parameters, gradients, optimizer state and activations are fp32 on the device (the fp32 master
weights); in the default bf16 mode every matmul reads its inputs as bf16 and accumulates in fp32
(cuBLASLt), Muon's Newton-Schulz included. `--precision fp32` multiplies in true fp32, to compare with the
CPU trainer. Every reduction has a fixed order (no float atomics): gradients are deterministic.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/attention_layout.h"
#include "llmc/cuda/attention.cuh"
#include "llmc/cuda/common.cuh"
#include "llmc/cuda/layers.cuh"
#include "llmc/cuda/matmul.cuh"
#include "llmc/cuda/mosaic.cuh"
#include "llmc/cuda/nccl.cuh"
#include "llmc/cuda/optimizer.cuh"
#include "llmc/distributed.h"

using namespace gpu;

typedef float real; // the element type of every tensor (fp32 master weights)
#define REAL_DTYPE "F32"

// ----------------------------------------------------------------------------
// the trainer's memory and processes, as llmc/model.h uses them: device buffers; NCCL between processes

#define DEVICE_NAME "the GPU"
#define TRAINER_PRECISION "bf16"

static double device_memory_bytes(void) {
    size_t free_bytes = 0, total = 0;
    cudaCheck(cudaMemGetInfo(&free_bytes, &total));
    return (double)free_bytes; // what this process can still have: other processes may share the GPU
}
static real* tensor_alloc(size_t n) { return (real*)cuda_calloc(n * sizeof(real)); }
static void tensor_free(real* x) {
    if (x) cudaCheck(cudaFree(x));
}
static void tensor_zero(real* x, size_t n) { cudaCheck(cudaMemset(x, 0, n * sizeof(real))); }
static void tensor_copy(real* dst, const real* src, size_t n) { cudaCheck(cudaMemcpy(dst, src, n * sizeof(real), cudaMemcpyDeviceToDevice)); }
// rows of `width` elements, dst_stride and src_stride apart
static void tensor_copy_rows(real* dst, size_t dst_stride, const real* src, size_t src_stride, size_t rows, size_t width) {
    if (rows == 0 || width == 0) return;
    cudaCheck(cudaMemcpy2D(dst, dst_stride * sizeof(real), src, src_stride * sizeof(real), width * sizeof(real), rows, cudaMemcpyDeviceToDevice));
}
static void tensor_upload(real* dst, const real* host, size_t n) { cudaCheck(cudaMemcpy(dst, host, n * sizeof(real), cudaMemcpyHostToDevice)); }
static void tensor_download(real* host, const real* src, size_t n) { cudaCheck(cudaMemcpy(host, src, n * sizeof(real), cudaMemcpyDeviceToHost)); }

// the sum in double of n values on the device, added on the host in order (n is a batch's losses)
static double tensor_sum(const real* x, size_t n) {
    real* host = (real*)mallocCheck(n * sizeof(real));
    tensor_download(host, x, n);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += host[i];
    free(host);
    return s;
}

static int* tokens_alloc(size_t n) { return (int*)cuda_calloc(n * sizeof(int)); }
static void tokens_free(int* buffer) {
    if (buffer) cudaCheck(cudaFree(buffer));
}
static const int* tokens_upload(int* buffer, const int* host, size_t n) {
    cudaCheck(cudaMemcpy(buffer, host, n * sizeof(int), cudaMemcpyHostToDevice));
    return buffer;
}

typedef GpuGroup Comm;

static void comm_broadcast(Comm* comm, real* x, size_t n, int root) { gpu_broadcast(comm, x, n, root); }
// the gradient average, queued on the group's stream block by block while the backward goes on
static void comm_grads_begin(Comm* comm) { gpu_mean_async_begin(comm); }
static void comm_grads_mean(Comm* comm, real* x, size_t n) { gpu_mean_async(comm, x, n); }
static void comm_grads_end(Comm* comm) { gpu_mean_async_end(comm); }
static void comm_grads_wait(Comm* comm) { gpu_mean_async_wait(comm); }
static float comm_mean_scalar(Comm* comm, float x) { return gpu_mean_scalar(comm, x); }

#include "llmc/model.h"

// ----------------------------------------------------------------------------
// the trainer's hooks into main (llmc/train.h)

// the largest input any matmul converts to bf16: activations, weights, logits, Newton-Schulz matrices
static size_t largest_matmul_input(const GPTConfig* c, int B, int T) {
    size_t N = (size_t)B * T, most = 0;
    size_t widths[] = {(size_t)c->channels, (size_t)c->mlp_hidden, (size_t)qkv_width(c), (size_t)c->padded_vocab_size,
                       (size_t)c->num_heads * qk_head_dim(c), (size_t)latent_width(c), 2 * (size_t)c->num_heads * c->head_dim,
                       (size_t)c->q_rank, (size_t)c->pmem_size};
    for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) most = widths[i] * N > most ? widths[i] * N : most;
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t per_layer = specs[i].per_layer ? specs[i].numel / c->num_layers : specs[i].numel;
        most = per_layer > most ? per_layer : most;
        if (is_muon_tensor(&specs[i]) && specs[i].numel > most) most = specs[i].numel; // batched over layers
    }
    return most;
}

// ----------------------------------------------------------------------------
// the peak for MFU: measured at start with a large matmul of the chosen precision (no built-in table,
// which would print nonsense on a GPU it does not know), with bf16 buffers of its own: the run's are sized
// for its model, which may be far smaller

static double measure_peak_gflops(int bf16) {
    int n = 8192, reps = 10;
    matmul_setup(bf16, (size_t)n * n);
    float *a = (float*)cuda_calloc((size_t)n * n * sizeof(float)), *b = (float*)cuda_calloc((size_t)n * n * sizeof(float));
    float* out = (float*)cuda_calloc((size_t)n * n * sizeof(float));
    // the conversion of inputs to bf16 is timed too: it is what every matmul of this trainer pays
    gemm(out, a, b, n, n, n, 0, 0, 0.0f, 1, 0, 0, 0); // warm up
    cudaEvent_t start, stop;
    cudaCheck(cudaEventCreate(&start));
    cudaCheck(cudaEventCreate(&stop));
    cudaCheck(cudaEventRecord(start));
    for (int i = 0; i < reps; i++) gemm(out, a, b, n, n, n, 0, 0, 0.0f, 1, 0, 0, 0);
    cudaCheck(cudaEventRecord(stop));
    cudaCheck(cudaEventSynchronize(stop));
    float ms;
    cudaCheck(cudaEventElapsedTime(&ms, start, stop));
    cudaCheck(cudaFree(a));
    cudaCheck(cudaFree(b));
    cudaCheck(cudaFree(out));
    matmul_teardown();
    return 2.0 * n * n * (double)n * reps / (ms * 1e6);
}

// the first GPU's properties, or a clear exit where there is none
static cudaDeviceProp require_gpu(void) {
    cudaDeviceCountOrDie("run the CPU trainer ./train_gpt, which reads and writes the same checkpoints");
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    return prop;
}

static Comm trainer_init(const TrainArgs* a, Dist dist) {
    require_gpu();
    return gpu_group_init(dist, a->num_processes, a->process_rank, a->dist_init);
}

// the bf16 copies of matmul inputs, sized for this model's largest at (B, T)
static void trainer_ready(const GPT* model, const TrainArgs* a, int B, int T) {
    matmul_setup(strcmp(a->precision, "fp32") != 0, largest_matmul_input(&model->config, B, T));
}

static double trainer_peak_gflops(const TrainArgs* a) {
    return a->peak_gflops > 0 ? a->peak_gflops : measure_peak_gflops(strcmp(a->precision, "fp32") != 0);
}

static void trainer_describe(char* out, size_t n, const Comm* comm, const TrainArgs* a, double peak) {
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, 0));
    int bf16 = strcmp(a->precision, "fp32") != 0;
    snprintf(out, n, "%d x GPU %s, %s matmuls, peak %.0f TFLOP/s per GPU (%s)%s", comm->dist.size, prop.name,
             bf16 ? "bf16 (fp32 accumulation)" : "fp32", peak / 1e3, a->peak_gflops > 0 ? "--peak-gflops" : "measured: 8192^3 matmul",
             a->zero_stage ? ", ZeRO-1" : "");
}

static void trainer_sync(void) { cudaCheck(cudaDeviceSynchronize()); }

static void trainer_finish(Comm* comm) {
    matmul_teardown();
    gpu_group_free(comm);
}

#include "llmc/train.h"
