/* simulate.c -- linearized SGD / SAM dynamics with random batches. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"
#include "linstab/simulate.h"

/* the lanes' kernels for AVX2 and AVX-512 beside the portable ones, chosen
 * at run time (GCC / Clang on x86-64) */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LINSTAB_LANES_X86 1
#include <immintrin.h>
#endif

/* The batch-independent structure of a family for the dynamics (see
 * linstab_simulate_plan_make): the nonzeros of a diagonal family's samples
 * and, when each sample touches at most one coordinate with one value per
 * coordinate, the layout of the Bernoulli lanes (see struct linstab_sim). */
struct linstab_sim_plan {
    const linstab_family *f;
    size_t *rowptr, *col; /* diagonal families: the nonzeros of each sample (CSR) */
    double *val;
    int lanes;
    size_t nl, nwords, ng, ns, ns4, nfree;
    size_t *g_coord, *g_start, *g_size, *lane_coord, *free_coord;
    double *g_val, *lane_val; /* a group's value; a one-sample lane's value */
};

struct linstab_sim {
    const linstab_family *f;
    linstab_sim_plan *own; /* the plan when linstab_simulate_alloc made it */
    linstab_optimizer dyn;
    double eta, rho;
    size_t batch;
    linstab_sampling sampling;
    size_t *idx, *idx2, *work;
    double *g, *t, *u;
    /* diagonal families: the nonzeros of each sample (CSR, the plan's), so
     * that a step costs O(d + nonzeros in the batch), not O(B d) */
    const size_t *rowptr, *col;
    const double *val;
    double *cdf; /* Binomial(n, B/n) CDF for Bernoulli batch sizes, filled on first use */
    int cdf_ready;
    size_t *touched; /* diagonal fast path: coordinates hit by a batch */
    unsigned char *hit;
    /* Bernoulli lanes (diagonal families whose samples each touch at most
     * one coordinate, one value per coordinate): a step depends only on,
     * per coordinate, the count of its included samples.  One lane (bit)
     * per nonzero sample, grouped by coordinate: first the ns one-sample
     * coordinates (lane_coord; f1: their factor when included, 1 + g
     * with g = -eta (h + rho h^2), h = value / B; the run keeps their w in
     * lane order, wl, of ns4 = ns rounded up to 8, zero-padded), then the
     * groups of >= 2 samples (their count is a popcount); free: the
     * coordinates no sample touches (all in the plan).
     * The lanes are drawn 64 at a time, each bit U < p with p = B/n by
     * comparing U's bytes lazily with p's base-256 expansion (pb). */
    int lanes, portable;
    size_t nl, nwords, ng, ns, ns4, nfree;
    const size_t *g_coord, *g_start, *g_size, *lane_coord, *free_coord;
    const double *g_val;
    double *f1, *wl;
    double *gfac; /* group g's factor at count k: gfac[g_start[g] - ns + g + k] */
    uint64_t *mask;
    unsigned char pb[144]; /* p = B/n in base 256: 0.pb[0] pb[1] ... */
    size_t npb;
    int all;
};

void linstab_simulate_plan_free(linstab_sim_plan *pl)
{
    if (pl == NULL) return;
    free(pl->rowptr);
    free(pl->col);
    free(pl->val);
    free(pl->g_coord);
    free(pl->g_start);
    free(pl->g_size);
    free(pl->lane_coord);
    free(pl->free_coord);
    free(pl->g_val);
    free(pl->lane_val);
    free(pl);
}

void linstab_simulate_free(linstab_sim *s)
{
    if (s == NULL) return;
    linstab_simulate_plan_free(s->own);
    free(s->idx);
    free(s->idx2);
    free(s->work);
    free(s->g);
    free(s->t);
    free(s->u);
    free(s->cdf);
    free(s->touched);
    free(s->hit);
    free(s->f1);
    free(s->gfac);
    free(s->wl);
    free(s->mask);
    free(s);
}

/* x != 0.0 (NaN included) by the bits, without a floating-point compare */
static inline int nonzero(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return (u << 1) != 0;
}

/* The nonzeros of x[0..d) (listed in col, val unless NULL), by blocks of 8
 * whose bits are or-ed first: a family's diagonals are mostly zeros */
static size_t row_nonzeros(const double *x, size_t d, size_t *col, double *val)
{
    size_t c = 0, j = 0;
    for (; j + 8 <= d; j += 8) {
        uint64_t u[8], any = 0;
        memcpy(u, x + j, sizeof u);
        for (int k = 0; k < 8; k++) any |= u[k] << 1;
        if (any == 0) continue;
        for (size_t k = j; k < j + 8; k++)
            if (nonzero(x[k])) {
                if (col != NULL) {
                    col[c] = k;
                    val[c] = x[k];
                }
                c++;
            }
    }
    for (; j < d; j++)
        if (nonzero(x[j])) {
            if (col != NULL) {
                col[c] = j;
                val[c] = x[j];
            }
            c++;
        }
    return c;
}

/* The Bernoulli lanes' layout of a diagonal family's plan (see struct
 * linstab_sim), when each sample has at most one nonzero and the samples on
 * one coordinate share its value; otherwise pl->lanes stays 0 (the index
 * sampler).  Returns nonzero when out of memory. */
static int plan_lanes(linstab_sim_plan *pl)
{
    size_t n = pl->f->n, d = pl->f->d;
    size_t *cnt = calloc(d, sizeof *cnt);
    double *v = calloc(d, sizeof *v);
    int ok = cnt != NULL && v != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        size_t q = pl->rowptr[i], e = pl->rowptr[i + 1];
        if (e - q > 1) ok = 0;
        else if (e == q + 1) {
            size_t j = pl->col[q];
            if (cnt[j]++ == 0) v[j] = pl->val[q];
            else if (v[j] != pl->val[q]) ok = 0;
        }
    }
    if (!ok) {
        free(cnt);
        free(v);
        return cnt == NULL || v == NULL;
    }
    size_t nl = 0, ng = 0, ns = 0, nfree = 0;
    for (size_t j = 0; j < d; j++) {
        nl += cnt[j];
        ng += cnt[j] > 1;
        ns += cnt[j] == 1;
        nfree += cnt[j] == 0;
    }
    pl->nl = nl;
    pl->nwords = (nl + 63) / 64;
    pl->ng = ng;
    pl->ns = ns;
    pl->ns4 = (ns + 7) / 8 * 8;
    pl->nfree = nfree;
    pl->g_coord = malloc((ng ? ng : 1) * sizeof *pl->g_coord);
    pl->g_start = malloc((ng ? ng : 1) * sizeof *pl->g_start);
    pl->g_size = malloc((ng ? ng : 1) * sizeof *pl->g_size);
    pl->g_val = malloc((ng ? ng : 1) * sizeof *pl->g_val);
    pl->lane_coord = malloc((ns ? ns : 1) * sizeof *pl->lane_coord);
    pl->free_coord = malloc((nfree ? nfree : 1) * sizeof *pl->free_coord);
    pl->lane_val = calloc(pl->ns4 ? pl->ns4 : 1, sizeof *pl->lane_val);
    if (!pl->g_coord || !pl->g_start || !pl->g_size || !pl->g_val || !pl->lane_coord || !pl->free_coord ||
        !pl->lane_val) {
        free(cnt);
        free(v);
        return 1;
    }
    size_t lane = 0, g = 0, q = 0;
    for (size_t j = 0; j < d; j++)
        if (cnt[j] == 1) {
            pl->lane_coord[lane] = j;
            pl->lane_val[lane++] = v[j];
        } else if (cnt[j] == 0)
            pl->free_coord[q++] = j;
    for (size_t j = 0; j < d; j++)
        if (cnt[j] > 1) {
            pl->g_coord[g] = j;
            pl->g_start[g] = lane;
            pl->g_size[g] = cnt[j];
            pl->g_val[g++] = v[j];
            lane += cnt[j];
        }
    free(cnt);
    free(v);
    pl->lanes = 1;
    return 0;
}

/* The batch-dependent part of the Bernoulli lanes: each one-sample lane's
 * factor when included, p = B/n's binary expansion.  Nonzero: out of memory. */
static int lanes_make(linstab_sim *s, const linstab_sim_plan *pl)
{
    size_t n = pl->f->n;
    s->nl = pl->nl;
    s->nwords = pl->nwords;
    s->ng = pl->ng;
    s->ns = pl->ns;
    s->ns4 = pl->ns4;
    s->nfree = pl->nfree;
    s->g_coord = pl->g_coord;
    s->g_start = pl->g_start;
    s->g_size = pl->g_size;
    s->g_val = pl->g_val;
    s->lane_coord = pl->lane_coord;
    s->free_coord = pl->free_coord;
    s->f1 = calloc(s->ns4 ? s->ns4 : 1, sizeof *s->f1);
    s->wl = calloc(s->ns4 ? s->ns4 : 1, sizeof *s->wl);
    s->mask = calloc(s->nwords ? s->nwords : 1, sizeof *s->mask);
    size_t ngf = s->nl - s->ns + s->ng;
    s->gfac = malloc((ngf ? ngf : 1) * sizeof *s->gfac);
    if (!s->f1 || !s->wl || !s->mask || !s->gfac) return 1;
    double inv = 1.0 / (double)s->batch, rho = s->dyn == LINSTAB_OPT_SAM_SAME ? s->rho : 0.0;
    /* a group's factor at each count, 1 at none (the coordinate unchanged) */
    for (size_t g = 0; g < s->ng; g++)
        for (size_t k = 0; k <= s->g_size[g]; k++) {
            double h = s->g_val[g] * (double)k * inv;
            s->gfac[s->g_start[g] - s->ns + g + k] = k == 0 ? 1.0 : 1.0 - s->eta * (h + rho * h * h);
        }
    /* the factor 1 + g rounded once, g = -eta (h + rho h^2); the padding
     * lanes (w = 0) keep the factor 1 */
    for (size_t l = 0; l < s->ns4; l++) {
        double h = pl->lane_val[l] * inv;
        s->f1[l] = l < s->ns ? 1.0 + -s->eta * (h + rho * h * h) : 1.0;
    }
    /* p = B/n in base 256: multiplying by 256 and taking the integer part
     * off are exact; a double's expansion ends within 135 bytes */
    double p = (double)s->batch / (double)n;
    s->npb = 0;
    s->all = p >= 1.0; /* U < 1 always */
    if (!s->all)
        while (p > 0.0 && s->npb < sizeof s->pb) {
            p *= 256.0;
            double b = floor(p);
            p -= b;
            s->pb[s->npb++] = (unsigned char)b;
        }
    s->lanes = 1;
    return 0;
}

/* The lanes' random numbers: eight xoshiro256++ generators (Blackman &
 * Vigna 2019) side by side, x[k][i] word k of generator i; a block is one
 * output of each, generator i's output giving bytes 8i .. 8i + 7 (least
 * significant first): 64 uniform bytes, one per lane of a word.  The
 * portable code and the AVX2 / AVX-512 code compute the same outputs. */
#define LANES_RB 16
typedef struct {
    uint64_t x[4][8];
    /* the AVX-512 kernel generates LANES_RB blocks at a time (the state in
     * registers) and hands them out in order: the same blocks */
    size_t pos, cnt;
    uint64_t buf[LANES_RB][8];
} lanes_rng;

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void lanes_rng_seed(lanes_rng *g, uint64_t key)
{
    for (int i = 0; i < 8; i++) {
        uint64_t any = 0;
        for (int k = 0; k < 4; k++) any |= g->x[k][i] = linstab_splitmix64(&key);
        if (any == 0) g->x[0][i] = 1; /* the one state xoshiro must avoid */
    }
    g->pos = g->cnt = 0;
}

/* one block (64 bytes, out[8]) from every generator, portably */
static inline void lanes_rng_block(lanes_rng *restrict g, uint64_t *restrict out)
{
    for (int i = 0; i < 8; i++) {
        uint64_t x0 = g->x[0][i], x1 = g->x[1][i], x2 = g->x[2][i], x3 = g->x[3][i];
        out[i] = rotl64(x0 + x3, 23) + x0;
        uint64_t t = x1 << 17;
        x2 ^= x0;
        x3 ^= x1;
        x1 ^= x2;
        x0 ^= x3;
        x2 ^= t;
        x3 = rotl64(x3, 45);
        g->x[0][i] = x0;
        g->x[1][i] = x1;
        g->x[2][i] = x2;
        g->x[3][i] = x3;
    }
}

/* lanes l of a block (byte l) below c and equal to c, as 64-bit masks,
 * eight bytes at a time (SWAR; checked against the byte-by-byte definition
 * on 5 million blocks for every c, and by the tests against the AVX2 /
 * AVX-512 compares): with H the bytes' top bits and
 * d = (u | H) - (c & ~H) (no borrow crosses a byte), a byte's top bit of
 * d is set iff its low 7 bits of u are >= those of c; u < c iff the top
 * bits say so, or they agree and d's does not; u = c iff u ^ c is a zero
 * byte.  The top bits are then gathered into 8 consecutive bits. */
static inline void bytes_cmp(const uint64_t *blk, unsigned c, uint64_t *lt, uint64_t *eq)
{
    const uint64_t H = 0x8080808080808080ULL, L = 0x7f7f7f7f7f7f7f7fULL, C = 0x0101010101010101ULL * (c & 0xffu);
    uint64_t a = 0, e = 0;
    for (int q = 0; q < 8; q++) {
        uint64_t u = blk[q], dd = (u | H) - (C & L), x = u ^ C;
        uint64_t l8 = ((~u & C) | (~x & ~dd)) & H;
        uint64_t z8 = ~(((x & L) + L) | x | L); /* H where u ^ c is a zero byte */
        /* bit 8k + 7 -> bit k */
        a |= (((l8 >> 7) * 0x0102040810204080ULL) >> 56) << (8 * q);
        if (z8 != 0) e |= (((z8 >> 7) * 0x0102040810204080ULL) >> 56) << (8 * q); /* 3 % of words */
    }
    *lt = a;
    *eq = e;
}

#ifdef LINSTAB_LANES_X86
/* a round of lanes_draw on AVX-512 (F, BW): the eight generators' next
 * outputs, their 64 bytes against c */
__attribute__((target("avx512f"))) static void refill_avx512(lanes_rng *restrict g)
{
    __m512i x0 = _mm512_loadu_si512(g->x[0]), x1 = _mm512_loadu_si512(g->x[1]);
    __m512i x2 = _mm512_loadu_si512(g->x[2]), x3 = _mm512_loadu_si512(g->x[3]);
    for (int b = 0; b < LANES_RB; b++) {
        __m512i r = _mm512_add_epi64(_mm512_rol_epi64(_mm512_add_epi64(x0, x3), 23), x0);
        __m512i t = _mm512_slli_epi64(x1, 17);
        x2 = _mm512_xor_si512(x2, x0);
        x3 = _mm512_xor_si512(x3, x1);
        x1 = _mm512_xor_si512(x1, x2);
        x0 = _mm512_xor_si512(x0, x3);
        x2 = _mm512_xor_si512(x2, t);
        x3 = _mm512_rol_epi64(x3, 45);
        _mm512_storeu_si512(g->buf[b], r);
    }
    _mm512_storeu_si512(g->x[0], x0);
    _mm512_storeu_si512(g->x[1], x1);
    _mm512_storeu_si512(g->x[2], x2);
    _mm512_storeu_si512(g->x[3], x3);
    g->pos = 0;
    g->cnt = LANES_RB;
}

__attribute__((target("avx512f,avx512bw"))) static inline void draw_round_avx512(lanes_rng *restrict g, unsigned c8,
                                                                                 uint64_t *lt, uint64_t *eq)
{
    if (g->pos == g->cnt) refill_avx512(g);
    __m512i r = _mm512_loadu_si512(g->buf[g->pos++]);
    __m512i c = _mm512_set1_epi8((char)c8);
    *lt = _mm512_cmplt_epu8_mask(r, c);
    *eq = _mm512_cmpeq_epu8_mask(r, c);
}

/* the same on AVX2, four generators at a time */
__attribute__((target("avx2"))) static inline void draw_round_avx2(lanes_rng *restrict g, unsigned c8, uint64_t *lt,
                                                                   uint64_t *eq)
{
    __m256i c = _mm256_set1_epi8((char)c8);
    uint64_t half[2][2];
    for (int hh = 0; hh < 2; hh++) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(g->x[0] + 4 * hh));
        __m256i x1 = _mm256_loadu_si256((const __m256i *)(g->x[1] + 4 * hh));
        __m256i x2 = _mm256_loadu_si256((const __m256i *)(g->x[2] + 4 * hh));
        __m256i x3 = _mm256_loadu_si256((const __m256i *)(g->x[3] + 4 * hh));
        __m256i a03 = _mm256_add_epi64(x0, x3);
        __m256i r = _mm256_add_epi64(_mm256_or_si256(_mm256_slli_epi64(a03, 23), _mm256_srli_epi64(a03, 41)), x0);
        __m256i t = _mm256_slli_epi64(x1, 17);
        x2 = _mm256_xor_si256(x2, x0);
        x3 = _mm256_xor_si256(x3, x1);
        x1 = _mm256_xor_si256(x1, x2);
        x0 = _mm256_xor_si256(x0, x3);
        x2 = _mm256_xor_si256(x2, t);
        x3 = _mm256_or_si256(_mm256_slli_epi64(x3, 45), _mm256_srli_epi64(x3, 19));
        _mm256_storeu_si256((__m256i *)(g->x[0] + 4 * hh), x0);
        _mm256_storeu_si256((__m256i *)(g->x[1] + 4 * hh), x1);
        _mm256_storeu_si256((__m256i *)(g->x[2] + 4 * hh), x2);
        _mm256_storeu_si256((__m256i *)(g->x[3] + 4 * hh), x3);
        /* u >= c where max(u, c) = u; u < c its complement */
        __m256i ge = _mm256_cmpeq_epi8(_mm256_max_epu8(r, c), r);
        __m256i e8 = _mm256_cmpeq_epi8(r, c);
        half[hh][0] = ~(uint64_t)(uint32_t)_mm256_movemask_epi8(ge) & 0xffffffffULL;
        half[hh][1] = (uint64_t)(uint32_t)_mm256_movemask_epi8(e8);
    }
    *lt = half[0][0] | half[1][0] << 32;
    *eq = half[0][1] | half[1][1] << 32;
}

/* lanes_sweep on AVX-512: eight lanes (a block), one register, a masked
 * product; block b's squares summed into accumulator b mod 4 */
__attribute__((target("avx512f"))) static inline double sweep_avx512(double *restrict wl, const double *restrict f1,
                                                                     const uint64_t *restrict mask, size_t ns4)
{
    __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
    size_t nb = ns4 / 8, b = 0;
#define LANES_BLOCK512(r)                                                                                              \
    do {                                                                                                               \
        size_t l = 8 * (b + (r));                                                                                      \
        __mmask8 m = (__mmask8)(mask[l / 64] >> (l % 64));                                                              \
        __m512d x = _mm512_loadu_pd(wl + l);                                                                           \
        x = _mm512_mask_mul_pd(x, m, x, _mm512_loadu_pd(f1 + l));                                                      \
        _mm512_storeu_pd(wl + l, x);                                                                                   \
        acc[r] = _mm512_add_pd(acc[r], _mm512_mul_pd(x, x));                                                           \
    } while (0)
    for (; b + 4 <= nb; b += 4) {
        LANES_BLOCK512(0);
        LANES_BLOCK512(1);
        LANES_BLOCK512(2);
        LANES_BLOCK512(3);
    }
    if (b + 0 < nb) LANES_BLOCK512(0);
    if (b + 1 < nb) LANES_BLOCK512(1);
    if (b + 2 < nb) LANES_BLOCK512(2);
#undef LANES_BLOCK512
    __m512d t = _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]));
    double a[8];
    _mm512_storeu_pd(a, t);
    return ((a[0] + a[2]) + (a[1] + a[3])) + ((a[4] + a[6]) + (a[5] + a[7]));
}
#endif

/* mask[0..nwords): bit l set with probability p independently (lane l < nl),
 * U_l < p decided at the first byte where U_l's base-256 expansion differs
 * from p's: a lane still undecided after p's last byte has U_l >= p.  A
 * word takes a block per round while one of its lanes is undecided (1 -
 * (255/256)^64 = 22 % of words need a second).  isa: 0 portable, 1 AVX2,
 * 2 AVX-512 (F, BW) -- the same masks. */
static inline __attribute__((always_inline)) void lanes_draw(const linstab_sim *s, lanes_rng *restrict g,
                                                             uint64_t *restrict mask, int isa)
{
    const unsigned char *pb = s->pb;
    size_t npb = s->npb, nw = s->nwords, nl = s->nl;
    if (s->all) {
        for (size_t wd = 0; wd < nw; wd++) {
            size_t rem = nl - 64 * wd;
            mask[wd] = rem >= 64 ? ~0ULL : (1ULL << rem) - 1;
        }
        return;
    }
    for (size_t wd = 0; wd < nw; wd++) {
        size_t rem = nl - 64 * wd;
        uint64_t und = rem >= 64 ? ~0ULL : (1ULL << rem) - 1, hit = 0;
        for (size_t k = 0; k < npb && und; k++) {
            uint64_t lt, eq;
#ifdef LINSTAB_LANES_X86
            if (isa == 2)
                draw_round_avx512(g, pb[k], &lt, &eq);
            else if (isa == 1)
                draw_round_avx2(g, pb[k], &lt, &eq);
            else
#endif
            {
                (void)isa;
                uint64_t blk[8];
                lanes_rng_block(g, blk);
                bytes_cmp(blk, pb[k], &lt, &eq);
            }
            hit |= und & lt; /* U's byte below p's: U < p */
            und &= eq;       /* equal: still undecided */
        }
        mask[wd] = hit;
    }
}

/* the bits set in x (SWAR: without -mpopcnt, __builtin_popcountll is a
 * libgcc call) */
static inline unsigned popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (unsigned)((x * 0x0101010101010101ULL) >> 56);
}

static inline __attribute__((always_inline)) size_t lanes_count(const uint64_t *mask, size_t a, size_t len,
                                                                int isa)
{
    size_t c = 0, e = a + len;
    while (a < e) {
        size_t wd = a / 64, b = a % 64, m = 64 - b < e - a ? 64 - b : e - a;
        uint64_t bits = mask[wd] >> b;
        if (m < 64) bits &= (1ULL << m) - 1;
        c += isa ? (size_t)__builtin_popcountll(bits) : popcount64(bits); /* popcnt with AVX2 */
        a += m;
    }
    return c;
}

/* two lanes as one SSE2 register, four as one AVX register (GCC / Clang
 * vector extension); sel2[b], sel4[b]: the bits of b as all-ones lanes */
typedef double v2d __attribute__((vector_size(16)));
typedef long long v2i __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef long long v4i __attribute__((vector_size(32)));
static const v2i sel2[4] = {{0, 0}, {-1, 0}, {0, -1}, {-1, -1}};
static const v4i sel4[16] = {
    {0, 0, 0, 0},  {-1, 0, 0, 0},  {0, -1, 0, 0},  {-1, -1, 0, 0},  {0, 0, -1, 0},  {-1, 0, -1, 0},
    {0, -1, -1, 0}, {-1, -1, -1, 0}, {0, 0, 0, -1}, {-1, 0, 0, -1}, {0, -1, 0, -1}, {-1, -1, 0, -1},
    {0, 0, -1, -1}, {-1, 0, -1, -1}, {0, -1, -1, -1}, {-1, -1, -1, -1}};

/* One step of the one-sample lanes: wl[l] *= f1[l] where mask's bit l is
 * set (else the factor 1: x * 1 = x), and the sum of the new wl[l]^2: the
 * squares of block b (lanes 8b .. 8b + 7) added into accumulator b mod 4,
 * lane by lane, then T = (A0 + A1) + (A2 + A3) lane by lane and the sum
 * ((T0 + T2) + (T1 + T3)) + ((T4 + T6) + (T5 + T7)).  The AVX2 and
 * AVX-512 versions have the same per-lane operations and the same sums,
 * hence the same bits; four accumulators keep the additions' latency off
 * the step's critical path. */
static inline __attribute__((always_inline)) double lanes_sweep(double *restrict wl, const double *restrict f1,
                                                                const uint64_t *restrict mask, size_t ns4,
                                                                int isa)
{
#ifdef LINSTAB_LANES_X86
    if (isa == 2) return sweep_avx512(wl, f1, mask, ns4);
#endif
    size_t nb = ns4 / 8, b = 0;
    if (isa == 1) {
        v4d zero = {0.0, 0.0, 0.0, 0.0}, one = {1.0, 1.0, 1.0, 1.0};
        v4d lo[4] = {zero, zero, zero, zero}, hi[4] = {zero, zero, zero, zero};
#define LANES_BLOCK4(r)                                                                                                \
    do {                                                                                                               \
        size_t l = 8 * (b + (r));                                                                                      \
        unsigned m = (unsigned)(mask[l / 64] >> (l % 64));                                                             \
        v4d x0, x1, g0, g1;                                                                                            \
        memcpy(&x0, wl + l, sizeof x0);                                                                                \
        memcpy(&x1, wl + l + 4, sizeof x1);                                                                            \
        memcpy(&g0, f1 + l, sizeof g0);                                                                                \
        memcpy(&g1, f1 + l + 4, sizeof g1);                                                                            \
        v4i s0 = sel4[m & 15], s1 = sel4[(m >> 4) & 15];                                                               \
        x0 *= (v4d)(((v4i)g0 & s0) | ((v4i)one & ~s0));                                                                \
        x1 *= (v4d)(((v4i)g1 & s1) | ((v4i)one & ~s1));                                                                \
        memcpy(wl + l, &x0, sizeof x0);                                                                                \
        memcpy(wl + l + 4, &x1, sizeof x1);                                                                            \
        lo[r] += x0 * x0;                                                                                              \
        hi[r] += x1 * x1;                                                                                              \
    } while (0)
        for (; b + 4 <= nb; b += 4) {
            LANES_BLOCK4(0);
            LANES_BLOCK4(1);
            LANES_BLOCK4(2);
            LANES_BLOCK4(3);
        }
        if (b + 0 < nb) LANES_BLOCK4(0);
        if (b + 1 < nb) LANES_BLOCK4(1);
        if (b + 2 < nb) LANES_BLOCK4(2);
#undef LANES_BLOCK4
        v4d tl = (lo[0] + lo[1]) + (lo[2] + lo[3]), th = (hi[0] + hi[1]) + (hi[2] + hi[3]);
        return ((tl[0] + tl[2]) + (tl[1] + tl[3])) + ((th[0] + th[2]) + (th[1] + th[3]));
    }
    v2d zero = {0.0, 0.0}, one = {1.0, 1.0};
    /* acc[r][q]: accumulator r (block mod 4), lanes 2q, 2q + 1 of the block */
    v2d acc[4][4] = {{zero, zero, zero, zero}, {zero, zero, zero, zero}, {zero, zero, zero, zero},
                     {zero, zero, zero, zero}};
#define LANES_BLOCK2(r)                                                                                                \
    do {                                                                                                               \
        size_t l = 8 * (b + (r));                                                                                      \
        unsigned m = (unsigned)(mask[l / 64] >> (l % 64));                                                             \
        for (int q = 0; q < 4; q++) {                                                                                  \
            v2d x, g;                                                                                                  \
            memcpy(&x, wl + l + 2 * q, sizeof x);                                                                      \
            memcpy(&g, f1 + l + 2 * q, sizeof g);                                                                      \
            v2i sl = sel2[(m >> (2 * q)) & 3];                                                                         \
            x *= (v2d)(((v2i)g & sl) | ((v2i)one & ~sl));                                                              \
            memcpy(wl + l + 2 * q, &x, sizeof x);                                                                      \
            acc[r][q] += x * x;                                                                                        \
        }                                                                                                              \
    } while (0)
    for (; b + 4 <= nb; b += 4) {
        LANES_BLOCK2(0);
        LANES_BLOCK2(1);
        LANES_BLOCK2(2);
        LANES_BLOCK2(3);
    }
    if (b + 0 < nb) LANES_BLOCK2(0);
    if (b + 1 < nb) LANES_BLOCK2(1);
    if (b + 2 < nb) LANES_BLOCK2(2);
#undef LANES_BLOCK2
    v2d t[4];
    for (int q = 0; q < 4; q++) t[q] = (acc[0][q] + acc[1][q]) + (acc[2][q] + acc[3][q]);
    /* T0, T1 = t[0]; T2, T3 = t[1]; T4, T5 = t[2]; T6, T7 = t[3] */
    return ((t[0][0] + t[1][0]) + (t[0][1] + t[1][1])) + ((t[2][0] + t[3][0]) + (t[2][1] + t[3][1]));
}

/* linstab_simulate_diag_run on the Bernoulli lanes: a step multiplies the
 * one-sample coordinates by their factor where included (lanes_sweep) and
 * each group's coordinate by its factor at the group's count; ||w||^2 is
 * summed afresh every step.  Compiled twice: portable (SSE2) and for AVX2
 * (the same operations, hence the same bits; see lanes_sweep). */
static inline __attribute__((always_inline)) int lanes_run_body(linstab_sim *s, gsl_rng *rng, double *w,
                                                                size_t steps, double lg, double ls,
                                                                double *lognorm, int isa)
{
    size_t d = s->f->d, ns = s->ns, ns4 = s->ns4;
    double *restrict wl = s->wl;
    const double *restrict f1 = s->f1, *restrict gfac = s->gfac;
    uint64_t *restrict mask = s->mask;
    const size_t *restrict lane_coord = s->lane_coord;
    /* a xoshiro256++ state seeded from the run's stream */
    uint64_t key = ((uint64_t)gsl_rng_get(rng) << 32) ^ (uint64_t)gsl_rng_get(rng);
    lanes_rng xs;
    lanes_rng_seed(&xs, key);
    for (size_t l = 0; l < ns; l++) wl[l] = w[lane_coord[l]];
    double fixed = 0.0, scale = 0.0, sq = 0.0;
    for (size_t q = 0; q < s->nfree; q++) fixed += w[s->free_coord[q]] * w[s->free_coord[q]];
    for (size_t j = 0; j < d; j++) sq += w[j] * w[j];
    double sq_hi = exp(2.0 * lg), sq_lo = exp(-2.0 * ls);
    int v = 0;
    for (size_t t = 0; t < steps; t++) {
        lanes_draw(s, &xs, mask, isa);
        sq = lanes_sweep(wl, f1, mask, ns4, isa) + fixed;
        for (size_t g = 0; g < s->ng; g++) {
            size_t j = s->g_coord[g], k = lanes_count(mask, s->g_start[g], s->g_size[g], isa);
            w[j] *= gfac[s->g_start[g] - ns + g + k]; /* 1 at k = 0 */
            sq += w[j] * w[j];
        }
        if (!(sq > 0.0)) {
            *lognorm = -INFINITY;
            v = -1; /* exactly zero: converged */
            break;
        }
        if (sq > 1e200 || sq < 1e-200) {
            double r = 1.0 / sqrt(sq);
            for (size_t l = 0; l < ns; l++) wl[l] *= r;
            for (size_t g = 0; g < s->ng; g++) w[s->g_coord[g]] *= r;
            fixed = 0.0;
            for (size_t q = 0; q < s->nfree; q++) {
                w[s->free_coord[q]] *= r;
                fixed += w[s->free_coord[q]] * w[s->free_coord[q]];
            }
            scale += 0.5 * log(sq);
            sq = 1.0;
            sq_hi = exp(2.0 * (lg - scale));
            sq_lo = exp(2.0 * (-ls - scale));
        }
        if (sq >= sq_hi || sq <= sq_lo) {
            double ln = scale + 0.5 * log(sq);
            /* the log decides at the boundary itself */
            if (ln >= lg || ln <= -ls) {
                *lognorm = ln;
                v = ln >= lg ? 1 : -1;
                break;
            }
        }
    }
    for (size_t l = 0; l < ns; l++) w[lane_coord[l]] = wl[l];
    if (v == 0) *lognorm = scale + 0.5 * log(sq);
    return v;
}

static int lanes_run_portable(linstab_sim *s, gsl_rng *rng, double *w, size_t steps, double lg, double ls,
                              double *lognorm)
{
    return lanes_run_body(s, rng, w, steps, lg, ls, lognorm, 0);
}

#ifdef LINSTAB_LANES_X86
__attribute__((target("avx2,popcnt"))) static int lanes_run_avx2(linstab_sim *s, gsl_rng *rng, double *w, size_t steps,
                                                          double lg, double ls, double *lognorm)
{
    return lanes_run_body(s, rng, w, steps, lg, ls, lognorm, 1);
}

__attribute__((target("avx2,avx512f,avx512bw,popcnt"))) static int lanes_run_avx512(linstab_sim *s, gsl_rng *rng, double *w,
                                                                            size_t steps, double lg, double ls,
                                                                            double *lognorm)
{
    return lanes_run_body(s, rng, w, steps, lg, ls, lognorm, 2);
}
#endif

static int lanes_run(linstab_sim *s, gsl_rng *rng, double *w, size_t steps, double lg, double ls, double *lognorm)
{
#ifdef LINSTAB_LANES_X86
    if (s->portable != 1 && s->portable != 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        return lanes_run_avx512(s, rng, w, steps, lg, ls, lognorm);
    if (s->portable != 1 && __builtin_cpu_supports("avx2")) return lanes_run_avx2(s, rng, w, steps, lg, ls, lognorm);
#endif
    return lanes_run_portable(s, rng, w, steps, lg, ls, lognorm);
}

linstab_status linstab_simulate_plan_make(const linstab_family *f, linstab_sim_plan **out, linstab_error *err)
{
    *out = NULL;
    linstab_sim_plan *pl = calloc(1, sizeof *pl);
    if (pl == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
    pl->f = f;
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) {
        /* one pass over the n x d diagonals (memory-bound; each row is
         * counted, then listed from the cache): the lists grow by doubling */
        size_t n = f->n, d = f->d, ncap = n + 1, q = 0;
        pl->rowptr = malloc((n + 1) * sizeof *pl->rowptr);
        pl->col = malloc(ncap * sizeof *pl->col);
        pl->val = malloc(ncap * sizeof *pl->val);
        int oom = !pl->rowptr || !pl->col || !pl->val;
        for (size_t i = 0; i < n && !oom; i++) {
            pl->rowptr[i] = q;
            size_t c = row_nonzeros(f->data + i * d, d, NULL, NULL);
            if (q + c > ncap) {
                while (q + c > ncap) ncap *= 2;
                size_t *nc = realloc(pl->col, ncap * sizeof *nc);
                if (nc != NULL) pl->col = nc;
                double *nv = nc != NULL ? realloc(pl->val, ncap * sizeof *nv) : NULL;
                if (nv != NULL) pl->val = nv;
                oom = nc == NULL || nv == NULL;
                if (oom) break;
            }
            q += row_nonzeros(f->data + i * d, d, pl->col + q, pl->val + q);
        }
        if (!oom) pl->rowptr[n] = q;
        if (oom || plan_lanes(pl) != 0) {
            linstab_simulate_plan_free(pl);
            return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
        }
    }
    *out = pl;
    return LINSTAB_OK;
}

linstab_status linstab_simulate_alloc_plan(const linstab_sim_plan *plan, linstab_optimizer dyn, double eta,
                                           double rho, size_t batch, linstab_sampling sampling, linstab_sim **out,
                                           linstab_error *err)
{
    *out = NULL;
    if (dyn == LINSTAB_OPT_GD)
        return linstab_error_set_param(err, LINSTAB_EINVAL, "optimizer",
                                       "the linearized random-batch dynamics are SGD or SAM, not gd "
                                       "(GD is SGD with B = n without replacement)");
    const linstab_family *f = plan->f;
    size_t n = f->n, d = f->d, cap = n > batch ? n : batch;
    linstab_sim *s = calloc(1, sizeof *s);
    if (s == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
    s->f = f;
    s->dyn = dyn;
    s->eta = eta;
    s->rho = rho;
    s->batch = batch;
    s->sampling = sampling;
    s->idx = malloc(cap * sizeof *s->idx);
    s->idx2 = malloc(cap * sizeof *s->idx2);
    s->work = calloc(n, sizeof *s->work); /* zero: linstab_sampling_draw's table */
    s->g = malloc(d * sizeof *s->g);
    s->t = malloc(d * sizeof *s->t);
    s->u = malloc(d * sizeof *s->u);
    if (sampling == LINSTAB_SAMPLING_BERNOULLI) s->cdf = malloc((n + 1) * sizeof *s->cdf);
    if (!s->idx || !s->idx2 || !s->work || !s->g || !s->t || !s->u ||
        (sampling == LINSTAB_SAMPLING_BERNOULLI && s->cdf == NULL)) {
        linstab_simulate_free(s);
        return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
    }
    if (plan->rowptr != NULL) {
        s->rowptr = plan->rowptr;
        s->col = plan->col;
        s->val = plan->val;
        /* d + 1: the kernel stores a coordinate in the next free slot before
         * it knows whether the coordinate is new (branch-free), so once all d
         * coordinates are in the list one more store lands at touched[d] */
        s->touched = malloc((d + 1) * sizeof *s->touched);
        s->hit = calloc(d, 1);
        if (!s->touched || !s->hit) {
            linstab_simulate_free(s);
            return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
        }
        if (plan->lanes && sampling == LINSTAB_SAMPLING_BERNOULLI &&
            (dyn == LINSTAB_OPT_SGD || dyn == LINSTAB_OPT_SAM_SAME) && lanes_make(s, plan) != 0) {
            linstab_simulate_free(s);
            return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
        }
    }
    *out = s;
    return LINSTAB_OK;
}

linstab_status linstab_simulate_alloc(const linstab_family *f, linstab_optimizer dyn, double eta,
                                 double rho, size_t batch, linstab_sampling sampling,
                                 linstab_sim **out, linstab_error *err)
{
    *out = NULL;
    if (dyn == LINSTAB_OPT_GD)
        return linstab_simulate_alloc_plan(&(linstab_sim_plan){.f = f}, dyn, eta, rho, batch, sampling, out, err);
    linstab_sim_plan *pl = NULL;
    linstab_status st = linstab_simulate_plan_make(f, &pl, err);
    if (st == LINSTAB_OK) st = linstab_simulate_alloc_plan(pl, dyn, eta, rho, batch, sampling, out, err);
    if (st != LINSTAB_OK) {
        linstab_simulate_plan_free(pl);
        return st;
    }
    (*out)->own = pl;
    return LINSTAB_OK;
}

/* The Binomial(n, B/n) CDF of Bernoulli batch sizes (its array allocated
 * with s), filled on first use: the lanes never need it */
static const double *sim_cdf(linstab_sim *s)
{
    if (s->cdf == NULL) return NULL;
    if (!s->cdf_ready) {
        linstab_sampling_binomial_cdf(s->f->n, s->batch, s->cdf);
        s->cdf_ready = 1;
    }
    return s->cdf;
}

void linstab_simulate_params(const linstab_sim *s, linstab_optimizer *dyn, double *eta, double *rho)
{
    if (dyn != NULL) *dyn = s->dyn;
    if (eta != NULL) *eta = s->eta;
    if (rho != NULL) *rho = s->rho;
}

void linstab_simulate_batch_apply(const linstab_sim *s, const size_t *idx, size_t count,
                             const double *x, double *y)
{
    size_t d = s->f->d;
    memset(y, 0, d * sizeof *y);
    if (s->rowptr != NULL) {
        /* y = (sum_{i in S} D_i) o x / B over the nonzeros only */
        for (size_t c = 0; c < count; c++)
            for (size_t q = s->rowptr[idx[c]]; q < s->rowptr[idx[c] + 1]; q++) y[s->col[q]] += s->val[q];
        double inv = 1.0 / (double)s->batch;
        for (size_t j = 0; j < d; j++) y[j] *= inv * x[j];
        return;
    }
    for (size_t c = 0; c < count; c++) {
        linstab_family_apply(s->f, idx[c], x, s->u);
        for (size_t j = 0; j < d; j++) y[j] += s->u[j];
    }
    double inv = 1.0 / (double)s->batch;
    for (size_t j = 0; j < d; j++) y[j] *= inv;
}

void linstab_simulate_step(linstab_sim *s, gsl_rng *rng, double *w)
{
    size_t d = s->f->d, n = s->f->n;
    size_t c = linstab_sampling_draw_cdf(rng, s->sampling, n, s->batch, s->idx, s->work, sim_cdf(s));
    double eta = s->eta, rho = s->rho;
    switch (s->dyn) {
    case LINSTAB_OPT_SGD:
        linstab_simulate_batch_apply(s, s->idx, c, w, s->g);
        for (size_t j = 0; j < d; j++) w[j] -= eta * s->g[j];
        return;
    case LINSTAB_OPT_SAM_SAME:
        linstab_simulate_batch_apply(s, s->idx, c, w, s->g);
        linstab_simulate_batch_apply(s, s->idx, c, s->g, s->t);
        for (size_t j = 0; j < d; j++) w[j] -= eta * (s->g[j] + rho * s->t[j]);
        return;
    case LINSTAB_OPT_SAM_INDEP: {
        size_t c2 = linstab_sampling_draw_cdf(rng, s->sampling, n, s->batch, s->idx2, s->work, sim_cdf(s));
        linstab_simulate_batch_apply(s, s->idx2, c2, w, s->g); /* ascent batch */
        for (size_t j = 0; j < d; j++) s->g[j] = w[j] + rho * s->g[j];
        linstab_simulate_batch_apply(s, s->idx, c, s->g, s->t);
        for (size_t j = 0; j < d; j++) w[j] -= eta * s->t[j];
        return;
    }
    case LINSTAB_OPT_SAM_NORMALIZED: {
        /* not linear, not homogeneous: the caller must not rescale w */
        linstab_simulate_batch_apply(s, s->idx, c, w, s->g);
        double gn = cblas_dnrm2((int)d, s->g, 1);
        double sc = gn > 0.0 ? rho / gn : 0.0;
        for (size_t j = 0; j < d; j++) s->g[j] = w[j] + sc * s->g[j];
        linstab_simulate_batch_apply(s, s->idx, c, s->g, s->t);
        for (size_t j = 0; j < d; j++) w[j] -= eta * s->t[j];
        return;
    }
    case LINSTAB_OPT_GD: /* refused by linstab_simulate_alloc */
        return;
    }
}

int linstab_simulate_diag_run(linstab_sim *s, gsl_rng *rng, double *w, size_t steps, double lg,
                         double ls, double *lognorm)
{
    /* only the coordinates a batch touches change: w_j <- w_j (1 - eta g(h_j)),
     * with ||w||^2 kept incrementally (recomputed exactly every 64 steps and
     * on rescaling, so rounding cannot drift); the stopping rule compares
     * ||w||^2 with exp(2 (threshold - scale)) instead of taking a log per step */
    if (s->rowptr == NULL || !(s->dyn == LINSTAB_OPT_SGD || s->dyn == LINSTAB_OPT_SAM_SAME)) return 2;
    if (s->lanes) return lanes_run(s, rng, w, steps, lg, ls, lognorm);
    const double *cdf = sim_cdf(s);
    size_t d = s->f->d, n = s->f->n;
    double eta = s->eta, rho = s->dyn == LINSTAB_OPT_SAM_SAME ? s->rho : 0.0;
    double inv = 1.0 / (double)s->batch, sq = 0.0, scale = 0.0;
    /* local copies: the stores below cannot alias them, so they stay in registers */
    double *restrict acc = s->g;
    const size_t *restrict rowptr = s->rowptr, *restrict col = s->col;
    const double *restrict val = s->val;
    size_t *restrict touched = s->touched, *restrict idx = s->idx;
    unsigned char *restrict hit = s->hit;
    memset(acc, 0, d * sizeof *acc);
    for (size_t j = 0; j < d; j++) sq += w[j] * w[j];
    double sq_hi = exp(2.0 * lg), sq_lo = exp(-2.0 * ls);
    for (size_t t = 0; t < steps; t++) {
        size_t c = linstab_sampling_draw_cdf(rng, s->sampling, n, s->batch, idx, s->work, cdf);
        size_t nt = 0;
        for (size_t k = 0; k < c; k++)
            for (size_t q = rowptr[idx[k]]; q < rowptr[idx[k] + 1]; q++) {
                size_t j = col[q];
                acc[j] += val[q];
                touched[nt] = j; /* kept only if new: touched has d + 1 slots */
                nt += !hit[j];
                hit[j] = 1;
            }
        for (size_t k = 0; k < nt; k++) {
            size_t j = touched[k];
            double h = acc[j] * inv, wj = w[j], nw = wj * (1.0 - eta * (h + rho * h * h));
            sq += nw * nw - wj * wj;
            w[j] = nw;
            acc[j] = 0.0;
            hit[j] = 0;
        }
        if ((t & 63) == 63 || !(sq > 1e-200) || sq > 1e200) {
            sq = 0.0;
            for (size_t j = 0; j < d; j++) sq += w[j] * w[j];
            if (!(sq > 0.0)) {
                *lognorm = -INFINITY;
                return -1; /* exactly zero: converged */
            }
            if (sq > 1e200 || sq < 1e-200) {
                double r = 1.0 / sqrt(sq);
                for (size_t j = 0; j < d; j++) w[j] *= r;
                scale += 0.5 * log(sq);
                sq = 1.0;
                sq_hi = exp(2.0 * (lg - scale));
                sq_lo = exp(2.0 * (-ls - scale));
            }
        }
        if (sq >= sq_hi || sq <= sq_lo) {
            double ln = scale + 0.5 * log(sq);
            /* the log decides at the boundary itself, as before */
            if (ln >= lg) {
                *lognorm = ln;
                return 1;
            }
            if (ln <= -ls) {
                *lognorm = ln;
                return -1;
            }
        }
    }
    *lognorm = scale + 0.5 * log(sq);
    return 0;
}

void linstab_simulate_portable(linstab_sim *s, int level)
{
    s->portable = level == 1 || level == 2 ? level : 0;
}
