/*
The model, written once for both trainers: docs/design.md §2's GPT as a graph of layer calls, its
activations, the optimizer step over the parameter units, KV-cache decoding and loading. Nothing here
touches memory directly: a trainer includes this file after defining its element type `real`, its
process group `Comm`, and these functions, with the same names and arguments on the CPU (train_gpt.c,
host memory) and on the GPU (train_gpt.cu, device memory):

  memory     tensor_alloc / tensor_free (zero-filled `real`s), tensor_zero, tensor_copy, tensor_copy_rows, tensor_upload /
             tensor_download (from / to host memory), tensor_sum (in double), tokens_alloc / tokens_free /
             tokens_upload (token ids as the layers read them), device_memory_bytes, DEVICE_NAME
  layers     encoder_, layernorm_, rmsnorm_, matmul_, gelu_, crossentropy_ forward and backward; rope_forward
             and rope_backward; attention_forward and attention_backward (with attention_state_size, what the
             forward keeps for the backward, and attention_scratch_size); residual_forward; absorb_queries
             (MLA/GLA decoding); Memory Mosaics' leaky_average_, head_scale_, value_shift_ and pmem_ forward
             and backward (with pmem_scratch_size)
  optimizers adamw_update, muon_update (a batch of matrices stride apart), muon_scratch_size, sum_squares
  processes  comm_broadcast; comm_grads_begin / comm_grads_mean / comm_grads_end / comm_grads_wait (the
             gradient average, queued block by block during the backward)

Shape legend: B batch, T sequence, N = B*T rows, C channels, H query heads, Hkv key/value heads, dh = C/H,
dR rotated width, n latent groups, dc latent width per group, rq query rank, Dqkv fused width, F MLP
width, V vocabulary, Vp padded vocabulary, L layers, maxT longest sequence, E KV-cache elements per token
per layer. Weight gradients accumulate (+=, for gradient accumulation).
*/
#ifndef LLMC_MODEL_H
#define LLMC_MODEL_H

#include <stddef.h>
#include "attention_layout.h"
#include "checkpoint.h"
#include "distributed.h"
#include "gpt.h"
#include "model_tensors.h"
#include "run.h"

// ----------------------------------------------------------------------------
// activations: named buffers sized by tables, the way gpt.h sizes the parameters

// What one block keeps for N = B*T rows: training saves these for the backward (L of them in one block of
// memory); decoding holds one set for a single row and reuses it in every layer. A variant leaves the
// fields it does not use empty (size 0, NULL).
typedef struct {
    real* ln1;        // (N, C)
    real* ln1_mean;   // (N,)
    real* ln1_rstd;   // (N,)
    real* qkv;        // (N, Dqkv) fused projection, RoPE applied          MHA/GQA/MQA/GTA
    real* memory;     // (B, gpt_carry_lane_size) each lane's last K rows (E wide: kv parts before RoPE, latents, or
                      // Mosaics' [S | v~]), oldest first, then (--mlp pmem) its persistent memory's sums   --carry K
    real* window;     // (B, M+T, E) the memory's M rows then the segment's, RoPE applied --carry K
    real* qlat;       // (N, rq) compressed query                           MLA/GLA, rq > 0
    real* qlat_norm;  // (N, rq)
    real* qlat_rstd;  // (N,)
    real* q;          // (N, H*(dh+dR)) queries, RoPE applied               MLA/GLA
    real* kvlat;      // (N, n*dc+dR) latent groups and the rotated RoPE key
    real* kvlat_norm; // (n, N, dc) normalised groups, group-major           training
    real* kvlat_rstd; // (n, N)
    real* ukv;        // (n, N, (H/n)*2*dh) per group: [k_nope | v] of its heads  training
    real* att;        // what the attention core keeps for its backward (attention_state_size)
    real* atty;       // (N, H*dh) attention output before its projection
    real* q_absorbed; // (N, H, dc+dR) queries absorbed into the key up-projection   MLA/GLA decoding
    real* ctx;        // (N, H, dc) attention-weighted latent per head                 MLA/GLA decoding
    real* mos_s;      // (N, C) leaky sums of the key features              Memory Mosaics' contextual memory
    real* mos_k;      // (Nw, C) keys (also the queries), Nw = B*(M+T) rows with --carry, else N
    real* mos_knorm;  // (Nw, H) the sums' norms
    real* mos_vp;     // (Nw, C) value features mixed with the next token's
    real* mos_v;      // (Nw, C) values
    real* mos_vnorm;  // (Nw, H)
    real* mos_tmp;    // (4, C) a decoding step's two-row inputs and outputs
    real* residual2;  // (N, C) residual + attention
    real* ln2;        // (N, C)
    real* ln2_mean;   // (N,)
    real* ln2_rstd;   // (N,)
    real* fch;        // (N, F) MLP pre-activation
    real* fch_gelu;   // (N, F)
    real* pm_kt;      // (N, C) key features                                 the persistent memory (--mlp pmem)
    real* pm_s;       // (N, C) their leaky sums
    real* pm_s0;      // (B, C) each lane's sums before the segment, from the memory       --carry K
    real* pm_k;       // (N, C) keys
    real* pm_knorm;   // (N, H)
    real* pm_y;       // (N, C) the memories' output before its projection
    real* pm_lse;     // (N, M, H) each memory's softmax log-sum-exp
    real* pm_scratch; // pmem_scratch_size(N, P, C)                        decoding (training: the model's)
    real* residual3;  // (N, C) the block's output
} BlockActivations;

// Training activations outside the blocks, and the backward's scratch, which every layer reuses.
typedef struct {
    real* encoded;      // (N, C)
    real* lnf;          // (N, C)
    real* lnf_mean;     // (N,)
    real* lnf_rstd;     // (N,)
    real* logits;       // (N, Vp); the backward overwrites it with dlogits
    real* losses;       // (N,)
    real* lse;          // (N,) log-sum-exp of each row of logits, for the backward
    real* proj;         // (N, C) attention/MLP output projection before the residual add
    real* dresidual;    // (N, C) gradient of the residual stream
    real* dln;          // (N, C)
    real* dln_q;        // (N, C) the query path's share of dln1 (MLA/GLA)
    real* datty;        // (N, H*dh)
    real* dqkv;         // (N, Dqkv)
    real* dwindow;      // (B, M+T, E) --carry: the window's gradient
    real* dq;           // (N, H*(dh+dR))
    real* dqlat;        // (N, rq)
    real* dqlat_norm;   // (N, rq)
    real* dkvlat;       // (N, n*dc+dR)
    real* dkvlat_norm;  // (N, dc), one group at a time
    real* dukv;         // (n, N, (H/n)*2*dh)
    real* dfch;         // (N, F)
    real* attn_scratch; // of the attention core's backward (attention_scratch_size)
    real* dmos_q;       // (N, C) Memory Mosaics: the keys' gradient as queries
    real* dmos_k;       // (Nw, C) as keys (then the two summed)
    real* dmos_v;       // (Nw, C) the values'
    real* dmos_s;       // (Nw, C) a leaky sum's (or the mixed values')
    real* dpm;          // (N, C) the persistent memory's keys'
    real* pmem_scratch; // pmem_scratch_size(N, P, C)
    BlockActivations* blocks; // (L,), on the host, pointing into the same memory
} ActivationTensors;

// one buffer: its field in a struct of real pointers, its name (for messages) and its elements
typedef struct {
    const char* name;
    size_t offset, size;
} ActivationSpec;
#define MAX_ACTIVATIONS 48
#define BLOCK_ACT(field, n) {#field, offsetof(BlockActivations, field), (size_t)(n)}
#define MODEL_ACT(field, n) {#field, offsetof(ActivationTensors, field), (size_t)(n)}

// the attention core's widest call for this model: the fused core, or one latent group's heads
static AttentionDims attention_training_dims(const GPTConfig* c) {
    if (c->attn == ATTN_MOSAIC) return mosaic_dims(c);
    return is_latent(c) ? latent_group_dims(c) : fused_layout(c, qkv_width(c)).dims;
}

// The buffers of one block for B*T rows attending over Tk keys, for training (Tk = K + T with --carry K)
// or for decoding one row.
static int block_activation_specs(const GPTConfig* c, int B, int T, int Tk, int decoding, ActivationSpec* s) {
    size_t N = (size_t)B * T, C = c->channels, H = c->num_heads, dh = c->head_dim, F = c->mlp_hidden;
    size_t E = gpt_kv_elements_per_token_layer(c), carried = !decoding && Tk > T;
    size_t Nw = carried ? (size_t)B * Tk : N; // the rows keys and values are made for: with --carry, the window's
    size_t lat = is_latent(c), rq = c->q_rank, n = c->latent_groups, dc = c->latent_dim, dR = c->rope_dim;
    size_t train_lat = lat && !decoding, decode_lat = lat && decoding;
    size_t mos = c->attn == ATTN_MOSAIC, pm = c->mlp == MLP_PMEM, gelu = c->mlp == MLP_GELU;
    ActivationSpec list[] = {
        BLOCK_ACT(ln1, N * C), BLOCK_ACT(ln1_mean, N), BLOCK_ACT(ln1_rstd, N), BLOCK_ACT(qkv, N * qkv_width(c)),
        BLOCK_ACT(memory, carried * B * gpt_carry_lane_size(c, Tk - T)), BLOCK_ACT(window, carried * B * Tk * E),
        BLOCK_ACT(qlat, N * rq), BLOCK_ACT(qlat_norm, N * rq), BLOCK_ACT(qlat_rstd, rq > 0 ? N : 0),
        BLOCK_ACT(q, lat * N * H * (dh + dR)), BLOCK_ACT(kvlat, lat * N * latent_width(c)),
        BLOCK_ACT(kvlat_norm, train_lat * Nw * n * dc), BLOCK_ACT(kvlat_rstd, train_lat * n * Nw),
        BLOCK_ACT(ukv, train_lat * Nw * 2 * H * dh), BLOCK_ACT(att, attention_state_size(B, (int)H, T, Tk)),
        BLOCK_ACT(atty, N * H * dh), BLOCK_ACT(q_absorbed, decode_lat * N * H * (dc + dR)), BLOCK_ACT(ctx, decode_lat * N * H * dc),
        BLOCK_ACT(mos_s, mos * N * C), BLOCK_ACT(mos_k, mos * Nw * C), BLOCK_ACT(mos_knorm, mos * Nw * H), BLOCK_ACT(mos_vp, mos * Nw * C),
        BLOCK_ACT(mos_v, mos * Nw * C), BLOCK_ACT(mos_vnorm, mos * Nw * H), BLOCK_ACT(mos_tmp, mos * decoding * 4 * C),
        BLOCK_ACT(residual2, N * C), BLOCK_ACT(ln2, N * C), BLOCK_ACT(ln2_mean, N), BLOCK_ACT(ln2_rstd, N),
        BLOCK_ACT(fch, gelu * N * F), BLOCK_ACT(fch_gelu, gelu * N * F), BLOCK_ACT(pm_kt, pm * N * C), BLOCK_ACT(pm_s, pm * N * C), BLOCK_ACT(pm_s0, carried * pm * B * C),
        BLOCK_ACT(pm_k, pm * N * C), BLOCK_ACT(pm_knorm, pm * N * H), BLOCK_ACT(pm_y, pm * N * C),
        BLOCK_ACT(pm_lse, pm * N * c->pmem_count * H),
        BLOCK_ACT(pm_scratch, pm && decoding ? pmem_scratch_size((int)N, c->pmem_size, (int)C) : 0), BLOCK_ACT(residual3, N * C)};
    int count = (int)(sizeof(list) / sizeof(list[0]));
    memcpy(s, list, sizeof(list));
    return count;
}

// The training buffers outside the blocks, for micro-batches of (B, T) with a memory of K rows per lane.
static int model_activation_specs(const GPTConfig* c, int B, int T, int K, ActivationSpec* s) {
    size_t N = (size_t)B * T, C = c->channels, H = c->num_heads, dh = c->head_dim, lat = is_latent(c), rq = c->q_rank;
    size_t E = gpt_kv_elements_per_token_layer(c), Nw = (size_t)B * (T + K); // the window's rows (K = 0: the batch's)
    size_t mos = c->attn == ATTN_MOSAIC, pm = c->mlp == MLP_PMEM;
    AttentionDims core = attention_training_dims(c);
    ActivationSpec list[] = {
        MODEL_ACT(encoded, N * C), MODEL_ACT(lnf, N * C), MODEL_ACT(lnf_mean, N), MODEL_ACT(lnf_rstd, N),
        MODEL_ACT(logits, N * c->padded_vocab_size), MODEL_ACT(losses, N), MODEL_ACT(lse, N), MODEL_ACT(proj, N * C),
        MODEL_ACT(dresidual, N * C), MODEL_ACT(dln, N * C), MODEL_ACT(dln_q, lat * N * C), MODEL_ACT(datty, N * H * dh),
        MODEL_ACT(dqkv, N * qkv_width(c)), MODEL_ACT(dwindow, (size_t)B * (K > 0 ? K + T : 0) * E), MODEL_ACT(dq, lat * N * H * qk_head_dim(c)), MODEL_ACT(dqlat, N * rq),
        MODEL_ACT(dqlat_norm, N * rq), MODEL_ACT(dkvlat, lat * N * latent_width(c)), MODEL_ACT(dkvlat_norm, lat * Nw * c->latent_dim),
        MODEL_ACT(dukv, lat * Nw * 2 * H * dh), MODEL_ACT(dfch, N * c->mlp_hidden), MODEL_ACT(attn_scratch, attention_scratch_size(B, T, T + K, &core)),
        MODEL_ACT(dmos_q, mos * N * C), MODEL_ACT(dmos_k, mos * Nw * C), MODEL_ACT(dmos_v, mos * Nw * C),
        MODEL_ACT(dmos_s, (mos ? Nw : pm * N) * C), MODEL_ACT(dpm, pm * N * C),
        MODEL_ACT(pmem_scratch, pm ? pmem_scratch_size((int)N, c->pmem_size, (int)C) : 0)};
    int count = (int)(sizeof(list) / sizeof(list[0]));
    memcpy(s, list, sizeof(list));
    return count;
}

// Points the real* fields of `base` named by specs[0..n) at consecutive runs of memory (NULL for an empty
// one); returns the elements used. memory NULL: just count.
static size_t point_activations(void* base, const ActivationSpec* specs, int n, real* memory) {
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        *(real**)((char*)base + specs[i].offset) = memory && specs[i].size ? memory + used : NULL;
        used += specs[i].size;
    }
    return used;
}

// ----------------------------------------------------------------------------
// the model: parameters, gradients, optimizer state and activations on the trainer's device

typedef struct {
    GPTConfig config;
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    size_t num_parameters;
    ParameterTensors params, grads;
    real *params_memory, *grads_memory;
    // optimizer state in units (llmc/distributed.h): AdamW's moments, or Muon's momentum in m, each unit
    // packed; under ZeRO-1 this process keeps and updates only the units it owns
    OptimizerPlan plan;
    real *m_memory, *v_memory;
    real* muon_scratch; // the largest Muon unit's working space
    real* unit_scratch; // one unit's state, which its owner broadcasts when a checkpoint gathers them
    real *rope_cos, *rope_sin; // (maxT, dR/2), NULL without RoPE
    // activations, sized once for (B, T) by gpt_allocate_activations
    int batch_size, seq_len;
    ActivationTensors acts;
    real* acts_memory;
    int *tokens, *targets;   // (B, T) where the layers read them (tokens_upload)
    const int* tokens_host;  // the last forward's inputs, for the embedding backward
    const int* targets_used; // the last forward's targets where the layers read them, NULL without
    float mean_loss;         // of the last forward with targets
    // --carry K (online training): each lane keeps its last K positions' kv rows in every layer (the blocks'
    // `memory`) for the next segment's attention; set carry before gpt_allocate_activations
    int carry;        // K (0: no memory)
    int carry_held;   // M: rows each lane's memory holds now, min(K, positions seen)
    int window;       // memory rows the last forward attended to (-1: a plain forward without memory)
} GPT;

// Dies, with the figures, when `bytes` would not fit in the trainer's memory.
static void gpt_check_memory(double bytes, const char* what, const char* hint) {
    double have = device_memory_bytes();
    if (have > 0 && bytes > have) {
        die_hint(hint, "%s need %.1f GiB, but %s has %.1f GiB of memory", what, bytes / 1073741824.0, DEVICE_NAME, have / 1073741824.0);
    }
}

// Allocates zero-filled parameters and gradients (one block each) for a config and the RoPE tables;
// gpt_setup_optimizer adds the optimizer state, gpt_allocate_activations the activations.
static void gpt_build(GPT* model, const GPTConfig* config) {
    memset(model, 0, sizeof(*model));
    model->config = *config;
    gpt_param_specs(config, model->specs);
    model->num_parameters = gpt_num_parameters(config);
    gpt_check_memory(2.0 * model->num_parameters * sizeof(real), "the parameters and their gradients",
                     "choose a smaller model (--layers, --channels, --mlp-hidden, --latent-dim, --q-rank)");
    model->params_memory = tensor_alloc(model->num_parameters);
    model->grads_memory = tensor_alloc(model->num_parameters);
    point_parameters(&model->params, model->specs, model->params_memory);
    point_parameters(&model->grads, model->specs, model->grads_memory);
    if (config->rope_dim > 0) { // frequencies theta^(-2i/dR) over the rotated width, in double on the host
        int half = config->rope_dim / 2;
        size_t n = (size_t)config->max_seq_len * half;
        real* host = (real*)mallocCheck(2 * n * sizeof(real)); // cos | sin
        for (int p = 0; p < config->max_seq_len; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * pow((double)config->rope_theta, -2.0 * i / config->rope_dim);
                host[p * half + i] = (real)cos(angle);
                host[n + p * half + i] = (real)sin(angle);
            }
        }
        model->rope_cos = tensor_alloc(n);
        model->rope_sin = tensor_alloc(n);
        tensor_upload(model->rope_cos, host, n);
        tensor_upload(model->rope_sin, host + n, n);
        free(host);
    }
}

static void gpt_free(GPT* model) {
    real* buffers[] = {model->params_memory, model->grads_memory, model->m_memory,   model->v_memory, model->muon_scratch,
                       model->unit_scratch,  model->rope_cos,     model->rope_sin,   model->acts_memory};
    for (size_t i = 0; i < sizeof(buffers) / sizeof(buffers[0]); i++) tensor_free(buffers[i]);
    tokens_free(model->tokens);
    tokens_free(model->targets);
    free(model->acts.blocks);
}

// GPT-2 init (llmc/gpt.h): the same draws in both trainers for the same seed
static void gpt_init_random(GPT* model, uint64_t seed) {
    real* host = (real*)mallocCheck(model->num_parameters * sizeof(real));
    gpt_init_params(host, sizeof(real), &model->config, seed);
    tensor_upload(model->params_memory, host, model->num_parameters);
    free(host);
}

// Sizes and allocates the training activations (one block) for micro-batches of (B, T).
static void gpt_allocate_activations(GPT* model, int B, int T) {
    const GPTConfig* c = &model->config;
    if (T > c->max_seq_len) {
        die_hint("lower -t, or train a model with a larger --max-seq-len", "sequence length -t %d exceeds the model's maximum %d", T,
                 c->max_seq_len);
    }
    if (T + model->carry > c->max_seq_len) { // the window's positions
        die_hint("lower --carry or -t, or train a model with a larger --max-seq-len",
                 "--carry %d + -t %d = %d positions exceed the model's maximum sequence length %d", model->carry, T, T + model->carry,
                 c->max_seq_len);
    }
    ActivationSpec block[MAX_ACTIVATIONS], outside[MAX_ACTIVATIONS];
    int K = model->carry, nb = block_activation_specs(c, B, T, T + K, 0, block), no = model_activation_specs(c, B, T, K, outside);
    ActivationTensors* a = &model->acts;
    a->blocks = (BlockActivations*)callocCheck(c->num_layers, sizeof(BlockActivations));
    size_t per_block = point_activations(&a->blocks[0], block, nb, NULL), total = point_activations(a, outside, no, NULL);
    total += per_block * c->num_layers;
    char what[128];
    snprintf(what, sizeof(what), "the parameters, gradients, optimizer state and activations for B=%d T=%d", B, T);
    gpt_check_memory(((double)total + 2.0 * model->num_parameters + 2.0 * model->plan.state_size) * sizeof(real), what,
                     "lower -b (use -d for the same tokens per step) or -t, or choose a smaller model");
    model->acts_memory = tensor_alloc(total);
    real* next = model->acts_memory + point_activations(a, outside, no, model->acts_memory);
    for (int l = 0; l < c->num_layers; l++) next += point_activations(&a->blocks[l], block, nb, next);
    model->tokens = tokens_alloc((size_t)B * T);
    model->targets = tokens_alloc((size_t)B * T);
    model->batch_size = B;
    model->seq_len = T;
    model->carry_held = 0;
    model->window = -1;
}

// ----------------------------------------------------------------------------
// attention of each variant: from ln1 (N,C) to atty (N,H*dh)

// -- MHA, GQA, MQA and GTA: one fused projection x -> [q (H heads) | kv part]. The kv part ([K | V], or
// GTA's [S | kr]) is exactly what the KV cache keeps for a token.

// RoPE on kv parts (B,T rows, row_stride apart) at positions pos0..: every key head's first dR dims
// (MHA/GQA/MQA) or the one RoPE key (GTA). backward: the inverse.
static void fused_rope_keys(const GPT* model, real* kv, int row_stride, int B, int T, int pos0, int backward) {
    const GPTConfig* c = &model->config;
    FusedLayout f = fused_layout(c, row_stride);
    (backward ? rope_backward : rope_forward)(kv + f.k_rope, model->rope_cos, model->rope_sin, B, T, pos0, f.k_rope_heads, row_stride,
                                              c->head_dim, c->rope_dim);
}

// RoPE on the fused rows (B,T,Dqkv) at positions pos0..: the rotated slice of each query head, then the keys
static void fused_rope(const GPT* model, real* qkv, int B, int T, int pos0, int backward) {
    const GPTConfig* c = &model->config;
    if (c->rope_dim == 0) return;
    FusedLayout f = fused_layout(c, qkv_width(c));
    int H = c->num_heads, dh = c->head_dim, Dqkv = qkv_width(c);
    (backward ? rope_backward : rope_forward)(qkv + f.q_rope, model->rope_cos, model->rope_sin, B, T, pos0, H, Dqkv, dh, c->rope_dim);
    fused_rope_keys(model, qkv + H * dh, Dqkv, B, T, pos0, backward);
}

// --carry: the segment's rows (B*T, row_stride apart) into the window's segment rows, `width` columns from
// window_cols (a pointer into acts->window (B, M+T, E), M = model->window)
static void rows_to_window(const GPT* model, real* window_cols, const real* rows, int row_stride, int width, int B, int T) {
    int M = model->window, Tk = M + T, E = (int)gpt_kv_elements_per_token_layer(&model->config);
    for (int b = 0; b < B; b++) tensor_copy_rows(window_cols + ((size_t)b * Tk + M) * E, E, rows + (size_t)b * T * row_stride, row_stride, T, width);
}

// the reverse, for the backward: the segment's rows of the window's gradient (window_cols into dwindow) into
// rows; the memory's rows are dropped, as the memory is a constant
static void window_grads_to_rows(const GPT* model, real* rows, int row_stride, const real* window_cols, int width, int B, int T) {
    int M = model->window, Tk = M + T, E = (int)gpt_kv_elements_per_token_layer(&model->config);
    for (int b = 0; b < B; b++) tensor_copy_rows(rows + (size_t)b * T * row_stride, row_stride, window_cols + ((size_t)b * Tk + M) * E, E, T, width);
}

// --carry: lays each lane's M = model->window memory rows and the segment's rows (their first `width` of E
// columns, row_stride apart in `rows`; kv parts or latents before RoPE) side by side in acts->window
// (B, M+T, E), then keeps the window's last K rows as the memory for the next segment. The caller rotates the
// window at positions 0..M+T-1, so that the segment (queries at M..) continues its memory's positions.
static void fill_window(const GPT* model, BlockActivations* acts, const real* rows, int row_stride, int width, int B, int T) {
    int M = model->window, K = model->carry, Tk = M + T, E = (int)gpt_kv_elements_per_token_layer(&model->config);
    size_t lane = gpt_carry_lane_size(&model->config, K);
    tensor_copy_rows(acts->window, (size_t)Tk * E, acts->memory, lane, B, (size_t)M * E);
    rows_to_window(model, acts->window, rows, row_stride, width, B, T);
    int keep = Tk < K ? Tk : K;
    tensor_copy_rows(acts->memory, lane, acts->window + (size_t)(Tk - keep) * E, (size_t)Tk * E, B, (size_t)keep * E);
}

// ln1 -> atty through the fused projection, at positions pos0.. . Training: keys and values are the rows' own
// kv parts, or with a memory (model->window = M >= 0, pos0 = M) the window of M memory rows and the
// segment's. With a cache (B, maxT, E) this decodes one row per sequence at pos0 (T = 1): each row's kv part
// is appended to its sequence's cache, which its attention reads.
static void fused_attention_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int T, int pos0,
                                    real* cache) {
    const GPTConfig* c = &model->config;
    int H = c->num_heads, dh = c->head_dim, Dqkv = qkv_width(c), E = (int)gpt_kv_elements_per_token_layer(c);
    matmul_forward(acts->qkv, acts->ln1, p->qkvw, p->qkvb, B * T, c->channels, Dqkv);
    int carried = cache == NULL && model->window >= 0;
    if (carried) {
        fill_window(model, acts, acts->qkv + H * dh, Dqkv, E, B, T);
        if (c->rope_dim > 0) fused_rope_keys(model, acts->window, E, B, pos0 + T, 0, 0);
    }
    fused_rope(model, acts->qkv, B, T, pos0, 0);
    if (cache == NULL) {
        FusedLayout f = fused_layout(c, carried ? E : Dqkv);
        const real* kv = carried ? acts->window : acts->qkv + H * dh;
        attention_forward(acts->atty, acts->att, acts->qkv, kv + f.k1, f.k2 >= 0 ? kv + f.k2 : NULL, kv + f.v, B, T, carried ? pos0 + T : T,
                          &f.dims);
        return;
    }
    FusedLayout f = fused_layout(c, E);
    for (int b = 0; b < B; b++) {
        real* kv = cache + (size_t)b * c->max_seq_len * E;
        tensor_copy(kv + (size_t)pos0 * E, acts->qkv + (size_t)b * Dqkv + H * dh, E);
        attention_forward(acts->atty + (size_t)b * H * dh, acts->att + b * attention_state_size(1, H, 1, c->max_seq_len),
                          acts->qkv + (size_t)b * Dqkv, kv + f.k1, f.k2 >= 0 ? kv + f.k2 : NULL, kv + f.v, 1, 1, pos0 + 1, &f.dims);
    }
}

// datty -> dln (written), accumulating the projection's weight gradients into g. With a memory the core's key
// and value gradients go to the window, whose segment rows are the kv parts' gradient: the memory's are
// dropped, as the memory is a constant.
static void fused_attention_backward(GPT* model, const ParameterTensors* p, const ParameterTensors* g, const BlockActivations* acts,
                                     int B, int T) {
    const GPTConfig* c = &model->config;
    ActivationTensors* s = &model->acts;
    int N = B * T, H = c->num_heads, dh = c->head_dim, Dqkv = qkv_width(c), E = (int)gpt_kv_elements_per_token_layer(c);
    int carried = model->window >= 0, M = carried ? model->window : 0, Tk = M + T;
    FusedLayout f = fused_layout(c, carried ? E : Dqkv);
    const real* kv = carried ? acts->window : acts->qkv + H * dh;
    real* dkv = carried ? s->dwindow : s->dqkv + H * dh;
    // atty = attention(rope(qkv)): the core accumulates into the kv part (or the window)
    tensor_zero(s->dqkv, (size_t)N * Dqkv);
    if (carried) tensor_zero(s->dwindow, (size_t)B * Tk * E);
    attention_backward(s->dqkv, dkv + f.k1, f.k2 >= 0 ? dkv + f.k2 : NULL, dkv + f.v, s->attn_scratch, s->datty, acts->atty, acts->att,
                       acts->qkv, kv + f.k1, f.k2 >= 0 ? kv + f.k2 : NULL, kv + f.v, B, T, carried ? Tk : T, &f.dims);
    if (carried) window_grads_to_rows(model, s->dqkv + H * dh, Dqkv, s->dwindow, E, B, T);
    fused_rope(model, s->dqkv, B, T, M, 1);
    // qkv = ln1 @ qkvw^T + qkvb
    matmul_backward(s->dln, g->qkvw, g->qkvb, s->dqkv, acts->ln1, p->qkvw, N, c->channels, Dqkv);
}

// -- MLA and GLA: queries (through a normalised low-rank bottleneck unless rq = 0), and a latent of n
// normalised groups plus one RoPE key; group g up-projects into k_nope and v for its H/n heads.

// ln1 -> q (N, H*(dh+dR)), rotated at positions pos0..
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

// ln1 -> atty for training, queries at positions pos0..: keys and values materialised per head, group by
// group, from the latents; with a memory (model->window = M >= 0, pos0 = M) from the window of M memory
// latents and the segment's, Nw = B*(M+T) rows
static void latent_attention_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int T, int pos0) {
    const GPTConfig* c = &model->config;
    int N = B * T, n = c->latent_groups, dc = c->latent_dim, Hg = c->num_heads / n, dh = c->head_dim;
    int dR = c->rope_dim, Dlat = latent_width(c), carried = model->window >= 0, Tk = carried ? pos0 + T : T, Nw = B * Tk;
    latent_queries_forward(model, p, acts, B, T, pos0);
    matmul_forward(acts->kvlat, acts->ln1, p->dkvw, p->dkvb, N, c->channels, Dlat);
    if (carried) fill_window(model, acts, acts->kvlat, Dlat, Dlat, B, T);
    real* lat = carried ? acts->window : acts->kvlat;
    rope_forward(lat + n * dc, model->rope_cos, model->rope_sin, B, Tk, 0, 1, Dlat, dR, dR);
    AttentionDims d = latent_group_dims(c);
    size_t att_per_group = attention_state_size(B, Hg, T, Tk);
    for (int g = 0; g < n; g++) {
        real* cg = acts->kvlat_norm + (size_t)g * Nw * dc;
        real* ukv = acts->ukv + (size_t)g * Nw * Hg * 2 * dh;
        rmsnorm_forward(cg, acts->kvlat_rstd + (size_t)g * Nw, lat + g * dc, p->kvnormw + g * dc, Nw, dc, Dlat);
        matmul_forward(ukv, cg, p->ukvw + (size_t)g * Hg * 2 * dh * dc, p->ukvb ? p->ukvb + g * Hg * 2 * dh : NULL, Nw, dc, Hg * 2 * dh);
        attention_forward(acts->atty + g * Hg * dh, acts->att + g * att_per_group, acts->q + g * Hg * (dh + dR), ukv, lat + n * dc,
                          ukv + Hg * dh, B, T, Tk, &d);
    }
}

// datty -> dln (written), accumulating the weight gradients into g. With a memory the window's latents get
// the gradients of keys and values (the up-projection and its norm run over the memory's rows too); only
// the segment's rows go on to dkvlat.
static void latent_attention_backward(GPT* model, const ParameterTensors* p, const ParameterTensors* g, const BlockActivations* acts,
                                      int B, int T) {
    const GPTConfig* c = &model->config;
    ActivationTensors* s = &model->acts;
    int N = B * T, C = c->channels, n = c->latent_groups, dc = c->latent_dim, Hg = c->num_heads / n, dh = c->head_dim;
    int dR = c->rope_dim, Dlat = latent_width(c), rq = c->q_rank, Dq = c->num_heads * (dh + dR);
    int carried = model->window >= 0, M = carried ? model->window : 0, Tk = M + T, Nw = B * Tk;
    const real* lat = carried ? acts->window : acts->kvlat;
    real* dlat = carried ? s->dwindow : s->dkvlat;
    // atty = attention per group; the core accumulates into dukv and the RoPE key's gradient
    tensor_zero(dlat, (size_t)Nw * Dlat);
    tensor_zero(s->dukv, (size_t)Nw * 2 * c->num_heads * dh);
    AttentionDims d = latent_group_dims(c);
    size_t att_per_group = attention_state_size(B, Hg, T, Tk);
    for (int grp = 0; grp < n; grp++) {
        const real* ukv = acts->ukv + (size_t)grp * Nw * Hg * 2 * dh;
        real* dukv = s->dukv + (size_t)grp * Nw * Hg * 2 * dh;
        attention_backward(s->dq + grp * Hg * (dh + dR), dukv, dlat + n * dc, dukv + Hg * dh, s->attn_scratch, s->datty + grp * Hg * dh,
                           acts->atty + grp * Hg * dh, acts->att + grp * att_per_group, acts->q + grp * Hg * (dh + dR), ukv, lat + n * dc,
                           ukv + Hg * dh, B, T, Tk, &d);
    }
    rope_backward(s->dq + dh, model->rope_cos, model->rope_sin, B, T, M, c->num_heads, Dq, dh + dR, dR);
    rope_backward(dlat + n * dc, model->rope_cos, model->rope_sin, B, Tk, 0, 1, Dlat, dR, dR);
    // ukv_g = rmsnorm(c_g) @ ukvw_g^T + ukvb_g, c_g the group's slice of the latents
    for (int grp = 0; grp < n; grp++) {
        size_t w = (size_t)grp * Hg * 2 * dh;
        matmul_backward(s->dkvlat_norm, g->ukvw + w * dc, g->ukvb ? g->ukvb + w : NULL, s->dukv + (size_t)grp * Nw * Hg * 2 * dh,
                        acts->kvlat_norm + (size_t)grp * Nw * dc, p->ukvw + w * dc, Nw, dc, Hg * 2 * dh);
        rmsnorm_backward(dlat + grp * dc, g->kvnormw + grp * dc, s->dkvlat_norm, lat + grp * dc, p->kvnormw + grp * dc,
                         acts->kvlat_rstd + (size_t)grp * Nw, Nw, dc, Dlat);
    }
    if (carried) window_grads_to_rows(model, s->dkvlat, Dlat, s->dwindow, Dlat, B, T);
    // kvlat = ln1 @ dkvw^T + dkvb
    matmul_backward(s->dln, g->dkvw, g->dkvb, s->dkvlat, acts->ln1, p->dkvw, N, C, Dlat);
    // q = rmsnorm(ln1 @ dqw^T + dqb) @ uqw^T + uqb, or ln1 @ qw^T + qb; its share of dln1 adds to the latent's
    if (rq > 0) {
        matmul_backward(s->dqlat_norm, g->uqw, g->uqb, s->dq, acts->qlat_norm, p->uqw, N, rq, Dq);
        tensor_zero(s->dqlat, (size_t)N * rq);
        rmsnorm_backward(s->dqlat, g->qnormw, s->dqlat_norm, acts->qlat, p->qnormw, acts->qlat_rstd, N, rq, rq);
        matmul_backward(s->dln_q, g->dqw, g->dqb, s->dqlat, acts->ln1, p->dqw, N, C, rq);
    } else {
        matmul_backward(s->dln_q, g->qw, g->qb, s->dq, acts->ln1, p->qw, N, C, Dq);
    }
    residual_forward(s->dln, s->dln, s->dln_q, (size_t)N * C);
}

// Decoding one token per sequence at pos without materialising any key or value: a cache row (of B, maxT)
// holds the normalised latent groups and the rotated RoPE key. Each head's query is absorbed into its
// group's key up-projection, q~ = W_uk,h^T q_nope (the key bias shifts all of a head's scores equally, so
// softmax ignores it), attention runs over the latents themselves, and the head's output is
// W_uv,h (sum_t p_t c_t) + b_v,h (the weights sum to one, so the value bias passes through).
static void latent_attention_decode(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int pos, real* cache) {
    const GPTConfig* c = &model->config;
    int C = c->channels, H = c->num_heads, n = c->latent_groups, dc = c->latent_dim, Hg = H / n, dh = c->head_dim;
    int dR = c->rope_dim, Dlat = latent_width(c), Dq = H * (dh + dR);
    latent_queries_forward(model, p, acts, B, 1, pos);
    matmul_forward(acts->kvlat, acts->ln1, p->dkvw, p->dkvb, B, C, Dlat);
    AttentionDims d = latent_decode_dims(c);
    for (int b = 0; b < B; b++) {
        real* seq = cache + (size_t)b * c->max_seq_len * Dlat;
        real* row = seq + (size_t)pos * Dlat;
        const real* kvlat = acts->kvlat + (size_t)b * Dlat;
        for (int g = 0; g < n; g++) rmsnorm_forward(row + g * dc, NULL, kvlat + g * dc, p->kvnormw + g * dc, 1, dc, Dlat);
        tensor_copy(row + n * dc, kvlat + n * dc, dR);
        rope_forward(row + n * dc, model->rope_cos, model->rope_sin, 1, 1, pos, 1, Dlat, dR, dR);
        real* qa = acts->q_absorbed + (size_t)b * H * (dc + dR);
        real* ctx = acts->ctx + (size_t)b * H * dc;
        absorb_queries(qa, acts->q + (size_t)b * Dq, p->ukvw, H, Hg, dh, dR, dc); // q~_h = [W_uk,h^T q_nope,h | q_rope,h]
        attention_forward(ctx, acts->att + b * attention_state_size(1, H, 1, c->max_seq_len), qa, seq, seq + n * dc, seq, 1, 1, pos + 1, &d);
        for (int h = 0; h < H; h++) { // o_h = W_uv,h ctx_h + b_v,h
            size_t v_row = (size_t)(h / Hg) * Hg * 2 * dh + (size_t)Hg * dh + (size_t)(h % Hg) * dh;
            matmul_forward(acts->atty + ((size_t)b * H + h) * dh, ctx + (size_t)h * dc, p->ukvw + v_row * dc,
                           p->ukvb ? p->ukvb + v_row : NULL, 1, dc, dh);
        }
    }
}

// -- Memory Mosaics (docs/design.md §2.2): a contextual memory in place of attention, whose keys are a leaky
// average of key features over the past and whose values look one token ahead; and a persistent memory in
// place of the MLP. No positions: the leaky averages carry them.

// ln1 -> atty for training. qkv holds the features [k~ | v~] (N, 2C); y_t = sum_{tau < t} softmax(k_t . k_tau)
// v_tau, y_0 = 0: the core runs each sequence's queries k_1.. against its keys k_0.. one row behind.
// With a memory (model->window = M >= 0): each lane's window (B, M+T, 2C) holds rows [S | v~], the memory's M
// then the segment's, whose sums continue from the memory's last. Keys and values are made over the whole
// window with the current weights (the memory's last value looks ahead into the segment), and every query of
// the segment reads all earlier rows of the window: T queries against M+T-1 keys.
static void mosaic_attention_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int T) {
    const GPTConfig* c = &model->config;
    int N = B * T, C = c->channels, H = c->num_heads, dh = c->head_dim, E = 2 * C;
    int carried = model->window >= 0, M = carried ? model->window : 0, Tk = M + T;
    matmul_forward(acts->qkv, acts->ln1, p->qkvw, p->qkvb, N, C, 2 * C);
    const real* S0 = M > 0 ? acts->memory + (size_t)(M - 1) * E : NULL; // the memory's last sums, before fill_window moves it on
    leaky_average_forward(acts->mos_s, acts->qkv, S0, p->ctx_beta, B, T, H, dh, 2 * C, (int)gpt_carry_lane_size(c, model->carry));
    const real *S = acts->mos_s, *vt = acts->qkv + C; // rows of the sums and the value features, stride apart
    int stride = carried ? E : C, vt_stride = E;
    if (carried) {
        rows_to_window(model, acts->window + C, acts->qkv + C, 2 * C, C, B, T);
        fill_window(model, acts, acts->mos_s, C, C, B, T);
        S = acts->window, vt = acts->window + C;
    }
    head_scale_forward(acts->mos_k, acts->mos_knorm, S, p->ctx_kscale, B * Tk, H, dh, stride, 10, 5);
    value_shift_forward(acts->mos_vp, vt, p->ctx_vcoef, B, Tk, H, dh, vt_stride);
    head_scale_forward(acts->mos_v, acts->mos_vnorm, acts->mos_vp, p->ctx_vscale, B * Tk, H, dh, C, 10, INFINITY);
    AttentionDims d = mosaic_dims(c);
    int first = M > 0 ? 0 : 1, Tq = T - first; // without a memory, y_0 has nothing earlier to read
    size_t att = attention_state_size(1, H, Tq, Tk - 1), lane = (size_t)Tk * C;
    for (int b = 0; b < B; b++) {
        if (first) tensor_zero(acts->atty + (size_t)b * T * C, C);
        if (Tq > 0) {
            attention_forward(acts->atty + ((size_t)b * T + first) * C, acts->att + b * att, acts->mos_k + b * lane + (size_t)(M + first) * C,
                              acts->mos_k + b * lane, NULL, acts->mos_v + b * lane, 1, Tq, Tk - 1, &d);
        }
    }
}

// datty -> dln (written), accumulating the weight gradients into g (through the memory's rows too, which
// the current weights scale and mix)
static void mosaic_attention_backward(GPT* model, const ParameterTensors* p, const ParameterTensors* g, const BlockActivations* acts,
                                      int B, int T) {
    const GPTConfig* c = &model->config;
    ActivationTensors* s = &model->acts;
    int N = B * T, C = c->channels, H = c->num_heads, dh = c->head_dim, E = 2 * C;
    int carried = model->window >= 0, M = carried ? model->window : 0, Tk = M + T, Nw = B * Tk;
    AttentionDims d = mosaic_dims(c);
    int first = M > 0 ? 0 : 1, Tq = T - first;
    size_t att = attention_state_size(1, H, Tq, Tk - 1), lane = (size_t)Tk * C;
    // y = attention(k, k, v) one row behind: the keys' gradient as queries (written) and as keys (accumulated)
    tensor_zero(s->dmos_k, (size_t)Nw * C);
    tensor_zero(s->dmos_v, (size_t)Nw * C);
    for (int b = 0; b < B; b++) {
        size_t q = ((size_t)b * T + first) * C;
        if (first) tensor_zero(s->dmos_q + (size_t)b * T * C, C);
        if (Tq > 0) {
            attention_backward(s->dmos_q + q, s->dmos_k + b * lane, NULL, s->dmos_v + b * lane, s->attn_scratch, s->datty + q,
                               acts->atty + q, acts->att + b * att, acts->mos_k + b * lane + (size_t)(M + first) * C,
                               acts->mos_k + b * lane, NULL, acts->mos_v + b * lane, 1, Tq, Tk - 1, &d);
        }
        real* dk = s->dmos_k + b * lane + (size_t)M * C; // the segment's keys are its queries too
        residual_forward(dk, dk, s->dmos_q + (size_t)b * T * C, (size_t)T * C);
    }
    // k = scale(S) over the window: the sums' gradient, of which the segment's rows go on into the leaky sum
    const real *S = carried ? acts->window : acts->mos_s, *vt = carried ? acts->window + C : acts->qkv + C;
    real* dS = carried ? s->dwindow : s->dmos_s;
    head_scale_backward(dS, g->ctx_kscale, s->dmos_k, acts->mos_k, acts->mos_knorm, S, p->ctx_kscale, Nw, H, dh, carried ? E : C, 10, 5);
    if (carried) window_grads_to_rows(model, s->dmos_s, C, s->dwindow, C, B, T);
    const real* S0 = M > 0 ? acts->window + (size_t)(M - 1) * E : NULL; // S_{-1}: the memory's last sums, a constant
    leaky_average_backward(s->dqkv, g->ctx_beta, s->dmos_s, acts->mos_s, S0, p->ctx_beta, B, T, H, dh, 2 * C, Tk * E);
    // v = scale(shift(v~)) over the window; the segment's rows of v~'s gradient land in dqkv's second half
    head_scale_backward(s->dmos_s, g->ctx_vscale, s->dmos_v, acts->mos_v, acts->mos_vnorm, acts->mos_vp, p->ctx_vscale, Nw, H, dh, C, 10,
                        INFINITY);
    value_shift_backward(carried ? s->dwindow + C : s->dqkv + C, g->ctx_vcoef, s->dmos_s, vt, p->ctx_vcoef, B, Tk, H, dh, E);
    if (carried) window_grads_to_rows(model, s->dqkv + C, 2 * C, s->dwindow + C, C, B, T);
    // [k~ | v~] = ln1 @ qkvw^T + qkvb
    matmul_backward(s->dln, g->qkvw, g->qkvb, s->dqkv, acts->ln1, p->qkvw, N, C, 2 * C);
}

// One step of B sequences at pos with a layer's cache (B, maxT, 2C: each position's key, then its value,
// which the next token completes) and state (B, 2C: the key sums, then the last value features).
static void mosaic_attention_decode(const GPT* model, const ParameterTensors* p, BlockActivations* acts, int B, int pos, real* cache,
                                    real* state) {
    const GPTConfig* c = &model->config;
    int C = c->channels, H = c->num_heads, dh = c->head_dim, E = 2 * C;
    matmul_forward(acts->qkv, acts->ln1, p->qkvw, p->qkvb, B, C, 2 * C);
    AttentionDims d = mosaic_dims(c);
    d.k1_stride = d.v_stride = E;
    real *in = acts->mos_tmp, *out = acts->mos_tmp + 2 * C; // two rows each: the previous step's and this one's
    for (int b = 0; b < B; b++) {
        real *seq = cache + (size_t)b * c->max_seq_len * E, *st = state + (size_t)b * 2 * C;
        const real* kv = acts->qkv + (size_t)b * 2 * C;
        leaky_average_forward(st, kv, st, p->ctx_beta, 1, 1, H, dh, C, 0); // S_pos = e^{-beta} S_{pos-1} + k~_pos, in place
        head_scale_forward(seq + (size_t)pos * E, acts->mos_knorm, st, p->ctx_kscale, 1, H, dh, C, 10, 5);
        // v_{pos-1} needs v~_pos: the mix's first row of [v~_{pos-1} ; v~_pos]
        if (pos > 0) {
            tensor_copy(in, st + C, C);
            tensor_copy(in + C, kv + C, C);
            value_shift_forward(out, in, p->ctx_vcoef, 1, 2, H, dh, C);
            head_scale_forward(seq + (size_t)(pos - 1) * E + C, acts->mos_vnorm, out, p->ctx_vscale, 1, H, dh, C, 10, INFINITY);
        }
        tensor_copy(st + C, kv + C, C);
        real* y = acts->atty + (size_t)b * C;
        if (pos == 0) tensor_zero(y, C);
        else attention_forward(y, acts->att + b * attention_state_size(1, H, 1, c->max_seq_len), seq + (size_t)pos * E, seq, NULL, seq + C, 1, 1, pos, &d);
    }
}

// ln2 -> proj through the persistent memory, for B*T rows of training (state NULL) or one row per sequence
// of decoding (T = 1), whose leaky sums state (B, C) carries from step to step. With a memory (training with
// model->window = M >= 0) the sums continue from each lane's previous segment, kept after its memory rows.
static void pmem_block_forward(const GPT* model, const ParameterTensors* p, BlockActivations* acts, real* proj, int B, int T,
                               real* state) {
    const GPTConfig* c = &model->config;
    int N = B * T, C = c->channels, H = c->num_heads, dh = c->head_dim, M = state ? -1 : model->window;
    matmul_forward(acts->pm_kt, acts->ln2, p->pmem_kw, p->pmem_kb, N, C, C);
    if (state != NULL) { // S = e^{-beta} S + k~, in place
        leaky_average_forward(state, acts->pm_kt, state, p->pmem_beta, B, 1, H, dh, C, C);
        tensor_copy(acts->pm_s, state, (size_t)B * C);
    } else {
        size_t lane = gpt_carry_lane_size(c, model->carry);
        real* carried = M >= 0 ? acts->memory + lane - C : NULL; // each lane's sums, lane apart
        if (M > 0) tensor_copy_rows(acts->pm_s0, C, carried, lane, B, C);
        leaky_average_forward(acts->pm_s, acts->pm_kt, M > 0 ? acts->pm_s0 : NULL, p->pmem_beta, B, T, H, dh, C, C);
        if (M >= 0) tensor_copy_rows(carried, lane, acts->pm_s + (size_t)(T - 1) * C, (size_t)T * C, B, C);
    }
    head_scale_forward(acts->pm_k, acts->pm_knorm, acts->pm_s, p->pmem_kscale, N, H, dh, C, 20, 5);
    pmem_forward(acts->pm_y, acts->pm_lse, acts->pm_k, p->pmem_k, p->pmem_v, p->pmem_oscale, N, H, dh, c->pmem_size, c->pmem_count,
                 state ? acts->pm_scratch : model->acts.pmem_scratch);
    matmul_forward(proj, acts->pm_y, p->pmem_projw, p->pmem_projb, N, C, C);
}

// dresidual -> dln (written), accumulating the weight gradients into g
static void pmem_block_backward(GPT* model, const ParameterTensors* p, const ParameterTensors* g, const BlockActivations* acts, int B,
                                int T) {
    const GPTConfig* c = &model->config;
    ActivationTensors* s = &model->acts;
    int N = B * T, C = c->channels, H = c->num_heads, dh = c->head_dim;
    // proj = pm_y @ pmem_projw^T + b; pm_y = pmem(k); k = scale(leaky(k~)); k~ = ln2 @ pmem_kw^T + b
    matmul_backward(s->datty, g->pmem_projw, g->pmem_projb, s->dresidual, acts->pm_y, p->pmem_projw, N, C, C);
    pmem_backward(s->dpm, g->pmem_k, g->pmem_v, g->pmem_oscale, s->datty, acts->pm_y, acts->pm_lse, acts->pm_k, p->pmem_k, p->pmem_v,
                  p->pmem_oscale, N, H, dh, c->pmem_size, c->pmem_count, s->pmem_scratch);
    head_scale_backward(s->dmos_s, g->pmem_kscale, s->dpm, acts->pm_k, acts->pm_knorm, acts->pm_s, p->pmem_kscale, N, H, dh, C, 20, 5);
    leaky_average_backward(s->dpm, g->pmem_beta, s->dmos_s, acts->pm_s, model->window > 0 ? acts->pm_s0 : NULL, p->pmem_beta, B, T, H,
                           dh, C, C);
    matmul_backward(s->dln, g->pmem_kw, g->pmem_kb, s->dpm, acts->ln2, p->pmem_kw, N, C, C);
}

// ----------------------------------------------------------------------------
// the transformer block and the whole model

// One block forward on B*T rows at positions pos0.. (decoding: T = 1, one row per sequence, with this
// layer's cache (B, maxT, E) and state (B, gpt_decode_state_per_layer)). x (N,C) is the input; the output
// goes to acts->residual3, which may be x.
static void block_forward(const GPT* model, int l, BlockActivations* acts, real* proj, const real* x, int B, int T, int pos0,
                          real* cache, real* state) {
    const GPTConfig* c = &model->config;
    ParameterTensors p = layer_params(&model->params, model->specs, l);
    int N = B * T, C = c->channels, F = c->mlp_hidden, Dv = c->num_heads * c->head_dim;
    // x + attention
    layernorm_forward(acts->ln1, acts->ln1_mean, acts->ln1_rstd, x, p.ln1w, p.ln1b, N, C);
    if (c->attn == ATTN_MOSAIC && cache) mosaic_attention_decode(model, &p, acts, B, pos0, cache, state);
    else if (c->attn == ATTN_MOSAIC) mosaic_attention_forward(model, &p, acts, B, T);
    else if (!is_latent(c)) fused_attention_forward(model, &p, acts, B, T, pos0, cache);
    else if (cache) latent_attention_decode(model, &p, acts, B, pos0, cache);
    else latent_attention_forward(model, &p, acts, B, T, pos0);
    matmul_forward(proj, acts->atty, p.attprojw, p.attprojb, N, Dv, C);
    residual_forward(acts->residual2, x, proj, (size_t)N * C);
    // + MLP (or the persistent memory)
    layernorm_forward(acts->ln2, acts->ln2_mean, acts->ln2_rstd, acts->residual2, p.ln2w, p.ln2b, N, C);
    if (c->mlp == MLP_PMEM) {
        real* pmem_state = state ? state + (c->attn == ATTN_MOSAIC ? (size_t)B * 2 * C : 0) : NULL;
        pmem_block_forward(model, &p, acts, proj, B, T, pmem_state);
    } else {
        matmul_forward(acts->fch, acts->ln2, p.fcw, p.fcb, N, C, F);
        gelu_forward(acts->fch_gelu, acts->fch, (size_t)N * F);
        matmul_forward(proj, acts->fch_gelu, p.fcprojw, p.fcprojb, N, F, C);
    }
    residual_forward(acts->residual3, acts->residual2, proj, (size_t)N * C);
}

// The block's backward for training. dresidual (N,C) holds the gradient of the block's output and leaves
// holding the gradient of its input x.
static void block_backward(GPT* model, int l, const BlockActivations* acts, const real* x, int B, int T) {
    const GPTConfig* c = &model->config;
    ParameterTensors p = layer_params(&model->params, model->specs, l);
    ParameterTensors g = layer_params(&model->grads, model->specs, l);
    ActivationTensors* s = &model->acts;
    int N = B * T, C = c->channels, F = c->mlp_hidden, Dv = c->num_heads * c->head_dim;
    // residual3 = residual2 + fcproj(gelu(fc(ln2(residual2)))), or the persistent memory of ln2(residual2)
    if (c->mlp == MLP_PMEM) {
        pmem_block_backward(model, &p, &g, acts, B, T);
    } else {
        matmul_backward(s->dfch, g.fcprojw, g.fcprojb, s->dresidual, acts->fch_gelu, p.fcprojw, N, F, C);
        gelu_backward(s->dfch, acts->fch, s->dfch, (size_t)N * F);
        matmul_backward(s->dln, g.fcw, g.fcb, s->dfch, acts->ln2, p.fcw, N, C, F);
    }
    layernorm_backward(s->dresidual, g.ln2w, g.ln2b, s->dln, acts->residual2, p.ln2w, acts->ln2_mean, acts->ln2_rstd, N, C);
    // residual2 = x + attproj(attention(ln1(x)))
    matmul_backward(s->datty, g.attprojw, g.attprojb, s->dresidual, acts->atty, p.attprojw, N, Dv, C);
    if (c->attn == ATTN_MOSAIC) mosaic_attention_backward(model, &p, &g, acts, B, T);
    else if (is_latent(c)) latent_attention_backward(model, &p, &g, acts, B, T);
    else fused_attention_backward(model, &p, &g, acts, B, T);
    layernorm_backward(s->dresidual, g.ln1w, g.ln1b, s->dln, x, p.ln1w, acts->ln1_mean, acts->ln1_rstd, N, C);
}

// Forward over a batch at positions window.. (window >= 0: each lane's segment after the memory's `window`
// rows, which it attends to and then joins; -1: a plain forward at positions 0..). inputs, targets (B,T) on the
// host; targets may be NULL (no loss). Sets mean_loss.
static void gpt_forward_at(GPT* model, const int* inputs, const int* targets, int B, int T, int window) {
    const GPTConfig* c = &model->config;
    if (B > model->batch_size || T != model->seq_len) {
        die("forward with B=%d T=%d, but activations were allocated for B<=%d T=%d", B, T, model->batch_size, model->seq_len);
    }
    int N = B * T, C = c->channels, V = c->vocab_size, Vp = c->padded_vocab_size, pos0 = window > 0 ? window : 0;
    for (int i = 0; i < N; i++) {
        if (inputs[i] < 0 || inputs[i] >= V) die("token id %d at position %d is outside the vocabulary [0, %d)", inputs[i], i, V);
    }
    ActivationTensors* a = &model->acts;
    model->tokens_host = inputs;
    model->window = window;
    const int* tokens = tokens_upload(model->tokens, inputs, N);
    encoder_forward(a->encoded, tokens, model->params.wte, model->params.wpe ? model->params.wpe + (size_t)pos0 * C : NULL, B, T, C);
    for (int l = 0; l < c->num_layers; l++) {
        const real* x = l == 0 ? a->encoded : a->blocks[l - 1].residual3;
        block_forward(model, l, &a->blocks[l], a->proj, x, B, T, pos0, NULL, NULL);
    }
    if (window >= 0) model->carry_held = window + T < model->carry ? window + T : model->carry;
    const real* last = a->blocks[c->num_layers - 1].residual3;
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, model->params.lnfw, model->params.lnfb, N, C);
    matmul_forward(a->logits, a->lnf, model->params.wte, NULL, N, C, Vp);
    model->targets_used = NULL;
    if (targets != NULL) {
        model->targets_used = tokens_upload(model->targets, targets, N);
        crossentropy_forward(a->losses, a->lse, a->logits, model->targets_used, N, V, Vp);
        model->mean_loss = (float)(tensor_sum(a->losses, N) / N);
    }
}

// a plain forward: sequences of their own, at positions 0..T-1
static void gpt_forward(GPT* model, const int* inputs, const int* targets, int B, int T) { gpt_forward_at(model, inputs, targets, B, T, -1); }

// --carry: the next segment of each lane, attending to the memory of the positions before it
static void gpt_forward_carried(GPT* model, const int* inputs, const int* targets, int B, int T) {
    gpt_forward_at(model, inputs, targets, B, T, model->carry_held);
}

// Queues the average over the processes of layer l's gradients (l = -1: the tensors outside the blocks),
// once what the layers queued so far has written them.
static void gpt_mean_grads(GPT* model, Comm* comm, int l) {
    int L = model->config.num_layers;
    size_t at = 0;
    comm_grads_begin(comm);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const ParamSpec* s = &model->specs[i];
        if (s->numel > 0 && s->per_layer == (l >= 0)) {
            size_t n = s->per_layer ? s->numel / L : s->numel;
            comm_grads_mean(comm, model->grads_memory + at + (s->per_layer ? l * n : 0), n);
        }
        at += s->numel;
    }
    comm_grads_end(comm);
}

// Backward of the last forward (which had targets). Gradients accumulate into model->grads; the loss
// differentiated is grad_scale * mean loss (grad_scale = 1/accumulation steps). With `average` (a step's
// last micro-batch, several processes) each block's gradients are averaged over the processes as soon as
// its backward has written them, while the blocks below run theirs.
static void gpt_backward(GPT* model, float grad_scale, Comm* average) {
    const GPTConfig* c = &model->config;
    if (model->targets_used == NULL) die("gpt_backward needs a forward pass with targets first");
    int B = model->batch_size, T = model->seq_len, N = B * T, C = c->channels;
    ActivationTensors* a = &model->acts;
    // logits = lnf @ wte^T, losses = crossentropy(logits); dlogits overwrite the logits
    crossentropy_backward(a->logits, a->lse, a->logits, model->targets_used, (real)grad_scale / N, N, c->vocab_size, c->padded_vocab_size);
    matmul_backward(a->dln, model->grads.wte, NULL, a->logits, a->lnf, model->params.wte, N, C, c->padded_vocab_size);
    // lnf = layernorm(residual of the last block)
    tensor_zero(a->dresidual, (size_t)N * C);
    const real* last = a->blocks[c->num_layers - 1].residual3;
    layernorm_backward(a->dresidual, model->grads.lnfw, model->grads.lnfb, a->dln, last, model->params.lnfw, a->lnf_mean, a->lnf_rstd,
                       N, C);
    for (int l = c->num_layers - 1; l >= 0; l--) {
        const real* x = l == 0 ? a->encoded : a->blocks[l - 1].residual3;
        block_backward(model, l, &a->blocks[l], x, B, T);
        if (average) gpt_mean_grads(model, average, l);
    }
    // encoded = wte[inputs] + wpe[pos0..]
    size_t pos0 = model->window > 0 ? (size_t)model->window : 0;
    encoder_backward(model->grads.wte, model->grads.wpe ? model->grads.wpe + pos0 * C : NULL, a->dresidual, model->tokens_host, B, T, C);
    if (average) {
        gpt_mean_grads(model, average, -1);
        comm_grads_wait(average);
    }
}

static void gpt_zero_grad(GPT* model) { tensor_zero(model->grads_memory, model->num_parameters); }

static float gpt_grad_norm(const GPT* model) { return (float)sqrt(sum_squares(model->grads_memory, model->num_parameters)); }

// ----------------------------------------------------------------------------
// the optimizer step: AdamW, and Muon for the hidden matrices (with AdamW for the rest), unit by unit

// Divides the optimizer state into units, among the processes under ZeRO-1 (else every unit is every
// process's), and allocates this process's state and the scratch of its largest Muon unit.
static void gpt_setup_optimizer(GPT* model, int muon, int zero, const Dist* dist) {
    model->plan = optimizer_plan(&model->config, muon, zero, dist);
    model->m_memory = tensor_alloc(model->plan.state_size + 1);
    model->v_memory = tensor_alloc(model->plan.state_size + 1);
    size_t most_muon = 1;
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        if (!u->muon || !plan_owns(&model->plan, u)) continue;
        size_t need = muon_scratch_size(unit_runs(&model->config, u).runs, u->rows, (int)model->specs[u->tensor].shape[2]);
        most_muon = need > most_muon ? need : most_muon;
    }
    model->muon_scratch = tensor_alloc(most_muon);
    model->unit_scratch = tensor_alloc(plan_largest_unit(&model->plan));
}

// One optimizer step t (1-based): clip by the global norm (grad_clip > 0), then each unit: Muon with
// momentum mu on a hidden matrix's row block in every layer, or AdamW on a tensor (AdamW for every tensor
// without muon). Under ZeRO-1 a process updates the units it owns, then each owner broadcasts them.
static void gpt_optimizer_step(GPT* model, Comm* comm, const AdamWConfig* adamw, const MuonConfig* muon, float mu, float grad_norm,
                               float grad_clip, int t) {
    float scale = (grad_clip > 0.0f && grad_norm > grad_clip) ? grad_clip / grad_norm : 1.0f;
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        const ParamSpec* s = &model->specs[u->tensor];
        if (!plan_owns(&model->plan, u)) continue;
        real *m = model->m_memory + u->state_at, *v = model->v_memory + u->state_at;
        UnitRuns r = unit_runs(&model->config, u);
        if (u->muon) {
            muon_update(model->params_memory + r.first, model->grads_memory + r.first, m, r.runs, u->rows, (int)s->shape[2], r.stride,
                        muon, muon->lr, mu, scale, model->muon_scratch);
        } else {
            adamw_update(model->params_memory + r.first, model->grads_memory + r.first, m, v, r.run, adamw,
                         s->is_matrix ? adamw->weight_decay : 0.0f, scale, t);
        }
    }
    if (model->plan.zero_rank < 0) return;
    for (int k = 0; k < model->plan.num_units; k++) {
        UnitRuns r = unit_runs(&model->config, &model->plan.units[k]);
        for (int l = 0; l < r.runs; l++) comm_broadcast(comm, model->params_memory + r.first + l * r.stride, r.run, model->plan.units[k].owner);
    }
}

// The optimizer state in the parameter layout checkpoints use, on the host (m, v: parameter-shaped).
// Every process takes part: under ZeRO-1 each unit's state comes from its owner.
static void gpt_gather_optimizer_state(const GPT* model, Comm* comm, real* m, real* v) {
    real* unit = (real*)mallocCheck(plan_largest_unit(&model->plan) * sizeof(real));
    real* state[2] = {model->m_memory, model->v_memory};
    real* full[2] = {m, v};
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        for (int j = 0; j < 2; j++) {
            const real* src = state[j] + u->state_at;
            if (model->plan.zero_rank >= 0) { // the owner's copy, broadcast to everyone
                if (u->owner == model->plan.zero_rank) tensor_copy(model->unit_scratch, src, u->numel);
                comm_broadcast(comm, model->unit_scratch, u->numel, u->owner);
                src = model->unit_scratch;
            }
            tensor_download(unit, src, u->numel);
            unit_state_copy(&model->config, u, unit, full[j], sizeof(real), 1);
        }
    }
    free(unit);
}

// a checkpoint's optimizer state (parameter layout, on the host) into this process's units
static void gpt_scatter_optimizer_state(GPT* model, real* m, real* v) {
    real* unit = (real*)mallocCheck(plan_largest_unit(&model->plan) * sizeof(real));
    real* state[2] = {model->m_memory, model->v_memory};
    real* full[2] = {m, v};
    for (int k = 0; k < model->plan.num_units; k++) {
        const OptUnit* u = &model->plan.units[k];
        if (!plan_owns(&model->plan, u)) continue;
        for (int j = 0; j < 2; j++) {
            unit_state_copy(&model->config, u, unit, full[j], sizeof(real), 0);
            tensor_upload(state[j] + u->state_at, unit, u->numel);
        }
    }
    free(unit);
}

// ----------------------------------------------------------------------------
// decoding with a KV cache

typedef struct {
    const GPT* model;
    int batch;             // sequences decoded side by side, one token each per step
    real* cache;           // (L, batch, maxT, E): per token what each variant keeps
    real* state;           // (L, batch, gpt_decode_state_per_layer): what Memory Mosaics carry from token to token
    BlockActivations acts; // one row per sequence; att for (batch, H, maxT)
    real* x;               // (batch, C) the residual stream
    real* proj;            // (batch, C)
    real* lnf;             // (batch, C)
    real* logits;          // (batch, Vp)
    real* logits_host;     // (batch, Vp) on the host
    int* tokens;           // (batch,) where the layers read them
    real* memory;
} DecodeState;

static void decode_state_init(DecodeState* d, const GPT* model, int batch) {
    const GPTConfig* c = &model->config;
    size_t cache = (size_t)c->num_layers * batch * (c->max_seq_len * gpt_kv_elements_per_token_layer(c) + gpt_decode_state_per_layer(c));
    size_t C = c->channels, Vp = c->padded_vocab_size;
    ActivationSpec specs[MAX_ACTIVATIONS];
    int n = block_activation_specs(c, batch, 1, c->max_seq_len, 1, specs);
    size_t blocks = point_activations(&d->acts, specs, n, NULL);
    gpt_check_memory((cache + blocks + 3 * batch * C + batch * Vp) * sizeof(real) + 2.0 * model->num_parameters * sizeof(real),
                     "the parameters and the KV cache", "decode fewer sequences at once, or a model with a shorter --max-seq-len");
    d->model = model;
    d->batch = batch;
    d->memory = tensor_alloc(cache + blocks + 3 * batch * C + batch * Vp);
    d->cache = d->memory;
    d->state = d->cache + (size_t)c->num_layers * batch * c->max_seq_len * gpt_kv_elements_per_token_layer(c);
    point_activations(&d->acts, specs, n, d->cache + cache);
    d->x = d->cache + cache + blocks;
    d->proj = d->x + batch * C;
    d->lnf = d->proj + batch * C;
    d->logits = d->lnf + batch * C;
    d->logits_host = (real*)mallocCheck(batch * Vp * sizeof(real));
    d->tokens = tokens_alloc(batch);
}

static void decode_state_free(DecodeState* d) {
    tensor_free(d->memory);
    free(d->logits_host);
    tokens_free(d->tokens);
}

// One token per sequence (tokens (batch,)) at position pos through the model, appending to the caches; the
// next-token logits (batch, Vp) land on the host as floats.
static void gpt_decode_batch(DecodeState* d, const int* tokens, int pos, float* logits) {
    const GPT* model = d->model;
    const GPTConfig* c = &model->config;
    int B = d->batch, C = c->channels, Vp = c->padded_vocab_size;
    size_t layer_cache = (size_t)B * c->max_seq_len * gpt_kv_elements_per_token_layer(c), layer_state = B * gpt_decode_state_per_layer(c);
    const real* wpe = model->params.wpe ? model->params.wpe + (size_t)pos * C : NULL; // every sequence is at pos
    encoder_forward(d->x, tokens_upload(d->tokens, tokens, B), model->params.wte, wpe, B, 1, C);
    for (int l = 0; l < c->num_layers; l++) {
        d->acts.residual3 = d->x; // the block's output replaces its input
        block_forward(model, l, &d->acts, d->proj, d->x, B, 1, pos, d->cache + l * layer_cache, d->state + l * layer_state);
    }
    layernorm_forward(d->lnf, NULL, NULL, d->x, model->params.lnfw, model->params.lnfb, B, C);
    matmul_forward(d->logits, d->lnf, model->params.wte, NULL, B, C, Vp);
    tensor_download(d->logits_host, d->logits, (size_t)B * Vp);
    for (size_t i = 0; i < (size_t)B * Vp; i++) logits[i] = (float)d->logits_host[i];
}

// generate()'s decode step (llmc/run.h): one token of one sequence
static void gpt_decode_step(void* ctx, int token, int pos, float* logits) { gpt_decode_batch((DecodeState*)ctx, &token, pos, logits); }

// samples from the model as generate() describes, with a fresh KV cache
static int gpt_generate(const GPT* model, const Tokenizer* tok, const char* prompt, int n_gen, const SamplerConfig* sc, uint64_t* rng,
                        double* seconds) {
    DecodeState d;
    decode_state_init(&d, model, 1);
    int n = generate(&model->config, tok, prompt, n_gen, sc, rng, gpt_decode_step, &d, seconds);
    decode_state_free(&d);
    return n;
}

// ----------------------------------------------------------------------------
// loading: our checkpoint or an llm.c model file

// Loads a model for -e (weights only) or -y (weights and training state, read by the caller). Returns 1
// with the checkpoint open in *st, or 0 for an llm.c model file.
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
    real* host = (real*)mallocCheck(model->num_parameters * sizeof(real));
    if (ours) {
        StateBlock params = {"", host, NULL};
        checkpoint_read_block(st, &config, &params, REAL_DTYPE);
    } else {
        llmc_model_read_params(path, host, REAL_DTYPE);
    }
    tensor_upload(model->params_memory, host, model->num_parameters);
    free(host);
    return ours;
}

#endif // LLMC_MODEL_H
