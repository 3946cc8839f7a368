/* cmd_dynamics.c -- `linstab dynamics`: run an optimizer on an objective
 * from a chosen start, with the theory's predictions beside the measured
 * cycle, escape and Proposition 8 deviation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_options.h"
#include "dynamics_plot.h"
#include "linstab/json.h"
#include "linstab/objective.h"
#include "linstab/sym.h"
#include "cli_model.h"
#include "linstab/trajectory.h"

static const char *const usage =
    "usage: linstab dynamics (--objective quadratic (--spectrum L1,L2,... | --matrix L.npy)\n"
    "                         | --objective bartlett | --objective tanh2\n"
    "                         | --model DIR --data X.npy --targets Y.npy\n"
    "                         | --family F | --factors U | --diag D)\n"
    "                        --optimizer OPT [--switch STEP:OPT] --eta E [--rho R] [--batch B]\n"
    "                        [--sampling S] [--noise S] [--start W1,W2,...] --steps N [--seed S]\n"
    "                        [--log FILE.csv] [--plot FIG] [--plot-box X0,X1,Y0,Y1]\n"
    "                        [--plot-loss FIG] [--json] [--out FILE]\n"
    "\n"
    "Run GD, SGD or SAM from a chosen start on an objective and report what the\n"
    "theory predicts beside what the run does (docs/math.md §6).\n"
    "objectives:\n"
    "  --objective quadratic --spectrum L1,L2,...   w'diag(L)w/2 (L > 0, or any finite\n"
    "                         values with --allow-indefinite); or --matrix L.npy:\n"
    "                         w'Lw/2 with a symmetric (positive definite) d x d L\n"
    "  --objective bartlett   w1^2/(1 + w2^2/2) + w2^2/2 (Bartlett et al. 2023)\n"
    "  --objective tanh2      tanh^2(v tanh u)/2 at w = (u, v) (Zhou et al. 2025,\n"
    "                         Example 4.1)\n"
    "  --model DIR --data X.npy --targets Y.npy   an MLP checkpoint's loss on its\n"
    "                         data (w = the parameters; the start defaults to the\n"
    "                         checkpoint); --loss mse|ce, --label-smoothing A\n"
    "  --save DIR             with --model: write the last iterate as a checkpoint\n"
    "@family: the linearized dynamics, per-sample losses w'H_i w/2\n"
    "@factors\n"
    "@diag\n"
    "@allow-indefinite\n"
    "@sym-tol\n"
    "@max-memory\n"
    "optimizer:\n"
    "  --optimizer OPT        gd, sgd, sam-same, sam-independent or sam-normalized\n"
    "  --switch STEP:OPT      from step STEP on, run OPT instead (either direction)\n"
    "@eta (required)\n"
    "@rho (default 0)\n"
    "@batch (default 1; objectives of one sample ignore it)\n"
    "@sampling\n"
    "  --noise S              add eta N(0, S^2 I) to every step (default 0)\n"
    "  --start W1,W2,...      the start, one value per coordinate (required, except\n"
    "                         with --model)\n"
    "  --steps N              number of steps (required)\n"
    "@seed\n"
    "output:\n"
    "  --log FILE.csv|.npy    per step: step, loss, grad_norm, [sharpness], w1..wd\n"
    "                         (d <= 16); a name ending in .npy gives an array\n"
    "  --log-every K          the full loss (and a log row) every K steps, at the\n"
    "                         switch and at the end only (default 1)\n"
    "  --sharpness-every K    also lambda_max of the Hessian every K steps (dense for\n"
    "                         d <= 64, else Lanczos on Hessian-vector products)\n"
    DYN_FIGURES_USAGE
    "@json (keys: final, loss_final, sharpness_final, diverged_at, cycle, escape,\n"
    "                        drift, prop8)\n"
    "@out=FILE write the summary to FILE (atomically) instead of stdout\n"
    "@quiet\n"
    "  -h, --help             this help\n"
    "\n"
    "cycle: period and amplitude (mean distance of its points from their centroid)\n"
    "beside Theorem 2's eta rho l1/(2 - eta l1) (Bartlett et al. 2023; normalized\n"
    "SAM on a quadratic).  prop8: the largest deviation of (-1)^t w_t from gradient\n"
    "descent on J (their Proposition 8).  drift: the oscillation centre's motion\n"
    "per step along the valley beside Theorem 21's (0 on a quadratic).  escape\n"
    "(--switch): the loss's growth factor per step fitted after the switch, the\n"
    "exact mean-square radius of the linearized step there (Zhou et al. 2025,\n"
    "Corollary 4.2) and the almost-sure rate of a single run (docs/math.md §6).\n"
    "Exit status: 0 (also when the run diverges: it stops there, keeps its log\n"
    "and says at which step), 1 error, 2 usage error.\n";

enum { OPT_OBJECTIVE = 256, OPT_SPECTRUM, OPT_MATRIX, OPT_OPTIMIZER, OPT_SWITCH, OPT_NOISE, OPT_START, OPT_STEPS, OPT_LOG, OPT_SAVE,
       OPT_LOG_EVERY, OPT_SHARPNESS_EVERY,
       OPT_PLOT, OPT_PLOT_LOSS, OPT_PLOT_BOX };

static const struct option own_opts[] = {
    {"objective", required_argument, NULL, OPT_OBJECTIVE}, {"spectrum", required_argument, NULL, OPT_SPECTRUM},
    {"matrix", required_argument, NULL, OPT_MATRIX},
    {"optimizer", required_argument, NULL, OPT_OPTIMIZER}, {"switch", required_argument, NULL, OPT_SWITCH},
    {"noise", required_argument, NULL, OPT_NOISE},         {"start", required_argument, NULL, OPT_START},
    {"save", required_argument, NULL, OPT_SAVE},
    {"log-every", required_argument, NULL, OPT_LOG_EVERY},
    {"sharpness-every", required_argument, NULL, OPT_SHARPNESS_EVERY},
    {"steps", required_argument, NULL, OPT_STEPS},         {"log", required_argument, NULL, OPT_LOG},
    {"plot", required_argument, NULL, OPT_PLOT},           {"plot-loss", required_argument, NULL, OPT_PLOT_LOSS},
    {"plot-box", required_argument, NULL, OPT_PLOT_BOX},
    {NULL, 0, NULL, 0}};
static const char *const required[] = {"optimizer", "eta", "steps", NULL};
static const cli_command dynamics_cmd = {
    "dynamics",
    (CLI_OPTS_FAMILY_FILE & ~CLI_OPT_BIT(CLI_OPT_RANK_TOL)) | CLI_OPT_BIT(CLI_OPT_MODEL) | CLI_OPT_BIT(CLI_OPT_DATA) | CLI_OPT_BIT(CLI_OPT_TARGETS) |
        CLI_OPT_BIT(CLI_OPT_LOSS) | CLI_OPT_BIT(CLI_OPT_LABEL_SMOOTHING) | CLI_OPT_BIT(CLI_OPT_ETA) | CLI_OPT_BIT(CLI_OPT_BATCH) | CLI_OPT_BIT(CLI_OPT_RHO) |
        CLI_OPT_BIT(CLI_OPT_SAMPLING) | CLI_OPT_BIT(CLI_OPT_SEED) | CLI_OPT_BIT(CLI_OPT_JSON) |
        CLI_OPT_BIT(CLI_OPT_OUT) | CLI_OPT_BIT(CLI_OPT_QUIET),
    own_opts, required, usage, 24};

/* A comma-separated list of finite decimal numbers (at most 1 << 20). */
static int parse_list(const char *cmd, const char *opt, const char *s, double **vals, size_t *count)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    if (cap > ((size_t)1 << 20)) return cli_usage_error(cmd, "%s: more than 2^20 values", opt);
    double *v = malloc(cap * sizeof *v);
    char *copy = strdup(s);
    if (v == NULL || copy == NULL) {
        free(v);
        free(copy);
        fprintf(stderr, "linstab %s: error: %s: out of memory\n", cmd, opt);
        return 1;
    }
    size_t n = 0;
    int rc = 0;
    /* strtok would skip empty fields: walk them by hand */
    char *p = copy;
    for (;;) {
        char *c = strchr(p, ',');
        if (c != NULL) *c = '\0';
        rc = cli_parse_number(cmd, opt, p, -INFINITY, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &v[n]);
        if (rc != 0) break;
        n++;
        if (c == NULL) break;
        p = c + 1;
    }
    free(copy);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *vals = v;
    *count = n;
    return 0;
}

static void json_vector(linstab_json *j, const char *key, const double *x, size_t d)
{
    linstab_json_begin_array(j, key);
    for (size_t k = 0; k < d; k++) linstab_json_number(j, NULL, x[k]);
    linstab_json_end_array(j);
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a > b && strcmp(s + a - b, tail) == 0;
}

/* The steps the log holds: every one, or with --log-every K those whose
 * loss was evaluated (t = 0 mod K, the switch step, the sharpness's steps,
 * the last). */
static int logged_row(const linstab_trajectory *t, const linstab_trajectory_opts *p, size_t k)
{
    size_t K = p->log_every > 1 ? p->log_every : 1;
    return k % K == 0 || k == t->steps || (p->switch_step > 0 && k == p->switch_step) ||
           (p->sharpness_every > 0 && k % p->sharpness_every == 0);
}

/* The values of row k: step, loss, grad_norm, [sharpness], w1..wd (the
 * iterate when it is recorded); returns the number of columns. */
static size_t log_row(const linstab_trajectory *t, size_t k, double *r)
{
    size_t c = 0, d = t->iterates != NULL ? t->d : 0;
    r[c++] = (double)k;
    r[c++] = t->loss[k];
    r[c++] = t->grad_norm[k];
    if (t->sharpness != NULL) r[c++] = t->sharpness[k];
    for (size_t j = 0; j < d; j++) r[c++] = t->iterates[k * t->d + j];
    return c;
}

/* The log as an NPY matrix, one row per logged step. */
static int write_log_npy(const char *cmd, const char *path, const linstab_trajectory *t,
                         const linstab_trajectory_opts *p)
{
    size_t cols = 3 + (t->sharpness != NULL) + (t->iterates != NULL ? t->d : 0), rows = 0;
    for (size_t k = 0; k <= t->steps; k++) rows += logged_row(t, p, k);
    double *a = malloc(rows * cols * sizeof *a);
    linstab_error err = {0};
    if (a == NULL) {
        linstab_error_set(&err, LINSTAB_ENOMEM, "%s: the log of %zu steps: out of memory", path, t->steps);
        return cli_fail(cmd, &err);
    }
    for (size_t k = 0, r = 0; k <= t->steps; k++)
        if (logged_row(t, p, k)) log_row(t, k, a + cols * r++);
    const size_t shape[2] = {rows, cols};
    linstab_status st = linstab_npy_write(path, a, 2, shape, &err);
    free(a);
    return st == LINSTAB_OK ? 0 : cli_fail(cmd, &err);
}

static int write_log(const char *cmd, const char *path, const linstab_trajectory *t,
                     const linstab_trajectory_opts *p)
{
    if (ends_with(path, ".npy")) return write_log_npy(cmd, path, t, p);
    size_t cols = 3 + (t->sharpness != NULL) + (t->iterates != NULL ? t->d : 0);
    double *r = malloc(cols * sizeof *r);
    if (r == NULL) {
        linstab_error err = {0};
        linstab_error_set(&err, LINSTAB_ENOMEM, "%s: out of memory", path);
        return cli_fail(cmd, &err);
    }
    cli_output o;
    int rc = cli_output_open(cmd, path, &o);
    if (rc != 0) {
        free(r);
        return rc;
    }
    fputs("step,loss,grad_norm", o.fp);
    if (t->sharpness != NULL) fputs(",sharpness", o.fp);
    size_t d = t->iterates != NULL ? t->d : 0;
    for (size_t j = 0; j < d; j++) fprintf(o.fp, ",w%zu", j + 1);
    fputc('\n', o.fp);
    for (size_t k = 0; k <= t->steps; k++) {
        if (!logged_row(t, p, k)) continue;
        log_row(t, k, r);
        fprintf(o.fp, "%zu", k);
        for (size_t c = 1; c < cols; c++) fprintf(o.fp, ",%.17g", r[c]);
        fputc('\n', o.fp);
    }
    free(r);
    return cli_output_close(cmd, &o, 1);
}

/* --matrix L.npy: a symmetric d x d L, positive definite unless indefinite
 * ones are allowed; OUT *o.  0 or an exit status after the message. */
static int load_matrix(const char *cmd, const char *path, int allow_indefinite, linstab_objective **o)
{
    linstab_error err = {0};
    linstab_array a = {0};
    if (linstab_npy_read(path, 0, &a, &err) != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(&err));
        return 1;
    }
    int rc = 0;
    size_t d = a.ndim == 2 ? a.shape[0] : 0;
    double *ev = NULL;
    if (a.ndim != 2 || a.shape[0] != a.shape[1] || d == 0) {
        rc = cli_usage_error(cmd, "--matrix %s: expected a square d x d array", path);
    } else if (linstab_objective_quadratic_matrix(a.data, d, o, &err) != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: --matrix %s: %s\n", cmd, path, cli_msg(&err));
        rc = err.code == LINSTAB_EINVAL ? 2 : 1;
    } else if (!allow_indefinite) {
        ev = malloc(d * sizeof *ev);
        if (ev == NULL || linstab_sym_eig(d, a.data, ev, NULL, &err) != LINSTAB_OK) {
            fprintf(stderr, "linstab %s: error: --matrix %s: eigenvalues: %s\n", cmd, path,
                    ev == NULL ? "out of memory" : cli_msg(&err));
            rc = 1;
        } else if (!(ev[0] > 0.0)) {
            rc = cli_usage_error(cmd,
                                 "--matrix %s: its smallest eigenvalue is %g: a minimum needs a positive definite "
                                 "L (--allow-indefinite accepts others: a valley, a saddle)",
                                 path, ev[0]);
        }
    }
    if (rc != 0) {
        linstab_objective_free(*o);
        *o = NULL;
    }
    free(ev);
    linstab_npy_array_free(&a);
    return rc;
}

int cmd_dynamics(int argc, char **argv)
{
    const char *cmd = "dynamics";
    linstab_error err = {0};
    linstab_trajectory_opts p = linstab_trajectory_defaults();
    const char *objective = NULL, *log_path = NULL, *save_dir = NULL, *matrix_path = NULL;
    double *spectrum = NULL, *start = NULL;
    size_t nspec = 0, nstart = 0;
    cli_common_opts co = cli_common_defaults();
    co.batch = 1;
    dyn_figures figs = {0};
    cli_parser ps = cli_options_start(&dynamics_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) {
            free(spectrum);
            free(start);
            return ps.status;
        }
        switch (c) {
        case OPT_OBJECTIVE: objective = optarg; break;
        case OPT_MATRIX: matrix_path = optarg; break;
        case OPT_SPECTRUM:
            free(spectrum);
            spectrum = NULL;
            ps.status = parse_list(cmd, "--spectrum", optarg, &spectrum, &nspec);
            break;
        case OPT_START:
            free(start);
            start = NULL;
            ps.status = parse_list(cmd, "--start", optarg, &start, &nstart);
            break;
        case OPT_OPTIMIZER:
            if (linstab_optimizer_parse(optarg, &p.opt, &err) != LINSTAB_OK)
                ps.status = cli_usage_error(cmd, "%s", cli_msg(&err));
            break;
        case OPT_SWITCH: {
            if (p.switch_step > 0) {
                ps.status = cli_usage_error(cmd, "--switch is given twice: one switch per run");
                break;
            }
            const char *colon = strchr(optarg, ':');
            char num[32];
            size_t len = colon != NULL ? (size_t)(colon - optarg) : 0;
            if (colon == NULL || len == 0 || len >= sizeof num) {
                ps.status = cli_usage_error(cmd, "--switch '%s': expected STEP:OPTIMIZER", optarg);
                break;
            }
            memcpy(num, optarg, len);
            num[len] = '\0';
            ps.status = cli_parse_count(cmd, "--switch", num, 1, SIZE_MAX, &p.switch_step);
            if (ps.status == 0 && linstab_optimizer_parse(colon + 1, &p.switch_opt, &err) != LINSTAB_OK)
                ps.status = cli_usage_error(cmd, "--switch: %s", err.msg);
            break;
        }
        case OPT_NOISE:
            ps.status = cli_parse_number(cmd, "--noise", optarg, 0, INFINITY, CLI_HI_OPEN, &p.noise);
            break;
        case OPT_STEPS: ps.status = cli_parse_count(cmd, "--steps", optarg, 1, (size_t)1 << 40, &p.steps); break;
        case OPT_LOG: log_path = optarg; break;
        case OPT_SAVE: save_dir = optarg; break;
        case OPT_LOG_EVERY:
            ps.status = cli_parse_count(cmd, "--log-every", optarg, 1, SIZE_MAX, &p.log_every);
            break;
        case OPT_SHARPNESS_EVERY:
            ps.status = cli_parse_count(cmd, "--sharpness-every", optarg, 1, SIZE_MAX, &p.sharpness_every);
            break;
        case OPT_PLOT: ps.status = dyn_figures_option(cmd, 'h', optarg, &figs); break;
        case OPT_PLOT_LOSS: ps.status = dyn_figures_option(cmd, 'l', optarg, &figs); break;
        case OPT_PLOT_BOX: ps.status = dyn_figures_option(cmd, 'b', optarg, &figs); break;
        }
    }
    int rc = 0;
    linstab_objective *o = NULL;
    linstab_family *f = NULL;
    linstab_trajectory t = {0};
    linstab_mlp *model = NULL;
    linstab_array X = {0}, Y = {0};
    cli_family_source src = co.src;
    int from_family = src.family != NULL || src.factors != NULL || src.diag != NULL;
    int from_model = src.model != NULL;
    if ((objective != NULL) + from_family + from_model > 1) {
        rc = cli_usage_error(cmd, "--objective, --model and a family file exclude each other");
        goto done;
    }
    if (objective == NULL && !from_family && !from_model) {
        rc = cli_usage_error(cmd, "an objective is required: --objective, --model or --family/--factors/--diag");
        goto done;
    }
    if (!from_model && (src.data != NULL || src.targets != NULL || save_dir != NULL)) {
        rc = cli_usage_error(cmd, "--data, --targets and --save go with --model");
        goto done;
    }
    if (start == NULL && !from_model) {
        rc = cli_usage_error(cmd, "--start is required (one value per coordinate)");
        goto done;
    }
    if ((spectrum != NULL || matrix_path != NULL) && (objective == NULL || strcmp(objective, "quadratic") != 0)) {
        rc = cli_usage_error(cmd, "--spectrum and --matrix are options of --objective quadratic only");
        goto done;
    }
    linstab_status st = LINSTAB_OK;
    if (from_model) {
        rc = cli_model_load(cmd, &src, &model, &X, &Y);
        if (rc != 0) goto done;
        st = linstab_objective_mlp(model, &X, &Y, src.loss_ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE, src.smoothing, &o,
                                   &err);
        if (st == LINSTAB_OK && start == NULL) {
            nstart = model->p;
            start = malloc(nstart * sizeof *start);
            if (start == NULL) st = linstab_error_set(&err, LINSTAB_ENOMEM, "the start: out of memory");
            else memcpy(start, model->theta, nstart * sizeof *start);
        }
    } else if (from_family) {
        const char *path = NULL;
        int indefinite = 0;
        rc = cli_load_family(cmd, &src, &f, &path, &indefinite);
        if (rc != 0) goto done;
        st = linstab_objective_family(f, &o, &err);
    } else if (strcmp(objective, "quadratic") == 0) {
        if ((spectrum == NULL) == (matrix_path == NULL)) {
            rc = cli_usage_error(cmd, "--objective quadratic needs one of --spectrum L1,L2,... and --matrix L.npy");
            goto done;
        }
        if (matrix_path != NULL) {
            rc = load_matrix(cmd, matrix_path, src.allow_indefinite, &o);
            if (rc != 0) goto done;
        }
        for (size_t j = 0; j < nspec && !src.allow_indefinite; j++)
            if (!(spectrum[j] > 0.0)) {
                rc = cli_usage_error(cmd,
                                     "--spectrum: entry %zu is %g: a minimum needs positive curvatures "
                                     "(--allow-indefinite accepts zero and negative ones: a valley, a saddle)",
                                     j + 1, spectrum[j]);
                goto done;
            }
        if (spectrum != NULL) st = linstab_objective_quadratic(spectrum, nspec, &o, &err);
    } else if (strcmp(objective, "bartlett") == 0) {
        st = linstab_objective_bartlett(&o, &err);
    } else if (strcmp(objective, "tanh2") == 0) {
        st = linstab_objective_tanh2(&o, &err);
    } else {
        rc = cli_usage_error(cmd, "--objective '%s': expected quadratic, bartlett or tanh2", objective);
        goto done;
    }
    if (st != LINSTAB_OK) {
        rc = err.code == LINSTAB_EINVAL ? cli_usage_error(cmd, "%s", cli_msg(&err)) : cli_fail(cmd, &err);
        goto done;
    }
    size_t d = linstab_objective_dim(o);
    if (nstart != d) {
        rc = cli_usage_error(cmd, "--start has %zu values; the objective has dimension %zu", nstart, d);
        goto done;
    }
    if ((rc = dyn_figures_check(cmd, &figs, d)) != 0) goto done;
    /* the outputs written after the run: refused now, before any work */
    if (log_path != NULL && (rc = cli_probe_writable(cmd, "--log", log_path)) != 0) goto done;
    if (save_dir != NULL && (rc = cli_probe_folder(cmd, "--save", save_dir)) != 0) goto done;
    p.eta = co.eta;
    p.rho = co.rho;
    p.batch = co.batch;
    p.sampling = co.sampling;
    p.seed = co.seed;
    st = linstab_trajectory_run(o, start, &p, &t, &err);
    if (st != LINSTAB_OK) {
        rc = st == LINSTAB_EINVAL ? cli_usage_error(cmd, "%s", cli_msg(&err)) : cli_fail(cmd, &err);
        goto done;
    }
    if (log_path != NULL) {
        rc = write_log(cmd, log_path, &t, &p);
        if (rc != 0) goto done;
    }
    if (save_dir != NULL && t.diverged) {
        fprintf(stderr, "linstab %s: --save %s: not written: the run diverged at step %zu\n", cmd, save_dir, t.steps);
    } else if (save_dir != NULL) {
        memcpy(model->theta, t.final, model->p * sizeof *model->theta);
        if (linstab_mlp_save(model, save_dir, &err) != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
    }

    /* what the theory predicts, where it applies */
    size_t period = 0;
    double amp = NAN, pamp = NAN, dev = NAN, rate = NAN, prate = NAN;
    size_t w = t.steps / 4 < 64 ? t.steps / 4 : 64;
    int have_cycle = !t.diverged && linstab_trajectory_cycle(&t, w, 1e-10, &period, &amp);
    linstab_optimizer last_opt = p.switch_step > 0 ? p.switch_opt : p.opt;
    int have_pamp = have_cycle && last_opt == LINSTAB_OPT_SAM_NORMALIZED && p.noise == 0.0 &&
                    linstab_trajectory_predicted_amplitude(o, p.eta, p.rho, &pamp);
    int prop8 = p.opt == LINSTAB_OPT_SAM_NORMALIZED && p.switch_step == 0 && p.noise == 0.0 &&
                linstab_trajectory_prop8(&t, o, p.eta, p.rho, &dev);
    size_t e0 = 0, e1 = 0;
    int have_rate = p.switch_step > 0 && linstab_trajectory_escape_rate(&t, p.switch_step, &rate, &e0, &e1);
    double lrate = NAN, lse = NAN;
    int got = p.switch_step > 0 && t.at_switch != NULL && p.noise == 0.0
                  ? linstab_trajectory_predicted_escape(o, t.at_switch, p.switch_opt, p.eta, p.rho, p.batch,
                                                        p.sampling, p.seed, &prate, &lrate, &lse)
                  : 0;
    int have_prate = (got & 1) != 0, have_lrate = have_prate && (got & 2) != 0;
    double dm = NAN, dp = NAN;
    size_t dwin = t.steps / 8 < 20 ? t.steps / 8 : 20;
    int have_drift = !t.diverged && last_opt == LINSTAB_OPT_SAM_NORMALIZED && p.noise == 0.0 && dwin >= 2 &&
                     linstab_trajectory_drift(&t, o, p.eta, p.rho, dwin, &dm, &dp);
    double lf = t.loss[t.steps];
    if (figs.heat != NULL || figs.loss != NULL) {
        char title[160], rname[96];
        snprintf(title, sizeof title, "%s, %s%s%s, #gy = %g, #gr = %g",
                 from_family ? "family" : from_model ? "mlp" : objective, linstab_optimizer_name(p.opt),
                 p.switch_step > 0 ? " then " : "", p.switch_step > 0 ? linstab_optimizer_name(p.switch_opt) : "",
                 p.eta, p.rho);
        /* a single run with random batches grows at the almost-sure rate */
        double r = have_lrate && lse > 0.0 ? lrate : have_prate ? prate : rate;
        snprintf(rname, sizeof rname, "%s rate r = %.6g%s", have_prate ? "predicted" : "fitted", r,
                 have_lrate && lse > 0.0 ? " (almost sure)" : "");
        rc = dyn_figures_draw(cmd, &figs, o, &t, title, have_pamp ? pamp : 0.0, have_rate ? r : 0.0, e0, e1, rname);
        if (rc != 0) goto done;
    }

    cli_output out;
    rc = cli_output_open(cmd, co.out, &out);
    if (rc != 0) goto done;
    FILE *fp = out.fp;
    if (co.json) {
        linstab_json j;
        linstab_json_init(&j, fp);
        linstab_json_begin(&j, NULL);
        linstab_json_string(&j, "objective", from_family ? "family" : from_model ? "mlp" : objective);
        linstab_json_string(&j, "optimizer", linstab_optimizer_name(p.opt));
        linstab_json_int(&j, "steps", (long long)t.steps);
        if (t.diverged) linstab_json_int(&j, "diverged_at", (long long)t.steps);
        else linstab_json_null(&j, "diverged_at");
        if (d <= LINSTAB_TRAJECTORY_LOG_DIM) json_vector(&j, "final", t.final, d);
        else linstab_json_null(&j, "final");
        linstab_json_number(&j, "loss_final", lf);
        if (t.sharpness != NULL) linstab_json_number(&j, "sharpness_final", t.sharpness[t.steps]);
        else linstab_json_null(&j, "sharpness_final");
        if (have_cycle) {
            linstab_json_begin(&j, "cycle");
            linstab_json_int(&j, "period", (long long)period);
            linstab_json_number(&j, "amplitude", amp);
            if (have_pamp) linstab_json_number(&j, "predicted_amplitude", pamp);
            else linstab_json_null(&j, "predicted_amplitude");
            linstab_json_end(&j);
        } else {
            linstab_json_null(&j, "cycle");
        }
        if (have_rate || have_prate) {
            linstab_json_begin(&j, "escape");
            if (have_rate) linstab_json_number(&j, "rate", rate);
            else linstab_json_null(&j, "rate");
            if (have_prate) linstab_json_number(&j, "predicted_rate", prate);
            else linstab_json_null(&j, "predicted_rate");
            if (have_lrate) {
                linstab_json_number(&j, "lyapunov_rate", lrate);
                linstab_json_number(&j, "lyapunov_stderr", lse);
            } else {
                linstab_json_null(&j, "lyapunov_rate");
                linstab_json_null(&j, "lyapunov_stderr");
            }
            if (have_rate) {
                linstab_json_begin_array(&j, "window");
                linstab_json_int(&j, NULL, (long long)e0);
                linstab_json_int(&j, NULL, (long long)e1);
                linstab_json_end_array(&j);
            }
            linstab_json_end(&j);
        } else {
            linstab_json_null(&j, "escape");
        }
        if (have_drift) {
            linstab_json_begin(&j, "drift");
            linstab_json_number(&j, "measured", dm);
            linstab_json_number(&j, "predicted", dp);
            linstab_json_int(&j, "window", (long long)dwin);
            linstab_json_end(&j);
        } else {
            linstab_json_null(&j, "drift");
        }
        if (prop8) {
            linstab_json_begin(&j, "prop8");
            linstab_json_number(&j, "max_deviation", dev);
            linstab_json_end(&j);
        } else {
            linstab_json_null(&j, "prop8");
        }
        linstab_json_end(&j);
        fputc('\n', fp);
    } else {
        fprintf(fp, "%s, %s, eta %g, rho %g, %zu steps%s\n", from_family ? "family" : from_model ? "mlp" : objective,
                linstab_optimizer_name(p.opt), p.eta, p.rho, t.steps, t.diverged ? " (diverged)" : "");
        if (t.diverged) fprintf(fp, "diverged at step %zu: the loss left [-1e100, 1e100]\n", t.steps);
        fprintf(fp, "loss_final  %.10g\n", lf);
        if (t.sharpness != NULL) fprintf(fp, "sharpness   %.10g at the last step\n", t.sharpness[t.steps]);
        if (d <= LINSTAB_TRAJECTORY_LOG_DIM) {
            fputs("final      ", fp);
            for (size_t k = 0; k < d; k++) fprintf(fp, " %.10g", t.final[k]);
            fputc('\n', fp);
        }
        if (have_cycle)
            fprintf(fp, "cycle       period %zu, amplitude %.12g%s", period, amp, have_pamp ? "" : "\n");
        else
            fprintf(fp, "cycle       none detected in the last %zu steps\n", w);
        if (have_pamp) fprintf(fp, " (Theorem 2 of Bartlett et al. 2023: %.12g)\n", pamp);
        if (p.switch_step > 0) {
            if (have_rate)
                fprintf(fp, "escape      %.10g per step over steps %zu..%zu", rate, e0, e1);
            else
                fputs("escape      no growth window after the switch", fp);
            if (have_prate) fprintf(fp, " (radius of the linearized step at the switch: %.10g)", prate);
            if (have_lrate && lse > 0.0)
                fprintf(fp, "\n            a single run: %.6g +- %.2g per step (almost-sure rate)", lrate, lse);
            fputc('\n', fp);
        }
        if (prop8) fprintf(fp, "prop8       max deviation %.3g (Bartlett et al. 2023, Proposition 8)\n", dev);
        if (have_drift)
            fprintf(fp, "drift       %.10g per step along the valley over the last %zu steps "
                        "(Theorem 21 of Bartlett et al. 2023: %.10g)\n",
                    dm, dwin, dp);
        else if (last_opt == LINSTAB_OPT_SAM_NORMALIZED)
            fputs("drift       n/a (no zero-gradient valley whose sharpness varies, or the run is too short)\n", fp);
    }
    rc = cli_output_close(cmd, &out, 1);
done:
    linstab_trajectory_clear(&t);
    linstab_objective_free(o);
    linstab_family_free(f);
    linstab_mlp_free(model);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    free(spectrum);
    free(start);
    return rc;
}
