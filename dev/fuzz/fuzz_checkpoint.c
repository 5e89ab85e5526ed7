/*
libFuzzer target: the safetensors reader (llmc/safetensors.h) and the checkpoint loader (llmc/checkpoint.h)
on any bytes.

The input is a file. safetensors_open must refuse it with a message, or accept it with every tensor's
dtype known, its shape non-negative and its byte range exactly the shape's size (no wrapping) inside the
data section, which ends exactly at the end of the file. Every accepted tensor is read back with
safetensors_read: as its own dtype (the bytes must be the file's), and as F32 and F64 when it is a float.
Then the trainer's load path as far as it goes (gpt_load in train_gpt.c; run_restore and, for an online
run with a carried memory, run_restore_memory in llmc/run.h): checkpoint_open, gpt_config_from_checkpoint,
checkpoint_read_block for the parameters, then the resume for a run shaped as the checkpoint's metadata
says (the optimizer blocks, the run state, the stream tally, the memory). A die() anywhere is a clean
refusal.
*/
#include "fuzz_common.h"

#define MAX_BLOCK_BYTES (64u << 20) // the harness reads blocks up to this size (fuzz inputs are far smaller)

static void check_accepted(const SafeTensors* st, size_t size) {
    if (st->data_start < 8 || st->data_start > size) fuzz_fail("accepted: data_start %llu outside the file", (unsigned long long)st->data_start);
    uint64_t data_len = size - st->data_start, data_end = 0;
    for (int i = 0; i < st->num_tensors; i++) {
        const SafeTensorInfo* t = &st->tensors[i];
        size_t elem = st_dtype_size(t->dtype);
        if (elem == 0) fuzz_fail("accepted tensor '%s' with unknown dtype '%s'", t->name, t->dtype);
        if (t->ndim < 0 || t->ndim > ST_MAX_NDIM) fuzz_fail("accepted tensor '%s' with %d dims", t->name, t->ndim);
        unsigned __int128 bytes = elem;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0) fuzz_fail("accepted tensor '%s' with dimension %d = %lld", t->name, d, (long long)t->shape[d]);
            bytes *= (uint64_t)t->shape[d];
            if (bytes >> 100) bytes = (unsigned __int128)1 << 100; // saturate: far beyond any file
        }
        if (t->end < t->begin || bytes != (unsigned __int128)(t->end - t->begin)) {
            fuzz_fail("accepted tensor '%s' (%s, %d dims: %lld %lld %lld %lld) whose byte range [%llu, %llu) is not its size", t->name,
                      t->dtype, t->ndim, (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2],
                      (long long)t->shape[3], (unsigned long long)t->begin, (unsigned long long)t->end);
        }
        if (t->end > data_len) fuzz_fail("accepted tensor '%s' ending at %llu past the data (%llu bytes)", t->name,
                                         (unsigned long long)t->end, (unsigned long long)data_len);
        if (t->end > data_end) data_end = t->end;
        if (safetensors_find(st, t->name) == NULL) fuzz_fail("safetensors_find cannot find accepted tensor '%s'", t->name);
    }
    if (data_end != data_len) fuzz_fail("accepted: tensors cover %llu of %llu data bytes", (unsigned long long)data_end, (unsigned long long)data_len);
    for (int i = 0; i < st->num_meta; i++) {
        if (safetensors_meta(st, st->meta_keys[i]) == NULL) fuzz_fail("safetensors_meta cannot find key '%s'", st->meta_keys[i]);
    }
}

// reads every tensor back (inside a run: the reader may die)
static void read_tensors(const SafeTensors* st, const uint8_t* data) {
    for (int i = 0; i < st->num_tensors; i++) {
        const SafeTensorInfo* t = &st->tensors[i];
        size_t nbytes = (size_t)(t->end - t->begin), numel = nbytes / st_dtype_size(t->dtype);
        unsigned char* buf = (unsigned char*)mallocCheck(nbytes);
        safetensors_read(st, t, buf, t->dtype);
        if (memcmp(buf, data + st->data_start + t->begin, nbytes) != 0) fuzz_fail("safetensors_read of '%s' differs from the file's bytes", t->name);
        free(buf);
        if (is_float_dtype(t->dtype)) {
            float* f = (float*)mallocCheck(numel * sizeof(float));
            double* g = (double*)mallocCheck(numel * sizeof(double));
            safetensors_read(st, t, f, "F32");
            safetensors_read(st, t, g, "F64");
            free(f);
            free(g);
        }
    }
}

// the trainer's load path (inside a run)
static void load_checkpoint(const char* path, size_t size) {
    SafeTensors st;
    checkpoint_open(&st, path);
    GPTConfig c;
    gpt_config_from_checkpoint(&st, &c);
    fuzz_check_param_count(&c);
    size_t n = gpt_num_parameters(&c), data_len = size - st.data_start;
    // a block the file could fill: each of its tensors is at most the data section, in elements of 1+ bytes
    if (n <= MAX_BLOCK_BYTES / sizeof(float) && n <= NUM_PARAMETER_TENSORS * (data_len + 1)) {
        float* params = (float*)mallocCheck(n * sizeof(float));
        StateBlock pb = {"", params, NULL};
        checkpoint_read_block(&st, &c, &pb, "F32");
        free(params);
        // the resume itself (run_restore, then an online run's run_restore_memory), for a run shaped as the
        // checkpoint says, so that its checks pass and every read happens
        TrainArgs a = {0};
        a.optimizer = checkpoint_meta(&st, "optimizer");
        a.B = checkpoint_meta_int(&st, "train.batch");
        a.T = checkpoint_meta_int(&st, "train.seq_len");
        a.total_batch_tokens = checkpoint_meta_int(&st, "train.total_batch");
        a.seed = checkpoint_meta_u64(&st, "train.seed");
        const char* online = safetensors_meta(&st, "train.online");
        a.online = online != NULL && strcmp(online, "1") == 0;
        a.carry = a.online ? checkpoint_meta_int(&st, "train.carry") : 0;
        Run run = {0};
        run.a = &a;
        run.dist.size = 1;
        float* m = (float*)mallocCheck(n * sizeof(float));
        float* v = (float*)mallocCheck(n * sizeof(float));
        run_restore(&run, &st, &c, "F32", m, v);
        free(m);
        free(v);
        // the memory the file could fill (each element 1+ bytes); a larger shape cannot match its tensor
        double memory = (double)c.num_layers * a.B * (double)gpt_carry_lane_size(&c, a.carry);
        if (a.carry > 0 && memory <= MAX_BLOCK_BYTES / sizeof(float) && memory <= data_len) {
            float* host = (float*)mallocCheck((size_t)memory * sizeof(float) + 1);
            run_restore_memory(&run, &st, &c, "F32", host);
            free(host);
        }
    }
    safetensors_close(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[512];
    fuzz_write_file(path, sizeof(path), "input.safetensors", data, size);

    // 1. the container: refuse with a message, or accept something consistent
    if (setjmp(fuzz_env) == 0) {
        fuzz_begin();
        SafeTensors st;
        char err[512];
        if (safetensors_open(&st, path, err, sizeof(err)) != 0) {
            if (err[0] == '\0') fuzz_fail("safetensors_open refused the file without a message");
            if (st.num_tensors != 0 || st.tensors != NULL || st.path != NULL) fuzz_fail("safetensors_open refused but left state behind");
        } else {
            check_accepted(&st, size);
            read_tensors(&st, data);
            safetensors_close(&st);
        }
        fuzz_end(FUZZ_STRICT);
    }

    // 2. the checkpoint on top of it
    if (setjmp(fuzz_env) == 0) {
        fuzz_begin();
        load_checkpoint(path, size);
        fuzz_end(FUZZ_STRICT);
    }
    return 0;
}
