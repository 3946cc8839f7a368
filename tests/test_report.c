/*
 * test_report.c -- the JSON writer and the `check` report.
 *
 * The writer's output text byte for byte; every key of the check report
 * parsed back (a small JSON parser below) and compared with the struct field
 * it must hold -- each field given a distinct value, so that a key printing
 * another field is caught; and the report of 004's construction, whose
 * geometry, bounds and exact SGD numbers have closed forms (SPEC.md
 * section 6; derived in the comments), parsed and checked.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/bounds.h"
#include "linstab/exact.h"
#include "linstab/geometry.h"
#include "linstab/report.h"
#include "linstab/verdict.h"
#include "testutil.h"

#define EPS 2.220446049250313e-16

/* ---- writer ---- */


Test(json_writer, nests_objects_and_arrays_with_commas_and_indentation)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    linstab_json j;
    linstab_json_init(&j, f);
    linstab_json_begin(&j, NULL);
    linstab_json_int(&j, "n", -12);
    linstab_json_number(&j, "x", 0.1);
    linstab_json_number(&j, "inf", INFINITY);
    linstab_json_number(&j, "nan", NAN);
    linstab_json_bool(&j, "t", 1);
    linstab_json_bool(&j, "f", 0);
    linstab_json_null(&j, "z");
    linstab_json_string(&j, "s", "a\"b\\c\nd\te\x01");
    linstab_json_begin_array(&j, "arr");
    linstab_json_number(&j, NULL, 1.5);
    linstab_json_number(&j, NULL, -2.0);
    linstab_json_end_array(&j);
    linstab_json_begin_array(&j, "empty");
    linstab_json_end_array(&j);
    linstab_json_begin(&j, "o");
    linstab_json_end(&j);
    linstab_json_end(&j);
    fclose(f);
    const char *want = "{\n"
                       "  \"n\": -12,\n"
                       "  \"x\": 0.10000000000000001,\n"
                       "  \"inf\": null,\n"
                       "  \"nan\": null,\n"
                       "  \"t\": true,\n"
                       "  \"f\": false,\n"
                       "  \"z\": null,\n"
                       "  \"s\": \"a\\\"b\\\\c\\nd\\te\\u0001\",\n"
                       "  \"arr\": [\n"
                       "    1.5,\n"
                       "    -2\n"
                       "  ],\n"
                       "  \"empty\": [],\n"
                       "  \"o\": {}\n"
                       "}\n";
    cr_assert_str_eq(buf, want);
    free(buf);
}

Test(json_writer, numbers_round_trip_exactly)
{
    double v[] = {1.0 / 3.0, 2.408, 1e-300, -6.02214076e23, 5e-324, 0.0};
    for (int k = 0; k < 6; k++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        linstab_json j;
        linstab_json_init(&j, f);
        linstab_json_number(&j, NULL, v[k]);
        fclose(f);
        cr_assert_eq(strtod(buf, NULL), v[k], "%s", buf);
        free(buf);
    }
}

/* ---- a small JSON parser: flattens to (path, value) ---- */

typedef struct jval {
    char path[128];
    int type; /* 'n' number, 'b' bool, 'z' null, 's' string */
    double num;
    char str[128];
} jval;

typedef struct jdoc {
    jval v[512];
    int count;
    const char *p;
} jdoc;

static void ws(jdoc *d)
{
    while (*d->p == ' ' || *d->p == '\n' || *d->p == '\t' || *d->p == '\r') d->p++;
}

static void parse_string(jdoc *d, char *out, size_t cap)
{
    cr_assert_eq(*d->p, '"', "expected a string at '%.20s'", d->p);
    d->p++;
    size_t k = 0;
    while (*d->p != '"') {
        cr_assert(*d->p != '\0', "unterminated string");
        char c = *d->p++;
        if (c == '\\') {
            c = *d->p++;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
            else if (c == 'r') c = '\r';
            else if (c == 'u') {
                c = (char)strtol((char[]){d->p[0], d->p[1], d->p[2], d->p[3], 0}, NULL, 16);
                d->p += 4;
            }
        }
        if (k + 1 < cap) out[k++] = c;
    }
    out[k] = '\0';
    d->p++;
}

static void parse_value(jdoc *d, const char *path)
{
    ws(d);
    if (*d->p == '{' || *d->p == '[') {
        char close = *d->p == '{' ? '}' : ']';
        int obj = *d->p == '{';
        d->p++;
        ws(d);
        int index = 0;
        if (*d->p == close) {
            d->p++;
            return;
        }
        for (;;) {
            char key[64], sub[128];
            ws(d);
            if (obj) {
                parse_string(d, key, sizeof key);
                ws(d);
                cr_assert_eq(*d->p, ':', "expected ':' at '%.20s'", d->p);
                d->p++;
            } else {
                snprintf(key, sizeof key, "%d", index);
            }
            index++;
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
            parse_value(d, sub);
            ws(d);
            if (*d->p == ',') {
                d->p++;
                continue;
            }
            cr_assert_eq(*d->p, close, "expected '%c' at '%.20s'", close, d->p);
            d->p++;
            return;
        }
    }
    cr_assert_lt(d->count, 512);
    jval *v = &d->v[d->count++];
    snprintf(v->path, sizeof v->path, "%s", path);
    if (*d->p == '"') {
        v->type = 's';
        parse_string(d, v->str, sizeof v->str);
    } else if (strncmp(d->p, "true", 4) == 0 || strncmp(d->p, "false", 5) == 0) {
        v->type = 'b';
        v->num = *d->p == 't';
        d->p += *d->p == 't' ? 4 : 5;
    } else if (strncmp(d->p, "null", 4) == 0) {
        v->type = 'z';
        v->num = NAN;
        d->p += 4;
    } else {
        char *end;
        v->type = 'n';
        v->num = strtod(d->p, &end);
        cr_assert(end != d->p, "not a JSON value at '%.20s'", d->p);
        d->p = end;
    }
}

static jdoc *parse(const char *text)
{
    jdoc *d = calloc(1, sizeof *d);
    d->p = text;
    parse_value(d, "");
    ws(d);
    cr_assert_eq(*d->p, '\0', "trailing text '%.20s'", d->p);
    return d;
}

static const jval *get(const jdoc *d, const char *path)
{
    for (int k = 0; k < d->count; k++)
        if (strcmp(d->v[k].path, path) == 0) return &d->v[k];
    cr_assert_fail("key %s missing from the report", path);
    return NULL;
}

static double num(const jdoc *d, const char *path)
{
    const jval *v = get(d, path);
    cr_assert(v->type == 'n' || v->type == 'z', "%s is not a number", path);
    return v->num;
}

static void expect_num(const jdoc *d, const char *path, double want)
{
    double got = num(d, path);
    cr_expect(got == want || (isnan(got) && !isfinite(want)), "%s = %.17g, want %.17g", path, got, want);
}

static void expect_bool(const jdoc *d, const char *path, int want)
{
    const jval *v = get(d, path);
    cr_expect(v->type == 'b' && (int)v->num == !!want, "%s: want %s", path, want ? "true" : "false");
}

/* ---- every key holds its own field ---- */

Test(check_report, every_json_key_holds_its_own_field)
{
    linstab_hyper h = {0.375, 7, 0.0625, LINSTAB_SAMPLING_WITH};
    linstab_geometry g;
    memset(&g, 0, sizeof g);
    g.n = 40;
    g.d = 31;
    g.rank = 17;
    g.space_dim = 19;
    g.definite = 1;
    double *gf[] = {&g.sharpness, &g.trace, &g.frobenius, &g.max_individual_sharpness, &g.lambda1_S, &g.sigma,
                    &g.m2_gap, &g.m3_gap, &g.m4_gap, &g.s2, &g.s3, &g.s4, &g.gamma_min, &g.lambda_min};
    for (size_t k = 0; k < sizeof gf / sizeof gf[0]; k++) *gf[k] = 1.5 + 0.25 * (double)k; /* distinct */
    linstab_bounds b;
    memset(&b, 0, sizeof b);
    b.gd_threshold = 11.5;
    b.gd_radius = 11.75;
    b.gd_verdict = LINSTAB_VERDICT_UNSTABLE;
    b.gd_diverges = 1;
    b.thm1_threshold = 12.5;
    b.thm1_diverges = 0;
    b.thm1_proved = 1;
    b.thm2_threshold = 13.5;
    b.thm9_lambda_max = 14.5;
    b.thm9_stable = 0;
    b.thm9_verdict = LINSTAB_VERDICT_MARGINAL; /* deliberately not what "stable" says: keys are independent */
    b.thm9_applies = 1;
    for (int k = 0; k < 4; k++) b.eq7[k] = (linstab_condition){20.0 + k, 30.0 + k, k % 2};
    b.thm41 = (linstab_condition){41.5, 42.5, 1};
    b.thm41_defined = 1;
    b.batch_eff = 43.5;
    b.thm41_corrected = (linstab_condition){44.5, 45.5, 0};
    linstab_exact ex;
    memset(&ex, 0, sizeof ex);
    ex.sgd_radius = 0.9375;
    ex.sgd_stable = 1;
    ex.sgd_verdict = LINSTAB_VERDICT_STABLE;
    ex.radius_tol = 0.0625e-10;
    ex.sgd_eta_star = 51.5;
    ex.sgd_critical_batch = 6;
    ex.sam_available = 1;
    ex.sam_variant = LINSTAB_OPT_SAM_INDEP;
    ex.sam_radius = 1.125;
    ex.sam_stable = 0;
    ex.sam_verdict = LINSTAB_VERDICT_UNSTABLE;
    ex.sam_radius_tol = 0.125e-10;
    ex.sam_eta_star = 52.5;
    ex.sam_critical_rho = 53.5;
    ex.sam_rho_monotone = 1; /* monotone, not single-crossing */
    ex.lemma_k = 3;
    for (int k = 0; k < 3; k++) {
        ex.lemma_trace[k] = 60.0 + k;
        ex.lemma_lower[k] = 70.0 + k;
    }
    ex.lyap = (linstab_lyap){-0.03125, 0.0078125, 0, 9, 1000};
    ex.lyap_done = 1;
    linstab_check_info info = {"fam.npy", "dense", "9.9.9", NULL, 0, NULL, NULL};

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    linstab_report_check_json(f, &info, &h, &g, &b, &ex);
    fclose(f);
    jdoc *d = parse(buf);

    cr_expect_str_eq(get(d, "source")->str, "fam.npy");
    cr_expect_str_eq(get(d, "representation")->str, "dense");
    cr_expect_str_eq(get(d, "linstab_version")->str, "9.9.9");
    cr_expect_str_eq(get(d, "sampling")->str, "with");
    expect_num(d, "n", 40);
    expect_num(d, "d", 31);
    expect_num(d, "rank", 17);
    expect_num(d, "null_dim", 31 - 17);
    expect_num(d, "space_dim", 19);
    expect_bool(d, "h_positive_definite", 1);
    expect_num(d, "eta", 0.375);
    expect_num(d, "batch", 7);
    expect_num(d, "rho", 0.0625);

    expect_num(d, "geometry.sharpness", g.sharpness);
    expect_num(d, "geometry.trace", g.trace);
    expect_num(d, "geometry.frobenius", g.frobenius);
    expect_num(d, "geometry.max_individual_sharpness", g.max_individual_sharpness);
    expect_num(d, "geometry.sigma", g.sigma);
    expect_num(d, "geometry.lambda1_S", g.lambda1_S);
    expect_num(d, "geometry.s2", g.s2);
    expect_num(d, "geometry.s3", g.s3);
    expect_num(d, "geometry.s4", g.s4);
    expect_num(d, "geometry.m2_gap", g.m2_gap);
    expect_num(d, "geometry.m3_gap", g.m3_gap);
    expect_num(d, "geometry.m4_gap", g.m4_gap);
    expect_num(d, "geometry.gamma_min", g.gamma_min);
    expect_num(d, "geometry.lambda_min", g.lambda_min);

    expect_num(d, "bounds.gd.threshold", 11.5);
    expect_bool(d, "bounds.gd.diverges", 1);
    expect_num(d, "bounds.gd.radius", 11.75);
    cr_expect_str_eq(get(d, "bounds.gd.verdict")->str, "unstable");
    cr_expect_str_eq(get(d, "bounds.shin_thm9.verdict")->str, linstab_verdict_name(LINSTAB_VERDICT_MARGINAL));
    expect_num(d, "bounds.dexter_thm1.threshold", 12.5);
    expect_bool(d, "bounds.dexter_thm1.diverges", 0);
    expect_bool(d, "bounds.dexter_thm1.proved_for_sampling", 1);
    expect_num(d, "bounds.dexter_thm2.threshold", 13.5);
    expect_num(d, "bounds.shin_thm9.lambda_max", 14.5);
    expect_bool(d, "bounds.shin_thm9.stable", 0);
    expect_bool(d, "bounds.shin_thm9.stated_for_batch", 1);
    const char *eq7[] = {"sharpness", "s2", "s3", "s4"};
    for (int k = 0; k < 4; k++) {
        char p[96];
        snprintf(p, sizeof p, "bounds.shin_eq7.%s.lhs", eq7[k]);
        expect_num(d, p, 20.0 + k);
        snprintf(p, sizeof p, "bounds.shin_eq7.%s.rhs", eq7[k]);
        expect_num(d, p, 30.0 + k);
        snprintf(p, sizeof p, "bounds.shin_eq7.%s.holds", eq7[k]);
        expect_bool(d, p, k % 2);
    }
    expect_num(d, "bounds.sam_late_thm41.gamma", g.gamma_min);
    expect_num(d, "bounds.sam_late_thm41.lhs", 41.5);
    expect_num(d, "bounds.sam_late_thm41.rhs", 42.5);
    expect_bool(d, "bounds.sam_late_thm41.stable_necessary", 1);
    expect_num(d, "bounds.sam_late_thm41_corrected.batch_eff", 43.5);
    expect_num(d, "bounds.sam_late_thm41_corrected.lhs", 44.5);
    expect_num(d, "bounds.sam_late_thm41_corrected.rhs", 45.5);
    expect_bool(d, "bounds.sam_late_thm41_corrected.stable_necessary", 0);

    expect_num(d, "exact.sgd.radius", 0.9375);
    expect_bool(d, "exact.sgd.stable", 1);
    cr_expect_str_eq(get(d, "exact.sgd.verdict")->str, "stable");
    expect_bool(d, "exact.sgd.marginal", 0);
    expect_num(d, "exact.sgd.radius_tol", 0.0625e-10);
    expect_num(d, "exact.sgd.critical_eta", 51.5);
    expect_num(d, "exact.sgd.critical_batch", 6);
    cr_expect_str_eq(get(d, "exact.sam.variant")->str, "independent");
    expect_bool(d, "exact.sam.available", 1);
    expect_num(d, "exact.sam.radius", 1.125);
    expect_bool(d, "exact.sam.stable", 0);
    cr_expect_str_eq(get(d, "exact.sam.verdict")->str, "unstable");
    expect_num(d, "exact.sam.radius_tol", 0.125e-10);
    expect_num(d, "exact.sam.critical_eta", 52.5);
    expect_num(d, "exact.sam.critical_rho", 53.5);
    expect_bool(d, "exact.sam.radius_monotone_in_rho", 1);
    expect_bool(d, "exact.sam.single_crossing_in_rho", 0);
    for (int k = 0; k < 3; k++) {
        char p[64];
        snprintf(p, sizeof p, "exact.lemma41.trace_T_k.%d", k);
        expect_num(d, p, 60.0 + k);
        snprintf(p, sizeof p, "exact.lemma41.lower_bound_k.%d", k);
        expect_num(d, p, 70.0 + k);
    }
    expect_num(d, "exact.lyapunov.exponent", -0.03125);
    expect_num(d, "exact.lyapunov.stderr", 0.0078125);
    expect_bool(d, "exact.lyapunov.exact", 0);
    expect_bool(d, "exact.lyapunov.almost_surely_stable", 1);
    expect_bool(d, "exact.lyapunov.sign_resolved", 1); /* 4 standard errors below 0 */
    expect_num(d, "exact.lyapunov.runs", 9);
    expect_num(d, "exact.lyapunov.steps", 1000);
    free(d);
    free(buf);

    /* a Monte Carlo exponent 1.28 standard errors from 0 decides nothing */
    ex.lyap.exponent = 0.01;
    f = open_memstream(&buf, &len);
    linstab_report_check_json(f, &info, &h, &g, &b, &ex);
    fclose(f);
    d = parse(buf);
    expect_bool(d, "exact.lyapunov.sign_resolved", 0);
    free(d);
    free(buf);
    f = open_memstream(&buf, &len);
    linstab_report_check_text(f, &info, &h, &g, &b, &ex);
    fclose(f);
    cr_expect(strstr(buf, "a.s. undecided") != NULL, "%s", buf);
    free(buf);
    ex.lyap.exact = 1; /* an exact exponent always has its sign */
    f = open_memstream(&buf, &len);
    linstab_report_check_text(f, &info, &h, &g, &b, &ex);
    fclose(f);
    cr_expect(strstr(buf, "a.s. unstable") != NULL, "%s", buf);
    free(buf);
    ex.lyap.exact = 0;
    ex.lyap.exponent = -0.03125;

    /* critical_batch 0 -> null; Theorem 4.1 undefined (gamma_min undefined) -> null */
    ex.sgd_critical_batch = 0;
    b.thm41_defined = 0;
    f = open_memstream(&buf, &len);
    linstab_report_check_json(f, &info, &h, &g, &b, &ex);
    fclose(f);
    d = parse(buf);
    cr_expect_eq(get(d, "exact.sgd.critical_batch")->type, 'z');
    expect_bool(d, "bounds.sam_late_thm41.defined", 0);
    cr_expect_eq(get(d, "bounds.sam_late_thm41.stable_necessary")->type, 'z');
    cr_expect_eq(get(d, "bounds.sam_late_thm41_corrected.stable_necessary")->type, 'z');
    free(d);
    free(buf);
    f = open_memstream(&buf, &len);
    linstab_report_check_json(f, &info, &h, &g, &b, NULL);
    fclose(f);
    d = parse(buf);
    cr_expect_eq(get(d, "exact")->type, 'z', "--no-exact: \"exact\": null, not a missing key");
    free(d);
    free(buf);

    /* unavailable values are null, never dropped: the report of a full
     * computation and one where SAM has no exact operator, the Lyapunov
     * exponent is exact (no Monte Carlo runs) and no model is given have
     * the same keys */
    ex.sgd_critical_batch = 6;
    b.thm41_defined = 1;
    f = open_memstream(&buf, &len);
    linstab_report_check_json(f, &info, &h, &g, &b, &ex);
    fclose(f);
    jdoc *full = parse(buf);
    free(buf);
    ex.sam_available = 0;
    ex.lyap.exact = 1;
    f = open_memstream(&buf, &len);
    linstab_report_check_json(f, &info, &h, &g, &b, &ex);
    fclose(f);
    d = parse(buf);
    cr_expect_eq(d->count, full->count, "%d keys vs %d of the full report", d->count, full->count);
    for (int k = 0; k < full->count; k++) get(d, full->v[k].path); /* asserts each is there */
    const char *nulls[] = {"exact.sam.radius", "exact.sam.stable", "exact.sam.verdict", "exact.sam.critical_eta",
                           "exact.sam.critical_rho", "exact.sam.radius_tol", "exact.lyapunov.runs",
                           "exact.lyapunov.steps", "curvature", "model_point"};
    for (size_t k = 0; k < sizeof nulls / sizeof nulls[0]; k++)
        cr_expect_eq(get(d, nulls[k])->type, 'z', "%s should be null", nulls[k]);
    expect_bool(d, "exact.sam.available", 0);
    free(d);
    free(full);
    free(buf);
    ex.lyap_done = 0;
    f = open_memstream(&buf, &len);
    linstab_report_check_json(f, &info, &h, &g, &b, &ex);
    fclose(f);
    d = parse(buf);
    cr_expect_eq(get(d, "exact.lyapunov")->type, 'z', "a skipped Lyapunov exponent is null");
    free(d);
    free(buf);

    /* a model source names its curvature in the JSON and the text header */
    info.curvature = "ggn";
    info.curvature_words = "generalized Gauss-Newton J'(diag p - pp')J";
    f = open_memstream(&buf, &len);
    linstab_report_check_json(f, &info, &h, &g, &b, &ex);
    fclose(f);
    d = parse(buf);
    cr_expect_str_eq(get(d, "curvature")->str, "ggn");
    free(d);
    free(buf);
    f = open_memstream(&buf, &len);
    linstab_report_check_text(f, &info, &h, &g, &b, &ex);
    fclose(f);
    char *nl = strchr(buf, '\n');
    cr_expect(nl != NULL && strncmp(nl + 1, "  curvature: generalized Gauss-Newton J'(diag p - pp')J\n", 56) == 0,
              "the header's second line names the curvature: %s", buf);
    free(buf);
}

/*
 * 004's construction (n samples, coherence sigma, m = 2n/sigma): H =
 * diag(2, 2/sigma, ..., 2/sigma), ||H||_F^2 = 4 + (n - sigma) 4/sigma^2,
 * tr H = m, max_i lambda1(H_i) = m, lambda1(S) = sigma m = 2n;
 * M2 - H^2 = diag(4n/sigma - 4, 4(n-1)/sigma^2 ...);
 * gamma_min = min(A_jj / H_jj) / ||H||_F^2 with A = (1/n) sum H_i H H_i - H^3:
 *   A_00/H_00 = 4n/sigma - 4, A_jj/H_jj = 4(n-1)/sigma^2.
 * SGD (diagonal, so T acts entrywise): radius = max_j 1 - 2 eta l_j + eta^2
 * (a l_j^2 + b E[h_j^2]), E[h_0^2] = 4n/sigma, E[h_j^2] = 4n/sigma^2;
 * eta* = min_j 2 l_j / (a l_j^2 + b E[h_j^2]).
 */
static void check_004(size_t n, size_t sigma, double eta, size_t B, linstab_sampling s)
{
    linstab_family *f = tu_family_004(n, sigma);
    linstab_rotated rf = tu_rotate(f);
    linstab_error err;
    linstab_moments *m = NULL;
    cr_assert_eq(linstab_moments_compute(rf.f, &m, &err), LINSTAB_OK, "%s", err.msg);
    linstab_geometry g;
    cr_assert_eq(linstab_geometry_compute(rf.f, m, rf.d_full, &g, &err), LINSTAB_OK, "%s", err.msg);
    linstab_hyper h = {eta, B, 0.0, s};
    linstab_bounds b;
    cr_assert_eq(linstab_bounds_compute(&g, m, &h, &b, &err), LINSTAB_OK, "%s", err.msg);
    linstab_exact_opts o = linstab_exact_defaults();
    o.skip_lyapunov = 1;
    o.lemma_k = 2;
    linstab_exact ex;
    cr_assert_eq(linstab_exact_compute(&rf, &h, LINSTAB_OPT_SAM_SAME, &o, &ex, &err), LINSTAB_OK, "%s", err.msg);
    linstab_check_info info = {"004", "diagonal", "0", NULL, 0, NULL, NULL};
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    linstab_report_check_json(fp, &info, &h, &g, &b, &ex);
    fclose(fp);
    jdoc *d = parse(buf);

    double N = (double)n, S = (double)sigma, mm = 2.0 * N / S, Bd = (double)B;
    double fro2 = 4.0 + (N - S) * 4.0 / (S * S);
    double gamma = fmin(4.0 * N / S - 4.0, 4.0 * (N - 1.0) / (S * S)) / fro2;
    double m2gap = fmax(4.0 * N / S - 4.0, 4.0 * (N - 1.0) / (S * S));
    double a, bb;
    linstab_sampling_coeffs(s, n, B, &a, &bb);
    double l[2] = {2.0, 2.0 / S}, e2[2] = {4.0 * N / S, 4.0 * N / (S * S)};
    double radius = 0.0, eta_star = INFINITY;
    for (int j = 0; j < 2; j++) {
        double Sj = a * l[j] * l[j] + bb * e2[j];
        radius = fmax(radius, fabs(1.0 - 2.0 * eta * l[j] + eta * eta * Sj));
        eta_star = fmin(eta_star, 2.0 * l[j] / Sj);
    }
    double beff = linstab_sampling_batch_eff(s, n, B);
    /* the JSON values come out of eigen solvers of (n x n) Gram and (r x r)
     * matrices with condition ~ lambda_max / lambda_min <= sigma^2: tolerance
     * c r eps cond with c = 64 */
    double tol = 64.0 * N * EPS * S * S;
    struct { const char *key; double want; } rows[] = {
        {"geometry.sharpness", 2.0},
        {"geometry.trace", mm},
        {"geometry.frobenius", sqrt(fro2)},
        {"geometry.max_individual_sharpness", mm},
        {"geometry.sigma", S},
        {"geometry.lambda1_S", 2.0 * N},
        {"geometry.m2_gap", m2gap},
        {"geometry.s2", sqrt(m2gap)},
        {"geometry.gamma_min", gamma},
        {"bounds.gd.threshold", 2.0 / eta},
        {"bounds.dexter_thm1.threshold", B < n ? S / eta / sqrt(N / Bd - 1.0) : INFINITY},
        {"bounds.dexter_thm2.threshold", 2.0 * S / (eta * (S + N / Bd - 1.0))},
        {"bounds.sam_late_thm41.gamma", gamma},
        {"bounds.sam_late_thm41.lhs", fro2},
        {"bounds.sam_late_thm41.rhs", Bd / (eta * eta * gamma)},
        {"bounds.sam_late_thm41_corrected.batch_eff", beff},
        {"bounds.sam_late_thm41_corrected.rhs", isinf(beff) ? INFINITY : beff / (eta * eta * gamma)},
        {"exact.sgd.radius", radius},
        {"exact.sgd.critical_eta", eta_star},
    };
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        double got = num(d, rows[k].key), want = rows[k].want;
        if (!isfinite(want)) {
            cr_expect(isnan(got), "%s: %g, want null", rows[k].key, got);
            continue;
        }
        cr_expect(fabs(got - want) <= tol * fmax(1.0, fabs(want)),
                  "n=%zu sigma=%zu B=%zu %s: %s = %.17g, closed form %.17g", n, sigma, B,
                  linstab_sampling_name(s), rows[k].key, got, want);
    }
    expect_bool(d, "exact.sgd.stable", radius < 1.0);
    expect_bool(d, "bounds.gd.diverges", 2.0 > 2.0 / eta);
    free(d);
    free(buf);
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}

Test(check_report, json_of_004s_construction_holds_its_closed_forms)
{
    /* README's example (n = 100, sigma = 5, eta = 0.8, B = 20, Bernoulli):
     * radius 2.408, eta* 5/9, gamma 0.825 -- and B = 1, B = n */
    check_004(100, 5, 0.8, 20, LINSTAB_SAMPLING_BERNOULLI);
    check_004(100, 5, 0.8, 1, LINSTAB_SAMPLING_BERNOULLI);
    check_004(100, 5, 0.8, 100, LINSTAB_SAMPLING_BERNOULLI);
    check_004(30, 3, 0.3, 7, LINSTAB_SAMPLING_WITHOUT);
    check_004(30, 3, 0.3, 30, LINSTAB_SAMPLING_WITHOUT);
    check_004(30, 3, 0.3, 1, LINSTAB_SAMPLING_WITH);
}

Test(check_report, text_report_prints_sigma_and_gamma_min_on_their_own_lines)
{
    linstab_family *f = tu_family_004(100, 5);
    linstab_rotated rf = tu_rotate(f);
    linstab_error err;
    linstab_moments *m = NULL;
    cr_assert_eq(linstab_moments_compute(rf.f, &m, &err), LINSTAB_OK);
    linstab_geometry g;
    cr_assert_eq(linstab_geometry_compute(rf.f, m, rf.d_full, &g, &err), LINSTAB_OK);
    linstab_hyper h = {0.8, 20, 0.0, LINSTAB_SAMPLING_BERNOULLI};
    linstab_bounds b;
    cr_assert_eq(linstab_bounds_compute(&g, m, &h, &b, &err), LINSTAB_OK);
    linstab_check_info info = {"dexter.npy", "diagonal", "0", NULL, 0, NULL, NULL};
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    linstab_report_check_text(fp, &info, &h, &g, &b, NULL);
    fclose(fp);
    /* value after the label, as printed (10 significant digits) */
    struct { const char *label; double want; } rows[] = {
        {"coherence sigma", 5.0}, {"gamma_min", 0.825}, {"sharpness lambda1(H)", 2.0},
        {"trace tr(H)", 40.0}, {"lambda1(S)", 200.0}, {"lambda_max(M2 - H^2)", 76.0}};
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
        const char *p = strstr(buf, rows[k].label);
        cr_assert_not_null(p, "no '%s' line in\n%s", rows[k].label, buf);
        const char *eol = strchr(p, '\n');
        const char *q = eol;
        while (q > p && q[-1] != ' ') q--; /* last field of the line */
        double v = strtod(q, NULL);
        cr_expect(fabs(v - rows[k].want) <= 1e-9 * rows[k].want, "%s: printed %.12g, want %g", rows[k].label, v,
                  rows[k].want);
    }
    free(buf);
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
}
