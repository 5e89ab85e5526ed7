// Helpers shared by the C test programs (included after train_gpt.c).
#ifndef TEST_COMMON_H
#define TEST_COMMON_H

// a finished model config from its sizes
static GPTConfig test_config(AttnType attn, int kv_heads, PosType pos, int bias, int layers, int channels, int heads,
                             int mlp_hidden, int vocab_size, int max_seq_len) {
    GPTConfig c = {0};
    c.attn = attn;
    c.num_kv_heads = kv_heads;
    c.pos = pos;
    c.bias = bias;
    c.num_layers = layers;
    c.channels = channels;
    c.num_heads = heads;
    c.mlp_hidden = mlp_hidden;
    c.vocab_size = vocab_size;
    c.max_seq_len = max_seq_len;
    c.q_rank = -1; // the variant's default (0 would mean no query compression)
    c.rope_theta = 10000.0f;
    gpt_config_finish(&c);
    return c;
}

#endif
