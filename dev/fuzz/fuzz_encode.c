/*
libFuzzer target: the GPT-2 BPE encoder (bpe_encode, llmc/bpe.h) on any bytes.

At start-up the target loads GPT-2's vocabulary twice: from data/gpt2/r50k_base.tiktoken (merges ranked by
the token they make) and from data/gpt2/encoder.json + vocab.bpe (merges ranked by vocab.bpe's lines).
Each input is encoded with both; the properties:
  - at most one id per byte, every id in [0, 50257) and none the end-of-text 50256;
  - the ids' bytes (bpe_token) are exactly the input;
  - encoding again gives the same ids (the second time through the pre-token cache);
  - both vocabularies give the same ids (README: the three formats encode identically).
A die() is a finding here: the encoder accepts any bytes.
FUZZ_ENCODE_VOCAB=tiktoken|json encodes with one vocabulary only (no comparison).
*/
#include "fuzz_common.h"

static Bpe vocab[2];
static int num_vocab = 0;
static int* ids[3];
static size_t ids_cap = 0;

int LLVMFuzzerInitialize(int* argc, char*** argv) {
    (void)argc;
    (void)argv;
    fuzz_setup();
    const char* which = getenv("FUZZ_ENCODE_VOCAB");
    char path[4200];
    if (which == NULL || strcmp(which, "json") != 0) {
        snprintf(path, sizeof(path), "%s/gpt2/r50k_base.tiktoken", fuzz_data_dir);
        if (!file_exists(path)) die_hint("run `make data` in the repository root first (or set FUZZ_DATA=dir)", "fuzz: '%s' not found", path);
        bpe_load(&vocab[num_vocab++], path);
    }
    if (which == NULL || strcmp(which, "tiktoken") != 0) {
        snprintf(path, sizeof(path), "%s/gpt2/encoder.json", fuzz_data_dir);
        if (!file_exists(path)) die_hint("run `make data` in the repository root first (or set FUZZ_DATA=dir)", "fuzz: '%s' not found", path);
        bpe_load(&vocab[num_vocab++], path);
    }
    fuzz_die_allowed = 0;
    return 0;
}

static size_t encode(Bpe* b, const uint8_t* data, size_t size, int* out) {
    size_t n = 0;
    if (setjmp(fuzz_env) == 0) {
        fuzz_begin();
        n = bpe_encode(b, data, size, out);
        fuzz_end(FUZZ_KEEP); // the cache and scratch it grew are the encoder's, kept across inputs
    }
    return n;
}

static void check_ids(const Bpe* b, const char* what, const uint8_t* data, size_t size, const int* out, size_t n) {
    if (n > size) fuzz_fail("%s: %zu ids for %zu bytes", what, n, size);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i] < 0 || out[i] >= GPT2_VOCAB_SIZE) fuzz_fail("%s: id %d at position %zu is outside [0, %d)", what, out[i], i, GPT2_VOCAB_SIZE);
        if (out[i] == GPT2_EOT) fuzz_fail("%s: end-of-text id at position %zu", what, i);
        size_t k;
        const char* t = bpe_token(b, out[i], &k);
        if (k == 0 || at + k > size || memcmp(data + at, t, k) != 0) {
            fuzz_fail("%s: id %d at position %zu does not decode to input bytes %zu..", what, out[i], i, at);
        }
        at += k;
    }
    if (at != size) fuzz_fail("%s: the ids decode to %zu of %zu bytes", what, at, size);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size + 1 > ids_cap) {
        ids_cap = 2 * (size + 1);
        for (int i = 0; i < 3; i++) ids[i] = (int*)realloc(ids[i], ids_cap * sizeof(int));
    }
    static const char* const names[2] = {"first vocabulary", "second vocabulary"};
    size_t n0 = encode(&vocab[0], data, size, ids[0]);
    check_ids(&vocab[0], names[0], data, size, ids[0], n0);
    size_t again = encode(&vocab[0], data, size, ids[2]);
    if (again != n0 || memcmp(ids[0], ids[2], n0 * sizeof(int)) != 0) fuzz_fail("encoding the same bytes twice gave different ids");
    if (num_vocab == 2) {
        size_t n1 = encode(&vocab[1], data, size, ids[1]);
        check_ids(&vocab[1], names[1], data, size, ids[1], n1);
        if (n1 != n0 || memcmp(ids[0], ids[1], n0 * sizeof(int)) != 0) {
            size_t i = 0;
            while (i < n0 && i < n1 && ids[0][i] == ids[1][i]) i++;
            fuzz_fail("r50k_base.tiktoken and encoder.json + vocab.bpe encode differently: %zu vs %zu ids, first difference at id %zu "
                      "(%d vs %d)", n0, n1, i, i < n0 ? ids[0][i] : -1, i < n1 ? ids[1][i] : -1);
        }
    }
    return 0;
}
