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
#include "linstab/samsame.h"
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
    linstab_samsame *w = NULL;
    linstab_error err;
    cr_assert_eq(linstab_samsame_alloc(f, &w, &err), LINSTAB_OK, "%s", err.msg);
    double T[RR * RR], Tb[RR * RR];
    linstab_sampling schemes[3] = {LINSTAB_SAMPLING_BERNOULLI, LINSTAB_SAMPLING_WITHOUT,
                                   LINSTAB_SAMPLING_WITH};
    for (int si = 0; si < 3; si++)
        for (int B = 1; B <= N; B++) {
            cr_assert_eq(linstab_samsame_full(w, 0.3, 0.7, (size_t)B, schemes[si], T, &err),
                         LINSTAB_OK);
            brute(f->data, schemes[si], B, 0.3, 0.7, Tb);
            /* entries are O(1) sums of a few hundred O(1) products: 1e-12 */
            cr_expect_lt(tu_rel_diff(T, Tb, RR * RR), 1e-12, "scheme %d, B = %d", si, B);
        }
    linstab_samsame_free(w);
    linstab_family_free(f);
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
    linstab_samsame *w = NULL;
    linstab_error err;
    cr_assert_eq(linstab_samsame_alloc(f, &w, &err), LINSTAB_OK);
    double Tb[RR * RR], rad;
    for (int B = 1; B <= N; B++) {
        brute(f->data, LINSTAB_SAMPLING_BERNOULLI, B, 0.5, 0.4, Tb);
        cr_assert_eq(linstab_samsame_radius(w, 0.5, 0.4, (size_t)B, LINSTAB_SAMPLING_BERNOULLI,
                                            &rad, &err),
                     LINSTAB_OK);
        cr_expect_lt(tu_rel(rad, radius_dense(Tb), 1e-300), 1e-11, "B = %d", B);
    }
    linstab_samsame_free(w);
    linstab_family_free(f);
}

Test(samsame, agrees_with_the_k_family_route_at_batch_one_and_with_sgd_at_rho_zero)
{
    linstab_family *f = random_dense(7);
    linstab_rotated rf;
    linstab_error err;
    cr_assert_eq(linstab_rotated_make(f, 0.0, 0, &rf, &err), LINSTAB_OK);
    linstab_samsame *w = NULL;
    cr_assert_eq(linstab_samsame_alloc(rf.f, &w, &err), LINSTAB_OK);
    linstab_eigen_opts eo = linstab_eigen_defaults();
    double r1, r2;
    /* B = 1 without replacement: the K_i = H_i + rho H_i^2 route */
    cr_assert_eq(linstab_samsame_radius(w, 0.4, 0.3, 1, LINSTAB_SAMPLING_WITHOUT, &r1, &err), LINSTAB_OK);
    cr_assert_eq(linstab_sam_radius(&rf, LINSTAB_SAM_SAME, 0.4, 0.3, 1, LINSTAB_SAMPLING_WITHOUT,
                                    &eo, &r2, &err),
                 LINSTAB_OK);
    cr_expect_lt(tu_rel(r1, r2, 1e-300), 1e-11);
    /* rho = 0: SGD */
    double a, b;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_WITH, N, 3, &a, &b);
    linstab_secmom *s = NULL;
    cr_assert_eq(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_METHOD_SGD, 0.4, 0.0, a, b, &s, &err), LINSTAB_OK);
    cr_assert_eq(linstab_secmom_radius(s, &eo, &r2, &err), LINSTAB_OK);
    cr_assert_eq(linstab_samsame_radius(w, 0.4, 0.0, 3, LINSTAB_SAMPLING_WITH, &r1, &err), LINSTAB_OK);
    cr_expect_lt(tu_rel(r1, r2, 1e-300), 1e-11);
    /* B = n without replacement: full-batch SAM, max_j (1 - eta k_j)^2 */
    cr_assert_eq(linstab_samsame_radius(w, 0.4, 0.3, N, LINSTAB_SAMPLING_WITHOUT, &r1, &err), LINSTAB_OK);
    double full = 0.0;
    for (size_t j = 0; j < rf.f->d; j++) {
        double g = 1.0 - 0.4 * (rf.l[j] + 0.3 * rf.l[j] * rf.l[j]);
        full = fmax(full, g * g);
    }
    cr_expect_lt(tu_rel(r1, full, 1e-300), 1e-11);
    linstab_secmom_free(s);
    linstab_samsame_free(w);
    linstab_rotated_clear(&rf);
    linstab_family_free(f);
}
