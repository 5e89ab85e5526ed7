/*
The attention core's view of each variant (docs/design.md §2.1), shared by both trainers: which slices of the
projections are queries, keys and values, at which strides, what is rotated, and the score scale.
*/
#ifndef LLMC_ATTENTION_LAYOUT_H
#define LLMC_ATTENTION_LAYOUT_H

#include "gpt.h"

// One causal softmax core serves every variant (train_gpt.c's attention_forward). Query head h reads kv
// head h / (H/Hkv); a query head is d1 dims scored against its kv head's key k1, then d2 dims against
// k2, one key shared by all heads (the decoupled RoPE key of GTA, MLA and GLA).
typedef struct {
    int H, Hkv;
    int d1, d2, dv;
    int q_stride, k1_stride, k2_stride, v_stride, out_stride; // distance between the rows (tokens)
    int k1_head, v_head;                                      // distance between kv heads within a row
    double scale;                                             // of the scores
} AttentionDims;

// MHA, GQA, MQA and GTA project x -> [q (H heads of dh) | kv part] in one matmul. The kv part ([K | V],
// or GTA's [S | kr]) is also what the KV cache keeps per token; k1, k2 and v are offsets within it.
typedef struct {
    AttentionDims dims;
    int k1, k2, v;             // k2 -1: no shared key
    int q_rope;                // the rotated slice's offset within each query head
    int k_rope, k_rope_heads;  // the rotated key vectors: offset within the kv part, how many (dh apart)
} FusedLayout;

// the layout for kv rows kv_stride apart (the fused rows themselves, or the cache's)
static FusedLayout fused_layout(const GPTConfig* c, int kv_stride) {
    int H = c->num_heads, Hkv = c->num_kv_heads, dh = c->head_dim, dR = c->rope_dim, gta = c->attn == ATTN_GTA;
    FusedLayout f;
    // GTA: key = [S[:dh-dR] ; RoPE(kr)], value = the whole tied state S; else key and value heads of dh
    AttentionDims d = {H, Hkv, gta ? dh - dR : dh, gta ? dR : 0, dh, qkv_width(c), kv_stride, kv_stride, kv_stride, H * dh, dh, dh,
                       1.0 / sqrt((double)dh)};
    f.dims = d;
    f.k1 = 0;
    f.k2 = gta ? Hkv * dh : -1;
    f.v = gta ? 0 : Hkv * dh;
    f.q_rope = gta ? dh - dR : 0;
    f.k_rope = gta ? Hkv * dh : 0;
    f.k_rope_heads = gta ? 1 : Hkv;
    return f;
}

// MLA/GLA training, one latent group's H/n heads at a time: k1 and v are the group's up-projected rows
// [k_nope (H/n heads) | v (H/n heads)], k2 the RoPE key in the latent rows
static AttentionDims latent_group_dims(const GPTConfig* c) {
    int H = c->num_heads, Hg = H / c->latent_groups, dh = c->head_dim, dR = c->rope_dim;
    AttentionDims d = {Hg, Hg, dh, dR, dh, H * (dh + dR), Hg * 2 * dh, latent_width(c), Hg * 2 * dh, H * dh, dh, dh,
                       1.0 / sqrt((double)(dh + dR))};
    return d;
}

// MLA/GLA decoding with absorbed up-projections: queries [W_uk,h^T q_nope (dc) | q_rope (dR)] per head,
// keys and values the cached latent groups (the kv heads), k2 the cached RoPE key; the training scale
static AttentionDims latent_decode_dims(const GPTConfig* c) {
    int H = c->num_heads, n = c->latent_groups, dc = c->latent_dim, dR = c->rope_dim, E = latent_width(c);
    AttentionDims d = {H, n, dc, dR, dc, H * (dc + dR), E, E, E, H * dc, dc, dc, 1.0 / sqrt((double)(c->head_dim + dR))};
    return d;
}

// Memory Mosaics' contextual memory: each head's normalised keys are also its queries, scored at scale 1
// against the strictly earlier keys (the core runs with the queries one row later than the keys); rows
// of (N, C) keys and values
static AttentionDims mosaic_dims(const GPTConfig* c) {
    int H = c->num_heads, dh = c->head_dim, C = c->channels;
    AttentionDims d = {H, H, dh, 0, dh, C, C, C, C, C, dh, dh, 1.0};
    return d;
}

#endif // LLMC_ATTENTION_LAYOUT_H
