/*
libFuzzer target: llm.c model files (llmc_model_read_config and llmc_model_read_params, llmc/checkpoint.h)
on any bytes.

The input is a file. llmc_model_read_config must refuse it with a message, or accept it with a finished
config whose exact parameter count (tensor shapes multiplied out without wrapping) times the element size,
plus the 1024-byte header, is the file's size; then llmc_model_read_params reads the weights as F32 and
as F64. A die() is a clean refusal. Inputs that would hit gpt.h's known size-arithmetic overflows are
skipped (fuzz_common.h; FUZZ_GPT_H=1 lets them crash).
*/
#include "fuzz_common.h"

#define MAX_PARAMS ((size_t)16 << 20) // the harness reads the weights of models up to this size

// the config llmc_model_read_config hands to gpt_config_finish; 0 when it dies before that
static int raw_config(const uint8_t* data, size_t size, GPTConfig* c) {
    if (size < 256 * sizeof(int32_t)) return 0;
    int32_t h[8];
    memcpy(h, data, sizeof(h));
    if (h[0] != LLMC_MODEL_MAGIC || (h[1] != 3 && h[1] != 5)) return 0;
    memset(c, 0, sizeof(*c));
    c->attn = ATTN_MHA;
    c->pos = POS_LEARNED;
    c->bias = 1;
    c->rope_theta = 10000.0f;
    c->max_seq_len = h[2];
    c->vocab_size = h[3];
    c->num_layers = h[4];
    c->num_heads = h[5];
    c->channels = h[6];
    c->padded_vocab_size = h[7];
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[512];
    fuzz_write_file(path, sizeof(path), "model.bin", data, size);
    GPTConfig raw;
    if (raw_config(data, size, &raw) && fuzz_gpt_h_guard() && gpt_h_int_overflow(raw) != NULL) return 0; // known gpt.h finding
    int32_t magic = 0;
    if (size >= 4) memcpy(&magic, data, 4);
    if (is_llmc_model_file(path) != (size >= 4 && magic == LLMC_MODEL_MAGIC)) fuzz_fail("is_llmc_model_file disagrees with the magic");
    if (setjmp(fuzz_env) == 0) {
        fuzz_begin();
        GPTConfig c;
        const char* dtype = llmc_model_read_config(path, &c);
        size_t elem = strcmp(dtype, "F32") == 0 ? 4 : 2;
        if (gpt_h_count_wraps(&c)) {
            // the size check used a wrapped count: a file far too small for its header passed
            if (!fuzz_gpt_h_guard()) {
                fuzz_fail("gpt.h: the parameter count of L=%d C=%d Vp=%d maxT=%d wraps size_t, and llmc_model_read_config accepted a "
                          "%zu-byte file", c.num_layers, c.channels, c.padded_vocab_size, c.max_seq_len, size);
            }
        } else {
            unsigned __int128 expect = 256 * sizeof(int32_t) + (unsigned __int128)gpt_num_parameters(&c) * elem;
            if (expect != size) {
                fuzz_fail("llmc_model_read_config accepted a %zu-byte file whose header (L=%d C=%d H=%d V=%d Vp=%d maxT=%d) implies %.0f bytes",
                          size, c.num_layers, c.channels, c.num_heads, c.vocab_size, c.padded_vocab_size, c.max_seq_len, (double)expect);
            }
            size_t n = gpt_num_parameters(&c);
            if (n <= MAX_PARAMS) {
                float* f = (float*)mallocCheck(n * sizeof(float));
                double* g = (double*)mallocCheck(n * sizeof(double));
                llmc_model_read_params(path, f, "F32");
                llmc_model_read_params(path, g, "F64");
                free(f);
                free(g);
            }
        }
        fuzz_end(FUZZ_STRICT);
    }
    return 0;
}
