/*
 * cmd_critical.c -- `linstab critical`: the exact mean-square critical
 * learning rate eta* per batch size (SGD, and SAM at a given rho), beside
 * the learning rates at which Dexter et al.'s Theorems 1 and 2 change verdict.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_options.h"
#include "cli_model.h"
#include "linstab/bounds.h"
#include "linstab/critical.h"
#include "linstab/exact.h"
#include "linstab/geometry.h"
#include "linstab/report.h"
#include "linstab_config.h"

static const char *const usage =
    "usage: linstab critical (--family F.npy | --factors U.npy | --diag D.npy)\n"
    "                        --batches LIST [--sampling S] [--rho R] [options]\n"
    "\n"
    "Exact mean-square critical learning rate eta* for each batch size: the\n"
    "largest eta at which E||w_t||^2 stays bounded (docs/math.md section 3), for\n"
    "SGD and, with --rho, for SAM.  Beside it, the learning rates where Theorem 1\n"
    "of Dexter et al. (2024) starts to predict divergence and where their\n"
    "Theorem 2's line lies.\n"
    "\n"
    "family (exactly one, as for linstab check):\n"
    "@family\n"
    "@factors\n"
    "@diag\n"
    CLI_MODEL_USAGE
    "  --batches LIST      batch sizes: 1,2,4,8 or a range A:B or A:B:STEP\n"
    "@sampling\n"
    "@rho: also SAM's eta* at this radius (default: SGD only)\n"
    "@sam-variant (default same)\n"
    "@json (default: a table)\n"
    "  --csv               a CSV table (default: a text table)\n"
    "@out write to FILE (atomically) instead of stdout\n"
    "@eigen\n"
    "@allow-indefinite\n"
    "@sym-tol\n"
    "@rank-tol\n"
    "@max-memory\n"
    "@quiet\n"
    "  -h, --help          this help\n"
    "\n"
    "Columns (the same names in --json rows and --csv): batch, critical_eta (exact,\n"
    "SGD), critical_eta_sam (exact, SAM at rho; null / an empty cell without --rho\n"
    "or where no exact operator exists), thm1_eta (Theorem 1 predicts divergence\n"
    "above it), thm2_eta (Theorem 2's line: 2 sigma / (lambda1 (sigma + n/B - 1))).\n";

enum { OPT_BATCHES = 256, OPT_CSV };

static const struct option own_opts[] = {
    {"batches", required_argument, NULL, OPT_BATCHES}, {"csv", no_argument, NULL, OPT_CSV}, {NULL, 0, NULL, 0}};
static const char *const required[] = {"batches", NULL};
static const cli_command critical_cmd = {
    "critical",
    CLI_OPTS_FAMILY | CLI_OPT_BIT(CLI_OPT_RHO) | CLI_OPT_BIT(CLI_OPT_SAMPLING) | CLI_OPT_BIT(CLI_OPT_SAM_VARIANT) |
        CLI_OPT_BIT(CLI_OPT_JSON) | CLI_OPT_BIT(CLI_OPT_OUT) | CLI_OPT_BIT(CLI_OPT_EIGEN) | CLI_OPT_BIT(CLI_OPT_QUIET),
    own_opts, required, usage, 22};

/* The names of a row's values, the same in JSON and CSV (the JSON of
 * check has exact.sgd.critical_eta and exact.sam.critical_eta). */
static const char *const col[5] = {"batch", "critical_eta", "critical_eta_sam", "thm1_eta", "thm2_eta"};

typedef struct row {
    size_t batch;
    double eta_sgd, eta_sam, eta_thm1, eta_thm2;
} row;

int cmd_critical(int argc, char **argv)
{
    const char *cmd = "critical";
    linstab_eigen_opts eo = linstab_eigen_defaults();
    const char *batches_arg = NULL;
    int csv = 0, rc = 0;
    linstab_error err = {0};
    cli_common_opts co = cli_common_defaults();
    co.eigen = eo.path;
    cli_parser ps = cli_options_start(&critical_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_BATCHES: batches_arg = optarg; break;
        case OPT_CSV: csv = 1; break;
        }
    }
    cli_family_source src = co.src;
    linstab_sampling sampling = co.sampling;
    linstab_optimizer variant = co.variant;
    double rho = cli_given(&co, CLI_OPT_RHO) ? co.rho : -1.0; /* -1: SGD only */
    int json = co.json, quiet = co.quiet;
    const char *out_path = co.out;
    eo.path = co.eigen;
    if (json && csv) return cli_usage_error(cmd, "--json and --csv exclude each other");
    size_t *batches = NULL, nb = 0;
    rc = cli_parse_size_list(cmd, "--batches", batches_arg, 1, SIZE_MAX, &batches, &nb);
    if (rc != 0) return rc;

    linstab_family *f = NULL;
    linstab_rotated rf = {0};
    row *rows = NULL;
    const char *path = NULL;
    int indefinite = 0;
    rc = cli_load_family(cmd, &src, &f, &path, &indefinite);
    if (rc != 0) goto done;
    for (size_t t = 0; t < nb; t++)
        if (batches[t] > f->n) {
            rc = cli_usage_error(cmd, "--batches: %zu is outside [1, n] = [1, %zu]", batches[t], f->n);
            goto done;
        }
    linstab_status st = linstab_family_rotated_make(f, src.rank_tol, indefinite, &rf, &err);
    double l1S = NAN, sigma = NAN;
    if (st == LINSTAB_OK) st = linstab_geometry_coherence(rf.f, &l1S, &sigma, &err);
    rows = calloc(nb, sizeof *rows);
    if (st == LINSTAB_OK && rows == NULL) st = linstab_error_set(&err, LINSTAB_ENOMEM, "out of memory");
    double l1 = 0.0;
    for (size_t j = 0; rf.l != NULL && j < rf.f->d; j++) l1 = fmax(l1, rf.l[j]);
    size_t n = f->n;
    if (st == LINSTAB_OK && rho > 0.0) {
        double kmax = 0.0;
        for (size_t j = 0; j < rf.f->d; j++) kmax = fmax(kmax, fabs(rf.l[j]));
        linstab_hyper hr = {0.0, 1, rho, sampling};
        if (linstab_bounds_hyper_check_scale(&hr, kmax, &err) != LINSTAB_OK) {
            rc = cli_usage_error(cmd, "--rho: %s", cli_msg(&err));
            goto done;
        }
    }
    cli_progress_state bar = {0}; /* batch sizes done of nb */
    if (st == LINSTAB_OK) cli_progress_begin(&bar, "critical", 0, nb, quiet);
    for (size_t t = 0; st == LINSTAB_OK && t < nb; t++) {
        size_t B = batches[t];
        double a, b;
        row *rw = &rows[t];
        rw->batch = B;
        linstab_sampling_coeffs(sampling, n, B, &a, &b);
        st = linstab_critical_eta(rf.f, rf.l, a, b, &eo, &rw->eta_sgd, &err);
        rw->eta_thm1 = linstab_bounds_thm1_eta(sigma, l1, n, B);
        rw->eta_thm2 = linstab_bounds_thm2_threshold(sigma, l1, n, B);
        rw->eta_sam = NAN;
        if (st == LINSTAB_OK && rho >= 0.0 &&
            linstab_sam_available_rank(variant, n, rf.f->d, B, sampling)) {
            st = linstab_sam_eta_star(&rf, variant, rho, B, sampling, &eo, &rw->eta_sam, &err);
        }
        if (st == LINSTAB_OK) cli_progress_update(&bar, t + 1, nb);
    }
    if (st == LINSTAB_OK) cli_progress_end(&bar);
    else cli_progress_stop(&bar);
    if (st != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, path, cli_msg(&err));
        rc = cli_exit_code(st);
        goto done;
    }
    /* a model source: where the checkpoint sits (the premise of eta*) */
    linstab_mlp_point pt;
    int have_point = 0, is_min = 0;
    double lmin = NAN;
    if (src.model != NULL) {
        rc = cli_model_point(cmd, &src, &pt);
        if (rc != 0) goto done;
        have_point = 1;
        lmin = rf.l[rf.f->d - 1];
        if (linstab_family_ambient_dim(f) > rf.f->d && lmin > 0.0) lmin = 0.0;
        is_min = linstab_mlp_point_is_minimum(&pt, l1, lmin);
        if (csv && !is_min) /* no room in a CSV table: say it on stderr */
            fprintf(stderr, "linstab %s: warning: %s is not an interpolating minimum (max_i ||grad l_i|| = %.3g, "
                            "lambda_min(H) = %.3g): eta* assumes one\n",
                    cmd, src.model, pt.max_sample_grad_norm, lmin);
    }
    const char *curv = NULL, *curv_words = NULL;
    cli_curvature(&src, &curv, &curv_words);
    cli_output o;
    rc = cli_output_open(cmd, out_path, &o);
    if (rc != 0) goto done;
    if (json) {
        linstab_json j;
        linstab_json_init(&j, o.fp);
        linstab_json_begin(&j, NULL);
        linstab_json_string(&j, "linstab_version", LINSTAB_VERSION);
        linstab_json_string(&j, "source", path);
        linstab_json_int(&j, "n", (long long)n);
        linstab_json_int(&j, "d", (long long)linstab_family_ambient_dim(f));
        linstab_json_int(&j, "rank", (long long)rf.f->d);
        linstab_json_string(&j, "sampling", linstab_sampling_name(sampling));
        linstab_json_number(&j, "sharpness", l1);
        linstab_json_number(&j, "sigma", sigma);
        /* no --rho, no model, no SAM operator: null, never a missing key */
        if (rho >= 0.0) {
            linstab_json_number(&j, "rho", rho);
            linstab_json_string(&j, "sam_variant", linstab_sam_variant_name(variant));
        } else {
            linstab_json_null(&j, "rho");
            linstab_json_null(&j, "sam_variant");
        }
        if (curv != NULL)
            linstab_json_string(&j, "curvature", curv);
        else
            linstab_json_null(&j, "curvature");
        if (have_point)
            linstab_report_model_point(&j, &pt, lmin, is_min);
        else
            linstab_json_null(&j, "model_point");
        linstab_json_begin_array(&j, "rows");
        for (size_t t = 0; t < nb; t++) {
            linstab_json_begin(&j, NULL);
            linstab_json_int(&j, col[0], (long long)rows[t].batch);
            linstab_json_number(&j, col[1], rows[t].eta_sgd);
            linstab_json_number(&j, col[2], rows[t].eta_sam); /* NaN: null */
            linstab_json_number(&j, col[3], rows[t].eta_thm1);
            linstab_json_number(&j, col[4], rows[t].eta_thm2);
            linstab_json_end(&j);
        }
        linstab_json_end_array(&j);
        linstab_json_end(&j);
    } else if (csv) {
        /* the JSON row's keys, in its order; an unavailable value is an empty cell */
        fprintf(o.fp, "%s,%s,%s,%s,%s\n", col[0], col[1], col[2], col[3], col[4]);
        for (size_t t = 0; t < nb; t++) {
            fprintf(o.fp, "%zu", rows[t].batch);
            const double v[4] = {rows[t].eta_sgd, rows[t].eta_sam, rows[t].eta_thm1, rows[t].eta_thm2};
            for (int k = 0; k < 4; k++) {
                if (isnan(v[k]))
                    fputc(',', o.fp);
                else
                    fprintf(o.fp, ",%.17g", v[k]);
            }
            fputc('\n', o.fp);
        }
    } else {
        fprintf(o.fp, "# %s: n = %zu, d = %zu, rank %zu, lambda1(H) = %.6g, sigma = %.6g, sampling %s\n",
                path, n, linstab_family_ambient_dim(f), rf.f->d, l1, sigma, linstab_sampling_name(sampling));
        if (curv_words != NULL) fprintf(o.fp, "# curvature: %s\n", curv_words);
        if (rho >= 0.0)
            fprintf(o.fp, "# SAM: rho = %g, variant %s\n", rho, linstab_sam_variant_name(variant));
        if (have_point) {
            fprintf(o.fp, "# model point: mean loss %.6g, ||grad L|| = %.3g, max_i ||grad l_i|| = %.3g, lambda_min(H) = %.6g\n",
                    pt.mean_loss, pt.grad_norm, pt.max_sample_grad_norm, lmin);
            if (!is_min)
                fprintf(o.fp, "# WARNING: not an interpolating minimum; eta* below assumes one\n");
        }
        fprintf(o.fp, "%8s  %23s", "batch", "eta* (SGD)");
        if (rho >= 0.0) fprintf(o.fp, "  %23s", "eta* (SAM)");
        fprintf(o.fp, "  %14s  %14s\n", "Thm 1 eta", "Thm 2 eta");
        for (size_t t = 0; t < nb; t++) {
            fprintf(o.fp, "%8zu  %23.17g", rows[t].batch, rows[t].eta_sgd);
            if (rho >= 0.0) {
                if (isnan(rows[t].eta_sam))
                    fprintf(o.fp, "  %23s", "n/a");
                else
                    fprintf(o.fp, "  %23.17g", rows[t].eta_sam);
            }
            fprintf(o.fp, "  %14.8g  %14.8g\n", rows[t].eta_thm1, rows[t].eta_thm2);
        }
        /* eta* = 0 and n/a are results, not failures: say why */
        int zero = 0, na = 0;
        for (size_t t = 0; t < nb; t++) {
            zero |= rows[t].eta_sgd == 0.0 || (rho >= 0.0 && rows[t].eta_sam == 0.0);
            na |= rho >= 0.0 && isnan(rows[t].eta_sam);
        }
        if (zero)
            fprintf(o.fp, "# eta* = 0: H (or SAM's mean step) has curvature <= 0 on the space (indefinite Hessians), "
                          "so no eta > 0 is mean-square stable%s\n",
                    src.model != NULL && src.exact > 0 ? "; --hessian gn (the default) is PSD" : "");
        if (na)
            fprintf(o.fp, "# eta* (SAM) n/a: no exact operator of variant 'same' at those batches for rank %zu > %d\n",
                    rf.f->d, (int)LINSTAB_SAM_SAME_MAX_R);
    }
    rc = cli_output_close(cmd, &o, 1);
done:
    free(rows);
    free(batches);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
    return rc;
}
