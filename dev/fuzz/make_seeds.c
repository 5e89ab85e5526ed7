/*
Writes the seed corpora of the fuzz targets with the project's own writers (README.md here):

    make_seeds OUT_DIR DATA_DIR

OUT_DIR/<target>/ gets, for
  fuzz_checkpoint   checkpoints of small models of every attention variant (checkpoint_write: F32, F64
                    and BF16 blocks, AdamW and Muon state, the trainer's run metadata) and plain
                    safetensors files (safetensors_write: every dtype, 0 to 4 dims, escaped metadata);
                    online runs with a --carry memory (GLA; Memory Mosaics with the persistent memory);
  fuzz_llmc_model   llm.c model files (version 3 fp32 and version 5 bf16) of small configs, sized by
                    gpt_num_parameters;
  fuzz_shard        token shards (shard_write) of 0 to 100 tokens, byte ids and GPT-2 ids;
  fuzz_vocab        the first lines or tokens of DATA_DIR/gpt2/r50k_base.tiktoken, encoder.json +
                    vocab.bpe, and of gpt2_tokenizer.bin written by tokenizer_write_llmc;
  fuzz_vocab_full   edit scripts (none, and a few of each kind) for the complete vocabularies;
  fuzz_encode       slices of DATA_DIR/tinyshakespeare/input.txt and strings that exercise the regex
                    (contractions, digits, whitespace, non-ASCII letters, emoji, invalid UTF-8).
DATA_DIR is what `make data` unpacks (data/ in the repository root).
*/
#include "../../llmc/checkpoint.h"
#include "../../llmc/dataloader.h"
#include "../../llmc/tokenizer.h"

static const char* out_dir;
static char data_dir[4096];

static char* seed_path(const char* target, const char* name) {
    char* dir = str_printf("%s/%s", out_dir, target);
    make_dir_or_die(dir);
    char* path = str_printf("%s/%s", dir, name);
    free(dir);
    return path;
}

static void write_seed(const char* target, const char* name, const void* bytes, size_t n) {
    char* path = seed_path(target, name);
    FILE* fp = fopenCheck(path, "wb");
    fwriteCheck(bytes, 1, n, fp, path);
    fclose(fp);
    free(path);
}

// the format byte, then the bytes
static void write_prefixed_seed(const char* target, const char* name, unsigned char prefix, const void* bytes, size_t n) {
    unsigned char* buf = (unsigned char*)mallocCheck(n + 1);
    buf[0] = prefix;
    memcpy(buf + 1, bytes, n);
    write_seed(target, name, buf, n + 1);
    free(buf);
}

static unsigned char* read_data(const char* rel, size_t* n) {
    char* path = str_printf("%s/%s", data_dir, rel);
    if (!file_exists(path)) die_hint("run `make data` in the repository root first", "'%s' not found", path);
    unsigned char* s = file_read_all(path, n);
    free(path);
    return s;
}

// ----------------------------------------------------------------------------
// checkpoints and safetensors

static GPTConfig config(AttnType attn, int kv_heads, PosType pos, int bias, int channels, int heads, int latent_groups,
                        int latent_dim, int q_rank) {
    GPTConfig c = {0};
    c.attn = attn;
    c.num_kv_heads = kv_heads;
    c.pos = pos;
    c.bias = bias;
    c.num_layers = 1;
    c.channels = channels;
    c.num_heads = heads;
    c.mlp_hidden = 8;
    c.vocab_size = 6;
    c.padded_vocab_size = 8;
    c.max_seq_len = 4;
    c.latent_groups = latent_groups;
    c.latent_dim = latent_dim;
    c.q_rank = q_rank;
    c.rope_theta = 10000.0f;
    gpt_config_finish(&c);
    return c;
}

// a block of n elements of dtype ("F32", "F64" or "BF16") from GPT-2's init
static void* make_block(const GPTConfig* c, const char* dtype, uint64_t seed) {
    size_t n = gpt_num_parameters(c);
    double* d = (double*)mallocCheck(n * sizeof(double));
    gpt_init_params(d, sizeof(double), c, seed);
    void* block = mallocCheck(n * 8);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(dtype, "F64") == 0) {
            ((double*)block)[i] = d[i];
        } else if (strcmp(dtype, "F32") == 0) {
            ((float*)block)[i] = (float)d[i];
        } else {
            float f = (float)d[i];
            uint32_t bits;
            memcpy(&bits, &f, 4);
            ((uint16_t*)block)[i] = (uint16_t)(bits >> 16);
        }
    }
    free(d);
    return block;
}

// carry > 0: an online run's checkpoint (--online 1 --carry carry) with its stream tally and memory
static void write_checkpoint(const char* name, GPTConfig c, const char* dtype, int muon, int carry) {
    void* params = make_block(&c, dtype, 1);
    void* m = make_block(&c, dtype, 2);
    void* v = make_block(&c, dtype, 3);
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(&c, specs);
    unsigned char adamw_tensors[NUM_PARAMETER_TENSORS], muon_tensors[NUM_PARAMETER_TENSORS];
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) { // llmc/run.h's optimizer_state_blocks
        muon_tensors[i] = muon && is_muon_tensor(&specs[i]);
        adamw_tensors[i] = !muon_tensors[i];
    }
    StateBlock blocks[4] = {{"", params, NULL}, {"opt.adamw.m.", m, adamw_tensors}, {"opt.adamw.v.", v, adamw_tensors},
                            {"opt.muon.momentum.", m, muon_tensors}};
    Metadata meta = {0}; // what llmc/run.h's run_save_checkpoint adds
    meta_set(&meta, "tokenizer", "bytes");
    meta_set(&meta, "optimizer", "%s", muon ? "muon" : "adamw");
    meta_set(&meta, "opt.steps", "%d", 3);
    meta_set(&meta, "opt.lr", "%.9g", 1e-3);
    meta_set(&meta, "train.step", "%d", 3);
    meta_set(&meta, "train.batch", "%d", 2);
    meta_set(&meta, "train.seq_len", "%d", 4);
    meta_set(&meta, "train.total_batch", "%d", 0);
    meta_set(&meta, "train.seed", "%llu", 1337ull);
    meta_set(&meta, "train.loss", "%.9g", 2.5);
    meta_set(&meta, "data.epoch", "%d", 0);
    meta_set(&meta, "data.shard_pos", "%d", 0);
    meta_set(&meta, "data.batch_pos", "%zu", (size_t)1);
    meta_set(&meta, "rng.sample", "%llu", 42ull);
    int batch = 2; // train.batch: the stream's lanes
    size_t memory_size = (size_t)c.num_layers * batch * gpt_carry_lane_size(&c, carry);
    double* memory = (double*)callocCheck(memory_size + 1, sizeof(double)); // wide enough for any dtype
    for (size_t i = 0; i < memory_size; i++) memory[i] = 0.25 * (double)(i % 7);
    SafeTensorWrite extra = {"carry.memory", dtype, 3, {c.num_layers, batch, (int64_t)gpt_carry_lane_size(&c, carry)}, memory};
    if (carry > 0) {
        if (strcmp(dtype, "F64") != 0) die("make_seeds: online seeds are F64 (the memory is written as doubles)");
        meta_set(&meta, "train.online", "1");
        meta_set(&meta, "stream.nats", "%.17g", 123.25);
        meta_set(&meta, "stream.tokens", "%d", 24);
        meta_set(&meta, "stream.bytes", "%d", 24);
        meta_set(&meta, "train.carry", "%d", carry);
        meta_set(&meta, "carry.held", "%d", carry);
    }
    char* path = seed_path("fuzz_checkpoint", name);
    checkpoint_write_with(path, &c, dtype, muon ? 4 : 3, blocks, &meta, carry > 0, &extra);
    meta_free(&meta);
    free(memory);
    free(path);
    free(params);
    free(m);
    free(v);
}

static void write_plain_safetensors(void) {
    static const char* const dtypes[] = {"F64", "F32", "BF16", "F16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"};
    unsigned char data[64];
    for (int i = 0; i < 64; i++) data[i] = (unsigned char)(i * 37);
    SafeTensorWrite t[13];
    char names[13][32];
    for (int i = 0; i < 13; i++) {
        snprintf(names[i], sizeof(names[i]), i == 3 ? "we\"ird\\name\n%d" : "t.%d", i);
        t[i].name = names[i];
        t[i].dtype = dtypes[i];
        t[i].ndim = i % 5; // 0 to 4 dims of size 1 or 2
        for (int d = 0; d < t[i].ndim; d++) t[i].shape[d] = 1 + (d == 0);
        t[i].data = data;
    }
    char* keys[3] = {"format", "quote\"and\\slash", "control\x01\t"};
    char* values[3] = {"gptc", "caf\xc3\xa9 \xe2\x82\xac", ""};
    char* path = seed_path("fuzz_checkpoint", "plain_all_dtypes.safetensors");
    safetensors_write(path, 3, keys, values, 13, t);
    free(path);
    path = seed_path("fuzz_checkpoint", "plain_empty.safetensors");
    safetensors_write(path, 0, NULL, NULL, 0, NULL);
    free(path);
    SafeTensorWrite zero = {"zero", "F32", 2, {0, 5}, data};
    path = seed_path("fuzz_checkpoint", "plain_zero_sized.safetensors");
    safetensors_write(path, 1, keys, values, 1, &zero);
    free(path);
}

static void checkpoint_seeds(void) {
    // C=8, H=2 (dh=4) unless noted; each variant with and without biases, learned positions and RoPE
    write_checkpoint("mha_learned_bias.safetensors", config(ATTN_MHA, 0, POS_LEARNED, 1, 8, 2, 0, 0, 0), "F32", 0, 0);
    write_checkpoint("mha_rope_f64.safetensors", config(ATTN_MHA, 0, POS_ROPE, 0, 8, 2, 0, 0, 0), "F64", 0, 0);
    write_checkpoint("gqa2_rope_muon.safetensors", config(ATTN_GQA, 2, POS_ROPE, 0, 16, 4, 0, 0, 0), "F32", 1, 0);
    write_checkpoint("mqa_rope_bf16.safetensors", config(ATTN_MQA, 0, POS_ROPE, 1, 8, 2, 0, 0, 0), "BF16", 0, 0);
    write_checkpoint("gta2_learned.safetensors", config(ATTN_GTA, 2, POS_LEARNED, 1, 16, 4, 0, 0, 0), "F32", 0, 0);
    write_checkpoint("mla_qrank_muon.safetensors", config(ATTN_MLA, 0, POS_ROPE, 1, 8, 2, 0, 4, 4), "F32", 1, 0);
    write_checkpoint("mla_norank.safetensors", config(ATTN_MLA, 0, POS_ROPE, 0, 8, 2, 0, 4, 0), "F32", 0, 0);
    write_checkpoint("gla2_bias.safetensors", config(ATTN_GLA, 0, POS_ROPE, 1, 8, 2, 2, 4, 0), "F32", 0, 0);
    // online runs with a carried memory: latents, and Memory Mosaics with the persistent memory's sums
    write_checkpoint("gla2_online_carry.safetensors", config(ATTN_GLA, 0, POS_ROPE, 0, 8, 2, 2, 4, 0), "F64", 0, 2);
    GPTConfig mosaic = config(ATTN_MOSAIC, 0, POS_NONE, 1, 8, 2, 0, 0, 0);
    mosaic.mlp = MLP_PMEM;
    mosaic.mlp_hidden = 0;
    mosaic.pmem_size = 3;
    mosaic.pmem_count = 2;
    gpt_config_finish(&mosaic);
    write_checkpoint("mosaic_pmem_online_carry.safetensors", mosaic, "F64", 1, 3);
    write_plain_safetensors();
}

// ----------------------------------------------------------------------------
// llm.c model files

static void write_llmc_model(const char* name, int version, int maxT, int V, int L, int H, int C, int Vp) {
    int32_t h[256] = {LLMC_MODEL_MAGIC, version, maxT, V, L, H, C, Vp};
    GPTConfig c = {0};
    c.attn = ATTN_MHA;
    c.pos = POS_LEARNED;
    c.bias = 1;
    c.rope_theta = 10000.0f;
    c.max_seq_len = maxT;
    c.vocab_size = V;
    c.num_layers = L;
    c.num_heads = H;
    c.channels = C;
    c.padded_vocab_size = Vp;
    gpt_config_finish(&c);
    void* block = make_block(&c, version == 3 ? "F32" : "BF16", 7);
    size_t bytes = gpt_num_parameters(&c) * (version == 3 ? 4 : 2);
    unsigned char* file = (unsigned char*)mallocCheck(sizeof(h) + bytes);
    memcpy(file, h, sizeof(h));
    memcpy(file + sizeof(h), block, bytes);
    write_seed("fuzz_llmc_model", name, file, sizeof(h) + bytes);
    free(file);
    free(block);
}

static void llmc_model_seeds(void) {
    write_llmc_model("v3_tiny.bin", 3, 4, 6, 1, 2, 4, 8);
    write_llmc_model("v5_tiny.bin", 5, 4, 6, 1, 2, 4, 8);
    write_llmc_model("v3_two_layers.bin", 3, 8, 10, 2, 2, 8, 16);
    write_llmc_model("v5_one_channel.bin", 5, 1, 1, 1, 1, 1, 1);
    int32_t h[256] = {LLMC_MODEL_MAGIC, 3, 1024, 50257, 12, 12, 768, 50304}; // GPT-2 124M's header alone
    write_seed("fuzz_llmc_model", "gpt2_124m_header_only.bin", h, sizeof(h));
}

// ----------------------------------------------------------------------------
// token shards

static void shard_seeds(void) {
    uint16_t tokens[100];
    size_t sizes[] = {0, 1, 2, 17, 100};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (int gpt2 = 0; gpt2 < 2; gpt2++) {
            for (size_t i = 0; i < sizes[s]; i++) tokens[i] = (uint16_t)(gpt2 ? (i * 7919 + 50000) % 50257 : i * 13 % 257);
            char name[64];
            snprintf(name, sizeof(name), "shard_%zu_%s.bin", sizes[s], gpt2 ? "gpt2" : "bytes");
            char* path = seed_path("fuzz_shard", name);
            shard_write(path, tokens, sizes[s]);
            free(path);
        }
    }
}

// ----------------------------------------------------------------------------
// vocabularies

// the first `lines` lines of s
static size_t first_lines(const unsigned char* s, size_t n, int lines) {
    size_t i = 0;
    for (int k = 0; k < lines && i < n; k++) {
        const unsigned char* nl = (const unsigned char*)memchr(s + i, '\n', n - i);
        i = nl ? (size_t)(nl - s) + 1 : n;
    }
    return i;
}

static void vocab_seeds(void) {
    const char* T = "fuzz_vocab";
    size_t n;
    unsigned char* tik = read_data("gpt2/r50k_base.tiktoken", &n);
    write_prefixed_seed(T, "tiktoken_20_lines", 0, tik, first_lines(tik, n, 20));
    write_prefixed_seed(T, "tiktoken_300_lines", 0, tik, first_lines(tik, n, 300));
    size_t tail = first_lines(tik, n, 1000);
    write_prefixed_seed(T, "tiktoken_lines_1000_to_1010", 0, tik + tail, first_lines(tik + tail, n - tail, 10)); // ranks start at 1000
    free(tik);

    // encoder.json's first entries, closed, a 0 byte, then vocab.bpe's first lines
    unsigned char* enc = read_data("gpt2/encoder.json", &n);
    size_t cut = 0;
    for (int entries = 0; cut < n && entries < 60; cut++) entries += enc[cut] == ',' && cut + 1 < n && enc[cut + 1] == ' ';
    size_t bpe_n;
    unsigned char* bpe = read_data("gpt2/vocab.bpe", &bpe_n);
    for (int lines = 3; lines <= 40; lines += 37) {
        size_t b = first_lines(bpe, bpe_n, lines), len = (cut - 1) + 1 + 1 + b;
        unsigned char* buf = (unsigned char*)mallocCheck(len);
        memcpy(buf, enc, cut - 1); // up to the ',' of the 60th entry
        buf[cut - 1] = '}';
        buf[cut] = 0;
        memcpy(buf + cut + 1, bpe, b);
        char name[64];
        snprintf(name, sizeof(name), "encoder_60_entries_bpe_%d_lines", lines);
        write_prefixed_seed(T, name, 1, buf, len);
        free(buf);
    }
    free(enc);
    free(bpe);

    // llm.c's file as tokenizer_write_llmc writes it, cut after 150 tokens (its header still says 50257)
    char* tik_path = str_printf("%s/gpt2/r50k_base.tiktoken", data_dir);
    Tokenizer tok;
    tokenizer_load(&tok, "gpt2", tik_path);
    char* bin = str_printf("%s/gpt2_tokenizer.bin.seed_tmp", out_dir);
    tokenizer_write_llmc(&tok, bin);
    tokenizer_free(&tok);
    unsigned char* llmc = file_read_all(bin, &n);
    unlink(bin);
    size_t at = 1024;
    for (int k = 0; k < 150 && at < n; k++) at += 1 + llmc[at];
    write_prefixed_seed(T, "llmc_150_tokens", 2, llmc, at);
    write_prefixed_seed(T, "llmc_header_only", 2, llmc, 1024);
    free(llmc);
    free(bin);
    free(tik_path);
    write_prefixed_seed(T, "tiktoken_empty", 0, "", 0);
    write_prefixed_seed(T, "json_empty", 1, "", 0);
}

// edit scripts for fuzz_vocab_full (see its comment for the format)
static void vocab_full_seeds(void) {
    const char* T = "fuzz_vocab_full";
    for (int f = 0; f < 3; f++) {
        unsigned char s[64];
        char name[64];
        static const char* const fmt[3] = {"tiktoken", "json", "llmc"};
        s[0] = (unsigned char)f;
        snprintf(name, sizeof(name), "%s_unedited", fmt[f]);
        write_seed(T, name, s, 1);
        // delete record 300
        unsigned char del[] = {(unsigned char)f, 1, 300 & 255, 300 >> 8, 0, 0};
        snprintf(name, sizeof(name), "%s_delete_300", fmt[f]);
        write_seed(T, name, del, sizeof(del));
        // copy record 301 over 300
        unsigned char copy[] = {(unsigned char)f, 2, 300 & 255, 300 >> 8, 301 & 255, 301 >> 8};
        snprintf(name, sizeof(name), "%s_copy_301_over_300", fmt[f]);
        write_seed(T, name, copy, sizeof(copy));
        // swap records 5 and 6 (single bytes)
        unsigned char swap[] = {(unsigned char)f, 5, 5, 0, 6, 0};
        snprintf(name, sizeof(name), "%s_swap_5_6", fmt[f]);
        write_seed(T, name, swap, sizeof(swap));
        // edit record 1000: replace its first byte by 'A'
        unsigned char edit[] = {(unsigned char)f, 3, 1000 & 255, 1000 >> 8, 0, 0, 0, 1, 1, 'A'};
        snprintf(name, sizeof(name), "%s_edit_1000", fmt[f]);
        write_seed(T, name, edit, sizeof(edit));
        // the last record deleted (end-of-text in llm.c's file, the last merge in vocab.bpe with op 7)
        unsigned char last[] = {(unsigned char)f, (unsigned char)(f == 1 ? 7 : 1), 0xFF, 0xFF, 0, 0};
        snprintf(name, sizeof(name), "%s_delete_last", fmt[f]);
        write_seed(T, name, last, sizeof(last));
    }
}

// ----------------------------------------------------------------------------
// encoder inputs

static void encode_seeds(void) {
    const char* T = "fuzz_encode";
    size_t n;
    unsigned char* text = read_data("tinyshakespeare/input.txt", &n);
    size_t sizes[] = {64, 512, 2048, 8000};
    for (int i = 0; i < 8; i++) {
        size_t len = sizes[i % 4], start = (n / 8) * (size_t)i;
        if (start + len > n) len = n - start;
        char name[64];
        snprintf(name, sizeof(name), "shakespeare_%d_%zu", i, len);
        write_seed(T, name, text + start, len);
    }
    free(text);
    static const char* const samples[] = {
        "Hello world",
        "I'm don't DON'T we've they'll you're he'd it's",
        "In 2024, 1234567 apples; 3.14159 and 1,000,000",
        "Hello  world a    b\t\tc\n\n\n  \r\n\r\n \x0b\x0c end   ",
        "a\xc2\xa0\xc2\xa0" "b caf\xc3\xa9 na\xc3\xafve Gr\xc3\xb6\xc3\x9f" "e \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xe4\xb8\xad\xe6\x96\x87",
        "\xf0\x9f\x91\x8d ok \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd! \xe2\x80\x94 \xe2\x80\x9cquoted\xe2\x80\x9d",
        "<|endoftext|>The end.<|endoftext|>",
        "invalid \xff\xfe \xc3 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf bytes\x80",
        "supercalifragilisticexpialidociousantidisestablishmentarianismpneumonoultramicroscopicsilicovolcanoconiosis",
        "'''''''' '''s 'S 'T 'll'll",
        "\t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t \t x",
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "sample_%zu", i);
        write_seed(T, name, samples[i], strlen(samples[i]));
    }
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++) bytes[i] = (unsigned char)i;
    write_seed(T, "all_bytes", bytes, sizeof(bytes));
    unsigned char nul[3] = {0, 'a', 0};
    write_seed(T, "nul_bytes", nul, sizeof(nul));
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s OUT_DIR DATA_DIR\n", argv[0]);
        return 1;
    }
    out_dir = argv[1];
    snprintf(data_dir, sizeof(data_dir), "%s", argv[2]);
    make_dir_or_die(out_dir);
    checkpoint_seeds();
    llmc_model_seeds();
    shard_seeds();
    vocab_seeds();
    vocab_full_seeds();
    encode_seeds();
    printf("seeds written to %s\n", out_dir);
    return 0;
}
