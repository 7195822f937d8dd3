// Exact uint8 × int8 → int32 GEMM with run-time dispatch; see bs_int8.h for the layout.
//
// Three implementations, all bit-identical (integer arithmetic, no saturation anywhere):
//   scalar       — the reference: a plain triple loop with int64 accumulation.
//   avx2         — widen to int16 + vpmaddwd (explained at avx2_tile below).
//   avx512-vnni  — vpdpbusd (u8·s8, four products summed straight into int32).
// Every SIMD kernel computes a register tile of MR rows of A × NR rows of Bt at once: one
// vector accumulator per (row, column) pair, running along contiguous K on both sides, and a
// horizontal sum per accumulator at the end. Tiles on the m/n edges are the same code
// instantiated with smaller MR/NR; the K tail is zero-padded (stack copy / masked load), which
// adds 0·x = 0 and so keeps the result exact.
//
// Wrap-around note: vpaddd/vpdpbusd wrap modulo 2^32, so the lane-wise partial sums are exact
// mod 2^32 and their total equals the true result whenever that fits in int32 (k ≤ 65536 gives
// |C| ≤ 65536·255·128 < 2^31). The scalar reference accumulates in int64.
#include "bs_int8.h"
#include "bs_kernels.h"
#include <immintrin.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#define BS_INLINE static inline __attribute__((always_inline))
#define BS_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

// Bytes of Bt kept hot in L1 while all of A's row tiles stream past it (A's tile of MR rows is
// reused across the chunk's NC/NR column tiles; the chunk across all row tiles).
enum { BS_INT8_L1_BYTES = 24 * 1024 };

static int chunk_rows(int k, int nr) {
    int rows = k > 0 ? BS_INT8_L1_BYTES / k : nr;
    rows -= rows % nr;
    return rows < nr ? nr : rows;
}

// -------------------------------------------------------------------------------------------
// Scalar reference.
// -------------------------------------------------------------------------------------------
static void gemm_scalar(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *bt, size_t ldb,
                        int32_t *c, size_t ldc) {
    for (int i = 0; i < m; i++) {
        const uint8_t *ar = a + (size_t)i * lda;
        for (int j = 0; j < n; j++) {
            const int8_t *br = bt + (size_t)j * ldb;
            int64_t s = 0;
            for (int p = 0; p < k; p++) s += (int64_t)ar[p] * (int64_t)br[p];
            c[(size_t)i * ldc + j] = (int32_t)s;
        }
    }
}

// -------------------------------------------------------------------------------------------
// AVX2 (the target is compiled with -march=x86-64-v3, so no target attribute is needed).
//
// Why not vpmaddubsw: it multiplies u8·s8 and adds adjacent PAIRS into int16 with signed
// saturation; 255·127 + 255·127 = 64770 and 255·(−128)·2 = −65280 do not fit int16, so results
// would be silently clamped on the full input range. Instead we widen both operands to int16
// (vpmovzxbw for A's 0…255, vpmovsxbw for Bt's −128…127) and use vpmaddwd, which multiplies
// int16·int16 pairs and adds each pair into an int32 lane: |pair| ≤ 2·255·128 = 65280, exact.
// The int32 lanes are then summed with vpaddd (exact, see the wrap-around note above).
// Cost: 16 k-elements per vpmaddwd+vpaddd per (row, column) pair, plus one widening load per
// row of the tile — the widening is amortised over NR (resp. MR) products.
// -------------------------------------------------------------------------------------------
enum { AVX2_MR = 4, AVX2_NR = 3 };

BS_INLINE int32_t hsum256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

BS_INLINE void avx2_tile(const int MR, const int NR, int k, const uint8_t *a, size_t lda, const int8_t *bt,
                         size_t ldb, int32_t *c, size_t ldc) {
    __m256i acc[AVX2_MR][AVX2_NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_si256();
    int p = 0;
    for (; p + 16 <= k; p += 16) {
        __m256i bw[AVX2_NR];
        for (int j = 0; j < NR; j++)
            bw[j] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(bt + j * ldb + p)));
        for (int i = 0; i < MR; i++) {
            __m256i aw = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(a + i * lda + p)));
            for (int j = 0; j < NR; j++) acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(aw, bw[j]));
        }
    }
    if (p < k) {
        // K tail (< 16): copy into zero-padded stack rows, one more step. Zero bytes add 0.
        const size_t r = (size_t)(k - p);
        uint8_t ta[AVX2_MR][16];
        int8_t tb[AVX2_NR][16];
        memset(ta, 0, sizeof ta);
        memset(tb, 0, sizeof tb);
        for (int i = 0; i < MR; i++) memcpy(ta[i], a + i * lda + p, r);
        for (int j = 0; j < NR; j++) memcpy(tb[j], bt + j * ldb + p, r);
        __m256i bw[AVX2_NR];
        for (int j = 0; j < NR; j++) bw[j] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)tb[j]));
        for (int i = 0; i < MR; i++) {
            __m256i aw = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)ta[i]));
            for (int j = 0; j < NR; j++) acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(aw, bw[j]));
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] = hsum256(acc[i][j]);
}

#define AVX2_CASE(M, N) \
    case (M) * 8 + (N): avx2_tile(M, N, k, a, lda, bt, ldb, c, ldc); break;

static void avx2_edge(int mr, int nr, int k, const uint8_t *a, size_t lda, const int8_t *bt, size_t ldb,
                      int32_t *c, size_t ldc) {
    switch (mr * 8 + nr) {
        AVX2_CASE(1, 1) AVX2_CASE(1, 2) AVX2_CASE(1, 3)
        AVX2_CASE(2, 1) AVX2_CASE(2, 2) AVX2_CASE(2, 3)
        AVX2_CASE(3, 1) AVX2_CASE(3, 2) AVX2_CASE(3, 3)
        AVX2_CASE(4, 1) AVX2_CASE(4, 2) AVX2_CASE(4, 3)
    default: break;
    }
}

static void gemm_avx2(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *bt, size_t ldb,
                      int32_t *c, size_t ldc) {
    const int nc = chunk_rows(k, AVX2_NR);
    for (int j0 = 0; j0 < n; j0 += nc) {
        const int j1 = n - j0 < nc ? n : j0 + nc;
        for (int i = 0; i < m; i += AVX2_MR) {
            const int mr = m - i < AVX2_MR ? m - i : AVX2_MR;
            const uint8_t *ai = a + (size_t)i * lda;
            int32_t *ci = c + (size_t)i * ldc;
            int j = j0;
            if (mr == AVX2_MR)
                for (; j + AVX2_NR <= j1; j += AVX2_NR)
                    avx2_tile(AVX2_MR, AVX2_NR, k, ai, lda, bt + (size_t)j * ldb, ldb, ci + j, ldc);
            for (; j < j1; j += AVX2_NR) {
                const int nr = j1 - j < AVX2_NR ? j1 - j : AVX2_NR;
                avx2_edge(mr, nr, k, ai, lda, bt + (size_t)j * ldb, ldb, ci + j, ldc);
            }
        }
    }
}

// -------------------------------------------------------------------------------------------
// AVX-512 VNNI: vpdpbusd multiplies 4 adjacent u8 (A) by 4 s8 (Bt), sums the four int16-exact
// products in full precision and adds them to an int32 lane — no intermediate saturation
// (this is the non-"s" form), so it is exact directly; A is already unsigned, so no +128
// compensation is needed. 64 k-elements per instruction; the K tail uses zero-masked loads.
// Only called after bs_cpu_has_avx512_vnni() (F+BW+VL+DQ+VNNI, OS-enabled ZMM state).
// -------------------------------------------------------------------------------------------
enum { VNNI_MR = 4, VNNI_NR = 4 };

BS_INLINE BS_AVX512 void vnni_tile(const int MR, const int NR, int k, const uint8_t *a, size_t lda,
                                    const int8_t *bt, size_t ldb, int32_t *c, size_t ldc) {
    __m512i acc[VNNI_MR][VNNI_NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_si512();
    int p = 0;
    for (; p + 64 <= k; p += 64) {
        __m512i bv[VNNI_NR];
        for (int j = 0; j < NR; j++) bv[j] = _mm512_loadu_si512((const void *)(bt + j * ldb + p));
        for (int i = 0; i < MR; i++) {
            __m512i av = _mm512_loadu_si512((const void *)(a + i * lda + p));
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, bv[j]);
        }
    }
    if (p < k) {
        const __mmask64 mask = (~0ULL) >> (64 - (k - p));  // k − p in 1…63
        __m512i bv[VNNI_NR];
        for (int j = 0; j < NR; j++) bv[j] = _mm512_maskz_loadu_epi8(mask, (const void *)(bt + j * ldb + p));
        for (int i = 0; i < MR; i++) {
            __m512i av = _mm512_maskz_loadu_epi8(mask, (const void *)(a + i * lda + p));
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, bv[j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] = _mm512_reduce_add_epi32(acc[i][j]);
}

#define VNNI_CASE(M, N) \
    case (M) * 8 + (N): vnni_tile(M, N, k, a, lda, bt, ldb, c, ldc); break;

static BS_AVX512 void vnni_edge(int mr, int nr, int k, const uint8_t *a, size_t lda, const int8_t *bt,
                                size_t ldb, int32_t *c, size_t ldc) {
    switch (mr * 8 + nr) {
        VNNI_CASE(1, 1) VNNI_CASE(1, 2) VNNI_CASE(1, 3) VNNI_CASE(1, 4)
        VNNI_CASE(2, 1) VNNI_CASE(2, 2) VNNI_CASE(2, 3) VNNI_CASE(2, 4)
        VNNI_CASE(3, 1) VNNI_CASE(3, 2) VNNI_CASE(3, 3) VNNI_CASE(3, 4)
        VNNI_CASE(4, 1) VNNI_CASE(4, 2) VNNI_CASE(4, 3) VNNI_CASE(4, 4)
    default: break;
    }
}

static BS_AVX512 void gemm_vnni(int m, int n, int k, const uint8_t *a, size_t lda, const int8_t *bt,
                                size_t ldb, int32_t *c, size_t ldc) {
    const int nc = chunk_rows(k, VNNI_NR);
    for (int j0 = 0; j0 < n; j0 += nc) {
        const int j1 = n - j0 < nc ? n : j0 + nc;
        for (int i = 0; i < m; i += VNNI_MR) {
            const int mr = m - i < VNNI_MR ? m - i : VNNI_MR;
            const uint8_t *ai = a + (size_t)i * lda;
            int32_t *ci = c + (size_t)i * ldc;
            int j = j0;
            if (mr == VNNI_MR)
                for (; j + VNNI_NR <= j1; j += VNNI_NR)
                    vnni_tile(VNNI_MR, VNNI_NR, k, ai, lda, bt + (size_t)j * ldb, ldb, ci + j, ldc);
            for (; j < j1; j += VNNI_NR) {
                const int nr = j1 - j < VNNI_NR ? j1 - j : VNNI_NR;
                vnni_edge(mr, nr, k, ai, lda, bt + (size_t)j * ldb, ldb, ci + j, ldc);
            }
        }
    }
}

// -------------------------------------------------------------------------------------------
// Dispatch. CPUID traps to the hypervisor in VMs, so the features are read once.
// -------------------------------------------------------------------------------------------
static pthread_once_t int8_once = PTHREAD_ONCE_INIT;
static int has_avx2 = 0, has_vnni = 0;

static void int8_init(void) {
    has_avx2 = bs_cpu_has_avx2_fma();
    has_vnni = bs_cpu_has_avx512_vnni();
}

static int best_impl(void) {
    pthread_once(&int8_once, int8_init);
    return has_vnni ? 2 : has_avx2 ? 1 : 0;
}

const char *bs_int8_kernel_name(void) {
    switch (best_impl()) {
    case 2: return "avx512-vnni";
    case 1: return "avx2";
    default: return "scalar";
    }
}

int bs_gemm_u8s8s32_impl(int impl, int m, int n, int k, const uint8_t *a, int lda, const int8_t *bt, int ldb,
                         int32_t *c, int ldc) {
    pthread_once(&int8_once, int8_init);
    if ((impl == 1 && !has_avx2) || (impl == 2 && !has_vnni) || impl < 0 || impl > 2) return 0;
    if (m <= 0 || n <= 0) return 1;
    if (k <= 0) {
        for (int i = 0; i < m; i++) memset(c + (size_t)i * (size_t)ldc, 0, (size_t)n * sizeof *c);
        return 1;
    }
    const size_t la = (size_t)lda, lb = (size_t)ldb, lc = (size_t)ldc;
    switch (impl) {
    case 2: gemm_vnni(m, n, k, a, la, bt, lb, c, lc); break;
    case 1: gemm_avx2(m, n, k, a, la, bt, lb, c, lc); break;
    default: gemm_scalar(m, n, k, a, la, bt, lb, c, lc); break;
    }
    return 1;
}

void bs_gemm_u8s8s32(int m, int n, int k, const uint8_t *a, int lda, const int8_t *bt, int ldb, int32_t *c,
                     int ldc) {
    bs_gemm_u8s8s32_impl(best_impl(), m, n, k, a, lda, bt, ldb, c, ldc);
}
