/*
Text files -> llm.c token shards (format in llmc/dataloader.h).

    ./prepare_data -o data/tinyshakespeare/tinyshakespeare_bytes input.txt [more.txt ...]

Each input file is one document: end-of-text, then its tokens. The documents are concatenated; the last
--val-frac of the tokens (or exactly --val-tokens) become the validation split, as nanoGPT splits tiny
Shakespeare. Each split is written as PREFIX_train.bin / PREFIX_val.bin, or, when it needs more than one
shard of --shard-tokens, as PREFIX_train_000000.bin, PREFIX_train_000001.bin, ...; the trainer's
default globs (PREFIX_train*.bin) match both.
*/
#include "../llmc/dataloader.h"
#include "../llmc/tokenizer.h"
#include "../llmc/utils.h"

static void usage(void) {
    printf("usage: ./prepare_data -o PREFIX [flags] FILE [FILE ...]\n\n"
           "  -o PREFIX          output prefix: writes PREFIX_train*.bin and PREFIX_val*.bin\n"
           "  --tokenizer NAME   bytes (ids 0-255 bytes, 256 end-of-text) [bytes]\n"
           "  --val-frac F       last fraction of the tokens that forms the validation split [0.1]\n"
           "  --val-tokens N     exactly N validation tokens instead (overrides --val-frac)\n"
           "  --shard-tokens N   tokens per shard at most [100000000]\n");
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

int main(int argc, char** argv) {
    const char* prefix = NULL;
    const char* tokenizer = "bytes";
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
        else if (strcmp(flag, "--val-frac") == 0) val_frac = parse_double_or_die(value, "--val-frac");
        else if (strcmp(flag, "--val-tokens") == 0) val_tokens = (long long)parse_u64_or_die(value, "--val-tokens");
        else if (strcmp(flag, "--shard-tokens") == 0) shard_tokens = (long long)parse_u64_or_die(value, "--shard-tokens");
        else die_hint("run ./prepare_data --help", "unknown flag '%s'", flag);
    }
    if (prefix == NULL) die_hint("pass -o PREFIX, e.g. -o data/mytext/mytext_bytes", "no output prefix (-o)");
    if (first_input >= argc) die_hint("pass one or more text files after the flags", "no input files");
    if (!(val_frac >= 0.0 && val_frac < 1.0)) die("--val-frac must be in [0, 1), got %g", val_frac);
    if (shard_tokens < 1 || shard_tokens > INT32_MAX) die("--shard-tokens must be in [1, %d], got %lld", INT32_MAX, shard_tokens);
    Tokenizer tok;
    tokenizer_init(&tok, tokenizer);
    char dir[4096];
    path_dirname(dir, sizeof(dir), prefix);
    make_dir_or_die(dir);

    // tokenize every document: EOT, then its text
    size_t n = 0, cap = 0;
    uint16_t* tokens = NULL;
    for (int f = first_input; f < argc; f++) {
        long size = file_size_or_die(argv[f]);
        unsigned char* text = (unsigned char*)mallocCheck((size_t)size);
        FILE* fp = fopenCheck(argv[f], "rb");
        freadCheck(text, 1, (size_t)size, fp, argv[f]);
        fclose(fp);
        int* ids = (int*)mallocCheck(((size_t)size + 1) * sizeof(int));
        ids[0] = tok.eot_token;
        size_t count = 1 + tokenizer_encode(&tok, text, (size_t)size, ids + 1);
        if (n + count > cap) {
            cap = (n + count) * 2;
            tokens = (uint16_t*)realloc(tokens, cap * sizeof(uint16_t));
            if (tokens == NULL) die("out of memory holding %zu tokens", cap);
        }
        for (size_t i = 0; i < count; i++) tokens[n + i] = (uint16_t)ids[i];
        n += count;
        printf("%s: %ld bytes -> %zu tokens\n", argv[f], size, count);
        free(ids);
        free(text);
    }
    size_t n_val = val_tokens >= 0 ? (size_t)val_tokens : (size_t)(val_frac * (double)n);
    if (n_val >= n) die_hint("lower --val-tokens", "--val-tokens %zu leaves no training tokens (%zu in all)", n_val, n);
    write_split(prefix, "train", tokens, n - n_val, (size_t)shard_tokens);
    write_split(prefix, "val", tokens + (n - n_val), n_val, (size_t)shard_tokens);
    printf("%zu tokens: %zu train, %zu val (tokenizer %s)\n", n, n - n_val, n_val, tokenizer_name(&tok));
    free(tokens);
    return 0;
}
