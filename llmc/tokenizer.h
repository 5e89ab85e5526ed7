/*
Tokenizers, shared by both trainers and the data tool.

bytes: ids 0..255 are the bytes themselves and 256 is end-of-text; no vocabulary file.
gpt2:  GPT-2's BPE (llmc/bpe.h): 50257 tokens, end-of-text 50256, from a vocabulary file (default data/gpt2/).

Encoding never produces end-of-text: the text "<|endoftext|>" is encoded as plain text, and callers put
eot_token where a document starts. Either tokenizer can be written as llm.c's tokenizer file.
*/
#ifndef LLMC_TOKENIZER_H
#define LLMC_TOKENIZER_H

#include "bpe.h"
#include "utils.h"

typedef enum { TOKENIZER_BYTES, TOKENIZER_GPT2 } TokenizerType;

static const char* const tokenizer_names[] = {"bytes", "gpt2"};

typedef struct {
    TokenizerType type;
    int vocab_size; // V: ids are 0..V-1
    int eot_token;  // end-of-text id, put before each document
    char byte_text[256]; // bytes: byte_text[b] == b, what a byte token decodes to
    Bpe* bpe;            // gpt2: vocabulary, merges, regex and cache; NULL for bytes
} Tokenizer;

// Sets up tokenizer `name` ("bytes" or "gpt2"). path: where gpt2 finds its vocabulary, a directory or a
// file (see bpe_load), NULL for data/gpt2/; bytes takes none. Dies on an unknown name or a vocabulary that
// is missing or damaged, saying how to get it. tokenizer_free releases it.
static void tokenizer_load(Tokenizer* tok, const char* name, const char* path) {
    memset(tok, 0, sizeof(*tok));
    if (strcmp(name, "bytes") == 0) {
        if (path != NULL) {
            die_hint("drop the vocabulary path, or use tokenizer gpt2", "tokenizer 'bytes' reads no vocabulary, got '%s'", path);
        }
        tok->type = TOKENIZER_BYTES;
        tok->vocab_size = 257;
        tok->eot_token = 256;
        for (int b = 0; b < 256; b++) tok->byte_text[b] = (char)b;
        return;
    }
    if (strcmp(name, "gpt2") == 0) {
        tok->type = TOKENIZER_GPT2;
        tok->bpe = (Bpe*)mallocCheck(sizeof(Bpe));
        bpe_load(tok->bpe, path);
        tok->vocab_size = tok->bpe->vocab_size;
        tok->eot_token = tok->bpe->eot;
        return;
    }
    die_hint("use --tokenizer bytes or --tokenizer gpt2", "unknown tokenizer '%s' (known: bytes, gpt2)", name);
}

// tokenizer_load with the default vocabulary location
static void tokenizer_init(Tokenizer* tok, const char* name) { tokenizer_load(tok, name, NULL); }

static void tokenizer_free(Tokenizer* tok) {
    if (tok->bpe != NULL) {
        bpe_free(tok->bpe);
        free(tok->bpe);
    }
    tok->bpe = NULL;
}

static const char* tokenizer_name(const Tokenizer* tok) { return tokenizer_names[tok->type]; }

// Encodes len bytes of text into ids (room for len ids); returns the number of ids. Any bytes round trip
// through tokenizer_decode. gpt2 encodes with per-tokenizer scratch: one thread per Tokenizer at a time.
static size_t tokenizer_encode(const Tokenizer* tok, const unsigned char* text, size_t len, int* ids) {
    if (tok->type == TOKENIZER_GPT2) return bpe_encode(tok->bpe, text, len, ids);
    for (size_t i = 0; i < len; i++) ids[i] = text[i]; // bytes: one id per byte
    return len;
}

// The bytes of one token (0 <= id < vocab_size): returns a pointer to them and their count in *n.
static const char* tokenizer_decode(const Tokenizer* tok, int id, size_t* n) {
    if (tok->type == TOKENIZER_GPT2) return bpe_token(tok->bpe, id, n);
    if (id == tok->eot_token) {
        *n = sizeof(EOT_TEXT) - 1;
        return EOT_TEXT;
    }
    *n = 1;
    return &tok->byte_text[id];
}

// Writes the tokenizer as llm.c's decode table (gpt2_tokenizer.bin for gpt2, which llm.c's samplers read):
// uint32 header[256] = {20240328, 2, V, EOT, 0...}, then per token a uint8 length and its bytes. Atomic.
static void tokenizer_write_llmc(const Tokenizer* tok, const char* path) {
    uint32_t header[256] = {LLMC_TOKENIZER_MAGIC, LLMC_TOKENIZER_VERSION, (uint32_t)tok->vocab_size, (uint32_t)tok->eot_token};
    AtomicFile f;
    atomic_open(&f, path);
    atomic_write(&f, header, sizeof(header));
    for (int id = 0; id < tok->vocab_size; id++) {
        size_t n;
        const char* bytes = tokenizer_decode(tok, id, &n);
        if (n > 255) die("token %d has %zu bytes; llm.c's tokenizer file holds at most 255", id, n);
        unsigned char len = (unsigned char)n;
        atomic_write(&f, &len, 1);
        atomic_write(&f, bytes, n);
    }
    atomic_commit(&f);
}

#endif // LLMC_TOKENIZER_H
