// Reductions with 16 independent accumulators (two AVX2 / one AVX-512 register of partial sums),
// so the compiler vectorises them without -ffast-math. The summation order differs from a
// serial loop; results are deterministic for a given n.
#include "bs_kernels.h"

#define LANES 16

float bs_sum(const float *x, long n) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += x[i + k];
    float s = 0;
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < LANES; k++) s += acc[k];
    return s;
}

float bs_sum_sq_dev(const float *x, long n, float m) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) { float d = x[i + k] - m; acc[k] += d * d; }
    float s = 0;
    for (; i < n; i++) { float d = x[i] - m; s += d * d; }
    for (int k = 0; k < LANES; k++) s += acc[k];
    return s;
}

float bs_dot(const float *a, const float *b, long n) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += a[i + k] * b[i + k];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int k = 0; k < LANES; k++) s += acc[k];
    return s;
}

float bs_dot_dev(const float *a, const float *b, long n, float m) {
    float acc[LANES] = {0};
    long i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += a[i + k] * (b[i + k] - m);
    float s = 0;
    for (; i < n; i++) s += a[i] * (b[i] - m);
    for (int k = 0; k < LANES; k++) s += acc[k];
    return s;
}
