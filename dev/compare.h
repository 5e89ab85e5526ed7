/*
The one comparison behind every GPU-against-CPU check: dev/compare_dumps.c (the trainers' --dump-step
files) and the kernel lab (dev/cuda/lab.cuh) both call it. Plain C, so that dev/test_compare.c tests on
the CPU exactly the code the GPU checks run.

    relative difference = max |got - ref| / max |ref|    (max |got - ref| itself when ref is all zero)

A NaN compares false with everything and fmax() drops it, so `rel > tol` alone passes an all-NaN
result. Here a NaN or an Inf on either side fails by itself, whatever the tolerance, and is reported
with its count and the first index where one occurs; the relative difference covers the finite pairs.
*/
#ifndef DEV_COMPARE_H
#define DEV_COMPARE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    double max_diff, max_ref, rel, tol; // max |got - ref| and max |ref| over the finite pairs, their ratio
    size_t n, nonfinite_ref, nonfinite_got;
    size_t first_nonfinite;             // the first index with a NaN or Inf on either side (n when none)
    int ok;                             // everything finite and rel <= tol
} Comparison;

// read from the bits: a -ffast-math build may fold isfinite() to 1
static int compare_isfinite(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof(u));
    return ((u >> 52) & 0x7ff) != 0x7ff;
}

static Comparison compare_begin(size_t n, double tol) {
    Comparison c;
    memset(&c, 0, sizeof(c));
    c.n = n;
    c.tol = tol;
    c.first_nonfinite = n;
    return c;
}

static void compare_add(Comparison* c, size_t i, double ref, double got) {
    int fr = compare_isfinite(ref), fg = compare_isfinite(got);
    c->nonfinite_ref += !fr;
    c->nonfinite_got += !fg;
    if (!fr || !fg) {
        if (c->first_nonfinite == c->n) c->first_nonfinite = i;
        return;
    }
    double d = fabs(got - ref), a = fabs(ref);
    if (d > c->max_diff) c->max_diff = d;
    if (a > c->max_ref) c->max_ref = a;
}

static void compare_end(Comparison* c) {
    c->rel = c->max_ref > 0 ? c->max_diff / c->max_ref : c->max_diff;
    c->ok = c->nonfinite_ref == 0 && c->nonfinite_got == 0 && c->rel <= c->tol; // a NaN tol fails too
}

// got (n,) against ref (n,)
static Comparison compare_floats(const float* ref, const float* got, size_t n, double tol) {
    Comparison c = compare_begin(n, tol);
    for (size_t i = 0; i < n; i++) compare_add(&c, i, ref[i], got[i]);
    compare_end(&c);
    return c;
}

// one value, e.g. a loss: |got - ref| / |ref|
static Comparison compare_scalar(double ref, double got, double tol) {
    Comparison c = compare_begin(1, tol);
    compare_add(&c, 0, ref, got);
    compare_end(&c);
    return c;
}

// "max rel diff 3.10e-07 (tolerance 1e-05)", or what was not finite
static void compare_describe(const Comparison* c, char* buf, size_t len) {
    if (c->nonfinite_ref + c->nonfinite_got > 0) {
        snprintf(buf, len, "NOT FINITE: %zu NaN/Inf in the reference, %zu in the result, first at index %zu (of %zu)",
                 c->nonfinite_ref, c->nonfinite_got, c->first_nonfinite, c->n);
    } else {
        snprintf(buf, len, "max rel diff %.2e (tolerance %.0e)", c->rel, c->tol);
    }
}

// The kernel lab's check (dev/cuda/lab.cuh): compares, writes "ok   WHAT  max rel diff ..." or "FAIL WHAT
// ..." to out, returns c.ok
static int compare_report(FILE* out, const char* what, const float* ref, const float* got, size_t n, double tol) {
    Comparison c = compare_floats(ref, got, n, tol);
    char figure[256];
    compare_describe(&c, figure, sizeof(figure));
    fprintf(out, "%-4s %-52s %s\n", c.ok ? "ok" : "FAIL", what, figure);
    return c.ok;
}

#endif // DEV_COMPARE_H
