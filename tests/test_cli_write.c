/*
 * test_cli_write.c -- end-to-end tests of the command's writes: standard
 * output to /dev/full, every --out on a full file system (a 64 KiB tmpfs
 * filled to the last block; needs root, skipped otherwise) and on a
 * read-only one.  Each failure must exit 1 with a message naming the file
 * (or standard output), leave no file under the final name and no
 * temporary behind.  Also: figures are whole PNG / SVG files, `train`
 * reports divergence by growth, and valgrind really checks linstab (no
 * re-exec under it).  The binary comes from $LINSTAB_BIN (set by meson).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "linstab/npy.h"
#include "linstab/plot.h"
#include "testutil.h"

static char full[600];
static int mounted;

static void setup(void)
{
    cu_setup();
    snprintf(full, sizeof full, "%s/full", cu_dir);
    mounted = 0;
}

static void teardown(void)
{
    if (mounted && umount(full) != 0) cr_log_warn("could not unmount %s: %s", full, strerror(errno));
    cu_teardown();
}

TestSuite(cli_write, .init = setup, .fini = teardown);

/* 1 if the file at the full path exists. */
static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A tmpfs at cu_dir/full, size 64 KiB, then filled to the last block by
 * cu_dir/full/fill (after creating the directories named in subdirs).  Skips the test when mounting is not allowed. */
static void mount_leaving(const char *const *subdirs, size_t pages);
static void mount_full(const char *const *subdirs) { mount_leaving(subdirs, 0); }

/* The same with `pages` pages (4 KiB) left free: room for that many small
 * files, so that a later write of a multi-file output fails. */
static void mount_leaving(const char *const *subdirs, size_t pages)
{
    cr_assert_eq(mkdir(full, 0755), 0);
    if (mount("tmpfs", full, "tmpfs", 0, "size=64k") != 0)
        cr_skip_test("cannot mount a tmpfs (%s): run as root to test a full file system", strerror(errno));
    mounted = 1;
    char p[800];
    for (size_t i = 0; subdirs != NULL && subdirs[i] != NULL; i++) {
        snprintf(p, sizeof p, "%s/%s", full, subdirs[i]);
        cr_assert_eq(mkdir(p, 0755), 0);
    }
    snprintf(p, sizeof p, "%s/fill", full);
    FILE *fp = fopen(p, "wb");
    cr_assert_not_null(fp);
    char block[1024] = {0};
    setvbuf(fp, NULL, _IONBF, 0);
    while (fwrite(block, 1, sizeof block, fp) == sizeof block) {}
    while (fwrite(block, 1, 1, fp) == 1) {}
    if (pages > 0) {
        long size = ftell(fp);
        cr_assert(size > (long)(pages * 4096));
        cr_assert_eq(ftruncate(fileno(fp), size - (long)(pages * 4096)), 0);
    }
    fclose(fp);
    if (pages > 0) return;
    /* really full: not one more byte fits */
    snprintf(p, sizeof p, "%s/probe", full);
    fp = fopen(p, "wb");
    cr_assert_not_null(fp);
    setvbuf(fp, NULL, _IONBF, 0);
    cr_assert_neq(fwrite(block, 1, 1, fp), 1, "the tmpfs is not full");
    fclose(fp);
    unlink(p);
}

/* The names in cu_dir/full/SUB (or cu_dir/full) other than fill and the given
 * subdirectories, as one string "a b " (caller frees). */
static char *leftovers(const char *sub, const char *const *keep)
{
    char p[800];
    snprintf(p, sizeof p, "%s%s%s", full, sub ? "/" : "", sub ? sub : "");
    DIR *d = opendir(p);
    cr_assert_not_null(d, "%s", p);
    char *s = calloc(1, 4096);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, "fill") == 0) continue;
        int kept = 0;
        for (size_t i = 0; keep != NULL && keep[i] != NULL; i++) kept |= strcmp(e->d_name, keep[i]) == 0;
        if (kept) continue;
        strncat(s, e->d_name, 4096 - strlen(s) - 2);
        strcat(s, " ");
    }
    closedir(d);
    return s;
}

/* The failure contract: status 1, one message naming `name`, saying why. */
static void expect_write_failure(int rc, const char *name, const char *why)
{
    char *err = cu_slurp(cu_err);
    cr_expect_eq(rc, 1, "exit status %d, stderr: %s", rc, err);
    cr_expect(strstr(err, name) != NULL, "the message does not name %s: %s", name, err);
    cr_expect(strstr(err, why) != NULL, "the message does not say '%s': %s", why, err);
    cr_expect(strstr(err, "error:") != NULL, "%s", err);
    free(err);
}

static void make_family(void)
{
    cr_assert_eq(cu_run_to(NULL, "gen --kind rank1 --n 6 --d 3 --seed 2 --out fam.npy"), 0);
}

static void make_csv(void)
{
    char p[700];
    snprintf(p, sizeof p, "%s/log.csv", cu_dir);
    FILE *fp = fopen(p, "w");
    cr_assert_not_null(fp);
    fprintf(fp, "step,loss,acc\n");
    for (int i = 1; i <= 20; i++) fprintf(fp, "%d,%.6g,%.4g\n", i, 2.0 / i, 1.0 - 1.0 / (i + 1));
    fclose(fp);
}

/* ---- standard output ---- */

Test(cli_write, every_command_reports_a_failed_write_of_standard_output)
{
    make_family();
    make_csv();
    struct {
        const char *name, *args;
    } cases[] = {
        {"check", "check --factors fam.npy --eta 0.5 --batch 2"},
        {"check", "check --factors fam.npy --eta 0.5 --batch 2 --json"},
        {"critical", "critical --factors fam.npy --batches 1:3"},
        {"validate", "validate --count 3 --quiet"},
        {"gen", "gen --kind rank1 --n 4 --d 2 --out g2.npy"},
        {"plot", "plot --csv log.csv --x step --y loss --out p.png"},
        {"train", "train --layers 2,3,1 --teacher 16 --steps 5 --batch 4 --quiet --out tr"},
        {"map", "map --help"},
        {"hessians", "hessians --help"},
        {NULL, "--help"},
        {NULL, "--version"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = cu_run_to("/dev/full", "%s", cases[i].args);
        char *err = cu_slurp(cu_err);
        char want[200];
        snprintf(want, sizeof want, "linstab%s%s: error: writing standard output: No space left on device",
                 cases[i].name ? " " : "", cases[i].name ? cases[i].name : "");
        cr_expect_eq(rc, 1, "%s: exit status %d", cases[i].args, rc);
        cr_expect(strstr(err, want) != NULL, "%s: stderr is '%s'", cases[i].args, err);
        /* said once */
        cr_expect(strstr(err, want) == NULL || strstr(strstr(err, want) + 1, want) == NULL, "%s: %s", cases[i].args,
                  err);
        free(err);
    }
}

Test(cli_write, a_command_that_succeeds_on_a_working_stdout_exits_zero)
{
    make_family();
    cr_expect_eq(cu_run_to(NULL, "check --factors fam.npy --eta 0.5 --batch 2"), 0);
    char *out = cu_slurp(cu_out);
    cr_expect(strlen(out) > 100);
    free(out);
    cr_expect_eq(cu_run_to("/dev/null", "check --factors fam.npy --eta 0.5 --batch 2"), 0);
}

/* ---- --out on a full file system ---- */

Test(cli_write, check_and_critical_out_on_a_full_disk_fail_with_the_name_and_leave_nothing)
{
    make_family();
    mount_full(NULL);
    const char *cmds[][2] = {
        {"check --factors fam.npy --eta 0.5 --batch 2 --out full/c.txt", "full/c.txt"},
        {"check --factors fam.npy --eta 0.5 --batch 2 --json --out full/c.json", "full/c.json"},
        {"critical --factors fam.npy --batches 1:3 --out full/k.txt", "full/k.txt"},
    };
    for (size_t i = 0; i < 3; i++) {
        int rc = cu_run_to(NULL, "%s", cmds[i][0]);
        expect_write_failure(rc, cmds[i][1], "No space left on device");
        char p[800];
        snprintf(p, sizeof p, "%s/%s", cu_dir, cmds[i][1]);
        cr_expect(!exists(p), "%s exists", p);
        char *left = leftovers(NULL, NULL);
        cr_expect_str_empty(left, "left behind: %s", left);
        free(left);
    }
}

Test(cli_write, gen_out_on_a_full_disk_fails_with_the_name_and_leaves_nothing)
{
    mount_full(NULL);
    int rc = cu_run_to(NULL, "gen --kind wishart --n 20 --d 10 --out full/g.npy");
    expect_write_failure(rc, "full/g.npy", "No space left on device");
    char p[800];
    snprintf(p, sizeof p, "%s/g.npy", full);
    cr_expect(!exists(p));
    char *left = leftovers(NULL, NULL);
    cr_expect_str_empty(left, "left behind: %s", left);
    free(left);
    char *out = cu_slurp(cu_out);
    cr_expect(strstr(out, "wrote") == NULL, "claims success: %s", out);
    free(out);
}

Test(cli_write, plot_on_a_full_disk_fails_with_the_name_and_leaves_no_figure)
{
    make_csv();
    mount_full(NULL);
    const char *names[] = {"full/p.png", "full/p.svg"};
    for (size_t i = 0; i < 2; i++) {
        int rc = cu_run_to(NULL, "plot --csv log.csv --x step --y loss,acc --out %s", names[i]);
        expect_write_failure(rc, names[i], "No space left on device");
        char p[800];
        snprintf(p, sizeof p, "%s/%s", cu_dir, names[i]);
        cr_expect(!exists(p), "%s exists", p);
        char *left = leftovers(NULL, NULL);
        cr_expect_str_empty(left, "left behind: %s", left);
        free(left);
        char *out = cu_slurp(cu_out);
        cr_expect(strstr(out, "wrote") == NULL, "claims success: %s", out);
        free(out);
    }
}

Test(cli_write, validate_out_on_a_full_disk_fails_and_leaves_no_counterexample_file)
{
    /* seed 21: a counterexample comes among the first 20 cases */
    mount_full(NULL);
    int rc = cu_run_to(NULL, "validate --count 20 --seed 21 --quiet --out full/v");
    expect_write_failure(rc, "full/v/cex-0.npy", "No space left on device");
    char p[800];
    snprintf(p, sizeof p, "%s/v/counterexamples.txt", full);
    cr_expect(!exists(p), "%s exists", p);
    snprintf(p, sizeof p, "%s/v/cex-0.npy", full);
    cr_expect(!exists(p), "%s exists", p);
    char *left = leftovers("v", NULL);
    cr_expect_str_empty(left, "left behind in v: %s", left);
    free(left);
}

Test(cli_write, validate_out_with_room_for_the_counterexample_but_not_its_list_leaves_neither)
{
    static const char *const pre[] = {"v", NULL};
    mount_leaving(pre, 1);
    int rc = cu_run_to(NULL, "validate --count 20 --seed 21 --quiet --out full/v");
    expect_write_failure(rc, "full/v/counterexamples.txt", "No space left on device");
    char *left = leftovers("v", NULL);
    cr_expect_str_empty(left, "left behind in v: %s", left);
    free(left);
}

Test(cli_write, validate_out_writes_the_counterexamples_and_their_list)
{
    int rc = cu_run_to(NULL, "validate --count 20 --seed 21 --quiet --out v");
    cr_assert_eq(rc, 0);
    char p[800];
    snprintf(p, sizeof p, "%s/v/counterexamples.txt", cu_dir);
    char *list = cu_slurp(p);
    cr_expect(strstr(list, "cex-0.npy --eta") != NULL, "%s", list);
    free(list);
    snprintf(p, sizeof p, "%s/v/cex-0.npy", cu_dir);
    cr_expect(exists(p));
    /* the reproducing command loads it */
    cr_expect_eq(cu_run_to(NULL, "check --factors v/cex-0.npy --eta 0.5 --batch 1"), 0);
    snprintf(p, sizeof p, "%s/v", cu_dir);
    DIR *d = opendir(p);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) cr_expect(strstr(e->d_name, "tmp") == NULL, "temporary %s left", e->d_name);
    closedir(d);
}

Test(cli_write, train_out_on_a_full_disk_fails_and_leaves_no_checkpoint_file)
{
    static const char *const pre[] = {"exists", NULL};
    mount_full(pre);
    /* a new folder, and an existing (empty) one */
    const char *outs[] = {"full/t", "full/exists"};
    for (size_t i = 0; i < 2; i++) {
        int rc = cu_run_to(NULL, "train --layers 3,8,2 --teacher 64 --steps 20 --batch 8 --quiet --out %s", outs[i]);
        expect_write_failure(rc, outs[i], "No space left on device");
        char *left = leftovers(NULL, pre);
        cr_expect_str_empty(left, "left behind: %s", left);
        free(left);
        left = leftovers("exists", NULL);
        cr_expect_str_empty(left, "left behind in exists: %s", left);
        free(left);
        char *out = cu_slurp(cu_out);
        cr_expect(strstr(out, "trained") == NULL, "claims success: %s", out);
        free(out);
    }
}

Test(cli_write, train_with_room_for_the_log_but_not_the_weights_leaves_nothing)
{
    static const char *const pre[] = {"exists", NULL};
    mount_leaving(pre, 1);
    const char *outs[] = {"full/t", "full/exists"};
    for (size_t i = 0; i < 2; i++) {
        int rc = cu_run_to(NULL, "train --layers 3,8,2 --teacher 64 --steps 20 --batch 8 --quiet --out %s", outs[i]);
        expect_write_failure(rc, outs[i], "No space left on device");
        char *err = cu_slurp(cu_err);
        cr_expect(strstr(err, ".npy") != NULL, "the log was written, a weight file failed: %s", err);
        free(err);
        char *left = leftovers(NULL, pre);
        cr_expect_str_empty(left, "left behind: %s", left);
        free(left);
        left = leftovers("exists", NULL);
        cr_expect_str_empty(left, "left behind in exists: %s", left);
        free(left);
    }
}

Test(cli_write, hessians_out_on_a_full_disk_fails_and_leaves_nothing)
{
    cr_assert_eq(cu_run_to(NULL, "train --layers 3,4,2 --teacher 32 --steps 10 --batch 8 --quiet --out m"), 0);
    char p[800];
    snprintf(p, sizeof p, "%s/m/model.json", cu_dir);
    cr_assert(exists(p));
    /* inputs and targets for hessians */
    double x[32 * 3], y[32 * 2];
    for (size_t j = 0; j < 32 * 3; j++) x[j] = 0.1 * (double)((j * 7) % 11) - 0.5;
    for (size_t j = 0; j < 32 * 2; j++) y[j] = 0.2 * (double)((j * 5) % 7) - 0.6;
    size_t sx[2] = {32, 3}, sy[2] = {32, 2};
    linstab_error e;
    snprintf(p, sizeof p, "%s/x.npy", cu_dir);
    cr_assert_eq(linstab_npy_write(p, x, 2, sx, &e), LINSTAB_OK);
    snprintf(p, sizeof p, "%s/y.npy", cu_dir);
    cr_assert_eq(linstab_npy_write(p, y, 2, sy, &e), LINSTAB_OK);
    mount_full(NULL);
    int rc = cu_run_to(NULL, "hessians --model m --data x.npy --targets y.npy --loss mse --out full/h.npy");
    expect_write_failure(rc, "full/h.npy", "No space left on device");
    snprintf(p, sizeof p, "%s/h.npy", full);
    cr_expect(!exists(p));
    char *left = leftovers(NULL, NULL);
    cr_expect_str_empty(left, "left behind: %s", left);
    free(left);
}

Test(cli_write, out_on_a_read_only_file_system_fails_with_the_name)
{
    make_family();
    make_csv();
    cr_assert_eq(mkdir(full, 0755), 0);
    if (mount("tmpfs", full, "tmpfs", MS_RDONLY, "size=64k") != 0)
        cr_skip_test("cannot mount a tmpfs (%s): run as root", strerror(errno));
    mounted = 1;
    const char *cases[][2] = {
        {"check --factors fam.npy --eta 0.5 --batch 2 --out full/c.txt", "full/c.txt"},
        {"critical --factors fam.npy --batches 1:3 --out full/k.txt", "full/k.txt"},
        {"plot --csv log.csv --x step --y loss --out full/p.svg", "full/p.svg"},
        {"gen --kind rank1 --n 4 --d 2 --out full/g.npy", "full/g.npy"},
        {"train --layers 2,3,1 --teacher 16 --steps 5 --batch 4 --quiet --out full/t", "full/t"},
        {"validate --count 3 --quiet --out full/v", "full/v"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = cu_run_to(NULL, "%s", cases[i][0]);
        expect_write_failure(rc, cases[i][1], "Read-only file system");
    }
}

/* ---- figures ---- */

Test(cli_write, plot_writes_a_whole_png_and_a_whole_svg)
{
    make_csv();
    cr_assert_eq(cu_run_to(NULL, "plot --csv log.csv --x step --y loss,acc --logy --out p.png"), 0);
    cr_assert_eq(cu_run_to(NULL, "plot --csv log.csv --x step --y loss,acc --out p.svg"), 0);
    char p[800];
    size_t n;
    snprintf(p, sizeof p, "%s/p.png", cu_dir);
    char *png = cu_slurp_len(p, &n);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    cr_assert_gt(n, 1000);
    cr_expect_eq(memcmp(png, sig, 8), 0, "no PNG signature");
    cr_expect_eq(memcmp(png + n - 12, iend, 12), 0, "no IEND chunk at the end");
    /* IHDR: 900 x 600 */
    const unsigned char *u = (const unsigned char *)png;
    cr_expect_eq(memcmp(png + 12, "IHDR", 4), 0);
    cr_expect_eq(((unsigned)u[16] << 24) | ((unsigned)u[17] << 16) | ((unsigned)u[18] << 8) | u[19], 900u);
    cr_expect_eq(((unsigned)u[20] << 24) | ((unsigned)u[21] << 16) | ((unsigned)u[22] << 8) | u[23], 600u);
    free(png);
    snprintf(p, sizeof p, "%s/p.svg", cu_dir);
    char *svg = cu_slurp_len(p, &n);
    cr_expect(strncmp(svg, "<?xml", 5) == 0 || strncmp(svg, "<svg", 4) == 0, "starts with %.20s", svg);
    while (n > 0 && (svg[n - 1] == '\n' || svg[n - 1] == ' ')) svg[--n] = '\0';
    cr_expect(n > 6 && strcmp(svg + n - 6, "</svg>") == 0, "ends with %s", n > 20 ? svg + n - 20 : svg);
    free(svg);
    char *out = cu_slurp(cu_out);
    cr_expect(strstr(out, "wrote p.svg (2 curves, 20 points)") != NULL, "%s", out);
    free(out);
    /* nothing else in the folder: no temporary */
    DIR *d = opendir(cu_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) cr_expect(strstr(e->d_name, "tmp") == NULL, "temporary %s left", e->d_name);
    closedir(d);
}

/* ---- train: divergence, the staged checkpoint ---- */

Test(cli_write, train_with_a_huge_learning_rate_reports_divergence_with_status_3)
{
    int rc = cu_run_to(NULL, "train --layers 3,8,2 --teacher 64 --steps 200 --batch 8 --eta 50 --log-every 10 "
                          "--quiet --out t");
    char *out = cu_slurp(cu_out), *err = cu_slurp(cu_err);
    cr_expect_eq(rc, 3, "status %d: %s %s", rc, out, err);
    cr_expect(strstr(out, "diverged at step ") != NULL, "%s", out);
    cr_expect(strstr(out, "grew from ") != NULL, "%s", out);
    cr_expect(strstr(out, "trained") == NULL, "claims success: %s", out);
    size_t S = 0;
    const char *at = strstr(out, "diverged at step ");
    if (at) S = strtoul(at + strlen("diverged at step "), NULL, 10);
    cr_expect(S >= 1 && S < 200, "step %zu", S);
    /* the log ends with the diverging step's row; the checkpoint is there */
    char p[800];
    snprintf(p, sizeof p, "%s/t/train_log.csv", cu_dir);
    char *log = cu_slurp(p);
    char *last = strrchr(log, '\n');
    if (last) *last = '\0';
    last = strrchr(log, '\n');
    cr_assert_not_null(last, "%s", log);
    cr_expect_eq(strtoul(last + 1, NULL, 10), S, "last row %s", last + 1);
    /* its batch loss is beyond 1e6 x the printed initial loss */
    double L0 = strtod(strstr(out, "grew from ") + 10, NULL);
    char *c = strchr(last + 1, ','), *c2 = c ? strchr(c + 1, ',') : NULL;
    cr_assert_not_null(c2);
    double bl = strtod(c2 + 1, NULL);
    cr_expect(!(bl <= 1e6 * L0) || strstr(out, "full-data loss") != NULL, "batch loss %g, L0 %g", bl, L0);
    snprintf(p, sizeof p, "%s/t/model.json", cu_dir);
    cr_expect(exists(p));
    free(log);
    free(out);
    free(err);
}

Test(cli_write, train_into_an_existing_folder_replaces_its_files_and_leaves_no_staging)
{
    cr_assert_eq(mkdir(strcat(strcpy((char[700]){0}, cu_dir), "/t"), 0755), 0);
    int rc = cu_run_to(NULL, "train --layers 3,8,2 --teacher 64 --steps 20 --batch 8 --quiet --out t");
    char *out = cu_slurp(cu_out);
    cr_expect_eq(rc, 0);
    cr_expect(strstr(out, "trained 20 steps") != NULL, "%s", out);
    free(out);
    char p[800];
    snprintf(p, sizeof p, "%s/t", cu_dir);
    DIR *d = opendir(p);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0)) continue;
        cr_expect(strstr(e->d_name, "tmp") == NULL, "staging %s left", e->d_name);
        files++;
    }
    closedir(d);
    cr_expect_eq(files, 6, "model.json, W1, b1, W2, b2, train_log.csv");
    /* a shallower network without biases into the same folder: the old
     * W3, b1..b3 go, a file of the user's stays */
    cr_assert_eq(cu_run_to(NULL, "train --layers 3,8,4,2 --teacher 64 --steps 20 --batch 8 --quiet --out t"), 0);
    snprintf(p, sizeof p, "%s/t/notes.txt", cu_dir);
    FILE *fp = fopen(p, "w");
    cr_assert_not_null(fp);
    fclose(fp);
    cr_assert_eq(cu_run_to(NULL, "train --layers 3,8,2 --no-bias --teacher 64 --steps 20 --batch 8 --quiet --out t"),
                 0);
    const char *gone[] = {"W3.npy", "b1.npy", "b2.npy", "b3.npy"}, *kept[] = {"W1.npy", "W2.npy", "model.json",
                                                                            "train_log.csv", "notes.txt"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/t/%s", cu_dir, gone[i]);
        cr_expect(!exists(p), "%s is left from the earlier run", gone[i]);
    }
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/t/%s", cu_dir, kept[i]);
        cr_expect(exists(p), "%s is missing", kept[i]);
    }
    snprintf(p, sizeof p, "%s/t/model.json", cu_dir);
    char *json = cu_slurp(p);
    cr_expect(strstr(json, "[3, 8, 2]") != NULL && strstr(json, "\"bias\": false") != NULL, "%s", json);
    free(json);
}

/* ---- valgrind ---- */

Test(cli_write, valgrind_checks_linstab_itself)
{
#if defined(TU_ASAN)
    cr_skip_test("an ASan build does not run under valgrind");
#endif
    if (system("valgrind --version >/dev/null 2>&1") != 0) cr_skip_test("valgrind is not installed");
    const char *bin = getenv("LINSTAB_BIN");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && env -u LINSTAB_NO_REEXEC -u OPENBLAS_THREAD_TIMEOUT valgrind --error-exitcode=3 "
             "'%s' gen --kind rank1 --n 5 --d 3 --out g.npy >'%s' 2>'%s'",
             cu_dir, bin, cu_out, cu_err);
    int st = system(cmd);
    cr_assert(WIFEXITED(st));
    char *err = cu_slurp(cu_err), *out = cu_slurp(cu_out);
    cr_expect_eq(WEXITSTATUS(st), 0, "%s", err);
    /* valgrind's summary of the process it ran: linstab was its client to
     * the end (a re-exec would have replaced valgrind: no summary) */
    cr_expect(strstr(err, "ERROR SUMMARY: 0 errors") != NULL, "%s", err);
    cr_expect(strstr(err, "total heap usage") != NULL, "%s", err);
    cr_expect(strstr(out, "wrote g.npy") != NULL, "%s", out);
    free(err);
    free(out);
}

Test(cli_write, plot_refuses_values_it_cannot_place_and_writes_no_figure)
{
    /* through the library: the command's CSV reader may refuse them first */
    double x[3] = {0.0, 1.0, INFINITY}, y[3] = {1.0, 2.0, 3.0}, big[3] = {1e308, -1e308, 0.0};
    const double *ys[1] = {y}, *bigs[1] = {big};
    const char *names[1] = {"b"};
    char p[700];
    linstab_error err;
    snprintf(p, sizeof p, "%s/a.png", cu_dir);
    cr_expect_eq(linstab_plot_lines(3, x, 1, ys, names, "a", "b", "", 0, "pngcairo", p, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "x value 3 (inf) is not finite") != NULL && strstr(err.msg, p) != NULL, "%s", err.msg);
    cr_expect(!exists(p));
    snprintf(p, sizeof p, "%s/b.svg", cu_dir);
    cr_expect_eq(linstab_plot_lines(3, y, 1, bigs, names, "a", "b", "", 0, "svgcairo", p, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "more than the range of a double") != NULL, "%s", err.msg);
    cr_expect(!exists(p));
    /* a finite set of the same shape draws */
    x[2] = 2.0;
    cr_expect_eq(linstab_plot_lines(3, x, 1, ys, names, "a", "b", "", 0, "svgcairo", p, &err), LINSTAB_OK, "%s",
                 err.msg);
    cr_expect(exists(p));
    /* an unknown device is refused before PLplot could prompt for one */
    snprintf(p, sizeof p, "%s/c.png", cu_dir);
    cr_expect_eq(linstab_plot_lines(3, x, 1, ys, names, "a", "b", "", 0, "xwin", p, &err), LINSTAB_EINVAL);
    cr_expect(!exists(p));
    DIR *d = opendir(cu_dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) cr_expect(strstr(e->d_name, "tmp") == NULL, "temporary %s left", e->d_name);
    closedir(d);
}
