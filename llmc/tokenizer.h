/*
Tokenizers, shared by both trainers and the data tool.

bytes: ids 0..255 are the bytes themselves and 256 is end-of-text; no vocabulary file.
*/
#ifndef LLMC_TOKENIZER_H
#define LLMC_TOKENIZER_H

#include "utils.h"

typedef enum { TOKENIZER_BYTES } TokenizerType;

static const char* const tokenizer_names[] = {"bytes"};

typedef struct {
    TokenizerType type;
    int vocab_size; // V: ids are 0..V-1
    int eot_token;  // end-of-text id, put before each document
    char byte_text[256]; // byte_text[b] == b: what a byte token decodes to
} Tokenizer;

static const char EOT_TEXT[] = "<|endoftext|>";

static void tokenizer_init(Tokenizer* tok, const char* name) {
    if (strcmp(name, "bytes") == 0) {
        tok->type = TOKENIZER_BYTES;
        tok->vocab_size = 257;
        tok->eot_token = 256;
        for (int b = 0; b < 256; b++) tok->byte_text[b] = (char)b;
        return;
    }
    die_hint("use --tokenizer bytes", "unknown tokenizer '%s'", name);
}

static const char* tokenizer_name(const Tokenizer* tok) { return tokenizer_names[tok->type]; }

// Encodes len bytes of text into ids (room for len ids); returns the number of ids.
static size_t tokenizer_encode(const Tokenizer* tok, const unsigned char* text, size_t len, int* ids) {
    (void)tok; // bytes: one id per byte
    for (size_t i = 0; i < len; i++) ids[i] = text[i];
    return len;
}

// The bytes of one token: returns a pointer to them and their count in *n.
static const char* tokenizer_decode(const Tokenizer* tok, int id, size_t* n) {
    if (id == tok->eot_token) {
        *n = sizeof(EOT_TEXT) - 1;
        return EOT_TEXT;
    }
    *n = 1;
    return &tok->byte_text[id];
}

#endif // LLMC_TOKENIZER_H
