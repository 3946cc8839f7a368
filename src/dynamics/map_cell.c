/*
 * map_cell.c -- one cell of a divergence phase diagram: Dexter et al.'s
 * Section 5.1 Monte Carlo protocol (a run, the classification rule, the
 * majority over runs), the exact columns (mean-square radius, Lyapunov
 * exponent) and the margins of Dexter et al.'s Theorems 1 and 2 (from
 * bounds.h) and of Shin et al.'s Theorem 9; for normalized SAM, which is
 * not linear, runs without rescaling and absolute thresholds
 * (docs/math.md §6).  The grid over cells is
 * map_grid.c, the axes map_axis.c.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "linstab/bounds.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "linstab/sym.h"
#include "linstab/lyapunov.h"
#include "linstab/map.h"
#include "linstab/sam.h"
#include "linstab/simulate.h"
#include "linstab/secmom.h"
#include "internal.h"

linstab_map_params linstab_map_defaults(void)
{
    linstab_map_params p;
    memset(&p, 0, sizeof p);
    p.dyn = LINSTAB_OPT_SGD;
    p.sampling = LINSTAB_SAMPLING_DEFAULT;
    p.eta = NAN;
    p.rho = 0.0;
    p.batch = 0;
    p.sigma = 0;
    p.runs = 5;
    p.steps = 1000;
    p.grow = 1000.0;
    p.shrink = 1000.0;
    p.exact = 1;
    p.lyap_runs = 4;
    p.lyap_steps = 1000;
    return p;
}

size_t linstab_map_source_n(const linstab_map_source *src)
{
    return src->rf != NULL ? src->rf->f->n : src->dexter_n;
}

/* +1 / -1 / 0 for a log-norm relative to the start. */
static int verdict(double lognorm, double lg, double ls)
{
    if (lognorm >= lg) return 1;
    if (lognorm <= -ls) return -1;
    return 0;
}

int linstab_map_cell_classify(const double *norms, size_t len, double grow, double shrink)
{
    if (len == 0 || !(norms[0] > 0.0)) return 0;
    double lg = log(grow), ls = log(shrink);
    for (size_t t = 1; t < len; t++) {
        int v = norms[t] > 0.0 ? verdict(log(norms[t] / norms[0]), lg, ls) : -1;
        if (v != 0) return v;
    }
    return 0;
}

/* The protocol's start: a Gaussian direction, of unit norm. */
static void unit_start(gsl_rng *rng, size_t d, double *w)
{
    double nrm = 0.0;
    for (size_t j = 0; j < d; j++) {
        w[j] = gsl_ran_gaussian_ziggurat(rng, 1.0);
        nrm += w[j] * w[j];
    }
    nrm = sqrt(nrm);
    for (size_t j = 0; j < d; j++) w[j] /= nrm;
}

double linstab_map_normalized_bound(double eta, double rho, double sharpness, size_t d)
{
    /* per coordinate of the eigenbasis, |w_i'| <= |1 - eta l_i| |w_i| + eta rho l_i,
     * so |w_i| never exceeds max(|w_i(0)|, rho max(1, eta l_i / (2 - eta l_i))),
     * largest at l_i = l_1; with ||w(0)|| = 1 the sum over the d coordinates
     * gives the bound.  Past 2/l_1 (or with an unknown l_1) the scale rho. */
    double x = eta * sharpness;
    double q = x < 2.0 ? fmax(1.0, x / (2.0 - x)) : 1.0;
    double r = rho * q;
    return sqrt(1.0 + (double)d * r * r);
}

void linstab_map_cell_run_normalized(linstab_sim *sim, gsl_rng *rng, size_t d, size_t steps, double grow,
                                     double shrink, double sharpness, double *w, int *outcome)
{
    double eta, rho;
    linstab_simulate_params(sim, NULL, &eta, &rho);
    unit_start(rng, d, w);
    /* absolute thresholds on the true norm: the iterates are never rescaled */
    double hi = grow * linstab_map_normalized_bound(eta, rho, sharpness, d), lo = 1.0 / shrink;
    *outcome = 0;
    for (size_t t = 0; t < steps; t++) {
        linstab_simulate_step(sim, rng, w);
        double s = 0.0;
        for (size_t j = 0; j < d; j++) s += w[j] * w[j];
        s = sqrt(s);
        if (!(s < hi)) { /* also an overflow (inf or NaN) */
            *outcome = 1;
            return;
        }
        if (s <= lo) {
            *outcome = -1;
            return;
        }
    }
}

void linstab_map_cell_run(linstab_sim *sim, gsl_rng *rng, size_t d, size_t steps, double grow,
                          double shrink, double *w, int *outcome)
{
    linstab_optimizer dyn;
    linstab_simulate_params(sim, &dyn, NULL, NULL);
    if (dyn == LINSTAB_OPT_SAM_NORMALIZED) {
        linstab_map_cell_run_normalized(sim, rng, d, steps, grow, shrink, NAN, w, outcome);
        return;
    }
    unit_start(rng, d, w);
    double lg = log(grow), ls = log(shrink), logn = 0.0;
    int fast = linstab_simulate_diag_run(sim, rng, w, steps, lg, ls, &logn);
    if (fast != 2) {
        *outcome = fast;
        return;
    }
    *outcome = 0;
    for (size_t t = 0; t < steps; t++) {
        linstab_simulate_step(sim, rng, w);
        double s = 0.0;
        for (size_t j = 0; j < d; j++) s += w[j] * w[j];
        if (!(s > 0.0)) {
            *outcome = -1; /* exactly zero: converged */
            return;
        }
        s = sqrt(s);
        logn += log(s);
        for (size_t j = 0; j < d; j++) w[j] /= s; /* renormalise: never overflows */
        int v = verdict(logn, lg, ls);
        if (v != 0) {
            *outcome = v;
            return;
        }
    }
}

linstab_status linstab_map_check(const linstab_map_source *src, const linstab_map_params *p,
                                 const linstab_map_axis *x, const linstab_map_axis *y, linstab_error *err)
{
    if (p->dyn == LINSTAB_OPT_GD)
        return linstab_error_set_param(err, LINSTAB_EINVAL, "optimizer",
                                       "a map runs random-batch dynamics: sgd, sam-same, sam-independent "
                                       "or sam-normalized (GD is sgd with batch = n)");
    if (x->kind == y->kind)
        return linstab_error_set(err, LINSTAB_EINVAL, "the axis %s is given twice",
                                 linstab_map_axis_name(x->kind));
    size_t n = linstab_map_source_n(src);
    const linstab_map_axis *ax[2] = {x, y};
    int has[4] = {0};
    for (int a = 0; a < 2; a++) {
        has[ax[a]->kind] = 1;
        if (ax[a]->kind == LINSTAB_MAP_AXIS_SIGMA && src->rf != NULL)
            return linstab_error_set(err, LINSTAB_EINVAL,
                                     "the sigma axis applies only to the dexter construction "
                                     "(a fixed family has no sigma)");
        if (ax[a]->kind == LINSTAB_MAP_AXIS_RHO && p->dyn == LINSTAB_OPT_SGD)
            return linstab_error_set(err, LINSTAB_EINVAL,
                                     "the rho axis applies only to SAM (the optimizer is SGD)");
        for (size_t i = 0; i < ax[a]->count; i++) {
            double v = ax[a]->values[i];
            if ((ax[a]->kind == LINSTAB_MAP_AXIS_BATCH || ax[a]->kind == LINSTAB_MAP_AXIS_SIGMA) && v > (double)n)
                return linstab_error_set(err, LINSTAB_EINVAL, "axis %s: %g exceeds n = %zu",
                                         linstab_map_axis_name(ax[a]->kind), v, n);
        }
    }
    if (!has[LINSTAB_MAP_AXIS_ETA] && !(p->eta > 0.0))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "eta",
                                       "the learning rate is required (eta is not an axis)");
    if (!has[LINSTAB_MAP_AXIS_BATCH] && (p->batch < 1 || p->batch > n))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "batch",
                                       "the batch size is required (batch is not an axis), in "
                                       "[1, n] = [1, %zu]", n);
    if (src->rf == NULL && !has[LINSTAB_MAP_AXIS_SIGMA] && (p->sigma < 1 || p->sigma > n))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "sigma",
                                       "sigma is required for the dexter construction (sigma is "
                                       "not an axis), in [1, %zu]", n);
    if (p->runs < 1 || p->steps < 1 || !(p->grow > 1.0) || !(p->shrink > 1.0))
        return linstab_error_set(err, LINSTAB_EINVAL, "runs, steps >= 1 and growth/shrink factors > 1 are required");
    return LINSTAB_OK;
}

linstab_status linstab_map_source_prepare(const linstab_family *f, double rank_rtol, int use_m2,
                                          linstab_optimizer dyn, linstab_rotated *rf, linstab_moments **moments,
                                          linstab_map_source *src, linstab_error *err)
{
    memset(rf, 0, sizeof *rf);
    *moments = NULL;
    *src = (linstab_map_source){NULL, NAN, NAN, 0, NULL, NULL};
    /* on one BLAS thread: no reduction order depends on OPENBLAS_NUM_THREADS */
    int blas = blas_threads_single();
    linstab_status st = linstab_family_rotated_make(f, rank_rtol, use_m2, rf, err);
    if (st == LINSTAB_OK) st = linstab_geometry_coherence(rf->f, NULL, &src->sigma, err);
    if (st == LINSTAB_OK && dyn != LINSTAB_OPT_SGD) st = linstab_moments_compute(rf->f, moments, err);
    blas_threads_restore(blas);
    if (st != LINSTAB_OK) {
        linstab_moments_free(*moments);
        *moments = NULL;
        linstab_family_rotated_clear(rf);
        src->sigma = NAN;
        return st;
    }
    src->rf = rf;
    src->moments = *moments;
    src->sharpness = 0.0;
    for (size_t j = 0; j < rf->f->d; j++) src->sharpness = fmax(src->sharpness, rf->l[j]);
    return LINSTAB_OK;
}

linstab_status linstab_map_dexter(size_t n, size_t sigma, linstab_rotated *out, linstab_error *err)
{
    linstab_gen_params g = {0};
    g.kind = LINSTAB_GEN_DEXTER;
    g.n = n;
    g.sigma = sigma;
    linstab_family *f = NULL;
    memset(out, 0, sizeof *out);
    linstab_status st = linstab_generate(&g, &f, err);
    if (st == LINSTAB_OK) st = linstab_family_rotated_make(f, 0.0, 0, out, err);
    linstab_family_free(f);
    return st;
}

linstab_status linstab_map_cell_compute(const linstab_map_source *src, const linstab_map_params *p,
                                        const linstab_map_axis *x, const linstab_map_axis *y, size_t ix, size_t iy,
                                        linstab_map_cell *out, linstab_error *err)
{
    return linstab_map_cell_compute_planned(src, NULL, p, x, y, ix, iy, out, err);
}

linstab_status linstab_map_cell_compute_planned(const linstab_map_source *src, linstab_sim_plan *const *plans,
                                                const linstab_map_params *p, const linstab_map_axis *x,
                                                const linstab_map_axis *y, size_t ix, size_t iy,
                                                linstab_map_cell *out, linstab_error *err)
{
    double eta = p->eta, rho = p->rho;
    size_t B = p->batch, sigma = p->sigma;
    const linstab_map_axis *ax[2] = {x, y};
    size_t idx[2] = {ix, iy};
    for (int a = 0; a < 2; a++) {
        double v = ax[a]->values[idx[a]];
        switch (ax[a]->kind) {
        case LINSTAB_MAP_AXIS_ETA: eta = v; break;
        case LINSTAB_MAP_AXIS_BATCH: B = (size_t)v; break;
        case LINSTAB_MAP_AXIS_RHO: rho = v; break;
        case LINSTAB_MAP_AXIS_SIGMA: sigma = (size_t)v; break;
        }
    }
    if (p->dyn == LINSTAB_OPT_SGD) rho = 0.0;
    linstab_rotated own = {0};
    const linstab_rotated *rf = src->rf;
    const linstab_sim_plan *plan = plans != NULL && src->rf != NULL ? plans[0] : NULL;
    double l1 = src->sharpness, coh = src->sigma;
    linstab_status st = LINSTAB_OK;
    if (rf == NULL) {
        if (src->dexter_rf != NULL && sigma >= 1 && sigma <= src->dexter_n && src->dexter_rf[sigma].f != NULL) {
            rf = &src->dexter_rf[sigma];
            if (plans != NULL) plan = plans[sigma];
        } else {
            st = linstab_map_dexter(src->dexter_n, sigma, &own, err);
            if (st != LINSTAB_OK) return st;
            rf = &own;
        }
        l1 = 2.0; /* Dexter et al.'s construction: lambda1(H) = 2, coherence sigma */
        coh = (double)sigma;
    }
    const linstab_family *f = rf->f;
    size_t n = f->n, d = f->d;
    /* Dexter et al.'s lines: lambda1(H) above a threshold predicts divergence */
    double thr1, thr2;
    thr1 = linstab_bounds_thm1_threshold(coh, eta, n, B);
    thr2 = linstab_bounds_thm2_threshold(coh, eta, n, B);
    out->thm1_margin = l1 - fmin(2.0 / eta, thr1);
    out->thm2_margin = l1 - thr2;
    out->thm9_margin = NAN;
    if (p->dyn != LINSTAB_OPT_SGD) {
        /* Shin et al. Thm 9 (stated for B = 1, 'same'): stable if lambda_max(P) <= 1 */
        linstab_moments *own_m = NULL;
        const linstab_moments *m = src->rf != NULL ? src->moments : NULL;
        if (m == NULL) {
            st = linstab_moments_compute(f, &own_m, err);
            m = own_m;
        }
        double lm;
        /* a failure of the eigensolver leaves the margin NaN (the map's
         * other columns stand) */
        if (st == LINSTAB_OK && linstab_bounds_thm9_lambda_max(m, eta, rho, &lm, err) == LINSTAB_OK)
            out->thm9_margin = lm - 1.0;
        linstab_moments_free(own_m);
        if (st != LINSTAB_OK) {
            linstab_family_rotated_clear(&own);
            return st;
        }
    }

    /* Monte Carlo, Dexter et al. Section 5.1 */
    linstab_sim *sim = NULL;
    double *w = malloc(d * sizeof *w);
    /* the grid's plan of this family (its nonzeros scanned once per family,
     * not per cell) when it has one: the same workspace */
    st = w == NULL ? linstab_error_set(err, LINSTAB_ENOMEM, "out of memory")
         : plan != NULL ? linstab_simulate_alloc_plan(plan, p->dyn, eta, rho, B, p->sampling, &sim, err)
                        : linstab_simulate_alloc(f, p->dyn, eta, rho, B, p->sampling, &sim, err);
    size_t ndiv = 0, nbounded = 0;
    size_t cell = iy * x->count + ix;
    for (size_t k = 0; st == LINSTAB_OK && k < p->runs; k++) {
        gsl_rng *rng = linstab_rng_stream_mc(p->seed, (uint64_t)cell * p->runs + k);
        int outcome;
        if (p->dyn == LINSTAB_OPT_SAM_NORMALIZED)
            linstab_map_cell_run_normalized(sim, rng, d, p->steps, p->grow, p->shrink, l1, w, &outcome);
        else
            linstab_map_cell_run(sim, rng, d, p->steps, p->grow, p->shrink, w, &outcome);
        ndiv += outcome > 0;
        nbounded += outcome == 0;
        gsl_rng_free(rng);
    }
    linstab_simulate_free(sim);
    free(w);
    out->frac_div = (double)ndiv / (double)p->runs;
    out->frac_bounded = (double)nbounded / (double)p->runs;
    out->divergent = 2 * ndiv > p->runs;
    out->radius = NAN;
    out->lyapunov = NAN;
    if (st == LINSTAB_OK && p->exact && p->dyn != LINSTAB_OPT_SAM_NORMALIZED) {
        linstab_eigen_opts eo = linstab_eigen_defaults();
        if (p->dyn == LINSTAB_OPT_SGD) {
            double a, b;
            linstab_sampling_coeffs(p->sampling, n, B, &a, &b);
            linstab_secmom *sm = NULL;
            st = linstab_secmom_alloc(f, rf->l, LINSTAB_OPT_SGD, eta, 0.0, a, b, &sm, err);
            if (st == LINSTAB_OK) st = linstab_secmom_radius(sm, &eo, &out->radius, err);
            linstab_secmom_free(sm);
        } else {
            linstab_optimizer v = p->dyn == LINSTAB_OPT_SAM_SAME ? LINSTAB_OPT_SAM_SAME : LINSTAB_OPT_SAM_INDEP;
            if (linstab_sam_available_rank(v, n, d, B, p->sampling))
                st = linstab_sam_radius(rf, v, eta, rho, B, p->sampling, &eo, &out->radius, err);
        }
        linstab_lyap ly;
        int ok = 0;
        if (st == LINSTAB_OK)
            st = linstab_lyapunov_diag_exact(f, p->dyn, eta, rho, B, p->sampling, &ly, &ok, err);
        if (st == LINSTAB_OK && !ok)
            st = linstab_lyapunov_mc(f, p->dyn, eta, rho, B, p->sampling, p->lyap_runs, p->lyap_steps,
                                     p->seed ^ 0x5eedULL ^ ((uint64_t)cell << 20), &ly, err);
        if (st == LINSTAB_OK) out->lyapunov = ly.exponent;
    }
    linstab_family_rotated_clear(&own);
    return st;
}

void linstab_map_cell_pack(const linstab_map_cell *c, double v[LINSTAB_MAP_FIELDS])
{
    v[0] = c->frac_div;
    v[1] = c->divergent;
    v[2] = c->radius;
    v[3] = c->lyapunov;
    v[4] = c->thm1_margin;
    v[5] = c->thm2_margin;
    v[6] = c->thm9_margin;
}
