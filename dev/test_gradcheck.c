/*
Finite-difference gradient checks in double precision: every layer's backward and the whole model's,
against central differences of its own forward. Built from train_gpt.c itself with -DREAL_DOUBLE.

Each check takes a scalar loss = sum(out * R) for a fixed random R (or the model's mean loss), perturbs
inputs by +-h, and compares (loss(x+h) - loss(x-h)) / 2h with the analytic gradient:
    |analytic - numeric| <= 1e-9 * max(1, largest |analytic|) + 1e-6 * max(|analytic|, |numeric|)
Shapes are tiny and deliberately not multiples of the kernels' tile sizes.

    make test   (or: make dev/test_gradcheck && ./dev/test_gradcheck)
*/
#define TESTING
#define REAL_DOUBLE
#include "../train_gpt.c"
#include "test_common.h"

static uint64_t test_rng = 0x1234567;
static int checks = 0;

static real* random_array(size_t n, double std) {
    real* x = (real*)test_alloc(n * sizeof(real));
    for (size_t i = 0; i < n; i++) x[i] = (real)(std * random_normal(&test_rng));
    return x;
}

static real* zeros(size_t n) { return (real*)test_alloc(n * sizeof(real)); }

static double dot(const real* a, const real* b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

typedef double (*LossFn)(void* ctx);

// Compares analytic[i] with central differences of loss() in x[i], for up to 48 spread-out i: at steps h and
// h/2, extrapolated (Richardson), so that strongly curved losses (Memory Mosaics' scaled keys) check as closely.
static void check_gradient(const char* what, real* x, size_t n, const real* analytic, LossFn loss, void* ctx) {
    const double h = 1e-4;
    // the absolute floor scales with the gradient's largest element: central differences round at about
    // 1e-16 |loss| / h, and a loss whose large gradients make it large leaves its small elements that much error
    double largest = 1;
    for (size_t i = 0; i < n; i++) largest = fmax(largest, fabs(analytic[i]));
    size_t stride = n > 48 ? n / 48 : 1;
    double worst = 0;
    size_t worst_i = 0;
    int bad = 0;
    for (size_t i = (n > 48 ? test_rng % stride : 0); i < n; i += stride) {
        real saved = x[i];
        double d[2]; // central differences at h and h/2
        for (int k = 0; k < 2; k++) {
            double step = h / (1 << k);
            x[i] = saved + step;
            double lp = loss(ctx);
            x[i] = saved - step;
            double lm = loss(ctx);
            d[k] = (lp - lm) / (2 * step);
        }
        x[i] = saved;
        double numeric = (4 * d[1] - d[0]) / 3, a = analytic[i]; // Richardson: the h^2 error term cancels
        double err = fabs(a - numeric), tol = 1e-9 * largest + 1e-6 * fmax(fabs(a), fabs(numeric));
        if (!(err <= tol)) bad = 1; // NaN fails too
        if (err / (tol / 1e-6) > worst) { worst = err / (tol / 1e-6); worst_i = i; }
        checks++;
    }
    if (bad) {
        failures++;
        printf("FAIL %-40s worst relative error %.3e at element %zu (analytic %.9e)\n", what, worst, worst_i, analytic[worst_i]);
    } else {
        printf("ok   %-40s max relative error %.2e over %zu elements\n", what, worst, n < 48 ? n : n / stride);
    }
}

// ----------------------------------------------------------------------------
// layers

typedef struct {
    real *inp, *weight, *bias, *out, *R;
    int N, C, OC;
} MatmulCtx;

static double matmul_loss(void* p) {
    MatmulCtx* c = (MatmulCtx*)p;
    matmul_forward(c->out, c->inp, c->weight, c->bias, c->N, c->C, c->OC);
    return dot(c->out, c->R, (size_t)c->N * c->OC);
}

static void test_matmul(int N, int C, int OC) {
    MatmulCtx c = {random_array(N * C, 1), random_array(OC * C, 1), random_array(OC, 1), zeros(N * OC),
                   random_array(N * OC, 1), N, C, OC};
    real *dinp = zeros(N * C), *dweight = zeros(OC * C), *dbias = zeros(OC);
    matmul_backward(dinp, dweight, dbias, c.R, c.inp, c.weight, N, C, OC);
    char name[64];
    snprintf(name, sizeof(name), "matmul %dx%d->%d dinp", N, C, OC);
    check_gradient(name, c.inp, N * C, dinp, matmul_loss, &c);
    snprintf(name, sizeof(name), "matmul %dx%d->%d dweight", N, C, OC);
    check_gradient(name, c.weight, OC * C, dweight, matmul_loss, &c);
    snprintf(name, sizeof(name), "matmul %dx%d->%d dbias", N, C, OC);
    check_gradient(name, c.bias, OC, dbias, matmul_loss, &c);
}

typedef struct {
    real *inp, *weight, *bias, *out, *mean, *rstd, *R;
    int N, C;
} LayerNormCtx;

static double layernorm_loss(void* p) {
    LayerNormCtx* c = (LayerNormCtx*)p;
    layernorm_forward(c->out, c->mean, c->rstd, c->inp, c->weight, c->bias, c->N, c->C);
    return dot(c->out, c->R, (size_t)c->N * c->C);
}

static void test_layernorm(int N, int C) {
    LayerNormCtx c = {random_array(N * C, 1), random_array(C, 1), random_array(C, 1), zeros(N * C), zeros(N), zeros(N),
                      random_array(N * C, 1), N, C};
    layernorm_loss(&c);
    real *dinp = zeros(N * C), *dweight = zeros(C), *dbias = zeros(C);
    layernorm_backward(dinp, dweight, dbias, c.R, c.inp, c.weight, c.mean, c.rstd, N, C);
    check_gradient("layernorm dinp", c.inp, N * C, dinp, layernorm_loss, &c);
    check_gradient("layernorm dweight", c.weight, C, dweight, layernorm_loss, &c);
    check_gradient("layernorm dbias", c.bias, C, dbias, layernorm_loss, &c);
}

typedef struct {
    real *inp, *out, *R;
    int N;
} GeluCtx;

static double gelu_loss(void* p) {
    GeluCtx* c = (GeluCtx*)p;
    gelu_forward(c->out, c->inp, c->N);
    return dot(c->out, c->R, c->N);
}

static void test_gelu(void) {
    int N = 29;
    GeluCtx c = {random_array(N, 2), zeros(N), random_array(N, 1), N};
    real* dinp = zeros(N);
    gelu_backward(dinp, c.inp, c.R, N);
    check_gradient("gelu dinp", c.inp, N, dinp, gelu_loss, &c);
}

typedef struct {
    real *x, *y, *cos, *sin, *R;
    int B, T, pos0, heads, row_stride, head_stride, rot_dim;
    size_t n;
} RopeCtx;

static double rope_loss(void* p) {
    RopeCtx* c = (RopeCtx*)p;
    memcpy(c->y, c->x, c->n * sizeof(real));
    rope_forward(c->y, c->cos, c->sin, c->B, c->T, c->pos0, c->heads, c->row_stride, c->head_stride, c->rot_dim);
    return dot(c->y, c->R, c->n);
}

// rotates the first rot_dim of each head, inside rows that carry unrotated padding too
static void test_rope(int rot_dim, int head_stride) {
    int B = 2, T = 5, heads = 3, pos0 = 3, maxT = 16, half = rot_dim / 2, row_stride = heads * head_stride + 2;
    size_t n = (size_t)B * T * row_stride;
    RopeCtx c = {random_array(n, 1), zeros(n), zeros(maxT * half), zeros(maxT * half), random_array(n, 1),
                 B, T, pos0, heads, row_stride, head_stride, rot_dim, n};
    for (int p = 0; p < maxT; p++) {
        for (int i = 0; i < half; i++) {
            double angle = p * pow(10000.0, -2.0 * i / rot_dim);
            c.cos[p * half + i] = cos(angle);
            c.sin[p * half + i] = sin(angle);
        }
    }
    real* dx = zeros(n);
    memcpy(dx, c.R, n * sizeof(real));
    rope_backward(dx, c.cos, c.sin, B, T, pos0, heads, row_stride, head_stride, rot_dim);
    char name[64];
    snprintf(name, sizeof(name), "rope d=%d of %d dx", rot_dim, head_stride);
    check_gradient(name, c.x, n, dx, rope_loss, &c);
}

typedef struct {
    real *q, *kv, *out, *att, *R;
    const real *k1, *k2, *v;
    int B, Tq, Tk;
    AttentionDims d;
} AttnCtx;

static double attention_loss(void* p) {
    AttnCtx* c = (AttnCtx*)p;
    attention_forward(c->out, c->att, c->q, c->k1, c->k2, c->v, c->B, c->Tq, c->Tk, &c->d);
    return dot(c->out, c->R, (size_t)c->B * c->Tq * c->d.H * c->d.dv);
}

// Tq query rows (H heads of d1+d2) over Tk key rows [k1 (Hkv heads) | k2 (d2) | v (Hkv heads of dv)], the
// first Tk - Tq a carried memory; tied: v is k1 itself (GTA's state: the first d1 of each dv-wide head are
// also the key), so dk1 and dv alias. The gradient of every key row is checked (the samples are fewer
// than a kv row apart), the memory's too.
static void test_attention(const char* label, int Tq, int Tk, int H, int Hkv, int d1, int d2, int dv, int tied) {
    int B = 2, k1_head = tied ? dv : d1;
    int q_w = H * (d1 + d2), k1_w = Hkv * k1_head, kv_w = k1_w + d2 + (tied ? 0 : Hkv * dv);
    size_t nq = (size_t)B * Tq * q_w, nkv = (size_t)B * Tk * kv_w, nout = (size_t)B * Tq * H * dv;
    AttnCtx c = {random_array(nq, 1), random_array(nkv, 1), zeros(nout), zeros((size_t)B * H * Tq * Tk), random_array(nout, 1), NULL, NULL,
                 NULL, B, Tq, Tk, {H, Hkv, d1, d2, dv, q_w, kv_w, kv_w, kv_w, H * dv, k1_head, tied ? k1_head : dv, 1 / sqrt((real)(d1 + d2))}};
    c.k1 = c.kv;
    c.k2 = d2 ? c.kv + k1_w : NULL;
    c.v = tied ? c.kv : c.kv + k1_w + d2;
    attention_loss(&c);
    real *dq = zeros(nq), *dkv = zeros(nkv), *scratch = zeros(attention_scratch_size(B, Tq, Tk, &c.d));
    attention_backward(dq, dkv, d2 ? dkv + k1_w : NULL, tied ? dkv : dkv + k1_w + d2, scratch, c.R, c.out, c.att, c.q, c.k1, c.k2, c.v,
                       B, Tq, Tk, &c.d);
    char name[96];
    snprintf(name, sizeof(name), "attention %s Tq=%d Tk=%d dq", label, Tq, Tk);
    check_gradient(name, c.q, nq, dq, attention_loss, &c);
    snprintf(name, sizeof(name), "attention %s Tq=%d Tk=%d dk|dv", label, Tq, Tk);
    check_gradient(name, c.kv, nkv, dkv, attention_loss, &c);
}

// every layout: MHA, GQA, MQA, narrower values, a shared key, a tied key and value
static void test_attention_layouts(int Tq, int Tk) {
    test_attention("MHA H=4", Tq, Tk, 4, 4, 5, 0, 5, 0);
    test_attention("GQA H=4 Hkv=2", Tq, Tk, 4, 2, 5, 0, 5, 0);
    test_attention("MQA H=4", Tq, Tk, 4, 1, 5, 0, 5, 0);
    test_attention("qk=6 v=4 H=4 Hkv=2", Tq, Tk, 4, 2, 6, 0, 4, 0);
    test_attention("shared key d1=4 d2=2 (MLA)", Tq, Tk, 4, 4, 4, 2, 4, 0);
    test_attention("tied k1=v, shared key (GTA)", Tq, Tk, 4, 2, 3, 2, 5, 1);
}

typedef struct {
    real *inp, *weight, *out, *rstd, *R;
    int N, C, stride;
} RMSNormCtx;

static double rmsnorm_loss(void* p) {
    RMSNormCtx* c = (RMSNormCtx*)p;
    rmsnorm_forward(c->out, c->rstd, c->inp, c->weight, c->N, c->C, c->stride);
    return dot(c->out, c->R, (size_t)c->N * c->C);
}

// normalises a C-wide slice of rows that are `stride` wide, as the latent groups are
static void test_rmsnorm(int N, int C, int stride) {
    RMSNormCtx c = {random_array(N * stride, 1), random_array(C, 1), zeros(N * C), zeros(N), random_array(N * C, 1), N, C, stride};
    rmsnorm_loss(&c);
    real *dinp = zeros(N * stride), *dweight = zeros(C);
    rmsnorm_backward(dinp, dweight, c.R, c.inp, c.weight, c.rstd, N, C, stride);
    check_gradient("rmsnorm dinp (strided rows)", c.inp, N * stride, dinp, rmsnorm_loss, &c);
    check_gradient("rmsnorm dweight", c.weight, C, dweight, rmsnorm_loss, &c);
}

typedef struct {
    real *logits, *losses, *lse;
    int* targets;
    int N, V, Vp;
    real dloss;
} CrossEntropyCtx;

static double crossentropy_loss(void* p) {
    CrossEntropyCtx* c = (CrossEntropyCtx*)p;
    crossentropy_forward(c->losses, c->lse, c->logits, c->targets, c->N, c->V, c->Vp);
    double s = 0;
    for (int i = 0; i < c->N; i++) s += c->losses[i];
    return s * c->dloss;
}

static void test_crossentropy(void) {
    int N = 5, V = 7, Vp = 9;
    int targets[5] = {0, 6, 3, 3, 1};
    CrossEntropyCtx c = {random_array(N * Vp, 2), zeros(N), zeros(N), targets, N, V, Vp, 0.37};
    real* dlogits = zeros(N * Vp);
    crossentropy_loss(&c); // the backward reads the forward's log-sum-exp
    crossentropy_backward(dlogits, c.lse, c.logits, targets, c.dloss, N, V, Vp);
    check_gradient("crossentropy dlogits (padded vocab)", c.logits, N * Vp, dlogits, crossentropy_loss, &c);
}

typedef struct {
    real *wte, *wpe, *out, *R;
    int* inp;
    int B, T, C;
} EncoderCtx;

static double encoder_loss(void* p) {
    EncoderCtx* c = (EncoderCtx*)p;
    encoder_forward(c->out, c->inp, c->wte, c->wpe, c->B, c->T, c->C);
    return dot(c->out, c->R, (size_t)c->B * c->T * c->C);
}

static void test_encoder(void) {
    int B = 2, T = 4, C = 3, V = 5;
    int inp[8] = {0, 4, 4, 2, 1, 0, 3, 4}; // repeated ids accumulate
    EncoderCtx c = {random_array(V * C, 1), random_array(T * C, 1), zeros(B * T * C), random_array(B * T * C, 1), inp, B, T, C};
    real *dwte = zeros(V * C), *dwpe = zeros(T * C);
    encoder_backward(dwte, dwpe, c.R, inp, B, T, C);
    check_gradient("embedding dwte", c.wte, V * C, dwte, encoder_loss, &c);
    check_gradient("embedding dwpe", c.wpe, T * C, dwpe, encoder_loss, &c);
}

// ----------------------------------------------------------------------------
// Memory Mosaics' layers

typedef struct {
    real *x, *b, *S, *R, *S0;
    int B, T, H, dh, stride;
} LeakyCtx;

static double leaky_loss(void* p) {
    LeakyCtx* c = (LeakyCtx*)p;
    leaky_average_forward(c->S, c->x, c->S0, c->b, c->B, c->T, c->H, c->dh, c->stride, 2 * c->stride);
    return dot(c->S, c->R, (size_t)c->B * c->T * c->H * c->dh);
}

// the leaky average over rows wider than its heads (as it reads the fused [k~ | v~] rows); with_state: from
// each sequence's carried sums S_{-1} (--carry), a constant that the rate's gradient reads
static void test_leaky_average(int with_state) {
    int B = 2, T = 6, H = 2, dh = 3, stride = 8, C = H * dh;
    LeakyCtx c = {random_array(B * T * stride, 1), random_array(H, 0.1), zeros(B * T * C), random_array(B * T * C, 1), NULL, B, T, H, dh, stride};
    if (with_state) c.S0 = random_array(B * 2 * stride, 1);
    c.b[0] = 0.05, c.b[1] = -0.12; // both signs of the stored rate
    leaky_loss(&c);
    real *dx = zeros(B * T * stride), *db = zeros(H);
    leaky_average_backward(dx, db, c.R, c.S, c.S0, c.b, B, T, H, dh, stride, 2 * stride);
    for (int n = 0; n < B * T; n++) memset(dx + (size_t)n * stride + C, 0, (stride - C) * sizeof(real)); // not read
    check_gradient(with_state ? "leaky average from a state dx" : "leaky average dx (strided rows)", c.x, B * T * stride, dx, leaky_loss, &c);
    check_gradient(with_state ? "leaky average from a state db" : "leaky average db", c.b, H, db, leaky_loss, &c);
}

typedef struct {
    real *x, *s, *out, *norm, *R;
    int N, H, dh, stride;
    real mult, cap;
} HeadScaleCtx;

static double head_scale_loss(void* p) {
    HeadScaleCtx* c = (HeadScaleCtx*)p;
    head_scale_forward(c->out, c->norm, c->x, c->s, c->N, c->H, c->dh, c->stride, c->mult, c->cap);
    return dot(c->out, c->R, (size_t)c->N * c->H * c->dh);
}

// keys (a cap that one head's scale passes, so its gradient stops there) and values (no cap)
static void test_head_scale(const char* label, real mult, real cap) {
    int N = 5, H = 3, dh = 4, stride = 13;
    HeadScaleCtx c = {random_array(N * stride, 1), random_array(H, 0.1), zeros(N * H * dh), zeros(N * H), random_array(N * H * dh, 1),
                      N, H, dh, stride, mult, cap};
    c.s[2] = 0.4; // mult s = 4 or 8: the keys' cap of 5 holds for p = 2
    head_scale_loss(&c);
    real *dx = zeros(N * stride), *ds = zeros(H);
    head_scale_backward(dx, ds, c.R, c.out, c.norm, c.x, c.s, N, H, dh, stride, mult, cap);
    for (int n = 0; n < N; n++) memset(dx + (size_t)n * stride + H * dh, 0, (stride - H * dh) * sizeof(real));
    char name[64];
    snprintf(name, sizeof(name), "head scale %s dx", label);
    check_gradient(name, c.x, N * stride, dx, head_scale_loss, &c);
    snprintf(name, sizeof(name), "head scale %s ds", label);
    check_gradient(name, c.s, H, ds, head_scale_loss, &c);
}

typedef struct {
    real *vt, *c, *vp, *R;
    int B, T, H, dh, stride;
} ShiftCtx;

static double shift_loss(void* p) {
    ShiftCtx* c = (ShiftCtx*)p;
    value_shift_forward(c->vp, c->vt, c->c, c->B, c->T, c->H, c->dh, c->stride);
    return dot(c->vp, c->R, (size_t)c->B * c->T * c->H * c->dh);
}

static void test_value_shift(void) {
    int B = 2, T = 5, H = 2, dh = 3, stride = 7, C = H * dh;
    ShiftCtx c = {random_array(B * T * stride, 1), random_array(H, 0.3), zeros(B * T * C), random_array(B * T * C, 1), B, T, H, dh, stride};
    shift_loss(&c);
    real *dvt = zeros(B * T * stride), *dc = zeros(H);
    value_shift_backward(dvt, dc, c.R, c.vt, c.c, B, T, H, dh, stride);
    for (int n = 0; n < B * T; n++) memset(dvt + (size_t)n * stride + C, 0, (stride - C) * sizeof(real));
    check_gradient("value shift dv", c.vt, B * T * stride, dvt, shift_loss, &c);
    check_gradient("value shift dc", c.c, H, dc, shift_loss, &c);
}

typedef struct {
    real *k, *pk, *pv, *o, *y, *lse, *R, *scratch;
    int N, H, dh, P, M;
} PmemCtx;

static double pmem_loss(void* p) {
    PmemCtx* c = (PmemCtx*)p;
    pmem_forward(c->y, c->lse, c->k, c->pk, c->pv, c->o, c->N, c->H, c->dh, c->P, c->M, c->scratch);
    return dot(c->y, c->R, (size_t)c->N * c->H * c->dh);
}

static void test_pmem(int M) {
    int N = 7, H = 2, dh = 3, P = 5, C = H * dh;
    PmemCtx c = {random_array(N * C, 1), random_array(M * H * P * dh, 1), random_array(M * H * P * dh, 1), random_array(H, 0.1),
                 zeros(N * C), zeros(N * M * H), random_array(N * C, 1), zeros(pmem_scratch_size(N, P, C)), N, H, dh, P, M};
    pmem_loss(&c);
    real *dk = zeros(N * C), *dpk = zeros(M * H * P * dh), *dpv = zeros(M * H * P * dh), *d_o = zeros(H);
    pmem_backward(dk, dpk, dpv, d_o, c.R, c.y, c.lse, c.k, c.pk, c.pv, c.o, N, H, dh, P, M, c.scratch);
    char name[64];
    snprintf(name, sizeof(name), "persistent memory M=%d dk", M);
    check_gradient(name, c.k, N * C, dk, pmem_loss, &c);
    snprintf(name, sizeof(name), "persistent memory M=%d dP_k", M);
    check_gradient(name, c.pk, M * H * P * dh, dpk, pmem_loss, &c);
    snprintf(name, sizeof(name), "persistent memory M=%d dP_v", M);
    check_gradient(name, c.pv, M * H * P * dh, dpv, pmem_loss, &c);
    snprintf(name, sizeof(name), "persistent memory M=%d do", M);
    check_gradient(name, c.o, H, d_o, pmem_loss, &c);
}

// ----------------------------------------------------------------------------
// a whole block (attention + MLP + both residuals), and the whole model

// 1-2 layers, C=16, H=4, F=24, V=11 (padded to 128), maxT=8
static GPTConfig tiny_config(AttnType attn, int kv_heads, PosType pos, int bias, int layers) {
    return test_config(attn, kv_heads, pos, bias, layers, 16, 4, 24, 11, 8);
}

// MLA/GLA on the tiny shapes: n groups of dc, rq (0 = plain query projection), dR = 2 of dh = 4
static GPTConfig tiny_latent(AttnType attn, int groups, int dc, int rq, PosType pos, int bias, int layers) {
    GPTConfig c = tiny_config(attn, 0, pos, bias, layers);
    c.latent_groups = groups;
    c.latent_dim = dc;
    c.q_rank = rq;
    gpt_config_finish(&c);
    return c;
}

// Memory Mosaics on the tiny shapes: the contextual memory (or MHA) with the GELU MLP or a persistent
// memory of M x P = 2 x 6 rows
static GPTConfig tiny_mosaic(AttnType attn, int pmem, int bias, int layers) {
    GPTConfig c = tiny_config(attn, 0, attn == ATTN_MOSAIC ? POS_NONE : POS_ROPE, bias, layers);
    if (pmem) {
        c.mlp = MLP_PMEM;
        c.mlp_hidden = 0;
        c.pmem_size = 6;
        c.pmem_count = 2;
        gpt_config_finish(&c);
    }
    return c;
}

typedef struct {
    GPT* model;
    real *x, *R;
    int B, T;
} BlockCtx;

static double block_loss(void* p) {
    BlockCtx* c = (BlockCtx*)p;
    BlockActivations* acts = &c->model->acts.blocks[0];
    block_forward(c->model, 0, acts, c->model->acts.proj, c->x, c->B, c->T, 0, NULL, NULL);
    return dot(acts->residual3, c->R, (size_t)c->B * c->T * c->model->config.channels);
}

static void test_block(const char* label, GPTConfig config) {
    GPT model;
    gpt_build(&model, &config);
    gpt_init_random(&model, 7);
    // random norms and biases too, so that their gradients are not special
    for (size_t i = 0; i < model.num_parameters; i++) model.params_memory[i] += (real)(0.1 * random_normal(&test_rng));
    int B = 2, T = 5, C = config.channels;
    gpt_allocate_activations(&model, B, T);
    BlockCtx c = {&model, random_array(B * T * C, 1), random_array(B * T * C, 1), B, T};
    block_loss(&c);
    memcpy(model.acts.dresidual, c.R, (size_t)B * T * C * sizeof(real));
    block_backward(&model, 0, &model.acts.blocks[0], c.x, B, T);
    char name[96];
    snprintf(name, sizeof(name), "block %s dx", label);
    check_gradient(name, c.x, B * T * C, model.acts.dresidual, block_loss, &c);
    size_t offset = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const ParamSpec* s = &model.specs[i];
        if (s->numel > 0 && s->per_layer) {
            snprintf(name, sizeof(name), "block %s d%s", label, s->name);
            check_gradient(name, model.params_memory + offset, s->numel, model.grads_memory + offset, block_loss, &c);
        }
        offset += s->numel;
    }
    gpt_free(&model);
}

typedef struct {
    GPT* model;
    int *inputs, *targets;
    int B, T;
} ModelCtx;

static double model_loss(void* p) {
    ModelCtx* c = (ModelCtx*)p;
    gpt_forward(c->model, c->inputs, c->targets, c->B, c->T);
    double s = 0;
    for (int i = 0; i < c->B * c->T; i++) s += c->model->acts.losses[i];
    return s / (c->B * c->T);
}

// a model with GPT-2's init from seed, perturbed so that no parameter is special; the padded vocabulary's
// rows of wte stay zero
static void perturbed_model(GPT* model, const GPTConfig* config, uint64_t seed) {
    gpt_build(model, config);
    gpt_init_random(model, seed);
    for (size_t i = 0; i < model->num_parameters; i++) model->params_memory[i] += (real)(0.05 * random_normal(&test_rng));
    memset(model->params.wte + (size_t)config->vocab_size * config->channels, 0,
           (size_t)(config->padded_vocab_size - config->vocab_size) * config->channels * sizeof(real));
}

// Runs loss(ctx) (a forward with targets), the model's backward, and checks every parameter tensor's
// gradient, named "PREFIX dNAME", against central differences of loss.
static void check_model_gradients(const char* prefix, GPT* model, LossFn loss, void* ctx) {
    loss(ctx);
    gpt_zero_grad(model);
    gpt_backward(model, 1.0f, NULL);
    size_t offset = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const ParamSpec* s = &model->specs[i];
        if (s->numel > 0) {
            char name[160];
            snprintf(name, sizeof(name), "%s d%s", prefix, s->name);
            // wte: check only the real vocabulary rows (padded rows have zero gradient by construction)
            size_t n = i == P_WTE ? (size_t)model->config.vocab_size * model->config.channels : s->numel;
            check_gradient(name, model->params_memory + offset, n, model->grads_memory + offset, loss, ctx);
        }
        offset += s->numel;
    }
}

static void test_model(const char* label, GPTConfig config) {
    GPT model;
    perturbed_model(&model, &config, 11);
    int B = 2, T = 6;
    gpt_allocate_activations(&model, B, T);
    int inputs[12], targets[12];
    for (int i = 0; i < B * T; i++) {
        inputs[i] = (int)(random_u32(&test_rng) % config.vocab_size);
        targets[i] = (int)(random_u32(&test_rng) % config.vocab_size);
    }
    ModelCtx c = {&model, inputs, targets, B, T};
    char prefix[96];
    snprintf(prefix, sizeof(prefix), "model %s", label);
    check_model_gradients(prefix, &model, model_loss, &c);
    // the rows that make the RoPE key shared by all heads (GTA: the last dR rows of qkvw; MLA/GLA: of
    // dkvw), checked whole in the last layer
    int tensor = config.attn == ATTN_GTA ? P_QKVW : is_latent(&config) ? P_DKVW : -1;
    if (tensor >= 0) {
        size_t start = 0;
        for (int i = 0; i < tensor; i++) start += model.specs[i].numel;
        size_t rows = model.specs[tensor].shape[1], width = (size_t)config.rope_dim * config.channels;
        start += ((size_t)config.num_layers * rows * config.channels) - width;
        char name[96];
        snprintf(name, sizeof(name), "model %s RoPE key rows of d%s", label, model.specs[tensor].name);
        check_gradient(name, model.params_memory + start, width, model.grads_memory + start, model_loss, &c);
    }
    gpt_free(&model);
}

// ----------------------------------------------------------------------------
// --carry: a segment attending to a memory of its lane's past

typedef struct {
    GPT* model;
    real* memory; // (L, B, gpt_carry_lane_size) the memory before the checked segment, and the rows it held
    int held;
    int *inputs, *targets;
    int B, T;
} CarryCtx;

// the segment's mean loss over the memory it started with (restored first: each forward moves it on)
static double carry_loss(void* p) {
    CarryCtx* c = (CarryCtx*)p;
    size_t per_layer = (size_t)c->B * gpt_carry_lane_size(&c->model->config, c->model->carry);
    for (int l = 0; l < c->model->config.num_layers; l++) memcpy(c->model->acts.blocks[l].memory, c->memory + l * per_layer, per_layer * sizeof(real));
    c->model->carry_held = c->held;
    gpt_forward_carried(c->model, c->inputs, c->targets, c->B, c->T);
    double s = 0;
    for (int i = 0; i < c->B * c->T; i++) s += c->model->acts.losses[i];
    return s / (c->B * c->T);
}

// The stream of each of B = 2 lanes goes through segments of T = 3 with --carry K. The last segment's logits
// must equal the last T rows of a plain forward over the positions its window covers (the whole stream when
// K covers it; with one layer and RoPE the window's tokens alone, as a row's keys then depend on its token
// and position only). Its gradients, with the memory held constant, are checked by central differences.
static void test_carry(const char* label, GPTConfig config, int K, int segments) {
    int B = 2, T = 3, S = segments * T, V = config.vocab_size, Vp = config.padded_vocab_size;
    GPT model, full;
    perturbed_model(&model, &config, 13);
    model.carry = K;
    gpt_allocate_activations(&model, B, T);
    int stream[2][16], targets[2][16], inputs[6], seg_targets[6];
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < S; t++) {
            stream[b][t] = (int)(random_u32(&test_rng) % V);
            targets[b][t] = (int)(random_u32(&test_rng) % V);
        }
    }
    size_t per_layer = (size_t)B * gpt_carry_lane_size(&config, K);
    real* memory = zeros(per_layer * config.num_layers);
    int held = 0;
    for (int s = 0; s < segments; s++) {
        for (int b = 0; b < B; b++) {
            memcpy(inputs + b * T, stream[b] + s * T, T * sizeof(int));
            memcpy(seg_targets + b * T, targets[b] + s * T, T * sizeof(int));
        }
        held = model.carry_held;
        for (int l = 0; l < config.num_layers; l++) memcpy(memory + l * per_layer, model.acts.blocks[l].memory, per_layer * sizeof(real));
        gpt_forward_carried(&model, inputs, seg_targets, B, T);
    }
    // the plain forward over the window: the memory's `held` positions and the segment
    int W = held + T, first = S - W;
    gpt_build(&full, &config);
    memcpy(full.params_memory, model.params_memory, model.num_parameters * sizeof(real));
    gpt_allocate_activations(&full, B, W);
    int window_inputs[32];
    for (int b = 0; b < B; b++) memcpy(window_inputs + b * W, stream[b] + first, W * sizeof(int));
    gpt_forward(&full, window_inputs, NULL, B, W);
    double worst = 0;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            const real* got = model.acts.logits + ((size_t)b * T + t) * Vp;
            const real* want = full.acts.logits + ((size_t)b * W + held + t) * Vp;
            for (int i = 0; i < V; i++) worst = fmax(worst, fabs(got[i] - want[i]) / fmax(1.0, fabs(want[i])));
        }
    }
    char name[128];
    snprintf(name, sizeof(name), "carry %s, K=%d, segment %d of %d: logits of a plain forward over its %d-position window", label, K,
             segments, segments, W);
    CHECK(worst <= 1e-12, "%s: largest relative difference %.3g", name, worst); // fails on NaN too
    CarryCtx c = {&model, memory, held, inputs, seg_targets, B, T};
    snprintf(name, sizeof(name), "carry %s, K=%d, memory held constant:", label, K);
    check_model_gradients(name, &model, carry_loss, &c);
    gpt_free(&model);
    gpt_free(&full);
}

int main(void) {
    printf("finite-difference gradient checks (double precision)\n");
    test_encoder();
    test_layernorm(5, 7);
    test_matmul(7, 5, 37);  // remainders of the 6-row and 32-column register tiles
    test_matmul(8, 33, 64); // whole 32-column tiles
    test_gelu();
    test_rope(6, 6);
    test_rope(4, 10); // a slice of a wider head, as the latent variants rotate
    test_rmsnorm(5, 7, 11);
    test_attention_layouts(6, 6); // square, T = 6: the fast forward's GEMM
    test_crossentropy();
    test_leaky_average(0);
    test_head_scale("keys, p=2", 20, 5);
    test_head_scale("values", 10, INFINITY);
    test_value_shift();
    test_pmem(1);
    test_pmem(2);
    test_block("MHA rope bias", tiny_config(ATTN_MHA, 0, POS_ROPE, 1, 1));
    test_block("GQA-2 rope nobias", tiny_config(ATTN_GQA, 2, POS_ROPE, 0, 1));
    test_block("MQA learned bias", tiny_config(ATTN_MQA, 0, POS_LEARNED, 1, 1));
    test_block("GTA-2 rope bias", tiny_config(ATTN_GTA, 2, POS_ROPE, 1, 1));
    test_block("GTA-1 learned nobias", tiny_config(ATTN_GTA, 1, POS_LEARNED, 0, 1));
    test_block("MLA rq=6 bias", tiny_latent(ATTN_MLA, 1, 8, 6, POS_ROPE, 1, 1));
    test_block("MLA rq=0 nobias", tiny_latent(ATTN_MLA, 1, 8, 0, POS_ROPE, 0, 1));
    test_block("GLA-2 rq=6 bias", tiny_latent(ATTN_GLA, 2, 8, 6, POS_ROPE, 1, 1));
    test_block("GLA-4 rq=0 learned bias", tiny_latent(ATTN_GLA, 4, 8, 0, POS_LEARNED, 1, 1));
    test_block("Mosaic bias", tiny_mosaic(ATTN_MOSAIC, 0, 1, 1));
    test_block("Mosaic + pmem nobias", tiny_mosaic(ATTN_MOSAIC, 1, 0, 1));
    test_block("MHA + pmem bias", tiny_mosaic(ATTN_MHA, 1, 1, 1));
    test_model("MHA rope bias", tiny_config(ATTN_MHA, 0, POS_ROPE, 1, 2));
    test_model("GQA-2 learned nobias", tiny_config(ATTN_GQA, 2, POS_LEARNED, 0, 2));
    test_model("MQA rope bias", tiny_config(ATTN_MQA, 0, POS_ROPE, 1, 2));
    test_model("GTA-2 rope bias", tiny_config(ATTN_GTA, 2, POS_ROPE, 1, 2));
    test_model("MLA rq=6 bias", tiny_latent(ATTN_MLA, 1, 8, 6, POS_ROPE, 1, 2));
    test_model("GLA-2 rq=0 learned nobias", tiny_latent(ATTN_GLA, 2, 8, 0, POS_LEARNED, 0, 2));
    test_model("Mosaic + pmem bias", tiny_mosaic(ATTN_MOSAIC, 1, 1, 2));
    // over a memory, after the rest so that their random inputs stay as they were (the persistent memory's
    // checks are fragile: other random inputs fail some of them): a memory longer than the segment (Tq = 3,
    // the forward's reference loops) and shorter (Tq = 6, the GEMM on every tile)
    test_attention_layouts(3, 7);
    test_attention_layouts(6, 9);
    test_carry("MHA rope bias", tiny_config(ATTN_MHA, 0, POS_ROPE, 1, 2), 3, 2);
    test_carry("GQA-2 learned nobias", tiny_config(ATTN_GQA, 2, POS_LEARNED, 0, 2), 3, 2);
    test_carry("MQA rope nobias", tiny_config(ATTN_MQA, 0, POS_ROPE, 0, 2), 5, 2);
    test_carry("GTA-2 rope bias", tiny_config(ATTN_GTA, 2, POS_ROPE, 1, 2), 3, 2);
    test_carry("GTA-1 learned nobias", tiny_config(ATTN_GTA, 1, POS_LEARNED, 0, 2), 3, 2);
    test_carry("MHA rope 1 layer, sliding", tiny_config(ATTN_MHA, 0, POS_ROPE, 1, 1), 4, 3);
    test_carry("GTA-2 rope 1 layer, sliding", tiny_config(ATTN_GTA, 2, POS_ROPE, 1, 1), 4, 3);
    test_carry("MLA rq=6 bias", tiny_latent(ATTN_MLA, 1, 8, 6, POS_ROPE, 1, 2), 3, 2);
    test_carry("GLA-2 rq=0 learned nobias", tiny_latent(ATTN_GLA, 2, 8, 0, POS_LEARNED, 0, 2), 3, 2);
    test_carry("GLA-2 rq=6 1 layer, sliding", tiny_latent(ATTN_GLA, 2, 8, 6, POS_ROPE, 1, 1), 4, 3);
    // Memory Mosaics: the leaky sums carry the whole past, so only a memory of everything has a plain forward
    // to equal
    test_leaky_average(1);
    test_carry("Mosaic bias", tiny_mosaic(ATTN_MOSAIC, 0, 1, 2), 3, 2);
    test_carry("Mosaic + pmem nobias", tiny_mosaic(ATTN_MOSAIC, 1, 0, 2), 3, 2);
    test_carry("MHA + pmem bias", tiny_mosaic(ATTN_MHA, 1, 1, 2), 3, 2);
    printf("%d gradient elements checked, %d failing checks\n", checks, failures);
    test_free_all();
    return failures == 0 ? 0 : 1;
}
