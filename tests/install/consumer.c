/*
 * consumer.c -- a program written against the installed linstab alone:
 * built by tests/install/test_install.sh with
 *     cc consumer.c $(pkg-config --cflags --libs linstab)
 * (and --static), with no path into the source tree.
 *
 * It builds a diagonal family of n = 4 samples in d = 3 through the public
 * API and compares the library's SGD mean-square radius and critical eta
 * with closed forms it computes itself.  For diagonal H_i = diag(h_i) the
 * second-moment operator of SGD (docs/math.md §3)
 *     T(X) = X - eta (HX + XH) + eta^2 (a HXH + b M(X)),
 *     M(X) = (1/n) sum_i H_i X H_i,
 * multiplies each entry X_jk by
 *     t_jk = 1 - eta s_jk + eta^2 q_jk,   s_jk = l_j + l_k,
 *     q_jk = a l_j l_k + b c_jk,          c_jk = (1/n) sum_i h_ij h_ik,
 * with l = the mean of the h_i; so radius(T) = max_{j<=k} |t_jk| and the
 * critical eta (radius <= 1 iff eta Q <= A, A(X) = HX + XH) is
 * 1 / max_{j<=k} q_jk / s_jk.  (a, b): sampling WITHOUT replacement,
 * a = n(B-1)/(B(n-1)), b = (n-B)/(B(n-1)).
 *
 * Prints each number and exits 1 on any mismatch or failed call.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <linstab.h>

#define N 4
#define D 3
#define B 2

static int failures = 0;

static void compare(const char *what, double lib, double closed)
{
    double rel = fabs(lib - closed) / fmax(fabs(closed), 1e-300);
    int ok = isfinite(lib) && rel <= 1e-10;
    printf("%-22s library %.15g  closed form %.15g  %s\n", what, lib, closed, ok ? "ok" : "MISMATCH");
    if (!ok) failures++;
}

static int check(linstab_status st, const char *call, const linstab_error *err)
{
    if (st == LINSTAB_OK) return 0;
    printf("%s failed: %s: %s\n", call, linstab_error_string(st), err->msg);
    failures++;
    return 1;
}

int main(void)
{
    static const double h[N][D] = {{4.0, 1.0, 0.5}, {2.0, 3.0, 0.0}, {6.0, 0.0, 1.5}, {0.0, 2.0, 1.0}};
    const double eta = 0.3;
    linstab_error err = {0};

    /* the closed forms */
    double a = (double)N * (B - 1) / ((double)B * (N - 1)), b = (double)(N - B) / ((double)B * (N - 1));
    double l[D] = {0}, c[D][D] = {{0}};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            l[j] += h[i][j] / N;
            for (int k = 0; k < D; k++) c[j][k] += h[i][j] * h[i][k] / N;
        }
    double radius_cf = 0, mu = 0;
    for (int j = 0; j < D; j++)
        for (int k = j; k < D; k++) {
            double s = l[j] + l[k], q = a * l[j] * l[k] + b * c[j][k];
            radius_cf = fmax(radius_cf, fabs(1 - eta * s + eta * eta * q));
            mu = fmax(mu, q / s);
        }
    double eta_star_cf = 1 / mu;

    /* the library, through its public API */
    double la, lb;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_WITHOUT, N, B, &la, &lb);
    compare("sampling coefficient a", la, a);
    compare("sampling coefficient b", lb, b);

    linstab_family *f = NULL;
    if (check(linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, N, D, 1, &f, &err), "linstab_family_alloc", &err))
        return 1;
    if (linstab_family_data_len(f) != N * D) {
        printf("linstab_family_data_len: %zu, want %d\n", linstab_family_data_len(f), N * D);
        return 1;
    }
    memcpy(f->data, h, sizeof h);
    if (check(linstab_family_validate(f, 1e-10, 0, NULL, &err), "linstab_family_validate", &err)) return 1;

    linstab_rotated rf = {0};
    if (check(linstab_family_rotated_make(f, 0, 0, &rf, &err), "linstab_family_rotated_make", &err)) return 1;
    linstab_eigen_opts eo = linstab_eigen_defaults();

    linstab_secmom *sm = NULL;
    double radius = NAN, eta_star = NAN;
    if (!check(linstab_secmom_alloc(rf.f, rf.l, LINSTAB_OPT_SGD, eta, 0, a, b, &sm, &err),
               "linstab_secmom_alloc", &err) &&
        !check(linstab_secmom_radius(sm, &eo, &radius, &err), "linstab_secmom_radius", &err))
        compare("SGD radius at eta 0.3", radius, radius_cf);
    linstab_secmom_free(sm);
    if (!check(linstab_critical_eta(rf.f, rf.l, a, b, &eo, &eta_star, &err), "linstab_critical_eta", &err))
        compare("SGD critical eta", eta_star, eta_star_cf);

    /* an error travels back as a status and a message */
    linstab_family *bad = NULL;
    linstab_error_clear(&err);
    linstab_status st = linstab_family_alloc(LINSTAB_FAMILY_DIAGONAL, 0, D, 1, &bad, &err);
    printf("zero samples: %s (%s)\n", linstab_error_string(st), err.msg);
    if (st == LINSTAB_OK || err.msg[0] == '\0') failures++;
    linstab_family_free(bad);

    printf("figures in this build: %s\n", linstab_plot_available() ? "yes" : "no");
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
    printf("%s\n", failures ? "FAILED" : "all numbers agree");
    return failures ? 1 : 0;
}
