/*
 * cmd_validate.c -- `linstab validate`: parse, then one library call
 * (linstab_validate_random, src/stability/validate.c: random families and
 * hyper-parameters, every published bound against the exact mean-square
 * criterion, tightness), then print; every counterexample (a bound stated
 * as sufficient or necessary that the exact answer contradicts) is saved
 * here as an NPY family with the command that reproduces it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_options.h"
#include "linstab/generate.h"
#include "linstab/report.h"
#include "linstab/validate.h"
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
    "@seed: same seed, same cases, same report\n"
    "@out=DIR save counterexamples (DIR/cex-K.npy) and DIR/counterexamples.txt with the command reproducing "
    "each (default: none saved)\n"
    "@json\n"
    "@quiet\n"
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

enum { OPT_KINDS = 256, OPT_COUNT };

static const struct option own_opts[] = {
    {"kinds", required_argument, NULL, OPT_KINDS}, {"count", required_argument, NULL, OPT_COUNT}, {NULL, 0, NULL, 0}};
static const cli_command validate_cmd = {"validate",
                                         CLI_OPT_BIT(CLI_OPT_SEED) | CLI_OPT_BIT(CLI_OPT_OUT) |
                                             CLI_OPT_BIT(CLI_OPT_JSON) | CLI_OPT_BIT(CLI_OPT_QUIET),
                                         own_opts, NULL, usage, 17};

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

/* What the callbacks of linstab_validate_random need. */
typedef struct cex_ctx {
    const char *cmd, *dir;
    FILE *list;  /* counterexamples.txt (staged) */
    size_t ncex; /* counterexamples saved (staged) so far */
    cli_progress_state bar; /* cases done of count */
} cex_ctx;

/* Save one counterexample as DIR/cex-K.npy (staged) with the `linstab
 * check` command that reproduces it.  (7)'s s_k conditions are saved too:
 * Shin et al. state them as necessary conditions, docs/math.md §5 shows
 * they are not. */
static linstab_status save_cex(const linstab_validate_cex *cex, void *vctx, linstab_error *err)
{
    static const char *flag[] = {"--family", "--factors", "--diag"};
    cex_ctx *cx = vctx;
    char fpath[4200];
    cex_name(fpath, sizeof fpath, cx->dir, cx->ncex, 1);
    linstab_status st = linstab_family_save(cex->family, fpath, err);
    if (st != LINSTAB_OK) {
        cex_name(fpath, sizeof fpath, cx->dir, cx->ncex, 0);
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return linstab_error_set(err, st, "saving %s: %s", fpath, why);
    }
    const linstab_validate_claim *c = cex->claim;
    fprintf(cx->list,
            "%s: linstab check %s cex-%zu.npy --eta %.17g --batch %zu "
            "--rho %.17g --sampling %s%s\n",
            c->name, flag[cex->family->kind], cx->ncex, cex->vcase->h.eta, c->batch, cex->vcase->h.rho,
            linstab_sampling_name(c->sampling),
            c->dynamics == LINSTAB_OPT_SAM_INDEP ? " --sam-variant independent" : "");
    cx->ncex++;
    return LINSTAB_OK;
}

static void progress(size_t done, size_t total, void *vctx)
{
    cex_ctx *cx = vctx;
    cli_progress_update(&cx->bar, done, total);
}

int cmd_validate(int argc, char **argv)
{
    const char *cmd = "validate";
    const char *kinds_arg = "rank1,lowrank,aligned,wishart";
    size_t count = 200;
    linstab_error err = {0};
    cli_common_opts co = cli_common_defaults();
    cli_parser ps = cli_options_start(&validate_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_KINDS: kinds_arg = optarg; break;
        case OPT_COUNT: ps.status = cli_parse_count(cmd, "--count", optarg, 1, 10000000, &count); break;
        }
    }
    const char *out_dir = co.out;
    unsigned long long seed = co.seed;
    int json = co.json, quiet = co.quiet;

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

    cex_ctx cx = {cmd, out_dir, cex_list, 0, {0}};
    linstab_validate_params vp = linstab_validate_defaults();
    vp.kinds = kinds;
    vp.nkinds = nk;
    vp.count = count;
    vp.seed = seed;
    vp.counterexample = cex_list != NULL ? save_cex : NULL;
    vp.progress = progress;
    vp.ctx = &cx;
    linstab_validate_summary sum;
    cli_progress_begin(&cx.bar, "validate", 0, count, quiet);
    linstab_status st = linstab_validate_random(&vp, &sum, &err);
    if (st == LINSTAB_OK) cli_progress_end(&cx.bar);
    else cli_progress_stop(&cx.bar);
    if (st != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(&err));
        if (cex_list != NULL) {
            cli_output_close(cmd, &cex_out, 0);
            cex_remove(out_dir, cx.ncex, cx.ncex);
        }
        return cli_exit_code(st);
    }
    if (cex_list != NULL && cex_commit(cmd, out_dir, cx.ncex, &cex_out) != 0) return 1;
    if (json) {
        linstab_json j;
        linstab_json_init(&j, stdout);
        linstab_json_begin(&j, NULL);
        linstab_json_string(&j, "linstab_version", LINSTAB_VERSION);
        linstab_json_int(&j, "count", (long long)count);
        linstab_json_int(&j, "seed", (long long)seed);
        linstab_json_string(&j, "kinds", kinds_arg);
        linstab_json_begin(&j, "claims");
        for (int k = 0; k < LINSTAB_VALIDATE_CLAIMS; k++) {
            const linstab_validate_tally *t = &sum.tally[k];
            linstab_json_begin(&j, linstab_validate_claim_name((linstab_validate_claim_id)k));
            linstab_json_string(&j, "kind", linstab_validate_claim_stated_as((linstab_validate_claim_id)k));
            linstab_json_int(&j, "checked", (long long)t->checked);
            linstab_json_int(&j, "fired", (long long)t->fired);
            linstab_json_int(&j, "agree", (long long)t->agree);
            linstab_json_int(&j, "counterexamples", (long long)t->counterexamples);
            linstab_json_end(&j);
        }
        linstab_json_end(&j);
        linstab_json_begin(&j, "tightness");
        linstab_json_begin(&j, "thm1_threshold_over_exact");
        linstab_json_number(&j, "min", sum.thm1_min);
        linstab_json_number(&j, "median", sum.thm1_median);
        linstab_json_number(&j, "max", sum.thm1_max);
        linstab_json_end(&j);
        linstab_json_begin(&j, "thm9_lambda_max_over_radius");
        linstab_json_number(&j, "min", sum.thm9_min);
        linstab_json_number(&j, "median", sum.thm9_median);
        linstab_json_number(&j, "max", sum.thm9_max);
        linstab_json_end(&j);
        linstab_json_end(&j);
        if (out_dir) linstab_json_string(&j, "counterexamples_file", cex_path);
        linstab_json_end(&j);
    } else {
        printf("linstab %s validate: %zu random cases (kinds %s, seed %llu)\n\n", LINSTAB_VERSION,
               count, kinds_arg, seed);
        printf("%-13s %-18s %8s %7s %7s %16s\n", "claim", "stated as", "checked", "fired",
               "agree", "counterexamples");
        for (int k = 0; k < LINSTAB_VALIDATE_CLAIMS; k++) {
            const linstab_validate_tally *t = &sum.tally[k];
            printf("%-13s %-18s %8zu %7zu %7zu %16zu\n", linstab_validate_claim_name((linstab_validate_claim_id)k),
                   linstab_validate_claim_stated_as((linstab_validate_claim_id)k), t->checked, t->fired, t->agree,
                   t->counterexamples);
        }
        printf("\ntightness (min / median / max)\n");
        printf("  Thm 1 threshold / exact critical sharpness   %.4g / %.4g / %.4g\n", sum.thm1_min,
               sum.thm1_median, sum.thm1_max);
        printf("  Thm 9 lambda_max(P) / exact SAM radius       %.4g / %.4g / %.4g\n", sum.thm9_min,
               sum.thm9_median, sum.thm9_max);
        if (out_dir) printf("\ncounterexamples: %zu saved, commands in %s\n", cx.ncex, cex_path);
    }
    return 0;
}
