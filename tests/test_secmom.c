/*
 * test_secmom.c -- second-moment operators: every batch enumerated (SGD,
 * independent-batch SAM), matrix-free apply vs dense form vs the Lanczos and
 * LAPACK paths, the adjoint, GD's closed form, and Monte Carlo second
 * moments E[w_k w_k'] against T^k(W_0).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/critical.h"
#include "linstab/eigen.h"
#include "linstab/exact.h"
#include "linstab/secmom.h"
#include "linstab/simulate.h"
#include "testutil.h"

enum { N = 4, D = 3, DD = D * D };

static linstab_family *factored(unsigned long seed)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, N, D, 2, &f, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, f->data, N * D * 2);
    for (size_t j = 0; j < N * D * 2; j++) f->data[j] *= 0.6;
    gsl_rng_free(r);
    return f;
}

static void mm(const double *A, const double *B, double *C)
{
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            double s = 0.0;
            for (int k = 0; k < D; k++) s += A[i * D + k] * B[k * D + j];
            C[i * D + j] = s;
        }
}

/* Y += p J X J' */
static void add_jxj(const double *J, const double *X, double p, double *Y)
{
    double T[DD], Jt[DD], U[DD];
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) Jt[i * D + j] = J[j * D + i];
    mm(J, X, T);
    mm(T, Jt, U);
    for (int j = 0; j < DD; j++) Y[j] += p * U[j];
}

/* all batches of a scheme: calls fn(count, prob) */
static void batches(linstab_sampling s, int B, void (*fn)(const int *, double, void *), void *ctx)
{
    int count[N];
    if (s == LINSTAB_SAMPLING_WITH) {
        int total = 1;
        for (int k = 0; k < B; k++) total *= N;
        for (int code = 0; code < total; code++) {
            memset(count, 0, sizeof count);
            for (int k = 0, c = code; k < B; k++, c /= N) count[c % N]++;
            fn(count, 1.0 / total, ctx);
        }
        return;
    }
    int nsub = 0;
    for (int m = 0; m < 1 << N; m++) nsub += __builtin_popcount((unsigned)m) == B;
    for (int m = 0; m < 1 << N; m++) {
        int size = __builtin_popcount((unsigned)m);
        double p = s == LINSTAB_SAMPLING_WITHOUT ? (size == B ? 1.0 / nsub : 0.0)
                                                 : pow((double)B / N, size) * pow(1.0 - (double)B / N, N - size);
        if (p == 0.0) continue;
        for (int i = 0; i < N; i++) count[i] = m >> i & 1;
        fn(count, p, ctx);
    }
}

typedef struct ctx {
    const double *Hs; /* N dense samples */
    double eta, rho;
    int B;
    linstab_sampling s;
    const double *X;
    double *Y;
    const int *count1; /* outer batch (SAM independent) */
    double p1;
} ctx;

static void hhat(const double *Hs, const int *count, int B, double *Hh)
{
    memset(Hh, 0, DD * sizeof *Hh);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < DD; j++) Hh[j] += count[i] * Hs[i * DD + j] / B;
}

static void sgd_batch(const int *count, double p, void *v)
{
    ctx *c = v;
    double Hh[DD], J[DD];
    hhat(c->Hs, count, c->B, Hh);
    for (int j = 0; j < DD; j++) J[j] = -c->eta * Hh[j];
    for (int a = 0; a < D; a++) J[a * D + a] += 1.0;
    add_jxj(J, c->X, p, c->Y);
}

static void indep_inner(const int *count2, double p2, void *v)
{
    ctx *c = v;
    double H1[DD], H2[DD], T[DD], J[DD];
    hhat(c->Hs, c->count1, c->B, H1);
    hhat(c->Hs, count2, c->B, H2);
    for (int j = 0; j < DD; j++) H2[j] *= c->rho;
    for (int a = 0; a < D; a++) H2[a * D + a] += 1.0; /* I + rho Hhat2 */
    mm(H1, H2, T);
    for (int j = 0; j < DD; j++) J[j] = -c->eta * T[j];
    for (int a = 0; a < D; a++) J[a * D + a] += 1.0;
    add_jxj(J, c->X, c->p1 * p2, c->Y);
}

static void indep_outer(const int *count1, double p1, void *v)
{
    ctx *c = v;
    c->count1 = count1;
    c->p1 = p1;
    batches(c->s, c->B, indep_inner, c);
}

Test(secmom, sgd_and_independent_sam_operators_equal_enumeration_of_every_batch)
{
    linstab_family *f = factored(1);
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_family_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK);
    double Hs[N * DD], X[DD] = {1.0, 0.2, -0.3, 0.2, 0.5, 0.1, -0.3, 0.1, 0.8}, Y[DD], want[DD];
    for (int i = 0; i < N; i++) linstab_family_sample_dense(rf.f, (size_t)i, Hs + i * DD);
    linstab_sampling schemes[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH};
    for (int sc = 0; sc < 3; sc++)
        for (int B = 1; B <= N; B++)
            for (int method = 0; method < 2; method++) {
                double a, b;
                linstab_sampling_coeffs(schemes[sc], N, (size_t)B, &a, &b);
                linstab_secmom *s = NULL;
                linstab_optimizer m = method ? LINSTAB_OPT_SAM_INDEP : LINSTAB_OPT_SGD;
                cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, m, 0.4, 0.6, a, b, &s, &err), LINSTAB_OK);
                cr_assert_eq(linstab_secmom_apply(s, X, Y, &err), LINSTAB_OK, "%s", err.msg);
                memset(want, 0, sizeof want);
                ctx c = {Hs, 0.4, 0.6, B, schemes[sc], X, want, NULL, 0.0};
                batches(schemes[sc], B, method ? indep_outer : sgd_batch, &c);
                /* entries O(1), sums of <= 256^2 terms: 1e-12 */
                cr_expect_lt(tu_rel_diff(Y, want, DD), 1e-12, "scheme %d B %d method %d", sc, B, method);
                linstab_secmom_free(s);
            }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* The dense svec matrix, the column-by-column matrix, and the adjoint. */
Test(secmom, dense_form_equals_matrix_free_columns_and_the_adjoint_is_the_transpose)
{
    linstab_family *f = factored(2);
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_family_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK);
    size_t m = rf.f->d * (rf.f->d + 1) / 2;
    double *A = malloc(m * m * sizeof *A), *Bm = malloc(m * m * sizeof *Bm), *At = malloc(m * m * sizeof *At);
    for (int method = 0; method < 2; method++) {
        linstab_secmom *s = NULL;
        cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, method ? LINSTAB_OPT_SAM_INDEP : LINSTAB_OPT_SGD,
                                          0.3, 0.5, 0.5, 0.2, &s, &err),
                     LINSTAB_OK);
        linstab_operator op = linstab_secmom_operator(s);
        cr_assert_eq(linstab_operator_dense(&op, A, &err), LINSTAB_OK);
        linstab_operator cols = op;
        cols.form_dense = NULL;
        cr_assert_eq(linstab_operator_dense(&cols, Bm, &err), LINSTAB_OK);
        cr_expect_lt(tu_rel_diff(A, Bm, m * m), 1e-13, "method %d", method);
        cols.apply = op.apply_adjoint;
        cr_assert_eq(linstab_operator_dense(&cols, At, &err), LINSTAB_OK);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++) cr_expect_lt(fabs(At[i * m + j] - Bm[j * m + i]), 1e-13);
        if (method == 0) /* SGD: self-adjoint */
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < m; j++) cr_expect_lt(fabs(A[i * m + j] - A[j * m + i]), 1e-13);
        linstab_secmom_free(s);
    }
    free(A);
    free(Bm);
    free(At);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(secmom, gd_radius_and_lanczos_agree_with_the_closed_form_and_lapack)
{
    linstab_family *f = factored(3);
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_family_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK);
    /* GD: radius = max_j (1 - eta l_j)^2 */
    linstab_secmom *s = NULL;
    cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_OPT_SGD, 0.7, 0.0, 1.0, 0.0, &s, &err), LINSTAB_OK);
    linstab_eigen_opts dense = linstab_eigen_defaults(), arpack = dense;
    dense.path = LINSTAB_EIGEN_DENSE;
    arpack.path = LINSTAB_EIGEN_ARPACK;
    double r1, r2, want = 0.0;
    for (size_t j = 0; j < rf.f->d; j++) want = fmax(want, pow(1.0 - 0.7 * rf.l[j], 2));
    cr_assert_eq(linstab_secmom_radius(s, &dense, &r1, &err), LINSTAB_OK);
    /* a symmetric operator's radius = its norm: relative c m eps */
    cr_expect_lt(tu_rel(r1, want, 1e-300), tu_tol(rf.f->d * (rf.f->d + 1) / 2, 1.0));
    linstab_secmom_free(s);
    /* SGD with noise: Lanczos (ARPACK) vs LAPACK */
    cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_OPT_SGD, 0.7, 0.0, 0.5, 0.25, &s, &err), LINSTAB_OK);
    cr_assert_eq(linstab_secmom_radius(s, &dense, &r1, &err), LINSTAB_OK);
    cr_assert_eq(linstab_secmom_radius(s, &arpack, &r2, &err), LINSTAB_OK);
    cr_expect_lt(tu_rel(r2, r1, 1e-300), 1e-10);
    linstab_secmom_free(s);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* The matrix-free SGD radius goes through Lanczos on C^{-1} (CG solves)
 * below eta*, and falls back to Lanczos on T above it.  A rank-one family
 * whose H has a wide spectrum (eigenvalues clustered near 0, as for n ~ d)
 * is the hard case; every answer must equal LAPACK on the dense operator,
 * including 1 - radius (the smallest eigenvalue of C, which carries the
 * convergence rate) to 1e-8 relative. */
static void matrix_free_radius_case(linstab_family *f, size_t rank)
{
    size_t n = f->n;
    linstab_error err;
    linstab_rotated rf;
    cr_assert_eq(linstab_family_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK);
    cr_assert_eq(rf.f->d, rank);
    double coeffs[2][2] = {{(double)n * 4.0 / (5.0 * (double)(n - 1)), (double)(n - 5) / (5.0 * (double)(n - 1))}, /* without, B = 5 */
                           {0.0, 1.0}};                                                                     /* B = 1, with */
    linstab_eigen_opts dense = linstab_eigen_defaults(), arpack = dense;
    dense.path = LINSTAB_EIGEN_DENSE;
    arpack.path = LINSTAB_EIGEN_ARPACK;
    for (int c = 0; c < 2; c++) {
        double a = coeffs[c][0], b = coeffs[c][1], eta_star;
        cr_assert_eq(linstab_critical_eta(rf.f, rf.l, a, b, &dense, &eta_star, &err), LINSTAB_OK);
        const double fr[5] = {1e-3, 0.3, 0.9, 0.999, 1.2};
        for (int q = 0; q < 5; q++) {
            double eta = fr[q] * eta_star, r1, r2;
            linstab_secmom *s = NULL;
            cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_OPT_SGD, eta, 0.0, a, b, &s, &err), LINSTAB_OK);
            cr_assert_eq(linstab_secmom_radius(s, &dense, &r1, &err), LINSTAB_OK);
            cr_assert_eq(linstab_secmom_radius(s, &arpack, &r2, &err), LINSTAB_OK, "%s", err.msg);
            cr_expect_lt(tu_rel(r2, r1, 1e-300), 1e-12, "coeffs %d eta %g eta*: %.17g vs %.17g", c, fr[q], r2, r1);
            cr_expect_lt(tu_rel(1.0 - r2, 1.0 - r1, 1e-300), fr[q] < 1.0 ? 1e-8 : 1e-6,
                         "coeffs %d eta %g eta*: 1 - radius %.6g vs %.6g", c, fr[q], 1.0 - r2, 1.0 - r1);
            cr_expect_eq(r2 <= 1.0, fr[q] < 1.0);
            linstab_secmom_free(s);
        }
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* (the LOBPCG route first, then shift-invert, then Lanczos on T) */
Test(secmom, shift_invert_radius_equals_lapack_below_and_above_eta_star)
{
    size_t n = 40, d = 30;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 1, &f, &err), LINSTAB_OK);
    gsl_rng *g = tu_rng(77);
    tu_gauss(g, f->data, n * d);
    gsl_rng_free(g);
    matrix_free_radius_case(f, d);
}

/* the same on a rank-deficient rank-one family (n < d: H restricted to its
 * range, B = n - 1 and B = 1), a factored k = 2 family and a dense one */
Test(secmom, matrix_free_radius_equals_lapack_on_rank_deficient_factored_and_dense_families)
{
    size_t n = 20, d = 32;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, d, 1, &f, &err), LINSTAB_OK);
    gsl_rng *g = tu_rng(78);
    tu_gauss(g, f->data, n * d);
    gsl_rng_free(g);
    matrix_free_radius_case(f, n);
    matrix_free_radius_case(tu_family_factored(12, 9, 2, 79), 9);
    matrix_free_radius_case(tu_family_dense(15, 8, 3, 80), 8);
}

/* E[w_k w_k'] over many runs = T^k(W_0) with W_0 = w_0 w_0' (deterministic
 * start).  A mean-square-stable setting keeps the tails light; each entry is
 * compared within 5 standard errors of its sample mean. */
Test(secmom, monte_carlo_second_moments_match_the_operator)
{
    linstab_family *f = factored(4);
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_family_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK);
    size_t r = rf.f->d, K = 4, runs = 40000;
    double eta = 0.3, rho = 0.4;
    linstab_optimizer dyn[2] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_INDEP};
    linstab_optimizer meth[2] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_INDEP};
    for (int t = 0; t < 2; t++) {
        double a, b;
        linstab_sampling_coeffs(LINSTAB_SAMPLING_WITHOUT, N, 2, &a, &b);
        linstab_secmom *s = NULL;
        cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, meth[t], eta, rho, a, b, &s, &err), LINSTAB_OK);
        double w0[3] = {0.6, -0.8, 0.3}, W[9], Wn[9];
        for (size_t i = 0; i < r; i++)
            for (size_t j = 0; j < r; j++) W[i * r + j] = w0[i] * w0[j];
        for (size_t k = 0; k < K; k++) {
            cr_assert_eq(linstab_secmom_apply(s, W, Wn, &err), LINSTAB_OK, "%s", err.msg);
            memcpy(W, Wn, r * r * sizeof *W);
        }
        linstab_sim *sim = NULL;
        cr_assert_eq(linstab_simulate_alloc(rf.f, dyn[t], eta, rho, 2, LINSTAB_SAMPLING_WITHOUT, &sim, &err), LINSTAB_OK);
        gsl_rng *g = linstab_rng_stream(77, (uint64_t)t);
        double sum[9] = {0}, sum2[9] = {0}, w[3];
        for (size_t run = 0; run < runs; run++) {
            memcpy(w, w0, r * sizeof *w);
            for (size_t k = 0; k < K; k++) linstab_simulate_step(sim, g, w);
            for (size_t i = 0; i < r; i++)
                for (size_t j = 0; j < r; j++) {
                    double v = w[i] * w[j];
                    sum[i * r + j] += v;
                    sum2[i * r + j] += v * v;
                }
        }
        for (size_t e = 0; e < r * r; e++) {
            double mean = sum[e] / runs, var = sum2[e] / runs - mean * mean;
            double se = sqrt(fmax(var, 0.0) / runs);
            cr_expect_lt(fabs(mean - W[e]), 5.0 * se + 1e-12, "dynamics %d entry %zu: %g vs %g (se %g)", t, e, mean, W[e], se);
        }
        gsl_rng_free(g);
        linstab_simulate_free(sim);
        linstab_secmom_free(s);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ---- issue 10 additions: full-batch SAM apply, the diagonal fast path ---- */

Test(secmom, full_batch_sam_apply_is_J_X_J_with_J_diagonal_in_the_eigenbasis)
{
    /* SAM_FULL on the rotated family: J = I - eta (L + rho L^2), L = diag(l):
     * Y_jk = (1 - eta k_j)(1 - eta k_k) X_jk, k_j = l_j + rho l_j^2 */
    linstab_family *f = factored(51);
    linstab_rotated rf = tu_rotate(f);
    size_t r = rf.f->d;
    linstab_error err;
    double rhos[2] = {0.0, 0.35};
    for (int q = 0; q < 2; q++) {
        double eta = 0.45, rho = rhos[q];
        linstab_secmom *s = NULL;
        cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_OPT_SAM_SAME, eta, rho, 1.0, 0.0, &s, &err), LINSTAB_OK);
        double X[DD], Y[DD];
        gsl_rng *g = tu_rng(52);
        tu_gauss(g, X, r * r);
        gsl_rng_free(g);
        cr_assert_eq(linstab_secmom_apply(s, X, Y, &err), LINSTAB_OK, "%s", err.msg);
        double rad = 0.0;
        for (size_t j = 0; j < r; j++) {
            double kj = 1.0 - eta * (rf.l[j] + rho * rf.l[j] * rf.l[j]);
            rad = fmax(rad, kj * kj);
            for (size_t k = 0; k < r; k++) {
                double kk = 1.0 - eta * (rf.l[k] + rho * rf.l[k] * rf.l[k]);
                double want = kj * kk * X[j * r + k];
                cr_expect(fabs(Y[j * r + k] - want) <= 8 * 2.2e-16 * fabs(X[j * r + k]) * (1 + fabs(kj * kk)),
                          "rho %g (%zu, %zu): %.17g vs %.17g", rho, j, k, Y[j * r + k], want);
            }
        }
        double got;
        linstab_eigen_opts eo = linstab_eigen_defaults();
        cr_assert_eq(linstab_secmom_radius(s, &eo, &got, &err), LINSTAB_OK);
        cr_expect(fabs(got - rad) <= 8 * 2.2e-16 * rad, "radius %.17g vs %.17g", got, rad);
        linstab_secmom_free(s);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* A diagonal family and the same samples stored dense. */
static void diag_and_dense(linstab_family **fd, linstab_family **fdense, size_t n, size_t d, unsigned long seed)
{
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, d, 1, fd, &err), LINSTAB_OK);
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, d, fdense, &err), LINSTAB_OK);
    gsl_rng *g = tu_rng(seed);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            /* sparse, with a flat coordinate d-1 (rank-deficient) */
            double v = j == d - 1 || (i + j) % 3 == 0 ? 0.0 : 0.3 + 2.0 * gsl_rng_uniform(g);
            (*fd)->data[i * d + j] = v;
            (*fdense)->data[i * d * d + j * d + j] = v;
        }
    gsl_rng_free(g);
}

Test(secmom, diagonal_fast_path_radius_equals_the_general_operator)
{
    /* second algorithm: the O(n r) diagonal formula against the dense
     * operator's eigenvalues (LAPACK) on the same samples stored dense;
     * |delta| <= c m eps ||T||, ||T|| <= (1 + eta L (1 + rho L))^2 (1 + rho L)^2, c = 64 */
    linstab_family *fd, *fdense;
    size_t n = 5, d = 4;
    diag_and_dense(&fd, &fdense, n, d, 61);
    linstab_rotated rd = tu_rotate(fd), rdense = tu_rotate(fdense);
    cr_assert_eq(rd.f->kind, LINSTAB_FAMILY_DIAGONAL);
    cr_assert_eq(rd.f->d, rdense.f->d);
    linstab_optimizer methods[2] = {LINSTAB_OPT_SGD, LINSTAB_OPT_SAM_INDEP};
    linstab_sampling ss[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH};
    size_t Bs[3] = {1, 2, 5};
    double rhos[2] = {0.0, 0.3}, eta = 0.5, L = 2.3;
    linstab_eigen_opts eo = linstab_eigen_defaults();
    eo.path = LINSTAB_EIGEN_DENSE;
    linstab_error err;
    for (int mi = 0; mi < 2; mi++)
        for (int si = 0; si < 3; si++)
            for (int bi = 0; bi < 3; bi++)
                for (int ri = 0; ri < 2; ri++) {
                    double a, b, r1, r2, rho = rhos[ri];
                    linstab_sampling_coeffs(ss[si], n, Bs[bi], &a, &b);
                    linstab_secmom *s1 = NULL, *s2 = NULL;
                    cr_assert_eq(linstab_secmom_alloc(rd.f, rd.l, methods[mi], eta, rho, a, b, &s1, &err), LINSTAB_OK);
                    cr_assert_eq(linstab_secmom_alloc(rdense.f, rdense.l, methods[mi], eta, rho, a, b, &s2, &err),
                                 LINSTAB_OK);
                    cr_assert_eq(linstab_secmom_radius(s1, &eo, &r1, &err), LINSTAB_OK);
                    cr_assert_eq(linstab_secmom_radius(s2, &eo, &r2, &err), LINSTAB_OK, "%s", err.msg);
                    double q = (1 + eta * L * (1 + rho * L)) * (1 + rho * L);
                    double tol = 64.0 * 10 * 2.2e-16 * q * q;
                    cr_expect(fabs(r1 - r2) <= tol, "method %d %s B %zu rho %g: diagonal %.17g, dense %.17g",
                              (int)methods[mi], linstab_sampling_name(ss[si]), Bs[bi], rho, r1, r2);
                    linstab_secmom_free(s1);
                    linstab_secmom_free(s2);
                }
    linstab_family_rotated_clear(&rd);
    linstab_family_rotated_clear(&rdense);
    linstab_family_free(fd);
    linstab_family_free(fdense);
}
