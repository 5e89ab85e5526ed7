/*
The causal attention core on the GPU, for every variant, in training (Tq == Tk == T), in KV-cache
decoding (Tq == 1) and over a carried memory (Tq < Tk): the same contract as train_gpt.c's
attention_forward / attention_backward, query row t at position t + Tk - Tq. Query head h reads kv head
h / (H/Hkv); a query head is d1 dims scored against its kv head's k1, then d2 dims scored against k2, a
key shared by all heads (GTA's, MLA's and GLA's RoPE key):
    score = scale * (q[:d1] . k1 + q[d1:] . k2),   out = softmax(scores) @ v

Flash-style: the forward keeps no probabilities, only each row's log-sum-exp; the backward recomputes
them. A warp owns each output row or key, and lanes take keys (or queries) in chunks of 32 with an
online softmax, so every sum runs in a fixed order: no atomics, the same bits on every run.
*/
#ifndef LLMC_CUDA_ATTENTION_CUH
#define LLMC_CUDA_ATTENTION_CUH

#include "../attention_layout.h"
#include "common.cuh"

namespace gpu {

// Each kernel is compiled for a largest width W of d1 + d2 and dv (each lane keeps W / 32 accumulators):
// W = 256 serves every head up to 128 dims, W = 1024 the MLA/GLA decode that scores against a latent.
#define ATTN_MAX_DIM 1024
#define ATTN_WARPS 4 // warps per block

// q . [k1 ; k2] of one (query head, key position) pair; qs is the query in shared memory
__device__ inline float attention_dot(const float* qs, const float* k1s, const float* k2s, const AttentionDims& d) {
    float dot = 0.0f;
    for (int i = 0; i < d.d1; i++) dot += qs[i] * k1s[i];
    for (int i = 0; i < d.d2; i++) dot += qs[d.d1 + i] * k2s[i];
    return dot * (float)d.scale;
}

// q (B,Tq,q_stride)  k1 (B,Tk,k1_stride)  k2 (B,Tk,k2_stride) or NULL  v (B,Tk,v_stride)
// out (B,Tq,out_stride)  lse (B,H,Tq): log-sum-exp of each row's scores
template <int W>
__global__ void attention_forward_kernel(float* out, float* lse, const float* q, const float* k1, const float* k2, const float* v,
                                         int B, int Tq, int Tk, AttentionDims d) {
    __shared__ float qs[ATTN_WARPS][W];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t row = (size_t)blockIdx.x * ATTN_WARPS + warp; // (b, h, t)
    if (row >= (size_t)B * d.H * Tq) return;
    int t = (int)(row % Tq), h = (int)((row / Tq) % d.H), b = (int)(row / ((size_t)Tq * d.H));
    int g = h / (d.H / d.Hkv), last = t + Tk - Tq;
    const float* qh = q + ((size_t)b * Tq + t) * d.q_stride + (size_t)h * (d.d1 + d.d2);
    for (int i = lane; i < d.d1 + d.d2; i += 32) qs[warp][i] = qh[i];
    __syncwarp();
    float acc[W / 32] = {0.0f}, m = -INFINITY, l = 0.0f;
    for (int s0 = 0; s0 <= last; s0 += 32) {
        int s = s0 + lane, valid = min(32, last - s0 + 1);
        float score = -INFINITY;
        if (s <= last) {
            const float* k2s = k2 ? k2 + ((size_t)b * Tk + s) * d.k2_stride : NULL;
            score = attention_dot(qs[warp], k1 + ((size_t)b * Tk + s) * d.k1_stride + (size_t)g * d.k1_head, k2s, d);
        }
        // online softmax: rescale what was summed so far to the new running maximum
        float m_new = fmaxf(m, warp_max(score));
        float p = s <= last ? expf(score - m_new) : 0.0f, correction = expf(m - m_new);
        l = l * correction + warp_sum(p);
        for (int r = 0; r < W / 32; r++) acc[r] *= correction;
        for (int j = 0; j < valid; j++) {
            float pj = __shfl_sync(0xffffffff, p, j);
            const float* vs = v + ((size_t)b * Tk + s0 + j) * d.v_stride + (size_t)g * d.v_head;
            for (int r = 0; r < W / 32; r++) {
                if (r * 32 + lane < d.dv) acc[r] += pj * vs[r * 32 + lane];
            }
        }
        m = m_new;
    }
    float* o = out + ((size_t)b * Tq + t) * d.out_stride + (size_t)h * d.dv;
    for (int r = 0; r < W / 32; r++) {
        if (r * 32 + lane < d.dv) o[r * 32 + lane] = acc[r] / l;
    }
    if (lane == 0) lse[row] = m + logf(l);
}

// the kernels' W for these dims: 256 when it is enough, else ATTN_MAX_DIM
static int attention_kernel_width(const AttentionDims* d) {
    int width = max(d->d1 + d->d2, d->dv);
    if (width > ATTN_MAX_DIM) {
        die_hint("raise ATTN_MAX_DIM in llmc/cuda/attention.cuh, or use a smaller head or latent width",
                 "attention widths q.k %d and v %d exceed the GPU kernels' %d", d->d1 + d->d2, d->dv, ATTN_MAX_DIM);
    }
    return width <= 256 ? 256 : ATTN_MAX_DIM;
}

static void attention_forward(float* out, float* lse, const float* q, const float* k1, const float* k2, const float* v, int B, int Tq,
                              int Tk, const AttentionDims* d) {
    size_t rows = (size_t)B * d->H * Tq;
#define LAUNCH(W) attention_forward_kernel<W><<<ceil_div(rows, ATTN_WARPS), 32 * ATTN_WARPS>>>(out, lse, q, k1, k2, v, B, Tq, Tk, *d)
    if (attention_kernel_width(d) == 256) LAUNCH(256);
    else LAUNCH(ATTN_MAX_DIM);
#undef LAUNCH
    cudaCheckLaunch();
}

// delta (B,H,Tq) = rowsum(dout * out): the softmax backward's sum_r a[r] datt[r], per query row
__global__ void attention_delta_kernel(float* delta, const float* dout, const float* out, int B, int Tq, AttentionDims d) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t row = (size_t)blockIdx.x * ATTN_WARPS + warp;
    if (row >= (size_t)B * d.H * Tq) return;
    int t = (int)(row % Tq), h = (int)((row / Tq) % d.H), b = (int)(row / ((size_t)Tq * d.H));
    size_t at = ((size_t)b * Tq + t) * d.out_stride + (size_t)h * d.dv;
    float s = 0.0f;
    for (int i = lane; i < d.dv; i += 32) s += dout[at + i] * out[at + i];
    s = warp_sum(s);
    if (lane == 0) delta[row] = s;
}

// dq of one query row per warp: dq = sum_s dscore[s] [k1_s ; k2_s], dscore = p (dout . v_s - delta) scale
template <int W>
__global__ void attention_backward_dq_kernel(float* dq, const float* dout, const float* lse, const float* delta, const float* q,
                                             const float* k1, const float* k2, const float* v, int B, int Tq, int Tk, AttentionDims d) {
    __shared__ float qs[ATTN_WARPS][W];
    __shared__ float dys[ATTN_WARPS][W];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t row = (size_t)blockIdx.x * ATTN_WARPS + warp;
    if (row >= (size_t)B * d.H * Tq) return;
    int t = (int)(row % Tq), h = (int)((row / Tq) % d.H), b = (int)(row / ((size_t)Tq * d.H)), g = h / (d.H / d.Hkv);
    int dq_w = d.d1 + d.d2, last = t + Tk - Tq;
    const float* qh = q + ((size_t)b * Tq + t) * d.q_stride + (size_t)h * dq_w;
    const float* dy = dout + ((size_t)b * Tq + t) * d.out_stride + (size_t)h * d.dv;
    for (int i = lane; i < dq_w; i += 32) qs[warp][i] = qh[i];
    for (int i = lane; i < d.dv; i += 32) dys[warp][i] = dy[i];
    __syncwarp();
    float acc[W / 32] = {0.0f};
    for (int s0 = 0; s0 <= last; s0 += 32) {
        int s = s0 + lane, valid = min(32, last - s0 + 1);
        float dscore = 0.0f;
        if (s <= last) {
            const float* k1s = k1 + ((size_t)b * Tk + s) * d.k1_stride + (size_t)g * d.k1_head;
            const float* k2s = k2 ? k2 + ((size_t)b * Tk + s) * d.k2_stride : NULL;
            const float* vs = v + ((size_t)b * Tk + s) * d.v_stride + (size_t)g * d.v_head;
            float p = expf(attention_dot(qs[warp], k1s, k2s, d) - lse[row]), dp = 0.0f;
            for (int i = 0; i < d.dv; i++) dp += dys[warp][i] * vs[i];
            dscore = p * (dp - delta[row]) * (float)d.scale;
        }
        for (int j = 0; j < valid; j++) {
            float ds = __shfl_sync(0xffffffff, dscore, j);
            const float* k1s = k1 + ((size_t)b * Tk + s0 + j) * d.k1_stride + (size_t)g * d.k1_head;
            const float* k2s = k2 ? k2 + ((size_t)b * Tk + s0 + j) * d.k2_stride : NULL;
            for (int r = 0; r < W / 32; r++) {
                int i = r * 32 + lane;
                if (i < d.d1) acc[r] += ds * k1s[i];
                else if (i < dq_w) acc[r] += ds * k2s[i - d.d1];
            }
        }
    }
    float* dqh = dq + ((size_t)b * Tq + t) * d.q_stride + (size_t)h * dq_w;
    for (int r = 0; r < W / 32; r++) {
        if (r * 32 + lane < dq_w) dqh[r * 32 + lane] = acc[r];
    }
}

// The key side, one (b, kv head g, key s) per warp, over the query heads of the group and the query rows
// that see key s (those at positions t + Tk - Tq >= s; every row for a key of the memory): dk1 and dv
// accumulate (+=; they may alias, as GTA's tied state), and this kv head's share of dk2 goes to dk2_part
// (B,Hkv,Tk,d2) for a fixed-order sum over kv heads afterwards.
template <int W>
__global__ void attention_backward_dkv_kernel(float* dk1, float* dv, float* dk2_part, const float* dout, const float* lse,
                                              const float* delta, const float* q, const float* k1, const float* k2, const float* v,
                                              int B, int Tq, int Tk, AttentionDims d) {
    __shared__ float ks[ATTN_WARPS][W];
    __shared__ float vss[ATTN_WARPS][W];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    size_t item = (size_t)blockIdx.x * ATTN_WARPS + warp; // (b, g, s)
    if (item >= (size_t)B * d.Hkv * Tk) return;
    int s = (int)(item % Tk), g = (int)((item / Tk) % d.Hkv), b = (int)(item / ((size_t)Tk * d.Hkv));
    int group = d.H / d.Hkv, dq_w = d.d1 + d.d2, first = max(0, s - (Tk - Tq));
    const float* k1s = k1 + ((size_t)b * Tk + s) * d.k1_stride + (size_t)g * d.k1_head;
    const float* vs = v + ((size_t)b * Tk + s) * d.v_stride + (size_t)g * d.v_head;
    for (int i = lane; i < d.d1; i += 32) ks[warp][i] = k1s[i];
    for (int i = lane; i < d.d2; i += 32) ks[warp][d.d1 + i] = k2[((size_t)b * Tk + s) * d.k2_stride + i];
    for (int i = lane; i < d.dv; i += 32) vss[warp][i] = vs[i];
    __syncwarp();
    float dk[W / 32] = {0.0f}, dvv[W / 32] = {0.0f};
    for (int h = g * group; h < (g + 1) * group; h++) {
        for (int t0 = first; t0 < Tq; t0 += 32) {
            int t = t0 + lane, valid = min(32, Tq - t0);
            float p = 0.0f, dscore = 0.0f;
            if (t < Tq) {
                size_t row = ((size_t)b * d.H + h) * Tq + t;
                const float* qt = q + ((size_t)b * Tq + t) * d.q_stride + (size_t)h * dq_w;
                const float* dy = dout + ((size_t)b * Tq + t) * d.out_stride + (size_t)h * d.dv;
                float dot = 0.0f, dp = 0.0f;
                for (int i = 0; i < dq_w; i++) dot += qt[i] * ks[warp][i];
                for (int i = 0; i < d.dv; i++) dp += dy[i] * vss[warp][i];
                p = expf(dot * (float)d.scale - lse[row]);
                dscore = p * (dp - delta[row]) * (float)d.scale;
            }
            for (int j = 0; j < valid; j++) {
                float pj = __shfl_sync(0xffffffff, p, j), dsj = __shfl_sync(0xffffffff, dscore, j);
                const float* qt = q + ((size_t)b * Tq + t0 + j) * d.q_stride + (size_t)h * dq_w;
                const float* dy = dout + ((size_t)b * Tq + t0 + j) * d.out_stride + (size_t)h * d.dv;
                for (int r = 0; r < W / 32; r++) {
                    int i = r * 32 + lane;
                    if (i < dq_w) dk[r] += dsj * qt[i];
                    if (i < d.dv) dvv[r] += pj * dy[i];
                }
            }
        }
    }
    float* dk1s = dk1 + ((size_t)b * Tk + s) * d.k1_stride + (size_t)g * d.k1_head;
    for (int r = 0; r < W / 32; r++) {
        if (r * 32 + lane < d.d1) dk1s[r * 32 + lane] += dk[r];
    }
    __syncwarp(); // dk1 and dv may be the same memory
    float* dvs = dv + ((size_t)b * Tk + s) * d.v_stride + (size_t)g * d.v_head;
    for (int r = 0; r < W / 32; r++) {
        if (r * 32 + lane < d.dv) dvs[r * 32 + lane] += dvv[r];
    }
    float* part = dk2_part + item * d.d2;
    for (int r = 0; r < W / 32; r++) {
        int i = r * 32 + lane;
        if (i >= d.d1 && i < dq_w) part[i - d.d1] = dk[r];
    }
}

// dk2 (B,Tk,k2_stride) += sum over kv heads of dk2_part, in order
__global__ void attention_dk2_kernel(float* dk2, const float* dk2_part, int B, int Tk, AttentionDims d) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * Tk * d.d2) return;
    int i = (int)(idx % d.d2), s = (int)((idx / d.d2) % Tk), b = (int)(idx / ((size_t)d.d2 * Tk));
    float sum = 0.0f;
    for (int g = 0; g < d.Hkv; g++) sum += dk2_part[(((size_t)b * d.Hkv + g) * Tk + s) * d.d2 + i];
    dk2[((size_t)b * Tk + s) * d.k2_stride + i] += sum;
}

// what attention_forward keeps for the backward: each query row's log-sum-exp (B, H, Tq); the backward
// recomputes the probabilities from it
static size_t attention_state_size(int B, int H, int Tq, int Tk) {
    (void)Tk;
    return (size_t)B * H * Tq;
}

// scratch floats attention_backward needs for Tq queries over Tk keys: delta (B,H,Tq), dk2_part (B,Hkv,Tk,d2)
static size_t attention_scratch_size(int B, int Tq, int Tk, const AttentionDims* d) {
    return (size_t)B * d->H * Tq + (size_t)B * d->Hkv * Tk * d->d2;
}

// Training (Tq == Tk) and a carried memory (Tq < Tk). dq (B,Tq) is written; dk1, dk2, dv (B,Tk)
// accumulate (+=) over all Tk keys. out and lse are the forward's.
static void attention_backward(float* dq, float* dk1, float* dk2, float* dv, float* scratch, const float* dout, const float* out,
                               const float* lse, const float* q, const float* k1, const float* k2, const float* v, int B, int Tq,
                               int Tk, const AttentionDims* d) {
    int width = attention_kernel_width(d);
    float* delta = scratch;
    float* dk2_part = scratch + (size_t)B * d->H * Tq;
    size_t rows = (size_t)B * d->H * Tq, items = (size_t)B * d->Hkv * Tk;
    attention_delta_kernel<<<ceil_div(rows, ATTN_WARPS), 32 * ATTN_WARPS>>>(delta, dout, out, B, Tq, *d);
    cudaCheckLaunch();
#define LAUNCH(W)                                                                                                                        \
    attention_backward_dq_kernel<W><<<ceil_div(rows, ATTN_WARPS), 32 * ATTN_WARPS>>>(dq, dout, lse, delta, q, k1, k2, v, B, Tq, Tk, *d); \
    cudaCheckLaunch();                                                                                                                   \
    attention_backward_dkv_kernel<W><<<ceil_div(items, ATTN_WARPS), 32 * ATTN_WARPS>>>(dk1, dv, dk2_part, dout, lse, delta, q, k1,       \
                                                                                      k2, v, B, Tq, Tk, *d)
    if (width == 256) { LAUNCH(256); }
    else { LAUNCH(ATTN_MAX_DIM); }
#undef LAUNCH
    cudaCheckLaunch();
    if (d->d2 > 0) {
        attention_dk2_kernel<<<ceil_div((size_t)B * Tk * d->d2, 256), 256>>>(dk2, dk2_part, B, Tk, *d);
        cudaCheckLaunch();
    }
}

// MLA/GLA decoding: qa_h = [W_uk,h^T q_nope,h (dc) | q_rope,h (dR)], a warp per head (train_gpt.c's absorb_queries)
__global__ void absorb_queries_kernel(float* qa, const float* q, const float* ukvw, int Hg, int dh, int dR, int dc) {
    int h = blockIdx.x, lane = threadIdx.x;
    const float* qh = q + (size_t)h * (dh + dR);
    const float* w_uk = ukvw + ((size_t)(h / Hg) * Hg * 2 * dh + (size_t)(h % Hg) * dh) * dc; // (dh, dc)
    float* out = qa + (size_t)h * (dc + dR);
    for (int j = lane; j < dc; j += 32) {
        float s = 0.0f;
        for (int i = 0; i < dh; i++) s += qh[i] * w_uk[(size_t)i * dc + j];
        out[j] = s;
    }
    for (int j = lane; j < dR; j += 32) out[dc + j] = qh[dh + j];
}

static void absorb_queries(float* qa, const float* q, const float* ukvw, int H, int Hg, int dh, int dR, int dc) {
    absorb_queries_kernel<<<H, 32>>>(qa, q, ukvw, Hg, dh, dR, dc);
    cudaCheckLaunch();
}

} // namespace gpu

#endif // LLMC_CUDA_ATTENTION_CUH
