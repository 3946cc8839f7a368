/*
 * test_cli_progress.c -- the progress bar of every command
 * (tools/cli_progress.c, compiled into this test): the ETA from this run's
 * rate (a resume's units count in done, not in the rate), "ETA --" until
 * there is a rate, the redraws throttled to CLI_PROGRESS_HZ on an injected
 * clock, a last line with the total time, nothing when quiet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cli_progress.h"

/* an injected clock (seconds) */
static double fake_now;
static double fake_clock(void) { return fake_now; }

Test(cli_progress, the_eta_is_what_is_left_at_this_runs_rate)
{
    /* 25 of 100 in 10 s from 0: 2.5 per second, 75 left: 30 s */
    cr_expect_float_eq(cli_progress_eta(25, 0, 100, 10.0), 30.0, 1e-12);
    /* resumed at 50, 75 after 10 s: 25 this run, 2.5/s, 25 left: 10 s
     * (counting the checkpoint's 50 would say 3.3 s) */
    cr_expect_float_eq(cli_progress_eta(75, 50, 100, 10.0), 10.0, 1e-12);
    cr_expect_float_eq(cli_progress_eta(100, 0, 100, 4.0), 0.0, 0.0);
    /* no unit this run, or no time: no rate */
    cr_expect_lt(cli_progress_eta(50, 50, 100, 10.0), 0.0);
    cr_expect_lt(cli_progress_eta(0, 0, 100, 10.0), 0.0);
    cr_expect_lt(cli_progress_eta(10, 0, 100, 0.0), 0.0);
}

Test(cli_progress, a_line_says_done_total_elapsed_rate_and_eta)
{
    char b[256];
    cli_progress_format(b, sizeof b, "map", 25, 0, 100, 10.0, 0);
    cr_expect(strstr(b, "25/100") && strstr(b, "10.0 s") && strstr(b, "2.5/s") && strstr(b, "ETA 30 s"), "%s", b);
    cr_expect(strstr(b, "[######                  ]") != NULL, "a quarter of the bar: %s", b);
    cli_progress_format(b, sizeof b, "map", 75, 50, 100, 10.0, 0);
    cr_expect(strstr(b, "75/100 (25 this run)") && strstr(b, "2.5/s") && strstr(b, "ETA 10 s"), "%s", b);
    cli_progress_format(b, sizeof b, "map", 50, 50, 100, 3.0, 0);
    cr_expect(strstr(b, "ETA --") != NULL && strstr(b, "/s") == NULL, "no rate yet: %s", b);
    cli_progress_format(b, sizeof b, "top-k", 7, 0, 0, 2.0, 0);
    cr_expect(strstr(b, "7/?") && strstr(b, "ETA --"), "an unknown total has no ETA: %s", b);
    cli_progress_format(b, sizeof b, "train", 200, 0, 200, 80.0, 1);
    cr_expect(strstr(b, "200/200 done in 1m20s, 2.5/s") != NULL && strstr(b, "ETA") == NULL, "%s", b);
    cli_progress_format(b, sizeof b, "x", 1, 0, 4, 2.0, 0);
    cr_expect(strstr(b, "2 s each") && strstr(b, "ETA 6 s"), "slow units: seconds each: %s", b);
    cli_progress_format(b, sizeof b, "x", 1, 0, 10, 500.0, 0);
    cr_expect(strstr(b, "ETA 1h15m") != NULL, "%s", b);
}

/* stderr into a file for the body; returns its lines (caller frees) */
static char *with_stderr_to_file(void (*body)(void))
{
    char path[] = "/tmp/test_cli_progress.XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    body();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    FILE *f = fdopen(fd, "r");
    rewind(f);
    char *s = calloc(1 << 16, 1);
    size_t got = fread(s, 1, (1 << 16) - 1, f);
    s[got] = '\0';
    fclose(f);
    unlink(path);
    return s;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void run_bar(void)
{
    cli_progress_state p = {0};
    p.clock = fake_clock;
    fake_now = 100.0;
    cli_progress_begin(&p, "map", 50, 100, 0); /* drawn: 50/100, ETA -- */
    fake_now = 100.05;
    cli_progress_update(&p, 55, 0); /* 0.05 s after: throttled */
    fake_now = 110.0;
    cli_progress_update(&p, 75, 0); /* drawn: ETA 10 s */
    fake_now = 110.02;
    cli_progress_label(&p, "sharpness"); /* a new label: drawn at once */
    fake_now = 110.03;
    cli_progress_label(&p, "map"); /* seen before: throttled */
    fake_now = 120.0;
    cli_progress_update(&p, 100, 0);
    cli_progress_end(&p); /* the last line */
    cli_progress_end(&p); /* twice: nothing */
}

Test(cli_progress, redraws_are_throttled_and_the_last_line_has_the_total_time)
{
    setenv("LINSTAB_PROGRESS", "1", 1); /* stderr is a file here */
    char *s = with_stderr_to_file(run_bar);
    cr_expect_eq(lines(s), 5, "%s", s);
    cr_expect(strstr(s, "map        [############            ] 50/100 (0 this run), 0.0 s, ETA --\n") != NULL, "%s", s);
    cr_expect(strstr(s, "75/100 (25 this run), 10.0 s, 2.5/s, ETA 10 s\n") != NULL, "%s", s);
    cr_expect(strstr(s, "55/100") == NULL, "a draw 0.05 s after the last: %s", s);
    cr_expect(strstr(s, "sharpness  [") != NULL, "%s", s);
    cr_expect(strstr(s, "100/100 (50 this run) done in 20.0 s, 2.5/s\n") != NULL, "%s", s);
    free(s);
}

static void run_quiet(void)
{
    cli_progress_state p = {0};
    cli_progress_begin(&p, "map", 0, 10, 1);
    cli_progress_update(&p, 10, 0);
    cli_progress_label(&p, "x");
    cli_progress_end(&p);
}

static void run_off(void) { run_quiet(); }

Test(cli_progress, quiet_or_no_terminal_without_the_hook_draws_nothing)
{
    setenv("LINSTAB_PROGRESS", "1", 1);
    char *s = with_stderr_to_file(run_quiet);
    cr_expect_str_eq(s, "");
    free(s);
    unsetenv("LINSTAB_PROGRESS");
    unsetenv("LINSTAB_MAP_PROGRESS");
    s = with_stderr_to_file(run_off);
    cr_expect_str_eq(s, "");
    free(s);
}

static void run_plain(void)
{
    cli_progress_state p = {0};
    cli_progress_begin(&p, "map", 0, 10, 0);
    cli_progress_update(&p, 10, 0);
    cli_progress_end(&p);
}

Test(cli_progress, the_old_hook_name_draws_too)
{
    unsetenv("LINSTAB_PROGRESS");
    setenv("LINSTAB_MAP_PROGRESS", "1", 1);
    char *s = with_stderr_to_file(run_plain);
    cr_expect(strstr(s, "ETA --") != NULL && strstr(s, "10/10 done in") != NULL, "%s", s);
    free(s);
    unsetenv("LINSTAB_MAP_PROGRESS");
    setenv("LINSTAB_PROGRESS", "0", 1);
    s = with_stderr_to_file(run_plain);
    cr_expect_str_eq(s, "", "LINSTAB_PROGRESS=0 is off");
    free(s);
}
