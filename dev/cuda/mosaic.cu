// Memory Mosaics' layers on the GPU (llmc/cuda/mosaic.cuh) against train_gpt.c's: the leaky average, the
// per-head normalise-and-scale, the value mix and the persistent memory, forward and backward (with their
// per-head scalar gradients), then their speed at GPT-2 124M's shape.
#include "lab.cuh"
#include "../../llmc/cuda/mosaic.cuh"

// per-head parameters in the ranges training sees (a rate, a scale or a mix around its initial value)
static float* head_params(int H, float base, float spread) {
    float* p = (float*)mallocCheck(H * sizeof(float));
    for (int h = 0; h < H; h++) p[h] = base + spread * (float)random_normal(&lab_rng);
    return p;
}

// x rows x_stride apart hold the input in their first C columns (the fused [k~ | v~] rows, as the model has);
// with_state: each sequence starts from a state S_{-1} (--carry's), rows 2C apart as in the carried window
static void test_leaky_average(int B, int T, int H, int dh, int x_stride, int with_state) {
    int C = H * dh;
    size_t N = (size_t)B * T;
    float *x = host_random(N * x_stride, 1), *dS = host_random(N * C, 1), *b = head_params(H, 0.2f, 0.1f);
    float* S0 = with_state ? host_random((size_t)B * 2 * C, 1) : NULL;
    b[0] = -b[0]; // |b| on both sides of zero
    float *S = (float*)callocCheck(N * C, 4), *dx = (float*)callocCheck(N * x_stride, 4), *db = (float*)callocCheck(H, 4);
    leaky_average_forward(S, x, S0, b, B, T, H, dh, x_stride, 2 * C);
    leaky_average_backward(dx, db, dS, S, S0, b, B, T, H, dh, x_stride, 2 * C);
    float *d_x = to_device(x, N * x_stride), *d_dS = to_device(dS, N * C), *d_b = to_device(b, H);
    float* d_S0 = with_state ? to_device(S0, (size_t)B * 2 * C) : NULL;
    float *d_S = (float*)cuda_calloc(N * C * 4), *d_dx = to_device(dx, N * x_stride), *d_db = (float*)cuda_calloc(H * 4);
    gpu::leaky_average_forward(d_S, d_x, d_S0, d_b, B, T, H, dh, x_stride, 2 * C);
    gpu::leaky_average_backward(d_dx, d_db, d_dS, d_S, d_S0, d_b, B, T, H, dh, x_stride, 2 * C);
    char what[128];
    snprintf(what, sizeof(what), "leaky average forward B=%d T=%d H=%d dh=%d%s", B, T, H, dh, with_state ? ", from a carried state" : "");
    check(what, S, d_S, N * C, 1e-5);
    check("  backward dx (rows of the fused stride)", dx, d_dx, N * x_stride, 1e-5);
    check("  backward d rate (per head)", db, d_db, H, 1e-4);
    cudaCheck(cudaFree(d_x)); cudaCheck(cudaFree(d_dS)); cudaCheck(cudaFree(d_b)); cudaCheck(cudaFree(d_S));
    cudaCheck(cudaFree(d_dx)); cudaCheck(cudaFree(d_db));
    if (with_state) cudaCheck(cudaFree(d_S0));
    free(x); free(dS); free(b); free(S); free(dx); free(db); free(S0);
}

// keys (mult 10, cap 5, one scale past the cap) and values (mult 10, no cap)
static void test_head_scale(const char* label, int N, int H, int dh, int x_stride, float mult, float cap) {
    int C = H * dh;
    float *x = host_random((size_t)N * x_stride, 1), *dout = host_random((size_t)N * C, 1), *s = head_params(H, 0.1f, 0.05f);
    if (isfinite(cap)) s[H - 1] = 1.0f; // mult * s past the cap: no gradient for it
    float *out = (float*)callocCheck((size_t)N * C, 4), *norm = (float*)callocCheck((size_t)N * H, 4);
    float *dx = (float*)callocCheck((size_t)N * x_stride, 4), *ds = (float*)callocCheck(H, 4);
    head_scale_forward(out, norm, x, s, N, H, dh, x_stride, mult, cap);
    head_scale_backward(dx, ds, dout, out, norm, x, s, N, H, dh, x_stride, mult, cap);
    float *d_x = to_device(x, (size_t)N * x_stride), *d_dout = to_device(dout, (size_t)N * C), *d_s = to_device(s, H);
    float *d_out = (float*)cuda_calloc((size_t)N * C * 4), *d_norm = (float*)cuda_calloc((size_t)N * H * 4);
    float *d_dx = to_device(dx, (size_t)N * x_stride), *d_ds = (float*)cuda_calloc(H * 4);
    gpu::head_scale_forward(d_out, d_norm, d_x, d_s, N, H, dh, x_stride, mult, cap);
    gpu::head_scale_backward(d_dx, d_ds, d_dout, d_out, d_norm, d_x, d_s, N, H, dh, x_stride, mult, cap);
    char what[160];
    snprintf(what, sizeof(what), "head scale (%s) forward N=%d H=%d dh=%d", label, N, H, dh);
    check(what, out, d_out, (size_t)N * C, 1e-5);
    check("  the norms kept for the backward", norm, d_norm, (size_t)N * H, 1e-5);
    check("  backward dx", dx, d_dx, (size_t)N * x_stride, 1e-5);
    check("  backward d scale (per head)", ds, d_ds, H, 1e-4);
    cudaCheck(cudaFree(d_x)); cudaCheck(cudaFree(d_dout)); cudaCheck(cudaFree(d_s)); cudaCheck(cudaFree(d_out));
    cudaCheck(cudaFree(d_norm)); cudaCheck(cudaFree(d_dx)); cudaCheck(cudaFree(d_ds));
    free(x); free(dout); free(s); free(out); free(norm); free(dx); free(ds);
}

static void test_value_shift(int B, int T, int H, int dh, int vt_stride) {
    int C = H * dh;
    size_t N = (size_t)B * T;
    float *vt = host_random(N * vt_stride, 1), *dvp = host_random(N * C, 1), *c = head_params(H, 0.5f, 0.3f);
    float *vp = (float*)callocCheck(N * C, 4), *dvt = (float*)callocCheck(N * vt_stride, 4), *dc = (float*)callocCheck(H, 4);
    value_shift_forward(vp, vt, c, B, T, H, dh, vt_stride);
    value_shift_backward(dvt, dc, dvp, vt, c, B, T, H, dh, vt_stride);
    float *d_vt = to_device(vt, N * vt_stride), *d_dvp = to_device(dvp, N * C), *d_c = to_device(c, H);
    float *d_vp = (float*)cuda_calloc(N * C * 4), *d_dvt = to_device(dvt, N * vt_stride), *d_dc = (float*)cuda_calloc(H * 4);
    gpu::value_shift_forward(d_vp, d_vt, d_c, B, T, H, dh, vt_stride);
    gpu::value_shift_backward(d_dvt, d_dc, d_dvp, d_vt, d_c, B, T, H, dh, vt_stride);
    char what[128];
    snprintf(what, sizeof(what), "value mix forward B=%d T=%d H=%d dh=%d", B, T, H, dh);
    check(what, vp, d_vp, N * C, 1e-6);
    check("  backward dv~", dvt, d_dvt, N * vt_stride, 1e-6);
    check("  backward d mix (per head)", dc, d_dc, H, 1e-4);
    cudaCheck(cudaFree(d_vt)); cudaCheck(cudaFree(d_dvp)); cudaCheck(cudaFree(d_c)); cudaCheck(cudaFree(d_vp));
    cudaCheck(cudaFree(d_dvt)); cudaCheck(cudaFree(d_dc));
    free(vt); free(dvp); free(c); free(vp); free(dvt); free(dc);
}

// keys of norm ~e^2 as the model's (the key scale's cap is e^5) against N(0, 1/sqrt(dh)) memories
static void test_pmem(int N, int H, int dh, int P, int M) {
    int C = H * dh;
    size_t mem = (size_t)M * H * P * dh;
    float *k = host_random((size_t)N * C, 1), *pk = host_random(mem, 1 / sqrt((double)dh)), *pv = host_random(mem, 1 / sqrt((double)dh));
    float *dy = host_random((size_t)N * C, 1), *o = head_params(H, -0.05f, 0.02f);
    float *y = (float*)callocCheck((size_t)N * C, 4), *lse = (float*)callocCheck((size_t)N * M * H, 4);
    float *dk = (float*)callocCheck((size_t)N * C, 4), *dpk = (float*)callocCheck(mem, 4), *dpv = (float*)callocCheck(mem, 4);
    float *d_o = (float*)callocCheck(H, 4), *scratch = (float*)callocCheck(pmem_scratch_size(N, P, C), 4);
    pmem_forward(y, lse, k, pk, pv, o, N, H, dh, P, M, scratch);
    pmem_backward(dk, dpk, dpv, d_o, dy, y, lse, k, pk, pv, o, N, H, dh, P, M, scratch);
    float *g_k = to_device(k, (size_t)N * C), *g_pk = to_device(pk, mem), *g_pv = to_device(pv, mem), *g_dy = to_device(dy, (size_t)N * C);
    float *g_o = to_device(o, H), *g_y = (float*)cuda_calloc((size_t)N * C * 4), *g_lse = (float*)cuda_calloc((size_t)N * M * H * 4);
    float *g_dk = (float*)cuda_calloc((size_t)N * C * 4), *g_dpk = (float*)cuda_calloc(mem * 4), *g_dpv = (float*)cuda_calloc(mem * 4);
    float *g_do = (float*)cuda_calloc(H * 4), *g_scratch = (float*)cuda_calloc(gpu::pmem_scratch_size(N, P, C) * 4);
    gpu::pmem_forward(g_y, g_lse, g_k, g_pk, g_pv, g_o, N, H, dh, P, M, g_scratch);
    gpu::pmem_backward(g_dk, g_dpk, g_dpv, g_do, g_dy, g_y, g_lse, g_k, g_pk, g_pv, g_o, N, H, dh, P, M, g_scratch);
    char what[128];
    snprintf(what, sizeof(what), "persistent memory forward N=%d H=%d dh=%d P=%d M=%d", N, H, dh, P, M);
    check(what, y, g_y, (size_t)N * C, 1e-5);
    check("  log-sum-exps kept for the backward", lse, g_lse, (size_t)N * M * H, 1e-5);
    check("  backward dk", dk, g_dk, (size_t)N * C, 1e-4);
    check("  backward d memory keys", dpk, g_dpk, mem, 1e-4);
    check("  backward d memory values", dpv, g_dpv, mem, 1e-4);
    check("  backward d output scale (per head)", d_o, g_do, H, 1e-4);
    cudaCheck(cudaFree(g_k)); cudaCheck(cudaFree(g_pk)); cudaCheck(cudaFree(g_pv)); cudaCheck(cudaFree(g_dy)); cudaCheck(cudaFree(g_o));
    cudaCheck(cudaFree(g_y)); cudaCheck(cudaFree(g_lse)); cudaCheck(cudaFree(g_dk)); cudaCheck(cudaFree(g_dpk));
    cudaCheck(cudaFree(g_dpv)); cudaCheck(cudaFree(g_do)); cudaCheck(cudaFree(g_scratch));
    free(k); free(pk); free(pv); free(dy); free(o); free(y); free(lse); free(dk); free(dpk); free(dpv); free(d_o); free(scratch);
}

// GPT-2 124M's shape (H=12, dh=64) at B=16, T=1024, the persistent memory with P = 3C: forward and backward
static void bench(int B, int T) {
    int H = 12, dh = 64, C = H * dh, P = 3 * C, N = B * T;
    size_t mem = (size_t)H * P * dh;
    float *x = (float*)cuda_calloc((size_t)N * 2 * C * 4), *dx = (float*)cuda_calloc((size_t)N * 2 * C * 4);
    float *S = (float*)cuda_calloc((size_t)N * C * 4), *dS = (float*)cuda_calloc((size_t)N * C * 4), *out = (float*)cuda_calloc((size_t)N * C * 4);
    float *norm = (float*)cuda_calloc((size_t)N * H * 4), *s = (float*)cuda_calloc(H * 4), *ds = (float*)cuda_calloc(H * 4);
    float *pk = (float*)cuda_calloc(mem * 4), *pv = (float*)cuda_calloc(mem * 4), *dpk = (float*)cuda_calloc(mem * 4), *dpv = (float*)cuda_calloc(mem * 4);
    float *lse = (float*)cuda_calloc((size_t)N * H * 4), *scratch = (float*)cuda_calloc(gpu::pmem_scratch_size(N, P, C) * 4);
    double lf = time_ms([&] { gpu::leaky_average_forward(S, x, NULL, s, B, T, H, dh, 2 * C, 0); }, 5);
    double lb = time_ms([&] { gpu::leaky_average_backward(dx, ds, dS, S, NULL, s, B, T, H, dh, 2 * C, 0); }, 5);
    double hf = time_ms([&] { gpu::head_scale_forward(out, norm, S, s, N, H, dh, C, 10, 5); }, 5);
    double hb = time_ms([&] { gpu::head_scale_backward(dS, ds, out, out, norm, S, s, N, H, dh, C, 10, 5); }, 5);
    double pf = time_ms([&] { gpu::pmem_forward(out, lse, S, pk, pv, s, N, H, dh, P, 1, scratch); }, 3);
    double pb = time_ms([&] { gpu::pmem_backward(dS, dpk, dpv, ds, out, out, lse, S, pk, pv, s, N, H, dh, P, 1, scratch); }, 3);
    double pflops = 4.0 * N * P * (double)C; // two products of N x P x dh per head
    printf("     B=%d T=%d H=%d dh=%d: leaky average %.2f / %.2f ms, head scale %.2f / %.2f ms (forward / backward)\n", B, T, H, dh, lf,
           lb, hf, hb);
    printf("     persistent memory P=%d: forward %.2f ms (%.1f TFLOP/s), backward %.2f ms (%.1f TFLOP/s)\n", P, pf,
           pflops / (pf * 1e9), pb, 2 * pflops / (pb * 1e9));
    float* all[] = {x, dx, S, dS, out, norm, s, ds, pk, pv, dpk, dpv, lse, scratch};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) cudaCheck(cudaFree(all[i]));
}

int main(void) {
    lab_start();
    gpu::matmul_setup(0, 0); // the persistent memory's products in fp32, as the CPU's
    test_leaky_average(2, 37, 4, 16, 128, 0);
    test_leaky_average(3, 64, 6, 40, 240, 0);
    test_leaky_average(3, 29, 4, 16, 128, 1);
    test_head_scale("keys, one head past the cap", 75, 4, 16, 128, 10, 5);
    test_head_scale("persistent keys", 64, 6, 40, 240, 20, 5);
    test_head_scale("values", 75, 4, 16, 64, 10, INFINITY);
    test_value_shift(2, 37, 4, 16, 128);
    test_value_shift(1, 50, 3, 48, 144);
    test_pmem(70, 4, 16, 48, 1);
    test_pmem(64, 3, 32, 100, 2);
    bench(16, 1024);
    gpu::matmul_teardown();
    return lab_finish("mosaic");
}
