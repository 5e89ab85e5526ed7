/*
Data-parallel training across processes, shared by both trainers: the process group (MPI when built with
USE_MPI, else one process), the collectives the trainers need on host memory, and ZeRO-1's division of
the optimizer state.

Every rank holds the whole model and reads its own slice of every batch (dataloader.h); gradients are
averaged across ranks; rank 0 logs, writes checkpoints and samples. With ZeRO-1 the optimizer state is
divided into units (an AdamW tensor, or one row block of a Muon matrix across all layers), each owned by
one rank: the owner keeps that unit's state, updates its parameters (Muon's Newton-Schulz runs only
there), and broadcasts them to the others. Units go to the least-loaded rank, largest first.

A rank that dies takes the others down with it (MPI_Abort), so a bad file on one rank ends the job with
its message instead of a hang.
*/
#ifndef LLMC_DISTRIBUTED_H
#define LLMC_DISTRIBUTED_H

#ifdef USE_MPI
#include <mpi.h>
#endif
#include "gpt.h"
#include "utils.h"

typedef struct {
    int rank, size;
} Dist;

#ifdef USE_MPI
static void dist_abort(void) { MPI_Abort(MPI_COMM_WORLD, 1); }
#endif

static Dist dist_init(int* argc, char*** argv) {
    Dist d = {0, 1};
#ifdef USE_MPI
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &d.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d.size);
    die_hook = dist_abort;
#else
    (void)argc;
    (void)argv;
    // started by mpirun with several ranks, each copy of a non-MPI build would train alone into the same -o
    const char* launchers[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof(launchers) / sizeof(launchers[0]); i++) {
        const char* size = getenv(launchers[i]);
        if (size != NULL && atoi(size) > 1) {
            die_hint("rebuild with MPI: make USE_MPI=1 (Debian: apt-get install openmpi-bin libopenmpi-dev), then mpirun again",
                     "this binary was built without MPI, but an MPI launcher started %s of it (%s=%s)", size, launchers[i], size);
        }
    }
#endif
    return d;
}

static void dist_finalize(void) {
#ifdef USE_MPI
    MPI_Finalize();
#endif
}

// x (n,) <- the mean of x over the ranks; elem: 4 (float) or 8 (double)
static void dist_mean(const Dist* d, void* x, size_t n, size_t elem) {
#ifdef USE_MPI
    if (d->size == 1) return;
    MPI_Datatype type = elem == 8 ? MPI_DOUBLE : MPI_FLOAT;
    for (size_t done = 0; done < n;) { // MPI counts are int
        int count = (int)(n - done < (size_t)1 << 30 ? n - done : (size_t)1 << 30);
        MPI_Allreduce(MPI_IN_PLACE, (char*)x + done * elem, count, type, MPI_SUM, MPI_COMM_WORLD);
        done += count;
    }
    for (size_t i = 0; i < n; i++) {
        if (elem == 8) ((double*)x)[i] /= d->size;
        else ((float*)x)[i] /= d->size;
    }
#else
    (void)d, (void)x, (void)n, (void)elem;
#endif
}

static double dist_mean_double(const Dist* d, double x) {
#ifdef USE_MPI
    if (d->size > 1) {
        MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        x /= d->size;
    }
#else
    (void)d;
#endif
    return x;
}

// bytes at x from rank root to every rank
static void dist_broadcast(const Dist* d, void* x, size_t bytes, int root) {
#ifdef USE_MPI
    for (size_t done = 0; d->size > 1 && done < bytes;) {
        int count = (int)(bytes - done < (size_t)1 << 30 ? bytes - done : (size_t)1 << 30);
        MPI_Bcast((char*)x + done, count, MPI_BYTE, root, MPI_COMM_WORLD);
        done += count;
    }
#else
    (void)d;
    (void)x;
    (void)bytes;
    (void)root;
#endif
}

// ----------------------------------------------------------------------------
// ZeRO-1: units of optimizer state and their owners

typedef struct {
    int tensor;      // index in gpt.h's table
    int muon;        // a Muon row block (all layers) or an AdamW tensor
    int row0, rows;  // Muon: the block's rows within each layer's matrix
    size_t numel;    // elements (all layers)
    int owner;       // the rank that keeps its state and updates it
    size_t state_at; // where its state starts in the owner's compact state buffers
} OptUnit;

#define MAX_OPT_UNITS (NUM_PARAMETER_TENSORS * MAX_ROW_BLOCKS)

// Divides the optimizer state of config c (Muon when muon) among `ranks` ranks; returns the unit count and
// each rank's state size (elements) in state_size[rank] (ranks <= 64).
static int zero_units(const GPTConfig* c, int muon, int ranks, OptUnit* units, size_t* state_size) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    int n = 0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        if (specs[i].numel == 0) continue;
        if (muon && is_muon_tensor(&specs[i])) {
            int rows[MAX_ROW_BLOCKS], nb = gpt_row_blocks(c, i, &specs[i], rows), row0 = 0;
            for (int b = 0; b < nb; b++) {
                OptUnit u = {i, 1, row0, rows[b], (size_t)c->num_layers * rows[b] * specs[i].shape[2], 0, 0};
                units[n++] = u;
                row0 += rows[b];
            }
        } else {
            OptUnit u = {i, 0, 0, 0, specs[i].numel, 0, 0};
            units[n++] = u;
        }
    }
    // largest first to the least-loaded rank (ties: the lower rank, the earlier unit): deterministic
    int* order = (int*)mallocCheck(n * sizeof(int));
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && units[order[j]].numel < units[v].numel) { order[j + 1] = order[j]; j--; }
        order[j + 1] = v;
    }
    for (int r = 0; r < ranks; r++) state_size[r] = 0;
    for (int k = 0; k < n; k++) {
        OptUnit* u = &units[order[k]];
        int best = 0;
        for (int r = 1; r < ranks; r++) best = state_size[r] < state_size[best] ? r : best;
        u->owner = best;
        u->state_at = state_size[best];
        state_size[best] += u->numel;
    }
    free(order);
    return n;
}

// this process's share of the optimizer state
typedef struct {
    OptUnit units[MAX_OPT_UNITS];
    int num_units;
    int zero_rank;     // this process's rank under ZeRO-1, -1 when every process updates every unit
    size_t state_size; // elements of this process's state (its units, packed)
} OptimizerPlan;

// Divides config c's optimizer state (Muon when muon) into units, among the processes under ZeRO-1 (else
// every unit is every process's).
static OptimizerPlan optimizer_plan(const GPTConfig* c, int muon, int zero, const Dist* dist) {
    OptimizerPlan plan;
    size_t sizes[64];
    if (dist->size > 64) die("at most 64 processes");
    plan.num_units = zero_units(c, muon, zero ? dist->size : 1, plan.units, sizes);
    plan.zero_rank = zero ? dist->rank : -1;
    plan.state_size = sizes[zero ? dist->rank : 0];
    return plan;
}

// whether this process updates (and keeps the state of) unit u
static int plan_owns(const OptimizerPlan* plan, const OptUnit* u) { return plan->zero_rank < 0 || u->owner == plan->zero_rank; }

// the elements of the plan's largest unit (at least 1)
static size_t plan_largest_unit(const OptimizerPlan* plan) {
    size_t most = 1;
    for (int k = 0; k < plan->num_units; k++) most = plan->units[k].numel > most ? plan->units[k].numel : most;
    return most;
}

// Where a unit's parameters lie in the parameter block: `runs` contiguous runs of `run` elements, the
// first at `first`, `stride` apart (a Muon row block: one run per layer; an AdamW tensor: one run).
typedef struct {
    int runs;
    size_t first, stride, run;
} UnitRuns;

static UnitRuns unit_runs(const GPTConfig* c, const OptUnit* u) {
    ParamSpec specs[NUM_PARAMETER_TENSORS];
    gpt_param_specs(c, specs);
    UnitRuns r;
    r.first = 0;
    for (int i = 0; i < u->tensor; i++) r.first += specs[i].numel;
    r.runs = u->muon ? c->num_layers : 1;
    r.stride = specs[u->tensor].numel / r.runs;
    r.run = u->numel / r.runs;
    if (u->muon) r.first += (size_t)u->row0 * specs[u->tensor].shape[2];
    return r;
}

// Copies one unit's state between `state` (the unit's own elements, packed) and the parameter layout
// checkpoints use (to_params 1: state -> params). Elements of elem_size bytes.
static void unit_state_copy(const GPTConfig* c, const OptUnit* u, void* state, void* params, size_t elem_size, int to_params) {
    UnitRuns r = unit_runs(c, u);
    for (int l = 0; l < r.runs; l++) {
        char* p = (char*)params + (r.first + l * r.stride) * elem_size;
        char* q = (char*)state + l * r.run * elem_size;
        memcpy(to_params ? p : q, to_params ? q : p, r.run * elem_size);
    }
}

// the same for every unit `rank` owns (all units with rank -1), their states packed in `compact`
static void units_state_copy(const GPTConfig* c, const OptUnit* units, int num_units, int rank, void* compact, void* params,
                             size_t elem_size, int to_params) {
    for (int k = 0; k < num_units; k++) {
        if (rank >= 0 && units[k].owner != rank) continue;
        unit_state_copy(c, &units[k], (char*)compact + units[k].state_at * elem_size, params, elem_size, to_params);
    }
}

#endif // LLMC_DISTRIBUTED_H
