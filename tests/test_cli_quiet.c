/*
 * test_cli_quiet.c -- what the linstab command shows on a terminal, and
 * its help: each command that reports progress (check's exact stages,
 * critical, map, train, spectrum, landscape, validate, hessians) runs under
 * a pseudo-terminal (forkpty) with standard error on the terminal and
 * standard output to a file; without --quiet its progress bar (or line)
 * appears there, with --quiet nothing at all does (and the commands
 * without progress, dynamics and gen, are silent with --quiet too).  And
 * `linstab help CMD` is `linstab CMD --help` for every command that
 * `linstab --help` lists, so that a new command is covered when it is
 * listed; `linstab help nosuch` is a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cliutil.h"

TestSuite(cli_quiet, .init = cu_setup, .fini = cu_teardown);

/*
 * `linstab ARGS` in cu_dir with standard error (and input) on a new
 * pseudo-terminal and standard output to cu_out; OUT *tty: everything the
 * terminal received (NUL-terminated, caller frees).  Returns the exit
 * status (asserts a normal exit).
 */
static int run_on_tty(const char *args, char **tty)
{
    const char *bin = getenv("LINSTAB_BIN");
    cr_assert_not_null(bin, "LINSTAB_BIN is not set");
    size_t clen = strlen(bin) + strlen(args) + 32;
    char *cmd = malloc(clen);
    snprintf(cmd, clen, "exec '%s' %s", bin, args);
    int master = -1;
    fflush(NULL);
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_geq(pid, 0, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(cu_out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || chdir(cu_dir) != 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(127);
        close(fd);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1024 > cap) buf = realloc(buf, cap *= 2);
        ssize_t r = read(master, buf + len, cap - len - 1);
        if (r > 0) len += (size_t)r;
        else if (r < 0 && errno == EINTR) continue;
        else break; /* EIO: the terminal's last process has gone */
    }
    buf[len] = '\0';
    close(master);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "linstab %s did not exit normally", args);
    *tty = buf;
    return WEXITSTATUS(st);
}

/* A small dense family: H_0 = diag(2, 1), H_1 = [[1, 1], [1, 1]]. */
static void write_small_family(void)
{
    double H[8] = {2, 0, 0, 1, 1, 1, 1, 1};
    size_t shape[3] = {2, 2, 2};
    cu_write_npy("small.npy", H, 3, shape);
}

#define TRAIN "train --layers 3,6,2 --teacher 30 --batch 6 --eta 0.05 --steps 30 --seed 3 --save-data"
#define MODEL "--model M --data M/X.npy --targets M/Y.npy --loss mse"

/* Each command with its outputs named by %s (a run without --quiet and a
 * run with it write different files) and what its progress shows. */
static const struct {
    const char *args, *progress;
} commands[] = {
    {"check --family small.npy --eta 0.5 --batch 1 --out c%s.txt", "exact SGD eta* ["},
    {"critical --family small.npy --batches 1,2 --out k%s.txt", "critical   [###"},
    {"map --dexter 40 --sampling bernoulli --eta 0.8 --x sigma=1:40:6 --y batch=1:40:4 --no-plot --out m%s",
     "map        [###"},
    {TRAIN " --out T%s", "train      [###"},
    {"spectrum " MODEL " --top-k 2 --trace exact --json s%s.json", "] "},
    {"landscape " MODEL " --direction eigvec --points 5 --out l%s.csv", "landscape  [###"},
    {"validate --count 20 --seed 3 --out v%s", "validate   [###"},
    {"hessians " MODEL " --out H%s.npy", "hessians   [###"},
};

Test(cli_quiet, progress_shows_on_a_terminal_and_quiet_shows_nothing)
{
    write_small_family();
    cr_assert_eq(cu_run(TRAIN " --quiet --out M"), 0, "%s", cu_slurp(cu_err));
    char args[512];
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++) {
        for (int quiet = 0; quiet < 2; quiet++) {
            char name[8];
            snprintf(name, sizeof name, "%d", quiet);
            snprintf(args, sizeof args, commands[k].args, name);
            if (quiet) strcat(args, " --quiet");
            char *tty = NULL;
            int rc = run_on_tty(args, &tty);
            cr_expect_eq(rc, 0, "exit %d for %s: %s", rc, args, tty);
            if (quiet)
                cr_expect_str_eq(tty, "", "%s wrote to the terminal: '%s'", args, tty);
            else
                cr_expect(strstr(tty, commands[k].progress) != NULL && strchr(tty, '\r') != NULL,
                          "no progress ('%s') on the terminal for %s: '%s'", commands[k].progress, args, tty);
            free(tty);
        }
    }
}

Test(cli_quiet, commands_without_progress_are_silent_with_quiet_on_a_terminal)
{
    const char *quiet[] = {"dynamics --objective quadratic --spectrum 1,2 --start 1,1 --optimizer gd --eta 0.5 "
                           "--steps 20 --quiet",
                           "gen --kind rank1 --n 5 --d 3 --out g.npy --quiet"};
    for (size_t k = 0; k < sizeof quiet / sizeof quiet[0]; k++) {
        char *tty = NULL;
        int rc = run_on_tty(quiet[k], &tty);
        cr_expect_eq(rc, 0, "exit %d for %s: %s", rc, quiet[k], tty);
        cr_expect_str_eq(tty, "", "%s wrote to the terminal: '%s'", quiet[k], tty);
        free(tty);
    }
}

/* ---- help ---- */

Test(cli_quiet, help_cmd_is_every_listed_commands_own_help)
{
    cr_assert_eq(cu_run("--help"), 0);
    char *list = cu_slurp(cu_out);
    const char *p = strstr(list, "\ncommands:\n");
    cr_assert_not_null(p, "no command list in: %s", list);
    p += strlen("\ncommands:\n");
    size_t count = 0;
    /* "  NAME  what it does" lines up to the blank line */
    while (strncmp(p, "  ", 2) == 0) {
        char name[64];
        cr_assert_eq(sscanf(p, " %63s", name), 1);
        cr_assert_eq(cu_run("help %s", name), 0, "help %s: %s", name, cu_slurp(cu_err));
        char *a = cu_slurp(cu_out), *e = cu_slurp(cu_err);
        cr_assert_eq(cu_run("%s --help", name), 0, "%s --help: %s", name, cu_slurp(cu_err));
        char *b = cu_slurp(cu_out);
        char usage[96];
        snprintf(usage, sizeof usage, "usage: linstab %s ", name);
        cr_expect(strncmp(a, usage, strlen(usage)) == 0, "help %s does not start with '%s': %.100s", name, usage, a);
        cr_expect_str_eq(a, b, "help %s is not %s --help", name, name);
        cr_expect_str_eq(e, "", "help %s wrote to standard error: %s", name, e);
        free(a);
        free(b);
        free(e);
        count++;
        p = strchr(p, '\n');
        cr_assert_not_null(p);
        p++;
    }
    cr_expect_geq(count, 11, "only %zu commands listed: %s", count, list);
    const char *known[] = {"\n  check ", "\n  landscape ", "\n  spectrum ", "\n  gen "};
    for (size_t k = 0; k < 4; k++) cr_expect(strstr(list, known[k]) != NULL, "'%s' not listed", known[k] + 3);
    free(list);
    cr_expect_eq(cu_run("help nosuch"), 2);
    char *e = cu_slurp(cu_err), *o = cu_slurp(cu_out);
    cr_expect(strstr(e, "linstab: error: help: unknown command 'nosuch'") != NULL, "%s", e);
    cr_expect_str_eq(o, "", "help nosuch printed on standard output");
    free(e);
    free(o);
}
