/*
 * exact.c -- the orchestration of exact stability at given hyper-parameters
 * (docs/math.md §3-5): SGD's radius, critical eta and critical batch size
 * (secmom.c, critical.c), SAM's radius, critical eta and critical rho
 * (sam.c), Dexter et al.'s Lemma 4.1 traces and the Lyapunov exponent
 * (lyapunov.c), with a verdict for each radius (verdict.c).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "linstab/critical.h"
#include "linstab/exact.h"
#include "linstab/sym.h"
#include "linstab/sam.h"
#include "linstab/secmom.h"
#include "linstab/sgd.h"
#include "units.h"

linstab_exact_opts linstab_exact_defaults(void)
{
    linstab_exact_opts o;
    memset(&o, 0, sizeof o);
    o.eigen = linstab_eigen_defaults();
    o.lyap_runs = 8;
    o.lyap_steps = 2000;
    o.seed = 0;
    return o;
}


static linstab_status lemma41_units(const linstab_rotated *rf, double eta, size_t batch, size_t K,
                                    double *trace, double *lower, stab_units *u, linstab_error *err);

linstab_status linstab_exact_lemma41(const linstab_rotated *rf, double eta, size_t batch, size_t K,
                               double *trace, double *lower, linstab_error *err)
{
    return lemma41_units(rf, eta, batch, K, trace, lower, NULL, err);
}

/* units: the products.  T and M are self-adjoint for the Frobenius
 * product, so tr(T^k(I)) = <T^j(I), T^(k-j)(I)> with j = floor(k/2): the
 * K traces need the powers up to ceil(K/2) only (half the products of
 * applying T K times), and the same for M. */
static linstab_status lemma41_units(const linstab_rotated *rf, double eta, size_t batch, size_t K,
                                    double *trace, double *lower, stab_units *u, linstab_error *err)
{
    const linstab_family *f = rf->f;
    size_t r = f->d, n = f->n, rr = r * r, J = (K + 1) / 2;
    double a, b, N = (double)n;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_BERNOULLI, n, batch, &a, &b);
    double c = eta * eta / (N * (double)batch) - eta * eta / (N * N);
    linstab_secmom *s = NULL;
    /* X_j = T^j(I), Z_j = M^j(I) for j = 0..J (M = N/n, the sandwich) */
    double *X = calloc((J + 1) * rr, sizeof *X), *Z = calloc((J + 1) * rr, sizeof *Z);
    linstab_status st = (X && Z) ? linstab_secmom_alloc(f, rf->l, LINSTAB_OPT_SGD, eta, 0.0, a, b, &s, err)
                                 : linstab_error_set(err, LINSTAB_ENOMEM, "Lemma 4.1: out of memory");
    for (size_t j = 0; X && Z && j < r; j++) X[j * r + j] = Z[j * r + j] = 1.0;
    for (size_t j = 1; st == LINSTAB_OK && j <= J; j++) {
        st = linstab_secmom_apply(s, X + (j - 1) * rr, X + j * rr, err);
        units_tick(u, 2 * (J - j) + 1);
        if (st == LINSTAB_OK) st = linstab_family_sandwich(f, Z + (j - 1) * rr, Z + j * rr, err);
        units_tick(u, 2 * (J - j));
    }
    double ck = 1.0;
    for (size_t k = 1; st == LINSTAB_OK && k <= K; k++) {
        size_t lo = k / 2, hi = k - lo;
        ck *= c * N;
        trace[k - 1] = cblas_ddot((int)rr, X + lo * rr, 1, X + hi * rr, 1);
        lower[k - 1] = ck * cblas_ddot((int)rr, Z + lo * rr, 1, Z + hi * rr, 1);
    }
    linstab_secmom_free(s);
    free(X);
    free(Z);
    return st;
}

/* The tolerance of verdict.h for T on this family: dimension r(r+1)/2,
 * entries of size (1 + eta k)^2 with k = max_j |l_j| + rho l_j^2. */
double linstab_exact_radius_tol(const linstab_rotated *rf, double eta, double rho, const linstab_eigen_opts *eo)
{
    size_t r = rf->f->d, m = r * (r + 1) / 2;
    double k = 0.0;
    for (size_t j = 0; j < r; j++) k = fmax(k, fabs(rf->l[j]) + rho * rf->l[j] * rf->l[j]);
    linstab_eigen_opts o = eo ? *eo : linstab_eigen_defaults();
    size_t dense_max = o.dense_max ? o.dense_max : 2000;
    int dense = o.path == LINSTAB_EIGEN_DENSE || (o.path == LINSTAB_EIGEN_AUTO && m <= dense_max);
    return linstab_verdict_radius_tol(m, (1.0 + eta * k) * (1.0 + eta * k), dense ? 0.0 : (o.tol > 0.0 ? o.tol : 1e-12));
}

/* A stage's last report: done = total (a stage that counted nothing, one
 * unit: itself). */
static void stage_end(stab_units *u)
{
    if (u->done == 0) u->done = 1;
    u->total = u->done;
    units_report(u);
}

linstab_status linstab_exact_compute(const linstab_rotated *rf, const linstab_hyper *h,
                                     linstab_optimizer variant, const linstab_exact_opts *opts,
                                     linstab_exact *out, linstab_error *err)
{
    const linstab_family *f = rf->f;
    size_t n = f->n;
    memset(out, 0, sizeof *out);
    linstab_status st = linstab_bounds_hyper_check(h, n, err);
    double kmax = 0.0;
    for (size_t j = 0; j < f->d; j++) kmax = fmax(kmax, fabs(rf->l[j]));
    if (st == LINSTAB_OK) st = linstab_bounds_hyper_check_scale(h, kmax, err);
    if (st != LINSTAB_OK) return st;
    const linstab_eigen_opts *eo = &opts->eigen;
    double a, b;
    linstab_sampling_coeffs(h->sampling, n, h->batch, &a, &b);
    /* each stage: its name (progress), then its units (progress_units)
     * from done 0 of an expected total to done = total at its end */
    stab_units units = {opts->progress_units, opts->progress_ctx, 0, 0, 0};
    stab_units *u = opts->progress_units ? &units : NULL;
#define STAGE(k, name, expect) \
    do { \
        if (u != NULL && (k) > 0) stage_end(u); \
        if (opts->progress) opts->progress((k), (name), opts->progress_ctx); \
        if (u != NULL && (k) < LINSTAB_EXACT_STAGES) { \
            units.stage = (k); \
            units.done = 0; \
            units.total = (expect); \
            units_report(u); \
        } \
    } while (0)

    STAGE(0, "SGD eta*", 1);
    st = linstab_critical_eta(f, rf->l, a, b, eo, &out->sgd_eta_star, err);
    if (st != LINSTAB_OK) return st;
    linstab_eigen_opts eo_radius = *eo;
    if (eo_radius.max_iter == 0 || eo_radius.max_iter > 150) eo_radius.max_iter = 150; /* fail fast */
    STAGE(1, "SGD radius", 1);
    st = linstab_sgd_radius(rf, h->eta, h->batch, h->sampling, &eo_radius, &out->sgd_radius, err);
    if (st == LINSTAB_ENOCONV && isfinite(out->sgd_eta_star)) {
        /* many eigenvalues of T cluster at 1 when H has tiny eigenvalues on
         * its range, and Lanczos may not resolve the top one; the verdict
         * still follows exactly from eta* (radius <= 1 iff eta <= eta*) */
        out->sgd_radius = NAN;
        st = LINSTAB_OK;
    }
    if (st != LINSTAB_OK) return st;
    out->radius_tol = linstab_exact_radius_tol(rf, h->eta, 0.0, eo);
    out->sgd_verdict = isnan(out->sgd_radius)
                           ? (h->eta <= out->sgd_eta_star ? LINSTAB_VERDICT_STABLE : LINSTAB_VERDICT_UNSTABLE)
                           : linstab_verdict_classify(out->sgd_radius, out->radius_tol);
    out->sgd_stable = linstab_verdict_bounded(out->sgd_verdict);
    STAGE(2, "critical B", 1 + 4 + (n < 13 ? n : 13)); /* at most: critical.c */
    st = critical_batch_units(f, rf->l, h->sampling, h->eta, eo, &out->sgd_critical_batch, u, err);
    if (st != LINSTAB_OK) return st;

    out->sam_variant = variant;
    out->sam_available = linstab_sam_available_rank(variant, n, f->d, h->batch, h->sampling);
    if (out->sam_available) {
        STAGE(3, "SAM radius", 1);
        st = linstab_sam_radius(rf, variant, h->eta, h->rho, h->batch, h->sampling, eo,
                                &out->sam_radius, err);
        if (st != LINSTAB_OK) return st;
        out->sam_radius_tol = linstab_exact_radius_tol(rf, h->eta, h->rho, eo);
        out->sam_verdict = linstab_verdict_classify(out->sam_radius, out->sam_radius_tol);
        out->sam_stable = linstab_verdict_bounded(out->sam_verdict);
        STAGE(4, "SAM eta*", 0); /* 0: not known yet */
        st = sam_eta_star_units(rf, variant, h->rho, h->batch, h->sampling, eo, &out->sam_eta_star, u, err);
        if (st != LINSTAB_OK) return st;
        STAGE(5, "critical rho", 0);
        st = sam_critical_rho_units(rf, variant, h->eta, h->batch, h->sampling, eo, &out->sam_critical_rho,
                                    &out->sam_rho_monotone, u, err);
        if (st != LINSTAB_OK) return st;
    }

    out->lemma_k = opts->lemma_k ? opts->lemma_k : 10;
    if (out->lemma_k > LINSTAB_LEMMA_KMAX) out->lemma_k = LINSTAB_LEMMA_KMAX;
    STAGE(6, "Lemma 4.1", 2 * ((out->lemma_k + 1) / 2));
    st = lemma41_units(rf, h->eta, h->batch, out->lemma_k, out->lemma_trace, out->lemma_lower, u, err);
    if (st != LINSTAB_OK) return st;

    if (!opts->skip_lyapunov) {
        STAGE(7, "Lyapunov", 0); /* Monte Carlo or the exact formula: not known yet */
        linstab_optimizer dyn = h->rho == 0.0                ? LINSTAB_OPT_SGD
                               : variant == LINSTAB_OPT_SAM_SAME ? LINSTAB_OPT_SAM_SAME
                                                             : LINSTAB_OPT_SAM_INDEP;
        int ok = 0;
        st = linstab_lyapunov_diag_exact(f, dyn, h->eta, h->rho, h->batch, h->sampling,
                                         &out->lyap, &ok, err);
        if (st == LINSTAB_OK && !ok)
            st = lyapunov_mc_units(f, dyn, h->eta, h->rho, h->batch, h->sampling,
                                   opts->lyap_runs ? opts->lyap_runs : 8,
                                   opts->lyap_steps ? opts->lyap_steps : 2000, opts->seed, &out->lyap, u,
                                   err);
        if (st != LINSTAB_OK) return st;
        out->lyap_done = 1;
    }
    STAGE(LINSTAB_EXACT_STAGES, "done", 0);
#undef STAGE
    return LINSTAB_OK;
}
