/*
 * map_grid.c -- the grid of a divergence phase diagram: cells computed in
 * chunks, OpenMP over the cells of a chunk with one BLAS thread per cell,
 * a checkpoint between chunks and a resume from it, a progress callback,
 * and a partition callback through which workers (MPI ranks, in tools/)
 * share the cells without the library knowing of MPI.  The memory a grid
 * needs, estimated before anything is allocated, is here too.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "linstab/bounds.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "linstab/linalg.h"
#include "linstab/lyapunov.h"
#include "linstab/map.h"
#include "linstab/samsame.h"
#include "linstab/secmom.h"
#include "../internal.h"

int linstab_map_blas_serial(void) { return blas_threads_single(); }

void linstab_map_blas_restore(int previous) { blas_threads_restore(previous); }

linstab_status linstab_map_grid_cells(const linstab_map_source *src, const linstab_map_params *p,
                                 const linstab_map_axis *x, const linstab_map_axis *y, size_t c0, size_t c1,
                                 size_t stride, size_t offset, unsigned char *done, double *vals,
                                 size_t *failed, linstab_error *err)
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
        linstab_status st = linstab_map_cell_compute(src, p, x, y, cell % x->count, cell / x->count, &res, &e);
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
    if (p->dyn != LINSTAB_DYN_SGD) {
        w += 2 * d * d + 26 * d;        /* Theorem 9's P and its eigenvalue */
        if (own_moments) w += 8 * d * d; /* the moments, per cell for the dexter source */
    }
    if (p->exact && p->dyn != LINSTAB_DYN_SAM_NORMALIZED) {
        double r = d, rr = r * r, m = r * (r + 1) / 2, dm = 2000;
        double ex;
        /* the second-moment operator (SGD, SAM 'independent', SAM 'same' at
         * B = 1 or B = n): three r x r iterates, products, the eigenproblem */
        ex = 12 * rr + eig_doubles(m, dm);
        if (p->dyn == LINSTAB_DYN_SAM_SAME && d <= LINSTAB_SAMSAME_MAX_R) {
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
                }
            }
        if (!on_axis) built = 3.0 * n * (n - smin + 1.0) + 2.0 * (n - smin + 1.0);
        if (!(smin >= 1.0)) smin = 1.0;
        double d = n - smin + 1.0;
        worst = cell_doubles(p, n, d, n, n, 1, 1);
        total += 8.0 * built + 8.0 * (n + 1.0) * sizeof(linstab_rotated) / 8.0;
    }
    total += 8.0 * worst * (double)threads;
    *bytes = total;
    return LINSTAB_OK;
}
