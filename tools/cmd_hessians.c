/*
 * cmd_hessians.c -- `linstab hessians`: per-sample Hessians of a trained
 * MLP (exact, all terms; SPEC.md section 7) or its Gauss-Newton factors,
 * written as a family that `linstab check`, `critical` and `map` read.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"

static const char *const usage =
    "usage: linstab hessians --model DIR --data X.npy --targets Y.npy --loss mse|ce\n"
    "                        [--label-smoothing A] [--gn] --out FILE.npy [--max-memory GB]\n"
    "\n"
    "Per-sample Hessians H_i of the loss of an MLP checkpoint at the samples of X:\n"
    "exact, all terms (n, p, p) -- load with `linstab check --family` -- or, with\n"
    "--gn, the Gauss-Newton factors U_i = J_i' (n, p, k) of the squared loss\n"
    "(H_i = U_i U_i' at an interpolating minimum) -- load with --factors.\n"
    "Parameter order: W1 (row-major), b1, W2, b2, ...\n"
    "\n"
    "  --model DIR         checkpoint: model.json, W1.npy, b1.npy, ...\n"
    "  --data X.npy        inputs (n, d0)\n"
    "  --targets Y.npy     targets (n, k) for mse, class labels (n,) for ce\n"
    "  --loss mse|ce       squared loss ||f - y||^2/2 or softmax cross-entropy\n"
    "  --label-smoothing A cross-entropy label smoothing in [0, 1) (default 0)\n"
    "  --gn                Gauss-Newton factors instead of exact Hessians\n"
    "  --out FILE.npy      output (written atomically)\n"
    "  --max-memory GB     memory limit (default: the memory available now)\n"
    "  --quiet             no progress bar\n"
    "  -h, --help          this help\n";

enum { OPT_MODEL = 256, OPT_DATA, OPT_TARGETS, OPT_LOSS, OPT_LS, OPT_GN, OPT_OUT, OPT_MAXMEM, OPT_QUIET };

int cmd_hessians(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, OPT_MODEL},   {"data", required_argument, NULL, OPT_DATA},
        {"targets", required_argument, NULL, OPT_TARGETS}, {"loss", required_argument, NULL, OPT_LOSS},
        {"label-smoothing", required_argument, NULL, OPT_LS}, {"gn", no_argument, NULL, OPT_GN},
        {"out", required_argument, NULL, OPT_OUT},       {"max-memory", required_argument, NULL, OPT_MAXMEM},
        {"quiet", no_argument, NULL, OPT_QUIET},         {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *cmd = "hessians";
    const char *model = NULL, *data = NULL, *targets = NULL, *lossname = NULL, *out = NULL;
    double smoothing = 0.0, gb = 0.0;
    int gn = 0, quiet = 0, rc = 0;
    linstab_error err = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_MODEL: model = optarg; break;
        case OPT_DATA: data = optarg; break;
        case OPT_TARGETS: targets = optarg; break;
        case OPT_LOSS: lossname = optarg; break;
        case OPT_LS:
            rc = cli_parse_double(cmd, "--label-smoothing", optarg, &smoothing);
            if (rc == 0 && !(smoothing >= 0.0 && smoothing < 1.0))
                rc = cli_usage_error(cmd, "--label-smoothing must be in [0, 1)");
            break;
        case OPT_GN: gn = 1; break;
        case OPT_OUT: out = optarg; break;
        case OPT_MAXMEM:
            rc = cli_parse_double(cmd, "--max-memory", optarg, &gb);
            if (rc == 0 && gb <= 0) rc = cli_usage_error(cmd, "--max-memory must be > 0 (GB)");
            break;
        case OPT_QUIET: quiet = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc != 0) return rc;
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model || !data || !targets || !lossname || !out)
        return cli_usage_error(cmd, "--model, --data, --targets, --loss and --out are required");
    linstab_loss loss;
    if (strcmp(lossname, "mse") == 0) loss = LINSTAB_LOSS_MSE;
    else if (strcmp(lossname, "ce") == 0) loss = LINSTAB_LOSS_CE;
    else return cli_usage_error(cmd, "--loss '%s': expected mse or ce", lossname);
    if (gn && loss != LINSTAB_LOSS_MSE)
        return cli_usage_error(cmd, "--gn gives the Gauss-Newton factors of the squared loss: use --loss mse");

    linstab_mlp *m = NULL;
    linstab_array X = {0}, Y = {0};
    double *buf = NULL;
    if (linstab_mlp_load(model, &m, &err) != LINSTAB_OK) return cli_fail(cmd, &err);
    if (linstab_npy_read(data, 0, &X, &err) != LINSTAB_OK || linstab_npy_read(targets, 0, &Y, &err) != LINSTAB_OK) {
        rc = cli_fail(cmd, &err);
        goto done;
    }
    size_t d0 = m->sizes[0], K = m->sizes[m->nlayers], p = m->p;
    if (X.ndim != 2 || X.shape[1] != d0) {
        fprintf(stderr, "linstab %s: error: %s: inputs must have shape (n, %zu) for this model\n", cmd, data, d0);
        rc = 1;
        goto done;
    }
    size_t n = X.shape[0];
    int yok = loss == LINSTAB_LOSS_MSE ? (Y.ndim == 2 && Y.shape[0] == n && Y.shape[1] == K)
                                       : (Y.ndim == 1 && Y.shape[0] == n);
    if (!yok) {
        fprintf(stderr, "linstab %s: error: %s: targets must have shape (%zu, %zu) for mse or (%zu,) labels for ce\n",
                cmd, targets, n, K, n);
        rc = 1;
        goto done;
    }
    for (size_t j = 0; j < n * d0; j++)
        if (!isfinite(X.data[j])) {
            fprintf(stderr, "linstab %s: error: %s: sample %zu is not finite\n", cmd, data, j / d0);
            rc = 1;
            goto done;
        }
    for (size_t j = 0; j < linstab_array_size(&Y); j++) {
        double v = Y.data[j];
        int bad = !isfinite(v) || (loss == LINSTAB_LOSS_CE && (v < 0 || v >= (double)K || v != floor(v)));
        if (bad) {
            fprintf(stderr, "linstab %s: error: %s: target of sample %zu is %s\n", cmd, targets,
                    loss == LINSTAB_LOSS_CE ? j : j / K,
                    isfinite(v) ? "not a class label of this model" : "not finite");
            rc = 1;
            goto done;
        }
    }
    size_t per = gn ? p * K : p * p;
    double need = (double)n * (double)per * 8.0;
    cli_family_source lim = {.max_memory = gb * 1e9};
    char what[128];
    snprintf(what, sizeof what, "%s for %zu samples of %zu parameters%s", gn ? "the factors" : "the exact Hessians",
             n, p, gn ? "" : " (use --gn for the factors, or the matrix-free path)");
    if (cli_check_memory(cmd, &lim, need, what) != 0) {
        rc = 1;
        goto done;
    }
    buf = malloc((size_t)need);
    if (buf == NULL) {
        fprintf(stderr, "linstab %s: error: out of memory for %s\n", cmd, what);
        rc = 1;
        goto done;
    }
    /* samples in parallel, one BLAS thread each: the products are small, and
     * OpenBLAS's own threads would only spin (each sample writes its slice,
     * so the output does not depend on the thread count) */
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    linstab_status first = LINSTAB_OK;
    size_t ndone = 0;
#pragma omp parallel for schedule(dynamic)
    for (size_t i = 0; i < n; i++) {
        if (first != LINSTAB_OK) continue;
        const double *x = X.data + i * d0, *y = Y.data + (loss == LINSTAB_LOSS_MSE ? i * K : i);
        linstab_error e = {0};
        linstab_status st = gn ? linstab_mlp_sample_jacobian_t(m, x, buf + i * per, &e)
                               : linstab_mlp_sample_hessian(m, x, y, loss, smoothing, buf + i * per, &e);
#pragma omp critical(hessians_progress)
        {
            if (st != LINSTAB_OK && first == LINSTAB_OK) {
                first = st;
                err = e;
            }
            cli_progress("hessians", ++ndone, n, quiet);
        }
    }
    openblas_set_num_threads(blas_threads);
    if (first != LINSTAB_OK) {
        rc = cli_fail(cmd, &err);
        goto done;
    }
    size_t shape[3] = {n, p, gn ? K : p};
    if (linstab_npy_write(out, buf, 3, shape, &err) != LINSTAB_OK) {
        rc = cli_fail(cmd, &err);
        goto done;
    }
    printf("wrote %s: %s, shape (%zu, %zu, %zu); load it with %s %s\n", out,
           gn ? "Gauss-Newton factors U_i = J_i'" : "exact per-sample Hessians", n, p, shape[2],
           gn ? "--factors" : "--family", out);
done:
    free(buf);
    linstab_array_free(&X);
    linstab_array_free(&Y);
    linstab_mlp_free(m);
    return rc;
}
