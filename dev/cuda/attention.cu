// The causal attention core on the GPU (flash-style: log-sum-exp, recomputed probabilities) against
// train_gpt.c's (which stores probabilities), for the layouts every variant uses, then its speed.
#include "lab.cuh"
#include "../../llmc/cuda/attention.cuh"

// Tq query rows (B,Tq,[q (H heads of d1+d2)]) over Tk >= Tq key rows (B,Tk,[k1 (Hkv heads) | k2 (d2) | v
// (Hkv heads of dv)]), the first Tk - Tq a carried memory; tied: v is k1 itself (GTA's state), so the
// gradients of k1 and v share memory.
static void test_attention(const char* label, int B, int Tq, int Tk, int H, int Hkv, int d1, int d2, int dv, int tied) {
    int k1_head = tied ? dv : d1, q_w = H * (d1 + d2), k1_w = Hkv * k1_head, kv_w = k1_w + d2 + (tied ? 0 : Hkv * dv);
    size_t nq = (size_t)B * Tq * q_w, nkv = (size_t)B * Tk * kv_w, nout = (size_t)B * Tq * H * dv;
    AttentionDims d = {H, Hkv, d1, d2, dv, q_w, kv_w, kv_w, kv_w, H * dv, k1_head, tied ? k1_head : dv, 1.0 / sqrt((double)(d1 + d2))};
    float *q = host_random(nq, 1), *kv = host_random(nkv, 1), *dout = host_random(nout, 1);
    const float *k1 = kv, *k2 = d2 ? kv + k1_w : NULL, *v = tied ? kv : kv + k1_w + d2;
    float *out = (float*)callocCheck(nout, 4), *att = (float*)callocCheck(attention_state_size(B, H, Tq, Tk), 4);
    float *dq = (float*)callocCheck(nq, 4), *dkv = (float*)callocCheck(nkv, 4);
    float* scratch = (float*)callocCheck(attention_scratch_size(B, Tq, Tk, &d), 4);
    attention_forward(out, att, q, k1, k2, v, B, Tq, Tk, &d);
    attention_backward(dq, dkv, d2 ? dkv + k1_w : NULL, tied ? dkv : dkv + k1_w + d2, scratch, dout, out, att, q, k1, k2, v, B, Tq, Tk, &d);
    float *gq = to_device(q, nq), *gkv = to_device(kv, nkv), *d_dout = to_device(dout, nout), *d_out = (float*)cuda_calloc(nout * 4);
    float *d_lse = (float*)cuda_calloc(gpu::attention_state_size(B, H, Tq, Tk) * 4), *d_dq = (float*)cuda_calloc(nq * 4);
    float *d_dkv = (float*)cuda_calloc(nkv * 4), *d_scratch = (float*)cuda_calloc(gpu::attention_scratch_size(B, Tq, Tk, &d) * 4);
    const float *gk1 = gkv, *gk2 = d2 ? gkv + k1_w : NULL, *gv = tied ? gkv : gkv + k1_w + d2;
    gpu::attention_forward(d_out, d_lse, gq, gk1, gk2, gv, B, Tq, Tk, &d);
    gpu::attention_backward(d_dq, d_dkv, d2 ? d_dkv + k1_w : NULL, tied ? d_dkv : d_dkv + k1_w + d2, d_scratch, d_dout, d_out, d_lse, gq,
                            gk1, gk2, gv, B, Tq, Tk, &d);
    char what[128];
    snprintf(what, sizeof(what), "attention %s forward B=%d Tq=%d Tk=%d", label, B, Tq, Tk);
    check(what, out, d_out, nout, 1e-5);
    check("  backward dq", dq, d_dq, nq, 1e-4);
    check("  backward dk|dv (every key, the memory's too)", dkv, d_dkv, nkv, 1e-4);
    // decoding: the last query alone against all Tk keys
    float *out1 = (float*)callocCheck((size_t)B * H * dv, 4), *att1 = (float*)callocCheck((size_t)B * H * Tk, 4);
    float* d_out1 = (float*)cuda_calloc((size_t)B * H * dv * 4);
    AttentionDims d1row = d;
    d1row.q_stride = Tq * q_w; // one row per sequence
    size_t last = (size_t)(Tq - 1) * q_w;
    attention_forward(out1, att1, q + last, k1, k2, v, B, 1, Tk, &d1row);
    gpu::attention_forward(d_out1, d_lse, gq + last, gk1, gk2, gv, B, 1, Tk, &d1row);
    check("  decoding one query over the cache", out1, d_out1, (size_t)B * H * dv, 1e-5);
    cudaCheck(cudaFree(gq)); cudaCheck(cudaFree(gkv)); cudaCheck(cudaFree(d_dout)); cudaCheck(cudaFree(d_out)); cudaCheck(cudaFree(d_lse));
    cudaCheck(cudaFree(d_dq)); cudaCheck(cudaFree(d_dkv)); cudaCheck(cudaFree(d_scratch)); cudaCheck(cudaFree(d_out1));
    free(q); free(kv); free(dout); free(out); free(att); free(dq); free(dkv); free(scratch); free(out1); free(att1);
}

// GPT-2 124M-shaped attention (H=12, dh=64), T=1024: forward and backward time
static void bench(int B, int T) {
    int H = 12, dh = 64, stride = 3 * H * dh;
    AttentionDims d = {H, H, dh, 0, dh, stride, stride, 0, stride, H * dh, dh, dh, 1.0 / sqrt((double)dh)};
    float *x = (float*)cuda_calloc((size_t)B * T * stride * 4), *dx = (float*)cuda_calloc((size_t)B * T * stride * 4);
    float *out = (float*)cuda_calloc((size_t)B * T * H * dh * 4), *lse = (float*)cuda_calloc((size_t)B * H * T * 4);
    float* scratch = (float*)cuda_calloc(gpu::attention_scratch_size(B, T, T, &d) * 4);
    double f = time_ms([&] { gpu::attention_forward(out, lse, x, x + H * dh, NULL, x + 2 * H * dh, B, T, T, &d); }, 5);
    double b = time_ms([&] {
        gpu::attention_backward(dx, dx + H * dh, NULL, dx + 2 * H * dh, scratch, out, out, lse, x, x + H * dh, NULL, x + 2 * H * dh, B, T, T, &d);
    }, 5);
    double flops = 4.0 * B * H * (double)T * T / 2 * dh; // causal: half of QK^T and PV
    printf("     B=%d T=%d H=%d dh=%d: forward %.2f ms (%.1f TFLOP/s), backward %.2f ms (%.1f TFLOP/s)\n", B, T, H, dh, f, flops / (f * 1e9), b,
           2.5 * flops / (b * 1e9));
}

int main(void) {
    lab_start();
    test_attention("MHA", 2, 37, 37, 4, 4, 32, 0, 32, 0);
    test_attention("GQA H=8 Hkv=2", 2, 64, 64, 8, 2, 16, 0, 16, 0);
    test_attention("MQA", 1, 33, 33, 6, 1, 24, 0, 24, 0);
    test_attention("shared RoPE key (MLA)", 2, 40, 40, 4, 4, 32, 16, 32, 0);
    test_attention("GTA tied k1 = v, shared key", 2, 50, 50, 8, 2, 24, 8, 32, 1);
    test_attention("absorbed-decode widths (d1=256)", 1, 20, 20, 4, 1, 256, 32, 256, 0);
    test_attention("MLA decode at d_h=128 (d1=512, d2=64)", 1, 20, 20, 4, 1, 512, 64, 512, 0);
    // a carried memory of Tk - Tq keys, shorter and longer than the segment, across the warps' 32 keys
    test_attention("MHA over a memory", 2, 37, 50, 4, 4, 32, 0, 32, 0);
    test_attention("GQA H=8 Hkv=2 over a memory", 2, 20, 90, 8, 2, 16, 0, 16, 0);
    test_attention("GTA tied k1 = v, shared key, over a memory", 2, 5, 70, 8, 2, 24, 8, 32, 1);
    bench(4, 1024);
    return lab_finish("attention");
}
