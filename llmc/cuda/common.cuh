/*
What every CUDA kernel file needs: error checks that name the file, line and a fix; warp and block
reductions whose order is fixed (so results never depend on scheduling); and a deterministic column sum
used by every bias and norm-weight gradient. Kernel launchers live in `namespace gpu` so that they can
carry the CPU trainer's names (the kernel lab includes both).

Shape legend as in train_gpt.c: B batch, T sequence, C channels, N = B*T rows.
*/
#ifndef LLMC_CUDA_COMMON_CUH
#define LLMC_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include "../utils.h"

static void cuda_check_at(cudaError_t err, const char* file, int line) {
    if (err != cudaSuccess) {
        die_at(file, line, err == cudaErrorMemoryAllocation ? "lower -b (micro-batch) or the model size" : "check the GPU and driver",
               "CUDA error %s: %s", cudaGetErrorName(err), cudaGetErrorString(err));
    }
}
#define cudaCheck(err) cuda_check_at((err), __FILE__, __LINE__)

static void cublas_check_at(cublasStatus_t status, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) {
        die_at(file, line, "check the GPU and the CUDA libraries", "cuBLAS error %s (%d): %s", cublasLtGetStatusName(status), (int)status,
               cublasLtGetStatusString(status));
    }
}
#define cublasCheck(status) cublas_check_at((status), __FILE__, __LINE__)

// a kernel launch's own error (the launch is asynchronous: errors of the kernel itself surface later)
#define cudaCheckLaunch() cudaCheck(cudaGetLastError())

// The number of CUDA GPUs (at least 1), or an exit that says what CUDA said and which driver and runtime
// met: "no GPU" and "a driver older than the runtime" (cudaErrorInsufficientDriver) need different fixes.
// no_gpu_hint is the caller's advice for a machine without a GPU.
static int cuda_device_count_at(const char* no_gpu_hint, const char* file, int line) {
    int count = 0, driver = 0, runtime = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err == cudaSuccess && count > 0) return count;
    cudaDriverGetVersion(&driver); // 0 when no driver is installed
    cudaRuntimeGetVersion(&runtime);
    char said[512], hint[512], drv[32];
    if (driver > 0) snprintf(drv, sizeof(drv), "CUDA %d.%d", driver / 1000, driver % 1000 / 10);
    else snprintf(drv, sizeof(drv), "none found");
    const char* visible = getenv("CUDA_VISIBLE_DEVICES");
    snprintf(said, sizeof(said), "cudaGetDeviceCount returned %s (%s); driver: %s, runtime: CUDA %d.%d%s%s%s",
             err == cudaSuccess ? "cudaSuccess" : cudaGetErrorName(err), err == cudaSuccess ? "0 devices" : cudaGetErrorString(err), drv,
             runtime / 1000, runtime % 1000 / 10, visible ? ", CUDA_VISIBLE_DEVICES='" : "", visible ? visible : "", visible ? "'" : "");
    if (err == cudaErrorInsufficientDriver && driver > 0) {
        snprintf(hint, sizeof(hint), "update the NVIDIA driver to one that supports CUDA %d.%d, or build with a CUDA toolkit no newer than %s",
                 runtime / 1000, runtime % 1000 / 10, drv);
        die_at(file, line, hint, "the NVIDIA driver is older than this program's CUDA runtime: %s", said);
    }
    if (err == cudaErrorInsufficientDriver) {
        snprintf(hint, sizeof(hint), "with a GPU, install the NVIDIA driver (nvidia-smi lists the GPUs once it works); without one, %s",
                 no_gpu_hint);
        die_at(file, line, hint, "no NVIDIA driver: %s", said);
    }
    if (err == cudaSuccess || err == cudaErrorNoDevice) die_at(file, line, no_gpu_hint, "no CUDA GPU is available: %s", said);
    die_at(file, line, "check the GPU and its driver with nvidia-smi", "CUDA cannot list the GPUs: %s", said);
}
#define cudaDeviceCountOrDie(no_gpu_hint) cuda_device_count_at((no_gpu_hint), __FILE__, __LINE__)

static int ceil_div(size_t a, size_t b) { return (int)((a + b - 1) / b); }

// device memory, zero-filled
static void* cuda_calloc(size_t bytes) {
    void* ptr = NULL;
    cudaCheck(cudaMalloc(&ptr, bytes > 0 ? bytes : 1));
    cudaCheck(cudaMemset(ptr, 0, bytes > 0 ? bytes : 1));
    return ptr;
}

// The device scratch that a launcher's kernels share within one call (column sums' partials, the gradient
// norm's slices, the embedding backward's buckets), so that the launchers keep the CPU trainer's
// arguments: one buffer, grown to the largest request (in the first training step) and then kept. Its
// users run one after another on the default stream, so they never overlap; cudaFree waits for the
// kernels that used the old buffer.
static void* gpu_scratch(size_t bytes) {
    static void* buffer = NULL;
    static size_t size = 0;
    if (bytes > size) {
        if (buffer) cudaCheck(cudaFree(buffer));
        cudaCheck(cudaMalloc(&buffer, bytes));
        size = bytes;
    }
    return buffer;
}

namespace gpu {

// butterfly reductions over the 32 lanes: every lane gets the result, always combined in the same order
__device__ inline float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffff, v, offset);
    return v;
}

__device__ inline float warp_max(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, offset));
    return v;
}

// sum over a block of blockDim.x (a multiple of 32, at most 1024) threads; every thread gets the result
__device__ inline float block_sum(float v) {
    __shared__ float partial[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads(); // partial may still be read by a previous call
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : 0.0f;
    return warp_sum(v);
}

__device__ inline float block_max(float v) {
    __shared__ float partial[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : -INFINITY;
    return warp_max(v);
}

// Column sums in two fixed stages, with no atomics (deterministic): partial[chunk][c] sums term(n, c) over
// the rows n of the chunk, then out[c] += the chunks' partials in order. term is a functor, so the same
// code sums plain columns (bias gradients) and products (norm weight gradients).
#define COLSUM_ROWS 64
template <typename Term>
__global__ void column_partial_kernel(float* partial, Term term, int N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (c >= C) return;
    float s = 0.0f;
    for (int n = chunk * COLSUM_ROWS; n < min(N, (chunk + 1) * COLSUM_ROWS); n++) s += term(n, c);
    partial[(size_t)chunk * C + c] = s;
}

__global__ void column_finish_kernel(float* out, const float* partial, int chunks, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int k = 0; k < chunks; k++) s += partial[(size_t)k * C + c];
    out[c] += s;
}

// out (C,) += sum over n < N of term(n, c)
template <typename Term>
static void column_sum_accumulate(float* out, Term term, int N, int C) {
    int chunks = ceil_div(N, COLSUM_ROWS);
    float* scratch = (float*)gpu_scratch((size_t)chunks * C * sizeof(float));
    column_partial_kernel<<<dim3(ceil_div(C, 256), chunks), 256>>>(scratch, term, N, C);
    cudaCheckLaunch();
    column_finish_kernel<<<ceil_div(C, 256), 256>>>(out, scratch, chunks, C);
    cudaCheckLaunch();
}

// the plain term: x[n][c] for rows `stride` apart
struct ColumnOf {
    const float* x;
    int stride;
    __device__ float operator()(int n, int c) const { return x[(size_t)n * stride + c]; }
};

} // namespace gpu

#endif // LLMC_CUDA_COMMON_CUH
