/*
Token shards and the data loader, shared by both trainers and the data tool.

Shard format (llm.c / modded-nanogpt): int32 header[256] with header[0] = 20240520 (magic),
header[1] = 1 (version), header[2] = n (token count), then n uint16 tokens. The file size must be
exactly 1024 + 2n bytes.

A batch is B*T+1 contiguous tokens: inputs are the first B*T, targets the last B*T. A shard of n tokens
holds (n - 1) / (B*T) batches, at token offsets 0, B*T, 2*B*T, ... With P processes (dataloader_shard_across)
a batch spans P*B*T tokens and process r reads its B*T+1 tokens from offset r*B*T within it: P processes
of micro-batch B see exactly the rows one process of micro-batch P*B sees, and the positions in a
checkpoint mean the same for any P.

Training order: every epoch visits the shards in a random order, and the batches of each shard in a
random order; both permutations are pure functions of (seed, epoch, shard), so the position
(epoch, shard_pos, batch_pos) is all a checkpoint needs to resume exactly. Validation reads the first
batches in file order, the same ones every time.

Online training (--online 1: DATA_STREAM) reads the shards once instead, in glob order, as one
stream of S tokens cut into P*B contiguous lanes of S_lane = floor((S - 1) / (P*B*T)) * T tokens: lane l
starts at l * S_lane, and batch i holds, in row b of process r, the T+1 tokens of lane r*B + b from
i*T on. Each lane's last target is the next lane's first input, so every token of the stream but the
first (and a tail shorter than P*B*T + 1) is predicted exactly once; batch_pos counts the batches read.
With one lane this is the unshuffled loader of a single shard.
*/
#ifndef LLMC_DATALOADER_H
#define LLMC_DATALOADER_H

#include <glob.h>
#include "sampler.h"
#include "utils.h"

#define SHARD_MAGIC 20240520
#define SHARD_VERSION 1
#define SHARD_HEADER_BYTES (256 * sizeof(int32_t))

// Validates a shard's header and size and returns its token count; dies naming the file otherwise.
static size_t shard_check(const char* path) {
    FILE* fp = fopenCheck(path, "rb");
    int32_t header[256];
    size_t got = fread(header, sizeof(int32_t), 256, fp);
    fclose(fp);
    const char* hint = "re-create the shard with ./prepare_data (see README, 'Data')";
    if (got != 256) die_hint(hint, "token shard '%s' is shorter than its 1024-byte header", path);
    if (header[0] != SHARD_MAGIC) {
        die_hint(hint, "token shard '%s' has magic %d, expected %d (not an llm.c token shard)", path, header[0], SHARD_MAGIC);
    }
    if (header[1] != SHARD_VERSION) {
        die_hint(header[1] == 7 ? "version 7 shards hold uint32 tokens (llm.c's Llama-3 format), which this loader does not read"
                                : hint,
                 "token shard '%s' has version %d, expected %d", path, header[1], SHARD_VERSION);
    }
    if (header[2] < 0) die_hint(hint, "token shard '%s' has a negative token count %d", path, header[2]);
    long expected = (long)SHARD_HEADER_BYTES + 2L * header[2];
    long actual = file_size_or_die(path);
    if (actual != expected) {
        die_hint(hint, "token shard '%s' is %ld bytes but its header says %d tokens, i.e. %ld bytes (truncated or corrupt)",
                 path, actual, header[2], expected);
    }
    return (size_t)header[2];
}

// Dies when a shard of n tokens holds an id >= vocab_size, naming its position: run once per shard, the
// first time it is read, so a bad id stops the run at once instead of when its batch comes up.
static void shard_check_ids(const char* path, size_t n, int vocab_size) {
    FILE* fp = fopenCheck(path, "rb");
    fseekCheck(fp, (long)SHARD_HEADER_BYTES, SEEK_SET, path);
    uint16_t chunk[32768];
    for (size_t done = 0; done < n;) {
        size_t count = n - done < 32768 ? n - done : 32768;
        freadCheck(chunk, sizeof(uint16_t), count, fp, path);
        for (size_t i = 0; i < count; i++) {
            if (chunk[i] >= vocab_size) {
                die_hint("prepare the data with the model's tokenizer (--tokenizer), or train a model whose vocabulary matches the data",
                         "token shard '%s' holds token id %d at position %zu, but the model's vocabulary has %d tokens", path, chunk[i],
                         done + i, vocab_size);
            }
        }
        done += count;
    }
    fclose(fp);
}

// Writes a shard atomically (utils.h), so a failed run never leaves half a shard.
static void shard_write(const char* path, const uint16_t* tokens, size_t n) {
    if (n > INT32_MAX) die("shard '%s' would hold %zu tokens, more than the format allows", path, n);
    int32_t header[256] = {0};
    header[0] = SHARD_MAGIC;
    header[1] = SHARD_VERSION;
    header[2] = (int32_t)n;
    AtomicFile f;
    atomic_open(&f, path);
    atomic_write(&f, header, sizeof(header));
    atomic_write(&f, tokens, n * sizeof(uint16_t));
    atomic_commit(&f);
}

// the order a loader reads batches in
typedef enum {
    DATA_IN_ORDER, // the shards and their batches in file order, every epoch (validation, --shuffle 0)
    DATA_SHUFFLED, // shards and batches permuted each epoch (training)
    DATA_STREAM,   // the shards once, as one stream in lanes (--online 1)
} DataOrder;

typedef struct {
    // configuration
    int B, T;
    int rank, ranks; // this process reads slice `rank` of `ranks` in every batch
    int vocab_size; // tokens must be < vocab_size
    DataOrder order;
    uint64_t seed;
    // the shards
    glob_t glob;
    int num_shards;
    size_t* shard_tokens;  // (num_shards,) tokens in each shard
    size_t* shard_batches; // (num_shards,) batches in each shard
    unsigned char* shard_checked; // (num_shards,) whether its token ids were checked against the vocabulary
    size_t batches_per_epoch;   // online: batches in the stream
    size_t* shard_first;        // (num_shards,) the stream offset of each shard's first token
    size_t lane_tokens;         // online: S_lane
    // position of the next batch to read
    int epoch, shard_pos;
    size_t batch_pos;
    int* shard_order;    // (num_shards,) permutation of this epoch
    size_t* batch_order; // (max batches per shard,) permutation of the current shard
    int order_epoch, order_shard; // which permutations are held (-1: none)
    // the batch
    uint16_t* buffer; // (B*(T+1),): the batch's tokens, or each row's T+1 online
    int* inputs;      // (B, T)
    int* targets;     // (B, T)
} DataLoader;

// the batches of ranks*B*T tokens each shard holds (online: the stream holds); dies when there is none
static void dataloader_count_batches(DataLoader* dl, const char* pattern) {
    size_t batch = (size_t)dl->ranks * dl->B * dl->T, max_batches = 0, stream = 0;
    dl->batches_per_epoch = 0;
    for (int i = 0; i < dl->num_shards; i++) {
        size_t ntok = shard_check(dl->glob.gl_pathv[i]);
        dl->shard_tokens[i] = ntok;
        dl->shard_first[i] = stream;
        stream += ntok;
        dl->shard_batches[i] = ntok > 0 ? (ntok - 1) / batch : 0;
        dl->batches_per_epoch += dl->shard_batches[i];
        if (dl->shard_batches[i] > max_batches) max_batches = dl->shard_batches[i];
    }
    if (dl->order == DATA_STREAM) {
        dl->batches_per_epoch = stream > 0 ? (stream - 1) / batch : 0;
        dl->lane_tokens = dl->batches_per_epoch * dl->T;
        if (dl->batches_per_epoch == 0) {
            die_hint("lower -b or -t (or the number of processes), or add data",
                     "--online 1: the stream of %zu tokens in the shards matching '%s' is shorter than one segment of T per lane, "
                     "%d lane(s) x %d + 1 tokens", stream, pattern, dl->ranks * dl->B, dl->T);
        }
    }
    if (dl->batches_per_epoch == 0) {
        die_hint("lower -b or -t (or the number of processes), or add data",
                 "the shards matching '%s' hold fewer than %zu tokens each, one batch of %d process(es) x B*T + 1", pattern, batch + 1,
                 dl->ranks);
    }
    free(dl->batch_order);
    dl->batch_order = (size_t*)mallocCheck((max_batches > 0 ? max_batches : 1) * sizeof(size_t));
    dl->order_epoch = dl->order_shard = -1;
}

static void dataloader_init(DataLoader* dl, const char* pattern, int B, int T, int vocab_size, uint64_t seed, DataOrder order) {
    memset(dl, 0, sizeof(*dl));
    dl->B = B;
    dl->T = T;
    dl->rank = 0;
    dl->ranks = 1;
    dl->vocab_size = vocab_size;
    dl->seed = seed;
    dl->order = order;
    int rc = glob(pattern, 0, NULL, &dl->glob);
    if (rc != 0 || dl->glob.gl_pathc == 0) {
        die_hint("prepare shards with ./prepare_data, or point -i/-j at existing .bin files (quote the glob)",
                 "no token shards match '%s'", pattern);
    }
    dl->num_shards = (int)dl->glob.gl_pathc;
    dl->shard_tokens = (size_t*)mallocCheck(dl->num_shards * sizeof(size_t));
    dl->shard_batches = (size_t*)mallocCheck(dl->num_shards * sizeof(size_t));
    dl->shard_first = (size_t*)mallocCheck(dl->num_shards * sizeof(size_t));
    dl->shard_checked = (unsigned char*)callocCheck(dl->num_shards, 1);
    dl->shard_order = (int*)mallocCheck(dl->num_shards * sizeof(int));
    dataloader_count_batches(dl, pattern);
    dl->buffer = (uint16_t*)mallocCheck((size_t)B * (T + 1) * sizeof(uint16_t));
    dl->inputs = (int*)mallocCheck((size_t)B * T * sizeof(int));
    dl->targets = (int*)mallocCheck((size_t)B * T * sizeof(int));
}

// Makes this loader read slice `rank` of `ranks` of every batch (call before reading).
static void dataloader_shard_across(DataLoader* dl, int rank, int ranks) {
    dl->rank = rank;
    dl->ranks = ranks;
    dataloader_count_batches(dl, dl->glob.gl_pathv[0]);
}

static void dataloader_free(DataLoader* dl) {
    globfree(&dl->glob);
    free(dl->shard_tokens);
    free(dl->shard_batches);
    free(dl->shard_first);
    free(dl->shard_checked);
    free(dl->shard_order);
    free(dl->batch_order);
    free(dl->buffer);
    free(dl->inputs);
    free(dl->targets);
}

// The shards as a fingerprint: their count, their tokens, and a hash of each one's file name and token count
// in glob order. A run records it, so that a resume whose -i matches other shards is refused instead of
// reading positions that mean something else (or lie outside the list).
static void dataloader_fingerprint(const DataLoader* dl, char* out, size_t len) {
    uint64_t h = 1469598103934665603ull, total = 0; // FNV-1a
    for (int i = 0; i < dl->num_shards; i++) {
        const char* slash = strrchr(dl->glob.gl_pathv[i], '/');
        const char* name = slash ? slash + 1 : dl->glob.gl_pathv[i];
        for (const char* c = name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
        for (int b = 0; b < 8; b++) h = (h ^ ((dl->shard_tokens[i] >> (8 * b)) & 0xff)) * 1099511628211ull;
        total += dl->shard_tokens[i];
    }
    snprintf(out, len, "%d shards, %llu tokens, %016llx", dl->num_shards, (unsigned long long)total, (unsigned long long)h);
}

static void dataloader_set_position(DataLoader* dl, int epoch, int shard_pos, size_t batch_pos) {
    if (epoch < 0 || shard_pos < 0 || shard_pos >= dl->num_shards) {
        die_hint("resume with the run's own training shards (-i)", "data position epoch %d, shard %d lies outside the %d shard(s) matching '%s'",
                 epoch, shard_pos, dl->num_shards, dl->glob.gl_pathv[0]);
    }
    dl->epoch = epoch;
    dl->shard_pos = shard_pos;
    dl->batch_pos = batch_pos;
}

static void dataloader_reset(DataLoader* dl) { dataloader_set_position(dl, 0, 0, 0); }

// (re)builds the permutations for the current epoch and shard when they are not held already
static void dataloader_update_order(DataLoader* dl) {
    if (dl->order_epoch != dl->epoch) {
        uint64_t rng = rng_seed(dl->seed * 1000003ull + (uint64_t)dl->epoch);
        if (dl->order == DATA_SHUFFLED) random_permutation(dl->shard_order, dl->num_shards, &rng);
        else for (int i = 0; i < dl->num_shards; i++) dl->shard_order[i] = i;
        dl->order_epoch = dl->epoch;
        dl->order_shard = -1;
    }
    int shard = dl->shard_order[dl->shard_pos];
    if (dl->order_shard != shard) {
        size_t n = dl->shard_batches[shard];
        for (size_t i = 0; i < n; i++) dl->batch_order[i] = i;
        if (dl->order == DATA_SHUFFLED) {
            uint64_t rng = rng_seed((dl->seed * 1000003ull + (uint64_t)dl->epoch) * 1000003ull + (uint64_t)shard + 1);
            for (size_t i = n; i > 1; i--) {
                size_t j = (size_t)random_u32(&rng) % i;
                size_t tmp = dl->batch_order[i - 1];
                dl->batch_order[i - 1] = dl->batch_order[j];
                dl->batch_order[j] = tmp;
            }
        }
        dl->order_shard = shard;
    }
}

// n tokens of shard `shard` from token `first` into out; checks the shard's ids the first time it is read
static void shard_read(DataLoader* dl, int shard, size_t first, size_t n, uint16_t* out) {
    const char* path = dl->glob.gl_pathv[shard];
    if (!dl->shard_checked[shard]) {
        shard_check_ids(path, dl->shard_tokens[shard], dl->vocab_size);
        dl->shard_checked[shard] = 1;
    }
    FILE* fp = fopenCheck(path, "rb");
    fseekCheck(fp, (long)(SHARD_HEADER_BYTES + first * sizeof(uint16_t)), SEEK_SET, path);
    freadCheck(out, sizeof(uint16_t), n, fp, path);
    fclose(fp);
}

// n tokens of the stream from offset `at` into out, across shard boundaries
static void stream_read(DataLoader* dl, size_t at, size_t n, uint16_t* out) {
    for (int s = 0; s < dl->num_shards && n > 0; s++) {
        size_t end = dl->shard_first[s] + dl->shard_tokens[s];
        if (at >= end) continue;
        size_t take = n < end - at ? n : end - at;
        shard_read(dl, s, at - dl->shard_first[s], take, out);
        at += take;
        out += take;
        n -= take;
    }
}

// Reads the batch at the current position into inputs/targets and advances the position.
static void dataloader_next_batch(DataLoader* dl) {
    size_t B = (size_t)dl->B, T = (size_t)dl->T;
    if (dl->order == DATA_STREAM) { // row b: T+1 tokens of its lane, from batch_pos * T on
        if (dl->batch_pos >= dl->batches_per_epoch) die("--online 1: the stream's %zu batches have all been read", dl->batches_per_epoch);
        for (size_t b = 0; b < B; b++) {
            size_t lane = (size_t)dl->rank * B + b;
            stream_read(dl, lane * dl->lane_tokens + dl->batch_pos * T, T + 1, dl->buffer + b * (T + 1));
        }
    } else { // one run of B*T+1 tokens
        // step past the end of the current shard, and past shards too small to hold a batch
        dataloader_update_order(dl);
        while (dl->batch_pos >= dl->shard_batches[dl->shard_order[dl->shard_pos]]) {
            dl->batch_pos = 0;
            if (++dl->shard_pos == dl->num_shards) { dl->shard_pos = 0; dl->epoch++; }
            dataloader_update_order(dl);
        }
        int shard = dl->shard_order[dl->shard_pos];
        shard_read(dl, shard, (dl->batch_order[dl->batch_pos] * dl->ranks + dl->rank) * B * T, B * T + 1, dl->buffer);
    }
    size_t row = dl->order == DATA_STREAM ? T + 1 : T; // the distance between the rows' first tokens in buffer
    for (size_t b = 0; b < B; b++) {
        for (size_t t = 0; t < T; t++) {
            dl->inputs[b * T + t] = dl->buffer[b * row + t];
            dl->targets[b * T + t] = dl->buffer[b * row + t + 1];
        }
    }
    dl->batch_pos++;
}

#endif // LLMC_DATALOADER_H
