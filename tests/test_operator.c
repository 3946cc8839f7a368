/*
 * test_operator.c -- svec / smat and the dense form of an operator.
 *
 * svec is an isometry Sym(r) -> R^{r(r+1)/2} (<X, Y> = tr(XY) =
 * svec(X)'svec(Y)), smat its inverse; linstab_operator_dense forms a known
 * non-symmetric matrix column by column, and defers to form_dense when given;
 * the second-moment operators' form_dense equals their apply, column by
 * column (two algorithms), for every method, B = 1 and B = n, rho = 0 and a
 * rank-deficient family.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/operator.h"
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "testutil.h"

#define EPS 2.220446049250313e-16

Test(svec, dimension_is_r_r_plus_1_over_2)
{
    for (size_t r = 0; r < 50; r++) cr_assert_eq(linstab_svec_dim(r), r * (r + 1) / 2);
}

Test(svec, scales_off_diagonal_entries_by_sqrt2_row_by_row)
{
    double X[9] = {1, 2, 3, 2, 4, 5, 3, 5, 6}, x[6];
    linstab_svec(3, X, x);
    double s = sqrt(2.0), want[6] = {1, 2 * s, 3 * s, 4, 5 * s, 6};
    for (int p = 0; p < 6; p++) cr_assert(fabs(x[p] - want[p]) <= 2 * EPS * fabs(want[p]), "x[%d] = %g", p, x[p]);
    /* only the upper triangle is read */
    double Y[9] = {1, 2, 3, -7, 4, 5, -8, -9, 6}, y[6];
    linstab_svec(3, Y, y);
    cr_assert_eq(memcmp(x, y, sizeof x), 0);
}

Test(svec, is_an_isometry_and_smat_inverts_it)
{
    gsl_rng *g = tu_rng(3);
    for (size_t r = 1; r <= 7; r++) {
        size_t m = linstab_svec_dim(r);
        double *X = malloc(r * r * sizeof *X), *Y = malloc(r * r * sizeof *Y), *Z = malloc(r * r * sizeof *Z);
        double *x = malloc(m * sizeof *x), *y = malloc(m * sizeof *y);
        tu_gauss(g, X, r * r);
        tu_gauss(g, Y, r * r);
        for (size_t a = 0; a < r; a++)
            for (size_t b = 0; b < a; b++) {
                X[a * r + b] = X[b * r + a];
                Y[a * r + b] = Y[b * r + a];
            }
        linstab_svec(r, X, x);
        linstab_svec(r, Y, y);
        double tr = 0.0, dot = 0.0, scale = 0.0;
        for (size_t a = 0; a < r * r; a++) {
            tr += X[a] * Y[a]; /* tr(XY) = sum_ab X_ab Y_ba = sum_ab X_ab Y_ab */
            scale += fabs(X[a] * Y[a]);
        }
        for (size_t p = 0; p < m; p++) dot += x[p] * y[p];
        cr_assert(fabs(tr - dot) <= 4 * r * r * EPS * scale, "r = %zu: tr(XY) %.17g, svec dot %.17g", r, tr, dot);
        linstab_svec_smat(r, x, Z);
        for (size_t a = 0; a < r * r; a++)
            cr_assert(fabs(Z[a] - X[a]) <= 2 * EPS * fabs(X[a]), "r = %zu entry %zu", r, a);
        free(X);
        free(Y);
        free(Z);
        free(x);
        free(y);
    }
    gsl_rng_free(g);
}

/* y = A x for a fixed 3 x 3 non-symmetric A */
static const double A3[9] = {1, 2, 0, -1, 3, 4, 5, 0, -2};
static linstab_status apply_A3(const double *x, double *y, void *ctx, linstab_error *err)
{
    (void)ctx;
    (void)err;
    for (int i = 0; i < 3; i++) y[i] = A3[i * 3] * x[0] + A3[i * 3 + 1] * x[1] + A3[i * 3 + 2] * x[2];
    return LINSTAB_OK;
}
static linstab_status form_seven(double *A, void *ctx, linstab_error *err)
{
    (void)ctx;
    (void)err;
    for (int j = 0; j < 9; j++) A[j] = 7.0;
    return LINSTAB_OK;
}

Test(operator_dense, forms_the_matrix_column_by_column_or_by_form_dense)
{
    linstab_operator op = {3, apply_A3, NULL, NULL, 0, NULL};
    double A[9];
    linstab_error err;
    cr_assert_eq(linstab_operator_dense(&op, A, &err), LINSTAB_OK);
    cr_assert_eq(memcmp(A, A3, sizeof A), 0, "row-major, A[i][j] = (A e_j)_i");
    op.form_dense = form_seven;
    cr_assert_eq(linstab_operator_dense(&op, A, &err), LINSTAB_OK);
    for (int j = 0; j < 9; j++) cr_assert_eq(A[j], 7.0);
}

/* form_dense of a second-moment operator against its apply, column by column */
static void check_secmom(const linstab_family *f, linstab_optimizer method, double eta, double rho, size_t B,
                         linstab_sampling s)
{
    linstab_rotated rf = tu_rotate(f);
    double a, b;
    linstab_sampling_coeffs(s, f->n, B, &a, &b);
    linstab_secmom *sm = NULL;
    linstab_error err;
    cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, method, eta, rho, a, b, &sm, &err), LINSTAB_OK);
    linstab_operator op = linstab_secmom_operator(sm);
    size_t m = op.dim;
    cr_assert_eq(m, linstab_svec_dim(rf.f->d));
    double *D = malloc(m * m * sizeof *D), *e = calloc(m, sizeof *e), *col = malloc(m * sizeof *col);
    cr_assert_not_null(op.form_dense);
    cr_assert_eq(op.form_dense(D, op.ctx, &err), LINSTAB_OK);
    double l1 = rf.l[0], nrm = (1.0 + eta * l1 * (1.0 + rho * l1)) * (1.0 + eta * l1 * (1.0 + rho * l1));
    double mx = 0.0, *lam = malloc(f->n * sizeof *lam);
    cr_assert_eq(linstab_family_sample_lambda1(f, lam, &err), LINSTAB_OK);
    for (size_t q = 0; q < f->n; q++) mx = fmax(mx, lam[q]);
    free(lam);
    /* entries of products of at most 4 samples and 2 eta: c m eps ||T||, c = 64,
     * with ||T|| <= (1 + eta L (1 + rho L))^2 (1 + rho L)^2 for L = max lambda1(H_i) */
    double bound = (1.0 + eta * mx * (1.0 + rho * mx)) * (1.0 + eta * mx * (1.0 + rho * mx)) * (1.0 + rho * mx) * (1.0 + rho * mx);
    double tol = 64.0 * m * EPS * fmax(nrm, bound);
    for (size_t j = 0; j < m; j++) {
        e[j] = 1.0;
        cr_assert_eq(op.apply(e, col, op.ctx, &err), LINSTAB_OK, "%s", err.msg);
        e[j] = 0.0;
        for (size_t i = 0; i < m; i++)
            cr_assert(fabs(D[i * m + j] - col[i]) <= tol, "method %d B %zu %s rho %g: entry (%zu, %zu) dense %.17g, apply %.17g",
                      (int)method, B, linstab_sampling_name(s), rho, i, j, D[i * m + j], col[i]);
    }
    if (op.self_adjoint)
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < i; j++) cr_assert(fabs(D[i * m + j] - D[j * m + i]) <= tol);
    /* the adjoint: <y, T x> = <T' y, x> */
    if (op.apply_adjoint != NULL) {
        for (size_t j = 0; j < m; j++) {
            e[j] = 1.0;
            cr_assert_eq(op.apply_adjoint(e, col, op.ctx, &err), LINSTAB_OK, "%s", err.msg);
            e[j] = 0.0;
            for (size_t i = 0; i < m; i++) cr_assert(fabs(D[j * m + i] - col[i]) <= tol, "adjoint entry (%zu, %zu)", j, i);
        }
    }
    free(D);
    free(e);
    free(col);
    linstab_secmom_free(sm);
    linstab_family_rotated_clear(&rf);
}

Test(operator_dense, second_moment_form_dense_equals_apply_for_every_method)
{
    linstab_family *fs[3] = {tu_family_dense(5, 4, 4, 1), tu_family_dense(5, 4, 1, 2), /* rank-deficient */
                             tu_family_factored(4, 6, 1, 3)};
    linstab_optimizer methods[3] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_INDEP, LINSTAB_OPT_SAM_SAME};
    linstab_sampling ss[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH};
    for (int k = 0; k < 3; k++)
        for (int q = 0; q < 3; q++)
            for (int si = 0; si < 3; si++) {
                size_t n = fs[k]->n;
                check_secmom(fs[k], methods[q], 0.4, 0.0, 1, ss[si]);
                check_secmom(fs[k], methods[q], 0.4, 0.3, 2, ss[si]);
                check_secmom(fs[k], methods[q], 0.4, 0.3, n, ss[si]);
            }
    for (int k = 0; k < 3; k++) linstab_family_free(fs[k]);
}

/* M(X) = (1/n) sum_i H_i X H_i in svec coordinates, column by column from
 * the dense samples: Ms[p][q] = <E_p, M(E_q)> */
static void sandwich_case(const linstab_family *f)
{
    size_t d = f->d, m = linstab_svec_dim(d), n = f->n;
    double *Ms = malloc(m * m * sizeof *Ms), *E = malloc(d * d * sizeof *E), *Y = calloc(d * d, sizeof *Y);
    double *H = malloc(n * d * d * sizeof *H), *T = malloc(d * d * sizeof *T), *e = calloc(m, sizeof *e), *y = malloc(m * sizeof *y);
    linstab_error err;
    cr_assert_eq(linstab_family_sandwich_svec(f, Ms, &err), LINSTAB_OK, "%s", err.msg);
    double L = 0.0;
    for (size_t i = 0; i < n; i++) {
        linstab_family_sample_dense(f, i, H + i * d * d);
        for (size_t q = 0; q < d * d; q++) L = fmax(L, fabs(H[i * d * d + q]));
    }
    for (size_t q = 0; q < m; q++) {
        e[q] = 1.0;
        linstab_svec_smat(d, e, E);
        e[q] = 0.0;
        memset(Y, 0, d * d * sizeof *Y);
        for (size_t i = 0; i < n; i++) {
            const double *Hi = H + i * d * d;
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < d; b++) {
                    double s = 0.0;
                    for (size_t c = 0; c < d; c++) s += E[a * d + c] * Hi[c * d + b];
                    T[a * d + b] = s;
                }
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < d; b++) {
                    double s = 0.0;
                    for (size_t c = 0; c < d; c++) s += Hi[a * d + c] * T[c * d + b];
                    Y[a * d + b] += s / (double)n;
                }
        }
        linstab_svec(d, Y, y);
        /* sums of d^2 products of two entries <= L: c d^2 eps L^2 */
        for (size_t p = 0; p < m; p++)
            cr_assert(fabs(Ms[p * m + q] - y[p]) <= tu_tol(d * d, 1.0) * L * L * d,
                      "kind %d (%zu, %zu): %.17g vs %.17g", (int)f->kind, p, q, Ms[p * m + q], y[p]);
    }
    free(Ms);
    free(E);
    free(Y);
    free(H);
    free(T);
    free(e);
    free(y);
}

Test(operator_dense, sandwich_svec_is_the_mean_sandwich_in_svec_coordinates)
{
    linstab_family *fs[4] = {tu_family_dense(4, 3, 3, 81), tu_family_dense(3, 4, 1, 82), tu_family_factored(4, 4, 2, 83),
                             tu_family_004(6, 2)};
    for (int k = 0; k < 4; k++) {
        sandwich_case(fs[k]);
        linstab_family_free(fs[k]);
    }
}
