/* cli_options.c -- the table of the options several linstab commands take
 * and the parser of every command (see cli_options.h). */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_model.h"
#include "cli_options.h"

/* How a value is read. */
typedef enum opt_kind {
    K_FLAG,   /* no argument: the int field becomes 1 */
    K_STRING, /* the argument itself (const char *) */
    K_NUMBER, /* a decimal number in lo..hi (flags), times scale, into a double */
    K_COUNT,  /* a whole number in [ulo, uhi] into a size_t */
    K_U64,    /* a whole number in [ulo, uhi] into an unsigned long long */
    K_CHOICE  /* a word, read by parse() */
} opt_kind;

typedef struct opt_def {
    const char *name; /* long name without "--" */
    const char *meta; /* the argument in the usage line (NULL: none) */
    opt_kind kind;
    size_t offset; /* of the field in cli_common_opts */
    double lo, hi;
    unsigned flags;
    double scale;
    unsigned long long ulo, uhi;
    int (*parse)(const char *cmd, const char *arg, cli_common_opts *o);
    const char *help; /* what the value is (the command adds defaults) */
} opt_def;

static int parse_loss(const char *cmd, const char *arg, cli_common_opts *o)
{
    if (strcmp(arg, "mse") != 0 && strcmp(arg, "ce") != 0)
        return cli_usage_error(cmd, "--loss '%s': expected mse or ce", arg);
    o->src.loss_ce = strcmp(arg, "ce") == 0;
    return 0;
}

static int parse_hessian(const char *cmd, const char *arg, cli_common_opts *o)
{
    if (strcmp(arg, "exact") != 0 && strcmp(arg, "gn") != 0)
        return cli_usage_error(cmd, "--hessian '%s': expected exact or gn", arg);
    o->src.exact = strcmp(arg, "exact") == 0 ? 1 : -1;
    return 0;
}

/* The library's parsers of names; cli_msg adds the flag of the parameter at fault. */
static int parse_sampling(const char *cmd, const char *arg, cli_common_opts *o)
{
    linstab_error err = {0};
    if (linstab_sampling_parse(arg, &o->sampling, &err) != LINSTAB_OK)
        return cli_usage_error(cmd, "%s", cli_msg(&err));
    return 0;
}

static int parse_variant(const char *cmd, const char *arg, cli_common_opts *o)
{
    linstab_error err = {0};
    if (linstab_sam_variant_parse(arg, &o->variant, &err) != LINSTAB_OK)
        return cli_usage_error(cmd, "%s", cli_msg(&err));
    return 0;
}

static int parse_eigen(const char *cmd, const char *arg, cli_common_opts *o)
{
    return cli_parse_eigen_path(cmd, arg, &o->eigen);
}

#define AT(field) offsetof(cli_common_opts, field)
#define FLAG(nm, field, help) {nm, NULL, K_FLAG, AT(field), 0, 0, 0, 1, 0, 0, NULL, help}
#define STRING(nm, meta, field, help) {nm, meta, K_STRING, AT(field), 0, 0, 0, 1, 0, 0, NULL, help}
#define NUMBER(nm, meta, field, lo, hi, fl, scale, help) {nm, meta, K_NUMBER, AT(field), lo, hi, fl, scale, 0, 0, NULL, help}
#define WHOLE(nm, meta, kind, field, lo, hi, help) {nm, meta, kind, AT(field), 0, 0, 0, 1, lo, hi, NULL, help}
#define CHOICE(nm, meta, fn, help) {nm, meta, K_CHOICE, 0, 0, 0, 0, 1, 0, 0, fn, help}

/* The table: one entry per cli_opt_id, in its order. */
static const opt_def defs[CLI_OPT_COUNT] = {
    [CLI_OPT_FAMILY] = STRING("family", "F.npy", src.family, "dense per-sample Hessians, shape (n, d, d)"),
    [CLI_OPT_FACTORS] = STRING("factors", "U.npy", src.factors, "factors, shape (n, d, k): H_i = U_i U_i'"),
    [CLI_OPT_DIAG] = STRING("diag", "D.npy", src.diag, "diagonal Hessians, shape (n, d): H_i = diag(D_i)"),
    [CLI_OPT_ALLOW_INDEFINITE] = FLAG("allow-indefinite", src.allow_indefinite,
                                      "accept Hessians with negative eigenvalues"),
    [CLI_OPT_SYM_TOL] = NUMBER("sym-tol", "T", src.sym_tol, 0.0, INFINITY, CLI_HI_OPEN, 1.0,
                               "relative symmetry tolerance (default 1e-10)"),
    [CLI_OPT_RANK_TOL] = NUMBER("rank-tol", "T", src.rank_tol, 0.0, 1.0, CLI_HI_OPEN, 1.0,
                                "relative eigenvalue tolerance for rank(H) (default d * machine epsilon, as "
                                "numpy's matrix_rank; 32 d * machine epsilon for M_2 with "
                                "--allow-indefinite)"),
    /* GB; below 1e-9 GB (one byte) or above 1e9 GB the limit means nothing */
    [CLI_OPT_MAX_MEMORY] = NUMBER("max-memory", "GB", src.max_memory, 1e-9, 1e9, 0, 1e9,
                                  "memory limit (default: the memory available now)"),
    [CLI_OPT_MODEL] = STRING("model", "DIR", src.model,
                             "MLP checkpoint: a folder (model.json, W1.npy, b1.npy, ...) or a FILE.safetensors "
                             "(nn.Sequential state dict; with --activation A [--output-activation A])"),
    [CLI_OPT_DATA] = STRING("data", "X.npy", src.data, "inputs (n, d0)"),
    [CLI_OPT_TARGETS] = STRING("targets", "Y.npy", src.targets,
                               "targets (n, k) for mse; for ce class labels (n,), integer or float, or "
                               "one-hot rows (n, k)"),
    [CLI_OPT_LOSS] = CHOICE("loss", "mse|ce", parse_loss, "squared loss ||f - y||^2/2 or softmax cross-entropy"),
    [CLI_OPT_HESSIAN] = CHOICE("hessian", "exact|gn", parse_hessian,
                               "exact Hessians or (generalized) Gauss-Newton factors (default: gn)"),
    [CLI_OPT_LABEL_SMOOTHING] = NUMBER("label-smoothing", "A", src.smoothing, 0.0, 1.0, CLI_HI_OPEN, 1.0,
                                       "cross-entropy label smoothing in [0, 1) (default 0)"),
    [CLI_OPT_ETA] = NUMBER("eta", "E", eta, 0.0, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, 1.0, "learning rate, > 0"),
    [CLI_OPT_BATCH] = WHOLE("batch", "B", K_COUNT, batch, 1, SIZE_MAX, "batch size in [1, n]"),
    [CLI_OPT_RHO] = NUMBER("rho", "R", rho, 0.0, INFINITY, CLI_HI_OPEN, 1.0, "SAM radius, >= 0"),
    /* the default is LINSTAB_SAMPLING_DEFAULT (sampling.h), the same for every command */
    [CLI_OPT_SAMPLING] = CHOICE("sampling", "S", parse_sampling,
                                "without | bernoulli | with (default without: a uniform B-subset per step, what a "
                                "shuffled data loader draws; bernoulli: each sample w.p. B/n, the sampling of "
                                "Dexter et al. (2024)'s theorems)"),
    [CLI_OPT_SAM_VARIANT] = CHOICE("sam-variant", "V", parse_variant, "same | independent: SAM's ascent batch"),
    [CLI_OPT_SEED] = WHOLE("seed", "S", K_U64, seed, 0, ULLONG_MAX, "random seed (default 0)"),
    [CLI_OPT_EIGEN] = CHOICE("eigen", "P", parse_eigen,
                             "eigensolver: dense | arpack | auto (default auto: dense up to operator size 2000)"),
    [CLI_OPT_NO_EXACT] = FLAG("no-exact", no_exact, "skip the exact stability results"),
    [CLI_OPT_THREADS] = WHOLE("threads", "N", K_COUNT, threads, 1, CLI_THREADS_MAX,
                              "OpenMP threads, at most 1024 (default: all)"),
    [CLI_OPT_JSON] = FLAG("json", json, "machine-readable output"),
    [CLI_OPT_OUT] = STRING("out", "FILE", out, ""), /* what is written: the command says */
    [CLI_OPT_QUIET] = FLAG("quiet", quiet, "no progress bar"),
    [CLI_OPT_ACTIVATION] = STRING("activation", "A", src.activation,
                                  "hidden activation of a --model FILE.safetensors: tanh | relu | sigmoid | "
                                  "softplus | gelu (default: the one the file records)"),
    [CLI_OPT_OUTPUT_ACTIVATION] = STRING("output-activation", "A", src.output_activation,
                                         "output activation of a --model FILE.safetensors: none | tanh | ... "
                                         "(default: the one the file records, else none)"),
};

/* getopt codes of the shared options: CODE_BASE + id */
enum { CODE_BASE = 1000 };

cli_common_opts cli_common_defaults(void)
{
    cli_common_opts o;
    memset(&o, 0, sizeof o);
    o.src.sym_tol = 1e-10;
    o.sampling = LINSTAB_SAMPLING_DEFAULT;
    o.variant = LINSTAB_OPT_SAM_SAME;
    o.eigen = LINSTAB_EIGEN_AUTO;
    return o;
}

const char *cli_option_name(cli_opt_id id) { return id < CLI_OPT_COUNT ? defs[id].name : NULL; }

int cli_option_find(const char *name)
{
    for (int i = 0; i < CLI_OPT_COUNT; i++)
        if (strcmp(defs[i].name, name) == 0) return i;
    return -1;
}

int cli_option_parse(const char *cmd, cli_opt_id id, const char *arg, cli_common_opts *o)
{
    const opt_def *d = &defs[id];
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", d->name);
    char *field = (char *)o + d->offset;
    int rc = 0;
    switch (d->kind) {
    case K_FLAG: *(int *)(void *)field = 1; break;
    case K_STRING: *(const char **)(void *)field = arg; break;
    case K_NUMBER: {
        double v;
        rc = cli_parse_number(cmd, flag, arg, d->lo, d->hi, d->flags, &v);
        if (rc == 0) *(double *)(void *)field = d->scale == 1.0 ? v : v * d->scale;
        break;
    }
    case K_COUNT: rc = cli_parse_count(cmd, flag, arg, (size_t)d->ulo, (size_t)d->uhi, (size_t *)(void *)field); break;
    case K_U64: rc = cli_parse_uint(cmd, flag, arg, d->ulo, d->uhi, (unsigned long long *)(void *)field); break;
    case K_CHOICE: rc = d->parse(cmd, arg, o); break;
    }
    if (rc == 0) o->given |= CLI_OPT_BIT(id);
    return rc;
}

cli_parser cli_options_start(const cli_command *cmd, int argc, char **argv, cli_common_opts *o)
{
    cli_parser ps;
    cli_parser *p = &ps;
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->o = o;
    p->argc = argc;
    p->argv = argv;
    size_t k = 0;
    uint64_t shared = cmd->shared;
    /* every command that takes --model takes a .safetensors one with its activations */
    if (shared & CLI_OPT_BIT(CLI_OPT_MODEL))
        shared |= CLI_OPT_BIT(CLI_OPT_ACTIVATION) | CLI_OPT_BIT(CLI_OPT_OUTPUT_ACTIVATION);
    for (int i = 0; i < CLI_OPT_COUNT; i++)
        if (shared & CLI_OPT_BIT(i))
            p->table[k++] = (struct option){defs[i].name, defs[i].meta ? required_argument : no_argument, NULL,
                                            CODE_BASE + i};
    for (size_t i = 0; cmd->own != NULL && cmd->own[i].name != NULL; i++) {
        if (i >= CLI_OWN_MAX || cmd->own[i].flag != NULL || cmd->own[i].val < 256 || cmd->own[i].val >= CODE_BASE) {
            fprintf(stderr, "linstab %s: internal error: own option %zu of the table\n", cmd->name, i);
            abort();
        }
        p->table[k++] = cmd->own[i];
    }
    p->table[k++] = (struct option){"help", no_argument, NULL, 'h'};
    p->table[k] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    opterr = 0;
    return ps;
}

/* Index of own option `name` in cmd->own, or -1. */
static int own_index(const cli_command *cmd, const char *name)
{
    for (int i = 0; cmd->own != NULL && cmd->own[i].name != NULL; i++)
        if (strcmp(cmd->own[i].name, name) == 0) return i;
    return -1;
}

int cli_options_own_given(const cli_parser *p, const char *name)
{
    int i = own_index(p->cmd, name);
    return i >= 0 && (p->own_given >> i & 1u);
}

int cli_options_next(cli_parser *p)
{
    const cli_command *cmd = p->cmd;
    if (p->status != 0) return -1;
    for (;;) {
        int idx = -1;
        int c = getopt_long(p->argc, p->argv, "h", p->table, &idx);
        if (c == -1) break;
        if (c == 'h') {
            cli_options_usage(cmd, stdout);
            p->status = 0;
            return -1;
        }
        if (c >= CODE_BASE && c < CODE_BASE + CLI_OPT_COUNT) {
            p->status = cli_option_parse(cmd->name, (cli_opt_id)(c - CODE_BASE), optarg, p->o);
            if (p->status != 0) return -1;
            continue;
        }
        if (c >= 256 && c < CODE_BASE) {
            int i = idx >= 0 ? own_index(cmd, p->table[idx].name) : -1;
            if (i >= 0) p->own_given |= (uint64_t)1 << i;
            return c;
        }
        p->status = cli_usage_error(cmd->name, "unknown or incomplete option '%s'", p->argv[optind - 1]);
        return -1;
    }
    if (optind < p->argc) {
        p->status = cli_usage_error(cmd->name, "unexpected argument '%s'", p->argv[optind]);
        return -1;
    }
    for (size_t i = 0; cmd->required != NULL && cmd->required[i] != NULL; i++) {
        const char *name = cmd->required[i];
        int id = cli_option_find(name);
        int given = id >= 0 && (cmd->shared & CLI_OPT_BIT(id)) ? cli_given(p->o, (cli_opt_id)id)
                                                                : cli_options_own_given(p, name);
        if (!given) {
            p->status = cli_usage_error(cmd->name, "--%s is required", name);
            return -1;
        }
    }
    /* --activation / --output-activation with --model: checked here against
     * the checkpoint (a folder refuses them, a state dict that records other
     * ones too), so that no command can ignore them; the commands then open
     * the model with cli_model_open */
    const cli_family_source *src = &p->o->src;
    if (src->model != NULL && (src->activation != NULL || src->output_activation != NULL)) {
        linstab_mlp *m = NULL;
        int rc = cli_model_open(cmd->name, src, &m);
        linstab_mlp_free(m);
        if (rc != 0) {
            p->status = rc;
            return -1;
        }
    }
    return 0;
}

/* Print text from column `col` (the cursor is at column *at), wrapping
 * words at 79 columns. */
static void wrap(FILE *fp, const char *text, int col, int at)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t len = strcspn(p, " ");
        if (at > col && at + 1 + (int)len > 79) {
            fprintf(fp, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', fp);
            at++;
        }
        fwrite(p, 1, len, fp);
        at += (int)len;
        p += len;
    }
    fputc('\n', fp);
}

/* The usage line of one shared option, with the command's argument name
 * (NULL: the table's) and note. */
static void usage_line(FILE *fp, const opt_def *d, const char *meta, const char *note, int col)
{
    if (d->meta == NULL) meta = NULL;
    else if (meta == NULL) meta = d->meta;
    char head[128];
    int at = snprintf(head, sizeof head, "  --%s%s%s", d->name, meta ? " " : "", meta ? meta : "");
    fputs(head, fp);
    if (at >= col) { /* no room: two spaces */
        fputs("  ", fp);
        at += 2;
    } else {
        fprintf(fp, "%*s", col - at, "");
        at = col;
    }
    char text[1024];
    /* a note that goes on the help's sentence ("; ...", ", ...") is joined without a space */
    int joined = *note == ';' || *note == ',' || *note == ':' || *note == '.';
    snprintf(text, sizeof text, "%s%s%s", d->help, *d->help && *note && !joined ? " " : "", note);
    /* the first word goes at `at` whatever its length */
    const char *p = text;
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    fwrite(p, 1, len, fp);
    wrap(fp, p + len, col, at + (int)len);
}

void cli_options_usage(const cli_command *cmd, FILE *fp)
{
    const char *p = cmd->usage;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (p[0] == '@') {
            char line[1024];
            snprintf(line, sizeof line, "%.*s", (int)len - 1, p + 1);
            /* NAME, then =META up to a space, then the note */
            size_t nlen = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789-");
            char *meta = NULL, *note = line + nlen;
            if (*note == '=') {
                meta = note + 1;
                note = meta + strcspn(meta, " ");
                if (*note) *note++ = '\0';
            }
            while (*note == ' ') note++;
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)nlen, line);
            int id = cli_option_find(name);
            if (id < 0 || !(cmd->shared & CLI_OPT_BIT(id))) {
                /* a template naming an option the command does not take */
                fprintf(stderr, "linstab %s: internal error: help names '%s'\n", cmd->name, name);
                abort();
            }
            usage_line(fp, &defs[id], meta, note, cmd->help_col);
        } else {
            fwrite(p, 1, len, fp);
            if (eol) fputc('\n', fp);
        }
        p += len + (eol ? 1 : 0);
    }
}
