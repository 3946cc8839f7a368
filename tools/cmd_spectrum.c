/*
 * cmd_spectrum.c -- `linstab spectrum`: PyHessian-class spectral
 * diagnostics of a network's mean-loss Hessian (or Gauss-Newton matrix)
 * at a checkpoint, matrix-free, or of a symmetric matrix: the top-k
 * eigenpairs, the trace (exact or Hutchinson with a standard error) and
 * the spectral density by stochastic Lanczos quadrature, with its plot.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_model.h"
#include "cli_options.h"
#include "linstab/eigen.h"
#include "linstab/json.h"
#include "linstab/map.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/plot.h"
#include "linstab/spectrum.h"

static const char *const usage =
    "usage: linstab spectrum (--model DIR --data X.npy --targets Y.npy --loss mse|ce\n"
    "                        | --matrix A.npy) [--top-k K [--which la|lm] [--eigvecs V.npy]]\n"
    "                        [--trace exact|hutchinson [--probes N]] [--density D.csv\n"
    "                        [--lanczos-steps M] [--density-probes P] [--sigma S] [--grid G]\n"
    "                        [--plot F.png|F.svg]] [--seed S] [--json FILE|-] [--quiet]\n"
    "\n"
    "Spectral diagnostics of the Hessian H of the mean loss of an MLP checkpoint at\n"
    "the samples of X (exact, all terms, from Hessian-vector products; never formed),\n"
    "or of a symmetric matrix: the K largest eigenvalues and their unit eigenvectors,\n"
    "the trace, and the spectral density by stochastic Lanczos quadrature (SLQ; Ghorbani,\n"
    "Krishnan & Xiao 2019; Yao et al., PyHessian, 2020).  Without --top-k, --trace or\n"
    "--density: --top-k 1.  Off a minimum H is indefinite: --which lm gives the K\n"
    "eigenvalues of largest |lambda| (negative ones included).\n"
    "Probe j of --seed S is a Rademacher vector that depends on (S, j) only; Hutchinson\n"
    "and SLQ share probes.  Eigenvector signs are fixed (largest |entry| positive).\n"
    "\n"
    "@model\n"
    "@data\n"
    "@targets\n"
    "@loss\n"
    "@label-smoothing\n"
    "  --hessian exact|gn    exact Hessian (default) or the (generalized) Gauss-Newton\n"
    "                        matrix J'J (mse), J'(diag p - pp')J (ce), PSD\n"
    "@activation\n"
    "@output-activation\n"
    "  --matrix A.npy        a symmetric d x d matrix instead of a model\n"
    "@sym-tol for --matrix\n"
    "  --top-k K             the K largest eigenpairs (K <= dimension)\n"
    "  --which la|lm         largest algebraic (default) or largest magnitude\n"
    "  --eigvecs V.npy       the eigenvectors, K x p float64, rows in parameter order\n"
    "                        (W1 row-major, b1, W2, b2, ...)\n"
    "@eigen\n"
    "  --tol T               ARPACK relative tolerance (default 1e-10)\n"
    "  --trace M             exact (a matrix: its diagonal; a model: the layers'\n"
    "                        blocks in closed form, no products) or hutchinson\n"
    "  --probes N            Hutchinson probes (default 100)\n"
    "  --save-probes Z.npy   the Hutchinson probes, N x p (to check another code)\n"
    "  --density D.csv       the SLQ density (columns lambda, density)\n"
    "  --lanczos-steps M     Lanczos steps per probe (default 80; <= p)\n"
    "  --density-probes P    SLQ probes (default 1)\n"
    "  --sigma S             Gaussian width (default 1% of the range of the nodes)\n"
    "  --grid G              points of the density (default 1000)\n"
    "  --plot F.png|F.svg    the density on a log axis\n"
    "@seed\n"
    "  --json FILE|-         the results as JSON (- : on standard output, instead of\n"
    "                        the text); unavailable values are null\n"
    "@quiet\n"
    "  -h, --help            this help\n";

enum {
    OPT_MATRIX = 256,
    OPT_TOPK,
    OPT_WHICH,
    OPT_EIGVECS,
    OPT_TOL,
    OPT_TRACE,
    OPT_PROBES,
    OPT_SAVE_PROBES,
    OPT_DENSITY,
    OPT_STEPS,
    OPT_DPROBES,
    OPT_SIGMA,
    OPT_GRID,
    OPT_PLOT,
    OPT_JSON_FILE
};

static const struct option own_opts[] = {{"matrix", required_argument, NULL, OPT_MATRIX},
                                         {"top-k", required_argument, NULL, OPT_TOPK},
                                         {"which", required_argument, NULL, OPT_WHICH},
                                         {"eigvecs", required_argument, NULL, OPT_EIGVECS},
                                         {"tol", required_argument, NULL, OPT_TOL},
                                         {"trace", required_argument, NULL, OPT_TRACE},
                                         {"probes", required_argument, NULL, OPT_PROBES},
                                         {"save-probes", required_argument, NULL, OPT_SAVE_PROBES},
                                         {"density", required_argument, NULL, OPT_DENSITY},
                                         {"lanczos-steps", required_argument, NULL, OPT_STEPS},
                                         {"density-probes", required_argument, NULL, OPT_DPROBES},
                                         {"sigma", required_argument, NULL, OPT_SIGMA},
                                         {"grid", required_argument, NULL, OPT_GRID},
                                         {"plot", required_argument, NULL, OPT_PLOT},
                                         {"json", required_argument, NULL, OPT_JSON_FILE},
                                         {NULL, 0, NULL, 0}};

static const cli_command spectrum_cmd = {
    "spectrum",
    CLI_OPTS_MODEL | CLI_OPT_BIT(CLI_OPT_ACTIVATION) | CLI_OPT_BIT(CLI_OPT_OUTPUT_ACTIVATION) |
        CLI_OPT_BIT(CLI_OPT_SYM_TOL) | CLI_OPT_BIT(CLI_OPT_SEED) | CLI_OPT_BIT(CLI_OPT_EIGEN) |
        CLI_OPT_BIT(CLI_OPT_QUIET),
    own_opts, NULL, usage, 24};

/* ---- an operator that counts its products and shows progress ---- */

typedef struct counted {
    const linstab_operator *inner;
    size_t applies;        /* in the current stage */
    int quiet;
    cli_progress_state bar; /* of the stage: products done of those expected (0: unknown) */
    /* LINSTAB_PROFILE: the stage's wall and process CPU time, printed at its end */
    int profile;
    const char *stage; /* the open stage, NULL once ended */
    struct timespec t0, c0;
} counted;

static double since(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + 1e-9 * (double)(b->tv_nsec - a->tv_nsec);
}

static void stage_end(counted *c);

static void stage_start(counted *c, const char *stage, size_t total)
{
    stage_end(c); /* a stage before that did not say its end */
    c->applies = 0;
    c->stage = stage;
    clock_gettime(CLOCK_MONOTONIC, &c->t0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c->c0);
    cli_progress_begin(&c->bar, stage, 0, total, c->quiet);
}

static linstab_status counted_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    counted *c = vctx;
    linstab_status st = c->inner->apply(x, y, c->inner->ctx, err);
    c->applies++;
    cli_progress_update(&c->bar, c->applies, 0);
    if (c->bar.total > 0 && c->applies == c->bar.total) cli_progress_end(&c->bar);
    return st;
}

static linstab_status counted_form(double *A, void *vctx, linstab_error *err)
{
    counted *c = vctx;
    return c->inner->form_dense(A, c->inner->ctx, err);
}

/* The last line of the stage: an open-ended one (or one that ended early,
 * invariant subspaces) with the products it took as its total. */
static void stage_end(counted *c)
{
    if (c->profile && c->stage != NULL) {
        struct timespec t1, c1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
        fprintf(stderr, "[profile] %s %.3f s, cpu %.3f s, %zu products\n", c->stage, since(&c->t0, &t1),
                since(&c->c0, &c1), c->applies);
    }
    c->stage = NULL;
    c->bar.total = c->applies;
    c->bar.done = c->applies;
    cli_progress_end(&c->bar);
}

/* Hutchinson's estimator of a network's operator: the probes of
 * linstab_spectrum_probe, the samples z' H z by
 * linstab_mlp_hessian_operator_quad (a second-order forward pass, no
 * backward), mean and standard error as linstab_spectrum_hutchinson. */
static linstab_status model_hutchinson(const linstab_operator *base, counted *cnt, size_t N, unsigned long long seed,
                                       double *mean, double *se, linstab_error *err)
{
    size_t p = base->dim;
    double *t = malloc(N * sizeof *t), *z = malloc(p * sizeof *z);
    linstab_status st = t && z ? LINSTAB_OK : linstab_error_set(err, LINSTAB_ENOMEM, "Hutchinson trace: out of memory");
    for (size_t j = 0; st == LINSTAB_OK && j < N; j++) {
        st = linstab_spectrum_probe(seed, j, p, z, err);
        if (st == LINSTAB_OK) st = linstab_mlp_hessian_operator_quad(base, 1, z, t + j, err);
        cnt->applies++;
        cli_progress_update(&cnt->bar, cnt->applies, 0);
    }
    if (st == LINSTAB_OK) {
        double s = 0.0, ss = 0.0;
        for (size_t j = 0; j < N; j++) s += t[j];
        double mu = s / (double)N;
        for (size_t j = 0; j < N; j++) ss += (t[j] - mu) * (t[j] - mu);
        *mean = mu;
        *se = N > 1 ? sqrt(ss / (double)(N - 1)) / sqrt((double)N) : NAN;
    }
    free(t);
    free(z);
    return st;
}

/* ---- a symmetric matrix as an operator ---- */

typedef struct mat_ctx {
    size_t n;
    const double *A;
} mat_ctx;

static linstab_status mat_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    (void)err;
    mat_ctx *c = vctx;
    for (size_t i = 0; i < c->n; i++) {
        double s = 0.0;
        const double *a = c->A + i * c->n;
        for (size_t j = 0; j < c->n; j++) s += a[j] * x[j];
        y[i] = s;
    }
    return LINSTAB_OK;
}

static linstab_status mat_form(double *A, void *vctx, linstab_error *err)
{
    (void)err;
    mat_ctx *c = vctx;
    memcpy(A, c->A, c->n * c->n * sizeof *A);
    return LINSTAB_OK;
}

/* --matrix: a finite, square, symmetric (to sym_tol relative) array, symmetrized */
static int load_matrix(const char *cmd, const char *path, double sym_tol, linstab_array *a)
{
    linstab_error err = {0};
    if (linstab_npy_read_numeric(path, 0, a, &err) != LINSTAB_OK) return cli_fail(cmd, &err);
    if (a->ndim != 2 || a->shape[0] != a->shape[1] || a->shape[0] == 0)
        return cli_usage_error(cmd, "--matrix %s: expected a square d x d array (d >= 1), got %zu dimension%s%s", path,
                               a->ndim, a->ndim == 1 ? "" : "s",
                               a->ndim == 2 ? " of unequal sizes" : "");
    size_t n = a->shape[0];
    double mx = 0.0;
    for (size_t t = 0; t < n * n; t++) {
        if (!isfinite(a->data[t])) {
            fprintf(stderr, "linstab %s: error: --matrix %s: entry (%zu, %zu) is not finite\n", cmd, path, t / n,
                    t % n);
            return 1;
        }
        mx = fmax(mx, fabs(a->data[t]));
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) {
            double d = fabs(a->data[i * n + j] - a->data[j * n + i]);
            if (d > sym_tol * mx) {
                fprintf(stderr,
                        "linstab %s: error: --matrix %s: not symmetric: |A[%zu][%zu] - A[%zu][%zu]| = %.3g > %g "
                        "(--sym-tol) x %.3g (max |A|)\n",
                        cmd, path, i, j, j, i, d, sym_tol, mx);
                return 1;
            }
            a->data[i * n + j] = a->data[j * n + i] = 0.5 * (a->data[i * n + j] + a->data[j * n + i]);
        }
    return 0;
}

/* the extension of a figure: device, or NULL */
static const char *plot_device(const char *path)
{
    size_t len = strlen(path);
    if (len > 4 && strcmp(path + len - 4, ".png") == 0) return "pngcairo";
    if (len > 4 && strcmp(path + len - 4, ".svg") == 0) return "svgcairo";
    return NULL;
}

static int write_density_csv(const char *cmd, const char *path, size_t G, const double *x, const double *phi)
{
    cli_output o;
    if (cli_output_open(cmd, path, &o) != 0) return 1;
    fprintf(o.fp, "lambda,density\n");
    for (size_t g = 0; g < G; g++) fprintf(o.fp, "%.17g,%.17g\n", x[g], phi[g]);
    return cli_output_close(cmd, &o, 1);
}

static void json_array(linstab_json *j, const char *key, size_t n, const double *v)
{
    linstab_json_begin_array(j, key);
    for (size_t i = 0; i < n; i++) linstab_json_number(j, NULL, v[i]);
    linstab_json_end_array(j);
}

typedef struct results {
    const char *kind, *source, *loss;
    size_t dim, n;
    int has_topk, which_lm, topk_dense;
    size_t k, topk_applies;
    double *vals, tol;
    const char *eigvecs;
    int trace_method; /* 0 none, 1 exact, 2 hutchinson */
    double trace, trace_se;
    size_t probes, trace_applies;
    const char *density;
    size_t steps_req, dprobes, grid, density_applies;
    double sigma, *nodes, *weights;
    size_t *steps;
    unsigned long long seed;
} results;

static void write_json(FILE *fp, const results *r)
{
    linstab_json j;
    linstab_json_init(&j, fp);
    linstab_json_begin(&j, NULL);
    linstab_json_begin(&j, "operator");
    linstab_json_string(&j, "kind", r->kind);
    linstab_json_string(&j, "source", r->source);
    if (r->loss) linstab_json_string(&j, "loss", r->loss);
    else linstab_json_null(&j, "loss");
    linstab_json_int(&j, "dim", (long long)r->dim);
    if (r->n) linstab_json_int(&j, "n", (long long)r->n);
    else linstab_json_null(&j, "n");
    linstab_json_end(&j);
    linstab_json_int(&j, "seed", (long long)r->seed);
    if (r->has_topk) {
        linstab_json_begin(&j, "top_k");
        linstab_json_int(&j, "k", (long long)r->k);
        linstab_json_string(&j, "which", r->which_lm ? "lm" : "la");
        linstab_json_string(&j, "solver", r->topk_dense ? "dense" : "arpack");
        if (r->topk_dense) linstab_json_null(&j, "tol");
        else linstab_json_number(&j, "tol", r->tol);
        json_array(&j, "eigenvalues", r->k, r->vals);
        if (r->eigvecs) linstab_json_string(&j, "eigvecs", r->eigvecs);
        else linstab_json_null(&j, "eigvecs");
        linstab_json_int(&j, "products", (long long)r->topk_applies);
        linstab_json_end(&j);
    } else {
        linstab_json_null(&j, "top_k");
    }
    if (r->trace_method) {
        linstab_json_begin(&j, "trace");
        linstab_json_string(&j, "method", r->trace_method == 1 ? "exact" : "hutchinson");
        linstab_json_number(&j, "value", r->trace);
        linstab_json_number(&j, "standard_error", r->trace_method == 1 ? NAN : r->trace_se);
        if (r->trace_method == 2) linstab_json_int(&j, "probes", (long long)r->probes);
        else linstab_json_null(&j, "probes");
        linstab_json_int(&j, "products", (long long)r->trace_applies);
        linstab_json_end(&j);
    } else {
        linstab_json_null(&j, "trace");
    }
    if (r->density) {
        linstab_json_begin(&j, "density");
        linstab_json_string(&j, "file", r->density);
        linstab_json_int(&j, "lanczos_steps", (long long)r->steps_req);
        linstab_json_int(&j, "probes", (long long)r->dprobes);
        linstab_json_number(&j, "sigma", r->sigma);
        linstab_json_int(&j, "grid", (long long)r->grid);
        linstab_json_int(&j, "products", (long long)r->density_applies);
        linstab_json_begin_array(&j, "probes_detail");
        for (size_t p = 0; p < r->dprobes; p++) {
            linstab_json_begin(&j, NULL);
            linstab_json_int(&j, "steps", (long long)r->steps[p]);
            json_array(&j, "nodes", r->steps[p], r->nodes + p * r->steps_req);
            json_array(&j, "weights", r->steps[p], r->weights + p * r->steps_req);
            linstab_json_end(&j);
        }
        linstab_json_end_array(&j);
        linstab_json_end(&j);
    } else {
        linstab_json_null(&j, "density");
    }
    linstab_json_end(&j);
}

int cmd_spectrum(int argc, char **argv)
{
    const char *cmd = "spectrum";
    const char *matrix = NULL, *eigvecs = NULL, *save_probes = NULL, *density = NULL, *plot = NULL, *json = NULL;
    size_t k = 0, probes = 100, steps = 80, dprobes = 1, grid = 1000;
    int which_lm = 0, trace_method = 0;
    double tol = 1e-10, sigma = 0.0;
    cli_common_opts co = cli_common_defaults();
    cli_parser ps = cli_options_start(&spectrum_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_MATRIX: matrix = optarg; break;
        case OPT_TOPK: ps.status = cli_parse_count(cmd, "--top-k", optarg, 1, SIZE_MAX, &k); break;
        case OPT_WHICH:
            if (strcmp(optarg, "la") == 0) which_lm = 0;
            else if (strcmp(optarg, "lm") == 0) which_lm = 1;
            else ps.status = cli_usage_error(cmd, "--which '%s': expected la or lm", optarg);
            break;
        case OPT_EIGVECS: eigvecs = optarg; break;
        case OPT_TOL: ps.status = cli_parse_number(cmd, "--tol", optarg, 0.0, 1.0, CLI_LO_OPEN | CLI_HI_OPEN, &tol); break;
        case OPT_TRACE:
            if (strcmp(optarg, "exact") == 0) trace_method = 1;
            else if (strcmp(optarg, "hutchinson") == 0) trace_method = 2;
            else ps.status = cli_usage_error(cmd, "--trace '%s': expected exact or hutchinson", optarg);
            break;
        case OPT_PROBES: ps.status = cli_parse_count(cmd, "--probes", optarg, 1, 100000000, &probes); break;
        case OPT_SAVE_PROBES: save_probes = optarg; break;
        case OPT_DENSITY: density = optarg; break;
        case OPT_STEPS: ps.status = cli_parse_count(cmd, "--lanczos-steps", optarg, 1, 100000, &steps); break;
        case OPT_DPROBES: ps.status = cli_parse_count(cmd, "--density-probes", optarg, 1, 100000, &dprobes); break;
        case OPT_SIGMA:
            ps.status = cli_parse_number(cmd, "--sigma", optarg, 0.0, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &sigma);
            break;
        case OPT_GRID: ps.status = cli_parse_count(cmd, "--grid", optarg, 2, 10000000, &grid); break;
        case OPT_PLOT: plot = optarg; break;
        case OPT_JSON_FILE: json = optarg; break;
        }
    }
    /* the combinations */
    const char *model = co.src.model;
    if ((model == NULL) == (matrix == NULL))
        return cli_usage_error(cmd, "give one of --model (with --data, --targets, --loss) and --matrix");
    if (matrix && (co.src.data || co.src.targets || cli_given(&co, CLI_OPT_LOSS) || cli_given(&co, CLI_OPT_HESSIAN) ||
                   cli_given(&co, CLI_OPT_LABEL_SMOOTHING)))
        return cli_usage_error(cmd, "--data, --targets, --loss, --hessian and --label-smoothing go with --model, not --matrix");
    if (model && !cli_given(&co, CLI_OPT_LOSS)) return cli_usage_error(cmd, "--model needs --loss mse|ce");
    if (!cli_options_own_given(&ps, "top-k") && (eigvecs || cli_options_own_given(&ps, "which")))
        return cli_usage_error(cmd, "--eigvecs and --which go with --top-k");
    if (trace_method != 2 && (cli_options_own_given(&ps, "probes") || save_probes))
        return cli_usage_error(cmd, "--probes and --save-probes go with --trace hutchinson");
    if (!density && (plot || cli_options_own_given(&ps, "lanczos-steps") || cli_options_own_given(&ps, "density-probes") ||
                     cli_options_own_given(&ps, "sigma") || cli_options_own_given(&ps, "grid")))
        return cli_usage_error(cmd, "--lanczos-steps, --density-probes, --sigma, --grid and --plot go with --density");
    if (plot && plot_device(plot) == NULL)
        return cli_usage_error(cmd, "--plot %s: expected a file name ending in .png or .svg", plot);
    if (k == 0 && trace_method == 0 && density == NULL) k = 1;
    int to_stdout = json && strcmp(json, "-") == 0;
    const char *outs[][2] = {{"--eigvecs", eigvecs}, {"--save-probes", save_probes}, {"--density", density},
                             {"--plot", plot},       {"--json", to_stdout ? NULL : json}};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
        if (outs[i][1] && cli_probe_writable(cmd, outs[i][0], outs[i][1]) != 0) return 2;

    int rc = 0, blas_prev = 0;
    linstab_error err = {0};
    linstab_mlp *m = NULL;
    linstab_array X = {0}, Y = {0}, A = {0};
    linstab_operator base = {0};
    mat_ctx mc = {0};
    results r;
    memset(&r, 0, sizeof r);
    double *V = NULL, *Z = NULL, *x = NULL, *phi = NULL;
    r.seed = co.seed;
    linstab_loss loss = co.src.loss_ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
    int gn = co.src.exact < 0;
    if (model) {
        rc = cli_model_load(cmd, &co.src, &m, &X, &Y);
        if (rc != 0) goto done;
        if (linstab_mlp_hessian_operator(m, &X, &Y, loss, co.src.smoothing, gn, &base, &err) != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
        r.kind = gn ? "gauss_newton" : "hessian";
        r.source = model;
        r.loss = loss == LINSTAB_LOSS_CE ? "ce" : "mse";
        r.n = X.shape[0];
    } else {
        rc = load_matrix(cmd, matrix, co.src.sym_tol, &A);
        if (rc != 0) goto done;
        mc.n = A.shape[0];
        mc.A = A.data;
        linstab_operator op = {mc.n, mat_apply, mat_apply, mat_form, 1, &mc};
        base = op;
        r.kind = "matrix";
        r.source = matrix;
    }
    size_t p = base.dim;
    r.dim = p;
    if (k > p) {
        rc = cli_usage_error(cmd, "--top-k %zu: larger than the dimension %zu of the %s", k, p,
                             model ? "parameter vector" : "matrix");
        goto done;
    }
    /* a network's products run on OpenMP threads with one BLAS thread each; the
     * solvers' own BLAS calls on one thread too: the same bytes for any thread count */
    if (model) blas_prev = linstab_map_blas_serial();
    counted cnt = {&base, 0, co.quiet, {0}, 0, NULL, {0, 0}, {0, 0}};
    linstab_operator op = {p, counted_apply, counted_apply, base.form_dense ? counted_form : NULL, 1, &cnt};
    cnt.profile = getenv("LINSTAB_PROFILE") != NULL;

    if (k > 0) {
        linstab_eigen_opts eo = linstab_eigen_defaults();
        eo.path = co.eigen;
        eo.tol = tol;
        r.vals = malloc(k * sizeof *r.vals);
        V = eigvecs ? malloc(k * p * sizeof *V) : NULL;
        if (!r.vals || (eigvecs && !V)) {
            rc = cli_fail(cmd, (linstab_error[]){{LINSTAB_ENOMEM, "eigenvectors: out of memory", ""}});
            goto done;
        }
        r.topk_dense = linstab_eigen_is_dense(&eo, p) || k + 1 >= p;
        stage_start(&cnt, "top-k", r.topk_dense ? p : 0);
        if (linstab_eigen_topk(&op, &eo, k, which_lm, r.vals, V, &err) != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
        stage_end(&cnt);
        r.has_topk = 1;
        r.k = k;
        r.which_lm = which_lm;
        r.tol = tol;
        r.topk_applies = cnt.applies;
        r.eigvecs = eigvecs;
    }
    if (trace_method) {
        r.trace_method = trace_method;
        linstab_status st;
        if (trace_method == 1 && model) { /* closed form: no products */
            stage_start(&cnt, "trace", 0);
            st = linstab_mlp_hessian_trace(m, &X, &Y, loss, co.src.smoothing, gn, &r.trace, &err);
        } else if (trace_method == 1) {
            stage_start(&cnt, "trace", base.form_dense ? 0 : p);
            st = linstab_spectrum_trace_exact(&op, &r.trace, &err);
        } else {
            stage_start(&cnt, "trace", probes);
            r.probes = probes;
            st = model ? model_hutchinson(&base, &cnt, probes, co.seed, &r.trace, &r.trace_se, &err)
                       : linstab_spectrum_hutchinson(&op, probes, co.seed, &r.trace, &r.trace_se, NULL, &err);
        }
        if (st != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
        stage_end(&cnt);
        r.trace_applies = cnt.applies;
        if (save_probes) {
            Z = malloc(probes * p * sizeof *Z);
            if (Z == NULL) {
                rc = cli_fail(cmd, (linstab_error[]){{LINSTAB_ENOMEM, "--save-probes: out of memory", ""}});
                goto done;
            }
            for (size_t j = 0; j < probes; j++) linstab_spectrum_probe(co.seed, j, p, Z + j * p, &err);
        }
    }
    if (density) {
        size_t msteps = steps < p ? steps : p;
        r.density = density;
        r.steps_req = msteps;
        r.dprobes = dprobes;
        r.grid = grid;
        r.nodes = malloc(dprobes * msteps * sizeof *r.nodes);
        r.weights = malloc(dprobes * msteps * sizeof *r.weights);
        r.steps = malloc(dprobes * sizeof *r.steps);
        x = malloc(grid * sizeof *x);
        phi = malloc(grid * sizeof *phi);
        if (!r.nodes || !r.weights || !r.steps || !x || !phi) {
            rc = cli_fail(cmd, (linstab_error[]){{LINSTAB_ENOMEM, "density: out of memory", ""}});
            goto done;
        }
        stage_start(&cnt, "density", dprobes * msteps);
        linstab_status st = linstab_spectrum_slq(&op, dprobes, msteps, co.seed, r.nodes, r.weights, r.steps, &err);
        if (st == LINSTAB_OK)
            st = linstab_spectrum_density(dprobes, msteps, r.nodes, r.weights, sigma, grid, x, phi, &r.sigma, &err);
        if (st != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
        stage_end(&cnt); /* invariant subspaces may have ended probes early */
        r.density_applies = cnt.applies;
    }

    /* the outputs, each whole or not at all */
    if (eigvecs) {
        size_t shape[2] = {k, p};
        if (linstab_npy_write(eigvecs, V, 2, shape, &err) != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
    }
    if (save_probes) {
        size_t shape[2] = {probes, p};
        if (linstab_npy_write(save_probes, Z, 2, shape, &err) != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
    }
    if (density && (rc = write_density_csv(cmd, density, grid, x, phi)) != 0) goto done;
    if (plot) {
        /* at most 250 points (the curve has markers), densities below 1e-8
         * of the peak left out (a log axis down to the underflow shows nothing) */
        size_t every = (grid + 249) / 250, np = 0;
        double peak = 0.0;
        for (size_t g = 0; g < grid; g++) peak = fmax(peak, phi[g]);
        for (size_t g = 0; g < grid; g += every, np++) {
            x[np] = x[g];
            phi[np] = phi[g] >= 1e-8 * peak ? phi[g] : NAN;
        }
        const double *ys[1] = {phi};
        const char *names[1] = {"SLQ density"};
        char title[160];
        snprintf(title, sizeof title, "spectral density (%zu probe%s x %zu Lanczos steps, #gs = %.3g)", dprobes,
                 dprobes == 1 ? "" : "s", r.steps_req, r.sigma);
        if (linstab_plot_lines(np, x, 1, ys, names, "eigenvalue", "density", title, 1, plot_device(plot), plot,
                               &err) != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
    }
    if (json) {
        cli_output o;
        if (cli_output_open(cmd, to_stdout ? NULL : json, &o) != 0) {
            rc = 1;
            goto done;
        }
        write_json(o.fp, &r);
        rc = cli_output_close(cmd, &o, 1);
        if (rc != 0) goto done;
    }
    if (!to_stdout) {
        if (model)
            printf("%s of the mean %s loss of %s at %zu samples: p = %zu parameters\n",
                   gn ? "Gauss-Newton matrix" : "Hessian (exact)", r.loss, model, r.n, p);
        else
            printf("matrix %s: %zu x %zu\n", matrix, p, p);
        if (r.has_topk) {
            printf("top-%zu eigenvalues (%s, %s%s):", k, which_lm ? "largest magnitude" : "largest",
                   r.topk_dense ? "dense LAPACK" : "ARPACK", r.topk_dense ? "" : ", matrix-free");
            for (size_t j = 0; j < k; j++) printf(" %.10g", r.vals[j]);
            printf("\n");
            if (eigvecs) printf("eigenvectors: %s (%zu x %zu, parameter order)\n", eigvecs, k, p);
        }
        if (trace_method == 1) printf("trace (exact): %.10g\n", r.trace);
        if (trace_method == 2)
            printf("trace (Hutchinson, %zu probes): %.10g +- %.3g (standard error)\n", probes, r.trace, r.trace_se);
        if (save_probes) printf("probes: %s (%zu x %zu)\n", save_probes, probes, p);
        if (density)
            printf("density (SLQ, %zu probe%s x %zu Lanczos steps, sigma %.4g): %s (%zu points)%s%s\n", dprobes,
                   dprobes == 1 ? "" : "s", r.steps_req, r.sigma, density, grid, plot ? ", plot " : "",
                   plot ? plot : "");
        if (cli_stdout_check(cmd)) rc = 1;
    }
done:
    if (blas_prev != 0) linstab_map_blas_restore(blas_prev);
    linstab_mlp_hessian_operator_free(model ? &base : NULL);
    linstab_mlp_free(m);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_npy_array_free(&A);
    free(r.vals);
    free(r.nodes);
    free(r.weights);
    free(r.steps);
    free(V);
    free(Z);
    free(x);
    free(phi);
    return rc;
}
