/*
 * trajectory.c -- optimizers run on an objective, and what the theory
 * predicts about the run (trajectory.h, docs/math.md §6).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "internal.h"
#include "linstab/rng.h"
#include "linstab/eigen.h"
#include "linstab/operator.h"
#include "linstab/sym.h"
#include "linstab/trajectory.h"
#include "trajectory_internal.h"
#include "objective_forms.h"

linstab_trajectory_opts linstab_trajectory_defaults(void)
{
    linstab_trajectory_opts o;
    memset(&o, 0, sizeof o);
    o.opt = LINSTAB_OPT_SGD;
    o.eta = 0.1;
    o.batch = 1;
    o.sampling = LINSTAB_SAMPLING_DEFAULT;
    o.steps = 1;
    return o;
}

void linstab_trajectory_clear(linstab_trajectory *t)
{
    if (t == NULL) return;
    free(t->loss);
    free(t->grad_norm);
    free(t->iterates);
    free(t->final);
    free(t->at_switch);
    free(t->sharpness);
    memset(t, 0, sizeof *t);
}

static double norm2(size_t d, const double *x)
{
    double s = 0.0;
    for (size_t j = 0; j < d; j++) s += x[j] * x[j];
    return sqrt(s);
}

static linstab_status check_opts(const linstab_objective *o, const double *w0,
                                 const linstab_trajectory_opts *p, linstab_error *err)
{
    size_t n = linstab_objective_samples(o), d = linstab_objective_dim(o);
    if (!(p->eta > 0.0) || !isfinite(p->eta))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "eta",
                                       "the learning rate must be positive and finite, got %g", p->eta);
    if (!(p->rho >= 0.0) || !isfinite(p->rho))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "rho",
                                       "the SAM radius must be >= 0 and finite, got %g", p->rho);
    if (!(p->noise >= 0.0) || !isfinite(p->noise))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "noise",
                                       "the noise level must be >= 0 and finite, got %g", p->noise);
    if (p->steps == 0)
        return linstab_error_set_param(err, LINSTAB_EINVAL, "steps", "the number of steps must be >= 1");
    if (p->switch_step > p->steps)
        return linstab_error_set_param(err, LINSTAB_EINVAL, "switch",
                                       "the switch at step %zu is past the end of the run (%zu steps)",
                                       p->switch_step, p->steps);
    int batched = p->opt != LINSTAB_OPT_GD || (p->switch_step > 0 && p->switch_opt != LINSTAB_OPT_GD);
    if (batched && n > 1 && (p->batch < 1 || p->batch > n))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "batch",
                                       "the batch size B = %zu must be in [1, n] = [1, %zu]", p->batch, n);
    for (size_t j = 0; j < d; j++)
        if (!isfinite(w0[j]))
            return linstab_error_set_param(err, LINSTAB_EINVAL, "start",
                                           "coordinate %zu of the start is %g: it must be finite", j + 1,
                                           w0[j]);
    return LINSTAB_OK;
}

typedef struct stepper {
    const linstab_objective *o;
    size_t d, n;
    size_t *idx, *idx2, *work;
    double *g, *x, *xi;
    gsl_rng *rng;
} stepper;

/* Draw a batch into idx; returns the pointer to pass to the objective
 * (NULL: the full mean) and its size in *count. */
static const size_t *draw(stepper *s, const linstab_trajectory_opts *p, size_t *idx, size_t *count)
{
    if (s->n <= 1) {
        *count = 0;
        return NULL;
    }
    *count = linstab_sampling_draw(s->rng, p->sampling, s->n, p->batch, idx, s->work);
    return idx;
}

/*
 * One step of opt from w (overwritten).  On entry s->g holds the full-mean
 * gradient at w (the log's) and gn its norm: the first evaluation of the
 * step reuses them where it is that same call (gradient descent, and any
 * optimizer on a one-sample objective, whose batch is the full mean).
 */
static void step(stepper *s, const linstab_trajectory_opts *p, linstab_optimizer opt, double *w, double gn)
{
    size_t d = s->d, c = 0, c2 = 0;
    double eta = p->eta, rho = p->rho;
    const size_t *S = NULL, *S2 = NULL;
    if (opt != LINSTAB_OPT_GD) S = draw(s, p, s->idx, &c);
    switch (opt) {
    case LINSTAB_OPT_GD:
    case LINSTAB_OPT_SGD:
        if (S != NULL) linstab_objective_eval(s->o, w, S, c, NULL, s->g);
        break;
    case LINSTAB_OPT_SAM_SAME:
    case LINSTAB_OPT_SAM_INDEP:
    case LINSTAB_OPT_SAM_NORMALIZED: {
        const size_t *A = S; /* the ascent batch */
        size_t ca = c;
        if (opt == LINSTAB_OPT_SAM_INDEP) {
            S2 = draw(s, p, s->idx2, &c2);
            A = S2;
            ca = c2;
        }
        if (A != NULL) {
            linstab_objective_eval(s->o, w, A, ca, NULL, s->g);
            gn = norm2(d, s->g);
        }
        double sc = rho;
        if (opt == LINSTAB_OPT_SAM_NORMALIZED) sc = gn > 0.0 ? rho / gn : 0.0;
        for (size_t j = 0; j < d; j++) s->x[j] = w[j] + sc * s->g[j];
        linstab_objective_eval(s->o, s->x, S, c, NULL, s->g);
        break;
    }
    }
    for (size_t j = 0; j < d; j++) w[j] -= eta * s->g[j];
    if (p->noise > 0.0)
        for (size_t j = 0; j < d; j++) w[j] -= eta * gsl_ran_gaussian_ziggurat(s->rng, p->noise);
}

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* The closed form of kind (LINSTAB_OBJECTIVE_BARTLETT or _TANH2) at w. */
static ALWAYS_INLINE void closed_eval(linstab_objective_kind kind, const double *w, double *loss,
                                      double *grad)
{
    if (kind == LINSTAB_OBJECTIVE_BARTLETT) bartlett_eval(w, loss, grad);
    else tanh2_eval(w, loss, grad);
}

/*
 * linstab_trajectory_run's loop and step() for a one-sample closed form of
 * two coordinates (kind a constant, so that each kind gets its own loop
 * with the formulas inlined and the iterate in registers): the same
 * floating-point operations in the same order as the generic loop, so the
 * same log bit for bit (tests/test_trajectory.c compares the two).  10^6
 * steps of normalized SAM on Bartlett et al.'s objective take 33 ms instead
 * of 47 ms, as long as a hand-written C loop of the same operations: the
 * step is a chain of dependent divisions and a square root (about 110
 * cycles), and that latency, not the call overhead, is the floor.
 * No batch is drawn (one sample): the random stream serves the noise only.
 * Returns the steps taken; sets out->diverged.
 */
static ALWAYS_INLINE size_t run_closed(linstab_objective_kind kind, const linstab_trajectory_opts *p,
                                       gsl_rng *rng, double lim, linstab_trajectory *out)
{
    double *loss = out->loss, *gnorm = out->grad_norm, *it = out->iterates;
    double w0 = out->final[0], w1 = out->final[1], eta = p->eta, rho = p->rho, noise = p->noise;
    size_t T = p->steps, sw = p->switch_step, t = 0;
    for (;; t++) {
        double x[2] = {w0, w1}, g[2], l, ss = 0.0;
        closed_eval(kind, x, &l, g);
        ss += g[0] * g[0]; /* as norm2 */
        ss += g[1] * g[1];
        double n2 = sqrt(ss);
        loss[t] = l;
        gnorm[t] = n2;
        it[2 * t] = w0;
        it[2 * t + 1] = w1;
        if (!(fabs(l) <= lim)) { /* also NaN */
            out->diverged = 1;
            break;
        }
        if (t == T) break;
        linstab_optimizer opt = sw > 0 && t >= sw ? p->switch_opt : p->opt;
        if (opt != LINSTAB_OPT_GD && opt != LINSTAB_OPT_SGD) { /* SAM: the ascent first */
            double sc = rho;
            if (opt == LINSTAB_OPT_SAM_NORMALIZED) sc = n2 > 0.0 ? rho / n2 : 0.0;
            x[0] = w0 + sc * g[0];
            x[1] = w1 + sc * g[1];
            closed_eval(kind, x, NULL, g);
        }
        w0 -= eta * g[0];
        w1 -= eta * g[1];
        if (noise > 0.0) {
            w0 -= eta * gsl_ran_gaussian_ziggurat(rng, noise);
            w1 -= eta * gsl_ran_gaussian_ziggurat(rng, noise);
        }
    }
    out->final[0] = w0;
    out->final[1] = w1;
    return t;
}

static double sharpness_at(const linstab_objective *o, const double *w);

linstab_status linstab_trajectory_run(const linstab_objective *o, const double *w0,
                                      const linstab_trajectory_opts *p, linstab_trajectory *out,
                                      linstab_error *err)
{
    memset(out, 0, sizeof *out);
    linstab_status st = check_opts(o, w0, p, err);
    if (st != LINSTAB_OK) return st;
    size_t d = linstab_objective_dim(o), n = linstab_objective_samples(o), T = p->steps;
    int ovf = 0;
    size_t rows = T + 1;
    size_t ilen = d <= LINSTAB_TRAJECTORY_LOG_DIM ? mul_sz(rows, d, &ovf) : 0;
    mul_sz(rows, sizeof(double), &ovf);
    mul_sz(ilen, sizeof(double), &ovf);
    if (ovf) return linstab_error_set_param(err, LINSTAB_EINVAL, "steps", "%zu steps are too many", T);
    stepper s = {o, d, n, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    out->d = d;
    out->loss = malloc(rows * sizeof *out->loss);
    out->grad_norm = malloc(rows * sizeof *out->grad_norm);
    out->final = malloc(d * sizeof *out->final);
    if (ilen) out->iterates = malloc(ilen * sizeof *out->iterates);
    if (p->switch_step > 0) out->at_switch = malloc(d * sizeof *out->at_switch);
    if (p->sharpness_every > 0) out->sharpness = malloc(rows * sizeof *out->sharpness);
    if (out->sharpness != NULL)
        for (size_t k = 0; k < rows; k++) out->sharpness[k] = NAN;
    s.idx = malloc((n + 1) * sizeof *s.idx);
    s.idx2 = malloc((n + 1) * sizeof *s.idx2);
    s.work = calloc(n + 1, sizeof *s.work);
    s.g = malloc(d * sizeof *s.g);
    s.x = malloc(d * sizeof *s.x);
    s.rng = linstab_rng_stream_mc(p->seed, 0);
    if (!out->loss || !out->grad_norm || !out->final || (ilen && !out->iterates) ||
        (p->switch_step > 0 && !out->at_switch) || (p->sharpness_every > 0 && !out->sharpness) || !s.idx || !s.idx2 ||
        !s.work || !s.g || !s.x || !s.rng) {
        st = oom(err, "trajectory");
        goto done;
    }
    /* the steps run one after another, mostly on products too small for
     * threads (a batch's forward pass): BLAS runs single-threaded here */
    int blas = blas_threads_single();
    double lim = p->diverge_loss > 0.0 ? p->diverge_loss : 1e100;
    double *w = out->final;
    memcpy(w, w0, d * sizeof *w);
    linstab_objective_kind kind = linstab_objective_kind_of(o);
    size_t t = 0;
    /* the closed-form loops log every step; the sharpness is filled in
     * afterwards from the recorded iterates */
    int closed = n == 1 && d == 2 && out->iterates != NULL && p->log_every <= 1 &&
                 (kind == LINSTAB_OBJECTIVE_BARTLETT || kind == LINSTAB_OBJECTIVE_TANH2);
    if (closed && kind == LINSTAB_OBJECTIVE_BARTLETT) {
        t = run_closed(LINSTAB_OBJECTIVE_BARTLETT, p, s.rng, lim, out);
    } else if (closed) {
        t = run_closed(LINSTAB_OBJECTIVE_TANH2, p, s.rng, lim, out);
    } else {
        size_t K = p->log_every > 1 ? p->log_every : 1;
        for (;; t++) {
            if (out->iterates) memcpy(out->iterates + t * d, w, d * sizeof *w);
            if (t == p->switch_step && out->at_switch != NULL) memcpy(out->at_switch, w, d * sizeof *w);
            int finite = 1;
            for (size_t j = 0; j < d; j++) finite &= isfinite(w[j]);
            double gn = NAN;
            int sharp = out->sharpness != NULL && (t % p->sharpness_every == 0 || t == T);
            if (t % K == 0 || t == T || t == p->switch_step || sharp || !finite) {
                double l;
                linstab_objective_eval(o, w, NULL, 0, &l, s.g);
                gn = norm2(d, s.g);
                out->loss[t] = l;
                out->grad_norm[t] = gn;
                if (!(fabs(l) <= lim)) { /* also NaN */
                    out->diverged = 1;
                    break;
                }
            } else {
                out->loss[t] = NAN;
                out->grad_norm[t] = NAN;
            }
            if (sharp) out->sharpness[t] = sharpness_at(o, w);
            if (t == T) break;
            linstab_optimizer opt = p->switch_step > 0 && t >= p->switch_step ? p->switch_opt : p->opt;
            if (isnan(gn) && (opt == LINSTAB_OPT_GD || n <= 1)) {
                /* the step reuses the full-mean gradient: not logged here */
                linstab_objective_eval(o, w, NULL, 0, NULL, s.g);
                gn = norm2(d, s.g);
            }
            step(&s, p, opt, w, gn);
        }
    }
    if (out->at_switch != NULL && out->iterates != NULL && p->switch_step <= t)
        memcpy(out->at_switch, out->iterates + p->switch_step * d, d * sizeof *w);
    if (out->at_switch != NULL && p->switch_step > t) { /* diverged before the switch */
        free(out->at_switch);
        out->at_switch = NULL;
    }
    if (out->sharpness != NULL && out->iterates != NULL && closed)
        for (size_t k = 0; k <= t; k++)
            out->sharpness[k] = k % p->sharpness_every == 0 || k == t ? sharpness_at(o, out->iterates + k * d) : NAN;
    out->steps = t;
    blas_threads_restore(blas);
done:
    free(s.idx);
    free(s.idx2);
    free(s.work);
    free(s.g);
    free(s.x);
    gsl_rng_free(s.rng);
    return st;
}

int linstab_trajectory_cycle(const linstab_trajectory *t, size_t window, double tol, size_t *period,
                             double *amplitude)
{
    if (t->iterates == NULL || t->d > LINSTAB_TRAJECTORY_LOG_DIM) return 0;
    size_t d = t->d, T = t->steps;
    for (size_t p = 1; p <= 8; p++) {
        if (window < 2 * p || window > T) continue;
        int ok = 1;
        for (size_t k = T - window + p; ok && k <= T; k++) {
            const double *a = t->iterates + k * d, *b = t->iterates + (k - p) * d;
            double diff = 0.0;
            for (size_t j = 0; j < d; j++) diff += (a[j] - b[j]) * (a[j] - b[j]);
            ok = sqrt(diff) <= tol * fmax(1.0, norm2(d, a));
        }
        if (!ok) continue;
        /* the cycle's radius about its centroid: the norm of its points
         * when it is centred at 0, the half-width of a 2-cycle about a
         * point of a valley otherwise */
        double amp = 0.0, mid[LINSTAB_TRAJECTORY_LOG_DIM] = {0};
        for (size_t k = T - p + 1; k <= T; k++)
            for (size_t j = 0; j < d; j++) mid[j] += t->iterates[k * d + j] / (double)p;
        for (size_t k = T - p + 1; k <= T; k++) {
            double r = 0.0;
            for (size_t j = 0; j < d; j++) r += pow(t->iterates[k * d + j] - mid[j], 2);
            amp += sqrt(r);
        }
        *period = p;
        *amplitude = amp / (double)p;
        return 1;
    }
    return 0;
}

/* The Hessian of o's full mean at w (d x d, by d products); NULL when it
 * does not fit (more than 2 GiB) or memory runs out. */
static double *hessian_at(const linstab_objective *o, const double *w)
{
    size_t d = linstab_objective_dim(o);
    if (d == 0 || d > ((size_t)1 << 31) / sizeof(double) / d) return NULL;
    double *H = malloc(d * d * sizeof *H);
    linstab_error err;
    if (H != NULL && linstab_objective_hessian(o, w, NULL, 0, H, &err) != LINSTAB_OK) {
        free(H);
        H = NULL;
    }
    return H;
}

/* The eigenvalues (increasing) of the Hessian of o at w into a new array,
 * and, when V is not NULL, its eigenvectors (columns of the row-major
 * d x d V); NULL on failure. */
static double *hessian_eigs(const linstab_objective *o, const double *w, double *V)
{
    size_t d = linstab_objective_dim(o);
    double *H = hessian_at(o, w), *ev = malloc(d * sizeof *ev);
    linstab_error err;
    int ok = H != NULL && ev != NULL && linstab_sym_eig(d, H, ev, V, &err) == LINSTAB_OK;
    free(H);
    if (!ok) {
        free(ev);
        return NULL;
    }
    return ev;
}

typedef struct hvp_op_ctx {
    const linstab_objective *o;
    const double *w;
} hvp_op_ctx;

static linstab_status objective_hvp_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    hvp_op_ctx *c = vctx;
    size_t d = linstab_objective_dim(c->o);
    linstab_objective_hvp(c->o, c->w, NULL, 0, x, y);
    for (size_t j = 0; j < d; j++)
        if (!isfinite(y[j])) return linstab_error_set(err, LINSTAB_EDATA, "a Hessian-vector product is not finite");
    return LINSTAB_OK;
}

/* lambda_max of the full-mean Hessian at w: dense up to d = 64, else
 * Lanczos on Hessian-vector products; NaN on failure */
static double sharpness_at(const linstab_objective *o, const double *w)
{
    size_t d = linstab_objective_dim(o);
    if (d <= 64) {
        double *ev = hessian_eigs(o, w, NULL), top = NAN;
        if (ev != NULL) top = ev[d - 1];
        free(ev);
        return top;
    }
    hvp_op_ctx c = {o, w};
    linstab_operator op = {d, objective_hvp_apply, objective_hvp_apply, NULL, 1, &c};
    linstab_eigen_opts eo = linstab_eigen_defaults();
    eo.path = LINSTAB_EIGEN_ARPACK;
    eo.tol = 1e-10;
    eo.ncv = 20;
    double top = NAN;
    linstab_error err;
    if (linstab_eigen_top(&op, &eo, &top, NULL, &err) != LINSTAB_OK) return NAN;
    return top;
}

int linstab_trajectory_predicted_amplitude(const linstab_objective *o, double eta, double rho,
                                           double *amplitude)
{
    if (linstab_objective_kind_of(o) != LINSTAB_OBJECTIVE_QUADRATIC) return 0;
    size_t d = linstab_objective_dim(o);
    double *w = calloc(d, sizeof *w);
    double *ev = w != NULL ? hessian_eigs(o, w, NULL) : NULL;
    free(w);
    if (ev == NULL) return 0;
    double l1 = ev[d - 1], l2 = d > 1 ? ev[d - 2] : -INFINITY, lmin = ev[0];
    free(ev);
    /* a simple top eigenvalue: the cycle lies along its eigenvector */
    if (!(l1 > 0.0) || !(lmin >= 0.0) || !(l1 - l2 > 64.0 * DBL_EPSILON * l1) || !(eta * l1 < 2.0))
        return 0;
    *amplitude = eta * rho * l1 / (2.0 - eta * l1);
    return 1;
}

int linstab_trajectory_prop8(const linstab_trajectory *t, const linstab_objective *o, double eta,
                             double rho, double *deviation)
{
    if (t->iterates == NULL || linstab_objective_kind_of(o) != LINSTAB_OBJECTIVE_QUADRATIC || !(rho > 0.0))
        return 0;
    size_t d = t->d;
    double *u = malloc(d * sizeof *u), *u1 = malloc(d * sizeof *u1), *Lu = malloc(d * sizeof *Lu),
           *LLu = malloc(d * sizeof *LLu);
    int ok = u && u1 && Lu && LLu;
    double worst = 0.0;
    for (size_t k = 0; ok && k < t->steps; k++) {
        double s0 = k % 2 ? -1.0 : 1.0;
        for (size_t j = 0; j < d; j++) {
            u[j] = s0 * t->iterates[k * d + j];
            u1[j] = -s0 * t->iterates[(k + 1) * d + j];
        }
        linstab_objective_hvp(o, u, NULL, 0, u, Lu);
        double nl = norm2(d, Lu);
        if (!(nl > 0.0)) continue;
        linstab_objective_hvp(o, u, NULL, 0, Lu, LLu);
        /* u - eta rho grad J(u) = u - (2 u - eta L u) + eta rho L^2 u / ||L u|| */
        double dev = 0.0;
        for (size_t j = 0; j < d; j++) {
            double gd = u[j] - (2.0 * u[j] - eta * Lu[j]) + eta * rho * LLu[j] / nl;
            dev += (u1[j] - gd) * (u1[j] - gd);
        }
        worst = fmax(worst, sqrt(dev) / fmax(1.0, norm2(d, u)));
    }
    free(u);
    free(u1);
    free(Lu);
    free(LLu);
    if (!ok) return 0;
    *deviation = worst;
    return 1;
}

int linstab_trajectory_escape_rate(const linstab_trajectory *t, size_t S, double *rate, size_t *first,
                                   size_t *last)
{
    if (S >= t->steps || !(t->loss[S] > 0.0)) return 0;
    double lmax = 0.0;
    for (size_t k = 0; k <= t->steps; k++)
        if (isfinite(t->loss[k])) lmax = fmax(lmax, t->loss[k]);
    /* steps whose loss was not evaluated (log_every > 1) are NaN: skipped */
    size_t e = S, points = 1;
    for (size_t k = S + 1; k <= t->steps && k - S <= 50; k++) {
        if (isnan(t->loss[k])) continue;
        if (!(t->loss[k] > 0.0 && t->loss[k] <= 1e4 * t->loss[S] && t->loss[k] <= 1e-2 * lmax)) break;
        e = k;
        points++;
    }
    if (points < 3) return 0;
    /* least squares of log loss against the step */
    double m = (double)points, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0;
    for (size_t k = S; k <= e; k++) {
        if (isnan(t->loss[k])) continue;
        double x = (double)(k - S), y = log(t->loss[k]);
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    double slope = (m * sxy - sx * sy) / (m * sxx - sx * sx);
    *rate = exp(slope);
    *first = S;
    *last = e;
    return 1;
}

int linstab_trajectory_predicted_rate(const linstab_objective *o, const double *w, linstab_optimizer opt,
                                      double eta, double rho, size_t batch, linstab_sampling sampling,
                                      double *rate)
{
    if (opt == LINSTAB_OPT_SAM_NORMALIZED) return 0;
    if (linstab_objective_samples(o) != 1)
        return trajectory_family_rate(o, w, opt, eta, rho, batch, sampling, rate);
    size_t d = linstab_objective_dim(o);
    double *ev = hessian_eigs(o, w, NULL);
    if (ev == NULL) return 0;
    double r = 0.0, q = linstab_optimizer_is_sam(opt) ? rho : 0.0, hmax = 0.0;
    for (size_t j = 0; j < d; j++) hmax = fmax(hmax, fabs(ev[j]));
    /* the range of the Hessian only: a flat direction (a valley of minima)
     * is not moved by the linearized step and does not change the loss */
    int any = 0;
    for (size_t j = 0; j < d; j++) {
        if (!(fabs(ev[j]) > 64.0 * DBL_EPSILON * hmax)) continue;
        double g = 1.0 - eta * ev[j] - eta * q * ev[j] * ev[j];
        r = fmax(r, g * g);
        any = 1;
    }
    if (!any) {
        free(ev);
        return 0;
    }
    free(ev);
    *rate = r;
    return 1;
}

/* lambda_max of the Hessian at w and, when e1 is not NULL, its eigenvector
 * (d); 0 on failure */
static int top_eig(const linstab_objective *o, const double *w, double *l1, double *e1)
{
    size_t d = linstab_objective_dim(o);
    double *V = e1 != NULL ? malloc(d * d * sizeof *V) : NULL;
    double *ev = e1 == NULL || V != NULL ? hessian_eigs(o, w, V) : NULL;
    if (ev != NULL) {
        *l1 = ev[d - 1];
        if (e1 != NULL)
            for (size_t i = 0; i < d; i++) e1[i] = V[i * d + d - 1];
    }
    int ok = ev != NULL;
    free(V);
    free(ev);
    return ok;
}

int linstab_trajectory_drift(const linstab_trajectory *t, const linstab_objective *o, double eta, double rho,
                             size_t window, double *measured, double *predicted)
{
    if (t->iterates == NULL || window == 0 || t->steps < window + 2) return 0;
    size_t d = t->d, T = t->steps - 1;
    double *c = malloc(d * sizeof *c), *c0 = malloc(d * sizeof *c0), *e1 = malloc(d * sizeof *e1),
           *gl = malloc(d * sizeof *gl), *x = malloc(d * sizeof *x);
    int ok = c && c0 && e1 && gl && x;
    double l1 = NAN;
    for (size_t j = 0; ok && j < d; j++) {
        c[j] = 0.5 * (t->iterates[T * d + j] + t->iterates[(T + 1) * d + j]);
        c0[j] = 0.5 * (t->iterates[(T - window) * d + j] + t->iterates[(T - window + 1) * d + j]);
    }
    ok = ok && top_eig(o, c, &l1, e1) && l1 > 0.0 && eta * l1 < 2.0;
    if (ok && linstab_objective_kind_of(o) == LINSTAB_OBJECTIVE_QUADRATIC) {
        /* a constant Hessian: grad lambda_max = 0, the theorem predicts no
         * drift; measured: the centre's motion per step across e1 */
        double ce = 0.0, m2 = 0.0;
        for (size_t k = 0; k < d; k++) ce += (c[k] - c0[k]) * e1[k];
        for (size_t k = 0; k < d; k++) m2 += pow(c[k] - c0[k] - ce * e1[k], 2);
        *measured = sqrt(m2) / (double)window;
        *predicted = 0.0;
        free(c);
        free(c0);
        free(e1);
        free(gl);
        free(x);
        return 1;
    }
    /* grad lambda_max by central differences, step h = 1e-4 max(1, |c|) */
    double h = 1e-4 * fmax(1.0, norm2(d, ok ? c : e1));
    for (size_t k = 0; ok && k < d; k++) {
        double lp, lm;
        memcpy(x, c, d * sizeof *x);
        x[k] += h;
        ok = top_eig(o, x, &lp, NULL);
        x[k] = c[k] - h;
        ok = ok && top_eig(o, x, &lm, NULL);
        gl[k] = (lp - lm) / (2.0 * h);
    }
    double u_norm = 0.0, ge = 0.0;
    for (size_t k = 0; ok && k < d; k++) ge += gl[k] * e1[k];
    for (size_t k = 0; ok && k < d; k++) {
        x[k] = gl[k] - ge * e1[k]; /* u, unnormalised */
        u_norm += x[k] * x[k];
    }
    u_norm = sqrt(u_norm);
    ok = ok && u_norm > 1e-12 * fmax(1.0, norm2(d, gl));
    if (ok) {
        double gu = 0.0, mu = 0.0, lu = 0.0;
        linstab_objective_eval(o, c, NULL, 0, NULL, e1); /* e1 (no longer needed) <- grad l(c) */
        for (size_t k = 0; k < d; k++) {
            gu += gl[k] * x[k] / u_norm;
            mu += (c[k] - c0[k]) * x[k] / u_norm;
            lu += e1[k] * x[k] / u_norm;
        }
        double a = 1.0 + eta * l1 / (2.0 - eta * l1);
        *measured = mu / (double)window;
        *predicted = -0.5 * eta * rho * rho * a * a * gu;
        /* the theorem's centre has zero gradient: where gradient descent's
         * own motion along the valley is a tenth of the drift or more, the
         * measurement is not the theorem's term */
        ok = fabs(eta * lu) <= 0.1 * fabs(*predicted);
    }
    free(c);
    free(c0);
    free(e1);
    free(gl);
    free(x);
    return ok;
}
