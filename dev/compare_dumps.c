/*
Compares two --dump-step files (llmc/run.h: the loss, the logits and every gradient of one step) written
by the two trainers from the same checkpoint and batch, tensor by tensor, with dev/compare.h:
    relative difference = max |a - b| / max |b|   (b: the reference, the first file)
A NaN or Inf anywhere, in either file, fails its tensor (or the loss) whatever the tolerance. Prints a
table and a last line that starts "ok: 0 of N tensors beyond tolerance" or "FAIL: ..." (the loss counts
as one of the N); exits 1 when anything fails.

    ./dev/compare_dumps REF.safetensors OTHER.safetensors [--tol-loss X] [--tol-logits X] [--tol-grads X]
*/
#include "../llmc/safetensors.h"
#include "compare.h"

static float* read_all(const SafeTensors* st, const SafeTensorInfo* t, size_t* n) {
    *n = (t->end - t->begin) / st_dtype_size(t->dtype);
    float* x = (float*)mallocCheck(*n * sizeof(float));
    safetensors_read(st, t, x, "F32");
    return x;
}

// one table row: the figures, then ok / FAIL and, when something was not finite, what
static void print_row(const char* name, const Comparison* c) {
    printf("%-28s %12.4g %12.4g %10.2e %9s", name, c->max_diff, c->max_ref, c->rel, c->ok ? "ok" : "FAIL");
    if (c->nonfinite_ref + c->nonfinite_got > 0) {
        char what[256];
        compare_describe(c, what, sizeof(what));
        printf("  %s", what);
    }
    printf("\n");
}

// a figure for the last line: the relative difference, or that it was not finite
static const char* figure(const Comparison* c, char* buf, size_t n) {
    if (c->nonfinite_ref + c->nonfinite_got > 0) snprintf(buf, n, "not finite");
    else snprintf(buf, n, "%.2e", c->rel);
    return buf;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s REF OTHER [--tol-loss X] [--tol-logits X] [--tol-grads X]\n", argv[0]);
        return 1;
    }
    double tol_loss = 1e-5, tol_logits = 1e-5, tol_grads = 1e-4;
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 >= argc) die("flag '%s' needs a value", argv[i]);
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
    char failed[256] = ""; // the first failing names, for the last line
    Comparison loss = compare_scalar(parse_double_or_die(ref_loss, "loss"), parse_double_or_die(other_loss, "loss"), tol_loss);
    Comparison logits = compare_begin(0, tol_logits), worst = compare_begin(0, tol_grads);
    const char* worst_name = "(none)";
    printf("%-28s %12s %12s %10s %9s\n", "tensor", "max |diff|", "max |ref|", "relative", "");
    print_row("loss", &loss);
    if (!loss.ok) {
        failures++;
        snprintf(failed, sizeof(failed), "loss");
    }
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
        int is_logits = strcmp(t->name, "logits") == 0;
        Comparison c = compare_floats(x, y, n, is_logits ? tol_logits : tol_grads);
        print_row(t->name, &c);
        if (!c.ok) {
            failures++;
            size_t used = strlen(failed); // the first three, then "..." (snprintf truncates a long name)
            if (failures <= 4) snprintf(failed + used, sizeof(failed) - used, "%s%s", used ? ", " : "", failures <= 3 ? t->name : "...");
        }
        if (is_logits) {
            logits = c;
        } else if (worst.n == 0 || (worst.ok && (!c.ok || c.rel > worst.rel))) { // the worst gradient: the first failing one, else the largest
            worst = c;
            worst_name = t->name;
        }
        free(x);
        free(y);
    }
    if (other.num_tensors != ref.num_tensors) {
        printf("%s has %d tensors, %s has %d\n", argv[1], ref.num_tensors, argv[2], other.num_tensors);
        failures++;
    }
    char f1[32], f2[32], f3[32];
    printf("%s: %d of %d tensors beyond tolerance%s%s%s%s; loss %s (tolerance %.0e), logits %s (%.0e), worst gradient %s %s (%.0e)\n",
           failures ? "FAIL" : "ok", failures, ref.num_tensors + 1, failures ? " or not finite" : "", failed[0] ? " (" : "", failed,
           failed[0] ? ")" : "", figure(&loss, f1, sizeof(f1)), tol_loss, figure(&logits, f2, sizeof(f2)), tol_logits, worst_name,
           figure(&worst, f3, sizeof(f3)), tol_grads);
    safetensors_close(&ref);
    safetensors_close(&other);
    return failures ? 1 : 0;
}
