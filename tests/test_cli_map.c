/*
 * test_cli_map.c -- end-to-end tests of `linstab map`: a killed run
 * resumed gives the uninterrupted run's files; --resume refuses, saying
 * why, a checkpoint of another run (other family contents at the same
 * path, another y axis after a long x axis), a damaged one (a flipped
 * byte, a torn file) and a missing one; the outputs are the same bytes for
 * any OpenBLAS and OpenMP thread count; a full filesystem leaves no final
 * output name behind; the memory a grid needs is checked first; the family
 * options of `check` are accepted; the figure of Dexter et al. (2024)
 * Figure 1's grid is a compact SVG whose title states the parameters and
 * whose legend, below the box, covers no part of the boundary curve; the
 * rate and ETA of the bar after a --resume count this run's cells only.
 * The binary comes from $LINSTAB_BIN.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "svgutil.h"

static int mounted;
static const char *stdout_to; /* NULL: cu_out */

static void setup(void)
{
    cu_setup();
    mounted = 0;
    stdout_to = NULL;
}

static void teardown(void)
{
    char cmd[700];
    if (mounted) {
        snprintf(cmd, sizeof cmd, "umount '%s/full' 2>/dev/null", cu_dir);
        if (system(cmd) != 0) cr_log_warn("could not unmount %s/full", cu_dir);
    }
    cu_teardown();
}

TestSuite(cli_map, .init = setup, .fini = teardown, .timeout = 240);

/* Run `ENV linstab ARGS` in cu_dir (ENV: "VAR=value ..." or ""); the exit status. */
static int run_env(const char *env, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = cu_vrun(env, stdout_to, fmt, ap);
    va_end(ap);
    return st;
}

static char *slurp_rel(const char *rel, size_t *len)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", cu_dir, rel);
    return cu_slurp_len(p, len);
}

static void expect_same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = slurp_rel(a, &la), *y = slurp_rel(b, &lb);
    cr_assert_not_null(x, "no %s", a);
    cr_assert_not_null(y, "no %s", b);
    cr_expect(la == lb && memcmp(x, y, la) == 0, "%s and %s differ", a, b);
    free(x);
    free(y);
}

static void expect_stderr_has(const char *needle)
{
    char *e = cu_slurp(cu_err);
    cr_expect(strstr(e, needle) != NULL, "stderr lacks '%s': %s", needle, e);
    free(e);
}

/* 100 cells: two chunks of 64, so the abort hook stops after the first */
static const char *grid = "--dexter 20 --eta 0.8 --x sigma=1:10 --y batch=1:10 --steps 200 --quiet --no-plot";

static const char *outputs[] = {"frac_divergent.npy", "divergent.npy", "radius.npy", "lyapunov.npy",
                                "thm1_margin.npy", "thm2_margin.npy", "thm9_margin.npy", "x.npy",
                                "y.npy", "map.csv", "map.json"};

Test(cli_map, a_killed_run_resumed_gives_the_files_of_an_uninterrupted_run)
{
    cr_assert_eq(run_env("", "map %s --out whole", grid), 0);
    cr_assert_eq(run_env("LINSTAB_MAP_ABORT_AFTER_CHUNKS=1", "map %s --out part", grid), 137);
    cr_expect(cu_exists("part/map.checkpoint"));
    cr_expect(!cu_exists("part/map.csv"), "a killed run wrote map.csv");
    cr_assert_eq(run_env("", "map %s --out part --resume", grid), 0);
    for (size_t k = 0; k < sizeof outputs / sizeof outputs[0]; k++) {
        char a[64], b[64];
        if (strcmp(outputs[k], "map.json") == 0) continue; /* it records the seconds */
        snprintf(a, sizeof a, "whole/%s", outputs[k]);
        snprintf(b, sizeof b, "part/%s", outputs[k]);
        expect_same_file(a, b);
    }
}

Test(cli_map, resume_without_a_checkpoint_says_there_is_none)
{
    cr_expect_eq(run_env("", "map %s --out none --resume", grid), 1);
    expect_stderr_has("no checkpoint");
}

/* The same path, other contents: refused by the contents' hash. */
Test(cli_map, resume_refuses_a_checkpoint_of_other_family_contents_at_the_same_path)
{
    const char *g = "map --factors r1.npy --eta 0.5 --x eta=0.1:1:10 --y batch=1:20:2 --steps 100 --quiet --no-plot";
    cr_assert_eq(run_env("", "gen --kind rank1 --n 40 --d 6 --seed 1 --out r1.npy"), 0);
    cr_assert_eq(run_env("LINSTAB_MAP_ABORT_AFTER_CHUNKS=1", "%s --out o", g), 137);
    cr_assert_eq(run_env("", "gen --kind rank1 --n 40 --d 6 --seed 2 --out r1.npy"), 0);
    cr_expect_eq(run_env("", "%s --out o --resume", g), 1);
    expect_stderr_has("written by a different run: the contents of the factors file differs");
    /* the original contents again: accepted */
    cr_assert_eq(run_env("", "gen --kind rank1 --n 40 --d 6 --seed 1 --out r1.npy"), 0);
    cr_expect_eq(run_env("", "%s --out o --resume", g), 0);
}

/* 700 x values (about 13 kB of text, past the former 8192-byte identity)
 * and then a different y axis. */
Test(cli_map, resume_refuses_another_y_axis_after_a_long_x_list)
{
    static char xs[20000];
    size_t off = (size_t)snprintf(xs, sizeof xs, "eta=");
    for (int i = 0; i < 700; i++)
        off += (size_t)snprintf(xs + off, sizeof xs - off, "%s%.17g", i ? "," : "", 0.1 + 1e-3 * i + 1e-17);
    const char *g = "--dexter 10 --sigma 2 --runs 1 --steps 5 --no-exact --quiet --no-plot";
    cr_assert_eq(run_env("LINSTAB_MAP_ABORT_AFTER_CHUNKS=1", "map %s --x %s --y batch=1,2 --out o", g, xs), 137);
    cr_expect_eq(run_env("", "map %s --x %s --y batch=1,3 --out o --resume", g, xs), 1);
    expect_stderr_has("written by a different run: the y axis differs");
    cr_expect_eq(run_env("", "map %s --x %s --y batch=1,2 --out o --resume", g, xs), 0);
}

static void damage(const char *rel, int truncate_half)
{
    size_t len;
    char *b = slurp_rel(rel, &len);
    cr_assert_not_null(b);
    cr_assert_gt(len, 100);
    if (!truncate_half) b[len / 2] ^= 0x10;
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", cu_dir, rel);
    FILE *fp = fopen(p, "wb");
    cr_assert_not_null(fp);
    size_t w = truncate_half ? len / 2 : len;
    cr_assert_eq(fwrite(b, 1, w, fp), w);
    fclose(fp);
    free(b);
}

Test(cli_map, resume_refuses_a_checkpoint_with_a_flipped_byte)
{
    cr_assert_eq(run_env("LINSTAB_MAP_ABORT_AFTER_CHUNKS=1", "map %s --out o", grid), 137);
    damage("o/map.checkpoint", 0);
    cr_expect_eq(run_env("", "map %s --out o --resume", grid), 1);
    expect_stderr_has("checksum mismatch");
}

Test(cli_map, resume_refuses_a_torn_checkpoint_saying_how_much_is_missing)
{
    cr_assert_eq(run_env("LINSTAB_MAP_ABORT_AFTER_CHUNKS=1", "map %s --out o", grid), 137);
    size_t len;
    free(slurp_rel("o/map.checkpoint", &len));
    damage("o/map.checkpoint", 1);
    cr_expect_eq(run_env("", "map %s --out o --resume", grid), 1);
    char want[80];
    snprintf(want, sizeof want, "truncated (%zu of %zu bytes)", len / 2, len);
    expect_stderr_has(want);
}

/* The reported case: SAM 'same' on a rank-one family, exact columns and
 * Monte Carlo Lyapunov exponents, under 1 and 2 OpenBLAS threads and 1 and
 * 2 OpenMP threads: the same bytes in every file. */
Test(cli_map, outputs_are_the_same_bytes_for_any_openblas_and_openmp_thread_count)
{
    cr_assert_eq(run_env("", "gen --kind rank1 --n 60 --d 20 --seed 1 --out r1.npy"), 0);
    /* 9 cells of the reported grid (rho=0:0.5:10, batch=1:30:3): before the
     * fix their radii already differed between 1 and 2 OpenBLAS threads */
    const char *g = "map --factors r1.npy --optimizer sam-same --eta 0.5 --x rho=0:0.5:3 --y batch=1:30:10 "
                    "--steps 100 --quiet --no-plot";
    const char *cfg[4][2] = {{"OPENBLAS_NUM_THREADS=1", "1"}, {"OPENBLAS_NUM_THREADS=2", "1"},
                             {"OPENBLAS_NUM_THREADS=1", "2"}, {"OPENBLAS_NUM_THREADS=2", "2"}};
    for (int k = 0; k < 4; k++)
        cr_assert_eq(run_env(cfg[k][0], "%s --threads %s --out o%d", g, cfg[k][1], k), 0, "%s", cfg[k][0]);
    for (int k = 1; k < 4; k++)
        for (size_t q = 0; q < sizeof outputs / sizeof outputs[0]; q++) {
            if (strcmp(outputs[q], "map.json") == 0) continue;
            char a[64], b[64];
            snprintf(a, sizeof a, "o0/%s", outputs[q]);
            snprintf(b, sizeof b, "o%d/%s", k, outputs[q]);
            expect_same_file(a, b);
        }
}

static int mount_small(const char *size)
{
    char cmd[1800];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/full' && mount -t tmpfs -o size=%s tmpfs '%s/full' 2>/dev/null", cu_dir,
             size, cu_dir);
    if (system(cmd) != 0) return 0;
    mounted = 1;
    return 1;
}

/* A 64 kB filesystem: the checkpoint and the arrays fit, map.svg does not;
 * the map fails naming the file, and no final output name exists. */
Test(cli_map, a_full_filesystem_leaves_no_output_and_says_which_file)
{
    if (!mount_small("64k")) cr_skip("cannot mount a tmpfs here (needs root)");
    cr_expect_eq(run_env("", "map --dexter 20 --eta 0.8 --x sigma=1:10 --y batch=1:10 --steps 200 --quiet --out full/o"), 1);
    expect_stderr_has("cannot write full/o/map.");
    expect_stderr_has("no output was written");
    for (size_t k = 0; k < sizeof outputs / sizeof outputs[0]; k++) {
        char p[64];
        snprintf(p, sizeof p, "full/o/%s", outputs[k]);
        cr_expect(!cu_exists(p), "%s exists after a failed map", p);
    }
    cr_expect(!cu_exists("full/o/map.png"));
    cr_expect(!cu_exists("full/o/map.svg"));
    /* no staging folder is left behind */
    char cmd[800];
    snprintf(cmd, sizeof cmd, "ls -A '%s/full/o' | grep -q linstab-map", cu_dir);
    cr_expect_neq(system(cmd), 0, "a staging folder was left in full/o");
}

/* A 12 kB filesystem: the checkpoint itself cannot be written. */
Test(cli_map, a_checkpoint_that_cannot_be_written_stops_the_map_with_a_message)
{
    if (!mount_small("12k")) cr_skip("cannot mount a tmpfs here (needs root)");
    cr_expect_eq(run_env("", "map --dexter 20 --eta 0.8 --x sigma=1:20 --y batch=1:20 --steps 50 --no-exact --quiet --out full/o"), 1);
    expect_stderr_has("cannot write the checkpoint full/o/map.checkpoint");
    cr_expect(!cu_exists("full/o/map.csv"));
}

Test(cli_map, a_full_standard_output_is_an_error)
{
    stdout_to = "/dev/full";
    cr_expect_eq(run_env("", "map %s --out o", grid), 1);
    expect_stderr_has("cannot write to standard output");
}

Test(cli_map, the_memory_a_grid_needs_is_checked_first_and_stated_in_bytes)
{
    cr_expect_eq(run_env("", "map %s --max-memory 0.000001 --out o", grid), 1);
    expect_stderr_has("needs about");
    expect_stderr_has("bytes");
    expect_stderr_has("--max-memory");
    cr_expect(!cu_exists("o/map.checkpoint"));
    cr_expect_eq(run_env("", "map %s --max-memory 4 --out o", grid), 0);
}

Test(cli_map, the_family_options_of_check_are_accepted)
{
    cr_assert_eq(run_env("", "gen --kind rank1 --n 30 --d 5 --seed 3 --out r1.npy"), 0);
    cr_expect_eq(run_env("", "map --factors r1.npy --allow-indefinite --sym-tol 1e-9 --rank-tol 1e-12 --max-memory 2 "
                             "--eta 0.5 --x eta=0.2,0.5 --y batch=1,5 --steps 50 --quiet --no-plot --out o"),
                 0);
    char *e = cu_slurp(cu_err);
    cr_expect_str_eq(e, "");
    free(e);
}

/* ---- the figure ---- */

/* Dexter et al. (2024) Figure 1's grid, as tools/setup.sh draws it (1250
 * cells, about 2 s) */
#define FIGURE1 "map --dexter 100 --sampling bernoulli --eta 0.8 --x sigma=1:50:2 --y batch=1:100:2 --quiet"

/* The colours plot.c gives the exact mean-square boundary, (0, 200, 80),
 * and the legend's background, (170, 170, 170), which nothing else uses. */
#define BOUNDARY_GREEN "#00C850"
#define LEGEND_FILL "#AAAAAA"

static char *figure1_svg(size_t *len)
{
    if (!LINSTAB_TEST_PLOTS) cr_skip_test("this build draws no figures (no PLplot)");
    cr_assert_eq(run_env("", FIGURE1 " --out f1"), 0, "%s", cu_slurp(cu_err));
    char *svg = slurp_rel("f1/map.svg", len);
    cr_assert_not_null(svg, "no f1/map.svg");
    return svg;
}

Test(cli_map, the_figure_1_svg_is_under_a_megabyte_with_the_parameters_in_its_title_text)
{
    size_t len;
    char *svg = figure1_svg(&len);
    cr_expect(len < 1000000, "map.svg has %zu bytes", len);
    svg_text *t;
    size_t nt = svg_texts(svg, &t);
    /* the title's two lines: the optimizer, eta and the family; then the
     * protocol (PLplot's #gy is the Greek eta) */
    const svg_text *l1 = NULL, *l2 = NULL;
    for (size_t i = 0; i < nt; i++) {
        if (strstr(t[i].s, "\u03b7 = 0.8") != NULL && strstr(t[i].s, "n = 100") != NULL) l1 = &t[i];
        if (strstr(t[i].s, "bernoulli sampling, 5 runs x 1000 steps") != NULL) l2 = &t[i];
    }
    cr_expect_not_null(l1, "no <text> with eta = 0.8 and n = 100 (%zu texts)", nt);
    cr_expect_not_null(l2, "no <text> with the sampling and the protocol");
    if (l1 != NULL) {
        cr_expect(strstr(l1->s, "Dexter et al. (2024) construction") != NULL, "%s", l1->s);
        for (size_t i = 0; i < nt; i++) /* the title is above every other text */
            if (&t[i] != l1) cr_expect(t[i].y < l1->y, "'%s' is above the title", t[i].s);
    }
    if (l1 != NULL && l2 != NULL) cr_expect(l2->y < l1->y, "the protocol line is not below the first line");
    /* the axis labels */
    cr_expect_not_null(svg_text_find(t, nt, "coherence \u03c3"));
    cr_expect_not_null(svg_text_find(t, nt, "batch size B"));
    svg_texts_free(t, nt);
    free(svg);
}

/* Does the segment (a, b) come within r of the box [x0, x1] x [y0, y1]?
 * Sampled every 0.05 page units (a stroke is 5 wide). */
static int segment_meets_box(const double *a, const double *b, const double box[4], double r)
{
    double len = hypot(b[0] - a[0], b[1] - a[1]);
    size_t k = (size_t)(len / 0.05) + 1;
    for (size_t i = 0; i <= k; i++) {
        double u = (double)i / (double)k, x = a[0] + u * (b[0] - a[0]), y = a[1] + u * (b[1] - a[1]);
        if (x >= box[0] - r && x <= box[1] + r && y >= box[2] - r && y <= box[3] + r) return 1;
    }
    return 0;
}

Test(cli_map, the_figure_1_legend_box_covers_no_part_of_the_boundary_curve)
{
    size_t len;
    char *svg = figure1_svg(&len);
    svg_poly *v;
    size_t np = svg_polys(svg, &v);
    const svg_poly *legend = NULL;
    for (size_t i = 0; i < np && legend == NULL; i++)
        if (strcmp(v[i].fill, LEGEND_FILL) == 0) legend = &v[i];
    cr_assert_not_null(legend, "no polyline filled %s (the legend's background)", LEGEND_FILL);
    double box[4] = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (size_t j = 0; j < legend->n; j++) {
        box[0] = fmin(box[0], legend->xy[2 * j]);
        box[1] = fmax(box[1], legend->xy[2 * j]);
        box[2] = fmin(box[2], legend->xy[2 * j + 1]);
        box[3] = fmax(box[3], legend->xy[2 * j + 1]);
    }
    cr_assert(box[1] - box[0] > 100 && box[3] - box[2] > 20, "legend box %g..%g x %g..%g", box[0], box[1], box[2],
              box[3]);
    /* the curve: the green polylines drawn before the legend (the legend's
     * own green sample line comes after its background, inside it) */
    size_t vertices = 0, inside_after = 0;
    for (size_t i = 0; i < np; i++) {
        if (strcmp(v[i].stroke, BOUNDARY_GREEN) != 0) continue;
        if (v[i].at > legend->at) {
            inside_after += v[i].n > 0 && segment_meets_box(&v[i].xy[0], &v[i].xy[0], box, 0.0);
            continue;
        }
        vertices += v[i].n;
        for (size_t j = 0; j + 1 < v[i].n; j++)
            cr_expect(!segment_meets_box(&v[i].xy[2 * j], &v[i].xy[2 * j + 2], box, 0.5 * v[i].width),
                      "boundary segment (%.2f, %.2f)-(%.2f, %.2f) meets the legend box %.2f..%.2f x %.2f..%.2f",
                      v[i].xy[2 * j], v[i].xy[2 * j + 1], v[i].xy[2 * j + 2], v[i].xy[2 * j + 3], box[0], box[1],
                      box[2], box[3]);
    }
    /* one crossing per sigma column */
    cr_expect_eq(vertices, 25, "the boundary has %zu vertices, want one per column (25)", vertices);
    cr_expect_eq(inside_after, 1, "the legend's sample of the boundary's line is not in its box");
    svg_polys_free(v, np);
    free(svg);
}

/* After --resume the bar counts the checkpoint's cells in done but not in
 * the rate: it starts at 64/100 with "0 this run" and no ETA yet, and its
 * last line says the 36 cells of this run (LINSTAB_PROGRESS=1, or its old
 * name LINSTAB_MAP_PROGRESS=1: the bar also off a terminal).  --quiet:
 * nothing on stderr. */
Test(cli_map, the_bar_after_resume_counts_only_this_runs_cells_in_its_rate)
{
    const char *g = "--dexter 20 --eta 0.8 --x sigma=1:10 --y batch=1:10 --steps 200 --no-plot";
    cr_assert_eq(run_env("LINSTAB_MAP_ABORT_AFTER_CHUNKS=1", "map %s --out part --quiet", g), 137);
    char *e = cu_slurp(cu_err);
    cr_expect_str_eq(e, "", "--quiet");
    free(e);
    cr_assert_eq(run_env("LINSTAB_PROGRESS=1", "map %s --out part --resume", g), 0);
    expect_stderr_has("map        [###############         ] 64/100 (0 this run), 0.0 s, ETA --\n");
    expect_stderr_has("] 100/100 (36 this run) done in ");
    cr_assert_eq(run_env("LINSTAB_MAP_PROGRESS=1", "map %s --out whole", g), 0);
    expect_stderr_has("map        [                        ] 0/100, 0.0 s, ETA --\n");
    expect_stderr_has("] 100/100 done in ");
}
