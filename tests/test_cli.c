/*
 * test_cli.c -- end-to-end tests of the linstab command: help texts, the
 * JSON contract of `check`, closed forms through the whole pipeline, and
 * every bad-input case (one clear line on stderr, exit status 1 or 2, no
 * half-written output).  The binary comes from $LINSTAB_BIN (set by meson).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "linstab/npy.h"
#include "testutil.h"

TestSuite(cli, .init = cu_setup, .fini = cu_teardown);

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Expect failure with `status`, one line on stderr containing `needle`. */
static void expect_error(int got, int status, const char *needle)
{
    char *err = cu_slurp(cu_err);
    cr_expect_eq(got, status, "exit status %d, want %d; stderr: %s", got, status, err);
    cr_expect(strstr(err, needle) != NULL, "stderr lacks '%s': %s", needle, err);
    cr_expect_eq(count_lines(err), 1, "stderr should be one line: %s", err);
    free(err);
}

/* A small valid dense family: H_0 = diag(2, 1), H_1 = [[1, 1], [1, 1]]. */
static void write_small_family(void)
{
    double H[8] = {2, 0, 0, 1, 1, 1, 1, 1};
    size_t shape[3] = {2, 2, 2};
    cu_write_npy("small.npy", H, 3, shape);
}

Test(cli, help_lists_every_command_and_check_help_documents_every_option)
{
    cr_expect_eq(cu_run("--help"), 0);
    char *out = cu_slurp(cu_out);
    cr_expect(strstr(out, "check") && strstr(out, "gen"), "%s", out);
    free(out);
    cr_expect_eq(cu_run("check --help"), 0);
    out = cu_slurp(cu_out);
    const char *opts[] = {"--family", "--factors", "--diag", "--eta", "--batch", "--rho",
                          "--sampling", "--json", "--out", "--allow-indefinite", "--sym-tol",
                          "--rank-tol", "--max-memory"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        cr_expect(strstr(out, opts[i]) != NULL, "check --help lacks %s", opts[i]);
    free(out);
    cr_expect_eq(cu_run("gen --help"), 0);
    cr_expect_eq(cu_run("--version"), 0);
}

Test(cli, check_json_has_every_required_key)
{
    write_small_family();
    cr_assert_eq(cu_run("check --family small.npy --eta 0.5 --batch 1 --rho 0.1 --json"), 0);
    char *json = cu_slurp(cu_out);
    const char *keys[] = {"n", "d", "rank", "eta", "batch", "rho", "sampling", "geometry",
                          "sharpness", "trace", "frobenius", "max_individual_sharpness", "sigma",
                          "lambda1_S", "s2", "s3", "s4", "m2_gap", "m3_gap", "m4_gap",
                          "gamma_min", "bounds", "gd", "threshold", "diverges", "dexter_thm1",
                          "dexter_thm2", "shin_thm9", "lambda_max", "stable", "shin_eq7",
                          "sam_late_thm41", "lhs", "rhs", "stable_necessary",
                          "sam_late_thm41_corrected", "batch_eff"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\":", keys[i]);
        cr_expect(strstr(json, pat) != NULL, "JSON lacks key %s", keys[i]);
    }
    /* H = [[1.5, .5], [.5, 1]]: trace 2.5, ||H||_F^2 = 2.25 + .5 + 1 */
    cr_expect_lt(fabs(cu_json_number(json, "geometry", "trace") - 2.5), 1e-14);
    cr_expect_lt(fabs(cu_json_number(json, "geometry", "frobenius") - sqrt(3.75)), 1e-14);
    cr_expect_lt(fabs(cu_json_number(json, NULL, "rank") - 2.0), 0.0 + 1e-300);
    free(json);
}

Test(cli, check_reproduces_the_dexter_construction_closed_forms)
{
    cr_assert_eq(cu_run("gen --kind dexter --n 100 --sigma 5 --out dex.npy"), 0);
    cr_assert_eq(cu_run("check --diag dex.npy --eta 0.8 --batch 9 --sampling bernoulli --json"), 0);
    char *json = cu_slurp(cu_out);
    cr_expect_lt(fabs(cu_json_number(json, "geometry", "sharpness") - 2.0), 1e-13);
    cr_expect_lt(fabs(cu_json_number(json, "geometry", "sigma") - 5.0), 1e-12);
    /* Theorem 1: (sigma/eta)(n/B - 1)^(-1/2) at B = 9 is below 2: divergence */
    double thr = 5.0 / 0.8 / sqrt(100.0 / 9.0 - 1.0);
    cr_expect_lt(fabs(cu_json_number(json, "dexter_thm1", "threshold") - thr), 1e-13 * thr);
    cr_expect(strstr(strstr(json, "dexter_thm1"), "\"diverges\": true") != NULL);
    free(json);
    cr_assert_eq(cu_run("check --diag dex.npy --eta 0.8 --batch 10 --sampling bernoulli --json"), 0);
    json = cu_slurp(cu_out);
    const char *t1 = strstr(json, "dexter_thm1");
    cr_expect(strstr(t1, "\"diverges\": false") < strstr(t1, "dexter_thm2"));
    free(json);
}

Test(cli, check_text_report_gives_a_verdict_and_a_source_per_bound)
{
    write_small_family();
    cr_assert_eq(cu_run("check --family small.npy --eta 0.5 --batch 2"), 0);
    char *out = cu_slurp(cu_out);
    const char *needles[] = {"sharpness",
                             "coherence sigma",
                             "gamma_min",
                             "Dexter et al. (2024) Theorem 1",
                             "Dexter et al. (2024) Theorem 2",
                             "Shin et al. (2023) Theorem 9",
                             "Shin et al. (2023) (7)",
                             "Zhou et al. (2025) Theorem 4.1",
                             "docs/math.md"};
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        cr_expect(strstr(out, needles[i]) != NULL, "report lacks %s:\n%s", needles[i], out);
    free(out);
}

Test(cli, gen_writes_the_same_file_for_the_same_seed)
{
    cr_assert_eq(cu_run("gen --kind rank1 --n 20 --d 7 --seed 3 --out a.npy"), 0);
    cr_assert_eq(cu_run("gen --kind rank1 --n 20 --d 7 --seed 3 --out b.npy"), 0);
    cr_assert_eq(cu_run("gen --kind rank1 --n 20 --d 7 --seed 4 --out c.npy"), 0);
    char pa[700], pb[700], pc[700];
    snprintf(pa, sizeof pa, "%s/a.npy", cu_dir);
    snprintf(pb, sizeof pb, "%s/b.npy", cu_dir);
    snprintf(pc, sizeof pc, "%s/c.npy", cu_dir);
    char *a = cu_slurp(pa), *b = cu_slurp(pb), *c = cu_slurp(pc);
    linstab_array arr = {0};
    linstab_error err;
    cr_assert_eq(linstab_npy_read(pa, 0, &arr, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(arr.ndim, 3);
    cr_expect_eq(arr.shape[2], 1);
    size_t len = 128 + linstab_npy_array_size(&arr) * 8;
    linstab_npy_array_free(&arr);
    (void)len;
    FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb"), *fc = fopen(pc, "rb");
    int same_ab = 1, same_ac = 1, ca, cb, cc;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        cc = fgetc(fc);
        same_ab &= ca == cb;
        same_ac &= ca == cc;
    } while (ca != EOF);
    fclose(fa);
    fclose(fb);
    fclose(fc);
    cr_expect(same_ab, "same seed, different files");
    cr_expect(!same_ac, "different seeds, same file");
    free(a);
    free(b);
    free(c);
}

Test(cli, missing_file_is_a_data_error_naming_the_file)
{
    expect_error(cu_run("check --family nothere.npy --eta 1 --batch 1"), 1, "nothere.npy");
}

Test(cli, truncated_or_corrupt_npy_is_a_data_error)
{
    write_small_family();
    char path[700];
    snprintf(path, sizeof path, "%s/small.npy", cu_dir);
    char *bytes = cu_slurp(path);
    cu_write_file("trunc.npy", bytes, 100); /* header intact, data cut */
    expect_error(cu_run("check --family trunc.npy --eta 1 --batch 1"), 1, "trunc.npy");
    cu_write_file("hdr.npy", bytes, 20); /* header cut */
    expect_error(cu_run("check --family hdr.npy --eta 1 --batch 1"), 1, "hdr.npy");
    static const char junk[] = "PK\003\004 not an npy file at all";
    cu_write_file("magic.npy", junk, sizeof junk - 1);
    expect_error(cu_run("check --family magic.npy --eta 1 --batch 1"), 1, "magic.npy");
    free(bytes);
}

Test(cli, wrong_dtype_is_a_data_error)
{
    const char hdr[] = "\x93NUMPY\x01\x00\x76\x00{'descr': '<i8', 'fortran_order': False, "
                       "'shape': (1, 1, 1), }";
    char buf[128 + 8];
    memset(buf, ' ', 128);
    memcpy(buf, hdr, sizeof hdr - 1);
    buf[127] = '\n';
    memset(buf + 128, 0, 8);
    cu_write_file("int.npy", buf, sizeof buf);
    expect_error(cu_run("check --family int.npy --eta 1 --batch 1"), 1, "int.npy");
}

Test(cli, wrong_rank_or_shape_is_a_data_error)
{
    double z[12] = {1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1};
    size_t s2[2] = {3, 4};
    cu_write_npy("flat.npy", z, 2, s2);
    expect_error(cu_run("check --family flat.npy --eta 1 --batch 1"), 1, "(n, d, d)");
    size_t s3[3] = {1, 3, 4};
    cu_write_npy("rect.npy", z, 3, s3);
    expect_error(cu_run("check --family rect.npy --eta 1 --batch 1"), 1, "(1, 3, 4)");
    expect_error(cu_run("check --diag rect.npy --eta 1 --batch 1"), 1, "(n, d)");
}

Test(cli, nan_entries_are_a_data_error_naming_the_sample)
{
    double H[8] = {1, 0, 0, 1, 1, 0, 0, NAN};
    size_t shape[3] = {2, 2, 2};
    cu_write_npy("nan.npy", H, 3, shape);
    expect_error(cu_run("check --family nan.npy --eta 1 --batch 1"), 1, "sample 1");
}

Test(cli, asymmetric_and_indefinite_hessians_are_data_errors_naming_the_sample)
{
    double A[8] = {1, 0, 0, 1, 1, 0.5, 0, 1};
    size_t shape[3] = {2, 2, 2};
    cu_write_npy("asym.npy", A, 3, shape);
    expect_error(cu_run("check --family asym.npy --eta 1 --batch 1"), 1, "sample 1 is not symmetric");
    double I[8] = {1, 0, 0, 1, 1, 0, 0, -1};
    cu_write_npy("indef.npy", I, 3, shape);
    expect_error(cu_run("check --family indef.npy --eta 1 --batch 1"), 1,
                 "sample 1 is not positive semidefinite");
    cr_expect_eq(cu_run("check --family indef.npy --eta 1 --batch 1 --allow-indefinite --json"), 0);
}

Test(cli, bad_hyperparameters_are_usage_errors)
{
    write_small_family();
    expect_error(cu_run("check --family small.npy --eta 0 --batch 1"), 2, "--eta");
    expect_error(cu_run("check --family small.npy --eta -1 --batch 1"), 2, "--eta");
    expect_error(cu_run("check --family small.npy --eta 1 --batch 1 --rho -0.1"), 2, "--rho");
    expect_error(cu_run("check --family small.npy --eta 1 --batch 0"), 2, "--batch");
    expect_error(cu_run("check --family small.npy --eta 1 --batch 3"), 2, "[1, 2]");
    expect_error(cu_run("check --family small.npy --eta abc --batch 1"), 2, "--eta");
    expect_error(cu_run("check --family small.npy --batch 1"), 2, "--eta is required");
    expect_error(cu_run("check --family small.npy --eta 1 --batch 1 --sampling sometimes"), 2,
                 "--sampling");
    expect_error(cu_run("check --family small.npy --eta 1 --batch 1 --bogus"), 2, "--bogus");
    expect_error(cu_run("check --eta 1 --batch 1"), 2, "exactly one of");
    expect_error(cu_run("check --family small.npy --diag small.npy --eta 1 --batch 1"), 2,
                 "exactly one of");
    expect_error(cu_run("frobnicate"), 2, "unknown command");
}

Test(cli, a_family_too_large_for_memory_is_refused_before_allocating)
{
    write_small_family();
    expect_error(cu_run("check --family small.npy --eta 1 --batch 1 --max-memory 1e-9"), 1,
                 "memory");
}

Test(cli, zero_family_has_no_range)
{
    double Z[8] = {0};
    size_t shape[3] = {2, 2, 2};
    cu_write_npy("zero.npy", Z, 3, shape);
    expect_error(cu_run("check --family zero.npy --eta 1 --batch 1"), 1, "no range");
}

Test(cli, output_files_are_never_half_written)
{
    write_small_family();
    double Z[8] = {0};
    size_t shape[3] = {2, 2, 2};
    cu_write_npy("zero.npy", Z, 3, shape);
    cr_expect_neq(cu_run("check --family zero.npy --eta 1 --batch 1 --out report.txt"), 0);
    cr_expect(!cu_exists("report.txt"));
    cr_expect_eq(cu_run("check --family small.npy --eta 1 --batch 1 --out no/such/dir/r.txt"), 1);
    cr_expect_eq(cu_run("check --family small.npy --eta 1 --batch 1 --json --out report.json"), 0);
    cr_expect(cu_exists("report.json"));
    cr_expect_eq(cu_run("gen --kind rank1 --n 3 --d 2 --out no/such/dir/f.npy"), 1);
    /* nothing but the files we made is left in the folder */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp > '%s/count'", cu_dir, cu_dir);
    if (system(cmd) == -1) cr_log_warn("ls failed");
    char cpath[700];
    snprintf(cpath, sizeof cpath, "%s/count", cu_dir);
    char *c = cu_slurp(cpath);
    cr_expect_eq(atoi(c), 0, "temporary files left behind");
    free(c);
}

Test(cli, gen_rejects_bad_parameters_with_usage_errors)
{
    expect_error(cu_run("gen --kind dexter --n 10 --sigma 11 --out x.npy"), 2, "--sigma");
    expect_error(cu_run("gen --kind nonsense --n 10 --d 3 --out x.npy"), 2, "nonsense");
    expect_error(cu_run("gen --kind rank1 --n 10 --out x.npy"), 2, "--d");
    expect_error(cu_run("gen --kind rank1 --n -3 --d 2 --out x.npy"), 2, "--n");
    cr_expect(!cu_exists("x.npy"));
}

/* ---- linstab map ---- */

static int files_equal(const char *a, const char *b)
{
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/%s", cu_dir, a);
    snprintf(pb, sizeof pb, "%s/%s", cu_dir, b);
    char *x = cu_slurp(pa), *y = cu_slurp(pb);
    int eq = strlen(x) > 0 && strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}

#define SMALL_MAP "map --dexter 40 --sampling bernoulli --eta 0.8 --x sigma=1:40:6 --y batch=1:40:4 --quiet"

Test(cli, map_writes_arrays_csv_json_and_a_png_of_the_expected_size)
{
    cr_assert_eq(cu_run(SMALL_MAP " --out m"), 0);
    const char *files[] = {"m/frac_divergent.npy", "m/radius.npy", "m/lyapunov.npy", "m/map.csv",
                           "m/map.json", "m/map.png", "m/map.svg", "m/x.npy", "m/y.npy"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        cr_expect(cu_exists(files[i]), "%s missing", files[i]);
    char path[700];
    snprintf(path, sizeof path, "%s/m/map.png", cu_dir);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp);
    unsigned char h[24];
    cr_assert_eq(fread(h, 1, 24, fp), 24);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    cr_expect_eq(memcmp(h, "\x89PNG", 4), 0);
    unsigned w = (unsigned)h[16] << 24 | (unsigned)h[17] << 16 | (unsigned)h[18] << 8 | h[19];
    unsigned ht = (unsigned)h[20] << 24 | (unsigned)h[21] << 16 | (unsigned)h[22] << 8 | h[23];
    cr_expect_eq(w, 1000);
    cr_expect_eq(ht, 760);
    cr_expect_gt(size, 10000, "PNG of %ld bytes", size);
    snprintf(path, sizeof path, "%s/m/map.json", cu_dir);
    char *json = cu_slurp(path);
    cr_expect(strstr(json, "\"seed\": 0") != NULL && strstr(json, "\"linstab_version\"") != NULL);
    free(json);
}

Test(cli, map_output_is_identical_for_one_and_two_threads)
{
    cr_assert_eq(cu_run(SMALL_MAP " --no-plot --threads 1 --out t1"), 0);
    cr_assert_eq(cu_run(SMALL_MAP " --no-plot --threads 2 --out t2"), 0);
    cr_expect(files_equal("t1/map.csv", "t2/map.csv"));
    cr_expect(files_equal("t1/frac_divergent.npy", "t2/frac_divergent.npy"));
}

Test(cli, a_killed_map_resumes_to_the_identical_result)
{
    cr_assert_eq(cu_run(SMALL_MAP " --no-plot --out full"), 0);
    setenv("LINSTAB_MAP_ABORT_AFTER_CHUNKS", "1", 1);
    int st = cu_run(SMALL_MAP " --no-plot --out part");
    unsetenv("LINSTAB_MAP_ABORT_AFTER_CHUNKS");
    cr_assert_eq(st, 137, "the test hook should kill the run");
    cr_expect(cu_exists("part/map.checkpoint"));
    cr_expect(!cu_exists("part/map.csv"));
    cr_assert_eq(cu_run(SMALL_MAP " --no-plot --out part --resume"), 0);
    cr_expect(files_equal("full/map.csv", "part/map.csv"));
    /* a checkpoint of other parameters is refused */
    expect_error(cu_run("map --dexter 40 --eta 0.7 --x sigma=1:40:6 --y batch=1:40:4 --quiet --no-plot "
                     "--out part --resume"),
                 1, "different run");
}

Test(cli, map_rejects_bad_grids_before_any_work)
{
    expect_error(cu_run("map --dexter 40 --eta 0.8 --x sigma=1:40 --y sigma=1:5 --out g"), 2, "twice");
    expect_error(cu_run("map --dexter 40 --eta 0.8 --x sigma=5:1 --y batch=1:4 --out g"), 2, "inverted");
    expect_error(cu_run("map --dexter 40 --eta 0.8 --x sigma=1:40 --y batch=1:41 --out g"), 2, "exceeds");
    expect_error(cu_run("map --dexter 40 --eta 0.8 --x sigma=1:40 --y rho=0:1:3 --out g"), 2, "rho");
    expect_error(cu_run("map --dexter 40 --x sigma=1:40 --y batch=1:4 --out g"), 2, "--eta");
    expect_error(cu_run("map --dexter 40 --eta 0.8 --x eta=log:0:1:3 --y batch=1:4 --out g"), 2, "log");
    write_small_family();
    expect_error(cu_run("map --family small.npy --eta 0.8 --x sigma=1:2 --y batch=1:2 --out g"), 2, "dexter");
    cr_expect(!cu_exists("g"), "an output folder was created for a rejected grid");
    expect_error(cu_run(SMALL_MAP " --out /proc/linstab-no/such"), 1, "cannot");
}

Test(cli, validate_counts_claims_and_saves_counterexamples_with_their_command)
{
    cr_assert_eq(cu_run("validate --count 60 --seed 3 --json --quiet --out cex"), 0);
    char *json = cu_slurp(cu_out);
    const char *claims[] = {"gd", "thm1_bern", "thm1_without", "thm9", "eq7_sharp", "eq7_s2",
                            "eq7_s3", "eq7_s4", "thm41", "thm41_corr"};
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\":", claims[i]);
        cr_expect(strstr(json, pat) != NULL, "no claim %s", claims[i]);
    }
    /* proved claims are never contradicted by the exact answer */
    cr_expect_eq(cu_json_number(json, "\"thm1_bern\"", "counterexamples"), 0.0);
    cr_expect_eq(cu_json_number(json, "\"thm9\"", "counterexamples"), 0.0);
    cr_expect_eq(cu_json_number(json, "\"gd\"", "counterexamples"), 0.0);
    /* tightness ratios of sound bounds are >= 1 */
    cr_expect_geq(cu_json_number(json, "thm1_threshold_over_exact", "min"), 1.0 - 1e-9);
    cr_expect_geq(cu_json_number(json, "thm9_lambda_max_over_radius", "min"), 1.0 - 1e-9);
    cr_expect(cu_exists("cex/counterexamples.txt"));
    free(json);
    expect_error(cu_run("validate --kinds rank1,nonsense --count 3"), 2, "nonsense");
}

/* ---- linstab hessians ---- */

#include "linstab/mlp.h"

/* A 3-5-2 tanh MLP checkpoint in cu_dir/mdl, inputs X (4 x 3), targets at the
 * model's own outputs (an interpolating minimum of the squared loss). */
static void write_model(void)
{
    size_t sizes[3] = {3, 5, 2};
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, 2, LINSTAB_AD_TANH, 1, &m, &err), LINSTAB_OK);
    for (size_t j = 0; j < m->p; j++) m->theta[j] = 0.3 * sin(1.7 * (double)j + 0.2);
    char path[800];
    snprintf(path, sizeof path, "%s/mdl", cu_dir);
    cr_assert_eq(linstab_mlp_save(m, path, &err), LINSTAB_OK, "%s", err.msg);
    double X[12], F[8], lab[4] = {0, 1, 1, 0};
    for (int j = 0; j < 12; j++) X[j] = cos(0.9 * j);
    cr_assert_eq(linstab_mlp_forward(m, X, 4, F, &err), LINSTAB_OK);
    size_t sx[2] = {4, 3}, sy[2] = {4, 2}, sl[1] = {4};
    cu_write_npy("X.npy", X, 2, sx);
    cu_write_npy("Y.npy", F, 2, sy);
    cu_write_npy("lab.npy", lab, 1, sl);
    linstab_mlp_free(m);
}

Test(cli, hessians_writes_exact_hessians_and_gauss_newton_factors_that_agree_at_interpolation)
{
    write_model();
    cr_assert_eq(cu_run("hessians --model mdl --data X.npy --targets Y.npy --loss mse --out H.npy --quiet"), 0);
    cr_assert_eq(cu_run("hessians --model mdl --data X.npy --targets Y.npy --loss mse --gn --out U.npy --quiet"), 0);
    char ph[700], pu[700];
    snprintf(ph, sizeof ph, "%s/H.npy", cu_dir);
    snprintf(pu, sizeof pu, "%s/U.npy", cu_dir);
    linstab_array H = {0}, U = {0};
    linstab_error err;
    cr_assert_eq(linstab_npy_read(ph, 0, &H, &err), LINSTAB_OK);
    cr_assert_eq(linstab_npy_read(pu, 0, &U, &err), LINSTAB_OK);
    size_t p = 3 * 5 + 5 + 5 * 2 + 2;
    cr_assert_eq(H.shape[0], 4);
    cr_assert_eq(H.shape[1], p);
    cr_assert_eq(U.shape[2], 2);
    double e = 0.0;
    for (size_t i = 0; i < 4; i++)
        for (size_t a = 0; a < p; a++)
            for (size_t b = 0; b < p; b++) {
                double gn = 0.0;
                for (size_t o = 0; o < 2; o++) gn += U.data[(i * p + a) * 2 + o] * U.data[(i * p + b) * 2 + o];
                e = fmax(e, fabs(gn - H.data[(i * p + a) * p + b]));
            }
    cr_expect_lt(e, 1e-12);
    linstab_npy_array_free(&H);
    linstab_npy_array_free(&U);
    /* the family feeds check */
    cr_expect_eq(cu_run("check --factors U.npy --eta 0.5 --batch 2 --json"), 0);
    cr_expect_eq(cu_run("hessians --model mdl --data X.npy --targets lab.npy --loss ce --label-smoothing 0.1 --out Hc.npy --quiet"), 0);
    /* one-hot rows are the same labels */
    double oh[8] = {1, 0, 0, 1, 0, 1, 1, 0};
    size_t s42[2] = {4, 2};
    cu_write_npy("oh.npy", oh, 2, s42);
    cr_expect_eq(cu_run("hessians --model mdl --data X.npy --targets oh.npy --loss ce --label-smoothing 0.1 --out Ho.npy --quiet"), 0);
    char pc[700], po[700];
    snprintf(pc, sizeof pc, "%s/Hc.npy", cu_dir);
    snprintf(po, sizeof po, "%s/Ho.npy", cu_dir);
    linstab_array Hc = {0}, Ho = {0};
    cr_assert_eq(linstab_npy_read(pc, 0, &Hc, &err), LINSTAB_OK);
    cr_assert_eq(linstab_npy_read(po, 0, &Ho, &err), LINSTAB_OK);
    cr_expect_eq(memcmp(Hc.data, Ho.data, linstab_npy_array_size(&Hc) * sizeof(double)), 0,
                 "one-hot targets differ from labels");
    linstab_npy_array_free(&Hc);
    linstab_npy_array_free(&Ho);
}

/* numpy saves class labels as int64: np.save("lab64.npy", np.array([0, 1, 1, 0])) */
static void write_int64_labels(const char *name, const int64_t *lab, size_t n)
{
    char head[128];
    int h = snprintf(head, sizeof head, "{'descr': '<i8', 'fortran_order': False, 'shape': (%zu,), }", n);
    unsigned char buf[512];
    size_t total = 10 + 64; /* magic, version, uint16 length, then the header padded to 64 */
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = 64;
    buf[9] = 0;
    memset(buf + 10, ' ', 64);
    memcpy(buf + 10, head, (size_t)h);
    buf[10 + 63] = '\n';
    memcpy(buf + total, lab, n * sizeof *lab);
    cu_write_file(name, buf, total + n * sizeof *lab);
}

Test(cli, integer_labels_work_like_float_labels)
{
    write_model();
    const int64_t lab[4] = {0, 1, 1, 0};
    write_int64_labels("lab64.npy", lab, 4);
    cr_assert_eq(cu_run("check --model mdl --data X.npy --targets lab.npy --loss ce --label-smoothing 0.1 "
                     "--allow-indefinite --no-exact --eta 0.1 --batch 2 --json --out a.json"), 0);
    cr_assert_eq(cu_run("check --model mdl --data X.npy --targets lab64.npy --loss ce --label-smoothing 0.1 "
                     "--allow-indefinite --no-exact --eta 0.1 --batch 2 --json --out b.json"), 0);
    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/a.json", cu_dir);
    snprintf(pb, sizeof pb, "%s/b.json", cu_dir);
    char *ja = cu_slurp(pa), *jb = cu_slurp(pb);
    /* identical apart from the source file name */
    cr_expect_eq(count_lines(ja), count_lines(jb));
    cr_expect_lt(fabs(cu_json_number(ja, "geometry", "sharpness") - cu_json_number(jb, "geometry", "sharpness")), 1e-300);
    cr_expect_lt(fabs(cu_json_number(ja, "geometry", "sigma") - cu_json_number(jb, "geometry", "sigma")), 1e-300);
    free(ja);
    free(jb);
    cr_expect_eq(cu_run("train --layers 3,5,2 --loss ce --data X.npy --targets lab64.npy --batch 2 --steps 3 --quiet --out t64"), 0);
}

/* check --model with Gauss-Newton Hessians goes through the NTK Gram matrix
 * (n k = 8 < p = 32): the same report as check on the explicit factors */
Test(cli, check_on_a_model_equals_check_on_its_gauss_newton_factors)
{
    write_model();
    cr_assert_eq(cu_run("hessians --model mdl --data X.npy --targets Y.npy --loss mse --gn --out U.npy --quiet"), 0);
    cr_assert_eq(cu_run("check --model mdl --data X.npy --targets Y.npy --loss mse --eta 0.5 --batch 2 --no-exact "
                     "--json --out m.json"), 0);
    cr_assert_eq(cu_run("check --factors U.npy --eta 0.5 --batch 2 --no-exact --json --out u.json"), 0);
    char pm[700], pu[700];
    snprintf(pm, sizeof pm, "%s/m.json", cu_dir);
    snprintf(pu, sizeof pu, "%s/u.json", cu_dir);
    char *jm = cu_slurp(pm), *ju = cu_slurp(pu);
    cr_expect_eq(cu_json_number(jm, "{", "d"), 32.0);
    cr_expect_eq(cu_json_number(jm, "{", "rank"), cu_json_number(ju, "{", "rank"));
    const char *keys[] = {"sharpness", "trace", "frobenius", "max_individual_sharpness", "sigma", "lambda1_S",
                          "m2_gap", "m3_gap", "m4_gap", "gamma_min"};
    for (size_t q = 0; q < sizeof keys / sizeof keys[0]; q++) {
        double a = cu_json_number(jm, "geometry", keys[q]), b = cu_json_number(ju, "geometry", keys[q]);
        cr_expect_leq(fabs(a - b), 1e-10 * fmax(fabs(a), fabs(b)) + 1e-14, "%s: %.17g vs %.17g", keys[q], a, b);
    }
    free(jm);
    free(ju);
}

/* Cross-entropy: the generalized Gauss-Newton J'(diag p - pp')J is the
 * default of check --model (and --hessian gn), through the NTK Gram route
 * (n k = 8 < p = 32): the same report, exact section included, as check on
 * the explicit factors that `hessians --gn` writes. */
Test(cli, ce_check_on_a_model_equals_check_on_its_generalized_gauss_newton_factors)
{
    write_model();
    cr_assert_eq(cu_run("hessians --model mdl --data X.npy --targets lab.npy --loss ce --label-smoothing 0.1 --gn "
                     "--out Uc.npy --quiet"), 0);
    cr_assert_eq(cu_run("check --model mdl --data X.npy --targets lab.npy --loss ce --label-smoothing 0.1 --eta 0.5 "
                     "--batch 2 --json --out m.json"), 0);
    cr_assert_eq(cu_run("check --model mdl --data X.npy --targets lab.npy --loss ce --label-smoothing 0.1 "
                     "--hessian gn --eta 0.5 --batch 2 --json --out g.json"), 0);
    cr_assert_eq(cu_run("check --factors Uc.npy --eta 0.5 --batch 2 --json --out u.json"), 0);
    char pm[700], pg[700], pu[700];
    snprintf(pm, sizeof pm, "%s/m.json", cu_dir);
    snprintf(pg, sizeof pg, "%s/g.json", cu_dir);
    snprintf(pu, sizeof pu, "%s/u.json", cu_dir);
    char *jm = cu_slurp(pm), *jg = cu_slurp(pg), *ju = cu_slurp(pu);
    cr_expect_eq(cu_json_number(jm, "{", "rank"), cu_json_number(ju, "{", "rank"));
    cr_expect_leq(cu_json_number(ju, "{", "rank"), 4.0, "rank <= n (k - 1): R' 1 = 0");
    const char *keys[] = {"sharpness", "trace", "frobenius", "max_individual_sharpness", "sigma", "lambda1_S",
                          "m2_gap", "gamma_min"};
    for (size_t q = 0; q < sizeof keys / sizeof keys[0]; q++) {
        double a = cu_json_number(jm, "geometry", keys[q]), b = cu_json_number(ju, "geometry", keys[q]),
               c = cu_json_number(jg, "geometry", keys[q]);
        cr_expect(isfinite(b), "%s", keys[q]);
        cr_expect_leq(fabs(a - b), 1e-10 * fmax(fabs(a), fabs(b)) + 1e-14, "%s: %.17g vs %.17g", keys[q], a, b);
        cr_expect_eq(a, c, "%s: default vs --hessian gn", keys[q]);
    }
    double em = cu_json_number(jm, "\"sgd\"", "critical_eta"), eu = cu_json_number(ju, "\"sgd\"", "critical_eta");
    cr_expect(isfinite(eu) && eu > 0.0, "eta* of the factors: %g", eu);
    cr_expect_leq(fabs(em - eu), 1e-9 * eu, "eta*: %.17g vs %.17g", em, eu);
    free(jm);
    free(jg);
    free(ju);
    /* the exact CE Hessians of this non-interpolating point are indefinite */
    expect_error(cu_run("check --model mdl --data X.npy --targets lab.npy --loss ce --hessian exact --eta 0.5 "
                        "--batch 2 --no-exact"),
                 1, "--allow-indefinite");
    /* critical: with them eta* is 0, and the table says why; not with the GGN */
    cr_assert_eq(cu_run("critical --model mdl --data X.npy --targets lab.npy --loss ce --hessian exact "
                     "--allow-indefinite --batches 1,2 --rho 0.1 --out c.txt"), 0);
    snprintf(pm, sizeof pm, "%s/c.txt", cu_dir);
    char *ct = cu_slurp(pm);
    cr_expect(strstr(ct, "# eta* = 0: H (or SAM's mean step) has curvature <= 0") != NULL, "%s", ct);
    cr_expect(strstr(ct, "--hessian gn (the default) is PSD") != NULL, "%s", ct);
    free(ct);
    cr_assert_eq(cu_run("critical --model mdl --data X.npy --targets lab.npy --loss ce --batches 1,2 --rho 0.1 "
                     "--out c.txt"), 0);
    ct = cu_slurp(pm);
    cr_expect(strstr(ct, "# eta* = 0") == NULL, "%s", ct);
    free(ct);
}

Test(cli, hessians_rejects_bad_models_and_data)
{
    write_model();
    double bad[8] = {0, 1, 2, 3, 4, 5, 6, 7}, lab[4] = {0, 1, 5, 0}, nanx[12] = {0};
    size_t s42[2] = {4, 2}, s4[1] = {4}, s43[2] = {4, 3};
    nanx[7] = NAN;
    cu_write_npy("X2.npy", bad, 2, s42);
    cu_write_npy("badlab.npy", lab, 1, s4);
    cu_write_npy("Xnan.npy", nanx, 2, s43);
    expect_error(cu_run("hessians --model mdl --data X2.npy --targets Y.npy --loss mse --out o.npy"), 1, "(n, 3)");
    expect_error(cu_run("hessians --model mdl --data X.npy --targets badlab.npy --loss ce --out o.npy"), 1, "sample 2");
    expect_error(cu_run("hessians --model mdl --data Xnan.npy --targets Y.npy --loss mse --out o.npy"), 1, "sample 2");
    expect_error(cu_run("hessians --model nomodel --data X.npy --targets Y.npy --loss mse --out o.npy"), 1, "model.json");
    expect_error(cu_run("hessians --model mdl --data X.npy --targets Y.npy --loss mse --out o.npy --max-memory 1e-9"), 1, "--gn");
    expect_error(cu_run("hessians --model mdl --data X.npy --targets Y.npy --loss hinge --out o.npy"), 2, "hinge");
    cr_expect(!cu_exists("o.npy"));
}

Test(cli, plot_draws_csv_columns_and_rejects_unknown_columns)
{
    const char csv[] = "rho,sharpness,s2\n0,73.5,71.3\n0.05,26.0,30.7\n0.1,13.6,18.3\n";
    cu_write_file("r.csv", csv, sizeof csv - 1);
    cr_assert_eq(cu_run("plot --csv r.csv --x rho --y sharpness,s2 --out f.png"), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/f.png", cu_dir);
    char *png = cu_slurp(path);
    cr_expect_eq(memcmp(png, "\x89PNG", 4), 0);
    free(png);
    expect_error(cu_run("plot --csv r.csv --x rho --y nothing --out g.png"), 2, "nothing");
    expect_error(cu_run("plot --csv r.csv --x rho --y s2 --out g.jpg"), 2, ".png or .svg");
    cr_expect(!cu_exists("g.png"));
}

Test(cli, plot_heatmap_draws_a_regular_grid_in_any_row_order_and_refuses_an_irregular_one)
{
    /* a 3 x 2 grid, rows shuffled, one nan cell; a path of 3 points and 2 extra points */
    const char grid[] = "x,y,z\n1,0,1\n0,1,1\n-1,0,1\n0,0,0\n1,1,2\n-1,1,nan\n";
    const char path[] = "step,w1,w2\n0,-1,1\n1,0,0.5\n2,0.5,0\n";
    const char pts[] = "w1,w2\n0.5,0.5\n-0.5,0.5\n";
    cu_write_file("g.csv", grid, sizeof grid - 1);
    cu_write_file("p.csv", path, sizeof path - 1);
    cu_write_file("e.csv", pts, sizeof pts - 1);
    cr_assert_eq(cu_run("plot --heatmap g.csv --path p.csv --extra e.csv --out h.png --contours 3"), 0, "%s",
                 cu_slurp(cu_err));
    char p[700];
    snprintf(p, sizeof p, "%s/h.png", cu_dir);
    char *png = cu_slurp(p);
    cr_expect_eq(memcmp(png, "\x89PNG", 4), 0);
    free(png);
    char *o = cu_slurp(cu_out);
    cr_expect(strstr(o, "3 x 2 grid, 3 path points, 2 extra points") != NULL, "%s", o);
    free(o);
    /* a point twice (and one missing), an uneven axis, a missing column: exit 1, no figure */
    const char twice[] = "x,y,z\n1,0,1\n0,1,1\n-1,0,1\n0,0,0\n1,1,2\n1,1,3\n";
    const char uneven[] = "x,y,z\n0,0,1\n1,0,1\n3,0,1\n0,1,1\n1,1,1\n3,1,1\n";
    const char short_[] = "x,y,z\n0,0,1\n1,0,1\n0,1,1\n";
    cu_write_file("t.csv", twice, sizeof twice - 1);
    cu_write_file("u.csv", uneven, sizeof uneven - 1);
    cu_write_file("s.csv", short_, sizeof short_ - 1);
    expect_error(cu_run("plot --heatmap t.csv --path p.csv --out b.png"), 1, "appears twice");
    expect_error(cu_run("plot --heatmap u.csv --path p.csv --out b.png"), 1, "not evenly spaced");
    expect_error(cu_run("plot --heatmap s.csv --path p.csv --out b.png"), 1, "3 rows for 2 x 2 grid points");
    expect_error(cu_run("plot --heatmap g.csv --path p.csv --columns a,w2 --out b.png"), 1, "no column 'a'");
    expect_error(cu_run("plot --heatmap e.csv --path p.csv --out b.png"), 1, "columns x, y and z");
    /* usage errors: exit 2 */
    expect_error(cu_run("plot --heatmap g.csv --path p.csv --columns w1 --out b.png"), 2, "two column names");
    expect_error(cu_run("plot --heatmap g.csv --out b.png"), 2, "required together");
    expect_error(cu_run("plot --heatmap g.csv --path p.csv --csv g.csv --out b.png"), 2, "belong to curves");
    expect_error(cu_run("plot --csv g.csv --x x --y z --logz --out b.png"), 2, "belong to --heatmap");
    expect_error(cu_run("plot --heatmap g.csv --path p.csv --out b.jpg"), 2, ".png or .svg");
    cr_expect(!cu_exists("b.png"));
}

/* train --output-activation: the checkpoint carries the key (a linear one
 * does not), and hessians on it gives the library's per-sample Hessians of
 * that activated model, bit for bit */
Test(cli, train_with_an_output_activation_writes_it_and_hessians_use_it)
{
    write_model();
    cr_assert_eq(cu_run("train --layers 3,5,2 --output-activation sigmoid --data X.npy --targets Y.npy --batch 2 "
                        "--steps 3 --quiet --out ts"), 0);
    cr_assert_eq(cu_run("train --layers 3,5,2 --data X.npy --targets Y.npy --batch 2 --steps 3 --quiet --out tn"), 0);
    char p[800];
    snprintf(p, sizeof p, "%s/ts/model.json", cu_dir);
    char *js = cu_slurp(p);
    cr_expect(strstr(js, ", \"output_activation\": \"sigmoid\"}") != NULL, "%s", js);
    free(js);
    snprintf(p, sizeof p, "%s/tn/model.json", cu_dir);
    js = cu_slurp(p);
    cr_expect(strstr(js, "output_activation") == NULL, "%s", js);
    free(js);
    cr_assert_eq(cu_run("hessians --model ts --data X.npy --targets Y.npy --loss mse --out Hs.npy --quiet"), 0);
    linstab_mlp *m = NULL;
    linstab_array H = {0}, X = {0}, Y = {0};
    linstab_error err;
    snprintf(p, sizeof p, "%s/ts", cu_dir);
    cr_assert_eq(linstab_mlp_load(p, &m, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(m->out_act, LINSTAB_AD_SIGMOID);
    snprintf(p, sizeof p, "%s/Hs.npy", cu_dir);
    cr_assert_eq(linstab_npy_read(p, 0, &H, &err), LINSTAB_OK);
    snprintf(p, sizeof p, "%s/X.npy", cu_dir);
    cr_assert_eq(linstab_npy_read(p, 0, &X, &err), LINSTAB_OK);
    snprintf(p, sizeof p, "%s/Y.npy", cu_dir);
    cr_assert_eq(linstab_npy_read(p, 0, &Y, &err), LINSTAB_OK);
    size_t pp = m->p;
    cr_assert_eq(H.shape[1], pp);
    double *Hi = malloc(pp * pp * sizeof *Hi);
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(linstab_mlp_sample_hessian(m, X.data + 3 * i, Y.data + 2 * i, LINSTAB_LOSS_MSE, 0.0, Hi, &err),
                     LINSTAB_OK);
        cr_expect_eq(memcmp(Hi, H.data + i * pp * pp, pp * pp * sizeof *Hi), 0, "sample %zu", i);
    }
    free(Hi);
    linstab_mlp_free(m);
    linstab_npy_array_free(&H);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    cr_expect_eq(cu_run("train --layers 3,4,2 --teacher 16 --output-activation tanh --steps 2 --batch 4 --quiet "
                        "--out tt"), 0);
    expect_error(cu_run("train --layers 3,5,2 --output-activation swish --data X.npy --targets Y.npy --out tx"), 2,
                 "swish");
    cr_expect(!cu_exists("tx"));
}

Test(cli, help_cmd_is_the_commands_own_help)
{
    const char *cmds[3] = {"dynamics", "train", "check"};
    for (size_t k = 0; k < 3; k++) {
        cr_assert_eq(cu_run("help %s", cmds[k]), 0, "%s", cu_slurp(cu_err));
        char *a = cu_slurp(cu_out);
        cr_assert_eq(cu_run("%s --help", cmds[k]), 0);
        char *b = cu_slurp(cu_out);
        cr_expect_str_eq(a, b, "%s", cmds[k]);
        free(a);
        free(b);
    }
    cr_expect_eq(cu_run("help nosuch"), 2);
    cr_expect(strstr(cu_slurp(cu_err), "help: unknown command 'nosuch'") != NULL);
    cr_expect_eq(cu_run("help dynamics train"), 2);
}

/* One default sampling (without) for check, critical and map, and
 * critical's JSON rows and CSV header use the same names. */
Test(cli, check_critical_and_map_share_the_default_sampling_and_critical_json_and_csv_share_names)
{
    write_small_family();
    cr_assert_eq(cu_run("check --family small.npy --eta 0.5 --batch 1 --no-exact --json --quiet"), 0);
    char *a = cu_slurp(cu_out);
    cr_expect(strstr(a, "\"sampling\": \"without\"") != NULL, "%s", a);
    free(a);
    cr_assert_eq(cu_run("critical --family small.npy --batches 1,2 --json --quiet"), 0);
    a = cu_slurp(cu_out);
    cr_expect(strstr(a, "\"sampling\": \"without\"") != NULL, "%s", a);
    const char *keys[] = {"\"batch\"", "\"critical_eta\"", "\"critical_eta_sam\": null", "\"thm1_eta\"",
                          "\"thm2_eta\""};
    for (size_t k = 0; k < 5; k++) cr_expect(strstr(a, keys[k]) != NULL, "%s missing: %s", keys[k], a);
    free(a);
    cr_assert_eq(cu_run("critical --family small.npy --batches 1,2 --csv --quiet"), 0);
    a = cu_slurp(cu_out);
    cr_expect(strncmp(a, "batch,critical_eta,critical_eta_sam,thm1_eta,thm2_eta\n", 54) == 0, "%s", a);
    cr_expect(strstr(a, "\n1,") != NULL && strstr(a, ",,") != NULL, "an empty cell for eta_sam: %s", a);
    free(a);
    cr_assert_eq(cu_run("map --family small.npy --eta 0.5 --x eta=0.1,0.2 --y batch=1,2 --runs 1 --steps 5 "
                        "--no-plot --quiet --out m"), 0, "%s", cu_slurp(cu_err));
    char path[700];
    snprintf(path, sizeof path, "%s/m/map.json", cu_dir);
    a = cu_slurp(path);
    cr_expect(strstr(a, "\"sampling\": \"without\"") != NULL, "%s", a);
    free(a);
}

/* --version names the BLAS, its kernel and the thread counts as OpenBLAS
 * and OpenMP run them: a kernel forced by OPENBLAS_CORETYPE and the thread
 * counts set in the environment are what it reports. */
Test(cli, version_reports_the_blas_kernel_and_threads_in_use)
{
    cr_assert_eq(cu_run_env("", "--version"), 0);
    char *out = cu_slurp(cu_out);
    cr_expect(strncmp(out, "linstab ", 8) == 0, "%s", out);
    cr_expect(strstr(out, "\nBLAS      OpenBLAS ") != NULL, "%s", out);
    cr_expect(strstr(out, "\nkernel    ") != NULL, "%s", out);
    cr_expect(strstr(out, "libopenblas") != NULL, "the loaded library: %s", out);
    free(out);
    const char *kernels[] = {"Prescott", "Haswell"};
    for (size_t k = 0; k < 2; k++) {
        char env[128], want[128];
        snprintf(env, sizeof env, "OPENBLAS_CORETYPE=%s OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1", kernels[k]);
        cr_assert_eq(cu_run_env(env, "--version"), 0);
        out = cu_slurp(cu_out);
        snprintf(want, sizeof want, "\nkernel    %s (chosen by OPENBLAS_CORETYPE)\n", kernels[k]);
        cr_expect(strstr(out, want) != NULL, "%s: %s", env, out);
        cr_expect(strstr(out, "\nthreads   BLAS 1 (pthreads), OpenMP 1\n") != NULL ||
                      strstr(out, "\nthreads   BLAS 1 (OpenMP), OpenMP 1\n") != NULL ||
                      strstr(out, "\nthreads   BLAS 1 (sequential), OpenMP 1\n") != NULL,
                  "%s: %s", env, out);
        free(out);
    }
}

/* A kernel the user forced is never second-guessed: no hint line. */
Test(cli, version_gives_no_kernel_hint_for_a_kernel_the_user_chose)
{
    cr_assert_eq(cu_run_env("OPENBLAS_CORETYPE=Prescott", "--version"), 0);
    char *out = cu_slurp(cu_out);
    cr_expect(strstr(out, "\nhint ") == NULL, "%s", out);
    free(out);
}

/* ---- the progress bar (tools/cli_progress.c) off a terminal, through
 * the test hook LINSTAB_PROGRESS=1 ---- */


/* stderr has a bar of `label` that gave an ETA and ended with the line
 * "LABEL [...] TOTAL done in ..." */
static void expect_bar(const char *label, const char *total)
{
    char *e = cu_slurp(cu_err), want[128];
    snprintf(want, sizeof want, "] %s done in ", total);
    const char *end = strstr(e, want);
    cr_expect(strncmp(e, label, strlen(label)) == 0 || strstr(e, label) != NULL, "no %s bar: %s", label, e);
    cr_expect(strstr(e, "ETA") != NULL, "no ETA: %s", e);
    cr_expect(end != NULL, "no last line '%s': %s", want, e);
    free(e);
}

Test(cli, critical_and_validate_show_a_bar_with_an_eta_and_nothing_with_quiet)
{
    cr_assert_eq(cu_run("gen --kind lowrank --n 30 --d 6 --rank 2 --seed 1 --out lr.npy --quiet"), 0);
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "critical --factors lr.npy --batches 1:12 --rho 0.05"), 0);
    expect_bar("critical", "12/12");
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "critical --factors lr.npy --batches 1:12 --rho 0.05 --quiet"), 0);
    char *e = cu_slurp(cu_err);
    cr_expect_str_eq(e, "", "--quiet");
    free(e);
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "validate --count 40 --seed 3"), 0);
    expect_bar("validate", "40/40");
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "validate --count 40 --seed 3 --quiet"), 0);
    e = cu_slurp(cu_err);
    cr_expect_str_eq(e, "", "--quiet");
    free(e);
    /* without the hook and off a terminal: no bar */
    cr_assert_eq(cu_run("critical --factors lr.npy --batches 1:12"), 0);
    e = cu_slurp(cu_err);
    cr_expect_str_eq(e, "");
    free(e);
}

Test(cli, hessians_shows_a_bar_over_the_samples_and_nothing_with_quiet)
{
    write_model();
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "hessians --model mdl --data X.npy --targets Y.npy --loss mse --out H.npy"), 0);
    expect_bar("hessians", "4/4");
    cr_assert_eq(cu_run_env("LINSTAB_PROGRESS=1", "hessians --model mdl --data X.npy --targets Y.npy --loss mse --out H.npy --quiet"), 0);
    char *e = cu_slurp(cu_err);
    cr_expect_str_eq(e, "", "--quiet");
    free(e);
}
