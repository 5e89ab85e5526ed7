/*
The GPU checks' comparison on the CPU: dev/compare.h (which the kernel lab, dev/cuda/lab.cuh, reports
through) and the dev/compare_dumps program (which dev/gpu_check.sh runs on the trainers' --dump-step
files) must fail on a NaN, an Inf or an out-of-tolerance value, on either side, and pass an in-tolerance
one. A comparison written as `rel > tol` passes NaN (NaN > tol is false, and fmax drops NaN): these are
the cases that would otherwise let a broken GPU result through.

    make dev/compare_dumps dev/test_compare && ./dev/test_compare [path/to/compare_dumps]
*/
#include <sys/wait.h>
#include "../llmc/safetensors.h"
#include "compare.h"
#include "test_common.h"


enum { N = 1000 };
static float ref[N], got[N];

// ref: a smooth signal of magnitude about 1; got: ref with a relative error of 1e-7 of its largest entry
static void reset(void) {
    for (int i = 0; i < N; i++) {
        ref[i] = (float)sin(0.1 * i + 0.3);
        got[i] = ref[i] + 1e-7f * (i % 2 ? 1 : -1);
    }
}

// the lab's check on ref/got: its return value and the line it writes must agree with want_ok
static int lab_check(const char* what, size_t n, double tol, int want_ok, char* line, size_t len) {
    char* buf = NULL;
    size_t size = 0;
    FILE* out = open_memstream(&buf, &size);
    int ok = compare_report(out, what, ref, got, n, tol);
    fclose(out);
    int line_ok = strncmp(buf, want_ok ? "ok   " : "FAIL ", 5) == 0 && strchr(buf, '\n') == buf + strlen(buf) - 1;
    size_t k = 0; // the line for the message, its column padding squeezed
    for (const char* p = buf; *p && *p != '\n' && k + 1 < len; p++) {
        if (!(*p == ' ' && k > 0 && line[k - 1] == ' ')) line[k++] = *p;
    }
    line[k] = '\0';
    free(buf);
    return ok == want_ok && line_ok;
}

// compare.h on arrays and scalars; compare_report is the lab's own check line
static void test_compare_h(void) {
    char line[512];
    reset();
    Comparison c = compare_floats(ref, got, N, 1e-5);
    CHECK(c.ok && c.rel < 2e-7, "in tolerance: max rel diff %.2e <= 1e-5 passes", c.rel);
    CHECK(lab_check("lab: in-tolerance result", N, 1e-5, 1, line, sizeof(line)), "the lab's check line passes it: '%s'", line);

    got[17] = NAN;
    c = compare_floats(ref, got, N, 1e-5);
    CHECK(!c.ok && c.nonfinite_got == 1 && c.first_nonfinite == 17, "one NaN in the result fails: %zu non-finite, first at %zu",
          c.nonfinite_got, c.first_nonfinite);
    CHECK(lab_check("lab: one NaN", N, 1e-5, 0, line, sizeof(line)), "the lab's check line fails it: '%s'", line);

    for (int i = 0; i < N; i++) got[i] = NAN; // the review's case: every element NaN
    c = compare_floats(ref, got, N, 1e30);
    CHECK(!c.ok && c.nonfinite_got == N && c.first_nonfinite == 0, "an all-NaN result fails even at tolerance 1e30 (%zu non-finite)",
          c.nonfinite_got);
    CHECK(lab_check("lab: all NaN", N, 1e-5, 0, line, sizeof(line)), "the lab's check line fails an all-NaN result: '%s'", line);

    reset();
    got[500] = INFINITY;
    c = compare_floats(ref, got, N, 1e-5);
    CHECK(!c.ok && c.nonfinite_got == 1 && c.first_nonfinite == 500, "+Inf in the result fails (first at %zu)", c.first_nonfinite);
    got[500] = -INFINITY;
    CHECK(lab_check("lab: -Inf", N, 1e-5, 0, line, sizeof(line)), "-Inf in the result fails the lab's check line: '%s'", line);

    reset();
    ref[3] = NAN;
    c = compare_floats(ref, got, N, 1e-5);
    CHECK(!c.ok && c.nonfinite_ref == 1 && c.nonfinite_got == 0 && c.first_nonfinite == 3, "a NaN in the reference fails too");
    reset();
    ref[999] = INFINITY;
    CHECK(lab_check("lab: Inf in the reference", N, 1e-5, 0, line, sizeof(line)), "an Inf in the reference fails the lab's check line: '%s'", line);

    reset();
    got[9] += 1e-3f;
    c = compare_floats(ref, got, N, 1e-5);
    CHECK(!c.ok && c.rel > 9e-4 && c.rel < 1.1e-3, "one value 1e-3 off fails at tolerance 1e-5 (max rel diff %.2e)", c.rel);
    CHECK(lab_check("lab: out of tolerance", N, 1e-5, 0, line, sizeof(line)), "the lab's check line fails it: '%s'", line);
    CHECK(compare_floats(ref, got, N, 2e-3).ok, "the same passes at tolerance 2e-3");

    float zeros[4] = {0, 0, 0, 0}, tiny[4] = {0, 1e-7f, 0, 0};
    CHECK(compare_floats(zeros, zeros, 4, 0).ok, "an all-zero reference equal to the result passes at tolerance 0");
    CHECK(compare_floats(zeros, tiny, 4, 1e-6).ok && !compare_floats(zeros, tiny, 4, 1e-8).ok,
          "an all-zero reference compares absolute differences (1e-7: passes 1e-6, fails 1e-8)");
    CHECK(!compare_floats(ref, ref, N, NAN).ok, "a NaN tolerance fails");

    CHECK(compare_scalar(5.0, 5.00001, 1e-5).ok, "loss: 2e-6 relative passes at 1e-5");
    CHECK(!compare_scalar(5.0, 5.001, 1e-5).ok, "loss: 2e-4 relative fails at 1e-5");
    CHECK(!compare_scalar(5.0, NAN, 1e30).ok && !compare_scalar(NAN, 5.0, 1e30).ok, "loss: NaN on either side fails");
    CHECK(!compare_scalar(5.0, INFINITY, 1e30).ok && !compare_scalar(-INFINITY, 5.0, 1e30).ok, "loss: Inf on either side fails");
}

// ----------------------------------------------------------------------------
// dev/compare_dumps on --dump-step-shaped files: metadata "loss", tensors "logits" and "grad.*"

static char tmpdir[64];

static void write_dump(const char* name, const char* loss, const float* logits, const float* grad_a, const float* grad_b) {
    char path[128], *keys[1] = {(char*)"loss"}, *values[1] = {(char*)loss};
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    SafeTensorWrite t[3] = {{"grad.a", "F32", 1, {N}, grad_a}, {"grad.b", "F32", 2, {10, 10}, grad_b}, {"logits", "F32", 1, {N}, logits}};
    safetensors_write(path, 1, keys, values, 3, t);
}

// runs compare_dumps on two files of tmpdir; its exit status, and its last line in last
static int run_compare(const char* prog, const char* a, const char* b, const char* flags, char* last, size_t n) {
    char cmd[512], line[1024];
    snprintf(cmd, sizeof(cmd), "'%s' %s/%s %s/%s %s 2>&1", prog, tmpdir, a, tmpdir, b, flags);
    FILE* p = popen(cmd, "r");
    if (p == NULL) die("cannot run '%s'", cmd);
    last[0] = '\0';
    while (fgets(line, sizeof(line), p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(last, n, "%s", line);
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_compare_dumps(const char* prog) {
    if (access(prog, X_OK) != 0) {
        CHECK(0, "%s not found: build it first (make dev/compare_dumps)", prog);
        return;
    }
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/gptc_compare_XXXXXX");
    if (mkdtemp(tmpdir) == NULL) die("mkdtemp failed");
    static float logits[N], a[N], b[100], bad[N];
    for (int i = 0; i < N; i++) {
        logits[i] = (float)(3 * sin(0.01 * i));
        a[i] = (float)(1e-3 * cos(0.2 * i));
    }
    for (int i = 0; i < 100; i++) b[i] = (float)(0.1 * sin(i));
    write_dump("ref", "5.25", logits, a, b);
    char last[1024];
    int rc = run_compare(prog, "ref", "ref", "", last, sizeof(last));
    CHECK(rc == 0 && strncmp(last, "ok: 0 of 4 tensors beyond tolerance", 35) == 0, "compare_dumps: a dump against itself passes (exit %d): %s", rc, last);

    for (int i = 0; i < N; i++) bad[i] = a[i] * (1 + 1e-6f);
    write_dump("close", "5.2500001", logits, bad, b);
    rc = run_compare(prog, "ref", "close", "", last, sizeof(last));
    CHECK(rc == 0 && strncmp(last, "ok: ", 4) == 0, "compare_dumps: loss 2e-8 and gradients 1e-6 off pass (exit %d): %s", rc, last);

    for (int i = 0; i < N; i++) bad[i] = NAN; // the review's case: a gradient all NaN and the loss "nan"
    write_dump("allnan", "nan", logits, bad, b);
    rc = run_compare(prog, "ref", "allnan", "--tol-grads 1e30 --tol-loss 1e30", last, sizeof(last));
    CHECK(rc == 1 && strncmp(last, "FAIL: 2 of 4 tensors", 20) == 0, "compare_dumps: an all-NaN gradient and a NaN loss fail and count 2 (exit %d): %s",
          rc, last);

    write_dump("nanloss", "nan", logits, a, b);
    rc = run_compare(prog, "ref", "nanloss", "", last, sizeof(last));
    CHECK(rc == 1 && strncmp(last, "FAIL: 1 of 4 tensors", 20) == 0, "compare_dumps: a NaN loss alone fails and counts (exit %d): %s", rc, last);
    rc = run_compare(prog, "nanloss", "ref", "", last, sizeof(last));
    CHECK(rc == 1 && strncmp(last, "FAIL: 1 of 4 tensors", 20) == 0, "compare_dumps: a NaN loss in the reference fails (exit %d)", rc);

    memcpy(bad, a, sizeof(a));
    bad[123] = INFINITY;
    write_dump("inf", "5.25", logits, bad, b);
    rc = run_compare(prog, "ref", "inf", "--tol-grads 1e30", last, sizeof(last));
    CHECK(rc == 1 && strstr(last, "grad.a") != NULL, "compare_dumps: one Inf in a gradient fails (exit %d): %s", rc, last);
    rc = run_compare(prog, "inf", "ref", "--tol-grads 1e30", last, sizeof(last));
    CHECK(rc == 1, "compare_dumps: an Inf in the reference's gradient fails (exit %d)", rc);
    write_dump("infloss", "inf", logits, a, b);
    rc = run_compare(prog, "ref", "infloss", "--tol-loss 1e30", last, sizeof(last));
    CHECK(rc == 1 && strstr(last, "loss not finite") != NULL, "compare_dumps: an Inf loss fails (exit %d)", rc);

    memcpy(bad, logits, sizeof(logits));
    bad[7] += 3e-3f; // 1e-3 of the largest logit
    write_dump("far", "5.25", bad, a, b);
    rc = run_compare(prog, "ref", "far", "", last, sizeof(last));
    CHECK(rc == 1 && strstr(last, "(logits)") != NULL, "compare_dumps: logits 1e-3 off fail at 1e-5 (exit %d): %s", rc, last);
    rc = run_compare(prog, "ref", "far", "--tol-logits 2e-3", last, sizeof(last));
    CHECK(rc == 0, "compare_dumps: and pass at --tol-logits 2e-3 (exit %d)", rc);
    write_dump("farloss", "5.26", logits, a, b);
    rc = run_compare(prog, "ref", "farloss", "", last, sizeof(last));
    CHECK(rc == 1 && strncmp(last, "FAIL: 1 of 4 tensors", 20) == 0, "compare_dumps: a loss 2e-3 off fails at 1e-5 (exit %d)", rc);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
}

int main(int argc, char** argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    test_compare_h();
    test_compare_dumps(argc > 1 ? argv[1] : "./dev/compare_dumps");
    printf(failures == 0 ? "all comparison tests passed\n" : "%d comparison tests FAILED\n", failures);
    return failures == 0 ? 0 : 1;
}
