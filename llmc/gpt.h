/*
The model's description, shared by both trainers: its configuration, the table of parameter tensors
(names, shapes, init, which are matrices), the checks that reject impossible configurations, and the
figures every run prints (parameter counts, KV-cache size, FLOPs per token). docs/design.md §2.

Shape legend: L layers, C channels (d_model), H query heads, Hkv key/value heads, dh = C/H head width,
dR rotated (RoPE) width, dc latent width per group, n latent groups, rq query rank, F MLP hidden width,
V vocabulary, Vp vocabulary padded to a multiple of 128, maxT longest sequence.

Attention variants (docs/design.md §2.1). All reduce to one causal softmax core per query head:
    MHA, GQA-k, MQA  fused x -> [q (H heads) | k (Hkv heads) | v (Hkv heads)], RoPE on the first dR dims
                     of every q and k head (dR = dh unless --rope-dim, none with --pos learned)
    GTA-k            fused x -> [q (H heads) | S (k tied heads) | kr (dR)]: key = [S[:dh-dR] ; RoPE(kr)],
                     value = S (never rotated), query = [q[:dh-dR] ; RoPE(q[dh-dR:])]
    MLA, GLA-n       query: x -> rq -> RMSNorm -> H heads of [q_nope (dh) | q_rope (dR)] (rq = 0: x -> heads);
                     latent: x -> [c_0 .. c_{n-1} (n groups of dc) | kr (dR)], RMSNorm per group, and group g
                     up-projects c_g -> [k_nope | v] for its H/n heads; key = [k_nope ; RoPE(kr)], value = v.
                     MLA is the one-group case with dc = --latent-dim.

Parameters live in one block, in the order of the table below: llm.c's 16 tensors first (so llm.c model
files load tensor by tensor), then those of the latent variants. Per-layer tensors are stacked: their
first dimension is L. A configuration's absent tensors have no elements.

    name      shape                        what
    wte       (Vp, C)                      token embedding, tied with the LM head
    wpe       (maxT, C)                    learned positions (only with --pos learned)
    ln1w/b    (L, C)                       LayerNorm before attention (bias only with --bias 1)
    qkvw      (L, Dqkv, C)                 MHA/GQA/MQA/GTA fused projection, rows as above:
                                           Dqkv = (H + 2Hkv)*dh, or for GTA (H + Hkv)*dh + dR
    qkvb      (L, Dqkv)
    attprojw  (L, C, H*dh)                 attention output projection
    attprojb  (L, C)
    ln2w/b    (L, C)                       LayerNorm before the MLP
    fcw       (L, F, C), fcb (L, F)        MLP up projection
    fcprojw   (L, C, F), fcprojb (L, C)    MLP down projection
    lnfw/b    (C,)                         final LayerNorm
    dqw, dqb  (L, rq, C), (L, rq)          MLA/GLA query down-projection (rq > 0)
    qnormw    (L, rq)                      its RMSNorm gain
    uqw, uqb  (L, H*(dh+dR), rq)           query up-projection; head h = rows h*(dh+dR).. [nope | rope]
    qw, qb    (L, H*(dh+dR), C)            the plain query projection instead (rq = 0)
    dkvw, dkvb (L, n*dc + dR, C)           latent down-projection: [c_0 | .. | c_{n-1} | kr]
    kvnormw   (L, n*dc)                    the latent groups' RMSNorm gains
    ukvw, ukvb (L, 2*H*dh, dc)             up-projections, group after group; group g's rows are
                                           [k_nope of its H/n heads (dh each) | v of its H/n heads]
*/
#ifndef LLMC_GPT_H
#define LLMC_GPT_H

#include <math.h>
#include "sampler.h"
#include "utils.h"

typedef enum { ATTN_MHA, ATTN_GQA, ATTN_MQA, ATTN_GTA, ATTN_MLA, ATTN_GLA, ATTN_MOSAIC } AttnType;
static const char* const attn_names[] = {"mha", "gqa", "mqa", "gta", "mla", "gla", "mosaic"};

typedef enum { POS_ROPE, POS_LEARNED, POS_NONE } PosType;
static const char* const pos_names[] = {"rope", "learned", "none"};

typedef enum { MLP_GELU, MLP_PMEM } MlpType;
static const char* const mlp_names[] = {"gelu", "pmem"};

typedef struct {
    int max_seq_len;       // maxT
    int vocab_size;        // V
    int padded_vocab_size; // Vp
    int num_layers;        // L
    int num_heads;         // H
    int num_kv_heads;      // Hkv: H for MHA, 1 for MQA, k for GQA-k and GTA-k; H for MLA/GLA (one per head)
    int channels;          // C
    int head_dim;          // dh = C / H
    int mlp_hidden;        // F
    AttnType attn;
    PosType pos;           // learned adds a position table; the latent variants and GTA rotate dR dims anyway
    int bias;              // biases in every linear layer and the LayerNorms
    float rope_theta;      // RoPE base
    int rope_dim;          // dR: rotated dims per head (0: no RoPE)
    int latent_dim;        // dc: width of each latent group (MLA/GLA)
    int latent_groups;     // n (MLA: 1)
    int q_rank;            // rq: query compression rank (MLA/GLA; 0 = plain query projection)
    MlpType mlp;           // the GELU MLP, or Memory Mosaics' persistent memory in its place
    int pmem_size;         // P: key/value rows of each persistent memory, per head
    int pmem_count;        // M: persistent memories, averaged
} GPTConfig;

enum {
    P_WTE, P_WPE, P_LN1W, P_LN1B, P_QKVW, P_QKVB, P_ATTPROJW, P_ATTPROJB,
    P_LN2W, P_LN2B, P_FCW, P_FCB, P_FCPROJW, P_FCPROJB, P_LNFW, P_LNFB,
    P_DQW, P_DQB, P_QNORMW, P_UQW, P_UQB, P_QW, P_QB, P_DKVW, P_DKVB, P_KVNORMW, P_UKVW, P_UKVB,
    P_CTX_BETA, P_CTX_KSCALE, P_CTX_VCOEF, P_CTX_VSCALE,
    P_PMEM_KW, P_PMEM_KB, P_PMEM_BETA, P_PMEM_KSCALE, P_PMEM_K, P_PMEM_V, P_PMEM_OSCALE, P_PMEM_PROJW, P_PMEM_PROJB,
    NUM_PARAMETER_TENSORS
};

typedef enum {
    INIT_NORMAL,        // N(0, 0.02)
    INIT_RESIDUAL_PROJ, // N(0, 0.02 / sqrt(2L))
    INIT_ZEROS,
    INIT_ONES,
    INIT_CONST,         // init_a
    INIT_UNIFORM,       // U[0, 1)
    INIT_LINSPACE,      // each layer's row from init_a to init_b, evenly
    INIT_NORMAL_HEAD,   // N(0, 1/sqrt(dh))
} InitKind;

typedef struct {
    const char* name;
    int ndim;
    int64_t shape[3]; // full shape, leading L for per-layer tensors
    size_t numel;     // 0 when this configuration has no such tensor
    int per_layer;
    int is_matrix;    // a weight matrix (per layer): weight decay applies
    int muon;         // Muon orthogonalises it (a hidden matrix; not the persistent memories)
    InitKind init;
    double init_a, init_b;
} ParamSpec;

static int name_index(const char* name, const char* const* names, int n) {
    for (int i = 0; i < n; i++) {
        if (strcmp(name, names[i]) == 0) return i;
    }
    return -1;
}
#define NAME_INDEX(name, table) name_index(name, table, (int)(sizeof(table) / sizeof(table[0])))

static int is_latent(const GPTConfig* c) { return c->attn == ATTN_MLA || c->attn == ATTN_GLA; }

// width of each query head against the keys: the latent variants append the rotated dims
static int qk_head_dim(const GPTConfig* c) { return is_latent(c) ? c->head_dim + c->rope_dim : c->head_dim; }

// rows of the fused projection (MHA/GQA/MQA/GTA; Memory Mosaics' [W_k | W_v]; 0 for the latent variants)
static int qkv_width(const GPTConfig* c) {
    if (is_latent(c)) return 0;
    if (c->attn == ATTN_MOSAIC) return 2 * c->channels;
    if (c->attn == ATTN_GTA) return (c->num_heads + c->num_kv_heads) * c->head_dim + c->rope_dim;
    return (c->num_heads + 2 * c->num_kv_heads) * c->head_dim;
}

// width of a latent row: the groups, then the RoPE key
static int latent_width(const GPTConfig* c) { return c->latent_groups * c->latent_dim + c->rope_dim; }

static void set_spec(ParamSpec* s, const char* name, int per_layer, int L, int64_t d0, int64_t d1, int present,
                     int is_matrix, InitKind init) {
    s->name = name;
    s->per_layer = per_layer;
    s->is_matrix = is_matrix;
    s->muon = per_layer && is_matrix;
    s->init = init;
    s->init_a = s->init_b = 0;
    s->ndim = 0;
    if (per_layer) s->shape[s->ndim++] = L;
    s->shape[s->ndim++] = d0;
    if (d1 > 0) s->shape[s->ndim++] = d1;
    s->numel = 1;
    for (int i = 0; i < s->ndim; i++) s->numel *= (size_t)s->shape[i];
    if (!present) s->numel = 0;
}

static void gpt_param_specs(const GPTConfig* c, ParamSpec specs[NUM_PARAMETER_TENSORS]) {
    int L = c->num_layers, C = c->channels, F = c->mlp_hidden, H = c->num_heads, dh = c->head_dim;
    int b = c->bias, lat = is_latent(c), rq = c->q_rank, Dq = H * qk_head_dim(c), Dlat = latent_width(c);
    set_spec(&specs[P_WTE], "wte", 0, L, c->padded_vocab_size, C, 1, 1, INIT_NORMAL);
    set_spec(&specs[P_WPE], "wpe", 0, L, c->max_seq_len, C, c->pos == POS_LEARNED, 1, INIT_NORMAL);
    set_spec(&specs[P_LN1W], "ln1w", 1, L, C, 0, 1, 0, INIT_ONES);
    set_spec(&specs[P_LN1B], "ln1b", 1, L, C, 0, b, 0, INIT_ZEROS);
    set_spec(&specs[P_QKVW], "qkvw", 1, L, qkv_width(c), C, !lat, 1, INIT_NORMAL);
    set_spec(&specs[P_QKVB], "qkvb", 1, L, qkv_width(c), 0, !lat && b, 0, INIT_ZEROS);
    set_spec(&specs[P_ATTPROJW], "attprojw", 1, L, C, H * dh, 1, 1, INIT_RESIDUAL_PROJ);
    set_spec(&specs[P_ATTPROJB], "attprojb", 1, L, C, 0, b, 0, INIT_ZEROS);
    set_spec(&specs[P_LN2W], "ln2w", 1, L, C, 0, 1, 0, INIT_ONES);
    set_spec(&specs[P_LN2B], "ln2b", 1, L, C, 0, b, 0, INIT_ZEROS);
    int gelu = c->mlp == MLP_GELU;
    set_spec(&specs[P_FCW], "fcw", 1, L, F, C, gelu, 1, INIT_NORMAL);
    set_spec(&specs[P_FCB], "fcb", 1, L, F, 0, gelu && b, 0, INIT_ZEROS);
    set_spec(&specs[P_FCPROJW], "fcprojw", 1, L, C, F, gelu, 1, INIT_RESIDUAL_PROJ);
    set_spec(&specs[P_FCPROJB], "fcprojb", 1, L, C, 0, gelu && b, 0, INIT_ZEROS);
    set_spec(&specs[P_LNFW], "lnfw", 0, L, C, 0, 1, 0, INIT_ONES);
    set_spec(&specs[P_LNFB], "lnfb", 0, L, C, 0, b, 0, INIT_ZEROS);
    set_spec(&specs[P_DQW], "dqw", 1, L, rq, C, lat && rq > 0, 1, INIT_NORMAL);
    set_spec(&specs[P_DQB], "dqb", 1, L, rq, 0, lat && rq > 0 && b, 0, INIT_ZEROS);
    set_spec(&specs[P_QNORMW], "qnormw", 1, L, rq, 0, lat && rq > 0, 0, INIT_ONES);
    set_spec(&specs[P_UQW], "uqw", 1, L, Dq, rq, lat && rq > 0, 1, INIT_NORMAL);
    set_spec(&specs[P_UQB], "uqb", 1, L, Dq, 0, lat && rq > 0 && b, 0, INIT_ZEROS);
    set_spec(&specs[P_QW], "qw", 1, L, Dq, C, lat && rq == 0, 1, INIT_NORMAL);
    set_spec(&specs[P_QB], "qb", 1, L, Dq, 0, lat && rq == 0 && b, 0, INIT_ZEROS);
    set_spec(&specs[P_DKVW], "dkvw", 1, L, Dlat, C, lat, 1, INIT_NORMAL);
    set_spec(&specs[P_DKVB], "dkvb", 1, L, Dlat, 0, lat && b, 0, INIT_ZEROS);
    set_spec(&specs[P_KVNORMW], "kvnormw", 1, L, c->latent_groups * c->latent_dim, 0, lat, 0, INIT_ONES);
    set_spec(&specs[P_UKVW], "ukvw", 1, L, 2 * H * dh, c->latent_dim, lat, 1, INIT_NORMAL);
    set_spec(&specs[P_UKVB], "ukvb", 1, L, 2 * H * dh, 0, lat && b, 0, INIT_ZEROS);
    // Memory Mosaics (their reference's names and inits, nanoMosaics/mosaic_model.py): per head, the leaky
    // average's rate b (beta = 10|b|), the key scale a (exp(min(10 p a, 5))), the value mix c and scale u
    // (exp(10 u)); qkvw holds [W_k | W_v] and attprojw the output projection
    int mos = c->attn == ATTN_MOSAIC, pm = c->mlp == MLP_PMEM, M = c->pmem_count, P = c->pmem_size;
    set_spec(&specs[P_CTX_BETA], "ctx_beta", 1, L, H, 0, mos, 0, INIT_LINSPACE);
    specs[P_CTX_BETA].init_a = 0.05, specs[P_CTX_BETA].init_b = 0.5;
    set_spec(&specs[P_CTX_KSCALE], "ctx_kscale", 1, L, H, 0, mos, 0, INIT_CONST);
    specs[P_CTX_KSCALE].init_a = 0.1;
    set_spec(&specs[P_CTX_VCOEF], "ctx_vcoef", 1, L, H, 0, mos, 0, INIT_UNIFORM);
    set_spec(&specs[P_CTX_VSCALE], "ctx_vscale", 1, L, H, 0, mos, 0, INIT_CONST);
    specs[P_CTX_VSCALE].init_a = -0.05;
    // the persistent memory in place of the MLP: its own key features (W_k, rate, scale), M memories of P
    // key and value rows per head (P_k, P_v: (M, H, P, dh) stored as (M*H*P, dh)), an output scale o and
    // projection
    set_spec(&specs[P_PMEM_KW], "pmem_kw", 1, L, C, C, pm, 1, INIT_NORMAL);
    set_spec(&specs[P_PMEM_KB], "pmem_kb", 1, L, C, 0, pm && b, 0, INIT_ZEROS);
    set_spec(&specs[P_PMEM_BETA], "pmem_beta", 1, L, H, 0, pm, 0, INIT_LINSPACE);
    specs[P_PMEM_BETA].init_a = 0.05, specs[P_PMEM_BETA].init_b = 0.5;
    set_spec(&specs[P_PMEM_KSCALE], "pmem_kscale", 1, L, H, 0, pm, 0, INIT_CONST);
    specs[P_PMEM_KSCALE].init_a = 0.1;
    set_spec(&specs[P_PMEM_K], "pmem_k", 1, L, (int64_t)M * H * P, dh, pm, 1, INIT_NORMAL_HEAD);
    set_spec(&specs[P_PMEM_V], "pmem_v", 1, L, (int64_t)M * H * P, dh, pm, 1, INIT_NORMAL_HEAD);
    specs[P_PMEM_K].muon = specs[P_PMEM_V].muon = 0; // memories, not maps: AdamW (with weight decay, as the reference)
    set_spec(&specs[P_PMEM_OSCALE], "pmem_oscale", 1, L, H, 0, pm, 0, INIT_CONST);
    specs[P_PMEM_OSCALE].init_a = -0.05;
    set_spec(&specs[P_PMEM_PROJW], "pmem_projw", 1, L, C, C, pm, 1, INIT_RESIDUAL_PROJ);
    set_spec(&specs[P_PMEM_PROJB], "pmem_projb", 1, L, C, 0, pm && b, 0, INIT_ZEROS);
}

static size_t gpt_num_parameters(const GPTConfig* c) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    size_t n = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) n += specs[i].numel;
    return n;
}

// The largest sizes a configuration may have. They keep every size the code computes inside 64 bits (and
// per-row widths inside int) whatever a file's header or the command line says.
#define GPT_MAX_LAYERS 4096
#define GPT_MAX_CHANNELS 65536
#define GPT_MAX_HEADS 4096
#define GPT_MAX_WIDTH (1 << 20) // F, maxT
#define GPT_MAX_VOCAB 65536     // token shards store uint16

// Fills the derived fields and variant defaults of c, or describes what is impossible about it, naming the
// flag to change; returns 0 or -1. Fields left 0 take their defaults (q_rank: -1 takes the default, 0
// means none).
static int gpt_config_check(GPTConfig* c, Problem* pr) {
    if (c->num_layers < 1 || c->channels < 1 || c->num_heads < 1 || c->vocab_size < 1 || c->max_seq_len < 1) {
        return problem(pr, NULL, "model sizes must be positive (layers %d, channels %d, heads %d, vocab %d, max-seq-len %d)",
                       c->num_layers, c->channels, c->num_heads, c->vocab_size, c->max_seq_len);
    }
    if (c->num_layers > GPT_MAX_LAYERS || c->channels > GPT_MAX_CHANNELS || c->num_heads > GPT_MAX_HEADS ||
        c->max_seq_len > GPT_MAX_WIDTH || c->mlp_hidden > GPT_MAX_WIDTH || c->latent_dim > GPT_MAX_CHANNELS ||
        c->q_rank > GPT_MAX_CHANNELS || c->latent_groups > GPT_MAX_HEADS || c->num_kv_heads > GPT_MAX_HEADS) {
        return problem(pr, "see ./train_gpt --help for each size's range",
                       "model sizes beyond this trainer's limits: layers %d (at most %d), channels %d (at most %d), heads %d (at most %d), "
                       "max-seq-len %d and mlp-hidden %d (at most %d), latent-dim %d and q-rank %d (at most %d)", c->num_layers, GPT_MAX_LAYERS,
                       c->channels, GPT_MAX_CHANNELS, c->num_heads, GPT_MAX_HEADS, c->max_seq_len, c->mlp_hidden, GPT_MAX_WIDTH,
                       c->latent_dim, c->q_rank, GPT_MAX_CHANNELS);
    }
    if (c->vocab_size > GPT_MAX_VOCAB) return problem(pr, NULL, "vocabulary %d does not fit uint16 token shards", c->vocab_size);
    if (c->channels % c->num_heads != 0) {
        return problem(pr, "choose --channels as a multiple of --heads", "--channels %d is not divisible by --heads %d", c->channels,
                       c->num_heads);
    }
    int H = c->num_heads, dh = c->channels / c->num_heads, lat = c->attn == ATTN_MLA || c->attn == ATTN_GLA;
    c->head_dim = dh;
    const char* attn = attn_names[c->attn];
    if (c->attn == ATTN_MHA || c->attn == ATTN_MQA || c->attn == ATTN_MOSAIC || lat) {
        int fixed = c->attn == ATTN_MQA ? 1 : H; // the latent variants and Memory Mosaics give every head its own key
        if (c->num_kv_heads != 0 && c->num_kv_heads != fixed) {
            return problem(pr, "use --attn gqa or gta with --kv-heads, or drop --kv-heads",
                           "--attn %s has %d kv heads, but --kv-heads %d was given", attn, fixed, c->num_kv_heads);
        }
        c->num_kv_heads = fixed;
    } else if (c->num_kv_heads == 0) {
        c->num_kv_heads = H >= 4 ? 4 : 1; // GQA-4 / GTA-4, the paper's default
    }
    if (c->num_kv_heads < 1 || H % c->num_kv_heads != 0) {
        return problem(pr, "--kv-heads must divide --heads (each kv head serves H/Hkv query heads)",
                       "--heads %d is not divisible by --kv-heads %d", H, c->num_kv_heads);
    }
    // Memory Mosaics carry position in their leaky averages (and the values' look-ahead): nothing else
    if (c->attn == ATTN_MOSAIC && c->pos != POS_NONE) {
        return problem(pr, "use --pos none (mosaic's default), or another --attn", "--attn mosaic takes no positions, but --pos %s was given",
                       pos_names[c->pos]);
    }
    // RoPE: the whole head for MHA/GQA/MQA with --pos rope; a decoupled dR = dh/2 slice for GTA, MLA, GLA
    int rotates = lat || c->attn == ATTN_GTA || c->pos == POS_ROPE;
    if (!rotates && c->rope_dim != 0) {
        return problem(pr, "drop --rope-dim, or use --pos rope", "--rope-dim %d with --attn %s --pos %s: nothing is rotated",
                       c->rope_dim, attn, pos_names[c->pos]);
    }
    if (rotates && c->rope_dim == 0) c->rope_dim = (lat || c->attn == ATTN_GTA) ? dh / 2 : dh;
    if (rotates && (c->rope_dim < 0 || c->rope_dim > dh)) {
        return problem(pr, "choose --rope-dim between 2 and the head width",
                       "--rope-dim %d is larger than the head width C/H = %d/%d = %d", c->rope_dim, c->channels, H, dh);
    }
    if (rotates && c->rope_dim % 2 != 0) {
        return problem(pr,
                       c->rope_dim == dh ? "choose --channels/--heads so that the head width is even, or use --pos learned"
                                         : "choose an even --rope-dim",
                       "RoPE rotates pairs of dims, but the rotated width is %d (head width C/H = %d/%d = %d)", c->rope_dim,
                       c->channels, H, dh);
    }
    if (lat) {
        if (c->attn == ATTN_MLA && c->latent_groups != 0 && c->latent_groups != 1) {
            return problem(pr, "use --attn gla for several latent groups", "--attn mla has one latent, but --latent-groups %d was given",
                           c->latent_groups);
        }
        if (c->latent_groups == 0) c->latent_groups = c->attn == ATTN_MLA ? 1 : 2;
        if (c->latent_groups < 1 || H % c->latent_groups != 0) {
            return problem(pr, "--latent-groups must divide --heads (each group serves H/n heads)",
                           "--heads %d is not divisible by --latent-groups %d", H, c->latent_groups);
        }
        if (c->latent_dim == 0) c->latent_dim = c->attn == ATTN_MLA ? 4 * dh : 2 * dh;
        if (c->q_rank < 0) c->q_rank = 8 * dh;
        if (c->latent_dim < 1) return problem(pr, NULL, "--latent-dim must be positive, got %d", c->latent_dim);
        if ((long long)c->latent_groups * c->latent_dim > GPT_MAX_WIDTH) {
            return problem(pr, "lower --latent-dim or --latent-groups", "the latent is %d groups x %d = %lld wide, more than %d",
                           c->latent_groups, c->latent_dim, (long long)c->latent_groups * c->latent_dim, GPT_MAX_WIDTH);
        }
    } else if (c->latent_groups != 0 || c->latent_dim != 0 || c->q_rank > 0) {
        return problem(pr, "drop --latent-groups, --latent-dim and --q-rank, or use --attn mla / gla",
                       "--latent-groups, --latent-dim and --q-rank apply to mla and gla, not %s", attn);
    } else {
        c->q_rank = 0;
    }
    if (c->mlp == MLP_PMEM) {
        if (c->mlp_hidden != 0) return problem(pr, "drop --mlp-hidden, or use --mlp gelu", "--mlp-hidden %d sizes the GELU MLP, but --mlp pmem replaces it", c->mlp_hidden);
        if (c->pmem_count == 0) c->pmem_count = 1;
        if (c->pmem_size == 0) c->pmem_size = 3 * c->channels / c->pmem_count; // about the GELU MLP's parameters
        if (c->pmem_size < 1 || c->pmem_size > GPT_MAX_WIDTH || c->pmem_count < 1 || c->pmem_count > 64) {
            return problem(pr, "choose --pmem-size in [1, 1048576] and --pmem-count in [1, 64]", "--pmem-size %d, --pmem-count %d",
                           c->pmem_size, c->pmem_count);
        }
    } else {
        if (c->pmem_size != 0 || c->pmem_count != 0) {
            return problem(pr, "drop --pmem-size and --pmem-count, or use --mlp pmem", "--pmem-size and --pmem-count size the persistent memory (--mlp pmem)");
        }
        if (c->mlp_hidden == 0) c->mlp_hidden = 4 * c->channels;
        if (c->mlp_hidden < 1) return problem(pr, NULL, "--mlp-hidden must be positive, got %d", c->mlp_hidden);
    }
    if (c->padded_vocab_size == 0) c->padded_vocab_size = round_up(c->vocab_size, 128);
    if (c->padded_vocab_size < c->vocab_size || c->padded_vocab_size > GPT_MAX_VOCAB + 128) {
        return problem(pr, NULL, "padded vocabulary %d is not between the vocabulary %d and %d", c->padded_vocab_size, c->vocab_size,
                       GPT_MAX_VOCAB + 128);
    }
    if (!(c->rope_theta > 0.0f && isfinite(c->rope_theta))) return problem(pr, NULL, "--rope-theta must be positive, got %g", c->rope_theta);
    return 0;
}

// gpt_config_check, dying on an impossible configuration
static void gpt_config_finish(GPTConfig* c) {
    Problem pr;
    if (gpt_config_check(c, &pr) != 0) die_problem(&pr);
}

// KV-cache elements per token per layer (docs/design.md §2.1): MHA/GQA/MQA cache K and V per kv head, GTA the tied
// state per kv head and one RoPE key, MLA/GLA the normalised latent groups and one RoPE key, Memory Mosaics
// each position's key and value (beside a constant state per sequence: gpt_decode_state_per_layer).
static size_t gpt_kv_elements_per_token_layer(const GPTConfig* c) {
    if (is_latent(c)) return (size_t)latent_width(c);
    if (c->attn == ATTN_MOSAIC) return 2 * (size_t)c->channels; // each position's key and value
    if (c->attn == ATTN_GTA) return (size_t)c->num_kv_heads * c->head_dim + c->rope_dim;
    return 2 * (size_t)c->num_kv_heads * c->head_dim;
}

// What --carry K keeps per lane and layer from one segment to the next: the last K positions' rows (what the
// KV cache holds, before RoPE; Memory Mosaics: the leaky sums and the value features [S | v~]) and, with the
// persistent memory, its leaky sums at the last position. Nothing with K = 0.
static size_t gpt_carry_lane_size(const GPTConfig* c, int K) {
    if (K == 0) return 0;
    return (size_t)K * gpt_kv_elements_per_token_layer(c) + (c->mlp == MLP_PMEM ? (size_t)c->channels : 0);
}

// What decoding keeps per sequence and layer besides the cache, whatever its length: Memory Mosaics' leaky
// sums (contextual and persistent) and the previous token's value features, whose value the next token completes.
static size_t gpt_decode_state_per_layer(const GPTConfig* c) {
    return (c->attn == ATTN_MOSAIC ? 2 * (size_t)c->channels : 0) + (c->mlp == MLP_PMEM ? (size_t)c->channels : 0);
}

// training FLOPs per token: 6 per parameter in a matmul (forward + backward) plus attention, 6*L*C*T
static double gpt_flops_per_token(const GPTConfig* c, int T) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    double n = (double)(gpt_num_parameters(c) - specs[P_WPE].numel); // a position table is a lookup
    return 6.0 * n + 6.0 * c->num_layers * c->channels * (double)T;
}

static void gpt_print_config(const GPTConfig* c, size_t bytes_per_element) {
    printf("model: %s attention, %d layers, C=%d, H=%d, Hkv=%d, dh=%d, F=%d, V=%d (padded %d), maxT=%d, pos=%s, bias=%d",
           attn_names[c->attn], c->num_layers, c->channels, c->num_heads, c->num_kv_heads, c->head_dim, c->mlp_hidden,
           c->vocab_size, c->padded_vocab_size, c->max_seq_len, pos_names[c->pos], c->bias);
    if (c->rope_dim > 0) printf(", RoPE on %d dims (theta %g)", c->rope_dim, c->rope_theta);
    if (is_latent(c)) printf(", latent %d x %d, q rank %d", c->latent_groups, c->latent_dim, c->q_rank);
    if (c->mlp == MLP_PMEM) printf(", persistent memory %d x %d rows per head", c->pmem_count, c->pmem_size);
    printf("\n");
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

// Muon's parameter group (docs/design.md §3): the hidden 2-D matrices, i.e. every per-layer weight matrix but
// the persistent memories. The embedding / LM head, a position table, norms, biases and scalars stay with AdamW.
static int is_muon_tensor(const ParamSpec* s) { return s->muon; }

// The separate matrices a per-layer Muon tensor stacks by rows, which Muon orthogonalises one by one:
// fused [q | k | v] (GTA: [q | S | kr]), the latent down-projection [latent | kr], and each latent
// group's [k_nope | v] up-projections. Fills rows[] and returns how many blocks (at most 2n).
#define MAX_ROW_BLOCKS 256
static int gpt_row_blocks(const GPTConfig* c, int tensor, const ParamSpec* s, int rows[MAX_ROW_BLOCKS]) {
    int H = c->num_heads, Hkv = c->num_kv_heads, dh = c->head_dim, dR = c->rope_dim;
    if (tensor == P_QKVW && c->attn == ATTN_MOSAIC) { // [W_k | W_v]
        rows[0] = rows[1] = c->channels;
        return 2;
    }
    if (tensor == P_QKVW) {
        rows[0] = H * dh;
        rows[1] = Hkv * dh;
        rows[2] = c->attn == ATTN_GTA ? dR : Hkv * dh;
        return 3;
    }
    if (tensor == P_DKVW) {
        rows[0] = c->latent_groups * c->latent_dim;
        rows[1] = dR;
        return 2;
    }
    if (tensor == P_UKVW) {
        if (2 * c->latent_groups > MAX_ROW_BLOCKS) die("--latent-groups %d exceeds %d", c->latent_groups, MAX_ROW_BLOCKS / 2);
        for (int g = 0; g < 2 * c->latent_groups; g++) rows[g] = (H / c->latent_groups) * dh;
        return 2 * c->latent_groups;
    }
    rows[0] = (int)s->shape[1];
    return 1;
}

// GPT-2 init into a host block laid out as the table, elements of elem_size bytes (4 float, 8 double):
// N(0, 0.02) weights, N(0, 0.02/sqrt(2L)) for the residual projections, zero biases, unit norm gains,
// zero padded vocabulary rows. The same seed gives the same model in both trainers.
static void gpt_init_params(void* block, size_t elem_size, const GPTConfig* c, uint64_t seed) {
    uint64_t rng = rng_seed(seed);
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    clear_upper_vector_state(); // before a draw per parameter
    size_t at = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const ParamSpec* s = &specs[i];
        double std = s->init == INIT_RESIDUAL_PROJ ? 0.02 / sqrt(2.0 * c->num_layers)
                     : s->init == INIT_NORMAL_HEAD ? 1.0 / sqrt((double)c->head_dim) : 0.02;
        size_t row = s->per_layer ? s->numel / s->shape[0] : s->numel; // LINSPACE runs along each layer's row
        for (size_t j = 0; j < s->numel; j++, at++) {
            double value;
            switch (s->init) {
                case INIT_ONES: value = 1.0; break;
                case INIT_ZEROS: value = 0.0; break;
                case INIT_CONST: value = s->init_a; break;
                case INIT_UNIFORM: value = (random_u32(&rng) >> 8) / 16777216.0; break;
                case INIT_LINSPACE: value = s->init_a + (s->init_b - s->init_a) * (double)(j % row) / (row > 1 ? row - 1 : 1); break;
                default: value = std * random_normal(&rng);
            }
            int padded_row = i == P_WTE && j >= (size_t)c->vocab_size * c->channels;
            if (padded_row) value = 0.0;
            if (elem_size == 8) ((double*)block)[at] = value;
            else ((float*)block)[at] = (float)value;
        }
    }
}

// The MLP's size that gives `c` the parameter count of MHA with the GELU MLP (F = 4C) at the same depth and
// width (the GLA/GTA paper's matching): its width F, or with --mlp pmem the persistent memories' rows P.
// Parameters grow by L*(2C + bias) per unit of F and by L*2*M*C per unit of P. *mha_params: MHA's count.
static int gpt_matched_mlp_size(const GPTConfig* c, size_t* mha_params) {
    GPTConfig mha = *c, variant = *c;
    mha.attn = ATTN_MHA;
    mha.num_kv_heads = 0;
    mha.rope_dim = 0; // RoPE has no parameters: take MHA's default
    mha.latent_dim = mha.latent_groups = 0;
    mha.q_rank = 0;
    mha.mlp = MLP_GELU;
    mha.mlp_hidden = 4 * c->channels;
    mha.pmem_size = mha.pmem_count = 0;
    gpt_config_finish(&mha);
    int pmem = c->mlp == MLP_PMEM, start = pmem ? c->pmem_size : 4 * c->channels;
    if (pmem) variant.pmem_size = start;
    else variant.mlp_hidden = start;
    double per_unit = pmem ? 2.0 * c->num_layers * c->pmem_count * c->channels : (double)c->num_layers * (2.0 * c->channels + c->bias);
    *mha_params = gpt_num_parameters(&mha);
    double diff = (double)*mha_params - (double)gpt_num_parameters(&variant);
    int size = start + (int)lround(diff / per_unit);
    if (size < 1) die("cannot match MHA's parameter count: the %s would be %d", pmem ? "persistent memory's --pmem-size" : "MLP width", size);
    return size;
}

#endif // LLMC_GPT_H
