/*
A training run's host-side bookkeeping, shared by both trainers: the output directory, the state a
checkpoint carries beyond the tensors (step, data position, RNG), the checkpoint metadata and the checks
on resume, the data loaders and the schedule, and the per-step log. The trainers differ only in where
the model lives and how a step is computed; everything a user sees of a run is the same for both.
*/
#ifndef LLMC_RUN_H
#define LLMC_RUN_H

#include <sys/file.h>
#include "args.h"
#include "checkpoint.h"
#include "dataloader.h"
#include "distributed.h"
#include "gpt.h"
#include "optimizer_config.h"
#include "sampler.h"
#include "schedule.h"
#include "tokenizer.h"
#include "utils.h"

// llm.c's outlier guard (-sl, -sg): the last OUTLIER_WINDOW finite values of the loss (or gradient norm); a
// value's z-score is taken against the window before it joins
#define OUTLIER_WINDOW 128
typedef struct {
    double values[OUTLIER_WINDOW]; // oldest at values[next] once full
    int count, next;
} OutlierWindow;

// 0 until the window is full (as llm.c), then (x - mean) / std over the window (0 when it is constant)
static double outlier_zscore(const OutlierWindow* w, double x) {
    if (w->count < OUTLIER_WINDOW) return 0;
    double mean = 0, var = 0;
    for (int i = 0; i < OUTLIER_WINDOW; i++) mean += w->values[i];
    mean /= OUTLIER_WINDOW;
    for (int i = 0; i < OUTLIER_WINDOW; i++) var += (w->values[i] - mean) * (w->values[i] - mean);
    var /= OUTLIER_WINDOW;
    return var > 0 ? (x - mean) / sqrt(var) : 0;
}

static void outlier_push(OutlierWindow* w, double x) {
    w->values[w->next] = x;
    w->next = (w->next + 1) % OUTLIER_WINDOW;
    if (w->count < OUTLIER_WINDOW) w->count++;
}

// the window's values oldest first, into out (count of them)
static void outlier_values(const OutlierWindow* w, double* out) {
    int first = w->count < OUTLIER_WINDOW ? 0 : w->next;
    for (int i = 0; i < w->count; i++) out[i] = w->values[(first + i) % OUTLIER_WINDOW];
}

// the state a checkpoint adds beyond the tensors
typedef struct {
    int step;
    int opt_steps; // updates the optimizer state has seen (AdamW's bias correction, Muon's momentum warmup)
    int data_epoch, data_shard_pos;
    size_t data_batch_pos;
    char data_shards[128]; // the training shards' fingerprint (dataloader_fingerprint); "" when unknown
    uint64_t sample_rng;
    OutlierWindow loss_window, norm_window;
    // --online 1: the prequential tally of the stream so far
    double stream_nats;                   // the summed loss of every token scored before it was learned
    uint64_t stream_tokens, stream_bytes; // tokens scored, and the bytes of text they decode to
} RunState;

typedef struct {
    const TrainArgs* a;
    Dist dist; // this process among the run's processes; rank 0 logs, checkpoints and samples
    Tokenizer tok;
    RunState rs;
    DataLoader train, val;
    int tokens_per_step, accum_steps, max_steps, start_step;
    LRSchedule sched;
    AdamWConfig adamw; // lr follows the schedule
    MuonConfig muon;   // likewise
    int use_muon;
    float muon_momentum; // this step's, after the warmup ramp
    double flops_per_step;
    FILE* log;
    int lock_fd;          // the output directory's lock, held for the run's life (rank 0)
    int nonfinite_streak; // steps in a row whose loss or gradient norm was not finite
    double total_ms, total_opt_ms;
    int timed_steps;
    int* token_bytes;         // (V,) --online 1: the bytes each token decodes to (end-of-text: 0)
    double step_nats, step_bytes; // --online 1: the last step's share of the tally
} Run;

// Takes an exclusive lock on dir for this process's life (the file dir/.lock holds its pid): two runs writing
// one directory would delete each other's temporary files and mix their checkpoints and logs.
static int lock_run_dir(const char* dir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) die_hint("check the -o directory's permissions", "cannot open the lock file '%s': %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = read(fd, pid, sizeof(pid) - 1);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        die_hint("wait for that run to finish (or stop it), or choose another -o",
                 "output directory '%s' is in use by another run (process %s holds %s)", dir, pid[0] ? pid : "?", path);
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        die_hint("check free disk space", "cannot write the lock file '%s': %s", path, strerror(errno));
    }
    return fd; // never closed: the lock lasts until the process exits, however it exits
}

// Creates -o, locks it and removes partial checkpoints a killed writer left (rank 0), and refuses to
// overwrite a run unless it is resumed. Returns the checkpoint to continue from (resume_path) or -1 when
// there is none.
static int run_open_output(Run* run, char* resume_path, size_t len) {
    const TrainArgs* a = run->a;
    resume_path[0] = '\0';
    run->lock_fd = -1;
    if (a->output_dir == NULL) return -1;
    make_dir_or_die(a->output_dir);
    if (run->dist.rank == 0) {
        run->lock_fd = lock_run_dir(a->output_dir);
        checkpoint_remove_partial(a->output_dir);
    }
    int latest = checkpoint_find_latest(a->output_dir, resume_path, len);
    if (latest >= 0 && !a->resume) {
        die_hint("pass -y 1 to resume that run, or choose another -o", "output directory '%s' already holds checkpoints (newest: step %d)",
                 a->output_dir, latest);
    }
    if (latest < 0 && a->resume) die_hint("drop -y 1 to start a new run", "-y 1: no complete checkpoint in '%s'", a->output_dir);
    return latest;
}

// Dies, naming the tensor, when a parameter-shaped block holds a value that is not finite: no checkpoint is
// written that could not be trained or sampled from.
static void check_block_finite(const GPTConfig* c, const float* block, const char* what, int step) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    size_t offset = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        size_t first = 0, bad = count_nonfinite(block + offset, "F32", specs[i].numel, &first);
        if (bad > 0) {
            die_hint("the run diverged: resume from the newest checkpoint in -o (intact) with a lower learning rate (-l), more warmup "
                     "(-u) or gradient clipping (--grad-clip)",
                     "not writing the checkpoint of step %d: %s '%s' holds %zu non-finite values (the first at element %zu)", step, what,
                     specs[i].name, bad, first);
        }
        offset += specs[i].numel;
    }
}

// Writes the run's checkpoint for rs.step from host copies of the parameters and optimizer state, and with
// --carry K the memory of all the stream's lanes (L, P*B, gpt_carry_lane_size), each holding `held` rows.
static void run_save_checkpoint(const Run* run, const GPTConfig* c, const char* dtype, const void* params, void* m, void* v,
                                const void* memory, int held, float train_loss) {
    const TrainArgs* a = run->a;
    const RunState* rs = &run->rs;
    check_block_finite(c, (const float*)params, "parameter", rs->step);
    check_block_finite(c, (const float*)m, "optimizer state (first moment or momentum)", rs->step);
    if (!run->use_muon) check_block_finite(c, (const float*)v, "optimizer state (second moment)", rs->step);
    char path[4096];
    checkpoint_path(path, sizeof(path), a->output_dir, rs->step);
    Metadata meta = {0};
    meta_set(&meta, "tokenizer", "%s", tokenizer_name(&run->tok));
    meta_set(&meta, "optimizer", "%s", a->optimizer);
    meta_set(&meta, "opt.steps", "%d", rs->opt_steps);
    meta_set(&meta, "opt.lr", "%.9g", a->lr);
    meta_set(&meta, "opt.beta1", "%.9g", a->beta1);
    meta_set(&meta, "opt.beta2", "%.9g", a->beta2);
    meta_set(&meta, "opt.eps", "%.9g", a->eps);
    meta_set(&meta, "opt.weight_decay", "%.9g", a->weight_decay);
    meta_set(&meta, "opt.grad_clip", "%.9g", a->grad_clip);
    meta_set(&meta, "opt.schedule", "%s", a->schedule);
    if (run->use_muon) {
        meta_set(&meta, "opt.muon_lr", "%.9g", a->muon_lr);
        meta_set(&meta, "opt.muon_momentum", "%.9g", a->muon_momentum);
        meta_set(&meta, "opt.muon_momentum_warmup", "%d", a->muon_momentum_warmup);
        meta_set(&meta, "opt.muon_wd", "%.9g", a->muon_wd);
        meta_set(&meta, "opt.muon_ns_steps", "%d", a->muon_ns_steps);
        meta_set(&meta, "opt.muon_polar_express", "%d", a->muon_polar_express);
        meta_set(&meta, "opt.muon_scale", "%s", a->muon_scale);
    }
    meta_set(&meta, "train.step", "%d", rs->step);
    meta_set(&meta, "train.batch", "%d", a->B * run->dist.size); // sequences per micro-step over all processes
    meta_set(&meta, "train.seq_len", "%d", a->T);
    meta_set(&meta, "train.total_batch", "%d", a->total_batch_tokens);
    meta_set(&meta, "train.seed", "%llu", (unsigned long long)a->seed);
    meta_set(&meta, "train.loss", "%.9g", train_loss);
    meta_set(&meta, "data.epoch", "%d", rs->data_epoch);
    meta_set(&meta, "data.shard_pos", "%d", rs->data_shard_pos);
    meta_set(&meta, "data.batch_pos", "%zu", rs->data_batch_pos);
    meta_set(&meta, "data.shards", "%s", rs->data_shards);
    meta_set(&meta, "rng.sample", "%llu", (unsigned long long)rs->sample_rng);
    meta_set(&meta, "train.online", "%d", a->online);
    if (a->online) {
        meta_set(&meta, "stream.nats", "%.17g", rs->stream_nats);
        meta_set(&meta, "stream.tokens", "%llu", (unsigned long long)rs->stream_tokens);
        meta_set(&meta, "stream.bytes", "%llu", (unsigned long long)rs->stream_bytes);
        meta_set(&meta, "train.carry", "%d", a->carry);
        meta_set(&meta, "carry.held", "%d", held);
    }
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    StateBlock blocks[4] = {{"", params, NULL}};
    unsigned char adamw_tensors[NUM_PARAMETER_TENSORS], muon_tensors[NUM_PARAMETER_TENSORS];
    int n = 1 + optimizer_state_blocks(specs, run->use_muon, m, v, blocks + 1, adamw_tensors, muon_tensors);
    // the outlier guard's windows, so that a resumed run skips exactly the updates the uninterrupted one would
    double windows[2][OUTLIER_WINDOW];
    outlier_values(&rs->loss_window, windows[0]);
    outlier_values(&rs->norm_window, windows[1]);
    SafeTensorWrite extra[3] = {{"run.loss_window", "F64", 1, {rs->loss_window.count}, windows[0]},
                                {"run.norm_window", "F64", 1, {rs->norm_window.count}, windows[1]},
                                {"carry.memory", dtype, 3,
                                 {c->num_layers, (int64_t)a->B * run->dist.size, (int64_t)gpt_carry_lane_size(c, a->carry)}, memory}};
    double t0 = wall_seconds();
    checkpoint_write_with(path, c, dtype, n, blocks, &meta, a->carry > 0 ? 3 : 2, extra);
    meta_free(&meta);
    checkpoint_keep_last(a->output_dir, a->keep_last);
    printf("step %d | wrote %s (%.0f ms)\n", rs->step, path, 1e3 * (wall_seconds() - t0));
}

// On resume: checks that the run's shape is unchanged and restores the run state, and the optimizer
// state into host buffers m and v (zeroed instead with --reset-optimizer 1).
static void run_restore(Run* run, const SafeTensors* st, const GPTConfig* c, const char* dtype, void* m, void* v) {
    const TrainArgs* a = run->a;
    RunState* rs = &run->rs;
    const char* optimizer = checkpoint_meta(st, "optimizer");
    if (strcmp(optimizer, a->optimizer) != 0 && !a->reset_optimizer) {
        die_hint("resume with the optimizer the run was started with, or pass --reset-optimizer 1 to start a new optimizer state",
                 "checkpoint '%s' was trained with --optimizer %s, not %s", st->path, optimizer, a->optimizer);
    }
    // the micro-batch over all processes must match (any number of processes that divides it will do): it
    // fixes the data order, and online the stream's lanes, each with its --carry memory
    int B = checkpoint_meta_int(st, "train.batch"), T = checkpoint_meta_int(st, "train.seq_len"), P = run->dist.size;
    int total = checkpoint_meta_int(st, "train.total_batch");
    if (B != a->B * P || T != a->T || total != a->total_batch_tokens) {
        char hint[256];
        snprintf(hint, sizeof(hint), "resume with -t %d -d %d and -b %d / processes, so that the %s continue%s exactly", T, total, B,
                 a->online ? "stream's lanes (and their --carry memory)" : "data order", a->online ? "" : "s");
        die_hint(hint, "checkpoint '%s' was trained with %d sequences per micro-step (-b x processes), -t %d -d %d; this run has -b %d x %d "
                 "process(es), -t %d -d %d", st->path, B, T, total, a->B, P, a->T, a->total_batch_tokens);
    }
    const char* online = safetensors_meta(st, "train.online"); // absent before --online existed
    if ((online != NULL && strcmp(online, "1") == 0) != (a->online == 1)) {
        die_hint(a->online ? "drop --online 1: the run trained on shuffled batches" : "pass --online 1 to continue the stream",
                 "checkpoint '%s' was trained %s, this run has --online %d", st->path, a->online ? "offline" : "online (--online 1)",
                 a->online);
    }
    if (a->online) {
        char what[512];
        snprintf(what, sizeof(what), "checkpoint '%s', metadata 'stream.nats'", st->path);
        rs->stream_nats = parse_double_or_die(checkpoint_meta(st, "stream.nats"), what);
        rs->stream_tokens = checkpoint_meta_u64(st, "stream.tokens");
        rs->stream_bytes = checkpoint_meta_u64(st, "stream.bytes");
        int carry = checkpoint_meta_int(st, "train.carry");
        if (carry != a->carry) {
            char hint[64];
            snprintf(hint, sizeof(hint), "resume with --carry %d", carry);
            die_hint(hint, "checkpoint '%s' was trained with --carry %d, this run has --carry %d", st->path, carry, a->carry);
        }
    }
    if (checkpoint_meta_u64(st, "train.seed") != a->seed) {
        die_hint("resume with the same --seed so the data order continues exactly", "checkpoint '%s' has --seed %s",
                 st->path, checkpoint_meta(st, "train.seed"));
    }
    if (a->reset_optimizer) {
        printf("--reset-optimizer 1: the %s state starts afresh\n", a->optimizer);
        rs->opt_steps = 0;
    } else {
        ParamSpec specs[NUM_PARAMETER_TENSORS];
        gpt_param_specs(c, specs);
        StateBlock blocks[3];
        unsigned char adamw_tensors[NUM_PARAMETER_TENSORS], muon_tensors[NUM_PARAMETER_TENSORS];
        int n = optimizer_state_blocks(specs, strcmp(optimizer, "muon") == 0, m, v, blocks, adamw_tensors, muon_tensors);
        for (int i = 0; i < n; i++) checkpoint_read_block(st, c, &blocks[i], dtype);
        rs->opt_steps = checkpoint_meta_int(st, "opt.steps");
    }
    rs->step = checkpoint_meta_int(st, "train.step");
    rs->data_epoch = checkpoint_meta_int(st, "data.epoch");
    rs->data_shard_pos = checkpoint_meta_int(st, "data.shard_pos");
    rs->data_batch_pos = (size_t)checkpoint_meta_u64(st, "data.batch_pos");
    rs->sample_rng = checkpoint_meta_u64(st, "rng.sample");
    const char* shards = safetensors_meta(st, "data.shards"); // absent in checkpoints older than the check
    snprintf(rs->data_shards, sizeof(rs->data_shards), "%s", shards ? shards : "");
    OutlierWindow* windows[2] = {&rs->loss_window, &rs->norm_window};
    const char* names[2] = {"run.loss_window", "run.norm_window"};
    for (int w = 0; w < 2; w++) {
        const SafeTensorInfo* t = safetensors_find(st, names[w]);
        memset(windows[w], 0, sizeof(OutlierWindow));
        if (t == NULL) continue;
        if (t->ndim != 1 || t->shape[0] > OUTLIER_WINDOW) die_hint("the file is corrupt; use another checkpoint", "checkpoint '%s': tensor '%s' has the wrong shape", st->path, names[w]);
        double values[OUTLIER_WINDOW];
        safetensors_read(st, t, values, "F64");
        for (int i = 0; i < (int)t->shape[0]; i++) outlier_push(windows[w], values[i]);
    }
}

// --carry K: the memory of all lanes (L, P*B, gpt_carry_lane_size) of an online checkpoint into host; returns
// the rows each lane holds. run_restore has checked that the run has the checkpoint's P*B lanes.
static int run_restore_memory(const Run* run, const SafeTensors* st, const GPTConfig* c, const char* dtype, void* host) {
    const TrainArgs* a = run->a;
    const SafeTensorInfo* t = safetensors_find(st, "carry.memory");
    int64_t lane = (int64_t)gpt_carry_lane_size(c, a->carry), lanes = (int64_t)a->B * run->dist.size;
    int held = checkpoint_meta_int(st, "carry.held");
    if (t == NULL || t->ndim != 3 || t->shape[0] != c->num_layers || t->shape[1] != lanes || t->shape[2] != lane || held < 0 ||
        held > a->carry) {
        die_hint("the file is corrupt; use another checkpoint", "checkpoint '%s': the --carry memory 'carry.memory' is missing, or not "
                 "(%d, %lld, %lld) with at most %d rows held", st->path, c->num_layers, (long long)lanes, (long long)lane, a->carry);
    }
    safetensors_read(st, t, host, dtype);
    return held;
}

// Keeps the lines of the run's log.txt up to the resumed step: updates 1..step, and evaluations before it
// (the resumed run evaluates step `step` again). A run killed after its last checkpoint leaves no duplicates.
static void run_trim_log(const char* path, int step) {
    FILE* fp = fopen(path, "r");
    if (fp == NULL) return;
    AtomicFile out;
    atomic_open(&out, path);
    char line[1024];
    while (fgets(line, sizeof(line), fp) != NULL) {
        int n;
        char kind[32];
        if (sscanf(line, "step %d %31s", &n, kind) != 2) continue;
        if (n < step || (n == step && strcmp(kind, "val_loss") != 0)) atomic_write(&out, line, strlen(line));
    }
    fclose(fp);
    atomic_commit(&out);
}

// Shards carry no tokenizer: a gpt2 run on byte-tokenized data would still have valid ids, all < 257.
static void warn_if_byte_data(const Tokenizer* tok, DataLoader* val) {
    if (tok->type == TOKENIZER_BYTES) return;
    dataloader_next_batch(val);
    int max_id = 0;
    for (int i = 0; i < val->B * val->T; i++) max_id = val->targets[i] > max_id ? val->targets[i] : max_id;
    dataloader_reset(val);
    if (max_id < 257) {
        fprintf(stderr, "warning: the first validation batch holds only token ids < 257, as byte-tokenized data does, but the "
                        "model uses tokenizer '%s'; check -i/-j\n", tokenizer_name(tok));
    }
}

// The training and validation shards. A fresh model opens them before it is built and drawn (seconds at
// GPT-2's size), so that a missing or short shard is reported at once. Their ids are checked against the
// tokenizer's vocabulary, which the model's must equal.
static void run_open_data(Run* run) {
    const TrainArgs* a = run->a;
    DataOrder order = a->online ? DATA_STREAM : a->shuffle ? DATA_SHUFFLED : DATA_IN_ORDER;
    dataloader_init(&run->train, a->train_pattern, a->B, a->T, run->tok.vocab_size, a->seed, order);
    dataloader_init(&run->val, a->val_pattern, a->B, a->T, run->tok.vocab_size, a->seed, DATA_IN_ORDER);
}

// Data, schedule and optimizer settings for a model of config c, and the run's printed summary;
// `compute` describes where it runs (CPU threads, or the GPU).
static void run_setup(Run* run, const GPTConfig* c, const char* compute) {
    const TrainArgs* a = run->a;
    dataloader_shard_across(&run->train, run->dist.rank, run->dist.size);
    dataloader_shard_across(&run->val, run->dist.rank, run->dist.size);
    char shards[128];
    dataloader_fingerprint(&run->train, shards, sizeof(shards));
    if (run->rs.data_shards[0] != '\0' && strcmp(run->rs.data_shards, shards) != 0) {
        die_hint("resume with the training shards the run was started with (-i), or start a new run in another -o",
                 "the run was trained on %s, but -i '%s' matches %s", run->rs.data_shards, a->train_pattern, shards);
    }
    snprintf(run->rs.data_shards, sizeof(run->rs.data_shards), "%s", shards);
    dataloader_set_position(&run->train, run->rs.data_epoch, run->rs.data_shard_pos, run->rs.data_batch_pos);
    warn_if_byte_data(&run->tok, &run->val);
    int micro_tokens = run->dist.size * a->B * a->T; // one micro-step over all processes
    run->tokens_per_step = a->total_batch_tokens > 0 ? a->total_batch_tokens : micro_tokens;
    if (run->tokens_per_step % micro_tokens != 0) {
        die_hint("make -d a multiple of processes * B * T", "-d %d is not a multiple of %d processes x B*T = %d", run->tokens_per_step,
                 run->dist.size, micro_tokens);
    }
    run->accum_steps = run->tokens_per_step / micro_tokens;
    int epoch_steps = (int)(run->train.batches_per_epoch / run->accum_steps);
    run->max_steps = a->max_steps > 0 ? a->max_steps : epoch_steps;
    if (run->max_steps < 1) run->max_steps = 1;
    if (a->online) {
        if (run->max_steps > epoch_steps) {
            die_hint("lower -x, or -x -1 to train to the end of the stream",
                     "--online 1: the stream holds %d steps of %d tokens, -x is %d", epoch_steps, run->tokens_per_step, a->max_steps);
        }
        run->token_bytes = (int*)mallocCheck(c->vocab_size * sizeof(int));
        for (int id = 0; id < c->vocab_size; id++) {
            size_t n;
            tokenizer_decode(&run->tok, id, &n);
            run->token_bytes[id] = id == run->tok.eot_token ? 0 : (int)n;
        }
    }
    LRSchedule sched = {(ScheduleType)schedule_from_name(a->schedule), a->lr, a->warmup, run->max_steps, a->final_lr_frac,
                        a->wsd_decay_frac};
    AdamWConfig adamw = {a->lr, a->beta1, a->beta2, a->eps, a->weight_decay};
    MuonConfig muon = {a->muon_lr, a->muon_momentum, a->muon_wd, a->muon_ns_steps, a->muon_polar_express,
                       strcmp(a->muon_scale, "moonlight") == 0};
    run->sched = sched;
    run->adamw = adamw;
    run->muon = muon;
    run->use_muon = strcmp(a->optimizer, "muon") == 0;
    run->start_step = run->rs.step;
    run->flops_per_step = gpt_flops_per_token(c, a->T) * run->tokens_per_step;
    gpt_print_config(c, sizeof(float));
    printf("data: train %s (%d shards, %zu batches/%s), val %s (%zu batches, using %d)\n", a->train_pattern,
           run->train.num_shards, run->train.batches_per_epoch, a->online ? "stream, read once in lanes" : "epoch", a->val_pattern, run->val.batches_per_epoch,
           a->val_batches < (int)run->val.batches_per_epoch ? a->val_batches : (int)run->val.batches_per_epoch);
    printf("batch: B=%d T=%d x %d process(es), %d tokens/step (%d micro-steps), %d steps | tokenizer %s | %s\n", a->B, a->T,
           run->dist.size, run->tokens_per_step, run->accum_steps, run->max_steps, tokenizer_name(&run->tok), compute);
    printf("optimizer: %s | adamw lr %g betas (%g, %g) eps %g wd %g | clip %g | schedule %s warmup %d final %g\n", a->optimizer,
           a->lr, a->beta1, a->beta2, a->eps, a->weight_decay, a->grad_clip, a->schedule, a->warmup, a->final_lr_frac);
    if (a->output_dir && run->dist.rank == 0) {
        char logpath[4096];
        snprintf(logpath, sizeof(logpath), "%s/log.txt", a->output_dir);
        if (a->resume) run_trim_log(logpath, run->rs.step);
        run->log = fopenCheck(logpath, a->resume ? "a" : "w");
        printf("writing checkpoints and log.txt to %s\n", a->output_dir);
    }
}

// Sets this step's learning rates (both groups follow one schedule) and Muon's momentum (ramping from
// 0.85 over its warmup).
static void run_schedule(Run* run, int step) {
    const TrainArgs* a = run->a;
    run->adamw.lr = lr_at_step(&run->sched, step);
    run->muon.lr = a->muon_lr * run->adamw.lr / a->lr;
    float ramp = a->muon_momentum_warmup > 0 ? fminf(1.0f, (float)run->rs.opt_steps / a->muon_momentum_warmup) : 1.0f;
    run->muon_momentum = a->muon_momentum_warmup > 0 ? 0.85f + ramp * (a->muon_momentum - 0.85f) : a->muon_momentum;
}

static void check_finite(float value, const char* what, int step) {
    if (!isfinite(value)) {
        die_hint("lower the learning rate (-l), add warmup (-u) or gradient clipping (--grad-clip); the checkpoints in -o are intact",
                 "%s is %f at step %d", what, value, step);
    }
}

// After this many steps in a row with a non-finite loss or gradient norm the weights have diverged
#define MAX_NONFINITE_STREAK 5

// Whether the update of step `step` (0-based) may be applied: never when its loss or gradient norm is not
// finite, nor, with -sl / -sg, when either is a z-score outlier over the last OUTLIER_WINDOW steps (llm.c's
// guard). A skipped update is printed and logged ("step N skipped ..."); the batch counts as seen.
static int run_update_allowed(Run* run, int step, float loss, float norm) {
    const TrainArgs* a = run->a;
    char why[160] = "";
    if (!isfinite(loss) || !isfinite(norm)) {
        if (++run->nonfinite_streak >= MAX_NONFINITE_STREAK) {
            die_hint("the weights have diverged: resume from the newest checkpoint in -o (intact) with a lower learning rate (-l), "
                     "more warmup (-u) or gradient clipping (--grad-clip)",
                     "the training loss or gradient norm was not finite for %d steps in a row (steps %d-%d; now loss %f, norm %f)",
                     MAX_NONFINITE_STREAK, step + 2 - MAX_NONFINITE_STREAK, step + 1, loss, norm);
        }
        snprintf(why, sizeof(why), "non-finite %s", isfinite(loss) ? "gradient norm" : "loss");
    } else {
        run->nonfinite_streak = 0;
        double zloss = outlier_zscore(&run->rs.loss_window, loss), znorm = outlier_zscore(&run->rs.norm_window, norm);
        outlier_push(&run->rs.loss_window, loss);
        outlier_push(&run->rs.norm_window, norm);
        if (a->skip_loss_z > 0 && zloss > a->skip_loss_z) snprintf(why, sizeof(why), "loss z-score %.2f > -sl %g", zloss, a->skip_loss_z);
        else if (a->skip_norm_z > 0 && znorm > a->skip_norm_z) snprintf(why, sizeof(why), "gradient norm z-score %.2f > -sg %g", znorm, a->skip_norm_z);
    }
    if (why[0] == '\0') return 1;
    printf("step %4d/%d | update skipped: %s (loss %f, norm %f)\n", step + 1, run->max_steps, why, loss, norm);
    if (run->log) {
        fprintf(run->log, "step %d skipped %s\n", step + 1, why);
        fflush(run->log);
    }
    return 0;
}

static void run_log_val(Run* run, int step, float val_loss) {
    check_finite(val_loss, "validation loss", step);
    printf("step %d | val loss %.4f\n", step, val_loss);
    if (run->log) {
        fprintf(run->log, "step %d val_loss %.9g\n", step, val_loss);
        fflush(run->log);
    }
}

// --online 1: the bytes of text that n targets decode to
static double run_target_bytes(const Run* run, const int* targets, int n) {
    double bytes = 0;
    for (int i = 0; i < n; i++) bytes += run->token_bytes[targets[i]];
    return bytes;
}

// --online 1: adds a step's prequential loss (its mean loss, scored before its update) over bytes of text
static void run_tally_stream(Run* run, float loss, double bytes) {
    run->step_nats = (double)loss * run->tokens_per_step;
    run->step_bytes = bytes;
    run->rs.stream_nats += run->step_nats;
    run->rs.stream_tokens += (uint64_t)run->tokens_per_step;
    run->rs.stream_bytes += (uint64_t)llround(bytes);
}

// bits per byte of nats over bytes (0 bytes: NaN)
static double bits_per_byte(double nats, double bytes) { return bytes > 0 ? nats / log(2.0) / bytes : NAN; }

// Prints and logs step `step` (0-based, the update just made) with its timing, against a peak in GFLOP/s
// (measured or given; 0 = unknown, no MFU).
static void run_log_step(Run* run, int step, float train_loss, float norm, double ms, double opt_ms, double peak_gflops) {
    if (step > run->start_step) { // the first step warms caches
        run->total_ms += ms;
        run->total_opt_ms += opt_ms;
        run->timed_steps++;
    }
    double gflops = run->flops_per_step / (ms * 1e6);
    printf("step %4d/%d | loss %.6f | norm %.4f | lr %.2e | %.1f ms (opt %.1f) | %.0f tok/s | %.1f GFLOP/s", step + 1,
           run->max_steps, train_loss, norm, run->adamw.lr, ms, opt_ms, run->tokens_per_step / (ms / 1e3), gflops);
    if (peak_gflops > 0) printf(" | MFU %.1f%%", 100.0 * gflops / peak_gflops);
    const RunState* rs = &run->rs;
    double stream_mean = rs->stream_tokens ? rs->stream_nats / rs->stream_tokens : 0;
    double stream_bpb = bits_per_byte(rs->stream_nats, rs->stream_bytes), step_bpb = bits_per_byte(run->step_nats, run->step_bytes);
    if (run->a->online) printf("\n          prequential: batch %.3f bits/byte | stream so far %.4f nats/token, %.4f bits/byte", step_bpb, stream_mean, stream_bpb);
    printf("\n");
    if (run->log) {
        fprintf(run->log, "step %d train_loss %.9g lr %.9g grad_norm %.9g ms %.1f opt_ms %.1f", step + 1, train_loss, run->adamw.lr, norm,
                ms, opt_ms);
        if (run->a->online) fprintf(run->log, " stream_loss %.9g stream_bpb %.9g", stream_mean, stream_bpb);
        fprintf(run->log, "\n");
        fflush(run->log);
    }
}

// the data position after the update just made, for the next checkpoint
static void run_mark_position(Run* run) {
    run->rs.data_epoch = run->train.epoch;
    run->rs.data_shard_pos = run->train.shard_pos;
    run->rs.data_batch_pos = run->train.batch_pos;
}

// whether the state after `done` updates is checkpointed
static int run_checkpoint_due(const Run* run, int done) {
    const TrainArgs* a = run->a;
    return a->output_dir && ((a->checkpoint_every > 0 && done % a->checkpoint_every == 0) || done == run->max_steps);
}

// Lists which tensors (and row blocks) Muon owns, and what stays with AdamW.
static void print_optimizer_groups(const GPTConfig* c, const MuonConfig* muon, const AdamWConfig* adamw) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    printf("optimizer groups: muon (lr %g, momentum %g, wd %g, %d %s steps, %s scale):", muon->lr, muon->momentum,
           muon->weight_decay, muon->ns_steps, muon->polar_express ? "Polar Express" : "Newton-Schulz quintic",
           muon->moonlight_scale ? "Moonlight" : "Keller");
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        if (specs[i].numel == 0 || !is_muon_tensor(&specs[i])) continue;
        int rows[MAX_ROW_BLOCKS], nblocks = gpt_row_blocks(c, i, &specs[i], rows);
        printf(" %s [", specs[i].name);
        for (int b = 0; b < nblocks; b++) printf(b ? " | %dx%lld" : "%dx%lld", rows[b], (long long)specs[i].shape[2]);
        printf("]");
    }
    printf("\n  adamw (lr %g):", adamw->lr);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        if (specs[i].numel > 0 && !is_muon_tensor(&specs[i])) printf(" %s", specs[i].name);
    }
    printf("\n");
}

// --dump-step: the loss, the logits (N, Vp) and every gradient (under "grad.") of one step, for
// comparing the trainers on the same checkpoint and batch (dev/gpu_check.sh)
static void run_dump_step(const char* path, const GPTConfig* c, float loss, const float* logits, int N, const float* grads) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    Metadata meta = {0};
    meta_set(&meta, "loss", "%.9g", loss);
    StateBlock block = {"grad.", grads, NULL};
    SafeTensorWrite logit_tensor = {"logits", "F32", 2, {N, c->padded_vocab_size}, logits};
    checkpoint_write_with(path, c, "F32", 1, &block, &meta, 1, &logit_tensor);
    meta_free(&meta);
    printf("wrote %s: loss %.9g, logits and %zu gradients\n", path, loss, gpt_num_parameters(c));
}

// Feeds the prompt (or end-of-text when it is empty) through decode_step(ctx, token, pos, logits) one
// token at a time and samples up to n_gen tokens, printing the text as it goes; stops at the model's
// maximum sequence length. Returns the generated count and sets *seconds to the time spent.
typedef void (*DecodeStep)(void* ctx, int token, int pos, float* logits);
static int generate(const GPTConfig* c, const Tokenizer* tok, const char* prompt, int n_gen, const SamplerConfig* sc, uint64_t* rng,
                    DecodeStep decode_step, void* ctx, double* seconds) {
    size_t plen = strlen(prompt);
    int* ids = (int*)mallocCheck((plen + 1) * sizeof(int));
    int n_prompt = (int)tokenizer_encode(tok, (const unsigned char*)prompt, plen, ids);
    if (n_prompt == 0) ids[n_prompt++] = tok->eot_token;
    if (n_prompt >= c->max_seq_len) {
        die_hint("shorten --prompt", "the prompt is %d tokens, the model's maximum sequence length is %d", n_prompt, c->max_seq_len);
    }
    float* logits = (float*)mallocCheck((size_t)c->padded_vocab_size * sizeof(float));
    ProbIndex* scratch = (ProbIndex*)mallocCheck(c->vocab_size * sizeof(ProbIndex));
    fwrite(prompt, 1, plen, stdout);
    double t0 = wall_seconds();
    int token = ids[0], generated = 0;
    for (int pos = 0; pos < c->max_seq_len - 1 && generated < n_gen; pos++) {
        decode_step(ctx, token, pos, logits);
        if (pos + 1 < n_prompt) { token = ids[pos + 1]; continue; } // still reading the prompt
        token = sample_token(logits, c->vocab_size, sc, scratch, rng);
        size_t n;
        const char* text = tokenizer_decode(tok, token, &n);
        fwrite(text, 1, n, stdout);
        fflush(stdout);
        generated++;
    }
    *seconds = wall_seconds() - t0;
    printf("\n");
    free(logits);
    free(scratch);
    free(ids);
    return generated;
}

static void run_finish(Run* run) {
    if (run->timed_steps > 0) {
        double ms = run->total_ms / run->timed_steps;
        printf("average %.1f ms/step, %.0f tokens/s, %.1f GFLOP/s over %d steps; the optimizer took %.1f ms/step (%.1f%%)\n", ms,
               run->tokens_per_step / (ms / 1e3), run->flops_per_step / (ms * 1e6), run->timed_steps,
               run->total_opt_ms / run->timed_steps, 100.0 * run->total_opt_ms / run->total_ms);
    }
    const RunState* rs = &run->rs;
    if (run->a->online && rs->stream_tokens > 0) { // the code length of the stream under the learner
        double bits = rs->stream_nats / log(2.0);
        printf("online: the stream's code length under the learner is %.1f bits for %llu tokens (%llu bytes): %.4f nats/token, "
               "%.4f bits/byte\n", bits, (unsigned long long)rs->stream_tokens, (unsigned long long)rs->stream_bytes,
               rs->stream_nats / rs->stream_tokens, bits_per_byte(rs->stream_nats, rs->stream_bytes));
        if (run->log) fprintf(run->log, "stream code_length_bits %.17g tokens %llu bytes %llu\n", bits,
                              (unsigned long long)rs->stream_tokens, (unsigned long long)rs->stream_bytes);
    }
    if (run->log) fclose(run->log);
    free(run->token_bytes);
    dataloader_free(&run->train);
    dataloader_free(&run->val);
    tokenizer_free(&run->tok);
}

#endif // LLMC_RUN_H
