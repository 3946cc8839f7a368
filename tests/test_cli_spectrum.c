/*
 * test_cli_spectrum.c -- `linstab spectrum` end to end: on a matrix with a
 * closed-form spectrum (the tridiagonal Toeplitz matrix tridiag(-1, 2, -1):
 * lambda_k = 2 - 2 cos(k pi / (d + 1)), u_k(j) = sin(j k pi / (d + 1))) the
 * top-k values, the eigenvector file and the exact trace; on a trained MLP
 * the top-k and trace against the mean of the exact per-sample Hessians that
 * `linstab hessians` writes (LAPACK dsyev in the test); Hutchinson's probes
 * (--save-probes) are the library's probes and the output is byte-identical
 * for a seed; the density file integrates to 1; bad input fails with a clear
 * message, exit 1 or 2, and writes nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lapacke.h>

#include "cliutil.h"
#include "linstab/npy.h"
#include "linstab/spectrum.h"
#include "testutil.h"

TestSuite(cli_spectrum, .init = cu_setup, .fini = cu_teardown);

#define D 12
#define PI 3.14159265358979323846

static void write_toeplitz(const char *name)
{
    double A[D * D] = {0};
    for (size_t i = 0; i < D; i++) {
        A[i * D + i] = 2.0;
        if (i + 1 < D) A[i * D + i + 1] = A[(i + 1) * D + i] = -1.0;
    }
    size_t shape[2] = {D, D};
    cu_write_npy(name, A, 2, shape);
}

static linstab_array read_npy(const char *name)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", cu_dir, name);
    linstab_array a = {0};
    linstab_error err = {0};
    cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    return a;
}

/* the numbers of the JSON array after "key": [ (at most max) */
static size_t json_numbers(const char *json, const char *key, double *out, size_t max)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": [", key);
    const char *p = strstr(json, pat);
    cr_assert_not_null(p, "no array %s in %s", key, json);
    p += strlen(pat);
    size_t n = 0;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == ',') p++;
        if (*p == ']') break;
        char *end;
        double v = strtod(p, &end);
        cr_assert(end != p, "not a number in %s", key);
        if (n < max) out[n] = v;
        n++;
        p = end;
    }
    return n;
}

Test(cli_spectrum, matrix_top_k_eigenvectors_and_trace_match_the_closed_form)
{
    write_toeplitz("A.npy");
    for (int arpack = 0; arpack < 2; arpack++) {
        cr_assert_eq(cu_run("spectrum --matrix A.npy --top-k 3 --eigvecs V.npy --trace exact --eigen %s --json out.json",
                            arpack ? "arpack" : "dense"),
                     0, "%s", cu_slurp(cu_err));
        char path[800];
        snprintf(path, sizeof path, "%s/out.json", cu_dir);
        char *js = cu_slurp(path);
        double vals[3];
        cr_assert_eq(json_numbers(js, "eigenvalues", vals, 3), 3);
        linstab_array V = read_npy("V.npy");
        cr_assert_eq(V.ndim, 2);
        cr_assert_eq(V.shape[0], 3);
        cr_assert_eq(V.shape[1], D);
        for (size_t j = 0; j < 3; j++) {
            size_t kk = D - j; /* the largest: k = d, d - 1, ... */
            double lam = 2.0 - 2.0 * cos((double)kk * PI / (D + 1.0));
            cr_assert_leq(fabs(vals[j] - lam), 1e-10, "value %zu: %.17g vs %.17g", j, vals[j], lam);
            double nu = 0.0, dot = 0.0;
            for (size_t i = 0; i < D; i++) nu += pow(sin((double)(i + 1) * (double)kk * PI / (D + 1.0)), 2);
            for (size_t i = 0; i < D; i++)
                dot += V.data[j * D + i] * sin((double)(i + 1) * (double)kk * PI / (D + 1.0)) / sqrt(nu);
            cr_assert_geq(fabs(dot), 1.0 - 1e-9, "vector %zu", j);
        }
        cr_assert_leq(fabs(cu_json_number(js, "\"trace\"", "value") - 2.0 * D), 1e-12);
        cr_assert(isnan(cu_json_number(js, "\"trace\"", "standard_error")), "standard_error should be null");
        cr_assert(strstr(js, "\"density\": null") != NULL);
        free(js);
        linstab_npy_array_free(&V);
    }
}

#define TRAIN "train --layers 3,6,2 --teacher 30 --batch 6 --eta 0.05 --steps 30 --seed 3 --quiet --save-data --out M"
#define MODEL "--model M --data M/X.npy --targets M/Y.npy --loss mse"

Test(cli_spectrum, model_top_k_and_trace_match_the_mean_of_the_exact_sample_hessians)
{
    cr_assert_eq(cu_run(TRAIN), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run("hessians " MODEL " --out H.npy --quiet"), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run("spectrum " MODEL " --top-k 4 --which lm --eigen arpack --trace exact --json - --quiet"), 0,
                 "%s", cu_slurp(cu_err));
    char *js = cu_slurp(cu_out);
    linstab_array F = read_npy("H.npy");
    size_t n = F.shape[0], p = F.shape[1];
    double *H = calloc(p * p, sizeof *H), *w = malloc(p * sizeof *w), tr = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < p * p; t++) H[t] += F.data[i * p * p + t] / (double)n;
    for (size_t i = 0; i < p; i++) tr += H[i * p + i];
    cr_assert_eq(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)p, H, (lapack_int)p, w), 0);
    double vals[4], sc = fmax(fabs(w[0]), fabs(w[p - 1]));
    cr_assert_eq(json_numbers(js, "eigenvalues", vals, 4), 4);
    /* by magnitude: the 4 largest |w| */
    int used[64] = {0};
    cr_assert(p <= 64);
    for (size_t j = 0; j < 4; j++) {
        size_t best = p;
        for (size_t i = 0; i < p; i++)
            if (!used[i] && (best == p || fabs(w[i]) > fabs(w[best]))) best = i;
        used[best] = 1;
        cr_assert_leq(fabs(vals[j] - w[best]), 1e-8 * sc, "value %zu: %.17g vs %.17g", j, vals[j], w[best]);
    }
    cr_assert_leq(fabs(cu_json_number(js, "\"trace\"", "value") - tr), 1e-12 * (double)p * fmax(1.0, fabs(tr)));
    cr_assert_eq((size_t)cu_json_number(js, "\"operator\"", "dim"), p);
    free(js);
    free(H);
    free(w);
    linstab_npy_array_free(&F);
}

Test(cli_spectrum, hutchinson_uses_the_library_probes_and_is_byte_reproducible)
{
    cr_assert_eq(cu_run(TRAIN), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run("spectrum " MODEL " --trace hutchinson --probes 7 --seed 5 --save-probes Z.npy --json a.json"),
                 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run("spectrum " MODEL " --trace hutchinson --probes 7 --seed 5 --json b.json"), 0);
    cr_assert_eq(cu_run("spectrum " MODEL " --trace hutchinson --probes 7 --seed 6 --json c.json"), 0);
    char pa[800], pb[800], pc[800];
    snprintf(pa, sizeof pa, "%s/a.json", cu_dir);
    snprintf(pb, sizeof pb, "%s/b.json", cu_dir);
    snprintf(pc, sizeof pc, "%s/c.json", cu_dir);
    char *a = cu_slurp(pa), *b = cu_slurp(pb), *c = cu_slurp(pc);
    cr_assert_str_eq(a, b);
    cr_assert(cu_json_number(a, "\"trace\"", "value") != cu_json_number(c, "\"trace\"", "value"));
    linstab_array Z = read_npy("Z.npy");
    cr_assert_eq(Z.shape[0], 7);
    size_t p = Z.shape[1];
    double *z = malloc(p * sizeof *z);
    for (size_t j = 0; j < 7; j++) {
        cr_assert_eq(linstab_spectrum_probe(5, j, p, z, NULL), LINSTAB_OK);
        cr_assert_eq(memcmp(z, Z.data + j * p, p * sizeof *z), 0, "probe %zu", j);
    }
    free(z);
    free(a);
    free(b);
    free(c);
    linstab_npy_array_free(&Z);
}

Test(cli_spectrum, density_file_integrates_to_one)
{
    write_toeplitz("A.npy");
    cr_assert_eq(cu_run("spectrum --matrix A.npy --density D.csv --lanczos-steps 12 --density-probes 3 --grid 2000 "
                        "--json -"),
                 0, "%s", cu_slurp(cu_err));
    char path[800];
    snprintf(path, sizeof path, "%s/D.csv", cu_dir);
    char *csv = cu_slurp(path);
    cr_assert(strncmp(csv, "lambda,density\n", 15) == 0);
    const char *q = csv + 15;
    double x0 = NAN, f0 = 0.0, integral = 0.0;
    size_t rows = 0;
    while (*q) {
        char *e;
        double x = strtod(q, &e);
        cr_assert_eq(*e, ',');
        double f = strtod(e + 1, &e);
        cr_assert_eq(*e, '\n');
        q = e + 1;
        if (rows++) integral += 0.5 * (x - x0) * (f + f0);
        x0 = x;
        f0 = f;
    }
    cr_assert_eq(rows, 2000);
    cr_assert_leq(fabs(integral - 1.0), 1e-6, "integral %.17g", integral);
    char *js = cu_slurp(cu_out);
    /* d = 12 steps on a 12 x 12 matrix: the nodes are its eigenvalues */
    double nodes[12];
    cr_assert_eq(json_numbers(js, "nodes", nodes, 12), 12);
    for (size_t i = 0; i < 12; i++) {
        double lam = 2.0 - 2.0 * cos((double)(i + 1) * PI / (D + 1.0));
        cr_assert_leq(fabs(nodes[i] - lam), 1e-12, "node %zu", i);
    }
    free(csv);
    free(js);
}

Test(cli_spectrum, plot_writes_a_png_and_an_svg)
{
#if LINSTAB_TEST_PLOTS
    write_toeplitz("A.npy");
    cr_assert_eq(cu_run("spectrum --matrix A.npy --density D.csv --plot D.png --quiet"), 0, "%s", cu_slurp(cu_err));
    cr_assert(cu_exists("D.png"));
    cr_assert_eq(cu_run("spectrum --matrix A.npy --density D.csv --plot D.svg --quiet"), 0, "%s", cu_slurp(cu_err));
    cr_assert(cu_exists("D.svg"));
#endif
}

static void assert_fails(int want, const char *needle, const char *args)
{
    int rc = cu_run("%s", args);
    char *e = cu_slurp(cu_err);
    cr_assert_eq(rc, want, "exit %d (want %d) for %s: %s", rc, want, args, e);
    cr_assert(strstr(e, needle) != NULL, "'%s' not in: %s", needle, e);
    free(e);
    cr_assert(!cu_exists("V.npy") && !cu_exists("out.json") && !cu_exists("D.csv"), "a file was written for %s", args);
}

Test(cli_spectrum, bad_input_fails_clearly_and_writes_nothing)
{
    write_toeplitz("A.npy");
    double r[6] = {1, 2, 3, 4, 5, 6}, ns[4] = {1, 2, 3, 4};
    size_t s23[2] = {2, 3}, s22[2] = {2, 2};
    cu_write_npy("R.npy", r, 2, s23);
    cu_write_npy("N.npy", ns, 2, s22);
    const char *outs = " --eigvecs V.npy --json out.json --density D.csv";
    char buf[512];
    snprintf(buf, sizeof buf, "spectrum --matrix R.npy --top-k 1%s", outs);
    assert_fails(2, "square", buf);
    snprintf(buf, sizeof buf, "spectrum --matrix N.npy --top-k 1%s", outs);
    assert_fails(1, "not symmetric", buf);
    snprintf(buf, sizeof buf, "spectrum --matrix A.npy --top-k 13%s", outs);
    assert_fails(2, "larger than the dimension 12", buf);
    snprintf(buf, sizeof buf, "spectrum --matrix A.npy --top-k 0%s", outs);
    assert_fails(2, "--top-k", buf);
    assert_fails(2, "--plot", "spectrum --matrix A.npy --density D.csv --plot D.jpg");
    assert_fails(2, "one of --model", "spectrum --top-k 1");
    assert_fails(2, "--probes", "spectrum --matrix A.npy --probes 3");
    assert_fails(1, "missing.npy", "spectrum --matrix missing.npy --json out.json");
    cr_assert_eq(cu_run(TRAIN), 0, "%s", cu_slurp(cu_err));
    snprintf(buf, sizeof buf, "spectrum --model M --data A.npy --targets M/Y.npy --loss mse --top-k 1%s", outs);
    assert_fails(2, "does not fit", buf);
    snprintf(buf, sizeof buf, "spectrum " MODEL " --top-k 100%s", outs);
    assert_fails(2, "parameter vector", buf);
    assert_fails(2, "--matrix", "spectrum --matrix A.npy --data M/X.npy --top-k 1");
}
