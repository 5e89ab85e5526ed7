/*
The model's description, shared by both trainers: its configuration, the table of parameter tensors
(names, shapes, init, which are matrices), the checks that reject impossible configurations, and the
figures every run prints (parameter counts, KV-cache size, FLOPs per token). DESIGN.md section 2.

Shape legend: L layers, C channels (d_model), H query heads, Hkv key/value heads, dh = C/H head width,
F MLP hidden width, V vocabulary, Vp vocabulary padded to a multiple of 128, maxT longest sequence.

Parameters live in one block, in the order of the table below (llm.c's order, so llm.c model files
load tensor by tensor). Per-layer tensors are stacked: their first dimension is L.

    name      shape                        what
    wte       (Vp, C)                      token embedding, tied with the LM head
    wpe       (maxT, C)                    learned positions (only with --pos learned)
    ln1w/b    (L, C)                       LayerNorm before attention (bias only with --bias 1)
    qkvw      (L, (H + 2*Hkv)*dh, C)       fused q | k | v projection; head h of q at rows h*dh..
    qkvb      (L, (H + 2*Hkv)*dh)
    attprojw  (L, C, H*dh)                 attention output projection
    attprojb  (L, C)
    ln2w/b    (L, C)                       LayerNorm before the MLP
    fcw       (L, F, C), fcb (L, F)        MLP up projection
    fcprojw   (L, C, F), fcprojb (L, C)    MLP down projection
    lnfw/b    (C,)                         final LayerNorm
*/
#ifndef LLMC_GPT_H
#define LLMC_GPT_H

#include "utils.h"

typedef enum { ATTN_MHA, ATTN_GQA, ATTN_MQA } AttnType;
static const char* const attn_names[] = {"mha", "gqa", "mqa"};

typedef enum { POS_ROPE, POS_LEARNED } PosType;
static const char* const pos_names[] = {"rope", "learned"};

typedef struct {
    int max_seq_len;       // maxT
    int vocab_size;        // V
    int padded_vocab_size; // Vp
    int num_layers;        // L
    int num_heads;         // H
    int num_kv_heads;      // Hkv: H for MHA, 1 for MQA, k for GQA-k
    int channels;          // C
    int head_dim;          // dh = C / H
    int mlp_hidden;        // F
    AttnType attn;
    PosType pos;
    int bias;          // biases in qkv, attproj, fc, fcproj and the LayerNorms
    float rope_theta;  // RoPE base
} GPTConfig;

enum {
    P_WTE, P_WPE, P_LN1W, P_LN1B, P_QKVW, P_QKVB, P_ATTPROJW, P_ATTPROJB,
    P_LN2W, P_LN2B, P_FCW, P_FCB, P_FCPROJW, P_FCPROJB, P_LNFW, P_LNFB,
    NUM_PARAMETER_TENSORS
};

typedef enum { INIT_NORMAL, INIT_RESIDUAL_PROJ, INIT_ZEROS, INIT_ONES } InitKind;

typedef struct {
    const char* name;
    int ndim;
    int64_t shape[3]; // full shape, leading L for per-layer tensors
    size_t numel;     // 0 when this configuration has no such tensor
    int per_layer;
    int is_matrix;    // a 2-D weight matrix (per layer): weight decay applies
    InitKind init;
} ParamSpec;

static int name_index(const char* name, const char* const* names, int n) {
    for (int i = 0; i < n; i++) {
        if (strcmp(name, names[i]) == 0) return i;
    }
    return -1;
}
#define NAME_INDEX(name, table) name_index(name, table, (int)(sizeof(table) / sizeof(table[0])))

static int round_up(int x, int multiple) { return (x + multiple - 1) / multiple * multiple; }

// the rows of the fused qkv projection: H query heads, then Hkv key heads, then Hkv value heads
static int qkv_width(const GPTConfig* c) { return (c->num_heads + 2 * c->num_kv_heads) * c->head_dim; }

static void set_spec(ParamSpec* s, const char* name, int per_layer, int L, int64_t d0, int64_t d1, int present,
                     int is_matrix, InitKind init) {
    s->name = name;
    s->per_layer = per_layer;
    s->is_matrix = is_matrix;
    s->init = init;
    s->ndim = 0;
    if (per_layer) s->shape[s->ndim++] = L;
    s->shape[s->ndim++] = d0;
    if (d1 > 0) s->shape[s->ndim++] = d1;
    s->numel = 1;
    for (int i = 0; i < s->ndim; i++) s->numel *= (size_t)s->shape[i];
    if (!present) s->numel = 0;
}

static void gpt_param_specs(const GPTConfig* c, ParamSpec specs[NUM_PARAMETER_TENSORS]) {
    int L = c->num_layers, C = c->channels, F = c->mlp_hidden, Dq = c->num_heads * c->head_dim;
    int b = c->bias;
    set_spec(&specs[P_WTE], "wte", 0, L, c->padded_vocab_size, C, 1, 1, INIT_NORMAL);
    set_spec(&specs[P_WPE], "wpe", 0, L, c->max_seq_len, C, c->pos == POS_LEARNED, 0, INIT_NORMAL);
    set_spec(&specs[P_LN1W], "ln1w", 1, L, C, 0, 1, 0, INIT_ONES);
    set_spec(&specs[P_LN1B], "ln1b", 1, L, C, 0, b, 0, INIT_ZEROS);
    set_spec(&specs[P_QKVW], "qkvw", 1, L, qkv_width(c), C, 1, 1, INIT_NORMAL);
    set_spec(&specs[P_QKVB], "qkvb", 1, L, qkv_width(c), 0, b, 0, INIT_ZEROS);
    set_spec(&specs[P_ATTPROJW], "attprojw", 1, L, C, Dq, 1, 1, INIT_RESIDUAL_PROJ);
    set_spec(&specs[P_ATTPROJB], "attprojb", 1, L, C, 0, b, 0, INIT_ZEROS);
    set_spec(&specs[P_LN2W], "ln2w", 1, L, C, 0, 1, 0, INIT_ONES);
    set_spec(&specs[P_LN2B], "ln2b", 1, L, C, 0, b, 0, INIT_ZEROS);
    set_spec(&specs[P_FCW], "fcw", 1, L, F, C, 1, 1, INIT_NORMAL);
    set_spec(&specs[P_FCB], "fcb", 1, L, F, 0, b, 0, INIT_ZEROS);
    set_spec(&specs[P_FCPROJW], "fcprojw", 1, L, C, F, 1, 1, INIT_RESIDUAL_PROJ);
    set_spec(&specs[P_FCPROJB], "fcprojb", 1, L, C, 0, b, 0, INIT_ZEROS);
    set_spec(&specs[P_LNFW], "lnfw", 0, L, C, 0, 1, 0, INIT_ONES);
    set_spec(&specs[P_LNFB], "lnfb", 0, L, C, 0, b, 0, INIT_ZEROS);
}

static size_t gpt_num_parameters(const GPTConfig* c) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    size_t n = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) n += specs[i].numel;
    return n;
}

// Fills the derived fields and rejects impossible configurations with the flag to change.
static void gpt_config_finish(GPTConfig* c) {
    if (c->num_layers < 1 || c->channels < 1 || c->num_heads < 1 || c->vocab_size < 1 || c->max_seq_len < 1) {
        die("model sizes must be positive (layers %d, channels %d, heads %d, vocab %d, max-seq-len %d)",
            c->num_layers, c->channels, c->num_heads, c->vocab_size, c->max_seq_len);
    }
    if (c->channels % c->num_heads != 0) {
        die_hint("choose --channels as a multiple of --heads", "--channels %d is not divisible by --heads %d",
                 c->channels, c->num_heads);
    }
    c->head_dim = c->channels / c->num_heads;
    if (c->attn == ATTN_MHA) {
        if (c->num_kv_heads != 0 && c->num_kv_heads != c->num_heads) {
            die_hint("use --attn gqa with --kv-heads, or drop --kv-heads",
                     "--attn mha has one kv head per query head, but --kv-heads %d was given", c->num_kv_heads);
        }
        c->num_kv_heads = c->num_heads;
    } else if (c->attn == ATTN_MQA) {
        if (c->num_kv_heads != 0 && c->num_kv_heads != 1) {
            die_hint("use --attn gqa with --kv-heads, or drop --kv-heads", "--attn mqa has 1 kv head, but --kv-heads %d was given",
                     c->num_kv_heads);
        }
        c->num_kv_heads = 1;
    } else if (c->num_kv_heads == 0) {
        c->num_kv_heads = c->num_heads >= 4 ? 4 : 1; // GQA-4, the paper's default
    }
    if (c->num_kv_heads < 1 || c->num_heads % c->num_kv_heads != 0) {
        die_hint("--kv-heads must divide --heads (each kv head serves H/Hkv query heads)",
                 "--heads %d is not divisible by --kv-heads %d", c->num_heads, c->num_kv_heads);
    }
    if (c->pos == POS_ROPE && c->head_dim % 2 != 0) {
        die_hint("choose --channels/--heads so the head width is even, or use --pos learned",
                 "RoPE rotates pairs of dims, but the head width C/H = %d/%d = %d is odd", c->channels,
                 c->num_heads, c->head_dim);
    }
    if (c->mlp_hidden == 0) c->mlp_hidden = 4 * c->channels;
    if (c->mlp_hidden < 1) die("--mlp-hidden must be positive, got %d", c->mlp_hidden);
    if (c->padded_vocab_size == 0) c->padded_vocab_size = round_up(c->vocab_size, 128);
    if (c->padded_vocab_size < c->vocab_size) {
        die("padded vocabulary %d is smaller than the vocabulary %d", c->padded_vocab_size, c->vocab_size);
    }
    if (c->vocab_size > 65536) die("vocabulary %d does not fit uint16 token shards", c->vocab_size);
    if (!(c->rope_theta > 0.0f)) die("--rope-theta must be positive, got %g", c->rope_theta);
}

// KV-cache elements per token per layer (DESIGN 2.1): K and V for each kv head
static size_t gpt_kv_elements_per_token_layer(const GPTConfig* c) {
    return 2 * (size_t)c->num_kv_heads * c->head_dim;
}

// training FLOPs per token: 6 per parameter in a matmul (forward + backward) plus attention, 6*L*C*T
static double gpt_flops_per_token(const GPTConfig* c, int T) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    double n = (double)(gpt_num_parameters(c) - specs[P_WPE].numel); // a position table is a lookup
    return 6.0 * n + 6.0 * c->num_layers * c->channels * (double)T;
}

static void gpt_print_config(const GPTConfig* c, size_t bytes_per_element) {
    printf("model: %s attention, %d layers, C=%d, H=%d, Hkv=%d, dh=%d, F=%d, V=%d (padded %d), maxT=%d, pos=%s, "
           "rope_theta=%g, bias=%d\n",
           attn_names[c->attn], c->num_layers, c->channels, c->num_heads, c->num_kv_heads, c->head_dim,
           c->mlp_hidden, c->vocab_size, c->padded_vocab_size, c->max_seq_len, pos_names[c->pos],
           c->rope_theta, c->bias);
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    printf("parameters by tensor:");
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        if (specs[i].numel > 0) printf(" %s %zu", specs[i].name, specs[i].numel);
    }
    printf("\nparameters: %zu total\n", gpt_num_parameters(c));
    size_t kv = gpt_kv_elements_per_token_layer(c);
    printf("KV cache: %zu elements per token per layer, %zu bytes per token over %d layers\n", kv,
           kv * c->num_layers * bytes_per_element, c->num_layers);
}

#endif // LLMC_GPT_H
