/*
 * eigen.c -- extreme eigenvalues of operators: LAPACK on the dense matrix
 * when it is small, arpack-ng (implicitly restarted Lanczos / Arnoldi,
 * Lehoucq, Sorensen & Yang, "ARPACK Users' Guide", SIAM 1998) otherwise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <arpack.h>
#include <lapacke.h>

#include "linstab/eigen.h"
#include "linstab/sym.h"

linstab_eigen_opts linstab_eigen_defaults(void)
{
    linstab_eigen_opts o = {LINSTAB_EIGEN_AUTO, 2000, 1e-12, 3000, 0, NULL};
    return o;
}

static void fill_defaults(const linstab_eigen_opts *in, linstab_eigen_opts *o)
{
    *o = in ? *in : linstab_eigen_defaults();
    if (o->dense_max == 0) o->dense_max = 2000;
    if (o->tol <= 0.0) o->tol = 1e-12;
    if (o->max_iter <= 0) o->max_iter = 3000;
}

static int use_dense(const linstab_eigen_opts *o, size_t dim)
{
    if (o->path == LINSTAB_EIGEN_DENSE) return 1;
    if (o->path == LINSTAB_EIGEN_ARPACK) return dim < 3; /* ARPACK needs ncv > nev + 1 */
    return dim <= o->dense_max;
}

int linstab_eigen_is_dense(const linstab_eigen_opts *opts, size_t dim)
{
    linstab_eigen_opts o;
    fill_defaults(opts, &o);
    return use_dense(&o, dim);
}

/* Deterministic start vector: a fixed quasi-random sequence (no RNG state). */
static void start_vector(size_t n, const double *given, double *resid)
{
    if (given != NULL) {
        memcpy(resid, given, n * sizeof *resid);
        return;
    }
    for (size_t i = 0; i < n; i++) resid[i] = 1.0 + 0.5 * sin(1.0 + 12.9898 * (double)i);
}

static linstab_status dense_top(const linstab_operator *op, double *lambda, double *vec,
                                linstab_error *err)
{
    size_t n = op->dim;
    double *A = malloc(n * n * sizeof *A);
    if (A == NULL)
        return linstab_error_set(err, LINSTAB_ENOMEM, "eigenproblem of size %zu: out of memory", n);
    linstab_status st = linstab_operator_dense(op, A, err);
    if (st == LINSTAB_OK) {
        linstab_sym_symmetrize(n, A);
        if (vec == NULL) {
            st = linstab_sym_lambda_max(n, A, lambda, err);
        } else {
            double *w = malloc(n * sizeof *w), *V = malloc(n * n * sizeof *V);
            if (w == NULL || V == NULL)
                st = linstab_error_set(err, LINSTAB_ENOMEM, "eigenvectors: out of memory");
            else
                st = linstab_sym_eig(n, A, w, V, err);
            if (st == LINSTAB_OK) {
                *lambda = w[n - 1];
                for (size_t i = 0; i < n; i++) vec[i] = V[i * n + n - 1];
            }
            free(w);
            free(V);
        }
    }
    free(A);
    return st;
}

/* ARPACK's reverse-communication workspace, shared by Lanczos and Arnoldi. */
typedef struct arpack_ws {
    a_int n, ncv, lworkl;
    double *resid, *v, *workd, *workl, *workev;
    a_int *select;
    a_int iparam[11], ipntr[14];
} arpack_ws;

static void ws_free(arpack_ws *w)
{
    free(w->resid);
    free(w->v);
    free(w->workd);
    free(w->workl);
    free(w->workev);
    free(w->select);
}

/* symmetric: lworkl = ncv (ncv + 8); general: 3 ncv^2 + 6 ncv and workev */
static linstab_status ws_alloc(arpack_ws *w, const linstab_operator *op,
                               const linstab_eigen_opts *o, int general, linstab_error *err)
{
    memset(w, 0, sizeof *w);
    w->n = (a_int)op->dim;
    w->ncv = (a_int)(o->ncv ? o->ncv : 32);
    if (w->ncv > w->n) w->ncv = w->n;
    w->lworkl = general ? 3 * w->ncv * w->ncv + 6 * w->ncv : w->ncv * (w->ncv + 8);
    size_t n = (size_t)w->n, ncv = (size_t)w->ncv;
    w->resid = malloc(n * sizeof *w->resid);
    w->v = malloc(n * ncv * sizeof *w->v);
    w->workd = malloc(3 * n * sizeof *w->workd);
    w->workl = malloc((size_t)w->lworkl * sizeof *w->workl);
    w->workev = general ? malloc(3 * ncv * sizeof *w->workev) : NULL;
    w->select = calloc(ncv, sizeof *w->select);
    if (!w->resid || !w->v || !w->workd || !w->workl || !w->select || (general && !w->workev)) {
        ws_free(w);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s of size %zu: out of memory",
                                 general ? "Arnoldi" : "Lanczos", op->dim);
    }
    start_vector(op->dim, o->start, w->resid);
    w->iparam[0] = 1;           /* exact shifts */
    w->iparam[2] = o->max_iter; /* restarts */
    w->iparam[6] = 1;           /* mode 1: A x = lambda x */
    return LINSTAB_OK;
}

/* The status after the reverse-communication loop: no convergence is an
 * error, never a silent wrong number. */
static linstab_status loop_status(const arpack_ws *w, a_int info, const char *name,
                                  const linstab_operator *op, const linstab_eigen_opts *o,
                                  linstab_error *err)
{
    if (info == 1 || (info == 0 && w->iparam[4] < 1))
        return linstab_error_set(err, LINSTAB_ENOCONV,
                                 "%s (ARPACK) did not converge in %d restarts (operator of size %zu)",
                                 name, o->max_iter, op->dim);
    if (info != 0)
        return linstab_error_set(err, LINSTAB_ENOCONV, "ARPACK %s failed (info %d)", name, (int)info);
    return LINSTAB_OK;
}

static linstab_status arpack_top(const linstab_operator *op, const linstab_eigen_opts *o,
                                 double *lambda, double *vec, linstab_error *err)
{
    arpack_ws w;
    linstab_status st = ws_alloc(&w, op, o, 0, err);
    if (st != LINSTAB_OK) return st;
    double *z = vec ? malloc((size_t)w.n * sizeof *z) : NULL;
    a_int ido = 0, info = 1, nev = 1;
    if (vec && z == NULL) {
        ws_free(&w);
        return linstab_error_set(err, LINSTAB_ENOMEM, "Lanczos: out of memory");
    }
    for (;;) {
        dsaupd_c(&ido, "I", w.n, "LA", nev, o->tol, w.resid, w.ncv, w.v, w.n, w.iparam, w.ipntr,
                 w.workd, w.workl, w.lworkl, &info);
        if (ido != 1 && ido != -1) break;
        st = op->apply(w.workd + w.ipntr[0] - 1, w.workd + w.ipntr[1] - 1, op->ctx, err);
        if (st != LINSTAB_OK) break; /* the apply's own status and message */
    }
    if (st == LINSTAB_OK) st = loop_status(&w, info, "Lanczos dsaupd", op, o, err);
    if (st == LINSTAB_OK) {
        double d[2];
        dseupd_c(vec != NULL, "A", w.select, d, vec ? z : w.v, w.n, 0.0, "I", w.n, "LA", nev, o->tol,
                 w.resid, w.ncv, w.v, w.n, w.iparam, w.ipntr, w.workd, w.workl, w.lworkl, &info);
        if (info != 0)
            st = linstab_error_set(err, LINSTAB_ENOCONV, "ARPACK dseupd failed (info %d)", (int)info);
        else {
            *lambda = d[0];
            if (vec) memcpy(vec, z, (size_t)w.n * sizeof *vec);
        }
    }
    free(z);
    ws_free(&w);
    return st;
}

linstab_status linstab_eigen_top(const linstab_operator *op, const linstab_eigen_opts *opts,
                                 double *lambda, double *vec, linstab_error *err)
{
    linstab_eigen_opts o;
    fill_defaults(opts, &o);
    if (op->dim == 0) return linstab_error_set(err, LINSTAB_EINVAL, "operator of dimension 0");
    if (use_dense(&o, op->dim)) return dense_top(op, lambda, vec, err);
    /* ARPACK keeps Fortran SAVE state: one solve at a time per process */
    linstab_status st;
#pragma omp critical(linstab_arpack)
    st = arpack_top(op, &o, lambda, vec, err);
    return st;
}

static linstab_status dense_radius(const linstab_operator *op, double *radius, linstab_error *err)
{
    size_t n = op->dim;
    double *A = malloc(n * n * sizeof *A), *wr = malloc(n * sizeof *wr), *wi = malloc(n * sizeof *wi);
    linstab_status st = LINSTAB_OK;
    if (!A || !wr || !wi) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "eigenproblem of size %zu: out of memory", n);
        goto done;
    }
    st = linstab_operator_dense(op, A, err);
    if (st != LINSTAB_OK) goto done;
    double dummy = 0.0;
    lapack_int info = LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', (lapack_int)n, A, (lapack_int)n, wr,
                                    wi, &dummy, 1, &dummy, 1);
    if (info != 0) {
        st = linstab_error_set(err, LINSTAB_ELAPACK, "LAPACK dgeev failed (info %d)", (int)info);
        goto done;
    }
    double r = 0.0;
    for (size_t i = 0; i < n; i++) r = fmax(r, hypot(wr[i], wi[i]));
    *radius = r;
done:
    free(A);
    free(wr);
    free(wi);
    return st;
}

static linstab_status arpack_radius(const linstab_operator *op, const linstab_eigen_opts *o,
                                    double *radius, linstab_error *err)
{
    arpack_ws w;
    linstab_status st = ws_alloc(&w, op, o, 1, err);
    if (st != LINSTAB_OK) return st;
    a_int ido = 0, info = 1, nev = 1;
    for (;;) {
        dnaupd_c(&ido, "I", w.n, "LM", nev, o->tol, w.resid, w.ncv, w.v, w.n, w.iparam, w.ipntr,
                 w.workd, w.workl, w.lworkl, &info);
        if (ido != 1 && ido != -1) break;
        st = op->apply(w.workd + w.ipntr[0] - 1, w.workd + w.ipntr[1] - 1, op->ctx, err);
        if (st != LINSTAB_OK) break;
    }
    if (st == LINSTAB_OK) st = loop_status(&w, info, "Arnoldi dnaupd", op, o, err);
    if (st == LINSTAB_OK) {
        double dr[3], di[3];
        dneupd_c(0, "A", w.select, dr, di, w.v, w.n, 0.0, 0.0, w.workev, "I", w.n, "LM", nev, o->tol,
                 w.resid, w.ncv, w.v, w.n, w.iparam, w.ipntr, w.workd, w.workl, w.lworkl, &info);
        if (info != 0)
            st = linstab_error_set(err, LINSTAB_ENOCONV, "ARPACK dneupd failed (info %d)", (int)info);
        else
            *radius = hypot(dr[0], di[0]);
    }
    ws_free(&w);
    return st;
}

linstab_status linstab_eigen_radius(const linstab_operator *op, const linstab_eigen_opts *opts,
                                    double *radius, linstab_error *err)
{
    linstab_eigen_opts o;
    fill_defaults(opts, &o);
    if (op->dim == 0) return linstab_error_set(err, LINSTAB_EINVAL, "operator of dimension 0");
    if (op->self_adjoint) {
        /* largest |lambda|: the top of A or of -A; for a positive map the top */
        if (use_dense(&o, op->dim)) {
            size_t n = op->dim;
            double *A = malloc(n * n * sizeof *A), *w = malloc(n * sizeof *w);
            linstab_status st = (A && w) ? linstab_operator_dense(op, A, err)
                                         : linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
            if (st == LINSTAB_OK) {
                linstab_sym_symmetrize(n, A);
                st = linstab_sym_eig(n, A, w, NULL, err);
            }
            if (st == LINSTAB_OK) *radius = fmax(fabs(w[0]), fabs(w[n - 1]));
            free(A);
            free(w);
            return st;
        }
    }
    if (use_dense(&o, op->dim)) return dense_radius(op, radius, err);
    linstab_status st;
#pragma omp critical(linstab_arpack)
    st = arpack_radius(op, &o, radius, err);
    return st;
}

/* ---- the k eigenpairs at the top (linstab_eigen_topk) ---- */

/* The sign of a unit vector fixed: its entry of largest |value| (the
 * first such) is positive. */
static void fix_sign(size_t n, double *v)
{
    size_t imax = 0;
    for (size_t i = 1; i < n; i++)
        if (fabs(v[i]) > fabs(v[imax])) imax = i;
    if (v[imax] < 0.0)
        for (size_t i = 0; i < n; i++) v[i] = -v[i];
}

/* Order of the k values w[idx[.]]: descending value, or descending |value|
 * with the positive first on a tie (insertion sort, k small). */
static void order_pairs(size_t k, const double *w, int magnitude, size_t *idx)
{
    for (size_t a = 1; a < k; a++) {
        size_t t = idx[a], b = a;
        for (; b > 0; b--) {
            double x = w[t], y = w[idx[b - 1]];
            int before = magnitude ? (fabs(x) > fabs(y) || (fabs(x) == fabs(y) && x > y)) : x > y;
            if (!before) break;
            idx[b] = idx[b - 1];
        }
        idx[b] = t;
    }
}

static linstab_status dense_topk(const linstab_operator *op, size_t k, int magnitude, double *vals,
                                 double *vecs, linstab_error *err)
{
    size_t n = op->dim, ncol = magnitude ? n : k;
    double *A = malloc(n * n * sizeof *A), *w = malloc(n * sizeof *w);
    double *Z = malloc(n * ncol * sizeof *Z);
    lapack_int *isuppz = malloc(2 * n * sizeof *isuppz);
    size_t *idx = malloc(n * sizeof *idx), *sel = malloc(k * sizeof *sel);
    linstab_status st = LINSTAB_OK;
    if (!A || !w || !Z || !isuppz || !idx || !sel) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "eigenproblem of size %zu: out of memory", n);
        goto done;
    }
    st = linstab_operator_dense(op, A, err);
    if (st != LINSTAB_OK) goto done;
    linstab_sym_symmetrize(n, A);
    lapack_int found = 0;
    /* range by index: the k largest (1-based il..iu, ascending), or all */
    lapack_int il = (lapack_int)(n - k + 1), iu = (lapack_int)n;
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', magnitude ? 'A' : 'I', 'U', (lapack_int)n, A,
                                     (lapack_int)n, 0.0, 0.0, il, iu, 0.0, &found, w, Z, (lapack_int)ncol,
                                     isuppz);
    if (info != 0 || (size_t)found != ncol) {
        st = linstab_error_set(err, LINSTAB_ELAPACK, "LAPACK dsyevr failed (info %d)", (int)info);
        goto done;
    }
    if (magnitude) { /* the k of largest |lambda| from both ends of the ascending list */
        size_t lo = 0, hi = n - 1;
        for (size_t j = 0; j < k; j++) sel[j] = fabs(w[hi]) >= fabs(w[lo]) ? hi-- : lo++;
    } else {
        for (size_t j = 0; j < k; j++) sel[j] = j;
    }
    order_pairs(k, w, magnitude, sel);
    for (size_t j = 0; j < k; j++) {
        vals[j] = w[sel[j]];
        if (vecs == NULL) continue;
        for (size_t i = 0; i < n; i++) vecs[j * n + i] = Z[i * ncol + sel[j]];
        fix_sign(n, vecs + j * n);
    }
done:
    free(A);
    free(w);
    free(Z);
    free(isuppz);
    free(idx);
    free(sel);
    return st;
}

static linstab_status arpack_topk(const linstab_operator *op, const linstab_eigen_opts *o, size_t k, int magnitude,
                                  double *vals, double *vecs, linstab_error *err)
{
    arpack_ws w;
    linstab_status st = ws_alloc(&w, op, o, 0, err);
    if (st != LINSTAB_OK) return st;
    const char *which = magnitude ? "LM" : "LA";
    a_int ido = 0, info = 1, nev = (a_int)k;
    double *d = malloc(k * sizeof *d), *z = vecs ? malloc((size_t)w.n * k * sizeof *z) : NULL;
    size_t *sel = malloc(k * sizeof *sel);
    if (!d || !sel || (vecs && !z)) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "Lanczos: out of memory");
        goto done;
    }
    for (;;) {
        dsaupd_c(&ido, "I", w.n, which, nev, o->tol, w.resid, w.ncv, w.v, w.n, w.iparam, w.ipntr, w.workd,
                 w.workl, w.lworkl, &info);
        if (ido != 1 && ido != -1) break;
        st = op->apply(w.workd + w.ipntr[0] - 1, w.workd + w.ipntr[1] - 1, op->ctx, err);
        if (st != LINSTAB_OK) break;
    }
    if (st == LINSTAB_OK) st = loop_status(&w, info, "Lanczos dsaupd", op, o, err);
    if (st == LINSTAB_OK && (size_t)w.iparam[4] < k)
        st = linstab_error_set(err, LINSTAB_ENOCONV,
                               "Lanczos (ARPACK): %d of %zu eigenvalues converged in %d restarts (operator of size %zu)",
                               (int)w.iparam[4], k, o->max_iter, op->dim);
    if (st != LINSTAB_OK) goto done;
    dseupd_c(vecs != NULL, "A", w.select, d, vecs ? z : w.v, w.n, 0.0, "I", w.n, which, nev, o->tol, w.resid,
             w.ncv, w.v, w.n, w.iparam, w.ipntr, w.workd, w.workl, w.lworkl, &info);
    if (info != 0) {
        st = linstab_error_set(err, LINSTAB_ENOCONV, "ARPACK dseupd failed (info %d)", (int)info);
        goto done;
    }
    for (size_t j = 0; j < k; j++) sel[j] = j;
    order_pairs(k, d, magnitude, sel);
    for (size_t j = 0; j < k; j++) {
        vals[j] = d[sel[j]];
        if (vecs == NULL) continue;
        /* z: column-major n x nev */
        memcpy(vecs + j * op->dim, z + sel[j] * op->dim, op->dim * sizeof *vecs);
        fix_sign(op->dim, vecs + j * op->dim);
    }
done:
    free(d);
    free(z);
    free(sel);
    ws_free(&w);
    return st;
}

linstab_status linstab_eigen_topk(const linstab_operator *op, const linstab_eigen_opts *opts, size_t k, int magnitude,
                                  double *vals, double *vecs, linstab_error *err)
{
    linstab_eigen_opts o;
    fill_defaults(opts, &o);
    if (op->dim == 0) return linstab_error_set(err, LINSTAB_EINVAL, "operator of dimension 0");
    if (!op->self_adjoint)
        return linstab_error_set(err, LINSTAB_EINVAL, "top-k eigenpairs: the operator is not self-adjoint");
    if (k == 0 || k > op->dim) {
        return linstab_error_set_param(err, LINSTAB_EINVAL, "top_k",
                                       "top-k eigenpairs: k = %zu outside 1..%zu (the dimension)", k, op->dim);
    }
    if (use_dense(&o, op->dim) || k + 1 >= op->dim) return dense_topk(op, k, magnitude, vals, vecs, err);
    size_t ncv = o.ncv ? o.ncv : 32;
    if (ncv < 2 * k + 1) ncv = 2 * k + 1;
    if (ncv > op->dim) ncv = op->dim;
    o.ncv = ncv;
    linstab_status st;
#pragma omp critical(linstab_arpack)
    st = arpack_topk(op, &o, k, magnitude, vals, vecs, err);
    return st;
}
