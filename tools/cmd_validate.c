/*
 * cmd_validate.c -- `linstab validate`: draw random families and
 * hyper-parameters, and for every published bound count how often it
 * agrees with the exact mean-square criterion, how tight it is, and save
 * every counterexample (a bound stated as sufficient or necessary that the
 * exact answer contradicts) as an NPY family with the command that
 * reproduces it.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gsl/gsl_sort.h>

#include "cli.h"
#include "linstab/bounds.h"
#include "linstab/critical.h"
#include "linstab/exact.h"
#include "linstab/verdict.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "linstab/report.h"
#include "linstab/secmom.h"
#include "linstab/simulate.h"
#include "linstab_config.h"

static const char *const usage =
    "usage: linstab validate [--kinds LIST] [--count N] [--seed S] [--out DIR] [--json]\n"
    "\n"
    "Check every published stability bound against the exact mean-square\n"
    "criterion on random families (n in [3, 12], d in [2, 6]) and random\n"
    "hyper-parameters; count agreements, measure tightness, save counterexamples.\n"
    "\n"
    "  --kinds LIST   generators to draw from, comma-separated among rank1,\n"
    "                 lowrank, aligned, wishart (default all four)\n"
    "  --count N      number of random cases (default 200)\n"
    "  --seed S       seed (default 0): same seed, same cases, same report\n"
    "  --out DIR      save counterexamples (DIR/cex-K.npy) and DIR/counterexamples.txt\n"
    "                 with the command reproducing each (default: none saved)\n"
    "  --json         machine-readable output\n"
    "  --quiet        no progress bar\n"
    "  -h, --help     this help\n"
    "\n"
    "Claims checked (each against the exact radius of the matching operator;\n"
    "Dexter = Dexter et al. 2024, Shin = Shin et al. 2023, Zhou = Zhou et al. 2025):\n"
    "  gd            lambda1(H) > 2/eta  =>  SGD unstable          (necessary)\n"
    "  thm1_bern     Dexter Thm 1 diverges  =>  SGD unstable, Bernoulli (as proved)\n"
    "  thm1_without  the same claim with uniform B-subsets (not proved)\n"
    "  thm9          Shin Thm 9 lambda_max(P) <= 1 => SAM (same, B = 1) stable\n"
    "  eq7_sharp     Shin (7) a(1 + rho a) > 2/eta => SAM (same, B = 1) unstable\n"
    "  eq7_s2..s4    Shin (7) s_k conditions violated => unstable (heuristic)\n"
    "  thm41         Zhou Thm 4.1 violated => SAM (independent) unstable, as stated\n"
    "  thm41_corr    the same with B_eff for the sampling in use\n"
    "Tightness: thm1 threshold / exact critical sharpness (lambda1 eta*/eta, >= 1\n"
    "when sound); thm9 lambda_max(P) / exact radius (>= 1).\n";

enum { CLAIMS = 10 };
static const char *const claim_names[CLAIMS] = {"gd",     "thm1_bern", "thm1_without", "thm9",
                                                "eq7_sharp", "eq7_s2",  "eq7_s3",       "eq7_s4",
                                                "thm41",  "thm41_corr"};
static const char *const claim_kind[CLAIMS] = {
    "necessary",  "sufficient (div.)", "sufficient (div.)", "sufficient",
    "necessary",  "heuristic",         "heuristic",         "heuristic",
    "necessary",  "necessary"};

typedef struct tally {
    size_t checked, fired, agree, cex;
} tally;

enum { OPT_KINDS = 256, OPT_COUNT, OPT_SEED, OPT_OUT, OPT_JSON, OPT_QUIET };

static double log_uniform(gsl_rng *r, double lo, double hi)
{
    return exp(log(lo) + (log(hi) - log(lo)) * gsl_rng_uniform(r));
}

/* SGD radius at (eta, B, sampling) on a rotated family. */
static linstab_status sgd_radius(const linstab_rotated *rf, double eta, size_t B,
                                 linstab_sampling s, double *radius, linstab_error *err)
{
    double a, b;
    linstab_sampling_coeffs(s, rf->f->n, B, &a, &b);
    linstab_secmom *sm = NULL;
    linstab_status st = linstab_secmom_alloc(rf->f, rf->l, LINSTAB_METHOD_SGD, eta, 0.0, a, b, &sm, err);
    linstab_eigen_opts eo = linstab_eigen_defaults();
    if (st == LINSTAB_OK) st = linstab_secmom_radius(sm, &eo, radius, err);
    linstab_secmom_free(sm);
    return st;
}

/* DIR/cex-K.npy, or (staged) the temporary it is written to first. */
static void cex_name(char *buf, size_t len, const char *dir, size_t k, int staged)
{
    if (staged)
        snprintf(buf, len, "%s/cex-%zu.npy.tmp-%ld", dir, k, (long)getpid());
    else
        snprintf(buf, len, "%s/cex-%zu.npy", dir, k);
}

/* Remove the first `renamed` final names and the staged files from there
 * to ncex. */
static void cex_remove(const char *dir, size_t renamed, size_t ncex)
{
    char p[4200];
    for (size_t k = 0; k < ncex; k++) {
        cex_name(p, sizeof p, dir, k, k >= renamed);
        unlink(p);
    }
}

/* Rename every staged counterexample into place, then the list; on a
 * failure say which and remove them all.  Returns an exit status. */
static int cex_commit(const char *cmd, const char *dir, size_t ncex, cli_output *list)
{
    char from[4200], to[4200];
    size_t k = 0;
    for (; k < ncex; k++) {
        cex_name(from, sizeof from, dir, k, 1);
        cex_name(to, sizeof to, dir, k, 0);
        if (rename(from, to) != 0) {
            fprintf(stderr, "linstab %s: error: cannot rename %s to %s: %s\n", cmd, from, to, strerror(errno));
            break;
        }
    }
    int ok = k == ncex;
    if (cli_output_close(cmd, list, ok) == 0) return 0;
    cex_remove(dir, k, ncex);
    return 1;
}

int cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"kinds", required_argument, NULL, OPT_KINDS}, {"count", required_argument, NULL, OPT_COUNT},
        {"seed", required_argument, NULL, OPT_SEED},   {"out", required_argument, NULL, OPT_OUT},
        {"json", no_argument, NULL, OPT_JSON},         {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
    const char *cmd = "validate";
    const char *kinds_arg = "rank1,lowrank,aligned,wishart", *out_dir = NULL;
    size_t count = 200;
    unsigned long long seed = 0;
    int json = 0, quiet = 0, rc = 0;
    linstab_error err = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_KINDS: kinds_arg = optarg; break;
        case OPT_COUNT:
            rc = cli_parse_count(cmd, "--count", optarg, 1, 10000000, &count);
            break;
        case OPT_SEED: rc = cli_parse_u64(cmd, "--seed", optarg, &seed); break;
        case OPT_OUT: out_dir = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default:
            return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc != 0) return rc;
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);

    linstab_gen_kind kinds[8];
    size_t nk = 0;
    {
        char *copy = strdup(kinds_arg), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            linstab_gen_kind k;
            if (linstab_generate_kind_parse(tok, &k, &err) != LINSTAB_OK || k == LINSTAB_GEN_DEXTER ||
                nk == 8) {
                int rc2 = cli_usage_error(cmd, "--kinds: '%s' is not one of rank1, lowrank, aligned, wishart", tok);
                free(copy); /* tok points into copy */
                return rc2;
            }
            kinds[nk++] = k;
        }
        free(copy);
        if (nk == 0) return cli_usage_error(cmd, "--kinds: empty list");
    }
    /* --out DIR: counterexamples.txt and every cex-K.npy are written under
     * temporary names and renamed into place together at the end (the
     * list last); after a failure none of them is left behind */
    FILE *cex_list = NULL;
    cli_output cex_out = {0};
    char cex_path[4096];
    if (out_dir != NULL) {
        if (strlen(out_dir) > 3000) return cli_usage_error(cmd, "--out: the name is too long");
        if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "linstab %s: error: cannot create %s: %s\n", cmd, out_dir, strerror(errno));
            return 1;
        }
        snprintf(cex_path, sizeof cex_path, "%s/counterexamples.txt", out_dir);
        if (cli_output_open(cmd, cex_path, &cex_out) != 0) return 1;
        cex_list = cex_out.fp;
    }

    tally tal[CLAIMS];
    memset(tal, 0, sizeof tal);
    double *tight1 = calloc(count, sizeof(double)), *tight9 = calloc(count, sizeof(double));
    size_t nt1 = 0, nt9 = 0, ncex = 0;
    linstab_status st = LINSTAB_OK;
    for (size_t t = 0; t < count && st == LINSTAB_OK; t++) {
        gsl_rng *r = linstab_rng_stream(seed, t);
        linstab_gen_params p = {0};
        p.kind = kinds[t % nk];
        p.n = 3 + gsl_rng_uniform_int(r, 10);
        p.d = 2 + gsl_rng_uniform_int(r, 5);
        p.rank = p.kind == LINSTAB_GEN_WISHART ? 1 + gsl_rng_uniform_int(r, p.d)
                 : p.kind == LINSTAB_GEN_RANK1 ? 1
                                                : 1 + gsl_rng_uniform_int(r, 3);
        p.noise = log_uniform(r, 0.05, 2.0);
        p.seed = gsl_rng_get(r);
        size_t B = 1 + gsl_rng_uniform_int(r, p.n);
        linstab_sampling samp = (linstab_sampling)gsl_rng_uniform_int(r, 3);
        double u_eta = log_uniform(r, 0.05, 1.5), u_rho = log_uniform(r, 0.01, 3.0);
        int rho_zero = gsl_rng_uniform(r) < 0.25;
        gsl_rng_free(r);

        linstab_family *f = NULL;
        linstab_rotated rf = {0};
        linstab_moments *m = NULL;
        st = linstab_generate(&p, &f, &err);
        if (st == LINSTAB_OK) st = linstab_family_validate(f, 1e-10, 0, NULL, &err);
        if (st == LINSTAB_OK) st = linstab_family_rotated_make(f, 0.0, 0, &rf, &err);
        if (st == LINSTAB_OK) st = linstab_moments_compute(rf.f, &m, &err);
        linstab_geometry g;
        if (st == LINSTAB_OK) st = linstab_geometry_compute(rf.f, m, linstab_family_ambient_dim(f), &g, &err);
        if (st != LINSTAB_OK) {
            linstab_moments_free(m);
            linstab_family_rotated_clear(&rf);
            linstab_family_free(f);
            break;
        }
        double eta = u_eta * 2.0 / g.sharpness;
        double rho = rho_zero ? 0.0 : u_rho / g.sharpness;
        linstab_hyper h = {eta, B, rho, samp};
        linstab_bounds b;
        st = linstab_bounds_compute(&g, m, &h, &b, &err);
        /* the exact answers each claim is about */
        double r_samp = 0, r_bern = 0, r_sam1 = 0, r_indep = 0, es_samp = 0;
        linstab_eigen_opts eo = linstab_eigen_defaults();
        if (st == LINSTAB_OK) st = sgd_radius(&rf, eta, B, samp, &r_samp, &err);
        if (st == LINSTAB_OK) st = sgd_radius(&rf, eta, B, LINSTAB_SAMPLING_BERNOULLI, &r_bern, &err);
        if (st == LINSTAB_OK)
            st = linstab_sam_radius(&rf, LINSTAB_SAM_SAME, eta, rho, 1, LINSTAB_SAMPLING_WITH, &eo,
                                    &r_sam1, &err);
        if (st == LINSTAB_OK)
            st = linstab_sam_radius(&rf, LINSTAB_SAM_INDEPENDENT, eta, rho, B, samp, &eo, &r_indep,
                                    &err);
        linstab_hyper hb = h;
        hb.sampling = LINSTAB_SAMPLING_BERNOULLI;
        linstab_bounds bb;
        if (st == LINSTAB_OK) st = linstab_bounds_compute(&g, m, &hb, &bb, &err);
        linstab_hyper h1 = {eta, 1, rho, LINSTAB_SAMPLING_WITH};
        linstab_bounds b1;
        if (st == LINSTAB_OK) st = linstab_bounds_compute(&g, m, &h1, &b1, &err);
        if (st == LINSTAB_OK) {
            double a, bc;
            linstab_sampling_coeffs(samp, p.n, B, &a, &bc);
            st = linstab_critical_eta(rf.f, rf.l, a, bc, &eo, &es_samp, &err);
        }
        if (st != LINSTAB_OK) {
            linstab_moments_free(m);
            linstab_family_rotated_clear(&rf);
            linstab_family_free(f);
            break;
        }
        /* the marginal rule (verdict.h): a radius within rounding of 1
         * contradicts no claim; "diverges" is contradicted by a stable
         * radius, "stable" by an unstable one */
        double tol0 = linstab_exact_radius_tol(&rf, eta, 0.0, &eo), tolr = linstab_exact_radius_tol(&rf, eta, rho, &eo);
        int samp_stable = linstab_verdict_classify(r_samp, tol0) == LINSTAB_VERDICT_STABLE;
        int bern_stable = linstab_verdict_classify(r_bern, tol0) == LINSTAB_VERDICT_STABLE;
        int sam1_stable = linstab_verdict_classify(r_sam1, tolr) == LINSTAB_VERDICT_STABLE;
        int sam1_unstable = linstab_verdict_classify(r_sam1, tolr) == LINSTAB_VERDICT_UNSTABLE;
        int indep_stable = linstab_verdict_classify(r_indep, tolr) == LINSTAB_VERDICT_STABLE;
        /* claim fired -> what the exact answer must be; cex when contradicted */
        struct {
            int applies, fired, contradicted;
        } cl[CLAIMS] = {
            {1, b.gd_diverges, b.gd_diverges && samp_stable},
            {1, bb.thm1_diverges, bb.thm1_diverges && bern_stable},
            {samp == LINSTAB_SAMPLING_WITHOUT, b.thm1_diverges, b.thm1_diverges && samp_stable},
            {1, b1.thm9_stable, b1.thm9_stable && sam1_unstable},
            {1, !b1.eq7[0].holds, !b1.eq7[0].holds && sam1_stable},
            {1, !b1.eq7[1].holds, !b1.eq7[1].holds && sam1_stable},
            {rho > 0.0, !b1.eq7[2].holds, !b1.eq7[2].holds && sam1_stable},
            {rho > 0.0, !b1.eq7[3].holds, !b1.eq7[3].holds && sam1_stable},
            {b.thm41_defined, !b.thm41.holds, !b.thm41.holds && indep_stable},
            {b.thm41_defined, !b.thm41_corrected.holds, !b.thm41_corrected.holds && indep_stable},
        };
        for (int k = 0; k < CLAIMS; k++) {
            if (!cl[k].applies) continue;
            tal[k].checked++;
            tal[k].fired += cl[k].fired != 0;
            if (cl[k].contradicted) {
                tal[k].cex++;
                /* (7)'s s_k conditions are saved too: Shin et al. state them as
                 * necessary conditions, docs/math.md §5 shows they are not */
                if (cex_list != NULL && st == LINSTAB_OK) {
                    char fpath[4200];
                    cex_name(fpath, sizeof fpath, out_dir, ncex, 1);
                    st = linstab_family_save(f, fpath, &err);
                    if (st != LINSTAB_OK) {
                        cex_name(fpath, sizeof fpath, out_dir, ncex, 0);
                        char why[sizeof err.msg];
                        snprintf(why, sizeof why, "%s", cli_msg(&err));
                        linstab_error_set(&err, st, "saving %s: %s", fpath, why);
                    } else {
                        static const char *flag[] = {"--family", "--factors", "--diag"};
                        linstab_sampling cs = k == 1 ? LINSTAB_SAMPLING_BERNOULLI
                                              : (k >= 3 && k <= 7) ? LINSTAB_SAMPLING_WITH
                                                                   : samp;
                        size_t cb = (k >= 3 && k <= 7) ? 1 : B;
                        fprintf(cex_list,
                                "%s: linstab check %s cex-%zu.npy --eta %.17g --batch %zu "
                                "--rho %.17g --sampling %s%s\n",
                                claim_names[k], flag[f->kind], ncex, eta, cb, rho,
                                linstab_sampling_name(cs),
                                k >= 8 ? " --sam-variant independent" : "");
                        ncex++;
                    }
                }
            } else {
                tal[k].agree++;
            }
        }
        if (st != LINSTAB_OK) { /* a counterexample could not be saved */
            linstab_moments_free(m);
            linstab_family_rotated_clear(&rf);
            linstab_family_free(f);
            break;
        }
        /* tightness: Theorem 1's threshold vs the exact critical sharpness */
        if (bb.thm1_threshold < INFINITY) {
            double a, bc, esb;
            linstab_sampling_coeffs(LINSTAB_SAMPLING_BERNOULLI, p.n, B, &a, &bc);
            if (linstab_critical_eta(rf.f, rf.l, a, bc, &eo, &esb, &err) == LINSTAB_OK)
                tight1[nt1++] = fmin(bb.thm1_threshold, 2.0 / eta) / (g.sharpness * esb / eta);
        }
        if (r_sam1 > 0.0) tight9[nt9++] = b1.thm9_lambda_max / r_sam1;
        (void)es_samp;
        linstab_moments_free(m);
        linstab_family_rotated_clear(&rf);
        linstab_family_free(f);
        cli_progress("validate", t + 1, count, quiet);
    }
    if (st != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(&err));
        if (cex_list != NULL) {
            cli_output_close(cmd, &cex_out, 0);
            cex_remove(out_dir, ncex, ncex);
        }
        free(tight1);
        free(tight9);
        return cli_exit_code(st);
    }
    if (cex_list != NULL && cex_commit(cmd, out_dir, ncex, &cex_out) != 0) {
        free(tight1);
        free(tight9);
        return 1;
    }
    gsl_sort(tight1, 1, nt1);
    gsl_sort(tight9, 1, nt9);
    double t1_med = nt1 ? tight1[nt1 / 2] : NAN, t1_min = nt1 ? tight1[0] : NAN,
           t1_max = nt1 ? tight1[nt1 - 1] : NAN;
    double t9_med = nt9 ? tight9[nt9 / 2] : NAN, t9_min = nt9 ? tight9[0] : NAN,
           t9_max = nt9 ? tight9[nt9 - 1] : NAN;
    if (json) {
        linstab_json j;
        linstab_json_init(&j, stdout);
        linstab_json_begin(&j, NULL);
        linstab_json_string(&j, "linstab_version", LINSTAB_VERSION);
        linstab_json_int(&j, "count", (long long)count);
        linstab_json_int(&j, "seed", (long long)seed);
        linstab_json_string(&j, "kinds", kinds_arg);
        linstab_json_begin(&j, "claims");
        for (int k = 0; k < CLAIMS; k++) {
            linstab_json_begin(&j, claim_names[k]);
            linstab_json_string(&j, "kind", claim_kind[k]);
            linstab_json_int(&j, "checked", (long long)tal[k].checked);
            linstab_json_int(&j, "fired", (long long)tal[k].fired);
            linstab_json_int(&j, "agree", (long long)tal[k].agree);
            linstab_json_int(&j, "counterexamples", (long long)tal[k].cex);
            linstab_json_end(&j);
        }
        linstab_json_end(&j);
        linstab_json_begin(&j, "tightness");
        linstab_json_begin(&j, "thm1_threshold_over_exact");
        linstab_json_number(&j, "min", t1_min);
        linstab_json_number(&j, "median", t1_med);
        linstab_json_number(&j, "max", t1_max);
        linstab_json_end(&j);
        linstab_json_begin(&j, "thm9_lambda_max_over_radius");
        linstab_json_number(&j, "min", t9_min);
        linstab_json_number(&j, "median", t9_med);
        linstab_json_number(&j, "max", t9_max);
        linstab_json_end(&j);
        linstab_json_end(&j);
        if (out_dir) linstab_json_string(&j, "counterexamples_file", cex_path);
        linstab_json_end(&j);
    } else {
        printf("linstab %s validate: %zu random cases (kinds %s, seed %llu)\n\n", LINSTAB_VERSION,
               count, kinds_arg, seed);
        printf("%-13s %-18s %8s %7s %7s %16s\n", "claim", "stated as", "checked", "fired",
               "agree", "counterexamples");
        for (int k = 0; k < CLAIMS; k++)
            printf("%-13s %-18s %8zu %7zu %7zu %16zu\n", claim_names[k], claim_kind[k],
                   tal[k].checked, tal[k].fired, tal[k].agree, tal[k].cex);
        printf("\ntightness (min / median / max)\n");
        printf("  Thm 1 threshold / exact critical sharpness   %.4g / %.4g / %.4g\n", t1_min,
               t1_med, t1_max);
        printf("  Thm 9 lambda_max(P) / exact SAM radius       %.4g / %.4g / %.4g\n", t9_min,
               t9_med, t9_max);
        if (out_dir) printf("\ncounterexamples: %zu saved, commands in %s\n", ncex, cex_path);
    }
    free(tight1);
    free(tight9);
    return 0;
}
