// The integer path's data movement around bs_gemm_u8s8s32: float activations (already on their
// 8-bit grid) to uint8 codes, codes to im2row rows, and int32 accumulators back to floats.
// Kept in C so that the loops vectorise; each has a plain definition in bs_int8.h and is tested
// bit for bit against an independent integer reference (QuantizationTests).
#include "bs_int8.h"
#include <math.h>
#include <stddef.h>
#include <string.h>

static inline uint8_t code(float v, float inv_scale, float zp) {
    float q = nearbyintf(v * inv_scale) + zp;
    q = q < 0.f ? 0.f : q;
    q = q > 255.f ? 255.f : q;
    return (uint8_t)q;
}

void bs_codes_u8(const float *x, long n, float inv_scale, int zero_point, uint8_t *out) {
    const float zp = (float)zero_point;
    for (long i = 0; i < n; i++) out[i] = code(x[i], inv_scale, zp);
}

void bs_codes_hwc_u8(const float *x, int c, int h, int w, float inv_scale, int zero_point, uint8_t *out) {
    const float zp = (float)zero_point;
    const long hw = (long)h * w;
    for (int ch = 0; ch < c; ch++) {
        const float *plane = x + (long)ch * hw;
        uint8_t *dst = out + ch;
        for (long i = 0; i < hw; i++) dst[i * c] = code(plane[i], inv_scale, zp);
    }
}

void bs_im2row_hwc_u8(const uint8_t *img, int c, int h, int w, int kh, int kw, int sh, int sw, int pad_top,
                      int pad_left, int oh, int ow, uint8_t pad, uint8_t *rows) {
    const size_t k = (size_t)c * kh * kw, span = (size_t)kw * c;
    for (int oy = 0; oy < oh; oy++) {
        for (int ox = 0; ox < ow; ox++) {
            uint8_t *row = rows + ((size_t)oy * ow + ox) * k;
            const int iy0 = oy * sh - pad_top, ix0 = ox * sw - pad_left;
            for (int ky = 0; ky < kh; ky++, row += span) {
                const int iy = iy0 + ky;
                if (iy < 0 || iy >= h) { memset(row, pad, span); continue; }
                const uint8_t *src = img + (size_t)iy * w * c;
                if (ix0 >= 0 && ix0 + kw <= w) { memcpy(row, src + (size_t)ix0 * c, span); continue; }
                for (int kx = 0; kx < kw; kx++) {
                    const int ix = ix0 + kx;
                    if (ix < 0 || ix >= w) memset(row + (size_t)kx * c, pad, (size_t)c);
                    else memcpy(row + (size_t)kx * c, src + (size_t)ix * c, (size_t)c);
                }
            }
        }
    }
}

// (acc + offset) wraps modulo 2^32 exactly as Swift's &+ does (signed overflow is undefined in C).
static inline float rescaled(int32_t acc, int32_t offset, float mult) {
    return (float)(int32_t)((uint32_t)acc + (uint32_t)offset) * mult;
}

void bs_rescale_rows(const int32_t *acc, int m, int n, const int32_t *offset, const float *mult, float *out) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) out[(size_t)i * n + j] = rescaled(acc[(size_t)i * n + j], offset[j], mult[j]);
}

void bs_rescale_chw(const int32_t *acc, int hw, int oc, const int32_t *offset, const float *mult, float *out) {
    enum { BLOCK = 64 };   // output pixels per block: the block's accumulators stay in L1
    for (int j0 = 0; j0 < hw; j0 += BLOCK) {
        const int j1 = j0 + BLOCK < hw ? j0 + BLOCK : hw;
        for (int o = 0; o < oc; o++) {
            float *dst = out + (size_t)o * hw;
            for (int j = j0; j < j1; j++) dst[j] = rescaled(acc[(size_t)j * oc + o], offset[o], mult[o]);
        }
    }
}
