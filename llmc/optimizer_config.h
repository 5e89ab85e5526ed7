/*
The optimizers' settings and Newton-Schulz's coefficients (docs/design.md §3), shared by the CPU and GPU
update rules and the run's bookkeeping (run.h).
*/
#ifndef LLMC_OPTIMIZER_CONFIG_H
#define LLMC_OPTIMIZER_CONFIG_H

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} AdamWConfig;

typedef struct {
    float lr, momentum, weight_decay;
    int ns_steps;
    int polar_express;   // per-step Polar Express coefficients instead of the fixed quintic
    int moonlight_scale; // 0.2*sqrt(max(rows, cols)) instead of sqrt(max(1, rows/cols))
} MuonConfig;

// Newton-Schulz coefficients (a, b, c) of X <- a X + (b A + c A A) X: Muon's quintic (Keller Jordan),
// and Polar Express's per-step table (Amsel et al. 2025, as modded-nanogpt uses it with a 2% safety
// margin on the normalisation)
static const float NS_QUINTIC[3] = {3.4445f, -4.7750f, 2.0315f};
#define POLAR_EXPRESS_STEPS 5
static const float POLAR_EXPRESS[POLAR_EXPRESS_STEPS][3] = {
    {8.156554524902461f, -22.48329292557795f, 15.878769915207462f},
    {4.042929935166739f, -2.808917465908714f, 0.5000178451051316f},
    {3.8916678022926607f, -2.772484153217685f, 0.5060648178503393f},
    {3.285753657755655f, -2.3681294933425376f, 0.46449024233003106f},
    {2.3465413258596377f, -1.7097828382687081f, 0.42323551169305323f}};

#endif // LLMC_OPTIMIZER_CONFIG_H
