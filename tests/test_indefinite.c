/*
 * test_indefinite.c -- the exact section on indefinite families (exact
 * Hessians away from an interpolating minimum, cross-entropy models)
 * against brute-force enumeration of every batch.
 *
 * For such families null(H) is not the common null space: stability is
 * decided on range(M_2), and H is not diagonal in M_2's eigenbasis.  The
 * reference here never restricts or rotates anything: it builds
 * T = E[J (x) J] on all of R^{d x d} from every batch with its probability
 * and takes the spectral radius with LAPACK's dgeev.  T is completely
 * positive, so its spectral radius on R^{d x d} is attained on the PSD cone
 * and equals the radius on symmetric matrices that linstab computes; the
 * directions outside range(M_2) give the eigenvalue exactly 1 and are left
 * out by the reference by removing the common null space first (we build
 * families whose common null space is known).
 */
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/exact.h"
#include "linstab/family.h"
#include "linstab/geometry.h"
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "testutil.h"

#define DMAX 6
#define NMAX 6

typedef struct batch_iter {
    linstab_sampling s;
    size_t n, B;
    size_t idx[NMAX + 1]; /* current multiset / subset / Bernoulli mask bits */
    unsigned mask;
    int started, done;
} batch_iter;

/* Next batch: fills Hh = (1/B) sum_{i in S} H_i (with multiplicity) and
 * its probability; 0 when exhausted. */
static int next_batch(batch_iter *it, const double *H, size_t d, double *Hh, double *prob)
{
    size_t n = it->n, B = it->B;
    if (it->done) return 0;
    if (!it->started) {
        it->started = 1;
        for (size_t j = 0; j < B; j++) it->idx[j] = it->s == LINSTAB_SAMPLING_WITHOUT ? j : 0;
        it->mask = 0;
    } else if (it->s == LINSTAB_SAMPLING_BERNOULLI) {
        if (++it->mask == (1u << n)) return it->done = 1, 0;
    } else if (it->s == LINSTAB_SAMPLING_WITH) { /* ordered B-tuples in base n */
        size_t j = 0;
        while (j < B && ++it->idx[j] == n) it->idx[j++] = 0;
        if (j == B) return it->done = 1, 0;
    } else { /* lexicographic B-subsets */
        size_t j = B;
        while (j > 0 && it->idx[j - 1] == n - B + j - 1) j--;
        if (j == 0) return it->done = 1, 0;
        it->idx[j - 1]++;
        for (size_t t = j; t < B; t++) it->idx[t] = it->idx[t - 1] + 1;
    }
    memset(Hh, 0, d * d * sizeof *Hh);
    if (it->s == LINSTAB_SAMPLING_BERNOULLI) {
        double p = (double)B / (double)n, pr = 1.0;
        for (size_t i = 0; i < n; i++) {
            int in = (it->mask >> i) & 1u;
            pr *= in ? p : 1.0 - p;
            if (in)
                for (size_t q = 0; q < d * d; q++) Hh[q] += H[i * d * d + q] / (double)B;
        }
        *prob = pr;
        return 1;
    }
    for (size_t j = 0; j < B; j++)
        for (size_t q = 0; q < d * d; q++) Hh[q] += H[it->idx[j] * d * d + q] / (double)B;
    if (it->s == LINSTAB_SAMPLING_WITH) {
        *prob = pow((double)n, -(double)B);
    } else {
        double c = 1.0; /* 1 / binom(n, B) */
        for (size_t j = 0; j < B; j++) c *= (double)(j + 1) / (double)(n - j);
        *prob = c;
    }
    return 1;
}

static void matmul(size_t d, const double *A, const double *B, double *C)
{
    for (size_t i = 0; i < d; i++)
        for (size_t j = 0; j < d; j++) {
            double s = 0.0;
            for (size_t k = 0; k < d; k++) s += A[i * d + k] * B[k * d + j];
            C[i * d + j] = s;
        }
}

/* T += w J (x) J */
static void add_kron(size_t d, const double *J, double w, double *T)
{
    size_t m = d * d;
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++)
            for (size_t c = 0; c < d; c++)
                for (size_t e = 0; e < d; e++) T[(a * d + c) * m + b * d + e] += w * J[a * d + b] * J[c * d + e];
}

static double spectral_radius(size_t m, double *T)
{
    double *wr = malloc(m * sizeof *wr), *wi = malloc(m * sizeof *wi);
    cr_assert(LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', (lapack_int)m, T, (lapack_int)m, wr, wi, NULL, 1, NULL,
                            1) == 0);
    double r = 0.0;
    for (size_t j = 0; j < m; j++) r = fmax(r, hypot(wr[j], wi[j]));
    free(wr);
    free(wi);
    return r;
}

/* Brute-force T (d^2 x d^2, caller frees): variant < 0 is SGD, else SAM
 * (same / independent). */
static double *brute_T(const double *H, size_t n, size_t d, linstab_sampling s, size_t B, double eta, double rho,
                       int variant)
{
    size_t m = d * d;
    double *T = calloc(m * m, sizeof *T);
    double Hh[DMAX * DMAX], H2[DMAX * DMAX], J[DMAX * DMAX], G[DMAX * DMAX], p1, p2;
    batch_iter it = {s, n, B, {0}, 0, 0, 0};
    while (next_batch(&it, H, d, Hh, &p1)) {
        if (variant == LINSTAB_OPT_SAM_INDEP) {
            batch_iter it2 = {s, n, B, {0}, 0, 0, 0};
            while (next_batch(&it2, H, d, H2, &p2)) {
                /* J = I - eta Hh (I + rho H2) */
                for (size_t q = 0; q < m; q++) G[q] = rho * H2[q] + (q % (d + 1) == 0 ? 1.0 : 0.0);
                matmul(d, Hh, G, J);
                for (size_t q = 0; q < m; q++) J[q] = (q % (d + 1) == 0 ? 1.0 : 0.0) - eta * J[q];
                add_kron(d, J, p1 * p2, T);
            }
            continue;
        }
        matmul(d, Hh, Hh, G);
        double r = variant < 0 ? 0.0 : rho;
        for (size_t q = 0; q < m; q++) J[q] = (q % (d + 1) == 0 ? 1.0 : 0.0) - eta * Hh[q] - eta * r * G[q];
        add_kron(d, J, p1, T);
    }
    return T;
}

static double brute_radius(const double *H, size_t n, size_t d, linstab_sampling s, size_t B, double eta,
                           double rho, int variant)
{
    double *T = brute_T(H, n, d, s, B, eta, rho, variant);
    double rad = spectral_radius(d * d, T);
    free(T);
    return rad;
}

/* Random symmetric (indefinite) H_i = (G + G')/2 on the first k of d
 * coordinates, then turned by a random orthogonal matrix: the common null
 * space has dimension d - k.  OUT *small (n k k, caller frees): the family
 * before it is embedded, where the reference enumerates. */
static double *indefinite_family(size_t n, size_t d, size_t k, unsigned long seed, double **small)
{
    gsl_rng *r = tu_rng(seed);
    double *H = calloc(n * d * d, sizeof *H), *Q = malloc(d * d * sizeof *Q), tau[DMAX];
    *small = malloc(n * k * k * sizeof **small);
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0; a < k; a++)
            for (size_t b = 0; b <= a; b++) {
                double g = 0.0;
                tu_gauss(r, &g, 1);
                H[i * d * d + a * d + b] = H[i * d * d + b * d + a] = g;
                (*small)[i * k * k + a * k + b] = (*small)[i * k * k + b * k + a] = g;
            }
    tu_gauss(r, Q, d * d);
    cr_assert(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)d, Q, (lapack_int)d, tau) == 0);
    cr_assert(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)d, (lapack_int)d, (lapack_int)d, Q, (lapack_int)d, tau) == 0);
    double T1[DMAX * DMAX], T2[DMAX * DMAX], Qt[DMAX * DMAX];
    for (size_t a = 0; a < d; a++)
        for (size_t b = 0; b < d; b++) Qt[a * d + b] = Q[b * d + a];
    for (size_t i = 0; i < n; i++) {
        matmul(d, Q, H + i * d * d, T1);
        matmul(d, T1, Qt, T2);
        for (size_t a = 0; a < d; a++) /* exactly symmetric */
            for (size_t b = 0; b < d; b++) H[i * d * d + a * d + b] = 0.5 * (T2[a * d + b] + T2[b * d + a]);
    }
    free(Q);
    gsl_rng_free(r);
    return H;
}

static linstab_family *dense_of(const double *H, size_t n, size_t d)
{
    linstab_family *f = NULL;
    linstab_error err = {0};
    cr_assert(linstab_family_alloc(LINSTAB_FAMILY_DENSE, n, d, 0, &f, &err) == LINSTAB_OK);
    memcpy(f->data, H, n * d * d * sizeof *H);
    int indef = 0;
    cr_assert(linstab_family_validate(f, 1e-12, 1, &indef, &err) == LINSTAB_OK, "%s", err.msg);
    return f;
}

/* The radii alone (what exact_compute reports as sgd_radius / sam_radius). */
static double sgd_radius_of(const linstab_rotated *rf, double eta, size_t B, linstab_sampling s)
{
    linstab_error err = {0};
    double a, b, r = NAN;
    linstab_sampling_coeffs(s, rf->f->n, B, &a, &b);
    linstab_secmom *sm = NULL;
    cr_assert(linstab_secmom_alloc(rf->f, rf->l, LINSTAB_OPT_SGD, eta, 0.0, a, b, &sm, &err) == LINSTAB_OK, "%s",
              err.msg);
    linstab_eigen_opts eo = linstab_eigen_defaults();
    eo.max_iter = 150; /* as exact_compute */
    cr_assert(linstab_secmom_radius(sm, &eo, &r, &err) == LINSTAB_OK, "%s", err.msg);
    linstab_secmom_free(sm);
    return r;
}

static double sam_radius_of(const linstab_rotated *rf, linstab_optimizer v, double eta, double rho, size_t B,
                            linstab_sampling s)
{
    linstab_error err = {0};
    double r = NAN;
    cr_assert(linstab_sam_radius(rf, v, eta, rho, B, s, NULL, &r, &err) == LINSTAB_OK, "%s", err.msg);
    return r;
}

static linstab_exact exact_of(const linstab_rotated *rf, double eta, size_t B, double rho, linstab_sampling s,
                              linstab_optimizer v)
{
    linstab_exact_opts o = linstab_exact_defaults();
    o.skip_lyapunov = 1;
    linstab_hyper h = {eta, B, rho, s};
    linstab_exact ex;
    linstab_error err = {0};
    cr_assert(linstab_exact_compute(rf, &h, v, &o, &ex, &err) == LINSTAB_OK, "%s", err.msg);
    return ex;
}

/* The radius of T is computed from operators of size at most d(d+1)/2 in
 * double precision; the brute force sums up to n^(2B) Kronecker products.
 * Both are backward stable: 1e3 eps relative covers the sums and dgeev's
 * error on these well-separated spectra (checked: the differences seen are
 * below 1e-14). */
#define RTOL (1e3 * 2.220446049250313e-16)

/* HR (n x r x r): the family on its range, where the brute force runs; H
 * (n x d x d): the same family embedded in R^d, what linstab is given. */
static void compare_all(const double *HR, size_t r, const double *H, size_t n, size_t d, double eta, double rho,
                        const char *what)
{
    linstab_family *f = dense_of(H, n, d);
    linstab_rotated rf;
    linstab_error err = {0};
    cr_assert(linstab_family_rotated_make(f, 0.0, 1, &rf, &err) == LINSTAB_OK, "%s", err.msg);
    static const linstab_sampling samp[3] = {LINSTAB_SAMPLING_WITHOUT, LINSTAB_SAMPLING_WITH,
                                             LINSTAB_SAMPLING_BERNOULLI};
    for (int t = 0; t < 3; t++)
        for (size_t B = 1; B <= n; B++) {
            if (samp[t] == LINSTAB_SAMPLING_WITH && B > 3) continue; /* n^(2B) products */
            /* exact_compute once per sampling (its radius is the direct call's) */
            double sgd = brute_radius(HR, n, r, samp[t], B, eta, 0.0, -1);
            double rs = sgd_radius_of(&rf, eta, B, samp[t]);
            if (B == 2) {
                linstab_exact ex = exact_of(&rf, eta, B, rho, samp[t], LINSTAB_OPT_SAM_SAME);
                cr_expect_eq(ex.sgd_radius, rs, "exact_compute's SGD radius is the operator's");
            }
            cr_expect(fabs(rs - sgd) <= RTOL * sgd, "%s: SGD %s B = %zu: %.15g vs brute force %.15g", what,
                      linstab_sampling_name(samp[t]), B, rs, sgd);
            double same = brute_radius(HR, n, r, samp[t], B, eta, rho, LINSTAB_OPT_SAM_SAME);
            double rsame = sam_radius_of(&rf, LINSTAB_OPT_SAM_SAME, eta, rho, B, samp[t]);
            cr_expect(fabs(rsame - same) <= RTOL * same, "%s: SAM same %s B = %zu rho = %g: %.15g vs brute force %.15g",
                      what, linstab_sampling_name(samp[t]), B, rho, rsame, same);
            if (samp[t] == LINSTAB_SAMPLING_WITH && B > 2) continue;
            double ind = brute_radius(HR, n, r, samp[t], B, eta, rho, LINSTAB_OPT_SAM_INDEP);
            double rind = sam_radius_of(&rf, LINSTAB_OPT_SAM_INDEP, eta, rho, B, samp[t]);
            cr_expect(fabs(rind - ind) <= RTOL * ind,
                      "%s: SAM independent %s B = %zu rho = %g: %.15g vs brute force %.15g", what,
                      linstab_sampling_name(samp[t]), B, rho, rind, ind);
        }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(indefinite, radii_match_brute_force_on_a_full_rank_random_family)
{
    double *Hs, *H = indefinite_family(6, 4, 4, 11, &Hs);
    compare_all(Hs, 4, H, 6, 4, 0.4, 0.1, "n = 6, d = 4");
    free(H);
    free(Hs);
}

Test(indefinite, radii_match_brute_force_with_a_common_null_space)
{
    /* rank 3 inside R^5, turned: the restriction to range(M_2) is needed and
     * H is far from diagonal in M_2's eigenbasis */
    double *Hs, *H = indefinite_family(5, 5, 3, 12, &Hs);
    compare_all(Hs, 3, H, 5, 5, 0.3, 0.25, "n = 5, d = 5, common null space of dimension 2");
    free(H);
    free(Hs);
}

Test(indefinite, radii_match_brute_force_when_h_is_singular_but_m2_is_not)
{
    /* H_2 = -H_1 and H_4 = -H_3: H = H_5/5 has rank 1, M_2 has rank 3 */
    size_t n = 5, d = 3;
    double *Hs, *H = indefinite_family(n, d, d, 13, &Hs);
    free(Hs);
    memcpy(H + 1 * d * d, H, d * d * sizeof *H);
    memcpy(H + 3 * d * d, H + 2 * d * d, d * d * sizeof *H);
    for (size_t q = 0; q < d * d; q++) {
        H[1 * d * d + q] = -H[q];
        H[3 * d * d + q] = -H[2 * d * d + q];
    }
    for (size_t q = 0; q < d * d; q++) H[4 * d * d + q] = (q / d == 0 && q % d == 0) ? 1.0 : 0.0;
    compare_all(H, d, H, n, d, 0.5, 0.2, "singular H");
    free(H);
}

Test(indefinite, radii_match_brute_force_on_a_diagonal_family)
{
    size_t n = 5, d = 4;
    double *H = calloc(n * d * d, sizeof *H);
    static const double diag[5][4] = {
        {1.0, -0.5, 0.0, 0.3}, {0.2, 0.4, 0.0, -1.0}, {-0.3, 0.1, 0.0, 0.5}, {0.9, -0.2, 0.0, 0.0}, {0.1, 0.6, 0.0, 0.2}};
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) H[i * d * d + j * d + j] = diag[i][j];
    double *HR = calloc(n * 9, sizeof *HR); /* without the null coordinate */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0, c = 0; j < d; j++)
            if (j != 2) {
                HR[i * 9 + c * 3 + c] = diag[i][j];
                c++;
            }
    compare_all(HR, 3, H, n, d, 0.6, 0.3, "diagonal, coordinate 3 null");
    /* the same family stored as diagonal */
    linstab_family *f = NULL;
    linstab_error err = {0};
    cr_assert(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, n, d, 0, &f, &err) == LINSTAB_OK);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) f->data[i * d + j] = diag[i][j];
    linstab_rotated rf;
    cr_assert(linstab_family_rotated_make(f, 0.0, 1, &rf, &err) == LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(rf.f->d, 3, "the common null coordinate is dropped");
    for (size_t B = 1; B <= n; B++) {
        double sgd = brute_radius(HR, n, 3, LINSTAB_SAMPLING_WITHOUT, B, 0.6, 0.0, -1);
        double rs = sgd_radius_of(&rf, 0.6, B, LINSTAB_SAMPLING_WITHOUT);
        cr_expect(fabs(rs - sgd) <= RTOL * sgd, "diagonal storage B = %zu: %.15g vs %.15g", B, rs, sgd);
        double same = brute_radius(HR, n, 3, LINSTAB_SAMPLING_WITHOUT, B, 0.6, 0.3, LINSTAB_OPT_SAM_SAME);
        double rsame = sam_radius_of(&rf, LINSTAB_OPT_SAM_SAME, 0.6, 0.3, B, LINSTAB_SAMPLING_WITHOUT);
        cr_expect(fabs(rsame - same) <= RTOL * same, "diagonal storage SAM B = %zu: %.15g vs %.15g", B, rsame, same);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
    free(H);
    free(HR);
}

Test(indefinite, rotated_family_has_h_diagonal_with_its_eigenvalues)
{
    size_t n = 5, d = 5;
    double *Hs, *H = indefinite_family(n, d, 3, 14, &Hs);
    free(Hs);
    linstab_family *f = dense_of(H, n, d);
    linstab_rotated rf;
    linstab_error err = {0};
    cr_assert(linstab_family_rotated_make(f, 0.0, 1, &rf, &err) == LINSTAB_OK, "%s", err.msg);
    size_t r = rf.f->d;
    cr_assert_eq(r, 3);
    double Hm[DMAX * DMAX], w[DMAX];
    cr_assert(linstab_family_mean(rf.f, Hm, &err) == LINSTAB_OK);
    double off = 0.0, scale = 0.0;
    for (size_t a = 0; a < r; a++)
        for (size_t b = 0; b < r; b++) {
            scale = fmax(scale, fabs(Hm[a * r + b]));
            if (a != b) off = fmax(off, fabs(Hm[a * r + b]));
        }
    cr_expect(off <= 64 * r * 2.22e-16 * scale, "H is diagonal in the rotated basis: off-diagonal %g", off);
    /* the eigenvalues of the full mean: 3 nonzero ones, in decreasing order */
    double Hf[DMAX * DMAX] = {0};
    for (size_t i = 0; i < n; i++)
        for (size_t q = 0; q < d * d; q++) Hf[q] += H[i * d * d + q] / (double)n;
    cr_assert(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)d, Hf, (lapack_int)d, w) == 0);
    size_t c = 0;
    for (size_t j = d; j-- > 0;)
        if (fabs(w[j]) > 1e-12) {
            cr_expect(fabs(rf.l[c] - w[j]) <= 64 * d * 2.22e-16 * scale, "l[%zu] = %.15g vs %.15g", c, rf.l[c], w[j]);
            c++;
        }
    cr_expect_eq(c, r);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
    free(H);
}

/* ------------------------------------------------ critical values */

Test(indefinite, no_eta_is_stable_for_sgd_and_brute_force_agrees)
{
    double *Hs, *H = indefinite_family(6, 4, 4, 11, &Hs);
    linstab_family *f = dense_of(H, 6, 4);
    linstab_rotated rf;
    linstab_error err = {0};
    cr_assert(linstab_family_rotated_make(f, 0.0, 1, &rf, &err) == LINSTAB_OK, "%s", err.msg);
    cr_assert(rf.l[rf.f->d - 1] < 0.0, "the family has negative curvature");
    for (size_t B = 1; B <= 6; B++) {
        linstab_exact ex = exact_of(&rf, 0.05, B, 0.0, LINSTAB_SAMPLING_WITHOUT, LINSTAB_OPT_SAM_SAME);
        cr_expect(ex.sgd_eta_star == 0.0, "B = %zu: eta* = %g", B, ex.sgd_eta_star);
        cr_expect(ex.sgd_critical_batch == 0, "B = %zu: no batch size is stable", B);
        cr_expect_eq(ex.sgd_verdict, LINSTAB_VERDICT_UNSTABLE);
        /* the lower bound (1 - eta lambda_min)^2 and the brute force, at small eta */
        for (double eta = 1e-3; eta < 2.0; eta *= 4.0) {
            double br = brute_radius(Hs, 6, 4, LINSTAB_SAMPLING_WITHOUT, B, eta, 0.0, -1);
            double lb = (1.0 - eta * rf.l[rf.f->d - 1]) * (1.0 - eta * rf.l[rf.f->d - 1]);
            cr_expect(br > 1.0 && br >= lb * (1.0 - RTOL), "B = %zu eta = %g: radius %.15g, bound %.15g", B, eta,
                      br, lb);
        }
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
    free(H);
    free(Hs);
}

Test(indefinite, sam_eta_star_is_where_the_brute_force_radius_crosses_one)
{
    /* a mildly indefinite family: H_i = A_i A_i' - 0.05 e e' */
    size_t n = 5, d = 3;
    gsl_rng *g = tu_rng(21);
    double H[5 * 9], A[9];
    for (size_t i = 0; i < n; i++) {
        tu_gauss(g, A, 9);
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) {
                double s = 0.0;
                for (size_t c = 0; c < d; c++) s += A[a * d + c] * A[b * d + c] / 3.0;
                H[i * 9 + a * d + b] = s - (a == 2 && b == 2 ? 1.5 : 0.0);
            }
    }
    gsl_rng_free(g);
    linstab_family *f = dense_of(H, n, d);
    linstab_rotated rf;
    linstab_error err = {0};
    cr_assert(linstab_family_rotated_make(f, 0.0, 1, &rf, &err) == LINSTAB_OK, "%s", err.msg);
    cr_assert(rf.l[d - 1] < 0.0, "H has negative curvature: %g", rf.l[d - 1]);
    int positive_seen = 0;
    for (double rho = 0.0; rho <= 4.0; rho += 1.0)
        for (size_t B = 1; B <= n; B += 2) {
            double es = NAN;
            linstab_eigen_opts eo = linstab_eigen_defaults();
            cr_assert(linstab_sam_eta_star(&rf, LINSTAB_OPT_SAM_SAME, rho, B, LINSTAB_SAMPLING_WITHOUT, &eo, &es, &err) ==
                          LINSTAB_OK,
                      "%s", err.msg);
            if (es == 0.0) {
                double br = brute_radius(H, n, d, LINSTAB_SAMPLING_WITHOUT, B, 1e-3, rho, LINSTAB_OPT_SAM_SAME);
                cr_expect(br > 1.0, "rho = %g B = %zu: eta* = 0 but the radius at eta = 1e-3 is %.15g", rho, B, br);
                continue;
            }
            positive_seen++;
            cr_assert(isfinite(es) && es > 0.0);
            double lo = brute_radius(H, n, d, LINSTAB_SAMPLING_WITHOUT, B, es * (1.0 - 1e-6), rho, LINSTAB_OPT_SAM_SAME);
            double hi = brute_radius(H, n, d, LINSTAB_SAMPLING_WITHOUT, B, es * (1.0 + 1e-6), rho, LINSTAB_OPT_SAM_SAME);
            double small = brute_radius(H, n, d, LINSTAB_SAMPLING_WITHOUT, B, es * 0.01, rho, LINSTAB_OPT_SAM_SAME);
            cr_expect(lo <= 1.0 + RTOL && hi > 1.0 && small < 1.0,
                      "rho = %g B = %zu: eta* = %.12g, radius below %.15g above %.15g, at eta*/100 %.15g", rho, B, es,
                      lo, hi, small);
        }
    cr_expect(positive_seen > 0, "some rho makes SAM stable near 0");
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(indefinite, lemma41_traces_match_powers_of_the_brute_force_operator)
{
    double *Hs, *H = indefinite_family(5, 5, 3, 15, &Hs);
    linstab_family *f = dense_of(H, 5, 5);
    linstab_rotated rf;
    linstab_error err = {0};
    cr_assert(linstab_family_rotated_make(f, 0.0, 1, &rf, &err) == LINSTAB_OK, "%s", err.msg);
    size_t r = 3, m = 9, K = 6;
    for (size_t B = 1; B <= 5; B += 2) {
        double tr[8], lo[8];
        cr_assert(linstab_exact_lemma41(&rf, 0.35, B, K, tr, lo, &err) == LINSTAB_OK, "%s", err.msg);
        double *T = brute_T(Hs, 5, r, LINSTAB_SAMPLING_BERNOULLI, B, 0.35, 0.0, -1);
        double X[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, Y[9];
        for (size_t k = 0; k < K; k++) {
            for (size_t a = 0; a < m; a++) {
                Y[a] = 0.0;
                for (size_t b = 0; b < m; b++) Y[a] += T[a * m + b] * X[b];
            }
            memcpy(X, Y, sizeof X);
            double t = X[0] + X[4] + X[8];
            cr_expect(fabs(tr[k] - t) <= 1e3 * 2.22e-16 * t, "B = %zu k = %zu: tr(T^k(I)) %.15g vs %.15g", B, k + 1,
                      tr[k], t);
        }
        free(T);
    }
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
    free(H);
    free(Hs);
}
