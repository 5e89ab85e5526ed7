/*
Memory Mosaics on the GPU (docs/design.md §2.2): the contextual memory's feature extractors (the leaky
average of key features, the per-head normalise-and-scale, the one-token-ahead value mix) and the
persistent memory, with train_gpt.c's names and arguments. The contextual memory's attention itself is
the causal core of attention.cuh.

Every per-head scalar gradient (rates, scales, mixing coefficients) is a sum over all rows of a head,
taken by one block per head in a fixed order (head_sum_accumulate): no atomics, the same bits on every run.

Shape legend: B batch, T sequence, N = B*T rows, H heads of dh, C = H*dh; P rows per persistent memory, M
memories.
*/
#ifndef LLMC_CUDA_MOSAIC_CUH
#define LLMC_CUDA_MOSAIC_CUH

#include "common.cuh"
#include "matmul.cuh"

namespace gpu {

// out[h] += term.scale(h) * sum over n < N, i < dh of term(n, h, i): one block per head, the rows in order
template <typename Term>
__global__ void head_sum_kernel(float* out, Term term, int N, int dh) {
    int h = blockIdx.x;
    float s = 0.0f;
    for (size_t e = threadIdx.x; e < (size_t)N * dh; e += blockDim.x) s += term((int)(e / dh), h, (int)(e % dh));
    s = block_sum(s);
    if (threadIdx.x == 0) out[h] += term.scale(h) * s;
}

template <typename Term>
static void head_sum_accumulate(float* out, Term term, int N, int H, int dh) {
    head_sum_kernel<<<H, 1024>>>(out, term, N, dh);
    cudaCheckLaunch();
}

// -- the leaky average: S_t = e^{-beta} S_{t-1} + x_t per head, beta = 10|b_h|

// one thread per (sequence, channel), walking the sequence: x (B,T,x_stride), S (B,T,C), S0 each sequence's
// S_{-1} (rows s0_stride apart) or NULL for zeros
__global__ void leaky_average_forward_kernel(float* S, const float* x, const float* S0, const float* b, int B, int T, int H, int dh,
                                             int x_stride, int s0_stride) {
    int C = H * dh;
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * C) return;
    int seq = (int)(idx / C), c = (int)(idx % C);
    float decay = expf(-10.0f * fabsf(b[c / dh])), s = S0 ? S0[(size_t)seq * s0_stride + c] : 0.0f;
    for (int t = 0; t < T; t++) {
        size_t row = (size_t)seq * T + t;
        s = decay * s + x[row * x_stride + c];
        S[row * C + c] = s;
    }
}

static void leaky_average_forward(float* S, const float* x, const float* S0, const float* b, int B, int T, int H, int dh, int x_stride,
                                  int s0_stride) {
    leaky_average_forward_kernel<<<ceil_div((size_t)B * H * dh, 256), 256>>>(S, x, S0, b, B, T, H, dh, x_stride, s0_stride);
    cudaCheckLaunch();
}

// dx_t = G_t = dS_t + a G_{t+1} walking back; partial (B, C) = sum_t G_t . S_{t-1} of this channel (S_{-1} = S0)
__global__ void leaky_average_backward_kernel(float* dx, float* partial, const float* dS, const float* S, const float* S0, const float* b,
                                              int B, int T, int H, int dh, int x_stride, int s0_stride) {
    int C = H * dh;
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * C) return;
    int seq = (int)(idx / C), c = (int)(idx % C);
    float decay = expf(-10.0f * fabsf(b[c / dh])), g = 0.0f, da = 0.0f;
    for (int t = T - 1; t >= 0; t--) {
        size_t row = (size_t)seq * T + t;
        g = dS[row * C + c] + decay * g;
        dx[row * x_stride + c] = g;
        if (t > 0) da += g * S[(row - 1) * C + c];
        else if (S0) da += g * S0[(size_t)seq * s0_stride + c];
    }
    partial[idx] = da;
}

// the channels' partials of dL/da summed per head, times da/db = -10 a sign(b)
struct LeakyRateTerm {
    const float *partial, *b;
    int C, dh;
    __device__ float operator()(int seq, int h, int i) const { return partial[(size_t)seq * C + h * dh + i]; }
    __device__ float scale(int h) const { return -10.0f * expf(-10.0f * fabsf(b[h])) * (b[h] > 0 ? 1.0f : b[h] < 0 ? -1.0f : 0.0f); }
};

// dx (rows x_stride apart) written, db (H,) accumulates
static void leaky_average_backward(float* dx, float* db, const float* dS, const float* S, const float* S0, const float* b, int B, int T,
                                   int H, int dh, int x_stride, int s0_stride) {
    size_t n = (size_t)B * H * dh;
    float* partial = (float*)gpu_scratch(n * sizeof(float));
    leaky_average_backward_kernel<<<ceil_div(n, 256), 256>>>(dx, partial, dS, S, S0, b, B, T, H, dh, x_stride, s0_stride);
    cudaCheckLaunch();
    head_sum_accumulate(db, LeakyRateTerm{partial, b, H * dh, dh}, B, H, dh);
}

// -- normalise and scale each head: out = x / (||x_h|| + 1e-10) * exp(min(mult s_h, cap)); a warp per (row, head)

__global__ void head_scale_forward_kernel(float* out, float* norm, const float* x, const float* s, int N, int H, int dh, int x_stride,
                                          float mult, float cap) {
    size_t row = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; // (n, h)
    int lane = threadIdx.x % 32;
    if (row >= (size_t)N * H) return;
    int n = (int)(row / H), h = (int)(row % H);
    const float* xh = x + (size_t)n * x_stride + h * dh;
    float r = 0.0f;
    for (int i = lane; i < dh; i += 32) r += xh[i] * xh[i];
    r = sqrtf(warp_sum(r));
    float g = expf(fminf(mult * s[h], cap)) / (r + 1e-10f);
    for (int i = lane; i < dh; i += 32) out[row * dh + i] = xh[i] * g;
    if (norm && lane == 0) norm[row] = r;
}

static void head_scale_forward(float* out, float* norm, const float* x, const float* s, int N, int H, int dh, int x_stride, float mult,
                               float cap) {
    head_scale_forward_kernel<<<ceil_div((size_t)N * H * 32, 256), 256>>>(out, norm, x, s, N, H, dh, x_stride, mult, cap);
    cudaCheckLaunch();
}

// dx = e/(r + eps) (dy - x (x . dy) / (r (r + eps)))
__global__ void head_scale_backward_kernel(float* dx, const float* dout, const float* norm, const float* x, const float* s, int N, int H,
                                           int dh, int x_stride, float mult, float cap) {
    size_t row = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (row >= (size_t)N * H) return;
    int n = (int)(row / H), h = (int)(row % H);
    const float *xh = x + (size_t)n * x_stride + h * dh, *dy = dout + row * dh;
    float r = norm[row], e = expf(fminf(mult * s[h], cap)), xdy = 0.0f;
    for (int i = lane; i < dh; i += 32) xdy += xh[i] * dy[i];
    xdy = warp_sum(xdy);
    float k = r > 0.0f ? xdy / (r * (r + 1e-10f)) : 0.0f;
    float* d = dx + (size_t)n * x_stride + h * dh;
    for (int i = lane; i < dh; i += 32) d[i] = e / (r + 1e-10f) * (dy[i] - xh[i] * k);
}

// ds_h = mult sum dy . y where mult s_h < cap (past the cap the scale is constant)
struct HeadScaleTerm {
    const float *dout, *out, *s;
    float mult, cap;
    int H, dh;
    __device__ float operator()(int n, int h, int i) const {
        size_t at = ((size_t)n * H + h) * dh + i;
        return dout[at] * out[at];
    }
    __device__ float scale(int h) const { return mult * s[h] < cap ? mult : 0.0f; }
};

// dx (rows x_stride apart) written, ds (H,) accumulates
static void head_scale_backward(float* dx, float* ds, const float* dout, const float* out, const float* norm, const float* x, const float* s,
                                int N, int H, int dh, int x_stride, float mult, float cap) {
    head_scale_backward_kernel<<<ceil_div((size_t)N * H * 32, 256), 256>>>(dx, dout, norm, x, s, N, H, dh, x_stride, mult, cap);
    cudaCheckLaunch();
    head_sum_accumulate(ds, HeadScaleTerm{dout, out, s, mult, cap, H, dh}, N, H, dh);
}

// -- the value mix: vp_t = (1 - c_h) vt_{t+1} + c_h vt_t, vt_T = 0

__global__ void value_shift_forward_kernel(float* vp, const float* vt, const float* c, int B, int T, int H, int dh, int vt_stride) {
    int C = H * dh;
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C) return;
    size_t row = idx / C;
    int ch = (int)(idx % C), t = (int)(row % T);
    float ch_mix = c[ch / dh], next = t + 1 < T ? vt[(row + 1) * vt_stride + ch] : 0.0f;
    vp[idx] = (1.0f - ch_mix) * next + ch_mix * vt[row * vt_stride + ch];
}

static void value_shift_forward(float* vp, const float* vt, const float* c, int B, int T, int H, int dh, int vt_stride) {
    value_shift_forward_kernel<<<ceil_div((size_t)B * T * H * dh, 256), 256>>>(vp, vt, c, B, T, H, dh, vt_stride);
    cudaCheckLaunch();
}

// dvt_t = c dvp_t + (1 - c) dvp_{t-1}
__global__ void value_shift_backward_kernel(float* dvt, const float* dvp, const float* c, int B, int T, int H, int dh, int vt_stride) {
    int C = H * dh;
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C) return;
    size_t row = idx / C;
    int ch = (int)(idx % C), t = (int)(row % T);
    float ch_mix = c[ch / dh];
    dvt[row * vt_stride + ch] = ch_mix * dvp[idx] + (t > 0 ? (1.0f - ch_mix) * dvp[idx - C] : 0.0f);
}

// dc_h = sum_t dvp_t . (vt_t - vt_{t+1})
struct ValueMixTerm {
    const float *dvp, *vt;
    int T, C, dh, vt_stride;
    __device__ float operator()(int n, int h, int i) const {
        int ch = h * dh + i;
        float next = (n % T) + 1 < T ? vt[(size_t)(n + 1) * vt_stride + ch] : 0.0f;
        return dvp[(size_t)n * C + ch] * (vt[(size_t)n * vt_stride + ch] - next);
    }
    __device__ float scale(int) const { return 1.0f; }
};

// dvt (rows vt_stride apart) written, dc (H,) accumulates
static void value_shift_backward(float* dvt, float* dc, const float* dvp, const float* vt, const float* c, int B, int T, int H, int dh,
                                 int vt_stride) {
    value_shift_backward_kernel<<<ceil_div((size_t)B * T * H * dh, 256), 256>>>(dvt, dvp, c, B, T, H, dh, vt_stride);
    cudaCheckLaunch();
    head_sum_accumulate(dc, ValueMixTerm{dvp, vt, T, H * dh, dh, vt_stride}, B * T, H, dh);
}

// -- the persistent memory: y_h = exp(10 o_h) / M * sum_m softmax(k_h P_k[m,h]^T) P_v[m,h]
// The products go through cuBLASLt one head at a time on head-major copies (H, N, dh) of k, the output
// and their gradients, so that each head's rows are one contiguous matrix.

// scratch floats pmem_forward / pmem_backward take: probabilities and their gradient (N, P) each, and three
// head-major (N, C) matrices
static size_t pmem_scratch_size(int N, int P, int C) { return 2 * (size_t)N * P + 3 * (size_t)N * C; }

// out (H, N, dh) = in's heads (rows in_stride apart) times factor(h): 1, or exp(10 o_h) / M when o is given
__global__ void heads_apart_kernel(float* out, const float* in, const float* o, float inv_m, int N, int H, int dh, int in_stride) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * H * dh) return;
    int h = (int)(idx / ((size_t)N * dh)), i = (int)(idx % dh);
    size_t n = idx / dh % N;
    out[idx] = in[n * in_stride + h * dh + i] * (o ? expf(10.0f * o[h]) * inv_m : 1.0f);
}

// out (N, C) = the head-major in (H, N, dh) back in rows, times factor(h) as above
__global__ void heads_together_kernel(float* out, const float* in, const float* o, float inv_m, int N, int H, int dh) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)N * H * dh) return;
    int h = (int)(idx / ((size_t)N * dh)), i = (int)(idx % dh);
    size_t n = idx / dh % N;
    out[n * H * dh + h * dh + i] = in[idx] * (o ? expf(10.0f * o[h]) * inv_m : 1.0f);
}

static void heads_apart(float* out, const float* in, const float* o, int M, int N, int H, int dh, int in_stride) {
    heads_apart_kernel<<<ceil_div((size_t)N * H * dh, 256), 256>>>(out, in, o, 1.0f / M, N, H, dh, in_stride);
    cudaCheckLaunch();
}

static void heads_together(float* out, const float* in, const float* o, int M, int N, int H, int dh) {
    heads_together_kernel<<<ceil_div((size_t)N * H * dh, 256), 256>>>(out, in, o, 1.0f / M, N, H, dh);
    cudaCheckLaunch();
}

// S (N, P): scores in, probabilities out, a warp per row; lse `stride` apart is computed (known = 0) or read
__global__ void pmem_softmax_kernel(float* S, float* lse, size_t stride, int known, int N, int P) {
    size_t n = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (n >= (size_t)N) return;
    float* row = S + n * P;
    float l;
    if (known) {
        l = lse[n * stride];
    } else {
        float maxval = -INFINITY, sum = 0.0f;
        for (int p = lane; p < P; p += 32) maxval = fmaxf(maxval, row[p]);
        maxval = warp_max(maxval);
        for (int p = lane; p < P; p += 32) sum += expf(row[p] - maxval);
        l = maxval + logf(warp_sum(sum));
        if (lane == 0) lse[n * stride] = l;
    }
    for (int p = lane; p < P; p += 32) row[p] = expf(row[p] - l);
}

// dS (N, P) = p (dS - p . dS): the softmax backward in place, a warp per row
__global__ void pmem_softmax_backward_kernel(float* dS, const float* S, int N, int P) {
    size_t n = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (n >= (size_t)N) return;
    const float* p = S + n * P;
    float* d = dS + n * P;
    float dot = 0.0f;
    for (int q = lane; q < P; q += 32) dot += p[q] * d[q];
    dot = warp_sum(dot);
    for (int q = lane; q < P; q += 32) d[q] = p[q] * (d[q] - dot);
}

// S (N, P) = softmax of head kh (N, dh) against one memory's keys mk (P, dh), as pmem_softmax_kernel
static void pmem_probabilities(float* S, float* lse, size_t stride, int known, const float* kh, const float* mk, int N, int dh, int P) {
    gemm(S, mk, kh, P, N, dh, 1, 0, 0.0f, 1, 0, 0, 0); // S = kh @ mk^T
    pmem_softmax_kernel<<<ceil_div((size_t)N * 32, 256), 256>>>(S, lse, stride, known, N, P);
    cudaCheckLaunch();
}

// y (N, C) written; lse (N, M, H) kept for the backward. k (N, C); pk, pv (M*H*P, dh); o (H,)
static void pmem_forward(float* y, float* lse, const float* k, const float* pk, const float* pv, const float* o, int N, int H, int dh,
                         int P, int M, float* scratch) {
    size_t C = (size_t)H * dh;
    float *S = scratch, *kh = scratch + 2 * (size_t)N * P, *yh = kh + (size_t)N * C;
    heads_apart(kh, k, NULL, M, N, H, dh, (int)C);
    for (int h = 0; h < H; h++) {
        for (int m = 0; m < M; m++) {
            size_t at = ((size_t)m * H + h) * P * dh, head = (size_t)h * N * dh;
            pmem_probabilities(S, lse + (size_t)m * H + h, (size_t)M * H, 0, kh + head, pk + at, N, dh, P);
            gemm(yh + head, pv + at, S, dh, N, P, 0, 0, m == 0 ? 0.0f : 1.0f, 1, 0, 0, 0); // yh += S @ P_v
        }
    }
    heads_together(y, yh, o, M, N, H, dh);
}

// dk (N, C) written; dpk, dpv, d_o accumulate. With g = dy exp(10 o) / M: dP_v[m] += p_m^T g,
// ds = p_m (g P_v[m]^T - g . z_m), dk += ds P_k[m], dP_k[m] += ds^T k, do = 10 dy . y.
struct OutputScaleTerm {
    const float *dy, *y;
    int C, dh;
    __device__ float operator()(int n, int h, int i) const { return dy[(size_t)n * C + h * dh + i] * y[(size_t)n * C + h * dh + i]; }
    __device__ float scale(int) const { return 10.0f; }
};

static void pmem_backward(float* dk, float* dpk, float* dpv, float* d_o, const float* dy, const float* y, float* lse, const float* k,
                          const float* pk, const float* pv, const float* o, int N, int H, int dh, int P, int M, float* scratch) {
    size_t C = (size_t)H * dh;
    float *S = scratch, *dS = scratch + (size_t)N * P, *kh = dS + (size_t)N * P, *gh = kh + (size_t)N * C, *dkh = gh + (size_t)N * C;
    head_sum_accumulate(d_o, OutputScaleTerm{dy, y, (int)C, dh}, N, H, dh);
    heads_apart(kh, k, NULL, M, N, H, dh, (int)C);
    heads_apart(gh, dy, o, M, N, H, dh, (int)C);
    for (int h = 0; h < H; h++) {
        size_t head = (size_t)h * N * dh;
        for (int m = 0; m < M; m++) {
            size_t at = ((size_t)m * H + h) * P * dh;
            pmem_probabilities(S, lse + (size_t)m * H + h, (size_t)M * H, 1, kh + head, pk + at, N, dh, P);
            gemm(dpv + at, gh + head, S, dh, P, N, 0, 1, 1.0f, 1, 0, 0, 0); // dP_v += S^T g
            gemm(dS, pv + at, gh + head, P, N, dh, 1, 0, 0.0f, 1, 0, 0, 0); // dS = g P_v^T
            pmem_softmax_backward_kernel<<<ceil_div((size_t)N * 32, 256), 256>>>(dS, S, N, P);
            cudaCheckLaunch();
            gemm(dkh + head, pk + at, dS, dh, N, P, 0, 0, m == 0 ? 0.0f : 1.0f, 1, 0, 0, 0); // dk += dS P_k
            gemm(dpk + at, kh + head, dS, dh, P, N, 0, 1, 1.0f, 1, 0, 0, 0);                // dP_k += dS^T k
        }
    }
    heads_together(dk, dkh, NULL, M, N, H, dh);
}

} // namespace gpu

#endif // LLMC_CUDA_MOSAIC_CUH
