/*
 * trajectory_rate.c -- the linearization of an objective at a point as a
 * Hessian family, and the exact mean-square growth rate of an optimizer on
 * it: the escape rate Zhou et al. (2025, Corollary 4.2) predict after a
 * switch of optimizer, for objectives of several samples (trajectory.h,
 * docs/math.md §6).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/lyapunov.h"
#include "linstab/sam.h"
#include "linstab/sgd.h"
#include "linstab/sym.h"
#include "linstab/trajectory.h"
#include "trajectory_internal.h"

/* A dense family of n d x d Hessians is refused beyond this many bytes. */
#define LINEARIZATION_MAX_BYTES ((size_t)1 << 31)

linstab_status linstab_trajectory_linearization(const linstab_objective *o, const double *w,
                                                linstab_family **out, linstab_error *err)
{
    *out = NULL;
    size_t n = linstab_objective_samples(o), d = linstab_objective_dim(o);
    if (d == 0 || n > LINEARIZATION_MAX_BYTES / sizeof(double) / d / d)
        return linstab_error_set_param(err, LINSTAB_EINVAL, "objective",
                                       "the linearization's %zu Hessians of %zu x %zu need more than %zu bytes",
                                       n, d, d, (size_t)LINEARIZATION_MAX_BYTES);
    for (size_t j = 0; j < d; j++)
        if (!isfinite(w[j]))
            return linstab_error_set_param(err, LINSTAB_EINVAL, "w",
                                           "entry %zu of the point is not finite", j + 1);
    linstab_family *f = NULL;
    linstab_status st = linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, &f, err);
    if (st != LINSTAB_OK) return st;
    for (size_t i = 0; i < n && st == LINSTAB_OK; i++)
        st = linstab_objective_hessian(o, w, &i, 1, f->data + i * d * d, err);
    if (st != LINSTAB_OK) {
        linstab_family_free(f);
        return st;
    }
    for (size_t k = 0; k < n * d * d; k++)
        if (!isfinite(f->data[k])) {
            linstab_family_free(f);
            return linstab_error_set_param(err, LINSTAB_EDATA, "w",
                                           "the Hessian of sample %zu is not finite at the point",
                                           k / (d * d) + 1);
        }
    *out = f;
    return LINSTAB_OK;
}

/* The linearization of o at w restricted to range(M_2) (away from a
 * minimum the Hessians can be indefinite; the directions outside it are
 * not moved and do not change the loss); 0 on failure. */
static int linearization_rotated(const linstab_objective *o, const double *w, linstab_rotated *rf)
{
    linstab_error err;
    linstab_family *f = NULL;
    memset(rf, 0, sizeof *rf);
    if (linstab_trajectory_linearization(o, w, &f, &err) != LINSTAB_OK) return 0;
    linstab_status st = linstab_family_rotated_make(f, 0.0, 1, rf, &err);
    linstab_family_free(f);
    return st == LINSTAB_OK;
}

/* The mean-square radius of opt's step on the rotated linearization rf of
 * an objective of n samples; 0 when not available. */
static int rate_on(const linstab_rotated *rf, size_t n, linstab_optimizer opt, double eta, double rho, size_t batch,
                   linstab_sampling sampling, double *rate)
{
    linstab_error err;
    linstab_eigen_opts eo = linstab_eigen_defaults();
    linstab_status st;
    double r = NAN;
    switch (opt) {
    case LINSTAB_OPT_GD:
        st = linstab_sgd_radius(rf, eta, n, LINSTAB_SAMPLING_WITHOUT, &eo, &r, &err);
        break;
    case LINSTAB_OPT_SGD:
        st = linstab_sgd_radius(rf, eta, batch, sampling, &eo, &r, &err);
        break;
    case LINSTAB_OPT_SAM_SAME:
    case LINSTAB_OPT_SAM_INDEP:
        st = linstab_sam_available_rank(opt, n, rf->f->d, batch, sampling)
                 ? linstab_sam_radius(rf, opt, eta, rho, batch, sampling, &eo, &r, &err)
                 : LINSTAB_EINVAL;
        break;
    default:
        st = LINSTAB_EINVAL;
    }
    if (st != LINSTAB_OK || !isfinite(r)) return 0;
    *rate = r;
    return 1;
}

/* The almost-sure growth factor of the loss, exp(2 lambda), of a random
 * step on rf (Monte Carlo); 0 when not available. */
static int lyapunov_on(const linstab_rotated *rf, linstab_optimizer opt, double eta, double rho, size_t batch,
                       linstab_sampling sampling, uint64_t seed, double *rate, double *stderr_rate)
{
    if (opt != LINSTAB_OPT_SGD && opt != LINSTAB_OPT_SAM_SAME && opt != LINSTAB_OPT_SAM_INDEP) return 0;
    linstab_error err;
    linstab_lyap ly;
    if (linstab_lyapunov_mc(rf->f, opt, eta, opt == LINSTAB_OPT_SGD ? 0.0 : rho, batch, sampling,
                            LINSTAB_TRAJECTORY_LYAP_RUNS, LINSTAB_TRAJECTORY_LYAP_STEPS, seed, &ly,
                            &err) != LINSTAB_OK)
        return 0;
    /* the loss is quadratic in w: it grows at twice the exponent of ||w|| */
    *rate = exp(2.0 * ly.exponent);
    *stderr_rate = 2.0 * *rate * ly.stderr_;
    return 1;
}

int trajectory_family_rate(const linstab_objective *o, const double *w, linstab_optimizer opt,
                           double eta, double rho, size_t batch, linstab_sampling sampling,
                           double *rate)
{
    linstab_rotated rf;
    if (!linearization_rotated(o, w, &rf)) return 0;
    int ok = rate_on(&rf, linstab_objective_samples(o), opt, eta, rho, batch, sampling, rate);
    linstab_family_rotated_clear(&rf);
    return ok;
}

int linstab_trajectory_predicted_escape(const linstab_objective *o, const double *w, linstab_optimizer opt,
                                        double eta, double rho, size_t batch, linstab_sampling sampling,
                                        uint64_t seed, double *ms_rate, double *as_rate, double *as_stderr)
{
    if (opt == LINSTAB_OPT_SAM_NORMALIZED) return 0;
    size_t n = linstab_objective_samples(o);
    /* one batch only: the step is deterministic, every run grows at the
     * mean-square rate */
    int deterministic = n == 1 || opt == LINSTAB_OPT_GD || (batch == n && sampling == LINSTAB_SAMPLING_WITHOUT);
    int got = 0;
    if (n == 1) {
        got = linstab_trajectory_predicted_rate(o, w, opt, eta, rho, batch, sampling, ms_rate);
    } else {
        linstab_rotated rf; /* built once for both rates */
        if (!linearization_rotated(o, w, &rf)) return 0;
        got = rate_on(&rf, n, opt, eta, rho, batch, sampling, ms_rate);
        if (!deterministic && lyapunov_on(&rf, opt, eta, rho, batch, sampling, seed, as_rate, as_stderr))
            got |= 2;
        linstab_family_rotated_clear(&rf);
    }
    if (deterministic && (got & 1)) {
        *as_rate = *ms_rate;
        *as_stderr = 0.0;
        got |= 2;
    }
    return got;
}

int linstab_trajectory_predicted_lyapunov(const linstab_objective *o, const double *w,
                                          linstab_optimizer opt, double eta, double rho, size_t batch,
                                          linstab_sampling sampling, uint64_t seed, double *rate,
                                          double *stderr_rate)
{
    double ms = NAN;
    return (linstab_trajectory_predicted_escape(o, w, opt, eta, rho, batch, sampling, seed, &ms, rate,
                                                stderr_rate) &
            2) != 0;
}
