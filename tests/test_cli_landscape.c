/*
 * test_cli_landscape.c -- `linstab landscape` end to end, on small MLPs
 * that `linstab train` makes in the test: the loss column of a slice along
 * a direction file is the loss of theta + t d from a forward pass written
 * here (tanh hidden layers, linear output, mean of ||f - y||^2 / 2); the
 * curvature column is d'Hd with H the mean of the exact per-sample Hessians
 * `linstab hessians` writes for the shifted checkpoint; d2_zhou is
 * (L(t+h) + L(t-h) - 2 L(t)) / (2h)^2 recomputed from the loss column (and
 * from the forward pass at the ends); on the segment --to B the loss at
 * t = 0 and t = 1 is each checkpoint's; a surface between two direction
 * files is the loss of theta + a d1 + b d2; --direction eigvec's curvature
 * is lambda1 of the dense mean Hessian (LAPACK dsyev here); a random
 * filter-normalized direction has the checkpoint's weight norm and gives
 * the same bytes for a seed on 1 and 2 OpenMP threads.  Bad input (a
 * direction of the wrong length or shape, a --row outside the file, a --to
 * checkpoint of another architecture, bad ranges, missing files, an
 * unwritable output) fails with exit 1 or 2, a message naming the problem,
 * and leaves the directory as it was.
 */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>

#include "cliutil.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"

TestSuite(cli_landscape, .init = cu_setup, .fini = cu_teardown);

#define TRAIN "train --layers 3,4,2 --teacher 20 --batch 5 --eta 0.05 --steps 30 --seed 3 --quiet --save-data --out M"
#define DATA "--data M/X.npy --targets M/Y.npy"
#define MODEL "--model M " DATA

static char *path_in(const char *name)
{
    static char buf[4][900];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", cu_dir, name);
    return buf[k];
}

static linstab_array read_npy(const char *name)
{
    linstab_array a = {0};
    linstab_error err = {0};
    cr_assert_eq(linstab_npy_read_numeric(path_in(name), 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    return a;
}

static linstab_mlp *load_model(const char *dir)
{
    linstab_mlp *m = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_load(path_in(dir), &m, &err), LINSTAB_OK, "%s", err.msg);
    return m;
}


/*
 * The mean loss (1/n) sum_i ||f(x_i) - y_i||^2 / 2 of the tanh MLP with
 * layer sizes sz[0..L] and linear output at the parameters th (W_1
 * row-major d1 x d0, b_1, W_2, b_2, ...), written out loop by loop: the
 * reference the command's GEMM forward pass is compared with.
 */
static double ref_loss(const size_t *sz, size_t L, const double *th, const linstab_array *X, const linstab_array *Y)
{
    size_t n = X->shape[0];
    double a[64], z[64], total = 0.0;
    for (size_t i = 0; i < n; i++) {
        for (size_t u = 0; u < sz[0]; u++) a[u] = X->data[i * sz[0] + u];
        const double *q = th;
        for (size_t l = 1; l <= L; l++) {
            cr_assert(sz[l] <= 64);
            const double *W = q, *b = q + sz[l] * sz[l - 1];
            for (size_t r = 0; r < sz[l]; r++) {
                double s = b[r];
                for (size_t c = 0; c < sz[l - 1]; c++) s += W[r * sz[l - 1] + c] * a[c];
                z[r] = l < L ? tanh(s) : s;
            }
            q = b + sz[l];
            memcpy(a, z, sz[l] * sizeof *a);
        }
        for (size_t k = 0; k < sz[L]; k++) {
            double e = a[k] - Y->data[i * sz[L] + k];
            total += 0.5 * e * e;
        }
    }
    return total / (double)n;
}

static double model_loss(const linstab_mlp *m, const double *th, const linstab_array *X, const linstab_array *Y)
{
    cr_assert_eq(m->act, LINSTAB_AD_TANH);
    cr_assert(m->bias);
    return ref_loss(m->sizes, m->nlayers, th, X, Y);
}

/* The mean of the exact per-sample Hessians of the checkpoint dir (p x p,
 * caller frees), from `linstab hessians`. */
static double *mean_hessian(const char *dir, size_t p)
{
    cr_assert_eq(cu_run("hessians --model %s " DATA " --loss mse --out H.npy --quiet", dir), 0, "%s",
                 cu_slurp(cu_err));
    linstab_array F = read_npy("H.npy");
    cr_assert_eq(F.ndim, 3);
    cr_assert_eq(F.shape[1], p);
    size_t n = F.shape[0];
    double *H = calloc(p * p, sizeof *H);
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < p * p; t++) H[t] += F.data[i * p * p + t] / (double)n;
    linstab_npy_array_free(&F);
    return H;
}

/* d'Hd and its scale sum |d_i H_ij d_j| (the size of the rounding). */
static double quad(const double *H, const double *d, size_t p, double *scale)
{
    double s = 0.0, a = 0.0;
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++) {
            s += d[i] * H[i * p + j] * d[j];
            a += fabs(d[i] * H[i * p + j] * d[j]);
        }
    *scale = a;
    return s;
}

/* The rows of a CSV file with `cols` numeric columns after the header
 * (which must be `header`) into out (rows x cols, caller frees). */
static size_t read_csv(const char *name, const char *header, size_t cols, double **out)
{
    char *s = cu_slurp(path_in(name));
    size_t hl = strlen(header);
    cr_assert(strncmp(s, header, hl) == 0 && s[hl] == '\n', "header of %s: %.80s", name, s);
    size_t cap = 64, rows = 0;
    double *v = malloc(cap * cols * sizeof *v);
    const char *q = s + hl + 1;
    while (*q) {
        if (rows == cap) v = realloc(v, (cap *= 2) * cols * sizeof *v);
        for (size_t c = 0; c < cols; c++) {
            char *e;
            v[rows * cols + c] = strtod(q, &e);
            cr_assert(e != q, "%s row %zu column %zu: %.40s", name, rows, c, q);
            cr_assert_eq(*e, c + 1 < cols ? ',' : '\n', "%s row %zu", name, rows);
            q = e + 1;
        }
        rows++;
    }
    free(s);
    *out = v;
    return rows;
}

#define SLICE_HEADER "t,loss,d2_zhou,curvature,rayleigh"

/* k x p directions, row r: entries sin(1.3 j + 0.7 r + 0.5) scaled */
static void write_directions(const char *name, size_t k, size_t p)
{
    double *D = malloc(k * p * sizeof *D);
    for (size_t r = 0; r < k; r++)
        for (size_t j = 0; j < p; j++) D[r * p + j] = 0.4 * sin(1.3 * (double)j + 0.7 * (double)r + 0.5);
    size_t shape[2] = {k, p};
    cu_write_npy(name, D, 2, shape);
    free(D);
}

Test(cli_landscape, slice_along_a_direction_file_is_the_loss_at_theta_plus_t_d_with_the_dense_curvature)
{
    cr_assert_eq(cu_run(TRAIN), 0, "%s", cu_slurp(cu_err));
    linstab_mlp *m = load_model("M");
    size_t p = m->p;
    linstab_array X = read_npy("M/X.npy"), Y = read_npy("M/Y.npy");
    write_directions("D.npy", 3, p);
    linstab_array Dk = read_npy("D.npy");
    const double *d = Dk.data + 1 * p; /* --row 1 */
    const double h = 0.25;
    cr_assert_eq(cu_run("landscape " MODEL " --direction D.npy --row 1 --range -1:1 --points 9 --h 0.25 --out S.csv"),
                 0, "%s", cu_slurp(cu_err));
    /* the columns --help documents are the file's header */
    cr_assert_eq(cu_run("landscape --help"), 0);
    char *help = cu_slurp(cu_out);
    cr_expect(strstr(help, SLICE_HEADER ";") != NULL, "--help does not list the columns " SLICE_HEADER);
    free(help);
    double *S;
    size_t rows = read_csv("S.csv", SLICE_HEADER, 5, &S);
    cr_assert_eq(rows, 9);
    double nd2 = 0.0;
    for (size_t j = 0; j < p; j++) nd2 += d[j] * d[j];
    double *th = malloc(p * sizeof *th), Lmax = 0.0;
    linstab_mlp *mt = load_model("M");
    for (size_t i = 0; i < rows; i++) {
        double t = S[i * 5], L = S[i * 5 + 1], D2 = S[i * 5 + 2], C = S[i * 5 + 3], R = S[i * 5 + 4];
        cr_assert_eq(t, -1.0 + 0.25 * (double)i, "t[%zu] = %.17g", i, t);
        for (size_t j = 0; j < p; j++) th[j] = m->theta[j] + t * d[j];
        double ref = model_loss(m, th, &X, &Y);
        cr_expect_leq(fabs(L - ref), 1e-12 * ref, "loss at t = %g: %.17g vs %.17g", t, L, ref);
        Lmax = fmax(Lmax, L);
        /* the ends need L(t -+ h) outside the grid: from the reference */
        if (i == 0 || i + 1 == rows) {
            double Lo = i == 0 ? 0.0 : S[(i - 1) * 5 + 1], Lhi = i == 0 ? S[(i + 1) * 5 + 1] : 0.0;
            for (size_t j = 0; j < p; j++) th[j] = m->theta[j] + (i == 0 ? t - h : t + h) * d[j];
            if (i == 0) Lo = model_loss(m, th, &X, &Y);
            else Lhi = model_loss(m, th, &X, &Y);
            double want = (Lhi + Lo - 2.0 * L) / ((2.0 * h) * (2.0 * h));
            cr_expect_leq(fabs(D2 - want), 1e-11 * (Lhi + Lo + 2.0 * L) / (4.0 * h * h), "d2_zhou at t = %g", t);
        }
        /* d'Hd at theta + t d: the mean of the exact sample Hessians there */
        for (size_t j = 0; j < p; j++) mt->theta[j] = m->theta[j] + t * d[j];
        linstab_error err = {0};
        cr_assert_eq(linstab_mlp_save(mt, path_in("Mt"), &err), LINSTAB_OK, "%s", err.msg);
        double *H = mean_hessian("Mt", p), sc;
        double q = quad(H, d, p, &sc);
        cr_expect_leq(fabs(C - q), 1e-10 * sc, "curvature at t = %g: %.17g vs d'Hd %.17g", t, C, q);
        cr_expect_leq(fabs(R - C / nd2), 1e-15 * fabs(C / nd2), "rayleigh at t = %g", t);
        free(H);
    }
    /* the interior: from the loss column itself (t +- h are grid points) */
    for (size_t i = 1; i + 1 < rows; i++) {
        double want = (S[(i + 1) * 5 + 1] + S[(i - 1) * 5 + 1] - 2.0 * S[i * 5 + 1]) / ((2.0 * h) * (2.0 * h));
        cr_expect_leq(fabs(S[i * 5 + 2] - want), 1e-13 * 4.0 * Lmax / (4.0 * h * h),
                      "d2_zhou at t = %g: %.17g vs %.17g",
                      S[i * 5], S[i * 5 + 2], want);
    }
    free(S);
    free(th);
    linstab_mlp_free(m);
    linstab_mlp_free(mt);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_npy_array_free(&Dk);
}

Test(cli_landscape, eigvec_curvature_at_the_checkpoint_is_lambda1_of_the_dense_mean_hessian)
{
    cr_assert_eq(cu_run(TRAIN), 0, "%s", cu_slurp(cu_err));
    linstab_mlp *m = load_model("M");
    size_t p = m->p;
    double *H = mean_hessian("M", p), *w = malloc(p * sizeof *w);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)p, H, (lapack_int)p, w), 0);
    double lam = w[p - 1], sc = fmax(fabs(w[0]), fabs(w[p - 1]));
    cr_assert_eq(cu_run("landscape " MODEL " --direction eigvec --range -0.5:0.5 --points 5 --json --quiet"), 0, "%s",
                 cu_slurp(cu_err));
    char *js = cu_slurp(cu_out);
    cr_expect_leq(fabs(cu_json_number(js, "\"direction\"", "lambda1") - lam), 1e-9 * sc, "%s", js);
    cr_expect_leq(fabs(cu_json_number(js, "\"direction\"", "norm") - 1.0), 1e-12);
    cr_expect_leq(fabs(cu_json_number(js, NULL, "curvature_at_0") - lam), 1e-9 * sc, "%s", js);
    cr_expect_leq(fabs(cu_json_number(js, "\"t\": 0,", "rayleigh") - lam), 1e-9 * sc, "%s", js);
    free(js);
    free(H);
    free(w);
    linstab_mlp_free(m);
}

Test(cli_landscape, segment_to_a_second_checkpoint_starts_and_ends_at_their_losses)
{
    cr_assert_eq(cu_run(TRAIN), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run("train --layers 3,4,2 " DATA " --batch 5 --eta 0.05 --steps 40 --seed 9 --quiet --out B"), 0,
                 "%s", cu_slurp(cu_err));
    linstab_mlp *a = load_model("M"), *b = load_model("B");
    size_t p = a->p;
    linstab_array X = read_npy("M/X.npy"), Y = read_npy("M/Y.npy");
    /* the default range -0.5:1.5; 5 points: -0.5, 0, 0.5, 1, 1.5 */
    cr_assert_eq(cu_run("landscape " MODEL " --to B --points 5 --h 0.5 --out S.csv --quiet"), 0, "%s",
                 cu_slurp(cu_err));
    double *S;
    cr_assert_eq(read_csv("S.csv", SLICE_HEADER, 5, &S), 5);
    double La = 0.0, Lb = 0.0, acc;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_evaluate(a, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &La, &acc, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_evaluate(b, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &Lb, &acc, &err), LINSTAB_OK);
    cr_assert_eq(S[1 * 5], 0.0);
    cr_assert_eq(S[3 * 5], 1.0);
    cr_expect_leq(fabs(S[1 * 5 + 1] - La), 1e-14 * La, "loss at t = 0 %.17g, checkpoint M's %.17g", S[6], La);
    cr_expect_leq(fabs(S[3 * 5 + 1] - Lb), 1e-14 * Lb, "loss at t = 1 %.17g, checkpoint B's %.17g", S[16], Lb);
    cr_expect_leq(fabs(La - model_loss(a, a->theta, &X, &Y)), 1e-12 * La);
    cr_expect_leq(fabs(Lb - model_loss(b, b->theta, &X, &Y)), 1e-12 * Lb);
    cr_expect(fabs(La - Lb) > 1e-6 * La, "the two checkpoints should differ: %g %g", La, Lb);
    double *th = malloc(p * sizeof *th), *dd = malloc(p * sizeof *dd);
    for (size_t j = 0; j < p; j++) dd[j] = b->theta[j] - a->theta[j];
    for (size_t i = 0; i < 5; i++) { /* every point on the line (1 - t) theta_A + t theta_B */
        double t = S[i * 5];
        for (size_t j = 0; j < p; j++) th[j] = (1.0 - t) * a->theta[j] + t * b->theta[j];
        double ref = model_loss(a, th, &X, &Y);
        cr_expect_leq(fabs(S[i * 5 + 1] - ref), 1e-12 * ref, "loss at t = %g", t);
    }
    /* d = theta_B - theta_A: d'H d at each end from that checkpoint's Hessians;
     * d2_zhou at t = 0.5 with h = 0.5 from the loss column */
    const char *ends[2] = {"M", "B"};
    for (int e = 0; e < 2; e++) {
        double *H = mean_hessian(ends[e], p), sc;
        double q = quad(H, dd, p, &sc), C = S[(1 + 2 * e) * 5 + 3];
        cr_expect_leq(fabs(C - q), 1e-10 * sc, "curvature at %s: %.17g vs %.17g", ends[e], C, q);
        free(H);
    }
    double want = (S[3 * 5 + 1] + S[1 * 5 + 1] - 2.0 * S[2 * 5 + 1]) / 1.0;
    cr_expect_leq(fabs(S[2 * 5 + 2] - want), 1e-13 * (La + Lb + 2.0 * S[2 * 5 + 1]));
    free(S);
    free(th);
    free(dd);
    linstab_mlp_free(a);
    linstab_mlp_free(b);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
}

Test(cli_landscape, surface_between_two_direction_files_is_the_loss_at_theta_plus_a_d1_plus_b_d2)
{
    cr_assert_eq(cu_run(TRAIN), 0, "%s", cu_slurp(cu_err));
    linstab_mlp *m = load_model("M");
    size_t p = m->p;
    linstab_array X = read_npy("M/X.npy"), Y = read_npy("M/Y.npy");
    write_directions("D.npy", 3, p);
    linstab_array Dk = read_npy("D.npy");
    cr_assert_eq(cu_run("landscape " MODEL " --direction D.npy --row 2 --direction2 D.npy --row2 0 --range 0:1 "
                        "--points 3 --range2 -1:1 --points2 5 --npy G.npy --out G.csv --quiet"),
                 0, "%s", cu_slurp(cu_err));
    linstab_array G = read_npy("G.npy");
    cr_assert_eq(G.ndim, 2);
    cr_assert_eq(G.shape[0], 3);
    cr_assert_eq(G.shape[1], 5);
    double *S;
    cr_assert_eq(read_csv("G.csv", "a,b,loss", 3, &S), 15);
    double *th = malloc(p * sizeof *th);
    for (size_t ia = 0; ia < 3; ia++)
        for (size_t ib = 0; ib < 5; ib++) {
            double av = 0.5 * (double)ia, bv = -1.0 + 0.5 * (double)ib;
            size_t r = ia * 5 + ib;
            cr_assert_eq(S[r * 3], av);
            cr_assert_eq(S[r * 3 + 1], bv);
            cr_assert_eq(S[r * 3 + 2], G.data[r], "csv and npy differ at (%zu, %zu)", ia, ib);
            for (size_t j = 0; j < p; j++) th[j] = m->theta[j] + av * Dk.data[2 * p + j] + bv * Dk.data[j];
            double ref = model_loss(m, th, &X, &Y);
            cr_expect_leq(fabs(G.data[r] - ref), 1e-12 * ref, "loss at (a, b) = (%g, %g): %.17g vs %.17g", av, bv,
                          G.data[r], ref);
        }
    free(S);
    free(th);
    linstab_mlp_free(m);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_npy_array_free(&Dk);
    linstab_npy_array_free(&G);
}

Test(cli_landscape, random_direction_is_filter_normalized_and_byte_identical_on_one_and_two_threads)
{
    cr_assert_eq(cu_run(TRAIN), 0, "%s", cu_slurp(cu_err));
    linstab_mlp *m = load_model("M");
    /* every weight row scaled to the checkpoint's row norm, biases 0: ||d|| = ||weights of theta|| */
    double w2 = 0.0;
    for (size_t l = 1; l <= m->nlayers; l++) {
        size_t off = linstab_mlp_w_offset(m, l), len = m->sizes[l] * m->sizes[l - 1];
        for (size_t j = 0; j < len; j++) w2 += m->theta[off + j] * m->theta[off + j];
    }
    const char *args = "landscape " MODEL " --direction random --seed %d --points 9 --out %s --json --quiet";
    const char *surf = "landscape " MODEL " --direction random --direction2 random --seed 7 --points 4 --points2 3 "
                       "--npy %s --quiet";
    char *out[2], *csv[2], *npy[2];
    size_t nl[2];
    for (int k = 0; k < 2; k++) {
        char env[32];
        snprintf(env, sizeof env, "OMP_NUM_THREADS=%d", k + 1);
        cr_assert_eq(cu_run_env(env, args, 7, "R.csv"), 0, "%s", cu_slurp(cu_err));
        out[k] = cu_slurp(cu_out);
        csv[k] = cu_slurp(path_in("R.csv"));
        cr_assert_eq(cu_run_env(env, surf, "G.npy"), 0, "%s", cu_slurp(cu_err));
        npy[k] = cu_slurp_len(path_in("G.npy"), &nl[k]);
        cr_assert_not_null(npy[k]);
    }
    cr_expect_str_eq(csv[0], csv[1], "the table differs between 1 and 2 threads");
    cr_expect_str_eq(out[0], out[1], "the JSON differs between 1 and 2 threads");
    cr_expect(nl[0] == nl[1] && memcmp(npy[0], npy[1], nl[0]) == 0, "the surface differs between 1 and 2 threads");
    cr_expect_leq(fabs(cu_json_number(out[0], "\"direction\"", "norm") - sqrt(w2)), 1e-12 * sqrt(w2), "%s", out[0]);
    cr_assert_eq(cu_run(args, 8, "R8.csv"), 0, "%s", cu_slurp(cu_err));
    char *other = cu_slurp(path_in("R8.csv"));
    cr_expect(strcmp(other, csv[0]) != 0, "seeds 7 and 8 gave the same direction");
    free(other);
    for (int k = 0; k < 2; k++) {
        free(out[k]);
        free(csv[k]);
        free(npy[k]);
    }
    linstab_mlp_free(m);
}

/* ---- bad input ---- */

/* The names in cu_dir (sorted, one a line, caller frees), without the
 * captured streams. */
static char *listing(void)
{
    struct dirent **ents;
    int n = scandir(cu_dir, &ents, NULL, alphasort);
    cr_assert_geq(n, 0);
    size_t cap = 4096, len = 0;
    char *s = calloc(cap, 1);
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (strcmp(nm, "stdout") != 0 && strcmp(nm, "stderr") != 0 && strcmp(nm, ".") != 0 && strcmp(nm, "..") != 0) {
            size_t l = strlen(nm);
            if (len + l + 2 > cap) s = realloc(s, cap = 2 * (len + l + 2));
            memcpy(s + len, nm, l);
            len += l;
            s[len++] = '\n';
            s[len] = '\0';
        }
        free(ents[i]);
    }
    free(ents);
    return s;
}

/* `landscape ARGS --out o.csv`, then `ARGS --out pre.csv` with pre.csv
 * there before: exit `want` both times, `needle` in the message, cu_dir
 * as it was and pre.csv unchanged. */
static void expect_refusal(int want, const char *needle, const char *args)
{
    const char *outs[2] = {"o.csv", "pre.csv"};
    for (int k = 0; k < 2; k++) {
        char *before = listing();
        int rc = cu_run("landscape %s --out %s", args, outs[k]);
        char *e = cu_slurp(cu_err), *after = listing(), *pre = cu_slurp(path_in("pre.csv")), *so = cu_slurp(cu_out);
        cr_expect_eq(rc, want, "exit %d (want %d) for %s: %s", rc, want, args, e);
        cr_expect(strstr(e, needle) != NULL, "'%s' not in the message for %s: %s", needle, args, e);
        cr_expect(strncmp(e, "linstab landscape: error: ", 26) == 0, "%s", e);
        cr_expect_str_eq(before, after, "the directory changed for %s", args);
        cr_expect_str_eq(pre, "kept\n", "pre.csv changed for %s", args);
        cr_expect_str_eq(so, "", "output on stdout for %s", args);
        free(so);
        free(e);
        free(before);
        free(after);
        free(pre);
    }
}

Test(cli_landscape, bad_input_fails_with_a_clear_message_and_leaves_the_directory_as_it_was)
{
    cr_assert_eq(cu_run(TRAIN), 0, "%s", cu_slurp(cu_err));
    /* checkpoints that cannot be interpolated with M (3-4-2, tanh, linear output, biases) */
    const char *others[] = {"--layers 3,5,2 --out W5",      "--layers 3,4,4,2 --out D3", "--layers 3,4,2,2 --out D4",
                            "--layers 3,4,2 --activation relu --out R",
                            "--layers 3,4,2 --output-activation tanh --out T",
                            "--layers 3,4,2 --no-bias --out NB"};
    for (size_t k = 0; k < sizeof others / sizeof others[0]; k++)
        cr_assert_eq(cu_run("train " DATA " --batch 5 --steps 3 --seed 4 --quiet %s", others[k]), 0, "%s",
                     cu_slurp(cu_err));
    linstab_mlp *m = load_model("M");
    size_t p = m->p;
    linstab_mlp_free(m);
    double *v = malloc((p + 1) * sizeof *v);
    for (size_t j = 0; j <= p; j++) v[j] = 0.1 * (double)(j + 1);
    size_t s_short[1] = {p - 1}, s_long[1] = {p + 1}, s_wide[2] = {1, p + 1}, s3[3] = {1, 1, p};
    cu_write_npy("short.npy", v, 1, s_short);
    cu_write_npy("long.npy", v, 1, s_long);
    cu_write_npy("wide.npy", v, 2, s_wide);
    cu_write_npy("cube.npy", v, 3, s3);
    write_directions("two.npy", 2, p);
    size_t s1[1] = {p};
    cu_write_npy("one.npy", v, 1, s1);
    v[3] = NAN;
    cu_write_npy("nan.npy", v, 1, s1);
    for (size_t j = 0; j < p; j++) v[j] = 0.0;
    cu_write_npy("zero.npy", v, 1, s1);
    free(v);
    cu_write_file("pre.csv", "kept\n", 5);

    /* directions */
    char buf[64];
    snprintf(buf, sizeof buf, "%zu", p);
    expect_refusal(1, buf, MODEL " --direction short.npy");
    expect_refusal(1, "entries", MODEL " --direction long.npy");
    expect_refusal(1, "parameters", MODEL " --direction wide.npy --row 0");
    expect_refusal(1, "dimensions", MODEL " --direction cube.npy");
    expect_refusal(1, "not finite", MODEL " --direction nan.npy");
    expect_refusal(1, "zero", MODEL " --direction zero.npy");
    expect_refusal(2, "choose a row", MODEL " --direction two.npy");
    expect_refusal(2, "outside 0..1", MODEL " --direction two.npy --row 2");
    expect_refusal(2, "row 1", MODEL " --direction one.npy --row 1");
    expect_refusal(2, "--row", MODEL " --direction random --row 0");
    expect_refusal(2, "--row2", MODEL " --direction two.npy --row 0 --direction2 two.npy --row2 5");
    expect_refusal(1, "--direction2", MODEL " --direction random --direction2 short.npy");
    expect_refusal(1, "nosuch.npy", MODEL " --direction nosuch.npy");
    /* interpolation between different architectures */
    expect_refusal(1, "layer sizes differ: 3-4-2 and 3-5-2", MODEL " --to W5");
    expect_refusal(1, "layer sizes differ: 3-4-2 and 3-4-4-2", MODEL " --to D3");
    expect_refusal(1, "layer sizes differ: 3-4-2 and 3-4-2-2", MODEL " --to D4"); /* the same first layers */
    expect_refusal(1, "activations differ: tanh and relu", MODEL " --to R");
    expect_refusal(1, "output activations differ", MODEL " --to T");
    expect_refusal(1, "biases differ", MODEL " --to NB");
    expect_refusal(1, "same parameters", MODEL " --to M");
    expect_refusal(1, "nosuch", MODEL " --to nosuch");
    expect_refusal(2, "exactly one of --direction and --to", MODEL " --direction random --to W5");
    expect_refusal(2, "exactly one of --direction and --to", MODEL);
    /* ranges, points, steps */
    expect_refusal(2, "A < B", MODEL " --direction random --range 1:-1");
    expect_refusal(2, "A < B", MODEL " --direction random --range 0.5:0.5");
    expect_refusal(2, "--points", MODEL " --direction random --points 0");
    expect_refusal(2, "--points", MODEL " --direction random --points 1");
    expect_refusal(2, "--points", MODEL " --direction random --points many");
    expect_refusal(2, "--range", MODEL " --direction random --range a:1");
    expect_refusal(2, "--range", MODEL " --direction random --range 0:b");
    expect_refusal(2, "--range", MODEL " --direction random --range 1");
    expect_refusal(2, "--range", MODEL " --direction random --range nan:1");
    expect_refusal(2, "--range", MODEL " --direction random --range -1:nan");
    expect_refusal(2, "--range", MODEL " --direction random --range -inf:1");
    expect_refusal(2, "--range", MODEL " --direction random --range -1e308:1e308");
    expect_refusal(2, "--range2", MODEL " --direction random --direction2 random --range2 2:1");
    expect_refusal(2, "--range2 '-1e308:1e308'", MODEL " --direction random --direction2 random --range2 -1e308:1e308");
    expect_refusal(2, "--h", MODEL " --direction random --h 0");
    expect_refusal(2, "--h", MODEL " --direction random --h nan");
    expect_refusal(2, "--h", MODEL " --direction random --h -0.1");
    /* files */
    expect_refusal(1, "nosuch", "--model nosuch " DATA " --direction random");
    expect_refusal(1, "nosuch.npy", "--model M --data nosuch.npy --targets M/Y.npy --direction random");
    expect_refusal(2, "does not fit", "--model M --data M/Y.npy --targets M/Y.npy --direction random");
    /* an unwritable output: a file where a folder should be, a missing folder */
    const char *bad_out[2] = {"M/X.npy/o.csv", "nodir/o.csv"};
    for (int k = 0; k < 2; k++) {
        char *before = listing();
        int rc = cu_run("landscape " MODEL " --direction random --out %s", bad_out[k]);
        char *e = cu_slurp(cu_err), *after = listing();
        cr_expect(rc == 1 || rc == 2, "exit %d for --out %s", rc, bad_out[k]);
        cr_expect(strstr(e, bad_out[k]) != NULL, "the message does not name %s: %s", bad_out[k], e);
        cr_expect_str_eq(before, after);
        free(e);
        free(before);
        free(after);
    }
    char *before = listing();
    int rc = cu_run("landscape " MODEL " --direction random --direction2 random --npy nodir/G.npy --out o.csv");
    char *e = cu_slurp(cu_err), *after = listing();
    cr_expect(rc == 1 || rc == 2, "exit %d for --npy nodir/G.npy", rc);
    cr_expect(strstr(e, "nodir/G.npy") != NULL, "%s", e);
    cr_expect_str_eq(before, after, "o.csv written although --npy could not be");
    free(e);
    free(before);
    free(after);
}
