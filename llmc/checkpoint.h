/*
Checkpoints (docs/design.md §4), shared by both trainers.

A checkpoint is a safetensors file `<dir>/ckpt_<step:08d>.safetensors` holding
  - the parameters under their table names (gpt.h): "wte", "qkvw", ... in fp32;
  - optimizer state as parameter-shaped blocks under a prefix: "opt.adamw.m.wte", "opt.adamw.v.wte", ...;
  - string metadata: "format" = "gptc", "format_version" = "1", the model config ("model.*"),
    "tokenizer", and whatever the trainer adds (optimizer, hyperparameters, step, RNG, data position).
Writes are atomic (safetensors.h), so a directory's newest file that validates is always complete;
older checkpoints are pruned only after a newer one is safely on disk.

llm.c model files (`int32[256]` header, magic 20240326, version 3 = fp32 or 5 = bf16, then the 16
tensors in gpt.h's table order) load as MHA + learned positions + GELU + biases.
*/
#ifndef LLMC_CHECKPOINT_H
#define LLMC_CHECKPOINT_H

#include <stdarg.h>
#include "gpt.h"
#include "safetensors.h"

#define CHECKPOINT_FORMAT "gptc"
#define CHECKPOINT_VERSION "1"
#define LLMC_MODEL_MAGIC 20240326

// ----------------------------------------------------------------------------
// metadata: an ordered string -> string list

#define MAX_METADATA 128

typedef struct {
    int n;
    char* keys[MAX_METADATA];
    char* values[MAX_METADATA];
} Metadata;

static void meta_set(Metadata* m, const char* key, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static void meta_set(Metadata* m, const char* key, const char* fmt, ...) {
    if (m->n == MAX_METADATA) die("too many metadata entries (raise MAX_METADATA)");
    va_list ap;
    va_start(ap, fmt);
    char value[1024];
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    m->keys[m->n] = strdup(key);
    m->values[m->n] = strdup(value);
    m->n++;
}

static void meta_free(Metadata* m) {
    for (int i = 0; i < m->n; i++) { free(m->keys[i]); free(m->values[i]); }
    m->n = 0;
}

// ----------------------------------------------------------------------------
// the model config in metadata

static void gpt_config_to_meta(const GPTConfig* c, Metadata* m) {
    meta_set(m, "model.attn", "%s", attn_names[c->attn]);
    meta_set(m, "model.pos", "%s", pos_names[c->pos]);
    meta_set(m, "model.num_layers", "%d", c->num_layers);
    meta_set(m, "model.channels", "%d", c->channels);
    meta_set(m, "model.num_heads", "%d", c->num_heads);
    meta_set(m, "model.num_kv_heads", "%d", c->num_kv_heads);
    meta_set(m, "model.mlp_hidden", "%d", c->mlp_hidden);
    meta_set(m, "model.vocab_size", "%d", c->vocab_size);
    meta_set(m, "model.padded_vocab_size", "%d", c->padded_vocab_size);
    meta_set(m, "model.max_seq_len", "%d", c->max_seq_len);
    meta_set(m, "model.bias", "%d", c->bias);
    meta_set(m, "model.rope_theta", "%.9g", c->rope_theta);
    meta_set(m, "model.rope_dim", "%d", c->rope_dim);
    meta_set(m, "model.latent_dim", "%d", c->latent_dim);
    meta_set(m, "model.latent_groups", "%d", c->latent_groups);
    meta_set(m, "model.q_rank", "%d", c->q_rank);
    meta_set(m, "model.mlp", "%s", mlp_names[c->mlp]);
    meta_set(m, "model.pmem_size", "%d", c->pmem_size);
    meta_set(m, "model.pmem_count", "%d", c->pmem_count);
}

// Metadata readers that describe a problem instead of dying (checkpoint_validate skips a bad checkpoint
// with them); the checkpoint_meta* functions below die with that problem.
static const char* meta_get(const SafeTensors* st, const char* key, Problem* pr) {
    const char* v = safetensors_meta(st, key);
    if (v == NULL) problem(pr, "the file is not a complete checkpoint of this trainer", "checkpoint '%s' lacks metadata '%s'", st->path, key);
    return v;
}

// an integer in [lo, hi]; a u64 reads through the same check (hi up to 2^63)
static int meta_ll(const SafeTensors* st, const char* key, long long lo, long long hi, long long* out, Problem* pr) {
    const char* v = meta_get(st, key, pr);
    if (v == NULL) return -1;
    char* end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < lo || x > hi) {
        return problem(pr, "the file is corrupt or was edited; use another checkpoint",
                       "checkpoint '%s': metadata '%s' is '%s', not an integer in [%lld, %lld]", st->path, key, v, lo, hi);
    }
    *out = x;
    return 0;
}

static int meta_int(const SafeTensors* st, const char* key, int lo, int hi, int* out, Problem* pr) {
    long long x;
    if (meta_ll(st, key, lo, hi, &x, pr) != 0) return -1;
    *out = (int)x;
    return 0;
}

static const char* checkpoint_meta(const SafeTensors* st, const char* key) {
    Problem pr;
    const char* v = meta_get(st, key, &pr);
    if (v == NULL) die_problem(&pr);
    return v;
}

static int checkpoint_meta_int(const SafeTensors* st, const char* key) {
    Problem pr;
    int x;
    if (meta_int(st, key, INT32_MIN, INT32_MAX, &x, &pr) != 0) die_problem(&pr);
    return x;
}

static uint64_t checkpoint_meta_u64(const SafeTensors* st, const char* key) {
    char what[512];
    snprintf(what, sizeof(what), "checkpoint '%s', metadata '%s'", st->path, key);
    return parse_u64_or_die(checkpoint_meta(st, key), what);
}

// The model config in a checkpoint's metadata, checked as a fresh config is (gpt_config_check).
static int checkpoint_config(const SafeTensors* st, GPTConfig* c, Problem* pr) {
    memset(c, 0, sizeof(*c));
    const char* attn = meta_get(st, "model.attn", pr);
    const char* pos = attn ? meta_get(st, "model.pos", pr) : NULL;
    if (pos == NULL) return -1;
    int a = NAME_INDEX(attn, attn_names), p = NAME_INDEX(pos, pos_names);
    if (a < 0 || p < 0) {
        return problem(pr, "it was written by a newer version of this trainer, or is corrupt",
                       "checkpoint '%s' has unknown attention '%s' or positions '%s'", st->path, attn, pos);
    }
    c->attn = (AttnType)a;
    c->pos = (PosType)p;
    const char* theta = meta_get(st, "model.rope_theta", pr);
    if (theta == NULL) return -1;
    c->rope_theta = strtof(theta, NULL);
    struct {
        const char* key;
        int* field;
        int lo;
    } ints[] = {{"model.num_layers", &c->num_layers, 1},       {"model.channels", &c->channels, 1},
                {"model.num_heads", &c->num_heads, 1},         {"model.num_kv_heads", &c->num_kv_heads, 0},
                {"model.mlp_hidden", &c->mlp_hidden, 0},       {"model.vocab_size", &c->vocab_size, 1},
                {"model.padded_vocab_size", &c->padded_vocab_size, 1}, {"model.max_seq_len", &c->max_seq_len, 1},
                {"model.bias", &c->bias, 0},                   {"model.rope_dim", &c->rope_dim, 0},
                {"model.latent_dim", &c->latent_dim, 0},       {"model.latent_groups", &c->latent_groups, 0},
                {"model.q_rank", &c->q_rank, 0}};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        int hi = strcmp(ints[i].key, "model.bias") == 0 ? 1 : GPT_MAX_WIDTH;
        if (meta_int(st, ints[i].key, ints[i].lo, hi, ints[i].field, pr) != 0) return -1;
    }
    // the MLP's kind and the persistent memory's size, absent from checkpoints older than them: the GELU MLP
    const char* mlp = safetensors_meta(st, "model.mlp");
    c->mlp = (MlpType)(mlp ? NAME_INDEX(mlp, mlp_names) : MLP_GELU);
    if ((int)c->mlp < 0) {
        return problem(pr, "it was written by a newer version of this trainer, or is corrupt", "checkpoint '%s' has unknown MLP '%s'", st->path, mlp);
    }
    if (mlp && (meta_int(st, "model.pmem_size", 0, GPT_MAX_WIDTH, &c->pmem_size, pr) != 0 ||
                meta_int(st, "model.pmem_count", 0, 64, &c->pmem_count, pr) != 0)) {
        return -1;
    }
    if (gpt_config_check(c, pr) != 0) {
        Problem inner = *pr;
        return problem(pr, "the file is corrupt or was edited; use another checkpoint", "checkpoint '%s' holds an impossible model: %s",
                       st->path, inner.what);
    }
    return 0;
}

static void gpt_config_from_checkpoint(const SafeTensors* st, GPTConfig* c) {
    Problem pr;
    if (checkpoint_config(st, c, &pr) != 0) die_problem(&pr);
}

// ----------------------------------------------------------------------------
// write and read

typedef struct {
    const char* prefix;         // "" for the parameters, "opt.adamw.m." etc. for optimizer state
    const void* block;          // parameter-shaped, in table order
    const unsigned char* which; // which tensors of the block are stored (NULL: all)
} StateBlock;

static int block_has(const StateBlock* b, int tensor) { return b->which == NULL || b->which[tensor]; }

// Writes blocks[0..n) (each laid out like the parameters, elements of `dtype`), any extra tensors, and
// the metadata (format, version and model config are added here) atomically to path.
static void checkpoint_write_with(const char* path, const GPTConfig* c, const char* dtype, int num_blocks, const StateBlock* blocks,
                                  Metadata* meta, int num_extra, const SafeTensorWrite* extra) {
    Metadata all = {0};
    meta_set(&all, "format", CHECKPOINT_FORMAT);
    meta_set(&all, "format_version", CHECKPOINT_VERSION);
    gpt_config_to_meta(c, &all);
    for (int i = 0; i < meta->n; i++) meta_set(&all, meta->keys[i], "%s", meta->values[i]);

    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    size_t elem = st_dtype_size(dtype);
    SafeTensorWrite* tensors = (SafeTensorWrite*)mallocCheck((num_blocks * NUM_PARAMETER_TENSORS + num_extra) * sizeof(SafeTensorWrite));
    char** names = (char**)mallocCheck(num_blocks * NUM_PARAMETER_TENSORS * sizeof(char*));
    int n = 0;
    for (int b = 0; b < num_blocks; b++) {
        size_t offset = 0;
        for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
            if (specs[i].numel == 0 || !block_has(&blocks[b], i)) {
                offset += specs[i].numel;
                continue;
            }
            names[n] = str_printf("%s%s", blocks[b].prefix, specs[i].name);
            SafeTensorWrite* t = &tensors[n];
            t->name = names[n];
            t->dtype = dtype;
            t->ndim = specs[i].ndim;
            for (int d = 0; d < specs[i].ndim; d++) t->shape[d] = specs[i].shape[d];
            t->data = (const char*)blocks[b].block + offset * elem;
            offset += specs[i].numel;
            n++;
        }
    }
    for (int i = 0; i < num_extra; i++) tensors[n + i] = extra[i];
    safetensors_write(path, all.n, all.keys, all.values, n + num_extra, tensors);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(tensors);
    meta_free(&all);
}

static void checkpoint_write(const char* path, const GPTConfig* c, const char* dtype, int num_blocks, const StateBlock* blocks,
                             Metadata* meta) {
    checkpoint_write_with(path, c, dtype, num_blocks, blocks, meta, 0, NULL);
}

// The optimizer state as blocks over the parameter-shaped buffers m and v: AdamW's moments of its tensors and,
// with Muon, the momentum (in m) of Muon's tensors. Fills the two masks; returns the block count.
static int optimizer_state_blocks(const ParamSpec* specs, int muon, void* m, void* v, StateBlock blocks[3],
                                  unsigned char adamw_tensors[], unsigned char muon_tensors[]) {
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        muon_tensors[i] = muon && is_muon_tensor(&specs[i]);
        adamw_tensors[i] = !muon_tensors[i];
    }
    StateBlock adamw_m = {"opt.adamw.m.", m, adamw_tensors}, adamw_v = {"opt.adamw.v.", v, adamw_tensors};
    StateBlock momentum = {"opt.muon.momentum.", m, muon_tensors};
    blocks[0] = adamw_m;
    blocks[1] = adamw_v;
    blocks[2] = momentum;
    return muon ? 3 : 2;
}

// Whether b's tensors are all in the file with their shapes.
static int checkpoint_check_block(const SafeTensors* st, const ParamSpec* specs, const StateBlock* b, Problem* pr) {
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        if (specs[i].numel == 0 || !block_has(b, i)) continue;
        char name[256];
        snprintf(name, sizeof(name), "%s%s", b->prefix, specs[i].name);
        const SafeTensorInfo* t = safetensors_find(st, name);
        if (t == NULL) return problem(pr, "the file is not a complete checkpoint of this model", "checkpoint '%s' lacks tensor '%s'", st->path, name);
        int same = t->ndim == specs[i].ndim && is_float_dtype(t->dtype);
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == specs[i].shape[d];
        if (!same) {
            return problem(pr, "the tensors do not match the config in the file's metadata; the file is corrupt",
                           "checkpoint '%s': tensor '%s' has the wrong shape or dtype %s", st->path, name, t->dtype);
        }
    }
    return 0;
}

// How many of n floats of dtype ("F32", "F64" or "BF16") at data are NaN or infinite; *first: the first's index.
static size_t count_nonfinite(const void* data, const char* dtype, size_t n, size_t* first) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double v;
        if (strcmp(dtype, "F64") == 0) v = ((const double*)data)[i];
        else if (strcmp(dtype, "F32") == 0) v = ((const float*)data)[i];
        else convert_floats(&v, "F64", (const uint16_t*)data + i, "BF16", 1);
        if (!isfinite(v) && bad++ == 0) *first = i;
    }
    return bad;
}

// Checks an open file as a checkpoint of this trainer, fully: format and version, the model config, every
// parameter tensor (and, for a training checkpoint, its optimizer state) present with its shape, every value
// finite, and the run's position in range. Returns 0, or -1 with the problem.
static int checkpoint_check(const SafeTensors* st, Problem* pr) {
    const char* format = safetensors_meta(st, "format");
    if (format == NULL || strcmp(format, CHECKPOINT_FORMAT) != 0) {
        return problem(pr, "pass a checkpoint written by this trainer, or an llm.c model file",
                       "'%s' is a safetensors file but not a " CHECKPOINT_FORMAT " checkpoint (metadata 'format' is %s)", st->path,
                       format ? format : "missing");
    }
    const char* version = meta_get(st, "format_version", pr);
    if (version == NULL) return -1;
    if (strcmp(version, CHECKPOINT_VERSION) != 0) {
        return problem(pr, "it was written by a different version of this trainer",
                       "checkpoint '%s' has format version %s, this build reads version " CHECKPOINT_VERSION, st->path, version);
    }
    GPTConfig c;
    if (checkpoint_config(st, &c, pr) != 0) return -1;
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(&c, specs);
    StateBlock params = {"", NULL, NULL};
    if (checkpoint_check_block(st, specs, &params, pr) != 0) return -1;
    const char* optimizer = safetensors_meta(st, "optimizer");
    if (optimizer != NULL) { // a training checkpoint: its optimizer state and the run's position
        StateBlock blocks[3];
        unsigned char adamw_tensors[NUM_PARAMETER_TENSORS], muon_tensors[NUM_PARAMETER_TENSORS];
        int n = optimizer_state_blocks(specs, strcmp(optimizer, "muon") == 0, NULL, NULL, blocks, adamw_tensors, muon_tensors);
        for (int b = 0; b < n; b++) {
            if (checkpoint_check_block(st, specs, &blocks[b], pr) != 0) return -1;
        }
        const char* counts[] = {"train.step", "opt.steps", "data.epoch", "data.shard_pos"};
        for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
            int unused;
            if (meta_int(st, counts[k], 0, INT32_MAX, &unused, pr) != 0) return -1;
        }
        long long batch_pos;
        if (meta_ll(st, "data.batch_pos", 0, INT64_MAX, &batch_pos, pr) != 0) return -1;
    }
    // every stored value finite, tensor by tensor
    size_t most = 1;
    for (int i = 0; i < st->num_tensors; i++) {
        size_t bytes = st->tensors[i].end - st->tensors[i].begin;
        most = bytes > most ? bytes : most;
    }
    void* buf = mallocCheck(most);
    FILE* fp = fopenCheck(st->path, "rb");
    int rc = 0;
    for (int i = 0; i < st->num_tensors && rc == 0; i++) {
        const SafeTensorInfo* t = &st->tensors[i];
        if (!is_float_dtype(t->dtype)) continue;
        size_t bytes = t->end - t->begin, first = 0, bad;
        if (fseek(fp, (long)(st->data_start + t->begin), SEEK_SET) != 0 || fread(buf, 1, bytes, fp) != bytes) {
            rc = problem(pr, "the file is truncated or corrupt; use an older checkpoint", "checkpoint '%s': cannot read tensor '%s'",
                         st->path, t->name);
        } else if ((bad = count_nonfinite(buf, t->dtype, bytes / st_dtype_size(t->dtype), &first)) > 0) {
            rc = problem(pr, "the run diverged before this checkpoint was written, or the file is corrupt; use an older checkpoint",
                         "checkpoint '%s': tensor '%s' holds %zu non-finite values (the first at element %zu)", st->path, t->name,
                         bad, first);
        }
    }
    fclose(fp);
    free(buf);
    return rc;
}

// Opens and fully checks a checkpoint (checkpoint_check): 0 with st open, or -1 with the problem and st closed.
static int checkpoint_try_open(SafeTensors* st, const char* path, Problem* pr) {
    char err[512];
    struct stat info;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) {
        memset(st, 0, sizeof(*st));
        return problem(pr, "pass a checkpoint file with -e, or the run's directory with -o (for its newest checkpoint)",
                       "'%s' is a directory, not a checkpoint file", path);
    }
    if (safetensors_open(st, path, err, sizeof(err)) != 0) {
        return problem(pr, "the file is truncated or corrupt; use an older checkpoint", "cannot load checkpoint '%s': %s", path, err);
    }
    if (checkpoint_check(st, pr) != 0) {
        safetensors_close(st);
        return -1;
    }
    return 0;
}

// Opens a checkpoint of this trainer, dying with the reason when the file is not a sound one.
static void checkpoint_open(SafeTensors* st, const char* path) {
    Problem pr;
    if (checkpoint_try_open(st, path, &pr) != 0) die_problem(&pr);
}

// Reads the tensors of one parameter-shaped block (see checkpoint_write) as dtype into b->block,
// checking every shape.
static void checkpoint_read_block(const SafeTensors* st, const GPTConfig* c, const StateBlock* b, const char* dtype) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    size_t offset = 0, elem = st_dtype_size(dtype);
    const char* prefix = b->prefix;
    void* block = (void*)b->block;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        if (specs[i].numel == 0 || !block_has(b, i)) {
            offset += specs[i].numel;
            continue;
        }
        char name[256];
        snprintf(name, sizeof(name), "%s%s", prefix, specs[i].name);
        const SafeTensorInfo* t = safetensors_find(st, name);
        if (t == NULL) die_hint("the file is not a complete checkpoint of this model", "checkpoint '%s' lacks tensor '%s'", st->path, name);
        int same = t->ndim == specs[i].ndim;
        for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == specs[i].shape[d];
        if (!same) {
            die_hint("the tensors do not match the config in the file's metadata; the file is corrupt",
                     "checkpoint '%s': tensor '%s' has the wrong shape", st->path, name);
        }
        safetensors_read(st, t, (char*)block + offset * elem, dtype);
        offset += specs[i].numel;
    }
}

// ----------------------------------------------------------------------------
// a run's directory: ckpt_<step>.safetensors files

static void checkpoint_path(char* out, size_t outlen, const char* dir, int step) {
    snprintf(out, outlen, "%s/ckpt_%08d.safetensors", dir, step);
}

// the steps of all checkpoint files in dir, newest first; returns the count (steps malloc'd)
static int checkpoint_list(const char* dir, int** steps) {
    *steps = NULL;
    int n = 0;
    DIR* d = opendir(dir);
    if (d == NULL) return 0;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        int step;
        char tail[32];
        if (sscanf(e->d_name, "ckpt_%8d.safetensor%31s", &step, tail) == 2 && strcmp(tail, "s") == 0) {
            *steps = (int*)realloc(*steps, (n + 1) * sizeof(int));
            (*steps)[n++] = step;
        }
    }
    closedir(d);
    for (int i = 1; i < n; i++) { // insertion sort, descending
        int v = (*steps)[i], j = i - 1;
        while (j >= 0 && (*steps)[j] < v) { (*steps)[j + 1] = (*steps)[j]; j--; }
        (*steps)[j + 1] = v;
    }
    return n;
}

// Finds the newest checkpoint in dir that fully validates (checkpoint_check), warning about each newer one
// that does not. Returns its step and path, or -1 when there is none.
static int checkpoint_find_latest(const char* dir, char* path, size_t pathlen) {
    int* steps;
    int n = checkpoint_list(dir, &steps), found = -1;
    for (int i = 0; i < n && found < 0; i++) {
        checkpoint_path(path, pathlen, dir, steps[i]);
        SafeTensors st;
        Problem pr;
        if (checkpoint_try_open(&st, path, &pr) != 0) {
            fprintf(stderr, "warning: skipping checkpoint '%s': %s\n", path, pr.what);
            continue;
        }
        found = steps[i];
        safetensors_close(&st);
    }
    free(steps);
    return found;
}

// Deletes the "<checkpoint>.tmp" (and "log.txt.tmp") files a killed writer left behind (never complete, never read).
static void checkpoint_remove_partial(const char* dir) {
    DIR* d = opendir(dir);
    if (d == NULL) return;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        int partial = (strncmp(e->d_name, "ckpt_", 5) == 0 && n > 16 && strcmp(e->d_name + n - 16, ".safetensors.tmp") == 0) ||
                      strcmp(e->d_name, "log.txt.tmp") == 0;
        if (partial) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            if (unlink(path) == 0) printf("removed partial checkpoint %s (a run was stopped while writing it)\n", path);
        }
    }
    closedir(d);
}

// Deletes all but the newest `keep` checkpoints in dir (keep <= 0 keeps everything).
static void checkpoint_keep_last(const char* dir, int keep) {
    if (keep <= 0) return;
    int* steps;
    int n = checkpoint_list(dir, &steps);
    for (int i = keep; i < n; i++) {
        char path[4096];
        checkpoint_path(path, sizeof(path), dir, steps[i]);
        if (unlink(path) != 0) fprintf(stderr, "warning: could not delete old checkpoint '%s': %s\n", path, strerror(errno));
    }
    free(steps);
}

// ----------------------------------------------------------------------------
// llm.c model files

// 1 when the file starts with llm.c's model magic
static int is_llmc_model_file(const char* path) {
    FILE* fp = fopen(path, "rb");
    if (fp == NULL) return 0;
    int32_t magic = 0;
    int ok = fread(&magic, sizeof(magic), 1, fp) == 1 && magic == LLMC_MODEL_MAGIC;
    fclose(fp);
    return ok;
}

// Reads an llm.c model header into c (MHA, learned positions, biases, F = 4C) and returns the file's
// dtype ("F32" for version 3, "BF16" for version 5).
static const char* llmc_model_read_config(const char* path, GPTConfig* c) {
    FILE* fp = fopenCheck(path, "rb");
    int32_t h[256];
    freadCheck(h, sizeof(int32_t), 256, fp, path);
    fclose(fp);
    if (h[0] != LLMC_MODEL_MAGIC) die("'%s' is not an llm.c model file (magic %d, expected %d)", path, h[0], LLMC_MODEL_MAGIC);
    if (h[1] != 3 && h[1] != 5) {
        die_hint("re-export the model with llm.c's train_gpt2.py (version 3 = fp32, 5 = bf16)",
                 "llm.c model file '%s' has version %d; this trainer reads versions 3 and 5", path, h[1]);
    }
    memset(c, 0, sizeof(*c));
    c->attn = ATTN_MHA;
    c->pos = POS_LEARNED;
    c->bias = 1;
    c->rope_theta = 10000.0f;
    c->max_seq_len = h[2];
    c->vocab_size = h[3];
    c->num_layers = h[4];
    c->num_heads = h[5];
    c->channels = h[6];
    c->padded_vocab_size = h[7];
    gpt_config_finish(c);
    size_t elem = h[1] == 3 ? 4 : 2, n = gpt_num_parameters(c);
    // gpt_config_finish's size limits keep n * elem far inside 64 bits (a header of 2^62 fp32 parameters once
    // implied 2^64 bytes, which wrapped to 0 and let the 1024-byte header alone pass: a dev/fuzz finding)
    long expected = (long)(256 * sizeof(int32_t) + n * elem);
    long actual = file_size_or_die(path);
    if (actual != expected) {
        die_hint("the file is truncated or corrupt; re-export it",
                 "llm.c model file '%s' is %ld bytes, but its header (L=%d, C=%d, V=%d, Vp=%d, maxT=%d) implies %ld", path,
                 actual, c->num_layers, c->channels, c->vocab_size, c->padded_vocab_size, c->max_seq_len, expected);
    }
    return h[1] == 3 ? "F32" : "BF16";
}

// Reads the parameters of an llm.c model file into block (laid out as gpt.h's table) as dtype.
static void llmc_model_read_params(const char* path, void* block, const char* dtype) {
    GPTConfig c;
    const char* file_dtype = llmc_model_read_config(path, &c);
    size_t n = gpt_num_parameters(&c), file_elem = st_dtype_size(file_dtype);
    void* buf = mallocCheck(n * file_elem);
    FILE* fp = fopenCheck(path, "rb");
    fseekCheck(fp, 256 * sizeof(int32_t), SEEK_SET, path);
    freadCheck(buf, file_elem, n, fp, path);
    fclose(fp);
    convert_floats(block, dtype, buf, file_dtype, n);
    free(buf);
}

#endif // LLMC_CHECKPOINT_H
