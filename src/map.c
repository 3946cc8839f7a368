/*
 * map.c -- divergence phase diagrams: axes, Dexter et al.'s Section 5.1 Monte
 * Carlo protocol per cell, and the exact columns (mean-square radius,
 * Lyapunov exponent, Theorem 1/2 margins).
 */
#include <errno.h>
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
#include "linstab/secmom.h"
#include "internal.h"

static const char *const axis_names[] = {"eta", "batch", "rho", "sigma"};

const char *linstab_axis_name(linstab_axis_kind k)
{
    return (unsigned)k < 4 ? axis_names[k] : "?";
}

void linstab_axis_clear(linstab_axis *ax)
{
    free(ax->values);
    memset(ax, 0, sizeof *ax);
}

/* A strict decimal number: [+-] digits [. digits] [(e|E) [+-] digits], at
 * least one digit before the exponent, no white space, hexadecimal, inf or
 * nan; finite (a subnormal value is finite).  1 with *v set, else 0. */
static int parse_num(const char *s, double *v)
{
    const char *p = s;
    int digits = 0;
    if (*p == '+' || *p == '-') p++;
    for (; *p >= '0' && *p <= '9'; p++) digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) digits++;
    if (digits == 0) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p != '\0') return 0;
    char *end;
    *v = strtod(s, &end); /* ERANGE on underflow is no error: only overflow (inf) is */
    return end != s && *end == '\0' && isfinite(*v);
}

/* The largest value of an integer axis (batch, sigma): 2^53, the integers
 * above it are not all doubles (the map refuses values above n anyway). */
#define AXIS_INT_MAX 9007199254740992.0

/* ax->values for count points, count checked against the bound first. */
static linstab_status axis_alloc(linstab_axis *ax, double count, const char *spec, linstab_error *err)
{
    if (!(count >= 1))
        return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': empty", spec);
    if (count > (double)LINSTAB_AXIS_MAX_POINTS)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "axis '%.200s': %.*g points, more than the %d allowed per axis", spec,
                                 count < 1e19 ? 19 : 3, count, LINSTAB_AXIS_MAX_POINTS);
    ax->count = (size_t)count; /* <= 10^6: no overflow below */
    ax->values = malloc(ax->count * sizeof(double));
    if (ax->values == NULL)
        return linstab_error_set(err, LINSTAB_ENOMEM, "axis '%.200s': out of memory for %zu points (%zu bytes)",
                                 spec, ax->count, ax->count * sizeof(double));
    return LINSTAB_OK;
}

/* A list "a,b,c" (body, modified) of the axis. */
static linstab_status axis_list(char *body, const char *spec, linstab_axis *ax, linstab_error *err)
{
    double items = 1;
    for (const char *q = body; *q; q++) items += *q == ',';
    linstab_status st = axis_alloc(ax, items, spec, err);
    char *t = body;
    for (size_t i = 0; st == LINSTAB_OK && i < ax->count; i++) {
        char *comma = strchr(t, ',');
        if (comma) *comma = '\0';
        if (*t == '\0')
            return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': empty item %zu in the list", spec, i + 1);
        if (!parse_num(t, &ax->values[i]))
            return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': '%.60s' is not a decimal number", spec, t);
        t = comma ? comma + 1 : t + strlen(t);
    }
    return st;
}

/* A range "lo:hi:count", "log:lo:hi:count" or (integer axes) "lo:hi[:step]". */
static linstab_status axis_range(char *body, const char *spec, int integer, linstab_axis *ax, linstab_error *err)
{
    char *parts[5];
    int np = 0;
    for (char *t = body;; np++) {
        char *colon = strchr(t, ':');
        if (np == 5) return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': too many ':'", spec);
        if (colon) *colon = '\0';
        parts[np] = t;
        if (colon == NULL) {
            np++;
            break;
        }
        t = colon + 1;
    }
    int lg = strcmp(parts[0], "log") == 0, off = lg ? 1 : 0;
    double lo, hi, c3 = 0;
    if (np - off < 2 || np - off > 3 || !parse_num(parts[off], &lo) || !parse_num(parts[off + 1], &hi) ||
        (np - off == 3 && !parse_num(parts[off + 2], &c3)))
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "axis '%.200s': expected a list a,b,c, lo:hi:count, log:lo:hi:count "
                                 "or (batch, sigma) lo:hi[:step], with decimal numbers",
                                 spec);
    if (hi < lo) return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': inverted range (%g > %g)", spec, lo, hi);
    if (lg && !(lo > 0.0)) return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': a log range needs lo > 0", spec);
    if (integer && !lg) {
        double step = np - off == 3 ? c3 : 1.0;
        const double v[3] = {lo, hi, step};
        for (int k = 0; k < 3; k++)
            if (v[k] != floor(v[k]) || v[k] < 1 || v[k] > AXIS_INT_MAX)
                return linstab_error_set(err, LINSTAB_EINVAL,
                                         "axis '%.200s': integer range lo:hi[:step] expected, with whole numbers "
                                         "in [1, 2^53] (got %g)",
                                         spec, v[k]);
        /* exact in 64-bit integers: lo, hi, step <= 2^53 */
        uint64_t a = (uint64_t)lo, b = (uint64_t)hi, s = (uint64_t)step;
        linstab_status st = axis_alloc(ax, (double)((b - a) / s) + 1.0, spec, err);
        for (size_t i = 0; st == LINSTAB_OK && i < ax->count; i++) ax->values[i] = (double)(a + s * i);
        return st;
    }
    if (np - off != 3 || c3 < 1 || c3 != floor(c3) || (c3 == 1 && hi != lo))
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "axis '%.200s': a range needs a whole count in [1, %d] (lo:hi:count)", spec,
                                 LINSTAB_AXIS_MAX_POINTS);
    linstab_status st = axis_alloc(ax, c3, spec, err);
    if (st != LINSTAB_OK) return st;
    ax->log = lg;
    double span = lg ? log(hi) - log(lo) : hi - lo;
    if (!isfinite(span))
        return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': the range %g..%g is too wide for a double",
                                 spec, lo, hi);
    for (size_t i = 0; i < ax->count; i++) {
        double t = ax->count == 1 ? 0.0 : (double)i / (double)(ax->count - 1);
        ax->values[i] = lg ? exp(log(lo) + t * span) : lo + t * span;
    }
    return LINSTAB_OK;
}

linstab_status linstab_axis_parse(const char *spec, linstab_axis *ax, linstab_error *err)
{
    memset(ax, 0, sizeof *ax);
    const char *eq = strchr(spec, '=');
    if (eq == NULL)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "axis '%.200s': expected NAME=SPEC with NAME eta, batch, rho or sigma", spec);
    size_t nl = (size_t)(eq - spec);
    int kind = -1;
    for (int k = 0; k < 4; k++)
        if (strlen(axis_names[k]) == nl && strncmp(spec, axis_names[k], nl) == 0) kind = k;
    if (kind < 0)
        return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': unknown name (eta, batch, rho or sigma)", spec);
    ax->kind = (linstab_axis_kind)kind;
    int integer = kind == LINSTAB_AXIS_BATCH || kind == LINSTAB_AXIS_SIGMA;
    char *body = strdup(eq + 1);
    if (body == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "axis: out of memory");
    linstab_status st;
    if (body[0] == '\0')
        st = linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': empty", spec);
    else if (strchr(body, ',') != NULL || strchr(body, ':') == NULL) /* a list, or a single value */
        st = axis_list(body, spec, ax, err);
    else
        st = axis_range(body, spec, integer, ax, err);
    free(body);
    for (size_t i = 0; st == LINSTAB_OK && i < ax->count; i++) {
        double v = ax->values[i];
        if (integer && (v != floor(v) || v < 1 || v > AXIS_INT_MAX))
            st = linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': %g is not a whole number in [1, 2^53]", spec, v);
        else if (!integer && kind == LINSTAB_AXIS_ETA && !(v > 0 && isfinite(v)))
            st = linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': eta must be > 0 (got %g)", spec, v);
        else if (kind == LINSTAB_AXIS_RHO && !(v >= 0 && isfinite(v)))
            st = linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': rho must be >= 0 (got %g)", spec, v);
    }
    if (st != LINSTAB_OK) linstab_axis_clear(ax);
    return st;
}

linstab_map_params linstab_map_defaults(void)
{
    linstab_map_params p;
    memset(&p, 0, sizeof p);
    p.dyn = LINSTAB_DYN_SGD;
    p.sampling = LINSTAB_SAMPLING_BERNOULLI;
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

int linstab_mc_classify(const double *norms, size_t len, double grow, double shrink)
{
    if (len == 0 || !(norms[0] > 0.0)) return 0;
    double lg = log(grow), ls = log(shrink);
    for (size_t t = 1; t < len; t++) {
        int v = norms[t] > 0.0 ? verdict(log(norms[t] / norms[0]), lg, ls) : -1;
        if (v != 0) return v;
    }
    return 0;
}

void linstab_mc_run(linstab_sim *sim, gsl_rng *rng, size_t d, size_t steps, double grow,
                    double shrink, double *w, int *outcome)
{
    double nrm = 0.0;
    for (size_t j = 0; j < d; j++) {
        w[j] = gsl_ran_gaussian_ziggurat(rng, 1.0);
        nrm += w[j] * w[j];
    }
    nrm = sqrt(nrm);
    for (size_t j = 0; j < d; j++) w[j] /= nrm;
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
                                 const linstab_axis *x, const linstab_axis *y, linstab_error *err)
{
    if (x->kind == y->kind)
        return linstab_error_set(err, LINSTAB_EINVAL, "the axis %s is given twice",
                                 linstab_axis_name(x->kind));
    size_t n = linstab_map_source_n(src);
    const linstab_axis *ax[2] = {x, y};
    int has[4] = {0};
    for (int a = 0; a < 2; a++) {
        has[ax[a]->kind] = 1;
        if (ax[a]->kind == LINSTAB_AXIS_SIGMA && src->rf != NULL)
            return linstab_error_set(err, LINSTAB_EINVAL,
                                     "the sigma axis applies only to the dexter construction (--dexter N)");
        if (ax[a]->kind == LINSTAB_AXIS_RHO && p->dyn == LINSTAB_DYN_SGD)
            return linstab_error_set(err, LINSTAB_EINVAL,
                                     "the rho axis applies only to SAM (--optimizer sam-same, ...)");
        for (size_t i = 0; i < ax[a]->count; i++) {
            double v = ax[a]->values[i];
            if ((ax[a]->kind == LINSTAB_AXIS_BATCH || ax[a]->kind == LINSTAB_AXIS_SIGMA) && v > (double)n)
                return linstab_error_set(err, LINSTAB_EINVAL, "axis %s: %g exceeds n = %zu",
                                         linstab_axis_name(ax[a]->kind), v, n);
        }
    }
    if (!has[LINSTAB_AXIS_ETA] && !(p->eta > 0.0))
        return linstab_error_set(err, LINSTAB_EINVAL, "--eta is required (eta is not an axis)");
    if (!has[LINSTAB_AXIS_BATCH] && (p->batch < 1 || p->batch > n))
        return linstab_error_set(err, LINSTAB_EINVAL, "--batch is required, in [1, n] = [1, %zu]", n);
    if (src->rf == NULL && !has[LINSTAB_AXIS_SIGMA] && (p->sigma < 1 || p->sigma > n))
        return linstab_error_set(err, LINSTAB_EINVAL, "--sigma is required for the dexter construction, in [1, %zu]", n);
    if (p->runs < 1 || p->steps < 1 || !(p->grow > 1.0) || !(p->shrink > 1.0))
        return linstab_error_set(err, LINSTAB_EINVAL, "runs, steps >= 1 and growth/shrink factors > 1 are required");
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

linstab_status linstab_map_cell(const linstab_map_source *src, const linstab_map_params *p,
                                const linstab_axis *x, const linstab_axis *y, size_t ix, size_t iy,
                                linstab_cell *out, linstab_error *err)
{
    double eta = p->eta, rho = p->rho;
    size_t B = p->batch, sigma = p->sigma;
    const linstab_axis *ax[2] = {x, y};
    size_t idx[2] = {ix, iy};
    for (int a = 0; a < 2; a++) {
        double v = ax[a]->values[idx[a]];
        switch (ax[a]->kind) {
        case LINSTAB_AXIS_ETA: eta = v; break;
        case LINSTAB_AXIS_BATCH: B = (size_t)v; break;
        case LINSTAB_AXIS_RHO: rho = v; break;
        case LINSTAB_AXIS_SIGMA: sigma = (size_t)v; break;
        }
    }
    if (p->dyn == LINSTAB_DYN_SGD) rho = 0.0;
    linstab_rotated own = {0};
    const linstab_rotated *rf = src->rf;
    double l1 = src->sharpness, coh = src->sigma;
    linstab_status st = LINSTAB_OK;
    if (rf == NULL) {
        if (src->dexter_rf != NULL && sigma >= 1 && sigma <= src->dexter_n && src->dexter_rf[sigma].f != NULL) {
            rf = &src->dexter_rf[sigma];
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
    double nB = (double)n / (double)B;
    double thr1 = B < n ? coh / eta / sqrt(nB - 1.0) : INFINITY;
    out->thm1_margin = l1 - fmin(2.0 / eta, thr1);
    out->thm2_margin = l1 - 2.0 * coh / (eta * (coh + nB - 1.0));
    out->thm9_margin = NAN;
    if (p->dyn != LINSTAB_DYN_SGD) {
        /* Shin et al. Thm 9 (stated for B = 1, 'same'): stable if lambda_max(P) <= 1 */
        linstab_moments *own_m = NULL;
        const linstab_moments *m = src->rf != NULL ? src->moments : NULL;
        if (m == NULL) {
            st = linstab_moments_compute(f, &own_m, err);
            m = own_m;
        }
        double *P = st == LINSTAB_OK ? malloc(d * d * sizeof *P) : NULL;
        if (P != NULL) {
            double lm;
            linstab_shin_P(m, eta, rho, P);
            if (linstab_sym_lambda_max_lapack(d, P, &lm, err) == LINSTAB_OK) out->thm9_margin = lm - 1.0;
        }
        free(P);
        linstab_moments_free(own_m);
        if (st != LINSTAB_OK) {
            linstab_family_rotated_clear(&own);
            return st;
        }
    }

    /* Monte Carlo, Dexter et al. Section 5.1 */
    linstab_sim *sim = NULL;
    double *w = malloc(d * sizeof *w);
    st = w ? linstab_simulate_alloc(f, p->dyn, eta, rho, B, p->sampling, &sim, err)
           : linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
    size_t ndiv = 0;
    size_t cell = iy * x->count + ix;
    for (size_t k = 0; st == LINSTAB_OK && k < p->runs; k++) {
        gsl_rng *rng = linstab_rng_stream_mc(p->seed, (uint64_t)cell * p->runs + k);
        int outcome;
        linstab_mc_run(sim, rng, d, p->steps, p->grow, p->shrink, w, &outcome);
        ndiv += outcome > 0;
        gsl_rng_free(rng);
    }
    linstab_simulate_free(sim);
    free(w);
    out->frac_div = (double)ndiv / (double)p->runs;
    out->divergent = 2 * ndiv > p->runs;
    out->radius = NAN;
    out->lyapunov = NAN;
    if (st == LINSTAB_OK && p->exact && p->dyn != LINSTAB_DYN_SAM_NORMALIZED) {
        linstab_eigen_opts eo = linstab_eigen_defaults();
        if (p->dyn == LINSTAB_DYN_SGD) {
            double a, b;
            linstab_sampling_coeffs(p->sampling, n, B, &a, &b);
            linstab_secmom *sm = NULL;
            st = linstab_secmom_alloc(f, rf->l, LINSTAB_METHOD_SGD, eta, 0.0, a, b, &sm, err);
            if (st == LINSTAB_OK) st = linstab_secmom_radius(sm, &eo, &out->radius, err);
            linstab_secmom_free(sm);
        } else {
            linstab_sam_variant v = p->dyn == LINSTAB_DYN_SAM_SAME ? LINSTAB_SAM_SAME : LINSTAB_SAM_INDEPENDENT;
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

void linstab_cell_pack(const linstab_cell *c, double v[LINSTAB_MAP_FIELDS])
{
    v[0] = c->frac_div;
    v[1] = c->divergent;
    v[2] = c->radius;
    v[3] = c->lyapunov;
    v[4] = c->thm1_margin;
    v[5] = c->thm2_margin;
    v[6] = c->thm9_margin;
}

int linstab_map_blas_serial(void) { return blas_threads_single(); }

void linstab_map_blas_restore(int previous) { blas_threads_restore(previous); }

linstab_status linstab_map_cells(const linstab_map_source *src, const linstab_map_params *p,
                                 const linstab_axis *x, const linstab_axis *y, size_t c0, size_t c1,
                                 size_t stride, size_t offset, unsigned char *done, double *vals,
                                 size_t *failed, linstab_error *err)
{
    *failed = SIZE_MAX;
    if (stride < 1 || offset >= stride)
        return linstab_error_set(err, LINSTAB_EINVAL, "map cells: stride %zu, offset %zu", stride, offset);
    /* the smallest failing cell so far: cells above it may be skipped, cells
     * below it are still computed, so the one reported is the smallest of
     * the range whatever the schedule */
    size_t first = SIZE_MAX;
    linstab_status first_st = LINSTAB_OK;
    char first_msg[LINSTAB_ERROR_MSG_LEN] = "";
    int blas = blas_threads_single();
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t cell = c0; cell < c1; cell++) {
        size_t lowest;
#pragma omp atomic read
        lowest = first;
        if (done[cell] || cell > lowest || cell % stride != offset) continue;
        linstab_cell res;
        linstab_error e = {0};
        linstab_status st = linstab_map_cell(src, p, x, y, cell % x->count, cell / x->count, &res, &e);
        if (st != LINSTAB_OK) {
#pragma omp critical(linstab_map_fail)
            if (cell < first) {
                first_st = st;
                memcpy(first_msg, e.msg, sizeof first_msg);
#pragma omp atomic write
                first = cell;
            }
            continue;
        }
        linstab_cell_pack(&res, vals + cell * LINSTAB_MAP_FIELDS);
        done[cell] = 1;
    }
    blas_threads_restore(blas);
    if (first == SIZE_MAX) return LINSTAB_OK;
    *failed = first;
    return linstab_error_set(err, first_st, "cell %zu (%s %g, %s %g): %s", first, linstab_axis_name(x->kind),
                             x->values[first % x->count], linstab_axis_name(y->kind),
                             y->values[first / x->count], first_msg);
}

/* Doubles of a dense symmetric eigenproblem of dimension m (the matrix,
 * vectors when asked, LAPACK's workspace), or of ARPACK beyond dense_max. */
static double eig_doubles(double m, double dense_max)
{
    return m <= dense_max ? 3.0 * m * m + 40.0 * m : 60.0 * m;
}

/* The largest workspace of one cell with n samples on d coordinates,
 * nnz nonzeros (diagonal families), batch B, in doubles. */
static double cell_doubles(const linstab_map_params *p, double n, double d, double nnz, double B,
                           int diag, int own_moments)
{
    double cap = n > B ? n : B;
    double w = 2 * cap + n + 3 * d + (n + 1) + d; /* simulator (size_t = 8 bytes too) and the start */
    if (diag) w += (n + 1) + 2 * nnz + (d + 1) + d / 8;
    if (p->dyn != LINSTAB_DYN_SGD) {
        w += 2 * d * d + 26 * d;        /* Theorem 9's P and its eigenvalue */
        if (own_moments) w += 8 * d * d; /* the moments, per cell for the dexter source */
    }
    if (p->exact && p->dyn != LINSTAB_DYN_SAM_NORMALIZED) {
        double r = d, rr = r * r, m = r * (r + 1) / 2, dm = 2000;
        double ex;
        /* the second-moment operator (SGD, SAM 'independent', SAM 'same' at
         * B = 1 or B = n): three r x r iterates, products, the eigenproblem */
        ex = 12 * rr + eig_doubles(m, dm);
        if (p->dyn == LINSTAB_DYN_SAM_SAME && d <= LINSTAB_SAM_SAME_MAX_R) {
            /* 'same' at general B: samples, moments, K, the five terms dense
             * and in svec form, the eigenproblem (beyond the rank limit it is
             * not computed) */
            double same = n * rr + 2 * rr + rr * rr + 5 * (m * m + rr * rr) + eig_doubles(m, dm);
            ex = ex > same ? ex : same;
        }
        w += ex + (double)p->lyap_runs + d;
    }
    return w;
}

linstab_status linstab_map_memory(const linstab_map_source *src, const linstab_map_params *p,
                                  const linstab_axis *x, const linstab_axis *y, size_t threads,
                                  size_t *cells, double *bytes, linstab_error *err)
{
    *cells = 0;
    *bytes = 0.0;
    int ovf = 0;
    size_t nc = mul_sz(x->count, y->count, &ovf);
    if (ovf)
        return linstab_error_set(err, LINSTAB_EINVAL, "a grid of %zu x %zu cells: the count overflows", x->count,
                                 y->count);
    *cells = nc;
    double per = 1.0 + 8.0 * LINSTAB_MAP_FIELDS;
    /* done + values; the checkpoint's bytes and, when read, its parsed copy;
     * one output array and the figures' six at a time */
    double total = (double)nc * (per + 2.0 * per + 8.0 * 7.0) + 8.0 * (double)(x->count + y->count) * 3.0;
    if (threads < 1) threads = 1;
    const linstab_axis *ax[2] = {x, y};
    double worst = 0.0;
    if (src->rf != NULL) {
        const linstab_family *f = src->rf->f;
        double n = (double)f->n, d = (double)f->d, nnz = n * d;
        double B = (double)f->n; /* the largest batch is at most n (linstab_map_check) */
        worst = cell_doubles(p, n, d, nnz, B, f->kind == LINSTAB_FAMILY_DIAGONAL, 0);
    } else {
        double n = (double)src->dexter_n;
        /* sigma = 1 gives the largest d = n */
        double smin = (double)p->sigma, built = 0.0;
        int on_axis = 0;
        for (int a = 0; a < 2; a++)
            if (ax[a]->kind == LINSTAB_AXIS_SIGMA) {
                on_axis = 1;
                smin = INFINITY;
                for (size_t i = 0; i < ax[a]->count; i++) {
                    double sg = ax[a]->values[i];
                    smin = fmin(smin, sg);
                    /* distinct values are kept once each: a bound counts every entry */
                    built += 3.0 * n * (n - sg + 1.0) + 2.0 * (n - sg + 1.0);
                }
            }
        if (!on_axis) built = 3.0 * n * (n - smin + 1.0) + 2.0 * (n - smin + 1.0);
        if (!(smin >= 1.0)) smin = 1.0;
        double d = n - smin + 1.0;
        worst = cell_doubles(p, n, d, n, n, 1, 1);
        total += 8.0 * built + 8.0 * (n + 1.0) * sizeof(linstab_rotated) / 8.0;
    }
    total += 8.0 * worst * (double)threads;
    *bytes = total;
    return LINSTAB_OK;
}
