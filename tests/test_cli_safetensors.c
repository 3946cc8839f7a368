/*
 * test_cli_safetensors.c -- --model FILE.safetensors end to end: `train
 * --safetensors` writes DIR/model.safetensors; `hessians`, `check`,
 * `critical` and `dynamics` given that file (with --activation, or the
 * activation the file records) print and write exactly what they do given
 * the folder; a state dict without metadata (as torch's save_file writes
 * it) needs --activation; malformed files and bad activations fail with a
 * clear message (exit 1 or 2) and write nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "linstab/safetensors.h"
#include "testutil.h"

TestSuite(cli_safetensors, .init = cu_setup, .fini = cu_teardown);

#define TRAIN "train --layers 3,5,2 --teacher 12 --batch 4 --eta 0.05 --steps 40 --seed 2 --quiet --save-data"

static void train_model(void)
{
    cr_assert_eq(cu_run(TRAIN " --safetensors --out M"), 0, "%s", cu_slurp(cu_err));
    cr_assert(cu_exists("M/model.safetensors"));
    cr_assert(cu_exists("M/model.json"));
}

/* M/model.safetensors rewritten without __metadata__ as T.safetensors. */
static void strip_metadata(void)
{
    char in[800], out[800];
    snprintf(in, sizeof in, "%s/M/model.safetensors", cu_dir);
    snprintf(out, sizeof out, "%s/T.safetensors", cu_dir);
    linstab_safetensors st;
    linstab_error err = {0};
    cr_assert_eq(linstab_safetensors_read(in, 0, &st, &err), LINSTAB_OK, "%s", err.msg);
    const char *names[8];
    linstab_array arr[8];
    cr_assert(st.count <= 8);
    for (size_t i = 0; i < st.count; i++) {
        names[i] = st.tensors[i].name;
        arr[i] = st.tensors[i].array;
    }
    cr_assert_eq(linstab_safetensors_write(out, st.count, names, arr, 0, NULL, NULL, &err), LINSTAB_OK, "%s", err.msg);
    linstab_safetensors_free(&st);
}

static void assert_same_files(const char *a, const char *b)
{
    char pa[800], pb[800];
    snprintf(pa, sizeof pa, "%s/%s", cu_dir, a);
    snprintf(pb, sizeof pb, "%s/%s", cu_dir, b);
    size_t la = 0, lb = 0;
    char *x = cu_slurp_len(pa, &la), *y = cu_slurp_len(pb, &lb);
    cr_assert_not_null(x, "%s missing", a);
    cr_assert_not_null(y, "%s missing", b);
    cr_assert_eq(la, lb, "%s and %s differ in length", a, b);
    cr_assert_eq(memcmp(x, y, la), 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

#define DATA "--data M/X.npy --targets M/Y.npy --loss mse"

Test(cli_safetensors, hessians_from_the_safetensors_file_equal_those_from_the_folder)
{
    train_model();
    cr_assert_eq(cu_run("hessians --model M " DATA " --out H_dir.npy --quiet"), 0, "%s", cu_slurp(cu_err));
    cr_assert_eq(cu_run("hessians --model M/model.safetensors --activation tanh " DATA " --out H_st.npy --quiet"), 0,
                 "%s", cu_slurp(cu_err));
    assert_same_files("H_dir.npy", "H_st.npy");
    cr_assert_eq(cu_run("hessians --model M/model.safetensors " DATA " --gn --out G_st.npy --quiet"), 0, "%s",
                 cu_slurp(cu_err));
    cr_assert_eq(cu_run("hessians --model M " DATA " --gn --out G_dir.npy --quiet"), 0, "%s", cu_slurp(cu_err));
    assert_same_files("G_dir.npy", "G_st.npy");
}

/* stdout of `linstab ARGS` with every occurrence of `from` replaced by `to`
 * (caller frees). */
static char *output_of(const char *args, const char *from, const char *to)
{
    int rc = cu_run("%s", args);
    cr_assert_eq(rc, 0, "%s: %s", args, cu_slurp(cu_err));
    char *s = cu_slurp(cu_out), *r = malloc(2 * strlen(s) + 1024);
    size_t at = 0;
    for (const char *p = s; *p;) {
        if (from != NULL && strncmp(p, from, strlen(from)) == 0) {
            at += (size_t)sprintf(r + at, "%s", to);
            p += strlen(from);
        } else r[at++] = *p++;
    }
    r[at] = '\0';
    free(s);
    return r;
}

Test(cli_safetensors, a_torch_state_dict_with_activation_gives_the_folders_check_critical_and_dynamics)
{
    train_model();
    strip_metadata();
    const char *cmds[][2] = {
        {"check --model M " DATA " --eta 0.05 --batch 4 --no-exact --json",
         "check --model T.safetensors --activation tanh " DATA " --eta 0.05 --batch 4 --no-exact --json"},
        {"critical --model M " DATA " --batch 4 --json",
         "critical --model T.safetensors --activation tanh " DATA " --batch 4 --json"},
        {"dynamics --model M " DATA " --optimizer sgd --eta 0.05 --batch 4 --steps 5 --seed 1",
         "dynamics --model T.safetensors --activation tanh " DATA " --optimizer sgd --eta 0.05 --batch 4 --steps 5 "
         "--seed 1"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char *a = output_of(cmds[i][0], NULL, NULL);
        char *b = output_of(cmds[i][1], "T.safetensors", "M");
        cr_assert_str_eq(a, b, "%s\n---\n%s", cmds[i][0], cmds[i][1]);
        free(a);
        free(b);
    }
    /* without the activation: a usage error naming the flag */
    cr_assert_eq(cu_run("check --model T.safetensors " DATA " --eta 0.05 --batch 4 --no-exact"), 2);
    char *e = cu_slurp(cu_err);
    cr_assert_not_null(strstr(e, "--activation"), "%s", e);
    free(e);
}

Test(cli_safetensors, bad_files_and_activations_fail_clearly_and_write_nothing)
{
    train_model();
    strip_metadata();
    /* an activation other than the one the file records */
    cr_assert_eq(cu_run("hessians --model M/model.safetensors --activation relu " DATA " --out H.npy"), 2);
    cr_assert(!cu_exists("H.npy"));
    /* a name that is no activation; an activation for a folder */
    cr_assert_eq(cu_run("check --model T.safetensors --activation swish " DATA " --eta 0.05 --batch 4 --no-exact"), 2);
    char *e = cu_slurp(cu_err);
    cr_assert_not_null(strstr(e, "swish"), "%s", e);
    free(e);
    cr_assert_eq(cu_run("check --model M --activation tanh " DATA " --eta 0.05 --batch 4 --no-exact"), 2);
    e = cu_slurp(cu_err);
    cr_assert_not_null(strstr(e, "model.json"), "%s", e);
    free(e);
    /* truncated: the first 100 bytes of the file */
    char p[800];
    snprintf(p, sizeof p, "%s/M/model.safetensors", cu_dir);
    size_t len = 0;
    char *bytes = cu_slurp_len(p, &len);
    cr_assert(len > 100);
    cu_write_file("cut.safetensors", bytes, 100);
    cr_assert_eq(cu_run("hessians --model cut.safetensors " DATA " --out H.npy"), 1);
    e = cu_slurp(cu_err);
    cr_assert_not_null(strstr(e, "cut.safetensors"), "%s", e);
    free(e);
    cr_assert_eq(cu_run("critical --model cut.safetensors --activation tanh " DATA " --batch 4"), 1);
    e = cu_slurp(cu_err);
    cr_assert_not_null(strstr(e, "cut.safetensors"), "%s", e);
    cr_assert(strstr(e, "truncated") != NULL || strstr(e, "beyond") != NULL, "%s", e);
    free(e);
    /* a dtype linstab does not read */
    char *bad = malloc(len);
    memcpy(bad, bytes, len);
    char *f64 = strstr(bad + 8, "F64");
    cr_assert_not_null(f64);
    memcpy(f64, "I64", 3);
    cu_write_file("i64.safetensors", bad, len);
    cr_assert_eq(cu_run("check --model i64.safetensors " DATA " --eta 0.05 --batch 4 --no-exact"), 1);
    e = cu_slurp(cu_err);
    cr_assert_not_null(strstr(e, "unsupported dtype 'I64'"), "%s", e);
    free(e);
    free(bad);
    free(bytes);
    cr_assert(!cu_exists("H.npy"));
    /* --activation without --model */
    cr_assert_eq(cu_run("check --family H_none.npy --activation tanh --eta 0.05 --batch 4"), 2);
}
