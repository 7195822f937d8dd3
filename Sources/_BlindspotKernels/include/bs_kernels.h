// _BlindspotKernels: the C kernels under blindspot's tensor engine.
// Internal module (underscore): Swift code calls these through BlindspotEngine only.
//
// Shape legend used in every comment: N batch, C input channels, H/W input height/width,
// OC output channels, KH/KW kernel size, OH/OW output height/width, K = C*KH*KW.
#ifndef BS_KERNELS_H
#define BS_KERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------------------------
// BLAS, loaded at run time.
// Debian's OpenBLAS 0.3.21 misdetects recent Xeons and falls back to SSE3 "Prescott" kernels
// (3-5x slower; shared/docs/platform.md). OpenBLAS reads OPENBLAS_CORETYPE in its library
// constructor, so we choose the core type from CPUID *before* dlopen-ing the library.
// ---------------------------------------------------------------------------------------------

/// Loads OpenBLAS once (thread-safe). Returns 1 when a real BLAS is in use, 0 when only the
/// built-in naive sgemm is available (then bs_blas_status() says why).
int bs_blas_init(void);
/// The kernel family in use, e.g. "SkylakeX" (from openblas_get_corename) or "naive".
const char *bs_blas_corename(void);
/// OpenBLAS's build configuration string, or a reason it is not loaded.
const char *bs_blas_status(void);
/// The core type blindspot chose from CPUID ("SkylakeX", "Haswell", or "" to leave OpenBLAS's own
/// detection), and whether the user's OPENBLAS_CORETYPE was kept instead.
const char *bs_blas_chosen_coretype(void);
int bs_blas_coretype_from_env(void);
/// CPU features read with CPUID (1 = present and enabled by the OS).
int bs_cpu_has_avx2_fma(void);
int bs_cpu_has_avx512(void);      // F + BW + VL + DQ
int bs_cpu_has_avx512_vnni(void);

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, with op(A) M×K,
/// op(B) K×N, C M×N. trans_a/trans_b: 0 = as stored, 1 = transposed.
/// Runs on the calling thread (OpenBLAS is set to one thread; we parallelise over the batch).
void bs_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
              const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
/// The naive reference for bs_sgemm (triple loop, double accumulation); tests compare the two.
void bs_sgemm_naive(int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

// ---------------------------------------------------------------------------------------------
// im2col / col2im for one image (NCHW), writing into a column matrix with row stride ldcol so
// that several images can sit side by side: col[(c*KH + i)*KW + j][oy*OW + ox] (K rows).
// Padding may be asymmetric (Keras 'same' with stride 2 pads bottom/right more): only the
// top/left amounts matter here, the output size already accounts for bottom/right.
// ---------------------------------------------------------------------------------------------
/// Output rows oy0 ≤ oy < oy1 only ("bands", so a band's columns stay in cache for the GEMM):
/// column (oy − oy0)·OW + ox.
void bs_im2col(const float *img, int c, int h, int w, int kh, int kw, int sh, int sw,
               int pad_top, int pad_left, int oh, int ow, int oy0, int oy1, float *col, int ldcol);
/// Adds the band's columns back into the image gradient (img must be zeroed by the caller).
void bs_col2im(const float *col, int ldcol, int c, int h, int w, int kh, int kw, int sh, int sw,
               int pad_top, int pad_left, int oh, int ow, int oy0, int oy1, float *img);

// ---------------------------------------------------------------------------------------------
// Reductions with several accumulators, so they vectorise (a single float accumulator is a
// serial dependency chain: ~4 cycles per element).
// ---------------------------------------------------------------------------------------------
/// Σ x[i]
float bs_sum(const float *x, long n);
/// Σ (x[i] − m)²
float bs_sum_sq_dev(const float *x, long n, float m);
/// Σ a[i]·b[i]
float bs_dot(const float *a, const float *b, long n);
/// Σ a[i]·(b[i] − m)
float bs_dot_dev(const float *a, const float *b, long n, float m);

#ifdef __cplusplus
}
#endif
#include "bs_int8.h"
#endif
