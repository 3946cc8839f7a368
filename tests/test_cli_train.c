/*
 * test_cli_train.c -- `linstab train` end to end: the SAM -> SGD switch is
 * SAM for S steps then SGD resumed from that checkpoint (bitwise, through
 * --init-from and --start-step); --init-from with no step reproduces the
 * checkpoint's evaluation; the test columns are linstab_mlp_evaluate on
 * the final model; a diverging run leaves the whole log and status 3; the
 * monitor's eta_star is `linstab critical` on the same subsample at the
 * checkpoint of that step; bad inputs exit 2 and write nothing.
 */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "linstab/data.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/train.h"
#include "testutil.h"

TestSuite(cli_train, .init = cu_setup, .fini = cu_teardown);

/* The log of checkpoint dir (caller frees). */
static char *train_log(const char *dir)
{
    char p[800];
    snprintf(p, sizeof p, "%s/%s/train_log.csv", cu_dir, dir);
    return cu_slurp(p);
}

/* Column `col` of the row of step `step` in a log ("" -> NaN; a missing
 * row or column fails the test). */
static double log_value(const char *log, size_t step, const char *col)
{
    const char *nl = strchr(log, '\n');
    cr_assert_not_null(nl, "no header: %s", log);
    size_t idx = 0, len = strlen(col);
    int found = 0;
    for (const char *c = log; c < nl; idx++) {
        const char *e = c;
        while (e < nl && *e != ',') e++;
        if ((size_t)(e - c) == len && strncmp(c, col, len) == 0) {
            found = 1;
            break;
        }
        c = e + 1;
        if (e >= nl) break;
    }
    cr_assert(found, "no column %s in %.*s", col, (int)(nl - log), log);
    for (const char *row = nl + 1; *row; row = strchr(row, '\n') + 1) {
        if (strtoul(row, NULL, 10) == step && row[0] != '\n') {
            const char *c = row;
            for (size_t k = 0; k < idx; k++) {
                c = strpbrk(c, ",\n");
                cr_assert(c != NULL && *c == ',', "row %zu is short", step);
                c++;
            }
            if (*c == ',' || *c == '\n' || *c == '\0') return NAN;
            return strtod(c, NULL);
        }
        if (strchr(row, '\n') == NULL) break;
    }
    cr_assert_fail("no row for step %zu in\n%s", step, log);
    return NAN;
}

/* The number of data rows of a log. */
static size_t log_rows(const char *log)
{
    size_t c = 0;
    for (const char *p = strchr(log, '\n'); p && p[1]; p = strchr(p + 1, '\n')) c++;
    return c;
}

/* 1 if the weight files of two checkpoints are byte-identical. */
static int same_weights(const char *a, const char *b)
{
    const char *files[] = {"W1.npy", "b1.npy", "W2.npy", "b2.npy"};
    for (size_t k = 0; k < 4; k++) {
        char pa[800], pb[800];
        snprintf(pa, sizeof pa, "%s/%s/%s", cu_dir, a, files[k]);
        snprintf(pb, sizeof pb, "%s/%s/%s", cu_dir, b, files[k]);
        size_t la = 0, lb = 0;
        char *x = cu_slurp_len(pa, &la), *y = cu_slurp_len(pb, &lb);
        cr_assert(x != NULL && y != NULL, "%s or %s missing", pa, pb);
        int same = la == lb && memcmp(x, y, la) == 0;
        free(x);
        free(y);
        if (!same) return 0;
    }
    return 1;
}

#define NET "--layers 3,6,1 --teacher 48 --batch 8 --eta 0.05 --rho 0.1 --seed 3 --log-every 5 --quiet"

Test(cli_train, sam_then_sgd_equals_sam_for_s_steps_then_sgd_resumed_from_that_checkpoint_bitwise)
{
    cr_assert_eq(cu_run("train " NET " --optimizer sam-unnormalized --sgd-from 12 --steps 30 --out A"), 0, "%s",
                 cu_slurp(cu_err));
    cr_assert_eq(cu_run("train " NET " --optimizer sam-unnormalized --steps 12 --out S"), 0);
    cr_assert_eq(cu_run("train --init-from S --teacher 48 --batch 8 --eta 0.05 --seed 3 --log-every 5 --quiet "
                        "--optimizer sgd --start-step 12 --steps 30 --out R"),
                 0, "%s", cu_slurp(cu_err));
    cr_expect(same_weights("A", "R"), "SAM -> SGD at 12 differs from SAM 12 steps + SGD from the checkpoint");
    /* the controls: SAM throughout, and SGD throughout, end elsewhere */
    cr_assert_eq(cu_run("train " NET " --optimizer sam-unnormalized --steps 30 --out SAM"), 0);
    cr_assert_eq(cu_run("train " NET " --optimizer sgd --steps 30 --out SGD"), 0);
    cr_expect(!same_weights("A", "SAM") && !same_weights("A", "SGD"));
    /* the logs agree on the resumed steps */
    char *la = train_log("A"), *lr = train_log("R");
    cr_expect_eq(log_rows(lr), 4, "%s", lr);
    for (size_t s = 15; s <= 30; s += 5)
        cr_expect_eq(log_value(la, s, "loss"), log_value(lr, s, "loss"), "step %zu", s);
    free(la);
    free(lr);
}

Test(cli_train, init_from_with_zero_steps_reproduces_the_checkpoint_evaluation)
{
    cr_assert_eq(cu_run("train " NET " --steps 20 --out A"), 0);
    cr_assert_eq(cu_run("train --init-from A --teacher 48 --seed 3 --steps 0 --quiet --out Z"), 0, "%s",
                 cu_slurp(cu_err));
    char *la = train_log("A"), *lz = train_log("Z");
    cr_expect_eq(log_rows(lz), 1, "%s", lz);
    cr_expect_eq(log_value(lz, 0, "loss"), log_value(la, 20, "loss"));
    cr_expect_eq(log_value(lz, 0, "accuracy"), log_value(la, 20, "accuracy"));
    /* and it is linstab_mlp_evaluate of the checkpoint on the data */
    char p[800];
    snprintf(p, sizeof p, "%s/A", cu_dir);
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_load(p, &m, &err), LINSTAB_OK, "%s", err.msg);
    linstab_array X, Y;
    cr_assert_eq(linstab_data_teacher_student(m->sizes, m->nlayers, m->act, 48, 3, &X, &Y, &err), LINSTAB_OK);
    double L, acc;
    cr_assert_eq(linstab_mlp_evaluate(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &L, &acc, &err), LINSTAB_OK);
    cr_expect_eq(log_value(lz, 0, "loss"), L);
    cr_expect(same_weights("A", "Z"));
    /* a checkpoint with an output activation keeps it */
    cr_assert_eq(cu_run("train " NET " --output-activation tanh --steps 20 --out T"), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run("train --init-from T --teacher 48 --seed 3 --steps 0 --quiet --out TZ"), 0, "%s",
                 cu_slurp(cu_err));
    char *lt = train_log("T"), *ltz = train_log("TZ");
    cr_expect_eq(log_value(ltz, 0, "loss"), log_value(lt, 20, "loss"));
    free(lt);
    free(ltz);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
    free(la);
    free(lz);
}

Test(cli_train, test_columns_are_the_evaluation_of_the_final_model_on_the_test_set)
{
    size_t nt = 20, shx[2] = {nt, 3}, shy[2] = {nt, 1};
    double xt[60], yt[20];
    gsl_rng *r = tu_rng(12);
    tu_gauss(r, xt, 60);
    tu_gauss(r, yt, 20);
    gsl_rng_free(r);
    cu_write_npy("Xt.npy", xt, 2, shx);
    cu_write_npy("Yt.npy", yt, 2, shy);
    cr_assert_eq(cu_run("train " NET " --steps 23 --test-data Xt.npy --test-targets Yt.npy --out A"), 0, "%s",
                 cu_slurp(cu_err));
    char *la = train_log("A");
    cr_expect(strncmp(la, "step,eta,batch_loss,loss,accuracy,sharpness,test_loss,test_accuracy\n", 68) == 0, "%s",
              la);
    cr_expect_eq(log_rows(la), 5, "%s", la); /* 5, 10, 15, 20 and the last, 23 */
    char p[800];
    snprintf(p, sizeof p, "%s/A", cu_dir);
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_load(p, &m, &err), LINSTAB_OK, "%s", err.msg);
    linstab_array X = {2, {nt, 3}, xt}, Y = {2, {nt, 1}, yt};
    double L, acc;
    cr_assert_eq(linstab_mlp_evaluate(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, &L, &acc, &err), LINSTAB_OK);
    cr_expect_eq(log_value(la, 23, "test_loss"), L, "%.17g vs %.17g", log_value(la, 23, "test_loss"), L);
    cr_expect_eq(log_value(la, 23, "test_accuracy"), acc);
    cr_expect(log_value(la, 5, "test_loss") != L);
    linstab_mlp_free(m);
    /* --teacher-test N: N more teacher samples; the training set is unchanged */
    cr_assert_eq(cu_run("train " NET " --steps 23 --out B"), 0);
    cr_assert_eq(cu_run("train " NET " --steps 23 --teacher-test 16 --out C"), 0);
    cr_expect(same_weights("B", "C"));
    char *lc = train_log("C");
    cr_expect(isfinite(log_value(lc, 23, "test_loss")), "%s", lc);
    free(lc);
    free(la);
}

Test(cli_train, a_diverging_run_leaves_every_logged_row_and_the_diverging_one_with_status_3)
{
    int rc = cu_run("train --layers 3,8,2 --teacher 64 --teacher-test 16 --steps 200 --batch 8 --eta 30 "
                    "--log-every 2 --monitor-every 2 --monitor-samples 8 --quiet --out t");
    char *out = cu_slurp(cu_out);
    cr_assert_eq(rc, 3, "status %d: %s", rc, out);
    const char *at = strstr(out, "diverged at step ");
    cr_assert_not_null(at, "%s", out);
    size_t S = strtoul(at + strlen("diverged at step "), NULL, 10);
    cr_assert(S >= 3 && S < 200, "diverged at %zu: choose an eta that takes a few steps", S);
    char *log = train_log("t");
    /* rows 2, 4, ..., below S, then S */
    size_t want = (S - 1) / 2 + 1;
    cr_expect_eq(log_rows(log), want, "S = %zu:\n%s", S, log);
    for (size_t s = 2; s < S; s += 2) {
        cr_expect(isfinite(log_value(log, s, "loss")), "step %zu", s);
        cr_expect(isfinite(log_value(log, s, "test_loss")), "step %zu", s);
        cr_expect(isfinite(log_value(log, s, "eta_star")), "step %zu", s);
    }
    (void)log_value(log, S, "loss"); /* the diverging row is there */
    cr_expect(isnan(log_value(log, S, "eta_star")), "no monitor at the diverging step");
    /* nothing staged is left */
    DIR *d = opendir(cu_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) cr_expect(strstr(e->d_name, "tmp") == NULL, "%s left", e->d_name);
    closedir(d);
    cr_expect(cu_exists("t/model.json"));
    free(log);
    free(out);
}

/* `linstab critical --json` at checkpoint dir on the monitor's subsample of
 * the teacher data (n, seed), batch B: the JSON (caller frees). */
static char *critical_on_subsample(const char *dir, size_t n, size_t M, uint64_t seed, size_t B, const char *sam)
{
    char p[800];
    snprintf(p, sizeof p, "%s/%s", cu_dir, dir);
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_load(p, &m, &err), LINSTAB_OK, "%s", err.msg);
    linstab_array X, Y;
    cr_assert_eq(linstab_data_teacher_student(m->sizes, m->nlayers, m->act, n, seed, &X, &Y, &err), LINSTAB_OK);
    size_t *idx = malloc(M * sizeof *idx), d0 = m->sizes[0], k = m->sizes[m->nlayers];
    double *xs = malloc(M * d0 * sizeof *xs), *ys = malloc(M * k * sizeof *ys);
    linstab_train_monitor_indices(n, M, seed, idx);
    for (size_t j = 0; j < M; j++) {
        memcpy(xs + j * d0, X.data + idx[j] * d0, d0 * sizeof *xs);
        memcpy(ys + j * k, Y.data + idx[j] * k, k * sizeof *ys);
    }
    size_t shx[2] = {M, d0}, shy[2] = {M, k};
    cu_write_npy("Xs.npy", xs, 2, shx);
    cu_write_npy("Ys.npy", ys, 2, shy);
    cr_assert_eq(cu_run("critical --model %s --data Xs.npy --targets Ys.npy --batches %zu --json %s", dir, B, sam),
                 0, "%s", cu_slurp(cu_err));
    free(idx);
    free(xs);
    free(ys);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
    return cu_slurp(cu_out);
}

Test(cli_train, the_monitor_eta_star_is_linstab_critical_on_the_same_subsample_at_that_checkpoint)
{
    /* 3,4,1: p = 21 < M k = 24, so critical builds the family from the
     * Jacobian factors (not the NTK Gram matrix the monitor uses) */
    cr_assert_eq(cu_run("train --layers 3,4,1 --teacher 60 --steps 10 --batch 8 --eta 0.05 --seed 5 "
                        "--monitor-every 10 --monitor-samples 24 --quiet --out K"),
                 0, "%s", cu_slurp(cu_err));
    char *log = train_log("K");
    char *js = critical_on_subsample("K", 60, 24, 5, 8, "");
    double es = cu_json_number(js, "rows", "critical_eta"), l1 = cu_json_number(js, NULL, "sharpness");
    double mes = log_value(log, 10, "eta_star_sgd"), me = log_value(log, 10, "eta_star");
    cr_expect(fabs(mes - es) <= 1e-9 * es, "monitor %.17g vs critical %.17g", mes, es);
    cr_expect_eq(me, mes, "SGD: eta_star is SGD's");
    cr_expect(fabs(log_value(log, 10, "monitor_sharpness") - l1) <= 1e-10 * l1);
    cr_expect(log_value(log, 10, "eta") / me < 1.0);
    free(js);
    free(log);
    /* SAM with independent ascent batches at rho */
    cr_assert_eq(cu_run("train --layers 3,4,1 --teacher 60 --steps 10 --batch 8 --eta 0.05 --seed 5 "
                        "--optimizer sam-unnormalized --independent-ascent --rho 0.2 "
                        "--monitor-every 10 --monitor-samples 24 --quiet --out KS"),
                 0, "%s", cu_slurp(cu_err));
    log = train_log("KS");
    js = critical_on_subsample("KS", 60, 24, 5, 8, "--rho 0.2 --sam-variant independent");
    double ez = cu_json_number(js, "rows", "critical_eta_sam");
    me = log_value(log, 10, "eta_star");
    cr_expect(isfinite(ez) && fabs(me - ez) <= 1e-9 * ez, "monitor %.17g vs critical %.17g", me, ez);
    cr_expect(me < log_value(log, 10, "eta_star_sgd"));
    free(js);
    free(log);
}

Test(cli_train, bad_switches_checkpoints_and_test_sets_exit_2_and_write_nothing)
{
    cr_assert_eq(cu_run("train " NET " --steps 10 --out A"), 0);
    size_t sh[2] = {48, 5}, sht[2] = {10, 4};
    double x[240] = {0}, y[48] = {0};
    cu_write_npy("X5.npy", x, 2, sh);
    size_t shy[2] = {48, 1};
    cu_write_npy("Y1.npy", y, 2, shy);
    cu_write_npy("Xt4.npy", x, 2, sht);
    size_t shyt[2] = {10, 1};
    cu_write_npy("Yt.npy", y, 2, shyt);
    const char *bad[] = {
        "train " NET " --optimizer sam-unnormalized --sgd-from 41 --steps 40 --out bad",
        "train " NET " --optimizer sam-unnormalized --sam-from 41 --steps 40 --out bad",
        "train " NET " --optimizer sam-unnormalized --sam-from 20 --sgd-from 10 --steps 40 --out bad",
        "train " NET " --optimizer sam-unnormalized --sam-from 10 --sgd-from 10 --steps 40 --out bad",
        "train " NET " --optimizer sgd --sgd-from 10 --steps 40 --out bad",
        "train " NET " --steps 0 --out bad",
        "train " NET " --start-step 3 --steps 10 --out bad",
        "train --init-from A --teacher 48 --start-step 11 --steps 10 --quiet --out bad",
        "train --init-from A --layers 3,7,1 --teacher 48 --steps 5 --quiet --out bad",
        "train --init-from A --activation relu --teacher 48 --steps 5 --quiet --out bad",
        "train --init-from A --no-bias --teacher 48 --steps 5 --quiet --out bad",
        "train --init-from A --output-activation tanh --teacher 48 --steps 5 --quiet --out bad",
        "train --init-from A --init-seed 4 --teacher 48 --steps 5 --quiet --out bad",
        "train --init-from A --data X5.npy --targets Y1.npy --steps 5 --quiet --out bad",
        "train " NET " --steps 5 --test-data Xt4.npy --test-targets Yt.npy --out bad",
        "train " NET " --steps 5 --test-data Xt4.npy --out bad",
        "train " NET " --steps 5 --teacher-test 0 --out bad",
        "train --layers 3,6,2 --teacher 48 --loss ce --monitor-samples 8 --steps 5 --quiet --out bad",
        "train " NET " --steps 5 --monitor-samples 8 --out bad",
        "train " NET " --steps 5 --monitor-every 0 --out bad",
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        int rc = cu_run("%s", bad[k]);
        char *err = cu_slurp(cu_err);
        cr_expect_eq(rc, 2, "%s: status %d, %s", bad[k], rc, err);
        cr_expect(strstr(err, "error") != NULL, "%s: %s", bad[k], err);
        cr_expect(!cu_exists("bad"), "%s wrote bad/", bad[k]);
        if (k == 13) /* the checkpoint's and the data's shapes are named */
            cr_expect(strstr(err, "width 3") != NULL && strstr(err, "48 x 5") != NULL, "%s", err);
        if (k == 14) cr_expect(strstr(err, "10 x 4") != NULL, "%s", err);
        free(err);
    }
    /* and nothing was staged beside them */
    DIR *d = opendir(cu_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) cr_expect(strstr(e->d_name, "tmp") == NULL, "%s left", e->d_name);
    closedir(d);
}

/* --loss ce on a teacher: each label is the class of the teacher's largest
 * output, i.e. the argmax of the targets the same teacher gives for mse */
static linstab_array read_dir_npy(const char *dir, const char *name)
{
    char path[900];
    snprintf(path, sizeof path, "%s/%s/%s", cu_dir, dir, name);
    linstab_array a = {0};
    linstab_error err;
    cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    return a;
}

Test(cli_train, ce_on_a_teacher_labels_each_sample_by_the_teacher_s_largest_output)
{
    const char *net = "--layers 3,6,4 --teacher 40 --teacher-test 10 --steps 5 --eta 0.1 --batch 8 --seed 2 "
                      "--save-data --quiet";
    cr_assert_eq(cu_run("train %s --loss mse --out M", net), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run("train %s --loss ce --out C", net), 0, "%s", cu_slurp(cu_err));
    const char *names[2][2] = {{"X.npy", "Y.npy"}, {"test_X.npy", "test_Y.npy"}};
    size_t seen[4] = {0};
    for (int t = 0; t < 2; t++) {
        linstab_array xm = read_dir_npy("M", names[t][0]), xc = read_dir_npy("C", names[t][0]);
        linstab_array ym = read_dir_npy("M", names[t][1]), yc = read_dir_npy("C", names[t][1]);
        size_t n = t == 0 ? 40 : 10;
        cr_assert_eq(ym.ndim, 2);
        cr_assert_eq(yc.ndim, 1, "ce targets are labels");
        cr_assert_eq(ym.shape[0], n);
        cr_assert_eq(yc.shape[0], n);
        cr_expect_eq(memcmp(xm.data, xc.data, linstab_npy_array_size(&xm) * sizeof(double)), 0, "same inputs");
        for (size_t i = 0; i < n; i++) {
            size_t best = 0;
            for (size_t k = 1; k < 4; k++)
                if (ym.data[i * 4 + k] > ym.data[i * 4 + best]) best = k;
            cr_expect_eq(yc.data[i], (double)best, "%s row %zu", names[t][1], i);
            seen[best]++;
        }
        free(xm.data);
        free(xc.data);
        free(ym.data);
        free(yc.data);
    }
    int classes = 0;
    for (int k = 0; k < 4; k++) classes += seen[k] > 0;
    cr_expect(classes >= 2, "the labels are not all one class");
}


/* The bar counts the steps; while train computes the sharpness its label
 * says so (LINSTAB_PROGRESS=1: also off a terminal); --quiet: nothing. */
Test(cli_train, the_bar_gives_an_eta_over_the_steps_and_says_sharpness_while_computing_it)
{
    const char *net = "--layers 3,6,1 --teacher 48 --batch 8 --eta 0.05 --seed 3 --log-every 5";
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "train %s --steps 120 --sharpness-every 40 --out P", net), 0);
    char *e = cu_slurp(cu_err);
    cr_expect(strncmp(e, "train      [", 12) == 0 && strstr(e, "0/120, 0.0 s, ETA --") != NULL, "%s", e);
    cr_expect(strstr(e, "\nsharpness  [") != NULL, "no sharpness label: %s", e);
    cr_expect(strstr(e, "] 120/120 done in ") != NULL, "no last line: %s", e);
    char *last = strstr(e, "done in");
    while (last != NULL && last > e && last[-1] != '\n') last--;
    cr_expect(last != NULL && strncmp(last, "train      [", 12) == 0, "the last line is train's: %s", e);
    free(e);
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "train %s --steps 120 --sharpness-every 40 --out Q --quiet", net), 0);
    e = cu_slurp(cu_err);
    cr_expect_str_eq(e, "", "--quiet");
    free(e);
    /* resumed at step 120 of 200: the 120 in done, not in the rate */
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "train --init-from P --teacher 48 --batch 8 --eta 0.05 --seed 3 --log-every 5 "
                              "--start-step 120 --steps 200 --out R"), 0);
    e = cu_slurp(cu_err);
    cr_expect(strstr(e, "] 120/200 (0 this run), 0.0 s, ETA --") != NULL, "%s", e);
    cr_expect(strstr(e, "] 200/200 (80 this run) done in ") != NULL, "%s", e);
    free(e);
}
