/*
libFuzzer target: GPT-2's three vocabulary formats (bpe_load on a file path, llmc/bpe.h) on any bytes.

The first byte picks the format (modulo 3), the rest is the file:
    0  r50k_base.tiktoken
    1  encoder.json, then a 0 byte, then vocab.bpe (the two files bpe_load reads together)
    2  llm.c's gpt2_tokenizer.bin
bpe_load must refuse with a message (a die()) or give a vocabulary that passes fuzz_check_bpe. Small
inputs never hold GPT-2's 50257 tokens, so this target covers the parsers up to the count checks;
fuzz_vocab_full edits complete vocabularies to reach what comes after (indexing, merges).
*/
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    int format = data[0] % 3;
    data++;
    size--;
    char path[512], other[512];
    if (format == 0) {
        fuzz_load_vocab(fuzz_write_file(path, sizeof(path), "vocab.tiktoken", data, size));
    } else if (format == 1) {
        const uint8_t* nul = (const uint8_t*)memchr(data, 0, size);
        size_t first = nul != NULL ? (size_t)(nul - data) : size;
        fuzz_write_file(other, sizeof(other), "vocab.bpe", nul != NULL ? nul + 1 : data + size, nul != NULL ? size - first - 1 : 0);
        fuzz_load_vocab(fuzz_write_file(path, sizeof(path), "encoder.json", data, first));
    } else {
        fuzz_load_vocab(fuzz_write_file(path, sizeof(path), "vocab.bin", data, size));
    }
    return 0;
}
