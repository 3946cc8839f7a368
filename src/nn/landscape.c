/*
 * landscape.c -- the loss of an MLP along directions (landscape.h): the
 * top eigenvector of the mean-loss Hessian by Lanczos on Hessian-vector
 * products, the segment between two checkpoints, directions from NPY
 * files, and the 1-D slices and 2-D surfaces, whose points are spread
 * over OpenMP threads with one model copy each (the model is read-only).
 * Zhou et al. (2025), Figure 4(c) (the slice and its finite difference)
 * and Figure 14 (the surface); Shin et al. (2023), Figure 2(a) (the loss
 * along the dominant eigenvector).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "linstab/eigen.h"
#include "linstab/landscape.h"
#include "linstab/mlp.h"
#include "linstab/operator.h"

#ifdef _OPENMP
#include <omp.h>
#endif

linstab_landscape_opts linstab_landscape_defaults(void)
{
    linstab_landscape_opts o = {0.0, 0, NULL, NULL};
    return o;
}

linstab_status linstab_landscape_grid(double lo, double hi, size_t n, double *t, linstab_error *err)
{
    if (n < 2) return linstab_error_set_param(err, LINSTAB_EINVAL, "points", "%zu points: a grid needs at least 2", n);
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi) || !isfinite(hi - lo))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "range",
                                       "the range %g:%g must be finite and increasing, with hi - lo finite", lo, hi);
    /* (hi - lo) i / (n - 1), not i times a rounded step: a point that is a
     * whole multiple of the spacing from lo comes out exactly */
    for (size_t i = 0; i < n; i++) t[i] = lo + (hi - lo) * (double)i / (double)(n - 1);
    t[n - 1] = hi;
    return LINSTAB_OK;
}

/* ---- the top eigenvector of H ---- */

typedef struct hvp_ctx {
    const linstab_landscape_model *lm;
} hvp_ctx;

static linstab_status hvp_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    const linstab_landscape_model *lm = ((hvp_ctx *)vctx)->lm;
    return linstab_mlp_hvp(lm->m, lm->X->data, lm->Y->data, lm->X->shape[0], lm->loss, lm->smoothing, x, y, err);
}

/* The sign that makes the entry of largest magnitude (the first on a tie)
 * positive: an eigenvector's sign is arbitrary, a slice's should not be. */
static void fix_sign(size_t p, double *d)
{
    size_t jmax = 0;
    for (size_t j = 1; j < p; j++)
        if (fabs(d[j]) > fabs(d[jmax])) jmax = j;
    if (d[jmax] < 0.0)
        for (size_t j = 0; j < p; j++) d[j] = -d[j];
}

linstab_status linstab_landscape_eigvec(const linstab_landscape_model *lm, const linstab_eigen_opts *eo,
                                        double *lambda1, double *d, linstab_error *err)
{
    const linstab_mlp *m = lm->m;
    linstab_status st = linstab_mlp_check_data(m, lm->X, lm->Y, lm->loss, err);
    if (st != LINSTAB_OK) return st;
    hvp_ctx c = {lm};
    linstab_operator op = {m->p, hvp_apply, hvp_apply, NULL, 1, &c};
    linstab_eigen_opts o;
    if (eo != NULL) {
        o = *eo;
    } else {
        o = linstab_eigen_defaults();
        o.path = m->p <= 200 ? LINSTAB_EIGEN_DENSE : LINSTAB_EIGEN_ARPACK;
        o.tol = 1e-10;
        o.ncv = 24;
    }
    double lam = 0.0;
    int bt = blas_threads_single(); /* the same bytes for any thread count */
    st = linstab_eigen_top(&op, &o, &lam, d, err);
    blas_threads_restore(bt);
    if (st != LINSTAB_OK) return st;
    fix_sign(m->p, d);
    if (lambda1 != NULL) *lambda1 = lam;
    return LINSTAB_OK;
}

/* ---- the segment between two checkpoints ---- */

static void sizes_text(const linstab_mlp *m, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t l = 0; l <= m->nlayers && k + 1 < len; l++) {
        int w = snprintf(buf + k, len - k, l == 0 ? "%zu" : "-%zu", m->sizes[l]);
        if (w < 0) break;
        k += (size_t)w;
    }
}

linstab_status linstab_landscape_segment(const linstab_mlp *a, const linstab_mlp *b, double *d, linstab_error *err)
{
    int same_sizes = a->nlayers == b->nlayers;
    for (size_t l = 0; same_sizes && l <= a->nlayers; l++) same_sizes = a->sizes[l] == b->sizes[l];
    if (!same_sizes) {
        char sa[200], sb[200];
        sizes_text(a, sa, sizeof sa);
        sizes_text(b, sb, sizeof sb);
        return linstab_error_set(err, LINSTAB_EDATA, "the layer sizes differ: %s and %s", sa, sb);
    }
    if (a->act != b->act)
        return linstab_error_set(err, LINSTAB_EDATA, "the activations differ: %s and %s", linstab_mlp_act_name(a->act),
                                 linstab_mlp_act_name(b->act));
    if (a->out_act != b->out_act)
        return linstab_error_set(err, LINSTAB_EDATA, "the output activations differ: %s and %s",
                                 linstab_mlp_output_name(a->out_act), linstab_mlp_output_name(b->out_act));
    if ((a->bias != 0) != (b->bias != 0))
        return linstab_error_set(err, LINSTAB_EDATA, "the biases differ: %s and %s",
                                 a->bias ? "with biases" : "without biases", b->bias ? "with biases" : "without biases");
    int zero = 1;
    for (size_t j = 0; j < a->p; j++) {
        d[j] = b->theta[j] - a->theta[j];
        zero &= d[j] == 0.0;
    }
    if (zero)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "the two checkpoints have the same parameters: the segment between them is a point");
    return LINSTAB_OK;
}

/* ---- a direction from an NPY file ---- */

linstab_status linstab_landscape_direction_load(const char *path, size_t p, size_t row, double *d, linstab_error *err)
{
    linstab_array a = {0};
    linstab_status st = linstab_npy_read(path, 0, &a, err);
    if (st != LINSTAB_OK) return st;
    const double *src = NULL;
    if (a.ndim == 1) {
        if (a.shape[0] != p)
            st = linstab_error_set(err, LINSTAB_EDATA,
                                   "%s: a direction of %zu entries; the network has p = %zu parameters", path,
                                   a.shape[0], p);
        else if (row != LINSTAB_LANDSCAPE_NO_ROW && row != 0)
            st = linstab_error_set_param(err, LINSTAB_EINVAL, "row",
                                         "row %zu: %s holds one direction (shape (%zu,)), row 0", row, path, p);
        else
            src = a.data;
    } else if (a.ndim == 2) {
        size_t k = a.shape[0];
        if (a.shape[1] != p)
            st = linstab_error_set(err, LINSTAB_EDATA,
                                   "%s: %zu directions of %zu entries (shape (%zu, %zu)); the network has p = %zu "
                                   "parameters",
                                   path, k, a.shape[1], k, a.shape[1], p);
        else if (k == 0)
            st = linstab_error_set(err, LINSTAB_EDATA, "%s: no direction (shape (0, %zu))", path, p);
        else if (row == LINSTAB_LANDSCAPE_NO_ROW && k > 1)
            st = linstab_error_set_param(err, LINSTAB_EINVAL, "row",
                                         "%s holds %zu directions (shape (%zu, %zu)): choose a row in 0..%zu", path,
                                         k, k, p, k - 1);
        else if (row != LINSTAB_LANDSCAPE_NO_ROW && row >= k)
            st = linstab_error_set_param(err, LINSTAB_EINVAL, "row", "row %zu is outside 0..%zu (%s holds %zu directions)",
                                         row, k - 1, path, k);
        else
            src = a.data + (row == LINSTAB_LANDSCAPE_NO_ROW ? 0 : row) * p;
    } else {
        st = linstab_error_set(err, LINSTAB_EDATA,
                               "%s: %zu dimensions; a direction is a vector of p = %zu entries or a k x p matrix",
                               path, a.ndim, p);
    }
    int zero = 1;
    for (size_t j = 0; st == LINSTAB_OK && j < p; j++) {
        if (!isfinite(src[j])) {
            st = linstab_error_set(err, LINSTAB_EDATA, "%s: entry %zu of the direction is not finite", path, j);
            break;
        }
        zero &= src[j] == 0.0;
        d[j] = src[j];
    }
    if (st == LINSTAB_OK && zero) st = linstab_error_set(err, LINSTAB_EDATA, "%s: the direction is zero", path);
    linstab_npy_array_free(&a);
    return st;
}

/* ---- slices and surfaces ---- */

/* What one point needs: theta(s) = theta + s d (to NULL) or (1 - s) theta
 * + s to, plus e d2. */
typedef struct line {
    const double *theta, *d, *to, *d2;
} line;

static void point_at(const line *ln, size_t p, double s, double e, double *out)
{
    if (ln->to != NULL)
        for (size_t j = 0; j < p; j++) out[j] = (1.0 - s) * ln->theta[j] + s * ln->to[j];
    else
        for (size_t j = 0; j < p; j++) out[j] = ln->theta[j] + s * ln->d[j];
    if (ln->d2 != NULL && e != 0.0)
        for (size_t j = 0; j < p; j++) out[j] += e * ln->d2[j];
}

static linstab_status check_dir(const double *d, size_t p, const char *what, linstab_error *err)
{
    int zero = 1;
    for (size_t j = 0; j < p; j++) {
        if (!isfinite(d[j]))
            return linstab_error_set(err, LINSTAB_EINVAL, "entry %zu of the %s is not finite", j, what);
        zero &= d[j] == 0.0;
    }
    if (zero) return linstab_error_set(err, LINSTAB_EINVAL, "the %s is zero", what);
    return LINSTAB_OK;
}

static linstab_status check_values(const double *t, size_t n, const char *what, linstab_error *err)
{
    if (n == 0) return linstab_error_set(err, LINSTAB_EINVAL, "no %s values", what);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(t[i])) return linstab_error_set(err, LINSTAB_EINVAL, "%s value %zu is not finite", what, i);
    return LINSTAB_OK;
}

/* A thread's workspace: a copy of the model (its theta is the moved point)
 * and the product H v. */
typedef struct worker {
    linstab_mlp *m;
    double *hv;
} worker;

static void workers_free(worker *w, size_t nt)
{
    for (size_t k = 0; w != NULL && k < nt; k++) {
        linstab_mlp_free(w[k].m);
        free(w[k].hv);
    }
    free(w);
}

static linstab_status workers_alloc(const linstab_mlp *m, size_t nt, int want_hv, worker **out, linstab_error *err)
{
    *out = NULL;
    worker *w = calloc(nt, sizeof *w);
    if (w == NULL) return oom(err, "landscape");
    for (size_t k = 0; k < nt; k++) {
        linstab_status st = linstab_mlp_alloc(m->sizes, m->nlayers, m->act, m->bias, &w[k].m, err);
        if (st == LINSTAB_OK) st = linstab_mlp_set_output(w[k].m, m->out_act, err);
        if (st == LINSTAB_OK && want_hv && (w[k].hv = malloc(m->p * sizeof(double))) == NULL)
            st = oom(err, "landscape");
        if (st != LINSTAB_OK) {
            workers_free(w, nt);
            return st;
        }
    }
    *out = w;
    return LINSTAB_OK;
}

/* The job of one point: L, and optionally the finite difference and d'Hd. */
typedef struct job {
    const linstab_landscape_model *lm;
    line ln;
    double h;
    size_t na, nb;          /* surface: na x nb points; slice: nb = 0 */
    const double *a, *b;
    double *loss, *d2, *curv;
} job;

static linstab_status loss_at(const job *jb, worker *w, double s, double e, double *L, linstab_error *err)
{
    const linstab_landscape_model *lm = jb->lm;
    point_at(&jb->ln, lm->m->p, s, e, w->m->theta);
    double acc;
    return linstab_mlp_evaluate(w->m, lm->X, lm->Y, lm->loss, lm->smoothing, L, &acc, err);
}

static linstab_status run_point(const job *jb, worker *w, size_t i, linstab_error *err)
{
    const linstab_landscape_model *lm = jb->lm;
    size_t p = lm->m->p;
    if (jb->nb > 0) { /* the surface */
        size_t ia = i / jb->nb, ib = i % jb->nb;
        return loss_at(jb, w, jb->a[ia], jb->b[ib], &jb->loss[i], err);
    }
    double t = jb->a[i];
    linstab_status st = LINSTAB_OK;
    if (jb->d2 != NULL) {
        double Lp, Lm;
        st = loss_at(jb, w, t + jb->h, 0.0, &Lp, err);
        if (st == LINSTAB_OK) st = loss_at(jb, w, t - jb->h, 0.0, &Lm, err);
        if (st != LINSTAB_OK) return st;
        /* the centre last: w->m->theta is then theta(t) for the product */
        st = loss_at(jb, w, t, 0.0, &jb->loss[i], err);
        if (st == LINSTAB_OK)
            jb->d2[i] = (Lp + Lm - 2.0 * jb->loss[i]) / ((2.0 * jb->h) * (2.0 * jb->h)); /* Zhou et al.'s (2h)^2 */
    } else {
        st = loss_at(jb, w, t, 0.0, &jb->loss[i], err);
    }
    if (st != LINSTAB_OK || jb->curv == NULL) return st;
    st = linstab_mlp_hvp(w->m, lm->X->data, lm->Y->data, lm->X->shape[0], lm->loss, lm->smoothing, jb->ln.d, w->hv,
                         err);
    if (st != LINSTAB_OK) return st;
    double s = 0.0; /* d' (H d), in index order: the same bytes on any thread */
    for (size_t j = 0; j < p; j++) s += jb->ln.d[j] * w->hv[j];
    jb->curv[i] = s;
    return LINSTAB_OK;
}

/* Every point of jb, in blocks of 2 x threads points (progress after
 * each), the points of a block over the threads. */
static linstab_status run_all(const job *jb, size_t total, const linstab_landscape_opts *o, linstab_error *err)
{
    size_t nt = 1;
#ifdef _OPENMP
    nt = o->threads > 0 ? o->threads : (size_t)omp_get_max_threads();
#endif
    if (nt > total) nt = total;
    if (nt < 1) nt = 1;
    worker *w = NULL;
    linstab_status st = workers_alloc(jb->lm->m, nt, jb->curv != NULL, &w, err);
    if (st != LINSTAB_OK) return st;
    int bt = blas_threads_single();
    size_t block = 2 * nt;
    for (size_t i0 = 0; i0 < total && st == LINSTAB_OK; i0 += block) {
        size_t i1 = i0 + block < total ? i0 + block : total;
        size_t bad = total;
        linstab_status first = LINSTAB_OK;
        char msg[LINSTAB_ERROR_MSG_LEN] = "";
        (void)nt;
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)nt)
        for (size_t i = i0; i < i1; i++) {
            size_t k = 0;
#ifdef _OPENMP
            k = (size_t)omp_get_thread_num();
#endif
            linstab_error e = {0};
            linstab_status si = run_point(jb, &w[k], i, &e);
            if (si != LINSTAB_OK) {
#pragma omp critical(linstab_landscape_error)
                if (i < bad) {
                    bad = i;
                    first = si;
                    memcpy(msg, e.msg, sizeof msg);
                }
            }
        }
        if (first != LINSTAB_OK) {
            st = linstab_error_set(err, first, "landscape point %zu: %s", bad, msg);
            break;
        }
        if (o->progress != NULL) o->progress(i1, total, o->progress_ctx);
    }
    blas_threads_restore(bt);
    workers_free(w, nt);
    return st;
}

static linstab_status check_common(const linstab_landscape_model *lm, const linstab_landscape_opts *o, double *h,
                                   linstab_error *err)
{
    *h = o->h == 0.0 ? 0.1 : o->h;
    if (!isfinite(*h) || !(*h > 0.0))
        return linstab_error_set_param(err, LINSTAB_EINVAL, "h", "the step h = %g must be finite and > 0", o->h);
    return linstab_mlp_check_data(lm->m, lm->X, lm->Y, lm->loss, err);
}

linstab_status linstab_landscape_slice(const linstab_landscape_model *lm, const double *d, const double *to,
                                       size_t npts, const double *t, const linstab_landscape_opts *o, double *loss,
                                       double *d2_zhou, double *curvature, linstab_error *err)
{
    linstab_landscape_opts def = linstab_landscape_defaults();
    if (o == NULL) o = &def;
    double h;
    size_t p = lm->m->p;
    linstab_status st = check_values(t, npts, "t", err);
    if (st == LINSTAB_OK) st = check_dir(d, p, "direction", err);
    if (st == LINSTAB_OK && to != NULL) st = check_dir(to, p, "end of the segment", err);
    if (st == LINSTAB_OK) st = check_common(lm, o, &h, err);
    if (st != LINSTAB_OK) return st;
    job jb = {lm, {lm->m->theta, d, to, NULL}, h, npts, 0, t, NULL, loss, d2_zhou, curvature};
    return run_all(&jb, npts, o, err);
}

linstab_status linstab_landscape_surface(const linstab_landscape_model *lm, const double *d1, const double *to,
                                         const double *d2, size_t na, const double *a, size_t nb, const double *b,
                                         const linstab_landscape_opts *o, double *loss, linstab_error *err)
{
    linstab_landscape_opts def = linstab_landscape_defaults();
    if (o == NULL) o = &def;
    double h;
    size_t p = lm->m->p;
    linstab_status st = check_values(a, na, "a", err);
    if (st == LINSTAB_OK) st = check_values(b, nb, "b", err);
    if (st == LINSTAB_OK) st = check_dir(d1, p, "first direction", err);
    if (st == LINSTAB_OK) st = check_dir(d2, p, "second direction", err);
    if (st == LINSTAB_OK && to != NULL) st = check_dir(to, p, "end of the segment", err);
    if (st == LINSTAB_OK) st = check_common(lm, o, &h, err);
    if (st != LINSTAB_OK) return st;
    int overflow = 0;
    size_t total = mul_sz(na, nb, &overflow);
    if (overflow) return linstab_error_set(err, LINSTAB_EINVAL, "a %zu x %zu grid is too large", na, nb);
    job jb = {lm, {lm->m->theta, d1, to, d2}, h, na, nb, a, b, loss, NULL, NULL};
    return run_all(&jb, total, o, err);
}
