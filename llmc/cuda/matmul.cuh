/*
Matrix multiplies on the GPU through cuBLASLt. Tensors live in fp32 (activations, and the fp32 master
weights); in the default bf16 mode each multiply reads its two inputs as bf16 (converted on the way in)
and accumulates in fp32 into an fp32 result. `--precision fp32` multiplies in true fp32 (no TF32), which
is what the tests compare against the CPU trainer.

cuBLASLt is column-major; a row-major (rows, cols) matrix is a column-major (cols, rows) one, which the
wrappers below account for so that callers think row-major, like train_gpt.c.
*/
#ifndef LLMC_CUDA_MATMUL_CUH
#define LLMC_CUDA_MATMUL_CUH

#include "common.cuh"

namespace gpu {

struct MatmulContext {
    cublasLtHandle_t handle;
    void* workspace;
    size_t workspace_bytes;
    int bf16;                  // multiply in bf16 with fp32 accumulation (else true fp32)
    __nv_bfloat16* a16;        // conversion buffers for the two inputs
    __nv_bfloat16* b16;
    size_t capacity;           // elements each buffer holds
};
static MatmulContext matmul_ctx;

// bf16 mode converts inputs of up to max_elements; fp32 mode needs no buffers
static void matmul_setup(int bf16, size_t max_elements) {
    cublasCheck(cublasLtCreate(&matmul_ctx.handle));
    matmul_ctx.workspace_bytes = 32u << 20;
    matmul_ctx.workspace = cuda_calloc(matmul_ctx.workspace_bytes);
    matmul_ctx.bf16 = bf16;
    matmul_ctx.capacity = bf16 ? max_elements : 0;
    matmul_ctx.a16 = bf16 ? (__nv_bfloat16*)cuda_calloc(max_elements * sizeof(__nv_bfloat16)) : NULL;
    matmul_ctx.b16 = bf16 ? (__nv_bfloat16*)cuda_calloc(max_elements * sizeof(__nv_bfloat16)) : NULL;
}

static void matmul_teardown(void) {
    cudaCheck(cudaFree(matmul_ctx.workspace));
    if (matmul_ctx.a16) cudaCheck(cudaFree(matmul_ctx.a16));
    if (matmul_ctx.b16) cudaCheck(cudaFree(matmul_ctx.b16));
    cublasCheck(cublasLtDestroy(matmul_ctx.handle));
}

__global__ void to_bf16_kernel(__nv_bfloat16* out, const float* in, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2bfloat16(in[i]);
}

static const void* as_bf16(__nv_bfloat16* buffer, const float* x, size_t n) {
    if (n > matmul_ctx.capacity) die("matmul input of %zu elements exceeds the bf16 buffers (%zu)", n, matmul_ctx.capacity);
    to_bf16_kernel<<<ceil_div(n, 256), 256>>>(buffer, x, n);
    cudaCheckLaunch();
    return buffer;
}

// The largest power of two (up to 256) dividing the address and the batch stride in bytes. cuBLASLt's
// heuristic assumes 256-byte aligned matrices unless told otherwise, and its pick then fails on the
// views into larger buffers (Muon's scratch, a decode step's one-row activations).
static uint32_t alignment_bytes(const void* p, long long stride_bytes) {
    uintptr_t bits = (uintptr_t)p | (uintptr_t)stride_bytes | 256;
    return (uint32_t)(bits & (~bits + 1));
}

// Column-major D (m,n) = op(A) (m,k) @ op(B) (k,n) + beta * D, for `batch` matrices strideA/B/D apart.
// A is stored (m,k), or (k,m) when transA; B is (k,n), or (n,k) when transB.
static void gemm(float* d, const float* a, const float* b, int m, int n, int k, int transA, int transB, float beta, int batch,
                 long long strideA, long long strideB, long long strideD) {
    int lda = transA ? k : m, ldb = transB ? n : k;
    size_t a_elems = (size_t)(batch - 1) * strideA + (size_t)m * k, b_elems = (size_t)(batch - 1) * strideB + (size_t)k * n;
    const void* A = matmul_ctx.bf16 ? as_bf16(matmul_ctx.a16, a, a_elems) : (const void*)a;
    const void* Bm = matmul_ctx.bf16 ? as_bf16(matmul_ctx.b16, b, b_elems) : (const void*)b;
    cudaDataType_t in_type = matmul_ctx.bf16 ? CUDA_R_16BF : CUDA_R_32F;

    cublasLtMatmulDesc_t desc;
    cublasCheck(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N, opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)));
    cublasCheck(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)));
    cublasLtMatrixLayout_t la, lb, ld;
    cublasCheck(cublasLtMatrixLayoutCreate(&la, in_type, transA ? k : m, transA ? m : k, lda));
    cublasCheck(cublasLtMatrixLayoutCreate(&lb, in_type, transB ? n : k, transB ? k : n, ldb));
    cublasCheck(cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, m));
    if (batch > 1) {
        cublasLtMatrixLayout_t layouts[3] = {la, lb, ld};
        long long strides[3] = {strideA, strideB, strideD};
        for (int i = 0; i < 3; i++) {
            cublasCheck(cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof(batch)));
            cublasCheck(cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &strides[i],
                                                         sizeof(strides[i])));
        }
    }
    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &matmul_ctx.workspace_bytes,
                                                     sizeof(matmul_ctx.workspace_bytes)));
    size_t in_size = matmul_ctx.bf16 ? sizeof(__nv_bfloat16) : sizeof(float);
    uint32_t align_a = alignment_bytes(A, strideA * in_size), align_b = alignment_bytes(Bm, strideB * in_size);
    uint32_t align_d = alignment_bytes(d, strideD * sizeof(float));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof(align_d)));
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof(align_d)));
    cublasLtMatmulHeuristicResult_t heuristic;
    int found = 0;
    cublasCheck(cublasLtMatmulAlgoGetHeuristic(matmul_ctx.handle, desc, la, lb, ld, ld, pref, 1, &heuristic, &found));
    if (found == 0) die("cuBLASLt has no algorithm for a %dx%dx%d multiply (transA %d, transB %d, batch %d)", m, n, k, transA, transB, batch);
    float alpha = 1.0f;
    cublasCheck(cublasLtMatmul(matmul_ctx.handle, desc, &alpha, A, la, Bm, lb, &beta, d, ld, d, ld, &heuristic.algo,
                               matmul_ctx.workspace, matmul_ctx.workspace_bytes, 0));
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
    cublasCheck(cublasLtMatrixLayoutDestroy(la));
    cublasCheck(cublasLtMatrixLayoutDestroy(lb));
    cublasCheck(cublasLtMatrixLayoutDestroy(ld));
    cublasCheck(cublasLtMatmulDescDestroy(desc));
}

__global__ void add_bias_kernel(float* out, const float* bias, size_t N, int OC) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N * OC) out[i] += bias[i % OC];
}

// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC,) or no bias
static void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int N, int C, int OC) {
    gemm(out, weight, inp, OC, N, C, 1, 0, 0.0f, 1, 0, 0, 0);
    if (bias) {
        add_bias_kernel<<<ceil_div((size_t)N * OC, 256), 256>>>(out, bias, (size_t)N, OC);
        cudaCheckLaunch();
    }
}

// dinp (N,C) = dout (N,OC) @ weight (OC,C); dweight (OC,C) += dout^T @ inp; dbias (OC,) += column sums of dout
static void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                            int N, int C, int OC) {
    gemm(dinp, weight, dout, C, N, OC, 0, 0, 0.0f, 1, 0, 0, 0);
    gemm(dweight, inp, dout, C, OC, N, 0, 1, 1.0f, 1, 0, 0, 0);
    if (dbias) column_sum_accumulate(dbias, ColumnOf{dout, OC}, N, OC);
}

} // namespace gpu

#endif // LLMC_CUDA_MATMUL_CUH
