// What bounds the batch-1 column walk of the CPU EIE kernel (kernels/src/cpu/eie.rs, f32) on this core:
// the walk replayed in C on a synthetic layer whose entries stay in cache, and the same loop with one
// part taken out at a time. Entries are our 16-bit format (4-bit code, 12-bit advance: the row is the
// running sum of the advances, minus 1); two columns are walked at a time, four entries per 8-byte load.
//
//   gcc -O3 -march=native -o /tmp/colwalk scripts/bounds/colwalk.c -lm
//   taskset -c 0 /tmp/colwalk ROWS COLS DENSITY [REPS]      e.g. 4095 512 0.09
//
// Prints per variant the fastest of REPS walks over every column: ns and cycles per entry (the cycle
// from a chain of dependent adds, one per cycle) and G entries/s:
//   table      the walk as the kernel's portable/AVX-512 loop: y[row] += table[code] (2 loads, 1 store)
//   registers  the products in two ymm registers, 8 codes per vpermps pair (the kernel's AVX2 loop;
//              needs AVX2): y[row] += product (1 load, 1 store)
//   no-product y[row] += 1: the decode and the read-modify-write alone
//   no-store   acc += y[row] * table[code]: both loads, no store (8 accumulators)
//   store-only y[row] = table[code]: no load of y
//   rows-given y[row[i]] += value[i] with rows and products precomputed (no decode; 3 loads, 1 store)
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}
static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; }

static int R, C;
static float *y, cb[16], *value;
static uint16_t *ent;
static uint32_t *ptr, *row;
static volatile float sink;

#define ADV(w, k) (((w) >> (16 * (k))) & 0xfff)
#define COD(w, k) (((w) >> (16 * (k) + 12)) & 15)
#define S_TABLE(end, w, k, t, acc) { end += ADV(w, k); ym1[end] += t[COD(w, k)]; }
#define S_NOPRODUCT(end, w, k, t, acc) { end += ADV(w, k); ym1[end] += 1.0f; (void)t; }
#define S_NOSTORE(end, w, k, t, acc) { end += ADV(w, k); acc[k] += ym1[end] * t[COD(w, k)]; }
#define S_STOREONLY(end, w, k, t, acc) { end += ADV(w, k); ym1[end] = t[COD(w, k)]; }
#define WALK(NAME, STEP)                                                                        \
    static float NAME(void) {                                                                   \
        float acca[4] = {0}, accb[4] = {0}, *ym1 = y - 1;                                       \
        uint64_t sum = 0;                                                                       \
        memset(y, 0, R * 4);                                                                    \
        for (int j = 0; j + 1 < C; j += 2) {                                                    \
            float ta[16], tb[16], xa = 1.0f + j * 1e-3f, xb = xa + 1e-3f;                       \
            for (int k = 0; k < 16; k++) { ta[k] = cb[k] * xa; tb[k] = cb[k] * xb; }            \
            uint16_t *ca = ent + ptr[j], *cc = ent + ptr[j + 1];                                \
            uint64_t la = ptr[j + 1] - ptr[j], lb = ptr[j + 2] - ptr[j + 1], ea = 0, eb = 0;    \
            uint64_t n = (la < lb ? la : lb) / 4 * 4;                                           \
            for (uint64_t i = 0; i < n; i += 4) {                                               \
                uint64_t e, f;                                                                  \
                memcpy(&e, ca + i, 8);                                                          \
                memcpy(&f, cc + i, 8);                                                          \
                STEP(ea, e, 0, ta, acca); STEP(eb, f, 0, tb, accb);                             \
                STEP(ea, e, 1, ta, acca); STEP(eb, f, 1, tb, accb);                             \
                STEP(ea, e, 2, ta, acca); STEP(eb, f, 2, tb, accb);                             \
                STEP(ea, e, 3, ta, acca); STEP(eb, f, 3, tb, accb);                             \
            }                                                                                   \
            for (uint64_t i = n; i < la; i++) { uint64_t e = ca[i]; STEP(ea, e, 0, ta, acca); } \
            for (uint64_t i = n; i < lb; i++) { uint64_t f = cc[i]; STEP(eb, f, 0, tb, accb); } \
            sum += ea + eb;                                                                     \
        }                                                                                       \
        return acca[0] + acca[1] + acca[2] + acca[3] + accb[0] + accb[1] + accb[2] + accb[3] + sum; \
    }
WALK(w_table, S_TABLE)
WALK(w_noproduct, S_NOPRODUCT)
WALK(w_nostore, S_NOSTORE)
WALK(w_storeonly, S_STOREONLY)

static float w_rowsgiven(void) {
    memset(y, 0, R * 4);
    for (int j = 0; j + 1 < C; j += 2) {
        uint32_t oa = ptr[j], ob = ptr[j + 1], la = ob - oa, lb = ptr[j + 2] - ob, n = la < lb ? la : lb;
        for (uint32_t i = 0; i < n; i++) { y[row[oa + i]] += value[oa + i]; y[row[ob + i]] += value[ob + i]; }
        for (uint32_t i = n; i < la; i++) y[row[oa + i]] += value[oa + i];
        for (uint32_t i = n; i < lb; i++) y[row[ob + i]] += value[ob + i];
    }
    return y[0];
}

#ifdef __AVX2__
static inline __m256 products(const uint16_t *e, __m256 lo, __m256 hi) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)e));
    __m256i code = _mm256_srli_epi32(w, 12);
    __m256 pick = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, code), _mm256_permutevar8x32_ps(hi, code), pick);
}
#define LANE(v, k) ((k) == 0 ? (v) : (k) == 1 ? _mm_movehdup_ps(v) : (k) == 2 ? _mm_movehl_ps(v, v) : _mm_permute_ps(v, 3))
#define RMW(end, w, k, v) { end += ((w) >> (16 * (k))) & 0xfff; ym1[end] += _mm_cvtss_f32(LANE(v, k)); }
static float w_registers(void) {
    float *ym1 = y - 1;
    uint64_t sum = 0;
    memset(y, 0, R * 4);
    __m256 clo = _mm256_loadu_ps(cb), chi = _mm256_loadu_ps(cb + 8);
    for (int j = 0; j + 1 < C; j += 2) {
        float xa = 1.0f + j * 1e-3f, xb = xa + 1e-3f, ta[16], tb[16];
        __m256 alo = _mm256_mul_ps(clo, _mm256_set1_ps(xa)), ahi = _mm256_mul_ps(chi, _mm256_set1_ps(xa));
        __m256 blo = _mm256_mul_ps(clo, _mm256_set1_ps(xb)), bhi = _mm256_mul_ps(chi, _mm256_set1_ps(xb));
        _mm256_storeu_ps(ta, alo); _mm256_storeu_ps(ta + 8, ahi);
        _mm256_storeu_ps(tb, blo); _mm256_storeu_ps(tb + 8, bhi);
        uint16_t *ca = ent + ptr[j], *cc = ent + ptr[j + 1];
        uint64_t la = ptr[j + 1] - ptr[j], lb = ptr[j + 2] - ptr[j + 1], ea = 0, eb = 0;
        uint64_t n = (la < lb ? la : lb) / 8 * 8;
        for (uint64_t i = 0; i < n; i += 8) {
            __m256 pa = products(ca + i, alo, ahi), pb = products(cc + i, blo, bhi);
            for (int h = 0; h < 2; h++) {
                __m128 va = h ? _mm256_extractf128_ps(pa, 1) : _mm256_castps256_ps128(pa);
                __m128 vb = h ? _mm256_extractf128_ps(pb, 1) : _mm256_castps256_ps128(pb);
                uint64_t e, f;
                memcpy(&e, ca + i + 4 * h, 8);
                memcpy(&f, cc + i + 4 * h, 8);
                RMW(ea, e, 0, va); RMW(eb, f, 0, vb); RMW(ea, e, 1, va); RMW(eb, f, 1, vb);
                RMW(ea, e, 2, va); RMW(eb, f, 2, vb); RMW(ea, e, 3, va); RMW(eb, f, 3, vb);
            }
        }
        for (uint64_t i = n; i < la; i++) { uint64_t e = ca[i]; ea += ADV(e, 0); ym1[ea] += ta[COD(e, 0)]; }
        for (uint64_t i = n; i < lb; i++) { uint64_t f = cc[i]; eb += ADV(f, 0); ym1[eb] += tb[COD(f, 0)]; }
        sum += ea + eb;
    }
    return sum;
}
#endif

static double ns_per_cycle(void) {
    long n = 200000000;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        uint64_t x = 0;
        long i = n;
        __asm__ volatile("1: add $1,%0\n add $1,%0\n add $1,%0\n add $1,%0\n dec %1\n jnz 1b" : "+r"(x), "+r"(i));
        double t = now() - t0;
        if (t < best) best = t;
    }
    return best / (4.0 * n);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s ROWS COLS DENSITY [REPS]\n", argv[0]);
        return 2;
    }
    R = atoi(argv[1]);
    C = atoi(argv[2]) / 2 * 2;
    double d = atof(argv[3]);
    int reps = argc > 4 ? atoi(argv[4]) : 100;
    if (R < 1 || R > 4095 || C < 2 || !(d > 0 && d <= 1) || reps < 1) {
        fprintf(stderr, "ROWS must be 1..4095 (one advance field per entry, no padding), COLS >= 2, "
                        "DENSITY in (0, 1], REPS >= 1\n");
        return 2;
    }
    for (int k = 0; k < 16; k++) cb[k] = (k - 8) * 0.1f;
    size_t cap = (size_t)R * C + 8;
    ptr = malloc((C + 1) * sizeof *ptr);
    ent = malloc(cap * 2);
    row = malloc(cap * 4);
    value = malloc(cap * 4);
    y = aligned_alloc(64, ((R * 4 + 63) / 64) * 64);
    if (!ptr || !ent || !row || !value || !y) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    size_t n = 0;
    ptr[0] = 0;
    for (int j = 0; j < C; j++) {
        uint32_t last = 0;
        for (int r = 0; r < R; r++)
            if ((rnd() % 1000000) < d * 1e6) {
                uint16_t code = rnd() % 16;
                row[n] = r;
                value[n] = cb[code];
                ent[n++] = (uint16_t)(code << 12 | (r + 1 - last));
                last = r + 1;
            }
        ptr[j + 1] = n;
    }
    // The two product walks must agree, up to the rounding of sums whose order differs: past the last
    // multiple of 4 (table) or 8 (registers) of a pair's common length, one column is walked after
    // the other.
    float *want = malloc(R * 4);
    w_table();
    memcpy(want, y, R * 4);
#ifdef __AVX2__
    w_registers();
    for (int i = 0; i < R; i++)
        if (fabsf(y[i] - want[i]) > 1e-5f * (1 + fabsf(want[i]))) {
            fprintf(stderr, "registers walk differs at row %d: %g vs %g\n", i, y[i], want[i]);
            return 1;
        }
#endif
    double cyc = ns_per_cycle();
    struct { const char *name; float (*f)(void); double best; } v[] = {
        {"table", w_table, 1e30},
#ifdef __AVX2__
        {"registers", w_registers, 1e30},
#endif
        {"no-product", w_noproduct, 1e30}, {"no-store", w_nostore, 1e30},
        {"store-only", w_storeonly, 1e30}, {"rows-given", w_rowsgiven, 1e30},
    };
    int nv = sizeof v / sizeof v[0];
    for (int rep = 0; rep < reps; rep++)
        for (int i = 0; i < nv; i++) {
            double t0 = now();
            sink = v[i].f();
            double t = now() - t0;
            if (t < v[i].best) v[i].best = t;
        }
    printf("%d x %d at %.3f: %zu entries (%.0f per column, %.0f KB), a cycle %.3f ns (%.2f GHz)\n", R, C, d, n,
           (double)n / C, n * 2 / 1e3, cyc, 1 / cyc);
    printf("| variant | ns/entry | cycles/entry | G entries/s |\n|---|---:|---:|---:|\n");
    for (int i = 0; i < nv; i++)
        printf("| %s | %.3f | %.2f | %.2f |\n", v[i].name, v[i].best / n, v[i].best / n / cyc, n / v[i].best);
    return 0;
}
