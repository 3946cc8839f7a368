/*
 * cmd_map.c -- `linstab map`: divergence phase diagrams (Dexter et al. Section 5.1,
 * Figures 1-2) with the exact mean-square and almost-sure boundaries.
 * OpenMP over cells, per-(seed, cell, run) random streams and one BLAS thread
 * per cell (identical output for any OpenMP or OpenBLAS thread count or MPI
 * ranks), checkpoint + --resume (refused, with the reason, when it is not
 * this run's), the memory the grid needs checked before any allocation,
 * outputs written under temporary names and renamed together at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef LINSTAB_MPI
#include <mpi.h>
#endif

#include "cli_options.h"
#include "linstab/checkpoint.h"
#include "linstab/geometry.h"
#include "linstab/map.h"
#include "linstab/npy.h"
#include "linstab/plot.h"
#include "linstab/report.h"
#include "linstab_config.h"

static const char *const usage =
    "usage: linstab map (--dexter N | --family F | --factors U | --diag D)\n"
    "                   --x AXIS=SPEC --y AXIS=SPEC [fixed values] --out DIR [options]\n"
    "\n"
    "Divergence phase diagram: the Monte Carlo protocol of Dexter et al. (2024),\n"
    "Section 5.1, in every cell of a grid, with the exact mean-square radius and\n"
    "the Lyapunov exponent, and the lines of their Theorems 1 (solid) and 2 (dashed).\n"
    "\n"
    "family:\n"
    "  --dexter N        the construction of Dexter et al. (2024) with N samples,\n"
    "                    regenerated per sigma\n"
    "  a fixed family (as for linstab check):\n"
    "@family\n"
    "@factors\n"
    "@diag\n"
    "@allow-indefinite\n"
    "@sym-tol\n"
    "@rank-tol\n"
    "@max-memory\n"
    CLI_MODEL_USAGE
    "axes (two different ones among eta, batch, rho, sigma):\n"
    "  --x SPEC, --y SPEC  NAME=a,b,c | NAME=lo:hi:count | NAME=log:lo:hi:count |\n"
    "                    batch=lo:hi[:step] | sigma=lo:hi[:step]\n"
    "fixed values (for the quantities that are not axes):\n"
    "@eta\n"
    "@batch\n"
    "@rho (default 0)\n"
    "  --sigma S         coherence of the dexter construction\n"
    "dynamics:\n"
    "  --optimizer O     sgd | sam-same | sam-independent | sam-normalized (default sgd)\n"
    "@sampling\n"
    "  --runs K          runs per cell (default 5; majority rule)\n"
    "  --steps T         at most T steps per run (default 1000)\n"
    "  --growth G        divergent at G-fold growth of ||w|| (default 1000)\n"
    "  --shrink S        convergent (stop) at S-fold shrinkage (default 1000)\n"
    "  sam-normalized is not linear, so its runs are never rescaled: from the unit\n"
    "  start a run is divergent when ||w|| reaches G x sqrt(1 + d r^2), with\n"
    "  r = rho max(1, eta l1/(2 - eta l1)) for eta l1 < 2 (else r = rho; l1 the\n"
    "  sharpness), which bounds every full-batch run for eta < 2/l1; convergent\n"
    "  when ||w|| falls to 1/S; otherwise bounded (e.g. Bartlett et al.'s 2-cycle),\n"
    "  which is not divergent (frac_divergent counts only divergent runs); no\n"
    "  radius or Lyapunov columns\n"
    "@seed\n"
    "@no-exact (the radius and Lyapunov exponent columns)\n"
    "output (in DIR): map.npy-style arrays, map.csv, map.json, map.png, map.svg:\n"
    "@out=DIR output folder (created if missing)\n"
    "  --no-plot         no figures\n"
    "  --plot-eta-squared  draw eta^2 on the eta axis (Dexter et al. 2024, Fig. 2)\n"
    "  --title T         the figure's first title line (PLplot text); the title\n"
    "                    is two lines: by default the optimizer, the fixed values\n"
    "                    (eta, B, rho for SAM) and the family (Dexter et al.'s\n"
    "                    construction with n and sigma, or the file with n and\n"
    "                    d), then sampling, runs x steps and seed; with --title,\n"
    "                    T, then all of those on the second line\n"
    "  --resume          finish a killed run from DIR/map.checkpoint (refused, saying\n"
    "                    why, unless written by this very run: same input file\n"
    "                    contents, same parameters and axes)\n"
    "@threads\n"
    "@quiet\n"
    "  -h, --help        this help\n";

enum { OPT_DEXTER = 256, OPT_X, OPT_Y, OPT_SIGMA, OPT_OPT, OPT_RUNS, OPT_STEPS, OPT_GROW, OPT_SHRINK,
       OPT_NOPLOT, OPT_ETA2, OPT_TITLE, OPT_RESUME };

static const struct option own_opts[] = {
    {"dexter", required_argument, NULL, OPT_DEXTER}, {"x", required_argument, NULL, OPT_X},
    {"y", required_argument, NULL, OPT_Y},           {"sigma", required_argument, NULL, OPT_SIGMA},
    {"optimizer", required_argument, NULL, OPT_OPT}, {"runs", required_argument, NULL, OPT_RUNS},
    {"steps", required_argument, NULL, OPT_STEPS},   {"growth", required_argument, NULL, OPT_GROW},
    {"shrink", required_argument, NULL, OPT_SHRINK}, {"no-plot", no_argument, NULL, OPT_NOPLOT},
    {"plot-eta-squared", no_argument, NULL, OPT_ETA2}, {"title", required_argument, NULL, OPT_TITLE},
    {"resume", no_argument, NULL, OPT_RESUME},       {NULL, 0, NULL, 0}};
static const cli_command map_cmd = {
    "map",
    CLI_OPTS_FAMILY | CLI_OPT_BIT(CLI_OPT_ETA) | CLI_OPT_BIT(CLI_OPT_BATCH) | CLI_OPT_BIT(CLI_OPT_RHO) |
        CLI_OPT_BIT(CLI_OPT_SAMPLING) | CLI_OPT_BIT(CLI_OPT_SEED) | CLI_OPT_BIT(CLI_OPT_NO_EXACT) |
        CLI_OPT_BIT(CLI_OPT_OUT) | CLI_OPT_BIT(CLI_OPT_THREADS) | CLI_OPT_BIT(CLI_OPT_QUIET),
    own_opts, NULL, usage, 20};

/* The grid's progress callback: the bar (rank 0; cli_progress.h: done
 * counts the cells a --resume found in the checkpoint, the rate and the
 * ETA only this run's: the checkpoint's cells cost nothing now, and
 * counting them gave "ETA 0 s" right after a resume), and the test hook
 * LINSTAB_MAP_ABORT_AFTER_CHUNKS=K that stops the run after the K-th chunk
 * (checkpointed), where the command then dies like a killed process. */
typedef struct progress_ctx {
    int quiet, rank;
    long abort_after;
    size_t done0; /* cells done before this run (a resume's checkpoint) */
    cli_progress_state bar; /* begun (rank 0) before the grid runs */
} progress_ctx;

static int map_progress(void *ctx, size_t done, size_t total, double seconds)
{
    (void)seconds; /* the bar keeps its own clock, from its begin */
    progress_ctx *pc = ctx;
    if (pc->rank == 0) {
        cli_progress_update(&pc->bar, done, total);
        if (done >= total) cli_progress_end(&pc->bar);
    }
    return pc->abort_after > 0 && --pc->abort_after == 0;
}

/* The number of cells done in the checkpoint a --resume will start from
 * (0 when there is none or it is refused: the grid says why). */
static size_t resumed_cells(const char *ckpt, const linstab_checkpoint_ident *id, size_t ncells)
{
    unsigned char *done = malloc(ncells);
    double *vals = malloc(ncells * LINSTAB_MAP_FIELDS * sizeof *vals);
    size_t k = 0;
    linstab_error err = {0};
    if (done != NULL && vals != NULL &&
        linstab_checkpoint_read(ckpt, id, ncells, LINSTAB_MAP_FIELDS, done, vals, &err) == LINSTAB_OK)
        for (size_t c = 0; c < ncells; c++) k += done[c] != 0;
    free(done);
    free(vals);
    return k;
}

enum { FIELDS = LINSTAB_MAP_FIELDS };

#ifdef LINSTAB_MPI
/* The grid's partition over MPI ranks: rank r computes the cells c with
 * c % size == r of every chunk; after each chunk the ranks sum their
 * (disjoint) results, so every rank holds the whole grid and rank 0
 * writes the same files as a serial run. */
typedef struct mpi_part {
    double *buf; /* (min(chunk, ncells), FIELDS + 1): a chunk's values and flags */
    size_t ncells;
    int rank, nranks;
} mpi_part;

static linstab_status mpi_sync(void *ctx, linstab_map_sync *s, linstab_error *err)
{
    mpi_part *m = ctx;
    linstab_status st = LINSTAB_OK;
    int any = s->failed;
    if (s->c0 == 0 && s->c1 == 0 && m->buf == NULL && !any) {
        size_t len = s->chunk < m->ncells ? s->chunk : m->ncells;
        m->buf = malloc(len * (FIELDS + 1) * sizeof *m->buf);
        if (m->buf == NULL) {
            st = linstab_error_set(err, LINSTAB_ENOMEM, "out of memory (MPI buffer of %zu cells)", len);
            any = 1;
        }
    }
    if (s->c1 > s->c0) {
        /* this chunk's cells were computed by exactly one rank each; cells
         * already done before a resume are identical on every rank */
        size_t c0 = s->c0, len = s->c1 - s->c0;
        double *mbuf = m->buf, *vals = s->vals;
        unsigned char *done = s->done;
        for (size_t q = 0; q < len; q++) {
            int mine = (c0 + q) % (size_t)m->nranks == (size_t)m->rank && done[c0 + q];
            for (int k = 0; k < FIELDS; k++) mbuf[q * (FIELDS + 1) + k] = mine ? vals[(c0 + q) * FIELDS + k] : 0.0;
            mbuf[q * (FIELDS + 1) + FIELDS] = mine ? 1.0 : 0.0;
        }
        MPI_Allreduce(MPI_IN_PLACE, mbuf, (int)(len * (FIELDS + 1)), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        for (size_t q = 0; q < len; q++)
            if (mbuf[q * (FIELDS + 1) + FIELDS] > 0.5) {
                memcpy(vals + (c0 + q) * FIELDS, mbuf + q * (FIELDS + 1), FIELDS * sizeof *vals);
                done[c0 + q] = 1;
            }
    }
    /* every rank learns of any failure at the same collective */
    unsigned long long first = s->first_failed == SIZE_MAX ? ULLONG_MAX : (unsigned long long)s->first_failed;
    MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    s->first_failed = first == ULLONG_MAX ? SIZE_MAX : (size_t)first;
    s->failed = any;
    return st;
}
#endif


static const char *axis_label(linstab_map_axis_kind k, int eta2)
{
    switch (k) {
    case LINSTAB_MAP_AXIS_ETA: return eta2 ? "learning rate #gy#u2#d" : "learning rate #gy";
    case LINSTAB_MAP_AXIS_BATCH: return "batch size B";
    case LINSTAB_MAP_AXIS_RHO: return "SAM radius #gr";
    case LINSTAB_MAP_AXIS_SIGMA: return "coherence #gs";
    }
    return "";
}

/* The figure's title: the user's (if any) on the first line, then every
 * parameter of the map that is not an axis (PLplot text, at most two
 * lines): optimizer, eta, batch, rho (SAM), the family (Dexter et al.'s
 * construction with n and sigma, or the file with n and d), sampling,
 * runs x steps, seed. */
static void map_title(char *buf, size_t len, const char *user, const linstab_map_params *p,
                      const linstab_map_axis *x, const linstab_map_axis *y, size_t dexter_n, const char *path,
                      const linstab_map_source *ms, unsigned long long seed)
{
    char fixed[256] = "", fam[320];
    size_t off = 0;
    int on[4] = {0, 0, 0, 0};
    on[x->kind] = on[y->kind] = 1;
    if (!on[LINSTAB_MAP_AXIS_ETA]) off += (size_t)snprintf(fixed + off, sizeof fixed - off, ", #gy = %g", p->eta);
    if (!on[LINSTAB_MAP_AXIS_BATCH] && off < sizeof fixed)
        off += (size_t)snprintf(fixed + off, sizeof fixed - off, ", B = %zu", p->batch);
    if (p->dyn != LINSTAB_OPT_SGD && !on[LINSTAB_MAP_AXIS_RHO] && off < sizeof fixed)
        off += (size_t)snprintf(fixed + off, sizeof fixed - off, ", #gr = %g", p->rho);
    if (dexter_n > 0) {
        if (on[LINSTAB_MAP_AXIS_SIGMA]) snprintf(fam, sizeof fam, "Dexter et al. (2024) construction, n = %zu", dexter_n);
        else snprintf(fam, sizeof fam, "Dexter et al. (2024) construction, n = %zu, #gs = %zu", dexter_n, p->sigma);
    } else {
        const char *base = strrchr(path, '/');
        base = base != NULL && base[1] != '\0' ? base + 1 : path;
        size_t n = ms->rf != NULL ? ms->rf->f->n : 0, d = ms->rf != NULL ? ms->rf->d_full : 0;
        snprintf(fam, sizeof fam, "%s, n = %zu, d = %zu", base, n, d);
    }
    char run[160];
    snprintf(run, sizeof run, "%s sampling, %zu runs x %zu steps, seed %llu", linstab_sampling_name(p->sampling),
             p->runs, p->steps, seed);
    if (user != NULL)
        snprintf(buf, len, "%s\n%s%s, %s, %s", user, linstab_optimizer_name(p->dyn), fixed, fam, run);
    else
        snprintf(buf, len, "%s%s, %s\n%s", linstab_optimizer_name(p->dyn), fixed, fam, run);
}

/* The outputs are written into a staging folder DIR/.linstab-map-XXXXXX and
 * renamed into DIR together once every one is complete; on a failure the
 * staging folder is removed and no final name has changed. */
typedef struct stage {
    char dir[4200];
    const char *out;
    int made;
    char failed[128]; /* the output whose write failed */
    char why[LINSTAB_ERROR_MSG_LEN];
} stage;

static void stage_path(const stage *sg, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", sg->dir, name);
}

static int stage_fail(stage *sg, const char *name, const char *why)
{
    /* the library names the staged file: the final name is said instead */
    size_t dl = strlen(sg->dir);
    const char *cut = strncmp(why, sg->dir, dl) == 0 ? strstr(why + dl, ": ") : NULL;
    if (cut != NULL) why = cut + 2;
    if (sg->failed[0] == '\0') {
        snprintf(sg->failed, sizeof sg->failed, "%s", name);
        snprintf(sg->why, sizeof sg->why, "%s", why);
    }
    return 1;
}

/* Remove the staging folder and everything in it. */
static void stage_discard(stage *sg)
{
    if (!sg->made) return;
    DIR *dp = opendir(sg->dir);
    if (dp != NULL) {
        struct dirent *e;
        char pth[4600];
        while ((e = readdir(dp)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(pth, sizeof pth, "%s/%s", sg->dir, e->d_name);
            unlink(pth);
        }
        closedir(dp);
    }
    rmdir(sg->dir);
    sg->made = 0;
}

/* Write a (ny, nx) array: field k of the packed values. */
static int save_field(stage *sg, const char *name, size_t ny, size_t nx, const double *vals, int k)
{
    double *a = malloc(ny * nx * sizeof *a);
    if (a == NULL) return stage_fail(sg, name, "out of memory");
    for (size_t c = 0; c < ny * nx; c++) a[c] = vals[c * FIELDS + k];
    char path[4600];
    stage_path(sg, name, path, sizeof path);
    size_t shape[2] = {ny, nx};
    linstab_error err = {0};
    int rc = linstab_npy_write(path, a, 2, shape, &err) == LINSTAB_OK ? 0 : stage_fail(sg, name, cli_msg(&err));
    free(a);
    return rc;
}

/* Close a staged text output; 0, or 1 with the reason recorded. */
static int stage_close(stage *sg, const char *name, FILE *fp)
{
    int bad = ferror(fp) != 0, e = errno;
    if (fclose(fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad) return 0;
    return stage_fail(sg, name, strerror(e ? e : EIO));
}

/* The identity of a run (checkpoint.h): the contents of every input file
 * and every parameter, each a named part.  Returns an exit status. */
static int run_identity(const char *cmd, const cli_family_source *src, size_t dexter_n,
                        const linstab_map_params *p, unsigned long long seed, const linstab_map_axis *x,
                        const linstab_map_axis *y, linstab_checkpoint_ident *id)
{
    linstab_error err = {0};
    linstab_status st = linstab_checkpoint_ident_addf(id, "the linstab version", &err, "%s", LINSTAB_VERSION);
    if (st == LINSTAB_OK)
        st = linstab_checkpoint_ident_addf(id, "the family source", &err, "%s",
                                     dexter_n ? "dexter" : src->family ? "family" : src->factors ? "factors"
                                                       : src->diag ? "diag" : "model");
    if (st == LINSTAB_OK && dexter_n) st = linstab_checkpoint_ident_addf(id, "--dexter", &err, "%zu", dexter_n);
    if (st == LINSTAB_OK && src->family)
        st = linstab_checkpoint_ident_add_file(id, "the contents of the family file", src->family, &err);
    if (st == LINSTAB_OK && src->factors)
        st = linstab_checkpoint_ident_add_file(id, "the contents of the factors file", src->factors, &err);
    if (st == LINSTAB_OK && src->diag)
        st = linstab_checkpoint_ident_add_file(id, "the contents of the diagonal file", src->diag, &err);
    if (st == LINSTAB_OK && src->model) {
        char pth[4200], name[LINSTAB_CKPT_NAME_LEN];
        snprintf(pth, sizeof pth, "%s/model.json", src->model);
        st = linstab_checkpoint_ident_add_file(id, "the contents of the model's model.json", pth, &err);
        /* the layers' weights and biases, W0.npy b0.npy W1.npy ... up to the first missing */
        for (size_t l = 0; st == LINSTAB_OK; l++) {
            int any = 0;
            for (int kind = 0; kind < 2 && st == LINSTAB_OK; kind++) {
                snprintf(pth, sizeof pth, "%s/%c%zu.npy", src->model, kind ? 'b' : 'W', l);
                if (access(pth, F_OK) != 0) continue;
                any = 1;
                snprintf(name, sizeof name, "the contents of the model's %c%zu.npy", kind ? 'b' : 'W', l);
                st = linstab_checkpoint_ident_add_file(id, name, pth, &err);
            }
            if (!any) break;
        }
        if (st == LINSTAB_OK && src->data)
            st = linstab_checkpoint_ident_add_file(id, "the contents of the data file", src->data, &err);
        if (st == LINSTAB_OK && src->targets)
            st = linstab_checkpoint_ident_add_file(id, "the contents of the targets file", src->targets, &err);
        if (st == LINSTAB_OK)
            st = linstab_checkpoint_ident_addf(id, "--loss, --hessian, --label-smoothing", &err, "%d|%d|%.17g",
                                         /* CE by default was exact before gn existed for it:
                                          * record the resolved choice so such a run is not resumed */
                                         src->loss_ce, src->loss_ce && src->exact == 0 ? -1 : src->exact,
                                         src->smoothing);
    }
    if (st == LINSTAB_OK)
        st = linstab_checkpoint_ident_addf(id, "--allow-indefinite, --sym-tol, --rank-tol", &err, "%d|%.17g|%.17g",
                                     src->allow_indefinite, src->sym_tol, src->rank_tol);
    struct { const char *name, *fmt; } text[] = {{"--optimizer", "%s"}, {"--sampling", "%s"}};
    const char *tv[2] = {linstab_optimizer_name(p->dyn), linstab_sampling_name(p->sampling)};
    for (int k = 0; k < 2 && st == LINSTAB_OK; k++) st = linstab_checkpoint_ident_addf(id, text[k].name, &err, "%s", tv[k]);
    struct { const char *name; double v; } num[] = {{"--eta", p->eta}, {"--rho", p->rho}, {"--growth", p->grow},
                                                    {"--shrink", p->shrink}};
    for (size_t k = 0; k < sizeof num / sizeof num[0] && st == LINSTAB_OK; k++)
        st = linstab_checkpoint_ident_addf(id, num[k].name, &err, "%.17g", num[k].v);
    struct { const char *name; unsigned long long v; } whole[] = {
        {"--batch", p->batch}, {"--sigma", p->sigma}, {"--runs", p->runs}, {"--steps", p->steps},
        {"--seed", seed}, {"--no-exact", (unsigned long long)!p->exact},
        {"the Lyapunov runs", p->lyap_runs}, {"the Lyapunov steps", p->lyap_steps}};
    for (size_t k = 0; k < sizeof whole / sizeof whole[0] && st == LINSTAB_OK; k++)
        st = linstab_checkpoint_ident_addf(id, whole[k].name, &err, "%llu", whole[k].v);
    /* the axes: name, count and every value's bits, little-endian, in full */
    for (int a = 0; a < 2 && st == LINSTAB_OK; a++) {
        const linstab_map_axis *ax = a ? y : x;
        size_t len = 16 + 8 * ax->count;
        unsigned char *b = malloc(len);
        if (b == NULL) {
            st = linstab_error_set(&err, LINSTAB_ENOMEM, "out of memory for the checkpoint identity");
            break;
        }
        memset(b, 0, 16);
        snprintf((char *)b, 8, "%s", linstab_map_axis_name(ax->kind));
        for (int q = 0; q < 8; q++) b[8 + q] = (unsigned char)((uint64_t)ax->count >> (8 * q));
        for (size_t i = 0; i < ax->count; i++) {
            uint64_t bits;
            memcpy(&bits, &ax->values[i], 8);
            for (int q = 0; q < 8; q++) b[16 + 8 * i + q] = (unsigned char)(bits >> (8 * q));
        }
        st = linstab_checkpoint_ident_add(id, a ? "the y axis" : "the x axis", b, len, &err);
        free(b);
    }
    if (st != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(&err));
        return 1;
    }
    return 0;
}

int cmd_map(int argc, char **argv)
{
    const char *cmd = "map";
    linstab_map_params p = linstab_map_defaults();
    const char *xs = NULL, *ys = NULL, *title = NULL;
    size_t dexter_n = 0;
    int noplot = 0, eta2 = 0, resume = 0, rc = 0;
    linstab_error err = {0};
    cli_common_opts co = cli_common_defaults();
    co.eta = p.eta;
    co.batch = p.batch;
    co.rho = p.rho;
    co.sampling = p.sampling;
    co.seed = p.seed;
    cli_parser ps = cli_options_start(&map_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_DEXTER: ps.status = cli_parse_count(cmd, "--dexter", optarg, 1, SIZE_MAX, &dexter_n); break;
        case OPT_X: xs = optarg; break;
        case OPT_Y: ys = optarg; break;
        case OPT_SIGMA: ps.status = cli_parse_count(cmd, "--sigma", optarg, 1, SIZE_MAX, &p.sigma); break;
        case OPT_OPT:
            if (linstab_optimizer_parse(optarg, &p.dyn, &err) != LINSTAB_OK)
                ps.status = cli_usage_error(cmd, "%s", cli_msg(&err));
            break;
        case OPT_RUNS: ps.status = cli_parse_count(cmd, "--runs", optarg, 1, 1000000, &p.runs); break;
        case OPT_STEPS: ps.status = cli_parse_count(cmd, "--steps", optarg, 1, 1000000000, &p.steps); break;
        case OPT_GROW:
            ps.status = cli_parse_number(cmd, "--growth", optarg, 1, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &p.grow);
            break;
        case OPT_SHRINK:
            ps.status = cli_parse_number(cmd, "--shrink", optarg, 1, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &p.shrink);
            break;
        case OPT_NOPLOT: noplot = 1; break;
        case OPT_ETA2: eta2 = 1; break;
        case OPT_TITLE: title = optarg; break;
        case OPT_RESUME: resume = 1; break;
        }
    }
    cli_family_source src = co.src;
    p.eta = co.eta;
    p.batch = co.batch;
    p.rho = co.rho;
    p.sampling = co.sampling;
    p.seed = co.seed;
    if (co.no_exact) p.exact = 0;
    const char *out = co.out;
    size_t threads = co.threads;
    int quiet = co.quiet;
    unsigned long long seed = co.seed;
    int nsrc = (dexter_n > 0) + (src.family != NULL) + (src.factors != NULL) + (src.diag != NULL) + (src.model != NULL);
    if (nsrc != 1) return cli_usage_error(cmd, "give exactly one of --dexter, --family, --factors, --diag, --model");
    if (xs == NULL || ys == NULL) return cli_usage_error(cmd, "--x and --y are required");
    if (out == NULL) return cli_usage_error(cmd, "--out DIR is required");
    if (p.runs < 1 || p.steps < 1) return cli_usage_error(cmd, "--runs and --steps must be >= 1");
    if (!(p.grow > 1) || !(p.shrink > 1)) return cli_usage_error(cmd, "--growth and --shrink must be > 1");

    linstab_map_axis x = {0}, y = {0};
    if (linstab_map_axis_parse(xs, &x, &err) != LINSTAB_OK) return cli_usage_error(cmd, "--x: %s", cli_msg(&err));
    if (linstab_map_axis_parse(ys, &y, &err) != LINSTAB_OK) {
        linstab_map_axis_clear(&x);
        return cli_usage_error(cmd, "--y: %s", cli_msg(&err));
    }
    linstab_family *f = NULL;
    linstab_rotated rf = {0};
    linstab_map_source ms = {NULL, NAN, NAN, dexter_n, NULL, NULL};
    linstab_moments *mom = NULL;
    linstab_map_grid grid = {0};
    linstab_checkpoint_ident id;
    linstab_checkpoint_ident_init(&id);
    stage sg = {.out = out};
    const char *path = "dexter";
    size_t ncells = 0;
    char ckpt[4200];
    /* MPI: every rank runs the setup and reaches the agreement below, so a
     * failure on one rank (a file, memory) stops all of them at the same
     * collective */
    int rank = 0, nranks = 1;
    (void)nranks;
#ifdef LINSTAB_MPI
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
#endif
    /* the whole pipeline on one BLAS thread: no reduction order, in the
     * family's preparation or in a cell, depends on OPENBLAS_NUM_THREADS
     * (cells run in parallel instead) */
    int blas = linstab_map_blas_serial();
    if (dexter_n == 0) {
        int indef = 0;
        rc = cli_load_family(cmd, &src, &f, &path, &indef);
        if (rc != 0) goto agree;
        linstab_status st = linstab_map_source_prepare(f, src.rank_tol, indef, p.dyn, &rf, &mom, &ms, &err);
        if (st != LINSTAB_OK) {
            fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, path, cli_msg(&err));
            rc = cli_exit_code(st);
            goto agree;
        }
    }
    if (linstab_map_check(&ms, &p, &x, &y, &err) != LINSTAB_OK) {
        rc = cli_usage_error(cmd, "%s", cli_msg(&err));
        goto agree;
    }
    /* the memory the grid needs, before anything of its size is allocated */
    {
        size_t nthreads = threads;
#ifdef _OPENMP
        if (nthreads == 0) nthreads = (size_t)omp_get_max_threads();
#endif
        if (nthreads == 0) nthreads = 1;
        double need = 0.0;
        if (linstab_map_memory(&ms, &p, &x, &y, nthreads, &ncells, &need, &err) != LINSTAB_OK) {
            rc = cli_usage_error(cmd, "%s", cli_msg(&err));
            goto agree;
        }
        double lim = src.max_memory > 0.0 ? src.max_memory : cli_available_memory();
        if (lim > 0.0 && need > lim) {
            fprintf(stderr,
                    "linstab %s: error: this map (%zu x %zu = %zu cells, %zu threads) needs about %.0f bytes "
                    "(%.3g GB) of memory, more than the %.0f bytes (%.3g GB) %s\n",
                    cmd, x.count, y.count, ncells, nthreads, need, need / 1e9, lim, lim / 1e9,
                    src.max_memory > 0.0 ? "allowed by --max-memory" : "available (see --max-memory)");
            rc = 1;
            goto agree;
        }
    }
    /* the output folder must be writable before any work starts */
    if (cli_mkdir_p(out) != 0) {
        fprintf(stderr, "linstab %s: error: cannot create %s: %s\n", cmd, out, strerror(errno));
        rc = 1;
        goto agree;
    }
    if (rank == 0) {
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/.linstab-probe", out);
        FILE *pf = fopen(probe, "w");
        if (pf == NULL) {
            fprintf(stderr, "linstab %s: error: cannot write into %s: %s\n", cmd, out, strerror(errno));
            rc = 1;
            goto agree;
        }
        fclose(pf);
        unlink(probe);
    }
    snprintf(ckpt, sizeof ckpt, "%s/map.checkpoint", out);
    if ((rc = run_identity(cmd, &src, dexter_n, &p, seed, &x, &y, &id)) != 0) goto agree;
agree:
#ifdef LINSTAB_MPI
    if (nranks > 1) {
        int any = rc;
        MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (any != 0 && rc == 0) rc = any; /* another rank said why */
    }
#endif
    if (rc != 0) goto done;
    /* the grid: one library call; MPI is its partition callback */
    linstab_map_grid_opts go = linstab_map_grid_defaults();
    go.threads = threads;
    go.checkpoint = ckpt;
    go.ident = &id;
    go.resume = resume;
    const char *hook = getenv("LINSTAB_MAP_ABORT_AFTER_CHUNKS");
    progress_ctx pc = {quiet, rank, hook ? strtol(hook, NULL, 10) : 0, 0, {0}};
    if (resume && rank == 0 && !quiet) pc.done0 = resumed_cells(ckpt, &id, ncells);
    if (rank == 0) cli_progress_begin(&pc.bar, "map", pc.done0, ncells, quiet);
    go.progress = map_progress;
    go.progress_ctx = &pc;
#ifdef LINSTAB_MPI
    mpi_part mp = {NULL, ncells, rank, nranks};
    linstab_map_partition part = {(size_t)nranks, (size_t)rank, rank == 0, mpi_sync, &mp};
    if (nranks > 1) go.partition = &part;
#endif
    linstab_status gst = linstab_map_grid_run(&ms, &p, &x, &y, &go, &grid, &err);
    if (rank == 0) cli_progress_stop(&pc.bar); /* a failed or stopped grid: end the line */
#ifdef LINSTAB_MPI
    free(mp.buf);
#endif
    if (gst != LINSTAB_OK) {
        /* another rank's failure is reported by that rank */
        if (grid.failure != LINSTAB_MAP_GRID_FAILED_ELSEWHERE)
            fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(&err));
        int one = grid.failure == LINSTAB_MAP_GRID_FAILED_ELSEWHERE || grid.failure == LINSTAB_MAP_GRID_FAILED_RESUME ||
                  grid.failure == LINSTAB_MAP_GRID_FAILED_CHECKPOINT;
        rc = one ? 1 : cli_exit_code(gst);
    }
    /* test hook: die like a killed process right after a checkpoint */
    if (rc == 0 && grid.stopped) _exit(137);
    const double *vals = grid.vals;
    double elapsed = grid.seconds;
    if (rc != 0 || rank != 0) goto done; /* rank 0 writes the files */
    /* outputs: staged, then renamed together */
    snprintf(sg.dir, sizeof sg.dir, "%s/.linstab-map-XXXXXX", out);
    if (mkdtemp(sg.dir) == NULL) {
        fprintf(stderr, "linstab %s: error: cannot write into %s: %s\n", cmd, out, strerror(errno));
        rc = 1;
        goto done;
    }
    sg.made = 1;
    static const char *files[FIELDS] = {"frac_divergent.npy", "divergent.npy", "radius.npy",
                                        "lyapunov.npy", "thm1_margin.npy", "thm2_margin.npy",
                                        "thm9_margin.npy"};
    static const char *names[FIELDS + 6] = {"frac_divergent.npy", "divergent.npy", "radius.npy",
                                            "lyapunov.npy", "thm1_margin.npy", "thm2_margin.npy",
                                            "thm9_margin.npy", "x.npy", "y.npy", "map.csv", "map.json",
                                            "map.png", "map.svg"};
    if (!noplot && !linstab_plot_available()) { /* a build without PLplot: the rest is written */
        fprintf(stderr, "linstab %s: note: figures are not available in this build (built without PLplot): "
                "no map.png, map.svg\n", cmd);
        noplot = 1;
    }
    int nout = noplot ? FIELDS + 4 : FIELDS + 6;
    for (int k = 0; k < FIELDS && rc == 0; k++) rc = save_field(&sg, files[k], y.count, x.count, vals, k);
    for (int a = 0; a < 2 && rc == 0; a++) {
        const linstab_map_axis *ax = a ? &y : &x;
        char pth[4600];
        stage_path(&sg, a ? "y.npy" : "x.npy", pth, sizeof pth);
        size_t shape[1] = {ax->count};
        if (linstab_npy_write(pth, ax->values, 1, shape, &err) != LINSTAB_OK)
            rc = stage_fail(&sg, a ? "y.npy" : "x.npy", cli_msg(&err));
    }
    char pth[4600];
    FILE *fp = NULL;
    if (rc == 0) {
        stage_path(&sg, "map.csv", pth, sizeof pth);
        if ((fp = fopen(pth, "w")) == NULL) rc = stage_fail(&sg, "map.csv", strerror(errno));
    }
    if (rc == 0) {
        fprintf(fp, "%s,%s,frac_divergent,divergent,radius,lyapunov,thm1_margin,thm2_margin,thm9_margin\n",
                linstab_map_axis_name(x.kind), linstab_map_axis_name(y.kind));
        for (size_t cell = 0; cell < ncells; cell++) {
            const double *v = vals + cell * FIELDS;
            fprintf(fp, "%.17g,%.17g,%.17g,%d", x.values[cell % x.count], y.values[cell / x.count], v[0], (int)v[1]);
            for (int k = 2; k < FIELDS; k++) {
                if (isfinite(v[k])) fprintf(fp, ",%.17g", v[k]);
                else if (isinf(v[k])) fprintf(fp, ",%s", v[k] > 0 ? "inf" : "-inf");
                else fprintf(fp, ",");
            }
            fputc('\n', fp);
        }
        rc = stage_close(&sg, "map.csv", fp);
    }
    if (rc == 0) {
        stage_path(&sg, "map.json", pth, sizeof pth);
        if ((fp = fopen(pth, "w")) == NULL) rc = stage_fail(&sg, "map.json", strerror(errno));
    }
    if (rc == 0) {
        linstab_json j;
        linstab_json_init(&j, fp);
        linstab_json_begin(&j, NULL);
        linstab_json_string(&j, "linstab_version", LINSTAB_VERSION);
        linstab_json_string(&j, "source", path);
        if (dexter_n) linstab_json_int(&j, "dexter_n", (long long)dexter_n);
        else {
            linstab_json_number(&j, "sharpness", ms.sharpness);
            linstab_json_number(&j, "sigma", ms.sigma);
        }
        linstab_json_string(&j, "optimizer", linstab_optimizer_name(p.dyn));
        linstab_json_string(&j, "sampling", linstab_sampling_name(p.sampling));
        linstab_json_number(&j, "eta", p.eta);
        linstab_json_int(&j, "batch", (long long)p.batch);
        linstab_json_number(&j, "rho", p.rho);
        linstab_json_int(&j, "sigma_fixed", (long long)p.sigma);
        linstab_json_int(&j, "runs", (long long)p.runs);
        linstab_json_int(&j, "steps", (long long)p.steps);
        linstab_json_number(&j, "growth", p.grow);
        linstab_json_number(&j, "shrink", p.shrink);
        linstab_json_int(&j, "seed", (long long)seed);
        linstab_json_bool(&j, "exact", p.exact);
        for (int a = 0; a < 2; a++) {
            const linstab_map_axis *ax = a ? &y : &x;
            linstab_json_begin(&j, a ? "y" : "x");
            linstab_json_string(&j, "name", linstab_map_axis_name(ax->kind));
            linstab_json_begin_array(&j, "values");
            for (size_t i = 0; i < ax->count; i++) linstab_json_number(&j, NULL, ax->values[i]);
            linstab_json_end_array(&j);
            linstab_json_end(&j);
        }
        linstab_json_begin_array(&j, "arrays");
        for (int k = 0; k < FIELDS; k++) linstab_json_string(&j, NULL, files[k]);
        linstab_json_end_array(&j);
        linstab_json_string(&j, "array_shape", "(len(y), len(x))");
        linstab_json_number(&j, "seconds", elapsed);
        linstab_json_end(&j);
        rc = stage_close(&sg, "map.json", fp);
    }

    if (rc == 0 && !noplot) {
        size_t nc = ncells;
        double *fr = malloc(nc * sizeof *fr), *t1 = malloc(nc * sizeof *t1), *t2 = malloc(nc * sizeof *t2),
               *lr = malloc(nc * sizeof *lr), *ly = malloc(nc * sizeof *ly), *t9 = malloc(nc * sizeof *t9);
        double *xv = malloc(x.count * sizeof *xv), *yv = malloc(y.count * sizeof *yv);
        if (!fr || !t1 || !t2 || !lr || !ly || !t9 || !xv || !yv) rc = stage_fail(&sg, "map.png", "out of memory");
        for (size_t k = 0; rc == 0 && k < nc; k++) {
            const double *v = vals + k * FIELDS;
            fr[k] = v[0];
            t1[k] = v[4];
            t2[k] = v[5];
            lr[k] = v[2] > 0 ? log(v[2]) : (isnan(v[2]) ? NAN : -INFINITY);
            ly[k] = v[3];
            t9[k] = v[6];
        }
        for (size_t i = 0; rc == 0 && i < x.count; i++)
            xv[i] = (eta2 && x.kind == LINSTAB_MAP_AXIS_ETA) ? x.values[i] * x.values[i] : x.values[i];
        for (size_t i = 0; rc == 0 && i < y.count; i++)
            yv[i] = (eta2 && y.kind == LINSTAB_MAP_AXIS_ETA) ? y.values[i] * y.values[i] : y.values[i];
        char ttl[1024];
        map_title(ttl, sizeof ttl, title, &p, &x, &y, dexter_n, path, &ms, seed);
        title = ttl;
        /* the exact mean-square boundary through its exact crossings */
        size_t nb = 0;
        int along = 0;
        double *bd = NULL;
        if (rc == 0 && p.exact) {
            bd = malloc(2 * (x.count + 1) * (y.count + 1) * sizeof *bd);
            if (bd == NULL) rc = stage_fail(&sg, "map.png", "out of memory");
            else {
                double *rad = malloc(nc * sizeof *rad);
                if (rad == NULL) rc = stage_fail(&sg, "map.png", "out of memory");
                for (size_t k = 0; rc == 0 && k < nc; k++) rad[k] = vals[k * FIELDS + 2];
                if (rc == 0 && linstab_plot_map_boundary(&ms, &p, &x, &y, rad, 0.0, bd, &nb, &along, &err) != LINSTAB_OK)
                    rc = stage_fail(&sg, "map.png", cli_msg(&err));
                free(rad);
                for (size_t i = 0; rc == 0 && eta2 && i < nb; i++) {
                    if (x.kind == LINSTAB_MAP_AXIS_ETA) bd[2 * i] *= bd[2 * i];
                    if (y.kind == LINSTAB_MAP_AXIS_ETA) bd[2 * i + 1] *= bd[2 * i + 1];
                }
            }
        }
        /* Dexter et al.'s Theorems are about SGD: drawn on SGD maps only */
        int sgd = p.dyn == LINSTAB_OPT_SGD;
        linstab_plot_map pm = {x.count, y.count, xv, yv, x.log && !(eta2 && x.kind == LINSTAB_MAP_AXIS_ETA),
                               y.log && !(eta2 && y.kind == LINSTAB_MAP_AXIS_ETA),
                               axis_label(x.kind, eta2), axis_label(y.kind, eta2), title, fr,
                               sgd ? t1 : NULL, sgd ? t2 : NULL,
                               p.exact ? lr : NULL, p.exact ? ly : NULL,
                               p.dyn != LINSTAB_OPT_SGD ? t9 : NULL, nb > 0 ? bd : NULL, nb};
        static const char *dev[2] = {"pngcairo", "svg"}, *name[2] = {"map.png", "map.svg"};
        for (int k = 0; rc == 0 && k < 2; k++) {
            stage_path(&sg, name[k], pth, sizeof pth);
            struct stat sb;
            if (linstab_plot_map_draw(&pm, dev[k], pth, &err) != LINSTAB_OK) rc = stage_fail(&sg, name[k], cli_msg(&err));
            else if (stat(pth, &sb) != 0 || sb.st_size == 0)
                rc = stage_fail(&sg, name[k], "the figure is empty (is the disk full?)");
        }
        free(bd);
        free(fr);
        free(t1);
        free(t2);
        free(lr);
        free(ly);
        free(t9);
        free(xv);
        free(yv);
    }
    /* every output is complete: rename them into place together */
    for (int k = 0; rc == 0 && k < nout; k++) {
        char from[4600], to[4600];
        stage_path(&sg, names[k], from, sizeof from);
        snprintf(to, sizeof to, "%s/%s", out, names[k]);
        if (rename(from, to) != 0) rc = stage_fail(&sg, names[k], strerror(errno));
    }
    if (rc != 0) {
        fprintf(stderr, "linstab %s: error: cannot write %s/%s: %s (no output was written)\n", cmd, out,
                sg.failed[0] ? sg.failed : "?", sg.why[0] ? sg.why : "unknown error");
        goto done;
    }
    if (rc == 0) {
        printf("map: %zu x %zu cells (%s x %s) in %.2f s -> %s/{frac_divergent,divergent,radius,lyapunov,"
               "thm1_margin,thm2_margin,thm9_margin,x,y}.npy, map.csv, map.json%s\n",
               x.count, y.count, linstab_map_axis_name(x.kind), linstab_map_axis_name(y.kind), elapsed, out,
               noplot ? "" : ", map.png, map.svg");
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "linstab %s: error: cannot write to standard output: %s\n", cmd, strerror(errno));
            rc = 1;
        }
    }
done:
    stage_discard(&sg);
    linstab_map_blas_restore(blas);
    linstab_checkpoint_ident_clear(&id);
    linstab_map_grid_clear(&grid);
    linstab_moments_free(mom);
    linstab_family_rotated_clear(&rf);
    linstab_family_free(f);
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
    return rc;
}
