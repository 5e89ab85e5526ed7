// AdamW and Muon on the GPU against train_gpt.c (Muon batched over layers vs one matrix at a time), then
// what Newton-Schulz costs on GPT-2 124M's matrices (see lab.cuh).
#include "lab.cuh"
#include "../../llmc/cuda/optimizer.cuh"

static void test_adamw(void) {
    size_t n = 100001;
    float *p = host_random(n, 1), *g = host_random(n, 1), *m = host_random(n, 0.1), *v = host_random(n, 0.1);
    for (size_t i = 0; i < n; i++) v[i] = fabsf(v[i]);
    float *d_p = to_device(p, n), *d_g = to_device(g, n), *d_m = to_device(m, n), *d_v = to_device(v, n);
    float* before = to_host(d_p, n);
    AdamWConfig cfg = {3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f};
    adamw_update(p, g, m, v, n, &cfg, 0.1f, 0.7f, 9);
    gpu::adamw_update(d_p, d_g, d_m, d_v, n, &cfg, 0.1f, 0.7f, 9);
    check_update("adamw update", before, p, d_p, n, 1e-5);
    check("  first moment", m, d_m, n, 1e-6);
    check("  second moment", v, d_v, n, 1e-6);
    free(before);
}

// L layers of a (rows, cols) block inside matrices `stride` apart, as gpt_optimizer_step batches them
static void test_muon(int L, int rows, int cols, int polar_express, int bf16) {
    size_t stride = (size_t)rows * cols + 7, n = (size_t)L * stride;
    size_t block = (size_t)rows * cols;
    float *p = host_random(n, 0.1), *g = host_random(n, 1), *m = host_random((size_t)L * block, 0.3); // momentum packed
    float *d_p = to_device(p, n), *d_g = to_device(g, n), *d_m = to_device(m, (size_t)L * block);
    float* before = to_host(d_p, n);
    MuonConfig cfg = {0.02f, 0.95f, 0.1f, 5, polar_express, 0};
    float* cpu_scratch = (float*)mallocCheck(muon_scratch_size(L, rows, cols) * 4);
    muon_update(p, g, m, L, rows, cols, stride, &cfg, 0.02f, 0.95f, 0.8f, cpu_scratch);
    gpu::matmul_setup(bf16, (size_t)L * stride * 4);
    float* scratch = (float*)cuda_calloc(gpu::muon_scratch_size(L, rows, cols) * 4);
    gpu::muon_update(d_p, d_g, d_m, L, rows, cols, stride, &cfg, 0.02f, 0.95f, 0.8f, scratch);
    char what[96];
    snprintf(what, sizeof(what), "muon %s %d x (%dx%d)%s", bf16 ? "bf16" : "fp32", L, rows, cols, polar_express ? " Polar Express" : "");
    check_update(what, before, p, d_p, n, bf16 ? 3e-2 : 1e-4);
    check("  momentum", m, d_m, (size_t)L * block, 1e-6);
    gpu::matmul_teardown();
    free(before);
}

// Newton-Schulz on GPT-2 124M's hidden matrices (12 layers each): q, k, v, attproj 768x768; fc 3072x768;
// fcproj 768x3072
static void bench_newton_schulz(void) {
    gpu::matmul_setup(1, (size_t)12 * 3072 * 768);
    MuonConfig cfg = {0.02f, 0.95f, 0.0f, 5, 0, 0};
    int shapes[3][3] = {{4, 768, 768}, {1, 3072, 768}, {1, 768, 3072}}; // {how many per layer, rows, cols}
    double total = 0;
    for (int i = 0; i < 3; i++) {
        int rows = shapes[i][1], cols = shapes[i][2];
        size_t n = (size_t)12 * rows * cols;
        float *p = (float*)cuda_calloc(n * 4), *g = (float*)cuda_calloc(n * 4), *m = (float*)cuda_calloc(n * 4);
        float* scratch = (float*)cuda_calloc(gpu::muon_scratch_size(12, rows, cols) * 4);
        double ms = time_ms([&] { gpu::muon_update(p, g, m, 12, rows, cols, (size_t)rows * cols, &cfg, 0.02f, 0.95f, 1.0f, scratch); }, 5);
        total += ms * shapes[i][0];
        printf("     muon on 12 x (%dx%d), bf16: %.2f ms\n", rows, cols, ms);
    }
    printf("     GPT-2 124M's Muon step: %.1f ms\n", total);
    gpu::matmul_teardown();
}

int main(void) {
    lab_start();
    test_adamw();
    for (int bf16 = 0; bf16 <= 1; bf16++) {
        test_muon(3, 48, 64, 0, bf16);
        test_muon(2, 96, 32, 0, bf16); // tall: orthogonalised as its transpose
        test_muon(4, 40, 40, 1, bf16);
    }
    bench_newton_schulz();
    return lab_finish("optimizer");
}
