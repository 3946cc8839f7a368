/*
 * test_samsame.c -- SAM 'same' at general B: the moment expansion over set
 * partitions against brute-force enumeration of every batch, for every
 * sampling scheme and batch size on tiny families; closed forms (B = n,
 * rho = 0) and agreement with the B = 1 route through K_i = H_i + rho H_i^2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>

#include "linstab/exact.h"
#include "linstab/sam.h"
#include "linstab/secmom.h"
#include "testutil.h"

enum { N = 4, R = 3, RR = R * R };

static void mm(const double *A, const double *B, double *C)
{
    for (int i = 0; i < R; i++)
        for (int j = 0; j < R; j++) {
            double s = 0.0;
            for (int k = 0; k < R; k++) s += A[i * R + k] * B[k * R + j];
            C[i * R + j] = s;
        }
}

/* Y += p * (J X J') for every unit X (the vec operator, row-major vec). */
static void add_batch(const double *Hs, const int *count, double Bd, double eta, double rho,
                      double p, double *T)
{
    double Hh[RR] = {0}, H2[RR], J[RR];
    for (int i = 0; i < N; i++)
        for (int k = 0; k < RR; k++) Hh[k] += count[i] * Hs[i * RR + k] / Bd;
    mm(Hh, Hh, H2);
    for (int k = 0; k < RR; k++) J[k] = -eta * Hh[k] - eta * rho * H2[k];
    for (int k = 0; k < R; k++) J[k * R + k] += 1.0;
    /* vec(J X J') = (J (x) J) vec X */
    for (int a = 0; a < R; a++)
        for (int b = 0; b < R; b++)
            for (int s = 0; s < R; s++)
                for (int t = 0; t < R; t++) T[(a * R + b) * RR + s * R + t] += p * J[a * R + s] * J[b * R + t];
}

/* E[J X J'] by enumeration of all batches of the scheme. */
static void brute(const double *Hs, linstab_sampling s, int B, double eta, double rho, double *T)
{
    memset(T, 0, RR * RR * sizeof *T);
    int count[N];
    if (s == LINSTAB_SAMPLING_WITH) {
        int total = 1;
        for (int k = 0; k < B; k++) total *= N;
        for (int code = 0; code < total; code++) {
            memset(count, 0, sizeof count);
            for (int k = 0, c = code; k < B; k++, c /= N) count[c % N]++;
            add_batch(Hs, count, B, eta, rho, 1.0 / total, T);
        }
        return;
    }
    int nsub = 0;
    for (int mask = 0; mask < (1 << N); mask++) nsub += __builtin_popcount((unsigned)mask) == B;
    for (int mask = 0; mask < (1 << N); mask++) {
        int size = __builtin_popcount((unsigned)mask);
        double p;
        if (s == LINSTAB_SAMPLING_WITHOUT) {
            if (size != B) continue;
            p = 1.0 / nsub;
        } else {
            double q = (double)B / N;
            p = pow(q, size) * pow(1.0 - q, N - size);
        }
        for (int i = 0; i < N; i++) count[i] = (mask >> i) & 1;
        add_batch(Hs, count, B, eta, rho, p, T);
    }
}

static linstab_family *random_dense(unsigned long seed)
{
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DENSE, N, R, R, &f, &err), LINSTAB_OK);
    gsl_rng *g = tu_rng(seed);
    double G[RR];
    for (int i = 0; i < N; i++) {
        tu_gauss(g, G, RR);
        for (int a = 0; a < R; a++)
            for (int b = 0; b < R; b++) {
                double s = 0.0;
                for (int k = 0; k < R; k++) s += G[a * R + k] * G[b * R + k];
                f->data[i * RR + a * R + b] = s / R;
            }
    }
    gsl_rng_free(g);
    return f;
}

Test(samsame, operator_equals_enumeration_of_every_batch_for_every_scheme_and_batch_size)
{
    linstab_family *f = random_dense(3);
    linstab_sam_same *w = NULL;
    linstab_error err;
    cr_assert_eq(linstab_sam_same_alloc(f, &w, &err), LINSTAB_OK, "%s", err.msg);
    double T[RR * RR], Tb[RR * RR];
    linstab_sampling schemes[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT,
                                   LINSTAB_SAMPLING_WITH};
    for (int si = 0; si < 3; si++)
        for (int B = 1; B <= N; B++) {
            cr_assert_eq(linstab_sam_same_full(w, 0.3, 0.7, (size_t)B, schemes[si], T, &err),
                         LINSTAB_OK);
            brute(f->data, schemes[si], B, 0.3, 0.7, Tb);
            /* entries are O(1) sums of a few hundred O(1) products: 1e-12 */
            cr_expect_lt(tu_rel_diff(T, Tb, RR * RR), 1e-12, "scheme %d, B = %d", si, B);
        }
    linstab_sam_same_free(w);
    linstab_family_free(f);
}

static double max_l1(const linstab_family *f)
{
    double lam[N], mx = 0.0;
    linstab_error err;
    cr_assert_eq(linstab_family_sample_lambda1(f, lam, &err), LINSTAB_OK);
    for (int i = 0; i < N; i++) mx = fmax(mx, lam[i]);
    return mx;
}

static double radius_dense(const double *T)
{
    double A[RR * RR], wr[RR], wi[RR], dummy;
    memcpy(A, T, sizeof A);
    cr_assert_eq(LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', RR, A, RR, wr, wi, &dummy, 1, &dummy, 1), 0);
    double r = 0.0;
    for (int i = 0; i < RR; i++) r = fmax(r, hypot(wr[i], wi[i]));
    return r;
}

Test(samsame, svec_radius_equals_the_radius_of_the_enumerated_operator)
{
    linstab_family *f = random_dense(5);
    linstab_sam_same *w = NULL;
    linstab_error err;
    cr_assert_eq(linstab_sam_same_alloc(f, &w, &err), LINSTAB_OK);
    double Tb[RR * RR], rad;
    for (int B = 1; B <= N; B++) {
        brute(f->data, LINSTAB_SAMPLING_BERNOULLI, B, 0.5, 0.4, Tb);
        cr_assert_eq(linstab_sam_same_radius(w, 0.5, 0.4, (size_t)B, LINSTAB_SAMPLING_BERNOULLI,
                                            &rad, &err),
                     LINSTAB_OK);
        /* T = E[J (x) J] is symmetric (J is): radius error c r^2 eps E||J||^2,
         * E||J||^2 <= (1 + eta L (1 + rho L))^2, L = max_i lambda1(H_i) */
        double q = 1.0 + 0.5 * max_l1(f) * (1.0 + 0.4 * max_l1(f));
        cr_expect_lt(tu_rel(rad, radius_dense(Tb), 1e-300), tu_tol(RR, q * q / rad), "B = %d", B);
    }
    linstab_sam_same_free(w);
    linstab_family_free(f);
}

Test(samsame, agrees_with_the_k_family_route_at_batch_one_and_with_sgd_at_rho_zero)
{
    linstab_family *f = random_dense(7);
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_family_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK);
    linstab_sam_same *w = NULL;
    cr_assert_eq(linstab_sam_same_alloc(rf.f, &w, &err), LINSTAB_OK);
    linstab_eigen_opts eo = linstab_eigen_defaults();
    double r1, r2;
    /* B = 1 without replacement: the K_i = H_i + rho H_i^2 route */
    cr_assert_eq(linstab_sam_same_radius(w, 0.4, 0.3, 1, LINSTAB_SAMPLING_WITHOUT, &r1, &err), LINSTAB_OK);
    cr_assert_eq(linstab_sam_radius(&rf, LINSTAB_OPT_SAM_SAME, 0.4, 0.3, 1, LINSTAB_SAMPLING_WITHOUT,
                                    &eo, &r2, &err),
                 LINSTAB_OK);
    cr_expect_lt(tu_rel(r1, r2, 1e-300), 1e-11);
    /* rho = 0: SGD */
    double a, b;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_WITH, N, 3, &a, &b);
    linstab_secmom *s = NULL;
    cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_OPT_SGD, 0.4, 0.0, a, b, &s, &err), LINSTAB_OK);
    cr_assert_eq(linstab_secmom_radius(s, &eo, &r2, &err), LINSTAB_OK);
    cr_assert_eq(linstab_sam_same_radius(w, 0.4, 0.0, 3, LINSTAB_SAMPLING_WITH, &r1, &err), LINSTAB_OK);
    cr_expect_lt(tu_rel(r1, r2, 1e-300), 1e-11);
    /* B = n without replacement: full-batch SAM, max_j (1 - eta k_j)^2 */
    cr_assert_eq(linstab_sam_same_radius(w, 0.4, 0.3, N, LINSTAB_SAMPLING_WITHOUT, &r1, &err), LINSTAB_OK);
    double full = 0.0;
    for (size_t j = 0; j < rf.f->d; j++) {
        double g = 1.0 - 0.4 * (rf.l[j] + 0.3 * rf.l[j] * rf.l[j]);
        full = fmax(full, g * g);
    }
    cr_expect_lt(tu_rel(r1, full, 1e-300), tu_tol(RR, 1.0)); /* symmetric T: ||T|| = radius, relative c m eps */
    linstab_secmom_free(s);
    linstab_sam_same_free(w);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

/* ---- the svec matrix and the K family (issue 10 additions) ---- */

/* Ts[(p,q),(j,k)] = <E_pq, T(E_jk)> from the enumerated vec operator, with
 * E_jj = e_j e_j', E_jk = (e_j e_k' + e_k e_j')/sqrt 2. */
static void svec_of(const double *T, double *Ts)
{
    enum { M = R * (R + 1) / 2 };
    double E[M][RR];
    memset(E, 0, sizeof E);
    int c = 0;
    for (int j = 0; j < R; j++)
        for (int k = j; k < R; k++, c++) {
            double v = j == k ? 1.0 : 1.0 / sqrt(2.0);
            E[c][j * R + k] = v;
            E[c][k * R + j] = v;
        }
    for (int q = 0; q < M; q++) {
        double TE[RR];
        for (int a = 0; a < RR; a++) {
            double s = 0.0;
            for (int b = 0; b < RR; b++) s += T[a * RR + b] * E[q][b];
            TE[a] = s;
        }
        for (int p = 0; p < M; p++) {
            double s = 0.0;
            for (int a = 0; a < RR; a++) s += E[p][a] * TE[a];
            Ts[p * M + q] = s;
        }
    }
}

Test(samsame, svec_matrix_is_the_enumerated_operator_in_svec_coordinates)
{
    enum { M = R * (R + 1) / 2 };
    linstab_family *f = random_dense(5);
    linstab_sam_same *w = NULL;
    linstab_error err;
    cr_assert_eq(linstab_sam_same_alloc(f, &w, &err), LINSTAB_OK, "%s", err.msg);
    linstab_sampling schemes[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT,
                                   LINSTAB_SAMPLING_WITH};
    double rhos[2] = {0.0, 0.45};
    for (int si = 0; si < 3; si++)
        for (int B = 1; B <= N; B++)
            for (int ri = 0; ri < 2; ri++) {
                double Ts[M * M], Tb[RR * RR], Tbs[M * M];
                cr_assert_eq(linstab_sam_same_svec(w, 0.35, rhos[ri], (size_t)B, schemes[si], Ts, &err),
                             LINSTAB_OK, "%s", err.msg);
                brute(f->data, schemes[si], B, 0.35, rhos[ri], Tb);
                svec_of(Tb, Tbs);
                /* O(1) entries, sums of a few hundred terms: 1e-12 as above */
                cr_expect_lt(tu_rel_diff(Ts, Tbs, M * M), 1e-12, "scheme %d, B = %d, rho = %g", si, B,
                             rhos[ri]);
            }
    linstab_sam_same_free(w);
    linstab_family_free(f);
}

/* K_i = H_i + rho H_i^2 against the dense samples, by hand. */
static void check_k_family(const linstab_family *f, double rho)
{
    linstab_family *g = NULL;
    linstab_error err;
    cr_assert_eq(linstab_sam_family(f, rho, &g, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(g->kind, f->kind);
    cr_assert_eq(g->n, f->n);
    cr_assert_eq(g->d, f->d);
    size_t d = f->d;
    double *H = malloc(d * d * sizeof *H), *K = malloc(d * d * sizeof *K), *W = malloc(d * d * sizeof *W);
    for (size_t i = 0; i < f->n; i++) {
        linstab_family_sample_dense(f, i, H);
        linstab_family_sample_dense(g, i, K);
        double hn = 0.0;
        for (size_t a = 0; a < d * d; a++) hn = fmax(hn, fabs(H[a]));
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                double s = 0.0;
                for (size_t c = 0; c < d; c++) s += H[a * d + c] * H[c * d + b];
                W[a * d + b] = H[a * d + b] + rho * s;
            }
        /* |K - (H + rho H^2)| <= c d eps ||H|| (1 + rho d ||H||), c = 64 (the
         * factored route goes through an eigendecomposition of U'U) */
        double tol = 64.0 * d * 2.2e-16 * hn * (1.0 + rho * d * hn);
        for (size_t a = 0; a < d * d; a++)
            cr_assert(fabs(K[a] - W[a]) <= tol, "kind %d rho %g sample %zu entry %zu: %.17g vs %.17g (tol %g)",
                      (int)f->kind, rho, i, a, K[a], W[a], tol);
    }
    free(H);
    free(K);
    free(W);
    linstab_family_free(g);
}

Test(samsame, k_family_is_h_plus_rho_h_squared_for_every_representation)
{
    linstab_family *fs[4];
    fs[0] = tu_family_dense(5, 4, 4, 21);    /* full rank */
    fs[1] = tu_family_dense(5, 4, 1, 22);    /* rank one each: rank-deficient */
    fs[2] = tu_family_factored(6, 5, 2, 23); /* rank 2 of 5 */
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 6, 4, 1, &fs[3], &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(24);
    for (size_t j = 0; j < 6 * 4; j++) fs[3]->data[j] = j % 5 == 0 ? 0.0 : 0.5 + gsl_rng_uniform(r) * 2.5;
    gsl_rng_free(r);
    double rhos[3] = {0.0, 0.3, 2.0};
    for (int k = 0; k < 4; k++) {
        for (int q = 0; q < 3; q++) check_k_family(fs[k], rhos[q]);
        linstab_family_free(fs[k]);
    }
}

Test(samsame, k_family_of_a_diagonal_family_gives_sam_its_full_batch_radius)
{
    /* B = n (without replacement): SAM 'same' is the deterministic
     * J = I - eta (H + rho H^2); on the K family SGD at B = n has radius
     * max_j (1 - eta (1/n) sum_i k_ij)^2 with k_ij = h_ij + rho h_ij^2 */
    linstab_family *f = NULL, *g = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 3, 2, 1, &f, &err), LINSTAB_OK);
    double h[6] = {1.0, 0.5, 2.0, 0.0, 3.0, 1.5};
    memcpy(f->data, h, sizeof h);
    double rho = 0.25, eta = 0.3;
    cr_assert_eq(linstab_sam_family(f, rho, &g, &err), LINSTAB_OK);
    for (int j = 0; j < 6; j++) cr_expect_eq(g->data[j], h[j] + rho * h[j] * h[j]);
    double want = 0.0;
    for (int j = 0; j < 2; j++) {
        double k = 0.0;
        for (int i = 0; i < 3; i++) k += (h[i * 2 + j] + rho * h[i * 2 + j] * h[i * 2 + j]) / 3.0;
        want = fmax(want, (1.0 - eta * k) * (1.0 - eta * k));
    }
    linstab_rotated rf = tu_rotate(g);
    double a, b, rad;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_WITHOUT, 3, 3, &a, &b);
    linstab_secmom *s = NULL;
    cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_OPT_SGD, eta, 0.0, a, b, &s, &err), LINSTAB_OK);
    linstab_eigen_opts eo = linstab_eigen_defaults();
    cr_assert_eq(linstab_secmom_radius(s, &eo, &rad, &err), LINSTAB_OK);
    cr_expect(fabs(rad - want) <= 16 * 2.2e-16, "radius %.17g, want %.17g", rad, want);
    linstab_secmom_free(s);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(g);
    linstab_family_free(f);
}
