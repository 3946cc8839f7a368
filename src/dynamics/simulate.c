/* simulate.c -- linearized SGD / SAM dynamics with random batches. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"
#include "linstab/simulate.h"

struct linstab_sim {
    const linstab_family *f;
    linstab_optimizer dyn;
    double eta, rho;
    size_t batch;
    linstab_sampling sampling;
    size_t *idx, *idx2, *work;
    double *g, *t, *u;
    /* diagonal families: the nonzeros of each sample (CSR), so that a step
     * costs O(d + nonzeros in the batch), not O(B d) */
    size_t *rowptr, *col;
    double *val;
    double *cdf; /* Binomial(n, B/n) CDF for Bernoulli batch sizes */
    size_t *touched; /* diagonal fast path: coordinates hit by a batch */
    unsigned char *hit;
    /* Bernoulli lanes (diagonal families whose samples each touch at most
     * one coordinate, one value per coordinate): a step depends only on,
     * per coordinate, the count of its included samples.  One lane (bit)
     * per nonzero sample, grouped by coordinate: first the ns one-sample
     * coordinates (lane_coord; g1: their factor when included, minus 1;
     * the run keeps their w in lane order, wl, of ns4 = ns rounded up to 8,
     * zero-padded), then the groups of >= 2 samples (their count is a
     * popcount); free: the coordinates no sample touches.
     * The lanes are drawn 64 at a time, each bit U < p with p = B/n by
     * comparing U's bits lazily with p's binary expansion (pm). */
    int lanes;
    size_t nl, nwords, ng, ns, ns4, nfree;
    size_t *g_coord, *g_start, *g_size, *lane_coord, *free_coord;
    double *g_val, *g1, *wl;
    uint64_t *mask, pm[1100];
    size_t npm;
    int all;
};

void linstab_simulate_free(linstab_sim *s)
{
    if (s == NULL) return;
    free(s->idx);
    free(s->idx2);
    free(s->work);
    free(s->g);
    free(s->t);
    free(s->u);
    free(s->rowptr);
    free(s->col);
    free(s->val);
    free(s->cdf);
    free(s->touched);
    free(s->hit);
    free(s->g_coord);
    free(s->g_start);
    free(s->g_size);
    free(s->lane_coord);
    free(s->free_coord);
    free(s->g_val);
    free(s->g1);
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

/* The Bernoulli lanes of a diagonal family (see struct linstab_sim), when
 * each sample has at most one nonzero and the samples on one coordinate
 * share its value; otherwise s->lanes stays 0 (the index sampler).
 * Returns nonzero when out of memory. */
static int lanes_make(linstab_sim *s)
{
    size_t n = s->f->n, d = s->f->d;
    size_t *cnt = calloc(d, sizeof *cnt);
    double *v = calloc(d, sizeof *v);
    int ok = cnt != NULL && v != NULL;
    for (size_t i = 0; ok && i < n; i++) {
        size_t q = s->rowptr[i], e = s->rowptr[i + 1];
        if (e - q > 1) ok = 0;
        else if (e == q + 1) {
            size_t j = s->col[q];
            if (cnt[j]++ == 0) v[j] = s->val[q];
            else if (v[j] != s->val[q]) ok = 0;
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
    s->nl = nl;
    s->nwords = (nl + 63) / 64;
    s->ng = ng;
    s->ns = ns;
    s->ns4 = (ns + 7) / 8 * 8;
    s->nfree = nfree;
    s->g_coord = malloc((ng ? ng : 1) * sizeof *s->g_coord);
    s->g_start = malloc((ng ? ng : 1) * sizeof *s->g_start);
    s->g_size = malloc((ng ? ng : 1) * sizeof *s->g_size);
    s->g_val = malloc((ng ? ng : 1) * sizeof *s->g_val);
    s->lane_coord = malloc((ns ? ns : 1) * sizeof *s->lane_coord);
    s->free_coord = malloc((nfree ? nfree : 1) * sizeof *s->free_coord);
    s->g1 = calloc(s->ns4 ? s->ns4 : 1, sizeof *s->g1);
    s->wl = calloc(s->ns4 ? s->ns4 : 1, sizeof *s->wl);
    s->mask = calloc(s->nwords ? s->nwords : 1, sizeof *s->mask);
    if (!s->g_coord || !s->g_start || !s->g_size || !s->g_val || !s->lane_coord || !s->free_coord || !s->g1 ||
        !s->wl || !s->mask) {
        free(cnt);
        free(v);
        return 1;
    }
    double inv = 1.0 / (double)s->batch, rho = s->dyn == LINSTAB_OPT_SAM_SAME ? s->rho : 0.0;
    size_t lane = 0, g = 0, q = 0;
    for (size_t j = 0; j < d; j++)
        if (cnt[j] == 1) {
            double h = v[j] * inv;
            s->lane_coord[lane] = j;
            s->g1[lane++] = -s->eta * (h + rho * h * h);
        } else if (cnt[j] == 0)
            s->free_coord[q++] = j;
    for (size_t j = 0; j < d; j++)
        if (cnt[j] > 1) {
            s->g_coord[g] = j;
            s->g_start[g] = lane;
            s->g_size[g] = cnt[j];
            s->g_val[g++] = v[j];
            lane += cnt[j];
        }
    /* p = B/n in binary, 0.b1 b2 ...: doubling and subtracting 1 are exact */
    double p = (double)s->batch / (double)n;
    s->npm = 0;
    s->all = p >= 1.0; /* U < 1 always */
    if (!s->all)
        while (p > 0.0 && s->npm < sizeof s->pm / sizeof s->pm[0]) {
            p *= 2.0;
            int b = p >= 1.0;
            if (b) p -= 1.0;
            s->pm[s->npm++] = b ? ~0ULL : 0ULL;
        }
    free(cnt);
    free(v);
    s->lanes = 1;
    return 0;
}

/* xoshiro256++ (Blackman & Vigna 2019): the lanes' bits */
static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t xoshiro_next(uint64_t *restrict x)
{
    uint64_t r = rotl64(x[0] + x[3], 23) + x[0], t = x[1] << 17;
    x[2] ^= x[0];
    x[3] ^= x[1];
    x[1] ^= x[2];
    x[0] ^= x[3];
    x[2] ^= t;
    x[3] = rotl64(x[3], 45);
    return r;
}

/* mask[0..nwords): bit l set with probability p independently (lane l < nl),
 * U_l < p decided at the first bit where U_l's binary expansion differs from
 * p's: a lane still undecided after p's last 1 bit has U_l >= p */
static void lanes_draw(const linstab_sim *s, uint64_t *restrict x, uint64_t *restrict mask)
{
    const uint64_t *pm = s->pm;
    size_t npm = s->npm;
    for (size_t wd = 0; wd < s->nwords; wd++) {
        size_t rem = s->nl - 64 * wd;
        uint64_t und = rem >= 64 ? ~0ULL : (1ULL << rem) - 1, hit = 0;
        if (s->all) {
            mask[wd] = und;
            continue;
        }
        for (size_t k = 0; k < npm && und; k++) {
            uint64_t r = xoshiro_next(x);
            hit |= und & ~r & pm[k]; /* p's bit 1, U's bit 0: U < p */
            und &= ~(r ^ pm[k]);     /* the bits agree: still undecided */
        }
        mask[wd] = hit;
    }
}

static inline size_t lanes_count(const uint64_t *mask, size_t a, size_t len)
{
    size_t c = 0, e = a + len;
    while (a < e) {
        size_t wd = a / 64, b = a % 64, m = 64 - b < e - a ? 64 - b : e - a;
        uint64_t bits = mask[wd] >> b;
        if (m < 64) bits &= (1ULL << m) - 1;
        c += (size_t)__builtin_popcountll(bits);
        a += m;
    }
    return c;
}

/* two lanes as one SSE2 register (GCC / Clang vector extension);
 * bitpair[b]: the two bits of b as doubles */
typedef double v2d __attribute__((vector_size(16)));
static const v2d bitpair[4] = {{0.0, 0.0}, {1.0, 0.0}, {0.0, 1.0}, {1.0, 1.0}};

/* linstab_simulate_diag_run on the Bernoulli lanes: a step multiplies the
 * one-sample coordinates by 1 + bit g1 (branch-free, in lane order) and each
 * group's coordinate by its factor at the group's count; ||w||^2 is summed
 * afresh every step (four partial sums) */
static int lanes_run(linstab_sim *s, gsl_rng *rng, double *w, size_t steps, double lg, double ls,
                     double *lognorm)
{
    size_t d = s->f->d, ns = s->ns, ns4 = s->ns4;
    double eta = s->eta, rho = s->dyn == LINSTAB_OPT_SAM_SAME ? s->rho : 0.0, inv = 1.0 / (double)s->batch;
    double *restrict wl = s->wl;
    const double *restrict g1 = s->g1;
    uint64_t *restrict mask = s->mask;
    const size_t *restrict lane_coord = s->lane_coord;
    /* a xoshiro256++ state seeded from the run's stream */
    uint64_t key = ((uint64_t)gsl_rng_get(rng) << 32) ^ (uint64_t)gsl_rng_get(rng), xs[4];
    for (int k = 0; k < 4; k++) xs[k] = linstab_splitmix64(&key);
    for (size_t l = 0; l < ns; l++) wl[l] = w[lane_coord[l]];
    double fixed = 0.0, scale = 0.0, sq = 0.0;
    for (size_t q = 0; q < s->nfree; q++) fixed += w[s->free_coord[q]] * w[s->free_coord[q]];
    for (size_t j = 0; j < d; j++) sq += w[j] * w[j];
    double sq_hi = exp(2.0 * lg), sq_lo = exp(-2.0 * ls);
    int v = 0;
    for (size_t t = 0; t < steps; t++) {
        lanes_draw(s, xs, mask);
        v2d acc[4] = {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}}, one = {1.0, 1.0};
        for (size_t l = 0; l < ns4; l += 8) {
            uint64_t m = mask[l / 64] >> (l % 64);
            for (int q = 0; q < 4; q++) {
                v2d x, g;
                memcpy(&x, wl + l + 2 * q, sizeof x);
                memcpy(&g, g1 + l + 2 * q, sizeof g);
                x *= one + bitpair[(m >> (2 * q)) & 3] * g;
                memcpy(wl + l + 2 * q, &x, sizeof x);
                acc[q] += x * x;
            }
        }
        v2d a01 = acc[0] + acc[1], a23 = acc[2] + acc[3];
        sq = ((a01[0] + a01[1]) + (a23[0] + a23[1])) + fixed;
        for (size_t g = 0; g < s->ng; g++) {
            size_t j = s->g_coord[g], k = lanes_count(mask, s->g_start[g], s->g_size[g]);
            if (k != 0) {
                double h = s->g_val[g] * (double)k * inv;
                w[j] *= 1.0 - eta * (h + rho * h * h);
            }
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

linstab_status linstab_simulate_alloc(const linstab_family *f, linstab_optimizer dyn, double eta,
                                 double rho, size_t batch, linstab_sampling sampling,
                                 linstab_sim **out, linstab_error *err)
{
    *out = NULL;
    if (dyn == LINSTAB_OPT_GD)
        return linstab_error_set_param(err, LINSTAB_EINVAL, "optimizer",
                                       "the linearized random-batch dynamics are SGD or SAM, not gd "
                                       "(GD is SGD with B = n without replacement)");
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
    if (!s->idx || !s->idx2 || !s->work || !s->g || !s->t || !s->u) {
        linstab_simulate_free(s);
        return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
    }
    if (sampling == LINSTAB_SAMPLING_BERNOULLI) {
        s->cdf = malloc((n + 1) * sizeof *s->cdf);
        if (s->cdf == NULL) {
            linstab_simulate_free(s);
            return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
        }
        linstab_sampling_binomial_cdf(n, batch, s->cdf);
    }
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) {
        /* one pass over the n x d diagonals (memory-bound; each row is
         * counted, then listed from the cache): the lists grow by doubling */
        size_t ncap = n + 1, q = 0;
        s->rowptr = malloc((n + 1) * sizeof *s->rowptr);
        s->col = malloc(ncap * sizeof *s->col);
        s->val = malloc(ncap * sizeof *s->val);
        int oom = !s->rowptr || !s->col || !s->val;
        for (size_t i = 0; i < n && !oom; i++) {
            s->rowptr[i] = q;
            size_t c = row_nonzeros(f->data + i * d, d, NULL, NULL);
            if (q + c > ncap) {
                while (q + c > ncap) ncap *= 2;
                size_t *nc = realloc(s->col, ncap * sizeof *nc);
                if (nc != NULL) s->col = nc;
                double *nv = nc != NULL ? realloc(s->val, ncap * sizeof *nv) : NULL;
                if (nv != NULL) s->val = nv;
                oom = nc == NULL || nv == NULL;
                if (oom) break;
            }
            q += row_nonzeros(f->data + i * d, d, s->col + q, s->val + q);
        }
        if (oom) {
            linstab_simulate_free(s);
            return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
        }
        s->rowptr[n] = q;
        /* d + 1: the kernel stores a coordinate in the next free slot before
         * it knows whether the coordinate is new (branch-free), so once all d
         * coordinates are in the list one more store lands at touched[d] */
        s->touched = malloc((d + 1) * sizeof *s->touched);
        s->hit = calloc(d, 1);
        if (!s->touched || !s->hit) {
            linstab_simulate_free(s);
            return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
        }
        if (sampling == LINSTAB_SAMPLING_BERNOULLI && (dyn == LINSTAB_OPT_SGD || dyn == LINSTAB_OPT_SAM_SAME) &&
            lanes_make(s) != 0) {
            linstab_simulate_free(s);
            return linstab_error_set(err, LINSTAB_ENOMEM, "simulation: out of memory");
        }
    }
    *out = s;
    return LINSTAB_OK;
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
    size_t c = linstab_sampling_draw_cdf(rng, s->sampling, n, s->batch, s->idx, s->work, s->cdf);
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
        size_t c2 = linstab_sampling_draw_cdf(rng, s->sampling, n, s->batch, s->idx2, s->work, s->cdf);
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
        size_t c = linstab_sampling_draw_cdf(rng, s->sampling, n, s->batch, idx, s->work, s->cdf);
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
