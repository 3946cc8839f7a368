/*
 * geometry.c -- sharpness, moments gaps s_k (Shin et al. Thm 9, (7)), the
 * coherence measure sigma (Dexter et al. Def. 2) and the gradient-noise
 * alignment gamma_min (Zhou et al. Assumption 4.1).  See docs/math.md §4-5.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "internal.h"
#include "lanczos.h"
#include "linstab/geometry.h"
#include "linstab/sym.h"

/* Differences of computed r x r matrices below this times their terms'
 * Frobenius norm are rounding (see geometry.h). */
#define ROUNDING_LEVEL(r) (32.0 * (double)(r) * DBL_EPSILON)

double linstab_geometry_signed_root(double x, int k)
{
    if (x == 0.0 || !isfinite(x)) return x;
    return x > 0.0 ? pow(x, 1.0 / k) : -pow(-x, 1.0 / k);
}

/* QUAD (factored families only, may be NULL): the blocks U_i' H U_i =
 * (1/n) sum_j (U_i'U_j)(U_i'U_j)' (n blocks k x k; rank one: n numbers),
 * from the same Gram matrix (caller frees). */
static linstab_status coherence_impl(const linstab_family *f, double *lambda1_S, double *sigma, double **quad,
                                     linstab_error *err)
{
    size_t n = f->n;
    double *G = alloc_touched(n * n);
    double *lam = malloc(n * sizeof *lam);
    if (G == NULL || lam == NULL) {
        free(G);
        free(lam);
        return linstab_error_set(err, LINSTAB_ENOMEM, "coherence: Gram matrix of %zu samples: out of memory", n);
    }
    linstab_status st = LINSTAB_OK;
    int rank_one = f->kind == LINSTAB_FAMILY_FACTORED && f->k == 1;
    if (rank_one) {
        /* sqrt(tr(H_i H_j)) = |u_i'u_j|: the Gram matrix of the stored rows */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)f->d, 1.0, f->data, (int)f->d, 0.0, G,
                    (int)n);
        linstab_sym_fill_lower(n, G);
        double *q = quad != NULL ? malloc(n * sizeof *q) : NULL;
        for (size_t i = 0; q != NULL && i < n; i++) q[i] = cblas_ddot((int)n, G + i * n, 1, G + i * n, 1) / (double)n;
        if (quad != NULL) *quad = q;
        for (size_t j = 0; j < n * n; j++) G[j] = fabs(G[j]);
    } else if (f->kind == LINSTAB_FAMILY_FACTORED && quad != NULL) {
        double *q = malloc(n * f->k * f->k * sizeof *q);
        st = q == NULL ? linstab_error_set(err, LINSTAB_ENOMEM, "coherence: out of memory")
                       : linstab_family_gram_quad(f, G, q, err);
        if (st == LINSTAB_OK) *quad = q;
        else free(q);
    } else {
        st = linstab_family_gram(f, G, err);
    }
    if (st == LINSTAB_OK) st = linstab_family_sample_lambda1(f, lam, err);
    double l1S = NAN;
    if (st == LINSTAB_OK) {
        /* tr(H_i H_j) >= 0 for PSD H_i; clamp rounding below zero */
        for (size_t j = 0; !rank_one && j < n * n; j++) G[j] = G[j] > 0.0 ? sqrt(G[j]) : 0.0;
        st = linstab_sym_lambda_max(n, G, &l1S, err);
    }
    if (st == LINSTAB_OK) {
        double lmax = -INFINITY;
        for (size_t i = 0; i < n; i++) lmax = fmax(lmax, lam[i]);
        if (lambda1_S) *lambda1_S = l1S;
        if (sigma) *sigma = lmax > 0.0 ? l1S / lmax : NAN;
    }
    free(G);
    free(lam);
    return st;
}

linstab_status linstab_geometry_coherence(const linstab_family *f, double *lambda1_S, double *sigma,
                                 linstab_error *err)
{
    return coherence_impl(f, lambda1_S, sigma, NULL, err);
}

static linstab_status gamma_impl(const linstab_family *f, const linstab_moments *m, const double *quad,
                                 double *gamma_min, int *definite, linstab_error *err);

linstab_status linstab_geometry_gamma_min(const linstab_family *f, const linstab_moments *m,
                                 double *gamma_min, linstab_error *err)
{
    int definite = 0;
    return gamma_impl(f, m, NULL, gamma_min, &definite, err);
}

#define PENCIL_LANCZOS_MIN_R 128

typedef struct pencil_op {
    size_t r;
    const double *L, *LA; /* H = L L', A = LA LA' (row-major lower) */
} pencil_op;

/* y = L' A^{-1} L x */
static void pencil_inverse_apply(const double *x, double *y, const void *ctx)
{
    const pencil_op *o = ctx;
    int r = (int)o->r;
    memcpy(y, x, o->r * sizeof *y);
    cblas_dtrmv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, r, o->L, r, y, 1);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, r, o->LA, r, y, 1);
    cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, r, o->LA, r, y, 1);
    cblas_dtrmv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, r, o->L, r, y, 1);
}

/* lambda_max(L' A^{-1} L) into *t when A has a Cholesky factor and Lanczos
 * converges; 0 otherwise (nothing is changed) */
static int pencil_inverse_top(size_t r, const double *A, const double *L, double *t)
{
    double *LA = malloc(r * r * sizeof *LA);
    int ok = 0;
    if (LA != NULL && linstab_sym_cholesky_lower(r, A, LA)) {
        pencil_op o = {r, L, LA};
        double v = 0.0;
        ok = linstab_lanczos_top(r, pencil_inverse_apply, &o, &v) && v > 0.0 && isfinite(v);
        if (ok) *t = v;
    }
    free(LA);
    return ok;
}

/* DEFINITE: OUT 1 when H's Cholesky factor exists (H positive definite on
 * the space), the condition for gamma_min to be defined. */
static linstab_status gamma_impl(const linstab_family *f, const linstab_moments *m, const double *quad,
                                 double *gamma_min, int *definite, linstab_error *err)
{
    size_t r = m->r, rr = r * r;
    double *A = alloc_touched(rr);
    double *L = malloc(rr * sizeof *L);
    double mu = 0.0;
    *gamma_min = NAN;
    linstab_status st = LINSTAB_OK;
    if (A == NULL || L == NULL) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "gamma_min: out of memory");
        goto done;
    }
    /* H = L L' on R; H not positive definite on R: gamma_min undefined */
    *definite = 0;
    if (!linstab_sym_cholesky_lower(r, m->Hp[0], L)) goto done;
    *definite = 1;
    /* factored with quad = U_i' H U_i known: (1/n) sum_i H_i H H_i = (1/n) sum_i U_i quad_i U_i' */
    st = quad != NULL ? linstab_family_factored_weighted(f, quad, A, err)
                      : linstab_family_sandwich_chol(f, m->Hp[0], L, A, err);
    if (st != LINSTAB_OK) goto done;
    double fro2 = 0.0, sf = 0.0, af = 0.0;
    for (size_t j = 0; j < rr; j++) {
        sf += A[j] * A[j];
        A[j] -= m->Hp[2][j]; /* A = (1/n) sum H_i H H_i - H^3 */
        af += A[j] * A[j];
        fro2 += m->Hp[0][j] * m->Hp[0][j];
    }
    if (sqrt(af) <= ROUNDING_LEVEL(r) * sqrt(sf) && fro2 > 0.0) {
        *gamma_min = 0.0; /* A = 0 within rounding: the samples agree on R */
        goto done;
    }
    /* A positive definite (and r large enough for Lanczos): the pencil's
     * smallest eigenvalue is 1/lambda_max(L' A^{-1} L) through A's own
     * Cholesky factor, two triangular products and two solves per step,
     * no reduction of A to L^{-1} A L^{-T} (r^3 flops) */
    if (r >= PENCIL_LANCZOS_MIN_R) {
        double t = 0.0;
        if (pencil_inverse_top(r, A, L, &t)) {
            *gamma_min = (1.0 / t) / fro2;
            goto done;
        }
    }
    /* the smallest eigenvalue of the pencil (A, H) is that of L^{-1} A L^{-T}
     * (what dsygvx does, here with H's factor reused and, everything being
     * symmetric, column-major calls that need no transposed copies: the
     * row-major lower L is the column-major upper factor of H = U'U) */
    lapack_int N = (lapack_int)r;
    lapack_int info = LAPACKE_dsygst(LAPACK_COL_MAJOR, 1, 'U', N, A, N, L, N);
    if (info != 0) {
        st = linstab_error_set(err, LINSTAB_ELAPACK, "gamma_min: LAPACK dsygst info %d", (int)info);
        goto done;
    }
    /* C = L^{-1} A L^{-T} is in the row-major lower triangle; its smallest
     * eigenvalue (C is PSD: through its Cholesky factor when it has one) */
    linstab_sym_fill_upper(r, A);
    st = linstab_sym_lambda_min_psd(r, A, &mu, err);
    if (st == LINSTAB_OK) *gamma_min = fmax(mu, 0.0) / fro2; /* A is PSD: a negative mu_min is rounding */
done:
    free(A);
    free(L);
    return st;
}

linstab_status linstab_geometry_compute(const linstab_family *fr, const linstab_moments *m,
                                        size_t d_full, linstab_geometry *g, linstab_error *err)
{
    size_t r = fr->d, rr = r * r;
    memset(g, 0, sizeof *g);
    g->n = fr->n;
    g->d = d_full;
    g->rank = r;
    g->space_dim = r;
    g->lambda_min = NAN;
    const double *H = m->Hp[0];
    for (size_t j = 0; j < r; j++) g->trace += H[j * r + j];
    for (size_t j = 0; j < rr; j++) g->frobenius += H[j] * H[j];
    g->frobenius = sqrt(g->frobenius);
    linstab_status st = LINSTAB_OK;
    if (isfinite(m->lambda1))
        g->sharpness = m->lambda1; /* the same Lanczos on the same H already ran */
    else
        st = linstab_sym_lambda_max(r, H, &g->sharpness, err);
    if (st != LINSTAB_OK) return st;

    double *lam = malloc(fr->n * sizeof *lam);
    double *D = malloc(rr * sizeof *D);
    if (lam == NULL || D == NULL) {
        free(lam);
        free(D);
        return linstab_error_set(err, LINSTAB_ENOMEM, "geometry: out of memory");
    }
    st = linstab_family_sample_lambda1(fr, lam, err);
    g->max_individual_sharpness = -INFINITY;
    for (size_t i = 0; st == LINSTAB_OK && i < fr->n; i++)
        g->max_individual_sharpness = fmax(g->max_individual_sharpness, lam[i]);
    double gaps[3] = {0};
    for (int p = 2; st == LINSTAB_OK && p <= 4; p++) {
        const double *Mp = m->M[p - 1], *Hq = m->Hp[p - 1];
        for (size_t j = 0; j < rr; j++) D[j] = Mp[j] - Hq[j];
        double mf = 0.0; /* serial: the same sum for any thread count */
        for (size_t j = 0; j < rr; j++) mf += Mp[j] * Mp[j];
        st = linstab_sym_lambda_max(r, D, &gaps[p - 2], err);
        if (fabs(gaps[p - 2]) <= ROUNDING_LEVEL(r) * sqrt(mf)) gaps[p - 2] = 0.0;
    }
    free(lam);
    free(D);
    if (st != LINSTAB_OK) return st;
    g->m2_gap = gaps[0];
    g->m3_gap = gaps[1];
    g->m4_gap = gaps[2];
    g->s2 = linstab_geometry_signed_root(gaps[0], 2);
    g->s3 = linstab_geometry_signed_root(gaps[1], 3);
    g->s4 = linstab_geometry_signed_root(gaps[2], 4);
    /* factored: U_i' H U_i for the sandwich of gamma_min from the coherence's Gram matrix */
    double *quad = NULL;
    int factored = fr->kind == LINSTAB_FAMILY_FACTORED;
    st = coherence_impl(fr, &g->lambda1_S, &g->sigma, factored ? &quad : NULL, err);
    if (st == LINSTAB_OK) st = gamma_impl(fr, m, quad, &g->gamma_min, &g->definite, err);
    free(quad);
    /* H not positive definite on the space (an indefinite family, analysed
     * on range(M_2)): its own rank and smallest eigenvalue, from all its
     * eigenvalues (such families are small: exact Hessians) */
    if (st == LINSTAB_OK && !g->definite) st = linstab_geometry_lambda_min(m, g, err);
    return st;
}

linstab_status linstab_geometry_lambda_min(const linstab_moments *m, linstab_geometry *g, linstab_error *err)
{
    size_t r = m->r;
    if (g->definite) {
        /* H positive definite on the space (its Cholesky factor exists; the
         * rank is the space's): the bottom by inverse iteration's Lanczos,
         * not all r eigenvalues */
        double lmin = NAN;
        linstab_status st = linstab_sym_lambda_min_psd(r, m->Hp[0], &lmin, err);
        if (st != LINSTAB_OK) return st;
        g->lambda_min = g->d > r && lmin > 0.0 ? 0.0 : lmin;
        return LINSTAB_OK;
    }
    double *w = malloc(r * sizeof *w), *a = malloc(r * r * sizeof *a);
    if (w == NULL || a == NULL) {
        free(w);
        free(a);
        return linstab_error_set(err, LINSTAB_ENOMEM, "lambda_min(H): out of memory");
    }
    memcpy(a, m->Hp[0], r * r * sizeof *a);
    linstab_status st = linstab_sym_eig(r, a, w, NULL, err);
    if (st == LINSTAB_OK) {
        /* numpy's matrix_rank rule on |eigenvalues| */
        double wmax = fmax(fabs(w[0]), fabs(w[r - 1])), tol = (double)g->d * DBL_EPSILON * wmax;
        size_t rank = 0;
        for (size_t j = 0; j < r; j++) rank += fabs(w[j]) > tol;
        g->rank = rank;
        g->lambda_min = w[0];
        /* beyond the space every H_i vanishes: eigenvalue 0 of H in R^d */
        if (g->d > r && g->lambda_min > 0.0) g->lambda_min = 0.0;
    }
    free(w);
    free(a);
    return st;
}
