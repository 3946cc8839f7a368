/*
 * linstab.c -- the linstab command: a dispatcher to one file per
 * subcommand.  Only this program prints and exits; the library never does.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "linstab/blas.h"
#include "linstab_config.h"

#ifdef LINSTAB_MPI
#include <mpi.h>
#endif

int cmd_check(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_critical(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_hessians(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_dynamics(int argc, char **argv);
int cmd_landscape(int argc, char **argv);
int cmd_spectrum(int argc, char **argv);

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} commands[] = {
    {"check", cmd_check, "geometry of a Hessian family and the verdict of every published bound"},
    {"critical", cmd_critical, "exact mean-square critical learning rate per batch size"},
    {"map", cmd_map, "divergence phase diagram: Monte Carlo cells with exact boundaries (PNG, SVG, NPY)"},
    {"dynamics", cmd_dynamics, "run GD, SGD or SAM from a start on an objective, with the theory's predictions"},
    {"train", cmd_train, "train an MLP with SGD or SAM (checkpoint for hessians and --model)"},
    {"hessians", cmd_hessians, "per-sample Hessians (exact) or Gauss-Newton factors of an MLP checkpoint"},
    {"landscape", cmd_landscape, "the loss along Hessian eigenvectors, random directions and between checkpoints"},
    {"spectrum", cmd_spectrum, "top eigenpairs, trace and spectral density of a network's Hessian (matrix-free)"},
    {"validate", cmd_validate, "count how often each published bound agrees with the exact answer"},
    {"plot", cmd_plot, "curves from CSV columns (training logs, results tables) as PNG or SVG"},
    {"gen", cmd_gen, "write a synthetic Hessian family (rank1, lowrank, wishart, aligned, dexter)"},
};

static void help(FILE *out)
{
    fprintf(out,
            "usage: linstab COMMAND [options]     (linstab help COMMAND, or linstab COMMAND --help,\n"
            "                                     for its options)\n\n"
            "linstab %s: linear stability of SGD and SAM near minima of neural-network losses.\n\n"
            "commands:\n",
            LINSTAB_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].what);
    fprintf(out, "\noptions:\n  -h, --help     this help\n  --version      print the version\n");
}

static int dispatch(int argc, char **argv);

static int known_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return 1;
    return 0;
}

/*
 * OpenBLAS's idle worker threads spin (sched_yield) for 2^28 cycles, about
 * 0.1 s, at start-up and after every threaded call; our OpenMP threads,
 * which spread per-sample work with one BLAS thread each, then share the
 * cores with them (measured: per-sample sums 1.35x instead of 1.9x faster
 * on 2 threads, `check` on a dense n = d = 200 family 0.38 s -> 0.32 s
 * without the spin).  OpenBLAS reads the spin time only from
 * OPENBLAS_THREAD_TIMEOUT when it loads, before main, so when the user has
 * not set it the command re-executes itself once with 2^22 cycles (about
 * 1.5 ms; short enough, long enough for back-to-back BLAS calls).  If the
 * exec fails, it carries on with the default.  LINSTAB_NO_REEXEC (or
 * setting OPENBLAS_THREAD_TIMEOUT) turns this off.  `dynamics` on a
 * built-in objective does not re-execute: its steps run one after another in one thread, with no
 * OpenMP region for the spin to slow down, while the second start-up of
 * some 30 shared libraries would cost it about 8 ms of every run (measured
 * with perf stat: 16.5 -> 6.6 ms task-clock for a process that does
 * nothing), a seventh of a million-step run of a two-coordinate objective.
 *
 * The re-exec must not happen under a tool that runs linstab as its
 * client: valgrind answers readlink("/proc/self/exe") with the client's
 * path, and an exec it does not trace (the default) replaces it by the
 * native program, which then runs unchecked.  Valgrind is recognised by
 * its preloaded core (vgpreload_*.so) in LD_PRELOAD or, should the
 * environment have been edited, mapped into the process; any other
 * explicit loader (ld.so, a different image name) by /proc/self/exe.
 */
static int under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    if (pre != NULL && strstr(pre, "vgpreload") != NULL) return 1;
    FILE *fp = fopen("/proc/self/maps", "r");
    if (fp == NULL) return 1; /* cannot tell: do not risk it */
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, fp) != NULL) found = strstr(line, "vgpreload") != NULL;
    fclose(fp);
    return found;
}

static void shorten_openblas_spin(int argc, char **argv)
{
    if (getenv("OPENBLAS_THREAD_TIMEOUT") != NULL || getenv("LINSTAB_NO_REEXEC") != NULL) return;
    if (argc >= 2 && strcmp(argv[1], "dynamics") == 0) {
        /* a built-in objective: no BLAS work worth the second start-up; a
         * model or a family: the linearization's operators are dense BLAS
         * work whose threads would spin in sched_yield for the default
         * time (measured: 25 s instead of a few for one MLP's escape rate) */
        static const char *const heavy_opts[] = {"--model", "--family", "--factors", "--diag", "--matrix"};
        int heavy = 0;
        for (int k = 2; k < argc && !heavy; k++) {
            /* an option name as getopt_long takes it: in full or any
             * unambiguous abbreviation, with or without =VALUE */
            const char *a = argv[k];
            size_t len = strcspn(a, "=");
            if (strncmp(a, "--", 2) != 0 || len < 4) continue;
            for (size_t h = 0; h < sizeof heavy_opts / sizeof heavy_opts[0]; h++)
                heavy |= len <= strlen(heavy_opts[h]) && strncmp(a, heavy_opts[h], len) == 0;
        }
        if (!heavy) return;
    }
    if (under_valgrind()) return;
    /* only when the running image is linstab itself: under an explicit
     * ld.so it is that program, which must not be re-run */
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return;
    self[len] = '\0';
    const char *base = strrchr(self, '/');
    base = base != NULL ? base + 1 : self;
    if (strncmp(base, "linstab", 7) != 0) return;
    if (setenv("OPENBLAS_THREAD_TIMEOUT", "22", 1) != 0) return;
    execv(self, argv);
}

#if defined(__SANITIZE_ADDRESS__)
/* Under ASan, LeakSanitizer asks for this list: the allocations PLplot's
 * cairo driver and its font stack keep for the life of the process (the
 * same list as tools/lsan.supp, so a plain run of an ASan build reports
 * linstab's own leaks only).  Only third-party libraries are listed. */
__attribute__((used)) const char *__lsan_default_suppressions(void);
__attribute__((used)) const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\nleak:libcairo.so\nleak:libltdl.so\nleak:libpango\nleak:libplplot.so\n";
}
__attribute__((used)) const char *__lsan_default_options(void);
__attribute__((used)) const char *__lsan_default_options(void) { return "print_suppressions=0"; }
#endif

int main(int argc, char **argv)
{
    shorten_openblas_spin(argc, argv);
    /* The work is a sequence of large temporaries (d x d matrices).  glibc
     * serves each from fresh mmap'd pages and unmaps it on free, so every
     * one costs page faults and zeroing (40 % of the page faults and about
     * 10 % of the time of `check` at d = 1000); blocks up to glibc's
     * largest threshold (32 MB) now stay on the heap, which is never
     * trimmed, so their pages are reused.  Larger blocks keep their own
     * mappings here; `check` moves them to the heap too when its memory
     * estimate leaves room (cli_heap_keep_large). */
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, INT32_MAX);
#ifdef LINSTAB_MPI
    /* `mpirun -n K linstab map ...` distributes cells; other commands run on
     * every rank alike */
    MPI_Init(&argc, &argv);
#endif
    int rc = dispatch(argc, argv);
    /* whatever the command printed must have reached standard output: a
     * failed write (a full disk, /dev/full, a closed pipe) is an error */
    if (cli_stdout_check(argc >= 2 && known_command(argv[1]) ? argv[1] : NULL) != 0) rc = 1;
#ifdef LINSTAB_MPI
    MPI_Finalize();
#endif
    return rc;
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 && argc >= 3) {
        /* linstab help CMD: CMD's own --help */
        if (argc > 3) {
            fprintf(stderr, "linstab: error: 'help' takes one command name (see 'linstab --help')\n");
            return 2;
        }
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *args[3] = {argv[2], (char *)"--help", NULL};
                return commands[i].run(2, args);
            }
        fprintf(stderr, "linstab: error: help: unknown command '%s' (see 'linstab --help')\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        help(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        linstab_blas_info b;
        linstab_blas_info_get(&b);
        printf("linstab %s\n", LINSTAB_VERSION);
        printf("BLAS      %s\n", b.config);
        printf("kernel    %s (%s)\n", b.kernel,
               b.coretype[0] != '\0' ? "chosen by OPENBLAS_CORETYPE" : "detected; OPENBLAS_CORETYPE=NAME picks another");
        printf("library   %s\n", b.library[0] != '\0' ? b.library : "(not found in /proc/self/maps)");
        printf("threads   BLAS %d (%s), OpenMP %d\n", b.threads, b.threading, b.omp_threads);
        int avx512 = 0, avx2 = 0;
        linstab_blas_cpu_features(&avx512, &avx2);
        const char *better = linstab_blas_kernel_suggestion(&b, avx512, avx2);
        if (better != NULL)
            printf("hint      this CPU has %s but OpenBLAS fell back to its generic kernel: OPENBLAS_CORETYPE=%s\n"
                   "          runs the same library 2-2.5x faster on dense work (README, \"The BLAS kernel\")\n",
                   avx512 ? "AVX-512" : "AVX2", better);
        return cli_stdout_check(NULL);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "linstab: error: unknown command '%s' (see 'linstab --help')\n", argv[1]);
    return 2;
}
