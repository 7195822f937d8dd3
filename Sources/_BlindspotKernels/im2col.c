// im2col / col2im for NCHW images over a band of output rows; see bs_kernels.h for the layout.
#include "bs_kernels.h"
#include <string.h>

/// Stride 1 with OW == W ('same' padding): each (channel, i, j) row of the column matrix is the
/// input plane shifted by (i − top)·W + (j − left), so it is one block copy plus zeroed edge
/// rows and columns, instead of one short copy per output row.
static void im2col_same_stride1(const float *img, int c, int h, int w, int kh, int kw, int pad_top, int pad_left,
                                int oy0, int oy1, float *col, int ldcol) {
    const long plane_size = (long)h * w;
    for (int ch = 0; ch < c; ch++) {
        const float *plane = img + (size_t)ch * plane_size;
        for (int i = 0; i < kh; i++) {
            int ya = oy0, yb = oy1;                       // output rows whose input row is inside
            if (ya < pad_top - i) ya = pad_top - i;
            if (yb > h + pad_top - i) yb = h + pad_top - i;
            if (yb < ya) yb = ya;
            for (int j = 0; j < kw; j++) {
                float *row = col + (size_t)((ch * kh + i) * kw + j) * ldcol;
                int x0 = j - pad_left;
                if (ya > oy0) memset(row, 0, sizeof(float) * (size_t)(ya - oy0) * w);
                if (yb < oy1) memset(row + (size_t)(yb - oy0) * w, 0, sizeof(float) * (size_t)(oy1 - yb) * w);
                if (yb > ya) {
                    long start = (long)(ya - pad_top + i) * w + x0, count = (long)(yb - ya) * w;
                    float *dst = row + (size_t)(ya - oy0) * w;
                    long skip = start < 0 ? -start : 0;             // never read before the plane
                    long stop = start + count > plane_size ? plane_size - start : count;
                    if (stop > skip) memcpy(dst + skip, plane + start + skip, sizeof(float) * (size_t)(stop - skip));
                    for (long q = 0; q < skip; q++) dst[q] = 0.0f;
                    for (long q = stop; q < count; q++) dst[q] = 0.0f;
                    // Columns whose input x falls outside the row wrapped into a neighbouring row: zero them.
                    if (x0 < 0) {
                        for (int r = 0; r < yb - ya; r++) for (int q = 0; q < -x0; q++) dst[(size_t)r * w + q] = 0.0f;
                    } else if (x0 > 0) {
                        for (int r = 0; r < yb - ya; r++) for (int q = w - x0; q < w; q++) dst[(size_t)r * w + q] = 0.0f;
                    }
                }
            }
        }
    }
}

void bs_im2col(const float *img, int c, int h, int w, int kh, int kw, int sh, int sw, int pad_top,
               int pad_left, int oh, int ow, int oy0, int oy1, float *col, int ldcol) {
    (void)oh;
    if (sh == 1 && sw == 1 && ow == w && ldcol == (oy1 - oy0) * ow) {
        im2col_same_stride1(img, c, h, w, kh, kw, pad_top, pad_left, oy0, oy1, col, ldcol);
        return;
    }
    for (int ch = 0; ch < c; ch++) {
        const float *plane = img + (size_t)ch * h * w;
        for (int i = 0; i < kh; i++) {
            for (int j = 0; j < kw; j++) {
                float *row = col + (size_t)((ch * kh + i) * kw + j) * ldcol;
                int x0 = j - pad_left;
                // Valid ox range for stride sw: 0 ≤ ox·sw + x0 < w.
                int lo = x0 < 0 ? (-x0 + sw - 1) / sw : 0;
                int hi = (w - x0 + sw - 1) / sw;
                if (hi > ow) hi = ow;
                if (hi < lo) hi = lo;
                for (int oy = oy0; oy < oy1; oy++) {
                    int y = oy * sh - pad_top + i;
                    float *dst = row + (size_t)(oy - oy0) * ow;
                    if (y < 0 || y >= h) {
                        for (int ox = 0; ox < ow; ox++) dst[ox] = 0.0f;
                        continue;
                    }
                    const float *src = plane + (size_t)y * w + x0;
                    for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (sw == 1) {
                        for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox];
                    } else {
                        for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox * sw];
                    }
                    for (int ox = hi; ox < ow; ox++) dst[ox] = 0.0f;
                }
            }
        }
    }
}

void bs_col2im(const float *col, int ldcol, int c, int h, int w, int kh, int kw, int sh, int sw, int pad_top,
               int pad_left, int oh, int ow, int oy0, int oy1, float *img) {
    (void)oh;
    for (int ch = 0; ch < c; ch++) {
        float *plane = img + (size_t)ch * h * w;
        for (int i = 0; i < kh; i++) {
            for (int j = 0; j < kw; j++) {
                const float *row = col + (size_t)((ch * kh + i) * kw + j) * ldcol;
                int x0 = j - pad_left;
                int lo = x0 < 0 ? (-x0 + sw - 1) / sw : 0;
                int hi = (w - x0 + sw - 1) / sw;
                if (hi > ow) hi = ow;
                for (int oy = oy0; oy < oy1; oy++) {
                    int y = oy * sh - pad_top + i;
                    if (y < 0 || y >= h) continue;
                    float *dst = plane + (size_t)y * w + x0;
                    const float *src = row + (size_t)(oy - oy0) * ow;
                    if (sw == 1) {
                        for (int ox = lo; ox < hi; ox++) dst[ox] += src[ox];
                    } else {
                        for (int ox = lo; ox < hi; ox++) dst[ox * sw] += src[ox];
                    }
                }
            }
        }
    }
}
