/*
 * cmd_hessians.c -- `linstab hessians`: per-sample Hessians of a trained
 * MLP (exact, all terms; docs/math.md §8) or its Gauss-Newton factors,
 * written as a family that `linstab check`, `critical` and `map` read.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_options.h"
#include "cli.h"
#include "cli_model.h"
#include "linstab/data.h"
#include "linstab/mlp.h"
#include <sys/resource.h>
#include "linstab/npy.h"

static const char *const usage =
    "usage: linstab hessians --model DIR --data X.npy --targets Y.npy --loss mse|ce\n"
    "                        [--label-smoothing A] [--gn] --out FILE.npy [--float32] [--max-memory GB]\n"
    "\n"
    "Per-sample Hessians H_i of the loss of an MLP checkpoint at the samples of X:\n"
    "exact, all terms (n, p, p) -- load with `linstab check --family` -- or, with\n"
    "--gn, the Gauss-Newton factors U_i = J_i' R_i (n, p, k) -- load with --factors:\n"
    "mse: R_i = I (H_i = U_i U_i' at an interpolating minimum); ce: the generalized\n"
    "Gauss-Newton, R_i R_i' = diag(p_i) - p_i p_i' with p_i = softmax(f(x_i)),\n"
    "R_i = diag(sqrt p_i) - p_i sqrt(p_i)' (PSD; no label or smoothing enters).\n"
    "Parameter order: W1 (row-major), b1, W2, b2, ...\n"
    "\n"
    "@model\n"
    "@data\n"
    "@targets\n"
    "@loss\n"
    "@label-smoothing\n"
    "  --gn                (generalized) Gauss-Newton factors instead of exact Hessians\n"
    "  --matrix-free       write nothing; print (JSON) the sharpness lambda1(H) and\n"
    "                      s_2^2 = lambda_max(M_2 - H^2) from per-sample Hessian-vector\n"
    "                      products (no p x p matrix), with time and peak memory;\n"
    "                      with --gn those of the Gauss-Newton Hessians\n"
    "  --sigma             with --matrix-free: also the coherence sigma of the\n"
    "                      Gauss-Newton Hessians of --loss, from the NTK Gram matrix\n"
    "                      assembled layer by layer (n^2 (k^2 sum d_l + sum d_{l-1}) flops, no\n"
    "                      Jacobian; blocks of <= 256 MB)\n"
    "@out=FILE.npy output (written atomically)\n"
    "  --float32           write the file as float32 ('<f4'): each entry the float64\n"
    "                      value rounded, half the bytes (not with --matrix-free)\n"
    "@max-memory\n"
    "@quiet\n"
    "  -h, --help          this help\n";

enum { OPT_GN = 256, OPT_MF, OPT_SIGMA, OPT_F32 };

static const struct option own_opts[] = {
    {"gn", no_argument, NULL, OPT_GN},
    {"matrix-free", no_argument, NULL, OPT_MF},
    {"sigma", no_argument, NULL, OPT_SIGMA},
    {"float32", no_argument, NULL, OPT_F32},
    {NULL, 0, NULL, 0}};
static const cli_command hessians_cmd = {
    "hessians",
    CLI_OPT_BIT(CLI_OPT_MODEL) | CLI_OPT_BIT(CLI_OPT_DATA) | CLI_OPT_BIT(CLI_OPT_TARGETS) | CLI_OPT_BIT(CLI_OPT_LOSS) |
        CLI_OPT_BIT(CLI_OPT_LABEL_SMOOTHING) | CLI_OPT_BIT(CLI_OPT_OUT) | CLI_OPT_BIT(CLI_OPT_MAX_MEMORY) |
        CLI_OPT_BIT(CLI_OPT_QUIET),
    own_opts, NULL, usage, 22};

static void hessians_progress(size_t done, size_t total, void *ctx)
{
    cli_progress_update(ctx, done, total);
}

static double seconds_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) + 1e-9 * (double)(b.tv_nsec - a->tv_nsec);
}

/* The streamed exact Hessians' sink: each chunk appended to the temporary
 * NPY (a failed write removes it and clears the pointer). */
typedef struct stream_sink {
    linstab_npy_stream *s;
    size_t per;
} stream_sink;

static linstab_status sink_write(size_t i0, size_t count, const void *data, void *ctx, linstab_error *err)
{
    stream_sink *k = ctx;
    linstab_status st = linstab_npy_stream_write(k->s, data, count * k->per, err);
    if (st != LINSTAB_OK) k->s = NULL;
    return st;
}

/* A family (the --gn factors) as float32, converted piece by piece. */
static linstab_status save_float32(const linstab_family *f, const char *path, linstab_error *err)
{
    size_t shape[3] = {f->n, f->d, f->k}, total = f->n * f->d * f->k, piece = (size_t)1 << 20;
    linstab_npy_stream *s = NULL;
    float *tmp = malloc(piece * sizeof *tmp);
    if (tmp == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    linstab_status st = linstab_npy_stream_open(path, 1, 3, shape, &s, err);
    for (size_t a = 0; st == LINSTAB_OK && a < total; a += piece) {
        size_t c = total - a < piece ? total - a : piece;
        for (size_t j = 0; j < c; j++) tmp[j] = (float)f->data[a + j];
        st = linstab_npy_stream_write(s, tmp, c, err);
    }
    if (st == LINSTAB_OK) st = linstab_npy_stream_close(s, err);
    free(tmp);
    return st;
}

int cmd_hessians(int argc, char **argv)
{
    const char *cmd = "hessians";
    int gn = 0, rc = 0, mf = 0, want_sigma = 0, f32 = 0;
    linstab_error err = {0};
    cli_common_opts co = cli_common_defaults();
    cli_parser ps = cli_options_start(&hessians_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_GN: gn = 1; break;
        case OPT_MF: mf = 1; break;
        case OPT_SIGMA: want_sigma = 1; break;
        case OPT_F32: f32 = 1; break;
        }
    }
    const char *model = co.src.model, *data = co.src.data, *targets = co.src.targets, *out = co.out;
    double smoothing = co.src.smoothing;
    int quiet = co.quiet;
    if (!model || !data || !targets || !cli_given(&co, CLI_OPT_LOSS) || (!out && !mf))
        return cli_usage_error(cmd, "--model, --data, --targets, --loss and --out (or --matrix-free) are required");
    if (f32 && mf) return cli_usage_error(cmd, "--float32 sets the type of the --out file; --matrix-free writes none");
    linstab_loss loss = co.src.loss_ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;

    linstab_mlp *m = NULL;
    linstab_array X = {0}, Y = {0};
    linstab_family *f = NULL;
    int orc = cli_model_open(cmd, &co.src, &m);
    if (orc != 0) return orc;
    if (linstab_npy_read_numeric(data, 0, &X, &err) != LINSTAB_OK || linstab_npy_read_numeric(targets, 0, &Y, &err) != LINSTAB_OK) {
        rc = cli_fail(cmd, &err);
        goto done;
    }
    if (loss == LINSTAB_LOSS_CE && cli_labels_from_onehot(&Y, m->sizes[m->nlayers], &err) != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, targets, cli_msg(&err));
        rc = 1;
        goto done;
    }
    if (mf) {
        if (linstab_mlp_check_data(m, &X, &Y, loss, &err) != LINSTAB_OK) {
            fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, data, cli_msg(&err));
            rc = 1;
            goto done;
        }
        struct timespec a0, a1, a2;
        double l1, gap;
        clock_gettime(CLOCK_MONOTONIC, &a0);
        linstab_status s1 = gn ? linstab_mlp_gn_sharpness(m, &X, loss, &l1, &err)
                               : linstab_mlp_sharpness(m, &X, &Y, loss, smoothing, &l1, &err);
        clock_gettime(CLOCK_MONOTONIC, &a1);
        if (s1 == LINSTAB_OK)
            s1 = gn ? linstab_mlp_gn_m2_gap(m, &X, loss, &gap, &err)
                    : linstab_mlp_m2_gap(m, &X, &Y, loss, smoothing, &gap, &err);
        clock_gettime(CLOCK_MONOTONIC, &a2);
        double l1S = NAN, sig = NAN;
        if (s1 == LINSTAB_OK && want_sigma) s1 = linstab_mlp_coherence_ggn(m, &X, loss, (size_t)256 << 20, &l1S, &sig, &err);
        struct timespec a3;
        clock_gettime(CLOCK_MONOTONIC, &a3);
        if (s1 != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("{\"n\": %zu, \"p\": %zu, \"curvature\": \"%s\", \"sharpness\": %.17g, \"m2_gap\": %.17g, \"s2\": %.17g, "
               "\"sharpness_seconds\": %.3f, \"s2_seconds\": %.3f, ",
               X.shape[0], m->p, gn ? "gn" : "exact", l1, gap, gap > 0 ? sqrt(gap) : -sqrt(-gap),
               (double)(a1.tv_sec - a0.tv_sec) + 1e-9 * (double)(a1.tv_nsec - a0.tv_nsec),
               (double)(a2.tv_sec - a1.tv_sec) + 1e-9 * (double)(a2.tv_nsec - a1.tv_nsec));
        if (want_sigma)
            printf("\"lambda1_S_gn\": %.17g, \"sigma_gn\": %.17g, \"sigma_seconds\": %.3f, ", l1S, sig,
                   (double)(a3.tv_sec - a2.tv_sec) + 1e-9 * (double)(a3.tv_nsec - a2.tv_nsec));
        printf("\"peak_rss_mb\": %.1f}\n", (double)ru.ru_maxrss / 1024.0);
        goto done;
    }
    double avail = co.src.max_memory > 0 ? co.src.max_memory : cli_available_memory();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* the bar: samples done of n */
    cli_progress_state bar = {0};
    cli_progress_begin(&bar, "hessians", 0, X.shape[0], quiet);
    linstab_status st;
    double tcomp = 0.0, twrite = 0.0, twall = 0.0;
    size_t shape[3] = {X.shape[0], m->p, gn ? m->sizes[m->nlayers] : m->p};
    if (!gn) {
        /* exact: streamed chunk by chunk into the temporary file while the next chunk is computed (no
         * n p^2 in memory, so no --max-memory limit); renamed into place at the end */
        stream_sink k = {NULL, m->p * m->p};
        size_t esz = f32 ? sizeof(float) : sizeof(double), chunk = ((size_t)64 << 20) / (k.per * esz);
        chunk = chunk < 1 ? 1 : chunk > X.shape[0] ? X.shape[0] : chunk;
        double need = 2.0 * (double)chunk * (double)k.per * (double)esz;
        st = linstab_mlp_check_data(m, &X, &Y, loss, &err);
        if (st == LINSTAB_OK && need > avail)
            st = linstab_error_set(&err, LINSTAB_ENOMEM,
                                   "the exact Hessians with %zu parameters stream two chunks of %zu samples: %.2f GB, "
                                   "more than %.2f GB",
                                   m->p, chunk, need / 1e9, avail / 1e9);
        if (st == LINSTAB_OK) st = linstab_npy_stream_open(out, f32, 3, shape, &k.s, &err);
        if (st == LINSTAB_OK) {
            st = linstab_mlp_hessians_stream(m, &X, &Y, loss, smoothing, f32, chunk, sink_write, &k, hessians_progress,
                                             &bar, &tcomp, &twrite, &err);
            struct timespec c0;
            clock_gettime(CLOCK_MONOTONIC, &c0);
            if (st == LINSTAB_OK) {
                st = linstab_npy_stream_close(k.s, &err);
                if (st != LINSTAB_OK) st = LINSTAB_EIO;
            } else if (k.s != NULL) {
                linstab_npy_stream_abort(k.s);
            }
            twrite += seconds_since(&c0);
        }
        twall = seconds_since(&t0);
        if (st == LINSTAB_EIO) {
            cli_progress_stop(&bar);
            rc = cli_fail(cmd, &err);
            goto done;
        }
    } else {
        st = linstab_mlp_family_progress(m, &X, &Y, loss, smoothing, gn, (size_t)avail, hessians_progress, &bar, &f,
                                         &err);
        tcomp = seconds_since(&t0);
    }
    if (st != LINSTAB_OK) {
        cli_progress_stop(&bar);
        fprintf(stderr, "linstab %s: error: %s: %s%s\n", cmd, st == LINSTAB_EDATA ? data : model, cli_msg(&err),
                st == LINSTAB_ENOMEM && !gn ? CLI_EXACT_HESSIANS_HINT : "");
        rc = cli_exit_code(st == LINSTAB_EINVAL ? LINSTAB_EDATA : st);
        goto done;
    }
    cli_progress_end(&bar);
    if (gn) {
        struct timespec w0;
        clock_gettime(CLOCK_MONOTONIC, &w0);
        if ((f32 ? save_float32(f, out, &err) : linstab_family_save(f, out, &err)) != LINSTAB_OK) {
            rc = cli_fail(cmd, &err);
            goto done;
        }
        twrite = seconds_since(&w0);
        twall = seconds_since(&t0);
    }
    if (getenv("LINSTAB_PROFILE") != NULL)
        fprintf(stderr, "[profile] compute %.3f s, write %.3f s, wall %.3f s%s\n", tcomp, twrite, twall,
                gn ? "" : " (streamed: compute = the kernels' thread-seconds / threads, write = in write calls)");
    printf("wrote %s: %s%s, shape (%zu, %zu, %zu); load it with %s %s\n", out, f32 ? "float32 " : "",
           !gn ? "exact per-sample Hessians"
           : loss == LINSTAB_LOSS_CE ? "generalized Gauss-Newton factors U_i = J_i' R_i (R_i R_i' = diag(p_i) - p_i p_i')"
                                     : "Gauss-Newton factors U_i = J_i'", shape[0], shape[1], shape[2],
           gn ? "--factors" : "--family", out);
done:
    linstab_family_free(f);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
    return rc;
}
