/*
 * map_grid.c -- the grid of a divergence phase diagram: cells computed in
 * chunks, OpenMP over the cells of a chunk with one BLAS thread per cell,
 * a checkpoint between chunks and a resume from it, a progress callback,
 * and a partition callback through which workers (MPI ranks, in tools/)
 * share the cells without the library knowing of MPI.  The memory a grid
 * needs, estimated before anything is allocated, is here too.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "linstab/checkpoint.h"
#include "linstab/map.h"
#include "linstab/sam.h"
#include "linstab/simulate.h"
#include "internal.h"

int linstab_map_blas_serial(void) { return blas_threads_single(); }

void linstab_map_blas_restore(int previous) { blas_threads_restore(previous); }

/* linstab_map_grid_cells with the grid's simulation plans (may be NULL;
 * see linstab_map_cell_compute_planned) */
static linstab_status grid_cells(const linstab_map_source *src, linstab_sim_plan *const *plans,
                                 const linstab_map_params *p, const linstab_map_axis *x, const linstab_map_axis *y,
                                 size_t c0, size_t c1, size_t stride, size_t offset, unsigned char *done,
                                 double *vals, size_t *failed, linstab_error *err)
{
    *failed = SIZE_MAX;
    if (stride < 1 || offset >= stride)
        return linstab_error_set(err, LINSTAB_EINVAL, "map cells: stride %zu, offset %zu", stride, offset);
    /* the smallest failing cell so far: cells above it may be skipped, cells
     * below it are still computed, so the one reported is the smallest of
     * the range whatever the schedule */
    size_t first = SIZE_MAX;
    linstab_status first_st = LINSTAB_OK;
    char first_msg[LINSTAB_ERROR_MSG_LEN] = "";
    int blas = blas_threads_single();
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t cell = c0; cell < c1; cell++) {
        size_t lowest;
#pragma omp atomic read
        lowest = first;
        if (done[cell] || cell > lowest || cell % stride != offset) continue;
        linstab_map_cell res;
        linstab_error e = {0};
        linstab_status st =
            linstab_map_cell_compute_planned(src, plans, p, x, y, cell % x->count, cell / x->count, &res, &e);
        if (st != LINSTAB_OK) {
#pragma omp critical(linstab_map_fail)
            if (cell < first) {
                first_st = st;
                memcpy(first_msg, e.msg, sizeof first_msg);
#pragma omp atomic write
                first = cell;
            }
            continue;
        }
        linstab_map_cell_pack(&res, vals + cell * LINSTAB_MAP_FIELDS);
        done[cell] = 1;
    }
    blas_threads_restore(blas);
    if (first == SIZE_MAX) return LINSTAB_OK;
    *failed = first;
    return linstab_error_set(err, first_st, "cell %zu (%s %g, %s %g): %s", first, linstab_map_axis_name(x->kind),
                             x->values[first % x->count], linstab_map_axis_name(y->kind),
                             y->values[first / x->count], first_msg);
}

linstab_status linstab_map_grid_cells(const linstab_map_source *src, const linstab_map_params *p,
                                      const linstab_map_axis *x, const linstab_map_axis *y, size_t c0, size_t c1,
                                      size_t stride, size_t offset, unsigned char *done, double *vals,
                                      size_t *failed, linstab_error *err)
{
    return grid_cells(src, NULL, p, x, y, c0, c1, stride, offset, done, vals, failed, err);
}

/* Doubles of a dense symmetric eigenproblem of dimension m (the matrix,
 * vectors when asked, LAPACK's workspace), or of ARPACK beyond dense_max. */
static double eig_doubles(double m, double dense_max)
{
    return m <= dense_max ? 3.0 * m * m + 40.0 * m : 60.0 * m;
}

/* The largest workspace of one cell with n samples on d coordinates,
 * nnz nonzeros (diagonal families), batch B, in doubles. */
static double cell_doubles(const linstab_map_params *p, double n, double d, double nnz, double B,
                           int diag, int own_moments)
{
    double cap = n > B ? n : B;
    double w = 2 * cap + n + 3 * d + (n + 1) + d; /* simulator (size_t = 8 bytes too) and the start */
    if (diag) w += (n + 1) + 2 * nnz + (d + 1) + d / 8;
    if (p->dyn != LINSTAB_OPT_SGD) {
        w += 2 * d * d + 26 * d;        /* Theorem 9's P and its eigenvalue */
        if (own_moments) w += 8 * d * d; /* the moments, per cell for the dexter source */
    }
    if (p->exact && p->dyn != LINSTAB_OPT_SAM_NORMALIZED) {
        double r = d, rr = r * r, m = r * (r + 1) / 2, dm = 2000;
        double ex;
        /* the second-moment operator (SGD, SAM 'independent', SAM 'same' at
         * B = 1 or B = n): three r x r iterates, products, the eigenproblem */
        ex = 12 * rr + eig_doubles(m, dm);
        if (p->dyn == LINSTAB_OPT_SAM_SAME && d <= LINSTAB_SAM_SAME_MAX_R) {
            /* 'same' at general B: samples, moments, K, the five terms dense
             * and in svec form, the eigenproblem (beyond the rank limit it is
             * not computed) */
            double same = n * rr + 2 * rr + rr * rr + 5 * (m * m + rr * rr) + eig_doubles(m, dm);
            ex = ex > same ? ex : same;
        }
        w += ex + (double)p->lyap_runs + d;
    }
    return w;
}

linstab_status linstab_map_memory(const linstab_map_source *src, const linstab_map_params *p,
                                  const linstab_map_axis *x, const linstab_map_axis *y, size_t threads,
                                  size_t *cells, double *bytes, linstab_error *err)
{
    *cells = 0;
    *bytes = 0.0;
    int ovf = 0;
    size_t nc = mul_sz(x->count, y->count, &ovf);
    if (ovf)
        return linstab_error_set(err, LINSTAB_EINVAL, "a grid of %zu x %zu cells: the count overflows", x->count,
                                 y->count);
    *cells = nc;
    double per = 1.0 + 8.0 * LINSTAB_MAP_FIELDS;
    /* done + values; the checkpoint's bytes and, when read, its parsed copy;
     * one output array and the figures' six at a time */
    double total = (double)nc * (per + 2.0 * per + 8.0 * 7.0) + 8.0 * (double)(x->count + y->count) * 3.0;
    if (threads < 1) threads = 1;
    const linstab_map_axis *ax[2] = {x, y};
    double worst = 0.0;
    if (src->rf != NULL) {
        const linstab_family *f = src->rf->f;
        double n = (double)f->n, d = (double)f->d, nnz = n * d;
        double B = (double)f->n; /* the largest batch is at most n (linstab_map_check) */
        worst = cell_doubles(p, n, d, nnz, B, f->kind == LINSTAB_FAMILY_DIAGONAL, 0);
        /* the grid's simulation plan of a diagonal family: its nonzeros and lanes */
        if (f->kind == LINSTAB_FAMILY_DIAGONAL) total += 8.0 * ((n + 1.0) + 4.0 * nnz + 7.0 * d + 8.0); /* lists grown by doubling */
    } else {
        double n = (double)src->dexter_n;
        /* sigma = 1 gives the largest d = n */
        double smin = (double)p->sigma, built = 0.0;
        int on_axis = 0;
        for (int a = 0; a < 2; a++)
            if (ax[a]->kind == LINSTAB_MAP_AXIS_SIGMA) {
                on_axis = 1;
                smin = INFINITY;
                for (size_t i = 0; i < ax[a]->count; i++) {
                    double sg = ax[a]->values[i];
                    smin = fmin(smin, sg);
                    /* distinct values are kept once each: a bound counts every entry */
                    built += 3.0 * n * (n - sg + 1.0) + 2.0 * (n - sg + 1.0);
                    /* and its simulation plan: n nonzeros, the lanes */
                    built += (n + 1.0) + 2.0 * n + 7.0 * (n - sg + 1.0) + 8.0;
                }
            }
        if (!on_axis)
            built = 3.0 * n * (n - smin + 1.0) + 2.0 * (n - smin + 1.0) + (n + 1.0) + 2.0 * n + 7.0 * (n - smin + 1.0) + 8.0;
        if (!(smin >= 1.0)) smin = 1.0;
        double d = n - smin + 1.0;
        worst = cell_doubles(p, n, d, n, n, 1, 1);
        total += 8.0 * built + 8.0 * (n + 1.0) * sizeof(linstab_rotated) / 8.0;
    }
    total += 8.0 * worst * (double)threads;
    *bytes = total;
    return LINSTAB_OK;
}

linstab_map_grid_opts linstab_map_grid_defaults(void)
{
    linstab_map_grid_opts o;
    memset(&o, 0, sizeof o);
    o.checkpoint_seconds = 1.0;
    return o;
}

void linstab_map_grid_clear(linstab_map_grid *g)
{
    free(g->done);
    free(g->vals);
    memset(g, 0, sizeof *g);
    g->failed_cell = SIZE_MAX;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Pass a callee's error on whole (its message and parameter). */
static linstab_status pass_on(linstab_error *err, const linstab_error *e, linstab_status st)
{
    if (err != NULL) {
        *err = *e;
        err->code = st;
    }
    return st;
}

/* Exchange s with the other workers (none: s stands as it is). */
static linstab_status grid_sync(const linstab_map_partition *pt, linstab_map_sync *s, linstab_error *err)
{
    if (pt == NULL || pt->parts <= 1 || pt->sync == NULL) return LINSTAB_OK;
    return pt->sync(pt->ctx, s, err);
}

/* The dexter construction of every sigma of the grid, dexter_rf[1..n]
 * (OUT *out, entries with f == NULL for the other values). */
static linstab_status dexter_build(const linstab_map_source *src, const linstab_map_params *p,
                                   const linstab_map_axis *x, const linstab_map_axis *y, linstab_rotated **out,
                                   linstab_error *err)
{
    size_t n = src->dexter_n;
    linstab_rotated *rf = calloc(n + 1, sizeof *rf);
    *out = rf;
    if (rf == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
    const linstab_map_axis *axes[2] = {x, y};
    int on_axis = 0;
    for (int a = 0; a < 2; a++)
        if (axes[a]->kind == LINSTAB_MAP_AXIS_SIGMA) {
            on_axis = 1;
            for (size_t q = 0; q < axes[a]->count; q++) {
                size_t sgm = (size_t)axes[a]->values[q];
                if (sgm >= 1 && sgm <= n && rf[sgm].f == NULL) {
                    linstab_status st = linstab_map_dexter(n, sgm, &rf[sgm], err);
                    if (st != LINSTAB_OK) return st;
                }
            }
        }
    if (!on_axis && p->sigma >= 1 && p->sigma <= n) return linstab_map_dexter(n, p->sigma, &rf[p->sigma], err);
    return LINSTAB_OK;
}

static void dexter_free(linstab_rotated *rf, size_t n)
{
    for (size_t q = 0; rf != NULL && q <= n; q++) linstab_family_rotated_clear(&rf[q]);
    free(rf);
}

/* The simulation plans of the grid's diagonal families (OUT *out: n + 1
 * entries for the dexter source, indexed by sigma, one for a fixed family;
 * NULL entries for the others), so that the cells of one family share one
 * scan of its diagonals.  Errors: LINSTAB_ENOMEM. */
static linstab_status plans_build(const linstab_map_source *src, linstab_sim_plan ***out, size_t *count,
                                  linstab_error *err)
{
    size_t np = src->rf != NULL ? 1 : src->dexter_n + 1;
    linstab_sim_plan **pl = calloc(np, sizeof *pl);
    *out = pl;
    *count = np;
    if (pl == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
    for (size_t q = 0; q < np; q++) {
        const linstab_family *f = src->rf != NULL ? src->rf->f
                                  : src->dexter_rf != NULL ? src->dexter_rf[q].f : NULL;
        if (f == NULL || f->kind != LINSTAB_FAMILY_DIAGONAL) continue;
        linstab_status st = linstab_simulate_plan_make(f, &pl[q], err);
        if (st != LINSTAB_OK) return st;
    }
    return LINSTAB_OK;
}

static void plans_free(linstab_sim_plan **pl, size_t count)
{
    for (size_t q = 0; pl != NULL && q < count; q++) linstab_simulate_plan_free(pl[q]);
    free(pl);
}

/* The setup of a grid run: arrays, resume, dexter constructions.  *where
 * says which part failed. */
static linstab_status grid_setup(const linstab_map_source *src, const linstab_map_params *p,
                                 const linstab_map_axis *x, const linstab_map_axis *y,
                                 const linstab_map_grid_opts *o, linstab_map_grid *g, linstab_rotated **dexter_rf,
                                 linstab_map_grid_failure *where, linstab_error *err)
{
    *where = LINSTAB_MAP_GRID_FAILED_SETUP;
    linstab_status st = linstab_map_check(src, p, x, y, err);
    if (st != LINSTAB_OK) return st;
    const linstab_map_partition *pt = o->partition;
    if (pt != NULL && (pt->parts < 1 || pt->part >= pt->parts || (pt->parts > 1 && pt->sync == NULL)))
        return linstab_error_set(err, LINSTAB_EINVAL, "map partition: part %zu of %zu parts%s", pt->part, pt->parts,
                                 pt->parts > 1 && pt->sync == NULL ? " without a sync callback" : "");
    if ((o->resume || o->checkpoint != NULL) && (o->checkpoint == NULL || o->ident == NULL))
        return linstab_error_set(err, LINSTAB_EINVAL, "a map checkpoint needs both its path and the run's identity%s",
                                 o->resume ? " (resume)" : "");
    int ovf = 0;
    size_t nc = mul_sz(x->count, y->count, &ovf);
    if (ovf)
        return linstab_error_set(err, LINSTAB_EINVAL, "a grid of %zu x %zu cells: the count overflows", x->count,
                                 y->count);
    g->nx = x->count;
    g->ny = y->count;
    g->ncells = nc;
    g->done = calloc(nc, 1);
    g->vals = calloc(nc * LINSTAB_MAP_FIELDS, sizeof *g->vals);
    if (g->done == NULL || g->vals == NULL)
        return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory for %zu cells (%.0f bytes)", nc,
                                 (double)nc * (1.0 + 8.0 * LINSTAB_MAP_FIELDS));
    if (o->resume) {
        linstab_error e = {0};
        st = linstab_checkpoint_read(o->checkpoint, o->ident, nc, LINSTAB_MAP_FIELDS, g->done, g->vals, &e);
        if (st != LINSTAB_OK) {
            *where = LINSTAB_MAP_GRID_FAILED_RESUME;
            return linstab_error_set(err, st, "cannot resume from %s: %s", o->checkpoint, e.msg);
        }
    }
    /* one construction per sigma of the grid, shared by its cells */
    if (src->rf == NULL && src->dexter_rf == NULL) {
        st = dexter_build(src, p, x, y, dexter_rf, err);
        if (st != LINSTAB_OK) return st;
    }
    *where = LINSTAB_MAP_GRID_OK;
    return LINSTAB_OK;
}

linstab_status linstab_map_grid_run(const linstab_map_source *src, const linstab_map_params *p,
                                    const linstab_map_axis *x, const linstab_map_axis *y,
                                    const linstab_map_grid_opts *o, linstab_map_grid *out, linstab_error *err)
{
    linstab_map_grid_opts defaults = linstab_map_grid_defaults();
    if (o == NULL) o = &defaults;
    memset(out, 0, sizeof *out);
    out->failed_cell = SIZE_MAX;
    const linstab_map_partition *pt = o->partition;
    size_t parts = pt != NULL && pt->parts > 1 ? pt->parts : 1, part = parts > 1 ? pt->part : 0;
    int writer = pt == NULL || pt->parts <= 1 || pt->writer;
    linstab_rotated *dexter_rf = NULL;
    /* the family preparation of the dexter source on one BLAS thread too */
    int blas = blas_threads_single();
    linstab_map_grid_failure where;
    linstab_status st = grid_setup(src, p, x, y, o, out, &dexter_rf, &where, err);
    /* the simulation plans of the grid's families, before the first
     * exchange: a failure here is a failure of the setup on every worker */
    linstab_sim_plan **plans = NULL;
    size_t nplans = 0;
    if (st == LINSTAB_OK) {
        linstab_map_source ps = *src;
        if (dexter_rf != NULL) ps.dexter_rf = dexter_rf;
        st = plans_build(&ps, &plans, &nplans, err);
    }
    size_t nc = out->ncells;
    size_t chunk = o->chunk;
    /* a barrier per chunk: large enough that threads rarely wait at one,
     * small enough to checkpoint often */
    if (chunk == 0) chunk = (nc / 20 > 64 ? nc / 20 : 64) * parts;
    /* a failure of the setup on one worker stops all of them here */
    linstab_map_sync s = {chunk, 0, 0, out->done, out->vals, SIZE_MAX, st != LINSTAB_OK};
    linstab_error se = {0};
    linstab_status sst = grid_sync(pt, &s, &se);
    if (st == LINSTAB_OK && sst != LINSTAB_OK) {
        st = pass_on(err, &se, sst);
        where = LINSTAB_MAP_GRID_FAILED_SETUP;
    }
    if (st == LINSTAB_OK && s.failed) {
        st = linstab_error_set(err, LINSTAB_EIO, "another worker failed");
        where = LINSTAB_MAP_GRID_FAILED_ELSEWHERE;
    }
    if (st != LINSTAB_OK) {
        out->failure = where;
        plans_free(plans, nplans);
        dexter_free(dexter_rf, src->dexter_n);
        blas_threads_restore(blas);
        return st;
    }
    linstab_map_source ms = *src;
    if (dexter_rf != NULL) ms.dexter_rf = dexter_rf;
#ifdef _OPENMP
    int omp_prev = omp_get_max_threads();
    if (o->threads > 0) omp_set_num_threads((int)o->threads);
#endif
    double t0 = now(), last_ck = t0;
    /* the default chunks of a single worker grow, at most 8x at a time, to
     * about half the checkpoint interval at the rate measured so far: each
     * chunk ends in a barrier where the threads wait for the slowest (a
     * fast grid's twenty barriers cost a third of its time on a loaded
     * machine).  The cells and their numbers do not depend on the chunks;
     * several workers keep the fixed chunk they agreed on. */
    int adapt = o->chunk == 0 && parts == 1 && o->checkpoint_seconds > 0.0;
    for (size_t c0 = 0, c1 = 0; c0 < nc && st == LINSTAB_OK; c0 = c1) {
        c1 = c0 + chunk < nc ? c0 + chunk : nc;
        size_t failed = SIZE_MAX, todo = 0;
        linstab_error cerr = {0};
        for (size_t k = c0; adapt && k < c1; k++) todo += !out->done[k];
        double tc = now();
        linstab_status cst =
            grid_cells(&ms, plans, p, x, y, c0, c1, parts, part, out->done, out->vals, &failed, &cerr);
        double el = now() - tc;
        if (adapt && todo > 0 && el > 0.0) {
            double want = (double)todo / el * 0.5 * o->checkpoint_seconds;
            double cap = 8.0 * (double)chunk < (double)nc ? 8.0 * (double)chunk : (double)nc;
            if (want > cap) want = cap;
            if (want > (double)chunk) chunk = (size_t)want;
        }
        /* this chunk's cells onto every worker, and its smallest failing cell */
        s = (linstab_map_sync){chunk, c0, c1, out->done, out->vals, cst != LINSTAB_OK ? failed : SIZE_MAX, 0};
        sst = grid_sync(pt, &s, &se);
        if (sst != LINSTAB_OK) {
            st = pass_on(err, &se, sst);
            where = LINSTAB_MAP_GRID_FAILED_SETUP;
            break;
        }
        /* progress after a chunk that every worker computed; a stop is
         * checkpointed first */
        if (o->progress != NULL && s.first_failed == SIZE_MAX) {
            size_t ndone = 0;
            for (size_t k = 0; k < nc; k++) ndone += out->done[k];
            if (o->progress(o->progress_ctx, ndone, nc, now() - t0) != 0) out->stopped = 1;
        }
        /* the checkpoint keeps every good cell, also when one failed */
        int ck_fail = 0;
        linstab_error ce = {0};
        if (o->checkpoint != NULL && writer &&
            (now() - last_ck > o->checkpoint_seconds || c1 == nc || out->stopped ||
             !(o->checkpoint_seconds > 0.0))) {
            if (linstab_checkpoint_write(o->checkpoint, o->ident, nc, LINSTAB_MAP_FIELDS, out->done, out->vals,
                                         &ce) != LINSTAB_OK)
                ck_fail = 1;
            last_ck = now();
        }
        linstab_map_sync ck = {chunk, c1, c1, out->done, out->vals, SIZE_MAX, ck_fail};
        sst = grid_sync(pt, &ck, &se);
        if (s.first_failed != SIZE_MAX) {
            if (cst != LINSTAB_OK && failed == s.first_failed) {
                st = pass_on(err, &cerr, cst);
                where = LINSTAB_MAP_GRID_FAILED_CELL;
                out->failed_cell = failed;
            } else {
                st = linstab_error_set(err, LINSTAB_EIO, "another worker failed (cell %zu)", s.first_failed);
                where = LINSTAB_MAP_GRID_FAILED_ELSEWHERE;
            }
        } else if (ck_fail) {
            st = pass_on(err, &ce, ce.code);
            where = LINSTAB_MAP_GRID_FAILED_CHECKPOINT;
        } else if (sst != LINSTAB_OK) {
            st = pass_on(err, &se, sst);
            where = LINSTAB_MAP_GRID_FAILED_SETUP;
        } else if (ck.failed) {
            st = linstab_error_set(err, LINSTAB_EIO, "another worker failed");
            where = LINSTAB_MAP_GRID_FAILED_ELSEWHERE;
        }
        if (st != LINSTAB_OK || out->stopped) break;
    }
    out->seconds = now() - t0;
    out->failure = st == LINSTAB_OK ? LINSTAB_MAP_GRID_OK : where;
#ifdef _OPENMP
    if (o->threads > 0) omp_set_num_threads(omp_prev);
#endif
    plans_free(plans, nplans);
    dexter_free(dexter_rf, src->dexter_n);
    blas_threads_restore(blas);
    return st;
}
