/*
Random numbers and token sampling, shared by both trainers.

The generator is xorshift64* (one uint64 of state, so a checkpoint can store it as a decimal string).
Sampling takes the next-token logits and applies temperature, then top-k, then top-p (nucleus), over
the real vocabulary only (padded rows are never sampled).
*/
#ifndef LLMC_SAMPLER_H
#define LLMC_SAMPLER_H

#include <math.h>
#include "utils.h"

// splitmix64 turns any seed (0 included) into a well-mixed non-zero state
static uint64_t rng_seed(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    return z ? z : 0x2545F4914F6CDD1Dull;
}

static uint32_t random_u32(uint64_t* state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t)((*state * 0x2545F4914F6CDD1Dull) >> 32);
}

// uniform in [0, 1)
static float random_f32(uint64_t* state) { return (random_u32(state) >> 8) / 16777216.0f; }

// glibc's scalar log and cos enter through SSE-encoded wrappers. Entered while the upper halves of the vector
// registers are dirty (GCC sometimes leaves them so after copying a struct with AVX-512 moves) every such
// instruction waits on a merge: on the CI's Intel Xeon a draw took 320 ns instead of 35. Loops of many draws
// clear the state once first.
static inline void clear_upper_vector_state(void) {
#ifdef __AVX__
    __builtin_ia32_vzeroupper();
#endif
}

// standard normal by Box-Muller, in double so the init is the same whatever the float type
static double random_normal(uint64_t* state) {
    double u1 = ((random_u32(state) >> 8) + 1.0) / 16777217.0; // (0, 1): log(u1) is finite
    double u2 = (random_u32(state) >> 8) / 16777216.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

// Fisher-Yates shuffle of 0..n-1
static void random_permutation(int* perm, int n, uint64_t* state) {
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(random_u32(state) % (uint32_t)(i + 1));
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

// ----------------------------------------------------------------------------
// sampling

typedef struct {
    float temperature; // 0 = greedy (argmax)
    int top_k;         // 0 = off
    float top_p;       // 1 = off
} SamplerConfig;

typedef struct {
    float prob;
    int id;
} ProbIndex;

static int compare_prob_desc(const void* a, const void* b) {
    float pa = ((const ProbIndex*)a)->prob, pb = ((const ProbIndex*)b)->prob;
    if (pa != pb) return pa < pb ? 1 : -1;
    return ((const ProbIndex*)a)->id - ((const ProbIndex*)b)->id; // ties: lower id first, deterministic
}

// logits: (V,) for the real vocabulary. scratch: (V,) ProbIndex. Returns the sampled token id.
static int sample_token(const float* logits, int V, const SamplerConfig* cfg, ProbIndex* scratch, uint64_t* rng) {
    if (cfg->temperature <= 0.0f) {
        int best = 0;
        for (int i = 1; i < V; i++) {
            if (logits[i] > logits[best]) best = i;
        }
        return best;
    }
    float maxval = -INFINITY;
    for (int i = 0; i < V; i++) maxval = fmaxf(maxval, logits[i]);
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        scratch[i].id = i;
        scratch[i].prob = expf((logits[i] - maxval) / cfg->temperature);
        sum += scratch[i].prob;
    }
    int n = V;
    if ((cfg->top_k > 0 && cfg->top_k < V) || cfg->top_p < 1.0f) {
        qsort(scratch, V, sizeof(ProbIndex), compare_prob_desc);
        if (cfg->top_k > 0 && cfg->top_k < n) n = cfg->top_k;
        double kept = 0.0;
        for (int i = 0; i < n; i++) kept += scratch[i].prob;
        if (cfg->top_p < 1.0f) {
            // smallest prefix whose probability (renormalised over the kept top-k) reaches top_p
            double cum = 0.0;
            for (int i = 0; i < n; i++) {
                cum += scratch[i].prob;
                if (cum >= cfg->top_p * kept) { n = i + 1; break; }
            }
        }
        sum = 0.0;
        for (int i = 0; i < n; i++) sum += scratch[i].prob;
    }
    double coin = random_f32(rng) * sum, cdf = 0.0;
    for (int i = 0; i < n; i++) {
        cdf += scratch[i].prob;
        if (coin < cdf) return scratch[i].id;
    }
    return scratch[n - 1].id; // rounding guard
}

#endif // LLMC_SAMPLER_H
