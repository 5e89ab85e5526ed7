/*
The elementwise and row-wise layers on the GPU, each forward next to its backward with train_gpt.c's
names and argument order (in namespace gpu): the embedding, LayerNorm and RMSNorm, GELU, the residual add,
RoPE, and the classifier (the loss with each row's log-sum-exp; its gradient from that, in place of the logits).
Every reduction has a fixed order: the same inputs give the same bits on every run.
*/
#ifndef LLMC_CUDA_LAYERS_CUH
#define LLMC_CUDA_LAYERS_CUH

#include "common.cuh"

namespace gpu {

// ----------------------------------------------------------------------------
// embedding

__global__ void encoder_forward_kernel(float* out, const int* inp, const float* wte, const float* wpe, int N, int T, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * C) return;
    int n = (int)(i / C), c = (int)(i % C);
    out[i] = wte[(size_t)inp[n] * C + c] + (wpe ? wpe[(size_t)(n % T) * C + c] : 0.0f);
}

// out (B,T,C) = wte[inp] + wpe[t]; inp (B,T) on the device, wpe NULL with RoPE
static void encoder_forward(float* out, const int* inp, const float* wte, const float* wpe, int B, int T, int C) {
    size_t n = (size_t)B * T * C;
    encoder_forward_kernel<<<ceil_div(n, 256), 256>>>(out, inp, wte, wpe, B * T, T, C);
    cudaCheckLaunch();
}

// One block of threads per distinct token u, a thread per channel: the token's positions are summed in
// a fixed order (no atomics) into its row of dwte.
__global__ void encoder_backward_wte_kernel(float* dwte, const float* dout, const int* tokens, const int* offsets,
                                            const int* positions, int C) {
    int u = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int k = offsets[u]; k < offsets[u + 1]; k++) s += dout[(size_t)positions[k] * C + c];
    dwte[(size_t)tokens[u] * C + c] += s;
}

__global__ void encoder_backward_wpe_kernel(float* dwpe, const float* dout, int B, int T, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)T * C) return;
    int t = (int)(i / C), c = (int)(i % C);
    float s = 0.0f;
    for (int b = 0; b < B; b++) s += dout[((size_t)b * T + t) * C + c];
    dwpe[i] += s;
}

// dwte, dwpe accumulate dout (B,T,C) at the rows the forward read. inp_host (B,T) is the batch on the
// host, where positions are grouped by token (a counting sort), so that each row of dwte is one thread
// block's, summed in a fixed order.
static void encoder_backward(float* dwte, float* dwpe, const float* dout, const int* inp_host, int B, int T, int C) {
    int N = B * T, V = 0;
    for (int n = 0; n < N; n++) V = inp_host[n] + 1 > V ? inp_host[n] + 1 : V; // the buckets the batch needs
    int* scratch = (int*)gpu_scratch((3 * (size_t)N + 1) * sizeof(int));
    int* count = (int*)callocCheck((size_t)V + 1, sizeof(int));
    int* host = (int*)mallocCheck((3 * (size_t)N + 1) * sizeof(int)); // tokens | offsets | positions
    for (int n = 0; n < N; n++) count[inp_host[n] + 1]++;
    for (int v = 0; v < V; v++) count[v + 1] += count[v]; // count[v]: where token v's positions start
    int *tokens = host, *offsets = host + N, *positions = host + 2 * N + 1, U = 0;
    for (int v = 0; v < V; v++) {
        if (count[v + 1] > count[v]) { tokens[U] = v; offsets[U++] = count[v]; }
    }
    offsets[U] = N;
    for (int n = 0; n < N; n++) positions[count[inp_host[n]]++] = n; // in order of n within each token
    int *d_tokens = scratch, *d_offsets = scratch + N, *d_positions = scratch + 2 * N + 1;
    cudaCheck(cudaMemcpy(d_tokens, tokens, U * sizeof(int), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(d_offsets, offsets, (U + 1) * sizeof(int), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(d_positions, positions, N * sizeof(int), cudaMemcpyHostToDevice));
    encoder_backward_wte_kernel<<<dim3(U, ceil_div(C, 256)), 256>>>(dwte, dout, d_tokens, d_offsets, d_positions, C);
    cudaCheckLaunch();
    if (dwpe) {
        encoder_backward_wpe_kernel<<<ceil_div((size_t)T * C, 256), 256>>>(dwpe, dout, B, T, C);
        cudaCheckLaunch();
    }
    free(count);
    free(host);
}

// ----------------------------------------------------------------------------
// LayerNorm and RMSNorm: a warp per row

__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                         const float* bias, int N, int C) {
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N) return;
    const float* x = inp + (size_t)n * C;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += x[i];
    float m = warp_sum(s) / C, v = 0.0f;
    for (int i = lane; i < C; i += 32) v += (x[i] - m) * (x[i] - m);
    float r = rsqrtf(warp_sum(v) / C + 1e-5f);
    float* o = out + (size_t)n * C;
    for (int i = lane; i < C; i += 32) o[i] = (x[i] - m) * r * weight[i] + (bias ? bias[i] : 0.0f);
    if (lane == 0 && mean) mean[n] = m;
    if (lane == 0 && rstd) rstd[n] = r;
}

// out (N,C) = (inp - mean) * rstd * weight + bias; mean, rstd (N,) or NULL
static void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                              int N, int C) {
    layernorm_forward_kernel<<<ceil_div(N, 8), 256>>>(out, mean, rstd, inp, weight, bias, N, C);
    cudaCheckLaunch();
}

__global__ void layernorm_backward_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                          const float* mean, const float* rstd, int N, int C) {
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N) return;
    const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
    float m = mean[n], r = rstd[n], dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
    for (int i = lane; i < C; i += 32) {
        float norm = (x[i] - m) * r;
        dnorm_mean += d[i] * weight[i];
        dnorm_norm_mean += d[i] * weight[i] * norm;
    }
    dnorm_mean = warp_sum(dnorm_mean) / C;
    dnorm_norm_mean = warp_sum(dnorm_norm_mean) / C;
    float* dx = dinp + (size_t)n * C;
    for (int i = lane; i < C; i += 32) dx[i] += (d[i] * weight[i] - dnorm_mean - (x[i] - m) * r * dnorm_norm_mean) * r;
}

// the terms of LayerNorm's weight gradient: dout * normalised input
struct LayerNormWeightTerm {
    const float *dout, *inp, *mean, *rstd;
    int C;
    __device__ float operator()(int n, int c) const {
        return dout[(size_t)n * C + c] * (inp[(size_t)n * C + c] - mean[n]) * rstd[n];
    }
};

// dinp (N,C) accumulates (+=); dweight, dbias (C,)
static void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                               const float* mean, const float* rstd, int N, int C) {
    layernorm_backward_kernel<<<ceil_div(N, 8), 256>>>(dinp, dout, inp, weight, mean, rstd, N, C);
    cudaCheckLaunch();
    LayerNormWeightTerm term = {dout, inp, mean, rstd, C};
    column_sum_accumulate(dweight, term, N, C);
    if (dbias) column_sum_accumulate(dbias, ColumnOf{dout, C}, N, C);
}

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* inp, const float* weight, int N, int C, int stride) {
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N) return;
    const float* x = inp + (size_t)n * stride;
    float ms = 0.0f;
    for (int i = lane; i < C; i += 32) ms += x[i] * x[i];
    float r = rsqrtf(warp_sum(ms) / C + 1e-6f);
    float* o = out + (size_t)n * C;
    for (int i = lane; i < C; i += 32) o[i] = x[i] * r * weight[i];
    if (lane == 0 && rstd) rstd[n] = r;
}

// out (N,C) = inp * rstd * weight; rows of inp are inp_stride apart; rstd (N,) or NULL
static void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, int inp_stride) {
    rmsnorm_forward_kernel<<<ceil_div(N, 8), 256>>>(out, rstd, inp, weight, N, C, inp_stride);
    cudaCheckLaunch();
}

__global__ void rmsnorm_backward_kernel(float* dinp, const float* dout, const float* inp, const float* weight, const float* rstd,
                                        int N, int C, int stride) {
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N) return;
    const float *x = inp + (size_t)n * stride, *d = dout + (size_t)n * C;
    float dot = 0.0f;
    for (int i = lane; i < C; i += 32) dot += d[i] * weight[i] * x[i];
    float r = rstd[n], k = r * r * warp_sum(dot) / C;
    float* dx = dinp + (size_t)n * stride;
    for (int i = lane; i < C; i += 32) dx[i] += r * (d[i] * weight[i] - x[i] * k);
}

struct RMSNormWeightTerm {
    const float *dout, *inp, *rstd;
    int C, stride;
    __device__ float operator()(int n, int c) const { return dout[(size_t)n * C + c] * inp[(size_t)n * stride + c] * rstd[n]; }
};

// dinp (rows inp_stride apart) accumulates (+=); dweight (C,)
static void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight, const float* rstd,
                             int N, int C, int inp_stride) {
    rmsnorm_backward_kernel<<<ceil_div(N, 8), 256>>>(dinp, dout, inp, weight, rstd, N, C, inp_stride);
    cudaCheckLaunch();
    RMSNormWeightTerm term = {dout, inp, rstd, C, inp_stride};
    column_sum_accumulate(dweight, term, N, C);
}

// ----------------------------------------------------------------------------
// GELU (tanh approximation) and the residual add

#define GELU_SCALING_FACTOR 0.7978845608028654f // sqrt(2 / pi)

__global__ void gelu_forward_kernel(float* out, const float* inp, size_t N) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x)));
}

static void gelu_forward(float* out, const float* inp, size_t N) {
    gelu_forward_kernel<<<ceil_div(N, 256), 256>>>(out, inp, N);
    cudaCheckLaunch();
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, size_t N) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = inp[i], th = tanhf(GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x));
    float local = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_SCALING_FACTOR * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] = local * dout[i];
}

// dinp = dout * gelu'(inp); dinp may be dout
static void gelu_backward(float* dinp, const float* inp, const float* dout, size_t N) {
    gelu_backward_kernel<<<ceil_div(N, 256), 256>>>(dinp, inp, dout, N);
    cudaCheckLaunch();
}

__global__ void residual_forward_kernel(float* out, const float* a, const float* b, size_t N) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N) out[i] = a[i] + b[i];
}

// out = a + b; out may alias a or b
static void residual_forward(float* out, const float* a, const float* b, size_t N) {
    residual_forward_kernel<<<ceil_div(N, 256), 256>>>(out, a, b, N);
    cudaCheckLaunch();
}

// ----------------------------------------------------------------------------
// RoPE, rotate-half, on the first rot_dim dims of num_heads vectors per row (as train_gpt.c's rope_rotate)

__global__ void rope_rotate_kernel(float* x, const float* cos_table, const float* sin_table, int N, int T, int pos0, int num_heads,
                                   int row_stride, int head_stride, int half, float sign) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * num_heads * half) return;
    int i = (int)(idx % half), h = (int)((idx / half) % num_heads), n = (int)(idx / ((size_t)half * num_heads));
    int pos = pos0 + n % T;
    float c = cos_table[(size_t)pos * half + i], s = sin_table[(size_t)pos * half + i];
    float* v = x + (size_t)n * row_stride + (size_t)h * head_stride;
    float x1 = v[i], x2 = v[i + half];
    v[i] = x1 * c - sign * x2 * s;
    v[i + half] = x2 * c + sign * x1 * s;
}

static void rope_rotate(float* x, const float* cos_table, const float* sin_table, int B, int T, int pos0, int num_heads,
                        int row_stride, int head_stride, int rot_dim, float sign) {
    size_t n = (size_t)B * T * num_heads * (rot_dim / 2);
    rope_rotate_kernel<<<ceil_div(n, 256), 256>>>(x, cos_table, sin_table, B * T, T, pos0, num_heads, row_stride, head_stride,
                                                  rot_dim / 2, sign);
    cudaCheckLaunch();
}

static void rope_forward(float* x, const float* cos_table, const float* sin_table, int B, int T, int pos0, int num_heads,
                         int row_stride, int head_stride, int rot_dim) {
    rope_rotate(x, cos_table, sin_table, B, T, pos0, num_heads, row_stride, head_stride, rot_dim, 1.0f);
}

static void rope_backward(float* dx, const float* cos_table, const float* sin_table, int B, int T, int pos0, int num_heads,
                          int row_stride, int head_stride, int rot_dim) {
    rope_rotate(dx, cos_table, sin_table, B, T, pos0, num_heads, row_stride, head_stride, rot_dim, -1.0f);
}

// ----------------------------------------------------------------------------
// the classifier: a block per row of logits (Vp wide; the first V are real)

// losses (N,) = lse - logits[target] with lse the log-sum-exp of each row's first V logits
__global__ void crossentropy_forward_kernel(float* losses, float* lse, const float* logits, const int* targets, int V, int Vp) {
    int n = blockIdx.x;
    const float* l = logits + (size_t)n * Vp;
    float m = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) m = fmaxf(m, l[i]);
    m = block_max(m);
    float s = 0.0f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(l[i] - m);
    s = block_sum(s);
    if (threadIdx.x == 0) {
        lse[n] = m + logf(s);
        losses[n] = lse[n] - l[targets[n]];
    }
}

// losses (N,) = -log softmax(logits[:V])[target], keeping each row's log-sum-exp lse (N,) for the backward
static void crossentropy_forward(float* losses, float* lse, const float* logits, const int* targets, int N, int V, int Vp) {
    crossentropy_forward_kernel<<<N, 1024>>>(losses, lse, logits, targets, V, Vp);
    cudaCheckLaunch();
}

__global__ void crossentropy_backward_kernel(float* dlogits, const float* lse, const float* logits, const int* targets, float dloss,
                                             int V, int Vp) {
    int n = blockIdx.x, target = targets[n];
    const float* l = logits + (size_t)n * Vp;
    float* dl = dlogits + (size_t)n * Vp;
    for (int i = threadIdx.x; i < Vp; i += blockDim.x) {
        dl[i] = i < V ? (expf(l[i] - lse[n]) - (i == target ? 1.0f : 0.0f)) * dloss : 0.0f; // each element read, then written
    }
}

// dlogits (N,Vp) = (exp(logits - lse) - onehot(target)) * dloss, zero in the padded columns; dlogits may be
// logits itself (in place)
static void crossentropy_backward(float* dlogits, const float* lse, const float* logits, const int* targets, float dloss, int N, int V,
                                  int Vp) {
    crossentropy_backward_kernel<<<N, 1024>>>(dlogits, lse, logits, targets, dloss, V, Vp);
    cudaCheckLaunch();
}

} // namespace gpu

#endif // LLMC_CUDA_LAYERS_CUH
