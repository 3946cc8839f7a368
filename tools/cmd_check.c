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
    "@sampling (default without: uniform B-subsets, what practitioners run; the theorems of Dexter et al. "
    "(2024) assume bernoulli)\n"
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
        CLI_OPT_BIT(CLI_OPT_OUT),
    own_opts, required, usage, 24};

/* Rough peak memory of `check` in bytes (see family.c and geometry.c). */
static double check_memory(const linstab_family *f)
{
    double n = (double)f->n, d = (double)f->d, k = (double)f->k;
    double data = (double)linstab_family_data_len(f);
    /* factors with n k < d are restricted through their Gram matrix: every
     * later matrix is at most n k square, whatever d is (a network's
     * Gauss-Newton factors: p parameters, n k << p) */
    int gram = f->kind == LINSTAB_FAMILY_FACTORED && n * k < d;
    double r = gram ? n * k : d;
    double work = 14.0 * r * r + n * n;
    if (f->kind == LINSTAB_FAMILY_DENSE) {
        /* per-sample sums (family.c): up to 8 chunks of 3 accumulators,
         * at most 256 MB unless one chunk alone is larger, plus a
         * scratch matrix per thread */
        double per = 3.0 * r * r, nch = n < 8.0 ? n : 8.0;
        while (nch > 1.0 && nch * per * 8.0 > 256.0 * 1048576.0) nch -= 1.0;
        work += 2.0 * data + nch * per + 2.0 * r * r; /* the family and a restricted copy */
    }
    if (f->kind == LINSTAB_FAMILY_FACTORED)
        work += gram ? 2.0 * data + 2.0 * r * r + 4.0 * 1048576.0 : data + 3.0 * d * n * k + 4.0 * 1048576.0;
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) work += data;
    return 8.0 * work;
}

/* Stages of the exact section on stderr when it is a terminal: on a large
 * family they take seconds to minutes each. */
static void exact_progress(int stage, const char *name, void *ctx)
{
    (void)ctx;
    if (!isatty(STDERR_FILENO)) return;
    if (stage >= LINSTAB_EXACT_STAGES) {
        fprintf(stderr, "\r%-60s\r", "");
    } else {
        fprintf(stderr, "\rexact [%d/%d] %-14s", stage + 1, LINSTAB_EXACT_STAGES, name);
    }
    fflush(stderr);
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

    linstab_family *f = NULL, *fr = NULL;
    linstab_moments *m = NULL;
    double *Hmean = NULL;
    linstab_rotated rf = {0};
    linstab_exact ex;
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
    rc = cli_check_memory(cmd, &src, check_memory(f), "check on this family");
    if (rc != 0) goto done;

    size_t rank = 0, d_amb = linstab_family_ambient_dim(f);
    double lambda1 = NAN;
    linstab_family_kind kind = f->kind;
    linstab_status st;
    /* the exact operators need the eigenbasis of H; the geometry is invariant */
    if (exact) {
        st = linstab_family_rotated_make(f, src.rank_tol, indefinite, &rf, &err);
        fr = rf.f;
        rf.f = NULL; /* fr is freed below */
    } else {
        /* f is not needed again: restricted in place, no copy when rank = d */
        st = linstab_family_restrict_take(&f, src.rank_tol, indefinite, &rank, &Hmean, &lambda1, &err);
        fr = f;
        f = NULL;
    }
    linstab_geometry g;
    linstab_bounds b;
    stage("restrict");
    if (st == LINSTAB_OK) st = linstab_moments_compute_take(fr, Hmean, lambda1, &m, &err);
    Hmean = NULL; /* taken over */
    stage("moments");
    if (st == LINSTAB_OK) st = linstab_geometry_compute(fr, m, d_amb, &g, &err);
    stage("geometry");
    if (st == LINSTAB_OK) st = linstab_bounds_compute(&g, m, &h, &b, &err);
    stage("bounds");
    if (st == LINSTAB_OK && exact) {
        rf.f = fr;
        xo.progress = exact_progress;
        st = linstab_exact_compute(&rf, &h, variant, &xo, &ex, &err);
        if (st != LINSTAB_OK) exact_progress(LINSTAB_EXACT_STAGES, "", NULL);
        rf.f = NULL;
        stage("exact");
    }
    if (st != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, path, cli_msg(&err));
        rc = cli_exit_code(st);
        goto done;
    }
    linstab_mlp_point pt;
    int have_point = 0, is_min = 0;
    if (src.model != NULL) {
        /* the premise of every result: an interpolating minimum */
        if (g.definite && !isfinite(g.lambda_min)) st = linstab_geometry_lambda_min(m, &g, &err);
        if (st != LINSTAB_OK) {
            fprintf(stderr, "linstab %s: error: %s: lambda_min(H): %s\n", cmd, path, cli_msg(&err));
            rc = cli_exit_code(st);
            goto done;
        }
        rc = cli_model_point(cmd, &src, &pt);
        if (rc != 0) goto done;
        have_point = 1;
        is_min = linstab_mlp_point_is_minimum(&pt, g.sharpness, g.lambda_min);
    }
    cli_output o;
    rc = cli_output_open(cmd, out_path, &o);
    if (rc != 0) goto done;
    linstab_check_info info = {path, linstab_family_kind_name(kind), LINSTAB_VERSION, have_point ? &pt : NULL,
                               is_min};
    if (json)
        linstab_report_check_json(o.fp, &info, &h, &g, &b, exact ? &ex : NULL);
    else
        linstab_report_check_text(o.fp, &info, &h, &g, &b, exact ? &ex : NULL);
    rc = cli_output_close(cmd, &o, 1);
done:
    free(Hmean);
    linstab_moments_free(m);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(fr);
    linstab_family_free(f);
    return rc;
}
