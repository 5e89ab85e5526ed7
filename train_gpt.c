/*
GPT training on the CPU, fp32 with OpenMP: the reference trainer. This file is the model's layers, each
forward next to its backward (the fast kernel beside the plain reference it replaced, which the tests
compare it with), the optimizers' update rules, and the trainer's memory and processes. The wiring of
the model from those layers, written once for this trainer and the CUDA one, is llmc/model.h; main is
llmc/train.h; the packed GEMM every product runs through is llmc/cpu/gemm.h.

The model is a pre-LN GPT-2 (docs/design.md §2): token embedding (+ learned positions, or RoPE), L blocks
of x += Attn(LN1(x)); x += MLP(LN2(x)), a final LayerNorm and an LM head tied to the embedding. Attention
is MHA, GQA, MQA, GTA, MLA or GLA (§2.1), each with a KV-cache decode path; the optimizer is AdamW or Muon
(§3). Results do not depend on the thread count.

Shape legend used in every comment:
    B batch, T sequence (Tq queries against Tk keys), C channels, H query heads, Hkv key/value heads,
    dh = C/H head width, dR rotated width, Dqkv fused q|k|v width ((H + 2*Hkv)*dh; GTA (H + Hkv)*dh + dR),
    F MLP width, V vocabulary, Vp padded vocabulary, L layers, N = B*T rows.

Every layer has a forward and, right after it, its backward with the same arguments in the same order;
gradient buffers have a d prefix. Weight gradients accumulate (+=, for gradient accumulation); input
gradients are written (=) unless a comment says they accumulate.
*/
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h> // madvise: huge pages for the large blocks
#include <tgmath.h> // exp, log, sqrt, tanh follow the type of `real`
#ifdef _OPENMP
#include <omp.h>
#endif

#include "llmc/attention_layout.h"
#include "llmc/distributed.h"
#include "llmc/gpt.h"
#include "llmc/optimizer_config.h"
#include "llmc/utils.h"

// The type of every tensor: fp32 here. The gradient-check tests build this same file with -DREAL_DOUBLE
// so that finite differences run in double precision.
#ifdef REAL_DOUBLE
typedef double real;
#define REAL_DTYPE "F64"
#else
typedef float real;
#define REAL_DTYPE "F32"
#endif

#include "llmc/cpu/gemm.h"
#include "llmc/cpu/vecmath.h"

// ----------------------------------------------------------------------------
// all the individual layers' forward and backward passes

// Sums over rows (weight and bias gradients) take this many columns per thread at a time.
#define COLUMN_BLOCK 64

// out (B,T,C) = wte[inp] + wpe[t]. inp (B,T) token ids, wte (Vp,C), wpe (T,C) or NULL (RoPE).
static void encoder_forward(real* out, const int* inp, const real* wte, const real* wpe, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            real* o = out + ((size_t)b * T + t) * C;
            const real* e = wte + (size_t)inp[b * T + t] * C;
            for (int i = 0; i < C; i++) o[i] = e[i] + (wpe ? wpe[(size_t)t * C + i] : 0);
        }
    }
}

// dwte, dwpe accumulate dout (B,T,C) at the rows the forward read.
static void encoder_backward(real* dwte, real* dwpe, const real* dout, const int* inp, int B, int T, int C) {
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const real* d = dout + ((size_t)b * T + t) * C;
            real* dw = dwte + (size_t)inp[b * T + t] * C;
            for (int i = 0; i < C; i++) dw[i] += d[i];
            if (dwpe) {
                for (int i = 0; i < C; i++) dwpe[(size_t)t * C + i] += d[i];
            }
        }
    }
}

// out (N,C) = (inp - mean) * rstd * weight + bias over each row; mean, rstd (N,) saved for the
// backward (NULL when not needed, as in decoding). bias (C,) or NULL.
static void layernorm_forward(real* out, real* mean, real* rstd, const real* inp, const real* weight,
                              const real* bias, int N, int C) {
    const real eps = 1e-5f;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * C;
        real m = 0;
        for (int i = 0; i < C; i++) m += x[i];
        m /= C;
        real var = 0;
        for (int i = 0; i < C; i++) var += (x[i] - m) * (x[i] - m);
        real s = 1 / sqrt(var / C + eps);
        real* o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * s * weight[i] + (bias ? bias[i] : 0);
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
    }
}

// dinp (N,C) accumulates (+=): it is the residual stream's gradient. dweight, dbias (C,).
static void layernorm_backward(real* dinp, real* dweight, real* dbias, const real* dout, const real* inp,
                               const real* weight, const real* mean, const real* rstd, int N, int C) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * C;
        const real* d = dout + (size_t)n * C;
        real* dx = dinp + (size_t)n * C;
        // dnorm = dout * weight; dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm))
        real dnorm_mean = 0, dnorm_norm_mean = 0;
        for (int i = 0; i < C; i++) {
            real norm = (x[i] - mean[n]) * rstd[n];
            dnorm_mean += d[i] * weight[i];
            dnorm_norm_mean += d[i] * weight[i] * norm;
        }
        dnorm_mean /= C;
        dnorm_norm_mean /= C;
        for (int i = 0; i < C; i++) {
            real norm = (x[i] - mean[n]) * rstd[n];
            dx[i] += (d[i] * weight[i] - dnorm_mean - norm * dnorm_norm_mean) * rstd[n];
        }
    }
    // weight and bias gradients sum over rows, a block of columns per thread (rows read contiguously);
    // each column belongs to one thread, so the sum's order (and result) does not depend on the thread count
    #pragma omp parallel for schedule(static)
    for (int i0 = 0; i0 < C; i0 += COLUMN_BLOCK) {
        int width = imin(COLUMN_BLOCK, C - i0);
        real dw[COLUMN_BLOCK] = {0}, db[COLUMN_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *x = inp + (size_t)n * C + i0, *d = dout + (size_t)n * C + i0;
            for (int i = 0; i < width; i++) {
                dw[i] += d[i] * (x[i] - mean[n]) * rstd[n];
                db[i] += d[i];
            }
        }
        for (int i = 0; i < width; i++) {
            dweight[i0 + i] += dw[i];
            if (dbias) dbias[i0 + i] += db[i];
        }
    }
}

// out (N,C) = inp * rstd * weight with rstd = 1/sqrt(mean(inp^2) + eps) over each row; rstd (N,) saved
// for the backward (NULL when not needed). Rows of inp are inp_stride apart (a slice of a wider row).
static void rmsnorm_forward(real* out, real* rstd, const real* inp, const real* weight, int N, int C, int inp_stride) {
    const real eps = 1e-6f;
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * inp_stride;
        real ms = 0;
        for (int i = 0; i < C; i++) ms += x[i] * x[i];
        real r = 1 / sqrt(ms / C + eps);
        real* o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = x[i] * r * weight[i];
        if (rstd) rstd[n] = r;
    }
}

// dinp (rows inp_stride apart) accumulates (+=); dweight (C,).
static void rmsnorm_backward(real* dinp, real* dweight, const real* dout, const real* inp, const real* weight,
                             const real* rstd, int N, int C, int inp_stride) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* x = inp + (size_t)n * inp_stride;
        const real* d = dout + (size_t)n * C;
        real* dx = dinp + (size_t)n * inp_stride;
        // y = w x r, r = (mean(x^2) + eps)^-1/2  =>  dx = r (dy w - x r^2 mean(dy w x))
        real dot = 0;
        for (int i = 0; i < C; i++) dot += d[i] * weight[i] * x[i];
        real r = rstd[n], k = r * r * dot / C;
        for (int i = 0; i < C; i++) dx[i] += r * (d[i] * weight[i] - x[i] * k);
    }
    #pragma omp parallel for schedule(static)
    for (int i0 = 0; i0 < C; i0 += COLUMN_BLOCK) { // as in layernorm_backward
        int width = imin(COLUMN_BLOCK, C - i0);
        real dw[COLUMN_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *x = inp + (size_t)n * inp_stride + i0, *d = dout + (size_t)n * C + i0;
            for (int i = 0; i < width; i++) dw[i] += d[i] * x[i] * rstd[n];
        }
        for (int i = 0; i < width; i++) dweight[i0 + i] += dw[i];
    }
}

// The reference matmuls: plain loops, kept to test the fast path against (and used by it for fewer rows
// than a register tile, as in decoding, where packing would cost more than the product).
// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC,) or no bias.
static void matmul_forward_reference(real* out, const real* inp, const real* weight, const real* bias, int N, int C, int OC) {
    #pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            const real *x = inp + (size_t)n * C, *w = weight + (size_t)o * C;
            real s = 0;
            for (int i = 0; i < C; i++) s += x[i] * w[i];
            out[(size_t)n * OC + o] = s + (bias ? bias[o] : 0);
        }
    }
}

// dinp (N,C) = dout (N,OC) @ weight (OC,C); dweight (OC,C) += dout^T @ inp; dbias (OC,) += column sums
// of dout, or no bias.
static void matmul_backward_reference(real* dinp, real* dweight, real* dbias, const real* dout, const real* inp,
                                      const real* weight, int N, int C, int OC) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        real* dx = dinp + (size_t)n * C;
        for (int i = 0; i < C; i++) dx[i] = 0;
        for (int o = 0; o < OC; o++) {
            for (int i = 0; i < C; i++) dx[i] += dout[(size_t)n * OC + o] * weight[(size_t)o * C + i];
        }
    }
    #pragma omp parallel for schedule(static)
    for (int o = 0; o < OC; o++) {
        for (int n = 0; n < N; n++) {
            real g = dout[(size_t)n * OC + o];
            for (int i = 0; i < C; i++) dweight[(size_t)o * C + i] += g * inp[(size_t)n * C + i];
            if (dbias) dbias[o] += g;
        }
    }
}

// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC,) or no bias
static void matmul_forward(real* out, const real* inp, const real* weight, const real* bias, int N, int C, int OC) {
    if (N < GEMM_MR) { // decoding: fewer rows than a register tile, and packing would cost more than it saves;
                        // as the reference, but each weight row is read once for all N rows
        #pragma omp parallel for schedule(static)
        for (int o = 0; o < OC; o++) {
            const real* w = weight + (size_t)o * C;
            for (int n = 0; n < N; n++) {
                const real* x = inp + (size_t)n * C;
                real s = 0;
                for (int i = 0; i < C; i++) s += x[i] * w[i];
                out[(size_t)n * OC + o] = s + (bias ? bias[o] : 0);
            }
        }
        return;
    }
    if (bias) {
        #pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, OC * sizeof(real));
    }
    MatrixView x = {inp, (size_t)C, 1}, w = {weight, (size_t)C, 1};
    gemm(out, OC, x, transposed(w), N, OC, C, bias ? GEMM_ADD : GEMM_SET);
}

// dinp (N,C) = dout (N,OC) @ weight (OC,C); dweight (OC,C) += dout^T @ inp; dbias (OC,) += column sums
// of dout (a block of columns per thread, as in layernorm_backward), or no bias.
static void matmul_backward(real* dinp, real* dweight, real* dbias, const real* dout, const real* inp,
                            const real* weight, int N, int C, int OC) {
    MatrixView dy = {dout, (size_t)OC, 1}, w = {weight, (size_t)C, 1}, x = {inp, (size_t)C, 1};
    gemm(dinp, C, dy, w, N, C, OC, GEMM_SET);
    gemm(dweight, C, transposed(dy), x, OC, C, N, GEMM_ADD);
    if (dbias == NULL) return;
    #pragma omp parallel for schedule(static)
    for (int o0 = 0; o0 < OC; o0 += COLUMN_BLOCK) {
        int width = imin(COLUMN_BLOCK, OC - o0);
        real sum[COLUMN_BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            for (int o = 0; o < width; o++) sum[o] += dout[(size_t)n * OC + o0 + o];
        }
        for (int o = 0; o < width; o++) dbias[o0 + o] += sum[o];
    }
}

// RoPE, rotate-half layout: within each head's first rot_dim dims, the pair (i, i + rot_dim/2) is
// rotated by the angle pos * theta^(-2i/rot_dim). x (B,T,row_stride) holds num_heads vectors per row,
// head_stride apart; the row at time t has position pos0 + t. cos, sin (maxT, rot_dim/2).
// sign = +1 rotates forward, -1 applies the inverse (transposed) rotation.
static void rope_rotate(real* x, const real* cos_table, const real* sin_table, int B, int T, int pos0, int num_heads,
                        int row_stride, int head_stride, int rot_dim, real sign) {
    int half = rot_dim / 2;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const real* c = cos_table + (size_t)(pos0 + t) * half;
            const real* s = sin_table + (size_t)(pos0 + t) * half;
            for (int h = 0; h < num_heads; h++) {
                real* v = x + ((size_t)b * T + t) * row_stride + (size_t)h * head_stride;
                for (int i = 0; i < half; i++) {
                    real x1 = v[i], x2 = v[i + half];
                    v[i] = x1 * c[i] - sign * x2 * s[i];
                    v[i + half] = x2 * c[i] + sign * x1 * s[i];
                }
            }
        }
    }
}

// y = R x in place (arguments as rope_rotate)
static void rope_forward(real* x, const real* cos_table, const real* sin_table, int B, int T, int pos0,
                         int num_heads, int row_stride, int head_stride, int rot_dim) {
    rope_rotate(x, cos_table, sin_table, B, T, pos0, num_heads, row_stride, head_stride, rot_dim, 1);
}

// dx = R^T dy in place: dx = dy*cos - rot(dy*sin) inverts the rotation of rope_forward
static void rope_backward(real* dx, const real* cos_table, const real* sin_table, int B, int T, int pos0,
                          int num_heads, int row_stride, int head_stride, int rot_dim) {
    rope_rotate(dx, cos_table, sin_table, B, T, pos0, num_heads, row_stride, head_stride, rot_dim, -1);
}

// The causal attention core every variant shares, in training (Tq == Tk == T), in KV-cache decoding
// (Tq == 1, Tk = position + 1) and over a carried memory (the first Tk - Tq keys are earlier segments'):
// query row t sits at position t + Tk - Tq and sees keys 0..that.
// Query head h reads kv head h / (H/Hkv). A query head is d1 dims scored against its kv head's key k1,
// then d2 dims scored against k2, a key shared by all heads (the decoupled RoPE key of GTA, MLA, GLA):
//     score = scale * (q[:d1] . k1 + q[d1:] . k2),   out = softmax(scores) @ v
// The reference core, plain loops along each head.
// q (B,Tq,q_stride): head h at h*(d1+d2)          k1 (B,Tk,k1_stride): kv head g at g*k1_head
// k2 (B,Tk,k2_stride), or NULL when d2 = 0       v (B,Tk,v_stride): kv head g at g*v_head, dv wide
// out (B,Tq,out_stride): head h at h*dv          att (B,H,Tq,Tk): probabilities, zero above the diagonal
static void attention_forward_reference(real* out, real* att, const real* q, const real* k1, const real* k2, const real* v,
                                        int B, int Tq, int Tk, const AttentionDims* d) {
    int H = d->H, group = d->H / d->Hkv, d1 = d->d1, d2 = d->d2;
    #pragma omp parallel for collapse(3) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < Tq; t++) {
            for (int h = 0; h < H; h++) {
                int g = h / group, last = t + Tk - Tq;
                const real* qh = q + ((size_t)b * Tq + t) * d->q_stride + (size_t)h * (d1 + d2);
                real* a = att + (((size_t)b * H + h) * Tq + t) * Tk;
                real maxval = -INFINITY;
                for (int s = 0; s <= last; s++) {
                    const real* kh = k1 + ((size_t)b * Tk + s) * d->k1_stride + (size_t)g * d->k1_head;
                    real dot = 0;
                    for (int i = 0; i < d1; i++) dot += qh[i] * kh[i];
                    if (d2 > 0) {
                        const real* kr = k2 + ((size_t)b * Tk + s) * d->k2_stride;
                        for (int i = 0; i < d2; i++) dot += qh[d1 + i] * kr[i];
                    }
                    a[s] = dot * (real)d->scale;
                    if (a[s] > maxval) maxval = a[s];
                }
                real sum = 0;
                for (int s = 0; s <= last; s++) {
                    a[s] = exp(a[s] - maxval);
                    sum += a[s];
                }
                for (int s = 0; s <= last; s++) a[s] /= sum;
                for (int s = last + 1; s < Tk; s++) a[s] = 0;
                real* o = out + ((size_t)b * Tq + t) * d->out_stride + (size_t)h * d->dv;
                for (int i = 0; i < d->dv; i++) o[i] = 0;
                for (int s = 0; s <= last; s++) {
                    const real* vh = v + ((size_t)b * Tk + s) * d->v_stride + (size_t)g * d->v_head;
                    for (int i = 0; i < d->dv; i++) o[i] += a[s] * vh[i];
                }
            }
        }
    }
}

// dk2 (B,Tk,k2_stride) += the shared key's gradient that each (b, kv head) pair left in its scratch block
// (B,Hkv,Tk,1+d2) at offset Tk, summed over kv heads in order
static void attention_add_shared_key_grads(real* dk2, const real* scratch, int B, int Tk, const AttentionDims* d) {
    int Hkv = d->Hkv, d2 = d->d2;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int s = 0; s < Tk; s++) {
            real* dkr = dk2 + ((size_t)b * Tk + s) * d->k2_stride;
            for (int g = 0; g < Hkv; g++) {
                const real* part = scratch + ((size_t)b * Hkv + g) * Tk * (1 + d2) + Tk + (size_t)s * d2;
                for (int i = 0; i < d2; i++) dkr[i] += part[i];
            }
        }
    }
}

// Training (Tq == Tk == T) and a carried memory (Tq < Tk); out and att (B,H,Tq,Tk) are the forward's. dq
// has q's layout for (B,Tq), dk1/dk2/dv those of k1/k2/v for (B,Tk). dq is written; dk1, dk2 and dv
// accumulate (+=) over all Tk keys, the memory's too (the caller keeps what it needs), so a kv head read
// by several query heads, and k2 read by all of them, get the sum of their gradients, and dk1 may alias dv
// (GTA's tied state is both). Threads split (b, kv head) pairs; k2's gradient is summed per kv head in
// scratch (B,Hkv,Tk,1+d2), then over kv heads in a fixed order: the result does not depend on the thread
// count.
static void attention_backward_reference(real* dq, real* dk1, real* dk2, real* dv, real* scratch, const real* dout,
                                         const real* out, const real* att, const real* q, const real* k1, const real* k2,
                                         const real* v, int B, int Tq, int Tk, const AttentionDims* d) {
    int H = d->H, Hkv = d->Hkv, group = d->H / d->Hkv, d1 = d->d1, d2 = d->d2;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int g = 0; g < Hkv; g++) {
            real* datt = scratch + ((size_t)b * Hkv + g) * Tk * (1 + d2);
            real* dk2_part = datt + Tk; // (Tk, d2)
            memset(dk2_part, 0, (size_t)Tk * d2 * sizeof(real));
            for (int h = g * group; h < (g + 1) * group; h++) {
                for (int t = 0; t < Tq; t++) {
                    int last = t + Tk - Tq;
                    const real* a = att + (((size_t)b * H + h) * Tq + t) * Tk;
                    const real* dy = dout + ((size_t)b * Tq + t) * d->out_stride + (size_t)h * d->dv;
                    const real* qh = q + ((size_t)b * Tq + t) * d->q_stride + (size_t)h * (d1 + d2);
                    real* dqh = dq + ((size_t)b * Tq + t) * d->q_stride + (size_t)h * (d1 + d2);
                    // out = sum_s a[s] v_s  =>  datt[s] = dy . v_s,  dv_s += a[s] dy; and sum_s a[s] datt[s] = dy . out
                    const real* o = out + ((size_t)b * Tq + t) * d->out_stride + (size_t)h * d->dv;
                    real datt_dot_att = 0;
                    for (int i = 0; i < d->dv; i++) datt_dot_att += dy[i] * o[i];
                    for (int s = 0; s <= last; s++) {
                        const real* vh = v + ((size_t)b * Tk + s) * d->v_stride + (size_t)g * d->v_head;
                        real* dvh = dv + ((size_t)b * Tk + s) * d->v_stride + (size_t)g * d->v_head;
                        real dot = 0;
                        for (int i = 0; i < d->dv; i++) dot += dy[i] * vh[i];
                        for (int i = 0; i < d->dv; i++) dvh[i] += a[s] * dy[i];
                        datt[s] = dot;
                    }
                    // a = softmax(scores)  =>  dscore[s] = a[s] (datt[s] - sum_r a[r] datt[r])
                    for (int i = 0; i < d1 + d2; i++) dqh[i] = 0;
                    for (int s = 0; s <= last; s++) {
                        real dscore = a[s] * (datt[s] - datt_dot_att) * (real)d->scale;
                        const real* kh = k1 + ((size_t)b * Tk + s) * d->k1_stride + (size_t)g * d->k1_head;
                        real* dkh = dk1 + ((size_t)b * Tk + s) * d->k1_stride + (size_t)g * d->k1_head;
                        for (int i = 0; i < d1; i++) {
                            dqh[i] += dscore * kh[i];
                            dkh[i] += dscore * qh[i];
                        }
                        if (d2 > 0) {
                            const real* kr = k2 + ((size_t)b * Tk + s) * d->k2_stride;
                            for (int i = 0; i < d2; i++) {
                                dqh[d1 + i] += dscore * kr[i];
                                dk2_part[(size_t)s * d2 + i] += dscore * qh[d1 + i];
                            }
                        }
                    }
                }
            }
        }
    }
    if (d2 > 0) attention_add_shared_key_grads(dk2, scratch, B, Tk, d);
}

// The fast core: per head, the same arithmetic as products of small matrices through the GEMM (on strided
// views of the rows, one head per thread), and the softmax and its backward as vector loops along the
// keys. Above the diagonal the probabilities are zero, so the products run over whole rows and those
// terms add exact zeros.
//     scores S = Q1 K1^T + Q2 K2^T (Tq, Tk),  P = softmax(scale S),  out = P V

// the views of head h's queries (d1 and d2 parts), kv head g's keys (k1, k2) and values, in sequence b
typedef struct {
    MatrixView q1, q2, k1, k2, v;
} HeadViews;

static HeadViews head_views(const real* q, const real* k1, const real* k2, const real* v, int b, int h, int Tq, int Tk,
                            const AttentionDims* d) {
    int g = h / (d->H / d->Hkv);
    const real* qh = q + (size_t)b * Tq * d->q_stride + (size_t)h * (d->d1 + d->d2);
    HeadViews w = {{qh, (size_t)d->q_stride, 1},
                   {qh + d->d1, (size_t)d->q_stride, 1},
                   {k1 + (size_t)b * Tk * d->k1_stride + (size_t)g * d->k1_head, (size_t)d->k1_stride, 1},
                   {k2 ? k2 + (size_t)b * Tk * d->k2_stride : NULL, (size_t)d->k2_stride, 1},
                   {v + (size_t)b * Tk * d->v_stride + (size_t)g * d->v_head, (size_t)d->v_stride, 1}};
    return w;
}

// The GEMM mode of a (Tq, Tk) product needed only on and below the causal diagonal: GEMM_LOWER skips the
// tiles wholly above the main diagonal, which is that diagonal only when Tq == Tk (with a memory it runs
// Tk - Tq columns to the right of it), so any other shape is computed whole.
static GemmMode causal_gemm_mode(int Tq, int Tk) { return Tq == Tk ? GEMM_LOWER : GEMM_SET; }

// KV-cache decoding (Tq == 1) as flash-decoding: the keys are cut into blocks of DECODE_BLOCK, and a work
// item, one (sequence b, block), reads the block's cache rows once, whole, for every query head (a row holds
// every kv head, so reading it whole streams the cache from memory in order; a block's rows stay in L2
// between the scores' pass and the values'). For each head it keeps the block's largest score m, the sum
// l = sum_s exp(score_s - m) and the unnormalised output o = sum_s exp(score_s - m) v_s (att holds
// exp(score_s - m) meanwhile). Threads share the items, so the cache is split across them by blocks; then
// each query head combines its blocks in order:
//     M = max_b m_b,   w_b = exp(m_b - M) / sum_b' exp(m_b' - M) l_b',   out = sum_b w_b o_b,   att *= w_b
// The blocks do not depend on the thread count, so neither does the result. Arguments as
// attention_forward_reference (Tq = 1).
#define DECODE_BLOCK 128  // keys per work item: enough items at long contexts for any thread count, few to combine
#define DECODE_PREFETCH 4 // rows ahead, so the values' pass finds them in L2

static void prefetch_span(const real* p, int n) {
    for (int i = 0; i < n; i += 64 / (int)sizeof(real)) __builtin_prefetch(p + i);
}

// dot[j] += q_j . k over n elements for nh (<= 4) queries q_stride apart that share the key k: four at a
// time, so that each load of k serves four products (the heads of a GQA, MQA or latent group)
static void dots_one_key(real dot[4], const real* q, int q_stride, int nh, const real* k, int n) {
    if (nh == 4) {
        const real *q0 = q, *q1 = q + q_stride, *q2 = q1 + q_stride, *q3 = q2 + q_stride;
        real s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int i = 0; i < n; i++) {
            s0 += q0[i] * k[i];
            s1 += q1[i] * k[i];
            s2 += q2[i] * k[i];
            s3 += q3[i] * k[i];
        }
        dot[0] += s0, dot[1] += s1, dot[2] += s2, dot[3] += s3;
        return;
    }
    for (int j = 0; j < nh; j++) {
        real sum = 0;
        for (int i = 0; i < n; i++) sum += q[(size_t)j * q_stride + i] * k[i];
        dot[j] += sum;
    }
}

// o_j (dv) = sum_s w_j[s] v_s for nh (<= 4) heads that share the n value rows v_s (v_stride apart; head j's
// weights at w + j * w_stride, its output at o + j * o_stride), 64 columns at a time in registers: each row
// is read once for all the heads (a GQA, MQA or latent group), and the sums stay in registers instead of
// chaining every row's load on the store before it. Written for a constant number of heads `lanes` (1 or 4;
// heads past nh get zero weights and are dropped), so that the compiler keeps acc in registers.
static inline __attribute__((always_inline)) void weighted_sum_rows_lanes(real* o, size_t o_stride, const real* w, size_t w_stride,
                                                                          int nh, const real* v, int v_stride, int n, int dv,
                                                                          const int lanes) {
    enum { COLUMNS = 64 };
    static const real no_weights[DECODE_BLOCK] = {0};
    const real* wj[4];
    for (int j = 0; j < 4; j++) wj[j] = j < nh ? w + (size_t)j * w_stride : no_weights;
    int i0 = 0;
    for (; i0 + COLUMNS <= dv; i0 += COLUMNS) {
        real acc[4][COLUMNS] = {{0}};
        for (int s = 0; s < n; s++) {
            const real* vr = v + (size_t)s * v_stride + i0;
            for (int j = 0; j < lanes; j++) {
                real ws = wj[j][s];
                for (int i = 0; i < COLUMNS; i++) acc[j][i] += ws * vr[i];
            }
        }
        for (int j = 0; j < nh; j++) memcpy(o + j * o_stride + i0, acc[j], sizeof(acc[j]));
    }
    for (int j = 0; j < nh; j++) { // the last columns, fewer than 64
        for (int i = i0; i < dv; i++) {
            real acc = 0;
            for (int s = 0; s < n; s++) acc += wj[j][s] * v[(size_t)s * v_stride + i];
            o[j * o_stride + i] = acc;
        }
    }
}

static void weighted_sum_rows(real* o, size_t o_stride, const real* w, size_t w_stride, int nh, const real* v, int v_stride,
                              int n, int dv) {
    if (nh == 1) weighted_sum_rows_lanes(o, o_stride, w, w_stride, nh, v, v_stride, n, dv, 1);
    else weighted_sum_rows_lanes(o, o_stride, w, w_stride, nh, v, v_stride, n, dv, 4);
}

static void attention_decode(real* out, real* att, const real* q, const real* k1, const real* k2, const real* v, int B, int Tk,
                             const AttentionDims* d) {
    int H = d->H, group = H / d->Hkv, d1 = d->d1, d2 = d->d2, dv = d->dv;
    int k1_span = (d->Hkv - 1) * d->k1_head + d1, v_span = (d->Hkv - 1) * d->v_head + dv; // a row's keys, values
    int nblocks = (Tk + DECODE_BLOCK - 1) / DECODE_BLOCK;
    size_t part = 2 + (size_t)dv; // m, l, o of one (b, h, block)
    static real* parts = NULL;    // kept between calls (decoding calls this in every layer for every token)
    static size_t parts_size = 0;
    if ((size_t)B * H * nblocks * part > parts_size) {
        free(parts);
        parts_size = (size_t)B * H * nblocks * part;
        parts = (real*)mallocCheck(parts_size * sizeof(real));
    }
    real scale = (real)d->scale;
    #pragma omp parallel for schedule(dynamic)
    for (int item = 0; item < B * nblocks; item++) {
        int blk = item % nblocks, b = item / nblocks;
        int s0 = blk * DECODE_BLOCK, n = imin(DECODE_BLOCK, Tk - s0);
        const real* qb = q + (size_t)b * d->q_stride;
        real* scores = att + (size_t)b * H * Tk + s0; // head h's at scores + h * Tk
        // scores, each key row read once for every head
        for (int s = 0; s < n; s++) {
            size_t row = (size_t)b * Tk + s0 + s;
            const real *k1r = k1 + row * d->k1_stride, *kr2 = d2 > 0 ? k2 + row * d->k2_stride : NULL;
            if (s + DECODE_PREFETCH < n) {
                prefetch_span(k1r + (size_t)DECODE_PREFETCH * d->k1_stride, k1_span);
                prefetch_span(v + (row + DECODE_PREFETCH) * d->v_stride, v_span);
            }
            for (int h0 = 0, nh; h0 < H; h0 += nh) { // up to 4 heads of one kv head at a time
                nh = imin(4, group - h0 % group);
                const real* qh = qb + (size_t)h0 * (d1 + d2);
                real dot[4] = {0, 0, 0, 0};
                dots_one_key(dot, qh, d1 + d2, nh, k1r + (size_t)(h0 / group) * d->k1_head, d1);
                if (d2 > 0) dots_one_key(dot, qh + d1, d1 + d2, nh, kr2, d2);
                for (int j = 0; j < nh; j++) scores[(size_t)(h0 + j) * Tk + s] = dot[j] * scale;
            }
        }
        for (int h = 0; h < H; h++) {
            real *p = scores + (size_t)h * Tk, *part_h = parts + (((size_t)b * H + h) * nblocks + blk) * part;
            real m = -INFINITY, l = 0;
            #pragma omp simd reduction(max : m) // a max in any order is exact: this lets it vectorise
            for (int s = 0; s < n; s++) m = p[s] > m ? p[s] : m;
            for (int s = 0; s < n; s++) {
                p[s] = exp_vec(p[s] - m);
                l += p[s];
            }
            part_h[0] = m;
            part_h[1] = l;
        }
        // unnormalised outputs, the block's value rows read again from L2, once for up to 4 heads of a kv head
        for (int h0 = 0, nh; h0 < H; h0 += nh) {
            nh = imin(4, group - h0 % group);
            real* o = parts + (((size_t)b * H + h0) * nblocks + blk) * part + 2;
            weighted_sum_rows(o, nblocks * part, scores + (size_t)h0 * Tk, Tk, nh,
                              v + ((size_t)b * Tk + s0) * d->v_stride + (size_t)(h0 / group) * d->v_head, d->v_stride, n, dv);
        }
    }
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const real* ph = parts + ((size_t)b * H + h) * nblocks * part;
            real M = -INFINITY, L = 0;
            for (int k = 0; k < nblocks; k++) M = ph[k * part] > M ? ph[k * part] : M;
            for (int k = 0; k < nblocks; k++) L += exp_vec(ph[k * part] - M) * ph[k * part + 1];
            real* o = out + (size_t)b * d->out_stride + (size_t)h * dv;
            real* a = att + ((size_t)b * H + h) * Tk;
            memset(o, 0, dv * sizeof(real));
            for (int k = 0; k < nblocks; k++) {
                real w = exp_vec(ph[k * part] - M) / L;
                for (int i = 0; i < dv; i++) o[i] += w * ph[k * part + 2 + i];
                for (int s = k * DECODE_BLOCK; s < imin(Tk, (k + 1) * DECODE_BLOCK); s++) a[s] *= w;
            }
        }
    }
}

// Arguments as attention_forward_reference. Threads take whole heads.
static void attention_forward(real* out, real* att, const real* q, const real* k1, const real* k2, const real* v,
                              int B, int Tq, int Tk, const AttentionDims* d) {
    int nested = 0;
#ifdef _OPENMP
    nested = omp_in_parallel();
#endif
    if (Tq == 1 && Tk > 1 && !nested) { // decoding (one token, Tk - 1 cached): flash-decoding over the cache
        attention_decode(out, att, q, k1, k2, v, B, Tk, d);
        return;
    }
    if (Tq < GEMM_MR) { // fewer query rows than a register tile: the plain loops are faster
        attention_forward_reference(out, att, q, k1, k2, v, B, Tq, Tk, d);
        return;
    }
    int H = d->H;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            HeadViews w = head_views(q, k1, k2, v, b, h, Tq, Tk, d);
            real* S = att + ((size_t)b * H + h) * Tq * Tk;
            gemm(S, Tk, w.q1, transposed(w.k1), Tq, Tk, d->d1, causal_gemm_mode(Tq, Tk));
            if (d->d2 > 0) gemm(S, Tk, w.q2, transposed(w.k2), Tq, Tk, d->d2, GEMM_ADD);
            for (int t = 0; t < Tq; t++) {
                int n = t + Tk - Tq + 1; // keys this row sees
                real* a = S + (size_t)t * Tk;
                real maxval = -INFINITY, sum = 0;
                #pragma omp simd reduction(max : maxval) // a max in any order is exact: this lets it vectorise
                for (int s = 0; s < n; s++) maxval = a[s] > maxval ? a[s] : maxval;
                for (int s = 0; s < n; s++) {
                    a[s] = exp_vec((a[s] - maxval) * (real)d->scale);
                    sum += a[s];
                }
                for (int s = 0; s < n; s++) a[s] /= sum;
                for (int s = n; s < Tk; s++) a[s] = 0;
            }
            MatrixView p = {S, (size_t)Tk, 1};
            gemm(out + (size_t)b * Tq * d->out_stride + (size_t)h * d->dv, d->out_stride, p, w.v, Tq, d->dv, Tk, GEMM_SET);
        }
    }
}

// Arguments as attention_backward_reference. Threads take (b, kv head) pairs, whose key and value
// gradients collect the products of the kv head's query heads in order; the RoPE key's share goes to
// scratch per pair and is summed over kv heads in order, as in the reference. Each thread holds one
// head's score gradients (Tq, Tk).
//     dP = dout V^T,  dS = P (dP - rowsum(P dP)) scale,  dQ = dS K,  dK += dS^T Q,  dV += P^T dout
// where rowsum(P dP) = dout . out (out = P V), the forward's output.
static void attention_backward(real* dq, real* dk1, real* dk2, real* dv, real* scratch, const real* dout,
                               const real* out, const real* att, const real* q, const real* k1, const real* k2, const real* v,
                               int B, int Tq, int Tk, const AttentionDims* d) {
    int H = d->H, Hkv = d->Hkv, group = H / Hkv, d1 = d->d1, d2 = d->d2;
    #pragma omp parallel
    {
        real* dS = (real*)mallocCheck((size_t)Tq * Tk * sizeof(real));
        MatrixView ds = {dS, (size_t)Tk, 1};
        #pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < B; b++) {
            for (int g = 0; g < Hkv; g++) {
                real* dk2_part = scratch + ((size_t)b * Hkv + g) * Tk * (1 + d2) + Tk; // (Tk, d2)
                for (int h = g * group; h < (g + 1) * group; h++) {
                    HeadViews w = head_views(q, k1, k2, v, b, h, Tq, Tk, d);
                    const real* P = att + ((size_t)b * H + h) * Tq * Tk;
                    MatrixView p = {P, (size_t)Tk, 1}, dy = {dout + (size_t)b * Tq * d->out_stride + (size_t)h * d->dv, (size_t)d->out_stride, 1};
                    gemm(dS, Tk, dy, transposed(w.v), Tq, Tk, d->dv, causal_gemm_mode(Tq, Tk));
                    for (int t = 0; t < Tq; t++) {
                        int n = t + Tk - Tq + 1; // keys this row sees
                        const real* a = P + (size_t)t * Tk;
                        real* r = dS + (size_t)t * Tk;
                        const real* dyt = dy.p + (size_t)t * dy.rs;
                        const real* o = out + ((size_t)b * Tq + t) * d->out_stride + (size_t)h * d->dv;
                        real dot = 0; // rowsum(P dP) = dout . out
                        for (int i = 0; i < d->dv; i++) dot += dyt[i] * o[i];
                        for (int s = 0; s < n; s++) r[s] = a[s] * (r[s] - dot) * (real)d->scale;
                        for (int s = n; s < Tk; s++) r[s] = 0;
                    }
                    real* dqh = dq + (size_t)b * Tq * d->q_stride + (size_t)h * (d1 + d2);
                    gemm(dqh, d->q_stride, ds, w.k1, Tq, d1, Tk, GEMM_SET);
                    gemm(dk1 + (size_t)b * Tk * d->k1_stride + (size_t)g * d->k1_head, d->k1_stride, transposed(ds), w.q1, Tk, d1, Tq, GEMM_ADD);
                    if (d2 > 0) {
                        gemm(dqh + d1, d->q_stride, ds, w.k2, Tq, d2, Tk, GEMM_SET);
                        gemm(dk2_part, d2, transposed(ds), w.q2, Tk, d2, Tq, h > g * group ? GEMM_ADD : GEMM_SET);
                    }
                    gemm(dv + (size_t)b * Tk * d->v_stride + (size_t)g * d->v_head, d->v_stride, transposed(p), dy, Tk, d->dv, Tq, GEMM_ADD);
                }
            }
        }
        free(dS);
    }
    if (d2 > 0) attention_add_shared_key_grads(dk2, scratch, B, Tk, d);
}

// what attention_forward keeps for the backward: the probabilities (B, H, Tq, Tk)
static size_t attention_state_size(int B, int H, int Tq, int Tk) { return (size_t)B * H * Tq * Tk; }

// attention_backward's scratch for Tq queries over Tk keys: (B, Hkv, Tk, 1 + d2), each (b, kv head) pair's
// row terms and RoPE-key gradient (Tq is the GPU's concern: its scratch holds a term per query row)
static size_t attention_scratch_size(int B, int Tq, int Tk, const AttentionDims* d) {
    (void)Tq;
    return (size_t)B * d->Hkv * Tk * (1 + d->d2);
}

// MLA/GLA decoding: each head's query absorbed into its group's key up-projection,
// qa_h = [W_uk,h^T q_nope,h (dc) | q_rope,h (dR)]. qa (H, dc+dR), q (H, dh+dR), ukvw (2*H*dh, dc) as the layer's.
static void absorb_queries(real* qa, const real* q, const real* ukvw, int H, int Hg, int dh, int dR, int dc) {
    for (int h = 0; h < H; h++) {
        const real* qh = q + (size_t)h * (dh + dR);
        const real* w_uk = ukvw + ((size_t)(h / Hg) * Hg * 2 * dh + (size_t)(h % Hg) * dh) * dc; // (dh, dc)
        real* out = qa + (size_t)h * (dc + dR);
        for (int j = 0; j < dc; j++) out[j] = 0;
        for (int i = 0; i < dh; i++) {
            for (int j = 0; j < dc; j++) out[j] += qh[i] * w_uk[(size_t)i * dc + j];
        }
        memcpy(out + dc, qh + dh, dR * sizeof(real));
    }
}

#define GELU_SCALING_FACTOR 0.7978845608028654f // sqrt(2 / pi)

// The reference GELU: out (N,) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), GPT-2's tanh
// approximation, with libm's tanh.
static void gelu_forward_reference(real* out, const real* inp, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        real x = inp[i];
        out[i] = 0.5f * x * (1 + tanh(GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x)));
    }
}

// dinp (N,) = dout * gelu'(inp); dinp may be dout itself
static void gelu_backward_reference(real* dinp, const real* inp, const real* dout, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        real x = inp[i];
        real u = GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x);
        real th = tanh(u);
        real sech2 = 1 - th * th;
        real local_grad = 0.5f * (1 + th) + 0.5f * x * sech2 * GELU_SCALING_FACTOR * (1 + 3 * 0.044715f * x * x);
        dinp[i] = local_grad * dout[i];
    }
}

// The same function vectorised: 0.5 (1 + tanh u) = sigmoid(2u), so gelu = x s with s = sigmoid(2u), and
// gelu' = s + 2 x u' s (1 - s). Both come from e = exp_vec(-2|u|) <= 1, which neither overflows nor
// cancels: with r = 1 / (1 + e), s = r (u >= 0) or e r (u < 0), and s (1 - s) = e r^2.
static inline real gelu_sigmoid(real x, real* s_one_minus_s) {
    real u = GELU_SCALING_FACTOR * (x + 0.044715f * x * x * x);
    real e = exp_vec(-2 * fabs(u)), r = 1 / (1 + e);
    *s_one_minus_s = e * r * r;
    return u >= 0 ? r : e * r;
}

static void gelu_forward(real* out, const real* inp, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        real unused;
        out[i] = inp[i] * gelu_sigmoid(inp[i], &unused);
    }
}

// dinp (N,) = dout * gelu'(inp); dinp may be dout itself
static void gelu_backward(real* dinp, const real* inp, const real* dout, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) {
        real x = inp[i], s_one_minus_s, s = gelu_sigmoid(x, &s_one_minus_s);
        real du = GELU_SCALING_FACTOR * (1 + 3 * 0.044715f * x * x);
        dinp[i] = (s + 2 * x * du * s_one_minus_s) * dout[i];
    }
}

// out (N,) = a + b; out may alias a or b. Its backward passes the gradient to both inputs unchanged,
// which the model's backward does by sharing the residual stream's gradient buffer.
static void residual_forward(real* out, const real* a, const real* b, size_t N) {
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < N; i++) out[i] = a[i] + b[i];
}

// The reference cross-entropy: losses (N,) = -log softmax(logits[:V])[target]. logits (N,Vp); the padded
// columns are ignored.
static void crossentropy_forward_reference(real* losses, const real* logits, const int* targets, int N, int V, int Vp) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* l = logits + (size_t)n * Vp;
        real maxval = -INFINITY;
        for (int i = 0; i < V; i++) maxval = l[i] > maxval ? l[i] : maxval;
        real sum = 0;
        for (int i = 0; i < V; i++) sum += exp(l[i] - maxval);
        losses[n] = log(sum) + maxval - l[targets[n]];
    }
}

// dlogits (N,Vp) = (softmax(logits) - onehot(target)) * dloss, zero in the padded columns; dloss is the
// gradient of each position's loss (1/N for the mean). dlogits may be logits itself (in place).
static void crossentropy_backward_reference(real* dlogits, const real* logits, const int* targets, real dloss, int N,
                                            int V, int Vp) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* l = logits + (size_t)n * Vp;
        real* dl = dlogits + (size_t)n * Vp;
        real maxval = -INFINITY;
        for (int i = 0; i < V; i++) maxval = l[i] > maxval ? l[i] : maxval;
        real sum = 0;
        for (int i = 0; i < V; i++) sum += exp(l[i] - maxval);
        for (int i = 0; i < V; i++) dl[i] = (exp(l[i] - maxval) / sum - (i == targets[n])) * dloss;
        for (int i = V; i < Vp; i++) dl[i] = 0;
    }
}

// The fused softmax + cross-entropy: the forward keeps each row's log-sum-exp lse (N,), so that the
// backward writes the gradient exp(logit - lse) - onehot in a single pass and no softmax is stored. A
// row (200 KB at V = 50257) stays in L2 between the forward's max and sum passes, so the vocabulary-sized
// logits come from memory once in each direction.
// losses (N,) = lse - logits[target]; logits (N,Vp), the padded columns ignored.
static void crossentropy_forward(real* losses, real* lse, const real* logits, const int* targets, int N, int V, int Vp) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* l = logits + (size_t)n * Vp;
        real maxval = -INFINITY;
        #pragma omp simd reduction(max : maxval) // a max in any order is exact: this lets it vectorise
        for (int i = 0; i < V; i++) maxval = l[i] > maxval ? l[i] : maxval;
        real sum = 0;
        for (int i = 0; i < V; i++) sum += exp_vec(l[i] - maxval);
        lse[n] = maxval + log(sum);
        losses[n] = lse[n] - l[targets[n]];
    }
}

// dlogits (N,Vp) = (exp(logits - lse) - onehot(target)) * dloss, zero in the padded columns; dlogits may
// be logits itself (in place).
static void crossentropy_backward(real* dlogits, const real* lse, const real* logits, const int* targets, real dloss,
                                  int N, int V, int Vp) {
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const real* l = logits + (size_t)n * Vp;
        real* dl = dlogits + (size_t)n * Vp;
        for (int i = 0; i < V; i++) dl[i] = exp_vec(l[i] - lse[n]) * dloss;
        for (int i = V; i < Vp; i++) dl[i] = 0;
        dl[targets[n]] -= dloss;
    }
}

// ----------------------------------------------------------------------------
// Memory Mosaics (docs/design.md §2.2): the feature extractors of the contextual and persistent memories,
// and the persistent memory itself. The contextual memory's attention is the causal core above, run with
// its keys as queries one position back (strictly earlier keys only).

// S (B,T,H*dh) = per head the leaky average of x over time, S_t = e^{-beta} S_{t-1} + x_t, beta = 10|b_h|.
// x (B,T,x_stride): its first H*dh of each row; b (H,) the rates as stored. S0: each sequence's S_{-1} (rows
// s0_stride apart: --carry's state from the lane's past), or NULL for zeros.
static void leaky_average_forward(real* S, const real* x, const real* S0, const real* b, int B, int T, int H, int dh, int x_stride,
                                  int s0_stride) {
    int C = H * dh;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int bt = 0; bt < B; bt++) {
        for (int h = 0; h < H; h++) {
            real decay = exp(-10 * fabs(b[h]));
            const real* s0 = S0 ? S0 + (size_t)bt * s0_stride + h * dh : NULL;
            for (int t = 0; t < T; t++) {
                const real* xt = x + ((size_t)bt * T + t) * x_stride + h * dh;
                real* st = S + ((size_t)bt * T + t) * C + h * dh;
                const real* prev = t > 0 ? st - C : s0;
                for (int i = 0; i < dh; i++) st[i] = (prev ? decay * prev[i] : 0) + xt[i];
            }
        }
    }
}

// dx (rows x_stride apart) written, db (H,) accumulates. Backwards through the recurrence: the total gradient
// of S_t is G_t = dS_t + a G_{t+1} (a = e^{-beta}); dx_t = G_t and dL/da = sum_t G_t . S_{t-1} (S_{-1} = S0,
// held constant), with da/db = -10 a sign(b). A thread takes one head over the whole batch: the sum's order is fixed.
static void leaky_average_backward(real* dx, real* db, const real* dS, const real* S, const real* S0, const real* b, int B, int T, int H,
                                   int dh, int x_stride, int s0_stride) {
    int C = H * dh;
    #pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++) {
        real decay = exp(-10 * fabs(b[h])), da = 0;
        for (int bt = 0; bt < B; bt++) {
            for (int t = T - 1; t >= 0; t--) {
                const real* ds = dS + ((size_t)bt * T + t) * C + h * dh;
                real* g = dx + ((size_t)bt * T + t) * x_stride + h * dh; // G_t, held in dx
                for (int i = 0; i < dh; i++) g[i] = ds[i] + (t + 1 < T ? decay * g[i + x_stride] : 0);
                const real* sprev = t > 0 ? S + ((size_t)bt * T + t - 1) * C + h * dh : S0 ? S0 + (size_t)bt * s0_stride + h * dh : NULL;
                if (sprev) {
                    for (int i = 0; i < dh; i++) da += g[i] * sprev[i];
                }
            }
        }
        db[h] += da * -10 * decay * (b[h] > 0 ? 1 : b[h] < 0 ? -1 : 0);
    }
}

// out (N, H*dh) = x / (||x_h|| + 1e-10) * exp(min(mult s_h, cap)) for each row's head h, keeping ||x_h|| in
// norm (N, H). x rows x_stride apart. Keys take mult = 10p (p = 1 contextual, 2 persistent) and cap 5;
// values mult 10 and no cap (INFINITY).
static void head_scale_forward(real* out, real* norm, const real* x, const real* s, int N, int H, int dh, int x_stride, real mult,
                               real cap) {
    #pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int h = 0; h < H; h++) {
            const real* xh = x + (size_t)n * x_stride + h * dh;
            real r = 0;
            for (int i = 0; i < dh; i++) r += xh[i] * xh[i];
            r = sqrt(r);
            real z = mult * s[h], g = exp(z < cap ? z : cap) / (r + (real)1e-10);
            real* o = out + ((size_t)n * H + h) * dh;
            for (int i = 0; i < dh; i++) o[i] = xh[i] * g;
            if (norm) norm[(size_t)n * H + h] = r;
        }
    }
}

// dx (rows x_stride apart) written, ds (H,) accumulates. With y = e x / (r + eps), r = ||x||:
// dx = e/(r + eps) (dy - x (x . dy) / (r (r + eps))), and ds_h = mult sum dy . y where mult s_h < cap.
static void head_scale_backward(real* dx, real* ds, const real* dout, const real* out, const real* norm, const real* x, const real* s,
                                int N, int H, int dh, int x_stride, real mult, real cap) {
    #pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; n++) {
        for (int h = 0; h < H; h++) {
            const real *xh = x + (size_t)n * x_stride + h * dh, *dy = dout + ((size_t)n * H + h) * dh;
            real r = norm[(size_t)n * H + h], z = mult * s[h], e = exp(z < cap ? z : cap), xdy = 0;
            for (int i = 0; i < dh; i++) xdy += xh[i] * dy[i];
            real k = r > 0 ? xdy / (r * (r + (real)1e-10)) : 0;
            real* d = dx + (size_t)n * x_stride + h * dh;
            for (int i = 0; i < dh; i++) d[i] = e / (r + (real)1e-10) * (dy[i] - xh[i] * k);
        }
    }
    for (int h = 0; h < H; h++) { // rows in order: the sum does not depend on the threads
        if (!(mult * s[h] < cap)) continue;
        real sum = 0;
        for (int n = 0; n < N; n++) {
            const real *y = out + ((size_t)n * H + h) * dh, *dy = dout + ((size_t)n * H + h) * dh;
            for (int i = 0; i < dh; i++) sum += dy[i] * y[i];
        }
        ds[h] += mult * sum;
    }
}

// vp (B,T,H*dh) = (1 - c_h) vt_{t+1} + c_h vt_t per head, with vt_T = 0 past the end: each value looks one
// token ahead. vt rows vt_stride apart; c (H,).
static void value_shift_forward(real* vp, const real* vt, const real* c, int B, int T, int H, int dh, int vt_stride) {
    int C = H * dh;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const real* v = vt + ((size_t)b * T + t) * vt_stride;
            real* o = vp + ((size_t)b * T + t) * C;
            for (int h = 0; h < H; h++) {
                for (int i = h * dh; i < (h + 1) * dh; i++) o[i] = (1 - c[h]) * (t + 1 < T ? v[i + vt_stride] : 0) + c[h] * v[i];
            }
        }
    }
}

// dvt (rows vt_stride apart) written: dvt_t = c dvp_t + (1 - c) dvp_{t-1}; dc (H,) accumulates
// sum_t dvp_t . (vt_t - vt_{t+1}), a head's rows summed in order.
static void value_shift_backward(real* dvt, real* dc, const real* dvp, const real* vt, const real* c, int B, int T, int H, int dh,
                                 int vt_stride) {
    int C = H * dh;
    #pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const real* d = dvp + ((size_t)b * T + t) * C;
            real* o = dvt + ((size_t)b * T + t) * vt_stride;
            for (int h = 0; h < H; h++) {
                for (int i = h * dh; i < (h + 1) * dh; i++) o[i] = c[h] * d[i] + (t > 0 ? (1 - c[h]) * d[i - C] : 0);
            }
        }
    }
    #pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++) {
        real sum = 0;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                const real *d = dvp + ((size_t)b * T + t) * C + h * dh, *v = vt + ((size_t)b * T + t) * vt_stride + h * dh;
                for (int i = 0; i < dh; i++) sum += d[i] * (v[i] - (t + 1 < T ? v[i + vt_stride] : 0));
            }
        }
        dc[h] += sum;
    }
}

// The persistent memory: for each row n and head h, with M memories of P (key, value) rows per head,
//     y_h = exp(10 o_h) / M * sum_m softmax(k_h P_k[m,h]^T) P_v[m,h]
// every row reading every memory row (no mask). k (N, H*dh); pk, pv (M*H*P, dh): memory m, head h at rows
// (m*H + h)*P; o (H,). lse (N, M, H) keeps each softmax's log-sum-exp for the backward. The products go
// through the GEMM; scratch: pmem_scratch_size(N, P, H*dh).
static size_t pmem_scratch_size(int N, int P, int C) { return 2 * (size_t)N * P + (size_t)N * C; }

// S (N, P) = the probabilities of every row's head h against one memory's P key rows mk (P, dh). lse (N,):
// each row's log-sum-exp, `stride` apart, computed into it by the forward (known = 0) and read by the backward.
static void pmem_probabilities(real* S, real* lse, size_t stride, int known, const real* k, const real* mk, int N, int H, int dh, int P) {
    MatrixView kh = {k, (size_t)H * dh, 1}, keys = {mk, (size_t)dh, 1};
    gemm(S, P, kh, transposed(keys), N, P, dh, GEMM_SET);
    #pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        real* row = S + (size_t)n * P;
        real* l = lse + n * stride;
        if (known) {
            for (int p = 0; p < P; p++) row[p] = exp_vec(row[p] - *l);
            continue;
        }
        real maxval = -INFINITY, sum = 0;
        for (int p = 0; p < P; p++) maxval = row[p] > maxval ? row[p] : maxval;
        for (int p = 0; p < P; p++) {
            row[p] = exp_vec(row[p] - maxval);
            sum += row[p];
        }
        *l = maxval + log(sum);
        for (int p = 0; p < P; p++) row[p] /= sum;
    }
}

static void pmem_forward(real* y, real* lse, const real* k, const real* pk, const real* pv, const real* o, int N, int H, int dh, int P,
                         int M, real* scratch) {
    int C = H * dh;
    for (int h = 0; h < H; h++) {
        for (int m = 0; m < M; m++) {
            size_t at = ((size_t)m * H + h) * P * dh;
            pmem_probabilities(scratch, lse + (size_t)m * H + h, (size_t)M * H, 0, k + h * dh, pk + at, N, H, dh, P);
            MatrixView probs = {scratch, (size_t)P, 1}, values = {pv + at, (size_t)dh, 1};
            gemm(y + h * dh, C, probs, values, N, dh, P, m == 0 ? GEMM_SET : GEMM_ADD);
        }
        real scale = exp(10 * o[h]) / M;
        #pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < dh; i++) y[(size_t)n * C + h * dh + i] *= scale;
        }
    }
}

// dk (N, H*dh) written; dpk, dpv, d_o accumulate. With z_m = p_m P_v[m] and g = dy exp(10 o) / M:
// dP_v[m] += p_m^T g, ds = p_m (g P_v[m]^T - g . z_m), dk += ds P_k[m], dP_k[m] += ds^T k, do = 10 dy . y.
static void pmem_backward(real* dk, real* dpk, real* dpv, real* d_o, const real* dy, const real* y, real* lse, const real* k,
                          const real* pk, const real* pv, const real* o, int N, int H, int dh, int P, int M, real* scratch) {
    int C = H * dh;
    real *S = scratch, *dS = scratch + (size_t)N * P, *g = dS + (size_t)N * P; // g (N, C)
    for (int h = 0; h < H; h++) {
        real scale = exp(10 * o[h]) / M, sum = 0;
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < dh; i++) {
                g[(size_t)n * C + h * dh + i] = dy[(size_t)n * C + h * dh + i] * scale;
                sum += dy[(size_t)n * C + h * dh + i] * y[(size_t)n * C + h * dh + i];
            }
        }
        d_o[h] += 10 * sum;
        MatrixView kh = {k + h * dh, (size_t)C, 1}, gh = {g + h * dh, (size_t)C, 1}, probs = {S, (size_t)P, 1}, ds = {dS, (size_t)P, 1};
        for (int m = 0; m < M; m++) {
            size_t at = ((size_t)m * H + h) * P * dh;
            MatrixView keys = {pk + at, (size_t)dh, 1}, values = {pv + at, (size_t)dh, 1};
            pmem_probabilities(S, lse + (size_t)m * H + h, (size_t)M * H, 1, k + h * dh, pk + at, N, H, dh, P);
            gemm(dpv + at, dh, transposed(probs), gh, P, dh, N, GEMM_ADD);
            gemm(dS, P, gh, transposed(values), N, P, dh, GEMM_SET); // dP
            #pragma omp parallel for schedule(static)
            for (int n = 0; n < N; n++) {
                real *p = S + (size_t)n * P, *d = dS + (size_t)n * P, dot = 0;
                for (int q = 0; q < P; q++) dot += p[q] * d[q];
                for (int q = 0; q < P; q++) d[q] = p[q] * (d[q] - dot);
            }
            gemm(dk + h * dh, C, ds, keys, N, dh, P, m == 0 ? GEMM_SET : GEMM_ADD);
            gemm(dpk + at, dh, transposed(ds), kh, P, dh, N, GEMM_ADD);
        }
    }
}

// ----------------------------------------------------------------------------
// the optimizers' update rules: AdamW, and Muon for the hidden matrices (llmc/model.h's step applies them
// unit by unit)

// One AdamW step at step t (1-based) on n elements. grad_scale multiplies the gradients (clipping);
// weight_decay is decoupled and the caller passes 0 for tensors that are not 2-D matrices.
static void adamw_update(real* params, const real* grads, real* m, real* v, size_t n, const AdamWConfig* cfg,
                         float weight_decay, float grad_scale, int t) {
    real beta1_correction = 1 - pow((real)cfg->beta1, (real)t);
    real beta2_correction = 1 - pow((real)cfg->beta2, (real)t);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        real g = grads[i] * grad_scale;
        m[i] = cfg->beta1 * m[i] + (1 - cfg->beta1) * g;
        v[i] = cfg->beta2 * v[i] + (1 - cfg->beta2) * g * g;
        real m_hat = m[i] / beta1_correction;
        real v_hat = v[i] / beta2_correction;
        params[i] -= cfg->lr * (m_hat / (sqrt(v_hat) + cfg->eps) + weight_decay * params[i]);
    }
}

// Sum of squares in double over fixed chunks, so that the result does not depend on the thread count.
#define NORM_CHUNKS 64
static double sum_squares(const real* x, size_t n) {
    double partial[NORM_CHUNKS];
    size_t chunk = (n + NORM_CHUNKS - 1) / NORM_CHUNKS;
    #pragma omp parallel for schedule(static)
    for (int k = 0; k < NORM_CHUNKS; k++) {
        double s = 0;
        size_t end = (k + 1) * chunk < n ? (k + 1) * chunk : n;
        for (size_t i = k * chunk; i < end; i++) s += (double)x[i] * x[i];
        partial[k] = s;
    }
    double total = 0;
    for (int k = 0; k < NORM_CHUNKS; k++) total += partial[k];
    return total;
}

// A (n, n) above the diagonal = A below it: completes a symmetric product that GEMM_LOWER computed
static void mirror_lower(real* A, int n) {
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) A[(size_t)i * n + j] = A[(size_t)j * n + i];
    }
}

// Newton-Schulz orthogonalisation of X (rows, cols) in place; X arrives with singular values <= 1. With
// A = X X^T (r x r, r = rows <= cols), each step X <- a X + (b A + c A A) X maps every singular value s to
// a s + b s^3 + c s^5, pushing them towards 1 without an SVD. A tall X takes the same step on X^T without
// transposing it: A = X^T X and X <- a X + X (b A + c A A). Every product is the GEMM on views of X;
// A and A A are symmetric (each pair of mirrored elements is the same sum of the same products), so only
// their lower triangles are computed.
// scratch: 2 r^2 + rows*cols.
static void newton_schulz(real* X, int rows, int cols, int steps, int polar_express, real* scratch) {
    int tall = rows > cols, r = tall ? cols : rows, c = tall ? rows : cols;
    size_t n = (size_t)rows * cols;
    real* A = scratch;             // (r, r)
    real* AA = A + (size_t)r * r;  // (r, r)
    real* BX = AA + (size_t)r * r; // (rows, cols): B X, or X B when tall
    MatrixView x = {X, (size_t)cols, 1}, xt = transposed(x), a = {A, (size_t)r, 1};
    for (int k = 0; k < steps; k++) {
        const float* abc = polar_express ? POLAR_EXPRESS[k] : NS_QUINTIC;
        gemm(A, r, tall ? xt : x, tall ? x : xt, r, r, c, GEMM_LOWER);
        mirror_lower(A, r);
        gemm(AA, r, a, a, r, r, r, GEMM_LOWER);
        mirror_lower(AA, r);
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)r * r; i++) A[i] = abc[1] * A[i] + abc[2] * AA[i]; // B = b A + c A A
        gemm(BX, cols, tall ? x : a, tall ? a : x, rows, cols, r, GEMM_SET);
        #pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) X[i] = abc[0] * X[i] + BX[i];
    }
}

// The threads muon_update gives a batch of matrices, one matrix each: all of them when the batch has at least
// as many matrices (each matrix's Newton-Schulz then runs on one thread, its products through the GEMM's
// nested path, instead of every thread meeting at the barriers of every small product), else one, which runs
// the matrices in turn with all threads in each product. The arithmetic is the same either way. (The
// scratch is sized with the thread count of the time: the trainer sets it once, before sizing.)
static int muon_matrix_threads(int batch) {
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    return batch >= threads ? threads : 1;
}

// scratch elements muon_update needs for `batch` (rows, cols) matrices: one matrix's for each of its threads
static size_t muon_scratch_size(int batch, int rows, int cols) {
    size_t r = rows < cols ? rows : cols, n = (size_t)rows * cols;
    return (size_t)muon_matrix_threads(batch) * (2 * n + 2 * r * r);
}

// Muon on one matrix (rows, cols) with momentum mu (docs/design.md §3):
//   M <- mu M + (1 - mu) G;  U <- (1 - mu) G + mu M (Nesterov);  X <- NS(U / ||U||_F)
//   W <- W (1 - lr wd) - lr s X,  s = sqrt(max(1, rows/cols)) or Moonlight's 0.2 sqrt(max(rows, cols))
static void muon_update_matrix(real* param, const real* grad, real* momentum, int rows, int cols, const MuonConfig* cfg,
                               float lr, float mu, float grad_scale, real* scratch) {
    size_t n = (size_t)rows * cols;
    real* X = scratch; // (rows, cols)
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        real g = grad[i] * grad_scale;
        momentum[i] = mu * momentum[i] + (1 - mu) * g;
        X[i] = (1 - mu) * g + mu * momentum[i];
    }
    real norm = (real)sqrt(sum_squares(X, n)) * (cfg->polar_express ? 1.02f : 1.0f) + 1e-7f;
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) X[i] /= norm;
    newton_schulz(X, rows, cols, cfg->ns_steps, cfg->polar_express, X + n);
    real scale = cfg->moonlight_scale ? 0.2f * sqrt((real)(rows > cols ? rows : cols))
                                      : sqrt(rows > cols ? (real)rows / cols : (real)1);
    #pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) param[i] = param[i] * (1 - lr * cfg->weight_decay) - lr * scale * X[i];
}

// Muon on `batch` matrices (rows, cols) stride apart in params and grads (a row block in every layer),
// their momenta packed one after another: a matrix per thread (muon_matrix_threads), each with its scratch
static void muon_update(real* params, const real* grads, real* momentum, int batch, int rows, int cols, size_t stride,
                        const MuonConfig* cfg, float lr, float mu, float grad_scale, real* scratch) {
    int threads = muon_matrix_threads(batch);
    size_t per_thread = muon_scratch_size(1, rows, cols);
    #pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
    for (int l = 0; l < batch; l++) {
        int t = 0;
#ifdef _OPENMP
        if (threads > 1) t = omp_get_thread_num();
#endif
        muon_update_matrix(params + l * stride, grads + l * stride, momentum + (size_t)l * rows * cols, rows, cols, cfg, lr, mu,
                           grad_scale, scratch + t * per_thread);
    }
}

// ----------------------------------------------------------------------------
// the trainer's memory and processes, as llmc/model.h uses them: host memory; several processes under MPI

#define DEVICE_NAME "this machine"
#define TRAINER_PRECISION "fp32"

static double device_memory_bytes(void) { return physical_memory_bytes(); }
// Zeroes x (n,). One core cannot write at the memory's speed: a large block (the gradients before each step,
// 0.5 GB for GPT-2 124M) is split among the threads in 1 MiB pieces, 1.9x faster on 2 cores (50 to 27 ms).
static void tensor_zero(real* x, size_t n) {
    const size_t piece = ((size_t)1 << 20) / sizeof(real);
    #pragma omp parallel for schedule(static) if (n >= 4 * piece)
    for (size_t at = 0; at < n; at += piece) memset(x + at, 0, (n - at < piece ? n - at : piece) * sizeof(real));
}
// Zeroed. Blocks of megabytes (parameters, gradients, activations, the KV cache) go on 2 MB pages where the
// kernel offers them (transparent huge pages in madvise mode): streaming through them then takes one TLB
// entry per 2 MB instead of per 4 KB, and the hardware prefetchers, which stop at page edges, run on.
static real* tensor_alloc(size_t n) {
    size_t bytes = (n > 0 ? n : 1) * sizeof(real), huge = (size_t)2 << 20;
    if (bytes < huge) return (real*)callocCheck(n > 0 ? n : 1, sizeof(real));
    bytes = (bytes + huge - 1) / huge * huge;
    real* p = (real*)aligned_alloc(huge, bytes);
    if (p == NULL) die_hint("use a smaller batch (-b) or model", "could not allocate %.1f MiB", bytes / 1048576.0);
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); // advice: without it the block is still there, on small pages
#endif
    tensor_zero(p, bytes / sizeof(real)); // and the pages are faulted in by every thread
    return p;
}
static void tensor_free(real* x) { free(x); }
static void tensor_copy(real* dst, const real* src, size_t n) { memmove(dst, src, n * sizeof(real)); }
// rows of `width` elements, dst_stride and src_stride apart
static void tensor_copy_rows(real* dst, size_t dst_stride, const real* src, size_t src_stride, size_t rows, size_t width) {
    for (size_t r = 0; r < rows; r++) memmove(dst + r * dst_stride, src + r * src_stride, width * sizeof(real));
}
// the host's memory is the trainer's: uploads and downloads are copies
static void tensor_upload(real* dst, const real* host, size_t n) { memcpy(dst, host, n * sizeof(real)); }
static void tensor_download(real* host, const real* src, size_t n) { memcpy(host, src, n * sizeof(real)); }

static double tensor_sum(const real* x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

// the layers read the host's token ids where they are
static int* tokens_alloc(size_t n) {
    (void)n;
    return NULL;
}
static void tokens_free(int* buffer) { (void)buffer; }
static const int* tokens_upload(int* buffer, const int* host, size_t n) {
    (void)buffer, (void)n;
    return host;
}

typedef struct {
    Dist dist;
} Comm;

static void comm_broadcast(Comm* comm, real* x, size_t n, int root) { dist_broadcast(&comm->dist, x, n * sizeof(real), root); }
// the gradient average: each piece at once (MPI_Allreduce); nothing runs beside it to overlap with
static void comm_grads_begin(Comm* comm) { (void)comm; }
static void comm_grads_mean(Comm* comm, real* x, size_t n) { dist_mean(&comm->dist, x, n, sizeof(real)); }
static void comm_grads_end(Comm* comm) { (void)comm; }
static void comm_grads_wait(Comm* comm) { (void)comm; }
static float comm_mean_scalar(Comm* comm, float x) { return (float)dist_mean_double(&comm->dist, x); }

#include "llmc/model.h"

// ----------------------------------------------------------------------------
// the trainer's hooks into main (llmc/train.h)

static Comm trainer_init(const TrainArgs* a, Dist dist) {
    if (a->num_processes > 1) {
        die_hint("build with make USE_MPI=1 and launch with mpirun -np N", "the CPU trainer runs several processes under MPI only");
    }
    if (strcmp(a->precision, "fp32") != 0) die_hint("drop --precision (or use train_gptcu)", "the CPU trainer computes in fp32");
    Comm comm = {dist};
    return comm;
}

static void trainer_ready(const GPT* model, const TrainArgs* a, int B, int T) { (void)model, (void)a, (void)B, (void)T; }

static double trainer_peak_gflops(const TrainArgs* a) { return a->peak_gflops; }

static void trainer_describe(char* out, size_t n, const Comm* comm, const TrainArgs* a, double peak) {
    (void)peak;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    snprintf(out, n, "%d process(es) x %d CPU thread(s)%s", comm->dist.size, threads, a->zero_stage ? ", ZeRO-1" : "");
}

static void trainer_sync(void) {}
static void trainer_finish(Comm* comm) { (void)comm; }

#include "llmc/train.h"
