/*
 * cmd_check.c -- `linstab check`: geometry of a Hessian family and what
 * every published stability result says at (eta, B, rho, sampling).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
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
    "  --family F.npy        dense per-sample Hessians, shape (n, d, d)\n"
    "  --factors U.npy       factors, shape (n, d, k): H_i = U_i U_i'\n"
    "  --diag D.npy          diagonal Hessians, shape (n, d): H_i = diag(D_i)\n"
    CLI_MODEL_USAGE
    "hyper-parameters:\n"
    "  --eta E               learning rate, > 0 (required)\n"
    "  --batch B             batch size in [1, n] (required)\n"
    "  --rho R               SAM radius, >= 0 (default 0: SGD)\n"
    "  --sampling S          bernoulli | without | with (default without: uniform\n"
    "                        B-subsets, what practitioners run; the theorems of\n"
    "                        Dexter et al. (2024) assume bernoulli)\n"
    "options:\n"
    "exact stability (docs/math.md sections 3-5):\n"
    "  --sam-variant V       same | independent: SAM's ascent batch (default same)\n"
    "  --no-exact            skip the exact section (radius, critical values, Lyapunov)\n"
    "  --seed S              seed of the Monte Carlo Lyapunov estimate (default 0)\n"
    "  --lyapunov-runs N     independent runs of the estimate (default 8)\n"
    "  --lyapunov-steps N    steps per run (default 2000)\n"
    "  --eigen dense|arpack|auto  eigensolver path (default auto: dense up to\n"
    "                        operator size 2000)\n"
    "output:\n"
    "  --json                machine-readable output\n"
    "  --out FILE            write the report to FILE (atomically) instead of stdout\n"
    "  --allow-indefinite    accept Hessians with negative eigenvalues\n"
    "  --sym-tol T           relative symmetry tolerance (default 1e-10)\n"
    "  --rank-tol T          relative eigenvalue tolerance for rank(H)\n"
    "                        (default d * machine epsilon, as numpy's matrix_rank)\n"
    "  --max-memory GB       memory limit (default: the memory available now)\n"
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

enum { OPT_ETA = 256, OPT_BATCH, OPT_RHO, OPT_SAMPLING,
       OPT_JSON, OPT_OUT,
       OPT_VARIANT, OPT_NOEXACT, OPT_SEED, OPT_LRUNS, OPT_LSTEPS, OPT_EIGEN };

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
    static const struct option opts[] = {
        {"eta", required_argument, NULL, OPT_ETA},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"rho", required_argument, NULL, OPT_RHO},
        {"sampling", required_argument, NULL, OPT_SAMPLING},
        {"json", no_argument, NULL, OPT_JSON},
        {"out", required_argument, NULL, OPT_OUT},
        {"sam-variant", required_argument, NULL, OPT_VARIANT},
        {"no-exact", no_argument, NULL, OPT_NOEXACT},
        {"seed", required_argument, NULL, OPT_SEED},
        {"lyapunov-runs", required_argument, NULL, OPT_LRUNS},
        {"lyapunov-steps", required_argument, NULL, OPT_LSTEPS},
        {"eigen", required_argument, NULL, OPT_EIGEN},
        CLI_FAMILY_OPTIONS(300),
        CLI_MODEL_OPTIONS(400),
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *cmd = "check";
    cli_family_source src = {.sym_tol = 1e-10};
    linstab_hyper h = {.eta = 0.0, .batch = 0, .rho = 0.0, .sampling = LINSTAB_SAMPLING_WITHOUT};
    int have_eta = 0, have_batch = 0, json = 0, rc = 0;

    const char *out_path = NULL;
    linstab_error err = {0};
    linstab_sam_variant variant = LINSTAB_SAM_SAME;
    int exact = 1;
    unsigned long long seed = 0;
    linstab_exact_opts xo = linstab_exact_defaults();
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ETA: rc = cli_parse_number(cmd, "--eta", optarg, 0, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &h.eta); have_eta = 1; break;
        case OPT_BATCH: rc = cli_parse_count(cmd, "--batch", optarg, 1, SIZE_MAX, &h.batch); have_batch = 1; break;
        case OPT_RHO: rc = cli_parse_number(cmd, "--rho", optarg, 0, INFINITY, CLI_HI_OPEN, &h.rho); break;
        case OPT_SAMPLING:
            if (linstab_sampling_parse(optarg, &h.sampling, &err) != LINSTAB_OK)
                rc = cli_usage_error(cmd, "%s", cli_msg(&err));
            break;
        case OPT_JSON: json = 1; break;
        case OPT_OUT: out_path = optarg; break;
        case OPT_VARIANT:
            if (linstab_sam_variant_parse(optarg, &variant, &err) != LINSTAB_OK)
                rc = cli_usage_error(cmd, "%s", cli_msg(&err));
            break;
        case OPT_NOEXACT: exact = 0; break;
        case OPT_SEED: rc = cli_parse_u64(cmd, "--seed", optarg, &seed); xo.seed = seed; break;
        case OPT_LRUNS:
            rc = cli_parse_count(cmd, "--lyapunov-runs", optarg, 2, 1000000, &xo.lyap_runs);
            break;
        case OPT_LSTEPS:
            rc = cli_parse_count(cmd, "--lyapunov-steps", optarg, 10, 1000000000, &xo.lyap_steps);
            break;
        case OPT_EIGEN: rc = cli_parse_eigen_path(cmd, optarg, &xo.eigen.path); break;
        case 300: case 301: case 302: case 303: case 304: case 305: case 306:
            rc = cli_family_option(cmd, c - 300, optarg, &src);
            break;
        case 400: case 401: case 402: case 403: case 404: case 405:
            rc = cli_family_model_option(cmd, c - 400, optarg, &src);
            break;
        case 'h': fputs(usage, stdout); return 0;
        default:
            return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc != 0) return rc;
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!have_eta) return cli_usage_error(cmd, "--eta is required");
    if (!have_batch) return cli_usage_error(cmd, "--batch is required");
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
