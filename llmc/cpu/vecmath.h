/*
Vectorisable math for the CPU trainer's elementwise loops: libm's expf is a call the compiler does not
vectorise, so softmax, GELU and cross-entropy use exp_vec. Include it after defining `real`.
*/
#ifndef LLMC_CPU_VECMATH_H
#define LLMC_CPU_VECMATH_H

#include <stdint.h>
#include <string.h>
#include <tgmath.h>

// exp in plain arithmetic (Cephes' expf), which vectorises: x = n ln2 + r with |r| <= ln2/2 (ln2 in two
// parts, so that n ln2 is exact), a polynomial for e^r, and 2^n built in the exponent bits; within
// 7.5e-8 relative (measured) on [-87, 88], clamped outside. The double build keeps libm's exp, so that
// the gradient checks see the exact function.
#ifdef REAL_DOUBLE
static inline real exp_vec(real x) { return exp(x); }
#else
static inline float exp_vec(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x; // a ternary, unlike fminf, vectorises here
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23; // unsigned: a NaN's n shifts without overflow, and p stays NaN
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}
#endif

#endif // LLMC_CPU_VECMATH_H
