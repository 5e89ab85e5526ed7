/*
libFuzzer target: llm.c model files (llmc_model_read_config and llmc_model_read_params, llmc/checkpoint.h)
on any bytes.

The input is a file. llmc_model_read_config must refuse it with a message, or accept it with a finished
config whose exact parameter count (tensor shapes multiplied out without wrapping) times the element size,
plus the 1024-byte header, is the file's size; then llmc_model_read_params reads the weights as F32 and
as F64. A die() is a clean refusal. Every accepted config's sizes are checked against exact arithmetic
(fuzz_check_param_count).
*/
#include "fuzz_common.h"

#define MAX_PARAMS ((size_t)16 << 20) // the harness reads the weights of models up to this size

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[512];
    fuzz_write_file(path, sizeof(path), "model.bin", data, size);
    int32_t magic = 0;
    if (size >= 4) memcpy(&magic, data, 4);
    if (is_llmc_model_file(path) != (size >= 4 && magic == LLMC_MODEL_MAGIC)) fuzz_fail("is_llmc_model_file disagrees with the magic");
    if (setjmp(fuzz_env) == 0) {
        fuzz_begin();
        GPTConfig c;
        const char* dtype = llmc_model_read_config(path, &c);
        size_t elem = strcmp(dtype, "F32") == 0 ? 4 : 2;
        fuzz_check_param_count(&c);
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
        fuzz_end(FUZZ_STRICT);
    }
    return 0;
}
