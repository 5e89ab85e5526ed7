/*
Training speed of one trainer, shared by dev/bench_cpu.c (train_gpt.c) and dev/bench_gpu.cu
(train_gpt.cu): each includes its trainer with TESTING, defines the backend below, then includes this.
For a model config: ms per step split into forward, backward (with zeroing the gradients) and optimizer
(with the gradient norm), each the median over the timed steps of every round (which a busy machine
disturbs less than the mean); tokens/s; GFLOP/s in model FLOPs (6N + 6LCT per token, gpt_flops_per_token,
as the trainers print) and that as a percentage of the backend's peak (MFU). Muon's Newton-Schulz work is
not model FLOPs; its GFLOP per step are listed beside. Random init and random tokens: no data files. Where
the backend measures its memory's bandwidth (BENCH_MEMORY_BANDWIDTH), the first row's step with AdamW is
set beside its bound: the model FLOPs at the peak plus the per-parameter passes at that bandwidth.

With --decode 1, KV-cache decoding (of --decode-batch sequences side by side) at 1K and 8K context: tokens/s,
the bytes one token reads at 8K (the weights, shared by the batch, and its cache), the GB/s that makes,
and, where the backend measures one (BENCH_READ_BANDWIDTH), that as a share of the read bandwidth over as
many bytes; and the cache's own GB/s, from the time the 7K positions between 1K and 8K add.

A table (--table 1) runs MHA, GQA, MQA, GTA, MLA, GLA (their defaults: 4 kv heads, 2 latent groups) and
Memory Mosaics (mosaic, and mosaic+pmem with the persistent memory in place of the MLP) at MHA's parameter
count (--match-params: the MLP's width F, or the persistent memory's rows P), each with AdamW and Muon. A
busy host slows runs for seconds to minutes at a time, so the whole table runs --rounds times with its rows
interleaved (round 1 runs every row, then round 2 ...), and a row's time relative to the first row
(MHA + AdamW) is the median over the rounds of the ratio within each round, with its range.

The backend includes this file after its trainer (with TESTING), then defines the four functions declared
below; the steps themselves are the trainer's, through llmc/model.h.
*/
#ifndef DEV_BENCH_COMMON_H
#define DEV_BENCH_COMMON_H

typedef struct {
    const char* preset;
    int layers, channels, heads, kv_heads, vocab_size, B, T, match_params, threads, steps, table, decode, decode_batch;
    int rounds, gemm; // repetitions of the whole table (interleaved); the GEMM table (CPU): 1 after the table, 2 alone
    const char *attn, *optimizer, *pos, *precision;
    double peak_gflops;
} BenchArgs;

typedef struct {
    const char* name;
    int layers, channels, heads, vocab_size, B, T, decode;
    const char* pos;
} Preset;

static const Preset PRESETS[] = {
    {"gpt2", 12, 768, 12, 50257, 4, 64, 0, "learned"},   // llm.c's train_gpt2.c reference: about 4.8 s/step
    {"small", 4, 256, 4, 50257, 4, 64, 0, "learned"},    // llm.c: about 0.75 s/step
    {"train", 4, 128, 4, 257, 6, 128, 0, "rope"},        // make train (byte tokens)
    {"gpt2-1k", 12, 768, 12, 50257, 16, 1024, 1, "rope"}, // GPT-2 124M's shape at T=1024, for GPUs
};

// one row of the table: medians over the rounds' timed steps, and its step time against the first row's
typedef struct {
    double fwd_ms, bwd_ms, opt_ms, ns_gflop;
    double decode_1k_ms, decode_8k_ms;         // per token, medians over the rounds
    double vs_first, vs_first_lo, vs_first_hi; // median over the rounds of step ms / the first row's, and its range
    size_t params;
    int mlp_size; // the MLP's hidden width F, or the persistent memory's rows P
} BenchResult;

// the contexts --decode measures at
enum { DECODE_SHORT = 1024, DECODE_LONG = 8192, DECODE_TOKENS = 32 };

// the optimizers' settings (their values do not change the work)
static const AdamWConfig BENCH_ADAMW = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f};
static const MuonConfig BENCH_MUON = {0.02f, 0.95f, 0.0f, 5, 0, 0};

// Checks the backend's own flags, describes the machine in `machine`, returns the peak in GFLOP/s.
static double bench_setup(const BenchArgs* a, char* machine, size_t n);
// after the model is built and its activations allocated / before it is freed
static void bench_begin(GPT* model, const BenchArgs* a);
static void bench_end(GPT* model);
// after the table: what only this backend measures
static void bench_report(const BenchArgs* a, double peak);

// Newton-Schulz FLOPs per step for Muon's blocks: each of `steps` iterations on an (r, c) block, r <= c,
// computes X X^T (2 r^2 c), A A (2 r^3) and B X (2 r^2 c).
static double newton_schulz_gflop(const GPT* model, int steps) {
    double flops = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const ParamSpec* s = &model->specs[i];
        if (s->numel == 0 || !is_muon_tensor(s)) continue;
        int rows[MAX_ROW_BLOCKS], nblocks = gpt_row_blocks(&model->config, i, s, rows);
        for (int b = 0; b < nblocks; b++) {
            double cols = (double)s->shape[2], r = rows[b] < cols ? rows[b] : cols, c = rows[b] + cols - r;
            flops += (double)s->shape[0] * steps * (4 * r * r * c + 2 * r * r * r);
        }
    }
    return flops / 1e9;
}

// One training step t (1-based) on tokens (B*T+1,): inputs tokens[0..N), targets tokens[1..N]; sets the
// forward, backward and optimizer ms, each ending with the device's work done (trainer_sync).
static void bench_step(GPT* model, const int* tokens, const BenchArgs* a, int use_muon, int t, double ms[3]) {
    Comm single;
    memset(&single, 0, sizeof(single));
    single.dist.size = 1;
    trainer_sync();
    double t0 = wall_seconds();
    gpt_forward(model, tokens, tokens + 1, a->B, a->T);
    trainer_sync();
    double t1 = wall_seconds();
    gpt_zero_grad(model);
    gpt_backward(model, 1.0f, NULL);
    trainer_sync();
    double t2 = wall_seconds();
    float norm = gpt_grad_norm(model);
    gpt_optimizer_step(model, &single, &BENCH_ADAMW, use_muon ? &BENCH_MUON : NULL, BENCH_MUON.momentum, norm, 1.0f, t);
    trainer_sync();
    double t3 = wall_seconds();
    ms[0] = 1e3 * (t1 - t0);
    ms[1] = 1e3 * (t2 - t1);
    ms[2] = 1e3 * (t3 - t2);
}

// ms per token of decoding `batch` sequences side by side, n steps at positions context-n .. context-1,
// as sampling decodes (the logits on the host after each step), after one untimed step
static double bench_decode_ms(GPT* model, int context, int n, int batch) {
    const GPTConfig* c = &model->config;
    DecodeState d;
    decode_state_init(&d, model, batch);
    float* logits = (float*)mallocCheck((size_t)batch * c->padded_vocab_size * sizeof(float));
    int* tokens = (int*)callocCheck(batch, sizeof(int));
    gpt_decode_batch(&d, tokens, context - n - 1, logits);
    double t0 = wall_seconds();
    for (int pos = context - n; pos < context; pos++) {
        for (int b = 0; b < batch; b++) tokens[b] = (pos + b) % c->vocab_size;
        gpt_decode_batch(&d, tokens, pos, logits);
    }
    double ms = 1e3 * (wall_seconds() - t0) / ((double)n * batch);
    free(tokens);
    free(logits);
    decode_state_free(&d);
    return ms;
}

// A row's model: an attention name, "+pmem" for the persistent memory in place of the MLP (Memory Mosaics,
// which carry no positions: --pos does not apply to them)
static GPTConfig bench_config(const BenchArgs* a, const char* row) {
    GPTConfig c = {0};
    char attn[32];
    const char* plus = strchr(row, '+');
    snprintf(attn, sizeof(attn), "%.*s", plus ? (int)(plus - row) : (int)strlen(row), row);
    int attn_index = NAME_INDEX(attn, attn_names), pos = NAME_INDEX(a->pos, pos_names);
    if (attn_index < 0) die_hint("use mha, gqa, mqa, gta, mla, gla, mosaic or mosaic+pmem", "unknown --attn '%s'", row);
    if (plus && strcmp(plus, "+pmem") != 0) die_hint("use NAME+pmem for the persistent memory", "unknown --attn '%s'", row);
    if (pos < 0) die_hint("use rope or learned", "unknown --pos '%s'", a->pos);
    c.attn = (AttnType)attn_index;
    c.pos = c.attn == ATTN_MOSAIC ? POS_NONE : (PosType)pos;
    c.mlp = plus ? MLP_PMEM : MLP_GELU;
    c.num_layers = a->layers;
    c.channels = a->channels;
    c.num_heads = a->heads;
    c.num_kv_heads = c.attn == ATTN_GQA || c.attn == ATTN_GTA ? a->kv_heads : 0;
    c.vocab_size = a->vocab_size;
    int longest = a->decode ? DECODE_LONG : 1024;
    c.max_seq_len = a->T > longest ? a->T : longest;
    c.bias = 1;
    c.q_rank = -1;
    c.rope_theta = 10000.0f;
    gpt_config_finish(&c);
    if (a->match_params) {
        size_t mha_params;
        int size = gpt_matched_mlp_size(&c, &mha_params);
        if (c.mlp == MLP_PMEM) c.pmem_size = size;
        else c.mlp_hidden = size;
    }
    return c;
}

static int compare_doubles(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

static double median(double* x, int n) {
    qsort(x, n, sizeof(double), compare_doubles);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

// One round of a row: builds the model, times `steps` training steps after one untimed step (caches, page
// faults, kernel selection) into ms (3 x steps: forward, backward, optimizer), and with --decode the decode
// ms per token at 1K and 8K into decode_ms[0..1]. Sets the row's sizes and Muon's GFLOP in *info.
static void bench_run(const BenchArgs* a, const char* attn, const char* optimizer, int round, double* ms, double* decode_ms,
                      BenchResult* info) {
    int use_muon = strcmp(optimizer, "muon") == 0;
    if (!use_muon && strcmp(optimizer, "adamw") != 0) die_hint("use adamw or muon", "unknown --optimizer '%s'", optimizer);
    GPTConfig c = bench_config(a, attn);
    GPT model;
    gpt_build(&model, &c);
    gpt_init_random(&model, 1337);
    gpt_allocate_activations(&model, a->B, a->T);
    Dist single = {0, 1};
    gpt_setup_optimizer(&model, use_muon, 0, &single);
    bench_begin(&model, a);
    if (use_muon && round == 0) print_optimizer_groups(&c, &BENCH_MUON, &BENCH_ADAMW);
    int N = a->B * a->T;
    int* tokens = (int*)mallocCheck((N + 1) * sizeof(int));
    uint64_t rng = rng_seed(42);
    for (int i = 0; i <= N; i++) tokens[i] = (int)(random_u32(&rng) % (uint32_t)c.vocab_size);
    for (int step = 0; step <= a->steps; step++) {
        double phase[3];
        bench_step(&model, tokens, a, use_muon, step + 1, phase);
        if (!isfinite(model.mean_loss)) die("loss is %f at step %d", model.mean_loss, step);
        if (step == 0) continue;
        for (int p = 0; p < 3; p++) ms[p * a->steps + step - 1] = phase[p];
    }
    info->ns_gflop = use_muon ? newton_schulz_gflop(&model, BENCH_MUON.ns_steps) : 0;
    info->params = model.num_parameters;
    info->mlp_size = c.mlp == MLP_PMEM ? c.pmem_size : c.mlp_hidden;
    if (a->decode) {
        decode_ms[0] = bench_decode_ms(&model, DECODE_SHORT, DECODE_TOKENS, a->decode_batch);
        decode_ms[1] = bench_decode_ms(&model, DECODE_LONG, DECODE_TOKENS, a->decode_batch);
    }
    free(tokens);
    bench_end(&model);
    gpt_free(&model);
}

// The bytes one decoded token reads at `context` positions, with `batch` sequences side by side: the
// weights (every parameter but the position table, read once per step for the whole batch) and the
// token's own cache (every layer's, fp32).
static void decode_bytes(const GPTConfig* c, int context, int batch, double* weights, double* cache) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    *weights = (double)(gpt_num_parameters(c) - specs[P_WPE].numel) * sizeof(float) / batch;
    *cache = (double)gpt_kv_elements_per_token_layer(c) * c->num_layers * context * sizeof(float);
}

static void print_row(const BenchArgs* a, const char* attn, const char* optimizer, const BenchResult* r, double peak,
                      double read_gbs) {
    GPTConfig c = bench_config(a, attn);
    double ms = r->fwd_ms + r->bwd_ms + r->opt_ms, tokens = (double)a->B * a->T;
    double gflops = gpt_flops_per_token(&c, a->T) * tokens / (ms * 1e6);
    printf("| %-11s | %-5s | %6.2fM | %5d | %8.1f | %8.1f | %8.1f | %8.1f | %7.0f | %7.1f | %5.1f%% | %8.1f | %5.2fx (%.2f-%.2f) |",
           attn, optimizer, r->params / 1e6, r->mlp_size, r->fwd_ms, r->bwd_ms, r->opt_ms, ms, tokens / (ms / 1e3), gflops,
           100 * gflops / peak, r->ns_gflop, r->vs_first, r->vs_first_lo, r->vs_first_hi);
    if (a->decode) {
        size_t kv_bytes = gpt_kv_elements_per_token_layer(&c) * c.num_layers * sizeof(float); // the caches are fp32
        double w, cache_long, cache_short; // bytes per token at the middle of the timed positions
        decode_bytes(&c, DECODE_LONG - DECODE_TOKENS / 2, a->decode_batch, &w, &cache_long);
        decode_bytes(&c, DECODE_SHORT - DECODE_TOKENS / 2, a->decode_batch, &w, &cache_short);
        double gbs = (w + cache_long) / (r->decode_8k_ms * 1e6);
        double cache_gbs = (cache_long - cache_short) / ((r->decode_8k_ms - r->decode_1k_ms) * 1e6);
        printf(" %9.0f | %9.0f | %8zu | %7.1f | %7.1f | %6.1f |", 1e3 / r->decode_1k_ms, 1e3 / r->decode_8k_ms, kv_bytes, w / 1e6,
               cache_long / 1e6, gbs);
        if (read_gbs > 0) printf(" %5.1f%% |", 100 * gbs / read_gbs);
        else printf(" - |");
        printf(" %7.1f |", cache_gbs);
    }
    printf("\n");
}

#ifdef BENCH_MEMORY_BANDWIDTH
// The fastest an AdamW step could be here, and so the highest % of the peak it could show: its model FLOPs
// at the FMA peak, plus the passes over every parameter that only memory bounds (zeroing the gradients 4
// bytes, their norm 4, AdamW 28: reading parameter, gradient, m and v, writing three back) at the read
// bandwidth over as many bytes. Printed beside the measured step, it says how much of the gap is the
// GEMMs' to close, and how much no GEMM can.
static void print_step_bound(const BenchArgs* a, const char* attn, const BenchResult* r, double peak) {
    GPTConfig c = bench_config(a, attn);
    double gflop = gpt_flops_per_token(&c, a->T) * a->B * a->T / 1e9, gb = 36.0 * r->params / 1e9;
    double memory_gbs = BENCH_MEMORY_BANDWIDTH(gb * 1e9);
    double flop_ms = 1e3 * gflop / peak, memory_ms = 1e3 * gb / memory_gbs, ms = r->fwd_ms + r->bwd_ms + r->opt_ms;
    printf("step bound (%s + adamw): %.4g GFLOP at the peak (%.4g ms) + %.3g GB of per-parameter passes at %.1f GB/s (%.3g ms) = "
           "%.4g ms, at most %.1f%% of the peak; measured %.4g ms, %.1f%%\n", attn, gflop, flop_ms, gb, memory_gbs, memory_ms,
           flop_ms + memory_ms, 100 * gflop / ((flop_ms + memory_ms) / 1e3) / peak, ms, 100 * gflop / (ms / 1e3) / peak);
}
#endif

static void set_int(int* target, const char* value, const char* flag) { *target = parse_int_or_die(value, flag); }

static void parse_args(BenchArgs* a, int argc, char** argv) {
    const Preset* p = &PRESETS[0];
    for (int i = 1; i + 1 < argc; i += 2) { // the preset first: the other flags override it
        if (strcmp(argv[i], "--preset") == 0) {
            p = NULL;
            for (size_t k = 0; k < sizeof(PRESETS) / sizeof(PRESETS[0]); k++) {
                if (strcmp(argv[i + 1], PRESETS[k].name) == 0) p = &PRESETS[k];
            }
            if (p == NULL) die_hint("use --preset gpt2, small, train or gpt2-1k", "unknown --preset '%s'", argv[i + 1]);
        }
    }
    BenchArgs d = {p->name, p->layers, p->channels, p->heads, 4, p->vocab_size, p->B, p->T, 1, 0, 3, 0, p->decode, 1, 3, 0,
                   "mha", "adamw", p->pos, NULL, 0};
    *a = d;
    for (int i = 1; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(f, "-h") == 0 || strcmp(f, "--help") == 0) {
            printf("usage: %s [--preset gpt2|small|train|gpt2-1k] [--layers L] [--channels C] [--heads H] [--kv-heads K]\n"
                   "       [--vocab-size V] [-b B] [-t T] [--attn mha|gqa|mqa|gta|mla|gla|mosaic|mosaic+pmem] [--optimizer adamw|muon]\n"
                   "       [--pos rope|learned] [--match-params 0|1] [--steps N] [--rounds N] [--table 0|1] [--decode 0|1]\n"
                   "       [--decode-batch N] [--peak-gflops G] [--threads N (CPU)] [--gemm 0|1|2 (CPU)] [--precision bf16|fp32 (GPU)]\n"
                   "       (see the comments at the top of dev/bench_common.h and of this program's source)\n",
                   argv[0]);
            exit(0);
        }
        if (v == NULL) die_hint("run with --help to list the flags", "flag %s needs a value", f);
        if (strcmp(f, "--preset") == 0) continue;
        else if (strcmp(f, "--layers") == 0) set_int(&a->layers, v, f);
        else if (strcmp(f, "--channels") == 0) set_int(&a->channels, v, f);
        else if (strcmp(f, "--heads") == 0) set_int(&a->heads, v, f);
        else if (strcmp(f, "--kv-heads") == 0) set_int(&a->kv_heads, v, f);
        else if (strcmp(f, "--vocab-size") == 0) set_int(&a->vocab_size, v, f);
        else if (strcmp(f, "-b") == 0) set_int(&a->B, v, f);
        else if (strcmp(f, "-t") == 0) set_int(&a->T, v, f);
        else if (strcmp(f, "--match-params") == 0) set_int(&a->match_params, v, f);
        else if (strcmp(f, "--threads") == 0) set_int(&a->threads, v, f);
        else if (strcmp(f, "--steps") == 0) set_int(&a->steps, v, f);
        else if (strcmp(f, "--table") == 0) set_int(&a->table, v, f);
        else if (strcmp(f, "--decode") == 0) set_int(&a->decode, v, f);
        else if (strcmp(f, "--decode-batch") == 0) set_int(&a->decode_batch, v, f);
        else if (strcmp(f, "--rounds") == 0) set_int(&a->rounds, v, f);
        else if (strcmp(f, "--gemm") == 0) set_int(&a->gemm, v, f);
        else if (strcmp(f, "--attn") == 0) a->attn = v;
        else if (strcmp(f, "--optimizer") == 0) a->optimizer = v;
        else if (strcmp(f, "--pos") == 0) a->pos = v;
        else if (strcmp(f, "--precision") == 0) a->precision = v;
        else if (strcmp(f, "--peak-gflops") == 0) a->peak_gflops = parse_double_or_die(v, f);
        else die_hint("run with --help to list the flags", "unknown flag '%s'", f);
    }
    if (a->B < 1 || a->T < 1 || a->steps < 1 || a->decode_batch < 1 || a->rounds < 1) {
        die("-b, -t, --steps, --decode-batch and --rounds must be at least 1");
    }
    if (a->decode && strcmp(a->pos, "rope") != 0) {
        die_hint("add --pos rope, or --decode 0", "--decode 1 decodes at %d positions, past learned positions' table", DECODE_LONG);
    }
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    BenchArgs a;
    parse_args(&a, argc, argv);
    char machine[512];
    double peak = bench_setup(&a, machine, sizeof(machine));
    printf("config: %s: L=%d C=%d H=%d V=%d, pos %s, B=%d T=%d (%d tokens/step), %d timed steps after one untimed\n", a.preset,
           a.layers, a.channels, a.heads, a.vocab_size, a.pos, a.B, a.T, a.B * a.T, a.steps);
    printf("machine: %s; peak %.1f GFLOP/s (%s)\n", machine, peak, a.peak_gflops > 0 ? "given" : "measured");
    if (a.gemm == 2) { // the GEMM table alone
        bench_report(&a, peak);
        return 0;
    }
    const char* variants[] = {"mha", "gqa", "mqa", "gta", "mla", "gla", "mosaic", "mosaic+pmem"};
    const char* optimizers[] = {"adamw", "muon"};
    enum { NUM_VARIANTS = sizeof(variants) / sizeof(variants[0]) };
    int nv = a.table ? NUM_VARIANTS : 1, no = a.table ? 2 : 1, rows = nv * no, R = a.rounds, S = a.steps;
    BenchResult results[NUM_VARIANTS * 2];
    memset(results, 0, sizeof(results));
    // per row and round: the phase times of every timed step (3 x S), the step time (the sum of the
    // phases' medians) and the decode ms per token at 1K and 8K
    double* ms = (double*)mallocCheck((size_t)rows * R * 3 * S * sizeof(double));
    double* step_ms = (double*)mallocCheck((size_t)rows * R * sizeof(double));
    double* decode_ms = (double*)callocCheck((size_t)rows * R * 2, sizeof(double));
    double* x = (double*)mallocCheck((size_t)R * 3 * S * sizeof(double)); // median() sorts: copies go here
    for (int round = 0; round < R; round++) {
        for (int row = 0; row < rows; row++) {
            const char* attn = a.table ? variants[row / no] : a.attn;
            const char* opt = a.table ? optimizers[row % no] : a.optimizer;
            double* m = ms + ((size_t)row * R + round) * 3 * S;
            bench_run(&a, attn, opt, round, m, decode_ms + ((size_t)row * R + round) * 2, &results[row]);
            memcpy(x, m, 3 * S * sizeof(double));
            step_ms[row * R + round] = median(x, S) + median(x + S, S) + median(x + 2 * S, S);
            printf("round %d/%d: %s + %s: %.1f ms/step\n", round + 1, R, attn, opt, step_ms[row * R + round]);
        }
    }
    for (int row = 0; row < rows; row++) {
        BenchResult* r = &results[row];
        double* phase[3] = {&r->fwd_ms, &r->bwd_ms, &r->opt_ms};
        for (int p = 0; p < 3; p++) { // this phase over all the rounds' steps
            for (int round = 0; round < R; round++) memcpy(x + round * S, ms + ((size_t)row * R + round) * 3 * S + p * S, S * sizeof(double));
            *phase[p] = median(x, R * S);
        }
        r->vs_first_lo = 1e30, r->vs_first_hi = 0;
        for (int round = 0; round < R; round++) {
            x[round] = step_ms[row * R + round] / step_ms[round];
            r->vs_first_lo = fmin(r->vs_first_lo, x[round]);
            r->vs_first_hi = fmax(r->vs_first_hi, x[round]);
        }
        r->vs_first = median(x, R);
        for (int round = 0; round < R; round++) x[round] = decode_ms[((size_t)row * R + round) * 2];
        r->decode_1k_ms = median(x, R);
        for (int round = 0; round < R; round++) x[round] = decode_ms[((size_t)row * R + round) * 2 + 1];
        r->decode_8k_ms = median(x, R);
    }
    free(x), free(ms), free(step_ms), free(decode_ms);
    double read_gbs = 0; // the backend's read bandwidth over the bytes of one decode step at 8K (the first row's)
#ifdef BENCH_READ_BANDWIDTH
    if (a.decode) {
        GPTConfig c = bench_config(&a, a.table ? variants[0] : a.attn);
        double w, cache;
        decode_bytes(&c, DECODE_LONG - DECODE_TOKENS / 2, a.decode_batch, &w, &cache);
        read_gbs = BENCH_READ_BANDWIDTH((w + cache) * a.decode_batch);
    }
#endif
    printf("\n| attn        | opt   | params  | F / P | fwd ms   | bwd ms   | opt ms   | step ms  | tok/s   | GFLOP/s | %% peak | NS GFLOP | vs MHA (range) |");
    if (a.decode) printf(" decode@1K | decode@8K | KV B/tok | weights MB/tok | cache MB/tok @8K | GB/s @8K | %% of read BW | cache GB/s (8K-1K) |");
    printf("\n|-------------|-------|---------|-------|----------|----------|----------|----------|---------|---------|--------|----------|----------------|");
    if (a.decode) printf("-----------|-----------|----------|---------|---------|--------|--------|---------|");
    printf("\n");
    for (int row = 0; row < rows; row++) {
        print_row(&a, a.table ? variants[row / no] : a.attn, a.table ? optimizers[row % no] : a.optimizer, &results[row], peak, read_gbs);
    }
    printf("(%d round(s) of %d timed step(s) per row after one untimed, rows interleaved; phases: medians over all rounds' steps; "
           "vs MHA: median and range over the rounds of the step time over the first row's in the same round)\n", R, S);
#ifdef BENCH_MEMORY_BANDWIDTH // (bytes): GB/s
    const char* first_optimizer = a.table ? optimizers[0] : a.optimizer;
    if (strcmp(first_optimizer, "adamw") == 0) print_step_bound(&a, a.table ? variants[0] : a.attn, &results[0], peak);
#endif
    bench_report(&a, peak);
    return 0;
}

#endif // DEV_BENCH_COMMON_H
