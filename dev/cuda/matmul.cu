// Matmuls through cuBLASLt (fp32, and bf16 inputs with fp32 accumulation) against train_gpt.c's, then
// their speed on GPT-2 124M's shapes (see lab.cuh).
#include "lab.cuh"
#include "../../llmc/cuda/matmul.cuh"

// misalign shifts every device tensor one float off cudaMalloc's 256-byte alignment, as views into the
// trainer's larger buffers are
static void test_matmul(int N, int C, int OC, int bf16, int misalign) {
    double tol = bf16 ? 2e-2 : 1e-5;
    float *inp = host_random((size_t)N * C, 1), *w = host_random((size_t)OC * C, 1), *bias = host_random(OC, 1);
    float *dout = host_random((size_t)N * OC, 1), *out = (float*)callocCheck((size_t)N * OC, 4);
    float *dinp = (float*)callocCheck((size_t)N * C, 4), *dw = (float*)callocCheck((size_t)OC * C, 4), *db = (float*)callocCheck(OC, 4);
    matmul_forward(out, inp, w, bias, N, C, OC);
    matmul_backward(dinp, dw, db, dout, inp, w, N, C, OC);
    // one device block holds the eight tensors; each starts misalign floats past a 64-float boundary
    size_t sizes[8] = {(size_t)N * C, (size_t)OC * C, (size_t)OC, (size_t)N * OC, (size_t)N * OC, (size_t)N * C, (size_t)OC * C, (size_t)OC};
    size_t total = 0, at[8];
    for (int i = 0; i < 8; i++) {
        at[i] = total + misalign;
        total += ceil_div(sizes[i] + misalign, 64) * 64;
    }
    float* block = (float*)cuda_calloc(total * 4);
    float *d_inp = block + at[0], *d_w = block + at[1], *d_bias = block + at[2], *d_dout = block + at[3];
    float *d_out = block + at[4], *d_dinp = block + at[5], *d_dw = block + at[6], *d_db = block + at[7];
    const float* host[4] = {inp, w, bias, dout};
    for (int i = 0; i < 4; i++) cudaCheck(cudaMemcpy(block + at[i], host[i], sizes[i] * 4, cudaMemcpyHostToDevice));
    gpu::matmul_forward(d_out, d_inp, d_w, d_bias, N, C, OC);
    gpu::matmul_backward(d_dinp, d_dw, d_db, d_dout, d_inp, d_w, N, C, OC);
    char what[96];
    snprintf(what, sizeof(what), "matmul %s forward %dx%d->%d%s", bf16 ? "bf16" : "fp32", N, C, OC, misalign ? ", misaligned" : "");
    check(what, out, d_out, (size_t)N * OC, tol);
    check("  backward dinp", dinp, d_dinp, (size_t)N * C, tol);
    check("  backward dweight", dw, d_dw, (size_t)OC * C, tol);
    check("  backward dbias", db, d_db, OC, 1e-4);
    cudaCheck(cudaFree(block));
    free(inp); free(w); free(bias); free(dout); free(out); free(dinp); free(dw); free(db);
}

// forward + backward of GPT-2 124M's matmuls at N = 8*1024 rows
static void bench(int bf16) {
    int N = 8 * 1024, shapes[4][2] = {{768, 2304}, {768, 3072}, {3072, 768}, {768, 50304}};
    for (int i = 0; i < 4; i++) {
        int C = shapes[i][0], OC = shapes[i][1];
        float *inp = (float*)cuda_calloc((size_t)N * C * 4), *w = (float*)cuda_calloc((size_t)OC * C * 4), *out = (float*)cuda_calloc((size_t)N * OC * 4);
        float *dinp = (float*)cuda_calloc((size_t)N * C * 4), *dw = (float*)cuda_calloc((size_t)OC * C * 4);
        double f = time_ms([&] { gpu::matmul_forward(out, inp, w, NULL, N, C, OC); }, 10);
        double b = time_ms([&] { gpu::matmul_backward(dinp, dw, NULL, out, inp, w, N, C, OC); }, 10);
        double flops = 2.0 * N * C * (double)OC;
        printf("     %s %dx%d->%d: forward %.3f ms (%.0f TFLOP/s), backward %.3f ms (%.0f TFLOP/s)\n", bf16 ? "bf16" : "fp32", N, C, OC, f,
               flops / (f * 1e9), b, 2 * flops / (b * 1e9));
        cudaCheck(cudaFree(inp)); cudaCheck(cudaFree(w)); cudaCheck(cudaFree(out)); cudaCheck(cudaFree(dinp)); cudaCheck(cudaFree(dw));
    }
}

int main(void) {
    lab_start();
    for (int bf16 = 0; bf16 <= 1; bf16++) {
        gpu::matmul_setup(bf16, (size_t)8 * 1024 * 50304);
        test_matmul(256, 768, 2304, bf16, 0);
        test_matmul(257, 65, 131, bf16, 0);
        test_matmul(1, 48, 257, bf16, 0);
        test_matmul(64, 96, 160, bf16, 1);
        test_matmul(1, 48, 257, bf16, 1);
        bench(bf16);
        gpu::matmul_teardown();
    }
    return lab_finish("matmul");
}
