/*
Unit tests of the tokenizers (llmc/tokenizer.h, llmc/bpe.h): GPT-2 ids that OpenAI's tokenizer gives and
ids worked out from the vocabulary files, round trips of any bytes (invalid UTF-8 included), the three
vocabulary formats encoding tiny Shakespeare identically, llm.c's tokenizer file written byte for byte, and
the byte tokenizer. Damaged vocabulary files are tested on the command line (test_tokenizer.sh).

    make test   (or: make dev/test_tokenizer && ./dev/test_tokenizer)
    GPT2_VOCAB=dir TINYSHAKESPEARE=path ./dev/test_tokenizer   to use other copies of the data
*/
#include "../llmc/tokenizer.h"
#include "test_common.h"




// Encodes text[0, len) and decodes it back: 1 when the bytes come back, every id is in range and no id is
// end-of-text. Sets *count to the number of ids when count is not NULL.
static int round_trips(const Tokenizer* tok, const unsigned char* text, size_t len, size_t* count) {
    int* ids = (int*)mallocCheck((len + 1) * sizeof(int));
    size_t n = tokenizer_encode(tok, text, len, ids), at = 0;
    int ok = n <= len;
    for (size_t i = 0; ok && i < n; i++) {
        size_t k;
        ok = ids[i] >= 0 && ids[i] < tok->vocab_size && ids[i] != tok->eot_token;
        const char* bytes = ok ? tokenizer_decode(tok, ids[i], &k) : NULL;
        ok = ok && at + k <= len && memcmp(text + at, bytes, k) == 0;
        at += ok ? k : 0;
    }
    free(ids);
    if (count != NULL) *count = n;
    return ok && at == len;
}

// ----------------------------------------------------------------------------
// GPT-2 ids

typedef struct {
    const char* what;
    const char* text;
    int ids[16];
    int n;
} IdCase;

static void test_known_ids(const Tokenizer* tok) {
    // The first three are OpenAI's (tiktoken's README and GPT-2's own examples). The others were worked out
    // from the vocabulary files: split by GPT-2's regex as the comment shows, each pre-token merged by the
    // ranks in vocab.bpe (GPT-2's bpe()), ids from encoder.json. GPT-2 has no token for two spaces.
    IdCase cases[] = {
        {"Hello world", "Hello world", {15496, 995}, 2},
        {"' hello'", " hello", {23748}, 1},
        {"'\\n\\n'", "\n\n", {628}, 1},
        // I|'m| don|'t| DON|'|T: the contractions are lowercase only
        {"contractions", "I'm don't DON'T", {40, 1101, 836, 470, 23917, 6, 51}, 7},
        // we|'ve| they|'ll| you|'re| he|'d| it|'s
        {"contractions 've 'll 're 'd 's", "we've they'll you're he'd it's",
         {732, 1053, 484, 1183, 345, 821, 339, 1549, 340, 338}, 10},
        // In| 2024|,| 1234567| apples; " 1234567" merges to " 123", "45", "67"
        {"digits", "In 2024, 1234567 apples", {818, 48609, 11, 17031, 2231, 3134, 22514}, 7},
        // Hello| | world and a|   | b: a run of spaces leaves its last space to the next word
        {"runs of spaces", "Hello  world a    b", {15496, 220, 995, 257, 220, 220, 220, 275}, 8},
        // \t|if| x|:|\n\t|\t|return
        {"tabs", "\tif x:\n\t\treturn", {197, 361, 2124, 25, 198, 197, 197, 7783}, 8},
        // a|NBSP|NBSP|b: Unicode spaces are whitespace to the regex (the pair NBSP NBSP is token 4603)
        {"no-break spaces", "a\u00a0\u00a0b", {64, 1849, 1849, 65}, 4},
        // line| one|\r|\n|line| two|\r\n: "\r" leaves "\n" that precedes a word to its own pre-token
        {"CRLF", "line one\r\nline two\r\n", {1370, 530, 201, 198, 1370, 734, 201, 198}, 8},
        // café| naïve| Größe| привет: letters beyond ASCII stay in one pre-token
        {"non-ASCII letters", "café naïve Größe привет",
         {66, 1878, 2634, 41492, 1902, 9101, 39683, 68, 12466, 123, 21169, 18849, 38857, 16843, 20375}, 15},
        // 👍| ok| 👍🏽!: the skin-tone modifier and '!' are neither letters nor digits, like the emoji
        {"emoji", "👍 ok 👍🏽!", {41840, 235, 12876, 50169, 235, 8582, 237, 121, 0}, 9},
        // <||endoftext||>: ordinary encoding never produces end-of-text (50256)
        {"'<|endoftext|>' as plain text", "<|endoftext|>", {27, 91, 437, 1659, 5239, 91, 29}, 7},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int ids[64];
        size_t n = tokenizer_encode(tok, (const unsigned char*)cases[c].text, strlen(cases[c].text), ids);
        int same = (int)n == cases[c].n && memcmp(ids, cases[c].ids, n * sizeof(int)) == 0;
        char got[512] = "";
        for (size_t i = 0; i < n && strlen(got) < sizeof(got) - 16; i++) {
            snprintf(got + strlen(got), 16, "%s%d", i ? " " : "", ids[i]);
        }
        CHECK(same, "gpt2 %s -> [%s]", cases[c].what, got);
    }
}

static void test_gpt2_basics(const Tokenizer* tok) {
    size_t n;
    const char* eot = tokenizer_decode(tok, tok->eot_token, &n);
    CHECK(strcmp(tokenizer_name(tok), "gpt2") == 0 && tok->vocab_size == 50257 && tok->eot_token == 50256 && n == 13 &&
              memcmp(eot, "<|endoftext|>", 13) == 0,
          "gpt2: 50257 tokens, end-of-text 50256 decodes to <|endoftext|>");
    size_t m;
    const char* hello = tokenizer_decode(tok, 15496, &n);
    const char* world = tokenizer_decode(tok, 995, &m);
    CHECK(n == 5 && memcmp(hello, "Hello", 5) == 0 && m == 6 && memcmp(world, " world", 6) == 0,
          "gpt2: 15496 decodes to 'Hello', 995 to ' world'");
}

// ----------------------------------------------------------------------------
// round trips

static void test_round_trips(const Tokenizer* tok, const unsigned char* shakespeare, size_t shakespeare_len) {
    struct { const char* what; const char* text; } texts[] = {
        {"mixed text", "The quick brown fox's 3 jumps, (over) 1,000 lazy dogs!?\n\n\tx = y**2 // 7;\r\n  trailing   "},
        {"unicode", "Ελληνικά, العربية, हिन्दी, 中文, 한국어, emoji 🙂🚀👨‍👩‍👧 and U+3000\u3000here"},
        {"invalid UTF-8: stray bytes", "abc\x80\xff def\xfe"},
        {"invalid UTF-8: truncated sequences", "euro \xe2\x82 and \xf0\x9f\x98 then text"},
        {"invalid UTF-8: overlong and surrogate", "\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 ok"},
        {"invalid UTF-8 inside a word and between spaces", "wor\xffld   \xff   x\x80"},
        {"end-of-text text", "a<|endoftext|>b"},
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        int ok = round_trips(tok, (const unsigned char*)texts[i].text, strlen(texts[i].text), NULL);
        CHECK(ok, "gpt2 round trip: %s", texts[i].what);
    }
    unsigned char all[512];
    for (int i = 0; i < 512; i++) all[i] = (unsigned char)(i < 256 ? i : 511 - i);
    CHECK(round_trips(tok, all, sizeof(all), NULL), "gpt2 round trip: every byte value, up and down");
    size_t n = 1 << 16;
    unsigned char* bytes = (unsigned char*)mallocCheck(n);
    uint64_t state = 42;
    for (size_t i = 0; i < n; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        bytes[i] = (unsigned char)(state >> 56);
    }
    CHECK(round_trips(tok, bytes, n, NULL), "gpt2 round trip: 64 KiB of random bytes");
    memset(bytes, 'a', n); // one pre-token: too long for the cache, merged in O(n log n)
    size_t count;
    CHECK(round_trips(tok, bytes, n, &count) && count < n / 2, "gpt2 round trip: a 64 KiB word (%zu tokens)", count);
    free(bytes);
    size_t first, second;
    int ok = round_trips(tok, shakespeare, shakespeare_len, &first) && round_trips(tok, shakespeare, shakespeare_len, &second);
    CHECK(ok && first == second && first < shakespeare_len / 3,
          "gpt2 round trip: tiny Shakespeare, %zu bytes -> %zu tokens, the same again from the cache", shakespeare_len, first);
    CHECK(round_trips(tok, (const unsigned char*)"", 0, &count) && count == 0, "gpt2: empty text -> no tokens");
}

// ----------------------------------------------------------------------------
// the vocabulary formats and llm.c's tokenizer file

static int* encode_all(const Tokenizer* tok, const unsigned char* text, size_t len, size_t* n) {
    int* ids = (int*)mallocCheck((len + 1) * sizeof(int));
    *n = tokenizer_encode(tok, text, len, ids);
    return ids;
}

static int file_sha256_is(const char* path, const char* expected) {
    size_t n;
    unsigned char* data = file_read_all(path, &n);
    char hash[65];
    sha256_hex(data, n, hash);
    free(data);
    return strcmp(hash, expected) == 0;
}

// llm.c's gpt2_tokenizer.bin is not shipped: the tokenizer writes it, and its sha256 must be llm.c's published
// one (bpe.h's table); then every format, that file included, must encode tiny Shakespeare alike and write it back
static void test_formats(const char* vocab_dir, const Tokenizer* tok, const unsigned char* text, size_t len,
                         const char* tmpdir) {
    size_t n_ref;
    int* ref = encode_all(tok, text, len, &n_ref); // tok was loaded from the directory: the .tiktoken file
    char* written = str_printf("%s/gpt2_tokenizer.bin", tmpdir);
    tokenizer_write_llmc(tok, written);
    const char* llmc_sha = GPT2_KNOWN_FILES[3][1];
    CHECK(file_sha256_is(written, llmc_sha), "gpt2: writes llm.c's gpt2_tokenizer.bin (sha256 %.8s...)", llmc_sha);
    const char* files[] = {"r50k_base.tiktoken", "encoder.json", "vocab.bpe", NULL};
    for (int f = 0; f < 4; f++) {
        char* path = files[f] ? str_printf("%s/%s", vocab_dir, files[f]) : str_printf("%s", written);
        const char* name = files[f] ? files[f] : "gpt2_tokenizer.bin";
        Tokenizer other;
        tokenizer_load(&other, "gpt2", path);
        size_t n;
        int* ids = encode_all(&other, text, len, &n);
        CHECK(n == n_ref && memcmp(ids, ref, n * sizeof(int)) == 0, "gpt2 from %s: tiny Shakespeare encodes to the same %zu ids",
              name, n);
        char* out = str_printf("%s/written_%d.bin", tmpdir, f);
        tokenizer_write_llmc(&other, out);
        CHECK(file_sha256_is(out, llmc_sha), "gpt2 from %s: writes llm.c's gpt2_tokenizer.bin byte for byte", name);
        free(ids);
        free(path);
        free(out);
        tokenizer_free(&other);
    }
    free(written);
    free(ref);
}

// ----------------------------------------------------------------------------
// the byte tokenizer

static void test_bytes(const char* tmpdir) {
    Tokenizer tok;
    tokenizer_init(&tok, "bytes");
    unsigned char text[256];
    for (int i = 0; i < 256; i++) text[i] = (unsigned char)(255 - i);
    size_t count;
    int ok = round_trips(&tok, text, sizeof(text), &count) && count == 256;
    int ids[4];
    tokenizer_encode(&tok, (const unsigned char*)"Hi\n", 3, ids);
    size_t n;
    const char* eot = tokenizer_decode(&tok, tok.eot_token, &n);
    CHECK(ok && ids[0] == 'H' && ids[1] == 'i' && ids[2] == '\n' && tok.vocab_size == 257 && tok.eot_token == 256 && n == 13 &&
              memcmp(eot, "<|endoftext|>", 13) == 0 && strcmp(tokenizer_name(&tok), "bytes") == 0,
          "bytes: one id per byte, any bytes round trip, 256 decodes to <|endoftext|>");
    char* path = str_printf("%s/bytes_tokenizer.bin", tmpdir);
    tokenizer_write_llmc(&tok, path);
    size_t size;
    unsigned char* file = file_read_all(path, &size);
    uint32_t header[4] = {0};
    int size_ok = size == 1024 + 256 * 2 + 1 + 13; // the header, 256 tokens of one byte, <|endoftext|>
    if (size_ok) memcpy(header, file, sizeof(header));
    int header_ok = header[0] == 20240328 && header[1] == 2 && header[2] == 257 && header[3] == 256;
    int tokens_ok = size_ok && file[1024] == 1 && file[1025] == 0 && file[1024 + 2 * 255] == 1 && file[1025 + 2 * 255] == 255 &&
                    file[1024 + 512] == 13 && memcmp(file + 1024 + 513, "<|endoftext|>", 13) == 0;
    CHECK(size_ok && header_ok && tokens_ok, "bytes: llm.c tokenizer file, %zu bytes (header, 256 one-byte tokens, <|endoftext|>)",
          size);
    free(file);
    free(path);
    tokenizer_free(&tok);
}

int main(void) {
    const char* vocab_dir = env_or("GPT2_VOCAB", "data/gpt2");
    const char* shakespeare_path = env_or("TINYSHAKESPEARE", "data/tinyshakespeare/input.txt");
    if (!file_exists(vocab_dir) || !file_exists(shakespeare_path)) {
        die_hint("run from the repository root after `make data`, or set GPT2_VOCAB=dir and TINYSHAKESPEARE=path",
                 "test data not found: '%s', '%s'", vocab_dir, shakespeare_path);
    }
    char tmpdir[] = "/tmp/gptc_tok_XXXXXX";
    if (mkdtemp(tmpdir) == NULL) die("cannot create a temporary directory: %s", strerror(errno));
    size_t len;
    unsigned char* shakespeare = file_read_all(shakespeare_path, &len);

    Tokenizer tok;
    double t0 = wall_seconds();
    tokenizer_load(&tok, "gpt2", vocab_dir);
    printf("gpt2 vocabulary loaded from %s in %.3f s\n", vocab_dir, wall_seconds() - t0);
    test_gpt2_basics(&tok);
    test_known_ids(&tok);
    test_round_trips(&tok, shakespeare, len);
    test_formats(vocab_dir, &tok, shakespeare, len, tmpdir);
    tokenizer_free(&tok);
    test_bytes(tmpdir);

    free(shakespeare);
    char* rm = str_printf("rm -rf '%s'", tmpdir);
    if (system(rm) != 0) printf("note: could not remove %s\n", tmpdir);
    free(rm);
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "all tokenizer tests passed", failures);
    return failures ? 1 : 0;
}
