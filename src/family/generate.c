/*
 * generate.c -- synthetic Hessian families (see generate.h for the
 * definitions); DEXTER is Dexter et al.'s Section 5.1 construction.
 *
 * Reproducibility: MT19937 seeded by GSL for seeds below 2^32 and, for
 * larger seeds, with its whole state from splitmix64 (distinct seeds,
 * distinct streams), Gaussians by the ziggurat method, drawn in the fixed
 * order sample, row, column.  GSL's generators and the ziggurat use only
 * integer arithmetic and exact table look-ups except in rare tail
 * branches (exp/log of glibc, correctly rounded in practice), so a seed
 * gives the same file on every x86-64 and ARM machine.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "internal.h"
#include "linstab/generate.h"

static const char *const names[] = {"rank1", "lowrank", "wishart", "aligned", "dexter"};

const char *linstab_generate_kind_name(linstab_gen_kind kind)
{
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "unknown";
}

linstab_status linstab_generate_kind_parse(const char *name, linstab_gen_kind *kind, linstab_error *err)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) {
            *kind = (linstab_gen_kind)i;
            return LINSTAB_OK;
        }
    return linstab_error_set_param(err, LINSTAB_EINVAL, "kind",
                                   "'%s' is not a generator: expected rank1, lowrank, wishart, "
                                   "aligned or dexter",
                                   name);
}

/* GSL's MT19937 state (gsl/rng/mt.c): 624 words and the position. */
typedef struct { unsigned long mt[624]; int mti; } mt_state;

static gsl_rng *seeded(uint64_t seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (r == NULL) return NULL;
    if (seed >> 32 == 0 || gsl_rng_size(r) != sizeof(mt_state)) {
        /* seeds below 2^32: GSL's own seeding, the files they always gave */
        gsl_rng_set(r, (unsigned long)((seed ^ (seed >> 32)) & 0xffffffffUL));
        return r;
    }
    /* larger seeds: the whole state from splitmix64, so that distinct
     * 64-bit seeds give distinct streams (not 2^64 - 1 the same as 0) */
    mt_state *st = gsl_rng_state(r);
    uint64_t x = seed;
    for (int i = 0; i < 624; i++) st->mt[i] = (unsigned long)(linstab_splitmix64(&x) & 0xffffffffUL);
    st->mt[0] |= 0x80000000UL; /* never the all-zero state */
    st->mti = 624;
    return r;
}

static void gauss_fill(gsl_rng *r, double *x, size_t len, double sd)
{
    for (size_t i = 0; i < len; i++) x[i] = gsl_ran_gaussian_ziggurat(r, sd);
}

linstab_status linstab_generate(const linstab_gen_params *p, linstab_family **out,
                                linstab_error *err)
{
    *out = NULL;
    size_t n = p->n, d = p->d;
    if (n == 0) return linstab_error_set_param(err, LINSTAB_EINVAL, "n", "n = 0: need at least one sample");
    if (p->kind == LINSTAB_GEN_DEXTER) {
        if (p->sigma < 1 || p->sigma > n)
            return linstab_error_set_param(err, LINSTAB_EINVAL, "sigma",
                                           "sigma = %zu must be in [1, n] = [1, %zu]", p->sigma, n);
        size_t dd = n - p->sigma + 1;
        linstab_status st = linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, dd, 1, out, err);
        if (st != LINSTAB_OK) return st;
        double m = 2.0 * (double)n / (double)p->sigma;
        for (size_t i = 0; i < n; i++)
            (*out)->data[i * dd + (i < p->sigma ? 0 : i - p->sigma + 1)] = m;
        return LINSTAB_OK;
    }
    if (d == 0) return linstab_error_set_param(err, LINSTAB_EINVAL, "d", "d = 0: the dimension must be >= 1");
    size_t k = p->rank;
    switch (p->kind) {
    case LINSTAB_GEN_RANK1: k = 1; break;
    case LINSTAB_GEN_LOWRANK: k = k ? k : 2; break;
    case LINSTAB_GEN_WISHART: k = k ? k : d; break;
    case LINSTAB_GEN_ALIGNED: k = k ? k : 1; break;
    default: return linstab_error_set(err, LINSTAB_EINVAL, "unknown generator %d", (int)p->kind);
    }
    int ovf = 0;
    size_t len = mul_sz(mul_sz(n, d, &ovf), p->kind == LINSTAB_GEN_WISHART ? d : k, &ovf);
    mul_sz(len, sizeof(double), &ovf);
    if (ovf)
        return linstab_error_set(err, LINSTAB_EINVAL, "n = %zu, d = %zu: the family is too large", n, d);
    gsl_rng *r = seeded(p->seed);
    if (r == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "random generator: out of memory");
    double sd = 1.0 / sqrt((double)d);
    linstab_status st = LINSTAB_OK;
    switch (p->kind) {
    case LINSTAB_GEN_RANK1:
    case LINSTAB_GEN_LOWRANK:
        st = linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, k, out, err);
        if (st == LINSTAB_OK) gauss_fill(r, (*out)->data, n * d * k, sd);
        break;
    case LINSTAB_GEN_ALIGNED: {
        double noise = p->noise < 0.0 ? 0.1 : p->noise;
        double *V = malloc(d * k * sizeof *V);
        st = V == NULL ? linstab_error_set(err, LINSTAB_ENOMEM, "out of memory")
                       : linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, k, out, err);
        if (st == LINSTAB_OK) {
            gauss_fill(r, V, d * k, sd); /* shared direction first */
            double *U = (*out)->data;
            gauss_fill(r, U, n * d * k, sd);
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < d * k; j++) U[i * d * k + j] = V[j] + noise * U[i * d * k + j];
        }
        free(V);
        break;
    }
    case LINSTAB_GEN_WISHART: {
        double *G = malloc(d * k * sizeof *G);
        st = G == NULL ? linstab_error_set(err, LINSTAB_ENOMEM, "out of memory")
                       : linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, out, err);
        for (size_t i = 0; st == LINSTAB_OK && i < n; i++) {
            gauss_fill(r, G, d * k, sd);
            double *H = (*out)->data + i * d * d;
            /* H = G G'/k, upper triangle computed, lower copied: bitwise symmetric */
            for (size_t a = 0; a < d; a++)
                for (size_t b = a; b < d; b++) {
                    double s = 0.0;
                    for (size_t c = 0; c < k; c++) s += G[a * k + c] * G[b * k + c];
                    H[a * d + b] = H[b * d + a] = s / (double)k;
                }
        }
        free(G);
        break;
    }
    default: break;
    }
    gsl_rng_free(r);
    if (st != LINSTAB_OK) {
        linstab_family_free(*out);
        *out = NULL;
    }
    return st;
}
