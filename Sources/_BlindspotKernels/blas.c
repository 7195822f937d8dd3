// BLAS loading with a core type chosen from CPUID; see bs_kernels.h for why.
#define _GNU_SOURCE
#include "bs_kernels.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cpuid.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                         float, float *, int);
typedef void (*set_threads_fn)(int);
typedef char *(*get_str_fn)(void);

enum { CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112 };

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_fn p_sgemm = NULL;
static char corename[64] = "naive";
static char status[512] = "not loaded";
static char chosen[32] = "";
static int from_env = 0;

static unsigned long long xgetbv0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

// Feature bits: leaf 1 ECX (FMA 12, OSXSAVE 27, AVX 28), leaf 7 EBX (AVX2 5, AVX512F 16,
// AVX512DQ 17, AVX512BW 30, AVX512VL 31), leaf 7 ECX (AVX512_VNNI 11); XCR0 must enable
// SSE|AVX state (0x6) and, for AVX-512, opmask|ZMM state (0xE0).
static int cpu_flags(int which) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return 0;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0;
    unsigned int a7, b7, c7, d7;
    if (!__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) return 0;
    int avx2 = (b7 >> 5) & 1;
    int avx512 = ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1) &&
                 ((xcr0 & 0xE0) == 0xE0);
    int vnni = (c7 >> 11) & 1;
    switch (which) {
    case 0: return avx2 && fma;
    case 1: return avx2 && fma && avx512;
    default: return avx2 && fma && avx512 && vnni;
    }
}

int bs_cpu_has_avx2_fma(void) { return cpu_flags(0); }
int bs_cpu_has_avx512(void) { return cpu_flags(1); }
int bs_cpu_has_avx512_vnni(void) { return cpu_flags(2); }

static void load(void) {
    const char *user = getenv("OPENBLAS_CORETYPE");
    if (user && *user) {
        // The user (or the machine's administrator) chose: respect it and say so.
        snprintf(chosen, sizeof chosen, "%s", user);
        from_env = 1;
    } else {
        if (bs_cpu_has_avx512()) snprintf(chosen, sizeof chosen, "SkylakeX");
        else if (bs_cpu_has_avx2_fma()) snprintf(chosen, sizeof chosen, "Haswell");
        else chosen[0] = 0;  // leave OpenBLAS's own detection
        if (chosen[0]) setenv("OPENBLAS_CORETYPE", chosen, 1);
    }
    const char *names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp-r0.3.21.so"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(status, sizeof status, "libopenblas.so.0 not found (%s); install libopenblas0-pthread. Using the naive sgemm: very slow",
                 e ? e : "?");
        return;
    }
    p_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    set_threads_fn set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
    get_str_fn get_core = (get_str_fn)dlsym(h, "openblas_get_corename");
    get_str_fn get_config = (get_str_fn)dlsym(h, "openblas_get_config");
    if (!p_sgemm) {
        snprintf(status, sizeof status, "libopenblas.so.0 has no cblas_sgemm; using the naive sgemm");
        return;
    }
    // One BLAS thread: the engine splits the batch over cores itself (blocking Dispatch workers,
    // which degrade gracefully when the host time-slices the two vCPUs).
    if (set_threads) set_threads(1);
    snprintf(corename, sizeof corename, "%s", get_core ? get_core() : "openblas");
    snprintf(status, sizeof status, "%s", get_config ? get_config() : "OpenBLAS");
}

int bs_blas_init(void) {
    pthread_once(&once, load);
    return p_sgemm != NULL;
}

const char *bs_blas_corename(void) { bs_blas_init(); return corename; }
const char *bs_blas_status(void) { bs_blas_init(); return status; }
const char *bs_blas_chosen_coretype(void) { bs_blas_init(); return chosen; }
int bs_blas_coretype_from_env(void) { bs_blas_init(); return from_env; }

void bs_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (bs_blas_init()) {
        p_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n,
                k, alpha, a, lda, b, ldb, beta, c, ldc);
    } else {
        bs_sgemm_naive(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
}

void bs_sgemm_naive(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc) {
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) {
                float av = trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += (double)av * bv;
            }
            float *cij = &c[(size_t)i * ldc + j];
            *cij = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *cij));
        }
    }
}
