/*
 * cmd_map.c -- `linstab map`: divergence phase diagrams (Dexter et al. Section 5.1,
 * Figures 1-2) with the exact mean-square and almost-sure boundaries.
 * OpenMP over cells, per-(seed, cell, run) random streams (identical output
 * for any thread count), checkpoint + --resume, progress bar.
 */
#include <errno.h>
#include <getopt.h>
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

#include "cli.h"
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
    "  --family/--factors/--diag FILE   a fixed family (as for linstab check)\n"
    CLI_MODEL_USAGE
    "axes (two different ones among eta, batch, rho, sigma):\n"
    "  --x SPEC, --y SPEC  NAME=a,b,c | NAME=lo:hi:count | NAME=log:lo:hi:count |\n"
    "                    batch=lo:hi[:step] | sigma=lo:hi[:step]\n"
    "fixed values (for the quantities that are not axes):\n"
    "  --eta E --batch B --rho R --sigma S\n"
    "dynamics:\n"
    "  --optimizer O     sgd | sam-same | sam-independent | sam-normalized (default sgd)\n"
    "  --sampling S      bernoulli | without | with (default bernoulli, the sampling\n"
    "                    of Dexter et al. (2024))\n"
    "  --runs K          runs per cell (default 5; majority rule)\n"
    "  --steps T         at most T steps per run (default 1000)\n"
    "  --growth G        divergent at G-fold growth of ||w|| (default 1000)\n"
    "  --shrink S        convergent (stop) at S-fold shrinkage (default 1000)\n"
    "  --seed S          seed (default 0)\n"
    "  --no-exact        skip the exact radius and Lyapunov exponent columns\n"
    "output (in DIR): map.npy-style arrays, map.csv, map.json, map.png, map.svg:\n"
    "  --out DIR         output folder (created if missing)\n"
    "  --no-plot         no figures\n"
    "  --plot-eta-squared  draw eta^2 on the eta axis (Dexter et al. 2024, Fig. 2)\n"
    "  --title T         figure title\n"
    "  --resume          finish a killed run from DIR/map.checkpoint\n"
    "  --threads N       OpenMP threads (default: all)\n"
    "  --quiet           no progress bar\n"
    "  -h, --help        this help\n";

enum { OPT_DEXTER = 256, OPT_FAMILY, OPT_FACTORS, OPT_DIAG, OPT_X, OPT_Y, OPT_ETA, OPT_BATCH,
       OPT_RHO, OPT_SIGMA, OPT_OPT, OPT_SAMPLING, OPT_RUNS, OPT_STEPS, OPT_GROW, OPT_SHRINK,
       OPT_SEED, OPT_NOEXACT, OPT_OUT, OPT_NOPLOT, OPT_ETA2, OPT_TITLE, OPT_RESUME, OPT_THREADS,
       OPT_QUIET };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void progress(size_t done, size_t total, double t0, int quiet)
{
    if (quiet || !isatty(STDERR_FILENO)) return;
    double el = now() - t0, rate = el > 0 ? (double)done / el : 0.0;
    double eta_s = rate > 0 ? (double)(total - done) / rate : 0.0;
    int width = 28, fill = (int)((double)done / (double)total * width);
    fprintf(stderr, "\rmap [");
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : ' ', stderr);
    fprintf(stderr, "] %zu/%zu cells, %.1f cells/s, ETA %.0f s   ", done, total, rate, eta_s);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* FNV-1a over the canonical description of a run (checkpoint identity). */
static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

enum { FIELDS = 7 };
static void cell_pack(const linstab_cell *c, double *v)
{
    v[0] = c->frac_div;
    v[1] = c->divergent;
    v[2] = c->radius;
    v[3] = c->lyapunov;
    v[4] = c->thm1_margin;
    v[5] = c->thm2_margin;
    v[6] = c->thm9_margin;
}

/* Checkpoint: magic, identity hash, cell count, done flags, values. */
static int write_checkpoint(const char *path, uint64_t id, size_t ncells, const unsigned char *done,
                            const double *vals)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (fp == NULL) return -1;
    uint64_t nc = ncells;
    int ok = fwrite("LSMAPCK1", 1, 8, fp) == 8 && fwrite(&id, 8, 1, fp) == 1 &&
             fwrite(&nc, 8, 1, fp) == 1 && fwrite(done, 1, ncells, fp) == ncells &&
             fwrite(vals, sizeof(double), ncells * FIELDS, fp) == ncells * FIELDS;
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int read_checkpoint(const char *path, uint64_t id, size_t ncells, unsigned char *done,
                           double *vals)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) return -1;
    char magic[8];
    uint64_t fid, nc;
    int ok = fread(magic, 1, 8, fp) == 8 && memcmp(magic, "LSMAPCK1", 8) == 0 &&
             fread(&fid, 8, 1, fp) == 1 && fid == id && fread(&nc, 8, 1, fp) == 1 && nc == ncells &&
             fread(done, 1, ncells, fp) == ncells &&
             fread(vals, sizeof(double), ncells * FIELDS, fp) == ncells * FIELDS;
    fclose(fp);
    return ok ? 0 : -2;
}

static linstab_dynamics parse_dyn(const char *s, int *ok)
{
    *ok = 1;
    if (strcmp(s, "sgd") == 0) return LINSTAB_DYN_SGD;
    if (strcmp(s, "sam-same") == 0) return LINSTAB_DYN_SAM_SAME;
    if (strcmp(s, "sam-independent") == 0) return LINSTAB_DYN_SAM_INDEP;
    if (strcmp(s, "sam-normalized") == 0) return LINSTAB_DYN_SAM_NORMALIZED;
    *ok = 0;
    return LINSTAB_DYN_SGD;
}

static const char *dyn_name(linstab_dynamics d)
{
    static const char *names[] = {"sgd", "sam-same", "sam-independent", "sam-normalized"};
    return names[d];
}

static const char *axis_label(linstab_axis_kind k, int eta2)
{
    switch (k) {
    case LINSTAB_AXIS_ETA: return eta2 ? "learning rate #gy#u2#d" : "learning rate #gy";
    case LINSTAB_AXIS_BATCH: return "batch size B";
    case LINSTAB_AXIS_RHO: return "SAM radius #gr";
    case LINSTAB_AXIS_SIGMA: return "coherence #gs";
    }
    return "";
}

/* Write a (ny, nx) array: field k of the packed values. */
static int save_field(const char *cmd, const char *dir, const char *name, size_t ny, size_t nx,
                      const double *vals, int k)
{
    double *a = malloc(ny * nx * sizeof *a);
    if (a == NULL) return 1;
    for (size_t c = 0; c < ny * nx; c++) a[c] = vals[c * FIELDS + k];
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t shape[2] = {ny, nx};
    linstab_error err = {0};
    int rc = linstab_npy_write(path, a, 2, shape, &err) == LINSTAB_OK ? 0 : cli_fail(cmd, &err);
    free(a);
    return rc;
}

int cmd_map(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dexter", required_argument, NULL, OPT_DEXTER}, {"family", required_argument, NULL, OPT_FAMILY},
        {"factors", required_argument, NULL, OPT_FACTORS}, {"diag", required_argument, NULL, OPT_DIAG},
        {"x", required_argument, NULL, OPT_X},           {"y", required_argument, NULL, OPT_Y},
        {"eta", required_argument, NULL, OPT_ETA},       {"batch", required_argument, NULL, OPT_BATCH},
        {"rho", required_argument, NULL, OPT_RHO},       {"sigma", required_argument, NULL, OPT_SIGMA},
        {"optimizer", required_argument, NULL, OPT_OPT}, {"sampling", required_argument, NULL, OPT_SAMPLING},
        {"runs", required_argument, NULL, OPT_RUNS},     {"steps", required_argument, NULL, OPT_STEPS},
        {"growth", required_argument, NULL, OPT_GROW},   {"shrink", required_argument, NULL, OPT_SHRINK},
        {"seed", required_argument, NULL, OPT_SEED},     {"no-exact", no_argument, NULL, OPT_NOEXACT},
        {"out", required_argument, NULL, OPT_OUT},       {"no-plot", no_argument, NULL, OPT_NOPLOT},
        {"plot-eta-squared", no_argument, NULL, OPT_ETA2}, {"title", required_argument, NULL, OPT_TITLE},
        {"resume", no_argument, NULL, OPT_RESUME},       {"threads", required_argument, NULL, OPT_THREADS},
        {"quiet", no_argument, NULL, OPT_QUIET},         CLI_MODEL_OPTIONS(400),
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *cmd = "map";
    cli_family_source src = {.sym_tol = 1e-10};
    linstab_map_params p = linstab_map_defaults();
    const char *xs = NULL, *ys = NULL, *out = NULL, *title = NULL;
    size_t dexter_n = 0, threads = 0;
    int noplot = 0, eta2 = 0, resume = 0, quiet = 0, rc = 0, ok;
    unsigned long long seed = 0;
    linstab_error err = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_DEXTER:
            rc = cli_parse_size(cmd, "--dexter", optarg, &dexter_n);
            if (rc == 0 && dexter_n < 1) rc = cli_usage_error(cmd, "--dexter must be >= 1");
            break;
        case OPT_FAMILY: src.family = optarg; break;
        case OPT_FACTORS: src.factors = optarg; break;
        case OPT_DIAG: src.diag = optarg; break;
        case OPT_X: xs = optarg; break;
        case OPT_Y: ys = optarg; break;
        case OPT_ETA:
            rc = cli_parse_double(cmd, "--eta", optarg, &p.eta);
            if (rc == 0 && !(p.eta > 0)) rc = cli_usage_error(cmd, "--eta must be > 0");
            break;
        case OPT_BATCH: rc = cli_parse_size(cmd, "--batch", optarg, &p.batch); break;
        case OPT_RHO:
            rc = cli_parse_double(cmd, "--rho", optarg, &p.rho);
            if (rc == 0 && p.rho < 0) rc = cli_usage_error(cmd, "--rho must be >= 0");
            break;
        case OPT_SIGMA: rc = cli_parse_size(cmd, "--sigma", optarg, &p.sigma); break;
        case OPT_OPT:
            p.dyn = parse_dyn(optarg, &ok);
            if (!ok) rc = cli_usage_error(cmd, "--optimizer '%s': expected sgd, sam-same, sam-independent or sam-normalized", optarg);
            break;
        case OPT_SAMPLING:
            if (linstab_sampling_parse(optarg, &p.sampling, &err) != LINSTAB_OK)
                rc = cli_usage_error(cmd, "%s", err.msg);
            break;
        case OPT_RUNS: rc = cli_parse_size(cmd, "--runs", optarg, &p.runs); break;
        case OPT_STEPS: rc = cli_parse_size(cmd, "--steps", optarg, &p.steps); break;
        case OPT_GROW: rc = cli_parse_double(cmd, "--growth", optarg, &p.grow); break;
        case OPT_SHRINK: rc = cli_parse_double(cmd, "--shrink", optarg, &p.shrink); break;
        case OPT_SEED: rc = cli_parse_u64(cmd, "--seed", optarg, &seed); p.seed = seed; break;
        case OPT_NOEXACT: p.exact = 0; break;
        case OPT_OUT: out = optarg; break;
        case OPT_NOPLOT: noplot = 1; break;
        case OPT_ETA2: eta2 = 1; break;
        case OPT_TITLE: title = optarg; break;
        case OPT_RESUME: resume = 1; break;
        case OPT_THREADS:
            rc = cli_parse_size(cmd, "--threads", optarg, &threads);
            if (rc == 0 && threads < 1) rc = cli_usage_error(cmd, "--threads must be >= 1");
            break;
        case OPT_QUIET: quiet = 1; break;
        case 400: case 401: case 402: case 403: case 404: case 405:
            rc = cli_family_model_option(cmd, c - 400, optarg, &src);
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (rc != 0) return rc;
    }
    if (optind < argc) return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    int nsrc = (dexter_n > 0) + (src.family != NULL) + (src.factors != NULL) + (src.diag != NULL) + (src.model != NULL);
    if (nsrc != 1) return cli_usage_error(cmd, "give exactly one of --dexter, --family, --factors, --diag, --model");
    if (xs == NULL || ys == NULL) return cli_usage_error(cmd, "--x and --y are required");
    if (out == NULL) return cli_usage_error(cmd, "--out DIR is required");
    if (p.runs < 1 || p.steps < 1) return cli_usage_error(cmd, "--runs and --steps must be >= 1");
    if (!(p.grow > 1) || !(p.shrink > 1)) return cli_usage_error(cmd, "--growth and --shrink must be > 1");

    linstab_axis x = {0}, y = {0};
    if (linstab_axis_parse(xs, &x, &err) != LINSTAB_OK) return cli_usage_error(cmd, "--x: %s", err.msg);
    if (linstab_axis_parse(ys, &y, &err) != LINSTAB_OK) {
        linstab_axis_clear(&x);
        return cli_usage_error(cmd, "--y: %s", err.msg);
    }
    linstab_family *f = NULL;
    linstab_rotated rf = {0};
    linstab_map_source ms = {NULL, NAN, NAN, dexter_n, NULL, NULL};
    linstab_rotated *dexter_rf = NULL;
    linstab_moments *mom = NULL;
    unsigned char *done = NULL;
    double *vals = NULL;
    const char *path = "dexter";
    size_t ncells = x.count * y.count;
    if (dexter_n == 0) {
        int indef = 0;
        rc = cli_load_family(cmd, &src, &f, &path, &indef);
        if (rc != 0) goto done;
        linstab_status st = linstab_rotated_make(f, 0.0, indef, &rf, &err);
        if (st == LINSTAB_OK) st = linstab_coherence(rf.f, NULL, &ms.sigma, &err);
        if (st == LINSTAB_OK && p.dyn != LINSTAB_DYN_SGD) st = linstab_moments_compute(rf.f, &mom, &err);
        ms.moments = mom;
        if (st != LINSTAB_OK) {
            fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, path, err.msg);
            rc = cli_exit_code(st);
            goto done;
        }
        ms.rf = &rf;
        ms.sharpness = 0.0;
        for (size_t j = 0; j < rf.f->d; j++) ms.sharpness = fmax(ms.sharpness, rf.l[j]);
    }
    if (linstab_map_check(&ms, &p, &x, &y, &err) != LINSTAB_OK) {
        rc = cli_usage_error(cmd, "%s", err.msg);
        goto done;
    }
    /* memory: a few doubles per cell */
    if (cli_check_memory(cmd, &src, (double)ncells * (FIELDS * 8.0 + 1.0) * 3.0, "this grid") != 0) {
        rc = 1;
        goto done;
    }
    /* the output folder must be writable before any work starts */
    if (cli_mkdir_p(out) != 0) {
        fprintf(stderr, "linstab %s: error: cannot create %s: %s\n", cmd, out, strerror(errno));
        rc = 1;
        goto done;
    }
    char probe[4200], ckpt[4200];
    snprintf(probe, sizeof probe, "%s/.linstab-probe", out);
    FILE *pf = fopen(probe, "w");
    if (pf == NULL) {
        fprintf(stderr, "linstab %s: error: cannot write into %s: %s\n", cmd, out, strerror(errno));
        rc = 1;
        goto done;
    }
    fclose(pf);
    unlink(probe);
    snprintf(ckpt, sizeof ckpt, "%s/map.checkpoint", out);

    /* identity of this run: everything that determines the numbers */
    char ident[8192];
    int off = snprintf(ident, sizeof ident, "%s|%s|%zu|%s|%s|%.17g|%zu|%.17g|%zu|%zu|%zu|%.17g|%.17g|%llu|%d",
                       LINSTAB_VERSION, path, dexter_n, dyn_name(p.dyn),
                       linstab_sampling_name(p.sampling), p.eta, p.batch, p.rho, p.sigma, p.runs,
                       p.steps, p.grow, p.shrink, seed, p.exact);
    for (int a = 0; a < 2; a++) {
        const linstab_axis *ax = a ? &y : &x;
        off += snprintf(ident + off, sizeof ident - (size_t)off, "|%s", linstab_axis_name(ax->kind));
        for (size_t i = 0; i < ax->count && off < (int)sizeof ident - 32; i++)
            off += snprintf(ident + off, sizeof ident - (size_t)off, ",%.17g", ax->values[i]);
    }
    uint64_t id = fnv(ident);
    done = calloc(ncells, 1);
    vals = calloc(ncells * FIELDS, sizeof *vals);
    if (done == NULL || vals == NULL) {
        fprintf(stderr, "linstab %s: error: out of memory for %zu cells\n", cmd, ncells);
        rc = 1;
        goto done;
    }
    if (resume) {
        int r2 = read_checkpoint(ckpt, id, ncells, done, vals);
        if (r2 != 0) {
            fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, ckpt,
                    r2 == -1 ? "no checkpoint to resume" : "the checkpoint is from a different run (parameters differ)");
            rc = 1;
            goto done;
        }
    }
    if (dexter_n > 0) {
        /* one construction per sigma of the grid, shared by its cells */
        dexter_rf = calloc(dexter_n + 1, sizeof *dexter_rf);
        if (dexter_rf == NULL) {
            fprintf(stderr, "linstab %s: error: out of memory\n", cmd);
            rc = 1;
            goto done;
        }
        const linstab_axis *axes[2] = {&x, &y};
        int on_axis = 0;
        for (int a = 0; a < 2; a++)
            if (axes[a]->kind == LINSTAB_AXIS_SIGMA) {
                on_axis = 1;
                for (size_t q = 0; q < axes[a]->count; q++) {
                    size_t sg = (size_t)axes[a]->values[q];
                    if (sg >= 1 && sg <= dexter_n && dexter_rf[sg].f == NULL &&
                        linstab_map_dexter(dexter_n, sg, &dexter_rf[sg], &err) != LINSTAB_OK) {
                        fprintf(stderr, "linstab %s: error: %s\n", cmd, err.msg);
                        rc = cli_exit_code(err.code);
                        goto done;
                    }
                }
            }
        if (!on_axis && p.sigma >= 1 && p.sigma <= dexter_n &&
            linstab_map_dexter(dexter_n, p.sigma, &dexter_rf[p.sigma], &err) != LINSTAB_OK) {
            fprintf(stderr, "linstab %s: error: %s\n", cmd, err.msg);
            rc = cli_exit_code(err.code);
            goto done;
        }
        ms.dexter_rf = dexter_rf;
    }
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads((int)threads);
#endif
    size_t ndone = 0;
    for (size_t k = 0; k < ncells; k++) ndone += done[k];
    double t0 = now(), last_ck = t0;
    linstab_status fail = LINSTAB_OK;
    char fail_msg[LINSTAB_ERROR_MSG_LEN] = "";
    /* chunks of cells: parallel inside, checkpoint between */
    /* MPI: rank r computes the cells c with c % size == r of every chunk;
     * after each chunk the ranks sum their (disjoint) results, so every
     * rank holds the whole grid and rank 0 writes the same files as a
     * serial run */
    int rank = 0, nranks = 1;
#ifdef LINSTAB_MPI
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
#endif
    /* a barrier per chunk: large enough that threads rarely wait at one,
     * small enough to checkpoint often */
    size_t chunk = (ncells / 20 > 64 ? ncells / 20 : 64) * (size_t)nranks;
    const char *hook = getenv("LINSTAB_MAP_ABORT_AFTER_CHUNKS");
    long abort_after = hook ? strtol(hook, NULL, 10) : 0;
    for (size_t c0 = 0; c0 < ncells && fail == LINSTAB_OK; c0 += chunk) {
        size_t c1 = c0 + chunk < ncells ? c0 + chunk : ncells;
#pragma omp parallel for schedule(dynamic, 1)
        for (size_t cell = c0; cell < c1; cell++) {
            if (done[cell] || fail != LINSTAB_OK || cell % (size_t)nranks != (size_t)rank) continue;
            linstab_cell res;
            linstab_error e = {0};
            linstab_status st = linstab_map_cell(&ms, &p, &x, &y, cell % x.count, cell / x.count, &res, &e);
            if (st != LINSTAB_OK) {
#pragma omp critical(map_fail)
                if (fail == LINSTAB_OK) {
                    fail = st;
                    memcpy(fail_msg, e.msg, sizeof fail_msg);
                }
                continue;
            }
            cell_pack(&res, vals + cell * FIELDS);
            done[cell] = 1;
        }
#ifdef LINSTAB_MPI
        if (nranks > 1) {
            /* this chunk's cells were computed by exactly one rank each */
            size_t len = c1 - c0;
            double *buf = malloc(len * (FIELDS + 1) * sizeof *buf);
            for (size_t q = 0; buf && q < len; q++) {
                int mine = (c0 + q) % (size_t)nranks == (size_t)rank && done[c0 + q];
                for (int k = 0; k < FIELDS; k++) buf[q * (FIELDS + 1) + k] = mine ? vals[(c0 + q) * FIELDS + k] : 0.0;
                buf[q * (FIELDS + 1) + FIELDS] = done[c0 + q] && mine ? 1.0 : 0.0;
            }
            /* cells already done before a resume are identical on every rank */
            for (size_t q = 0; buf && q < len; q++)
                if (done[c0 + q] && (c0 + q) % (size_t)nranks != (size_t)rank)
                    for (int k = 0; k <= FIELDS; k++) buf[q * (FIELDS + 1) + k] = 0.0;
            if (buf) MPI_Allreduce(MPI_IN_PLACE, buf, (int)(len * (FIELDS + 1)), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
            for (size_t q = 0; buf && q < len; q++)
                if (buf[q * (FIELDS + 1) + FIELDS] > 0.5) {
                    memcpy(vals + (c0 + q) * FIELDS, buf + q * (FIELDS + 1), FIELDS * sizeof *vals);
                    done[c0 + q] = 1;
                }
            free(buf);
            int f_local = fail != LINSTAB_OK, f_any = 0;
            MPI_Allreduce(&f_local, &f_any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
            if (f_any && fail == LINSTAB_OK) {
                fail = LINSTAB_EDATA;
                snprintf(fail_msg, sizeof fail_msg, "another MPI rank failed");
            }
        }
#endif
        ndone = 0;
        for (size_t k = 0; k < ncells; k++) ndone += done[k];
        if (rank == 0) progress(ndone, ncells, t0, quiet);
        if (rank == 0 && (now() - last_ck > 1.0 || c1 == ncells || abort_after > 0)) {
            write_checkpoint(ckpt, id, ncells, done, vals);
            last_ck = now();
        }
        /* test hook: die like a killed process right after a checkpoint */
        if (abort_after > 0 && --abort_after == 0) _exit(137);
    }
    double elapsed = now() - t0;
    if (fail != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s\n", cmd, fail_msg);
        rc = cli_exit_code(fail);
        goto done;
    }
    if (rank != 0) goto done; /* rank 0 writes the files */
    /* outputs */
    static const char *files[FIELDS] = {"frac_divergent.npy", "divergent.npy", "radius.npy",
                                        "lyapunov.npy", "thm1_margin.npy", "thm2_margin.npy",
                                        "thm9_margin.npy"};
    for (int k = 0; k < FIELDS && rc == 0; k++) rc = save_field(cmd, out, files[k], y.count, x.count, vals, k);
    for (int a = 0; a < 2 && rc == 0; a++) {
        const linstab_axis *ax = a ? &y : &x;
        char pth[4200];
        snprintf(pth, sizeof pth, "%s/%s.npy", out, a ? "y" : "x");
        size_t shape[1] = {ax->count};
        if (linstab_npy_write(pth, ax->values, 1, shape, &err) != LINSTAB_OK) rc = cli_fail(cmd, &err);
    }
    if (rc != 0) goto done;
    char pth[4200];
    snprintf(pth, sizeof pth, "%s/map.csv", out);
    cli_output o;
    if ((rc = cli_output_open(cmd, pth, &o)) != 0) goto done;
    fprintf(o.fp, "%s,%s,frac_divergent,divergent,radius,lyapunov,thm1_margin,thm2_margin,thm9_margin\n",
            linstab_axis_name(x.kind), linstab_axis_name(y.kind));
    for (size_t cell = 0; cell < ncells; cell++) {
        const double *v = vals + cell * FIELDS;
        fprintf(o.fp, "%.17g,%.17g,%.17g,%d", x.values[cell % x.count], y.values[cell / x.count], v[0], (int)v[1]);
        for (int k = 2; k < FIELDS; k++) {
            if (isfinite(v[k])) fprintf(o.fp, ",%.17g", v[k]);
            else if (isinf(v[k])) fprintf(o.fp, ",%s", v[k] > 0 ? "inf" : "-inf");
            else fprintf(o.fp, ",");
        }
        fputc('\n', o.fp);
    }
    if ((rc = cli_output_close(cmd, &o, 1)) != 0) goto done;
    snprintf(pth, sizeof pth, "%s/map.json", out);
    if ((rc = cli_output_open(cmd, pth, &o)) != 0) goto done;
    linstab_json j;
    linstab_json_init(&j, o.fp);
    linstab_json_begin(&j, NULL);
    linstab_json_string(&j, "linstab_version", LINSTAB_VERSION);
    linstab_json_string(&j, "source", path);
    if (dexter_n) linstab_json_int(&j, "dexter_n", (long long)dexter_n);
    else {
        linstab_json_number(&j, "sharpness", ms.sharpness);
        linstab_json_number(&j, "sigma", ms.sigma);
    }
    linstab_json_string(&j, "optimizer", dyn_name(p.dyn));
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
        const linstab_axis *ax = a ? &y : &x;
        linstab_json_begin(&j, a ? "y" : "x");
        linstab_json_string(&j, "name", linstab_axis_name(ax->kind));
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
    if ((rc = cli_output_close(cmd, &o, 1)) != 0) goto done;

    if (!noplot) {
        size_t nc = ncells;
        double *fr = malloc(nc * sizeof *fr), *t1 = malloc(nc * sizeof *t1), *t2 = malloc(nc * sizeof *t2),
               *lr = malloc(nc * sizeof *lr), *ly = malloc(nc * sizeof *ly), *t9 = malloc(nc * sizeof *t9);
        double *xv = malloc(x.count * sizeof *xv), *yv = malloc(y.count * sizeof *yv);
        if (!fr || !t1 || !t2 || !lr || !ly || !t9 || !xv || !yv) rc = 1;
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
            xv[i] = (eta2 && x.kind == LINSTAB_AXIS_ETA) ? x.values[i] * x.values[i] : x.values[i];
        for (size_t i = 0; rc == 0 && i < y.count; i++)
            yv[i] = (eta2 && y.kind == LINSTAB_AXIS_ETA) ? y.values[i] * y.values[i] : y.values[i];
        char ttl[512];
        if (title == NULL) {
            snprintf(ttl, sizeof ttl, "%s, %s sampling, %zu runs x %zu steps", dyn_name(p.dyn),
                     linstab_sampling_name(p.sampling), p.runs, p.steps);
            title = ttl;
        }
        /* Dexter et al.'s Theorems are about SGD: drawn on SGD maps only */
        int sgd = p.dyn == LINSTAB_DYN_SGD;
        linstab_plot_map pm = {x.count, y.count, xv, yv, x.log && !(eta2 && x.kind == LINSTAB_AXIS_ETA),
                               y.log && !(eta2 && y.kind == LINSTAB_AXIS_ETA),
                               axis_label(x.kind, eta2), axis_label(y.kind, eta2), title, fr,
                               sgd ? t1 : NULL, sgd ? t2 : NULL,
                               p.exact ? lr : NULL, p.exact ? ly : NULL,
                               p.dyn != LINSTAB_DYN_SGD ? t9 : NULL};
        static const char *dev[2] = {"pngcairo", "svgcairo"}, *name[2] = {"map.png", "map.svg"};
        for (int k = 0; rc == 0 && k < 2; k++) {
            snprintf(pth, sizeof pth, "%s/%s", out, name[k]);
            if (linstab_plot_map_draw(&pm, dev[k], pth, &err) != LINSTAB_OK) rc = cli_fail(cmd, &err);
        }
        free(fr);
        free(t1);
        free(t2);
        free(lr);
        free(ly);
        free(t9);
        free(xv);
        free(yv);
    }
    if (!quiet && isatty(STDERR_FILENO) == 0) { /* nothing */ }
    if (rc == 0)
        printf("map: %zu x %zu cells (%s x %s) in %.2f s -> %s/{frac_divergent,divergent,radius,lyapunov,"
               "thm1_margin,thm2_margin,thm9_margin,x,y}.npy, map.csv, map.json%s\n",
               x.count, y.count, linstab_axis_name(x.kind), linstab_axis_name(y.kind), elapsed, out,
               noplot ? "" : ", map.png, map.svg");
done:
    for (size_t q = 0; dexter_rf != NULL && q <= dexter_n; q++) linstab_rotated_clear(&dexter_rf[q]);
    free(dexter_rf);
    free(done);
    free(vals);
    linstab_moments_free(mom);
    linstab_rotated_clear(&rf);
    linstab_family_free(f);
    linstab_axis_clear(&x);
    linstab_axis_clear(&y);
    return rc;
}
