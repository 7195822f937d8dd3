// _BlindspotKernels: exact 8-bit integer GEMM (uint8 activations × int8 weights → int32), the
// inner product of blindspot's quantized-precision inference.
//
// Shape legend (as in bs_kernels.h): M rows of activations (e.g. N·OH·OW im2col columns, or a
// batch of feature vectors), N = OC output channels, K = C·KH·KW (or the feature length).
//   A  [M×K] uint8, row-major, row stride lda ≥ K   — one activation vector per row
//   Bt [N×K] int8,  row-major, row stride ldb ≥ K   — one output channel's weights per row
//                                                     (B transposed, so both sides are contiguous over K)
//   C  [M×N] int32, row-major, row stride ldc ≥ N
// Zero points, scales and bias are the caller's business (e.g. subtract zp_w·Σ_p A[i][p]).
#ifndef BS_INT8_H
#define BS_INT8_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// C[m×n] (int32) = A[m×k] (uint8, row-major, lda) · B (int8) where B is given TRANSPOSED as
/// Bt[n×k] (row-major, ldb) — i.e. C[i][j] = Σ_p A[i][p]·Bt[j][p], exact in int32 (no saturation
/// anywhere; callers keep k ≤ 65536 so |C| < 2^31). C is overwritten (not accumulated into).
/// Any m, n, k ≥ 0 (k = 0 writes zeros), any leading dimensions ≥ the row length, unaligned
/// pointers. No allocation, no global state written after the first call: thread-safe.
/// Runs on the calling thread.
void bs_gemm_u8s8s32(int m, int n, int k, const uint8_t *a, int lda, const int8_t *bt, int ldb,
                     int32_t *c, int ldc);
/// Same with a chosen implementation, for tests and bench: 0 = scalar reference, 1 = AVX2,
/// 2 = AVX-512 VNNI. Returns 1 when it ran, 0 if that implementation is unavailable on this CPU
/// (or unknown) — then it does nothing.
int bs_gemm_u8s8s32_impl(int impl, int m, int n, int k, const uint8_t *a, int lda, const int8_t *bt,
                         int ldb, int32_t *c, int ldc);
/// Name of the implementation bs_gemm_u8s8s32 dispatches to ("avx512-vnni", "avx2", "scalar").
const char *bs_int8_kernel_name(void);

#ifdef __cplusplus
}
#endif
#endif
