/*
 * validate.c -- the published bounds (bounds.c: Dexter et al. 2024
 * Theorem 1, Shin et al. 2023 Theorem 9 and conditions (7), Zhou et al.
 * 2025 Theorem 4.1 as stated and corrected, GD's 2/eta) against the exact
 * mean-square radius of the matching operator (exact.c; docs/math.md
 * §3-5), one family at a time as a table of claims, and over random
 * families with counts, tightness and counterexamples.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>

#include "linstab/critical.h"
#include "linstab/validate.h"

static const char *const claim_names[LINSTAB_VALIDATE_CLAIMS] = {
    "gd", "thm1_bern", "thm1_without", "thm9", "eq7_sharp", "eq7_s2", "eq7_s3", "eq7_s4", "thm41", "thm41_corr"};
static const char *const claim_stated[LINSTAB_VALIDATE_CLAIMS] = {
    "necessary", "sufficient (div.)", "sufficient (div.)", "sufficient", "necessary",
    "heuristic", "heuristic",         "heuristic",         "necessary",  "necessary"};
/* the two sides of each claim's condition, for the reason line */
static const char *const bound_label[LINSTAB_VALIDATE_CLAIMS] = {
    "lambda1(H)", "lambda1(H)", "lambda1(H)", "lambda_max(P)", "a(1 + rho a)", "s2^2", "s3^3", "s4^4",
    "||H||_F^2 (1 + rho^2 gamma ||H||_F^2 / B)", "||H||_F^2 (1 + rho^2 gamma ||H||_F^2 / B_eff)"};
static const char *const limit_label[LINSTAB_VALIDATE_CLAIMS] = {
    "2/eta",           "min(2/eta, Thm 1 threshold)", "min(2/eta, Thm 1 threshold)", "1", "2/eta",
    "1/(eta (eta - 2 rho))", "1/(2 eta^2 rho)",       "1/(eta^2 rho^2)",             "B/(eta^2 gamma)",
    "B_eff/(eta^2 gamma)"};

const char *linstab_validate_claim_name(linstab_validate_claim_id id)
{
    return (unsigned)id < LINSTAB_VALIDATE_CLAIMS ? claim_names[id] : "?";
}

const char *linstab_validate_claim_stated_as(linstab_validate_claim_id id)
{
    return (unsigned)id < LINSTAB_VALIDATE_CLAIMS ? claim_stated[id] : "?";
}

const char *linstab_validate_outcome_name(linstab_validate_outcome o)
{
    switch (o) {
    case LINSTAB_VALIDATE_HOLDS: return "holds";
    case LINSTAB_VALIDATE_VIOLATED: return "violated";
    case LINSTAB_VALIDATE_NA: return "n/a";
    }
    return "?";
}

/* One row: the claim's condition (bound vs limit, fired), the exact radius
 * it is about and its verdict at tolerance tol; na_reason != NULL: not
 * applicable.  Every claim but Theorem 9 predicts "unstable" when it fires
 * (contradicted by a stable radius only), Theorem 9 "stable" (contradicted
 * by an unstable one only): a marginal radius contradicts nothing. */
static void set_claim(linstab_validate_claim *c, linstab_validate_claim_id id, double bound, double limit,
                      int fired, double exact, double tol, linstab_optimizer dyn, size_t batch,
                      linstab_sampling sampling, const char *na_reason)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->name = claim_names[id];
    c->stated_as = claim_stated[id];
    c->bound = bound;
    c->limit = limit;
    c->exact = exact;
    c->exact_verdict = linstab_verdict_classify(exact, tol);
    c->dynamics = dyn;
    c->batch = batch;
    c->sampling = sampling;
    if (na_reason != NULL) {
        c->outcome = LINSTAB_VALIDATE_NA;
        snprintf(c->reason, sizeof c->reason, "%s", na_reason);
        return;
    }
    c->fired = fired != 0;
    int predicts_stable = id == LINSTAB_VALIDATE_THM9;
    linstab_verdict against = predicts_stable ? LINSTAB_VERDICT_UNSTABLE : LINSTAB_VERDICT_STABLE;
    c->outcome = c->fired && c->exact_verdict == against ? LINSTAB_VALIDATE_VIOLATED : LINSTAB_VALIDATE_HOLDS;
    if (!c->fired)
        snprintf(c->reason, sizeof c->reason, "%s = %.6g vs %s = %.6g: does not fire", bound_label[id], bound,
                 limit_label[id], limit);
    else
        snprintf(c->reason, sizeof c->reason, "%s = %.6g vs %s = %.6g: predicts %s; the exact radius %.6g is %s",
                 bound_label[id], bound, limit_label[id], limit, predicts_stable ? "stable" : "unstable", exact,
                 linstab_verdict_name(c->exact_verdict));
}

linstab_status linstab_validate_claims(const linstab_rotated *rf, const linstab_moments *m,
                                       const linstab_geometry *g, const linstab_hyper *h,
                                       linstab_validate_case *out, linstab_error *err)
{
    memset(out, 0, sizeof *out);
    out->h = *h;
    double eta = h->eta, rho = h->rho;
    size_t B = h->batch, n = rf->f->n;
    linstab_sampling samp = h->sampling;
    linstab_eigen_opts eo = linstab_eigen_defaults();
    /* the bounds at the case, under Bernoulli sampling (Theorem 1 as proved)
     * and at B = 1 with replacement (Theorem 9 and (7) as stated) */
    linstab_hyper hb = *h, h1 = {eta, 1, rho, LINSTAB_SAMPLING_WITH};
    hb.sampling = LINSTAB_SAMPLING_BERNOULLI;
    linstab_bounds b, bb, b1;
    /* the exact answers each claim is about */
    double r_samp = 0, r_bern = 0, r_sam1 = 0, r_indep = 0;
    linstab_status st = linstab_bounds_compute(g, m, h, &b, err);
    if (st == LINSTAB_OK) st = linstab_sgd_radius(rf, eta, B, samp, &eo, &r_samp, err);
    if (st == LINSTAB_OK) st = linstab_sgd_radius(rf, eta, B, LINSTAB_SAMPLING_BERNOULLI, &eo, &r_bern, err);
    if (st == LINSTAB_OK)
        st = linstab_sam_radius(rf, LINSTAB_OPT_SAM_SAME, eta, rho, 1, LINSTAB_SAMPLING_WITH, &eo, &r_sam1, err);
    if (st == LINSTAB_OK) st = linstab_sam_radius(rf, LINSTAB_OPT_SAM_INDEP, eta, rho, B, samp, &eo, &r_indep, err);
    if (st == LINSTAB_OK) st = linstab_bounds_compute(g, m, &hb, &bb, err);
    if (st == LINSTAB_OK) st = linstab_bounds_compute(g, m, &h1, &b1, err);
    if (st == LINSTAB_OK) {
        double a, bc;
        linstab_sampling_coeffs(samp, n, B, &a, &bc);
        st = linstab_critical_eta(rf->f, rf->l, a, bc, &eo, &out->sgd_critical_eta, err);
    }
    if (st != LINSTAB_OK) return st;

    double tol0 = linstab_exact_radius_tol(rf, eta, 0.0, &eo), tolr = linstab_exact_radius_tol(rf, eta, rho, &eo);
    double a1 = g->sharpness;
    linstab_validate_claim *c = out->claims;
    const char *gamma_na = b.thm41_defined ? NULL
                                           : "gamma_min is undefined (H is not positive definite on the space): "
                                             "Theorem 4.1 says nothing";
    const char *rho_na = rho > 0.0 ? NULL : "rho = 0: the condition is vacuous";
    set_claim(&c[LINSTAB_VALIDATE_GD], LINSTAB_VALIDATE_GD, a1, b.gd_threshold, b.gd_diverges, r_samp, tol0,
              LINSTAB_OPT_SGD, B, samp, NULL);
    set_claim(&c[LINSTAB_VALIDATE_THM1_BERN], LINSTAB_VALIDATE_THM1_BERN, a1, fmin(bb.gd_threshold, bb.thm1_threshold),
              bb.thm1_diverges, r_bern, tol0, LINSTAB_OPT_SGD, B, LINSTAB_SAMPLING_BERNOULLI, NULL);
    set_claim(&c[LINSTAB_VALIDATE_THM1_WITHOUT], LINSTAB_VALIDATE_THM1_WITHOUT, a1,
              fmin(b.gd_threshold, b.thm1_threshold), b.thm1_diverges, r_samp, tol0, LINSTAB_OPT_SGD, B, samp,
              samp == LINSTAB_SAMPLING_WITHOUT ? NULL : "checked with uniform B-subsets (sampling without) only");
    set_claim(&c[LINSTAB_VALIDATE_THM9], LINSTAB_VALIDATE_THM9, b1.thm9_lambda_max, 1.0, b1.thm9_stable, r_sam1, tolr,
              LINSTAB_OPT_SAM_SAME, 1, LINSTAB_SAMPLING_WITH, NULL);
    for (int t = 0; t < 4; t++)
        set_claim(&c[LINSTAB_VALIDATE_EQ7_SHARP + t], (linstab_validate_claim_id)(LINSTAB_VALIDATE_EQ7_SHARP + t),
                  b1.eq7[t].lhs, b1.eq7[t].rhs, !b1.eq7[t].holds, r_sam1, tolr, LINSTAB_OPT_SAM_SAME, 1,
                  LINSTAB_SAMPLING_WITH, t >= 2 ? rho_na : NULL);
    set_claim(&c[LINSTAB_VALIDATE_THM41], LINSTAB_VALIDATE_THM41, b.thm41.lhs, b.thm41.rhs, !b.thm41.holds, r_indep,
              tolr, LINSTAB_OPT_SAM_INDEP, B, samp, gamma_na);
    set_claim(&c[LINSTAB_VALIDATE_THM41_CORR], LINSTAB_VALIDATE_THM41_CORR, b.thm41_corrected.lhs,
              b.thm41_corrected.rhs, !b.thm41_corrected.holds, r_indep, tolr, LINSTAB_OPT_SAM_INDEP, B, samp,
              gamma_na);

    /* tightness: Theorem 1's threshold vs the exact critical sharpness
     * lambda1 eta* / eta (Bernoulli), Theorem 9's lambda_max(P) vs the radius */
    out->thm1_tightness = NAN;
    if (bb.thm1_threshold < INFINITY) {
        double a, bc, esb;
        linstab_error e2 = {0};
        linstab_sampling_coeffs(LINSTAB_SAMPLING_BERNOULLI, n, B, &a, &bc);
        if (linstab_critical_eta(rf->f, rf->l, a, bc, &eo, &esb, &e2) == LINSTAB_OK)
            out->thm1_tightness = fmin(bb.thm1_threshold, 2.0 / eta) / (g->sharpness * esb / eta);
    }
    out->thm9_tightness = r_sam1 > 0.0 ? b1.thm9_lambda_max / r_sam1 : NAN;
    return LINSTAB_OK;
}

linstab_status linstab_validate_family(const linstab_family *f, const linstab_hyper *h,
                                       linstab_validate_case *out, linstab_error *err)
{
    linstab_rotated rf = {0};
    linstab_moments *m = NULL;
    linstab_geometry g;
    linstab_status st = linstab_family_rotated_make(f, 0.0, 0, &rf, err);
    if (st == LINSTAB_OK) st = linstab_moments_compute(rf.f, &m, err);
    if (st == LINSTAB_OK) st = linstab_geometry_compute(rf.f, m, linstab_family_ambient_dim(f), &g, err);
    if (st == LINSTAB_OK) st = linstab_validate_claims(&rf, m, &g, h, out, err);
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    return st;
}

static const linstab_gen_kind default_kinds[4] = {LINSTAB_GEN_RANK1, LINSTAB_GEN_LOWRANK, LINSTAB_GEN_ALIGNED,
                                                  LINSTAB_GEN_WISHART};

linstab_validate_params linstab_validate_defaults(void)
{
    linstab_validate_params p;
    memset(&p, 0, sizeof p);
    p.kinds = default_kinds;
    p.nkinds = 4;
    p.count = 200;
    return p;
}

static double log_uniform(gsl_rng *r, double lo, double hi)
{
    return exp(log(lo) + (log(hi) - log(lo)) * gsl_rng_uniform(r));
}

/* Case t: the family, then B, the sampling and the hyper-parameters'
 * scale-free factors, in this order from stream t (changing the order
 * changes every case). */
typedef struct draw {
    linstab_gen_params gen;
    size_t batch;
    linstab_sampling sampling;
    double u_eta, u_rho;
    int rho_zero;
} draw;

static linstab_status draw_case(const linstab_validate_params *p, size_t t, draw *d, linstab_error *err)
{
    gsl_rng *r = linstab_rng_stream(p->seed, t);
    if (r == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "case %zu: out of memory for its random stream", t);
    memset(d, 0, sizeof *d);
    linstab_gen_params *g = &d->gen;
    g->kind = p->kinds[t % p->nkinds];
    g->n = 3 + gsl_rng_uniform_int(r, 10);
    g->d = 2 + gsl_rng_uniform_int(r, 5);
    g->rank = g->kind == LINSTAB_GEN_WISHART ? 1 + gsl_rng_uniform_int(r, g->d)
              : g->kind == LINSTAB_GEN_RANK1  ? 1
                                              : 1 + gsl_rng_uniform_int(r, 3);
    g->noise = log_uniform(r, 0.05, 2.0);
    g->seed = gsl_rng_get(r);
    d->batch = 1 + gsl_rng_uniform_int(r, g->n);
    d->sampling = (linstab_sampling)gsl_rng_uniform_int(r, 3);
    d->u_eta = log_uniform(r, 0.05, 1.5);
    d->u_rho = log_uniform(r, 0.01, 3.0);
    d->rho_zero = gsl_rng_uniform(r) < 0.25;
    gsl_rng_free(r);
    return LINSTAB_OK;
}

/* The claims of case t (OUT *vc; OUT *f, the family, freed by the caller). */
static linstab_status run_case(const linstab_validate_params *p, size_t t, linstab_family **f,
                               linstab_validate_case *vc, linstab_error *err)
{
    draw d;
    *f = NULL;
    linstab_status st = draw_case(p, t, &d, err);
    if (st == LINSTAB_OK) st = linstab_generate(&d.gen, f, err);
    if (st == LINSTAB_OK) st = linstab_family_validate(*f, 1e-10, 0, NULL, err);
    if (st != LINSTAB_OK) return st;
    linstab_rotated rf = {0};
    linstab_moments *m = NULL;
    linstab_geometry g;
    st = linstab_family_rotated_make(*f, 0.0, 0, &rf, err);
    if (st == LINSTAB_OK) st = linstab_moments_compute(rf.f, &m, err);
    if (st == LINSTAB_OK) st = linstab_geometry_compute(rf.f, m, linstab_family_ambient_dim(*f), &g, err);
    if (st == LINSTAB_OK) {
        /* scale-free: eta and rho in units of 1/lambda1(H) */
        linstab_hyper h = {d.u_eta * 2.0 / g.sharpness, d.batch, d.rho_zero ? 0.0 : d.u_rho / g.sharpness,
                           d.sampling};
        st = linstab_validate_claims(&rf, m, &g, &h, vc, err);
    }
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    return st;
}

/* min / median (index k/2) / max of v (k values, sorted in place). */
static void spread(double *v, size_t k, double *lo, double *med, double *hi)
{
    gsl_sort(v, 1, k);
    *lo = k ? v[0] : NAN;
    *med = k ? v[k / 2] : NAN;
    *hi = k ? v[k - 1] : NAN;
}

linstab_status linstab_validate_random(const linstab_validate_params *p, linstab_validate_summary *out,
                                       linstab_error *err)
{
    if (p->count < 1) return linstab_error_set(err, LINSTAB_EINVAL, "the number of cases must be >= 1, got 0");
    if (p->nkinds < 1 || p->kinds == NULL)
        return linstab_error_set(err, LINSTAB_EINVAL, "the list of generators is empty");
    for (size_t k = 0; k < p->nkinds; k++)
        if (p->kinds[k] != LINSTAB_GEN_RANK1 && p->kinds[k] != LINSTAB_GEN_LOWRANK &&
            p->kinds[k] != LINSTAB_GEN_WISHART && p->kinds[k] != LINSTAB_GEN_ALIGNED)
            return linstab_error_set(err, LINSTAB_EINVAL,
                                     "generator %zu is %s: expected rank1, lowrank, aligned or wishart", k + 1,
                                     linstab_generate_kind_name(p->kinds[k]));
    linstab_validate_summary s;
    memset(&s, 0, sizeof s);
    double *tight1 = malloc(p->count * sizeof *tight1), *tight9 = malloc(p->count * sizeof *tight9);
    linstab_status st = LINSTAB_OK;
    if (tight1 == NULL || tight9 == NULL)
        st = linstab_error_set(err, LINSTAB_ENOMEM, "out of memory for the tightness of %zu cases", p->count);
    for (size_t t = 0; t < p->count && st == LINSTAB_OK; t++) {
        linstab_family *f = NULL;
        linstab_validate_case vc;
        st = run_case(p, t, &f, &vc, err);
        for (int k = 0; st == LINSTAB_OK && k < LINSTAB_VALIDATE_CLAIMS; k++) {
            const linstab_validate_claim *c = &vc.claims[k];
            if (c->outcome == LINSTAB_VALIDATE_NA) continue;
            linstab_validate_tally *ta = &s.tally[k];
            ta->checked++;
            ta->fired += c->fired != 0;
            if (c->outcome == LINSTAB_VALIDATE_HOLDS) {
                ta->agree++;
                continue;
            }
            ta->counterexamples++;
        }
        /* counterexamples in claim order; after a failing callback the
         * case's tallies are still complete and no further call is made */
        for (int k = 0; st == LINSTAB_OK && p->counterexample != NULL && k < LINSTAB_VALIDATE_CLAIMS; k++) {
            if (vc.claims[k].outcome != LINSTAB_VALIDATE_VIOLATED) continue;
            linstab_validate_cex cex = {t, f, &vc, &vc.claims[k]};
            st = p->counterexample(&cex, p->ctx, err);
        }
        linstab_family_free(f);
        if (st != LINSTAB_OK) break;
        if (!isnan(vc.thm1_tightness)) tight1[s.thm1_cases++] = vc.thm1_tightness;
        if (!isnan(vc.thm9_tightness)) tight9[s.thm9_cases++] = vc.thm9_tightness;
        s.count = t + 1;
        if (p->progress != NULL) p->progress(t + 1, p->count, p->ctx);
    }
    if (st == LINSTAB_OK) {
        spread(tight1, s.thm1_cases, &s.thm1_min, &s.thm1_median, &s.thm1_max);
        spread(tight9, s.thm9_cases, &s.thm9_min, &s.thm9_median, &s.thm9_max);
        *out = s;
    }
    free(tight1);
    free(tight9);
    return st;
}
