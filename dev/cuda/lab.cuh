/*
The kernel lab's shared helpers (llm.c's dev/cuda style): each file here takes one family of GPU kernels
(the headers in llmc/cuda), runs it on random inputs against the CPU trainer's own functions (train_gpt.c, built in
with TESTING), prints the largest relative difference against a stated tolerance, then times the kernel.

    make -C dev/cuda && dev/cuda/attention      (each program exits 1 when a check fails)
*/
#ifndef DEV_CUDA_LAB_CUH
#define DEV_CUDA_LAB_CUH

#define TESTING
#include "../../train_gpt.c"
#include "../../llmc/cuda/common.cuh"
#include "../compare.h"

static uint64_t lab_rng = 0x5EED;
static int lab_failures = 0;

static float* host_random(size_t n, double std) {
    float* x = (float*)mallocCheck(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * random_normal(&lab_rng));
    return x;
}

static float* to_device(const float* host, size_t n) {
    float* d = (float*)cuda_calloc(n * sizeof(float));
    cudaCheck(cudaMemcpy(d, host, n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

static float* to_host(const float* device, size_t n) {
    float* h = (float*)mallocCheck(n * sizeof(float));
    cudaCheck(cudaMemcpy(h, device, n * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
}

// got against the reference, both on the host: max |diff| / max |ref| <= tol, and nothing NaN or Inf on
// either side (dev/compare.h, which dev/test_compare.c tests on the CPU)
static void compare(const char* what, const float* ref, const float* got, size_t n, double tol) {
    lab_failures += !compare_report(stdout, what, ref, got, n, tol);
}

// GPU result (on the device) against the CPU reference (on the host)
static void check(const char* what, const float* ref, const float* gpu_device, size_t n, double tol) {
    float* got = to_host(gpu_device, n);
    compare(what, ref, got, n, tol);
    free(got);
}

// An optimizer's update (after - before) on the GPU against the CPU's, relative to the largest update:
// the parameters themselves dwarf a step, so comparing them could not catch a wrong one
static void check_update(const char* what, const float* before, const float* ref_after, const float* gpu_after_device, size_t n,
                         double tol) {
    float *got = to_host(gpu_after_device, n), *ref = (float*)mallocCheck(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        ref[i] = ref_after[i] - before[i];
        got[i] -= before[i];
    }
    compare(what, ref, got, n, tol);
    free(got);
    free(ref);
}

// milliseconds per call of f, averaged over reps after one warm-up call
template <typename F>
static double time_ms(F f, int reps) {
    f();
    cudaEvent_t start, stop;
    cudaCheck(cudaEventCreate(&start));
    cudaCheck(cudaEventCreate(&stop));
    cudaCheck(cudaEventRecord(start));
    for (int i = 0; i < reps; i++) f();
    cudaCheck(cudaEventRecord(stop));
    cudaCheck(cudaEventSynchronize(stop));
    float ms;
    cudaCheck(cudaEventElapsedTime(&ms, start, stop));
    return ms / reps;
}

// every lab program starts here: without a GPU there is nothing to check (the exit says what CUDA said)
static void lab_start(void) { cudaDeviceCountOrDie("run the kernel lab on a machine with a GPU (CI only compiles it)"); }

static int lab_finish(const char* family) {
    printf("%s: %s\n", family, lab_failures ? "FAILED" : "all checks passed");
    return lab_failures ? 1 : 0;
}

#endif // DEV_CUDA_LAB_CUH
