/*
The harness shared by the libFuzzer targets in dev/fuzz/ (each target includes this file, which includes
the llmc headers).

The readers under test take a path and call die() (print, then exit) on bad input. A target writes its
input to a file in a private temporary directory (fuzz_write_file) and calls the reader between
setjmp(fuzz_env) and fuzz_end():

    if (setjmp(fuzz_env) == 0) {
        fuzz_begin();
        ... call the reader ...
        fuzz_end(FUZZ_STRICT);
    } else {
        ... died cleanly: a refusal, not a finding ...
    }

fuzz_begin() points utils.h's die_hook at a function that longjmps back to that setjmp, so die() returns
into the target instead of exiting. A die() leaves behind whatever the reader had allocated or opened, so
this header routes the llmc headers' malloc, realloc, free and strdup, and fopen and fclose, through
trackers (macros defined below, before the llmc headers are included): after a die() everything the input
allocated or opened is released; after a normal return, fuzz_end(FUZZ_STRICT) aborts when a FILE is still
open and hands every allocation still live to LeakSanitizer (a real leak, reported with its stack).

A finding is anything that is not a normal return or a die(): a sanitizer report, a crash, a hang, an
exit() that does not come through die(), or a property check of a target failing (fuzz_fail, which
aborts). Run a target on one input to see the reader's message: ./build/fuzz_checkpoint FILE.

The targets that build a model config (fuzz_checkpoint, fuzz_llmc_model) check gpt.h's size arithmetic
on every config it accepts: fuzz_check_param_count.
*/
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

// every system header the llmc headers include, before the macros below (their include guards then
// keep the macros out of the system headers)
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <pcre2.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
int LLVMFuzzerInitialize(int* argc, char*** argv);

// ----------------------------------------------------------------------------
// allocation and FILE tracking (real malloc and fopen here: the macros come after)

static int fuzz_armed = 0;       // inside fuzz_begin() .. fuzz_end(): die() longjmps, allocations are tracked
static int fuzz_die_allowed = 1; // 0: a die() is itself a finding (the encoder refuses no input)
static jmp_buf fuzz_env;

// the live allocations of the current input: an open-addressing set of pointers (linear probing)
static void** fuzz_slots = NULL;
static size_t fuzz_cap = 0, fuzz_count = 0;

static size_t fuzz_slot_of(const void* p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    return (size_t)x & (fuzz_cap - 1);
}

static void fuzz_track(void* p) {
    if (p == NULL) return;
    if (2 * (fuzz_count + 1) > fuzz_cap) { // grow to twice the slots
        void** old = fuzz_slots;
        size_t old_cap = fuzz_cap;
        fuzz_cap = old_cap ? 2 * old_cap : 1024;
        fuzz_slots = (void**)calloc(fuzz_cap, sizeof(void*));
        if (fuzz_slots == NULL) { fprintf(stderr, "fuzz: out of memory tracking allocations\n"); abort(); }
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i] == NULL) continue;
            size_t j = fuzz_slot_of(old[i]);
            while (fuzz_slots[j] != NULL) j = (j + 1) & (fuzz_cap - 1);
            fuzz_slots[j] = old[i];
        }
        free(old);
    }
    size_t i = fuzz_slot_of(p);
    while (fuzz_slots[i] != NULL) i = (i + 1) & (fuzz_cap - 1);
    fuzz_slots[i] = p;
    fuzz_count++;
}

// removes p; 0 when it is not tracked (allocated outside a run: the target's persistent state)
static int fuzz_untrack(void* p) {
    if (p == NULL || fuzz_count == 0) return 0;
    size_t mask = fuzz_cap - 1, i = fuzz_slot_of(p);
    while (fuzz_slots[i] != NULL && fuzz_slots[i] != p) i = (i + 1) & mask;
    if (fuzz_slots[i] == NULL) return 0;
    // backward-shift deletion keeps every probe sequence unbroken
    for (size_t j = (i + 1) & mask; fuzz_slots[j] != NULL; j = (j + 1) & mask) {
        size_t k = fuzz_slot_of(fuzz_slots[j]);
        int movable = (j > i) ? (k <= i || k > j) : (k <= i && k > j);
        if (movable) {
            fuzz_slots[i] = fuzz_slots[j];
            i = j;
        }
    }
    fuzz_slots[i] = NULL;
    fuzz_count--;
    return 1;
}

static void* fuzz_malloc(size_t n) {
    void* p = malloc(n);
    if (fuzz_armed) fuzz_track(p);
    return p;
}

// a block keeps its status: tracked stays tracked, persistent (allocated outside a run) stays untracked
static void* fuzz_realloc(void* p, size_t n) {
    int tracked = p == NULL ? fuzz_armed : fuzz_untrack(p);
    void* q = realloc(p, n);
    if (q == NULL && p != NULL && n != 0) {
        if (tracked) fuzz_track(p); // realloc failed: p is still live
    } else if (tracked) {
        fuzz_track(q);
    }
    return q;
}

static void fuzz_free(void* p) {
    fuzz_untrack(p);
    free(p);
}

static char* fuzz_strdup(const char* s) {
    char* p = strdup(s);
    if (fuzz_armed) fuzz_track(p);
    return p;
}

#define FUZZ_MAX_FILES 64
static FILE* fuzz_files[FUZZ_MAX_FILES];
static int fuzz_num_files = 0;

static FILE* fuzz_fopen(const char* path, const char* mode) {
    FILE* fp = fopen(path, mode);
    if (fp != NULL && fuzz_armed) {
        if (fuzz_num_files == FUZZ_MAX_FILES) { fprintf(stderr, "fuzz: more than %d files open at once\n", FUZZ_MAX_FILES); abort(); }
        fuzz_files[fuzz_num_files++] = fp;
    }
    return fp;
}

static int fuzz_fclose(FILE* fp) {
    for (int i = 0; i < fuzz_num_files; i++) {
        if (fuzz_files[i] == fp) {
            fuzz_files[i] = fuzz_files[--fuzz_num_files];
            break;
        }
    }
    return fclose(fp);
}

#undef malloc
#undef realloc
#undef free
#undef strdup
#undef fopen
#undef fclose
#define malloc(n) fuzz_malloc(n)
#define realloc(p, n) fuzz_realloc(p, n)
#define free(p) fuzz_free(p)
#define strdup(s) fuzz_strdup(s)
#define fopen(path, mode) fuzz_fopen(path, mode)
#define fclose(fp) fuzz_fclose(fp)

#include "../../llmc/checkpoint.h"
#include "../../llmc/dataloader.h"
#include "../../llmc/tokenizer.h"
#include "../../llmc/run.h"

// ----------------------------------------------------------------------------
// runs

// a property of the target failed: a finding
static void fuzz_fail(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fuzz_fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "\n==FUZZ FINDING== ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}

// a target's extra clean-up after a die() (memory the C library allocated, e.g. a glob_t), or NULL
static void (*fuzz_on_die)(void) = NULL;

// Releases everything the input allocated or opened (after a die(); or forgets it, free_blocks = 0). The
// parenthesised names call the real functions, not the tracking macros.
static void fuzz_release(int free_blocks) {
    for (int i = 0; i < fuzz_num_files; i++) (fclose)(fuzz_files[i]);
    fuzz_num_files = 0;
    for (size_t i = 0; fuzz_count > 0 && i < fuzz_cap; i++) {
        if (fuzz_slots[i] == NULL) continue;
        if (free_blocks) (free)(fuzz_slots[i]);
        fuzz_slots[i] = NULL;
        fuzz_count--;
    }
    fuzz_count = 0;
}

// die_hook during a run: release what the input holds, then return to the target's setjmp
static void fuzz_die_hook(void) {
    if (!fuzz_armed) return; // outside a run (initialisation): die() exits as usual
    if (!fuzz_die_allowed) fuzz_fail("die() on an input that this target's code must accept (message above)");
    fuzz_armed = 0;
    if (fuzz_on_die != NULL) fuzz_on_die();
    fuzz_release(1);
    longjmp(fuzz_env, 1);
}

static void fuzz_begin(void) {
    die_hook = fuzz_die_hook;
    fuzz_armed = 1;
}

enum { FUZZ_STRICT, FUZZ_KEEP };

// After a normal return. FUZZ_STRICT: the reader must have closed its files and freed its memory (blocks
// still live are handed to LeakSanitizer); FUZZ_KEEP: what is still allocated is the target's persistent
// state (the encoder's cache), kept.
static void fuzz_end(int mode) {
    fuzz_armed = 0;
    if (fuzz_num_files > 0) fuzz_fail("%d file(s) left open after a normal return", fuzz_num_files);
    if (mode == FUZZ_STRICT && fuzz_count > 0) {
        fprintf(stderr, "fuzz: %zu allocation(s) still live after a normal return (a leak: LeakSanitizer reports them)\n", fuzz_count);
    }
    fuzz_release(0); // forget them: untracked, a leaked block is unreachable and LeakSanitizer finds it
}

// ----------------------------------------------------------------------------
// input files: one private directory per process, removed at exit

static char fuzz_dir[256];
static char fuzz_data_dir[4096]; // where `make data` unpacked the data (FUZZ_DATA, default the repository's data/)

static void fuzz_remove_dir(void) {
    if (fuzz_dir[0] == '\0') return;
    DIR* d = opendir(fuzz_dir);
    if (d != NULL) {
        struct dirent* e;
        char path[600];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(path, sizeof(path), "%s/%s", fuzz_dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(fuzz_dir);
}

static void fuzz_setup(void) {
    if (fuzz_dir[0] != '\0') return;
    const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/gptc_fuzz_XXXXXX", base);
    if (mkdtemp(fuzz_dir) == NULL) {
        fprintf(stderr, "fuzz: cannot create a directory under %s: %s\n", base, strerror(errno));
        exit(1);
    }
    atexit(fuzz_remove_dir);
    const char* data = getenv("FUZZ_DATA"); // else data/ in the repository root, run from there or from dev/fuzz
    if (data == NULL || data[0] == '\0') data = access("data/gpt2", F_OK) == 0 ? "data" : "../../data";
    snprintf(fuzz_data_dir, sizeof(fuzz_data_dir), "%s", data);
}

// Writes bytes to `name` in the private directory; returns its path (in out, of outlen bytes).
static const char* fuzz_write_file(char* out, size_t outlen, const char* name, const void* bytes, size_t n) {
    fuzz_setup();
    snprintf(out, outlen, "%s/%s", fuzz_dir, name);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { fprintf(stderr, "fuzz: cannot write %s: %s\n", out, strerror(errno)); abort(); }
    const char* p = (const char*)bytes;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) { fprintf(stderr, "fuzz: cannot write %s: %s\n", out, strerror(errno)); abort(); }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
    return out;
}

// A whole file under the data directory, read outside any run (persistent); dies with a hint when missing.
static unsigned char* fuzz_read_data_file(const char* rel, size_t* n) {
    fuzz_setup();
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", fuzz_data_dir, rel);
    if (!file_exists(path)) {
        die_hint("run `make data` in the repository root first (or set FUZZ_DATA=dir)", "fuzz: '%s' not found", path);
    }
    return file_read_all(path, n);
}

// ----------------------------------------------------------------------------
// a vocabulary that loaded

static const unsigned char FUZZ_SAMPLE_TEXT[] =
    "Hello world, it's 2024!\n\n\tx = y**2;\r\n  caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xff\xfe\xc3 <|endoftext|>   ";

// Checks what bpe_load promises of any vocabulary it accepts: GPT-2's size and end-of-text, every token
// non-empty, and the sample text encoding to ids below end-of-text that decode back to it.
static void fuzz_check_bpe(Bpe* b) {
    if (b->vocab_size != GPT2_VOCAB_SIZE || b->eot != GPT2_EOT) fuzz_fail("bpe_load: vocab_size %d, eot %d", b->vocab_size, b->eot);
    for (int id = 0; id < b->vocab_size; id++) {
        size_t n;
        bpe_token(b, id, &n);
        if (n == 0 || b->offset[id + 1] < b->offset[id]) fuzz_fail("bpe_load: token %d is empty", id);
    }
    size_t n;
    const char* eot = bpe_token(b, b->eot, &n);
    if (n != strlen(EOT_TEXT) || memcmp(eot, EOT_TEXT, n) != 0) fuzz_fail("bpe_load: end-of-text is '%.*s'", (int)n, eot);
    size_t len = sizeof(FUZZ_SAMPLE_TEXT) - 1, at = 0;
    int ids[sizeof(FUZZ_SAMPLE_TEXT)];
    size_t count = bpe_encode(b, FUZZ_SAMPLE_TEXT, len, ids);
    if (count > len) fuzz_fail("bpe_encode: %zu ids for %zu bytes", count, len);
    for (size_t i = 0; i < count; i++) {
        if (ids[i] < 0 || ids[i] >= GPT2_EOT) fuzz_fail("bpe_encode: id %d at %zu", ids[i], i);
        const char* t = bpe_token(b, ids[i], &n);
        if (at + n > len || memcmp(FUZZ_SAMPLE_TEXT + at, t, n) != 0) fuzz_fail("bpe_encode: ids do not decode to the text");
        at += n;
    }
    if (at != len) fuzz_fail("bpe_encode: ids decode to %zu of %zu bytes", at, len);
}

// bpe_load on a file: a clean refusal, or a vocabulary that passes fuzz_check_bpe and frees everything
static void fuzz_load_vocab(const char* path) {
    if (setjmp(fuzz_env) == 0) {
        fuzz_begin();
        Bpe b;
        bpe_load(&b, path);
        fuzz_check_bpe(&b);
        bpe_free(&b);
        fuzz_end(FUZZ_STRICT);
    }
}

// ----------------------------------------------------------------------------
// gpt.h's size arithmetic (once a finding: int and size_t overflow from a header's sizes; gpt_config_check
// now bounds every size so that nothing wraps)

// Fails unless every tensor's shape of the finished config c, multiplied out exactly, is below 2^63 (the
// bounds hold, present tensor or not), each present tensor's numel is that product, and
// gpt_num_parameters is their exact sum.
static void fuzz_check_param_count(const GPTConfig* c) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    unsigned __int128 total = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        unsigned __int128 numel = 1;
        for (int d = 0; d < specs[i].ndim; d++) {
            if (specs[i].shape[d] < 0) fuzz_fail("gpt.h: tensor %s has a negative dimension (an int overflow)", specs[i].name);
            numel *= (uint64_t)specs[i].shape[d];
            if (numel >> 63) fuzz_fail("gpt.h: tensor %s of L=%d C=%d has 2^63 elements or more", specs[i].name, c->num_layers, c->channels);
        }
        if (specs[i].numel != 0 && numel != (unsigned __int128)specs[i].numel) fuzz_fail("gpt.h: tensor %s's numel wraps", specs[i].name);
        total += specs[i].numel;
    }
    if (total != (unsigned __int128)gpt_num_parameters(c)) fuzz_fail("gpt.h: the parameter count of L=%d C=%d wraps size_t", c->num_layers, c->channels);
}

#endif // FUZZ_COMMON_H
