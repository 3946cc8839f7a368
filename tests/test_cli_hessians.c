/*
 * test_cli_hessians.c -- `linstab hessians --matrix-free` end to end: the
 * sharpness and s_2^2 it prints, for the exact Hessians and (--gn) for the
 * Gauss-Newton ones of a cross-entropy network off a minimum, against
 * dense matrices built in the test from the per-sample Hessians or factors
 * the same command writes (H = mean, M_2 = mean of squares, LAPACK dsyev).
 * The Lanczos tolerance is 1e-8 relative: 1e-6 of lambda1 (lambda1^2 for
 * s_2^2) is far above it and far below any error of a factor.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "linstab/npy.h"
#include "testutil.h"

TestSuite(cli_hessians, .init = cu_setup, .fini = cu_teardown);

static linstab_array read_npy(const char *name)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", cu_dir, name);
    linstab_array a = {0};
    linstab_error err;
    cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    return a;
}

Test(cli_hessians, matrix_free_sharpness_and_s2_exact_and_gn_equal_dense_matrices_of_the_written_hessians)
{
    /* a few steps of cross-entropy: off a minimum, the exact H_i indefinite */
    cr_assert_eq(cu_run("train --layers 3,6,3 --teacher 40 --loss ce --steps 20 --eta 0.1 --batch 8 --seed 4 "
                        "--save-data --quiet --out m"),
                 0, "%s", cu_slurp(cu_err));
    const char *base = "hessians --model m --data m/X.npy --targets m/Y.npy --loss ce";
    for (int gn = 0; gn <= 1; gn++) {
        cr_assert_eq(cu_run("%s %s --matrix-free", base, gn ? "--gn" : ""), 0, "%s", cu_slurp(cu_err));
        char *json = cu_slurp(cu_out);
        cr_expect(strstr(json, gn ? "\"curvature\": \"gn\"" : "\"curvature\": \"exact\"") != NULL, "%s", json);
        double l1 = cu_json_number(json, NULL, "sharpness"), gap = cu_json_number(json, NULL, "m2_gap");
        cr_assert_eq(cu_run("%s %s --out h.npy --quiet", base, gn ? "--gn" : ""), 0, "%s", cu_slurp(cu_err));
        linstab_array a = read_npy("h.npy");
        size_t n = a.shape[0], p = a.shape[1];
        double *Hs = a.data;
        if (gn) { /* factors U_i (p x k): G_i = U_i U_i' */
            size_t k = a.shape[2];
            Hs = malloc(n * p * p * sizeof *Hs);
            for (size_t i = 0; i < n; i++)
                for (size_t q = 0; q < p; q++)
                    for (size_t r = 0; r < p; r++) {
                        double s = 0.0;
                        for (size_t o = 0; o < k; o++) s += a.data[(i * p + q) * k + o] * a.data[(i * p + r) * k + o];
                        Hs[(i * p + q) * p + r] = s;
                    }
        }
        double l1_ref, gap_ref;
        tu_second_moment_top(n, p, Hs, &l1_ref, &gap_ref);
        cr_expect(fabs(l1 - l1_ref) <= 1e-6 * fabs(l1_ref), "gn %d: sharpness %.17g vs dense %.17g", gn, l1, l1_ref);
        cr_expect(fabs(gap - gap_ref) <= 1e-6 * l1_ref * l1_ref, "gn %d: s2^2 %.17g vs dense %.17g", gn, gap,
                  gap_ref);
        if (Hs != a.data) free(Hs);
        free(a.data);
        free(json);
    }
}

/* ---- the streamed exact Hessians: chunks, float32, threads, bad input ---- */

#include "linstab/mlp.h"

typedef struct collect {
    double *d;
    float *f;
    size_t per, next, calls, fail_at;
} collect;

static linstab_status collect_sink(size_t i0, size_t count, const void *data, void *ctx, linstab_error *err)
{
    collect *c = ctx;
    cr_expect_eq(i0, c->next, "chunks in order");
    if (c->calls++ == c->fail_at) return linstab_error_set(err, LINSTAB_EIO, "sink failure at chunk %zu", c->calls - 1);
    if (c->d) memcpy(c->d + i0 * c->per, data, count * c->per * sizeof(double));
    if (c->f) memcpy(c->f + i0 * c->per, data, count * c->per * sizeof(float));
    c->next = i0 + count;
    return LINSTAB_OK;
}

/* The stream in chunks of 2 of 7 samples (the last short) equals linstab_mlp_sample_hessian (itself checked
 * against the tape's Hessian-vector products and differences of gradients in test_ad.c) sample by sample, bit
 * for bit; float32 is it rounded; a sink failure and a bad label stop it with their errors. */
Test(cli_hessians, streamed_chunks_equal_the_per_sample_hessians_and_float32_rounds_them)
{
    size_t sizes[4] = {3, 5, 4, 2}, n = 7;
    for (int ce = 0; ce <= 1; ce++) {
        linstab_mlp *m = NULL;
        linstab_error err = {0};
        cr_assert_eq(linstab_mlp_alloc(sizes, 3, LINSTAB_AD_TANH, 1, &m, &err), LINSTAB_OK);
        for (size_t k = 0; k < m->p; k++) m->theta[k] = 0.8 * sin(1.3 * (double)k + 0.2);
        double xs[21], ys[14];
        for (size_t k = 0; k < 21; k++) xs[k] = cos(0.7 * (double)k);
        for (size_t k = 0; k < 14; k++) ys[k] = ce ? (double)(k % 2) : sin(0.4 * (double)k);
        linstab_array X = {2, {n, 3}, xs}, Y = ce ? (linstab_array){1, {n}, ys} : (linstab_array){2, {n, 2}, ys};
        linstab_loss loss = ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
        size_t p = m->p, per = p * p, ty = ce ? 1 : 2;
        collect c = {calloc(n * per, sizeof(double)), NULL, per, 0, 0, (size_t)-1};
        double tc = -1, ts = -1;
        cr_assert_eq(linstab_mlp_hessians_stream(m, &X, &Y, loss, 0.1, 0, 2, collect_sink, &c, NULL, NULL, &tc, &ts, &err),
                     LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(c.calls, 4);
        cr_expect_eq(c.next, n);
        cr_expect(tc >= 0 && ts >= 0);
        double *Hi = malloc(per * sizeof *Hi);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(linstab_mlp_sample_hessian(m, xs + 3 * i, ys + ty * i, loss, 0.1, Hi, &err), LINSTAB_OK);
            cr_expect_eq(memcmp(Hi, c.d + i * per, per * sizeof *Hi), 0, "ce %d sample %zu", ce, i);
        }
        collect cf = {NULL, calloc(n * per, sizeof(float)), per, 0, 0, (size_t)-1};
        cr_assert_eq(linstab_mlp_hessians_stream(m, &X, &Y, loss, 0.1, 1, 3, collect_sink, &cf, NULL, NULL, NULL, NULL, &err),
                     LINSTAB_OK, "%s", err.msg);
        size_t off = 0;
        for (size_t j = 0; j < n * per; j++) off += cf.f[j] != (float)c.d[j];
        cr_expect_eq(off, 0, "ce %d: %zu float32 entries are not the float64 ones rounded", ce, off);
        /* the sink's error, its chunk the last call */
        collect cb = {NULL, NULL, per, 0, 0, 1};
        cr_expect_eq(linstab_mlp_hessians_stream(m, &X, &Y, loss, 0.1, 0, 2, collect_sink, &cb, NULL, NULL, NULL, NULL, &err),
                     LINSTAB_EIO);
        cr_expect(strstr(err.msg, "sink failure at chunk 1") != NULL, "%s", err.msg);
        cr_expect_eq(cb.calls, 2);
        if (ce) { /* a label out of range: named, its chunk never reaches the sink */
            ys[5] = 7.0;
            collect cl = {NULL, NULL, per, 0, 0, (size_t)-1};
            cr_expect_eq(linstab_mlp_hessians_stream(m, &X, &Y, loss, 0.1, 0, 2, collect_sink, &cl, NULL, NULL, NULL, NULL, &err),
                         LINSTAB_EDATA);
            cr_expect(strstr(err.msg, "sample 5") != NULL, "%s", err.msg);
            cr_expect(cl.next <= 4, "chunk of sample 5 written: %zu", cl.next);
        }
        free(Hi);
        free(c.d);
        free(cf.f);
        linstab_mlp_free(m);
    }
}

static int tmp_files_left(void)
{
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '\\.tmp\\.'", cu_dir);
    return system(cmd) == 0;
}

/* The command's file: float32 = the float64 file rounded, '<f4' in its header; the same bytes for 1 and 2
 * threads; bad combinations and bad input leave no file. */
Test(cli_hessians, float32_file_is_the_float64_file_rounded_and_threads_give_the_same_bytes)
{
    cr_assert_eq(cu_run("train --layers 3,6,3 --teacher 40 --loss ce --steps 20 --eta 0.1 --batch 8 --seed 4 "
                        "--save-data --quiet --out m"),
                 0, "%s", cu_slurp(cu_err));
    const char *base = "hessians --model m --data m/X.npy --targets m/Y.npy --loss ce --label-smoothing 0.1";
    cr_assert_eq(cu_run_env("OMP_NUM_THREADS=1", "%s --out h1.npy --quiet", base), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run_env("OMP_NUM_THREADS=2", "%s --out h2.npy --quiet", base), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run_env("OMP_NUM_THREADS=2", "%s --out h32.npy --float32", base), 0, "%s", cu_slurp(cu_err));
    char *msg = cu_slurp(cu_out);
    cr_expect(strstr(msg, "float32 exact per-sample Hessians") != NULL, "%s", msg);
    free(msg);
    char path[800];
    size_t l1, l2, l32;
    snprintf(path, sizeof path, "%s/h1.npy", cu_dir);
    char *b1 = cu_slurp_len(path, &l1);
    snprintf(path, sizeof path, "%s/h2.npy", cu_dir);
    char *b2 = cu_slurp_len(path, &l2);
    snprintf(path, sizeof path, "%s/h32.npy", cu_dir);
    char *b32 = cu_slurp_len(path, &l32);
    cr_assert(b1 && b2 && b32);
    cr_expect(l1 == l2 && memcmp(b1, b2, l1) == 0, "1 and 2 threads differ");
    cr_expect(l32 > 128 && strstr(b32 + 10, "'descr': '<f4'") != NULL, "float32 header"); /* after magic, length */
    cr_expect(l1 > 128 && strstr(b1 + 10, "'descr': '<f8'") != NULL, "float64 header");
    linstab_array a = read_npy("h1.npy"), f = read_npy("h32.npy");
    cr_assert_eq(a.ndim, 3);
    cr_assert(f.ndim == 3 && f.shape[0] == a.shape[0] && f.shape[1] == a.shape[1] && f.shape[2] == a.shape[2]);
    size_t count = a.shape[0] * a.shape[1] * a.shape[2], off = 0;
    cr_expect_lt(l32, l1 / 2 + 200, "float32 is half the bytes");
    for (size_t j = 0; j < count; j++) off += f.data[j] != (double)(float)a.data[j];
    cr_expect_eq(off, 0, "%zu of %zu entries are not the float64 ones rounded", off, count);
    /* and the float64 file is the per-sample Hessians (the streamed path at the command) */
    linstab_mlp *m = NULL;
    linstab_error err;
    snprintf(path, sizeof path, "%s/m", cu_dir);
    cr_assert_eq(linstab_mlp_load(path, &m, &err), LINSTAB_OK, "%s", err.msg);
    linstab_array X = read_npy("m/X.npy"), Y = read_npy("m/Y.npy");
    size_t p = m->p, K = 3;
    double *Hi = malloc(p * p * sizeof *Hi);
    for (size_t i = 0; i < a.shape[0]; i += 13) {
        size_t lab = 0;
        if (Y.ndim == 2)
            for (size_t c = 1; c < K; c++) lab = Y.data[i * K + c] > Y.data[i * K + lab] ? c : lab;
        double y = Y.ndim == 2 ? (double)lab : Y.data[i];
        cr_assert_eq(linstab_mlp_sample_hessian(m, X.data + i * 3, &y, LINSTAB_LOSS_CE, 0.1, Hi, &err), LINSTAB_OK);
        cr_expect_eq(memcmp(Hi, a.data + i * p * p, p * p * sizeof *Hi), 0, "sample %zu", i);
    }
    free(Hi);
    linstab_mlp_free(m);
    /* --gn --float32: the factors rounded */
    cr_assert_eq(cu_run("%s --gn --out u.npy --quiet", base), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run("%s --gn --float32 --out u32.npy --quiet", base), 0, "%s", cu_slurp(cu_err));
    linstab_array u = read_npy("u.npy"), u32 = read_npy("u32.npy");
    size_t uc = u.shape[0] * u.shape[1] * u.shape[2];
    off = 0;
    for (size_t j = 0; j < uc; j++) off += u32.data[j] != (double)(float)u.data[j];
    cr_expect_eq(off, 0, "--gn --float32: %zu entries off", off);
    /* bad combinations and input: a clear error, no file, no temporary */
    cr_expect_eq(cu_run("%s --matrix-free --float32", base), 2);
    msg = cu_slurp(cu_err);
    cr_expect(strstr(msg, "--float32") != NULL && strstr(msg, "--matrix-free") != NULL, "%s", msg);
    free(msg);
    cr_expect_eq(cu_run("%s --float32", base), 2);
    msg = cu_slurp(cu_err);
    cr_expect(strstr(msg, "--out") != NULL, "%s", msg);
    free(msg);
    double badlab[3] = {0, 1, 5};
    size_t sh[1] = {3};
    cu_write_npy("bad.npy", badlab, 1, sh);
    cr_expect_eq(cu_run("hessians --model m --data m/X.npy --targets bad.npy --loss ce --float32 --out hb.npy --quiet"), 1);
    cr_expect(!cu_exists("hb.npy"));
    cr_expect(!tmp_files_left(), "a temporary file was left");
    free(b1);
    free(b2);
    free(b32);
    free(a.data);
    free(f.data);
    free(u.data);
    free(u32.data);
    free(X.data);
    free(Y.data);
}
