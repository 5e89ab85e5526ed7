/*
CPU training speed. For a model config: ms per step split into forward, backward (with zeroing the
gradients) and optimizer (with the gradient norm), each the median over the timed steps; tokens/s;
GFLOP/s in model FLOPs (6N + 6LCT per token, gpt_flops_per_token, as the trainer prints) and that as a
percentage of a peak, the FMA throughput measured here (12 independent AVX-512 FMA chains per thread,
as ../shared/tools/sgemm_peak.c's first part) or given (--peak-gflops). Muon's Newton-Schulz work is
not model FLOPs; its GFLOP per step are listed beside. Random init and random tokens: no data files.

    make bench                                           the small table, then GPT-2 124M with MHA and AdamW
    ./dev/bench_cpu --preset gpt2                        GPT-2 124M: L=12 C=768 H=12 V=50257, learned positions, B=4 T=64
    ./dev/bench_cpu --preset gpt2 --table 1              the same for every variant and optimizer (minutes: Muon)
    ./dev/bench_cpu --preset small --table 1             L=4 C=256 H=4 V=50257, B=4 T=64: 6 variants x 2 optimizers
    ./dev/bench_cpu --preset train --attn gqa            make train's model (L=4 C=128 H=4 V=257, B=6 T=128)
    ./dev/bench_cpu --layers 6 --channels 384 --heads 6 --vocab-size 257 -b 8 -t 256 --optimizer muon --threads 2

A table (--table 1) runs MHA, GQA, MQA, GTA, MLA and GLA (their defaults: 4 kv heads, 2 latent groups)
at MHA's parameter count (--match-params), each with AdamW and Muon, and gives each row's time relative
to MHA + AdamW.
*/
#define TESTING
#include "../train_gpt.c"

typedef struct {
    const char* preset;
    int layers, channels, heads, kv_heads, vocab_size, B, T, match_params, threads, steps, table;
    const char *attn, *optimizer, *pos;
    double peak_gflops;
} BenchArgs;

typedef struct {
    const char* name;
    int layers, channels, heads, vocab_size, B, T;
    const char* pos;
} Preset;

static const Preset PRESETS[] = {
    {"gpt2", 12, 768, 12, 50257, 4, 64, "learned"},  // llm.c's train_gpt2.c reference: about 4.8 s/step
    {"small", 4, 256, 4, 50257, 4, 64, "learned"},   // llm.c: about 0.75 s/step
    {"train", 4, 128, 4, 257, 6, 128, "rope"},       // make train (byte tokens)
};

typedef struct {
    double fwd_ms, bwd_ms, opt_ms, ns_gflop;
    size_t params;
    int mlp_hidden;
} BenchResult;

// The FMA throughput of all threads in GFLOP/s: the best of three runs of 12 independent chains.
static double measure_peak_gflops(void) {
#if defined(__AVX512F__)
    double best = 0;
    long iters = 20000000;
    for (int run = 0; run < 3; run++) {
        int threads = 1;
        float sink = 0;
        double t0 = wall_seconds();
        #pragma omp parallel reduction(+ : sink)
        {
#ifdef _OPENMP
            #pragma omp single
            threads = omp_get_num_threads();
#endif
            __m512 acc[12], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
            for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i);
            for (long it = 0; it < iters; it++) {
                for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
            }
            for (int i = 1; i < 12; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
            sink += _mm512_reduce_add_ps(acc[0]);
        }
        double gflops = threads * (double)iters * 12 * 16 * 2 / (wall_seconds() - t0) / 1e9;
        if (gflops > best && sink != 12345.0f) best = gflops; // sink keeps the loop alive
    }
    return best;
#else
    die_hint("pass the machine's peak with --peak-gflops", "the FMA peak loop needs AVX-512 (build with -march=native on such a CPU)");
#endif
}

// Newton-Schulz FLOPs per step for Muon's blocks: each of `steps` iterations on an (r, c) block, r <= c,
// computes X X^T (2 r^2 c), A A (2 r^3) and B X (2 r^2 c).
static double newton_schulz_gflop(const GPT* model, int steps) {
    double flops = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const ParamSpec* s = &model->specs[i];
        if (s->numel == 0 || !is_muon_tensor(s)) continue;
        int rows[MAX_ROW_BLOCKS], nblocks = gpt_row_blocks(&model->config, i, s, rows);
        for (int b = 0; b < nblocks; b++) {
            double r = imin(rows[b], (int)s->shape[2]), c = rows[b] + (int)s->shape[2] - r;
            flops += (double)s->shape[0] * steps * (4 * r * r * c + 2 * r * r * r);
        }
    }
    return flops / 1e9;
}

static GPTConfig bench_config(const BenchArgs* a, const char* attn) {
    GPTConfig c = {0};
    int attn_index = NAME_INDEX(attn, attn_names), pos = NAME_INDEX(a->pos, pos_names);
    if (attn_index < 0) die_hint("use mha, gqa, mqa, gta, mla or gla", "unknown --attn '%s'", attn);
    if (pos < 0) die_hint("use rope or learned", "unknown --pos '%s'", a->pos);
    c.attn = (AttnType)attn_index;
    c.pos = (PosType)pos;
    c.num_layers = a->layers;
    c.channels = a->channels;
    c.num_heads = a->heads;
    c.num_kv_heads = c.attn == ATTN_GQA || c.attn == ATTN_GTA ? a->kv_heads : 0;
    c.vocab_size = a->vocab_size;
    c.max_seq_len = a->T > 1024 ? a->T : 1024;
    c.bias = 1;
    c.q_rank = -1;
    c.rope_theta = 10000.0f;
    gpt_config_finish(&c);
    if (a->match_params) {
        size_t mha_params;
        c.mlp_hidden = gpt_matched_mlp_hidden(&c, &mha_params);
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

// Times `steps` training steps after one untimed step (caches, page faults); each phase's median over
// the steps, which a busy machine disturbs less than the mean.
static BenchResult bench_run(const BenchArgs* a, const char* attn, const char* optimizer) {
    GPTConfig c = bench_config(a, attn);
    GPT model;
    gpt_build(&model, &c);
    gpt_init_random(&model, 1337);
    gpt_allocate_activations(&model, a->B, a->T);
    int N = a->B * a->T;
    int* tokens = (int*)mallocCheck((N + 1) * sizeof(int));
    uint64_t rng = rng_seed(42);
    for (int i = 0; i <= N; i++) tokens[i] = (int)(random_u32(&rng) % (uint32_t)c.vocab_size);
    AdamWConfig adamw = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f};
    MuonConfig muon = {0.02f, 0.95f, 0.0f, 5, 0, 0};
    int use_muon = strcmp(optimizer, "muon") == 0;
    if (!use_muon && strcmp(optimizer, "adamw") != 0) die_hint("use adamw or muon", "unknown --optimizer '%s'", optimizer);
    Dist single = {0, 1};
    gpt_setup_optimizer(&model, use_muon, 0, &single);
    if (use_muon) print_optimizer_groups(&c, &muon, &adamw);
    double* ms = (double*)mallocCheck(3 * (size_t)a->steps * sizeof(double)); // forward, backward, optimizer
    for (int step = 0; step <= a->steps; step++) {
        double t0 = wall_seconds();
        gpt_forward(&model, tokens, tokens + 1, a->B, a->T);
        double t1 = wall_seconds();
        gpt_zero_grad(&model);
        gpt_backward(&model, 1.0f);
        double t2 = wall_seconds();
        float norm = gpt_grad_norm(&model);
        gpt_optimizer_step(&model, &single, &adamw, use_muon ? &muon : NULL, muon.momentum, norm, 1.0f, step + 1);
        double t3 = wall_seconds();
        if (!isfinite(model.mean_loss)) die("loss is %f at step %d", model.mean_loss, step);
        if (step == 0) continue;
        ms[step - 1] = 1e3 * (t1 - t0);
        ms[a->steps + step - 1] = 1e3 * (t2 - t1);
        ms[2 * a->steps + step - 1] = 1e3 * (t3 - t2);
    }
    BenchResult r = {median(ms, a->steps), median(ms + a->steps, a->steps), median(ms + 2 * a->steps, a->steps),
                     use_muon ? newton_schulz_gflop(&model, muon.ns_steps) : 0, model.num_parameters, c.mlp_hidden};
    free(ms);
    free(tokens);
    gpt_free(&model);
    return r;
}

static void print_row(const BenchArgs* a, const char* attn, const char* optimizer, const BenchResult* r, double base_ms,
                      double peak) {
    GPTConfig c = bench_config(a, attn);
    double ms = r->fwd_ms + r->bwd_ms + r->opt_ms, tokens = (double)a->B * a->T;
    double gflops = gpt_flops_per_token(&c, a->T) * tokens / (ms * 1e6);
    printf("| %-4s | %-5s | %6.2fM | %5d | %8.1f | %8.1f | %8.1f | %8.1f | %7.0f | %7.1f | %5.1f%% | %8.1f | %5.2fx |\n", attn,
           optimizer, r->params / 1e6, r->mlp_hidden, r->fwd_ms, r->bwd_ms, r->opt_ms, ms, tokens / (ms / 1e3), gflops,
           100 * gflops / peak, r->ns_gflop, ms / base_ms);
}

static void set_int(int* target, const char* value, const char* flag) { *target = parse_int_or_die(value, flag); }

static void parse_args(BenchArgs* a, int argc, char** argv) {
    const Preset* p = &PRESETS[0];
    for (int i = 1; i + 1 < argc; i += 2) { // the preset first: the other flags override it
        if (strcmp(argv[i], "--preset") == 0) {
            p = NULL;
            for (size_t k = 0; k < sizeof(PRESETS) / sizeof(PRESETS[0]); k++) {
                if (strcmp(argv[i + 1], PRESETS[k].name) == 0) p = &PRESETS[k];
            }
            if (p == NULL) die_hint("use --preset gpt2, small or train", "unknown --preset '%s'", argv[i + 1]);
        }
    }
    BenchArgs d = {p->name, p->layers, p->channels, p->heads, 4, p->vocab_size, p->B, p->T, 1, 0, 3, 0, "mha", "adamw", p->pos, 0};
    *a = d;
    for (int i = 1; i < argc; i += 2) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(f, "-h") == 0 || strcmp(f, "--help") == 0) {
            printf("usage: %s [--preset gpt2|small|train] [--layers L] [--channels C] [--heads H] [--kv-heads K]\n"
                   "       [--vocab-size V] [-b B] [-t T] [--attn mha|gqa|mqa|gta|mla|gla] [--optimizer adamw|muon]\n"
                   "       [--pos rope|learned] [--match-params 0|1] [--threads N] [--steps N] [--table 0|1]\n"
                   "       [--peak-gflops G]   (see the comment at the top of dev/bench_cpu.c)\n", argv[0]);
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
        else if (strcmp(f, "--attn") == 0) a->attn = v;
        else if (strcmp(f, "--optimizer") == 0) a->optimizer = v;
        else if (strcmp(f, "--pos") == 0) a->pos = v;
        else if (strcmp(f, "--peak-gflops") == 0) a->peak_gflops = parse_double_or_die(v, f);
        else die_hint("run with --help to list the flags", "unknown flag '%s'", f);
    }
    if (a->B < 1 || a->T < 1 || a->steps < 1) die("-b, -t and --steps must be at least 1");
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    BenchArgs a;
    parse_args(&a, argc, argv);
#ifdef _OPENMP
    if (a.threads > 0) omp_set_num_threads(a.threads);
    int threads = omp_get_max_threads();
#else
    int threads = 1;
#endif
    double peak = a.peak_gflops > 0 ? a.peak_gflops : measure_peak_gflops();
    printf("config: %s: L=%d C=%d H=%d V=%d, pos %s, B=%d T=%d (%d tokens/step), %d threads, %d timed steps after one untimed\n",
           a.preset, a.layers, a.channels, a.heads, a.vocab_size, a.pos, a.B, a.T, a.B * a.T, threads, a.steps);
    printf("peak: %.1f GFLOP/s (%s)\n", peak, a.peak_gflops > 0 ? "given" : "measured: AVX-512 FMA loop, all threads");
    const char* variants[] = {"mha", "gqa", "mqa", "gta", "mla", "gla"};
    const char* optimizers[] = {"adamw", "muon"};
    int nv = a.table ? 6 : 1, no = a.table ? 2 : 1;
    BenchResult results[6][2];
    for (int v = 0; v < nv; v++) {
        for (int o = 0; o < no; o++) {
            const char* attn = a.table ? variants[v] : a.attn;
            const char* opt = a.table ? optimizers[o] : a.optimizer;
            results[v][o] = bench_run(&a, attn, opt);
            BenchResult* r = &results[v][o];
            printf("ran %s + %s: %.1f ms/step\n", attn, opt, r->fwd_ms + r->bwd_ms + r->opt_ms);
        }
    }
    printf("\n| attn | opt   | params  | F     | fwd ms   | bwd ms   | opt ms   | step ms  | tok/s   | GFLOP/s | %% peak | NS GFLOP | vs MHA |\n");
    printf("|------|-------|---------|-------|----------|----------|----------|----------|---------|---------|--------|----------|--------|\n");
    double base = results[0][0].fwd_ms + results[0][0].bwd_ms + results[0][0].opt_ms;
    for (int v = 0; v < nv; v++) {
        for (int o = 0; o < no; o++) {
            print_row(&a, a.table ? variants[v] : a.attn, a.table ? optimizers[o] : a.optimizer, &results[v][o], base, peak);
        }
    }
    return 0;
}
