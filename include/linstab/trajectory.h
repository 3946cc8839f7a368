/*
 * trajectory.h -- run an optimizer on an objective from a chosen start and
 * measure what the theory predicts (src/dynamics/trajectory.c,
 * docs/math.md §6): the 2-cycle of normalized SAM on a quadratic
 * (Bartlett et al. 2023, Theorem 2), SAM as gradient descent on J
 * (their Proposition 8), the escape rate after a switch of optimizer
 * (Zhou et al. 2025, Corollary 4.2).
 *
 * One step of each optimizer on the batch loss l_S (objective.h), with the
 * batch S drawn by `sampling` (one sample objectives: S = {1}):
 *   GD              w <- w - eta g(w)                  (full mean, no batch)
 *   SGD             w <- w - eta g_S(w)
 *   SAM_SAME        w <- w - eta g_S(w + rho g_S(w))
 *   SAM_INDEP       w <- w - eta g_S(w + rho g_S'(w))   (S' independent of S)
 *   SAM_NORMALIZED  w <- w - eta g_S(w + rho g_S(w) / ||g_S(w)||)  (Foret et
 *                   al. 2021; no ascent when g_S(w) = 0)
 * plus, when noise > 0, eta xi with xi ~ N(0, noise^2 I) added to the step
 * (isotropic gradient noise, Bartlett et al. 2023, Figure 5).
 */
#ifndef LINSTAB_TRAJECTORY_H
#define LINSTAB_TRAJECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/error.h"
#include "linstab/export.h"
#include "linstab/objective.h"
#include "linstab/optimizer.h"
#include "linstab/sampling.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Iterates are recorded at every step when d is at most this. */
#define LINSTAB_TRAJECTORY_LOG_DIM 16

typedef struct linstab_trajectory_opts {
    linstab_optimizer opt;        /* the optimizer from step 0 */
    double eta, rho;              /* eta > 0; rho >= 0 (SAM only) */
    size_t batch;                 /* 1..n (ignored by GD and one-sample objectives) */
    linstab_sampling sampling;
    double noise;                 /* s >= 0 */
    size_t steps;                 /* >= 1 */
    uint64_t seed;                /* batches and noise: linstab_rng_stream_mc(seed, 0) */
    size_t switch_step;           /* 0: no switch; else steps >= switch_step use switch_opt */
    linstab_optimizer switch_opt;
    double diverge_loss;          /* stop when the loss exceeds it or is not finite
                                     (<= 0: 1e100) */
    size_t log_every;             /* the full-mean loss and gradient norm at the
                                     steps t = 0 mod K, the switch step and the
                                     last (0, 1: every step; NaN elsewhere) */
    size_t sharpness_every;       /* lambda_max of the full-mean Hessian at the
                                     steps t = 0 mod K and the last (0: never) */
} linstab_trajectory_opts;

/* eta 0.1, rho 0, batch 1, sampling without, everything else 0 / SGD. */
LINSTAB_API linstab_trajectory_opts linstab_trajectory_defaults(void);

typedef struct linstab_trajectory {
    size_t d;
    size_t steps;       /* steps taken (opts.steps, or fewer after a divergence) */
    double *loss;       /* steps + 1: the full-mean loss at w_0 .. w_steps */
    double *grad_norm;  /* steps + 1: ||g(w_t)|| of the full mean */
    double *iterates;   /* (steps + 1) x d when d <= LINSTAB_TRAJECTORY_LOG_DIM, else NULL */
    double *final;      /* d: w_steps */
    double *at_switch;  /* d: w at the switch step (before its step); NULL without a
                           switch or when the run diverged before it */
    double *sharpness;  /* steps + 1 (NaN where not computed, and at a diverging
                           step), or NULL */
    int diverged;       /* 1: stopped at step `steps` because the loss left the range
                           (or, between logged steps, the iterate stopped being finite) */
} linstab_trajectory;

/*
 * Run opts from w0 (d = linstab_objective_dim(o) values) on o (borrowed).
 * With log_every K > 1 the full-mean loss is evaluated only at the logged
 * steps (the cost of a step is then that of its batch gradients, as in
 * training), and a divergence is seen there or when the iterate stops
 * being finite.  The sharpness comes from the dense Hessian (d <= 64) or
 * from Lanczos on Hessian-vector products (eigen.h); an eigensolver that
 * does not converge leaves NaN.  The steps at which the sharpness is
 * computed are also logged steps (their loss is evaluated).  OpenBLAS runs
 * single-threaded during the run (its thread count is set to 1 and put
 * back): do not call this from two threads that use BLAS at once.
 * OUT *out (release with linstab_trajectory_clear, also after a failure).
 * A divergence is not an error: the run stops there, keeps its log and
 * sets out->diverged.  Errors: LINSTAB_EINVAL (eta <= 0 or not finite,
 * rho < 0, batch outside [1, n], steps 0, a switch step past the end, a
 * non-finite start; param names the parameter), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_trajectory_run(const linstab_objective *o, const double *w0,
                                                  const linstab_trajectory_opts *opts,
                                                  linstab_trajectory *out, linstab_error *err);

LINSTAB_API void linstab_trajectory_clear(linstab_trajectory *t);

/*
 * The smallest period p in 1..8 with ||w_t - w_{t-p}|| <= tol max(1, ||w_t||)
 * for every t of the last `window` steps (window >= 2p; needs recorded
 * iterates), and the cycle's amplitude: the mean distance of its points
 * w_{T-p+1} .. w_T from their centroid (their norm when the cycle is
 * centred at 0, as on a positive definite quadratic; about the point of
 * the valley it straddles otherwise).
 * Returns 1 with *period and *amplitude set, 0 when no such period exists
 * (or no iterates are recorded).
 */
LINSTAB_API int linstab_trajectory_cycle(const linstab_trajectory *t, size_t window, double tol,
                                         size_t *period, double *amplitude);

/*
 * Bartlett et al. (2023) Theorem 2's cycle amplitude of normalized SAM on
 * the quadratic o: eta rho l1 / (2 - eta l1) with l1 the largest
 * eigenvalue of L.  Returns 1 with *amplitude set when the 2-cycle exists
 * (o a quadratic, L positive semidefinite with a simple top eigenvalue
 * l1 > 0 and 0 < eta l1 < 2), else 0.
 */
LINSTAB_API int linstab_trajectory_predicted_amplitude(const linstab_objective *o, double eta,
                                                       double rho, double *amplitude);

/*
 * Bartlett et al. (2023) Proposition 8 on a quadratic run with normalized
 * SAM: u_t = (-1)^t w_t is gradient descent with step eta rho on
 * J(u) = u'Cu/2 - ||L u||, C = (2 I - eta L)/(eta rho).  OUT *deviation =
 * max_t ||u_{t+1} - (u_t - eta rho grad J(u_t))|| / max(1, ||u_t||) over
 * the steps with L u_t != 0.  Returns 1, or 0 when it does not apply (not a
 * quadratic, rho = 0, no recorded iterates).
 */
LINSTAB_API int linstab_trajectory_prop8(const linstab_trajectory *t, const linstab_objective *o,
                                         double eta, double rho, double *deviation);

/*
 * The escape after the switch at step S: the per-step growth factor of the
 * loss, exp of the least-squares slope of log loss over steps
 * S .. S + w, where w <= 50 stops before the loss exceeds 1e4 times its
 * value at S or 1e-2 of its largest value in the run (the linear regime);
 * steps whose loss was not evaluated (NaN, log_every > 1) are skipped and
 * the window needs 3 evaluated steps.
 * OUT *rate, *first, *last (the window).  Returns 1, or 0 when there is no
 * window of at least 3 steps with positive loss.
 */
LINSTAB_API int linstab_trajectory_escape_rate(const linstab_trajectory *t, size_t S, double *rate,
                                               size_t *first, size_t *last);

/*
 * The predicted escape rate at w (Zhou et al. 2025, Corollary 4.2): the
 * exact mean-square radius of opt's linearized step at w, the factor by
 * which E[loss] grows per step once the iterate leaves w.  For a
 * one-sample objective in closed form: max_j (1 - eta h_j - eta rho h_j^2)^2
 * for SAM_SAME and SAM_INDEP, max_j (1 - eta h_j)^2 for SGD and GD, over
 * the nonzero eigenvalues h_j of the Hessian at w (|h_j| above 64 eps
 * max|h|: a flat direction, along a valley of minima, is not moved by the
 * linearized step and does not change the loss; a zero Hessian gives no
 * prediction).  For n > 1 samples: the radius
 * of the second-moment operator (secmom.h, sam.h) of the per-sample
 * Hessians at w (linstab_trajectory_linearization) restricted to the span
 * of their ranges, at (eta, rho, batch, sampling); GD is the full batch.
 * A single run of SGD grows at its almost-sure (Lyapunov) rate, which can
 * be smaller.  Returns 1, or 0 when it does not apply (normalized SAM is
 * not linear; 'same' SAM at a batch other than 1 and n beyond
 * LINSTAB_SAM_SAME_MAX_R; a linearization too large to hold).  Errors are
 * reported as 0 (no prediction).
 */
LINSTAB_API int linstab_trajectory_predicted_rate(const linstab_objective *o, const double *w,
                                                  linstab_optimizer opt, double eta, double rho,
                                                  size_t batch, linstab_sampling sampling,
                                                  double *rate);

/* The Monte Carlo size of linstab_trajectory_predicted_lyapunov. */
#define LINSTAB_TRAJECTORY_LYAP_RUNS 16
#define LINSTAB_TRAJECTORY_LYAP_STEPS 4000

/*
 * What a single run does after the switch: the almost-sure growth factor
 * of its loss per step, exp(2 lambda) with lambda the top Lyapunov
 * exponent of opt's linearized step at w (lyapunov.h, Monte Carlo with
 * LINSTAB_TRAJECTORY_LYAP_RUNS runs of LINSTAB_TRAJECTORY_LYAP_STEPS steps
 * from `seed`, on the linearization restricted as above).  It is at most
 * the mean-square rate, and equal to it when the step is deterministic
 * (one sample, GD, or the full batch drawn without replacement: then *rate
 * is linstab_trajectory_predicted_rate's and
 * *stderr_rate 0).  OUT *rate and *stderr_rate (its Monte Carlo standard
 * error, by the delta method).  Returns 1, or 0 when it does not apply
 * (normalized SAM; any failure).
 */
LINSTAB_API int linstab_trajectory_predicted_lyapunov(const linstab_objective *o, const double *w,
                                                      linstab_optimizer opt, double eta, double rho,
                                                      size_t batch, linstab_sampling sampling,
                                                      uint64_t seed, double *rate, double *stderr_rate);

/*
 * Both rates at once, the linearization built once (what `linstab
 * dynamics` reports): OUT *ms_rate as linstab_trajectory_predicted_rate,
 * *as_rate and *as_stderr as linstab_trajectory_predicted_lyapunov.
 * Returns a bit mask: 1 when *ms_rate is set, 2 when *as_rate and
 * *as_stderr are; 0 when neither applies.
 */
LINSTAB_API int linstab_trajectory_predicted_escape(const linstab_objective *o, const double *w,
                                                    linstab_optimizer opt, double eta, double rho,
                                                    size_t batch, linstab_sampling sampling,
                                                    uint64_t seed, double *ms_rate, double *as_rate,
                                                    double *as_stderr);

/*
 * The linearization of o at w: the dense family of its n per-sample
 * Hessians H_i(w) (from Hessian-vector products, symmetrized), OUT *out
 * (free with linstab_family_free).  Errors: LINSTAB_EINVAL (a non-finite
 * w; n d^2 doubles beyond 2 GiB), LINSTAB_EDATA (a non-finite Hessian),
 * LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_trajectory_linearization(const linstab_objective *o,
                                                            const double *w, linstab_family **out,
                                                            linstab_error *err);

/*
 * Bartlett et al. (2023) Theorem 21's drift of normalized SAM along a
 * valley, on a run that oscillates across it.  With c_t = (w_t + w_{t+1})/2
 * the centre of the oscillation, e1 the top eigenvector (eigenvalue l1) of
 * the Hessian at the final centre c and u the unit vector of
 * (I - e1 e1') grad lambda_max(Hessian) at c (central differences):
 *   *measured  = ((c_{T-1} - c_{T-1-window}) . u) / window, the drift per step;
 *   *predicted = -(eta rho^2 / 2) (1 + eta l1 / (2 - eta l1))^2 grad lambda_max . u.
 * On a quadratic (a constant Hessian, grad lambda_max = 0) *predicted = 0
 * and *measured is the norm of the centre's motion per step across e1,
 * ||(I - e1 e1')(c_{T-1} - c_{T-1-window})|| / window.
 * The theorem holds for a zero-gradient centre and to first order in rho.
 * Returns 1, or 0 when it does not apply: no recorded iterates, fewer than
 * window + 2 steps, l1 <= 0, eta l1 >= 2, no gradient of lambda_max across
 * e1, a centre whose own gradient descent step along u is a tenth of the
 * predicted drift or more (the valley floor is not flat there, as on
 * Bartlett et al.'s w1^2/(1 + w2^2/2) + w2^2/2), or an eigensolver
 * failure.
 */
LINSTAB_API int linstab_trajectory_drift(const linstab_trajectory *t, const linstab_objective *o,
                                         double eta, double rho, size_t window, double *measured,
                                         double *predicted);

#ifdef __cplusplus
}
#endif
#endif
