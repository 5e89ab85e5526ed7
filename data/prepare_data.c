/*
Text files -> llm.c token shards (format in llmc/dataloader.h).

    ./prepare_data -o data/tinyshakespeare/tinyshakespeare_bytes input.txt [more.txt ...]

Each input file is one document (--docs file), or each of its sections between blank lines is (--docs
sections); every document is end-of-text, then its tokens. The documents are concatenated; the last
--val-frac of the tokens (or exactly --val-tokens; the first ones with --val-at start) become the validation
split. Each split is written as PREFIX_train.bin / PREFIX_val.bin, or, when it needs more than one shard of
--shard-tokens, as PREFIX_train_000000.bin, PREFIX_train_000001.bin, ...; the trainer's default globs
(PREFIX_train*.bin) match both.

--docs sections with --val-at start --val-tokens 32768 and GPT-2 tokens is llm.c's preparation of tiny
Shakespeare (dev/data/tinyshakespeare.py): it splits the text on "\n\n" and encodes each section with its
"\n\n" (the last section has none), and its files are byte-identical to llm.c's.
*/
#include "../llmc/dataloader.h"
#include "../llmc/tokenizer.h"
#include "../llmc/utils.h"

static void usage(void) {
    printf("usage: ./prepare_data -o PREFIX [flags] FILE [FILE ...]\n"
           "       ./prepare_data --save-tokenizer PATH [--tokenizer NAME --vocab PATH]\n\n"
           "  -o PREFIX              output prefix: writes PREFIX_train*.bin and PREFIX_val*.bin\n"
           "  --tokenizer NAME       bytes (ids 0-255 bytes, 256 end-of-text) or gpt2 (GPT-2 BPE, 50257 tokens) [bytes]\n"
           "  --vocab PATH           gpt2's vocabulary: a directory holding r50k_base.tiktoken, encoder.json + vocab.bpe\n"
           "                         or gpt2_tokenizer.bin, or one of those files [data/gpt2, which make data unpacks]\n"
           "  --docs file|sections   a document is a whole file, or each section of a file between blank lines (\"\\n\\n\",\n"
           "                         which stays with the section before it); end-of-text precedes each document [file]\n"
           "  --val-at end|start     the validation split is the last or the first tokens [end]\n"
           "  --val-frac F           fraction of the tokens that forms the validation split, in [0, 1) (0 = none) [0.1]\n"
           "  --val-tokens N         exactly N validation tokens instead (overrides --val-frac)\n"
           "  --shard-tokens N       tokens per shard at most [100000000]\n"
           "  --save-tokenizer PATH  also write the tokenizer as llm.c's tokenizer file (gpt2_tokenizer.bin)\n\n"
           "llm.c's tiny Shakespeare (tiny_shakespeare_{train,val}.bin, the same bytes as llm.c's):\n"
           "  ./prepare_data --tokenizer gpt2 --docs sections --val-at start --val-tokens 32768 \\\n"
           "      -o data/tinyshakespeare/tiny_shakespeare data/tinyshakespeare/input.txt\n");
}

// writes tokens[0..n) as one or more shards named PREFIX_split[_k].bin
static void write_split(const char* prefix, const char* split, const uint16_t* tokens, size_t n, size_t shard_tokens) {
    size_t num_shards = n == 0 ? 0 : (n + shard_tokens - 1) / shard_tokens;
    for (size_t k = 0; k < num_shards; k++) {
        size_t begin = k * shard_tokens, count = (n - begin) < shard_tokens ? (n - begin) : shard_tokens;
        char path[4096];
        if (num_shards == 1) snprintf(path, sizeof(path), "%s_%s.bin", prefix, split);
        else snprintf(path, sizeof(path), "%s_%s_%06zu.bin", prefix, split, k);
        shard_write(path, tokens + begin, count);
        printf("wrote %s: %zu tokens\n", path, count);
    }
}

typedef struct {
    uint16_t* ids;
    size_t n, cap;
} TokenList;

// Appends one document: end-of-text, then the tokens of text[0, len). scratch has room for len ids.
static void append_document(TokenList* t, const Tokenizer* tok, const unsigned char* text, size_t len, int* scratch) {
    size_t count = tokenizer_encode(tok, text, len, scratch);
    grow_or_die((void**)&t->ids, &t->cap, t->n + 1 + count, sizeof(uint16_t));
    t->ids[t->n++] = (uint16_t)tok->eot_token;
    for (size_t i = 0; i < count; i++) t->ids[t->n++] = (uint16_t)scratch[i];
}

int main(int argc, char** argv) {
    process_setup();
    const char* prefix = NULL;
    const char* tokenizer = "bytes";
    const char* vocab = NULL;
    const char* docs = "file";
    const char* val_at = "end";
    const char* save_tokenizer = NULL;
    double val_frac = 0.1;
    long long val_tokens = -1, shard_tokens = 100000000;
    int first_input = argc;
    for (int i = 1; i < argc; i++) {
        const char* flag = argv[i];
        if (strcmp(flag, "-h") == 0 || strcmp(flag, "--help") == 0) { usage(); return 0; }
        if (flag[0] != '-') { first_input = i; break; }
        if (i + 1 >= argc) die_hint("run ./prepare_data --help", "flag %s needs a value", flag);
        const char* value = argv[++i];
        if (strcmp(flag, "-o") == 0) prefix = value;
        else if (strcmp(flag, "--tokenizer") == 0) tokenizer = value;
        else if (strcmp(flag, "--vocab") == 0) vocab = value;
        else if (strcmp(flag, "--docs") == 0) docs = value;
        else if (strcmp(flag, "--val-at") == 0) val_at = value;
        else if (strcmp(flag, "--val-frac") == 0) val_frac = parse_double_or_die(value, "--val-frac");
        else if (strcmp(flag, "--val-tokens") == 0) val_tokens = (long long)parse_u64_or_die(value, "--val-tokens");
        else if (strcmp(flag, "--shard-tokens") == 0) shard_tokens = (long long)parse_u64_or_die(value, "--shard-tokens");
        else if (strcmp(flag, "--save-tokenizer") == 0) save_tokenizer = value;
        else die_hint("run ./prepare_data --help", "unknown flag '%s'", flag);
    }
    int sections = strcmp(docs, "sections") == 0, val_first = strcmp(val_at, "start") == 0;
    if (!sections && strcmp(docs, "file") != 0) die_hint("use --docs file or --docs sections", "unknown --docs '%s'", docs);
    if (!val_first && strcmp(val_at, "end") != 0) die_hint("use --val-at end or --val-at start", "unknown --val-at '%s'", val_at);
    int have_inputs = first_input < argc;
    if (!have_inputs && save_tokenizer == NULL) die_hint("pass one or more text files after the flags", "no input files");
    if (have_inputs && prefix == NULL) die_hint("pass -o PREFIX, e.g. -o data/mytext/mytext_bytes", "no output prefix (-o)");
    if (!(val_frac >= 0.0 && val_frac < 1.0)) die("--val-frac must be in [0, 1), got %g", val_frac);
    if (shard_tokens < 1 || shard_tokens > INT32_MAX) die("--shard-tokens must be in [1, %d], got %lld", INT32_MAX, shard_tokens);
    Tokenizer tok;
    tokenizer_load(&tok, tokenizer, vocab);
    if (save_tokenizer != NULL) {
        tokenizer_write_llmc(&tok, save_tokenizer);
        printf("wrote %s: tokenizer %s, %d tokens (llm.c's tokenizer file)\n", save_tokenizer, tokenizer_name(&tok),
               tok.vocab_size);
    }
    if (!have_inputs) {
        tokenizer_free(&tok);
        return 0;
    }
    char dir[4096];
    path_dirname(dir, sizeof(dir), prefix);
    make_dir_or_die(dir);

    // tokenize every document: EOT, then its text
    TokenList tokens = {0};
    double t0 = wall_seconds();
    for (int f = first_input; f < argc; f++) {
        size_t size, n_before = tokens.n, n_docs = 0;
        unsigned char* text = file_read_all(argv[f], &size);
        if (size == 0) die_hint("remove the empty file from the list", "input file '%s' is empty: it has no text to tokenize", argv[f]);
        int* scratch = (int*)mallocCheck((size + 1) * sizeof(int));
        for (size_t start = 0;;) { // the next document is text[start, end)
            size_t end = start;
            while (sections && end + 1 < size && !(text[end] == '\n' && text[end + 1] == '\n')) end++;
            int last = !sections || end + 1 >= size;
            end = last ? size : end + 2;
            append_document(&tokens, &tok, text + start, end - start, scratch);
            n_docs++;
            if (last) break;
            start = end;
        }
        printf("%s: %zu bytes, %zu documents -> %zu tokens\n", argv[f], size, n_docs, tokens.n - n_before);
        free(scratch);
        free(text);
    }
    double seconds = wall_seconds() - t0;
    size_t n = tokens.n;
    size_t n_val = val_tokens >= 0 ? (size_t)val_tokens : (size_t)(val_frac * (double)n);
    if (n_val >= n) die_hint("lower --val-tokens", "--val-tokens %zu leaves no training tokens (%zu in all)", n_val, n);
    if (n_val == 0 && (val_tokens > 0 || val_frac > 0)) {
        die_hint("pass more text, or --val-tokens N for a validation split of N tokens", "the text gives %zu tokens: %g of them is no "
                 "validation token, so no validation split would be written", n, val_frac);
    }
    size_t n_train = n - n_val;
    write_split(prefix, "train", tokens.ids + (val_first ? n_val : 0), n_train, (size_t)shard_tokens);
    write_split(prefix, "val", tokens.ids + (val_first ? 0 : n_train), n_val, (size_t)shard_tokens);
    printf("%zu tokens: %zu train, %zu val (tokenizer %s, %.2f s)\n", n, n_train, n_val, tokenizer_name(&tok), seconds);
    free(tokens.ids);
    tokenizer_free(&tok);
    return 0;
}
