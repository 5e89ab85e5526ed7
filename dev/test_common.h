// Helpers shared by the C test programs: the result lines every test prints (dev/run_tests.sh counts them),
// the data paths, and small model configs.
#ifndef TEST_COMMON_H
#define TEST_COMMON_H

#include "../llmc/gpt.h"

static int failures = 0;

// one result line: "ok   what" or "FAIL what"
#define CHECK(cond, ...)         \
    do {                         \
        if (cond) {              \
            printf("ok   ");     \
        } else {                 \
            printf("FAIL ");     \
            failures++;          \
        }                        \
        printf(__VA_ARGS__);     \
        printf("\n");            \
    } while (0)

// Test arrays, freed together by test_free_all at the end (the sanitizer run reports any leak).
#define MAX_TEST_ALLOCS 8192
static void* test_allocs[MAX_TEST_ALLOCS];
static int num_test_allocs = 0;

static void* test_alloc(size_t bytes) {
    if (num_test_allocs == MAX_TEST_ALLOCS) die("more than %d test arrays (raise MAX_TEST_ALLOCS)", MAX_TEST_ALLOCS);
    return test_allocs[num_test_allocs++] = callocCheck(bytes > 0 ? bytes : 1, 1);
}

static void test_free_all(void) {
    while (num_test_allocs > 0) free(test_allocs[--num_test_allocs]);
}

// an environment variable's value, or fallback when it is unset or empty
static const char* env_or(const char* name, const char* fallback) {
    const char* v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : fallback;
}

// a finished model config from its sizes
static GPTConfig test_config(AttnType attn, int kv_heads, PosType pos, int bias, int layers, int channels, int heads,
                             int mlp_hidden, int vocab_size, int max_seq_len) {
    GPTConfig c = {0};
    c.attn = attn;
    c.num_kv_heads = kv_heads;
    c.pos = pos;
    c.bias = bias;
    c.num_layers = layers;
    c.channels = channels;
    c.num_heads = heads;
    c.mlp_hidden = mlp_hidden;
    c.vocab_size = vocab_size;
    c.max_seq_len = max_seq_len;
    c.q_rank = -1; // the variant's default (0 would mean no query compression)
    c.rope_theta = 10000.0f;
    gpt_config_finish(&c);
    return c;
}

#endif
