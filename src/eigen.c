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
#include "linstab/linalg.h"

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

static linstab_status arpack_top(const linstab_operator *op, const linstab_eigen_opts *o,
                                 double *lambda, double *vec, linstab_error *err)
{
    a_int n = (a_int)op->dim, nev = 1;
    a_int ncv = (a_int)(o->ncv ? o->ncv : 32);
    if (ncv > n) ncv = n;
    a_int lworkl = ncv * (ncv + 8);
    double *resid = malloc((size_t)n * sizeof *resid);
    double *v = malloc((size_t)n * (size_t)ncv * sizeof *v);
    double *workd = malloc(3 * (size_t)n * sizeof *workd);
    double *workl = malloc((size_t)lworkl * sizeof *workl);
    a_int *select = calloc((size_t)ncv, sizeof *select);
    double *z = vec ? malloc((size_t)n * sizeof *z) : NULL;
    linstab_status st = LINSTAB_OK;
    if (!resid || !v || !workd || !workl || !select || (vec && !z)) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "Lanczos of size %zu: out of memory", op->dim);
        goto done;
    }
    start_vector(op->dim, o->start, resid);
    a_int iparam[11] = {0}, ipntr[14] = {0}, ido = 0, info = 1;
    iparam[0] = 1;
    iparam[2] = o->max_iter;
    iparam[6] = 1;
    for (;;) {
        dsaupd_c(&ido, "I", n, "LA", nev, o->tol, resid, ncv, v, n, iparam, ipntr, workd, workl,
                 lworkl, &info);
        if (ido != 1 && ido != -1) break;
        op->apply(workd + ipntr[0] - 1, workd + ipntr[1] - 1, op->ctx);
    }
    if (info == 1 || (info == 0 && iparam[4] < nev)) {
        st = linstab_error_set(err, LINSTAB_ENOCONV,
                               "Lanczos (ARPACK dsaupd) did not converge in %d restarts "
                               "(operator of size %zu)", o->max_iter, op->dim);
        goto done;
    }
    if (info != 0) {
        st = linstab_error_set(err, LINSTAB_ENOCONV, "ARPACK dsaupd failed (info %d)", (int)info);
        goto done;
    }
    double d[2];
    dseupd_c(vec != NULL, "A", select, d, vec ? z : v, n, 0.0, "I", n, "LA", nev, o->tol, resid,
             ncv, v, n, iparam, ipntr, workd, workl, lworkl, &info);
    if (info != 0) {
        st = linstab_error_set(err, LINSTAB_ENOCONV, "ARPACK dseupd failed (info %d)", (int)info);
        goto done;
    }
    *lambda = d[0];
    if (vec) memcpy(vec, z, (size_t)n * sizeof *vec);
done:
    free(resid);
    free(v);
    free(workd);
    free(workl);
    free(select);
    free(z);
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
    a_int n = (a_int)op->dim, nev = 1;
    a_int ncv = (a_int)(o->ncv ? o->ncv : 32);
    if (ncv > n) ncv = n;
    a_int lworkl = 3 * ncv * ncv + 6 * ncv;
    double *resid = malloc((size_t)n * sizeof *resid);
    double *v = malloc((size_t)n * (size_t)ncv * sizeof *v);
    double *workd = malloc(3 * (size_t)n * sizeof *workd);
    double *workl = malloc((size_t)lworkl * sizeof *workl);
    double *workev = malloc(3 * (size_t)ncv * sizeof *workev);
    a_int *select = calloc((size_t)ncv, sizeof *select);
    linstab_status st = LINSTAB_OK;
    if (!resid || !v || !workd || !workl || !workev || !select) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "Arnoldi of size %zu: out of memory", op->dim);
        goto done;
    }
    start_vector(op->dim, o->start, resid);
    a_int iparam[11] = {0}, ipntr[14] = {0}, ido = 0, info = 1;
    iparam[0] = 1;
    iparam[2] = o->max_iter;
    iparam[6] = 1;
    for (;;) {
        dnaupd_c(&ido, "I", n, "LM", nev, o->tol, resid, ncv, v, n, iparam, ipntr, workd, workl,
                 lworkl, &info);
        if (ido != 1 && ido != -1) break;
        op->apply(workd + ipntr[0] - 1, workd + ipntr[1] - 1, op->ctx);
    }
    if (info == 1 || (info == 0 && iparam[4] < nev)) {
        st = linstab_error_set(err, LINSTAB_ENOCONV,
                               "Arnoldi (ARPACK dnaupd) did not converge in %d restarts "
                               "(operator of size %zu)", o->max_iter, op->dim);
        goto done;
    }
    if (info != 0) {
        st = linstab_error_set(err, LINSTAB_ENOCONV, "ARPACK dnaupd failed (info %d)", (int)info);
        goto done;
    }
    double dr[3], di[3];
    dneupd_c(0, "A", select, dr, di, v, n, 0.0, 0.0, workev, "I", n, "LM", nev, o->tol, resid,
             ncv, v, n, iparam, ipntr, workd, workl, lworkl, &info);
    if (info != 0) {
        st = linstab_error_set(err, LINSTAB_ENOCONV, "ARPACK dneupd failed (info %d)", (int)info);
        goto done;
    }
    *radius = hypot(dr[0], di[0]);
done:
    free(resid);
    free(v);
    free(workd);
    free(workl);
    free(workev);
    free(select);
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
