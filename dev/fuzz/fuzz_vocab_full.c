/*
libFuzzer target: GPT-2's vocabulary readers (bpe_load, llmc/bpe.h) on complete vocabularies with edits,
to reach what small files never do: bpe_index_tokens (every id, duplicates, the byte tokens, end-of-text),
bpe_merges_from_ranks, read_merges against a complete encoder.json, and encoding with what loaded.

At start-up the target reads data/gpt2/r50k_base.tiktoken, encoder.json and vocab.bpe, and writes llm.c's
gpt2_tokenizer.bin from them with the project's writer (tokenizer_write_llmc). Each file is cut into
records: lines (tiktoken, vocab.bpe), entries '"token": id, ' (encoder.json), and the header and each
length-prefixed token (gpt2_tokenizer.bin). The input is a format byte (modulo 3: tiktoken,
encoder.json + vocab.bpe, gpt2_tokenizer.bin) and then edits, each an op byte, two record numbers a and
b (uint16, modulo the count) and the op's bytes:
    op % 6 = 0  set record a to the bytes that follow (a length byte, then the bytes)
             1  delete record a
             2  copy record b over record a
             3  edit inside record a: an offset byte, a byte count to delete there, then bytes to insert
             4  insert the bytes that follow before record a
             5  swap records a and b
op / 6 % 2 picks vocab.bpe instead of encoder.json in format 1. bpe_load must refuse the edited file with a
message or load a vocabulary that passes fuzz_check_bpe. One load parses a whole vocabulary, so this target
runs a few executions per second, not thousands.
*/
#include "fuzz_common.h"

#define MAX_EDITS 32

typedef struct {
    const unsigned char* p;
    size_t n;
} Span;

typedef struct {
    Span* base; // the unedited file's records
    size_t count, cap;
    const char* name; // the file name bpe_load sees
} BaseFile;

static BaseFile files[4]; // tiktoken, encoder.json, vocab.bpe, gpt2_tokenizer.bin
static Span* work = NULL; // the records being edited
static size_t work_cap = 0;

static void add_span(BaseFile* f, const unsigned char* p, size_t n) {
    if (f->count == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 1024;
        f->base = (Span*)realloc(f->base, f->cap * sizeof(Span));
    }
    f->base[f->count++] = (Span){p, n};
}

// lines, each with its '\n'
static void split_lines(BaseFile* f, const unsigned char* s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const unsigned char* nl = (const unsigned char*)memchr(s + i, '\n', n - i);
        size_t end = nl != NULL ? (size_t)(nl - s) + 1 : n;
        add_span(f, s + i, end - i);
        i = end;
    }
}

// encoder.json entries, each up to and including the ", " after it (GPT-2's tokens never hold a space)
static void split_entries(BaseFile* f, const unsigned char* s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        while (end < n && !(end + 1 < n && s[end] == ',' && s[end + 1] == ' ')) end++;
        end = end < n ? end + 2 : n;
        add_span(f, s + i, end - i);
        i = end;
    }
}

// the 1024-byte header, then each token as its length byte and bytes
static void split_llmc(BaseFile* f, const unsigned char* s, size_t n) {
    add_span(f, s, 1024);
    for (size_t i = 1024; i < n; i += 1 + (size_t)s[i]) add_span(f, s + i, 1 + (size_t)s[i]);
}

int LLVMFuzzerInitialize(int* argc, char*** argv) {
    (void)argc;
    (void)argv;
    size_t n;
    unsigned char* s = fuzz_read_data_file("gpt2/r50k_base.tiktoken", &n);
    files[0].name = "vocab.tiktoken";
    split_lines(&files[0], s, n);
    s = fuzz_read_data_file("gpt2/encoder.json", &n);
    files[1].name = "encoder.json";
    split_entries(&files[1], s, n);
    s = fuzz_read_data_file("gpt2/vocab.bpe", &n);
    files[2].name = "vocab.bpe";
    split_lines(&files[2], s, n);
    // llm.c's file, written by the project's writer from the tiktoken vocabulary
    char path[4200], bin[512];
    snprintf(path, sizeof(path), "%s/gpt2/r50k_base.tiktoken", fuzz_data_dir);
    Tokenizer tok;
    tokenizer_load(&tok, "gpt2", path);
    snprintf(bin, sizeof(bin), "%s/base_gpt2_tokenizer.bin", fuzz_dir);
    tokenizer_write_llmc(&tok, bin);
    tokenizer_free(&tok);
    s = file_read_all(bin, &n);
    unlink(bin);
    files[3].name = "vocab.bin";
    split_llmc(&files[3], s, n);
    for (int i = 0; i < 4; i++) {
        if (files[i].count > work_cap) work_cap = files[i].count;
    }
    work_cap += MAX_EDITS;
    work = (Span*)malloc(work_cap * sizeof(Span));
    return 0;
}

// the edited file f per the edits in [*in, end) that `select` picks; returns its bytes (malloc'd)
static unsigned char* edited(const BaseFile* f, int select, const uint8_t* in, const uint8_t* end, size_t* len) {
    size_t count = f->count;
    memcpy(work, f->base, count * sizeof(Span));
    unsigned char* scratch = (unsigned char*)malloc(MAX_EDITS * 512); // bytes of edited records
    size_t used = 0;
    for (int e = 0; e < MAX_EDITS && end - in >= 5; e++) {
        int op = in[0] % 6, which = in[0] / 6 % 2;
        size_t a = (size_t)(in[1] | in[2] << 8), b = (size_t)(in[3] | in[4] << 8);
        in += 5;
        if (count > 0) { a %= count; b %= count; }
        const uint8_t* bytes = in;
        size_t nbytes = 0;
        if (op == 0 || op == 4) { // a length byte, then the bytes
            nbytes = in < end ? in[0] : 0;
            bytes = in + 1;
            if (nbytes > (size_t)(end - bytes)) nbytes = end - bytes > 0 ? (size_t)(end - bytes) : 0;
            in = bytes + nbytes;
        }
        size_t off = 0, del = 0;
        if (op == 3) { // an offset, a count to delete, then the bytes to insert (a length byte, the bytes)
            if (end - in < 3) break;
            off = in[0];
            del = in[1];
            nbytes = in[2];
            bytes = in + 3;
            if (nbytes > (size_t)(end - bytes)) nbytes = (size_t)(end - bytes);
            in = bytes + nbytes;
        }
        if (which != select || count == 0) continue;
        if (op == 0) {
            work[a] = (Span){bytes, nbytes};
        } else if (op == 1) {
            memmove(work + a, work + a + 1, (count - a - 1) * sizeof(Span));
            count--;
        } else if (op == 2) {
            work[a] = work[b];
        } else if (op == 3) {
            size_t ins = nbytes;
            const uint8_t* insert = bytes;
            Span s = work[a];
            if (off > s.n) off = s.n;
            if (del > s.n - off) del = s.n - off;
            size_t n = s.n - del + ins;
            if (n > 512) continue;
            unsigned char* out = scratch + used;
            memcpy(out, s.p, off);
            memcpy(out + off, insert, ins);
            memcpy(out + off + ins, s.p + off + del, s.n - off - del);
            used += 512;
            work[a] = (Span){out, n};
        } else if (op == 4) {
            memmove(work + a + 1, work + a, (count - a) * sizeof(Span));
            work[a] = (Span){bytes, nbytes};
            count++;
        } else {
            Span t = work[a];
            work[a] = work[b];
            work[b] = t;
        }
    }
    size_t total = 0;
    for (size_t i = 0; i < count; i++) total += work[i].n;
    unsigned char* out = (unsigned char*)malloc(total + 1);
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy(out + at, work[i].p, work[i].n);
        at += work[i].n;
    }
    free(scratch);
    *len = total;
    return out;
}

static void write_edited(const BaseFile* f, int select, const uint8_t* in, const uint8_t* end, char* path, size_t pathlen) {
    size_t len;
    unsigned char* bytes = edited(f, select, in, end, &len);
    fuzz_write_file(path, pathlen, f->name, bytes, len);
    free(bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    int format = data[0] % 3;
    const uint8_t *in = data + 1, *end = data + size;
    char path[512], other[512];
    if (format == 0) {
        write_edited(&files[0], 0, in, end, path, sizeof(path));
    } else if (format == 1) {
        write_edited(&files[1], 0, in, end, path, sizeof(path));
        write_edited(&files[2], 1, in, end, other, sizeof(other));
    } else {
        write_edited(&files[3], 0, in, end, path, sizeof(path));
    }
    fuzz_load_vocab(path);
    return 0;
}
