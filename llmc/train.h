/*
The programs' main, written once for both trainers: sampling from a checkpoint, and the training loop
(its bookkeeping is llmc/run.h's, the model's llmc/model.h's). A trainer includes this file last, after
model.h and these hooks of its own:

    trainer_init(args, dist) -> Comm   checks the trainer's own flags, sets up its device(s) and processes
    trainer_ready(model, args, B, T)   after the model is built, before it runs rows of (B, T)
    trainer_peak_gflops(args)          the peak MFU is reported against (measured, or --peak-gflops)
    trainer_describe(out, n, comm, args, peak)   where the run computes, for its summary line
    trainer_sync()                     waits for the device's queued work (step timing)
    trainer_finish(comm)               releases what trainer_init set up
    comm_mean_scalar(comm, x)          the mean of a value over the processes
*/
#ifndef LLMC_TRAIN_H
#define LLMC_TRAIN_H

#include "model.h"

// mean loss over the first val_batches batches of the validation shards (this process's slices)
static float evaluate(GPT* model, DataLoader* val, int val_batches) {
    dataloader_reset(val);
    int n = val_batches < (int)val->batches_per_epoch ? val_batches : (int)val->batches_per_epoch;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        dataloader_next_batch(val);
        gpt_forward(model, val->inputs, val->targets, val->B, val->T);
        sum += model->mean_loss;
    }
    return (float)(sum / n);
}

// `sample`: text from a checkpoint (-e) or a run's newest one (-o)
static int sample_main(ArgParser* p) {
    TrainArgs* a = &p->a;
    char path[4096];
    const char* ckpt = a->init_from;
    if (ckpt == NULL) {
        if (checkpoint_find_latest(a->output_dir, path, sizeof(path)) < 0) die_hint("train first, or pass -e CKPT", "no checkpoint in '%s'", a->output_dir);
        ckpt = path;
    }
    Dist single = {0, 1};
    Comm comm = trainer_init(a, single);
    GPT model;
    SafeTensors st;
    int ours = gpt_load(&model, ckpt, &st);
    Tokenizer tok;
    tokenizer_load(&tok, ours && !args_given(p, &a->tokenizer) ? checkpoint_meta(&st, "tokenizer") : a->tokenizer, a->vocab);
    int trained_T = ours ? checkpoint_meta_int(&st, "train.seq_len") : 0;
    if (ours) safetensors_close(&st);
    if (tok.vocab_size != model.config.vocab_size) {
        die_hint("pass the tokenizer the model was trained with (--tokenizer)", "the model's vocabulary has %d tokens, but tokenizer '%s' has %d",
                 model.config.vocab_size, tokenizer_name(&tok), tok.vocab_size);
    }
    args_check_model_flags(p, &model.config, ckpt);
    trainer_ready(&model, a, 1, 1);
    printf("checkpoint: %s\n", ckpt);
    gpt_print_config(&model.config, sizeof(real));
    if (trained_T > 0 && (int)strlen(a->prompt) + a->gen_tokens > trained_T) {
        printf("note: the model was trained on sequences of %d tokens; text beyond that position is out of its training distribution "
               "and usually degrades\n", trained_T);
    }
    SamplerConfig sc = {a->temperature, a->top_k, a->top_p};
    uint64_t rng = rng_seed(a->seed);
    printf("---\n");
    double seconds;
    int n = gpt_generate(&model, &tok, a->prompt, a->gen_tokens, &sc, &rng, &seconds);
    printf("---\n");
    size_t kv_bytes = gpt_kv_elements_per_token_layer(&model.config) * model.config.num_layers * sizeof(real);
    printf("generated %d tokens in %.2f s: %.1f tokens/s (prompt included in the time), KV cache %zu bytes/token\n", n, seconds,
           (n + strlen(a->prompt)) / (seconds > 0 ? seconds : 1e-9), kv_bytes);
    tokenizer_free(&tok);
    gpt_free(&model);
    trainer_finish(&comm);
    return 0;
}

// host copies of the parameters and the optimizer state in the parameter layout, and (rank 0) of the
// --carry memory of all P*B lanes (L, P*B, gpt_carry_lane_size), for checkpoints; `lanes` is a device buffer
// of one process's memory of a layer, through which each process hands rank 0 its own (P > 1)
typedef struct {
    real *params, *m, *v, *memory, *lanes;
} HostState;

// the --carry memory's elements per layer on this process (its B lanes)
static size_t memory_per_layer(const GPT* model) { return (size_t)model->batch_size * gpt_carry_lane_size(&model->config, model->carry); }

// where layer l's lanes r*B .. r*B+B-1 (process r's of P) start in a memory of all lanes (L, P*B, lane):
// the stream's lane order, so the file means the same for any P and B of the same P*B
static size_t memory_offset(const GPT* model, int l, int r, int P) { return ((size_t)l * P + r) * memory_per_layer(model); }

// The --carry memory of every lane into host->memory on rank 0. Every process takes part: each in turn
// broadcasts its lanes, layer by layer (a broadcast is what both trainers' processes share).
static void gather_memory(GPT* model, Comm* comm, HostState* host) {
    size_t n = memory_per_layer(model);
    Dist d = comm->dist;
    for (int l = 0; l < model->config.num_layers && n > 0; l++) {
        for (int r = 0; r < d.size; r++) {
            const real* src = model->acts.blocks[l].memory;
            if (d.size > 1) {
                if (r == d.rank) tensor_copy(host->lanes, src, n);
                comm_broadcast(comm, host->lanes, n, r);
                src = host->lanes;
            }
            if (d.rank == 0) tensor_download(host->memory + memory_offset(model, l, r, d.size), src, n);
        }
    }
}

// Writes the run's checkpoint for rs.step. Every process takes part (ZeRO-1 gathers the state, and the
// --carry memory comes from every process); rank 0 writes.
static void save_checkpoint(Run* run, GPT* model, Comm* comm, HostState* host, float train_loss) {
    tensor_download(host->params, model->params_memory, model->num_parameters);
    gpt_gather_optimizer_state(model, comm, host->m, host->v);
    gather_memory(model, comm, host);
    if (run->dist.rank == 0) {
        run_save_checkpoint(run, &model->config, REAL_DTYPE, host->params, host->m, host->v, host->memory, model->carry_held, train_loss);
    }
}

// --dump-step: one forward and backward on the first training batch, for comparing the trainers
static void dump_step(Run* run, GPT* model) {
    const TrainArgs* a = run->a;
    const GPTConfig* c = &model->config;
    dataloader_next_batch(&run->train);
    gpt_zero_grad(model);
    gpt_forward(model, run->train.inputs, run->train.targets, a->B, a->T);
    size_t nl = (size_t)a->B * a->T * c->padded_vocab_size;
    real* logits = (real*)mallocCheck(nl * sizeof(real));
    real* grads = (real*)mallocCheck(model->num_parameters * sizeof(real));
    tensor_download(logits, model->acts.logits, nl); // before the backward turns them into their gradient
    gpt_backward(model, 1.0f, NULL);
    tensor_download(grads, model->grads_memory, model->num_parameters);
    float* logits32 = (float*)mallocCheck(nl * sizeof(float));
    float* grads32 = (float*)mallocCheck(model->num_parameters * sizeof(float));
    for (size_t i = 0; i < nl; i++) logits32[i] = (float)logits[i];
    for (size_t i = 0; i < model->num_parameters; i++) grads32[i] = (float)grads[i];
    if (run->dist.rank == 0) run_dump_step(a->dump_step, c, model->mean_loss, logits32, a->B * a->T, grads32);
    free(logits);
    free(grads);
    free(logits32);
    free(grads32);
}

static int train_main(ArgParser* parser, Dist dist) {
    TrainArgs* a = &parser->a;
    Comm comm = trainer_init(a, dist);
    dist = comm.dist;
    if (dist.rank > 0 && freopen("/dev/null", "w", stdout) == NULL) die("cannot silence rank %d's output", dist.rank);

    // the model: resumed, initialised from a file, or fresh; every process loads it
    Run run;
    memset(&run, 0, sizeof(run));
    run.a = a;
    run.dist = dist;
    run.rs.sample_rng = rng_seed(a->seed + 1); // its own stream: sampling never shifts init or data order
    tokenizer_load(&run.tok, a->tokenizer, a->vocab);
    char resume_path[4096];
    run_open_output(&run, resume_path, sizeof(resume_path));
    const char* source = a->resume ? resume_path : a->init_from;
    GPT model;
    HostState host = {0};
    int use_muon = strcmp(a->optimizer, "muon") == 0, memory_held = 0;
    real* memory = NULL; // a resumed --carry memory of all lanes (L, P*B, gpt_carry_lane_size)
    if (source != NULL) {
        SafeTensors st;
        int ours = gpt_load(&model, source, &st);
        args_check_model_flags(parser, &model.config, source);
        gpt_setup_optimizer(&model, use_muon, a->zero_stage, &dist);
        if (ours) {
            const char* ckpt_tok = checkpoint_meta(&st, "tokenizer");
            if (strcmp(ckpt_tok, a->tokenizer) != 0) {
                die_hint("pass --tokenizer to match the checkpoint", "checkpoint '%s' uses tokenizer '%s', this run '%s'", source, ckpt_tok,
                         a->tokenizer);
            }
            if (a->resume) {
                real* m = (real*)callocCheck(model.num_parameters, sizeof(real));
                real* v = (real*)callocCheck(model.num_parameters, sizeof(real));
                run_restore(&run, &st, &model.config, REAL_DTYPE, m, v);
                gpt_scatter_optimizer_state(&model, m, v);
                if (a->carry > 0) {
                    memory = (real*)mallocCheck((size_t)model.config.num_layers * dist.size * a->B *
                                                gpt_carry_lane_size(&model.config, a->carry) * sizeof(real));
                    memory_held = run_restore_memory(&run, &st, &model.config, REAL_DTYPE, memory);
                }
                free(m);
                free(v);
            }
            safetensors_close(&st);
        }
        printf("%s %s at step %d\n", a->resume ? "resuming from" : "initialised from", source, run.rs.step);
        run_open_data(&run);
    } else {
        GPTConfig config;
        args_model_config(parser, &config, run.tok.vocab_size);
        run_open_data(&run); // before the model is built and drawn
        gpt_build(&model, &config);
        gpt_init_random(&model, a->seed);
        gpt_setup_optimizer(&model, use_muon, a->zero_stage, &dist);
    }
    const GPTConfig* c = &model.config;
    if (c->vocab_size != run.tok.vocab_size) {
        die_hint("use --tokenizer to match the model's vocabulary", "the model's vocabulary has %d tokens, tokenizer '%s' has %d",
                 c->vocab_size, tokenizer_name(&run.tok), run.tok.vocab_size);
    }
    model.carry = a->carry;
    gpt_allocate_activations(&model, a->B, a->T);
    if (memory != NULL) { // this process's lanes of the resumed memory, layer by layer
        for (int l = 0; l < c->num_layers; l++) {
            tensor_upload(model.acts.blocks[l].memory, memory + memory_offset(&model, l, dist.rank, dist.size), memory_per_layer(&model));
        }
        model.carry_held = memory_held;
        free(memory);
    }
    double peak = trainer_peak_gflops(a);
    trainer_ready(&model, a, a->B, a->T);
    char compute[512];
    trainer_describe(compute, sizeof(compute), &comm, a, peak);
    run_setup(&run, c, compute);
    if (run.use_muon) print_optimizer_groups(c, &run.muon, &run.adamw);
    if (a->dump_step) {
        dump_step(&run, &model);
    } else {
        host.params = (real*)callocCheck(model.num_parameters, sizeof(real));
        host.m = (real*)callocCheck(model.num_parameters, sizeof(real));
        host.v = (real*)callocCheck(model.num_parameters, sizeof(real));
        size_t per_layer = memory_per_layer(&model);
        if (dist.rank == 0) host.memory = (real*)callocCheck(per_layer * dist.size * c->num_layers + 1, sizeof(real));
        if (dist.size > 1 && per_layer > 0) host.lanes = tensor_alloc(per_layer);
        SamplerConfig sc = {a->temperature, a->top_k, a->top_p};
        float train_loss = 0.0f;
        double total_peak = peak * dist.size;
        for (int step = run.start_step; step <= run.max_steps; step++) {
            int last_step = step == run.max_steps;
            if ((a->val_every > 0 && step % a->val_every == 0) || last_step) {
                run_log_val(&run, step, comm_mean_scalar(&comm, evaluate(&model, &run.val, a->val_batches)));
            }
            if (dist.rank == 0 && a->sample_every > 0 && ((step > 0 && step % a->sample_every == 0) || last_step)) {
                printf("step %d | sample:\n---\n", step);
                double seconds;
                gpt_generate(&model, &run.tok, a->prompt, a->gen_tokens, &sc, &run.rs.sample_rng, &seconds);
                printf("---\n");
            }
            if (last_step) break;

            // one optimizer step: accumulate gradients over micro-batches; the last one's backward averages
            // them over the processes. Every forward runs before the update, so online its loss is the
            // batch's prequential loss: scored with the weights that have not yet learned from it.
            double t0 = wall_seconds();
            gpt_zero_grad(&model);
            double loss_sum = 0, bytes = 0;
            for (int micro = 0; micro < run.accum_steps; micro++) {
                dataloader_next_batch(&run.train);
                (a->carry > 0 ? gpt_forward_carried : gpt_forward)(&model, run.train.inputs, run.train.targets, a->B, a->T);
                gpt_backward(&model, 1.0f / run.accum_steps, micro == run.accum_steps - 1 && dist.size > 1 ? &comm : NULL);
                loss_sum += model.mean_loss;
                if (a->online) bytes += run_target_bytes(&run, run.train.targets, a->B * a->T);
            }
            train_loss = comm_mean_scalar(&comm, (float)(loss_sum / run.accum_steps));
            if (a->online) run_tally_stream(&run, train_loss, comm_mean_scalar(&comm, (float)bytes) * (double)dist.size);
            float norm = gpt_grad_norm(&model);
            run_schedule(&run, step);
            double t_opt = wall_seconds();
            if (run_update_allowed(&run, step, train_loss, norm)) {
                run.rs.opt_steps++;
                gpt_optimizer_step(&model, &comm, &run.adamw, run.use_muon ? &run.muon : NULL, run.muon_momentum, norm, a->grad_clip,
                                   run.rs.opt_steps);
            }
            trainer_sync();
            double now = wall_seconds();
            run_log_step(&run, step, train_loss, norm, 1e3 * (now - t0), 1e3 * (now - t_opt), total_peak);
            run_mark_position(&run);
            if (run_checkpoint_due(&run, step + 1)) {
                run.rs.step = step + 1;
                save_checkpoint(&run, &model, &comm, &host, train_loss);
            }
        }
        free(host.params);
        free(host.m);
        free(host.v);
        free(host.memory);
        tensor_free(host.lanes);
    }
    run_finish(&run);
    gpt_free(&model);
    trainer_finish(&comm);
    return 0;
}

#ifndef TESTING
int main(int argc, char** argv) {
    process_setup();
    Dist dist = dist_init(&argc, &argv);
    ArgParser parser;
    args_defaults(&parser, TRAINER_PRECISION);
    args_parse(&parser, argc, argv);
    args_validate(&parser);
    int rc = parser.a.sample_mode ? sample_main(&parser) : train_main(&parser, dist);
    dist_finalize();
    return rc;
}
#endif // TESTING

#endif // LLMC_TRAIN_H
