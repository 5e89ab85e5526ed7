/*
The optimizers' update rules on the GPU, with train_gpt.c's names and arguments: AdamW elementwise; the global gradient norm as a
fixed-order reduction; Muon with Newton-Schulz as batched matmuls (bf16 inputs, fp32 accumulation in the
default precision) over the same-shaped blocks of all layers at once.
*/
#ifndef LLMC_CUDA_OPTIMIZER_CUH
#define LLMC_CUDA_OPTIMIZER_CUH

#include "../optimizer_config.h"
#include "common.cuh"
#include "matmul.cuh"

namespace gpu {

__global__ void adamw_kernel(float* params, const float* grads, float* m, float* v, size_t n, AdamWConfig cfg, float weight_decay,
                             float grad_scale, float beta1_correction, float beta2_correction) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float g = grads[i] * grad_scale;
    m[i] = cfg.beta1 * m[i] + (1.0f - cfg.beta1) * g;
    v[i] = cfg.beta2 * v[i] + (1.0f - cfg.beta2) * g * g;
    float m_hat = m[i] / beta1_correction, v_hat = v[i] / beta2_correction;
    params[i] -= cfg.lr * (m_hat / (sqrtf(v_hat) + cfg.eps) + weight_decay * params[i]);
}

// one AdamW step at step t (1-based); weight_decay 0 for tensors that are not 2-D matrices
static void adamw_update(float* params, const float* grads, float* m, float* v, size_t n, const AdamWConfig* cfg, float weight_decay,
                         float grad_scale, int t) {
    if (n == 0) return;
    float bc1 = 1.0f - powf(cfg->beta1, (float)t), bc2 = 1.0f - powf(cfg->beta2, (float)t);
    adamw_kernel<<<ceil_div(n, 256), 256>>>(params, grads, m, v, n, *cfg, weight_decay, grad_scale, bc1, bc2);
    cudaCheckLaunch();
}

// sum of squares: NORM_BLOCKS fixed slices, each summed by one block, then the slices in order
#define NORM_BLOCKS 256
__global__ void sum_squares_kernel(float* partial, const float* x, size_t n) {
    size_t per = (n + NORM_BLOCKS - 1) / NORM_BLOCKS, begin = blockIdx.x * per, end = min(n, begin + per);
    float s = 0.0f;
    for (size_t i = begin + threadIdx.x; i < end; i += blockDim.x) s += x[i] * x[i];
    s = block_sum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// the sum of x's squares (n,), back on the host
static double sum_squares(const float* x, size_t n) {
    float* scratch = (float*)gpu_scratch(NORM_BLOCKS * sizeof(float));
    sum_squares_kernel<<<NORM_BLOCKS, 256>>>(scratch, x, n);
    cudaCheckLaunch();
    float partial[NORM_BLOCKS];
    cudaCheck(cudaMemcpy(partial, scratch, sizeof(partial), cudaMemcpyDeviceToHost));
    double total = 0.0;
    for (int k = 0; k < NORM_BLOCKS; k++) total += partial[k];
    return total;
}

// ----------------------------------------------------------------------------
// Muon on `batch` same-shaped matrices (rows, cols), `stride` elements apart in the parameter block

// M <- mu M + (1-mu) G;  U <- (1-mu) G + mu M (Nesterov), U packed (batch, rows, cols); the momentum is
// packed too (the optimizer state keeps each unit contiguous)
__global__ void muon_momentum_kernel(float* U, const float* grads, float* m, int batch, size_t n, size_t stride, float mu,
                                     float grad_scale) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)batch * n) return;
    float g = grads[(idx / n) * stride + idx % n] * grad_scale;
    m[idx] = mu * m[idx] + (1.0f - mu) * g;
    U[idx] = (1.0f - mu) * g + mu * m[idx];
}

// norms (batch,): each matrix's Frobenius norm, one block per matrix
__global__ void frobenius_kernel(float* norms, const float* U, size_t n) {
    const float* u = U + blockIdx.x * n;
    float s = 0.0f;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) s += u[i] * u[i];
    s = block_sum(s);
    if (threadIdx.x == 0) norms[blockIdx.x] = sqrtf(s);
}

// X = U / (norm * safety + 1e-7), as (r, c) with r <= c: transposed when the matrix is tall
__global__ void muon_normalize_kernel(float* X, const float* U, const float* norms, int batch, int rows, int cols, float safety) {
    size_t n = (size_t)rows * cols, idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)batch * n) return;
    size_t k = idx / n, e = idx % n;
    int i = (int)(e / cols), j = (int)(e % cols);
    size_t out = rows > cols ? (size_t)j * rows + i : e;
    X[k * n + out] = U[idx] / (norms[k] * safety + 1e-7f);
}

__global__ void ns_poly_kernel(float* A, const float* AA, size_t n, float b, float c) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) A[i] = b * A[i] + c * AA[i];
}

__global__ void ns_axpy_kernel(float* X, const float* Y, size_t n, float a) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) X[i] = a * X[i] + Y[i];
}

// W <- W (1 - lr wd) - lr s X (X back from (r, c) to (rows, cols))
__global__ void muon_apply_kernel(float* params, const float* X, int batch, int rows, int cols, size_t stride, float lr, float wd,
                                  float scale) {
    size_t n = (size_t)rows * cols, idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)batch * n) return;
    size_t k = idx / n, e = idx % n;
    int i = (int)(e / cols), j = (int)(e % cols);
    float x = X[k * n + (rows > cols ? (size_t)j * rows + i : e)];
    float* p = params + k * stride + e;
    *p = *p * (1.0f - lr * wd) - lr * scale * x;
}

// device floats muon_update needs for `batch` (rows, cols) matrices
static size_t muon_scratch_size(int batch, int rows, int cols) {
    size_t r = rows < cols ? rows : cols, n = (size_t)rows * cols;
    return (size_t)batch * (3 * n + 2 * r * r + 1);
}

// Newton-Schulz on X (batch, r, c), r <= c: X <- a X + (b A + c A A) X with A = X X^T, each product one
// batched multiply (A is symmetric, so A A = A A^T). scratch: batch * (2 r*r + r*c).
static void newton_schulz(float* X, int batch, int r, int c, int steps, int polar_express, float* scratch) {
    float* A = scratch;
    float* AA = A + (size_t)batch * r * r;
    float* Y = AA + (size_t)batch * r * r;
    long long rc = (long long)r * c, rr = (long long)r * r;
    for (int k = 0; k < steps; k++) {
        const float* abc = polar_express ? POLAR_EXPRESS[k] : NS_QUINTIC;
        gemm(A, X, X, r, r, c, 1, 0, 0.0f, batch, rc, rc, rr);   // A = X X^T
        gemm(AA, A, A, r, r, r, 1, 0, 0.0f, batch, rr, rr, rr);  // A A
        ns_poly_kernel<<<ceil_div((size_t)batch * rr, 256), 256>>>(A, AA, (size_t)batch * rr, abc[1], abc[2]);
        cudaCheckLaunch();
        gemm(Y, X, A, c, r, r, 0, 0, 0.0f, batch, rc, rr, rc);    // Y = B X (row-major)
        ns_axpy_kernel<<<ceil_div((size_t)batch * rc, 256), 256>>>(X, Y, (size_t)batch * rc, abc[0]);
        cudaCheckLaunch();
    }
}

// Muon (docs/design.md §3) on `batch` matrices (rows, cols) `stride` apart in params and grads, with their
// momentum m packed (batch, rows, cols), as train_gpt.c's muon_update does for one: momentum, Nesterov,
// Frobenius normalisation, Newton-Schulz (on the transpose when tall), scale and decoupled weight decay.
static void muon_update(float* params, const float* grads, float* m, int batch, int rows, int cols, size_t stride,
                        const MuonConfig* cfg, float lr, float mu, float grad_scale, float* scratch) {
    size_t n = (size_t)rows * cols;
    int r = rows < cols ? rows : cols, c = rows < cols ? cols : rows;
    float* U = scratch;
    float* X = U + (size_t)batch * n;
    float* norms = X + (size_t)batch * n;
    float* ns_scratch = norms + batch;
    muon_momentum_kernel<<<ceil_div((size_t)batch * n, 256), 256>>>(U, grads, m, batch, n, stride, mu, grad_scale);
    cudaCheckLaunch();
    frobenius_kernel<<<batch, 1024>>>(norms, U, n);
    cudaCheckLaunch();
    muon_normalize_kernel<<<ceil_div((size_t)batch * n, 256), 256>>>(X, U, norms, batch, rows, cols,
                                                                    cfg->polar_express ? 1.02f : 1.0f);
    cudaCheckLaunch();
    newton_schulz(X, batch, r, c, cfg->ns_steps, cfg->polar_express, ns_scratch);
    float scale = cfg->moonlight_scale ? 0.2f * sqrtf((float)(rows > cols ? rows : cols)) : sqrtf(fmaxf(1.0f, (float)rows / cols));
    muon_apply_kernel<<<ceil_div((size_t)batch * n, 256), 256>>>(params, X, batch, rows, cols, stride, lr, cfg->weight_decay, scale);
    cudaCheckLaunch();
}

} // namespace gpu

#endif // LLMC_CUDA_OPTIMIZER_CUH
