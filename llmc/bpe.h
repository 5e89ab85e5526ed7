/*
GPT-2's byte-level BPE: its vocabulary files, encoding and decoding. tokenizer.h wraps it as "gpt2".

Vocabulary files; each one gives the same 50257 tokens, id 50256 being <|endoftext|>:
- r50k_base.tiktoken (tiktoken): per line base64(token bytes), a space, the rank; ranks are 0..50255 in
  order and are the ids.
- encoder.json + vocab.bpe (GPT-2's release): token -> id, and the 50000 merges in priority order, both
  spelling tokens in GPT-2's byte alphabet (one printable character per byte, see byte_alphabet).
- gpt2_tokenizer.bin (llm.c): uint32 header[256] = {20240328, 2, V, EOT, 0...}, then per token a uint8
  length and its bytes. Its ids are the ranks too, so it encodes as well as decodes.

Encoding splits the text into pre-tokens with GPT-2's regex (PCRE2: UTF, Unicode classes, JIT), then merges
each pre-token's bytes, always the adjacent pair of lowest rank first (leftmost on ties), until no pair
merges. vocab.bpe gives a merge's rank by its line; without it, two tokens merge with the rank of the token
they spell (tiktoken's rule, which gives the same merges). A cache maps repeated pre-tokens to their ids.
Bytes the regex cannot match (invalid UTF-8) are pre-tokens of their own, so any byte string round trips.
"<|endoftext|>" in the text is plain text: callers put eot ids where they want them.
*/
#ifndef LLMC_BPE_H
#define LLMC_BPE_H

#include "sha256.h"
#include "utils.h"
#ifdef HAVE_PCRE2 // the Makefile defines it where PCRE2 is installed; without it the tokenizer decodes but cannot encode
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

#define GPT2_VOCAB_SIZE 50257
#define GPT2_EOT 50256
#define GPT2_NUM_MERGES 50000
#define GPT2_DEFAULT_VOCAB "data/gpt2"
#define LLMC_TOKENIZER_MAGIC 20240328
#define LLMC_TOKENIZER_VERSION 2
#define BPE_CACHE_MAX_PIECE 64       // longer pre-tokens are rare: not worth caching
#define BPE_CACHE_MAX_ENTRIES (1 << 18) // then the cache starts over, bounding its memory (tiny Shakespeare: 15k)

static const char EOT_TEXT[] = "<|endoftext|>";
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char GPT2_GET_HINT[] =
    "run `make data` (unpacks the copy the repository ships into data/gpt2/, checking its sha256), or pass the path of "
    "a local copy: a directory, r50k_base.tiktoken, encoder.json (with vocab.bpe beside it) or gpt2_tokenizer.bin";
static const char GPT2_NO_PCRE2_HINT[] =
    "install PCRE2 (Debian/Ubuntu: apt-get install libpcre2-dev) and rebuild with make; decoding, and so sampling "
    "from a gpt2 model without a prompt, works without it";
static const char GPT2_DAMAGED_HINT[] =
    "the file is damaged or not GPT-2's; restore the shipped copy with `make data`, or download one with "
    "`bash data/get_gpt2_vocab.sh` (both check sha256)";

// ----------------------------------------------------------------------------
// growable arrays and a hash map from byte strings to integers

// Makes room for `need` elements of `elem` bytes in *p, doubling *cap as needed.
static void grow_or_die(void** p, size_t* cap, size_t need, size_t elem) {
    if (need <= *cap) return;
    size_t cap2 = *cap > 0 ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    void* q = realloc(*p, cap2 * elem);
    if (q == NULL) die("out of memory growing an array to %.1f MiB", cap2 * elem / 1048576.0);
    *p = q;
    *cap = cap2;
}

// FNV-1a, never 0 (0 marks an empty slot)
static uint64_t hash_bytes(const unsigned char* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h | 1;
}

typedef struct {
    uint64_t hash; // 0: empty
    uint64_t value;
    size_t key_off, key_len; // the key is the map's arena[key_off, key_off + key_len)
} BytesSlot;

// Open-addressing hash map: byte string -> uint64; keys are copied into its arena.
typedef struct {
    BytesSlot* slots;
    size_t cap, count; // cap is a power of two, count <= cap / 2
    unsigned char* arena;
    size_t arena_len, arena_cap;
} BytesMap;

static void bytesmap_init(BytesMap* m) {
    memset(m, 0, sizeof(*m));
    m->cap = 1024;
    m->slots = (BytesSlot*)callocCheck(m->cap, sizeof(BytesSlot));
}

static void bytesmap_free(BytesMap* m) {
    free(m->slots);
    free(m->arena);
}

// the slot holding key, or the empty slot where it would go
static BytesSlot* bytesmap_slot(const BytesMap* m, const unsigned char* key, size_t len, uint64_t h) {
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        BytesSlot* s = &m->slots[i];
        if (s->hash == 0) return s;
        if (s->hash == h && s->key_len == len && memcmp(m->arena + s->key_off, key, len) == 0) return s;
    }
}

// Looks key up: 1 and *value when present, else 0.
static int bytesmap_get(const BytesMap* m, const void* key, size_t len, uint64_t* value) {
    const BytesSlot* s = bytesmap_slot(m, (const unsigned char*)key, len, hash_bytes((const unsigned char*)key, len));
    if (s->hash == 0) return 0;
    *value = s->value;
    return 1;
}

// Adds key -> value and returns 1; returns 0 and changes nothing when key is present already.
static int bytesmap_put(BytesMap* m, const void* key, size_t len, uint64_t value) {
    uint64_t h = hash_bytes((const unsigned char*)key, len);
    BytesSlot* s = bytesmap_slot(m, (const unsigned char*)key, len, h);
    if (s->hash != 0) return 0;
    if (2 * (m->count + 1) > m->cap) { // rehash into twice the slots
        BytesSlot* old = m->slots;
        size_t old_cap = m->cap;
        m->cap *= 2;
        m->slots = (BytesSlot*)callocCheck(m->cap, sizeof(BytesSlot));
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].hash == 0) continue;
            size_t j = old[i].hash & (m->cap - 1);
            while (m->slots[j].hash != 0) j = (j + 1) & (m->cap - 1);
            m->slots[j] = old[i];
        }
        free(old);
        s = bytesmap_slot(m, (const unsigned char*)key, len, h);
    }
    grow_or_die((void**)&m->arena, &m->arena_cap, m->arena_len + len, 1);
    memcpy(m->arena + m->arena_len, key, len);
    *s = (BytesSlot){h, value, m->arena_len, len};
    m->arena_len += len;
    m->count++;
    return 1;
}

static void bytesmap_clear(BytesMap* m) {
    memset(m->slots, 0, m->cap * sizeof(BytesSlot));
    m->count = m->arena_len = 0;
}

// ----------------------------------------------------------------------------
// reading the vocabulary files

typedef struct {
    int vocab_size, eot;
    unsigned char* text; // every token's bytes back to back, in id order
    uint32_t* offset;    // (vocab_size + 1,) token i is text[offset[i], offset[i + 1])
    int byte_id[256];    // the token of each single byte
    BytesMap merges;     // (left id, right id) as two int32 -> rank << 32 | merged id
#ifdef HAVE_PCRE2
    pcre2_code* regex;
    pcre2_match_data* match;
#endif
    BytesMap cache; // pre-token -> start << 32 | count of its ids in cache_ids
    int* cache_ids;
    size_t cache_ids_len, cache_ids_cap;
    // scratch of one merge: per part its token and neighbours (three arrays in `parts`), candidate pairs
    int *parts, *part, *next, *prev;
    uint64_t* heap;
    size_t parts_cap, heap_cap;
} Bpe;

// Token bytes by id as a file gives them, in any order; bpe_index_tokens lays them out by id.
typedef struct {
    const char* path; // the file being read, for messages
    unsigned char* text;
    size_t text_len, text_cap;
    int64_t* start; // (GPT2_VOCAB_SIZE,) where each token starts in text; -1 until read
    uint32_t* len;
} VocabReader;

static void vocab_reader_init(VocabReader* r, const char* path) {
    memset(r, 0, sizeof(*r));
    r->path = path;
    r->start = (int64_t*)mallocCheck(GPT2_VOCAB_SIZE * sizeof(int64_t));
    r->len = (uint32_t*)callocCheck(GPT2_VOCAB_SIZE, sizeof(uint32_t));
    for (int i = 0; i < GPT2_VOCAB_SIZE; i++) r->start[i] = -1;
}

static void vocab_reader_free(VocabReader* r) {
    free(r->text);
    free(r->start);
    free(r->len);
}

// Appends n bytes to the token being read; vocab_token_end gives it its id.
static void vocab_token_bytes(VocabReader* r, const void* bytes, size_t n) {
    // nothing to append: an empty token (refused by vocab_token_end) must not reach `r->text + r->text_len`
    // while r->text is still NULL, which is undefined behaviour (a dev/fuzz/fuzz_vocab finding)
    if (n == 0) return;
    grow_or_die((void**)&r->text, &r->text_cap, r->text_len + n, 1);
    memcpy(r->text + r->text_len, bytes, n);
    r->text_len += n;
}

// Ends the token whose bytes began at text offset `begin` as token id (`where`: its place in the file, for
// messages); dies on an empty token or an id out of range or seen before.
static void vocab_token_end(VocabReader* r, size_t begin, long id, const char* where) {
    if (id < 0 || id >= GPT2_VOCAB_SIZE) {
        die_hint(GPT2_DAMAGED_HINT, "'%s' %s: id %ld is outside GPT-2's 0..%d", r->path, where, id, GPT2_VOCAB_SIZE - 1);
    }
    if (r->start[id] >= 0) die_hint(GPT2_DAMAGED_HINT, "'%s' %s: id %ld appears twice", r->path, where, id);
    if (r->text_len == begin) die_hint(GPT2_DAMAGED_HINT, "'%s' %s: token %ld is empty", r->path, where, id);
    r->start[id] = (int64_t)begin;
    r->len[id] = (uint32_t)(r->text_len - begin);
}

// Reads a whole file into a fresh buffer (NUL-terminated) and sets *n to its size.
static unsigned char* file_read_all(const char* path, size_t* n) {
    *n = (size_t)file_size_or_die(path);
    unsigned char* buf = (unsigned char*)mallocCheck(*n + 1);
    FILE* fp = fopenCheck(path, "rb");
    freadCheck(buf, 1, *n, fp, path);
    fclose(fp);
    buf[*n] = '\0';
    return buf;
}

// GPT-2's published vocabulary files by name and sha256 (what data/get_gpt2_vocab.sh downloads; llm.c's
// gpt2_tokenizer.bin). A bit flip can turn one valid token into another (' intrusive' -> ' intrusite') and
// still parse, so a file with one of these names must match its hash; a file of another name loads with a
// warning that names its hash.
static const char* const GPT2_KNOWN_FILES[][2] = {
    {"r50k_base.tiktoken", "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"},
    {"encoder.json", "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"},
    {"vocab.bpe", "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"},
    {"gpt2_tokenizer.bin", "6f3abc21e444e4e8300e225f4e03da48ea121cf17e30f67009b8dad7a66c2f13"}};

// Reads a vocabulary file whole (NUL-terminated, size in *n), checked against GPT2_KNOWN_FILES.
static unsigned char* vocab_file_read(const char* path, size_t* n) {
    unsigned char* buf = file_read_all(path, n);
    char hash[65];
    sha256_hex(buf, *n, hash);
    const char* slash = strrchr(path, '/');
    const char* name = slash ? slash + 1 : path;
    for (size_t i = 0; i < sizeof(GPT2_KNOWN_FILES) / sizeof(GPT2_KNOWN_FILES[0]); i++) {
        if (strcmp(name, GPT2_KNOWN_FILES[i][0]) != 0) continue;
        if (strcmp(hash, GPT2_KNOWN_FILES[i][1]) != 0) {
            die_hint(GPT2_DAMAGED_HINT, "'%s' has sha256 %s, but GPT-2's %s has %s (the file is damaged or another version)", path,
                     hash, name, GPT2_KNOWN_FILES[i][1]);
        }
        return buf;
    }
    fprintf(stderr, "warning: '%s' is not one of GPT-2's published vocabulary files by name; loading it unchecked (sha256 %s)\n",
            path, hash);
    return buf;
}

// Parses the decimal number s[*i, ...) of 1 to 9 digits, advancing *i; -1 when there is none.
static long parse_small_uint(const unsigned char* s, size_t n, size_t* i) {
    long v = 0;
    int digits = 0;
    for (; *i < n && s[*i] >= '0' && s[*i] <= '9' && digits < 9; (*i)++, digits++) v = v * 10 + (s[*i] - '0');
    return digits > 0 ? v : -1;
}

static int base64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

// Appends the bytes that base64 text s[0, len) encodes to the token being read; 0 if it is not base64.
static int vocab_base64_bytes(VocabReader* r, const unsigned char* s, size_t len) {
    if (len == 0 || len % 4 != 0) return 0;
    for (size_t g = 0; g < len; g += 4) {
        uint32_t bits = 0;
        int pad = 0; // '=' ends the last group: "xx==" holds one byte, "xxx=" two
        for (int k = 0; k < 4; k++) {
            int v = base64_value(s[g + k]);
            if (s[g + k] == '=' && g + 4 == len && k >= 2) pad++;
            else if (v < 0 || pad > 0) return 0;
            bits = bits << 6 | (uint32_t)(v > 0 ? v : 0);
        }
        unsigned char bytes[3] = {(unsigned char)(bits >> 16), (unsigned char)(bits >> 8), (unsigned char)bits};
        vocab_token_bytes(r, bytes, (size_t)(3 - pad));
    }
    return 1;
}

// r50k_base.tiktoken: line i is base64(token i), a space and i; <|endoftext|> follows them as id 50256.
static void read_tiktoken(VocabReader* r) {
    size_t n;
    unsigned char* s = vocab_file_read(r->path, &n);
    long line = 0;
    for (size_t i = 0; i < n; line++) {
        size_t end = i, space = i;
        while (end < n && s[end] != '\n') end++;
        while (space < end && s[space] != ' ') space++;
        char where[32];
        snprintf(where, sizeof(where), "line %ld", line + 1);
        size_t begin = r->text_len, at = space + 1;
        if (!vocab_base64_bytes(r, s + i, space - i)) {
            int shown = (int)(space - i < 40 ? space - i : 40); // a binary file has long "lines"
            die_hint(GPT2_DAMAGED_HINT, "'%s' %s: '%.*s' is not base64", r->path, where, shown, s + i);
        }
        long rank = parse_small_uint(s, end, &at);
        if (space == end || rank < 0 || at != end) {
            die_hint(GPT2_DAMAGED_HINT, "'%s' %s: expected 'base64 rank'", r->path, where);
        }
        if (rank != line) {
            die_hint(GPT2_DAMAGED_HINT, "'%s' %s: rank %ld, expected %ld (ranks run 0, 1, 2, ...)", r->path, where, rank, line);
        }
        vocab_token_end(r, begin, rank, where);
        i = end + 1;
    }
    free(s);
    if (line != GPT2_EOT) {
        die_hint(GPT2_DAMAGED_HINT, "'%s' has %ld tokens, GPT-2's r50k_base has %d (truncated?)", r->path, line, GPT2_EOT);
    }
    size_t begin = r->text_len;
    vocab_token_bytes(r, EOT_TEXT, strlen(EOT_TEXT));
    vocab_token_end(r, begin, GPT2_EOT, "end-of-text");
}

// GPT-2's byte alphabet (its bytes_to_unicode): printable Latin-1 bytes stand for themselves, the other 68
// bytes for code points 256, 257, ... in byte order. Fills cp_to_byte[0..323], -1 for other code points.
static void byte_alphabet(int cp_to_byte[324]) {
    for (int c = 0; c < 324; c++) cp_to_byte[c] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        cp_to_byte[printable ? b : 256 + n++] = b;
    }
}

// The byte that the UTF-8 character at s[*i] stands for in the alphabet, advancing *i; -1 if none (the
// alphabet's characters all take 1 or 2 bytes).
static int alphabet_byte(const int* cp_to_byte, const unsigned char* s, size_t n, size_t* i) {
    unsigned char c = s[*i];
    int cp = -1;
    if (c < 0x80) {
        cp = c;
        *i += 1;
    } else if (c >= 0xC2 && c < 0xE0 && *i + 1 < n && (s[*i + 1] & 0xC0) == 0x80) {
        cp = (c & 0x1F) << 6 | (s[*i + 1] & 0x3F);
        *i += 2;
    }
    return cp >= 0 && cp < 324 ? cp_to_byte[cp] : -1;
}

static void json_skip_space(const unsigned char* s, size_t n, size_t* i) {
    while (*i < n && (s[*i] == ' ' || s[*i] == '\n' || s[*i] == '\r' || s[*i] == '\t')) (*i)++;
}

static void json_expect(const VocabReader* r, int ok, size_t at, const char* what) {
    if (!ok) {
        die_hint(GPT2_DAMAGED_HINT, "'%s' byte %zu: expected %s (not GPT-2's encoder.json, or truncated)", r->path, at, what);
    }
}

// The character of the JSON escape at s[*i] ('\\' then one of "\\/bfnrt or uXXXX), advancing *i; -1 if bad.
static int json_escape(const unsigned char* s, size_t n, size_t* i) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (*i + 1 >= n) return -1;
    const char* simple = s[*i + 1] != '\0' ? strchr(from, s[*i + 1]) : NULL;
    if (simple != NULL) {
        *i += 2;
        return to[simple - from];
    }
    if (s[*i + 1] != 'u' || *i + 6 > n) return -1;
    int cp = 0;
    for (size_t k = *i + 2; k < *i + 6; k++) {
        int lower = s[k] | 0x20;
        int d = s[k] >= '0' && s[k] <= '9' ? s[k] - '0' : lower >= 'a' && lower <= 'f' ? lower - 'a' + 10 : -1;
        if (d < 0) return -1;
        cp = cp * 16 + d;
    }
    *i += 6;
    return cp;
}

// encoder.json: one JSON object, token (in the byte alphabet, JSON-escaped) -> id.
static void read_encoder_json(VocabReader* r, const int* cp_to_byte) {
    size_t n, i = 0;
    unsigned char* s = vocab_file_read(r->path, &n);
    json_skip_space(s, n, &i);
    json_expect(r, i < n && s[i] == '{', i, "'{'");
    i++;
    long count = 0;
    for (;;) {
        json_skip_space(s, n, &i);
        json_expect(r, i < n && s[i] == '"', i, "'\"' opening a token");
        size_t begin = r->text_len, key_at = i++;
        while (i < n && s[i] != '"') {
            size_t at = i;
            int b = -1;
            if (s[i] == '\\') {
                int cp = json_escape(s, n, &i);
                json_expect(r, cp >= 0, at, "a JSON escape");
                b = cp < 324 ? cp_to_byte[cp] : -1;
            } else {
                b = alphabet_byte(cp_to_byte, s, n, &i);
            }
            json_expect(r, b >= 0, at, "a character of GPT-2's byte alphabet");
            unsigned char byte = (unsigned char)b;
            vocab_token_bytes(r, &byte, 1);
        }
        json_expect(r, i < n, i, "'\"' closing a token");
        i++;
        json_skip_space(s, n, &i);
        json_expect(r, i < n && s[i] == ':', i, "':'");
        i++;
        json_skip_space(s, n, &i);
        long id = parse_small_uint(s, n, &i);
        json_expect(r, id >= 0, i, "a token id");
        char where[32];
        snprintf(where, sizeof(where), "byte %zu", key_at);
        vocab_token_end(r, begin, id, where);
        count++;
        json_skip_space(s, n, &i);
        json_expect(r, i < n && (s[i] == ',' || s[i] == '}'), i, "',' or '}'");
        if (s[i++] == '}') break;
    }
    json_skip_space(s, n, &i);
    json_expect(r, i == n, i, "the end of the file after '}'");
    free(s);
    if (count != GPT2_VOCAB_SIZE) {
        die_hint(GPT2_DAMAGED_HINT, "'%s' has %ld tokens, GPT-2 has %d", r->path, count, GPT2_VOCAB_SIZE);
    }
}

// gpt2_tokenizer.bin (llm.c): the header, then per token a uint8 length and the bytes.
static void read_llmc_tokenizer(VocabReader* r) {
    size_t n;
    unsigned char* s = vocab_file_read(r->path, &n);
    uint32_t header[256];
    if (n < sizeof(header)) die_hint(GPT2_DAMAGED_HINT, "'%s' is shorter than its 1024-byte header", r->path);
    memcpy(header, s, sizeof(header));
    if (header[0] != LLMC_TOKENIZER_MAGIC) {
        die_hint(GPT2_DAMAGED_HINT, "'%s' has magic %u, expected %d (not an llm.c tokenizer file)", r->path, header[0],
                 LLMC_TOKENIZER_MAGIC);
    }
    if (header[1] != LLMC_TOKENIZER_VERSION || header[2] != GPT2_VOCAB_SIZE || header[3] != GPT2_EOT) {
        die_hint(GPT2_DAMAGED_HINT, "'%s' has version %u, %u tokens, end-of-text %u; GPT-2's has version %d, %d tokens, %d",
                 r->path, header[1], header[2], header[3], LLMC_TOKENIZER_VERSION, GPT2_VOCAB_SIZE, GPT2_EOT);
    }
    size_t i = sizeof(header);
    for (int id = 0; id < GPT2_VOCAB_SIZE; id++) {
        char where[32];
        snprintf(where, sizeof(where), "byte %zu", i);
        if (i >= n || i + 1 + s[i] > n) {
            die_hint(GPT2_DAMAGED_HINT, "'%s' %s: the file ends inside token %d (truncated)", r->path, where, id);
        }
        size_t begin = r->text_len;
        vocab_token_bytes(r, s + i + 1, s[i]);
        vocab_token_end(r, begin, id, where);
        i += 1 + (size_t)s[i];
    }
    if (i != n) die_hint(GPT2_DAMAGED_HINT, "'%s' has %zu bytes after its last token", r->path, n - i);
    free(s);
}

// Lays the tokens out by id in b and fills ids (ordinary tokens' bytes -> id) and b->byte_id; dies on a
// missing id, two ids with the same bytes, a missing single byte or a wrong end-of-text.
static void bpe_index_tokens(Bpe* b, const VocabReader* r, BytesMap* ids) {
    b->vocab_size = GPT2_VOCAB_SIZE;
    b->eot = GPT2_EOT;
    b->text = (unsigned char*)mallocCheck(r->text_len);
    b->offset = (uint32_t*)mallocCheck((GPT2_VOCAB_SIZE + 1) * sizeof(uint32_t));
    b->offset[0] = 0;
    for (int id = 0; id < GPT2_VOCAB_SIZE; id++) {
        if (r->start[id] < 0) die_hint(GPT2_DAMAGED_HINT, "'%s' has no token with id %d", r->path, id);
        memcpy(b->text + b->offset[id], r->text + r->start[id], r->len[id]);
        b->offset[id + 1] = b->offset[id] + r->len[id];
    }
    const unsigned char* eot = b->text + b->offset[GPT2_EOT];
    if (r->len[GPT2_EOT] != strlen(EOT_TEXT) || memcmp(eot, EOT_TEXT, strlen(EOT_TEXT)) != 0) {
        die_hint(GPT2_DAMAGED_HINT, "'%s': token %d is '%.*s', expected %s", r->path, GPT2_EOT, (int)r->len[GPT2_EOT], eot,
                 EOT_TEXT);
    }
    bytesmap_init(ids);
    for (int id = 0; id < GPT2_EOT; id++) {
        uint64_t other = 0;
        if (!bytesmap_put(ids, b->text + b->offset[id], r->len[id], (uint64_t)id)) {
            bytesmap_get(ids, b->text + b->offset[id], r->len[id], &other);
            die_hint(GPT2_DAMAGED_HINT, "'%s': tokens %d and %d have the same bytes", r->path, (int)other, id);
        }
    }
    for (int c = 0; c < 256; c++) {
        unsigned char byte = (unsigned char)c;
        uint64_t id;
        if (!bytesmap_get(ids, &byte, 1, &id)) die_hint(GPT2_DAMAGED_HINT, "'%s' has no token for byte %d", r->path, c);
        b->byte_id[c] = (int)id;
    }
}

// Adds the merge (left, right) -> merged with priority rank; 0 when that pair merges already.
static int bpe_add_merge(Bpe* b, int left, int right, uint32_t rank, int merged) {
    int32_t key[2] = {left, right};
    return bytesmap_put(&b->merges, key, sizeof(key), (uint64_t)rank << 32 | (uint32_t)merged);
}

// Merges of a vocabulary whose ids are ranks: any two tokens that spell a token merge into it, ranked by it.
static void bpe_merges_from_ranks(Bpe* b, const BytesMap* ids) {
    for (int id = 0; id < GPT2_EOT; id++) {
        const unsigned char* t = b->text + b->offset[id];
        size_t len = b->offset[id + 1] - b->offset[id];
        for (size_t k = 1; k < len; k++) {
            uint64_t left, right;
            if (bytesmap_get(ids, t, k, &left) && bytesmap_get(ids, t + k, len - k, &right)) {
                bpe_add_merge(b, (int)left, (int)right, (uint32_t)id, id);
            }
        }
    }
}

// vocab.bpe: a "#version" line, then one "left right" merge per line in the byte alphabet, highest
// priority first. Dies when a merge's tokens are not in encoder.json (ids) or the count is not GPT-2's.
static void read_merges(Bpe* b, const BytesMap* ids, const int* cp_to_byte, const char* path, const char* encoder_path) {
    const char* mismatch = "encoder.json and vocab.bpe must come from the same GPT-2 release; fetch both with "
                           "`bash data/get_gpt2_vocab.sh data/gpt2 encoder.json vocab.bpe`";
    size_t n, i = 0;
    unsigned char* s = vocab_file_read(path, &n);
    unsigned char* bytes = (unsigned char*)mallocCheck(n + 1); // a merge's bytes: left, then right
    if (n >= 8 && memcmp(s, "#version", 8) == 0) { // GPT-2's header line
        while (i < n && s[i] != '\n') i++;
        i++;
    }
    long rank = 0, line = 1 + (i > 0);
    for (; i < n; i++, line++) {
        size_t end = i, space = i;
        while (end < n && s[end] != '\n') end++;
        while (space < end && s[space] != ' ') space++;
        if (end == i) continue; // blank line
        size_t left_len = 0, len = 0, k = i;
        int ok = space > i && space + 1 < end;
        while (ok && k < end) {
            if (k == space) {
                left_len = len;
                k++;
                continue;
            }
            int byte = alphabet_byte(cp_to_byte, s, end, &k);
            ok = byte >= 0;
            bytes[len++] = (unsigned char)byte;
        }
        if (!ok) {
            die_hint(GPT2_DAMAGED_HINT, "'%s' line %ld: expected 'left right', two tokens in GPT-2's byte alphabet", path, line);
        }
        uint64_t left, right, merged;
        int shown = (int)(end - i < 60 ? end - i : 60);
        if (!bytesmap_get(ids, bytes, left_len, &left) || !bytesmap_get(ids, bytes + left_len, len - left_len, &right) ||
            !bytesmap_get(ids, bytes, len, &merged)) {
            die_hint(mismatch, "'%s' line %ld: merge '%.*s' uses or makes a token that '%s' does not have", path, line, shown,
                     s + i, encoder_path);
        }
        if (!bpe_add_merge(b, (int)left, (int)right, (uint32_t)rank, (int)merged)) {
            die_hint(GPT2_DAMAGED_HINT, "'%s' line %ld: merge '%.*s' appears twice", path, line, shown, s + i);
        }
        rank++;
        i = end;
    }
    free(bytes);
    free(s);
    if (rank != GPT2_NUM_MERGES) {
        die_hint(GPT2_DAMAGED_HINT, "'%s' has %ld merges, GPT-2 has %d (truncated?)", path, rank, GPT2_NUM_MERGES);
    }
}

static int str_ends_with(const char* s, const char* suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

// The vocabulary files at `where` (see bpe_load): sets *single to the one file to read, or *encoder and
// *merges (fresh strings, the others NULL); dies when there are none.
static void gpt2_vocab_files(const char* where, char** single, char** encoder, char** merges) {
    *single = *encoder = *merges = NULL;
    struct stat st;
    if (stat(where, &st) != 0) die_hint(GPT2_GET_HINT, "no GPT-2 vocabulary at '%s': %s", where, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        *single = str_printf("%s/r50k_base.tiktoken", where);
        if (file_exists(*single)) return;
        free(*single);
        *single = NULL;
        *encoder = str_printf("%s/encoder.json", where);
        *merges = str_printf("%s/vocab.bpe", where);
        if (file_exists(*encoder) && file_exists(*merges)) return;
        free(*encoder);
        free(*merges);
        *encoder = *merges = NULL;
        *single = str_printf("%s/gpt2_tokenizer.bin", where);
        if (file_exists(*single)) return;
        die_hint(GPT2_GET_HINT, "no GPT-2 vocabulary in '%s' (looked for r50k_base.tiktoken, encoder.json + vocab.bpe, "
                 "gpt2_tokenizer.bin)", where);
    }
    char dir[4096];
    path_dirname(dir, sizeof(dir), where);
    if (str_ends_with(where, ".tiktoken") || str_ends_with(where, ".bin")) {
        *single = str_printf("%s", where);
        return;
    }
    if (str_ends_with(where, ".json")) {
        *encoder = str_printf("%s", where);
        *merges = str_printf("%s/vocab.bpe", dir);
    } else if (str_ends_with(where, ".bpe")) {
        *encoder = str_printf("%s/encoder.json", dir);
        *merges = str_printf("%s", where);
    } else {
        die_hint(GPT2_GET_HINT, "'%s' is not a GPT-2 vocabulary file (*.tiktoken, *.json + vocab.bpe, *.bin)", where);
    }
    const char* other = str_ends_with(where, ".json") ? *merges : *encoder;
    if (!file_exists(other)) die_hint(GPT2_GET_HINT, "'%s' needs '%s' beside it, which is missing", where, other);
}

// Loads GPT-2's vocabulary from path: a directory holding r50k_base.tiktoken, encoder.json + vocab.bpe or
// gpt2_tokenizer.bin (the first found in that order), or one of those files (encoder.json and vocab.bpe
// find each other in their directory). NULL means data/gpt2. Dies naming the file and the fix when the
// files are missing, damaged or do not match each other.
static void bpe_load(Bpe* b, const char* path) {
    memset(b, 0, sizeof(*b));
    char *single, *encoder, *merges;
    gpt2_vocab_files(path != NULL ? path : GPT2_DEFAULT_VOCAB, &single, &encoder, &merges);
    int cp_to_byte[324];
    byte_alphabet(cp_to_byte);
    VocabReader r;
    vocab_reader_init(&r, single != NULL ? single : encoder);
    if (single == NULL) read_encoder_json(&r, cp_to_byte);
    else if (str_ends_with(single, ".tiktoken")) read_tiktoken(&r);
    else read_llmc_tokenizer(&r);
    BytesMap ids;
    bpe_index_tokens(b, &r, &ids);
    bytesmap_init(&b->merges);
    if (single == NULL) read_merges(b, &ids, cp_to_byte, merges, encoder);
    else bpe_merges_from_ranks(b, &ids);
    bytesmap_free(&ids);
    vocab_reader_free(&r);
    free(single);
    free(encoder);
    free(merges);

#ifdef HAVE_PCRE2
    int err;
    PCRE2_SIZE err_at;
    b->regex = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                             &err, &err_at, NULL);
    if (b->regex == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        die_hint("install PCRE2 10.34 or newer with Unicode support (Debian: libpcre2-dev)", "cannot compile GPT-2's regex: %s",
                 (char*)msg);
    }
    pcre2_jit_compile(b->regex, PCRE2_JIT_COMPLETE); // where JIT is unavailable, pcre2_match interprets (slower)
    b->match = pcre2_match_data_create_from_pattern(b->regex, NULL);
#endif
    bytesmap_init(&b->cache);
}

static void bpe_free(Bpe* b) {
    free(b->text);
    free(b->offset);
    bytesmap_free(&b->merges);
#ifdef HAVE_PCRE2
    pcre2_match_data_free(b->match);
    pcre2_code_free(b->regex);
#endif
    bytesmap_free(&b->cache);
    free(b->cache_ids);
    free(b->parts);
    free(b->heap);
}

// ----------------------------------------------------------------------------
// encoding and decoding

// min-heap of candidate merges, each rank << 32 | its left part's position (so ties go leftmost first)
static void heap_push(uint64_t* heap, size_t* n, uint64_t v) {
    size_t i = (*n)++;
    for (; i > 0 && heap[(i - 1) / 2] > v; i = (i - 1) / 2) heap[i] = heap[(i - 1) / 2];
    heap[i] = v;
}

static uint64_t heap_pop(uint64_t* heap, size_t* n) {
    uint64_t top = heap[0], v = heap[--(*n)];
    size_t i = 0;
    for (size_t c = 1; c < *n; i = c, c = 2 * c + 1) {
        if (c + 1 < *n && heap[c + 1] < heap[c]) c++;
        if (heap[c] >= v) break;
        heap[i] = heap[c];
    }
    heap[i] = v;
    return top;
}

// The merge of part i with the next part: 1 with its rank and merged token, 0 if they do not merge or
// there is no next part (or no part i: i < 0). n: the pre-token's length.
static int bpe_pair(const Bpe* b, int i, int n, uint32_t* rank, int* merged) {
    if (i < 0 || b->next[i] >= n) return 0;
    int32_t key[2] = {b->part[i], b->part[b->next[i]]};
    uint64_t v;
    if (!bytesmap_get(&b->merges, key, sizeof(key), &v)) return 0;
    *rank = (uint32_t)(v >> 32);
    *merged = (int)(uint32_t)v;
    return 1;
}

// Pushes the merge of part i with the next part as a candidate, if they merge.
static void bpe_push_pair(Bpe* b, int i, int n, size_t* heap_len) {
    uint32_t rank;
    int merged;
    if (bpe_pair(b, i, n, &rank, &merged)) heap_push(b->heap, heap_len, (uint64_t)rank << 32 | (uint32_t)i);
}

// BPE of one pre-token p[0, n): writes its ids and returns their count (at most n). Parts form a linked
// list over byte positions; a merge turns part i into the merged token and unlinks the next part. A
// popped candidate is stale when its pair has changed since (then the pair's rank differs): skipped.
static size_t bpe_merge(Bpe* b, const unsigned char* p, int n, int* ids) {
    grow_or_die((void**)&b->parts, &b->parts_cap, 3 * (size_t)n, sizeof(int));
    grow_or_die((void**)&b->heap, &b->heap_cap, 3 * (size_t)n, sizeof(uint64_t)); // n - 1 pairs + 2 per merge
    b->part = b->parts;
    b->next = b->parts + n;
    b->prev = b->parts + 2 * n;
    for (int i = 0; i < n; i++) {
        b->part[i] = b->byte_id[p[i]];
        b->next[i] = i + 1;
        b->prev[i] = i - 1;
    }
    size_t heap_len = 0;
    for (int i = 0; i + 1 < n; i++) bpe_push_pair(b, i, n, &heap_len);
    while (heap_len > 0) {
        uint64_t top = heap_pop(b->heap, &heap_len);
        int i = (int)(uint32_t)top, merged;
        uint32_t rank;
        if (b->part[i] < 0 || !bpe_pair(b, i, n, &rank, &merged) || rank != (uint32_t)(top >> 32)) continue;
        int j = b->next[i];
        b->part[i] = merged;
        b->part[j] = -1;
        b->next[i] = b->next[j];
        if (b->next[j] < n) b->prev[b->next[j]] = i;
        bpe_push_pair(b, b->prev[i], n, &heap_len);
        bpe_push_pair(b, i, n, &heap_len);
    }
    size_t count = 0;
    for (int i = 0; i < n; i = b->next[i]) ids[count++] = b->part[i];
    return count;
}

// The ids of one pre-token p[0, n), from the cache when it was seen before; returns their count.
static size_t bpe_piece(Bpe* b, const unsigned char* p, size_t n, int* ids) {
    if (n == 1) {
        ids[0] = b->byte_id[p[0]];
        return 1;
    }
    if (n > BPE_CACHE_MAX_PIECE) return bpe_merge(b, p, (int)n, ids);
    uint64_t v;
    if (bytesmap_get(&b->cache, p, n, &v)) {
        memcpy(ids, b->cache_ids + (v >> 32), (uint32_t)v * sizeof(int));
        return (uint32_t)v;
    }
    size_t count = bpe_merge(b, p, (int)n, ids);
    if (b->cache.count >= BPE_CACHE_MAX_ENTRIES) { // start over rather than grow without bound
        bytesmap_clear(&b->cache);
        b->cache_ids_len = 0;
    }
    grow_or_die((void**)&b->cache_ids, &b->cache_ids_cap, b->cache_ids_len + count, sizeof(int));
    memcpy(b->cache_ids + b->cache_ids_len, ids, count * sizeof(int));
    bytesmap_put(&b->cache, p, n, (uint64_t)b->cache_ids_len << 32 | count);
    b->cache_ids_len += count;
    return count;
}

// Encodes text[0, len) into ids (room for len ids: never more ids than bytes); returns the count. Not
// thread-safe: the cache and scratch are b's.
static size_t bpe_encode(Bpe* b, const unsigned char* text, size_t len, int* ids) {
#ifndef HAVE_PCRE2
    (void)b, (void)text, (void)ids;
    if (len == 0) return 0;
    die_hint(GPT2_NO_PCRE2_HINT, "encoding text with the gpt2 tokenizer needs PCRE2, which this build was made without");
#else
    if (len > INT32_MAX) die("cannot encode %zu bytes in one piece (at most %d)", len, INT32_MAX);
    size_t count = 0, pos = 0;
    while (pos < len) {
        int rc = pcre2_match(b->regex, text, len, pos, 0, b->match, NULL);
        size_t start = len, end = len;
        if (rc >= 0) {
            PCRE2_SIZE* ov = pcre2_get_ovector_pointer(b->match);
            start = ov[0];
            end = ov[1];
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof(msg));
            die("GPT-2 pre-tokenisation failed at byte %zu: %s", pos, (char*)msg);
        }
        if (start > pos) count += bpe_piece(b, text + pos, start - pos, ids + count); // bytes no pattern takes
        if (end > start) count += bpe_piece(b, text + start, end - start, ids + count);
        pos = end;
    }
    return count;
#endif
}

// The bytes of token id (0 <= id < vocab_size): a pointer to them, their count in *n.
static const char* bpe_token(const Bpe* b, int id, size_t* n) {
    *n = b->offset[id + 1] - b->offset[id];
    return (const char*)b->text + b->offset[id];
}

#endif // LLMC_BPE_H
