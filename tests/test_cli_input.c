/*
 * test_cli_input.c -- every input the linstab command parses: the strict
 * number, whole-number and list parsers (decimal only, the option's range
 * in the message, no wrap-around), the axis specifications of `map`
 * (bounded point counts, exact integer ranges), the CSV reader of `plot`,
 * and sizes taken from files (NPY shapes, IDX dimensions) -- through the
 * binary ($LINSTAB_BIN: message, exit status, no output file) and, for the
 * pure parsers, directly.  The options that several commands take (the
 * table of tools/cli_options.c) are tried on every command that takes them:
 * each accepts the same values, refuses the same ones with the same
 * message, documents them in its help, and the others refuse them.
 *
 * The pure parsers live in tools/ (not in the library): their two source
 * files are compiled into this test (they need only the C library).
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zlib.h>

#include "../tools/cli_parse.c"
#include "../tools/csv.c"
#include "cliutil.h"
#include "linstab/map.h"
#include "linstab/npy.h"
#include "testutil.h"

TestSuite(input, .init = cu_setup, .fini = cu_teardown);
TestSuite(parse);
TestSuite(axis);
TestSuite(csv);

static void write_text(const char *name, const char *text)
{
    cu_write_file(name, text, strlen(text));
}

/* The last run failed with `status` and exactly one line on stderr that
 * contains `needle`; nothing on stdout. */
static void expect_error(int got, int status, const char *needle, const char *what)
{
    char *err = cu_slurp(cu_err), *out = cu_slurp(cu_out);
    size_t lines = 0;
    for (const char *p = err; *p; p++) lines += *p == '\n';
    cr_expect_eq(got, status, "%s: exit status %d, want %d; stderr: %s", what, got, status, err);
    cr_expect(strstr(err, needle) != NULL, "%s: stderr lacks \"%s\": %s", what, needle, err);
    cr_expect_eq(lines, 1, "%s: stderr should be one line: %s", what, err);
    cr_expect_str_empty(out, "%s: stdout: %s", what, out);
    free(err);
    free(out);
}

/* A rank-one factored family of 20 samples in dimension 3 (r1.npy). */
static void make_family(void)
{
    cr_assert_eq(cu_run("gen --kind rank1 --n 20 --d 3 --out r1.npy"), 0);
}

/* ------------------------------------------------------------------ */
/* Numbers through the command                                         */

typedef struct bad_case {
    const char *args;   /* after the command's fixed arguments */
    const char *needle; /* in the one line of stderr */
} bad_case;

Test(input, check_refuses_every_malformed_or_out_of_range_number_naming_the_option_and_range)
{
    make_family();
    static const bad_case cases[] = {
        {"--eta 0x10 --batch 2", "--eta '0x10': expected a decimal number in (0, inf)"},
        {"--eta inf --batch 2", "--eta 'inf': expected a decimal number in (0, inf)"},
        {"--eta nan --batch 2", "--eta 'nan': expected a decimal number in (0, inf)"},
        {"--eta ' 0.5' --batch 2", "--eta ' 0.5': expected a decimal number in (0, inf)"},
        {"--eta '0.5 ' --batch 2", "--eta '0.5 ': expected a decimal number in (0, inf)"},
        {"--eta '' --batch 2", "--eta '': expected a decimal number in (0, inf)"},
        {"--eta 1e400 --batch 2", "--eta '1e400': too large for a double"},
        {"--eta 0 --batch 2", "--eta '0': expected a decimal number in (0, inf)"},
        {"--eta -0.5 --batch 2", "--eta '-0.5': expected a decimal number in (0, inf)"},
        {"--eta 0.5 --batch 2 --rho -0.1", "--rho '-0.1': expected a decimal number in [0, inf)"},
        {"--eta 0.5 --batch ' -1'", "--batch ' -1': expected a whole number in [1, 2^64 - 1]"},
        {"--eta 0.5 --batch -1", "--batch '-1': expected a whole number in [1, 2^64 - 1]"},
        {"--eta 0.5 --batch +2", "--batch '+2': expected a whole number"},
        {"--eta 0.5 --batch 0x10", "--batch '0x10': expected a whole number"},
        {"--eta 0.5 --batch 2.0", "--batch '2.0': expected a whole number"},
        {"--eta 0.5 --batch 0", "--batch '0': expected a whole number in [1, 2^64 - 1]"},
        {"--eta 0.5 --batch 18446744073709551617", "--batch '18446744073709551617': expected a whole number"},
        {"--eta 0.5 --batch 2 --seed 18446744073709551616", "--seed '18446744073709551616': expected a whole number in [0, 2^64 - 1]"},
        {"--eta 0.5 --batch 2 --seed -1", "--seed '-1': expected a whole number in [0, 2^64 - 1]"},
        {"--eta 0.5 --batch 2 --lyapunov-runs 1", "--lyapunov-runs '1': expected a whole number in [2, 1000000]"},
        {"--eta 0.5 --batch 2 --lyapunov-steps 9", "--lyapunov-steps '9': expected a whole number in [10, 1000000000]"},
        {"--eta 0.5 --batch 2 --sym-tol -1", "--sym-tol '-1': expected a decimal number in [0, inf)"},
        {"--eta 0.5 --batch 2 --rank-tol 1", "--rank-tol '1': expected a decimal number in [0, 1)"},
        {"--eta 0.5 --batch 2 --max-memory 0", "--max-memory '0': expected a decimal number in [1e-09, 1e+09]"},
        {"--eta 0.5 --batch 21", "--batch 21: the batch size must be in [1, n] = [1, 20]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = cu_run("check --factors r1.npy %s --out c.json", cases[i].args);
        expect_error(st, 2, cases[i].needle, cases[i].args);
        cr_expect(!cu_exists("c.json"), "%s: an output file was created", cases[i].args);
    }
}

Test(input, a_subnormal_number_and_the_largest_seed_are_valid)
{
    /* 1e-320 is a finite double (subnormal): accepted, and written exactly */
    cr_assert_eq(cu_run("gen --kind aligned --n 3 --d 2 --noise 1e-320 --seed 18446744073709551615 --out a.npy"), 0,
                 "%s", cu_slurp(cu_err));
    cr_expect(cu_exists("a.npy"));
}

Test(input, gen_refuses_rank_zero_and_every_option_its_kind_would_ignore)
{
    static const bad_case cases[] = {
        {"--kind lowrank --n 3 --d 2 --rank 0", "--rank '0': expected a whole number in [1, 2^64 - 1]"},
        {"--kind wishart --n 3 --d 2 --rank 0", "--rank '0': expected a whole number"},
        {"--kind rank1 --n 3 --d 2 --rank 3", "--rank 3: rank1 has rank 1 (use --kind lowrank)"},
        {"--kind dexter --n 5 --sigma 2 --rank 2", "--rank 2: dexter has no rank option"},
        {"--kind dexter --n 5 --sigma 2 --d 3", "--d: dexter's dimension is n - sigma + 1"},
        {"--kind lowrank --n 3 --d 2 --sigma 2", "--sigma is an option of dexter only, not of lowrank"},
        {"--kind wishart --n 3 --d 2 --noise 0.1", "--noise is an option of aligned only, not of wishart"},
        {"--kind aligned --n 3 --d 2 --noise -0.1", "--noise '-0.1': expected a decimal number in [0, inf)"},
        {"--kind lowrank --n 0 --d 2", "--n '0': expected a whole number in [1, 2^64 - 1]"},
        {"--kind lowrank --n 3 --d 0", "--d '0': expected a whole number in [1, 2^64 - 1]"},
        {"--kind dexter --n 5 --sigma 0", "--sigma '0': expected a whole number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = cu_run("gen %s --out g.npy", cases[i].args);
        expect_error(st, 2, cases[i].needle, cases[i].args);
        cr_expect(!cu_exists("g.npy"), "%s: an output file was created", cases[i].args);
    }
    /* rank1 with --rank 1 says what it does: accepted */
    cr_expect_eq(cu_run("gen --kind rank1 --n 3 --d 2 --rank 1 --out g.npy"), 0);
}

Test(input, train_refuses_out_of_range_hyper_parameters_before_training)
{
    static const bad_case cases[] = {
        {"--momentum 2", "--momentum '2': expected a decimal number in [0, 1)"},
        {"--momentum 1", "--momentum '1': expected a decimal number in [0, 1)"},
        {"--momentum -0.1", "--momentum '-0.1': expected a decimal number in [0, 1)"},
        {"--label-smoothing 1", "--label-smoothing '1': expected a decimal number in [0, 1)"},
        {"--eta 0", "--eta '0': expected a decimal number in (0, inf)"},
        {"--rho -1", "--rho '-1': expected a decimal number in [0, inf)"},
        {"--weight-decay -1e-4", "--weight-decay '-1e-4': expected a decimal number in [0, inf)"},
        {"--lr-decay 1.5 --lr-decay-at 10", "--lr-decay '1.5': expected a decimal number in (0, 1]"},
        {"--lr-decay-at 10", "--lr-decay-at K and --lr-decay F go together"},
        {"--lr-decay 0.5", "--lr-decay-at K and --lr-decay F go together"},
        {"--steps 0", "--steps '0': expected a whole number in [1, 2^64 - 1]"},
        {"--log-every 0", "--log-every '0': expected a whole number"},
        {"--sharpness-every 0", "--sharpness-every '0': expected a whole number"},
        {"--batch 0", "--batch '0': expected a whole number"},
        {"--scale 0", "--scale '0': expected a decimal number in (0, inf)"},
        {"--init-seed 0x1", "--init-seed '0x1': expected a whole number in [0, 2^64 - 1]"},
        {"--layers 2,0,1", "--layers: '0': expected a whole number in [1, 16777216]"},
        {"--layers 2,,1", "--layers: empty item in the list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = cu_run("train --layers 2,3,1 --teacher 10 --steps 5 --out tr %s", cases[i].args);
        expect_error(st, 2, cases[i].needle, cases[i].args);
        cr_expect(!cu_exists("tr"), "%s: the output folder was created", cases[i].args);
    }
}

Test(input, map_bounds_threads_and_checks_its_numbers)
{
    static const bad_case cases[] = {
        {"--threads 100000", "--threads '100000': expected a whole number in [1, 1024]"},
        {"--threads 0", "--threads '0': expected a whole number in [1, 1024]"},
        {"--growth 1", "--growth '1': expected a decimal number in (1, inf)"},
        {"--shrink 0.5", "--shrink '0.5': expected a decimal number in (1, inf)"},
        {"--runs 0", "--runs '0': expected a whole number in [1, 1000000]"},
        {"--steps 1000000001", "--steps '1000000001': expected a whole number in [1, 1000000000]"},
        {"--eta 0x1p-1", "--eta '0x1p-1': expected a decimal number in (0, inf)"},
        {"--seed ' 1'", "--seed ' 1': expected a whole number in [0, 2^64 - 1]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = cu_run("map --dexter 10 --sigma 2 --eta 0.5 --x eta=0.1:1:2 --y batch=1:2 --out mo %s", cases[i].args);
        expect_error(st, 2, cases[i].needle, cases[i].args);
        cr_expect(!cu_exists("mo"), "%s: the output folder was created", cases[i].args);
    }
    /* the bound itself is valid (and the OpenMP runtime copes with it) */
    cr_expect_eq(cu_run("map --dexter 10 --sigma 2 --eta 0.5 --x eta=0.1:1:2 --y batch=1:2 --runs 1 --steps 5 "
                     "--threads 1024 --no-plot --quiet --out mo"),
                 0, "%s", cu_slurp(cu_err));
}

Test(input, critical_batch_lists_never_wrap_and_are_bounded)
{
    make_family();
    static const bad_case cases[] = {
        /* 1, 2^63, 2^64 - 1: the step would wrap past 2^64 - 1 */
        {"1:18446744073709551615:9223372036854775807", "9223372036854775808 is outside [1, n] = [1, 20]"},
        {"1:18446744073709551615", "--batches: more than 1000000 values in the list"},
        {"1:1000001", "--batches: more than 1000000 values in the list"},
        {"1,,2", "--batches: empty item in the list"},
        {"1,2,", "--batches: empty item in the list"},
        {"0,2", "--batches: '0': expected a whole number in [1, 2^64 - 1]"},
        {"1:4:0", "--batches: '0': expected a whole number in [1, 2^64 - 1]"},
        {"4:1", "--batches: '4:1': empty range (4 > 1)"},
        {"1:2:3:4", "--batches: '1:2:3:4': expected A, A:B or A:B:STEP"},
        {"0x2", "--batches: '0x2': expected a whole number"},
        {"' 2'", "--batches: ' 2': expected a whole number"},
        {"2 --rho -0.1", "--rho '-0.1': expected a decimal number in [0, inf)"},
        {"2 --rho 0x1", "--rho '0x1': expected a decimal number in [0, inf)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = cu_run("critical --factors r1.npy --batches %s --out cr.txt", cases[i].args);
        expect_error(st, 2, cases[i].needle, cases[i].args);
        cr_expect(!cu_exists("cr.txt"), "%s: an output file was created", cases[i].args);
    }
    cr_expect_eq(cu_run("critical --factors r1.npy --batches 1:20:19,3 --csv"), 0, "%s", cu_slurp(cu_err));
    char *out = cu_slurp(cu_out);
    size_t lines = 0;
    for (const char *p = out; *p; p++) lines += *p == '\n';
    cr_expect_eq(lines, 4, "a header and the rows of batches 1, 20, 3: %s", out); /* header + 3 rows */
    free(out);
}

Test(input, validate_and_hessians_check_their_numbers)
{
    expect_error(cu_run("validate --count 0"), 2, "--count '0': expected a whole number in [1, 10000000]",
                 "validate --count 0");
    expect_error(cu_run("validate --count 10000001"), 2, "--count '10000001': expected a whole number in [1, 10000000]",
                 "validate --count 10000001");
    expect_error(cu_run("validate --seed 1e3"), 2, "--seed '1e3': expected a whole number", "validate --seed 1e3");
    expect_error(cu_run("hessians --model m --data x.npy --targets y.npy --label-smoothing 1 --out h.npy"), 2,
                 "--label-smoothing '1': expected a decimal number in [0, 1)", "hessians --label-smoothing 1");
    expect_error(cu_run("hessians --model m --data x.npy --targets y.npy --max-memory -1 --out h.npy"), 2,
                 "--max-memory '-1': expected a decimal number in [1e-09, 1e+09]", "hessians --max-memory -1");
    cr_expect(!cu_exists("h.npy"));
}

/* A checkpoint folder holding model.json alone (the architecture; the
 * weights left out) is named with the first file it lacks, exit 1; a weight
 * file that is there but unreadable keeps the reader's own message. */
Test(input, a_checkpoint_without_its_weight_files_names_the_first_missing_one)
{
    char p[700];
    const char *dirs[] = {"arch", "half", "nobias", "bad", "bad/W1.npy"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(p, sizeof p, "%s/%s", cu_dir, dirs[i]);
        cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
    }
    const char *json = "{\"layers\": [3, 2, 1], \"activation\": \"tanh\", \"bias\": true}";
    write_text("arch/model.json", json);
    write_text("half/model.json", json);
    write_text("bad/model.json", json);
    write_text("nobias/model.json", "{\"layers\": [3, 2, 1], \"activation\": \"tanh\", \"bias\": false}");
    double w1[6] = {0.1, -0.2, 0.3, 0.4, 0.5, -0.6}, x[6] = {1, 0, 0, 0, 1, 0}, y[2] = {0.5, -0.5};
    size_t s23[2] = {2, 3}, s21[2] = {2, 1};
    cu_write_npy("half/W1.npy", w1, 2, s23);
    cu_write_npy("nobias/W1.npy", w1, 2, s23);
    cu_write_npy("X.npy", x, 2, s23);
    cu_write_npy("Y.npy", y, 2, s21);
    const char *fam = "--data X.npy --targets Y.npy --eta 0.1 --batch 1";
    expect_error(cu_run("check --model arch %s", fam), 1,
                 "linstab check: error: checkpoint arch has no W1.npy (its model.json gives the architecture only: "
                 "the weights W<l>.npy and b<l>.npy, as `linstab train --out arch` writes them, are missing)",
                 "check, model.json alone");
    expect_error(cu_run("hessians --model arch --data X.npy --targets Y.npy --loss mse --out h.npy"), 1,
                 "linstab hessians: error: checkpoint arch has no W1.npy", "hessians, model.json alone");
    expect_error(cu_run("check --model half %s", fam), 1, "checkpoint half has no b1.npy", "check, W1.npy only");
    expect_error(cu_run("check --model nobias %s", fam), 1,
                 "checkpoint nobias has no W2.npy (its model.json gives the architecture only: the weights W<l>.npy, "
                 "as", "check, no bias, W1.npy only");
    /* W1.npy is there (a folder): not "has no" but the reader's error */
    cu_run("check --model bad %s", fam);
    char *err = cu_slurp(cu_err);
    cr_expect(strstr(err, "bad/W1.npy") != NULL && strstr(err, "has no") == NULL, "%s", err);
    free(err);
    cr_expect(!cu_exists("h.npy"));
}

/* ------------------------------------------------------------------ */
/* Axis specifications                                                 */

Test(input, map_refuses_axes_whose_size_would_overflow_or_exhaust_memory_before_allocating)
{
    static const bad_case cases[] = {
        {"--x eta=0.1:1:2305843009213693952 --y batch=1:2",
         "axis 'eta=0.1:1:2305843009213693952': 2305843009213693952 points, more than the 1000000 allowed per axis"},
        {"--x eta=0.1:1:1000000000 --y batch=1:2", "1000000000 points, more than the 1000000 allowed per axis"},
        {"--x eta=0.1:1:2 --y batch=1:1e300", "whole numbers in [1, 2^53] (got 1e+300)"},
        {"--x eta=0.1:1:2 --y batch=1:18446744073709551616", "whole numbers in [1, 2^53]"},
        {"--x eta=0.1:1:2 --y batch=1:9007199254740992", "9007199254740992 points, more than the 1000000 allowed"},
        {"--x eta=0x10,1 --y batch=1:2", "'0x10' is not a decimal number"},
        {"--x eta=0.1,inf --y batch=1:2", "'inf' is not a decimal number"},
        {"--x eta=0.1,,1 --y batch=1:2", "empty item 2 in the list"},
        {"--x 'eta= 0.1' --y batch=1:2", "' 0.1' is not a decimal number"},
        {"--x eta=0.1:1:2.5 --y batch=1:2", "a range needs a whole count in [1, 1000000]"},
        {"--x eta=0.1:1:1e400 --y batch=1:2", "expected a list a,b,c"},
        {"--x rho=-1e308:1.7e308:3 --y batch=1:2", "the range -1e+308..1.7e+308 is too wide for a double"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int st = cu_run("map --dexter 10 --sigma 2 --eta 0.5 %s --out mo", cases[i].args);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        expect_error(st, 2, cases[i].needle, cases[i].args);
        cr_expect(!cu_exists("mo"), "%s: the output folder was created", cases[i].args);
        /* refused from the text alone, not after filling gigabytes */
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        cr_expect(secs < 10.0, "%s: %.1f s to refuse", cases[i].args, secs);
    }
}

Test(axis, the_point_bound_is_inclusive_for_ranges_and_lists)
{
    linstab_map_axis a;
    linstab_error err = {0};
    char spec[64];
    snprintf(spec, sizeof spec, "eta=0.1:1:%d", LINSTAB_MAP_AXIS_MAX_POINTS);
    cr_assert_eq(linstab_map_axis_parse(spec, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(a.count, 1000000);
    cr_expect_eq(a.values[0], 0.1);
    cr_expect_eq(a.values[a.count - 1], 1.0);
    linstab_map_axis_clear(&a);
    snprintf(spec, sizeof spec, "eta=0.1:1:%d", LINSTAB_MAP_AXIS_MAX_POINTS + 1);
    cr_expect_eq(linstab_map_axis_parse(spec, &a, &err), LINSTAB_EINVAL);
    cr_expect_null(a.values);
    cr_expect_eq(a.count, 0);
    snprintf(spec, sizeof spec, "batch=1:%d", LINSTAB_MAP_AXIS_MAX_POINTS);
    cr_assert_eq(linstab_map_axis_parse(spec, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(a.count, 1000000);
    linstab_map_axis_clear(&a);
    snprintf(spec, sizeof spec, "batch=1:%d", LINSTAB_MAP_AXIS_MAX_POINTS + 1);
    cr_expect_eq(linstab_map_axis_parse(spec, &a, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "1000001 points, more than the 1000000 allowed per axis") != NULL, "%s", err.msg);
    /* a list of 10^6 + 1 items: "rho=" then "0," repeated */
    size_t items = LINSTAB_MAP_AXIS_MAX_POINTS + 1;
    char *list = malloc(4 + 2 * items);
    cr_assert_not_null(list);
    memcpy(list, "rho=", 4);
    for (size_t i = 0; i < items; i++) memcpy(list + 4 + 2 * i, "0,", 2);
    list[4 + 2 * items - 1] = '\0';
    cr_expect_eq(linstab_map_axis_parse(list, &a, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "1000001 points") != NULL, "%s", err.msg);
    list[4 + 2 * (items - 1) - 1] = '\0'; /* 10^6 items */
    cr_assert_eq(linstab_map_axis_parse(list, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(a.count, 1000000);
    linstab_map_axis_clear(&a);
    free(list);
}

Test(axis, integer_ranges_are_exact_up_to_two_to_the_53)
{
    linstab_map_axis a;
    linstab_error err = {0};
    /* (2^53 - 1) / 2^52 = 1: the points 1 and 2^52 + 1, exactly */
    cr_assert_eq(linstab_map_axis_parse("batch=1:9007199254740992:4503599627370496", &a, &err), LINSTAB_OK, "%s",
                 err.msg);
    cr_expect_eq(a.count, 2);
    cr_expect_eq(a.values[0], 1.0);
    cr_expect_eq(a.values[1], 4503599627370497.0);
    linstab_map_axis_clear(&a);
    cr_assert_eq(linstab_map_axis_parse("sigma=9007199254740991:9007199254740992", &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(a.count, 2);
    cr_expect_eq(a.values[1], 9007199254740992.0);
    linstab_map_axis_clear(&a);
    cr_expect_eq(linstab_map_axis_parse("sigma=1:9007199254740994:9007199254740994", &a, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "[1, 2^53]") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_map_axis_parse("batch=1e300", &a, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "is not a whole number in [1, 2^53]") != NULL, "%s", err.msg);
    /* 7:100:31 -> 7, 38, 69, 100 */
    cr_assert_eq(linstab_map_axis_parse("batch=7:100:31", &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(a.count, 4);
    for (size_t i = 0; i < 4; i++) cr_expect_eq(a.values[i], 7.0 + 31.0 * (double)i);
    linstab_map_axis_clear(&a);
}

Test(axis, numbers_are_decimal_and_subnormal_values_are_finite)
{
    linstab_map_axis a;
    linstab_error err = {0};
    cr_assert_eq(linstab_map_axis_parse("eta=1e-320,2.5E+1,.5,-0.0e0", &a, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "eta must be > 0 (got -0)") != NULL, "%s", err.msg);
    cr_assert_eq(linstab_map_axis_parse("eta=1e-320,2.5E+1,.5", &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(a.count, 3);
    cr_expect_eq(a.values[0], 1e-320);
    cr_expect_eq(a.values[1], 25.0);
    cr_expect_eq(a.values[2], 0.5);
    linstab_map_axis_clear(&a);
    cr_assert_eq(linstab_map_axis_parse("eta=1.", &a, &err), LINSTAB_OK, "'1.' is a decimal number: %s", err.msg);
    cr_expect_eq(a.values[0], 1.0);
    linstab_map_axis_clear(&a);
    const char *bad[] = {"eta=0x10", "eta=inf", "eta=nan", "eta=1e400", "eta=1e", "eta=.", "eta=+",
                         "eta=1,", "eta=,1", "rho=0:1:3:4:5:6", "eta=log:0.1:1:1e7", "eta=0.1 :1:3", "eta=0.1:1: 3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(linstab_map_axis_parse(bad[i], &a, &err), LINSTAB_EINVAL, "accepted '%s'", bad[i]);
        cr_expect_null(a.values, "%s", bad[i]);
        cr_expect_eq(a.count, 0, "%s", bad[i]);
    }
}

/* ------------------------------------------------------------------ */
/* The pure parsers                                                     */

static int num(const char *s, double lo, double hi, unsigned flags, double *v, char *msg)
{
    return cli_number_parse(s, lo, hi, flags, v, msg, 256);
}

Test(parse, decimal_numbers_are_accepted_exactly_as_strtod_reads_them)
{
    const char *good[] = {"0", "-1.5", "+2", "2e-3", ".5", "5.", "1E+10", "1e-320", "4.9406564584124654e-324",
                          "1.7976931348623157e308", "-0"};
    char msg[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double v = 12345;
        cr_expect_eq(num(good[i], -INFINITY, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &v, msg), 0, "'%s': %s", good[i],
                     msg);
        cr_expect_eq(v, strtod(good[i], NULL), "'%s'", good[i]);
    }
    /* below the smallest subnormal: rounds to 0, still a finite decimal */
    double v = 1;
    cr_expect_eq(num("1e-400", -1, 1, 0, &v, msg), 0, "%s", msg);
    cr_expect_eq(v, 0.0);
}

Test(parse, everything_but_a_decimal_number_is_refused_and_the_output_untouched)
{
    const char *bad[] = {"",    " 1",  "1 ",  "\t1", "1\n", "0x10", "0X1p3", "inf", "-inf", "nan",  "NAN",
                         "1e",  "1e+", "e5",  ".",   "+",   "-",    "1.2.3", "1,5", "1_000", "١", "1e400",
                         "-1e400", "--1", "+-1", "1f"};
    char msg[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 12345;
        msg[0] = '\0';
        cr_expect_eq(num(bad[i], -INFINITY, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &v, msg), 2, "accepted '%s'", bad[i]);
        cr_expect_eq(v, 12345, "'%s' wrote the output", bad[i]);
        char want[256];
        int big = strstr(bad[i], "1e400") != NULL; /* the only syntactically valid ones */
        snprintf(want, sizeof want, "'%s': %sexpected a decimal number in (-inf, inf)", bad[i],
                 big ? "too large for a double; " : "");
        cr_expect_str_eq(msg, want);
    }
    cr_expect_eq(num(NULL, 0, 1, 0, &(double){0}, msg), 2);
}

Test(parse, ranges_honour_open_and_closed_ends_and_are_printed)
{
    char msg[256];
    double v;
    cr_expect_eq(num("0", 0, 1, 0, &v, msg), 0);
    cr_expect_eq(num("1", 0, 1, 0, &v, msg), 0);
    cr_expect_eq(num("0", 0, 1, CLI_LO_OPEN, &v, msg), 2);
    cr_expect_str_eq(msg, "'0': expected a decimal number in (0, 1]");
    cr_expect_eq(num("1", 0, 1, CLI_HI_OPEN, &v, msg), 2);
    cr_expect_str_eq(msg, "'1': expected a decimal number in [0, 1)");
    cr_expect_eq(num("0.99999999999999989", 0, 1, CLI_HI_OPEN, &v, msg), 0); /* the double below 1 */
    cr_expect_eq(num("-1e-320", 0, INFINITY, CLI_HI_OPEN, &v, msg), 2);
    cr_expect_str_eq(msg, "'-1e-320': expected a decimal number in [0, inf)");
    cr_expect_eq(num("1e300", 0, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &v, msg), 0);
    cr_expect_eq(num("1e400", 0, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &v, msg), 2);
    cr_expect_str_eq(msg, "'1e400': too large for a double; expected a decimal number in (0, inf)");
    /* a long text is quoted in part; a NULL or short buffer is safe */
    char longtext[300];
    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    cr_expect_eq(num(longtext, 0, 1, 0, &v, msg), 2);
    cr_expect(strlen(msg) < 120, "%s", msg);
    cr_expect(strstr(msg, "...'") != NULL, "%s", msg);
    cr_expect_eq(cli_number_parse("x", 0, 1, 0, &v, NULL, 0), 2);
    char tiny[4];
    cr_expect_eq(cli_number_parse("x", 0, 1, 0, &v, tiny, sizeof tiny), 2);
    cr_expect_eq(strlen(tiny), 3);
}

Test(parse, whole_numbers_never_wrap)
{
    char msg[256];
    unsigned long long v = 7;
    cr_expect_eq(cli_uint_parse("18446744073709551615", 0, ULLONG_MAX, &v, msg, sizeof msg), 0);
    cr_expect_eq(v, ULLONG_MAX);
    cr_expect_eq(cli_uint_parse("007", 0, 10, &v, msg, sizeof msg), 0);
    cr_expect_eq(v, 7);
    const char *bad[] = {"18446744073709551616", "99999999999999999999999", "-1", " -1", "+1", "1 ", "0x10",
                         "1e3", "1.0", "", "٣"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        cr_expect_eq(cli_uint_parse(bad[i], 0, ULLONG_MAX, &v, msg, sizeof msg), 2, "accepted '%s'", bad[i]);
        cr_expect_eq(v, 7);
        cr_expect(strstr(msg, "expected a whole number in [0, 2^64 - 1]") != NULL, "%s", msg);
    }
    cr_expect_eq(cli_uint_parse("1025", 1, 1024, &v, msg, sizeof msg), 2);
    cr_expect_str_eq(msg, "'1025': expected a whole number in [1, 1024]");
    cr_expect_eq(cli_uint_parse("1024", 1, 1024, &v, msg, sizeof msg), 0);
    cr_expect_eq(cli_uint_parse("0", 1, 1024, &v, msg, sizeof msg), 2);
}

Test(parse, size_lists_expand_ranges_exactly_and_are_counted_before_allocation)
{
    char msg[256];
    size_t *v = NULL, n = 0;
    cr_assert_eq(cli_size_list_parse("1,2,10:100:45,7:7", 1, 1000, 100, &v, &n, msg, sizeof msg), 0, "%s", msg);
    size_t want[] = {1, 2, 10, 55, 100, 7};
    cr_assert_eq(n, 6);
    for (size_t i = 0; i < n; i++) cr_expect_eq(v[i], want[i]);
    free(v);
    /* the count is exact at the bound */
    cr_assert_eq(cli_size_list_parse("1:100,5", 1, 1000, 101, &v, &n, msg, sizeof msg), 0, "%s", msg);
    cr_expect_eq(n, 101);
    free(v);
    v = NULL;
    cr_expect_eq(cli_size_list_parse("1:100,5,6", 1, 1000, 101, &v, &n, msg, sizeof msg), 2);
    cr_expect_str_eq(msg, "more than 101 values in the list");
    cr_expect_null(v);
    /* ranges up to 2^64 - 1: (B - A) / STEP + 1 without overflow */
    cr_assert_eq(cli_size_list_parse("1:18446744073709551615:9223372036854775807", 1, SIZE_MAX, 10, &v, &n, msg,
                                     sizeof msg),
                 0, "%s", msg);
    cr_assert_eq(n, 3);
    cr_expect_eq(v[0], 1);
    cr_expect_eq(v[1], (size_t)1 << 63);
    cr_expect_eq(v[2], SIZE_MAX);
    free(v);
    v = NULL;
    cr_expect_eq(cli_size_list_parse("0:18446744073709551615", 0, SIZE_MAX, CLI_LIST_MAX, &v, &n, msg, sizeof msg), 2);
    cr_expect_str_eq(msg, "more than 1000000 values in the list");
    cr_expect_eq(cli_size_list_parse("18446744073709551615:18446744073709551615:18446744073709551615", 0, SIZE_MAX,
                                     CLI_LIST_MAX, &v, &n, msg, sizeof msg),
                 0, "%s", msg);
    cr_expect_eq(n, 1);
    cr_expect_eq(v[0], SIZE_MAX);
    free(v);
    v = NULL;
    const char *bad[] = {"", ",", "1,", ",1", "1,,2", "a", "1:", ":1", "1::2", "1:2:", "1:2:0", "5:4",
                         "1:2:3:4", "0", "1001", "1:1001", "-1", "+1", " 1", "0x1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        cr_expect_eq(cli_size_list_parse(bad[i], 1, 1000, 100, &v, &n, msg, sizeof msg), 2, "accepted '%s'", bad[i]);
        cr_expect_null(v, "'%s' left an allocation", bad[i]);
        cr_expect(msg[0] != '\0', "'%s': no message", bad[i]);
    }
}

/* ------------------------------------------------------------------ */
/* CSV                                                                  */

static int csv(const char *text, cli_csv *c, char *msg)
{
    return cli_csv_parse(text, strlen(text), c, msg, 256);
}

Test(csv, a_header_and_numeric_rows_are_read_with_missing_values_as_nan)
{
    cli_csv c;
    char msg[256];
    cr_assert_eq(csv("step,loss,sharpness\r\n1,0.5,\n2,2.5e-1,1e-320\n3,-nan,inf\n4,nan,-inf\n\n\n", &c, msg), 0, "%s",
                 msg);
    cr_expect_eq(c.ncol, 3);
    cr_expect_eq(c.nrow, 4);
    cr_expect_str_eq(c.names[0], "step");
    cr_expect_str_eq(c.names[2], "sharpness");
    cr_expect_eq(cli_csv_column(&c, "loss"), 1);
    cr_expect_eq(cli_csv_column(&c, "nope"), -1);
    const double *v = c.values;
    cr_expect_eq(v[0], 1.0);
    cr_expect_eq(v[1], 0.5);
    cr_expect(isnan(v[2]));
    cr_expect_eq(v[4], 0.25);
    cr_expect_eq(v[5], 1e-320);
    cr_expect(isnan(v[7]));
    cr_expect(isinf(v[8]) && v[8] > 0);
    cr_expect(isinf(v[11]) && v[11] < 0);
    cli_csv_free(&c);
    cr_expect_null(c.names);
    cli_csv_free(&c); /* twice is safe */
    /* no final newline; a buffer that is not NUL-terminated */
    const char text[] = {'a', '\n', '1', '2', 'X'};
    cr_assert_eq(cli_csv_parse(text, 4, &c, msg, sizeof msg), 0, "%s", msg);
    cr_expect_eq(c.nrow, 1);
    cr_expect_eq(c.values[0], 12.0);
    cli_csv_free(&c);
}

Test(csv, malformed_files_are_refused_naming_line_and_column)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"", "empty file (expected a header row of column names)"},
        {"\n\n", "empty file (expected a header row of column names)"},
        {"a,b\n", "no data rows after the header"},
        {"a,b\n1,2\n3,x\n", "3:3: non-numeric value 'x' in column 'b'"},
        {"a,b\n1,2\n3,0x10\n", "3:3: non-numeric value '0x10' in column 'b'"},
        {"a,b\n1, 2\n", "2:3: non-numeric value ' 2' in column 'b'"},
        {"a,bc\r\n10,2\r\n300,\"4\"\r\n", "3:5: non-numeric value '\"4\"' in column 'bc'"},
        {"a,b\n\"1\",2\n", "2:1: non-numeric value '\"1\"' in column 'a'"},
        {"a,b\n1e400,2\n", "2:1: out-of-range value '1e400' in column 'a'"},
        {"a,b\nInf,2\n", "2:1: non-numeric value 'Inf' in column 'a'"},
        {"a,b\n1,2,3\n", "2: 3 fields, the header has 2"},
        {"a,b\n1,2\n1\n", "3: 1 field, the header has 2"},
        {"a,b\n1,2\n\n3,4\n", "3: blank line between rows"},
        {"a,,b\n1,2,3\n", "1:3: empty name of column 2"},
        {"a,b,a\n1,2,3\n", "1:5: column name 'a' appears in columns 1 and 3"},
        {"a,b\n1,2\n3\0,4\n", "3:2: a NUL byte (not a text file)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cli_csv c = {.nrow = 99};
        char msg[256] = "";
        size_t len = strlen(cases[i].text);
        if (strstr(cases[i].msg, "NUL")) len = 13;
        cr_expect_eq(cli_csv_parse(cases[i].text, len, &c, msg, sizeof msg), 2, "accepted case %zu", i);
        cr_expect_str_eq(msg, cases[i].msg, "case %zu", i);
        cr_expect_null(c.names);
        cr_expect_null(c.values);
        cr_expect_eq(c.nrow, 0);
    }
    /* too many columns */
    char *wide = malloc(2 * (CLI_CSV_MAXCOL + 1) + 8);
    size_t pos = 0;
    for (int j = 0; j <= CLI_CSV_MAXCOL; j++) pos += (size_t)sprintf(wide + pos, j ? ",a" : "a");
    cli_csv c;
    char msg[256];
    cr_expect_eq(cli_csv_parse(wide, pos, &c, msg, sizeof msg), 2);
    cr_expect(strstr(msg, "1: 4097 columns, more than 4096") != NULL, "%s", msg);
    free(wide);
}

Test(input, plot_refuses_non_numeric_and_ragged_rows_and_writes_nothing)
{
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"step,loss\n1,0.5\n2,abc\n", "linstab plot: error: log.csv:3:3: non-numeric value 'abc' in column 'loss'\n"},
        {"step,loss\n1,0.5\n2,0.4,9\n", "log.csv:3: 3 fields, the header has 2"},
        {"step,loss\n1,0.5\n2\n", "log.csv:3: 1 field, the header has 2"},
        {"step,loss\n", "log.csv: no data rows after the header"},
        {"step,loss\n1,0x1\n", "log.csv:2:3: non-numeric value '0x1' in column 'loss'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text("log.csv", cases[i].text);
        int st = cu_run("plot --csv log.csv --x step --y loss --out fig.svg");
        expect_error(st, 1, cases[i].needle, cases[i].text);
        cr_expect(!cu_exists("fig.svg"), "case %zu: an output file was created", i);
    }
    /* a valid log with a missing value is drawn */
    write_text("log.csv", "step,loss,sharpness\n1,0.5,\n2,0.25,3\n3,0.125,\n");
    cr_expect_eq(cu_run("plot --csv log.csv --x step --y loss,sharpness --out fig.svg"), 0, "%s", cu_slurp(cu_err));
    cr_expect(cu_exists("fig.svg"));
    cr_expect(strstr(cu_slurp(cu_out), "3 points") != NULL);
}

/* ------------------------------------------------------------------ */
/* Sizes from files                                                     */

/* An npy file with the given dict and no data. */
static void write_npy_header(const char *name, const char *dict)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", cu_dir, name);
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    size_t len = strlen(dict);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)len, (unsigned char)(len >> 8)};
    fwrite(pre, 1, 10, fp);
    fwrite(dict, 1, len, fp);
    cr_assert_eq(fclose(fp), 0);
}

Test(input, a_family_file_whose_shape_overflows_says_how_much_memory_it_needs)
{
    write_npy_header("huge.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (10000000, 10000000, 10000000), }\n");
    expect_error(cu_run("check --family huge.npy --eta 0.5 --batch 2"), 1,
                 "shape (10000000, 10000000, 10000000) is too large: it needs 8e+21 bytes", "huge family");
    write_npy_header("big.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000, 1000000), }\n");
    expect_error(cu_run("check --family big.npy --eta 0.5 --batch 2"), 1,
                 "needs 8000000000000000000 bytes, the file has 0 after the header", "big family");
}

Test(input, idx_files_whose_header_claims_more_than_the_file_holds_are_refused_before_training)
{
    /* plain: 60000 images of 28 x 28 claimed, 16 bytes of header only */
    const unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28};
    char path[700];
    snprintf(path, sizeof path, "%s/img.idx", cu_dir);
    FILE *fp = fopen(path, "wb");
    fwrite(hdr, 1, sizeof hdr, fp);
    fclose(fp);
    const unsigned char lab[8] = {0, 0, 8, 1, 0, 0, 0xea, 0x60};
    snprintf(path, sizeof path, "%s/lab.idx", cu_dir);
    fp = fopen(path, "wb");
    fwrite(lab, 1, sizeof lab, fp);
    fclose(fp);
    expect_error(cu_run("train --layers 784,10 --idx-images img.idx --idx-labels lab.idx --out tr"), 1,
                 "img.idx: truncated data (the header says 60000 items of 784 bytes, 47040000 bytes; the file has 0 "
                 "after the header)",
                 "plain IDX");
    cr_expect(!cu_exists("tr"));
    /* gzip'd: 2^32 - 1 images of 2^32 - 1 x 2^32 - 1 bytes: the product overflows;
     * (2^32 - 1)^2 = 18446744065119617025 and 8 (2^32 - 1)^3 = 6.34e29 */
    const unsigned char big[16] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    snprintf(path, sizeof path, "%s/big.idx.gz", cu_dir);
    gzFile gz = gzopen(path, "wb");
    gzwrite(gz, big, sizeof big);
    gzclose(gz);
    expect_error(cu_run("train --layers 784,10 --idx-images big.idx.gz --idx-labels lab.idx --out tr"), 1,
                 "4294967295 items of 18446744065119617025 bytes need 6.34e+29 bytes as float64, more than the address space holds", "overflowing IDX");
    cr_expect(!cu_exists("tr"));
}

/* ------------------------------------------------------------------ */
/* The shared options (tools/cli_options.c): the same option is read   */
/* the same way by every command that takes it                         */

TestSuite(shared, .init = cu_setup, .fini = cu_teardown);

static const char *const commands[] = {"check", "critical", "map", "validate", "gen", "plot", "hessians", "train", "dynamics"};
enum { NCMD = sizeof commands / sizeof commands[0] };

/* A shared option: a valid and (when there is one) an invalid value with
 * the exact message, and the commands that take it. */
typedef struct shared_case {
    const char *name;  /* without "--" */
    const char *good;  /* NULL: a flag */
    const char *bad;   /* NULL: every value is valid (a file name) */
    const char *msg;   /* the message (after "error: ") */
    const char *takes; /* the commands, space-separated */
} shared_case;

#define FAMILY_CMDS "check critical map"
static const shared_case shared_cases[] = {
    {"family", "F.npy", NULL, NULL, FAMILY_CMDS " dynamics"},
    {"factors", "U.npy", NULL, NULL, FAMILY_CMDS " dynamics"},
    {"diag", "D.npy", NULL, NULL, FAMILY_CMDS " dynamics"},
    {"allow-indefinite", NULL, NULL, NULL, FAMILY_CMDS " dynamics"},
    {"sym-tol", "1e-8", "-1", "--sym-tol '-1': expected a decimal number in [0, inf)", FAMILY_CMDS " dynamics"},
    {"rank-tol", "0.5", "1", "--rank-tol '1': expected a decimal number in [0, 1)", FAMILY_CMDS},
    {"max-memory", "2", "0", "--max-memory '0': expected a decimal number in [1e-09, 1e+09]",
     FAMILY_CMDS " hessians dynamics"},
    {"model", "DIR", NULL, NULL, FAMILY_CMDS " hessians dynamics"},
    {"data", "X.npy", NULL, NULL, FAMILY_CMDS " hessians train dynamics"},
    {"targets", "Y.npy", NULL, NULL, FAMILY_CMDS " hessians train dynamics"},
    {"loss", "ce", "mae", "--loss 'mae': expected mse or ce", FAMILY_CMDS " hessians train dynamics"},
    {"hessian", "exact", "full", "--hessian 'full': expected exact or gn", FAMILY_CMDS},
    {"label-smoothing", "0.5", "1", "--label-smoothing '1': expected a decimal number in [0, 1)",
     FAMILY_CMDS " hessians train dynamics"},
    {"eta", "0.5", "0", "--eta '0': expected a decimal number in (0, inf)", "check map train dynamics"},
    {"batch", "3", "0", "--batch '0': expected a whole number in [1, 2^64 - 1]", "check map train dynamics"},
    {"rho", "0.1", "-1", "--rho '-1': expected a decimal number in [0, inf)", "check critical map train dynamics"},
    {"sampling", "with", "uniform",
     "--sampling: 'uniform' is not a sampling scheme: expected bernoulli, without or with", "check critical map dynamics"},
    {"sam-variant", "independent", "other", "--sam-variant: 'other' is not a SAM variant: expected same or independent",
     "check critical"},
    {"seed", "18446744073709551615", "18446744073709551616",
     "--seed '18446744073709551616': expected a whole number in [0, 2^64 - 1]", "check map train gen validate dynamics"},
    {"eigen", "dense", "lapack", "--eigen 'lapack': expected dense, arpack or auto", "check critical"},
    {"no-exact", NULL, NULL, NULL, "check map"},
    {"threads", "2", "0", "--threads '0': expected a whole number in [1, 1024]", "map"},
    {"json", NULL, NULL, NULL, "check critical validate dynamics"},
    {"out", "o", NULL, NULL, "check critical map validate gen plot hessians train dynamics"},
    {"quiet", NULL, NULL, NULL, "check critical map validate gen plot hessians train dynamics"},
};

static int takes(const shared_case *sc, const char *cmd)
{
    size_t len = strlen(cmd);
    for (const char *p = sc->takes; (p = strstr(p, cmd)) != NULL; p += len)
        if ((p == sc->takes || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\0')) return 1;
    return 0;
}

/* The last run failed with exactly `want` on stderr (one line) and
 * nothing on stdout. */
static void expect_exactly(int got, const char *want, const char *what)
{
    char *err = cu_slurp(cu_err), *out = cu_slurp(cu_out);
    cr_expect_eq(got, 2, "%s: exit status %d, want 2; stderr: %s", what, got, err);
    cr_expect_str_eq(err, want, "%s: stderr\n  %s  want\n  %s", what, err, want);
    cr_expect_str_empty(out, "%s: stdout: %s", what, out);
    free(err);
    free(out);
}

Test(shared, every_command_that_takes_a_shared_option_parses_its_value_and_refuses_a_bad_one_alike)
{
    char want[512], what[256];
    for (size_t i = 0; i < sizeof shared_cases / sizeof shared_cases[0]; i++) {
        const shared_case *sc = &shared_cases[i];
        for (size_t k = 0; k < NCMD; k++) {
            const char *cmd = commands[k];
            if (!takes(sc, cmd)) continue;
            /* accepted: parsing goes on to the argument after it */
            snprintf(what, sizeof what, "%s --%s %s", cmd, sc->name, sc->good ? sc->good : "");
            snprintf(want, sizeof want, "linstab %s: error: unexpected argument 'stray' (see 'linstab %s --help')\n",
                     cmd, cmd);
            expect_exactly(cu_run("%s --%s %s stray", cmd, sc->name, sc->good ? sc->good : ""), want, what);
            if (sc->good != NULL) {
                /* an option with a value, given none */
                snprintf(what, sizeof what, "%s --%s (no value)", cmd, sc->name);
                snprintf(want, sizeof want,
                         "linstab %s: error: unknown or incomplete option '--%s' (see 'linstab %s --help')\n", cmd,
                         sc->name, cmd);
                expect_exactly(cu_run("%s --%s", cmd, sc->name), want, what);
            } else {
                /* a flag, given a value */
                snprintf(what, sizeof what, "%s --%s=1", cmd, sc->name);
                snprintf(want, sizeof want,
                         "linstab %s: error: unknown or incomplete option '--%s=1' (see 'linstab %s --help')\n", cmd,
                         sc->name, cmd);
                expect_exactly(cu_run("%s --%s=1", cmd, sc->name), want, what);
            }
            if (sc->bad != NULL) {
                /* refused with the same message by each command */
                snprintf(what, sizeof what, "%s --%s %s", cmd, sc->name, sc->bad);
                snprintf(want, sizeof want, "linstab %s: error: %s (see 'linstab %s --help')\n", cmd, sc->msg, cmd);
                expect_exactly(cu_run("%s --%s %s stray", cmd, sc->name, sc->bad), want, what);
            }
        }
    }
}

Test(shared, a_command_refuses_the_shared_options_it_does_not_take)
{
    char want[512], what[256];
    for (size_t i = 0; i < sizeof shared_cases / sizeof shared_cases[0]; i++) {
        const shared_case *sc = &shared_cases[i];
        for (size_t k = 0; k < NCMD; k++) {
            const char *cmd = commands[k];
            if (takes(sc, cmd)) continue;
            /* critical's --batches: getopt takes the unambiguous prefix --batch for it */
            if (strcmp(cmd, "critical") == 0 && strcmp(sc->name, "batch") == 0) continue;
            snprintf(what, sizeof what, "%s --%s", cmd, sc->name);
            snprintf(want, sizeof want,
                     "linstab %s: error: unknown or incomplete option '--%s' (see 'linstab %s --help')\n", cmd,
                     sc->name, cmd);
            expect_exactly(cu_run("%s --%s %s", cmd, sc->name, sc->good ? sc->good : ""), want, what);
        }
    }
}

Test(shared, every_command_documents_each_shared_option_it_takes)
{
    for (size_t k = 0; k < NCMD; k++) {
        const char *cmd = commands[k];
        if (strcmp(cmd, "plot") == 0) continue; /* its help is its usage line, which names --out */
        cr_assert_eq(cu_run("%s --help", cmd), 0, "%s --help: %s", cmd, cu_slurp(cu_err));
        char *out = cu_slurp(cu_out);
        for (size_t i = 0; i < sizeof shared_cases / sizeof shared_cases[0]; i++) {
            const shared_case *sc = &shared_cases[i];
            if (!takes(sc, cmd)) continue;
            char flag[64];
            int n = snprintf(flag, sizeof flag, "--%s", sc->name);
            int found = 0;
            for (const char *p = out; !found && (p = strstr(p, flag)) != NULL; p += n) {
                char next = p[n];
                found = !(next == '-' || (next >= 'a' && next <= 'z'));
            }
            cr_expect(found, "%s --help does not document --%s", cmd, sc->name);
        }
        free(out);
    }
}

/* The help line of a shared option is the table's, in every converted
 * command: what --rho, --seed and --quiet are does not depend on who asks. */
Test(shared, the_help_line_of_a_shared_option_comes_from_the_table)
{
    static const struct {
        const char *cmd, *line;
    } lines[] = {
        {"check", "  --rho R               SAM radius, >= 0 (default 0: SGD)\n"},
        {"train", "  --rho R               SAM radius, >= 0 (default 0.05)\n"},
        {"check", "  --eta E               learning rate, > 0 (required)\n"},
        {"train", "  --eta E               learning rate, > 0 (default 0.1)\n"},
        {"gen", "  --seed SEED   random seed (default 0)\n"},
        {"train", "  --seed S              random seed (default 0)\n"},
        {"hessians", "  --quiet             no progress bar\n"},
        {"train", "  --quiet               no progress bar\n"},
        {"hessians", "  --max-memory GB     memory limit (default: the memory available now)\n"},
        {"check", "  --max-memory GB       memory limit (default: the memory available now)\n"},
        {"hessians", "  --label-smoothing A cross-entropy label smoothing in [0, 1) (default 0)\n"},
        {"train", "  --label-smoothing A   cross-entropy label smoothing in [0, 1) (default 0)\n"},
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        cr_assert_eq(cu_run("%s --help", lines[i].cmd), 0);
        char *out = cu_slurp(cu_out);
        cr_expect(strstr(out, lines[i].line) != NULL, "%s --help lacks the line\n%s", lines[i].cmd, lines[i].line);
        free(out);
    }
}

/* The parsed value reaches the field the command uses: --max-memory in GB
 * is the limit of every family command, --seed the seed of gen and train
 * (0 is the default). */
Test(shared, a_shared_option_value_reaches_the_command)
{
    make_family();
    static const char *const fam[] = {"check --factors r1.npy --eta 0.5 --batch 2 --no-exact",
                                      "critical --factors r1.npy --batches 1,2 --quiet",
                                      "map --factors r1.npy --eta 0.5 --x eta=0.1:1:2 --y batch=1:2 --runs 1 "
                                      "--steps 5 --no-plot --quiet --out mo"};
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++) {
        cr_expect_eq(cu_run("%s --max-memory 4", fam[i]), 0, "%s --max-memory 4: %s", fam[i], cu_slurp(cu_err));
        int st = cu_run("%s --max-memory 1e-9", fam[i]);
        char *err = cu_slurp(cu_err);
        cr_expect_eq(st, 1, "%s --max-memory 1e-9: status %d: %s", fam[i], st, err);
        cr_expect(strstr(err, "memory") != NULL, "%s --max-memory 1e-9: %s", fam[i], err);
        free(err);
    }
    static const char *const seeded[] = {"gen --kind lowrank --n 4 --d 3 --out s.npy",
                                         "train --layers 2,3,1 --teacher 10 --batch 4 --steps 20 --quiet --out tr"};
    for (size_t i = 0; i < sizeof seeded / sizeof seeded[0]; i++) {
        const char *file = i == 0 ? "s.npy" : "tr/W1.npy";
        char path[700];
        snprintf(path, sizeof path, "%s/%s", cu_dir, file);
        size_t l0, l1, l2;
        cr_assert_eq(cu_run("%s", seeded[i]), 0, "%s", cu_slurp(cu_err));
        char *d0 = cu_slurp_len(path, &l0);
        cr_assert_eq(cu_run("%s --seed 0", seeded[i]), 0);
        char *d1 = cu_slurp_len(path, &l1);
        cr_assert_eq(cu_run("%s --seed 5", seeded[i]), 0);
        char *d2 = cu_slurp_len(path, &l2);
        cr_expect(l0 == l1 && memcmp(d0, d1, l0) == 0, "%s: --seed 0 is not the default", seeded[i]);
        cr_expect(l0 != l2 || memcmp(d0, d2, l0) != 0, "%s: --seed 5 changes nothing", seeded[i]);
        free(d0);
        free(d1);
        free(d2);
    }
}
