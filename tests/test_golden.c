/*
 * test_golden.c -- linstab against the committed outputs of the numpy peers.
 *
 * tests/data/golden_*.npy are small positive semi-definite families (one
 * rank-deficient, one with orthogonal rank-one samples, a factored and a
 * diagonal one with a flat direction); tests/data/golden_check.txt holds
 * tools/bench/ref_check.py's geometry and bounds on them, golden_exact.txt
 * tools/bench/crosscheck_exact.py's brute-force exact values (every batch
 * enumerated).  tools/bench/make_golden.sh regenerates all of them.  Here
 * the library computes the same numbers and each is compared with a
 * tolerance derived from its conditioning (tol() below), so that CI catches
 * what only a manual cross-check used to.
 *
 * Tolerances: with eps the double epsilon, L = max_i lambda1(H_i) (every
 * ||H_i|| <= L) and r the rank,
 *   - an eigenvalue of an r x r symmetric matrix whose entries are k-fold
 *     products of the H_i: |delta| <= c r eps L^k (Weyl), c = 256;
 *   - lambda1(S) (n x n Gram square roots): c n eps n L, relative entries;
 *   - sigma = lambda1(S) / L: relative c n eps;
 *   - s_k = gap_k^(1/k): the gap's error divided by k s_k^(k-1), or its
 *     k-th root when s_k is within that error of 0;
 *   - gamma_min, an eigenvalue of the pencil (A, H): relative c r eps
 *     kappa(H) with kappa(H) = l_1/l_r on the range;
 *   - bounds: closed forms of the above (their relative errors add up), and
 *     lambda_max(P), P = I - 2 eta M1 + ..., an eigenvalue of a matrix of
 *     norm <= (1 + eta L (1 + rho L))^2;
 *   - exact radii: eigenvalues of the m x m operator (m = r(r+1)/2) of norm
 *     <= (1 + eta L (1 + rho L))^2: c m eps times that norm (relative, the
 *     independent-SAM operator is not symmetric: c m eps kappa with
 *     kappa = that norm squared);
 *   - critical eta / rho: the peer bisects to 1e-13 relative (linstab's SAM
 *     values bisect to 1e-10, its SGD eta* is a generalized eigenvalue); the radius
 *     error above moves the crossing by delta / |d radius / d x|, with the
 *     slope at the crossing estimated by a library finite difference.
 */
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "linstab/bounds.h"
#include "linstab/exact.h"
#include "linstab/geometry.h"
#include "linstab/secmom.h"
#include "testutil.h"

#define EPS 2.220446049250313e-16
#define C_TOL 256.0

/* tests/data: $LINSTAB_SRCDIR/tests/data, else next to this source file
 * (the build root is the test executable's grandparent directory). */
static void data_dir(char *out, size_t cap)
{
    const char *src = getenv("LINSTAB_SRCDIR");
    if (src != NULL && *src) {
        snprintf(out, cap, "%s/tests/data", src);
        return;
    }
    char file[PATH_MAX];
    snprintf(file, sizeof file, "%s", __FILE__);
    char *dir = dirname(file);
    if (dir[0] == '/') {
        snprintf(out, cap, "%s/data", dir);
        return;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cr_assert_gt(len, 0);
    exe[len] = '\0';
    char *root = dirname(dirname(exe));
    snprintf(out, cap, "%s/%s/data", root, dir);
}

typedef struct line {
    char file[64], kind[16], sampling[16], variant[16], key[96];
    double eta, rho, value;
    size_t batch;
    int is_null;
} line;

static line *read_lines(const char *name, size_t *count)
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    data_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot open %s", path);
    size_t cap = 1024, n = 0;
    line *v = malloc(cap * sizeof *v);
    char buf[512];
    while (fgets(buf, sizeof buf, f)) {
        if (buf[0] == '#' || buf[0] == '\n') continue;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        line *l = &v[n];
        char val[64];
        int got = sscanf(buf, "%63s %15s %lf %zu %lf %15s %15s %95s %63s", l->file, l->kind, &l->eta, &l->batch,
                         &l->rho, l->sampling, l->variant, l->key, val);
        cr_assert_eq(got, 9, "%s: bad line '%s'", path, buf);
        l->is_null = strcmp(val, "null") == 0;
        l->value = strcmp(val, "true") == 0 ? 1.0 : strcmp(val, "false") == 0 ? 0.0 : l->is_null ? NAN : strtod(val, NULL);
        n++;
    }
    fclose(f);
    *count = n;
    return v;
}

typedef struct result {
    linstab_rotated rf;
    linstab_moments *m;
    linstab_geometry g;
    linstab_bounds b;
    linstab_exact ex;
    linstab_hyper h;
    linstab_optimizer variant;
    double L; /* max_i lambda1(H_i) */
    int have_exact;
} result;

static void compute(const line *l, int want_exact, result *res)
{
    memset(res, 0, sizeof *res);
    char dir[PATH_MAX], path[PATH_MAX + 64];
    data_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, l->file);
    linstab_family_kind kind = strcmp(l->kind, "dense") == 0     ? LINSTAB_FAMILY_DENSE
                               : strcmp(l->kind, "factors") == 0 ? LINSTAB_FAMILY_FACTORED
                                                                 : LINSTAB_FAMILY_DIAGONAL;
    linstab_family *f = NULL;
    linstab_error err;
    cr_assert_eq(linstab_family_load(path, kind, (size_t)1 << 30, &f, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_family_rotated_make(f, -1.0, 0, &res->rf, &err), LINSTAB_OK, "%s", err.msg);
    linstab_family_free(f);
    cr_assert_eq(linstab_moments_compute(res->rf.f, &res->m, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_geometry_compute(res->rf.f, res->m, res->rf.d_full, &res->g, &err), LINSTAB_OK, "%s",
                 err.msg);
    linstab_sampling s;
    cr_assert_eq(linstab_sampling_parse(l->sampling, &s, &err), LINSTAB_OK);
    res->h = (linstab_hyper){l->eta, l->batch, l->rho, s};
    cr_assert_eq(linstab_bounds_compute(&res->g, res->m, &res->h, &res->b, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_sam_variant_parse(l->variant, &res->variant, &err), LINSTAB_OK);
    res->L = res->g.max_individual_sharpness;
    if (want_exact) {
        linstab_exact_opts o = linstab_exact_defaults();
        o.skip_lyapunov = 1;
        o.lemma_k = 1;
        cr_assert_eq(linstab_exact_compute(&res->rf, &res->h, res->variant, &o, &res->ex, &err), LINSTAB_OK, "%s",
                     err.msg);
        res->have_exact = 1;
    }
}

static void release(result *res)
{
    linstab_moments_free(res->m);
    linstab_family_rotated_clear(&res->rf);
}

static int same_case(const line *a, const line *b)
{
    return strcmp(a->file, b->file) == 0 && a->eta == b->eta && a->batch == b->batch && a->rho == b->rho &&
           strcmp(a->sampling, b->sampling) == 0 && strcmp(a->variant, b->variant) == 0;
}

/* The library's value for a key (NAN with *found = 0 if unknown). */
static double value_of(const result *r, const char *key, int *found)
{
    const linstab_geometry *g = &r->g;
    const linstab_bounds *b = &r->b;
    const linstab_exact *ex = &r->ex;
    struct { const char *k; double v; } t[] = {
        {"geometry.sharpness", g->sharpness},
        {"geometry.trace", g->trace},
        {"geometry.frobenius", g->frobenius},
        {"geometry.max_individual_sharpness", g->max_individual_sharpness},
        {"geometry.sigma", g->sigma},
        {"geometry.lambda1_S", g->lambda1_S},
        {"geometry.s2", g->s2},
        {"geometry.s3", g->s3},
        {"geometry.s4", g->s4},
        {"geometry.m2_gap", g->m2_gap},
        {"geometry.m3_gap", g->m3_gap},
        {"geometry.m4_gap", g->m4_gap},
        {"geometry.gamma_min", g->gamma_min},
        {"bounds.gd.threshold", b->gd_threshold},
        {"bounds.gd.diverges", b->gd_diverges},
        {"bounds.dexter_thm1.threshold", b->thm1_threshold},
        {"bounds.dexter_thm1.diverges", b->thm1_diverges},
        {"bounds.dexter_thm2.threshold", b->thm2_threshold},
        {"bounds.shin_thm9.lambda_max", b->thm9_lambda_max},
        {"bounds.shin_thm9.stable", b->thm9_stable},
        {"bounds.shin_eq7.sharpness.lhs", b->eq7[0].lhs},
        {"bounds.shin_eq7.sharpness.rhs", b->eq7[0].rhs},
        {"bounds.shin_eq7.sharpness.holds", b->eq7[0].holds},
        {"bounds.shin_eq7.s2.lhs", b->eq7[1].lhs},
        {"bounds.shin_eq7.s2.rhs", b->eq7[1].rhs},
        {"bounds.shin_eq7.s2.holds", b->eq7[1].holds},
        {"bounds.shin_eq7.s3.lhs", b->eq7[2].lhs},
        {"bounds.shin_eq7.s3.rhs", b->eq7[2].rhs},
        {"bounds.shin_eq7.s3.holds", b->eq7[2].holds},
        {"bounds.shin_eq7.s4.lhs", b->eq7[3].lhs},
        {"bounds.shin_eq7.s4.rhs", b->eq7[3].rhs},
        {"bounds.shin_eq7.s4.holds", b->eq7[3].holds},
        {"bounds.sam_late_thm41.lhs", b->thm41.lhs},
        {"bounds.sam_late_thm41.rhs", b->thm41.rhs},
        {"bounds.sam_late_thm41.stable_necessary", b->thm41.holds},
        {"bounds.sam_late_thm41_corrected.batch_eff", b->batch_eff},
        {"bounds.sam_late_thm41_corrected.lhs", b->thm41_corrected.lhs},
        {"bounds.sam_late_thm41_corrected.rhs", b->thm41_corrected.rhs},
        {"bounds.sam_late_thm41_corrected.stable_necessary", b->thm41_corrected.holds},
        {"exact.sgd.radius", ex->sgd_radius},
        {"exact.sgd.critical_eta", ex->sgd_eta_star},
        {"exact.sgd.critical_batch", ex->sgd_critical_batch == 0 ? NAN : (double)ex->sgd_critical_batch},
        {"exact.sam.radius", ex->sam_radius},
        {"exact.sam.critical_eta", ex->sam_eta_star},
        {"exact.sam.critical_rho", ex->sam_critical_rho},
    };
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        if (strcmp(t[k].k, key) == 0) {
            *found = 1;
            return t[k].v;
        }
    *found = 0;
    return NAN;
}

static int is_bool_key(const char *key)
{
    const char *tail = strrchr(key, '.');
    return strcmp(tail, ".diverges") == 0 || strcmp(tail, ".stable") == 0 || strcmp(tail, ".holds") == 0 ||
           strcmp(tail, ".stable_necessary") == 0;
}

/* Relative errors of the geometry values the bounds are built from. */
static double rel_sigma(const result *r) { return C_TOL * r->g.n * EPS; }
static double rel_fro(const result *r) { return C_TOL * r->g.rank * EPS; }
static double rel_gamma(const result *r)
{
    double kappa = r->rf.l[0] / r->rf.l[r->rf.f->d - 1];
    return C_TOL * r->g.rank * EPS * kappa;
}
static double abs_gap(const result *r, int k) { return C_TOL * r->g.rank * EPS * pow(r->L, k); }
static double tol_root(double s, double dgap, int k)
{
    double lin = dgap / (k * pow(fabs(s), k - 1));
    double root = pow(dgap, 1.0 / k);
    return fabs(s) > root ? fmin(lin, root) : root;
}

/* The radius of the method at parameter x (eta or rho), for the slope. */
static double radius_at(const result *r, int sam, double eta, double rho)
{
    linstab_eigen_opts eo = linstab_eigen_defaults();
    linstab_error err;
    double rad;
    if (!sam) {
        double a, b;
        linstab_sampling_coeffs(r->h.sampling, r->g.n, r->h.batch, &a, &b);
        linstab_secmom *s = NULL;
        cr_assert_eq(linstab_secmom_alloc(r->rf.f, r->rf.l, LINSTAB_OPT_SGD, eta, 0.0, a, b, &s, &err), LINSTAB_OK);
        cr_assert_eq(linstab_secmom_radius(s, &eo, &rad, &err), LINSTAB_OK);
        linstab_secmom_free(s);
        return rad;
    }
    cr_assert_eq(linstab_sam_radius(&r->rf, r->variant, eta, rho, r->h.batch, r->h.sampling, &eo, &rad, &err),
                 LINSTAB_OK, "%s", err.msg);
    return rad;
}

static double op_norm(const result *r, double eta, double rho)
{
    double q = 1.0 + eta * r->L * (1.0 + rho * r->L);
    return q * q;
}

/* Absolute tolerance for key at the golden value want. */
static double tol(const result *r, const line *l, double want)
{
    const char *k = l->key;
    double eta = r->h.eta, rho = r->h.rho, n = (double)r->g.n, rk = (double)r->g.rank, L = r->L;
    double m = rk * (rk + 1.0) / 2.0;
    if (!strcmp(k, "geometry.sharpness") || !strcmp(k, "geometry.max_individual_sharpness"))
        return C_TOL * rk * EPS * L;
    if (!strcmp(k, "geometry.trace") || !strcmp(k, "geometry.frobenius")) return C_TOL * rk * EPS * rk * L;
    if (!strcmp(k, "geometry.lambda1_S")) return C_TOL * n * EPS * n * L;
    if (!strcmp(k, "geometry.sigma")) return rel_sigma(r) * fabs(want);
    if (!strcmp(k, "geometry.m2_gap")) return abs_gap(r, 2);
    if (!strcmp(k, "geometry.m3_gap")) return abs_gap(r, 3);
    if (!strcmp(k, "geometry.m4_gap")) return abs_gap(r, 4);
    if (!strcmp(k, "geometry.s2")) return tol_root(want, abs_gap(r, 2), 2);
    if (!strcmp(k, "geometry.s3")) return tol_root(want, abs_gap(r, 3), 3);
    if (!strcmp(k, "geometry.s4")) return tol_root(want, abs_gap(r, 4), 4);
    if (!strcmp(k, "geometry.gamma_min")) return rel_gamma(r) * fabs(want);
    if (!strcmp(k, "bounds.gd.threshold") || strstr(k, "batch_eff")) return 4 * EPS * fabs(want);
    if (strstr(k, "dexter_thm")) return (rel_sigma(r) + 8 * EPS) * fabs(want);
    if (!strcmp(k, "bounds.shin_thm9.lambda_max")) return C_TOL * rk * EPS * op_norm(r, eta, rho);
    if (strstr(k, "shin_eq7.sharpness")) return (2 * C_TOL * rk * EPS * (1.0 + rho * L) + 8 * EPS) * fabs(want);
    if (strstr(k, "shin_eq7.s2.lhs")) return abs_gap(r, 2);
    if (strstr(k, "shin_eq7.s3.lhs")) return abs_gap(r, 3);
    if (strstr(k, "shin_eq7.s4.lhs")) return abs_gap(r, 4);
    if (strstr(k, "shin_eq7")) return 8 * EPS * fabs(want); /* rhs: closed forms in eta, rho */
    if (strstr(k, "thm41")) return (4 * rel_fro(r) + rel_gamma(r) + 8 * EPS) * fabs(want);
    int sam = strstr(k, "exact.sam.") != NULL;
    int indep = sam && r->variant == LINSTAB_OPT_SAM_INDEP;
    if (strstr(k, ".radius")) {
        double nrm = op_norm(r, eta, sam ? rho : 0.0);
        return C_TOL * m * EPS * nrm * (indep ? nrm : 1.0);
    }
    if (strstr(k, "critical_eta") || strstr(k, "critical_rho")) {
        int is_rho = strstr(k, "critical_rho") != NULL;
        double x = want, h = 1e-5 * x;
        double e0 = is_rho ? eta : x, r0 = is_rho ? x : rho;
        double up = radius_at(r, sam, is_rho ? eta : e0 + h, is_rho ? r0 + h : r0);
        double dn = radius_at(r, sam, is_rho ? eta : e0 - h, is_rho ? r0 - h : r0);
        double slope = fabs(up - dn) / (2 * h);
        double nrm = op_norm(r, is_rho ? eta : x, sam ? r0 : 0.0);
        double drad = C_TOL * m * EPS * nrm * (indep ? nrm : 1.0);
        /* SAM's critical values are bisections too (linstab_critical_param
         * at rtol 1e-10); SGD's critical eta is a generalized eigenvalue */
        return (sam ? 1e-10 : 0.0) * fabs(x) + 2e-13 * fabs(x) + drad / slope;
    }
    return 0.0; /* critical batch: exact */
}

static void compare_file(const char *name, int want_exact)
{
    size_t count;
    line *v = read_lines(name, &count);
    cr_assert_gt(count, 50, "%s: %zu lines", name, count);
    size_t checked = 0, cases = 0;
    double worst = 0.0;
    char worst_key[256] = "";
    for (size_t i = 0; i < count;) {
        result r;
        compute(&v[i], want_exact, &r);
        cases++;
        size_t j = i;
        for (; j < count && same_case(&v[i], &v[j]); j++) {
            const line *l = &v[j];
            int found;
            double got = value_of(&r, l->key, &found);
            if (!found) continue; /* a key linstab does not compute (e.g. timing) */
            checked++;
            if (l->is_null || isinf(l->value)) {
                cr_expect(!isfinite(got) && (isnan(got) || l->is_null || got == l->value),
                          "%s %s eta %g B %zu rho %g %s %s: %s = %.17g, peer %s", name, l->file, l->eta, l->batch,
                          l->rho, l->sampling, l->variant, l->key, got, l->is_null ? "null" : "inf");
                continue;
            }
            if (is_bool_key(l->key)) {
                cr_expect_eq(got != 0.0, l->value != 0.0, "%s %s eta %g B %zu %s: %s = %g, peer %g", name, l->file,
                             l->eta, l->batch, l->sampling, l->key, got, l->value);
                continue;
            }
            double t = tol(&r, l, l->value), d = fabs(got - l->value);
            if (t > 0 && d / t > worst) {
                worst = d / t;
                snprintf(worst_key, sizeof worst_key, "%s %s B %zu %s", l->file, l->key, l->batch, l->sampling);
            }
            cr_expect(d <= t, "%s %s eta %.17g B %zu rho %.17g %s %s: %s = %.17g, peer %.17g (diff %.3g, tol %.3g)",
                      name, l->file, l->eta, l->batch, l->rho, l->sampling, l->variant, l->key, got, l->value, d, t);
        }
        release(&r);
        i = j;
    }
    cr_log_info("%s: %zu values in %zu cases, worst diff/tol %.3g (%s)", name, checked, cases, worst, worst_key);
    cr_expect_gt(checked, 50);
    free(v);
}

Test(golden, geometry_and_bounds_match_the_numpy_reference)
{
    compare_file("golden_check.txt", 0);
}

Test(golden, exact_values_match_brute_force_enumeration_of_every_batch)
{
    compare_file("golden_exact.txt", 1);
}
