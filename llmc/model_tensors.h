/*
The parameter tensors as named pointers into one block, shared by both trainers. Include it after
defining `real`, the element type (float; double in the CPU trainer's gradient checks).
*/
#ifndef LLMC_MODEL_TENSORS_H
#define LLMC_MODEL_TENSORS_H

#include "gpt.h"

// The parameter tensors, in the order of gpt.h's table; absent tensors (no bias, no wpe, another
// variant's projections) are NULL. The gradients use the same struct over their own block.
typedef struct {
    real* wte;      // (Vp, C)
    real* wpe;      // (maxT, C)
    real* ln1w;     // (L, C)
    real* ln1b;     // (L, C)
    real* qkvw;     // (L, Dqkv, C)      MHA/GQA/MQA/GTA
    real* qkvb;     // (L, Dqkv)
    real* attprojw; // (L, C, H*dh)
    real* attprojb; // (L, C)
    real* ln2w;     // (L, C)
    real* ln2b;     // (L, C)
    real* fcw;      // (L, F, C)
    real* fcb;      // (L, F)
    real* fcprojw;  // (L, C, F)
    real* fcprojb;  // (L, C)
    real* lnfw;     // (C)
    real* lnfb;     // (C)
    real* dqw;      // (L, rq, C)        MLA/GLA with rq > 0
    real* dqb;      // (L, rq)
    real* qnormw;   // (L, rq)
    real* uqw;      // (L, H*(dh+dR), rq)
    real* uqb;      // (L, H*(dh+dR))
    real* qw;       // (L, H*(dh+dR), C) MLA/GLA with rq = 0
    real* qb;       // (L, H*(dh+dR))
    real* dkvw;     // (L, n*dc+dR, C)   MLA/GLA
    real* dkvb;     // (L, n*dc+dR)
    real* kvnormw;  // (L, n*dc)
    real* ukvw;     // (L, 2*H*dh, dc)
    real* ukvb;     // (L, 2*H*dh)
    real* ctx_beta;    // (L, H)      Memory Mosaics' contextual memory: leaky-average rate (beta = 10|b|)
    real* ctx_kscale;  // (L, H)      key scale (exp(min(10 a, 5)))
    real* ctx_vcoef;   // (L, H)      value mix c: (1-c) v~_{t+1} + c v~_t
    real* ctx_vscale;  // (L, H)      value scale (exp(10 u))
    real* pmem_kw;     // (L, C, C)   persistent memory's key projection
    real* pmem_kb;     // (L, C)
    real* pmem_beta;   // (L, H)
    real* pmem_kscale; // (L, H)      (exp(min(20 a, 5)))
    real* pmem_k;      // (L, M*H*P, dh) the memories' keys
    real* pmem_v;      // (L, M*H*P, dh) and values
    real* pmem_oscale; // (L, H)      output scale (exp(10 o))
    real* pmem_projw;  // (L, C, C)
    real* pmem_projb;  // (L, C)
} ParameterTensors;
// one pointer per entry of gpt.h's table (a tensor added there needs its pointer here, in the same place)
typedef char parameter_tensors_match_the_table[sizeof(ParameterTensors) == NUM_PARAMETER_TENSORS * sizeof(real*) ? 1 : -1];

static void parameter_pointers(ParameterTensors* p, real** ptrs[NUM_PARAMETER_TENSORS]) {
    real** list[NUM_PARAMETER_TENSORS] = {
        &p->wte, &p->wpe, &p->ln1w, &p->ln1b, &p->qkvw, &p->qkvb, &p->attprojw, &p->attprojb, &p->ln2w, &p->ln2b,
        &p->fcw, &p->fcb, &p->fcprojw, &p->fcprojb, &p->lnfw, &p->lnfb, &p->dqw, &p->dqb, &p->qnormw, &p->uqw,
        &p->uqb, &p->qw, &p->qb, &p->dkvw, &p->dkvb, &p->kvnormw, &p->ukvw, &p->ukvb, &p->ctx_beta, &p->ctx_kscale, &p->ctx_vcoef,
        &p->ctx_vscale, &p->pmem_kw, &p->pmem_kb, &p->pmem_beta, &p->pmem_kscale, &p->pmem_k, &p->pmem_v, &p->pmem_oscale,
        &p->pmem_projw, &p->pmem_projb};
    memcpy(ptrs, list, sizeof(list));
}

static void point_parameters(ParameterTensors* p, const ParamSpec* specs, real* memory) {
    real** ptrs[NUM_PARAMETER_TENSORS];
    parameter_pointers(p, ptrs);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        *ptrs[i] = specs[i].numel > 0 ? memory : NULL;
        memory += specs[i].numel;
    }
}

// The tensors as layer l sees them: per-layer tensors point at its slice (of parameters or gradients).
static ParameterTensors layer_params(const ParameterTensors* p, const ParamSpec* specs, int l) {
    ParameterTensors lp = *p;
    real** ptrs[NUM_PARAMETER_TENSORS];
    parameter_pointers(&lp, ptrs);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        if (specs[i].per_layer && *ptrs[i]) *ptrs[i] += (size_t)l * (specs[i].numel / specs[i].shape[0]);
    }
    return lp;
}

#endif // LLMC_MODEL_TENSORS_H
