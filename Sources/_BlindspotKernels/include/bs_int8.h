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

// The data movement around the GEMM (int8conv.c). A "code" is the uint8 q = clamp(round(v·inv_scale)
// + zero_point, 0, 255), rounding half to even; the inputs are already on their grid, so
// multiplying by the reciprocal scale lands on the same integers as dividing.

/// out[i] = code(x[i]) for i < n.
void bs_codes_u8(const float *x, long n, float inv_scale, int zero_point, uint8_t *out);
/// One image x [c×h×w] (CHW) to codes in HWC order: out[(y·w + x)·c + ch].
void bs_codes_hwc_u8(const float *x, int c, int h, int w, float inv_scale, int zero_point, uint8_t *out);
/// im2row of an HWC code image: row (oy·ow + ox) of `rows` [oh·ow × kh·kw·c] holds the receptive
/// field in (ky, kx, ch) order; positions outside the image hold `pad` (the zero point: real 0).
void bs_im2row_hwc_u8(const uint8_t *img, int c, int h, int w, int kh, int kw, int sh, int sw, int pad_top,
                      int pad_left, int oh, int ow, uint8_t pad, uint8_t *rows);
/// out[i·n + j] = float(acc[i·n + j] + offset[j]) · mult[j], the addition wrapping mod 2^32.
void bs_rescale_rows(const int32_t *acc, int m, int n, const int32_t *offset, const float *mult, float *out);
/// The same for a conv's accumulators acc [hw × oc], written transposed: out[o·hw + j] (CHW).
void bs_rescale_chw(const int32_t *acc, int hw, int oc, const int32_t *offset, const float *mult, float *out);

/// Name of the implementation bs_gemm_u8s8s32 dispatches to ("avx512-vnni", "avx2", "scalar").
const char *bs_int8_kernel_name(void);

#ifdef __cplusplus
}
#endif
#endif
