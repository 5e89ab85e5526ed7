// The embedding, GELU, the residual add, RoPE and the classifier on the GPU against train_gpt.c, then
// the classifier's speed at GPT-2's vocabulary (see lab.cuh).
#include "lab.cuh"
#include "../../llmc/cuda/layers.cuh"
#include "../../llmc/cuda/optimizer.cuh"

static void test_encoder(void) {
    int B = 4, T = 64, C = 96, V = 300;
    int* inp = (int*)mallocCheck((size_t)B * T * sizeof(int));
    for (int i = 0; i < B * T; i++) inp[i] = (int)(random_u32(&lab_rng) % 17) * 13; // repeated tokens
    float *wte = host_random((size_t)V * C, 1), *wpe = host_random((size_t)T * C, 1), *dout = host_random((size_t)B * T * C, 1);
    float *out = (float*)callocCheck((size_t)B * T * C, 4), *dwte = (float*)callocCheck((size_t)V * C, 4), *dwpe = (float*)callocCheck((size_t)T * C, 4);
    encoder_forward(out, inp, wte, wpe, B, T, C);
    encoder_backward(dwte, dwpe, dout, inp, B, T, C);
    int* d_inp = (int*)cuda_calloc((size_t)B * T * sizeof(int));
    cudaCheck(cudaMemcpy(d_inp, inp, (size_t)B * T * sizeof(int), cudaMemcpyHostToDevice));
    float *d_wte = to_device(wte, (size_t)V * C), *d_wpe = to_device(wpe, (size_t)T * C), *d_dout = to_device(dout, (size_t)B * T * C);
    float *d_out = (float*)cuda_calloc((size_t)B * T * C * 4), *d_dwte = (float*)cuda_calloc((size_t)V * C * 4);
    float* d_dwpe = (float*)cuda_calloc((size_t)T * C * 4);
    gpu::encoder_forward(d_out, d_inp, d_wte, d_wpe, B, T, C);
    gpu::encoder_backward(d_dwte, d_dwpe, d_dout, inp, B, T, C);
    check("embedding forward", out, d_out, (size_t)B * T * C, 1e-6);
    check("  backward dwte (17 tokens repeated)", dwte, d_dwte, (size_t)V * C, 1e-5);
    check("  backward dwpe", dwpe, d_dwpe, (size_t)T * C, 1e-5);
}

static void test_gelu_residual(void) {
    size_t n = 100003;
    float *x = host_random(n, 2), *y = host_random(n, 1), *dout = host_random(n, 1);
    float *out = (float*)callocCheck(n, 4), *dinp = (float*)callocCheck(n, 4), *sum = (float*)callocCheck(n, 4);
    gelu_forward(out, x, n);
    gelu_backward(dinp, x, dout, n);
    residual_forward(sum, x, y, n);
    float *d_x = to_device(x, n), *d_y = to_device(y, n), *d_dout = to_device(dout, n);
    float *d_out = (float*)cuda_calloc(n * 4), *d_dinp = (float*)cuda_calloc(n * 4), *d_sum = (float*)cuda_calloc(n * 4);
    gpu::gelu_forward(d_out, d_x, n);
    gpu::gelu_backward(d_dinp, d_x, d_dout, n);
    gpu::residual_forward(d_sum, d_x, d_y, n);
    check("gelu forward", out, d_out, n, 1e-5);
    check("gelu backward", dinp, d_dinp, n, 1e-5);
    check("residual", sum, d_sum, n, 1e-6);
}

static void test_rope(void) {
    int B = 2, T = 40, heads = 3, head_stride = 24, rot = 16, pos0 = 5, maxT = 64, half = rot / 2, row = heads * head_stride + 4;
    float *cs = (float*)mallocCheck((size_t)maxT * half * 4), *sn = (float*)mallocCheck((size_t)maxT * half * 4);
    for (int p = 0; p < maxT; p++) {
        for (int i = 0; i < half; i++) {
            double a = p * pow(10000.0, -2.0 * i / rot);
            cs[p * half + i] = (float)cos(a);
            sn[p * half + i] = (float)sin(a);
        }
    }
    size_t n = (size_t)B * T * row;
    float *x = host_random(n, 1), *y = (float*)mallocCheck(n * 4);
    memcpy(y, x, n * 4);
    rope_forward(y, cs, sn, B, T, pos0, heads, row, head_stride, rot);
    float *d_y = to_device(x, n), *d_cs = to_device(cs, (size_t)maxT * half), *d_sn = to_device(sn, (size_t)maxT * half);
    gpu::rope_forward(d_y, d_cs, d_sn, B, T, pos0, heads, row, head_stride, rot);
    check("rope forward (a slice of each head, pos0 5)", y, d_y, n, 1e-6);
    rope_backward(y, cs, sn, B, T, pos0, heads, row, head_stride, rot);
    gpu::rope_backward(d_y, d_cs, d_sn, B, T, pos0, heads, row, head_stride, rot);
    check("rope backward", y, d_y, n, 1e-6);
}

static void test_classifier(int N, int V, int Vp) {
    float* logits = host_random((size_t)N * Vp, 3);
    int* targets = (int*)mallocCheck(N * sizeof(int));
    for (int i = 0; i < N; i++) targets[i] = (int)(random_u32(&lab_rng) % V);
    float *losses = (float*)callocCheck(N, 4), *dlogits = (float*)callocCheck((size_t)N * Vp, 4);
    crossentropy_forward_reference(losses, logits, targets, N, V, Vp);
    crossentropy_backward_reference(dlogits, logits, targets, 1.0f / N, N, V, Vp);
    float *d_logits = to_device(logits, (size_t)N * Vp), *d_losses = (float*)cuda_calloc(N * 4), *d_lse = (float*)cuda_calloc(N * 4);
    int* d_targets = (int*)cuda_calloc(N * sizeof(int));
    cudaCheck(cudaMemcpy(d_targets, targets, N * sizeof(int), cudaMemcpyHostToDevice));
    gpu::crossentropy_forward(d_losses, d_lse, d_logits, d_targets, N, V, Vp);
    gpu::crossentropy_backward(d_logits, d_lse, d_logits, d_targets, 1.0f / N, N, V, Vp);
    char what[96];
    snprintf(what, sizeof(what), "classifier losses N=%d V=%d", N, V);
    check(what, losses, d_losses, N, 1e-5);
    check("  gradient in place of the logits (padding zero)", dlogits, d_logits, (size_t)N * Vp, 1e-5);
    double ms = time_ms([&] { gpu::crossentropy_forward(d_losses, d_lse, d_logits, d_targets, N, V, Vp); }, 10);
    printf("     loss pass %.3f ms, %.0f GB/s over the logits\n", ms, (double)N * Vp * 4 / (ms * 1e6));
}

static void test_sum_squares(void) {
    size_t n = 1234567;
    float* x = host_random(n, 1);
    double want = 0;
    for (size_t i = 0; i < n; i++) want += (double)x[i] * x[i];
    float* d_x = to_device(x, n);
    double got = gpu::sum_squares(d_x, n), again = gpu::sum_squares(d_x, n);
    Comparison c = compare_scalar(want, got, 1e-5);
    char figure[256];
    compare_describe(&c, figure, sizeof(figure));
    int ok = c.ok && got == again;
    lab_failures += !ok;
    printf("%-4s %-52s %s, repeatable %s\n", ok ? "ok" : "FAIL", "sum of squares (gradient norm)", figure, got == again ? "bit for bit" : "NO");
}

int main(void) {
    lab_start();
    test_encoder();
    test_gelu_residual();
    test_rope();
    test_classifier(64, 257, 384);
    test_classifier(1024, 50257, 50304);
    test_sum_squares();
    return lab_finish("elementwise");
}
