// The integer program's kernels (see bs_qgemm.h): a u8×s8→s32 GEMM whose output loop
// requantizes straight to the next layer's uint8 codes (or to floats), and the uint8/float
// passes between layers, all on channels-last (HWC) buffers.
//
// Why a second GEMM beside int8gemm.c: that one is a dot-product kernel (K along the vector
// lanes, a horizontal sum per output at the end), which wastes most of a 64-byte vector when K
// is small (27 for a 3-channel 3×3 conv) and spends a reduction per output element. This one is
// the outer-product form used by oneDNN/FBGEMM (Intel's "VNNI int8 GEMM" recipe): the weights are
// packed once as [column block of 16][K/4][16 channels × 4 bytes], 4 bytes of one activation row
// are broadcast to all lanes, and one vpdpbusd adds 4 products into each of 16 output channels.
// The accumulators then hold C rows directly, so the requantization runs on them in registers.
//
// Exactness: integer products are exact (see int8gemm.c); the epilogue's float operations are the
// same IEEE operations in the same order in every implementation (convert, multiply, divide,
// round half to even, add, clamp), so the vector and scalar paths agree bit for bit.
#include "bs_qgemm.h"
#include "bs_int8.h"
#include "bs_kernels.h"
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#define BS_INLINE static inline __attribute__((always_inline))
#define BS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

enum { LANES = 16, GROUP = 4 };

long bs_qgemm_packed_size(int n, int k) {
    const long blocks = (n + LANES - 1) / LANES, groups = (k + GROUP - 1) / GROUP;
    return blocks * groups * LANES * GROUP;
}

void bs_qgemm_pack(int n, int k, const int8_t *bt, long ldb, int8_t *packed) {
    const int blocks = (n + LANES - 1) / LANES, groups = (k + GROUP - 1) / GROUP;
    for (int b = 0; b < blocks; b++)
        for (int g = 0; g < groups; g++) {
            int8_t *dst = packed + ((long)b * groups + g) * LANES * GROUP;
            for (int ch = 0; ch < LANES; ch++)
                for (int t = 0; t < GROUP; t++) {
                    const int j = b * LANES + ch, p = g * GROUP + t;
                    dst[ch * GROUP + t] = (j < n && p < k) ? bt[(long)j * ldb + p] : 0;
                }
        }
}

// ---------------------------------------------------------------------------------------------
// The epilogue, scalar: the definition every vector path reproduces.
// ---------------------------------------------------------------------------------------------
BS_INLINE float rescale(int32_t acc, int32_t offset, float mult) {
    // (acc + offset) wraps mod 2^32 as Swift's &+ does (signed overflow is undefined in C).
    return (float)(int32_t)((uint32_t)acc + (uint32_t)offset) * mult;
}

// FakeQuantize's rounding (QuantMath.Affine.quantize): clamp(round_half_even(v / scale) + zp, lo, hi),
// as a float holding an integer. Every pass below that makes codes goes through it.
BS_INLINE float grid_code(float v, float scale, float zp, float lo, float hi) {
    float q = nearbyintf(v / scale) + zp;
    q = q < lo ? lo : q;
    return q > hi ? hi : q;
}

BS_INLINE uint8_t code_of(float v, const bs_qepilogue *e) {
    const float lo = e->relu ? (float)e->out_zero_point : (float)e->out_qmin;
    return (uint8_t)grid_code(v, e->out_scale, (float)e->out_zero_point, lo, (float)e->out_qmax);
}

BS_INLINE float relu_f(float v) { return 0.f >= v ? 0.f : v; }   // Swift's max(v, 0)

void bs_qepilogue_apply(const int32_t *acc, int m, int n, long ldc, const bs_qepilogue *e) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            const float v = rescale(acc[(long)i * ldc + j], e->offset[j], e->mult[j]);
            if (e->mode == BS_QOUT_CODES) ((uint8_t *)e->out)[(long)i * e->ldo + j] = code_of(v, e);
            else ((float *)e->out)[(long)i * e->ldo + j] = e->relu ? relu_f(v) : v;
        }
}

// ---------------------------------------------------------------------------------------------
// AVX-512 VNNI, outer-product tiles of MR rows × NR column blocks (NR·16 channels).
// ---------------------------------------------------------------------------------------------
enum { QMR = 8, QNR = 2 };

BS_INLINE BS_AVX512 int32_t load_group(const uint8_t *row, int p, int k) {
    int32_t v = 0;
    if (p + GROUP <= k) memcpy(&v, row + p, GROUP);
    else memcpy(&v, row + p, (size_t)(k - p));   // K tail: the missing bytes meet zero weights
    return v;
}

BS_INLINE BS_AVX512 void store_epilogue(__m512i acc, int i, int j, int nvalid, const bs_qepilogue *e) {
    const __mmask16 mask = nvalid >= LANES ? (__mmask16)0xFFFF : (__mmask16)((1u << nvalid) - 1);
    const __m512i off = _mm512_maskz_loadu_epi32(mask, e->offset + j);
    const __m512 mult = _mm512_maskz_loadu_ps(mask, e->mult + j);
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, off)), mult);
    if (e->mode == BS_QOUT_CODES) {
        __m512 q = _mm512_div_ps(v, _mm512_set1_ps(e->out_scale));
        q = _mm512_roundscale_ps(q, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_add_ps(q, _mm512_set1_ps((float)e->out_zero_point));
        const float lo = e->relu ? (float)e->out_zero_point : (float)e->out_qmin;
        q = _mm512_max_ps(q, _mm512_set1_ps(lo));
        q = _mm512_min_ps(q, _mm512_set1_ps((float)e->out_qmax));
        const __m128i bytes = _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(q));
        _mm_mask_storeu_epi8((uint8_t *)e->out + (long)i * e->ldo + j, mask, bytes);
    } else {
        // vmaxps(v, 0) is v > 0 ? v : 0, which maps −0 to +0 as Swift's max(v, 0) does.
        if (e->relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
        _mm512_mask_storeu_ps((float *)e->out + (long)i * e->ldo + j, mask, v);
    }
}

BS_INLINE BS_AVX512 void qtile(const int MR, const int NR, int k, const uint8_t *a, long lda, const int8_t *pb,
                               long block_bytes, int i0, int j0, int n, const bs_qepilogue *e) {
    __m512i acc[QMR][QNR];
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NR; c++) acc[r][c] = _mm512_setzero_si512();
    const int full = k / GROUP * GROUP;
    int p = 0;
    for (; p < full; p += GROUP) {
        __m512i b[QNR];
        for (int c = 0; c < NR; c++) b[c] = _mm512_loadu_si512((const void *)(pb + c * block_bytes + (long)p * LANES));
        for (int r = 0; r < MR; r++) {
            int32_t word;
            memcpy(&word, a + (long)r * lda + p, GROUP);
            const __m512i av = _mm512_set1_epi32(word);
            for (int c = 0; c < NR; c++) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], av, b[c]);
        }
    }
    if (p < k) {
        __m512i b[QNR];
        for (int c = 0; c < NR; c++) b[c] = _mm512_loadu_si512((const void *)(pb + c * block_bytes + (long)p * LANES));
        for (int r = 0; r < MR; r++) {
            const __m512i av = _mm512_set1_epi32(load_group(a + (long)r * lda, p, k));
            for (int c = 0; c < NR; c++) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], av, b[c]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NR; c++) {
            const int j = j0 + c * LANES;
            store_epilogue(acc[r][c], i0 + r, j, n - j, e);
        }
}

#define QTILE_CASE(M, N) \
    case (M) * 4 + (N): qtile(M, N, k, a + (long)i * lda, lda, pb, block_bytes, i, j, n, e); break;

static BS_AVX512 void qgemm_vnni(int m, int n, int k, const uint8_t *a, long lda, const int8_t *packed,
                                 const bs_qepilogue *e) {
    const int groups = (k + GROUP - 1) / GROUP, blocks = (n + LANES - 1) / LANES;
    const long block_bytes = (long)groups * LANES * GROUP;
    for (int jb = 0; jb < blocks; jb += QNR) {
        const int nr = blocks - jb < QNR ? blocks - jb : QNR, j = jb * LANES;
        const int8_t *pb = packed + jb * block_bytes;
        for (int i = 0; i < m; i += QMR) {
            const int mr = m - i < QMR ? m - i : QMR;
            switch (mr * 4 + nr) {
                QTILE_CASE(8, 2) QTILE_CASE(8, 1)
                QTILE_CASE(7, 2) QTILE_CASE(7, 1) QTILE_CASE(6, 2) QTILE_CASE(6, 1)
                QTILE_CASE(5, 2) QTILE_CASE(5, 1) QTILE_CASE(4, 2) QTILE_CASE(4, 1)
                QTILE_CASE(3, 2) QTILE_CASE(3, 1) QTILE_CASE(2, 2) QTILE_CASE(2, 1)
                QTILE_CASE(1, 2) QTILE_CASE(1, 1)
            default: break;
            }
        }
    }
}

// CPUID traps to the hypervisor in VMs: read the feature once.
static pthread_once_t vnni_once = PTHREAD_ONCE_INIT;
static int has_vnni = 0;
static void vnni_init(void) { has_vnni = bs_cpu_has_avx512_vnni(); }

int bs_qgemm_fused_impl(int impl, int m, int n, int k, const uint8_t *a, long lda, const int8_t *bt, long ldb,
                        const int8_t *packed, int32_t *scratch, const bs_qepilogue *e) {
    if (m <= 0 || n <= 0) return 1;
    if (impl == 2) {
        pthread_once(&vnni_once, vnni_init);
        if (!has_vnni || !packed) return 0;
        qgemm_vnni(m, n, k, a, lda, packed, e);
        return 1;
    }
    if (!bs_gemm_u8s8s32_impl(impl, m, n, k, a, (int)lda, bt, (int)ldb, scratch, n)) return 0;
    bs_qepilogue_apply(scratch, m, n, n, e);
    return 1;
}

void bs_qgemm_fused(int m, int n, int k, const uint8_t *a, long lda, const int8_t *bt, long ldb, const int8_t *packed,
                    int32_t *scratch, const bs_qepilogue *e) {
    if (packed && bs_qgemm_fused_impl(2, m, n, k, a, lda, bt, ldb, packed, scratch, e)) return;
    if (bs_qgemm_fused_impl(1, m, n, k, a, lda, bt, ldb, packed, scratch, e)) return;
    bs_qgemm_fused_impl(0, m, n, k, a, lda, bt, ldb, packed, scratch, e);
}

// ---------------------------------------------------------------------------------------------
// The passes between layers (HWC; plain loops the compiler vectorises).
// ---------------------------------------------------------------------------------------------
void bs_q_quantize_chw(const float *x, int c, int h, int w, float scale, int zero_point, int qmin, int qmax,
                       uint8_t *out) {
    const long hw = (long)h * w;
    const float zp = (float)zero_point, lo = (float)qmin, hi = (float)qmax;
    for (int ch = 0; ch < c; ch++) {
        const float *plane = x + (long)ch * hw;
        for (long i = 0; i < hw; i++) {
            out[i * c + ch] = (uint8_t)grid_code(plane[i], scale, zp, lo, hi);
        }
    }
}

void bs_q_quantize(const float *x, long n, float scale, int zero_point, int qmin, int qmax, uint8_t *out) {
    const float zp = (float)zero_point, lo = (float)qmin, hi = (float)qmax;
    for (long i = 0; i < n; i++) {
        out[i] = (uint8_t)grid_code(x[i], scale, zp, lo, hi);
    }
}

void bs_q_fake_quantize(const float *x, long n, float scale, int zero_point, int qmin, int qmax, float *out) {
    const float zp = (float)zero_point, lo = (float)qmin, hi = (float)qmax;
    for (long i = 0; i < n; i++) {
        out[i] = (grid_code(x[i], scale, zp, lo, hi) - zp) * scale;   // q − zp is a small integer: exact, as Float(Int32(q) − zp)
    }
}

void bs_q_straight_through(const float *x, const float *dy, long n, float lo, float hi, float *dx) {
    for (long i = 0; i < n; i++) dx[i] = (lo <= x[i] && x[i] <= hi) ? dy[i] : 0.f;
}

void bs_q_dequantize(const uint8_t *q, long n, float scale, int zero_point, float *out) {
    for (long i = 0; i < n; i++) out[i] = (float)((int32_t)q[i] - zero_point) * scale;
}

void bs_q_lookup(const uint8_t *q, long n, const uint8_t table[256], uint8_t *out) {
    for (long i = 0; i < n; i++) out[i] = table[q[i]];
}

void bs_q_relu_codes(uint8_t *q, long n, uint8_t zero_code) {
    for (long i = 0; i < n; i++) q[i] = q[i] < zero_code ? zero_code : q[i];
}

void bs_q_relu_float(float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = relu_f(x[i]);
}

void bs_q_maxpool_codes(const uint8_t *x, int c, int h, int w, int kernel, int stride, uint8_t *out) {
    const int oh = (h - kernel) / stride + 1, ow = (w - kernel) / stride + 1;
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            uint8_t *dst = out + ((long)oy * ow + ox) * c;
            memcpy(dst, x + ((long)(oy * stride) * w + ox * stride) * c, (size_t)c);
            for (int i = 0; i < kernel; i++)
                for (int j = 0; j < kernel; j++) {
                    const uint8_t *src = x + ((long)(oy * stride + i) * w + ox * stride + j) * c;
                    for (int ch = 0; ch < c; ch++) dst[ch] = src[ch] > dst[ch] ? src[ch] : dst[ch];
                }
        }
}

void bs_q_maxpool_float(const float *x, int c, int h, int w, int kernel, int stride, float *out) {
    // MaxPool2d's rule: the first value greater than -inf, then strictly greater ones.
    const int oh = (h - kernel) / stride + 1, ow = (w - kernel) / stride + 1;
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            float *dst = out + ((long)oy * ow + ox) * c;
            for (int ch = 0; ch < c; ch++) dst[ch] = -INFINITY;
            for (int i = 0; i < kernel; i++)
                for (int j = 0; j < kernel; j++) {
                    const float *src = x + ((long)(oy * stride + i) * w + ox * stride + j) * c;
                    for (int ch = 0; ch < c; ch++) dst[ch] = src[ch] > dst[ch] ? src[ch] : dst[ch];
                }
        }
}

void bs_q_add_float(const float *a, const float *b, long n, float *out) {
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

BS_INLINE float operand(const void *x, int codes, float scale, int zero_point, long i) {
    return codes ? (float)((int32_t)((const uint8_t *)x)[i] - zero_point) * scale : ((const float *)x)[i];
}

BS_INLINE void add_requant(const void *a, int a_codes, float sa, int za, const void *b, int b_codes, float sb, int zb, long n,
                           int relu, float so, int zo, int qmin, int qmax, uint8_t *out) {
    const float zp = (float)zo, lo = (float)qmin, hi = (float)qmax;
    for (long i = 0; i < n; i++) {
        float v = operand(a, a_codes, sa, za, i) + operand(b, b_codes, sb, zb, i);
        if (relu) v = relu_f(v);
        out[i] = (uint8_t)grid_code(v, so, zp, lo, hi);
    }
}

void bs_q_add_requant(const void *a, int a_codes, float sa, int za, const void *b, int b_codes, float sb, int zb, long n,
                      int relu, float so, int zo, int qmin, int qmax, uint8_t *out) {
    // One instantiation per operand kind, so each loop is branch-free and vectorises.
    if (a_codes && b_codes) add_requant(a, 1, sa, za, b, 1, sb, zb, n, relu, so, zo, qmin, qmax, out);
    else if (a_codes) add_requant(a, 1, sa, za, b, 0, sb, zb, n, relu, so, zo, qmin, qmax, out);
    else if (b_codes) add_requant(a, 0, sa, za, b, 1, sb, zb, n, relu, so, zo, qmin, qmax, out);
    else add_requant(a, 0, sa, za, b, 0, sb, zb, n, relu, so, zo, qmin, qmax, out);
}

void bs_q_global_avgpool(const float *x, int c, int hw, float *plane, float *out) {
    const float scale = 1 / (float)hw;
    for (int ch = 0; ch < c; ch++) {
        for (int i = 0; i < hw; i++) plane[i] = x[(long)i * c + ch];
        out[ch] = bs_sum(plane, hw) * scale;   // GlobalAvgPool2d's summation order
    }
}

void bs_q_hwc_to_chw(const float *x, int c, int hw, float *out) {
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < hw; i++) out[(long)ch * hw + i] = x[(long)i * c + ch];
}

void bs_q_chw_to_hwc(const float *x, int c, int hw, float *out) {
    for (int i = 0; i < hw; i++)
        for (int ch = 0; ch < c; ch++) out[(long)i * c + ch] = x[(long)ch * hw + i];
}
