/*
 * family_restrict.c -- range restriction of a Hessian family: the family
 * expressed on range(H) or range(M_2) (through the Gram matrix when that is
 * cheaper), optionally rotated into the eigenbasis of its mean H.
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

/* ------------------------------------------------------------------ */
/* Range restriction                                                   */

static linstab_status copy_family(const linstab_family *f, linstab_family **out,
                                  linstab_error *err)
{
    linstab_status st = linstab_family_alloc(f->kind, f->n, f->d, f->k, out, err);
    if (st != LINSTAB_OK) return st;
    memcpy((*out)->data, f->data, linstab_family_data_len(f) * sizeof(double));
    (*out)->d_full = f->d_full;
    if (f->lambda1 != NULL && family_cache_lambda1(*out, f->lambda1) != 0) {
        linstab_family_free(*out);
        *out = NULL;
        return oom(err, "range restriction");
    }
    return LINSTAB_OK;
}

/*
 * Factored families with n k < d: range(H) = range(W), W = [U_1 ... U_n].
 * From G = W'W = V diag(g) V' (n k x n k), the eigenvalues of H = W W'/n
 * are g/n and Q = W V_r diag(g_r)^{-1/2} is an orthonormal eigenbasis, so
 * the restricted factors Q'U_i = diag(g_r)^{-1/2} V_r' G[:, block i] need no
 * d x d matrix at all (networks with many parameters and few outputs).
 */
/* The core of both Gram routes: eigenvectors of G, rank, restricted
 * factors; W (d x nk, may be NULL) only for the basis Q. */
static linstab_status family_of_gram(size_t n, size_t k, size_t d, double *G, const double *W, double rtol,
                                     linstab_family **out, size_t *rank, double **Q_out, linstab_error *err)
{
    size_t nk = n * k;
    double *g = malloc(nk * sizeof *g), *V = malloc(nk * nk * sizeof *V), *Vr = NULL, *P = NULL;
    linstab_status st = LINSTAB_OK;
    *out = NULL;
    if (!g || !V) {
        st = oom(err, "range restriction");
        goto done;
    }
    st = linstab_sym_eig(nk, G, g, V, err);
    if (st != LINSTAB_OK) goto done;
    /* the rank rule of H (d x d): eigenvalue > d eps lambda_max */
    double gmax = fmax(fabs(g[0]), fabs(g[nk - 1]));
    size_t r = 0;
    for (size_t j = 0; j < nk; j++)
        if (gmax > 0.0 && g[j] > rtol * gmax) r++;
    if (r == 0) {
        st = linstab_error_set(err, LINSTAB_EDATA, "the mean Hessian H is zero: the family has no range to analyse");
        goto done;
    }
    *rank = r;
    st = linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, r, k, out, err);
    if (st != LINSTAB_OK) goto done;
    /* column c of the basis <-> eigenvalue g[nk-1-c] (decreasing): Vr (nk x r)
     * holds those eigenvectors scaled by g^{-1/2}, and the restricted
     * factors are the blocks of Vr' G (r x nk) */
    Vr = malloc(nk * r * sizeof *Vr);
    P = malloc(r * nk * sizeof *P);
    if (Vr == NULL || P == NULL) {
        st = oom(err, "range restriction");
        goto done;
    }
    for (size_t t = 0; t < nk; t++)
        for (size_t c = 0; c < r; c++) Vr[t * r + c] = V[t * nk + (nk - 1 - c)] / sqrt(g[nk - 1 - c]);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)r, (int)nk, (int)nk, 1.0, Vr, (int)r, G, (int)nk,
                0.0, P, (int)nk);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < r; c++)
            memcpy((*out)->data + i * r * k + c * k, P + c * nk + i * k, k * sizeof(double));
    if (Q_out && W) {
        double *Q = malloc(d * r * sizeof *Q); /* W Vr: orthonormal columns */
        if (Q == NULL) {
            st = oom(err, "range restriction");
            goto done;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)r, (int)nk, 1.0, W, (int)nk, Vr,
                    (int)r, 0.0, Q, (int)r);
        *Q_out = Q;
    }
done:
    if (st != LINSTAB_OK) {
        linstab_family_free(*out);
        *out = NULL;
    }
    free(g);
    free(V);
    free(Vr);
    free(P);
    return st;
}

static linstab_status restrict_by_gram(const linstab_family *f, double rtol, linstab_family **out,
                                       size_t *rank, double **Q_out, linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k, nk = n * k;
    double *W = family_gather_factors(f), *G = malloc(nk * nk * sizeof *G);
    linstab_status st = LINSTAB_OK;
    *out = NULL;
    if (!W || !G) {
        st = oom(err, "range restriction");
    } else {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)nk, (int)d, 1.0, W, (int)nk, 0.0, G, (int)nk);
        linstab_sym_fill_lower(nk, G);
        st = family_of_gram(n, k, d, G, W, rtol, out, rank, Q_out, err);
    }
    if (st == LINSTAB_OK && f->lambda1 != NULL && family_cache_lambda1(*out, f->lambda1) != 0) {
        st = oom(err, "range restriction");
        linstab_family_free(*out);
        *out = NULL;
        if (Q_out) {
            free(*Q_out);
            *Q_out = NULL;
        }
    }
    if (st == LINSTAB_OK) (*out)->d_full = f->d_full;
    free(W);
    free(G);
    return st;
}

linstab_status linstab_family_from_gram(size_t n, size_t k, size_t d_full, const double *G, double rtol,
                                        linstab_family **out, size_t *rank, linstab_error *err)
{
    size_t nk = n * k;
    *out = NULL;
    if (n == 0 || k == 0) return linstab_error_set(err, LINSTAB_EINVAL, "Gram matrix of an empty family");
    for (size_t j = 0; j < nk * nk; j++)
        if (!isfinite(G[j]))
            return linstab_error_set(err, LINSTAB_EDATA, "Gram matrix entry (%zu, %zu) is not finite", j / nk, j % nk);
    double *Gs = malloc(nk * nk * sizeof *Gs);
    if (Gs == NULL) return oom(err, "range restriction");
    memcpy(Gs, G, nk * nk * sizeof *Gs);
    linstab_sym_symmetrize(nk, Gs);
    linstab_status st = family_of_gram(n, k, d_full, Gs, NULL, rtol <= 0.0 ? (double)d_full * DBL_EPSILON : rtol,
                                       out, rank, NULL, err);
    free(Gs);
    if (st == LINSTAB_OK) (*out)->d_full = d_full > (*out)->d ? d_full : 0;
    return st;
}

size_t linstab_family_ambient_dim(const linstab_family *f)
{
    return f->d_full > f->d ? f->d_full : f->d;
}

/*
 * rank(H) = d without a tridiagonal reduction: H - 4 tau I, tau = rtol
 * lambda1(H) (lambda1 by Lanczos), has a Cholesky factor exactly when every
 * eigenvalue exceeds 4 tau, up to the factorisation's backward error (at
 * most about d eps ||H|| = tau for H's default rtol, a fraction of tau for
 * M_2's 32 d eps): then every eigenvalue
 * is above the rank threshold tau by a margin that the eigenvalues'
 * own rounding cannot cross.  A failure proves nothing (the eigenvalues
 * decide); a Cholesky costs d^3/3 where the reduction costs 4 d^3/3.
 */
#define RANK_CERTIFY_MIN_D 128

static int full_rank_certified(size_t d, const double *H, double rtol, double *lambda1)
{
    if (d < RANK_CERTIFY_MIN_D) return 0;
    double lmax = 0.0;
    linstab_error e = {0};
    if (linstab_sym_lambda_max(d, H, &lmax, &e) != LINSTAB_OK) return 0;
    *lambda1 = lmax;
    if (!(lmax > 0.0)) return 0;
    double *a = malloc(d * d * sizeof *a);
    if (a == NULL) return 0;
    memcpy(a, H, d * d * sizeof *a);
    for (size_t j = 0; j < d; j++) a[j * d + j] -= 4.0 * rtol * lmax;
    /* symmetric: the column-major factorisation reads the same matrix */
    int ok = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)d, a, (lapack_int)d) == 0;
    free(a);
    return ok;
}

/* ALIAS: when the range is all of R^d (and no rotation), *out = f itself
 * rather than a copy (linstab_family_restrict_take). */
/* KEEP_ALL: no rank threshold -- every eigenvector of the (possibly
 * indefinite or singular) mean is kept, so that only the basis turns. */
static linstab_status restrict_impl(const linstab_family *f, double rtol, int use_m2, int rotate, int alias,
                                    int keep_all, linstab_family **out, size_t *rank, double **Q_out,
                                    double **H_out, double *lambda1_out, linstab_error *err)
{
    double lambda1 = NAN;
    if (H_out) *H_out = NULL;
    if (lambda1_out) *lambda1_out = NAN;
    size_t n = f->n, d = f->d, k = f->k;
    *out = NULL;
    if (Q_out) *Q_out = NULL;
    if (f->kind == LINSTAB_FAMILY_FACTORED && !use_m2 && !keep_all && n * k < d)
        return restrict_by_gram(f, rtol <= 0.0 ? (double)d * DBL_EPSILON : rtol, out, rank, Q_out, err);
    double *Hm = alloc_touched(d * d);
    double *w = malloc(d * sizeof *w);
    double *V = NULL;
    double *Q = NULL;
    size_t *keep = NULL;
    linstab_status st = LINSTAB_OK;
    if (Hm == NULL || w == NULL) {
        st = oom(err, "range restriction");
        goto done;
    }
    double *M[2] = {use_m2 ? NULL : Hm, use_m2 ? Hm : NULL};
    st = linstab_family_moments(f, use_m2 ? 2 : 1, M, err);
    if (st != LINSTAB_OK) goto done;
    /* the default: numpy's matrix_rank rule for H, a sum of the samples;
     * M_2 is a sum of products, whose d-term dot products leave its null
     * eigenvalues at a few d eps ||M_2|| (2.0 d eps measured with
     * OpenBLAS's SkylakeX kernel): the rounding level 32 d eps there */
    if (rtol <= 0.0) rtol = (use_m2 ? 32.0 : 1.0) * (double)d * DBL_EPSILON;

    size_t r = 0;
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) {
        /* the eigenbasis of a diagonal H is the coordinate basis */
        double wmax = 0.0;
        for (size_t j = 0; j < d; j++) wmax = fmax(wmax, fabs(Hm[j * d + j]));
        keep = malloc(d * sizeof *keep);
        if (keep == NULL) {
            st = oom(err, "range restriction");
            goto done;
        }
        for (size_t j = 0; j < d; j++)
            if (keep_all || (wmax > 0.0 && Hm[j * d + j] > rtol * wmax)) keep[r++] = j;
        if (rotate) /* the eigenbasis in decreasing order: a stable insertion sort */
            for (size_t a = 1; a < r; a++) {
                size_t t = keep[a], b = a;
                for (; b > 0 && Hm[keep[b - 1] * d + keep[b - 1]] < Hm[t * d + t]; b--) keep[b] = keep[b - 1];
                keep[b] = t;
            }
    } else if (!rotate && full_rank_certified(d, Hm, rtol, &lambda1)) {
        r = d;
    } else {
        /* to rotate, the vectors at once; else eigenvalues first (the
         * vectors are needed only when the rank is short) */
        if (rotate) {
            V = malloc(d * d * sizeof *V);
            if (V == NULL) {
                st = oom(err, "range restriction");
                goto done;
            }
        }
        st = linstab_sym_eig(d, Hm, w, V, err);
        if (st != LINSTAB_OK) goto done;
        double wmax = fmax(fabs(w[0]), fabs(w[d - 1]));
        for (size_t j = 0; j < d; j++)
            if (keep_all || (wmax > 0.0 && w[j] > rtol * wmax)) r++;
        if (r > 0 && r < d && V == NULL) {
            V = malloc(d * d * sizeof *V);
            if (V == NULL) {
                st = oom(err, "range restriction");
                goto done;
            }
            st = linstab_sym_eig(d, Hm, w, V, err);
            if (st != LINSTAB_OK) goto done;
        }
    }
    if (r == 0) {
        st = linstab_error_set(err, LINSTAB_EDATA,
                               "the mean Hessian H is zero: the family has no range to analyse");
        goto done;
    }
    *rank = r;
    if (r == d && !rotate && alias && Q_out == NULL) {
        *out = (linstab_family *)f;
        if (H_out && !use_m2) { /* the family's own mean, and its top eigenvalue if known */
            *H_out = Hm;
            Hm = NULL;
            if (lambda1_out) *lambda1_out = lambda1;
        }
        goto done;
    }
    if (r == d && !rotate) {
        st = copy_family(f, out, err);
        if (st == LINSTAB_OK && Q_out) {
            Q = calloc(d * d, sizeof *Q);
            if (Q == NULL) {
                st = oom(err, "range restriction");
                goto done;
            }
            for (size_t j = 0; j < d; j++) Q[j * d + j] = 1.0;
        }
        goto done;
    }
    Q = calloc(d * r, sizeof *Q); /* d x r, columns by decreasing eigenvalue */
    if (Q == NULL) {
        st = oom(err, "range restriction");
        goto done;
    }
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) {
        for (size_t c = 0; c < r; c++) Q[keep[c] * r + c] = 1.0;
    } else {
        for (size_t row = 0; row < d; row++)
            for (size_t c = 0; c < r; c++) Q[row * r + c] = V[row * d + (d - 1 - c)];
    }
    st = linstab_family_alloc(f->kind, n, r, k, out, err);
    if (st != LINSTAB_OK) goto done;
    linstab_family *g = *out;
    switch (f->kind) {
    case LINSTAB_FAMILY_DIAGONAL:
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < r; c++) g->data[i * r + c] = f->data[i * d + keep[c]];
        break;
    case LINSTAB_FAMILY_FACTORED:
        /* U_i -> Q'U_i for every sample as one GEMM (n products of r x k x d
         * would stream Q from memory n times): rank one, the stored rows
         * are U (n x d) and the result U Q; else over the gathered
         * W = [U_1 ... U_n] (d x nk), Q'W scattered back per sample */
        if (k == 1) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)r, (int)d, 1.0, f->data, (int)d, Q,
                        (int)r, 0.0, g->data, (int)r);
        } else {
            size_t nk = n * k;
            double *W = family_gather_factors(f), *R = malloc(r * nk * sizeof *R);
            if (W == NULL || R == NULL) {
                free(W);
                free(R);
                st = oom(err, "range restriction");
                break;
            }
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)r, (int)nk, (int)d, 1.0, Q, (int)r, W,
                        (int)nk, 0.0, R, (int)nk);
            for (size_t i = 0; i < n; i++)
                for (size_t a = 0; a < r; a++)
                    memcpy(g->data + i * r * k + a * k, R + a * nk + i * k, k * sizeof *R);
            free(W);
            free(R);
        }
        break;
    case LINSTAB_FAMILY_DENSE: {
        double *T = malloc(d * r * sizeof *T);
        if (T == NULL) {
            st = oom(err, "range restriction");
            break;
        }
        for (size_t i = 0; i < n; i++) {
            cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)d, (int)r, 1.0,
                        f->data + i * d * d, (int)d, Q, (int)r, 0.0, T, (int)r);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)r, (int)r, (int)d, 1.0, Q,
                        (int)r, T, (int)r, 0.0, g->data + i * r * r, (int)r);
            linstab_sym_symmetrize(r, g->data + i * r * r);
        }
        free(T);
        break;
    }
    }
    if (st == LINSTAB_OK && f->lambda1 != NULL && family_cache_lambda1(g, f->lambda1) != 0)
        st = oom(err, "range restriction");
done:
    if (st != LINSTAB_OK) {
        linstab_family_free(*out);
        *out = NULL;
        free(Q);
        Q = NULL;
    } else if (*out != NULL && *out != f) {
        (*out)->d_full = f->d_full;
    }
    if (Q_out)
        *Q_out = Q;
    else
        free(Q);
    free(Hm);
    free(w);
    free(V);
    free(keep);
    return st;
}

linstab_status linstab_family_restrict(const linstab_family *f, double rtol, int use_m2,
                                       int rotate, linstab_family **out, size_t *rank, double **Q_out,
                                       linstab_error *err)
{
    return restrict_impl(f, rtol, use_m2, rotate, 0, 0, out, rank, Q_out, NULL, NULL, err);
}

linstab_status linstab_family_rotate_mean(const linstab_family *f, linstab_family **out, linstab_error *err)
{
    size_t r = 0;
    return restrict_impl(f, 0.0, 0, 1, 0, 1, out, &r, NULL, NULL, NULL, err);
}

linstab_status linstab_family_restrict_take(linstab_family **f, double rtol, int use_m2, size_t *rank,
                                             double **H, double *lambda1, linstab_error *err)
{
    linstab_family *out = NULL;
    linstab_status st = restrict_impl(*f, rtol, use_m2, 0, 1, 0, &out, rank, NULL, H, lambda1, err);
    if (st != LINSTAB_OK || out == *f) return st;
    linstab_family_free(*f);
    *f = out;
    return LINSTAB_OK;
}

void linstab_family_rotated_clear(linstab_rotated *rf)
{
    linstab_family_free(rf->f);
    free(rf->l);
    memset(rf, 0, sizeof *rf);
}

/* The rotated family of g, taken over (g is freed): H = diag(l) in its basis. */
linstab_status linstab_family_rotated_take(linstab_family *g, int turn, size_t d_full, linstab_rotated *out,
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
        linstab_family_rotated_clear(out);
        return linstab_error_set(err, LINSTAB_ENOMEM, "rotation: out of memory");
    }
    st = linstab_family_mean(out->f, H, err);
    for (size_t j = 0; st == LINSTAB_OK && j < r; j++) out->l[j] = H[j * r + j];
    free(H);
    out->d_full = d_full;
    if (st != LINSTAB_OK) linstab_family_rotated_clear(out);
    return st;
}

linstab_status linstab_family_rotated_make(const linstab_family *f, double rank_rtol, int use_m2,
                                    linstab_rotated *out, linstab_error *err)
{
    memset(out, 0, sizeof *out);
    size_t rank = 0;
    linstab_family *g = NULL;
    linstab_status st = linstab_family_restrict(f, rank_rtol, use_m2, 1, &g, &rank, NULL, err);
    if (st != LINSTAB_OK) return st;
    st = linstab_family_rotated_take(g, use_m2, f->d, out, err);
    if (st == LINSTAB_OK) out->m2_range = use_m2;
    return st;
}
