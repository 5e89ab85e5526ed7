// LayerNorm and RMSNorm on the GPU against train_gpt.c, then their speed (see lab.cuh).
#include "lab.cuh"
#include "../../llmc/cuda/layers.cuh"

static void test_layernorm(int N, int C) {
    float *inp = host_random((size_t)N * C, 1), *w = host_random(C, 1), *b = host_random(C, 1), *dout = host_random((size_t)N * C, 1);
    float *out = (float*)callocCheck((size_t)N * C, 4), *mean = (float*)callocCheck(N, 4), *rstd = (float*)callocCheck(N, 4);
    float *dinp = (float*)callocCheck((size_t)N * C, 4), *dw = (float*)callocCheck(C, 4), *db = (float*)callocCheck(C, 4);
    layernorm_forward(out, mean, rstd, inp, w, b, N, C);
    layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
    float *d_inp = to_device(inp, (size_t)N * C), *d_w = to_device(w, C), *d_b = to_device(b, C), *d_dout = to_device(dout, (size_t)N * C);
    float *d_out = (float*)cuda_calloc((size_t)N * C * 4), *d_mean = (float*)cuda_calloc(N * 4), *d_rstd = (float*)cuda_calloc(N * 4);
    float *d_dinp = (float*)cuda_calloc((size_t)N * C * 4), *d_dw = (float*)cuda_calloc(C * 4), *d_db = (float*)cuda_calloc(C * 4);
    gpu::layernorm_forward(d_out, d_mean, d_rstd, d_inp, d_w, d_b, N, C);
    gpu::layernorm_backward(d_dinp, d_dw, d_db, d_dout, d_inp, d_w, d_mean, d_rstd, N, C);
    char what[96];
    snprintf(what, sizeof(what), "layernorm forward N=%d C=%d", N, C);
    check(what, out, d_out, (size_t)N * C, 1e-5);
    check("  mean", mean, d_mean, N, 1e-5);
    check("  rstd", rstd, d_rstd, N, 1e-5);
    check("  backward dinp", dinp, d_dinp, (size_t)N * C, 1e-5);
    check("  backward dweight (sums over N rows)", dw, d_dw, C, 1e-4);
    check("  backward dbias", db, d_db, C, 1e-4);
    double ms = time_ms([&] { gpu::layernorm_forward(d_out, d_mean, d_rstd, d_inp, d_w, d_b, N, C); }, 20);
    printf("     forward %.3f ms, %.0f GB/s\n", ms, 2.0 * N * C * 4 / (ms * 1e6));
}

static void test_rmsnorm(int N, int C, int stride) {
    float *inp = host_random((size_t)N * stride, 1), *w = host_random(C, 1), *dout = host_random((size_t)N * C, 1);
    float *out = (float*)callocCheck((size_t)N * C, 4), *rstd = (float*)callocCheck(N, 4);
    float *dinp = (float*)callocCheck((size_t)N * stride, 4), *dw = (float*)callocCheck(C, 4);
    rmsnorm_forward(out, rstd, inp, w, N, C, stride);
    rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, C, stride);
    float *d_inp = to_device(inp, (size_t)N * stride), *d_w = to_device(w, C), *d_dout = to_device(dout, (size_t)N * C);
    float *d_out = (float*)cuda_calloc((size_t)N * C * 4), *d_rstd = (float*)cuda_calloc(N * 4);
    float *d_dinp = (float*)cuda_calloc((size_t)N * stride * 4), *d_dw = (float*)cuda_calloc(C * 4);
    gpu::rmsnorm_forward(d_out, d_rstd, d_inp, d_w, N, C, stride);
    gpu::rmsnorm_backward(d_dinp, d_dw, d_dout, d_inp, d_w, d_rstd, N, C, stride);
    char what[96];
    snprintf(what, sizeof(what), "rmsnorm forward N=%d C=%d of rows %d", N, C, stride);
    check(what, out, d_out, (size_t)N * C, 1e-5);
    check("  backward dinp (strided rows)", dinp, d_dinp, (size_t)N * stride, 1e-5);
    check("  backward dweight", dw, d_dw, C, 1e-4);
}

int main(void) {
    lab_start();
    test_layernorm(2048, 768);
    test_layernorm(333, 100);
    test_rmsnorm(1024, 256, 288);
    test_rmsnorm(77, 33, 33);
    return lab_finish("layernorm");
}
