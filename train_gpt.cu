/*
GPT training on one GPU: the CUDA mirror of train_gpt.c, with its skeleton and names. Same model (every
attention variant), same optimizers, same flags, same checkpoint files: a run can start on one trainer
and continue on the other.

Precision: parameters, gradients, optimizer state and activations are fp32 on the device (the fp32
master weights); in the default bf16 mode every matmul reads its inputs as bf16 and accumulates in fp32
(cuBLASLt), Muon's Newton-Schulz included. `--precision fp32` multiplies in true fp32, to compare with the
CPU trainer. Every reduction has a fixed order (no float atomics): gradients are deterministic.

The kernels live in llmc/cuda/ (namespace gpu), the host-side run bookkeeping in llmc/run.h, which the CPU
trainer shares. Shape legend as in train_gpt.c: B batch, T sequence, C channels, H query heads, Hkv
key/value heads, dh head width, F MLP width, V vocabulary, Vp padded vocabulary, L layers, N = B*T.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmc/attention_layout.h"
#include "llmc/distributed.h"
#include "llmc/run.h"
#include "llmc/cuda/attention.cuh"
#include "llmc/cuda/common.cuh"
#include "llmc/cuda/layers.cuh"
#include "llmc/cuda/matmul.cuh"
#include "llmc/cuda/nccl.cuh"
#include "llmc/cuda/optimizer.cuh"

using namespace gpu;

typedef float real; // the element type of llmc/model_tensors.h's tensors
#include "llmc/model_tensors.h"

// ----------------------------------------------------------------------------
// GPT model definition: the parameter tensors on the device are llmc/model_tensors.h's (real = float).

// What one block keeps for N = B*T rows (train_gpt.c's BlockActivations), except that attention keeps
// each row's log-sum-exp instead of its probabilities.
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd;   // (N, C), (N,), (N,)
    float* qkv;                         // (N, Dqkv) MHA/GQA/MQA/GTA
    float *qlat, *qlat_norm, *qlat_rstd; // (N, rq), (N, rq), (N,) MLA/GLA, rq > 0
    float* q;                           // (N, H*(dh+dR)) MLA/GLA
    float* kvlat;                       // (N, n*dc+dR)
    float *kvlat_norm, *kvlat_rstd;     // (n, N, dc), (n, N) training
    float* ukv;                         // (n, N, (H/n)*2*dh) training
    float* lse;                         // (B, H, T) each attention row's log-sum-exp
    float* atty;                        // (N, H*dh)
    float *q_absorbed, *ctx;            // (H, dc+dR), (H, dc) MLA/GLA decoding
    float *residual2, *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_gelu, *residual3;
} BlockActivations;

#define NUM_BLOCK_ACTIVATIONS 23

static void block_activation_sizes(size_t sizes[NUM_BLOCK_ACTIVATIONS], const GPTConfig* c, int B, int T, int decoding) {
    size_t N = (size_t)B * T, C = c->channels, H = c->num_heads, dh = c->head_dim, F = c->mlp_hidden;
    size_t lat = is_latent(c), rq = c->q_rank, n = c->latent_groups, dc = c->latent_dim, dR = c->rope_dim;
    size_t train_lat = lat && !decoding, decode_lat = lat && decoding;
    size_t s[NUM_BLOCK_ACTIVATIONS] = {
        N * C, N, N, N * qkv_width(c), N * rq, N * rq, rq > 0 ? N : 0, lat * N * H * (dh + dR), lat * N * latent_width(c),
        train_lat * N * n * dc, train_lat * n * N, train_lat * N * 2 * H * dh, B * H * T, N * H * dh,
        decode_lat * H * (dc + dR), decode_lat * H * dc, N * C, N * C, N, N, N * F, N * F, N * C};
    memcpy(sizes, s, sizeof(s));
}

static size_t point_block_activations(BlockActivations* acts, int L, const size_t sizes[NUM_BLOCK_ACTIVATIONS], float* memory) {
    size_t used = 0;
    for (int l = 0; l < L; l++) {
        BlockActivations* a = &acts[l];
        float** ptrs[NUM_BLOCK_ACTIVATIONS] = {
            &a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->qlat, &a->qlat_norm, &a->qlat_rstd, &a->q, &a->kvlat,
            &a->kvlat_norm, &a->kvlat_rstd, &a->ukv, &a->lse, &a->atty, &a->q_absorbed, &a->ctx, &a->residual2,
            &a->ln2, &a->ln2_mean, &a->ln2_rstd, &a->fch, &a->fch_gelu, &a->residual3};
        for (int i = 0; i < NUM_BLOCK_ACTIVATIONS; i++) {
            *ptrs[i] = memory && sizes[i] ? memory + used : NULL;
            used += sizes[i];
        }
    }
    return used;
}

// Training activations and the backward's scratch (train_gpt.c's ActivationTensors, plus the GPU's
// reduction scratch).
typedef struct {
    float *encoded, *lnf, *lnf_mean, *lnf_rstd, *logits, *losses, *proj;
    BlockActivations* blocks;
    float *dresidual, *dln, *dln_q, *datty, *dqkv, *dq, *dqlat, *dqlat_norm, *dkvlat, *dkvlat_norm, *dukv, *dfch;
    float* attn_scratch;   // the attention backward's delta and shared-key partials
    float* column_scratch; // bias and norm-weight gradients' partial column sums
    float* norm_scratch;   // NORM_BLOCKS partial sums of squares
    int* encoder_scratch;  // tokens, offsets and positions of the embedding backward
} ActivationTensors;

typedef struct {
    GPTConfig config;
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    size_t num_parameters;
    ParameterTensors params, grads;
    float *params_memory, *grads_memory;
    // optimizer state in units (distributed.h): AdamW's moments, or Muon's momentum in m, each unit packed;
    // with ZeRO-1 this process keeps and updates only the units it owns
    OptimizerPlan plan;      // its units, and which are this process's
    float *m_memory, *v_memory;
    float* muon_scratch;
    float *rope_cos, *rope_sin; // (maxT, dR/2)
    int batch_size, seq_len;
    ActivationTensors acts;
    float* acts_memory;
    int *inputs, *targets;   // (B, T) on the device
    const int* inputs_host;  // the last forward's inputs, for the embedding backward
    float mean_loss;
    float* losses_host;      // (N,)
} GPT;

// Allocates parameters and gradients on the device (one block each), zero-filled.
static void gpt_build(GPT* model, const GPTConfig* config) {
    memset(model, 0, sizeof(*model));
    model->config = *config;
    gpt_param_specs(config, model->specs);
    size_t bytes = (model->num_parameters = gpt_num_parameters(config)) * sizeof(float);
    model->params_memory = (float*)cuda_calloc(bytes);
    model->grads_memory = (float*)cuda_calloc(bytes);
    point_parameters(&model->params, model->specs, model->params_memory);
    point_parameters(&model->grads, model->specs, model->grads_memory);
    if (config->rope_dim > 0) { // frequencies theta^(-2i/dR) over the rotated width, computed as on the CPU
        int half = config->rope_dim / 2;
        size_t n = (size_t)config->max_seq_len * half;
        float *cos_host = (float*)mallocCheck(n * sizeof(float)), *sin_host = (float*)mallocCheck(n * sizeof(float));
        for (int p = 0; p < config->max_seq_len; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * pow((double)config->rope_theta, -2.0 * i / config->rope_dim);
                cos_host[p * half + i] = (float)cos(angle);
                sin_host[p * half + i] = (float)sin(angle);
            }
        }
        model->rope_cos = (float*)cuda_calloc(n * sizeof(float));
        model->rope_sin = (float*)cuda_calloc(n * sizeof(float));
        cudaCheck(cudaMemcpy(model->rope_cos, cos_host, n * sizeof(float), cudaMemcpyHostToDevice));
        cudaCheck(cudaMemcpy(model->rope_sin, sin_host, n * sizeof(float), cudaMemcpyHostToDevice));
        free(cos_host);
        free(sin_host);
    }
}

static void gpt_free(GPT* model) {
    float* device[] = {model->params_memory, model->grads_memory, model->m_memory, model->v_memory, model->muon_scratch,
                       model->rope_cos, model->rope_sin, model->acts_memory};
    for (size_t i = 0; i < sizeof(device) / sizeof(device[0]); i++) {
        if (device[i]) cudaCheck(cudaFree(device[i]));
    }
    if (model->inputs) cudaCheck(cudaFree(model->inputs));
    if (model->targets) cudaCheck(cudaFree(model->targets));
    if (model->acts.encoder_scratch) cudaCheck(cudaFree(model->acts.encoder_scratch));
    free(model->acts.blocks);
    free(model->losses_host);
}

static void upload(float* device, const float* host, size_t n) {
    cudaCheck(cudaMemcpy(device, host, n * sizeof(float), cudaMemcpyHostToDevice));
}

static void download(float* host, const float* device, size_t n) {
    cudaCheck(cudaMemcpy(host, device, n * sizeof(float), cudaMemcpyDeviceToHost));
}

// GPT-2 init on the host (gpt.h), exactly as the CPU trainer draws it for the same seed
static void gpt_init_random(GPT* model, uint64_t seed) {
    float* host = (float*)mallocCheck(model->num_parameters * sizeof(float));
    gpt_init_params(host, sizeof(float), &model->config, seed);
    upload(model->params_memory, host, model->num_parameters);
    free(host);
}

// the largest input any matmul converts to bf16: activations, weights, logits, Newton-Schulz matrices
static size_t largest_matmul_input(const GPTConfig* c, int B, int T) {
    size_t N = (size_t)B * T, most = 0;
    size_t widths[] = {(size_t)c->channels, (size_t)c->mlp_hidden, (size_t)qkv_width(c), (size_t)c->padded_vocab_size,
                       (size_t)c->num_heads * qk_head_dim(c), (size_t)latent_width(c), 2 * (size_t)c->num_heads * c->head_dim,
                       (size_t)c->q_rank};
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

// the attention backward's scratch for (B, T): the fused core, or one latent group's heads at a time
static size_t attention_scratch_floats(const GPTConfig* c, int B, int T) {
    if (is_latent(c)) {
        AttentionDims d = latent_group_dims(c);
        return attention_scratch_size(B, T, &d);
    }
    FusedLayout f = fused_layout(c, qkv_width(c));
    return attention_scratch_size(B, T, &f.dims);
}

// Sizes and allocates the training activations (one device block) for micro-batches of (B, T).
static void gpt_allocate_activations(GPT* model, int B, int T) {
    const GPTConfig* c = &model->config;
    if (T > c->max_seq_len) {
        die_hint("lower -t, or train a model with a larger --max-seq-len", "sequence length -t %d exceeds the model's maximum %d", T,
                 c->max_seq_len);
    }
    size_t N = (size_t)B * T, C = c->channels, L = c->num_layers, H = c->num_heads, dh = c->head_dim, lat = is_latent(c);
    size_t block_sizes[NUM_BLOCK_ACTIVATIONS];
    block_activation_sizes(block_sizes, c, B, T, 0);
    ActivationTensors* a = &model->acts;
    a->blocks = (BlockActivations*)mallocCheck(L * sizeof(BlockActivations));
    size_t blocks = point_block_activations(a->blocks, (int)L, block_sizes, NULL);
    size_t widest = C;
    size_t cols[] = {(size_t)c->mlp_hidden, (size_t)qkv_width(c), (size_t)c->padded_vocab_size, (size_t)latent_width(c),
                     (size_t)c->q_rank, 2 * H * dh, (size_t)(c->latent_groups * c->latent_dim)};
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) widest = cols[i] > widest ? cols[i] : widest;
    float** ptrs[] = {&a->encoded, &a->lnf, &a->lnf_mean, &a->lnf_rstd, &a->logits, &a->losses, &a->proj, &a->dresidual,
                      &a->dln, &a->dln_q, &a->datty, &a->dqkv, &a->dq, &a->dqlat, &a->dqlat_norm, &a->dkvlat,
                      &a->dkvlat_norm, &a->dukv, &a->dfch, &a->attn_scratch, &a->column_scratch, &a->norm_scratch};
    size_t sizes[] = {N * C, N * C, N, N, N * c->padded_vocab_size, N, N * C, N * C,
                      N * C, lat * N * C, N * H * dh, N * qkv_width(c), lat * N * H * qk_head_dim(c), N * c->q_rank,
                      N * c->q_rank, lat * N * latent_width(c), lat * N * c->latent_dim, lat * N * 2 * H * dh, N * c->mlp_hidden,
                      attention_scratch_floats(c, B, T), column_sum_scratch((int)N, (int)widest), NORM_BLOCKS};
    size_t total = blocks;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) total += sizes[i];
    model->acts_memory = (float*)cuda_calloc(total * sizeof(float));
    point_block_activations(a->blocks, (int)L, block_sizes, model->acts_memory);
    float* next = model->acts_memory + blocks;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        *ptrs[i] = sizes[i] ? next : NULL;
        next += sizes[i];
    }
    a->encoder_scratch = (int*)cuda_calloc((3 * N + 1) * sizeof(int));
    model->inputs = (int*)cuda_calloc(N * sizeof(int));
    model->targets = (int*)cuda_calloc(N * sizeof(int));
    model->losses_host = (float*)mallocCheck(N * sizeof(float));
    model->batch_size = B;
    model->seq_len = T;
}

// ----------------------------------------------------------------------------
// attention of each variant: from ln1 (N,C) to atty (N,H*dh), as in train_gpt.c

// RoPE on fused rows (B,T,Dqkv) at positions pos0..: each query head's rotated slice, then the keys'
static void fused_rope(const GPT* model, float* qkv, int B, int T, int pos0, float sign) {
    const GPTConfig* c = &model->config;
    if (c->rope_dim == 0) return;
    FusedLayout f = fused_layout(c, qkv_width(c));
    int H = c->num_heads, dh = c->head_dim, Dqkv = qkv_width(c);
    rope_rotate(qkv + f.q_rope, model->rope_cos, model->rope_sin, B, T, pos0, H, Dqkv, dh, c->rope_dim, sign);
    rope_rotate(qkv + H * dh + f.k_rope, model->rope_cos, model->rope_sin, B, T, pos0, f.k_rope_heads, Dqkv, dh, c->rope_dim, sign);
}

// MHA, GQA, MQA, GTA. With a cache (maxT, kv part) this decodes the row at pos0: its kv part is appended
// and attention reads the cache.
static void fused_attention_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int T, int pos0,
                                    float* cache) {
    const GPTConfig* c = &model->config;
    int H = c->num_heads, dh = c->head_dim, Dqkv = qkv_width(c);
    matmul_forward(acts->qkv, acts->ln1, p->qkvw, p->qkvb, B * T, c->channels, Dqkv);
    fused_rope(model, acts->qkv, B, T, pos0, 1.0f);
    const float* kv = acts->qkv + H * dh;
    int kv_stride = Dqkv, Tk = T;
    if (cache) {
        int E = (int)gpt_kv_elements_per_token_layer(c);
        cudaCheck(cudaMemcpy(cache + (size_t)pos0 * E, kv, E * sizeof(float), cudaMemcpyDeviceToDevice));
        kv = cache;
        kv_stride = E;
        Tk = pos0 + 1;
    }
    FusedLayout f = fused_layout(c, kv_stride);
    attention_forward(acts->atty, acts->lse, acts->qkv, kv + f.k1, f.k2 >= 0 ? kv + f.k2 : NULL, kv + f.v, B, T, Tk, &f.dims);
}

static void fused_attention_backward(GPT* model, const ParameterTensors* p, const ParameterTensors* g, const BlockActivations* acts,
                                     int B, int T) {
    const GPTConfig* c = &model->config;
    ActivationTensors* s = &model->acts;
    int N = B * T, H = c->num_heads, dh = c->head_dim, Dqkv = qkv_width(c);
    FusedLayout f = fused_layout(c, Dqkv);
    const float* kv = acts->qkv + H * dh;
    float* dkv = s->dqkv + H * dh;
    // atty = attention(rope(qkv)): the core accumulates into the kv part
    cudaCheck(cudaMemset(s->dqkv, 0, (size_t)N * Dqkv * sizeof(float)));
    attention_backward(s->dqkv, dkv + f.k1, f.k2 >= 0 ? dkv + f.k2 : NULL, dkv + f.v, s->attn_scratch, s->datty, acts->atty, acts->lse,
                       acts->qkv, kv + f.k1, f.k2 >= 0 ? kv + f.k2 : NULL, kv + f.v, B, T, &f.dims);
    fused_rope(model, s->dqkv, B, T, 0, -1.0f);
    // qkv = ln1 @ qkvw^T + qkvb
    matmul_backward(s->dln, g->qkvw, g->qkvb, s->dqkv, acts->ln1, p->qkvw, N, c->channels, Dqkv, s->column_scratch);
}

// MLA, GLA: ln1 -> q (N, H*(dh+dR)), rotated at positions pos0..
static void latent_queries_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int T, int pos0) {
    const GPTConfig* c = &model->config;
    int N = B * T, C = c->channels, rq = c->q_rank, dh = c->head_dim, dR = c->rope_dim, Dq = c->num_heads * (dh + dR);
    if (rq > 0) {
        matmul_forward(acts->qlat, acts->ln1, p->dqw, p->dqb, N, C, rq);
        rmsnorm_forward(acts->qlat_norm, acts->qlat_rstd, acts->qlat, p->qnormw, N, rq, rq);
        matmul_forward(acts->q, acts->qlat_norm, p->uqw, p->uqb, N, rq, Dq);
    } else {
        matmul_forward(acts->q, acts->ln1, p->qw, p->qb, N, C, Dq);
    }
    rope_forward(acts->q + dh, model->rope_cos, model->rope_sin, B, T, pos0, c->num_heads, Dq, dh + dR, dR);
}

static void latent_attention_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int T) {
    const GPTConfig* c = &model->config;
    int N = B * T, n = c->latent_groups, dc = c->latent_dim, Hg = c->num_heads / n, dh = c->head_dim, dR = c->rope_dim;
    int Dlat = latent_width(c);
    latent_queries_forward(model, p, acts, B, T, 0);
    matmul_forward(acts->kvlat, acts->ln1, p->dkvw, p->dkvb, N, c->channels, Dlat);
    rope_forward(acts->kvlat + n * dc, model->rope_cos, model->rope_sin, B, T, 0, 1, Dlat, dR, dR);
    AttentionDims d = latent_group_dims(c);
    for (int g = 0; g < n; g++) {
        float* cg = acts->kvlat_norm + (size_t)g * N * dc;
        float* ukv = acts->ukv + (size_t)g * N * Hg * 2 * dh;
        rmsnorm_forward(cg, acts->kvlat_rstd + (size_t)g * N, acts->kvlat + g * dc, p->kvnormw + g * dc, N, dc, Dlat);
        matmul_forward(ukv, cg, p->ukvw + (size_t)g * Hg * 2 * dh * dc, p->ukvb ? p->ukvb + g * Hg * 2 * dh : NULL, N, dc, Hg * 2 * dh);
        attention_forward(acts->atty + g * Hg * dh, acts->lse + (size_t)g * B * Hg * T, acts->q + g * Hg * (dh + dR), ukv,
                          acts->kvlat + n * dc, ukv + Hg * dh, B, T, T, &d);
    }
}

static void latent_attention_backward(GPT* model, const ParameterTensors* p, const ParameterTensors* g, const BlockActivations* acts,
                                      int B, int T) {
    const GPTConfig* c = &model->config;
    ActivationTensors* s = &model->acts;
    int N = B * T, C = c->channels, n = c->latent_groups, dc = c->latent_dim, Hg = c->num_heads / n, dh = c->head_dim;
    int dR = c->rope_dim, Dlat = latent_width(c), rq = c->q_rank, Dq = c->num_heads * (dh + dR);
    cudaCheck(cudaMemset(s->dkvlat, 0, (size_t)N * Dlat * sizeof(float)));
    cudaCheck(cudaMemset(s->dukv, 0, (size_t)N * 2 * c->num_heads * dh * sizeof(float)));
    AttentionDims d = latent_group_dims(c);
    for (int grp = 0; grp < n; grp++) {
        const float* ukv = acts->ukv + (size_t)grp * N * Hg * 2 * dh;
        float* dukv = s->dukv + (size_t)grp * N * Hg * 2 * dh;
        attention_backward(s->dq + grp * Hg * (dh + dR), dukv, s->dkvlat + n * dc, dukv + Hg * dh, s->attn_scratch,
                           s->datty + grp * Hg * dh, acts->atty + grp * Hg * dh, acts->lse + (size_t)grp * B * Hg * T,
                           acts->q + grp * Hg * (dh + dR), ukv, acts->kvlat + n * dc, ukv + Hg * dh, B, T, &d);
    }
    rope_backward(s->dq + dh, model->rope_cos, model->rope_sin, B, T, 0, c->num_heads, Dq, dh + dR, dR);
    rope_backward(s->dkvlat + n * dc, model->rope_cos, model->rope_sin, B, T, 0, 1, Dlat, dR, dR);
    for (int grp = 0; grp < n; grp++) {
        size_t w = (size_t)grp * Hg * 2 * dh;
        matmul_backward(s->dkvlat_norm, g->ukvw + w * dc, g->ukvb ? g->ukvb + w : NULL, s->dukv + (size_t)grp * N * Hg * 2 * dh,
                        acts->kvlat_norm + (size_t)grp * N * dc, p->ukvw + w * dc, N, dc, Hg * 2 * dh, s->column_scratch);
        rmsnorm_backward(s->dkvlat + grp * dc, g->kvnormw + grp * dc, s->dkvlat_norm, acts->kvlat + grp * dc, p->kvnormw + grp * dc,
                         acts->kvlat_rstd + (size_t)grp * N, N, dc, Dlat, s->column_scratch);
    }
    matmul_backward(s->dln, g->dkvw, g->dkvb, s->dkvlat, acts->ln1, p->dkvw, N, C, Dlat, s->column_scratch);
    if (rq > 0) {
        matmul_backward(s->dqlat_norm, g->uqw, g->uqb, s->dq, acts->qlat_norm, p->uqw, N, rq, Dq, s->column_scratch);
        cudaCheck(cudaMemset(s->dqlat, 0, (size_t)N * rq * sizeof(float)));
        rmsnorm_backward(s->dqlat, g->qnormw, s->dqlat_norm, acts->qlat, p->qnormw, acts->qlat_rstd, N, rq, rq, s->column_scratch);
        matmul_backward(s->dln_q, g->dqw, g->dqb, s->dqlat, acts->ln1, p->dqw, N, C, rq, s->column_scratch);
    } else {
        matmul_backward(s->dln_q, g->qw, g->qb, s->dq, acts->ln1, p->qw, N, C, Dq, s->column_scratch);
    }
    residual_forward(s->dln, s->dln, s->dln_q, (size_t)N * C);
}

// absorbed queries per head: qa_h = [W_uk,h^T q_nope,h (dc) | q_rope,h (dR)] (train_gpt.c's comment explains
// why the key bias drops out); a warp per head
__global__ void absorb_queries_kernel(float* qa, const float* q, const float* ukvw, int H, int Hg, int dh, int dR, int dc) {
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

// decoding one MLA/GLA token at pos against the cache of normalised latents and rotated RoPE keys, without
// materialising keys or values (as train_gpt.c's latent_attention_decode)
static void latent_attention_decode(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int pos, float* cache) {
    const GPTConfig* c = &model->config;
    int H = c->num_heads, n = c->latent_groups, dc = c->latent_dim, Hg = H / n, dh = c->head_dim, dR = c->rope_dim;
    int Dlat = latent_width(c);
    latent_queries_forward(model, p, acts, 1, 1, pos);
    float* row = cache + (size_t)pos * Dlat;
    matmul_forward(acts->kvlat, acts->ln1, p->dkvw, p->dkvb, 1, c->channels, Dlat);
    for (int g = 0; g < n; g++) rmsnorm_forward(row + g * dc, NULL, acts->kvlat + g * dc, p->kvnormw + g * dc, 1, dc, Dlat);
    cudaCheck(cudaMemcpy(row + n * dc, acts->kvlat + n * dc, dR * sizeof(float), cudaMemcpyDeviceToDevice));
    rope_forward(row + n * dc, model->rope_cos, model->rope_sin, 1, 1, pos, 1, Dlat, dR, dR);
    absorb_queries_kernel<<<H, 32>>>(acts->q_absorbed, acts->q, p->ukvw, H, Hg, dh, dR, dc);
    cudaCheckLaunch();
    AttentionDims d = latent_decode_dims(c);
    attention_forward(acts->ctx, acts->lse, acts->q_absorbed, cache, cache + n * dc, cache, 1, 1, pos + 1, &d);
    for (int h = 0; h < H; h++) { // o_h = W_uv,h ctx_h + b_v,h
        size_t v_row = (size_t)(h / Hg) * Hg * 2 * dh + (size_t)Hg * dh + (size_t)(h % Hg) * dh;
        matmul_forward(acts->atty + (size_t)h * dh, acts->ctx + (size_t)h * dc, p->ukvw + v_row * dc, p->ukvb ? p->ukvb + v_row : NULL,
                       1, dc, dh);
    }
}

// ----------------------------------------------------------------------------
// the transformer block and the whole model, as in train_gpt.c

static void block_forward(const GPT* model, int l, BlockActivations* acts, float* proj, const float* x, int B, int T, int pos0,
                          float* cache) {
    const GPTConfig* c = &model->config;
    ParameterTensors p = layer_params(&model->params, model->specs, l);
    int N = B * T, C = c->channels, F = c->mlp_hidden, Dv = c->num_heads * c->head_dim;
    // x + attention
    layernorm_forward(acts->ln1, acts->ln1_mean, acts->ln1_rstd, x, p.ln1w, p.ln1b, N, C);
    if (!is_latent(c)) fused_attention_forward(model, &p, acts, B, T, pos0, cache);
    else if (cache) latent_attention_decode(model, &p, acts, pos0, cache);
    else latent_attention_forward(model, &p, acts, B, T);
    matmul_forward(proj, acts->atty, p.attprojw, p.attprojb, N, Dv, C);
    residual_forward(acts->residual2, x, proj, (size_t)N * C);
    // + MLP
    layernorm_forward(acts->ln2, acts->ln2_mean, acts->ln2_rstd, acts->residual2, p.ln2w, p.ln2b, N, C);
    matmul_forward(acts->fch, acts->ln2, p.fcw, p.fcb, N, C, F);
    gelu_forward(acts->fch_gelu, acts->fch, (size_t)N * F);
    matmul_forward(proj, acts->fch_gelu, p.fcprojw, p.fcprojb, N, F, C);
    residual_forward(acts->residual3, acts->residual2, proj, (size_t)N * C);
}

static void block_backward(GPT* model, int l, const BlockActivations* acts, const float* x, int B, int T) {
    const GPTConfig* c = &model->config;
    ParameterTensors p = layer_params(&model->params, model->specs, l);
    ParameterTensors g = layer_params(&model->grads, model->specs, l);
    ActivationTensors* s = &model->acts;
    int N = B * T, C = c->channels, F = c->mlp_hidden, Dv = c->num_heads * c->head_dim;
    // residual3 = residual2 + fcproj(gelu(fc(ln2(residual2))))
    matmul_backward(s->dfch, g.fcprojw, g.fcprojb, s->dresidual, acts->fch_gelu, p.fcprojw, N, F, C, s->column_scratch);
    gelu_backward(s->dfch, acts->fch, s->dfch, (size_t)N * F);
    matmul_backward(s->dln, g.fcw, g.fcb, s->dfch, acts->ln2, p.fcw, N, C, F, s->column_scratch);
    layernorm_backward(s->dresidual, g.ln2w, g.ln2b, s->dln, acts->residual2, p.ln2w, acts->ln2_mean, acts->ln2_rstd, N, C,
                       s->column_scratch);
    // residual2 = x + attproj(attention(ln1(x)))
    matmul_backward(s->datty, g.attprojw, g.attprojb, s->dresidual, acts->atty, p.attprojw, N, Dv, C, s->column_scratch);
    if (is_latent(c)) latent_attention_backward(model, &p, &g, acts, B, T);
    else fused_attention_backward(model, &p, &g, acts, B, T);
    layernorm_backward(s->dresidual, g.ln1w, g.ln1b, s->dln, x, p.ln1w, acts->ln1_mean, acts->ln1_rstd, N, C, s->column_scratch);
}

// Forward over a batch; inputs, targets (B,T) on the host (targets may be NULL). Sets mean_loss.
static void gpt_forward(GPT* model, const int* inputs, const int* targets, int B, int T) {
    const GPTConfig* c = &model->config;
    if (B > model->batch_size || T != model->seq_len) {
        die("forward with B=%d T=%d, but activations were allocated for B<=%d T=%d", B, T, model->batch_size, model->seq_len);
    }
    int N = B * T, C = c->channels, V = c->vocab_size, Vp = c->padded_vocab_size;
    for (int i = 0; i < N; i++) {
        if (inputs[i] < 0 || inputs[i] >= V) die("token id %d at position %d is outside the vocabulary [0, %d)", inputs[i], i, V);
    }
    ActivationTensors* a = &model->acts;
    cudaCheck(cudaMemcpy(model->inputs, inputs, N * sizeof(int), cudaMemcpyHostToDevice));
    model->inputs_host = inputs;
    encoder_forward(a->encoded, model->inputs, model->params.wte, model->params.wpe, B, T, C);
    for (int l = 0; l < c->num_layers; l++) {
        const float* x = l == 0 ? a->encoded : a->blocks[l - 1].residual3;
        block_forward(model, l, &a->blocks[l], a->proj, x, B, T, 0, NULL);
    }
    const float* last = a->blocks[c->num_layers - 1].residual3;
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, model->params.lnfw, model->params.lnfb, N, C);
    matmul_forward(a->logits, a->lnf, model->params.wte, NULL, N, C, Vp);
    if (targets != NULL) {
        cudaCheck(cudaMemcpy(model->targets, targets, N * sizeof(int), cudaMemcpyHostToDevice));
        crossentropy_forward(a->losses, a->logits, model->targets, N, V, Vp);
        download(model->losses_host, a->losses, N);
        double sum = 0;
        for (int i = 0; i < N; i++) sum += model->losses_host[i];
        model->mean_loss = (float)(sum / N);
    }
}

// Queues the average over the processes of layer l's gradients (l = -1: the tensors outside the blocks,
// wte, wpe and lnf), on the group's stream once the kernels queued so far have written them.
static void gpt_mean_grads_async(GPT* model, GpuGroup* group, int l) {
    int L = model->config.num_layers;
    size_t at = 0;
    gpu_mean_async_begin(group);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const ParamSpec* s = &model->specs[i];
        if (s->per_layer == (l >= 0)) {
            size_t n = s->per_layer ? s->numel / L : s->numel;
            gpu_mean_async(group, model->grads_memory + at + (s->per_layer ? l * n : 0), n);
        }
        at += s->numel;
    }
    gpu_mean_async_end(group);
}

// Forward and backward of one micro-batch with targets (the fused classifier computes the loss and its
// gradient in one pass). Gradients accumulate; the loss differentiated is grad_scale * mean loss. With
// `average` (the last micro-batch of a step, several processes), each block's gradients are averaged over
// the processes while the blocks below run their backward; the default stream then waits for them.
static void gpt_forward_backward(GPT* model, const int* inputs, const int* targets, int B, int T, float grad_scale, GpuGroup* average) {
    const GPTConfig* c = &model->config;
    gpt_forward(model, inputs, NULL, B, T);
    int N = B * T, C = c->channels, V = c->vocab_size, Vp = c->padded_vocab_size;
    ActivationTensors* a = &model->acts;
    // logits = lnf @ wte^T, losses = crossentropy(logits); dlogits overwrite the logits
    cudaCheck(cudaMemcpy(model->targets, targets, N * sizeof(int), cudaMemcpyHostToDevice));
    fused_classifier(a->logits, a->losses, model->targets, grad_scale / N, N, V, Vp);
    download(model->losses_host, a->losses, N);
    double sum = 0;
    for (int i = 0; i < N; i++) sum += model->losses_host[i];
    model->mean_loss = (float)(sum / N);
    matmul_backward(a->dln, model->grads.wte, NULL, a->logits, a->lnf, model->params.wte, N, C, Vp, a->column_scratch);
    // lnf = layernorm(residual of the last block)
    cudaCheck(cudaMemset(a->dresidual, 0, (size_t)N * C * sizeof(float)));
    const float* last = a->blocks[c->num_layers - 1].residual3;
    layernorm_backward(a->dresidual, model->grads.lnfw, model->grads.lnfb, a->dln, last, model->params.lnfw, a->lnf_mean, a->lnf_rstd,
                       N, C, a->column_scratch);
    for (int l = c->num_layers - 1; l >= 0; l--) {
        const float* x = l == 0 ? a->encoded : a->blocks[l - 1].residual3;
        block_backward(model, l, &a->blocks[l], x, B, T);
        if (average) gpt_mean_grads_async(model, average, l);
    }
    // encoded = wte[inputs] + wpe
    encoder_backward(model->grads.wte, model->grads.wpe, a->dresidual, inputs, B, T, C, V, a->encoder_scratch);
    if (average) {
        gpt_mean_grads_async(model, average, -1);
        gpu_mean_async_wait(average);
    }
}

static void gpt_zero_grad(GPT* model) { cudaCheck(cudaMemset(model->grads_memory, 0, model->num_parameters * sizeof(float))); }

// ----------------------------------------------------------------------------
// optimizers: AdamW, and Muon for the hidden matrices (with AdamW for the rest)

static float gpt_grad_norm(GPT* model) {
    return (float)sqrt(sum_squares(model->grads_memory, model->num_parameters, model->acts.norm_scratch));
}

// Divides the optimizer state into units, among `ranks` processes under ZeRO-1 (else all units are every
// process's), and allocates this process's state and the scratch of its largest Muon unit on the device.
static void gpt_setup_optimizer(GPT* model, int muon, int zero, const Dist* dist) {
    model->plan = optimizer_plan(&model->config, muon, zero, dist);
    model->m_memory = (float*)cuda_calloc(model->plan.state_size * sizeof(float));
    model->v_memory = (float*)cuda_calloc(model->plan.state_size * sizeof(float));
    size_t most = 0;
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        if (!u->muon || !plan_owns(&model->plan, u)) continue;
        size_t need = muon_scratch_size(model->config.num_layers, u->rows, (int)model->specs[u->tensor].shape[2]);
        most = need > most ? need : most;
    }
    if (most > 0) model->muon_scratch = (float*)cuda_calloc(most * sizeof(float));
}

// One optimizer step t (1-based), as train_gpt.c's gpt_optimizer_step: clip by the global norm, then each
// unit: Muon on a hidden matrix's row block (all layers in one batch), or AdamW on a tensor. Under ZeRO-1
// a process updates the units it owns and then every owner broadcasts its parameters.
static void gpt_optimizer_step(GPT* model, GpuGroup* group, const AdamWConfig* adamw, const MuonConfig* muon, float mu, float grad_norm,
                               float grad_clip, int t) {
    float scale = (grad_clip > 0.0f && grad_norm > grad_clip) ? grad_clip / grad_norm : 1.0f;
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        const ParamSpec* s = &model->specs[u->tensor];
        if (!plan_owns(&model->plan, u)) continue;
        float *m = model->m_memory + u->state_at, *v = model->v_memory + u->state_at;
        UnitRuns r = unit_runs(&model->config, u);
        if (u->muon) { // all layers' blocks in one batch
            muon_update(model->params_memory + r.first, model->grads_memory + r.first, m, r.runs, u->rows, (int)s->shape[2], r.stride, muon,
                        muon->lr, mu, scale, model->muon_scratch);
        } else {
            adamw_update(model->params_memory + r.first, model->grads_memory + r.first, m, v, r.run, adamw,
                         s->is_matrix ? adamw->weight_decay : 0.0f, scale, t);
        }
    }
    if (model->plan.zero_rank < 0) return;
    for (int k = 0; k < model->plan.num_units; k++) {
        UnitRuns r = unit_runs(&model->config, &model->plan.units[k]);
        for (int l = 0; l < r.runs; l++) gpu_broadcast(group, model->params_memory + r.first + l * r.stride, r.run, model->plan.units[k].owner);
    }
}

// ----------------------------------------------------------------------------
// decoding with a KV cache on the GPU

typedef struct {
    const GPT* model;
    float* cache;          // (L, maxT, E)
    BlockActivations acts; // one row
    float *x, *proj, *lnf, *logits;
    float* memory;
} DecodeState;

static void decode_state_init(DecodeState* d, const GPT* model) {
    const GPTConfig* c = &model->config;
    size_t cache = (size_t)c->num_layers * c->max_seq_len * gpt_kv_elements_per_token_layer(c);
    size_t sizes[NUM_BLOCK_ACTIVATIONS];
    block_activation_sizes(sizes, c, 1, 1, 1);
    size_t blocks = point_block_activations(&d->acts, 1, sizes, NULL);
    d->model = model;
    d->memory = (float*)cuda_calloc((cache + blocks + 3 * (size_t)c->channels + c->padded_vocab_size) * sizeof(float));
    d->cache = d->memory;
    point_block_activations(&d->acts, 1, sizes, d->cache + cache);
    d->x = d->cache + cache + blocks;
    d->proj = d->x + c->channels;
    d->lnf = d->proj + c->channels;
    d->logits = d->lnf + c->channels;
}

static void decode_state_free(DecodeState* d) { cudaCheck(cudaFree(d->memory)); }

// generate()'s decode step: one token at pos through the model; the next-token logits land on the host
static void gpt_decode_step(void* ctx, int token, int pos, float* logits_host) {
    DecodeState* d = (DecodeState*)ctx;
    const GPT* model = d->model;
    const GPTConfig* c = &model->config;
    size_t layer_cache = (size_t)c->max_seq_len * gpt_kv_elements_per_token_layer(c);
    const float* wpe = model->params.wpe ? model->params.wpe + (size_t)pos * c->channels : NULL;
    cudaCheck(cudaMemcpy(model->inputs, &token, sizeof(int), cudaMemcpyHostToDevice));
    encoder_forward(d->x, model->inputs, model->params.wte, wpe, 1, 1, c->channels);
    for (int l = 0; l < c->num_layers; l++) {
        d->acts.residual3 = d->x;
        block_forward(model, l, &d->acts, d->proj, d->x, 1, 1, pos, d->cache + l * layer_cache);
    }
    layernorm_forward(d->lnf, NULL, NULL, d->x, model->params.lnfw, model->params.lnfb, 1, c->channels);
    matmul_forward(d->logits, d->lnf, model->params.wte, NULL, 1, c->channels, c->padded_vocab_size);
    download(logits_host, d->logits, c->padded_vocab_size);
}

// ----------------------------------------------------------------------------
// checkpoints and the host copies they need

// Loads our checkpoint or an llm.c model file into a new model on the device (as train_gpt.c's gpt_load).
// Returns 1 with the checkpoint open in *st, 0 for llm.c files.
static int gpt_load(GPT* model, const char* path, SafeTensors* st) {
    GPTConfig config;
    int ours = !is_llmc_model_file(path);
    if (ours) {
        checkpoint_open(st, path);
        gpt_config_from_checkpoint(st, &config);
    } else {
        llmc_model_read_config(path, &config);
    }
    gpt_build(model, &config);
    float* host = (float*)mallocCheck(model->num_parameters * sizeof(float));
    if (ours) {
        StateBlock params = {"", host, NULL};
        checkpoint_read_block(st, &config, &params, "F32");
    } else {
        llmc_model_read_params(path, host, "F32");
    }
    upload(model->params_memory, host, model->num_parameters);
    free(host);
    return ours;
}

// host copies of the parameters and of the optimizer state in the parameter layout, for checkpoints
typedef struct {
    float *params, *m, *v, *unit; // unit: one unit's state on the host
    float* unit_device;            // one unit's state on the device, for gathering under ZeRO-1
} HostState;

static size_t largest_unit(const GPT* model) {
    size_t most = 1;
    for (int k = 0; k < model->plan.num_units; k++) most = model->plan.units[k].numel > most ? model->plan.units[k].numel : most;
    return most;
}

static void host_state_alloc(HostState* h, const GPT* model) {
    h->params = (float*)callocCheck(model->num_parameters, sizeof(float));
    h->m = (float*)callocCheck(model->num_parameters, sizeof(float));
    h->v = (float*)callocCheck(model->num_parameters, sizeof(float));
    h->unit = (float*)callocCheck(largest_unit(model), sizeof(float));
    h->unit_device = (float*)cuda_calloc(largest_unit(model) * sizeof(float));
}

static void host_state_free(HostState* h) {
    free(h->params);
    free(h->m);
    free(h->v);
    free(h->unit);
    cudaCheck(cudaFree(h->unit_device));
}

// The parameters and the optimizer state, on the host in the parameter layout (rank 0's copy is the
// one written). Every process takes part: under ZeRO-1 each unit comes from its owner.
static void host_state_download(HostState* h, const GPT* model, GpuGroup* group) {
    download(h->params, model->params_memory, model->num_parameters);
    float* state[2] = {model->m_memory, model->v_memory};
    float* full[2] = {h->m, h->v};
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        for (int j = 0; j < 2; j++) {
            const float* src = state[j] + u->state_at;
            if (model->plan.zero_rank >= 0) { // the owner's copy, broadcast to everyone
                if (u->owner == model->plan.zero_rank) cudaCheck(cudaMemcpy(h->unit_device, src, u->numel * sizeof(float), cudaMemcpyDeviceToDevice));
                gpu_broadcast(group, h->unit_device, u->numel, u->owner);
                src = h->unit_device;
            }
            download(h->unit, src, u->numel);
            unit_state_copy(&model->config, u, h->unit, full[j], sizeof(float), 1);
        }
    }
}

// a checkpoint's optimizer state (parameter layout, on the host) onto the device: this process's units
static void host_state_upload(HostState* h, GPT* model) {
    float* state[2] = {model->m_memory, model->v_memory};
    float* full[2] = {h->m, h->v};
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        if (!plan_owns(&model->plan, u)) continue;
        for (int j = 0; j < 2; j++) {
            unit_state_copy(&model->config, u, h->unit, full[j], sizeof(float), 0);
            upload(state[j] + u->state_at, h->unit, u->numel);
        }
    }
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

#ifndef TESTING
// ----------------------------------------------------------------------------
// main: sampling, and the training loop

// mean loss over the first val_batches batches of the validation shards
static float evaluate(GPT* model, DataLoader* val, int val_batches) {
    dataloader_reset(val);
    int n = val_batches < (int)val->batches_per_epoch ? val_batches : (int)val->batches_per_epoch;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        dataloader_next_batch(val);
        gpt_forward(model, val->inputs, val->targets, val->B, val->T);
        sum += model->mean_loss;
    }
    return (float)(sum / n);
}

static int sample_main(ArgParser* p) {
    TrainArgs* a = &p->a;
    require_gpu();
    char path[4096];
    const char* ckpt = a->init_from;
    if (ckpt == NULL) {
        if (checkpoint_find_latest(a->output_dir, path, sizeof(path)) < 0) die_hint("train first, or pass -e CKPT", "no checkpoint in '%s'", a->output_dir);
        ckpt = path;
    }
    GPT model;
    SafeTensors st;
    int ours = gpt_load(&model, ckpt, &st);
    Tokenizer tok;
    tokenizer_load(&tok, ours && !args_given(p, &a->tokenizer) ? checkpoint_meta(&st, "tokenizer") : a->tokenizer, a->vocab);
    int trained_T = ours ? checkpoint_meta_int(&st, "train.seq_len") : 0;
    if (ours) safetensors_close(&st);
    if (tok.vocab_size != model.config.vocab_size) {
        die_hint("pass the tokenizer the model was trained with (--tokenizer)", "the model's vocabulary has %d tokens, but tokenizer '%s' has %d",
                 model.config.vocab_size, tokenizer_name(&tok), tok.vocab_size);
    }
    args_check_model_flags(p, &model.config, ckpt);
    model.inputs = (int*)cuda_calloc(sizeof(int));
    matmul_setup(strcmp(a->precision, "fp32") != 0, largest_matmul_input(&model.config, 1, 1));
    printf("checkpoint: %s (on the GPU)\n", ckpt);
    gpt_print_config(&model.config, sizeof(float));
    if (trained_T > 0 && (int)strlen(a->prompt) + a->gen_tokens > trained_T) {
        printf("note: the model was trained on sequences of %d tokens; text beyond that position is out of its training distribution "
               "and usually degrades\n", trained_T);
    }
    SamplerConfig sc = {a->temperature, a->top_k, a->top_p};
    uint64_t rng = rng_seed(a->seed);
    DecodeState d;
    decode_state_init(&d, &model);
    printf("---\n");
    double seconds;
    int n = generate(&model.config, &tok, a->prompt, a->gen_tokens, &sc, &rng, gpt_decode_step, &d, &seconds);
    printf("---\n");
    size_t kv_bytes = gpt_kv_elements_per_token_layer(&model.config) * model.config.num_layers * sizeof(float);
    printf("generated %d tokens in %.2f s: %.1f tokens/s (prompt included in the time), KV cache %zu bytes/token\n", n, seconds,
           (n + strlen(a->prompt)) / (seconds > 0 ? seconds : 1e-9), kv_bytes);
    decode_state_free(&d);
    tokenizer_free(&tok);
    matmul_teardown();
    gpt_free(&model);
    return 0;
}

int main(int argc, char** argv) {
    process_setup();
    Dist dist = dist_init(&argc, &argv);
    ArgParser parser;
    args_defaults(&parser, "bf16");
    args_parse(&parser, argc, argv);
    args_validate(&parser);
    TrainArgs* a = &parser.a;
    if (a->sample_mode) return sample_main(&parser);
    int bf16 = strcmp(a->precision, "fp32") != 0;
    cudaDeviceProp prop = require_gpu();
    GpuGroup group = gpu_group_init(dist, a);
    if (group.dist.rank > 0 && freopen("/dev/null", "w", stdout) == NULL) die("cannot silence rank %d's output", group.dist.rank);

    // the model: resumed, initialised from a file, or fresh (as in train_gpt.c); every process loads it
    Run run;
    memset(&run, 0, sizeof(run));
    run.a = a;
    run.dist = group.dist;
    run.rs.sample_rng = rng_seed(a->seed + 1);
    tokenizer_load(&run.tok, a->tokenizer, a->vocab);
    char resume_path[4096];
    run_open_output(&run, resume_path, sizeof(resume_path));
    const char* source = a->resume ? resume_path : a->init_from;
    GPT model;
    HostState host;
    int use_muon = strcmp(a->optimizer, "muon") == 0;
    if (source != NULL) {
        SafeTensors st;
        int ours = gpt_load(&model, source, &st);
        args_check_model_flags(&parser, &model.config, source);
        gpt_setup_optimizer(&model, use_muon, a->zero_stage, &run.dist);
        host_state_alloc(&host, &model);
        if (ours) {
            const char* ckpt_tok = checkpoint_meta(&st, "tokenizer");
            if (strcmp(ckpt_tok, a->tokenizer) != 0) {
                die_hint("pass --tokenizer to match the checkpoint", "checkpoint '%s' uses tokenizer '%s', this run '%s'", source, ckpt_tok,
                         a->tokenizer);
            }
            if (a->resume) {
                run_restore(&run, &st, &model.config, "F32", host.m, host.v);
                host_state_upload(&host, &model);
            }
            safetensors_close(&st);
        }
        printf("%s %s at step %d\n", a->resume ? "resuming from" : "initialised from", source, run.rs.step);
    } else {
        GPTConfig config;
        args_model_config(&parser, &config, run.tok.vocab_size);
        gpt_build(&model, &config);
        gpt_init_random(&model, a->seed);
        gpt_setup_optimizer(&model, use_muon, a->zero_stage, &run.dist);
        host_state_alloc(&host, &model);
    }
    const GPTConfig* c = &model.config;
    if (c->vocab_size != run.tok.vocab_size) {
        die_hint("use --tokenizer to match the model's vocabulary", "the model's vocabulary has %d tokens, tokenizer '%s' has %d",
                 c->vocab_size, tokenizer_name(&run.tok), run.tok.vocab_size);
    }
    gpt_allocate_activations(&model, a->B, a->T);
    double peak = a->peak_gflops > 0 ? a->peak_gflops : measure_peak_gflops(bf16);
    matmul_setup(bf16, largest_matmul_input(c, a->B, a->T));
    char compute[512];
    snprintf(compute, sizeof(compute), "%d x GPU %s, %s matmuls, peak %.0f TFLOP/s per GPU (%s)%s", run.dist.size, prop.name,
             bf16 ? "bf16 (fp32 accumulation)" : "fp32", peak / 1e3, a->peak_gflops > 0 ? "--peak-gflops" : "measured: 8192^3 matmul",
             a->zero_stage ? ", ZeRO-1" : "");
    run_setup(&run, c, compute);
    if (run.use_muon) print_optimizer_groups(c, &run.muon, &run.adamw);
    if (a->dump_step) { // one forward and backward on the first training batch, for comparing trainers
        gpt_zero_grad(&model);
        dataloader_next_batch(&run.train);
        gpt_forward(&model, run.train.inputs, run.train.targets, a->B, a->T); // the logits, before the classifier overwrites them
        size_t nl = (size_t)a->B * a->T * c->padded_vocab_size;
        float *logits = (float*)mallocCheck(nl * sizeof(float)), *grads = (float*)mallocCheck(model.num_parameters * sizeof(float));
        download(logits, model.acts.logits, nl);
        gpt_forward_backward(&model, run.train.inputs, run.train.targets, a->B, a->T, 1.0f, NULL);
        download(grads, model.grads_memory, model.num_parameters);
        if (run.dist.rank == 0) run_dump_step(a->dump_step, c, model.mean_loss, logits, a->B * a->T, grads);
        free(logits);
        free(grads);
        run_finish(&run);
        host_state_free(&host);
        matmul_teardown();
        gpt_free(&model);
        gpu_group_free(&group);
        dist_finalize();
        return 0;
    }

    SamplerConfig sc = {a->temperature, a->top_k, a->top_p};
    float train_loss = 0.0f;
    double total_peak = peak * run.dist.size;
    for (int step = run.start_step; step <= run.max_steps; step++) {
        int last_step = step == run.max_steps;
        if ((a->val_every > 0 && step % a->val_every == 0) || last_step) {
            run_log_val(&run, step, gpu_mean_scalar(&group, evaluate(&model, &run.val, a->val_batches)));
        }
        if (run.dist.rank == 0 && a->sample_every > 0 && ((step > 0 && step % a->sample_every == 0) || last_step)) {
            printf("step %d | sample:\n---\n", step);
            DecodeState d;
            decode_state_init(&d, &model);
            double seconds;
            generate(c, &run.tok, a->prompt, a->gen_tokens, &sc, &run.rs.sample_rng, gpt_decode_step, &d, &seconds);
            decode_state_free(&d);
            printf("---\n");
        }
        if (last_step) break;

        // one optimizer step: accumulate gradients over micro-batches; the last one's backward averages
        // them over the processes
        double t0 = wall_seconds();
        gpt_zero_grad(&model);
        double loss_sum = 0;
        for (int micro = 0; micro < run.accum_steps; micro++) {
            dataloader_next_batch(&run.train);
            GpuGroup* average = (micro == run.accum_steps - 1 && group.dist.size > 1) ? &group : NULL;
            gpt_forward_backward(&model, run.train.inputs, run.train.targets, a->B, a->T, 1.0f / run.accum_steps, average);
            loss_sum += model.mean_loss;
        }
        train_loss = gpu_mean_scalar(&group, (float)(loss_sum / run.accum_steps));
        float norm = gpt_grad_norm(&model);
        run_schedule(&run, step);
        double t_opt = wall_seconds();
        if (run_update_allowed(&run, step, train_loss, norm)) {
            run.rs.opt_steps++;
            gpt_optimizer_step(&model, &group, &run.adamw, run.use_muon ? &run.muon : NULL, run.muon_momentum, norm, a->grad_clip,
                               run.rs.opt_steps);
        }
        cudaCheck(cudaDeviceSynchronize());
        double now = wall_seconds();
        run_log_step(&run, step, train_loss, norm, 1e3 * (now - t0), 1e3 * (now - t_opt), total_peak);
        run_mark_position(&run);
        if (run_checkpoint_due(&run, step + 1)) {
            run.rs.step = step + 1;
            host_state_download(&host, &model, &group);
            if (run.dist.rank == 0) run_save_checkpoint(&run, c, "F32", host.params, host.m, host.v, train_loss);
        }
    }
    run_finish(&run);
    host_state_free(&host);
    matmul_teardown();
    gpt_free(&model);
    gpu_group_free(&group);
    dist_finalize();
    return 0;
}
#endif // TESTING
