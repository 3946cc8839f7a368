/* cli.h -- shared helpers of the linstab command (value parsing, family
 * loading, errors).  The options several commands take, and the parser of
 * every command, are in cli_options.h.  Only the command prints and exits;
 * the library never does. */
#ifndef LINSTAB_CLI_H
#define LINSTAB_CLI_H

#include <math.h>   /* INFINITY for the ranges of cli_parse_number */
#include <stddef.h>
#include <stdint.h> /* SIZE_MAX for the ranges of cli_parse_count */
#include <stdio.h>

#include "cli_parse.h"
#include "linstab/family.h"
#include "linstab/error.h"

/* Exit status for a library status: 2 for usage errors, 1 for the rest. */
int cli_exit_code(linstab_status st);

/* The library's message of err with the flag of the parameter at fault
 * (err->param "sam_variant" -> "--sam-variant: MSG"); a disallowed
 * indefinite family gets the flag that allows it.  The text is valid
 * until the next call. */
const char *cli_msg(const linstab_error *err);

/* Print "linstab CMD: error: MSG" (cli_msg) on stderr and return the exit status. */
int cli_fail(const char *cmd, const linstab_error *err);
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Before any work: a file named path can be written (a temporary file is
 * created beside it and removed; path itself must not be a directory).  0,
 * or 2 after a usage error naming opt and path. */
int cli_probe_writable(const char *cmd, const char *opt, const char *path);

/* The same for a folder written at the end (--save DIR): DIR is a folder or
 * does not exist yet, and its parent takes a new entry.  0 or 2. */
int cli_probe_folder(const char *cmd, const char *opt, const char *dir);

/*
 * Strict number parsing of an option's value with its valid range (see
 * cli_parse.h for the accepted syntax: decimal only, no white space, no
 * hexadecimal, inf or nan, no wrap-around).  On failure a usage error
 * "linstab CMD: error: OPT 'S': expected a decimal number in (0, inf)" on
 * stderr and the exit status 2; 0 on success.
 *   cli_parse_number  a real number in lo..hi (CLI_LO_OPEN, CLI_HI_OPEN)
 *   cli_parse_uint    a whole number in [lo, hi] (e.g. a 64-bit seed)
 *   cli_parse_count   a whole number in [lo, hi] into a size_t
 * cli_parse_double, cli_parse_size and cli_parse_u64 are the same with the
 * widest range (any finite double, [0, SIZE_MAX], [0, 2^64 - 1]).
 */
int cli_parse_number(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     unsigned flags, double *out);
int cli_parse_uint(const char *cmd, const char *opt, const char *s, unsigned long long lo,
                   unsigned long long hi, unsigned long long *out);
int cli_parse_count(const char *cmd, const char *opt, const char *s, size_t lo, size_t hi,
                    size_t *out);
int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);
int cli_parse_size(const char *cmd, const char *opt, const char *s, size_t *out);
int cli_parse_u64(const char *cmd, const char *opt, const char *s, unsigned long long *out);

/* Upper bound of --threads: beyond it the OpenMP runtime may fail to
 * create the threads (a thread per core is what helps). */
#define CLI_THREADS_MAX 1024

/* Where the family comes from: exactly one of the three files. */
typedef struct cli_family_source {
    const char *family;  /* --family F.npy (n, d, d) */
    const char *factors; /* --factors U.npy (n, d, k) */
    const char *diag;    /* --diag D.npy (n, d) */
    int allow_indefinite;
    double sym_tol;      /* --sym-tol, relative */
    double max_memory;   /* bytes; <= 0: the memory available now */
    double rank_tol;     /* --rank-tol (0: d * machine epsilon) */
    const char *model;   /* --model DIR with --data X.npy --targets Y.npy */
    const char *data, *targets;
    int loss_ce;         /* --loss ce (default mse) */
    int exact;           /* --hessian exact 1, gn -1, not given 0 (gn for both losses) */
    double smoothing;    /* --label-smoothing */
    const char *activation, *output_activation; /* --activation, --output-activation (a .safetensors --model) */
} cli_family_source;

#define CLI_MODEL_USAGE                                                                           \
    "  --model DIR --data X.npy --targets Y.npy   the per-sample Hessians of an MLP\n"           \
    "                        checkpoint at these samples (see linstab hessians); or\n"          \
    "                        --model FILE.safetensors (a torch nn.Sequential state\n"         \
    "                        dict) with --activation A [--output-activation A]\n"              \
    "  --loss mse|ce  --hessian exact|gn  --label-smoothing A   (defaults: mse, gn:\n"         \
    "                        J'J for mse, J'(diag p - pp')J for ce)\n"


/* Blocks above glibc's 32 MB mmap threshold from the never-trimmed heap
 * too (mallopt M_MMAP_MAX 0), when NEED bytes are at most half of LIM:
 * freed d x d temporaries are then reused without fresh zeroed pages
 * (`check --no-exact` of rank-one n = d = 4000 12.5 -> 9.5 s), at the
 * price of a peak up to about 13 % higher (freed blocks stay resident).
 * Nothing when the user set glibc malloc tunables (GLIBC_TUNABLES). */
void cli_heap_keep_large(double need, double lim);

/* Bytes of memory available now (MemAvailable), or 0 if unknown. */
double cli_available_memory(void);

/* Load and validate the family; sets *path to the file used.  Returns an
 * exit status (0 on success) after printing the error. */
int cli_load_family(const char *cmd, const cli_family_source *src, linstab_family **out,
                    const char **path, int *indefinite);

/* The curvature a --model source's family is (NULL for a family file):
 * *key "gn" (J'J, squared loss), "ggn" (J'(diag p - pp')J, cross-entropy)
 * or "exact" (the per-sample Hessians), *words the same for a report's
 * header.  Static strings. */
void cli_curvature(const cli_family_source *src, const char **key, const char **words);

/* Check that `need` bytes fit in the memory limit of src; else print an
 * error naming `what` and return 1. */
int cli_check_memory(const char *cmd, const cli_family_source *src, double need,
                     const char *what);

/* Open the output: stdout when path is NULL, else a temporary file beside
 * path (see cli_output_close).  Returns NULL after printing an error. */
typedef struct cli_output {
    FILE *fp;
    const char *path;
    char *tmp;
} cli_output;
int cli_output_open(const char *cmd, const char *path, cli_output *o);
/* Close; on ok rename the temporary to its final name, else remove it.
 * Every failure of the write (flush, fsync, close, rename; for stdout the
 * flush) is printed with the file's name.  ok = 0: the caller failed and
 * has said why; the temporary is removed silently.  Returns an exit status. */
int cli_output_close(const char *cmd, cli_output *o, int ok);

/* Flush standard output; on a failure (now or earlier) print "writing
 * standard output: REASON" once per process and return 1, else 0.  cmd
 * NULL: the message is "linstab: error: ...". */
int cli_stdout_check(const char *cmd);

/* The progress bar (cli_progress.h); cli_progress: the one-call form, a
 * bar that begins at done = 0 and ends at done = total (what: a static
 * string).  Nothing when quiet. */
#include "cli_progress.h"
void cli_progress(const char *what, size_t done, size_t total, int quiet);

#endif

/* Parse a list of sizes: "1,2,4" or a range "A:B" or "A:B:STEP" (inclusive),
 * or a mix "1,2,10:100:10" (cli_size_list_parse, at most CLI_LIST_MAX
 * values).  Values outside [lo, hi] are a usage error (exit status 2), out
 * of memory an error with status 1; both printed.
 * OUT *vals (caller frees), *count. Returns 0 or an exit status. */
int cli_parse_size_list(const char *cmd, const char *opt, const char *s, size_t lo, size_t hi,
                        size_t **vals, size_t *count);

/* mkdir -p: create path and its missing parents (0 or -1 with errno). */
int cli_mkdir_p(const char *path);

/* --eigen dense|arpack|auto into *path; 0 or a usage error's exit status. */
#include "linstab/eigen.h"
int cli_parse_eigen_path(const char *cmd, const char *s, linstab_eigen_path *path);
