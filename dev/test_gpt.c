/*
Unit tests of the fp32 trainer (train_gpt.c included directly): kernels against double-precision
references, each fast kernel (GEMM, GELU, cross-entropy, attention) against the plain reference kept
beside it, determinism across thread counts, the AdamW step, LR schedules, checkpoint round trips and
corrupt files, KV-cache decoding against the full forward, llm.c model import, the data loader and the
sampler. Gradients are checked separately in double precision (test_gradcheck.c).

    make test   (or: make dev/test_gpt && ./dev/test_gpt)
*/
#define TESTING
#include "../train_gpt.c"
#include "test_common.h"

static uint64_t test_rng = 0xC0FFEE;
static char tmpdir[256];


static float* random_floats(size_t n, double std) {
    float* x = (float*)mallocCheck(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)(std * random_normal(&test_rng));
    return x;
}

// the largest |a - b| relative to b's largest magnitude; infinite when either holds a NaN or an infinity
static double max_rel_diff(const float* a, const float* b, size_t n) {
    double diff = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return diff / scale;
}

static void random_tokens(int* ids, int n, int V) {
    for (int i = 0; i < n; i++) ids[i] = (int)(random_u32(&test_rng) % (uint32_t)V);
}

// ----------------------------------------------------------------------------
// kernels: the tiled matmul against a plain double-precision loop

static void test_matmul_reference(int N, int C, int OC) {
    float *inp = random_floats((size_t)N * C, 1), *w = random_floats((size_t)OC * C, 1), *bias = random_floats(OC, 1);
    float *dout = random_floats((size_t)N * OC, 1), *out = random_floats((size_t)N * OC, 1);
    float *dinp = random_floats((size_t)N * C, 1), *dw = (float*)callocCheck((size_t)OC * C, 4), *db = (float*)callocCheck(OC, 4);
    float *ref_out = (float*)mallocCheck((size_t)N * OC * 4), *ref_dinp = (float*)mallocCheck((size_t)N * C * 4);
    float *ref_dw = (float*)mallocCheck((size_t)OC * C * 4), *ref_db = (float*)mallocCheck(OC * 4);
    matmul_forward(out, inp, w, bias, N, C, OC);
    matmul_backward(dinp, dw, db, dout, inp, w, N, C, OC);
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < OC; o++) {
            double s = bias[o];
            for (int i = 0; i < C; i++) s += (double)inp[n * C + i] * w[o * C + i];
            ref_out[n * OC + o] = (float)s;
        }
        for (int i = 0; i < C; i++) {
            double s = 0;
            for (int o = 0; o < OC; o++) s += (double)dout[n * OC + o] * w[o * C + i];
            ref_dinp[n * C + i] = (float)s;
        }
    }
    for (int o = 0; o < OC; o++) {
        double sb = 0;
        for (int i = 0; i < C; i++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += (double)dout[n * OC + o] * inp[n * C + i];
            ref_dw[o * C + i] = (float)s;
        }
        for (int n = 0; n < N; n++) sb += dout[n * OC + o];
        ref_db[o] = (float)sb;
    }
    double e = fmax(fmax(max_rel_diff(out, ref_out, (size_t)N * OC), max_rel_diff(dinp, ref_dinp, (size_t)N * C)),
                    fmax(max_rel_diff(dw, ref_dw, (size_t)OC * C), max_rel_diff(db, ref_db, OC)));
    CHECK(e < 1e-5, "matmul forward/backward %dx%d->%d vs double reference: max rel diff %.2e (< 1e-5)", N, C, OC, e);
    free(inp); free(w); free(bias); free(dout); free(out); free(dinp); free(dw); free(db);
    free(ref_out); free(ref_dinp); free(ref_dw); free(ref_db);
}

// ----------------------------------------------------------------------------
// kernels: each fast kernel against the plain reference kept beside it in train_gpt.c

// threads 0: one per processor
static void set_threads(int threads) {
#ifdef _OPENMP
    omp_set_num_threads(threads > 0 ? threads : omp_get_num_procs());
#else
    (void)threads;
#endif
}

// The packed GEMM's three products against the reference loops, on shapes that end mid-tile and cross
// the blocks (of K, of column panels, of A's rows); and the same products bit-identical with 1, 2 and 3
// threads. Tolerance: 1e-5 of the largest reference value (both sum in fp32, in different orders).
static void test_matmul_fast(int N, int C, int OC) {
    float *inp = random_floats((size_t)N * C, 1), *w = random_floats((size_t)OC * C, 1), *bias = random_floats(OC, 1);
    float *dout = random_floats((size_t)N * OC, 1), *dw0 = random_floats((size_t)OC * C, 1), *db0 = random_floats(OC, 1);
    size_t no = (size_t)N * OC, ni = (size_t)N * C, nw = (size_t)OC * C;
    float *out[4], *dinp[4], *dw[4], *db[4]; // [0] the reference, [1..3] the fast path with 1..3 threads
    for (int v = 0; v < 4; v++) {
        out[v] = (float*)mallocCheck(no * 4);
        dinp[v] = (float*)mallocCheck(ni * 4);
        dw[v] = (float*)mallocCheck(nw * 4);
        db[v] = (float*)mallocCheck(OC * 4);
        memcpy(dw[v], dw0, nw * 4); // the weight gradients accumulate
        memcpy(db[v], db0, OC * 4);
    }
    matmul_forward_reference(out[0], inp, w, bias, N, C, OC);
    matmul_backward_reference(dinp[0], dw[0], db[0], dout, inp, w, N, C, OC);
    for (int threads = 1; threads <= 3; threads++) {
        set_threads(threads);
        matmul_forward(out[threads], inp, w, bias, N, C, OC);
        matmul_backward(dinp[threads], dw[threads], db[threads], dout, inp, w, N, C, OC);
    }
    set_threads(0);
    double e = fmax(fmax(max_rel_diff(out[1], out[0], no), max_rel_diff(dinp[1], dinp[0], ni)),
                    fmax(max_rel_diff(dw[1], dw[0], nw), max_rel_diff(db[1], db[0], OC)));
    int same = 1;
    for (int v = 2; v <= 3; v++) {
        same &= memcmp(out[v], out[1], no * 4) == 0 && memcmp(dinp[v], dinp[1], ni * 4) == 0 &&
                memcmp(dw[v], dw[1], nw * 4) == 0 && memcmp(db[v], db[1], OC * 4) == 0;
    }
    const GemmBlocking* g = gemm_blocking();
    CHECK(e < 1e-5 && same, "fast matmul %dx%d->%d (out, dinp, dweight, dbias; GEMM tile %dx%d, kc %d, chunk %d, A budget %zu) vs "
          "reference: max rel diff %.2e (< 1e-5); bit-identical with 1, 2, 3 threads: %s", N, C, OC, GEMM_MR, GEMM_NR, g->kc, g->chunk,
          g->a_budget, e, same ? "yes" : "NO");
    for (int v = 0; v < 4; v++) { free(out[v]); free(dinp[v]); free(dw[v]); free(db[v]); }
    free(inp); free(w); free(bias); free(dout); free(dw0); free(db0);
}

// The GEMM with its blocks shrunk so that small products cross every edge: slabs of K with a tail that is
// no multiple of 16, several chunks of column panels, several blocks of A's rows (packed with all of K, or
// a slab at a time when the budget is smaller), and both ways of sharing the work (the column panels, or
// the rows when there are too few column panels): the three products of a layer as test_matmul_fast
// checks them; then the lower-triangle mode against the full product, bit-identical with 1, 2, 3 threads.
static void test_gemm_blocking(int kc, int chunk, size_t a_budget) {
    GemmBlocking saved = *gemm_blocking();
    gemm_set_blocking(kc, chunk, a_budget);
    test_matmul_fast(37, 100, 150); // 4 column panels over 2 or 3 threads; K 100 = 3 slabs of 32 + 4
    test_matmul_fast(300, 70, 20);  // the forward has 1 column panel: the threads share its 38 row panels
    test_matmul_fast(9, 513, 61);   // few rows, long K
    int n = 101, k = 77;
    float *a = random_floats((size_t)n * k, 1), *full = (float*)mallocCheck((size_t)n * n * 4), *lower[3];
    MatrixView x = {a, (size_t)k, 1};
    gemm(full, n, x, transposed(x), n, n, k, GEMM_SET);
    int ok = 1;
    for (int threads = 1; threads <= 3; threads++) {
        set_threads(threads);
        lower[threads - 1] = (float*)callocCheck((size_t)n * n, 4);
        gemm(lower[threads - 1], n, x, transposed(x), n, n, k, GEMM_LOWER);
        for (int i = 0; i < n; i++) ok &= memcmp(lower[threads - 1] + (size_t)i * n, full + (size_t)i * n, (i + 1) * 4) == 0;
        ok &= memcmp(lower[threads - 1], lower[0], (size_t)n * n * 4) == 0;
    }
    set_threads(0);
    CHECK(ok, "GEMM lower triangle of X X^T (%dx%d, kc %d, chunk %d, A budget %zu) == the full product's, bit-identical with 1, 2, 3 "
          "threads", n, k, kc, chunk, a_budget);
    free(a); free(full);
    for (int t = 0; t < 3; t++) free(lower[t]);
    gemm_set_blocking(saved.kc, saved.chunk, saved.a_budget);
}

// exp_vec against libm's exp in double over its range; then GELU through it against GELU in double:
// within 5e-7 of max(|exact|, 1), forward and backward (the tanh reference is printed beside: its 1 + tanh
// cancels for negative x).
static void test_gelu_fast(void) {
    double worst_exp = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f + 175.0f * i / 200000;
        worst_exp = fmax(worst_exp, fabs(exp_vec(x) - exp((double)x)) / exp((double)x));
    }
    CHECK(worst_exp < 1.5e-7, "exp_vec vs exp on [-87, 88]: max rel error %.2e (< 1.5e-7)", worst_exp);
    size_t n = 100003; // -12..12 in steps of 0.001, then N(0, 9)
    float *x = random_floats(n, 3), *ones = (float*)mallocCheck(n * 4), *y[4];
    for (size_t i = 0; i < 24001; i++) x[i] = -12.0f + i * 0.001f;
    for (size_t i = 0; i < n; i++) ones[i] = 1;
    for (int k = 0; k < 4; k++) y[k] = (float*)mallocCheck(n * 4);
    gelu_forward(y[0], x, n);
    gelu_forward_reference(y[1], x, n);
    gelu_backward(y[2], x, ones, n);
    gelu_backward_reference(y[3], x, ones, n);
    double err[4] = {0};
    for (size_t i = 0; i < n; i++) {
        double xd = x[i], u = 0.7978845608028654 * (xd + 0.044715 * xd * xd * xd), s = 1 / (1 + exp(-2 * u));
        double exact[2] = {xd * s, s + 2 * xd * s * (1 - s) * 0.7978845608028654 * (1 + 3 * 0.044715 * xd * xd)};
        for (int k = 0; k < 4; k++) err[k] = fmax(err[k], fabs(y[k][i] - exact[k / 2]) / fmax(fabs(exact[k / 2]), 1));
    }
    CHECK(err[0] < 5e-7 && err[2] < 5e-7,
          "GELU through exp_vec vs double, x in [-12, 12] and N(0, 9): forward %.2e, backward %.2e (< 5e-7; tanh reference: %.2e, %.2e)",
          err[0], err[2], err[1], err[3]);
    free(x); free(ones);
    for (int k = 0; k < 4; k++) free(y[k]);
}

// The fused cross-entropy (log-sum-exp kept for a one-pass backward) against the reference's losses and
// gradients, on a padded vocabulary that is not a multiple of the vector width: 1e-5 relative.
static void test_crossentropy_fast(void) {
    int N = 9, V = 1001, Vp = 1024;
    float* logits = random_floats((size_t)N * Vp, 4);
    int targets[9];
    random_tokens(targets, N, V);
    float *losses = (float*)mallocCheck(N * 4), *losses_ref = (float*)mallocCheck(N * 4), *lse = (float*)mallocCheck(N * 4);
    float *dl = (float*)mallocCheck((size_t)N * Vp * 4), *dl_ref = (float*)mallocCheck((size_t)N * Vp * 4);
    crossentropy_forward(losses, lse, logits, targets, N, V, Vp);
    crossentropy_forward_reference(losses_ref, logits, targets, N, V, Vp);
    crossentropy_backward(dl, lse, logits, targets, 1.0f / N, N, V, Vp);
    crossentropy_backward_reference(dl_ref, logits, targets, 1.0f / N, N, V, Vp);
    double e = fmax(max_rel_diff(losses, losses_ref, N), max_rel_diff(dl, dl_ref, (size_t)N * Vp));
    CHECK(e < 1e-5, "fused cross-entropy vs reference, V=%d padded to %d: losses and dlogits max rel diff %.2e (< 1e-5)", V, Vp, e);
    free(logits); free(losses); free(losses_ref); free(lse); free(dl); free(dl_ref);
}

// The attention tests' rows: queries (B,Tq) of H heads of d1+d2, and kv rows (B,Tk) [k1 (Hkv heads) | k2
// (d2) | v (Hkv heads of dv)], separate arrays as in decoding; tied: v is k1 itself (GTA's state, MLA's
// latent), so dk1 and dv alias.
typedef struct {
    AttentionDims d;
    int k2, v; // offsets within a kv row (k1 at 0); k2 -1 when d2 = 0
} TestAttention;

static TestAttention test_attention_layout(int H, int Hkv, int d1, int d2, int dv, int tied) {
    int k1_head = tied ? dv : d1, k1_w = Hkv * k1_head, kv_stride = k1_w + d2 + (tied ? 0 : Hkv * dv);
    TestAttention a = {{H, Hkv, d1, d2, dv, H * (d1 + d2), kv_stride, kv_stride, kv_stride, H * dv, k1_head, tied ? k1_head : dv,
                        1 / sqrtf((float)(d1 + d2))},
                       d2 ? k1_w : -1, tied ? 0 : k1_w + d2};
    return a;
}

// One pass of the fast core (fast) or the reference loops over q (B,Tq) and kv (B,Tk): out, att and dq
// written; dkv, the kv rows' gradient, zeroed and then accumulated.
static void attention_pass(int fast, float* out, float* att, float* dq, float* dkv, const float* q, const float* kv, const float* dout,
                           int B, int Tq, int Tk, const TestAttention* a) {
    const AttentionDims* d = &a->d;
    const float *k2 = a->k2 >= 0 ? kv + a->k2 : NULL, *v = kv + a->v;
    float *dk2 = a->k2 >= 0 ? dkv + a->k2 : NULL, *dv = dkv + a->v;
    float* scratch = (float*)mallocCheck(attention_scratch_size(B, Tq, Tk, d) * 4);
    memset(dkv, 0, (size_t)B * Tk * d->k1_stride * 4);
    if (fast) {
        attention_forward(out, att, q, kv, k2, v, B, Tq, Tk, d);
        attention_backward(dq, dkv, dk2, dv, scratch, dout, out, att, q, kv, k2, v, B, Tq, Tk, d);
    } else {
        attention_forward_reference(out, att, q, kv, k2, v, B, Tq, Tk, d);
        attention_backward_reference(dq, dkv, dk2, dv, scratch, dout, out, att, q, kv, k2, v, B, Tq, Tk, d);
    }
    free(scratch);
}

// The GEMM-based attention core against the reference loops, forward (outputs and probabilities) and
// backward (dq, and dk1, dk2, dv of every key), within 1e-5 relative, and bit-identical with 1, 2 and 3
// threads; with head widths that fit no tile, square (T = 37) and over a carried memory of Tk - Tq keys,
// shorter and longer than the Tq query rows, also with fewer query rows than a register tile (where the
// forward takes the reference loops and the backward stays on the GEMM).
static void test_attention_fast(const char* label, int H, int Hkv, int d1, int d2, int dv, int tied) {
    int B = 2, shapes[][2] = {{37, 37}, {29, 41}, {20, 57}, {GEMM_MR - 1, 45}}, nshapes = (int)(sizeof(shapes) / sizeof(shapes[0]));
    TestAttention a = test_attention_layout(H, Hkv, d1, d2, dv, tied);
    double worst = 0;
    int same = 1, worst_shape = 0;
    for (int si = 0; si < nshapes; si++) {
        int Tq = shapes[si][0], Tk = shapes[si][1];
        size_t nq = (size_t)B * Tq * a.d.q_stride, nkv = (size_t)B * Tk * a.d.k1_stride, nout = (size_t)B * Tq * H * dv;
        size_t natt = attention_state_size(B, H, Tq, Tk);
        float *q = random_floats(nq, 1), *kv = random_floats(nkv, 1), *dout = random_floats(nout, 1);
        float *out[4], *att[4], *dq[4], *dkv[4]; // [0] the reference, [1..3] the fast core with 1..3 threads
        for (int r = 0; r < 4; r++) {
            out[r] = (float*)mallocCheck(nout * 4);
            att[r] = (float*)mallocCheck(natt * 4);
            dq[r] = (float*)mallocCheck(nq * 4);
            dkv[r] = (float*)mallocCheck(nkv * 4);
            set_threads(r);
            attention_pass(r > 0, out[r], att[r], dq[r], dkv[r], q, kv, dout, B, Tq, Tk, &a);
        }
        set_threads(0);
        double e = fmax(fmax(max_rel_diff(out[1], out[0], nout), max_rel_diff(att[1], att[0], natt)),
                        fmax(max_rel_diff(dq[1], dq[0], nq), max_rel_diff(dkv[1], dkv[0], nkv)));
        if (e > worst) worst = e, worst_shape = si; // max_rel_diff is infinite, never NaN, on a non-finite value
        for (int r = 2; r < 4; r++) {
            same &= memcmp(out[r], out[1], nout * 4) == 0 && memcmp(att[r], att[1], natt * 4) == 0 && memcmp(dq[r], dq[1], nq * 4) == 0 &&
                    memcmp(dkv[r], dkv[1], nkv * 4) == 0;
        }
        for (int r = 0; r < 4; r++) { free(out[r]); free(att[r]); free(dq[r]); free(dkv[r]); }
        free(q); free(kv); free(dout);
    }
    CHECK(worst < 1e-5 && same, "fast attention %s vs reference, Tq x Tk = 37x37, 29x41, 20x57, %dx45: out, probabilities, dq, dk|dv "
          "max rel diff %.2e (< 1e-5) at %dx%d; bit-identical with 1, 2, 3 threads: %s", label, GEMM_MR - 1, worst,
          shapes[worst_shape][0], shapes[worst_shape][1], same ? "yes" : "NO");
}

// copies rows [row0, row0 + n) of each of B sequences of T rows (width w) into (B, n) rows
static float* sequence_rows(const float* x, int B, int T, int row0, int n, int w) {
    float* y = (float*)mallocCheck((size_t)B * n * w * 4);
    for (int b = 0; b < B; b++) memcpy(y + (size_t)b * n * w, x + ((size_t)b * T + row0) * w, (size_t)n * w * 4);
    return y;
}

// The rectangular core is the square core on the concatenation: Tq queries over Tk = K + Tq keys (a
// memory of K) give the last Tq rows of the square core over Tk rows (whose first K queries are any), and
// when those K rows' upstream gradient is zero, the same dq for the last rows and the same dk|dv for
// every key. Outputs, probabilities and gradients within 1e-5 relative, the fast core and the reference.
static void test_attention_memory_concat(const char* label, int H, int Hkv, int d1, int d2, int dv, int tied) {
    int B = 2, shapes[][2] = {{23, 14}, {30, GEMM_MR - 2}}; // K, Tq
    TestAttention a = test_attention_layout(H, Hkv, d1, d2, dv, tied);
    int qw = a.d.q_stride, ow = a.d.out_stride;
    double worst = 0;
    for (int si = 0; si < 2; si++) {
        int K = shapes[si][0], Tq = shapes[si][1], Tk = K + Tq;
        size_t nkv = (size_t)B * Tk * a.d.k1_stride, nsq = (size_t)B * Tk * qw, nout = (size_t)B * Tk * ow;
        size_t natt = attention_state_size(B, H, Tk, Tk);
        float *q = random_floats(nsq, 1), *kv = random_floats(nkv, 1), *dout = random_floats(nout, 1);
        for (int b = 0; b < B; b++) memset(dout + (size_t)b * Tk * ow, 0, (size_t)K * ow * 4);
        float *qr = sequence_rows(q, B, Tk, K, Tq, qw), *doutr = sequence_rows(dout, B, Tk, K, Tq, ow);
        float *out = (float*)mallocCheck(nout * 4), *att = (float*)mallocCheck(natt * 4), *dq = (float*)mallocCheck(nsq * 4);
        float *outr = (float*)mallocCheck((size_t)B * Tq * ow * 4), *attr = (float*)mallocCheck(attention_state_size(B, H, Tq, Tk) * 4);
        float *dqr = (float*)mallocCheck((size_t)B * Tq * qw * 4), *dkv = (float*)mallocCheck(nkv * 4), *dkvr = (float*)mallocCheck(nkv * 4);
        for (int fast = 0; fast < 2; fast++) {
            attention_pass(fast, out, att, dq, dkv, q, kv, dout, B, Tk, Tk, &a);
            attention_pass(fast, outr, attr, dqr, dkvr, qr, kv, doutr, B, Tq, Tk, &a);
            // the square core's last Tq rows: of its outputs and dq, and of each head's probabilities
            float *out_last = sequence_rows(out, B, Tk, K, Tq, ow), *dq_last = sequence_rows(dq, B, Tk, K, Tq, qw);
            float* att_last = sequence_rows(att, B * H, Tk, K, Tq, Tk);
            double e = fmax(fmax(max_rel_diff(outr, out_last, (size_t)B * Tq * ow), max_rel_diff(attr, att_last, (size_t)B * H * Tq * Tk)),
                            fmax(max_rel_diff(dqr, dq_last, (size_t)B * Tq * qw), max_rel_diff(dkvr, dkv, nkv)));
            worst = fmax(worst, e);
            free(out_last); free(dq_last); free(att_last);
        }
        free(q); free(kv); free(dout); free(qr); free(doutr); free(out); free(att); free(dq);
        free(outr); free(attr); free(dqr); free(dkv); free(dkvr);
    }
    CHECK(worst < 1e-5, "attention %s over a memory (K=23 Tq=14, K=30 Tq=%d) = the square core's last rows: out, probabilities, dq, "
          "dk|dv max rel diff %.2e (< 1e-5), fast and reference", label, GEMM_MR - 2, worst);
}

// Flash-decoding (attention_forward with one query row over Tk keys) against the reference loops, at cache
// lengths around and across its blocks of DECODE_BLOCK keys, for B = 2 sequences: outputs and
// probabilities within 1e-5 of the largest, and bit-identical with 1, 2 and 3 threads. The query rows and
// the cache rows are separate arrays (as in decoding), each row of the cache [k1 | k2 | v]; tied: v is k1
// (GTA's state, MLA's latent).
static void test_attention_decode(const char* label, int H, int Hkv, int d1, int d2, int dv, int tied) {
    int B = 2, lengths[] = {2, DECODE_BLOCK - 1, DECODE_BLOCK, DECODE_BLOCK + 1, 5 * DECODE_BLOCK + 60, 16 * DECODE_BLOCK + 1};
    TestAttention a = test_attention_layout(H, Hkv, d1, d2, dv, tied);
    const AttentionDims d = a.d;
    double worst = 0;
    int same = 1;
    for (size_t li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
        int Tk = lengths[li];
        float *q = random_floats((size_t)B * d.q_stride, 3), *kv = random_floats((size_t)B * Tk * d.k1_stride, 1);
        const float *k1 = kv, *k2 = d2 ? kv + a.k2 : NULL, *v = kv + a.v;
        size_t nout = (size_t)B * H * dv, natt = (size_t)B * H * Tk;
        float *out[4], *att[4]; // [0] the reference, [1..3] flash-decoding with 1..3 threads
        for (int r = 0; r < 4; r++) {
            out[r] = (float*)mallocCheck(nout * 4);
            att[r] = (float*)mallocCheck(natt * 4);
            if (r == 0) {
                attention_forward_reference(out[r], att[r], q, k1, k2, v, B, 1, Tk, &d);
            } else {
                set_threads(r);
                attention_forward(out[r], att[r], q, k1, k2, v, B, 1, Tk, &d);
            }
        }
        set_threads(0);
        worst = fmax(worst, fmax(max_rel_diff(out[1], out[0], nout), max_rel_diff(att[1], att[0], natt)));
        for (int r = 2; r < 4; r++) same &= memcmp(out[r], out[1], nout * 4) == 0 && memcmp(att[r], att[1], natt * 4) == 0;
        for (int r = 0; r < 4; r++) { free(out[r]); free(att[r]); }
        free(q); free(kv);
    }
    CHECK(worst < 1e-5 && same, "flash-decoding %s vs reference, 2 sequences, %d to %d cached keys (blocks of %d): out, probabilities "
          "max rel diff %.2e (< 1e-5); bit-identical with 1, 2, 3 threads: %s", label, lengths[0], lengths[5], DECODE_BLOCK, worst,
          same ? "yes" : "NO");
}

// ----------------------------------------------------------------------------
// a small model shared by several tests

// 2 layers, C=48, H=6, F=4C, the byte vocabulary, maxT=24
static GPTConfig small_config(AttnType attn, int kv_heads, PosType pos, int bias) {
    return test_config(attn, kv_heads, pos, bias, 2, 48, 6, 0, 257, 24);
}

// forward + backward with a given number of threads; copies the loss and gradients out
static void run_step_with_threads(GPT* model, const int* in, const int* tg, int B, int T, int threads, float* loss, float* grads) {
    set_threads(threads);
    gpt_zero_grad(model);
    gpt_forward(model, in, tg, B, T);
    gpt_backward(model, 1.0f, NULL);
    *loss = model->mean_loss;
    memcpy(grads, model->grads_memory, model->num_parameters * sizeof(float));
}

static void test_thread_count_independence(void) {
    GPTConfig c = small_config(ATTN_GQA, 2, POS_ROPE, 1);
    GPT model;
    gpt_build(&model, &c);
    gpt_init_random(&model, 3);
    int B = 3, T = 17;
    gpt_allocate_activations(&model, B, T);
    int in[51], tg[51];
    random_tokens(in, B * T, c.vocab_size);
    random_tokens(tg, B * T, c.vocab_size);
    float *g1 = (float*)mallocCheck(model.num_parameters * 4), *g = (float*)mallocCheck(model.num_parameters * 4);
    float l1, l;
    run_step_with_threads(&model, in, tg, B, T, 1, &l1, g1);
    for (int threads = 2; threads <= 3; threads++) {
        run_step_with_threads(&model, in, tg, B, T, threads, &l, g);
        CHECK(l == l1 && memcmp(g, g1, model.num_parameters * 4) == 0,
              "loss and all %zu gradients bit-identical with 1 and %d threads", model.num_parameters, threads);
    }
    set_threads(0);
    free(g1); free(g);
    gpt_free(&model);
}

// ----------------------------------------------------------------------------
// AdamW against a double-precision recomputation, and the schedules

static void test_adamw(void) {
    size_t n = 1000;
    float *p = random_floats(n, 1), *g = random_floats(n, 1), *m = random_floats(n, 0.1), *v = random_floats(n, 0.1);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]);
    double *pd = (double*)mallocCheck(n * 8), *md = (double*)mallocCheck(n * 8), *vd = (double*)mallocCheck(n * 8);
    for (size_t i = 0; i < n; i++) { pd[i] = p[i]; md[i] = m[i]; vd[i] = v[i]; }
    AdamWConfig cfg = {3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f};
    int t = 7;
    float wd = 0.1f, clip_scale = 0.5f;
    adamw_update(p, g, m, v, n, &cfg, wd, clip_scale, t);
    double err = 0;
    for (size_t i = 0; i < n; i++) {
        double gi = (double)g[i] * clip_scale;
        md[i] = 0.9 * md[i] + 0.1 * gi;
        vd[i] = 0.95 * vd[i] + 0.05 * gi * gi;
        double mh = md[i] / (1 - pow(0.9, t)), vh = vd[i] / (1 - pow(0.95, t));
        pd[i] -= (double)cfg.lr * (mh / (sqrt(vh) + 1e-8) + 0.1 * pd[i]);
        err = fmax(err, fmax(fabs(pd[i] - p[i]), fmax(fabs(md[i] - m[i]), fabs(vd[i] - v[i]))));
    }
    CHECK(err < 1e-6, "AdamW step (clip scale, bias correction, decoupled decay) vs double: max abs diff %.2e (< 1e-6)", err);
    free(p); free(g); free(m); free(v); free(pd); free(md); free(vd);
}

static void test_schedules(void) {
    LRSchedule s = {SCHEDULE_COSINE, 1.0f, 10, 110, 0.1f, 0.2f};
    CHECK(fabsf(lr_at_step(&s, 0) - 0.1f) < 1e-7f && fabsf(lr_at_step(&s, 9) - 1.0f) < 1e-7f,
          "warmup: step 0 -> lr/10, step 9 -> lr (10 warmup steps)");
    // progress runs over steps 10..109 (99 intervals): the midpoint of the cosine is between 59 and 60
    CHECK(fabsf(lr_at_step(&s, 10) - 1.0f) < 1e-6f && fabsf(lr_at_step(&s, 109) - 0.1f) < 1e-6f,
          "cosine: lr at the end of warmup, lr*final_frac at the last step");
    float mid = 0.1f + 0.9f * 0.5f * (1 + cosf((float)M_PI * 49.5f / 99.0f));
    CHECK(fabsf(lr_at_step(&s, 59) + lr_at_step(&s, 60) - 2 * 0.55f) < 1e-5f && fabsf(lr_at_step(&s, 59) - mid + 0.0f) < 0.02f,
          "cosine: steps 59 and 60 straddle the midpoint 0.55");
    s.type = SCHEDULE_LINEAR;
    CHECK(fabsf(lr_at_step(&s, 10 + 33) - (1.0f - 0.9f * 33.0f / 99.0f)) < 1e-6f, "linear: a third of the way down at step 43");
    s.type = SCHEDULE_CONSTANT;
    CHECK(lr_at_step(&s, 109) == 1.0f, "constant: lr at the last step");
    s.type = SCHEDULE_WSD; // decays over the last 22 steps: 88..109
    CHECK(lr_at_step(&s, 87) == 1.0f && fabsf(lr_at_step(&s, 88) - 1.0f) < 1e-6f && fabsf(lr_at_step(&s, 109) - 0.1f) < 1e-6f &&
              fabsf(lr_at_step(&s, 98) - (1.0f - 0.9f * 10.0f / 21.0f)) < 1e-6f,
          "wsd: stable until step 88, then linear to lr*final_frac at step 109");
}

// ----------------------------------------------------------------------------
// Muon

// p(s) = a s + b s^3 + c s^5 applied `steps` times: what Newton-Schulz does to each singular value
static double ns_scalar_map(double s, int steps, int polar_express) {
    for (int k = 0; k < steps; k++) {
        const float* abc = polar_express ? POLAR_EXPRESS[k] : NS_QUINTIC;
        s = abc[0] * s + abc[1] * s * s * s + abc[2] * s * s * s * s * s;
    }
    return s;
}

// A diagonal (r, c) input has its diagonal as singular values: Newton-Schulz must return the scalar
// polynomial map of each (after Frobenius normalisation) and leave the rest zero.
static void test_newton_schulz_diagonal(int polar_express) {
    int r = 8, c = 13;
    double sv[8] = {1.0, 0.5, 0.2, 0.1, 0.05, 0.03, 0.02, 0.017}, norm = 0;
    for (int i = 0; i < r; i++) norm += sv[i] * sv[i];
    norm = sqrt(norm) * (polar_express ? 1.02 : 1.0);
    float* X = (float*)callocCheck((size_t)r * c, 4);
    for (int i = 0; i < r; i++) X[i * c + i] = (float)(sv[i] / norm);
    float* scratch = (float*)mallocCheck(muon_scratch_size(1, r, c) * 4);
    newton_schulz(X, r, c, 5, polar_express, scratch);
    double worst = 0, lo = 1e9, hi = -1e9;
    for (int i = 0; i < r; i++) {
        for (int j = 0; j < c; j++) {
            double want = i == j ? ns_scalar_map(sv[i] / norm, 5, polar_express) : 0.0;
            worst = fmax(worst, fabs(X[i * c + j] - want));
        }
        lo = fmin(lo, X[i * c + i]);
        hi = fmax(hi, X[i * c + i]);
    }
    CHECK(worst < 1e-5, "%s on a diagonal 8x13 input = its scalar map per singular value: max diff %.2e (< 1e-5)",
          polar_express ? "Polar Express" : "NS5", worst);
    if (!polar_express) {
        // the 5-step map's exact range over [0.01, 1] is [0.6818, 1.1344]: docs/design.md §3's "about [0.68, 1.13]"
        CHECK(lo >= 0.68 && hi <= 1.135, "NS5 maps normalised singular values in [%.3f, %.3f] into [%.3f, %.3f], within [0.68, 1.135]",
              sv[r - 1] / norm, sv[0] / norm, lo, hi);
    }
    free(X);
    free(scratch);
}

// muon_update on a batch of matrices (strided, as a row block in every layer): with 1, 2 and 3 threads (one
// matrix per thread when the batch has enough, all threads per matrix when not) bit-identical to
// muon_update_matrix on each matrix in turn, with the scratch muon_scratch_size asks for.
static void test_muon_batch_threads(void) {
    enum { BATCH = 5, ROWS = 24, COLS = 40, STRIDE = ROWS * COLS + 7 };
    size_t total = (size_t)BATCH * STRIDE, n = (size_t)ROWS * COLS;
    float *g = random_floats(total, 1.0), *p0 = random_floats(total, 1.0), *m0 = random_floats(BATCH * n, 0.1);
    MuonConfig cfg = {0.02f, 0.95f, 0.1f, 5, 0, 0};
    float *want = (float*)mallocCheck(total * 4), *want_m = (float*)mallocCheck(BATCH * n * 4);
    memcpy(want, p0, total * 4), memcpy(want_m, m0, BATCH * n * 4);
    float* scratch = (float*)mallocCheck(muon_scratch_size(1, ROWS, COLS) * 4);
    for (int l = 0; l < BATCH; l++) {
        muon_update_matrix(want + l * STRIDE, g + l * STRIDE, want_m + l * n, ROWS, COLS, &cfg, 0.02f, 0.95f, 0.5f, scratch);
    }
    free(scratch);
    int same = 1;
    for (int threads = 1; threads <= 3; threads++) {
        set_threads(threads);
        for (int batch = 1; batch <= BATCH; batch += BATCH - 1) { // fewer matrices than threads, and more
            float *p = (float*)mallocCheck(total * 4), *m = (float*)mallocCheck(BATCH * n * 4);
            memcpy(p, p0, total * 4), memcpy(m, m0, BATCH * n * 4);
            float* batch_scratch = (float*)mallocCheck(muon_scratch_size(batch, ROWS, COLS) * 4);
            muon_update(p, g, m, batch, ROWS, COLS, STRIDE, &cfg, 0.02f, 0.95f, 0.5f, batch_scratch);
            same &= memcmp(p, want, (size_t)batch * STRIDE * 4) == 0 && memcmp(m, want_m, (size_t)batch * n * 4) == 0;
            same &= memcmp(p + (size_t)batch * STRIDE, p0 + (size_t)batch * STRIDE, (total - (size_t)batch * STRIDE) * 4) == 0;
            free(p), free(m), free(batch_scratch);
        }
    }
    set_threads(0);
    CHECK(same, "Muon on a batch of 1 and of %d strided %dx%d matrices, 1-3 threads: bit-identical to one matrix at a time", BATCH,
          ROWS, COLS);
    free(g), free(p0), free(m0), free(want), free(want_m);
}

// Muon of G^T is Muon of G transposed, up to the shape-dependent scale.
static void test_muon_transpose_consistency(void) {
    int rows = 8, cols = 20;
    float *g = random_floats((size_t)rows * cols, 1), *gt = (float*)mallocCheck((size_t)rows * cols * 4);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) gt[j * rows + i] = g[i * cols + j];
    }
    float *p = (float*)callocCheck((size_t)rows * cols, 4), *pt = (float*)callocCheck((size_t)rows * cols, 4);
    float *m = (float*)callocCheck((size_t)rows * cols, 4), *mt = (float*)callocCheck((size_t)rows * cols, 4);
    float* scratch = (float*)mallocCheck(muon_scratch_size(1, rows, cols) * 4);
    MuonConfig cfg = {1.0f, 0.95f, 0.0f, 5, 0, 0};
    muon_update_matrix(p, g, m, rows, cols, &cfg, 1.0f, 0.95f, 1.0f, scratch);    // wide: scale 1
    muon_update_matrix(pt, gt, mt, cols, rows, &cfg, 1.0f, 0.95f, 1.0f, scratch); // tall: scale sqrt(20/8)
    double worst = 0, s = sqrt(20.0 / 8.0);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) worst = fmax(worst, fabs(p[i * cols + j] - pt[j * rows + i] / s));
    }
    CHECK(worst < 1e-5, "Muon on a 20x8 (tall) gradient = the transpose of Muon on its 8x20 transpose, / sqrt(20/8): max diff %.2e", worst);
    free(g); free(gt); free(p); free(pt); free(m); free(mt); free(scratch);
}

// out (n, m) = a (n, k) @ b (k, m), in double
static void dmatmul(double* out, const double* a, const double* b, int n, int k, int m) {
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int l = 0; l < k; l++) s += a[i * k + l] * b[l * m + j];
            out[i * m + j] = s;
        }
    }
}

// One Muon step (momentum, Nesterov, NS5, scale, weight decay) against docs/design.md §3 recomputed in double.
static void test_muon_step(int rows, int cols, int moonlight) {
    size_t n = (size_t)rows * cols;
    float *p = random_floats(n, 0.1), *g = random_floats(n, 1), *m = random_floats(n, 0.5);
    double *pd = (double*)mallocCheck(n * 8), *md = (double*)mallocCheck(n * 8), *u = (double*)mallocCheck(n * 8);
    for (size_t i = 0; i < n; i++) { pd[i] = p[i]; md[i] = m[i]; }
    float lr = 0.05f, mu = 0.9f, wd = 0.1f, clip = 0.7f;
    MuonConfig cfg = {lr, mu, wd, 5, 0, moonlight};
    float* scratch = (float*)mallocCheck(muon_scratch_size(1, rows, cols) * 4);
    muon_update_matrix(p, g, m, rows, cols, &cfg, lr, mu, clip, scratch);
    double norm = 0;
    for (size_t i = 0; i < n; i++) {
        double gi = (double)g[i] * clip;
        md[i] = mu * md[i] + (1 - mu) * gi;
        u[i] = (1 - mu) * gi + mu * md[i];
        norm += u[i] * u[i];
    }
    int tall = rows > cols, r = tall ? cols : rows, c = tall ? rows : cols;
    double *X = (double*)mallocCheck(n * 8), *XT = (double*)mallocCheck(n * 8), *A = (double*)mallocCheck((size_t)r * r * 8);
    double *AA = (double*)mallocCheck((size_t)r * r * 8), *BX = (double*)mallocCheck(n * 8);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) {
            double v = u[i * cols + j] / (sqrt(norm) + 1e-7);
            if (tall) X[j * c + i] = v; else X[i * c + j] = v;
        }
    }
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) XT[j * r + i] = X[i * c + j];
        dmatmul(A, X, XT, r, c, r);
        dmatmul(AA, A, A, r, r, r);
        for (int i = 0; i < r * r; i++) A[i] = -4.7750 * A[i] + 2.0315 * AA[i];
        dmatmul(BX, A, X, r, r, c);
        for (size_t i = 0; i < n; i++) X[i] = 3.4445 * X[i] + BX[i];
    }
    double scale = moonlight ? 0.2 * sqrt((double)(rows > cols ? rows : cols)) : sqrt(fmax(1.0, (double)rows / cols));
    double worst = 0, largest = 0;
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) {
            double o = tall ? X[j * c + i] : X[i * c + j];
            double want = pd[i * cols + j] * (1 - (double)lr * wd) - lr * scale * o;
            worst = fmax(worst, fabs(want - p[i * cols + j]));
            largest = fmax(largest, fabs(want));
        }
    }
    double mdiff = 0;
    for (size_t i = 0; i < n; i++) mdiff = fmax(mdiff, fabs(md[i] - m[i]));
    CHECK(worst / largest < 1e-5 && mdiff < 1e-6, "Muon step %dx%d (%s scale) vs double: params rel diff %.2e, momentum diff %.2e",
          rows, cols, moonlight ? "Moonlight" : "Keller", worst / largest, mdiff);
    free(p); free(g); free(m); free(pd); free(md); free(u); free(X); free(XT); free(A); free(AA); free(BX); free(scratch);
}

// The rule of docs/design.md §3: Muon for every hidden 2-D matrix, split into its separate projections; AdamW for
// the embedding, positions, norms and biases. `expect` lists "name:rows,rows,..." for Muon's tensors.
static void test_muon_groups(const char* label, GPTConfig c, const char* expect) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(&c, specs);
    char got[512] = "", adamw_ok = 1;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        if (specs[i].numel == 0) continue;
        if (!is_muon_tensor(&specs[i])) {
            // everything else must be the embedding, positions, or a vector (a norm gain or a bias)
            adamw_ok &= i == P_WTE || i == P_WPE || specs[i].ndim - specs[i].per_layer == 1;
            continue;
        }
        int rows[MAX_ROW_BLOCKS], nb = gpt_row_blocks(&c, i, &specs[i], rows), total = 0;
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s:", got[0] ? " " : "", specs[i].name);
        for (int b = 0; b < nb; b++) {
            snprintf(got + strlen(got), sizeof(got) - strlen(got), b ? ",%d" : "%d", rows[b]);
            total += rows[b];
        }
        adamw_ok &= total == specs[i].shape[1]; // the blocks tile the matrix
    }
    CHECK(strcmp(got, expect) == 0 && adamw_ok, "Muon groups %s: %s", label, got);
}

// ----------------------------------------------------------------------------
// checkpoints

// Parameters and a Muon run's optimizer state (compact units, llmc/distributed.h) through a checkpoint in
// the parameter layout and back into a second model's units.
static void test_checkpoint_round_trip(void) {
    GPTConfig c = small_config(ATTN_GQA, 3, POS_LEARNED, 0);
    GPT a, b;
    Dist single = {0, 1};
    Comm comm = {single};
    gpt_build(&a, &c);
    gpt_init_random(&a, 5);
    gpt_setup_optimizer(&a, 1, 0, &single);
    for (size_t i = 0; i < a.plan.state_size; i++) {
        a.m_memory[i] = (float)random_normal(&test_rng);
        a.v_memory[i] = (float)fabs(random_normal(&test_rng));
    }
    float *m = (float*)callocCheck(a.num_parameters, 4), *v = (float*)callocCheck(a.num_parameters, 4);
    gpt_gather_optimizer_state(&a, &comm, m, v);
    char path[512];
    snprintf(path, sizeof(path), "%s/roundtrip.safetensors", tmpdir);
    Metadata meta = {0};
    meta_set(&meta, "tokenizer", "bytes");
    meta_set(&meta, "note", "quote \" backslash \\ newline \n tab \t");
    StateBlock blocks[3] = {{"", a.params_memory, NULL}, {"opt.m.", m, NULL}, {"opt.v.", v, NULL}};
    checkpoint_write(path, &c, "F32", 3, blocks, &meta);
    SafeTensors st;
    gpt_load(&b, path, &st);
    gpt_setup_optimizer(&b, 1, 0, &single);
    memset(m, 0, a.num_parameters * 4);
    memset(v, 0, a.num_parameters * 4);
    StateBlock into[2] = {{"opt.m.", m, NULL}, {"opt.v.", v, NULL}};
    checkpoint_read_block(&st, &b.config, &into[0], "F32");
    checkpoint_read_block(&st, &b.config, &into[1], "F32");
    gpt_scatter_optimizer_state(&b, m, v);
    CHECK(memcmp(&a.config, &b.config, sizeof(GPTConfig)) == 0, "checkpoint: config round trip");
    CHECK(memcmp(a.params_memory, b.params_memory, a.num_parameters * 4) == 0 && a.plan.state_size == b.plan.state_size &&
              memcmp(a.m_memory, b.m_memory, a.plan.state_size * 4) == 0 && memcmp(a.v_memory, b.v_memory, a.plan.state_size * 4) == 0,
          "checkpoint: parameters and Muon/AdamW state through the parameter layout, bit-exact (%zu + 2 x %zu floats)",
          a.num_parameters, a.plan.state_size);
    CHECK(strcmp(checkpoint_meta(&st, "note"), meta.values[1]) == 0, "checkpoint: metadata string with escapes round trips");
    safetensors_close(&st);
    meta_free(&meta);
    free(m);
    free(v);
    gpt_free(&a);
    gpt_free(&b);
}

// ZeRO-1's division of the optimizer state: every element in exactly one unit of one owner, the owners'
// loads within one unit of each other, and each owner's state packed without gaps
static void test_zero_units(int ranks) {
    GPTConfig c = small_config(ATTN_GLA, 0, POS_ROPE, 1);
    OptUnit units[MAX_OPT_UNITS];
    size_t sizes[8], total = 0, largest = 0, lo = (size_t)-1, hi = 0;
    int n = zero_units(&c, 1, ranks, units, sizes);
    for (int k = 0; k < n; k++) { total += units[k].numel; largest = units[k].numel > largest ? units[k].numel : largest; }
    int packed = 1;
    for (int r = 0; r < ranks; r++) {
        lo = sizes[r] < lo ? sizes[r] : lo;
        hi = sizes[r] > hi ? sizes[r] : hi;
        size_t at = 0; // the owner's units, in order of state_at, must tile [0, sizes[r])
        for (int found = 1; found;) {
            found = 0;
            for (int k = 0; k < n; k++) {
                if (units[k].owner == r && units[k].state_at == at) { at += units[k].numel; found = 1; }
            }
        }
        packed &= at == sizes[r];
    }
    CHECK(total == gpt_num_parameters(&c) && hi - lo <= largest && packed,
          "ZeRO-1 over %d ranks: %d units cover all %zu parameters, loads %zu..%zu (largest unit %zu), packed per owner", ranks, n, total,
          lo, hi, largest);
}

// rewrites path with its bytes [0, keep) and then `extra`
static void write_bytes(const char* path, const unsigned char* data, size_t n) {
    FILE* fp = fopenCheck(path, "wb");
    fwriteCheck(data, 1, n, fp, path);
    fclose(fp);
}

static unsigned char* read_file(const char* path, size_t* n) {
    *n = (size_t)file_size_or_die(path);
    unsigned char* data = (unsigned char*)mallocCheck(*n);
    FILE* fp = fopenCheck(path, "rb");
    freadCheck(data, 1, *n, fp, path);
    fclose(fp);
    return data;
}

// a corrupt file must fail to open, with a message containing `expect`
static void expect_rejected(const char* label, const char* path, const char* expect) {
    SafeTensors st;
    char err[512];
    int rc = safetensors_open(&st, path, err, sizeof(err));
    CHECK(rc != 0 && strstr(err, expect) != NULL, "corrupt safetensors (%s) rejected: \"%s\"", label, rc ? err : "(accepted!)");
    if (rc == 0) safetensors_close(&st);
}

static void test_corrupt_checkpoints(void) {
    char good[512], bad[512];
    snprintf(good, sizeof(good), "%s/roundtrip.safetensors", tmpdir);
    snprintf(bad, sizeof(bad), "%s/bad.safetensors", tmpdir);
    size_t n;
    unsigned char* data = read_file(good, &n);
    uint64_t header_len;
    memcpy(&header_len, data, 8);
    write_bytes(bad, data, n - 1);
    expect_rejected("last byte missing", bad, "truncated");
    write_bytes(bad, data, 8 + header_len + 100);
    expect_rejected("cut inside the tensor data", bad, "truncated");
    write_bytes(bad, data, 8 + header_len / 2);
    expect_rejected("cut inside the header", bad, "header length");
    write_bytes(bad, data, 5);
    expect_rejected("5 bytes", bad, "too short");
    unsigned char* copy = (unsigned char*)mallocCheck(n);
    memcpy(copy, data, n);
    copy[8 + header_len / 2] = '\x01';
    write_bytes(bad, copy, n);
    expect_rejected("control byte in the JSON", bad, "bad JSON");
    memcpy(copy, data, n);
    uint64_t huge = 1ull << 40;
    memcpy(copy, &huge, 8);
    write_bytes(bad, copy, n);
    expect_rejected("absurd header length", bad, "header length");
    memcpy(copy, data, n);
    char* offsets = strstr((char*)copy + 8, "\"data_offsets\":[0,");
    offsets[16] = '4'; // the first tensor now starts at byte 4
    write_bytes(bad, copy, n);
    expect_rejected("wrong data_offsets", bad, "does not match its shape");
    free(copy);
    free(data);
    // dev/fuzz regressions: a shape whose byte count wraps 64 bits, and a dimension past INT64_MAX (negative
    // in shape[]), each used to pass as a tensor of a few bytes
    static const char* const wrapping[][2] = {
        {"shape [2^62, 4] of U8 (2^64 bytes)", "{\"t\":{\"dtype\":\"U8\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}"},
        {"shape [2^64-1, 2^64-1] of F32", "{\"t\":{\"dtype\":\"F32\",\"shape\":[18446744073709551615,18446744073709551615],\"data_offsets\":[0,4]}}    "},
        {"shape [2^64-1, 0]", "{\"t\":{\"dtype\":\"F32\",\"shape\":[18446744073709551615,0],\"data_offsets\":[0,0]}}"},
    };
    for (int i = 0; i < 3; i++) {
        const char* header = wrapping[i][1];
        uint64_t hl = strlen(header);
        size_t data_bytes = i == 1 ? 4 : 0;
        unsigned char file[256] = {0};
        memcpy(file, &hl, 8);
        memcpy(file + 8, header, hl);
        write_bytes(bad, file, 8 + hl + data_bytes);
        expect_rejected(wrapping[i][0], bad, i == 0 ? "does not match its shape" : "dimension too large");
    }

    // the newest checkpoint of a run directory is skipped when it does not validate
    char dir[512], p1[600], p2[600], found[600];
    snprintf(dir, sizeof(dir), "%s/run", tmpdir);
    make_dir_or_die(dir);
    checkpoint_path(p1, sizeof(p1), dir, 10);
    checkpoint_path(p2, sizeof(p2), dir, 20);
    data = read_file(good, &n);
    write_bytes(p1, data, n);
    write_bytes(p2, data, n / 2);
    int step = checkpoint_find_latest(dir, found, sizeof(found));
    CHECK(step == 10, "newest checkpoint truncated: resume picks the previous one (step %d)", step);
    checkpoint_keep_last(dir, 1);
    CHECK(!file_exists(p1) && file_exists(p2), "keep-last 1 deletes all but the newest file");
    free(data);
}

// ----------------------------------------------------------------------------
// KV-cache decoding equals the full forward at every position

static void test_decode_matches_forward(const char* label, GPTConfig c) {
    GPT model;
    gpt_build(&model, &c);
    gpt_init_random(&model, 9);
    // larger weights for sharper attention; noise makes biases and norm gains non-trivial. Not the persistent
    // memory's keys: its queries are already at their cap (e^5), and 5x sharper its softmax is an argmax whose
    // near-ties turn the two paths' rounding into differences of 1e-4
    real *memory_keys = model.params.pmem_k, *memory_keys_end = memory_keys + model.specs[P_PMEM_K].numel;
    for (size_t i = 0; i < model.num_parameters; i++) {
        real* w = model.params_memory + i;
        if (w < memory_keys || w >= memory_keys_end) *w = 5 * *w + 0.1f * (float)random_normal(&test_rng);
    }
    int T = c.max_seq_len, Vp = c.padded_vocab_size;
    gpt_allocate_activations(&model, 2, T);
    int ids[128];
    random_tokens(ids, 2 * T, c.vocab_size); // two sequences of T
    gpt_forward(&model, ids, NULL, 2, T);
    float* logits = (float*)mallocCheck(2 * Vp * sizeof(float));
    // one sequence, as sampling decodes, and the two side by side
    double worst = 0, worst_batch = 0;
    DecodeState one, two;
    decode_state_init(&one, &model, 1);
    decode_state_init(&two, &model, 2);
    for (int t = 0; t < T; t++) {
        gpt_decode_step(&one, ids[t], t, logits);
        worst = fmax(worst, max_rel_diff(logits, model.acts.logits + (size_t)t * Vp, c.vocab_size));
        int pair[2] = {ids[t], ids[T + t]};
        gpt_decode_batch(&two, pair, t, logits);
        for (int b = 0; b < 2; b++) {
            worst_batch = fmax(worst_batch, max_rel_diff(logits + (size_t)b * Vp, model.acts.logits + ((size_t)b * T + t) * Vp, c.vocab_size));
        }
    }
    // decoding runs the reference kernels on its single rows, the forward the blocked ones: the same sums in
    // other orders, whose rounding the sharpened softmax amplifies to about 2e-5 at most
    CHECK(worst < 1e-4 && worst_batch < 1e-4, "KV-cache decode == full forward, %s, %d positions: max rel diff %.2e, two sequences side "
          "by side %.2e (< 1e-4)", label, T, worst, worst_batch);
    free(logits);
    decode_state_free(&one);
    decode_state_free(&two);
    gpt_free(&model);
}

// ----------------------------------------------------------------------------
// each variant's attention against a plain double-precision reading of docs/design.md §2.1

static GPTConfig variant_config(AttnType attn, int kv_heads, int groups, int rq, int bias) {
    GPTConfig c = small_config(attn, kv_heads, POS_ROPE, bias);
    c.latent_groups = groups;
    c.q_rank = rq;
    gpt_config_finish(&c);
    return c;
}

// y (rows) = W (rows, cols) x + b
static void ref_linear(double* y, const float* W, const float* b, const double* x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double s = b ? b[r] : 0;
        for (int i = 0; i < cols; i++) s += (double)W[(size_t)r * cols + i] * x[i];
        y[r] = s;
    }
}

// rotate-half RoPE of v (d dims) at position pos, frequencies theta^(-2i/d)
static void ref_rope(double* v, int d, int pos, double theta) {
    for (int i = 0; i < d / 2; i++) {
        double a = pos * pow(theta, -2.0 * i / d), x1 = v[i], x2 = v[i + d / 2];
        v[i] = x1 * cos(a) - x2 * sin(a);
        v[i + d / 2] = x2 * cos(a) + x1 * sin(a);
    }
}

static void ref_rmsnorm(double* y, const double* x, const float* w, int n) {
    double ms = 0;
    for (int i = 0; i < n; i++) ms += x[i] * x[i];
    double r = 1 / sqrt(ms / n + 1e-6);
    for (int i = 0; i < n; i++) y[i] = x[i] * r * w[i];
}

static void test_variant_attention_reference(const char* label, GPTConfig c) {
    GPT model;
    gpt_build(&model, &c);
    gpt_init_random(&model, 21);
    for (size_t i = 0; i < model.num_parameters; i++) model.params_memory[i] = 3 * model.params_memory[i] + 0.1f * (float)random_normal(&test_rng);
    int T = 7, C = c.channels, H = c.num_heads, Hkv = c.num_kv_heads, dh = c.head_dim, dR = c.rope_dim;
    gpt_allocate_activations(&model, 1, T);
    float* x = random_floats((size_t)T * C, 1);
    BlockActivations* acts = &model.acts.blocks[0];
    block_forward(&model, 0, acts, model.acts.proj, x, 1, T, 0, NULL, NULL);
    ParameterTensors p = layer_params(&model.params, model.specs, 0);
    // Q (T,H,dq), K (T,H,dq) per query head, V (T,H,dh)
    int lat = is_latent(&c), dq = lat ? dh + dR : dh;
    double *Q = (double*)callocCheck((size_t)T * H * dq, 8), *K = (double*)callocCheck((size_t)T * H * dq, 8);
    double *V = (double*)callocCheck((size_t)T * H * dh, 8), *xin = (double*)callocCheck(C, 8);
    double *buf = (double*)callocCheck(4096, 8), *buf2 = (double*)callocCheck(4096, 8), *lat_norm = (double*)callocCheck(4096, 8);
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < C; i++) xin[i] = acts->ln1[(size_t)t * C + i];
        double *q = &Q[(size_t)t * H * dq], *k = &K[(size_t)t * H * dq], *v = &V[(size_t)t * H * dh];
        if (!lat) {
            ref_linear(buf, p.qkvw, p.qkvb, xin, qkv_width(&c), C);
            for (int h = 0; h < H; h++) {
                int g = h / (H / Hkv);
                const double* S = buf + H * dh + g * dh; // GTA: the tied state; else the key head
                memcpy(q + h * dq, buf + h * dh, dh * 8);
                if (c.attn == ATTN_GTA) { // key = [S[:dh-dR] ; RoPE(kr)], value = S, query rotated at dh-dR
                    ref_rope(q + h * dq + dh - dR, dR, t, c.rope_theta);
                    memcpy(k + h * dq, S, (dh - dR) * 8);
                    memcpy(k + h * dq + dh - dR, buf + (H + Hkv) * dh, dR * 8);
                    ref_rope(k + h * dq + dh - dR, dR, t, c.rope_theta);
                    memcpy(v + h * dh, S, dh * 8);
                } else {
                    ref_rope(q + h * dq, dR, t, c.rope_theta);
                    memcpy(k + h * dq, S, dh * 8);
                    ref_rope(k + h * dq, dR, t, c.rope_theta);
                    memcpy(v + h * dh, buf + (H + Hkv) * dh + g * dh, dh * 8);
                }
            }
        } else {
            int n = c.latent_groups, dc = c.latent_dim, Hg = H / n, rq = c.q_rank;
            if (rq > 0) { // q = W_uq rmsnorm(W_dq x)
                ref_linear(buf, p.dqw, p.dqb, xin, rq, C);
                ref_rmsnorm(buf2, buf, p.qnormw, rq);
                ref_linear(buf, p.uqw, p.uqb, buf2, H * dq, rq);
            } else {
                ref_linear(buf, p.qw, p.qb, xin, H * dq, C);
            }
            memcpy(q, buf, (size_t)H * dq * 8);
            for (int h = 0; h < H; h++) ref_rope(q + h * dq + dh, dR, t, c.rope_theta);
            ref_linear(buf, p.dkvw, p.dkvb, xin, n * dc + dR, C); // [c_0 .. c_n-1 | kr]
            ref_rope(buf + n * dc, dR, t, c.rope_theta);
            for (int g = 0; g < n; g++) ref_rmsnorm(lat_norm + g * dc, buf + g * dc, p.kvnormw + g * dc, dc);
            for (int h = 0; h < H; h++) {
                int g = h / Hg, j = h % Hg;
                size_t krow = (size_t)g * Hg * 2 * dh + (size_t)j * dh, vrow = krow + (size_t)Hg * dh;
                ref_linear(k + h * dq, p.ukvw + krow * dc, p.ukvb ? p.ukvb + krow : NULL, lat_norm + g * dc, dh, dc);
                memcpy(k + h * dq + dh, buf + n * dc, dR * 8);
                ref_linear(v + h * dh, p.ukvw + vrow * dc, p.ukvb ? p.ukvb + vrow : NULL, lat_norm + g * dc, dh, dc);
            }
        }
    }
    double worst = 0, scale = 1 / sqrt((double)dq), largest = 0;
    for (int t = 0; t < T; t++) {
        for (int h = 0; h < H; h++) {
            double w[64], sum = 0, maxs = -1e300;
            for (int s2 = 0; s2 <= t; s2++) {
                double d = 0;
                for (int i = 0; i < dq; i++) d += Q[((size_t)t * H + h) * dq + i] * K[((size_t)s2 * H + h) * dq + i];
                w[s2] = d * scale;
                maxs = fmax(maxs, w[s2]);
            }
            for (int s2 = 0; s2 <= t; s2++) sum += (w[s2] = exp(w[s2] - maxs));
            for (int i = 0; i < dh; i++) {
                double o = 0;
                for (int s2 = 0; s2 <= t; s2++) o += w[s2] / sum * V[((size_t)s2 * H + h) * dh + i];
                worst = fmax(worst, fabs(o - acts->atty[((size_t)t * H + h) * dh + i]));
                largest = fmax(largest, fabs(o));
            }
        }
    }
    CHECK(worst / largest < 1e-5, "%s attention == docs/design.md §2.1 computed plainly in double: max rel diff %.2e (< 1e-5)", label, worst / largest);
    free(Q); free(K); free(V); free(xin); free(buf); free(buf2); free(lat_norm); free(x);
    gpt_free(&model);
}

// Memory Mosaics against their reference's definitions (nanoMosaics/mosaic_model.py), computed in double
// the way it does: the leaky average as a (T, T) matrix of exp(-(t - tau) beta) below the diagonal times the
// key features, values mixed with the next token's, attention of each key over the strictly earlier ones at
// scale 1; the persistent memory's keys (p = 2) against every memory row. Two sequences, so that each
// sequence's recurrences start afresh.

// feats (T, C) -> out (T, C): per head leaky average (rate b_h), normalised, times exp(min(mult s_h, cap))
static void ref_mosaic_keys(double* out, const double* feats, const float* b, const float* s, int T, int H, int dh, double mult,
                            double cap) {
    int C = H * dh;
    for (int h = 0; h < H; h++) {
        double beta = 10 * fabs((double)b[h]), scale = exp(fmin(mult * s[h], cap));
        for (int t = 0; t < T; t++) {
            double S[64] = {0}, norm = 0;
            for (int tau = 0; tau <= t; tau++) {
                for (int i = 0; i < dh; i++) S[i] += exp(-(t - tau) * beta) * feats[(size_t)tau * C + h * dh + i];
            }
            for (int i = 0; i < dh; i++) norm += S[i] * S[i];
            for (int i = 0; i < dh; i++) out[(size_t)t * C + h * dh + i] = S[i] / (sqrt(norm) + 1e-10) * scale;
        }
    }
}

static void test_mosaic_reference(const char* label, GPTConfig c) {
    GPT model;
    gpt_build(&model, &c);
    gpt_init_random(&model, 23);
    for (size_t i = 0; i < model.num_parameters; i++) model.params_memory[i] += 0.05f * (float)random_normal(&test_rng);
    int B = 2, T = 7, C = c.channels, H = c.num_heads, dh = c.head_dim, P = c.pmem_size, M = c.pmem_count;
    gpt_allocate_activations(&model, B, T);
    float* x = random_floats((size_t)B * T * C, 1);
    BlockActivations* acts = &model.acts.blocks[0];
    block_forward(&model, 0, acts, model.acts.proj, x, B, T, 0, NULL, NULL);
    ParameterTensors p = layer_params(&model.params, model.specs, 0);
    double *in = (double*)callocCheck(C, 8), *feat = (double*)callocCheck((size_t)T * 2 * C, 8), *kf = (double*)callocCheck((size_t)T * C, 8);
    double *K = (double*)callocCheck((size_t)T * C, 8), *Vv = (double*)callocCheck((size_t)T * C, 8);
    double worst_ctx = 0, largest_ctx = 0, worst_pm = 0, largest_pm = 0;
    for (int b = 0; b < B; b++) {
        size_t row0 = (size_t)b * T;
        // the contextual memory: [k~ | v~] = [W_k ; W_v] ln1 + b
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < C; i++) in[i] = acts->ln1[(row0 + t) * C + i];
            ref_linear(feat + (size_t)t * 2 * C, p.qkvw, p.qkvb, in, 2 * C, C);
            for (int i = 0; i < C; i++) kf[(size_t)t * C + i] = feat[(size_t)t * 2 * C + i];
        }
        ref_mosaic_keys(K, kf, p.ctx_beta, p.ctx_kscale, T, H, dh, 10, 5);
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < H; h++) {
                double v[64], norm = 0, cm = p.ctx_vcoef[h];
                for (int i = 0; i < dh; i++) {
                    double next = t + 1 < T ? feat[(size_t)(t + 1) * 2 * C + C + h * dh + i] : 0;
                    v[i] = (1 - cm) * next + cm * feat[(size_t)t * 2 * C + C + h * dh + i];
                    norm += v[i] * v[i];
                }
                for (int i = 0; i < dh; i++) Vv[(size_t)t * C + h * dh + i] = v[i] / (sqrt(norm) + 1e-10) * exp(10.0 * p.ctx_vscale[h]);
            }
        }
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < H; h++) {
                double w[64], sum = 0, maxs = -1e300;
                for (int tau = 0; tau < t; tau++) {
                    double d = 0;
                    for (int i = 0; i < dh; i++) d += K[(size_t)t * C + h * dh + i] * K[(size_t)tau * C + h * dh + i];
                    w[tau] = d;
                    maxs = fmax(maxs, d);
                }
                for (int tau = 0; tau < t; tau++) sum += (w[tau] = exp(w[tau] - maxs));
                for (int i = 0; i < dh; i++) {
                    double o = 0;
                    for (int tau = 0; tau < t; tau++) o += w[tau] / sum * Vv[(size_t)tau * C + h * dh + i];
                    worst_ctx = fmax(worst_ctx, fabs(o - acts->atty[(row0 + t) * C + h * dh + i]));
                    largest_ctx = fmax(largest_ctx, fabs(o));
                }
            }
        }
        if (c.mlp != MLP_PMEM) continue;
        // the persistent memory: keys from ln2 (p = 2), every memory row, the output scale
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < C; i++) in[i] = acts->ln2[(row0 + t) * C + i];
            ref_linear(kf + (size_t)t * C, p.pmem_kw, p.pmem_kb, in, C, C);
        }
        ref_mosaic_keys(K, kf, p.pmem_beta, p.pmem_kscale, T, H, dh, 20, 5);
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < H; h++) {
                double y[64] = {0};
                for (int m = 0; m < M; m++) {
                    const float *pk = p.pmem_k + ((size_t)m * H + h) * P * dh, *pv = p.pmem_v + ((size_t)m * H + h) * P * dh;
                    double w[256], sum = 0, maxs = -1e300;
                    for (int q = 0; q < P; q++) {
                        double d = 0;
                        for (int i = 0; i < dh; i++) d += K[(size_t)t * C + h * dh + i] * pk[(size_t)q * dh + i];
                        maxs = fmax(maxs, w[q] = d);
                    }
                    for (int q = 0; q < P; q++) sum += (w[q] = exp(w[q] - maxs));
                    for (int q = 0; q < P; q++) {
                        for (int i = 0; i < dh; i++) y[i] += w[q] / sum * pv[(size_t)q * dh + i] / M;
                    }
                }
                for (int i = 0; i < dh; i++) {
                    double o = y[i] * exp(10.0 * p.pmem_oscale[h]);
                    worst_pm = fmax(worst_pm, fabs(o - acts->pm_y[(row0 + t) * C + h * dh + i]));
                    largest_pm = fmax(largest_pm, fabs(o));
                }
            }
        }
    }
    CHECK(worst_ctx / largest_ctx < 1e-5, "%s: the contextual memory == its reference's definition computed in double: max rel diff %.2e "
          "(< 1e-5)", label, worst_ctx / largest_ctx);
    if (c.mlp == MLP_PMEM) {
        CHECK(worst_pm / largest_pm < 1e-5, "%s: the persistent memory == its reference's definition in double: max rel diff %.2e (< 1e-5)",
              label, worst_pm / largest_pm);
    }
    free(in); free(feat); free(kf); free(K); free(Vv); free(x);
    gpt_free(&model);
}

// a small Memory Mosaic: the contextual memory, and the GELU MLP or a persistent memory of 2 x 40 rows
static GPTConfig mosaic_config(int pmem, int bias) {
    GPTConfig c = test_config(ATTN_MOSAIC, 0, POS_NONE, bias, 2, 48, 6, 0, 257, 24);
    if (pmem) {
        c.mlp = MLP_PMEM;
        c.mlp_hidden = 0;
        c.pmem_size = 40;
        c.pmem_count = 2;
        gpt_config_finish(&c);
    }
    return c;
}

// Without RoPE carrying position, attention over a prefix is a set operation: reordering the earlier
// tokens would leave the last position's logits unchanged. With it, they change in every variant.
static void test_rope_carries_position(const char* label, GPTConfig c) {
    GPT model;
    gpt_build(&model, &c);
    gpt_init_random(&model, 5);
    for (size_t i = 0; i < model.num_parameters; i++) model.params_memory[i] *= 5;
    int T = 12, Vp = c.padded_vocab_size;
    gpt_allocate_activations(&model, 2, T);
    int ids[24];
    random_tokens(ids, T, c.vocab_size);
    for (int t = 0; t < T - 1; t++) ids[T + t] = ids[T - 2 - t]; // the prefix reversed
    ids[2 * T - 1] = ids[T - 1];
    gpt_forward(&model, ids, NULL, 2, T);
    double d = max_rel_diff(model.acts.logits + (size_t)(T - 1) * Vp, model.acts.logits + (size_t)(2 * T - 1) * Vp, c.vocab_size);
    CHECK(d > 1e-3, "%s: reversing the prefix changes the last position's logits (rel diff %.2e > 1e-3): RoPE carries position", label, d);
    gpt_free(&model);
}

// docs/design.md §2.1's worked sizes at C = 768, H = 12, dh = 64: KV elements per token per layer and
// attention-block weights without biases
static void test_worked_sizes(void) {
    struct { AttnType attn; int kv; int groups; const char* name; size_t kv_elems, weights; } cases[] = {
        {ATTN_MHA, 0, 0, "MHA", 1536, 2359296}, {ATTN_GQA, 4, 0, "GQA-4", 512, 1572864}, {ATTN_MQA, 0, 0, "MQA", 128, 1277952},
        {ATTN_GTA, 4, 0, "GTA-4", 288, 1400832}, {ATTN_MLA, 0, 0, "MLA", 288, 2188032}, {ATTN_GLA, 0, 2, "GLA-2", 288, 1991424},
        {ATTN_MOSAIC, 0, 0, "Mosaic", 1536, 1769520}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        PosType pos = cases[i].attn == ATTN_MOSAIC ? POS_NONE : POS_ROPE;
        GPTConfig c = test_config(cases[i].attn, cases[i].kv, pos, 0, 1, 768, 12, 0, 50257, 1024);
        if (cases[i].groups) { c.latent_groups = cases[i].groups; gpt_config_finish(&c); }
        ParamSpec specs[NUM_PARAMETER_TENSORS];
        gpt_param_specs(&c, specs);
        int attn_tensors[] = {P_QKVW, P_ATTPROJW, P_DQW, P_QNORMW, P_UQW, P_QW, P_DKVW, P_KVNORMW, P_UKVW,
                              P_CTX_BETA, P_CTX_KSCALE, P_CTX_VCOEF, P_CTX_VSCALE};
        size_t w = 0;
        for (size_t j = 0; j < sizeof(attn_tensors) / sizeof(attn_tensors[0]); j++) w += specs[attn_tensors[j]].numel;
        size_t kv = gpt_kv_elements_per_token_layer(&c);
        CHECK(kv == cases[i].kv_elems && w == cases[i].weights, "%s at C=768 H=12: %zu KV elements/token/layer (docs/design.md: %zu), %zu attention weights (docs/design.md: %zu)",
              cases[i].name, kv, cases[i].kv_elems, w, cases[i].weights);
    }
}

// ----------------------------------------------------------------------------
// llm.c model files: written here in llm.c's layout, loaded, and run

static void write_llmc_model(const char* path, const GPT* m, int version) {
    const GPTConfig* c = &m->config;
    int32_t header[256] = {0};
    header[0] = 20240326;
    header[1] = version;
    header[2] = c->max_seq_len;
    header[3] = c->vocab_size;
    header[4] = c->num_layers;
    header[5] = c->num_heads;
    header[6] = c->channels;
    header[7] = c->padded_vocab_size;
    FILE* fp = fopenCheck(path, "wb");
    fwriteCheck(header, 4, 256, fp, path);
    // llm.c's tensor order and sizes (train_gpt2.c, fill_in_parameter_sizes)
    size_t Vp = c->padded_vocab_size, C = c->channels, L = c->num_layers, maxT = c->max_seq_len;
    const ParameterTensors* p = &m->params;
    struct { const float* data; size_t n; } tensors[16] = {
        {p->wte, Vp * C}, {p->wpe, maxT * C}, {p->ln1w, L * C}, {p->ln1b, L * C}, {p->qkvw, L * 3 * C * C},
        {p->qkvb, L * 3 * C}, {p->attprojw, L * C * C}, {p->attprojb, L * C}, {p->ln2w, L * C}, {p->ln2b, L * C},
        {p->fcw, L * 4 * C * C}, {p->fcb, L * 4 * C}, {p->fcprojw, L * C * 4 * C}, {p->fcprojb, L * C}, {p->lnfw, C}, {p->lnfb, C}};
    for (int i = 0; i < 16; i++) {
        if (version == 3) {
            fwriteCheck(tensors[i].data, 4, tensors[i].n, fp, path);
        } else { // bf16: the top 16 bits, truncated
            for (size_t j = 0; j < tensors[i].n; j++) {
                uint32_t bits;
                memcpy(&bits, &tensors[i].data[j], 4);
                uint16_t half = (uint16_t)(bits >> 16);
                fwriteCheck(&half, 2, 1, fp, path);
            }
        }
    }
    fclose(fp);
}

static void test_llmc_import(int version) {
    GPTConfig c = small_config(ATTN_MHA, 0, POS_LEARNED, 1);
    c.vocab_size = 200;
    c.padded_vocab_size = 256;
    GPT native, imported;
    gpt_build(&native, &c);
    gpt_init_random(&native, 13);
    for (size_t i = 0; i < native.num_parameters; i++) native.params_memory[i] += 0.1f * (float)random_normal(&test_rng);
    char path[512];
    snprintf(path, sizeof(path), "%s/llmc_v%d.bin", tmpdir, version);
    write_llmc_model(path, &native, version);
    if (version == 5) { // the native model holds the same bf16-rounded weights
        for (size_t i = 0; i < native.num_parameters; i++) {
            uint32_t bits;
            memcpy(&bits, &native.params_memory[i], 4);
            bits &= 0xFFFF0000u;
            memcpy(&native.params_memory[i], &bits, 4);
        }
    }
    SafeTensors unused;
    int ours = gpt_load(&imported, path, &unused);
    int T = 16;
    gpt_allocate_activations(&native, 2, T);
    gpt_allocate_activations(&imported, 2, T);
    int ids[32];
    random_tokens(ids, 2 * T, c.vocab_size);
    gpt_forward(&native, ids, NULL, 2, T);
    gpt_forward(&imported, ids, NULL, 2, T);
    size_t n = (size_t)2 * T * c.padded_vocab_size;
    CHECK(!ours && imported.config.attn == ATTN_MHA && imported.config.pos == POS_LEARNED && imported.config.bias == 1 &&
              imported.config.mlp_hidden == 4 * c.channels && imported.config.padded_vocab_size == 256,
          "llm.c v%d import: config is MHA, learned positions, biases, F=4C, Vp from the file", version);
    CHECK(memcmp(native.acts.logits, imported.acts.logits, n * sizeof(float)) == 0,
          "llm.c v%d import: logits bit-identical to the same weights built natively", version);
    gpt_free(&native);
    gpt_free(&imported);
}

// ----------------------------------------------------------------------------
// data loader

static void test_dataloader(void) {
    // three shards of different sizes; token i of shard s is s*60 + i, so a batch's first token names it
    int B = 2, T = 5, BT = B * T;
    size_t sizes[3] = {BT * 4 + 1, BT * 2 + 7, BT * 3 + 1};
    char pattern[512];
    snprintf(pattern, sizeof(pattern), "%s/shard_*.bin", tmpdir);
    for (int s = 0; s < 3; s++) {
        uint16_t* tok = (uint16_t*)mallocCheck(sizes[s] * 2);
        for (size_t i = 0; i < sizes[s]; i++) tok[i] = (uint16_t)(s * 60 + i);
        char path[512];
        snprintf(path, sizeof(path), "%s/shard_%d.bin", tmpdir, s);
        shard_write(path, tok, sizes[s]);
        CHECK(shard_check(path) == sizes[s], "shard %d written and validated (%zu tokens)", s, sizes[s]);
        free(tok);
    }
    DataLoader dl;
    dataloader_init(&dl, pattern, B, T, 257, 42, 1);
    CHECK(dl.num_shards == 3 && dl.batches_per_epoch == 9, "loader: 3 shards, 9 batches per epoch (%zu)", dl.batches_per_epoch);
    // one epoch visits every batch once; targets are inputs shifted by one
    int seen[3][4] = {{0}}, shifted = 1, first_inputs[9];
    for (int i = 0; i < 9; i++) {
        dataloader_next_batch(&dl);
        int v = dl.inputs[0];
        seen[v / 60][(v % 60) / BT]++;
        for (int j = 0; j < BT; j++) shifted &= dl.targets[j] == dl.inputs[j] + 1;
        first_inputs[i] = v;
    }
    int once = 1;
    for (int s = 0; s < 3; s++) {
        for (size_t b = 0; b < sizes[s] / BT; b++) once &= seen[s][b] == 1;
    }
    CHECK(once && shifted, "loader: an epoch reads each of the 9 batches exactly once; targets = inputs shifted by one");
    // the order is a function of the seed and the position: resuming mid-epoch continues identically
    int epoch = dl.epoch, shard_pos = dl.shard_pos;
    size_t batch_pos = dl.batch_pos;
    int next[5];
    for (int i = 0; i < 5; i++) { dataloader_next_batch(&dl); next[i] = dl.inputs[0]; }
    DataLoader resumed;
    dataloader_init(&resumed, pattern, B, T, 257, 42, 1);
    dataloader_set_position(&resumed, epoch, shard_pos, batch_pos);
    int same = 1;
    for (int i = 0; i < 5; i++) { dataloader_next_batch(&resumed); same &= resumed.inputs[0] == next[i]; }
    CHECK(same, "loader: a second loader set to the saved position reads the same next 5 batches");
    DataLoader other;
    dataloader_init(&other, pattern, B, T, 257, 43, 1);
    int differs = 0;
    for (int i = 0; i < 9; i++) { dataloader_next_batch(&other); differs |= other.inputs[0] != first_inputs[i]; }
    CHECK(differs, "loader: another seed gives another order");
    DataLoader val;
    dataloader_init(&val, pattern, B, T, 257, 1, 0);
    dataloader_next_batch(&val);
    int v0 = val.inputs[0];
    dataloader_next_batch(&val);
    dataloader_reset(&val);
    dataloader_next_batch(&val);
    CHECK(val.inputs[0] == v0 && v0 == 0, "validation loader: unshuffled, the same first batch after reset");
    dataloader_free(&dl);
    dataloader_free(&resumed);
    dataloader_free(&other);
    dataloader_free(&val);
}

// ----------------------------------------------------------------------------
// sampling and the byte tokenizer

static void test_sampler(void) {
    float logits[6] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f, 1.5f};
    ProbIndex scratch[6];
    uint64_t rng = rng_seed(1);
    SamplerConfig greedy = {0.0f, 0, 1.0f}, top2 = {1.0f, 2, 1.0f}, nucleus = {1.0f, 0, 0.3f}, all = {1.0f, 0, 1.0f};
    CHECK(sample_token(logits, 6, &greedy, scratch, &rng) == 1, "sampler: temperature 0 is argmax");
    int only_top2 = 1, only_top1 = 1, counts[6] = {0};
    for (int i = 0; i < 2000; i++) {
        int t = sample_token(logits, 6, &top2, scratch, &rng);
        only_top2 &= t == 1 || t == 3;
        only_top1 &= sample_token(logits, 6, &nucleus, scratch, &rng) == 1;
        counts[sample_token(logits, 6, &all, scratch, &rng)]++;
    }
    double sum = 0;
    for (int i = 0; i < 6; i++) sum += exp(logits[i]);
    double p1 = exp(logits[1]) / sum, expect = 2000 * p1, sigma = sqrt(2000 * p1 * (1 - p1));
    CHECK(only_top2, "sampler: top-k 2 only ever returns the two likeliest tokens");
    CHECK(only_top1, "sampler: top-p 0.3 keeps only the likeliest token (p = %.3f)", p1);
    CHECK(fabs(counts[1] - expect) < 4 * sigma && counts[2] > 0,
          "sampler: full distribution: token 1 drawn %d of 2000 times, expected %.0f +- %.0f", counts[1], expect, 4 * sigma);
}

static void test_byte_tokenizer(void) {
    Tokenizer tok;
    tokenizer_init(&tok, "bytes");
    const unsigned char text[] = "Hi\xff\x00\n\xe2\x82\xac";
    int ids[9];
    size_t n = tokenizer_encode(&tok, text, 8, ids), len;
    int ok = n == 8 && tok.vocab_size == 257 && tok.eot_token == 256;
    for (size_t i = 0; i < n; i++) {
        const char* s = tokenizer_decode(&tok, ids[i], &len);
        ok &= len == 1 && (unsigned char)s[0] == text[i];
    }
    const char* eot = tokenizer_decode(&tok, 256, &len);
    CHECK(ok && len == 13 && memcmp(eot, "<|endoftext|>", 13) == 0, "byte tokenizer: round trip of any bytes; 256 decodes to <|endoftext|>");
}

int main(void) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/gptc_test_XXXXXX");
    if (mkdtemp(tmpdir) == NULL) die("mkdtemp failed");
    test_matmul_reference(1, 48, 257);
    test_matmul_reference(7, 33, 70);
    test_matmul_reference(64, 128, 384);
    test_matmul_fast(7, 33, 70);     // every dimension ends mid-tile
    test_matmul_fast(270, 400, 97);  // rows cross MC, the forward's K crosses KC, dweight's K crosses KC
    test_matmul_fast(13, 45, 3100);  // the forward's N crosses NC; dinp's K crosses KC; dweight's M crosses MC
    for (int n = 1; n < GEMM_MR; n++) test_matmul_fast(n, 75, 131); // fewer rows than a tile: decoding's path
    test_gemm_blocking(32, 1, 2000);   // K in slabs (A packed a slab at a time), one panel per chunk, blocks of 48 rows
    test_gemm_blocking(48, 2, 100000); // A packed with all of K; chunks of 2 panels per thread
    test_gelu_fast();
    test_crossentropy_fast();
    test_attention_fast("MHA H=4", 4, 4, 16, 0, 16, 0);
    test_attention_fast("GQA H=6 Hkv=2", 6, 2, 12, 0, 12, 0);
    test_attention_fast("MQA, qk=9 v=7", 4, 1, 9, 0, 7, 0);
    test_attention_fast("shared key d1=8 d2=4 (MLA)", 4, 4, 8, 4, 8, 0);
    test_attention_fast("tied k1=v, shared key (GTA)", 4, 2, 6, 4, 10, 1);
    test_attention_fast("GTA with the whole key rotated (d1 = 0)", 4, 2, 0, 8, 8, 1);
    test_attention_memory_concat("MHA H=4", 4, 4, 16, 0, 16, 0);
    test_attention_memory_concat("GQA H=6 Hkv=2", 6, 2, 12, 0, 12, 0);
    test_attention_memory_concat("MQA, qk=9 v=7", 4, 1, 9, 0, 7, 0);
    test_attention_memory_concat("tied k1=v, shared key (GTA)", 4, 2, 6, 4, 10, 1);
    test_attention_decode("MHA H=4", 4, 4, 16, 0, 16, 0);
    test_attention_decode("GQA H=6 Hkv=2", 6, 2, 12, 0, 12, 0);
    test_attention_decode("MQA H=12 (three passes of 4 heads over a key), qk=9 v=7", 12, 1, 9, 0, 7, 0);
    test_attention_decode("GQA H=12 Hkv=2 (a kv head's 6 heads as 4 + 2)", 12, 2, 16, 0, 16, 0);
    test_attention_decode("latent: k1 = v, shared key (MLA/GLA)", 4, 2, 20, 4, 20, 1);
    test_attention_decode("tied k1=v, shared key (GTA)", 4, 2, 6, 4, 10, 1);
    test_thread_count_independence();
    test_adamw();
    test_newton_schulz_diagonal(0);
    test_newton_schulz_diagonal(1);
    test_muon_transpose_consistency();
    test_muon_batch_threads();
    test_muon_step(6, 10, 0);
    test_muon_step(12, 5, 0);
    test_muon_step(7, 7, 1);
    // C=48, H=6, dh=8: dR = 4 for GTA/MLA/GLA; MLA dc = 32, rq = 64; GLA-3 dc = 16
    test_muon_groups("MHA", small_config(ATTN_MHA, 0, POS_LEARNED, 1), "qkvw:48,48,48 attprojw:48 fcw:192 fcprojw:48");
    test_muon_groups("GQA-2", small_config(ATTN_GQA, 2, POS_ROPE, 1), "qkvw:48,16,16 attprojw:48 fcw:192 fcprojw:48");
    test_muon_groups("MQA", small_config(ATTN_MQA, 0, POS_ROPE, 0), "qkvw:48,8,8 attprojw:48 fcw:192 fcprojw:48");
    test_muon_groups("GTA-3", small_config(ATTN_GTA, 3, POS_ROPE, 1), "qkvw:48,24,4 attprojw:48 fcw:192 fcprojw:48");
    test_muon_groups("MLA", variant_config(ATTN_MLA, 0, 0, -1, 1), "attprojw:48 fcw:192 fcprojw:48 dqw:64 uqw:72 dkvw:32,4 ukvw:48,48");
    test_muon_groups("GLA-3 rq=0", variant_config(ATTN_GLA, 0, 3, 0, 1),
                     "attprojw:48 fcw:192 fcprojw:48 qw:72 dkvw:48,4 ukvw:16,16,16,16,16,16");
    test_schedules();
    test_checkpoint_round_trip();
    test_zero_units(1);
    test_zero_units(2);
    test_zero_units(3);
    test_corrupt_checkpoints();
    test_decode_matches_forward("MHA rope", small_config(ATTN_MHA, 0, POS_ROPE, 1));
    test_decode_matches_forward("GQA-2 rope nobias", small_config(ATTN_GQA, 2, POS_ROPE, 0));
    test_decode_matches_forward("MQA rope", small_config(ATTN_MQA, 0, POS_ROPE, 1));
    test_decode_matches_forward("MHA learned", small_config(ATTN_MHA, 0, POS_LEARNED, 1));
    test_decode_matches_forward("GTA-2 rope", small_config(ATTN_GTA, 2, POS_ROPE, 1));
    test_decode_matches_forward("GTA-3 learned nobias", small_config(ATTN_GTA, 3, POS_LEARNED, 0));
    test_decode_matches_forward("MLA absorbed, bias", variant_config(ATTN_MLA, 0, 0, -1, 1));
    test_decode_matches_forward("MLA absorbed, nobias, rq=0", variant_config(ATTN_MLA, 0, 0, 0, 0));
    test_decode_matches_forward("GLA-2 absorbed, bias", variant_config(ATTN_GLA, 0, 2, -1, 1));
    test_decode_matches_forward("GLA-2 absorbed, nobias", variant_config(ATTN_GLA, 0, 2, -1, 0));
    test_decode_matches_forward("GLA-3 absorbed, bias, rq=0", variant_config(ATTN_GLA, 0, 3, 0, 1));
    test_decode_matches_forward("GLA-6 absorbed, nobias", variant_config(ATTN_GLA, 0, 6, -1, 0));
    test_decode_matches_forward("Mosaic", mosaic_config(0, 1));
    test_decode_matches_forward("Mosaic + pmem, nobias", mosaic_config(1, 0));
    test_mosaic_reference("Mosaic", mosaic_config(0, 1));
    test_mosaic_reference("Mosaic + pmem", mosaic_config(1, 1));
    test_variant_attention_reference("MHA", small_config(ATTN_MHA, 0, POS_ROPE, 1));
    test_variant_attention_reference("GQA-2", small_config(ATTN_GQA, 2, POS_ROPE, 1));
    test_variant_attention_reference("GTA-3", small_config(ATTN_GTA, 3, POS_ROPE, 1));
    test_variant_attention_reference("MLA", variant_config(ATTN_MLA, 0, 0, -1, 1));
    test_variant_attention_reference("MLA rq=0", variant_config(ATTN_MLA, 0, 0, 0, 1));
    test_variant_attention_reference("GLA-3", variant_config(ATTN_GLA, 0, 3, -1, 1));
    test_rope_carries_position("MHA", small_config(ATTN_MHA, 0, POS_ROPE, 1));
    test_rope_carries_position("GQA-2", small_config(ATTN_GQA, 2, POS_ROPE, 1));
    test_rope_carries_position("MQA", small_config(ATTN_MQA, 0, POS_ROPE, 1));
    test_rope_carries_position("GTA-2", small_config(ATTN_GTA, 2, POS_ROPE, 1));
    test_rope_carries_position("MLA", variant_config(ATTN_MLA, 0, 0, -1, 1));
    test_rope_carries_position("GLA-2", variant_config(ATTN_GLA, 0, 2, -1, 1));
    test_worked_sizes();
    test_llmc_import(3);
    test_llmc_import(5);
    test_dataloader();
    test_sampler();
    test_byte_tokenizer();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    printf(failures == 0 ? "all tests passed\n" : "%d tests FAILED\n", failures);
    return failures == 0 ? 0 : 1;
}
