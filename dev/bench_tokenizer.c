/*
GPT-2 tokenizer speed on one core: the vocabulary's load time, encoding in MB/s (the first pass, with an
empty pre-token cache, and the best of 5 passes after it) and decoding in MB/s. Checks the round trip.

    make bench-tokenizer                                  tiny Shakespeare and the vocabulary that make data unpacks
    ./dev/bench_tokenizer [TEXT [VOCAB]]                  another text file or vocabulary (directory or file)
*/
#include "../llmc/tokenizer.h"

int main(int argc, char** argv) {
    const char* text_path = argc > 1 ? argv[1] : "data/tinyshakespeare/input.txt";
    const char* vocab = argc > 2 ? argv[2] : "data/gpt2";
    if (argc > 3) die_hint("usage: ./dev/bench_tokenizer [TEXT [VOCAB]]", "too many arguments");
    size_t len;
    unsigned char* text = file_read_all(text_path, &len);
    double t0 = wall_seconds();
    Tokenizer tok;
    tokenizer_load(&tok, "gpt2", vocab);
    printf("vocabulary %s loaded in %.3f s\n", vocab, wall_seconds() - t0);

    int* ids = (int*)mallocCheck((len + 1) * sizeof(int));
    double mb = len / 1e6, first = 0, best = 1e30;
    size_t n = 0;
    for (int pass = 0; pass < 6; pass++) {
        t0 = wall_seconds();
        n = tokenizer_encode(&tok, text, len, ids);
        double s = wall_seconds() - t0;
        if (pass == 0) first = s;
        else if (s < best) best = s;
    }
    printf("%s: %zu bytes -> %zu tokens (%.2f bytes/token)\n", text_path, len, n, (double)len / (n > 0 ? n : 1));
    printf("encode: %.1f MB/s first pass (empty cache, %.3f s), %.1f MB/s best of 5 after it (%.3f s)\n", mb / first, first,
           mb / best, best);

    unsigned char* out = (unsigned char*)mallocCheck(len + 1);
    best = 1e30;
    size_t at = 0;
    for (int pass = 0; pass < 5; pass++) {
        t0 = wall_seconds();
        at = 0;
        for (size_t i = 0; i < n; i++) {
            size_t k;
            const char* bytes = tokenizer_decode(&tok, ids[i], &k);
            if (at + k > len) die("decode(encode(text)) is longer than the text of '%s'", text_path);
            memcpy(out + at, bytes, k);
            at += k;
        }
        double s = wall_seconds() - t0;
        if (s < best) best = s;
    }
    if (at != len || memcmp(out, text, len) != 0) die("decode(encode(text)) differs from the text of '%s'", text_path);
    printf("decode: %.1f MB/s best of 5 (%.4f s); the round trip gives the text back\n", mb / best, best);
    free(out);
    free(ids);
    free(text);
    tokenizer_free(&tok);
    return 0;
}
