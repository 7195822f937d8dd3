// im2col / col2im for NCHW images; see bs_kernels.h for the layout.
#include "bs_kernels.h"
#include <string.h>

void bs_im2col(const float *img, int c, int h, int w, int kh, int kw, int sh, int sw, int pad_top,
               int pad_left, int oh, int ow, float *col, int ldcol) {
    for (int ch = 0; ch < c; ch++) {
        const float *plane = img + (size_t)ch * h * w;
        for (int i = 0; i < kh; i++) {
            for (int j = 0; j < kw; j++) {
                float *row = col + (size_t)((ch * kh + i) * kw + j) * ldcol;
                for (int oy = 0; oy < oh; oy++) {
                    int y = oy * sh - pad_top + i;
                    float *dst = row + (size_t)oy * ow;
                    if (y < 0 || y >= h) {
                        memset(dst, 0, sizeof(float) * (size_t)ow);
                        continue;
                    }
                    const float *src = plane + (size_t)y * w;
                    int x0 = j - pad_left;
                    if (sw == 1) {
                        // Contiguous run: zeros where x falls outside, one memcpy inside.
                        int lo = x0 < 0 ? -x0 : 0;
                        int hi = ow;
                        if (x0 + hi > w) hi = w - x0;
                        if (hi < lo) hi = lo;
                        for (int ox = 0; ox < lo; ox++) dst[ox] = 0;
                        if (hi > lo) memcpy(dst + lo, src + x0 + lo, sizeof(float) * (size_t)(hi - lo));
                        for (int ox = hi; ox < ow; ox++) dst[ox] = 0;
                    } else {
                        for (int ox = 0; ox < ow; ox++) {
                            int x = ox * sw + x0;
                            dst[ox] = (x >= 0 && x < w) ? src[x] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

void bs_col2im(const float *col, int ldcol, int c, int h, int w, int kh, int kw, int sh, int sw, int pad_top,
               int pad_left, int oh, int ow, float *img) {
    for (int ch = 0; ch < c; ch++) {
        float *plane = img + (size_t)ch * h * w;
        for (int i = 0; i < kh; i++) {
            for (int j = 0; j < kw; j++) {
                const float *row = col + (size_t)((ch * kh + i) * kw + j) * ldcol;
                for (int oy = 0; oy < oh; oy++) {
                    int y = oy * sh - pad_top + i;
                    if (y < 0 || y >= h) continue;
                    float *dst = plane + (size_t)y * w;
                    const float *src = row + (size_t)oy * ow;
                    int x0 = j - pad_left;
                    if (sw == 1) {
                        int lo = x0 < 0 ? -x0 : 0;
                        int hi = ow;
                        if (x0 + hi > w) hi = w - x0;
                        for (int ox = lo; ox < hi; ox++) dst[x0 + ox] += src[ox];
                    } else {
                        for (int ox = 0; ox < ow; ox++) {
                            int x = ox * sw + x0;
                            if (x >= 0 && x < w) dst[x] += src[ox];
                        }
                    }
                }
            }
        }
    }
}
