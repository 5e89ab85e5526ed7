/*
The command line, shared by both trainers (docs/design.md §5). llm.c's short flags keep their
meaning; newer features have long options. One table drives parsing, --help and the check that flags
given on the command line agree with a checkpoint being resumed.

    ./train_gpt [flags]            train
    ./train_gpt sample -e CKPT ... generate text from a checkpoint
*/
#ifndef LLMC_ARGS_H
#define LLMC_ARGS_H

#include "gpt.h"
#include "schedule.h"

typedef struct {
    int sample_mode; // "sample" subcommand
    // data
    const char* train_pattern; // -i
    const char* val_pattern;   // -j
    const char* tokenizer;
    const char* vocab; // gpt2's vocabulary: a directory or file (NULL: data/gpt2)
    int shuffle;
    int online; // prequential training over the training shards read once as a stream
    int carry;  // --online 1: positions of each lane's past its segments attend to
    // model (a fresh run; a checkpoint brings its own)
    int num_layers, channels, num_heads, num_kv_heads, mlp_hidden, max_seq_len, bias;
    const char* attn;
    const char* pos;
    float rope_theta;
    int rope_dim, latent_dim, latent_groups, q_rank, match_params;
    const char* mlp;
    int pmem_size, pmem_count;
    // optimisation
    const char* optimizer;
    float muon_lr, muon_momentum, muon_wd;
    int muon_momentum_warmup, muon_ns_steps, muon_polar_express, reset_optimizer;
    const char* muon_scale;
    int B, T, total_batch_tokens; // -b -t -d
    float lr, final_lr_frac, weight_decay, grad_clip, beta1, beta2, eps, wsd_decay_frac;
    float skip_loss_z, skip_norm_z; // -sl, -sg: skip an update whose loss / gradient norm z-score exceeds it (0 = off)
    int warmup, max_steps;
    const char* schedule;
    uint64_t seed;
    // evaluation, sampling, checkpoints
    int val_every, val_batches, sample_every, gen_tokens;
    const char* prompt;
    float temperature, top_p;
    int top_k;
    const char* precision;  // CUDA: bf16 | fp32; the CPU trainer is fp32
    int zero_stage;         // -z: 1 divides the optimizer state among the processes
    int num_processes, process_rank; // a launch without MPI (CUDA trainer)
    const char* dist_init;  // how such processes meet: file:PATH or tcp:HOST:PORT
    const char* dump_step;  // one step's loss, logits and gradients to this file, then exit
    const char* output_dir; // -o
    const char* init_from;  // -e
    int checkpoint_every, keep_last, resume;
    double peak_gflops;
} TrainArgs;

typedef enum { ARG_INT, ARG_FLOAT, ARG_U64, ARG_DOUBLE, ARG_STRING } ArgKind;

typedef struct {
    const char* short_name; // "-b", or NULL
    const char* long_name;  // "--batch"
    ArgKind kind;
    void* target;
    const char* range; // numeric flags: the values allowed, "[lo, hi]" with ( or ) for an open end; NULL for strings
    const char* help;
    int model_flag; // shapes the model: must agree with a checkpoint it is resumed or initialised from
    int given;      // set by args_parse when the flag is on the command line
} ArgSpec;

#define MAX_ARGS 96

typedef struct {
    TrainArgs a;
    ArgSpec specs[MAX_ARGS];
    int num_specs;
} ArgParser;

static void arg_add(ArgParser* p, const char* short_name, const char* long_name, ArgKind kind, void* target,
                    int model_flag, const char* range, const char* help) {
    if (p->num_specs == MAX_ARGS) die("too many flags (raise MAX_ARGS)");
    ArgSpec s = {short_name, long_name, kind, target, range, help, model_flag, 0};
    p->specs[p->num_specs++] = s;
}

// Whether value lies in a spec's range "[lo, hi]" / "(lo, hi]" / ...; NaN never does. (An integer flag's
// value converts to double exactly; a u64's nearly, which the ends of its range allow for.)
static int arg_in_range(const char* range, double value) {
    char open, close;
    double lo, hi;
    if (sscanf(range, "%c%lf, %lf%c", &open, &lo, &hi, &close) != 4) die("bad range '%s' in the flag table", range);
    return (open == '(' ? value > lo : value >= lo) && (close == ')' ? value < hi : value <= hi);
}

// default_precision: the trainer's own ("fp32" on the CPU, "bf16" on the GPU)
static void args_defaults(ArgParser* p, const char* default_precision) {
    TrainArgs* a = &p->a;
    memset(p, 0, sizeof(*p));
    a->train_pattern = "data/tinyshakespeare/tinyshakespeare_bytes_train*.bin";
    a->val_pattern = "data/tinyshakespeare/tinyshakespeare_bytes_val*.bin";
    a->tokenizer = "bytes";
    a->vocab = NULL;
    a->shuffle = 1;
    a->online = 0;
    a->carry = 0;
    a->num_layers = 4; a->channels = 128; a->num_heads = 4; a->num_kv_heads = 0; a->mlp_hidden = 0;
    a->max_seq_len = 1024; a->bias = 1; a->attn = "mha"; a->pos = "rope"; a->rope_theta = 10000.0f;
    a->rope_dim = 0; a->latent_dim = 0; a->latent_groups = 0; a->q_rank = -1; a->match_params = 0;
    a->mlp = "gelu"; a->pmem_size = 0; a->pmem_count = 0;
    a->optimizer = "adamw";
    a->muon_lr = 0.02f; a->muon_momentum = 0.95f; a->muon_wd = 0.0f; a->muon_momentum_warmup = 0;
    a->muon_ns_steps = 5; a->muon_polar_express = 0; a->muon_scale = "keller"; a->reset_optimizer = 0;
    a->B = 12; a->T = 64; a->total_batch_tokens = -1;
    a->lr = 1e-3f; a->final_lr_frac = 0.1f; a->weight_decay = 0.1f; a->grad_clip = 1.0f;
    a->beta1 = 0.9f; a->beta2 = 0.95f; a->eps = 1e-8f; a->wsd_decay_frac = 0.2f;
    a->skip_loss_z = 0.0f; a->skip_norm_z = 0.0f;
    a->warmup = 100; a->max_steps = -1; a->schedule = "cosine"; a->seed = 1337;
    a->val_every = 250; a->val_batches = 20; a->sample_every = 0; a->gen_tokens = 256;
    a->prompt = ""; a->temperature = 1.0f; a->top_p = 1.0f; a->top_k = 0;
    a->precision = default_precision; a->dump_step = NULL;
    a->zero_stage = 0; a->num_processes = 1; a->process_rank = 0; a->dist_init = NULL;
    a->output_dir = NULL; a->init_from = NULL; a->checkpoint_every = 0; a->keep_last = 3; a->resume = 0;
    a->peak_gflops = 0.0;

    // data
    arg_add(p, "-i", "--train-data", ARG_STRING, &a->train_pattern, 0, NULL, "glob of training token shards");
    arg_add(p, "-j", "--val-data", ARG_STRING, &a->val_pattern, 0, NULL, "glob of validation token shards");
    arg_add(p, NULL, "--tokenizer", ARG_STRING, &a->tokenizer, 1, NULL, "bytes (ids 0-255 bytes, 256 end-of-text) | gpt2 (GPT-2 BPE, 50257)");
    arg_add(p, NULL, "--vocab", ARG_STRING, &a->vocab, 0, NULL, "gpt2 vocabulary: a directory or r50k_base.tiktoken / encoder.json / gpt2_tokenizer.bin (unset = data/gpt2)");
    arg_add(p, NULL, "--shuffle", ARG_INT, &a->shuffle, 0, "[0, 1]", "shuffle shards and batches each epoch (0/1)");
    arg_add(p, NULL, "--online", ARG_INT, &a->online, 0, "[0, 1]", "1 = online (prequential) training: the training shards read once, in order, as B lanes of one stream; each batch is scored before it is learned, and the run reports the stream's code length");
    arg_add(p, NULL, "--carry", ARG_INT, &a->carry, 0, "[0, 1048576]", "--online 1: each segment also attends to the last K positions of its lane before it (a memory without gradient; not with mosaic or pmem)");
    // model
    arg_add(p, NULL, "--layers", ARG_INT, &a->num_layers, 1, "[1, 4096]", "transformer blocks L");
    arg_add(p, NULL, "--channels", ARG_INT, &a->channels, 1, "[1, 65536]", "model width C");
    arg_add(p, NULL, "--heads", ARG_INT, &a->num_heads, 1, "[1, 4096]", "query heads H (head width C/H)");
    arg_add(p, NULL, "--attn", ARG_STRING, &a->attn, 1, NULL, "attention: mha | gqa | mqa | gta | mla | gla | mosaic (Memory Mosaics' contextual memory)");
    arg_add(p, NULL, "--kv-heads", ARG_INT, &a->num_kv_heads, 1, "[0, 4096]", "key/value heads for gqa and gta (0 = 4, or 1 when H < 4; must divide H)");
    arg_add(p, NULL, "--rope-dim", ARG_INT, &a->rope_dim, 1, "[0, 65536]", "rotated dims per head dR, even (0 = the whole head; dh/2 for gta, mla, gla)");
    arg_add(p, NULL, "--latent-dim", ARG_INT, &a->latent_dim, 1, "[0, 65536]", "latent width per group dc (0 = 4*dh for mla, 2*dh for gla)");
    arg_add(p, NULL, "--latent-groups", ARG_INT, &a->latent_groups, 1, "[0, 4096]", "gla latent groups n (0 = 2; must divide H)");
    arg_add(p, NULL, "--q-rank", ARG_INT, &a->q_rank, 1, "[-1, 65536]", "mla/gla query rank rq (-1 = 8*dh, 0 = plain query projection)");
    arg_add(p, NULL, "--mlp", ARG_STRING, &a->mlp, 1, NULL, "the MLP: gelu | pmem (Memory Mosaics' persistent memory)");
    arg_add(p, NULL, "--pmem-size", ARG_INT, &a->pmem_size, 1, "[0, 1048576]", "pmem: key/value rows P of each memory per head (0 = 3C/M)");
    arg_add(p, NULL, "--pmem-count", ARG_INT, &a->pmem_count, 1, "[0, 64]", "pmem: memories M, averaged (0 = 1)");
    arg_add(p, NULL, "--match-params", ARG_INT, &a->match_params, 0, "[0, 1]", "1 = widen or narrow the MLP (or the persistent memory) to MHA's parameter count");
    arg_add(p, NULL, "--mlp-hidden", ARG_INT, &a->mlp_hidden, 1, "[0, 1048576]", "MLP hidden width F (0 = 4C)");
    arg_add(p, NULL, "--max-seq-len", ARG_INT, &a->max_seq_len, 1, "[1, 1048576]", "longest sequence the model supports (maxT)");
    arg_add(p, NULL, "--pos", ARG_STRING, &a->pos, 1, NULL, "positions: rope | learned | none (mosaic: none, its only choice)");
    arg_add(p, NULL, "--rope-theta", ARG_FLOAT, &a->rope_theta, 1, "(0, 1e9]", "RoPE base");
    arg_add(p, NULL, "--bias", ARG_INT, &a->bias, 1, "[0, 1]", "biases in linear layers and LayerNorms (0/1)");
    // optimisation
    arg_add(p, NULL, "--optimizer", ARG_STRING, &a->optimizer, 0, NULL, "adamw, or muon (hidden matrices; AdamW with -l for the rest)");
    arg_add(p, NULL, "--muon-lr", ARG_FLOAT, &a->muon_lr, 0, "(0, 1]", "Muon's peak learning rate (same schedule as -l)");
    arg_add(p, NULL, "--muon-momentum", ARG_FLOAT, &a->muon_momentum, 0, "[0, 1)", "Muon's Nesterov momentum");
    arg_add(p, NULL, "--muon-momentum-warmup", ARG_INT, &a->muon_momentum_warmup, 0, "[0, 2147483647]", "steps to ramp Muon's momentum from 0.85 (0 = none)");
    arg_add(p, NULL, "--muon-wd", ARG_FLOAT, &a->muon_wd, 0, "[0, 10]", "Muon's decoupled weight decay");
    arg_add(p, NULL, "--muon-ns-steps", ARG_INT, &a->muon_ns_steps, 0, "[1, 100]", "Newton-Schulz steps");
    arg_add(p, NULL, "--muon-polar-express", ARG_INT, &a->muon_polar_express, 0, "[0, 1]", "1 = Polar Express per-step coefficients (at most 5 steps)");
    arg_add(p, NULL, "--muon-scale", ARG_STRING, &a->muon_scale, 0, NULL, "update scale: keller sqrt(max(1,rows/cols)) | moonlight 0.2*sqrt(max(rows,cols))");
    arg_add(p, NULL, "--reset-optimizer", ARG_INT, &a->reset_optimizer, 0, "[0, 1]", "1 = on resume, start the optimizer state afresh (needed to switch --optimizer)");
    arg_add(p, "-b", "--batch", ARG_INT, &a->B, 0, "[1, 1048576]", "micro-batch size B (sequences)");
    arg_add(p, "-t", "--seq-len", ARG_INT, &a->T, 0, "[1, 1048576]", "sequence length T");
    arg_add(p, "-d", "--total-batch", ARG_INT, &a->total_batch_tokens, 0, "[-1, 2147483647]", "tokens per step; gradient accumulation fills it (-1 = B*T)");
    arg_add(p, "-l", "--lr", ARG_FLOAT, &a->lr, 0, "(0, 1]", "peak learning rate");
    arg_add(p, "-u", "--warmup", ARG_INT, &a->warmup, 0, "[0, 2147483647]", "warmup steps");
    arg_add(p, "-q", "--final-lr-frac", ARG_FLOAT, &a->final_lr_frac, 0, "[0, 1]", "final lr as a fraction of the peak");
    arg_add(p, "-k", "--schedule", ARG_STRING, &a->schedule, 0, NULL, "lr schedule: cosine | linear | constant | wsd");
    arg_add(p, NULL, "--wsd-decay-frac", ARG_FLOAT, &a->wsd_decay_frac, 0, "[0, 1]", "wsd: fraction of the steps spent decaying");
    arg_add(p, "-c", "--weight-decay", ARG_FLOAT, &a->weight_decay, 0, "[0, 10]", "decoupled weight decay (2-D matrices only)");
    arg_add(p, NULL, "--grad-clip", ARG_FLOAT, &a->grad_clip, 0, "[0, 1e9]", "clip the global gradient norm to this (0 = off)");
    arg_add(p, NULL, "--beta1", ARG_FLOAT, &a->beta1, 0, "[0, 1)", "AdamW beta1");
    arg_add(p, NULL, "--beta2", ARG_FLOAT, &a->beta2, 0, "[0, 1)", "AdamW beta2");
    arg_add(p, NULL, "--eps", ARG_FLOAT, &a->eps, 0, "(0, 1]", "AdamW epsilon");
    arg_add(p, "-sl", "--skip-loss-z", ARG_FLOAT, &a->skip_loss_z, 0, "[0, 1e9]", "skip an update whose loss is this many standard deviations above the last 128 steps' (0 = off; non-finite losses are always skipped)");
    arg_add(p, "-sg", "--skip-norm-z", ARG_FLOAT, &a->skip_norm_z, 0, "[0, 1e9]", "skip an update whose gradient norm is this many standard deviations above the last 128 steps' (0 = off)");
    arg_add(p, "-x", "--max-steps", ARG_INT, &a->max_steps, 0, "[-1, 2147483647]", "optimizer steps (-1 = one epoch of the training data)");
    arg_add(p, NULL, "--seed", ARG_U64, &a->seed, 0, "[0, 18446744073709551615]", "seed for init, data order and sampling");
    // evaluation and sampling
    arg_add(p, "-v", "--val-every", ARG_INT, &a->val_every, 0, "[0, 2147483647]", "validate every N steps (0 = only at the end)");
    arg_add(p, "-m", "--val-batches", ARG_INT, &a->val_batches, 0, "[1, 2147483647]", "validation batches (the same ones every time)");
    arg_add(p, "-s", "--sample-every", ARG_INT, &a->sample_every, 0, "[0, 2147483647]", "print a sample every N steps (0 = never)");
    arg_add(p, "-g", "--gen-tokens", ARG_INT, &a->gen_tokens, 0, "[0, 2147483647]", "tokens to generate per sample");
    arg_add(p, NULL, "--prompt", ARG_STRING, &a->prompt, 0, NULL, "text the sample continues (empty = from end-of-text)");
    arg_add(p, NULL, "--temperature", ARG_FLOAT, &a->temperature, 0, "[0, 100]", "sampling temperature (0 = greedy)");
    arg_add(p, NULL, "--top-k", ARG_INT, &a->top_k, 0, "[0, 2147483647]", "sample among the k likeliest tokens (0 = all)");
    arg_add(p, NULL, "--top-p", ARG_FLOAT, &a->top_p, 0, "(0, 1]", "sample within the smallest set of probability p (1 = all)");
    // checkpoints
    arg_add(p, "-o", "--output-dir", ARG_STRING, &a->output_dir, 0, NULL, "directory for checkpoints and log.txt (unset = none)");
    arg_add(p, "-e", "--init-from", ARG_STRING, &a->init_from, 0, NULL, "initialise from a checkpoint or an llm.c model file");
    arg_add(p, "-n", "--checkpoint-every", ARG_INT, &a->checkpoint_every, 0, "[0, 2147483647]", "checkpoint every N steps (0 = only at the end)");
    arg_add(p, NULL, "--keep-last", ARG_INT, &a->keep_last, 0, "[0, 2147483647]", "keep the newest K checkpoints (0 = all)");
    arg_add(p, "-y", "--resume", ARG_INT, &a->resume, 0, "[0, 1]", "1 = resume from the newest complete checkpoint in -o");
    // several processes (MPI: mpirun -np N; the CUDA trainer also without MPI)
    arg_add(p, "-z", "--zero", ARG_INT, &a->zero_stage, 0, "[0, 1]", "ZeRO stage: 0 replicates the optimizer state, 1 divides it among the processes");
    arg_add(p, NULL, "--num-processes", ARG_INT, &a->num_processes, 0, "[1, 65536]", "CUDA without MPI: how many processes (one per GPU)");
    arg_add(p, NULL, "--process-rank", ARG_INT, &a->process_rank, 0, "[0, 65535]", "CUDA without MPI: this process's rank, 0..N-1");
    arg_add(p, NULL, "--dist-init", ARG_STRING, &a->dist_init, 0, NULL, "CUDA without MPI: file:PATH (a shared file) or tcp:HOST:PORT (rank 0 listens)");
    // reporting and testing
    arg_add(p, NULL, "--peak-gflops", ARG_DOUBLE, &a->peak_gflops, 0, "[0, 1e12]", "machine peak in GFLOP/s for MFU (the CUDA trainer measures one)");
    arg_add(p, NULL, "--precision", ARG_STRING, &a->precision, 0, NULL, "bf16 (bf16 matmul inputs, fp32 accumulation; train_gptcu only) | fp32");
    arg_add(p, NULL, "--dump-step", ARG_STRING, &a->dump_step, 0, NULL, "write the first batch's loss, logits and gradients to FILE and exit");
}

static void args_print_value(const ArgSpec* s) {
    switch (s->kind) {
        case ARG_INT: printf("%d", *(int*)s->target); break;
        case ARG_FLOAT: printf("%g", *(float*)s->target); break;
        case ARG_DOUBLE: printf("%g", *(double*)s->target); break;
        case ARG_U64: printf("%llu", (unsigned long long)*(uint64_t*)s->target); break;
        case ARG_STRING: {
            const char* v = *(const char**)s->target;
            printf("%s", v ? (v[0] ? v : "\"\"") : "(unset)");
            break;
        }
    }
}

static void args_help(ArgParser* p, const char* prog) {
    printf("usage: %s [flags]                train a GPT\n", prog);
    printf("       %s sample -e CKPT [flags] generate text from a checkpoint\n\n", prog);
    printf("flags (value shown is the default):\n");
    for (int i = 0; i < p->num_specs; i++) {
        const ArgSpec* s = &p->specs[i];
        char names[64];
        snprintf(names, sizeof(names), "%s%s%s", s->short_name ? s->short_name : "", s->short_name ? ", " : "    ", s->long_name);
        printf("  %-24s %s%s%s [", names, s->help, s->range ? ", in " : "", s->range ? s->range : "");
        args_print_value(s);
        printf("]\n");
    }
}

static ArgSpec* args_find(ArgParser* p, const char* name) {
    for (int i = 0; i < p->num_specs; i++) {
        ArgSpec* s = &p->specs[i];
        if ((s->short_name && strcmp(name, s->short_name) == 0) || strcmp(name, s->long_name) == 0) return s;
    }
    return NULL;
}

// Parses argv; exits 0 after --help, 1 with a message on anything it does not understand.
static void args_parse(ArgParser* p, int argc, char** argv) {
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "sample") == 0) { p->a.sample_mode = 1; first = 2; }
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) { args_help(p, argv[0]); exit(0); }
        char name[128];
        const char* value = NULL;
        const char* eq = strncmp(argv[i], "--", 2) == 0 ? strchr(argv[i], '=') : NULL;
        if (eq != NULL) { // --flag=value
            snprintf(name, sizeof(name), "%.*s", (int)(eq - argv[i]), argv[i]);
            value = eq + 1;
        } else {
            snprintf(name, sizeof(name), "%s", argv[i]);
        }
        ArgSpec* s = args_find(p, name);
        if (s == NULL) die_hint("run with --help to list the flags", "unknown flag '%s'", argv[i]);
        if (value == NULL) {
            if (i + 1 >= argc) die_hint("run with --help to list the flags", "flag %s needs a value", name);
            value = argv[++i];
        }
        char what[160];
        snprintf(what, sizeof(what), "flag %s", s->long_name);
        switch (s->kind) {
            case ARG_INT: *(int*)s->target = parse_int_or_die(value, what); break;
            case ARG_FLOAT: *(float*)s->target = (float)parse_double_or_die(value, what); break;
            case ARG_DOUBLE: *(double*)s->target = parse_double_or_die(value, what); break;
            case ARG_U64: *(uint64_t*)s->target = parse_u64_or_die(value, what); break;
            case ARG_STRING: *(const char**)s->target = value; break;
        }
        double number = s->kind == ARG_INT ? *(int*)s->target : s->kind == ARG_FLOAT ? *(float*)s->target
                        : s->kind == ARG_DOUBLE ? *(double*)s->target : s->kind == ARG_U64 ? (double)*(uint64_t*)s->target : 0;
        if (s->range != NULL && !arg_in_range(s->range, number)) {
            die_hint("run with --help to see every flag's range", "%s %s is outside its range %s", name, value, s->range);
        }
        s->given = 1;
    }
}

static int args_given(const ArgParser* p, const void* target) {
    for (int i = 0; i < p->num_specs; i++) {
        if (p->specs[i].target == target) return p->specs[i].given;
    }
    return 0;
}

// The model config the flags describe (for a fresh run).
static void args_model_config(const ArgParser* p, GPTConfig* c, int vocab_size) {
    const TrainArgs* a = &p->a;
    memset(c, 0, sizeof(*c));
    int attn = NAME_INDEX(a->attn, attn_names), pos = NAME_INDEX(a->pos, pos_names), mlp = NAME_INDEX(a->mlp, mlp_names);
    if (attn < 0) die_hint("use mha, gqa, mqa, gta, mla, gla or mosaic", "unknown --attn '%s'", a->attn);
    if (pos < 0) die_hint("use rope, learned or none", "unknown --pos '%s'", a->pos);
    if (mlp < 0) die_hint("use gelu or pmem", "unknown --mlp '%s'", a->mlp);
    c->attn = (AttnType)attn;
    c->pos = attn == ATTN_MOSAIC && !args_given(p, &a->pos) ? POS_NONE : (PosType)pos; // mosaic: no positions unless asked
    c->mlp = (MlpType)mlp;
    c->pmem_size = a->pmem_size;
    c->pmem_count = a->pmem_count;
    c->num_layers = a->num_layers;
    c->channels = a->channels;
    c->num_heads = a->num_heads;
    c->num_kv_heads = a->num_kv_heads;
    c->mlp_hidden = a->mlp_hidden;
    c->max_seq_len = a->max_seq_len;
    c->vocab_size = vocab_size;
    c->bias = a->bias;
    c->rope_theta = a->rope_theta;
    c->rope_dim = a->rope_dim;
    c->latent_dim = a->latent_dim;
    c->latent_groups = a->latent_groups;
    c->q_rank = a->q_rank;
    gpt_config_finish(c);
    if (a->match_params) {
        const int* sized = c->mlp == MLP_PMEM ? &a->pmem_size : &a->mlp_hidden;
        if (args_given(p, sized)) die_hint("drop one of them", "--match-params 1 chooses the MLP's size; --mlp-hidden or --pmem-size was given too");
        size_t mha_params;
        int size = gpt_matched_mlp_size(c, &mha_params);
        if (c->mlp == MLP_PMEM) c->pmem_size = size;
        else c->mlp_hidden = size;
        printf("--match-params: %s = %d gives %zu parameters; MHA at this depth and width (F = %d) has %zu\n",
               c->mlp == MLP_PMEM ? "persistent memory rows P" : "MLP width F", size, gpt_num_parameters(c), 4 * c->channels, mha_params);
    }
}

// Dies when `flag` was given and its value (asked) differs from the model's (has).
static void check_model_flag(const ArgParser* p, const void* flag, const char* asked, const char* has, const char* source) {
    for (int i = 0; i < p->num_specs; i++) {
        const ArgSpec* s = &p->specs[i];
        if (s->target == flag && s->given && strcmp(asked, has) != 0) {
            die_hint("drop the flag to use the model as saved, or start a new run in another -o",
                     "%s %s disagrees with %s, which has %s", s->long_name, asked, source, has);
        }
    }
}

static void check_model_int_flag(const ArgParser* p, const int* flag, int asked, int has, const char* source) {
    char a[32], h[32];
    snprintf(a, sizeof(a), "%d", asked);
    snprintf(h, sizeof(h), "%d", has);
    check_model_flag(p, flag, a, h, source);
}

// Dies when a model flag given on the command line disagrees with the config of `source` (a file).
static void args_check_model_flags(const ArgParser* p, const GPTConfig* c, const char* source) {
    const TrainArgs* a = &p->a;
    check_model_int_flag(p, &a->num_layers, a->num_layers, c->num_layers, source);
    check_model_int_flag(p, &a->channels, a->channels, c->channels, source);
    check_model_int_flag(p, &a->num_heads, a->num_heads, c->num_heads, source);
    check_model_int_flag(p, &a->num_kv_heads, a->num_kv_heads, c->num_kv_heads, source);
    check_model_int_flag(p, &a->mlp_hidden, a->mlp_hidden ? a->mlp_hidden : c->mlp == MLP_GELU ? 4 * c->channels : 0, c->mlp_hidden, source);
    check_model_int_flag(p, &a->max_seq_len, a->max_seq_len, c->max_seq_len, source);
    check_model_int_flag(p, &a->bias, a->bias, c->bias, source);
    check_model_flag(p, &a->attn, a->attn, attn_names[c->attn], source);
    check_model_flag(p, &a->pos, a->pos, pos_names[c->pos], source);
    check_model_flag(p, &a->mlp, a->mlp, mlp_names[c->mlp], source);
    check_model_int_flag(p, &a->pmem_size, a->pmem_size, c->pmem_size, source);
    check_model_int_flag(p, &a->pmem_count, a->pmem_count, c->pmem_count, source);
    check_model_int_flag(p, &a->rope_dim, a->rope_dim, c->rope_dim, source);
    check_model_int_flag(p, &a->latent_dim, a->latent_dim, c->latent_dim, source);
    check_model_int_flag(p, &a->latent_groups, a->latent_groups, c->latent_groups, source);
    check_model_int_flag(p, &a->q_rank, a->q_rank, c->q_rank, source);
    char asked[32], has[32];
    snprintf(asked, sizeof(asked), "%g", a->rope_theta);
    snprintf(has, sizeof(has), "%g", c->rope_theta);
    check_model_flag(p, &a->rope_theta, asked, has, source);
}

// Checks the flags that do not depend on the model; exits with the flag's name on a bad value.
static void args_validate(const ArgParser* p) {
    const TrainArgs* a = &p->a;
    long long BT = (long long)a->B * a->T; // both up to 2^20: their product can pass int's range
    if (BT > 1 << 30) die_hint("lower -b or -t", "-b %d x -t %d = %lld tokens per micro-batch, more than 2^30", a->B, a->T, BT);
    if (a->total_batch_tokens != -1 && (a->total_batch_tokens <= 0 || a->total_batch_tokens % BT != 0)) {
        die_hint("make -d a multiple of B*T, or -1 for one micro-batch per step",
                 "-d %d is not a positive multiple of B*T = %d*%d = %lld", a->total_batch_tokens, a->B, a->T, BT);
    }
    if (a->max_steps == 0 || a->max_steps < -1) {
        die_hint("pass -x N for N optimizer steps, or -x -1 for one epoch of the training data", "-x %d: the number of steps must be positive or -1",
                 a->max_steps);
    }
    if (a->online && args_given(p, &a->shuffle) && a->shuffle) {
        die_hint("drop --shuffle", "--online 1 reads the stream once, in order; it cannot be combined with --shuffle 1");
    }
    if (a->carry > 0 && !a->online) die_hint("add --online 1, or drop --carry", "--carry %d carries a lane's past into its next segment, which needs --online 1", a->carry);
    if (schedule_from_name(a->schedule) < 0) die_hint("use cosine, linear, constant or wsd", "unknown -k schedule '%s'", a->schedule);
    if (strcmp(a->optimizer, "adamw") != 0 && strcmp(a->optimizer, "muon") != 0) {
        die_hint("use --optimizer adamw or muon", "unknown --optimizer '%s'", a->optimizer);
    }
    if (strcmp(a->muon_scale, "keller") != 0 && strcmp(a->muon_scale, "moonlight") != 0) {
        die_hint("use --muon-scale keller or moonlight", "unknown --muon-scale '%s'", a->muon_scale);
    }
    if (a->muon_polar_express && a->muon_ns_steps > 5) {
        die_hint("use --muon-ns-steps 5 or fewer", "Polar Express has coefficients for 5 steps, --muon-ns-steps is %d", a->muon_ns_steps);
    }
    if (strcmp(a->precision, "bf16") != 0 && strcmp(a->precision, "fp32") != 0) {
        die_hint("use --precision bf16 or fp32", "unknown --precision '%s'", a->precision);
    }
    if (a->num_processes < 1 || a->process_rank < 0 || a->process_rank >= a->num_processes) {
        die("--process-rank %d must be in [0, --num-processes %d)", a->process_rank, a->num_processes);
    }
    if (a->num_processes > 1 && a->dist_init == NULL) {
        die_hint("pass --dist-init file:/shared/path or tcp:HOST:PORT", "--num-processes %d needs --dist-init", a->num_processes);
    }
    if (a->resume && a->output_dir == NULL) die_hint("pass -o DIR with the run's directory", "-y 1 (resume) needs -o");
    if (a->resume && a->init_from != NULL) die_hint("drop -e: a resumed run continues from its own checkpoint", "-y 1 and -e cannot be combined");
    if (a->sample_mode && a->init_from == NULL && a->output_dir == NULL) {
        die_hint("./train_gpt sample -e out/run/ckpt_00001000.safetensors --prompt \"ROMEO:\"", "sample needs a checkpoint: -e CKPT (or -o DIR for its newest)");
    }
}

#endif // LLMC_ARGS_H
