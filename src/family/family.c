/*
 * family.c -- the Hessian family container (docs/math.md §1): the n
 * symmetric d x d matrices H_i in one of three storages (dense, factored
 * H_i = U_i U_i', diagonal), loading and saving as NPY, and validation
 * (symmetry, finiteness, scale, positive semi-definiteness).
 *
 * The per-representation kernels (H_i x, means, moments, sandwiches, Gram
 * entries) are in family_kernels.c; range restriction in family_restrict.c.
 */

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "family_internal.h"
#include "internal.h"
#include "linstab/family.h"
#include "linstab/sym.h"

const char *linstab_family_kind_name(linstab_family_kind kind)
{
    switch (kind) {
    case LINSTAB_FAMILY_DENSE: return "dense";
    case LINSTAB_FAMILY_FACTORED: return "factored";
    case LINSTAB_FAMILY_DIAGONAL: return "diagonal";
    }
    return "unknown";
}

size_t linstab_family_data_len(const linstab_family *f)
{
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE: return f->n * f->d * f->d;
    case LINSTAB_FAMILY_FACTORED: return f->n * f->d * f->k;
    case LINSTAB_FAMILY_DIAGONAL: return f->n * f->d;
    }
    return 0;
}

linstab_status linstab_family_alloc(linstab_family_kind kind, size_t n, size_t d, size_t k,
                                    linstab_family **out, linstab_error *err)
{
    *out = NULL;
    if (kind == LINSTAB_FAMILY_DENSE) k = d;
    if (kind == LINSTAB_FAMILY_DIAGONAL) k = 1;
    if (n == 0 || d == 0 || k == 0)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "family of %zu samples, dimension %zu, width %zu: sizes must be >= 1",
                                 n, d, k);
    int ovf = 0;
    size_t len = mul_sz(mul_sz(n, d, &ovf), kind == LINSTAB_FAMILY_DIAGONAL ? 1 : k, &ovf);
    mul_sz(len, sizeof(double), &ovf);
    if (ovf)
        return linstab_error_set(err, LINSTAB_ENOMEM, "family of %zu x %zu x %zu is too large", n,
                                 d, k);
    linstab_family *f = calloc(1, sizeof *f);
    if (f == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
    f->data = calloc(len, sizeof(double));
    if (f->data == NULL) {
        free(f);
        return linstab_error_set(err, LINSTAB_ENOMEM,
                                 "family of %zu samples needs %.1f MB: out of memory", n,
                                 (double)len * 8.0 / 1e6);
    }
    f->kind = kind;
    f->n = n;
    f->d = d;
    f->k = k;
    *out = f;
    return LINSTAB_OK;
}

void linstab_family_free(linstab_family *f)
{
    if (f == NULL) return;
    free(f->data);
    free(f->lambda1);
    free(f);
}

linstab_status linstab_family_from_array(linstab_family_kind kind, linstab_array *arr,
                                         linstab_family **out, linstab_error *err)
{
    *out = NULL;
    size_t want = kind == LINSTAB_FAMILY_DIAGONAL ? 2 : 3;
    static const char *shapes[] = {"(n, d, d)", "(n, d, k)", "(n, d)"};
    if (arr->ndim != want)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "a %s family needs an array of shape %s, got %zu dimensions",
                                 linstab_family_kind_name(kind), shapes[kind], arr->ndim);
    for (size_t a = 0; a < arr->ndim; a++)
        if (arr->shape[a] == 0)
            return linstab_error_set(err, LINSTAB_EDATA, "axis %zu of the array has length 0", a);
    if (kind == LINSTAB_FAMILY_DENSE && arr->shape[1] != arr->shape[2])
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "a dense family needs shape (n, d, d), got (%zu, %zu, %zu)",
                                 arr->shape[0], arr->shape[1], arr->shape[2]);
    linstab_family *f = calloc(1, sizeof *f);
    if (f == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
    f->kind = kind;
    f->n = arr->shape[0];
    f->d = arr->shape[1];
    f->k = kind == LINSTAB_FAMILY_DIAGONAL ? 1 : arr->shape[2];
    f->data = arr->data;
    memset(arr, 0, sizeof *arr);
    *out = f;
    return LINSTAB_OK;
}

linstab_status linstab_family_load(const char *path, linstab_family_kind kind, size_t max_bytes,
                                   linstab_family **out, linstab_error *err)
{
    linstab_array arr = {0};
    linstab_status st = linstab_npy_read(path, max_bytes, &arr, err);
    if (st != LINSTAB_OK) return st;
    st = linstab_family_from_array(kind, &arr, out, err);
    if (st != LINSTAB_OK) {
        char msg[LINSTAB_ERROR_MSG_LEN] = "";
        if (err != NULL) memcpy(msg, err->msg, sizeof msg);
        linstab_npy_array_free(&arr);
        return linstab_error_set(err, st, "%s: %s", path, msg);
    }
    return LINSTAB_OK;
}

linstab_status linstab_family_save(const linstab_family *f, const char *path, linstab_error *err)
{
    size_t shape[3] = {f->n, f->d, f->k};
    size_t ndim = f->kind == LINSTAB_FAMILY_DIAGONAL ? 2 : 3;
    return linstab_npy_write(path, f->data, ndim, shape, err);
}

/*
 * PSD check of a dense family without eigendecompositions.  H_i + tau I
 * has a Cholesky factor exactly when lambda_min(H_i) > -tau, up to the
 * factorisation's backward error (about d eps ||H_i||, far below tau).
 * The tolerance is tau = 1e-10 max_i lambda1(H_i); lambda1 comes from
 * Lanczos (linstab_sym_lambda_max, reentrant), and every sample is first
 * factorised with tau' = 1e-10 max_i max_j (H_i)_jj <= tau (a success
 * there is a success for tau; a failure is retried with tau once it is
 * known).  The samples are spread over threads.  For d >= 128 this is
 * about 3x faster than a tridiagonal reduction per sample (measured at
 * d = 200).
 * OUT lmax[i] = lambda1(H_i) and lmin[i] = 0 (|lambda_min| < tau does not
 * change the scale); any failure returns an error and the caller falls
 * back to the exact eigenvalues, which name the offending sample.
 */
static int shifted_cholesky_fails(const double *H, size_t d, double tau, double *a)
{
    memcpy(a, H, d * d * sizeof *a);
    for (size_t j = 0; j < d; j++) a[j * d + j] += tau;
    /* symmetric: the column-major call reads the same matrix, untransposed */
    return LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)d, a, (lapack_int)d) != 0;
}

#define PSD_FAST_MIN_D 128
static linstab_status psd_fast(const linstab_family *f, double *lmin, double *lmax)
{
    size_t n = f->n, d = f->d, dd = d * d;
    double diag = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) diag = fmax(diag, f->data[i * dd + j * d + j]);
    if (!(diag > 0.0)) return LINSTAB_EDATA; /* let the exact path judge */
    unsigned char *retry = calloc(n, 1);
    double *a = malloc(dd * sizeof *a);
    int lanczos_failed = 0;
    if (retry == NULL || a == NULL) {
        free(retry);
        free(a);
        return LINSTAB_ENOMEM;
    }
    int blas_threads = blas_threads_single();
#pragma omp parallel
    {
        double *c = malloc(dd * sizeof *c);
        linstab_error e = {0};
#pragma omp for schedule(dynamic, 4)
        for (size_t i = 0; i < n; i++) {
            lmin[i] = 0.0;
            if (c == NULL || linstab_sym_lambda_max(d, f->data + i * dd, &lmax[i], &e) != LINSTAB_OK) {
#pragma omp atomic write
                lanczos_failed = 1;
                continue;
            }
            retry[i] = (unsigned char)shifted_cholesky_fails(f->data + i * dd, d, 1e-10 * diag, c);
        }
        free(c);
    }
    blas_threads_restore(blas_threads);
    linstab_status st = lanczos_failed ? LINSTAB_ELAPACK : LINSTAB_OK;
    double scale = 0.0;
    for (size_t i = 0; st == LINSTAB_OK && i < n; i++) scale = fmax(scale, lmax[i]);
    for (size_t i = 0; st == LINSTAB_OK && i < n; i++)
        if (retry[i] && shifted_cholesky_fails(f->data + i * dd, d, 1e-10 * scale, a)) st = LINSTAB_EDATA;
    free(retry);
    free(a);
    return st;
}

/*
 * Every quantity linstab computes is homogeneous in the scale of the
 * Hessians (H -> H / c with eta -> eta c and rho -> rho c gives the same
 * dynamics), but the fourth moments M_4 and the second-moment operators
 * hold products of up to four curvatures: an entry scale h beyond
 * [LINSTAB_FAMILY_SCALE_MIN, LINSTAB_FAMILY_SCALE_MAX] overflows or
 * underflows them.  Such families are refused with the factor to rescale
 * by, never computed into infinities or LAPACK errors.
 */
static linstab_status check_scale(double h, linstab_error *err)
{
    if (h > LINSTAB_FAMILY_SCALE_MAX)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "entries too large: curvatures up to %.3g, the fourth moments M_4 overflow "
                                 "(limit %.0e); divide the Hessians by c and multiply eta and rho by c "
                                 "(the same dynamics)",
                                 h, LINSTAB_FAMILY_SCALE_MAX);
    if (h > 0.0 && h < LINSTAB_FAMILY_SCALE_MIN)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "entries too small: curvatures up to %.3g, the fourth moments M_4 underflow "
                                 "(limit %.0e); multiply the Hessians by c and divide eta and rho by c "
                                 "(the same dynamics)",
                                 h, LINSTAB_FAMILY_SCALE_MIN);
    return LINSTAB_OK;
}

linstab_status linstab_family_validate(linstab_family *f, double sym_rtol, int allow_indefinite,
                                       int *indefinite, linstab_error *err)
{
    size_t n = f->n, d = f->d, per = linstab_family_data_len(f) / n;
    if (indefinite) *indefinite = 0;
    double smax = 0.0;
    for (size_t i = 0; f->kind != LINSTAB_FAMILY_DENSE && i < n; i++)
        for (size_t j = 0; j < per; j++) {
            if (!isfinite(f->data[i * per + j]))
                return linstab_error_set(err, LINSTAB_EDATA, "sample %zu: entry %zu is %s", i, j,
                                         isnan(f->data[i * per + j]) ? "NaN" : "infinite");
            smax = fmax(smax, fabs(f->data[i * per + j]));
        }
    if (f->kind == LINSTAB_FAMILY_FACTORED) /* U U' is symmetric PSD, entries up to k max|U|^2 */
        return check_scale((double)f->k * smax * smax, err);
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) {
        linstab_status sc = check_scale(smax, err);
        if (sc != LINSTAB_OK) return sc;
    }

    double *lmin = malloc(n * sizeof *lmin);
    double *lmax = malloc(n * sizeof *lmax);
    if (lmin == NULL || lmax == NULL) {
        free(lmin);
        free(lmax);
        return oom(err, "validation");
    }
    linstab_status st = LINSTAB_OK;
    if (f->kind == LINSTAB_FAMILY_DENSE) {
        /* per sample (in parallel, tile by tile): largest entry and largest
         * asymmetry; the first failing sample is reported */
        double *amax = calloc(n, sizeof *amax), *asym = calloc(n, sizeof *asym);
        size_t *where = calloc(n, sizeof *where), *nonfinite = calloc(n, sizeof *nonfinite);
        if (amax == NULL || asym == NULL || where == NULL || nonfinite == NULL) {
            st = oom(err, "validation");
        } else {
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; i++) {
                const double *Hi = f->data + i * d * d;
                double am = 0.0, as = 0.0;
                size_t at = 0, nf = per;
                for (size_t j = 0; j < per; j++)
                    if (!isfinite(Hi[j])) {
                        nf = j;
                        break;
                    }
                nonfinite[i] = nf;
                if (nf < per) continue;
                for (size_t r0 = 0; r0 < d; r0 += 32)
                    for (size_t c0 = r0; c0 < d; c0 += 32)
                        for (size_t r = r0; r < r0 + 32 && r < d; r++)
                            for (size_t c = c0 > r ? c0 : r; c < c0 + 32 && c < d; c++) {
                                double x = fabs(Hi[r * d + c]), y = fabs(Hi[c * d + r]);
                                am = x > am ? x : am;
                                am = y > am ? y : am;
                                double a = fabs(Hi[r * d + c] - Hi[c * d + r]);
                                if (a > as) {
                                    as = a;
                                    at = r * d + c;
                                }
                            }
                amax[i] = am;
                asym[i] = as;
                where[i] = at;
            }
            for (size_t i = 0; i < n; i++) {
                if (nonfinite[i] == per) continue;
                double x = f->data[i * per + nonfinite[i]];
                st = linstab_error_set(err, LINSTAB_EDATA, "sample %zu: entry %zu is %s", i, nonfinite[i],
                                       isnan(x) ? "NaN" : "infinite");
                break;
            }
            for (size_t i = 0; st == LINSTAB_OK && i < n; i++) smax = fmax(smax, amax[i]);
            if (st == LINSTAB_OK) st = check_scale(smax, err);
            for (size_t i = 0; st == LINSTAB_OK && i < n; i++) {
                if (!(asym[i] > sym_rtol * amax[i])) continue;
                const double *Hi = f->data + i * d * d;
                size_t ar = where[i] / d, ac = where[i] % d;
                st = linstab_error_set(err, LINSTAB_EDATA,
                                       "sample %zu is not symmetric: H[%zu][%zu] - H[%zu][%zu] = "
                                       "%.3g (relative %.3g > tolerance %.3g)",
                                       i, ar, ac, ac, ar, Hi[ar * d + ac] - Hi[ac * d + ar], asym[i] / amax[i],
                                       sym_rtol);
                break;
            }
            if (st == LINSTAB_OK) {
#pragma omp parallel for schedule(static)
                for (size_t i = 0; i < n; i++)
                    if (asym[i] > 0.0) linstab_sym_symmetrize(d, f->data + i * d * d);
            }
        }
        free(amax);
        free(asym);
        free(where);
        free(nonfinite);
        if (st == LINSTAB_OK && !allow_indefinite && d >= PSD_FAST_MIN_D &&
            psd_fast(f, lmin, lmax) == LINSTAB_OK)
            goto checked;
        /* samples are independent: spread the eigenvalue problems over threads
         * (each thread its own workspace and error record; results are
         * per-sample, so the thread count cannot change them) */
        if (st == LINSTAB_OK) {
            linstab_status first = LINSTAB_OK;
            size_t bad = n;
            /* one BLAS thread per OpenMP thread: no oversubscription */
            int blas_threads = blas_threads_single();
#pragma omp parallel
            {
                linstab_error e = {0};
#pragma omp for schedule(dynamic)
                for (size_t i = 0; i < n; i++) {
                    linstab_status si = linstab_sym_extremes(d, f->data + i * d * d, &lmin[i], &lmax[i], &e);
                    if (si != LINSTAB_OK) {
#pragma omp critical
                        if (i < bad) {
                            bad = i;
                            first = si;
                        }
                    }
                }
            }
            blas_threads_restore(blas_threads);
            if (first != LINSTAB_OK)
                st = linstab_error_set(err, first, "sample %zu: eigenvalues failed (%s)", bad,
                                       linstab_error_string(first));
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            lmin[i] = INFINITY;
            lmax[i] = -INFINITY;
            for (size_t j = 0; j < d; j++) {
                lmin[i] = fmin(lmin[i], f->data[i * d + j]);
                lmax[i] = fmax(lmax[i], f->data[i * d + j]);
            }
        }
    }
checked:
    if (st == LINSTAB_OK) {
        double scale = 0.0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fmax(fabs(lmin[i]), fabs(lmax[i])));
        for (size_t i = 0; i < n; i++) {
            if (lmin[i] >= -1e-10 * scale) continue;
            if (!allow_indefinite) {
                st = linstab_error_set_param(err, LINSTAB_EDATA, "allow_indefinite",
                                             "sample %zu is not positive semidefinite: smallest "
                                             "eigenvalue %.6g < -1e-10 * %.6g (indefinite "
                                             "Hessians are analysed only when allowed)",
                                             i, lmin[i], scale);
                break;
            }
            if (indefinite) *indefinite = 1;
        }
    }
    free(lmin);
    if (st != LINSTAB_OK) {
        free(lmax);
        return st;
    }
    free(f->lambda1);
    f->lambda1 = lmax;
    f->lambda1_key = family_data_key(f);
    return LINSTAB_OK;
}

