/*
 * exact.c -- exact mean-square and almost-sure stability of SGD and SAM
 * at given hyper-parameters (docs/math.md §3-5): radius, critical eta,
 * critical batch size, critical rho, Lyapunov exponent.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/critical.h"
#include "linstab/exact.h"
#include "linstab/linalg.h"
#include "linstab/samsame.h"
#include "linstab/secmom.h"

const char *linstab_sam_variant_name(linstab_sam_variant v)
{
    return v == LINSTAB_SAM_SAME ? "same" : "independent";
}

linstab_status linstab_sam_variant_parse(const char *s, linstab_sam_variant *v, linstab_error *err)
{
    if (strcmp(s, "same") == 0) {
        *v = LINSTAB_SAM_SAME;
        return LINSTAB_OK;
    }
    if (strcmp(s, "independent") == 0) {
        *v = LINSTAB_SAM_INDEPENDENT;
        return LINSTAB_OK;
    }
    return linstab_error_set(err, LINSTAB_EINVAL,
                             "--sam-variant '%s': expected same or independent", s);
}

void linstab_rotated_clear(linstab_rotated *rf)
{
    linstab_family_free(rf->f);
    free(rf->l);
    memset(rf, 0, sizeof *rf);
}

/* The rotated family of g, taken over (g is freed): H = diag(l) in its basis. */
static linstab_status rotated_take(linstab_family *g, int turn, size_t d_full, linstab_rotated *out,
                                   linstab_error *err)
{
    linstab_status st = LINSTAB_OK;
    if (turn) {
        /* the basis of range(M_2) is M_2's eigenbasis: turn it into H's */
        linstab_family *h = NULL;
        st = linstab_family_rotate_mean(g, &h, err);
        linstab_family_free(g);
        g = h;
        if (st != LINSTAB_OK) return st;
    }
    out->f = g;
    size_t r = g->d;
    double *H = malloc(r * r * sizeof *H);
    out->l = malloc(r * sizeof *out->l);
    if (H == NULL || out->l == NULL) {
        free(H);
        linstab_rotated_clear(out);
        return linstab_error_set(err, LINSTAB_ENOMEM, "rotation: out of memory");
    }
    st = linstab_family_mean(out->f, H, err);
    for (size_t j = 0; st == LINSTAB_OK && j < r; j++) out->l[j] = H[j * r + j];
    free(H);
    out->d_full = d_full;
    if (st != LINSTAB_OK) linstab_rotated_clear(out);
    return st;
}

linstab_status linstab_rotated_make(const linstab_family *f, double rank_rtol, int use_m2,
                                    linstab_rotated *out, linstab_error *err)
{
    memset(out, 0, sizeof *out);
    size_t rank = 0;
    linstab_family *g = NULL;
    linstab_status st = linstab_family_restrict(f, rank_rtol, use_m2, 1, &g, &rank, NULL, err);
    if (st != LINSTAB_OK) return st;
    st = rotated_take(g, use_m2, f->d, out, err);
    if (st == LINSTAB_OK) out->m2_range = use_m2;
    return st;
}

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

/* 'same' cases with a cheap route: B = 1 (K-family) and full batch */
static int same_special(size_t n, size_t batch, linstab_sampling sampling)
{
    if (batch == n && sampling == LINSTAB_SAMPLING_WITHOUT) return 1;
    return batch == 1 && sampling != LINSTAB_SAMPLING_BERNOULLI;
}

int linstab_sam_available(linstab_sam_variant v, size_t n, size_t batch, linstab_sampling sampling)
{
    (void)n;
    (void)batch;
    (void)sampling;
    return v == LINSTAB_SAM_INDEPENDENT || v == LINSTAB_SAM_SAME;
}

int linstab_sam_available_rank(linstab_sam_variant v, size_t n, size_t rank, size_t batch,
                               linstab_sampling sampling)
{
    if (v == LINSTAB_SAM_INDEPENDENT || same_special(n, batch, sampling)) return 1;
    return rank <= LINSTAB_SAMSAME_MAX_R;
}

static linstab_status secmom_radius(const linstab_family *f, const double *l, linstab_method m,
                                    double eta, double rho, double a, double b,
                                    const linstab_eigen_opts *opts, double *radius,
                                    linstab_error *err)
{
    linstab_secmom *s = NULL;
    linstab_status st = linstab_secmom_alloc(f, l, m, eta, rho, a, b, &s, err);
    if (st == LINSTAB_OK) st = linstab_secmom_radius(s, opts, radius, err);
    linstab_secmom_free(s);
    return st;
}

linstab_status linstab_sgd_radius(const linstab_rotated *rf, double eta, size_t batch,
                                  linstab_sampling sampling, const linstab_eigen_opts *opts,
                                  double *radius, linstab_error *err)
{
    double a, b;
    linstab_sampling_coeffs(sampling, rf->f->n, batch, &a, &b);
    return secmom_radius(rf->f, rf->l, LINSTAB_METHOD_SGD, eta, 0.0, a, b, opts, radius, err);
}

/* The rotated family K_i = H_i + rho H_i^2 (SAM 'same' at B = 1), on the
 * same space as rf: K's mean is turned to diagonal, nothing is dropped
 * (for indefinite families K_i can lose rank where H_i has eigenvalue
 * -1/rho, and K's mean can be singular or indefinite). */
static linstab_status sam_same_family(const linstab_rotated *rf, double rho, linstab_rotated *out,
                                      linstab_error *err)
{
    linstab_family *K = NULL;
    memset(out, 0, sizeof *out);
    linstab_status st = linstab_family_sam_same(rf->f, rho, &K, err);
    if (st != LINSTAB_OK) return st;
    st = rotated_take(K, 1, rf->d_full, out, err);
    if (st == LINSTAB_OK) out->m2_range = rf->m2_range;
    return st;
}

/* SAM radius; *ws caches the general-B 'same' workspace between calls
 * (the caller frees it with linstab_samsame_free). */
static linstab_status sam_radius_ws(const linstab_rotated *rf, linstab_sam_variant v, double eta,
                                    double rho, size_t batch, linstab_sampling sampling,
                                    const linstab_eigen_opts *opts, linstab_samsame **ws,
                                    double *radius, linstab_error *err)
{
    size_t n = rf->f->n;
    double a, b;
    linstab_sampling_coeffs(sampling, n, batch, &a, &b);
    if (v == LINSTAB_SAM_INDEPENDENT)
        return secmom_radius(rf->f, rf->l, LINSTAB_METHOD_SAM_INDEP, eta, rho, a, b, opts, radius,
                             err);
    if (batch == n && sampling == LINSTAB_SAMPLING_WITHOUT)
        return secmom_radius(rf->f, rf->l, LINSTAB_METHOD_SAM_FULL, eta, rho, 1.0, 0.0, opts,
                             radius, err);
    if (!same_special(n, batch, sampling)) {
        /* general B: the moment expansion over set partitions (samsame.c) */
        linstab_status st = *ws ? LINSTAB_OK : linstab_samsame_alloc(rf->f, ws, err);
        if (st == LINSTAB_OK) st = linstab_samsame_radius(*ws, eta, rho, batch, sampling, radius, err);
        return st;
    }
    /* B = 1 with or without replacement: SGD at B = 1 on the family K_i */
    if (rho == 0.0) return linstab_sgd_radius(rf, eta, 1, sampling, opts, radius, err);
    linstab_rotated K;
    linstab_status st = sam_same_family(rf, rho, &K, err);
    if (st != LINSTAB_OK) return st;
    st = linstab_sgd_radius(&K, eta, 1, sampling, opts, radius, err);
    linstab_rotated_clear(&K);
    return st;
}

linstab_status linstab_sam_radius(const linstab_rotated *rf, linstab_sam_variant v, double eta,
                                  double rho, size_t batch, linstab_sampling sampling,
                                  const linstab_eigen_opts *opts, double *radius,
                                  linstab_error *err)
{
    linstab_samsame *ws = NULL;
    linstab_status st = sam_radius_ws(rf, v, eta, rho, batch, sampling, opts, &ws, radius, err);
    linstab_samsame_free(ws);
    return st;
}

typedef struct param_ctx {
    const linstab_rotated *rf;
    linstab_sam_variant v;
    double eta, rho;
    size_t batch;
    linstab_sampling sampling;
    const linstab_eigen_opts *opts;
    linstab_samsame *ws; /* cached general-B 'same' terms */
} param_ctx;

static linstab_status radius_of_rho(double x, double *value, void *vctx, linstab_error *err)
{
    param_ctx *c = vctx;
    return sam_radius_ws(c->rf, c->v, c->eta, x, c->batch, c->sampling, c->opts, &c->ws, value, err);
}

static linstab_status radius_of_eta(double x, double *value, void *vctx, linstab_error *err)
{
    param_ctx *c = vctx;
    if (x == 0.0) {
        *value = 1.0; /* T = identity */
        return LINSTAB_OK;
    }
    return sam_radius_ws(c->rf, c->v, x, c->rho, c->batch, c->sampling, c->opts, &c->ws, value, err);
}

static double top_k(const linstab_rotated *rf, double rho)
{
    double k = 0.0;
    for (size_t j = 0; j < rf->f->d; j++) k = fmax(k, rf->l[j] + rho * rf->l[j] * rf->l[j]);
    return k;
}

/*
 * The smallest eigenvalue of the curvature K of SAM's mean step
 * E[J] = I - eta K, relative to max|K| (<= r eps: treated as 0):
 * 'same': K = H + rho E[Hhat^2] = H + rho (a H^2 + b M_2);
 * 'independent': K = H + rho H^2 (the batches are independent).
 */
static linstab_status mean_curvature_min(const linstab_rotated *rf, linstab_sam_variant v, double rho,
                                         size_t batch, linstab_sampling sampling, double *kmin,
                                         linstab_error *err)
{
    const linstab_family *f = rf->f;
    size_t r = f->d;
    if (linstab_curvature_positive(r, rf->l)) {
        /* H positive definite on the space, rho a H^2 + rho b M_2 PSD */
        *kmin = rf->l[r - 1];
        return LINSTAB_OK;
    }
    double a = 1.0, b = 0.0;
    if (v == LINSTAB_SAM_SAME) linstab_sampling_coeffs(sampling, f->n, batch, &a, &b);
    double *K = calloc(r * r, sizeof *K), *w = malloc(r * sizeof *w);
    if (K == NULL || w == NULL) {
        free(K);
        free(w);
        return linstab_error_set(err, LINSTAB_ENOMEM, "SAM critical eta: out of memory");
    }
    linstab_status st = LINSTAB_OK;
    if (rho != 0.0 && b != 0.0) {
        double *M[2] = {NULL, K};
        st = linstab_family_moments(f, 2, M, err);
        for (size_t j = 0; st == LINSTAB_OK && j < r * r; j++) K[j] *= rho * b;
    }
    for (size_t j = 0; j < r; j++) K[j * r + j] += rf->l[j] + rho * a * rf->l[j] * rf->l[j];
    if (st == LINSTAB_OK) st = linstab_sym_eig(r, K, w, NULL, err);
    if (st == LINSTAB_OK) {
        double kmax = fmax(fabs(w[0]), fabs(w[r - 1]));
        *kmin = w[0] > (double)r * DBL_EPSILON * kmax ? w[0] : 0.0;
    }
    free(K);
    free(w);
    return st;
}

linstab_status linstab_sam_eta_star(const linstab_rotated *rf, linstab_sam_variant variant,
                                    double rho, size_t batch, linstab_sampling sampling,
                                    const linstab_eigen_opts *eo, double *eta_star,
                                    linstab_error *err)
{
    size_t n = rf->f->n;
    if (!linstab_sam_available_rank(variant, n, rf->f->d, batch, sampling))
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "SAM (%s): no exact operator for B = %zu, %s at rank %zu",
                                 linstab_sam_variant_name(variant), batch,
                                 linstab_sampling_name(sampling), rf->f->d);
    /* first order: radius(eta) = 1 - 2 eta lambda_min(K) + O(eta^2) with K
     * the mean step's curvature; lambda_min(K) <= 0 leaves no stable eta */
    double kmin = 0.0;
    linstab_status st0 = mean_curvature_min(rf, variant, rho, batch, sampling, &kmin, err);
    if (st0 != LINSTAB_OK) return st0;
    if (!(kmin > 0.0)) {
        *eta_star = 0.0;
        return LINSTAB_OK;
    }
    if (variant == LINSTAB_SAM_SAME && batch == n && sampling == LINSTAB_SAMPLING_WITHOUT) {
        *eta_star = 2.0 / top_k(rf, rho); /* full batch: Zhou et al., after Prop. 4.1 */
        return LINSTAB_OK;
    }
    if (variant == LINSTAB_SAM_SAME && same_special(n, batch, sampling)) {
        if (rho == 0.0) return linstab_critical_eta(rf->f, rf->l, 0.0, 1.0, eo, eta_star, err);
        linstab_rotated K;
        linstab_status st = sam_same_family(rf, rho, &K, err);
        if (st != LINSTAB_OK) return st;
        st = linstab_critical_eta(K.f, K.l, 0.0, 1.0, eo, eta_star, err);
        linstab_rotated_clear(&K);
        return st;
    }
    /* independent batches (T is not self-adjoint) and 'same' at general B:
     * bisection on eta */
    param_ctx c = {rf, variant, 0.0, rho, batch, sampling, eo, NULL};
    linstab_status st = linstab_critical_param(radius_of_eta, &c, 1.0 / top_k(rf, rho), 1e-10,
                                               eta_star, NULL, err);
    linstab_samsame_free(c.ws);
    return st;
}

linstab_status linstab_lemma41(const linstab_rotated *rf, double eta, size_t batch, size_t K,
                               double *trace, double *lower, linstab_error *err)
{
    const linstab_family *f = rf->f;
    size_t r = f->d, n = f->n;
    double a, b, N = (double)n;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_BERNOULLI, n, batch, &a, &b);
    double c = eta * eta / (N * (double)batch) - eta * eta / (N * N);
    linstab_secmom *s = NULL;
    double *X = calloc(r * r, sizeof *X), *Y = malloc(r * r * sizeof *Y);
    double *Z = calloc(r * r, sizeof *Z), *W = malloc(r * r * sizeof *W);
    linstab_status st = (X && Y && Z && W) ? linstab_secmom_alloc(f, rf->l, LINSTAB_METHOD_SGD,
                                                                  eta, 0.0, a, b, &s, err)
                                           : linstab_error_set(err, LINSTAB_ENOMEM, "Lemma 4.1: out of memory");
    for (size_t j = 0; X && Z && j < r; j++) X[j * r + j] = Z[j * r + j] = 1.0;
    double ck = 1.0;
    for (size_t k = 0; st == LINSTAB_OK && k < K; k++) {
        linstab_secmom_apply(s, X, Y);
        st = linstab_family_sandwich(f, Z, W, err); /* W = M(Z) = N(Z)/n */
        double tt = 0.0, tl = 0.0;
        for (size_t j = 0; j < r; j++) {
            tt += Y[j * r + j];
            tl += W[j * r + j];
        }
        ck *= c * N;
        trace[k] = tt;
        lower[k] = ck * tl;
        double *tmp = X;
        X = Y;
        Y = tmp;
        tmp = Z;
        Z = W;
        W = tmp;
    }
    linstab_secmom_free(s);
    free(X);
    free(Y);
    free(Z);
    free(W);
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
    return linstab_radius_tol(m, (1.0 + eta * k) * (1.0 + eta * k), dense ? 0.0 : (o.tol > 0.0 ? o.tol : 1e-12));
}

linstab_status linstab_exact_compute(const linstab_rotated *rf, const linstab_hyper *h,
                                     linstab_sam_variant variant, const linstab_exact_opts *opts,
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
#define STAGE(k, name) \
    do { \
        if (opts->progress) opts->progress((k), (name), opts->progress_ctx); \
    } while (0)

    STAGE(0, "SGD eta*");
    st = linstab_critical_eta(f, rf->l, a, b, eo, &out->sgd_eta_star, err);
    if (st != LINSTAB_OK) return st;
    linstab_eigen_opts eo_radius = *eo;
    if (eo_radius.max_iter == 0 || eo_radius.max_iter > 150) eo_radius.max_iter = 150; /* fail fast */
    STAGE(1, "SGD radius");
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
                           : linstab_radius_verdict(out->sgd_radius, out->radius_tol);
    out->sgd_stable = linstab_verdict_bounded(out->sgd_verdict);
    STAGE(2, "critical B");
    st = linstab_critical_batch(f, rf->l, h->sampling, h->eta, eo, &out->sgd_critical_batch, err);
    if (st != LINSTAB_OK) return st;

    out->sam_variant = variant;
    out->sam_available = linstab_sam_available_rank(variant, n, f->d, h->batch, h->sampling);
    if (out->sam_available) {
        STAGE(3, "SAM radius");
        st = linstab_sam_radius(rf, variant, h->eta, h->rho, h->batch, h->sampling, eo,
                                &out->sam_radius, err);
        if (st != LINSTAB_OK) return st;
        out->sam_radius_tol = linstab_exact_radius_tol(rf, h->eta, h->rho, eo);
        out->sam_verdict = linstab_radius_verdict(out->sam_radius, out->sam_radius_tol);
        out->sam_stable = linstab_verdict_bounded(out->sam_verdict);
        param_ctx c = {rf, variant, h->eta, h->rho, h->batch, h->sampling, eo, NULL};
        STAGE(4, "SAM eta*");
        st = linstab_sam_eta_star(rf, variant, h->rho, h->batch, h->sampling, eo,
                                  &out->sam_eta_star, err);
        if (st != LINSTAB_OK) return st;
        STAGE(5, "critical rho");
        double l1 = top_k(rf, 0.0);
        double hint = (2.0 / h->eta - l1) / (l1 * l1);
        if (!(hint > 0.0)) hint = 1e-3 / l1;
        st = linstab_critical_param(radius_of_rho, &c, hint, 1e-10, &out->sam_critical_rho,
                                    &out->sam_rho_monotone, err);
        linstab_samsame_free(c.ws);
        if (st != LINSTAB_OK) return st;
    }

    out->lemma_k = opts->lemma_k ? opts->lemma_k : 10;
    if (out->lemma_k > LINSTAB_LEMMA_KMAX) out->lemma_k = LINSTAB_LEMMA_KMAX;
    STAGE(6, "Lemma 4.1");
    st = linstab_lemma41(rf, h->eta, h->batch, out->lemma_k, out->lemma_trace, out->lemma_lower,
                         err);
    if (st != LINSTAB_OK) return st;

    if (!opts->skip_lyapunov) {
        STAGE(7, "Lyapunov");
        linstab_dynamics dyn = h->rho == 0.0                ? LINSTAB_DYN_SGD
                               : variant == LINSTAB_SAM_SAME ? LINSTAB_DYN_SAM_SAME
                                                             : LINSTAB_DYN_SAM_INDEP;
        int ok = 0;
        st = linstab_lyapunov_diag_exact(f, dyn, h->eta, h->rho, h->batch, h->sampling,
                                         &out->lyap, &ok, err);
        if (st == LINSTAB_OK && !ok)
            st = linstab_lyapunov_mc(f, dyn, h->eta, h->rho, h->batch, h->sampling,
                                     opts->lyap_runs ? opts->lyap_runs : 8,
                                     opts->lyap_steps ? opts->lyap_steps : 2000, opts->seed,
                                     &out->lyap, err);
        if (st != LINSTAB_OK) return st;
        out->lyap_done = 1;
    }
    STAGE(LINSTAB_EXACT_STAGES, "done");
#undef STAGE
    return LINSTAB_OK;
}
