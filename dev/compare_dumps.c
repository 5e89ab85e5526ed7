/*
Compares two --dump-step files (llmc/run.h: the loss, the logits and every gradient of one step) written
by the two trainers from the same checkpoint and batch, tensor by tensor:
    relative difference = max |a - b| / max |b|   (b: the reference, the first file)
and prints a table; exits 1 when any tensor is beyond its tolerance.

    ./dev/compare_dumps REF.safetensors OTHER.safetensors [--tol-loss X] [--tol-logits X] [--tol-grads X]
*/
#include <math.h>
#include "../llmc/safetensors.h"

static float* read_all(const SafeTensors* st, const SafeTensorInfo* t, size_t* n) {
    *n = (t->end - t->begin) / st_dtype_size(t->dtype);
    float* x = (float*)mallocCheck(*n * sizeof(float));
    safetensors_read(st, t, x, "F32");
    return x;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s REF OTHER [--tol-loss X] [--tol-logits X] [--tol-grads X]\n", argv[0]);
        return 1;
    }
    double tol_loss = 1e-5, tol_logits = 1e-5, tol_grads = 1e-4;
    for (int i = 3; i + 1 < argc; i += 2) {
        double v = parse_double_or_die(argv[i + 1], argv[i]);
        if (strcmp(argv[i], "--tol-loss") == 0) tol_loss = v;
        else if (strcmp(argv[i], "--tol-logits") == 0) tol_logits = v;
        else if (strcmp(argv[i], "--tol-grads") == 0) tol_grads = v;
        else die("unknown flag '%s'", argv[i]);
    }
    SafeTensors ref, other;
    char err[512];
    if (safetensors_open(&ref, argv[1], err, sizeof(err)) != 0) die("'%s': %s", argv[1], err);
    if (safetensors_open(&other, argv[2], err, sizeof(err)) != 0) die("'%s': %s", argv[2], err);
    const char *ref_loss = safetensors_meta(&ref, "loss"), *other_loss = safetensors_meta(&other, "loss");
    if (ref_loss == NULL || other_loss == NULL) die("both files must be --dump-step outputs (metadata 'loss')");
    int failures = 0;
    double a = parse_double_or_die(other_loss, "loss"), b = parse_double_or_die(ref_loss, "loss");
    double loss_rel = fabs(a - b) / fabs(b);
    failures += loss_rel > tol_loss;
    printf("%-28s %12s %12s %10s %9s\n", "tensor", "max |diff|", "max |ref|", "relative", "");
    printf("%-28s %12.4g %12.4g %10.2e %9s\n", "loss", fabs(a - b), fabs(b), loss_rel, loss_rel <= tol_loss ? "ok" : "FAIL");
    for (int i = 0; i < ref.num_tensors; i++) {
        const SafeTensorInfo* t = &ref.tensors[i];
        const SafeTensorInfo* u = safetensors_find(&other, t->name);
        if (u == NULL || u->end - u->begin != t->end - t->begin) {
            printf("%-28s missing or of another size in %s\n", t->name, argv[2]);
            failures++;
            continue;
        }
        size_t n, m;
        float *x = read_all(&ref, t, &n), *y = read_all(&other, u, &m);
        double diff = 0, scale = 0;
        for (size_t k = 0; k < n; k++) {
            diff = fmax(diff, fabs((double)y[k] - x[k]));
            scale = fmax(scale, fabs((double)x[k]));
        }
        double rel = scale > 0 ? diff / scale : diff, tol = strcmp(t->name, "logits") == 0 ? tol_logits : tol_grads;
        failures += rel > tol;
        printf("%-28s %12.4g %12.4g %10.2e %9s\n", t->name, diff, scale, rel, rel <= tol ? "ok" : "FAIL");
        free(x);
        free(y);
    }
    printf("%s: %d of %d tensors beyond tolerance (loss %.0e, logits %.0e, gradients %.0e)\n", failures ? "FAIL" : "ok", failures,
           ref.num_tensors + 1, tol_loss, tol_logits, tol_grads);
    safetensors_close(&ref);
    safetensors_close(&other);
    return failures ? 1 : 0;
}
