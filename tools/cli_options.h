/* cli_options.h -- the one table of the options that several linstab
 * commands take, and the parser every command runs.
 *
 * Each shared option is described once (tools/cli_options.c): its long
 * name, its argument, how the value is parsed and checked (the strict
 * parsers of cli_parse.h), the field of cli_common_opts it fills and its
 * one-line help.  A command declares which of them it accepts (a set of
 * CLI_OPT_BIT flags), its own options (a getopt table) and the options it
 * requires; cli_options_next builds the getopt_long table, parses the
 * shared options itself, hands the command's own ones back one at a time,
 * and at the end refuses stray arguments and checks the required options.
 * The help text is the command's template, in which a line "@NAME NOTE"
 * becomes the table's usage line of --NAME followed by NOTE, so that what
 * a command says about a shared option and what it does cannot drift.
 *
 * Messages (on stderr, exit status 2), identical for every command:
 *   linstab CMD: error: --eta '0': expected a decimal number in (0, inf) (see 'linstab CMD --help')
 *   linstab CMD: error: unknown or incomplete option '--x' (see ...)
 *   linstab CMD: error: unexpected argument 'x' (see ...)
 *   linstab CMD: error: --eta is required (see ...)
 */
#ifndef LINSTAB_CLI_OPTIONS_H
#define LINSTAB_CLI_OPTIONS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "linstab/eigen.h"
#include "linstab/exact.h"
#include "linstab/sampling.h"

/* The shared options, in the order of the table (and of getopt's table). */
typedef enum cli_opt_id {
    /* a family file (cli_family_source) */
    CLI_OPT_FAMILY,
    CLI_OPT_FACTORS,
    CLI_OPT_DIAG,
    CLI_OPT_ALLOW_INDEFINITE,
    CLI_OPT_SYM_TOL,
    CLI_OPT_RANK_TOL,
    CLI_OPT_MAX_MEMORY,
    /* a network checkpoint and its samples (cli_family_source) */
    CLI_OPT_MODEL,
    CLI_OPT_DATA,
    CLI_OPT_TARGETS,
    CLI_OPT_LOSS,
    CLI_OPT_HESSIAN,
    CLI_OPT_LABEL_SMOOTHING,
    /* hyper-parameters */
    CLI_OPT_ETA,
    CLI_OPT_BATCH,
    CLI_OPT_RHO,
    CLI_OPT_SAMPLING,
    CLI_OPT_SAM_VARIANT,
    /* computation */
    CLI_OPT_SEED,
    CLI_OPT_EIGEN,
    CLI_OPT_NO_EXACT,
    CLI_OPT_THREADS,
    /* output */
    CLI_OPT_JSON,
    CLI_OPT_OUT,
    CLI_OPT_QUIET,
    /* with --model FILE.safetensors: taken by every command that takes --model */
    CLI_OPT_ACTIVATION,
    CLI_OPT_OUTPUT_ACTIVATION,
    CLI_OPT_COUNT
} cli_opt_id;

#define CLI_OPT_BIT(id) ((uint64_t)1 << (id))

/* --family --factors --diag and the options of their validation */
#define CLI_OPTS_FAMILY_FILE                                                                      \
    (CLI_OPT_BIT(CLI_OPT_FAMILY) | CLI_OPT_BIT(CLI_OPT_FACTORS) | CLI_OPT_BIT(CLI_OPT_DIAG) |     \
     CLI_OPT_BIT(CLI_OPT_ALLOW_INDEFINITE) | CLI_OPT_BIT(CLI_OPT_SYM_TOL) |                      \
     CLI_OPT_BIT(CLI_OPT_RANK_TOL) | CLI_OPT_BIT(CLI_OPT_MAX_MEMORY))
/* --model --data --targets --loss --hessian --label-smoothing */
#define CLI_OPTS_MODEL                                                                            \
    (CLI_OPT_BIT(CLI_OPT_MODEL) | CLI_OPT_BIT(CLI_OPT_DATA) | CLI_OPT_BIT(CLI_OPT_TARGETS) |      \
     CLI_OPT_BIT(CLI_OPT_LOSS) | CLI_OPT_BIT(CLI_OPT_HESSIAN) |                                   \
     CLI_OPT_BIT(CLI_OPT_LABEL_SMOOTHING))
/* every way of giving a Hessian family (cli_load_family) */
#define CLI_OPTS_FAMILY (CLI_OPTS_FAMILY_FILE | CLI_OPTS_MODEL)

/* The values of the shared options.  cli_common_defaults gives the
 * defaults; a command may change them before parsing (its own defaults)
 * and reads them after. */
typedef struct cli_common_opts {
    cli_family_source src;        /* --family ... --max-memory, --model ... --label-smoothing */
    double eta;                   /* --eta, in (0, inf) (default 0: none) */
    size_t batch;                 /* --batch, in [1, 2^64 - 1] (default 0: none) */
    double rho;                   /* --rho, in [0, inf) (default 0) */
    linstab_sampling sampling;    /* --sampling (default without) */
    linstab_optimizer variant;  /* --sam-variant (default same) */
    unsigned long long seed;      /* --seed (default 0) */
    linstab_eigen_path eigen;     /* --eigen (default auto) */
    int no_exact;                 /* --no-exact */
    size_t threads;               /* --threads, in [1, CLI_THREADS_MAX] (default 0: all) */
    int json;                     /* --json */
    const char *out;              /* --out (its meaning is the command's) */
    int quiet;                    /* --quiet */
    uint64_t given;               /* CLI_OPT_BIT of every shared option given */
} cli_common_opts;

cli_common_opts cli_common_defaults(void);

/* Whether the shared option `id` was on the command line. */
static inline int cli_given(const cli_common_opts *o, cli_opt_id id)
{
    return (o->given & CLI_OPT_BIT(id)) != 0;
}

/* What a command accepts. */
typedef struct cli_command {
    const char *name;            /* "check": in every message */
    uint64_t shared;             /* CLI_OPT_BIT of each shared option accepted */
    const struct option *own;    /* the command's own long options, codes in
                                  * [256, 1000), ended by {NULL, 0, NULL, 0};
                                  * NULL: none */
    const char *const *required; /* long names (shared or own) whose absence
                                  * is "--NAME is required", checked in this
                                  * order; NULL-terminated; NULL: none */
    const char *usage;           /* the help template (see cli_options_usage) */
    int help_col;                /* column of the help text of a usage line */
} cli_command;

/* The state of a parse (getopt's globals are reset by cli_options_start). */
#define CLI_OWN_MAX 48
typedef struct cli_parser {
    const cli_command *cmd;
    cli_common_opts *o;
    int argc;
    char **argv;
    struct option table[CLI_OPT_COUNT + CLI_OWN_MAX + 2];
    uint64_t own_given;  /* bit i: own[i] was given */
    int status;          /* exit status; the command sets it when one of its
                          * own options fails (0: carry on) */
} cli_parser;

/* A parser of argv for cmd, filling *o (which keeps its defaults for the
 * options not given).  Resets getopt's globals. */
cli_parser cli_options_start(const cli_command *cmd, int argc, char **argv, cli_common_opts *o);

/*
 * The next option of argv.  Shared options are parsed into *o here.
 * Returns:
 *   > 0  the code of one of the command's own options (optarg is its
 *        argument); the command handles it and, on failure, sets
 *        p->status to the exit status (the next call then stops);
 *   0    the arguments are finished: no stray argument, every required
 *        option given;
 *   < 0  stop and return p->status: 0 after --help (printed on stdout),
 *        else a usage error (printed) or the status the command set.
 * The loop of a command:
 *   cli_parser ps = cli_options_start(&cmd, argc, argv, &co);
 *   for (int c; (c = cli_options_next(&ps)) != 0;) {
 *       if (c < 0) return ps.status;
 *       switch (c) { case OPT_MINE: ps.status = cli_parse_count(...); break; }
 *   }
 */
int cli_options_next(cli_parser *p);

/* Whether own option `name` (without "--") was given. */
int cli_options_own_given(const cli_parser *p, const char *name);

/*
 * Print the help of cmd: its usage template, where each line "@NAME",
 * "@NAME NOTE" or "@NAME=META NOTE" (NAME a shared option's long name,
 * which the command must accept) is replaced by
 *   "  --NAME META" padded to help_col, the table's help, " NOTE"
 * wrapped at 79 columns (continuation lines indented to help_col).  META
 * replaces the table's name of the argument (--out DIR, --seed SEED); the
 * table's help of --out is empty: what is written is the command's note.
 */
void cli_options_usage(const cli_command *cmd, FILE *fp);

/* The table's long name of `id` ("eta"), and the id of a long name (-1 if
 * it is not shared). */
const char *cli_option_name(cli_opt_id id);
int cli_option_find(const char *name);

/* Parse one shared option's value as the table says (used by the parser;
 * exposed for the commands that still have their own getopt table).
 * Returns 0 or the exit status of the usage error it printed. */
int cli_option_parse(const char *cmd, cli_opt_id id, const char *arg, cli_common_opts *o);

#endif
