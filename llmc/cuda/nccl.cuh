/*
Data parallelism across GPUs with NCCL: one process per GPU. The processes learn their rank from MPI
(`make train_gptcu USE_MPI=1`, launched by mpirun) or from --num-processes / --process-rank, and share
NCCL's unique id through MPI or through --dist-init (llmc/rendezvous.h). Gradients and losses are
averaged with ncclAvg; ZeRO-1's owners broadcast the parameters they updated. Gradients are averaged on
a stream of their own, one layer at a time while the backward pass computes the layers below.
*/
#ifndef LLMC_CUDA_NCCL_CUH
#define LLMC_CUDA_NCCL_CUH

#include <nccl.h>
#include "../distributed.h"
#include "../rendezvous.h"
#include "common.cuh"

static void nccl_check_at(ncclResult_t r, const char* file, int line) {
    if (r != ncclSuccess) die_at(file, line, "check that every process sees its GPU and the others (NCCL_DEBUG=INFO says more)", "NCCL error: %s",
                                 ncclGetErrorString(r));
}
#define ncclCheck(r) nccl_check_at((r), __FILE__, __LINE__)

namespace gpu {

struct GpuGroup {
    Dist dist;            // rank and size of this process
    ncclComm_t comm;      // NULL for one process
    float* scalar;        // one float on the device, for averaging losses
    cudaStream_t stream;  // the gradient averages overlapped with the backward pass
    cudaEvent_t written;  // on the default stream: the gradients queued for averaging are written
    cudaEvent_t averaged; // on `stream`: every average queued so far is done
};

// One GPU per process (rank % visible GPUs) and, with several processes, the NCCL communicator. A launch
// without MPI gives num_processes > 1, this process's rank and how they meet (dist_init: rendezvous.h).
static GpuGroup gpu_group_init(Dist dist, int num_processes, int process_rank, const char* dist_init) {
    GpuGroup g;
    memset(&g, 0, sizeof(g));
    if (dist.size == 1 && num_processes > 1) { // launched without MPI
        dist.rank = process_rank;
        dist.size = num_processes;
    }
    g.dist = dist;
    int devices = 0;
    cudaCheck(cudaGetDeviceCount(&devices));
    cudaCheck(cudaSetDevice(dist.rank % devices));
    g.scalar = (float*)cuda_calloc(sizeof(float));
    if (dist.size == 1) return g;
    ncclUniqueId id;
    if (dist.rank == 0) ncclCheck(ncclGetUniqueId(&id));
#ifdef USE_MPI
    if (num_processes == 1) dist_broadcast(&dist, &id, sizeof(id), 0);
    else rendezvous(dist_init, dist.rank, dist.size, &id, sizeof(id));
#else
    rendezvous(dist_init, dist.rank, dist.size, &id, sizeof(id));
#endif
    ncclCheck(ncclCommInitRank(&g.comm, dist.size, id, dist.rank));
    // non-blocking: the legacy default stream, which runs the trainer's kernels, must not wait for it
    cudaCheck(cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking));
    cudaCheck(cudaEventCreateWithFlags(&g.written, cudaEventDisableTiming));
    cudaCheck(cudaEventCreateWithFlags(&g.averaged, cudaEventDisableTiming));
    return g;
}

// x (n,) on the device <- its mean over the processes
static void gpu_mean(GpuGroup* g, float* x, size_t n) {
    if (g->dist.size == 1 || n == 0) return;
    ncclCheck(ncclAllReduce(x, x, n, ncclFloat, ncclAvg, g->comm, 0));
}

// Averages overlapped with the work that follows on the default stream: between gpu_mean_async_begin and
// _end, each gpu_mean_async(x, n) queues x's average on the group's stream, to start once the kernels
// queued so far on the default stream are done (one NCCL group: one launch for the lot).
// gpu_mean_async_wait makes the default stream wait for every average queued.
static void gpu_mean_async_begin(GpuGroup* g) {
    cudaCheck(cudaEventRecord(g->written, 0));
    cudaCheck(cudaStreamWaitEvent(g->stream, g->written, 0));
    ncclCheck(ncclGroupStart());
}

static void gpu_mean_async(GpuGroup* g, float* x, size_t n) {
    if (n > 0) ncclCheck(ncclAllReduce(x, x, n, ncclFloat, ncclAvg, g->comm, g->stream));
}

static void gpu_mean_async_end(GpuGroup* g) { ncclCheck(ncclGroupEnd()); }

static void gpu_mean_async_wait(GpuGroup* g) {
    cudaCheck(cudaEventRecord(g->averaged, g->stream));
    cudaCheck(cudaStreamWaitEvent(0, g->averaged, 0));
}

static float gpu_mean_scalar(GpuGroup* g, float x) {
    if (g->dist.size == 1) return x;
    cudaCheck(cudaMemcpy(g->scalar, &x, sizeof(float), cudaMemcpyHostToDevice));
    gpu_mean(g, g->scalar, 1);
    cudaCheck(cudaMemcpy(&x, g->scalar, sizeof(float), cudaMemcpyDeviceToHost));
    return x;
}

// x (n,) on the device from process root to all
static void gpu_broadcast(GpuGroup* g, float* x, size_t n, int root) {
    if (g->dist.size == 1 || n == 0) return;
    ncclCheck(ncclBroadcast(x, x, n, ncclFloat, root, g->comm, 0));
}

static void gpu_group_free(GpuGroup* g) {
    if (g->comm) {
        ncclCheck(ncclCommDestroy(g->comm));
        cudaCheck(cudaStreamDestroy(g->stream));
        cudaCheck(cudaEventDestroy(g->written));
        cudaCheck(cudaEventDestroy(g->averaged));
    }
    cudaCheck(cudaFree(g->scalar));
}

} // namespace gpu

#endif // LLMC_CUDA_NCCL_CUH
