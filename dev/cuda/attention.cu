// The causal attention core on the GPU (flash-style: log-sum-exp, recomputed probabilities) against
// train_gpt.c's (which stores probabilities), for the layouts every variant uses, then its speed.
#include "lab.cuh"
#include "../../llmc/cuda/attention.cuh"

// Rows pack [q (H heads of d1+d2) | k1 (Hkv heads) | k2 (d2) | v (Hkv heads of dv)]; tied: v is k1 itself
// (GTA's state), so the gradients of k1 and v share memory.
static void test_attention(const char* label, int B, int T, int H, int Hkv, int d1, int d2, int dv, int tied) {
    int k1_head = tied ? dv : d1, q_w = H * (d1 + d2), k1_w = Hkv * k1_head;
    int stride = q_w + k1_w + d2 + (tied ? 0 : Hkv * dv);
    size_t n = (size_t)B * T * stride, nout = (size_t)B * T * H * dv;
    AttentionDims d = {H, Hkv, d1, d2, dv, stride, stride, stride, stride, H * dv, k1_head, tied ? k1_head : dv,
                       1.0 / sqrt((double)(d1 + d2))};
    float *x = host_random(n, 1), *dout = host_random(nout, 1);
    const float *q = x, *k1 = x + q_w, *k2 = d2 ? k1 + k1_w : NULL, *v = tied ? k1 : k1 + k1_w + d2;
    float *out = (float*)callocCheck(nout, 4), *att = (float*)callocCheck((size_t)B * H * T * T, 4);
    float *dx = (float*)callocCheck(n, 4), *scratch = (float*)callocCheck((size_t)B * Hkv * T * (1 + d2), 4);
    attention_forward(out, att, q, k1, k2, v, B, T, T, &d);
    attention_backward(dx, dx + q_w, d2 ? dx + q_w + k1_w : NULL, tied ? dx + q_w : dx + q_w + k1_w + d2, scratch, dout, out, att, q,
                       k1, k2, v, B, T, &d);
    float *d_x = to_device(x, n), *d_dout = to_device(dout, nout), *d_out = (float*)cuda_calloc(nout * 4);
    float *d_lse = (float*)cuda_calloc((size_t)B * H * T * 4), *d_dx = (float*)cuda_calloc(n * 4);
    float* d_scratch = (float*)cuda_calloc(gpu::attention_scratch_size(B, T, &d) * 4);
    const float *gq = d_x, *gk1 = d_x + q_w, *gk2 = d2 ? gk1 + k1_w : NULL, *gv = tied ? gk1 : gk1 + k1_w + d2;
    gpu::attention_forward(d_out, d_lse, gq, gk1, gk2, gv, B, T, T, &d);
    gpu::attention_backward(d_dx, d_dx + q_w, d2 ? d_dx + q_w + k1_w : NULL, tied ? d_dx + q_w : d_dx + q_w + k1_w + d2, d_scratch, d_dout,
                            d_out, d_lse, gq, gk1, gk2, gv, B, T, &d);
    char what[128];
    snprintf(what, sizeof(what), "attention %s forward B=%d T=%d", label, B, T);
    check(what, out, d_out, nout, 1e-5);
    check("  backward dq|dk|dv", dx, d_dx, n, 1e-4);
    // decoding: the last query alone against all T keys
    float *out1 = (float*)callocCheck((size_t)B * H * dv, 4), *att1 = (float*)callocCheck((size_t)B * H * T, 4);
    float* d_out1 = (float*)cuda_calloc((size_t)B * H * dv * 4);
    size_t last = (size_t)(T - 1) * stride;
    AttentionDims d1row = d;
    attention_forward(out1, att1, q + last, k1, k2, v, B, 1, T, &d1row);
    gpu::attention_forward(d_out1, d_lse, gq + last, gk1, gk2, gv, B, 1, T, &d1row);
    check("  decoding one query over the cache", out1, d_out1, (size_t)B * H * dv, 1e-5);
    cudaCheck(cudaFree(d_x)); cudaCheck(cudaFree(d_dout)); cudaCheck(cudaFree(d_out)); cudaCheck(cudaFree(d_lse));
    cudaCheck(cudaFree(d_dx)); cudaCheck(cudaFree(d_scratch)); cudaCheck(cudaFree(d_out1));
    free(x); free(dout); free(out); free(att); free(dx); free(scratch); free(out1); free(att1);
}

// GPT-2 124M-shaped attention (H=12, dh=64), T=1024: forward and backward time
static void bench(int B, int T) {
    int H = 12, dh = 64, stride = 3 * H * dh;
    AttentionDims d = {H, H, dh, 0, dh, stride, stride, 0, stride, H * dh, dh, dh, 1.0 / sqrt((double)dh)};
    float *x = (float*)cuda_calloc((size_t)B * T * stride * 4), *dx = (float*)cuda_calloc((size_t)B * T * stride * 4);
    float *out = (float*)cuda_calloc((size_t)B * T * H * dh * 4), *lse = (float*)cuda_calloc((size_t)B * H * T * 4);
    float* scratch = (float*)cuda_calloc(gpu::attention_scratch_size(B, T, &d) * 4);
    double f = time_ms([&] { gpu::attention_forward(out, lse, x, x + H * dh, NULL, x + 2 * H * dh, B, T, T, &d); }, 5);
    double b = time_ms([&] {
        gpu::attention_backward(dx, dx + H * dh, NULL, dx + 2 * H * dh, scratch, out, out, lse, x, x + H * dh, NULL, x + 2 * H * dh, B, T, &d);
    }, 5);
    double flops = 4.0 * B * H * (double)T * T / 2 * dh; // causal: half of QK^T and PV
    printf("     B=%d T=%d H=%d dh=%d: forward %.2f ms (%.1f TFLOP/s), backward %.2f ms (%.1f TFLOP/s)\n", B, T, H, dh, f, flops / (f * 1e9), b,
           2.5 * flops / (b * 1e9));
}

int main(void) {
    lab_start();
    test_attention("MHA", 2, 37, 4, 4, 32, 0, 32, 0);
    test_attention("GQA H=8 Hkv=2", 2, 64, 8, 2, 16, 0, 16, 0);
    test_attention("MQA", 1, 33, 6, 1, 24, 0, 24, 0);
    test_attention("shared RoPE key (MLA)", 2, 40, 4, 4, 32, 16, 32, 0);
    test_attention("GTA tied k1 = v, shared key", 2, 50, 8, 2, 24, 8, 32, 1);
    test_attention("absorbed-decode widths (d1=256)", 1, 20, 4, 1, 256, 32, 256, 0);
    test_attention("MLA decode at d_h=128 (d1=512, d2=64)", 1, 20, 4, 1, 512, 64, 512, 0);
    bench(4, 1024);
    return lab_finish("attention");
}
