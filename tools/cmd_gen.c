/* cmd_gen.c -- `linstab gen`: write a synthetic Hessian family as NPY. */
#include <stdio.h>
#include <string.h>

#include "cli_options.h"
#include "linstab/generate.h"

static const char *const usage =
    "usage: linstab gen --kind K --n N [--d D] [--rank K] [--sigma S] [--noise E]\n"
    "                   [--seed SEED] --out F.npy\n"
    "\n"
    "Write a synthetic Hessian family (same seed, same file on every machine).\n"
    "  --kind K      rank1    factors (n, d, 1), u_i ~ N(0, I/d)       -> --factors\n"
    "                lowrank  factors (n, d, K), entries N(0, 1/d)     -> --factors\n"
    "                wishart  dense (n, d, d), H_i = G_i G_i'/K        -> --family\n"
    "                aligned  factors (n, d, K), U_i = V + noise Z_i   -> --factors\n"
    "                dexter   diagonal (n, n - sigma + 1), the construction of\n"
    "                         Dexter et al. (2024), Section 5.1 -> --diag\n"
    "  --n N         number of samples (required)\n"
    "  --d D         dimension (required except for dexter)\n"
    "  --rank K      factor width (lowrank 2, wishart d, aligned 1 by default)\n"
    "  --sigma S     coherence of the dexter construction, integer in [1, n]\n"
    "  --noise E     noise scale of aligned (default 0.1)\n"
    "@seed=SEED\n"
    "@out=F.npy output file (written atomically; required)\n"
    "@quiet (gen prints nothing but errors)\n"
    "  -h, --help    this help\n";

enum { OPT_KIND = 256, OPT_N, OPT_D, OPT_RANK, OPT_SIGMA, OPT_NOISE };

static const struct option own_opts[] = {
    {"kind", required_argument, NULL, OPT_KIND},   {"n", required_argument, NULL, OPT_N},
    {"d", required_argument, NULL, OPT_D},         {"rank", required_argument, NULL, OPT_RANK},
    {"sigma", required_argument, NULL, OPT_SIGMA}, {"noise", required_argument, NULL, OPT_NOISE},
    {NULL, 0, NULL, 0}};
static const char *const required[] = {"kind", "out", "n", NULL};
static const cli_command gen_cmd = {"gen", CLI_OPT_BIT(CLI_OPT_SEED) | CLI_OPT_BIT(CLI_OPT_OUT) | CLI_OPT_BIT(CLI_OPT_QUIET), own_opts, required,
                                    usage, 16};

int cmd_gen(int argc, char **argv)
{
    const char *cmd = "gen";
    linstab_gen_params p = {.noise = -1.0};
    const char *kind = NULL;
    int have_d = 0;
    linstab_error err = {0};
    cli_common_opts co = cli_common_defaults();
    cli_parser ps = cli_options_start(&gen_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_KIND: kind = optarg; break;
        case OPT_N: ps.status = cli_parse_count(cmd, "--n", optarg, 1, SIZE_MAX, &p.n); break;
        case OPT_D: ps.status = cli_parse_count(cmd, "--d", optarg, 1, SIZE_MAX, &p.d); have_d = 1; break;
        case OPT_RANK: ps.status = cli_parse_count(cmd, "--rank", optarg, 1, SIZE_MAX, &p.rank); break;
        case OPT_SIGMA: ps.status = cli_parse_count(cmd, "--sigma", optarg, 1, SIZE_MAX, &p.sigma); break;
        case OPT_NOISE: ps.status = cli_parse_number(cmd, "--noise", optarg, 0, INFINITY, CLI_HI_OPEN, &p.noise); break;
        }
    }
    const char *out = co.out;
    if (linstab_generate_kind_parse(kind, &p.kind, &err) != LINSTAB_OK) return cli_fail(cmd, &err);
    /* an option the kind does not use would be silently ignored: refuse it */
    if (p.kind == LINSTAB_GEN_DEXTER) {
        if (p.sigma == 0) return cli_usage_error(cmd, "--sigma is required for dexter");
        if (have_d) return cli_usage_error(cmd, "--d: dexter's dimension is n - sigma + 1, not an option");
    } else if (!have_d) {
        return cli_usage_error(cmd, "--d is required for %s", kind);
    } else if (p.sigma != 0) {
        return cli_usage_error(cmd, "--sigma is an option of dexter only, not of %s", kind);
    }
    if (p.rank != 0 && (p.kind == LINSTAB_GEN_DEXTER || (p.kind == LINSTAB_GEN_RANK1 && p.rank != 1)))
        return cli_usage_error(cmd, "--rank %zu: %s has %s", p.rank, kind,
                               p.kind == LINSTAB_GEN_RANK1 ? "rank 1 (use --kind lowrank)" : "no rank option");
    if (p.noise >= 0 && p.kind != LINSTAB_GEN_ALIGNED)
        return cli_usage_error(cmd, "--noise is an option of aligned only, not of %s", kind);
    p.seed = co.seed;
    linstab_family *f = NULL;
    linstab_status st = linstab_generate(&p, &f, &err);
    if (st != LINSTAB_OK) return cli_fail(cmd, &err);
    st = linstab_family_save(f, out, &err);
    if (st == LINSTAB_OK) {
        static const char *flag[] = {"--family", "--factors", "--diag"};
        if (f->kind == LINSTAB_FAMILY_DIAGONAL)
            printf("wrote %s: %s family, diagonal, shape (%zu, %zu); load it with --diag %s\n",
                   out, kind, f->n, f->d, out);
        else
            printf("wrote %s: %s family, %s, shape (%zu, %zu, %zu); load it with %s %s\n", out,
                   kind, linstab_family_kind_name(f->kind), f->n, f->d, f->k, flag[f->kind], out);
    }
    linstab_family_free(f);
    return st == LINSTAB_OK ? 0 : cli_fail(cmd, &err);
}
