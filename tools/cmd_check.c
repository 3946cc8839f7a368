/*
 * cmd_check.c -- `linstab check`: geometry of a Hessian family and what
 * every published stability result says at (eta, B, rho, sampling).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_options.h"
#include "cli_model.h"
#include "linstab/bounds.h"
#include "linstab/check.h"
#include "linstab/exact.h"
#include "linstab/geometry.h"
#include "linstab/data.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/train.h"
#include "linstab/report.h"
#include "linstab_config.h"

static const char *const usage =
    "usage: linstab check (--family F.npy | --factors U.npy | --diag D.npy | --model DIR ...)\n"
    "                     --eta E --batch B [--rho R] [--sampling S] [options]\n"
    "\n"
    "Geometry of a Hessian family at a minimum and the verdict of every published\n"
    "stability bound for SGD (rho = 0) or SAM (rho > 0).\n"
    "\n"
    "family (exactly one):\n"
    "@family\n"
    "@factors\n"
    "@diag\n"
    CLI_MODEL_USAGE
    "hyper-parameters:\n"
    "@eta (required)\n"
    "@batch (required)\n"
    "@rho (default 0: SGD)\n"
    "@sampling\n"
    "options:\n"
    "exact stability (docs/math.md sections 3-5):\n"
    "@sam-variant (default same)\n"
    "@no-exact (radius, critical values, Lyapunov)\n"
    "@seed of the Monte Carlo Lyapunov estimate\n"
    "  --lyapunov-runs N     independent runs of the estimate (default 8)\n"
    "  --lyapunov-steps N    steps per run (default 2000)\n"
    "@eigen\n"
    "output:\n"
    "@json\n"
    "@out write the report to FILE (atomically) instead of stdout\n"
    "@quiet (of the exact section's stages)\n"
    "@allow-indefinite\n"
    "@sym-tol\n"
    "@rank-tol\n"
    "@max-memory\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 success, 1 bad data (file, NaN, asymmetric, indefinite,\n"
    "too large), 2 usage error.\n";

/* Stage timings on stderr when LINSTAB_PROFILE is set (for benchmarks). */
static void stage(const char *what)
{
    static struct timespec last;
    static int on = -1;
    if (on < 0) on = getenv("LINSTAB_PROFILE") != NULL;
    if (!on) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (what != NULL)
        fprintf(stderr, "[profile] %-10s %.3f s\n", what,
                (double)(now.tv_sec - last.tv_sec) + 1e-9 * (double)(now.tv_nsec - last.tv_nsec));
    last = now;
}

static void stage_cb(const char *what, void *ctx)
{
    (void)ctx;
    stage(what);
}

enum { OPT_LRUNS = 256, OPT_LSTEPS };

static const struct option own_opts[] = {
    {"lyapunov-runs", required_argument, NULL, OPT_LRUNS},
    {"lyapunov-steps", required_argument, NULL, OPT_LSTEPS},
    {NULL, 0, NULL, 0}};
static const char *const required[] = {"eta", "batch", NULL};
static const cli_command check_cmd = {
    "check",
    CLI_OPTS_FAMILY | CLI_OPT_BIT(CLI_OPT_ETA) | CLI_OPT_BIT(CLI_OPT_BATCH) | CLI_OPT_BIT(CLI_OPT_RHO) |
        CLI_OPT_BIT(CLI_OPT_SAMPLING) | CLI_OPT_BIT(CLI_OPT_SAM_VARIANT) | CLI_OPT_BIT(CLI_OPT_NO_EXACT) |
        CLI_OPT_BIT(CLI_OPT_SEED) | CLI_OPT_BIT(CLI_OPT_EIGEN) | CLI_OPT_BIT(CLI_OPT_JSON) |
        CLI_OPT_BIT(CLI_OPT_OUT) | CLI_OPT_BIT(CLI_OPT_QUIET),
    own_opts, required, usage, 24};

/* The exact section's stages, each a bar of its units with an ETA
 * (exact.h, progress_units; cli_progress.h): on a large family they take
 * seconds to minutes each.  The label is "exact NAME"; a stage whose total
 * is an upper bound or an estimate says so in the ETA it gives (the
 * bar ends early rather than late). */
typedef struct exact_bar {
    int quiet;
    char label[40];
    cli_progress_state bar;
} exact_bar;

static void exact_progress(int k, const char *name, void *ctx)
{
    exact_bar *x = ctx;
    /* LINSTAB_PROFILE: the time of the stage that just ended, under its name */
    if (k > 0) stage(x->label);
    if (k >= LINSTAB_EXACT_STAGES) return; /* each stage ended its bar */
    snprintf(x->label, sizeof x->label, "exact %s", name);
}

static void exact_units(int stage, size_t done, size_t total, void *ctx)
{
    (void)stage;
    exact_bar *x = ctx;
    if (done == 0) cli_progress_begin(&x->bar, x->label, 0, total, x->quiet);
    else cli_progress_update(&x->bar, done, total);
    if (done > 0 && done >= total) cli_progress_end(&x->bar);
}

int cmd_check(int argc, char **argv)
{
    const char *cmd = "check";
    int rc = 0;
    linstab_error err = {0};
    linstab_exact_opts xo = linstab_exact_defaults();
    cli_common_opts co = cli_common_defaults();
    co.eigen = xo.eigen.path;
    cli_parser ps = cli_options_start(&check_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_LRUNS:
            ps.status = cli_parse_count(cmd, "--lyapunov-runs", optarg, 2, 1000000, &xo.lyap_runs);
            break;
        case OPT_LSTEPS:
            ps.status = cli_parse_count(cmd, "--lyapunov-steps", optarg, 10, 1000000000, &xo.lyap_steps);
            break;
        }
    }
    cli_family_source src = co.src;
    linstab_hyper h = {.eta = co.eta, .batch = co.batch, .rho = co.rho, .sampling = co.sampling};
    linstab_optimizer variant = co.variant;
    int exact = !co.no_exact, json = co.json;
    const char *out_path = co.out;
    xo.seed = co.seed;
    xo.eigen.path = co.eigen;
    if (!(h.eta > 0.0)) return cli_usage_error(cmd, "--eta %g: the learning rate must be > 0", h.eta);
    if (!(h.rho >= 0.0)) return cli_usage_error(cmd, "--rho %g: the SAM radius must be >= 0", h.rho);
    if (h.batch < 1) return cli_usage_error(cmd, "--batch 0: the batch size must be >= 1");

    linstab_family *f = NULL;
    linstab_check_result res = {0};
    const char *path = NULL;
    int indefinite = 0;
    stage(NULL);
    rc = cli_load_family(cmd, &src, &f, &path, &indefinite);
    if (rc != 0) return rc;
    stage("load");
    if (h.batch > f->n) {
        rc = cli_usage_error(cmd, "--batch %zu: the batch size must be in [1, n] = [1, %zu]",
                             h.batch, f->n);
        goto done;
    }
    rc = cli_check_memory(cmd, &src, linstab_check_memory(f), "check on this family");
    if (rc != 0) goto done;

    linstab_check_opts copts = linstab_check_defaults();
    copts.rank_rtol = src.rank_tol;
    copts.indefinite = indefinite;
    copts.exact = exact;
    copts.lambda_min = src.model != NULL; /* the premise of every result: an interpolating minimum */
    copts.sam_variant = variant;
    copts.exact_opts = xo;
    exact_bar xbar = {co.quiet, "exact", {0}};
    copts.exact_opts.progress = exact_progress;
    copts.exact_opts.progress_units = exact_units;
    copts.exact_opts.progress_ctx = &xbar;
    copts.stage = stage_cb;
    linstab_status st = linstab_check_take(f, &h, &copts, &res, &err);
    f = NULL; /* taken over */
    if (st != LINSTAB_OK) cli_progress_stop(&xbar.bar); /* a failed stage: end its line */
    if (st != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, path, cli_msg(&err));
        rc = cli_exit_code(st);
        goto done;
    }
    const linstab_geometry *g = &res.geometry;
    linstab_mlp_point pt;
    int have_point = 0, is_min = 0;
    if (src.model != NULL) {
        rc = cli_model_point(cmd, &src, &pt);
        stage("model point");
        if (rc != 0) goto done;
        have_point = 1;
        is_min = linstab_mlp_point_is_minimum(&pt, g->sharpness, g->lambda_min);
    }
    cli_output o;
    rc = cli_output_open(cmd, out_path, &o);
    if (rc != 0) goto done;
    linstab_check_info info = {path, linstab_family_kind_name(res.kind), LINSTAB_VERSION,
                               have_point ? &pt : NULL, is_min, NULL, NULL};
    cli_curvature(&src, &info.curvature, &info.curvature_words);
    const linstab_exact *ex = res.have_exact ? &res.exact : NULL;
    if (json)
        linstab_report_check_json(o.fp, &info, &h, g, &res.bounds, ex);
    else
        linstab_report_check_text(o.fp, &info, &h, g, &res.bounds, ex);
    rc = cli_output_close(cmd, &o, 1);
done:
    linstab_check_result_clear(&res);
    linstab_family_free(f);
    return rc;
}
