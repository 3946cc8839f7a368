/*
 * bounds.c -- the published stability results, evaluated as stated:
 * Dexter et al. Theorems 1-2, Shin et al. Theorem 9 and its per-term
 * conditions (7), Zhou et al. Theorem 4.1 / Corollary 4.2 (as stated and
 * corrected for the sampling scheme).  See docs/math.md §4-5.  The one
 * place each formula is written: `check` (linstab_bounds_compute),
 * `critical`, the phase diagrams and validation call the functions below.
 */
#include <math.h>
#include <stdlib.h>

#include <cblas.h>

#include "linstab/bounds.h"
#include "linstab/sym.h"
#include "linstab/verdict.h"

linstab_status linstab_bounds_hyper_check_scale(const linstab_hyper *h, double k, linstab_error *err)
{
    /* the operators hold products such as (eta k)^2 (rho k)^2 */
    double ek = h->eta * fabs(k), rk = h->rho * fabs(k);
    if (ek > LINSTAB_HYPER_SCALE_MAX || rk > LINSTAB_HYPER_SCALE_MAX)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "%s %g times the largest curvature %.3g is %.3g, beyond %.0e where the "
                                 "second-moment operators overflow (such a step diverges)",
                                 ek > LINSTAB_HYPER_SCALE_MAX ? "the learning rate" : "the SAM radius",
                                 ek > LINSTAB_HYPER_SCALE_MAX ? h->eta : h->rho, fabs(k),
                                 ek > LINSTAB_HYPER_SCALE_MAX ? ek : rk, LINSTAB_HYPER_SCALE_MAX);
    if (ek > 0.0 && ek < LINSTAB_HYPER_SCALE_MIN)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "the learning rate %g times the largest curvature %.3g is %.3g, below %.0e: "
                                 "the step changes nothing in double precision (every radius is 1 within rounding)",
                                 h->eta, fabs(k), ek, LINSTAB_HYPER_SCALE_MIN);
    return LINSTAB_OK;
}

linstab_status linstab_bounds_hyper_check(const linstab_hyper *h, size_t n, linstab_error *err)
{
    if (!(h->eta > 0.0) || !isfinite(h->eta))
        return linstab_error_set(err, LINSTAB_EINVAL, "the learning rate must be finite and > 0, got %g",
                                 h->eta);
    if (!(h->rho >= 0.0) || !isfinite(h->rho))
        return linstab_error_set(err, LINSTAB_EINVAL, "the SAM radius must be finite and >= 0, got %g",
                                 h->rho);
    if (h->batch < 1 || h->batch > n)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "the batch size must be in [1, n] = [1, %zu], got %zu", n, h->batch);
    return LINSTAB_OK;
}

void linstab_shin_P(const linstab_moments *m, double eta, double rho, double *P)
{
    /* Expanding J^2 = (I - eta H - eta rho H^2)^2, every power of H cancels
     * against the gaps: P = (1/n) sum_i J_i^2 with J_i = I - eta H_i -
     * eta rho H_i^2, i.e. I - 2 eta M1 + c2 M2 + c3 M3 + c4 M4 -- one pass,
     * no product and no cancellation between H^k and M_k */
    size_t r = m->r, rr = r * r;
    double c2 = eta * (eta - 2.0 * rho), c3 = 2.0 * eta * eta * rho, c4 = eta * eta * rho * rho;
    const double *M1 = m->M[0], *M2 = m->M[1], *M3 = m->M[2], *M4 = m->M[3];
    for (size_t j = 0; j < rr; j++) P[j] = -2.0 * eta * M1[j] + c2 * M2[j] + c3 * M3[j] + c4 * M4[j];
    for (size_t j = 0; j < r; j++) P[j * r + j] += 1.0;
}

static linstab_condition cond(double lhs, double rhs)
{
    linstab_condition c = {lhs, rhs, lhs <= rhs};
    return c;
}

/* ---- Dexter et al. (2024), Theorems 1 and 2 (docs/math.md §4) ---- */

double linstab_bounds_thm1_threshold(double sigma, double eta, size_t n, size_t batch)
{
    double nB = (double)n / (double)batch;
    return batch < n ? sigma / eta / sqrt(nB - 1.0) : INFINITY;
}

double linstab_bounds_thm1_eta(double sigma, double lambda1, size_t n, size_t batch)
{
    /* the condition lambda1 eta > sigma (n/B - 1)^(-1/2) solved for eta, with
     * GD's eta > 2/lambda1 (the theorem's first condition) */
    double nB = (double)n / (double)batch;
    return batch < n ? fmin(2.0 / lambda1, sigma / (lambda1 * sqrt(nB - 1.0))) : 2.0 / lambda1;
}

double linstab_bounds_thm2_threshold(double sigma, double x, size_t n, size_t batch)
{
    double nB = (double)n / (double)batch;
    return 2.0 * sigma / (x * (sigma + nB - 1.0));
}

/* ---- Shin et al. (2023), Theorem 9 (docs/math.md §5) ---- */

linstab_status linstab_bounds_thm9_lambda_max(const linstab_moments *m, double eta, double rho,
                                              double *lambda_max, linstab_error *err)
{
    size_t r = m->r;
    double *P = malloc(r * r * sizeof *P);
    if (P == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "Theorem 9: out of memory");
    linstab_shin_P(m, eta, rho, P);
    /* P ~ I - small: a cluster at the top, found by shift-invert about 1 */
    linstab_status st = linstab_sym_lambda_max_near(r, P, 1.0, lambda_max, err);
    free(P);
    return st;
}

/* ---- Zhou et al. (2025), Theorem 4.1 as stated and corrected (docs/math.md §5) ---- */

linstab_condition linstab_bounds_thm41(double frobenius, double gamma, double eta, double rho, double Bv)
{
    double f2 = frobenius * frobenius;
    if (isinf(Bv)) return cond(f2, INFINITY); /* no mini-batch noise: no condition */
    double lhs = f2 * (1.0 + rho * rho * gamma / Bv * f2);
    double rhs = gamma > 0.0 ? Bv / (eta * eta * gamma) : INFINITY;
    return cond(lhs, rhs);
}

linstab_condition linstab_bounds_thm41_corrected(double frobenius, double gamma, double eta, double rho,
                                                 linstab_sampling sampling, size_t n, size_t batch)
{
    return linstab_bounds_thm41(frobenius, gamma, eta, rho, linstab_sampling_batch_eff(sampling, n, batch));
}

linstab_status linstab_bounds_compute(const linstab_geometry *g, const linstab_moments *m,
                                      const linstab_hyper *h, linstab_bounds *b,
                                      linstab_error *err)
{
    linstab_status st = linstab_bounds_hyper_check(h, g->n, err);
    if (st == LINSTAB_OK)
        st = linstab_bounds_hyper_check_scale(h, fmax(fabs(g->sharpness), g->max_individual_sharpness), err);
    if (st != LINSTAB_OK) return st;
    double eta = h->eta, rho = h->rho, a = g->sharpness;
    size_t r = m->r;
    b->gd_threshold = 2.0 / eta;
    /* GD: w <- (I - eta H) w, radius max_j (1 - eta l_j)^2 over H's
     * eigenvalues on the space; a negative (or zero) curvature gives a
     * factor above (at) 1 whatever eta.  With H definite every factor for
     * l in (0, a] is below 1 unless eta a >= 2, where (1 - eta a)^2 is the
     * largest; below that the radius is < 1 and its value would need the
     * smallest eigenvalue on the space (NaN: not computed). */
    if (!g->definite && isfinite(g->lambda_min))
        b->gd_radius = fmax((1.0 - eta * a) * (1.0 - eta * a), (1.0 - eta * g->lambda_min) * (1.0 - eta * g->lambda_min));
    else
        b->gd_radius = eta * a >= 2.0 ? (1.0 - eta * a) * (1.0 - eta * a) : NAN;
    double scale = 1.0 + eta * fmax(fabs(a), isfinite(g->lambda_min) ? fabs(g->lambda_min) : 0.0);
    b->gd_verdict = isnan(b->gd_radius) ? LINSTAB_VERDICT_STABLE
                                        : linstab_verdict_classify(b->gd_radius, linstab_verdict_radius_tol(r, scale * scale, 0.0));
    b->gd_diverges = b->gd_verdict == LINSTAB_VERDICT_UNSTABLE;

    b->thm1_threshold = linstab_bounds_thm1_threshold(g->sigma, eta, g->n, h->batch);
    b->thm1_diverges = a > b->gd_threshold || a > b->thm1_threshold;
    b->thm1_defined = g->definite; /* stated for PSD families at a minimum */
    b->thm1_proved = h->sampling == LINSTAB_SAMPLING_BERNOULLI;
    b->thm2_threshold = linstab_bounds_thm2_threshold(g->sigma, eta, g->n, h->batch);

    st = linstab_bounds_thm9_lambda_max(m, eta, rho, &b->thm9_lambda_max, err);
    if (st != LINSTAB_OK) return st;
    double k1 = fabs(a) + rho * a * a;
    b->thm9_verdict = linstab_verdict_classify(b->thm9_lambda_max,
                                             linstab_verdict_radius_tol(r, (1.0 + eta * k1) * (1.0 + eta * k1), 0.0));
    b->thm9_stable = linstab_verdict_bounded(b->thm9_verdict);
    b->thm9_applies = h->batch == 1;

    b->eq7[0] = cond(a * (1.0 + rho * a), 2.0 / eta);
    b->eq7[1] = cond(g->m2_gap, eta > 2.0 * rho ? 1.0 / (eta * (eta - 2.0 * rho)) : INFINITY);
    b->eq7[2] = cond(g->m3_gap, rho > 0.0 ? 1.0 / (2.0 * eta * eta * rho) : INFINITY);
    b->eq7[3] = cond(g->m4_gap, rho > 0.0 ? 1.0 / (eta * eta * rho * rho) : INFINITY);

    /* gamma_min needs H positive definite on the space: else no condition */
    b->thm41_defined = isfinite(g->gamma_min);
    b->thm41 = linstab_bounds_thm41(g->frobenius, g->gamma_min, eta, rho, (double)h->batch);
    b->batch_eff = linstab_sampling_batch_eff(h->sampling, g->n, h->batch);
    b->thm41_corrected = linstab_bounds_thm41_corrected(g->frobenius, g->gamma_min, eta, rho, h->sampling,
                                                        g->n, h->batch);
    return LINSTAB_OK;
}

