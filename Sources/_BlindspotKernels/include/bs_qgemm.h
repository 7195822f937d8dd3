// The integer program's kernels (qgemm.c): a u8×s8→s32 GEMM with requantization fused into its
// output loop, and the passes between quantized layers on channels-last (HWC) buffers.
// Layouts as in bs_int8.h: A [m×k] uint8 rows (lda), Bt [n×k] int8 rows (ldb).
#ifndef BS_QGEMM_H
#define BS_QGEMM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { BS_QOUT_FLOAT = 0, BS_QOUT_CODES = 1 };

/// What the GEMM's output loop does with acc[i][j] (per output channel j):
///   v = float(acc + offset[j]) · mult[j]            (the addition wrapping mod 2^32)
///   BS_QOUT_FLOAT: out[i·ldo + j] = relu ? max(v, 0) : v                         (float *)
///   BS_QOUT_CODES: out[i·ldo + j] = clamp(round_half_even(v / out_scale) + out_zero_point,
///                                         relu ? out_zero_point : out_qmin, out_qmax)  (uint8 *)
/// The codes are exactly what FakeQuantize gives for v (after a ReLU when relu is set).
typedef struct {
    const int32_t *offset;
    const float *mult;
    int mode;
    int relu;
    float out_scale;
    int out_zero_point, out_qmin, out_qmax;
    void *out;
    long ldo;
} bs_qepilogue;

/// Bytes of Bt packed for the VNNI kernel: [⌈n/16⌉ blocks][⌈k/4⌉ groups][16 channels × 4 bytes].
long bs_qgemm_packed_size(int n, int k);
/// Packs Bt [n×k] (zero-padded to whole blocks and groups).
void bs_qgemm_pack(int n, int k, const int8_t *bt, long ldb, int8_t *packed);
/// The epilogue on int32 accumulators acc [m×n] (row stride ldc): the scalar definition.
void bs_qepilogue_apply(const int32_t *acc, int m, int n, long ldc, const bs_qepilogue *e);
/// A·Btᵀ followed by the epilogue. Uses the packed VNNI kernel when `packed` is given and the CPU
/// has AVX-512 VNNI; otherwise bs_gemm_u8s8s32 into `scratch` [m×n] int32 and the scalar epilogue.
/// All paths give identical outputs. No allocation; thread-safe.
void bs_qgemm_fused(int m, int n, int k, const uint8_t *a, long lda, const int8_t *bt, long ldb, const int8_t *packed,
                    int32_t *scratch, const bs_qepilogue *e);
/// The same with a chosen implementation (0 scalar GEMM, 1 AVX2 GEMM, 2 packed VNNI), for tests
/// and bench; returns 0 (doing nothing) when it is unavailable.
int bs_qgemm_fused_impl(int impl, int m, int n, int k, const uint8_t *a, long lda, const int8_t *bt, long ldb,
                        const int8_t *packed, int32_t *scratch, const bs_qepilogue *e);

/// One CHW float image to HWC codes, as FakeQuantize rounds: clamp(round(x / scale) + zp).
void bs_q_quantize_chw(const float *x, int c, int h, int w, float scale, int zero_point, int qmin, int qmax, uint8_t *out);
/// The same elementwise (any layout).
void bs_q_quantize(const float *x, long n, float scale, int zero_point, int qmin, int qmax, uint8_t *out);
/// FakeQuantize's forward: out = (clamp(round(x / scale) + zp, qmin, qmax) − zp) · scale.
void bs_q_fake_quantize(const float *x, long n, float scale, int zero_point, int qmin, int qmax, float *out);
/// FakeQuantize's backward (straight-through): dx = lo ≤ x ≤ hi ? dy : 0.
void bs_q_straight_through(const float *x, const float *dy, long n, float lo, float hi, float *dx);
/// out = float(q − zp) · scale, FakeQuantize's output value.
void bs_q_dequantize(const uint8_t *q, long n, float scale, int zero_point, float *out);
/// out[i] = table[q[i]] (requantization from one grid to another, tabulated per code).
void bs_q_lookup(const uint8_t *q, long n, const uint8_t table[256], uint8_t *out);
/// ReLU on codes: max(q, zero_code), in place.
void bs_q_relu_codes(uint8_t *q, long n, uint8_t zero_code);
/// ReLU on floats, in place, as Swift's max(x, 0).
void bs_q_relu_float(float *x, long n);
/// Max-pooling (no padding) of one HWC image, codes or floats.
void bs_q_maxpool_codes(const uint8_t *x, int c, int h, int w, int kernel, int stride, uint8_t *out);
void bs_q_maxpool_float(const float *x, int c, int h, int w, int kernel, int stride, float *out);
/// out = a + b elementwise.
void bs_q_add_float(const float *a, const float *b, long n, float *out);
/// A residual addition requantized: out = code(relu?(a + b)) with the output grid (so, zo), where
/// each operand is either codes (dequantized as float(q − z)·s) or floats (`*_codes` = 0) —
/// the reference's Add, ReLU and FakeQuantize in one pass.
void bs_q_add_requant(const void *a, int a_codes, float sa, int za, const void *b, int b_codes, float sb, int zb, long n,
                      int relu, float so, int zo, int qmin, int qmax, uint8_t *out);
/// Per-channel mean of one HWC float image [hw×c] (summed as GlobalAvgPool2d sums a CHW plane);
/// `plane` is hw floats of scratch.
void bs_q_global_avgpool(const float *x, int c, int hw, float *plane, float *out);
/// Layout changes of one image.
void bs_q_hwc_to_chw(const float *x, int c, int hw, float *out);
void bs_q_chw_to_hwc(const float *x, int c, int hw, float *out);

#ifdef __cplusplus
}
#endif
#endif
