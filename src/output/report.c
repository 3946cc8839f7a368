/*
 * report.c -- JSON and text output of results.  The JSON keys are a
 * contract with scripts (issue 2 lists the required ones); the text report
 * gives one line per quantity and per bound, each bound with its verdict
 * (stable / unstable / says nothing) and the paper it comes from.
 */
#include <math.h>
#include <string.h>

#include "linstab/mlp.h"
#include "linstab/report.h"
#include "linstab/sam.h"
#include "linstab/sampling.h"
#include "linstab/verdict.h"

void linstab_report_model_point(linstab_json *j, const linstab_mlp_point *pt, double lambda_min, int is_minimum)
{
    linstab_json_begin(j, "model_point");
    linstab_json_number(j, "mean_loss", pt->mean_loss);
    linstab_json_number(j, "grad_norm", pt->grad_norm);
    linstab_json_number(j, "max_sample_grad_norm", pt->max_sample_grad_norm);
    linstab_json_number(j, "param_norm", pt->param_norm);
    linstab_json_number(j, "lambda_min", lambda_min);
    linstab_json_bool(j, "interpolating_minimum", is_minimum);
    linstab_json_end(j);
}

static void json_condition(linstab_json *j, const char *key, const linstab_condition *c,
                           const char *holds_key)
{
    linstab_json_begin(j, key);
    linstab_json_number(j, "lhs", c->lhs);
    linstab_json_number(j, "rhs", c->rhs);
    linstab_json_bool(j, holds_key, c->holds);
    linstab_json_end(j);
}

/* The sign of the Lyapunov exponent is known: exact, or a Monte Carlo
 * estimate more than 3 standard errors from 0. */
static int lyap_resolved(const linstab_lyap *ly)
{
    return ly->exact || !(fabs(ly->exponent) <= 3.0 * ly->stderr_);
}

static void json_exact(linstab_json *j, const linstab_exact *ex)
{
    linstab_json_begin(j, "exact");
    linstab_json_begin(j, "sgd");
    linstab_json_number(j, "radius", ex->sgd_radius);
    linstab_json_bool(j, "stable", ex->sgd_stable);
    linstab_json_string(j, "verdict", linstab_verdict_name(ex->sgd_verdict));
    linstab_json_bool(j, "marginal", ex->sgd_verdict == LINSTAB_VERDICT_MARGINAL);
    linstab_json_number(j, "radius_tol", ex->radius_tol);
    linstab_json_number(j, "critical_eta", ex->sgd_eta_star);
    if (ex->sgd_critical_batch > 0)
        linstab_json_int(j, "critical_batch", (long long)ex->sgd_critical_batch);
    else
        linstab_json_null(j, "critical_batch");
    linstab_json_end(j);
    linstab_json_begin(j, "sam");
    linstab_json_string(j, "variant", linstab_sam_variant_name(ex->sam_variant));
    linstab_json_bool(j, "available", ex->sam_available);
    if (ex->sam_available) {
        linstab_json_number(j, "radius", ex->sam_radius);
        linstab_json_bool(j, "stable", ex->sam_stable);
        linstab_json_string(j, "verdict", linstab_verdict_name(ex->sam_verdict));
        linstab_json_bool(j, "marginal", ex->sam_verdict == LINSTAB_VERDICT_MARGINAL);
        linstab_json_number(j, "radius_tol", ex->sam_radius_tol);
        linstab_json_number(j, "critical_eta", ex->sam_eta_star);
        linstab_json_number(j, "critical_rho", ex->sam_critical_rho);
        linstab_json_bool(j, "radius_monotone_in_rho", ex->sam_rho_monotone & 1);
        linstab_json_bool(j, "single_crossing_in_rho", (ex->sam_rho_monotone & 2) != 0);
    } else {
        /* no exact operator: every key is there, with null (never dropped) */
        static const char *const keys[] = {"radius", "stable", "verdict", "marginal", "radius_tol",
                                           "critical_eta", "critical_rho", "radius_monotone_in_rho",
                                           "single_crossing_in_rho"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) linstab_json_null(j, keys[k]);
    }
    linstab_json_end(j);
    linstab_json_begin(j, "lemma41");
    linstab_json_string(j, "sampling", "bernoulli");
    linstab_json_begin_array(j, "trace_T_k");
    for (size_t k = 0; k < ex->lemma_k; k++) linstab_json_number(j, NULL, ex->lemma_trace[k]);
    linstab_json_end_array(j);
    linstab_json_begin_array(j, "lower_bound_k");
    for (size_t k = 0; k < ex->lemma_k; k++) linstab_json_number(j, NULL, ex->lemma_lower[k]);
    linstab_json_end_array(j);
    linstab_json_end(j);
    if (ex->lyap_done) {
        linstab_json_begin(j, "lyapunov");
        linstab_json_number(j, "exponent", ex->lyap.exponent);
        linstab_json_number(j, "stderr", ex->lyap.stderr_);
        linstab_json_bool(j, "exact", ex->lyap.exact);
        linstab_json_bool(j, "almost_surely_stable", ex->lyap.exponent < 0.0);
        /* a Monte Carlo exponent within 3 standard errors of 0 decides nothing */
        linstab_json_bool(j, "sign_resolved", lyap_resolved(&ex->lyap));
        if (!ex->lyap.exact) {
            linstab_json_int(j, "runs", (long long)ex->lyap.runs);
            linstab_json_int(j, "steps", (long long)ex->lyap.steps);
        } else { /* no Monte Carlo */
            linstab_json_null(j, "runs");
            linstab_json_null(j, "steps");
        }
        linstab_json_end(j);
    } else {
        linstab_json_null(j, "lyapunov");
    }
    linstab_json_end(j);
}

void linstab_report_check_json(FILE *out, const linstab_check_info *info, const linstab_hyper *h,
                               const linstab_geometry *g, const linstab_bounds *b,
                               const linstab_exact *ex)
{
    linstab_json j;
    linstab_json_init(&j, out);
    linstab_json_begin(&j, NULL);
    linstab_json_string(&j, "linstab_version", info->version);
    linstab_json_string(&j, "source", info->source);
    linstab_json_string(&j, "representation", info->kind);
    linstab_json_int(&j, "n", (long long)g->n);
    linstab_json_int(&j, "d", (long long)g->d);
    linstab_json_int(&j, "rank", (long long)g->rank);
    linstab_json_int(&j, "null_dim", (long long)(g->d - g->rank));
    linstab_json_int(&j, "space_dim", (long long)g->space_dim);
    linstab_json_bool(&j, "h_positive_definite", g->definite);
    linstab_json_number(&j, "eta", h->eta);
    linstab_json_int(&j, "batch", (long long)h->batch);
    linstab_json_number(&j, "rho", h->rho);
    linstab_json_string(&j, "sampling", linstab_sampling_name(h->sampling));
    if (info->curvature != NULL)
        linstab_json_string(&j, "curvature", info->curvature);
    else
        linstab_json_null(&j, "curvature");
    if (info->point != NULL)
        linstab_report_model_point(&j, info->point, g->lambda_min, info->point_is_minimum);
    else
        linstab_json_null(&j, "model_point");

    linstab_json_begin(&j, "geometry");
    linstab_json_number(&j, "sharpness", g->sharpness);
    linstab_json_number(&j, "trace", g->trace);
    linstab_json_number(&j, "frobenius", g->frobenius);
    linstab_json_number(&j, "max_individual_sharpness", g->max_individual_sharpness);
    linstab_json_number(&j, "sigma", g->sigma);
    linstab_json_number(&j, "lambda1_S", g->lambda1_S);
    linstab_json_number(&j, "s2", g->s2);
    linstab_json_number(&j, "s3", g->s3);
    linstab_json_number(&j, "s4", g->s4);
    linstab_json_number(&j, "m2_gap", g->m2_gap);
    linstab_json_number(&j, "m3_gap", g->m3_gap);
    linstab_json_number(&j, "m4_gap", g->m4_gap);
    linstab_json_number(&j, "gamma_min", g->gamma_min);
    linstab_json_number(&j, "lambda_min", g->lambda_min);
    linstab_json_end(&j);

    linstab_json_begin(&j, "bounds");
    linstab_json_begin(&j, "gd");
    linstab_json_number(&j, "threshold", b->gd_threshold);
    linstab_json_number(&j, "radius", b->gd_radius);
    linstab_json_string(&j, "verdict", linstab_verdict_name(b->gd_verdict));
    linstab_json_bool(&j, "diverges", b->gd_diverges);
    linstab_json_end(&j);

    linstab_json_begin(&j, "dexter_thm1");
    linstab_json_number(&j, "threshold", b->thm1_threshold);
    linstab_json_bool(&j, "diverges", b->thm1_diverges);
    linstab_json_bool(&j, "proved_for_sampling", b->thm1_proved);
    linstab_json_end(&j);

    linstab_json_begin(&j, "dexter_thm2");
    linstab_json_number(&j, "threshold", b->thm2_threshold);
    linstab_json_end(&j);

    linstab_json_begin(&j, "shin_thm9");
    linstab_json_number(&j, "lambda_max", b->thm9_lambda_max);
    linstab_json_bool(&j, "stable", b->thm9_stable);
    linstab_json_string(&j, "verdict", linstab_verdict_name(b->thm9_verdict));
    linstab_json_bool(&j, "stated_for_batch", b->thm9_applies);
    linstab_json_end(&j);

    linstab_json_begin(&j, "shin_eq7");
    json_condition(&j, "sharpness", &b->eq7[0], "holds");
    json_condition(&j, "s2", &b->eq7[1], "holds");
    json_condition(&j, "s3", &b->eq7[2], "holds");
    json_condition(&j, "s4", &b->eq7[3], "holds");
    linstab_json_end(&j);

    linstab_json_begin(&j, "sam_late_thm41");
    linstab_json_number(&j, "gamma", g->gamma_min);
    linstab_json_number(&j, "lhs", b->thm41.lhs);
    linstab_json_number(&j, "rhs", b->thm41.rhs);
    linstab_json_bool(&j, "defined", b->thm41_defined);
    if (b->thm41_defined)
        linstab_json_bool(&j, "stable_necessary", b->thm41.holds);
    else
        linstab_json_null(&j, "stable_necessary");
    linstab_json_end(&j);

    linstab_json_begin(&j, "sam_late_thm41_corrected");
    linstab_json_number(&j, "batch_eff", b->batch_eff);
    linstab_json_number(&j, "lhs", b->thm41_corrected.lhs);
    linstab_json_number(&j, "rhs", b->thm41_corrected.rhs);
    linstab_json_bool(&j, "defined", b->thm41_defined);
    if (b->thm41_defined)
        linstab_json_bool(&j, "stable_necessary", b->thm41_corrected.holds);
    else
        linstab_json_null(&j, "stable_necessary");
    linstab_json_end(&j);
    linstab_json_end(&j); /* bounds */
    if (ex != NULL)
        json_exact(&j, ex);
    else
        linstab_json_null(&j, "exact"); /* --no-exact */
    linstab_json_end(&j);
}

/* ------------------------------------------------------------------ */
/* Text                                                                */

static const char *sampling_words(linstab_sampling s)
{
    switch (s) {
    case LINSTAB_SAMPLING_BERNOULLI: return "Bernoulli (each sample w.p. B/n)";
    case LINSTAB_SAMPLING_WITHOUT: return "uniform B-subsets, without replacement";
    case LINSTAB_SAMPLING_WITH: return "B indices with replacement";
    }
    return "?";
}

static void num(FILE *out, const char *label, double v)
{
    if (isfinite(v))
        fprintf(out, "  %-36s %.10g\n", label, v);
    else if (isinf(v))
        fprintf(out, "  %-36s %s\n", label, v > 0 ? "inf" : "-inf");
    else
        fprintf(out, "  %-36s n/a\n", label);
}

static void fmt(char *buf, size_t len, double v)
{
    if (isfinite(v))
        snprintf(buf, len, "%.6g", v);
    else if (isinf(v))
        snprintf(buf, len, v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, len, "n/a");
}

static void verdict(FILE *out, const char *what, const char *verdict_, const char *source)
{
    fprintf(out, "  %-60s %-13s %s\n", what, verdict_, source);
}

static void text_exact(FILE *out, const linstab_hyper *h, const linstab_exact *ex)
{
    char x[32], line[256];
    fprintf(out, "\nexact (what is true; docs/math.md sections 3-5)\n");
    fmt(x, sizeof x, ex->sgd_radius);
    if (isnan(ex->sgd_radius))
        snprintf(line, sizeof line, "SGD mean-square radius: not resolved (eta vs eta*)");
    else
        snprintf(line, sizeof line, "SGD mean-square radius = %s", x);
    verdict(out, line, linstab_verdict_name(ex->sgd_verdict), "second-moment operator");
    if (ex->sgd_eta_star == 0.0)
        fprintf(out, "  %-36s none: H has curvature <= 0 on the space, (1 - eta l)^2 >= 1 for every eta\n",
                "SGD critical eta (mean-square)");
    else
        num(out, "SGD critical eta (mean-square)", ex->sgd_eta_star);
    if (ex->sgd_critical_batch > 0)
        fprintf(out, "  %-36s %zu\n", "SGD critical batch at this eta", ex->sgd_critical_batch);
    else
        fprintf(out, "  %-36s none <= n\n", "SGD critical batch at this eta");
    if (ex->sam_available) {
        fmt(x, sizeof x, ex->sam_radius);
        snprintf(line, sizeof line, "SAM (%s) mean-square radius = %s",
                 linstab_sam_variant_name(ex->sam_variant), x);
        verdict(out, line, linstab_verdict_name(ex->sam_verdict), "second-moment operator");
        if (ex->sam_eta_star == 0.0)
            fprintf(out, "  %-36s none: the mean step I - eta K has K with an eigenvalue <= 0\n",
                    "SAM critical eta (at this rho)");
        else
            num(out, "SAM critical eta (at this rho)", ex->sam_eta_star);
        if (isnan(ex->sam_critical_rho))
            fprintf(out, "  %-36s n/a: SGD (rho = 0) is unstable at this eta\n", "SAM critical rho (at this eta)");
        else
            num(out, "SAM critical rho (at this eta)", ex->sam_critical_rho);
        if (isnan(ex->sam_critical_rho))
            ; /* no bracket was searched */
        else if (!(ex->sam_rho_monotone & 2))
            fprintf(out, "  (the radius crossed 1 several times on the rho bracket: the critical "
                         "rho is one crossing, the stable set is not an interval)\n");
        else if (!(ex->sam_rho_monotone & 1))
            fprintf(out, "  (the radius is not monotone in rho -- it dips before it rises -- "
                         "but crosses 1 once)\n");
    } else {
        fprintf(out, "  SAM (%s): no exact operator at B = %zu for this rank (the general-B "
                     "'same' operator is dense on r^2 coordinates, r <= %d)\n",
                linstab_sam_variant_name(ex->sam_variant), h->batch, LINSTAB_SAM_SAME_MAX_R);
    }
    if (ex->lemma_k > 0) {
        size_t K = ex->lemma_k;
        fprintf(out, "  Dexter et al. (2024) Lemma 4.1 (Bernoulli): tr(T^k(I)) vs its lower-bound term\n");
        for (size_t k = 0; k < K; k += (K > 4 ? K / 4 : 1))
            fprintf(out, "    k = %-3zu  %-16.8g %-16.8g\n", k + 1, ex->lemma_trace[k],
                    ex->lemma_lower[k]);
        if ((K - 1) % (K > 4 ? K / 4 : 1) != 0)
            fprintf(out, "    k = %-3zu  %-16.8g %-16.8g\n", K, ex->lemma_trace[K - 1],
                    ex->lemma_lower[K - 1]);
    }
    if (ex->lyap_done) {
        char e[32], se[32];
        fmt(e, sizeof e, ex->lyap.exponent);
        fmt(se, sizeof se, ex->lyap.stderr_);
        if (ex->lyap.exact)
            snprintf(line, sizeof line, "Lyapunov exponent = %s (exact)", e);
        else
            snprintf(line, sizeof line, "Lyapunov exponent = %s +/- %s", e, se);
        verdict(out, line,
                !lyap_resolved(&ex->lyap) ? "a.s. undecided"
                : ex->lyap.exponent < 0.0 ? "a.s. stable"
                                          : "a.s. unstable",
                h->rho > 0.0 ? "random product, SAM" : "random product, SGD");
    }
}

void linstab_report_check_text(FILE *out, const linstab_check_info *info, const linstab_hyper *h,
                               const linstab_geometry *g, const linstab_bounds *b,
                               const linstab_exact *ex)
{
    char line[256], x[32], y[32];
    fprintf(out, "linstab %s check: %s (%s)\n", info->version, info->source, info->kind);
    if (info->curvature_words != NULL) fprintf(out, "  curvature: %s\n", info->curvature_words);
    fprintf(out, "  n = %zu samples, d = %zu, rank(H) = %zu, flat directions = %zu\n", g->n, g->d,
            g->rank, g->d - g->rank);
    if (!g->definite)
        fprintf(out, "  H is not positive definite (lambda_min(H) = %.6g): analysed on range(M_2),\n"
                     "  the span of every range(H_i), of dimension %zu\n",
                g->lambda_min, g->space_dim);
    fprintf(out, "  eta = %g, B = %zu, rho = %g, sampling: %s\n", h->eta, h->batch, h->rho,
            sampling_words(h->sampling));
    if (info->point != NULL) {
        const linstab_mlp_point *pt = info->point;
        fprintf(out, "  model point: mean loss %.6g, ||grad L|| = %.3g, max_i ||grad l_i|| = %.3g, lambda_min(H) = %.6g\n",
                pt->mean_loss, pt->grad_norm, pt->max_sample_grad_norm, g->lambda_min);
        if (!info->point_is_minimum)
            fprintf(out, "  WARNING: this point is not an interpolating minimum (%s): every result below\n"
                         "  assumes one; they describe the linearised dynamics about this point only\n",
                    !linstab_mlp_point_stationary(pt, g->sharpness) ? "the per-sample gradients do not vanish"
                                                                    : "H has negative curvature");
    }
    fputc('\n', out);

    fprintf(out, "geometry\n");
    num(out, "sharpness lambda1(H)", g->sharpness);
    num(out, "trace tr(H)", g->trace);
    num(out, "Frobenius ||H||_F", g->frobenius);
    num(out, "max individual sharpness", g->max_individual_sharpness);
    num(out, "coherence sigma (Dexter et al. 2024)", g->sigma);
    num(out, "lambda1(S)", g->lambda1_S);
    num(out, "lambda_max(M2 - H^2)", g->m2_gap);
    num(out, "lambda_max(M3 - H^3)", g->m3_gap);
    num(out, "lambda_max(M4 - H^4)", g->m4_gap);
    num(out, "s2 (Shin et al. 2023, eq. 7)", g->s2);
    num(out, "s3", g->s3);
    num(out, "s4", g->s4);
    if (g->definite || isfinite(g->gamma_min))
        num(out, "gamma_min (Zhou et al. 2025)", g->gamma_min);
    else
        fprintf(out, "  %-36s n/a (needs H positive definite on the space)\n", "gamma_min (Zhou et al. 2025)");
    if (isfinite(g->lambda_min)) num(out, "lambda_min(H)", g->lambda_min);

    fprintf(out, "\nbounds%-55s %-13s %s\n", "", "verdict", "source");
    fmt(x, sizeof x, g->sharpness);
    fmt(y, sizeof y, b->gd_threshold);
    if (!g->definite && isfinite(g->lambda_min) && g->lambda_min < 0.0) {
        fmt(x, sizeof x, b->gd_radius);
        snprintf(line, sizeof line, "GD: max (1 - eta l)^2 = %s (negative curvature)", x);
    } else {
        snprintf(line, sizeof line, "GD: lambda1(H) = %s vs 2/eta = %s", x, y);
    }
    verdict(out, line, linstab_verdict_name(b->gd_verdict), "GD (B = n)");

    fmt(y, sizeof y, b->thm1_threshold);
    snprintf(line, sizeof line, "Thm 1: lambda1(H) vs (sigma/eta)(n/B-1)^-1/2 = %s", y);
    verdict(out, line, b->thm1_diverges ? "unstable" : "says nothing",
            b->thm1_proved ? "Dexter et al. (2024) Theorem 1"
                           : "Dexter et al. (2024) Theorem 1 (proved for Bernoulli sampling only)");

    fmt(y, sizeof y, b->thm2_threshold);
    snprintf(line, sizeof line, "Thm 2: 2 sigma/(eta(sigma + n/B - 1)) = %s", y);
    verdict(out, line, "no verdict", "Dexter et al. (2024) Theorem 2 (a construction)");

    fmt(x, sizeof x, b->thm9_lambda_max);
    snprintf(line, sizeof line, "Thm 9: lambda_max(P) = %s vs 1", x);
    verdict(out, line, b->thm9_stable ? linstab_verdict_name(b->thm9_verdict) : "says nothing",
            b->thm9_applies ? "Shin et al. (2023) Theorem 9"
                            : "Shin et al. (2023) Theorem 9 (stated for B = 1)");

    static const char *eq7_names[4] = {"(7) a(1 + rho a)", "(7) s2^2", "(7) s3^3", "(7) s4^4"};
    for (int t = 0; t < 4; t++) {
        fmt(x, sizeof x, b->eq7[t].lhs);
        fmt(y, sizeof y, b->eq7[t].rhs);
        snprintf(line, sizeof line, "%s = %s vs %s", eq7_names[t], x, y);
        const char *v = b->eq7[t].holds ? "holds" : (t == 0 ? "unstable" : "violated");
        verdict(out, line, v,
                t == 0 ? "Shin et al. (2023) (7), necessary"
                       : "Shin et al. (2023) (7), heuristic: not necessary");
    }

    fmt(x, sizeof x, b->thm41.lhs);
    fmt(y, sizeof y, b->thm41.rhs);
    snprintf(line, sizeof line, "Thm 4.1 as stated: %s vs B/(eta^2 gamma) = %s", x, y);
    verdict(out, line, !b->thm41_defined ? "n/a" : b->thm41.holds ? "says nothing" : "unstable",
            "Zhou et al. (2025) Theorem 4.1 (assumes with-replacement noise)");

    fmt(x, sizeof x, b->thm41_corrected.lhs);
    fmt(y, sizeof y, b->thm41_corrected.rhs);
    char be[32];
    fmt(be, sizeof be, b->batch_eff);
    snprintf(line, sizeof line, "Thm 4.1, B_eff = %s: %s vs %s", be, x, y);
    verdict(out, line, !b->thm41_defined ? "n/a" : b->thm41_corrected.holds ? "says nothing" : "unstable",
            "Zhou et al. (2025) Theorem 4.1 corrected for the sampling");
    if (ex != NULL) text_exact(out, h, ex);
}
