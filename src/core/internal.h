/* internal.h -- declarations shared by the library's files, not exported. */
#ifndef LINSTAB_INTERNAL_H
#define LINSTAB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/error.h"

/* "WHAT: out of memory" as an LINSTAB_ENOMEM error. */
static inline linstab_status oom(linstab_error *err, const char *what)
{
    return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", what);
}

/* a * b, or 0 with *overflow set when the product does not fit size_t. */
static inline size_t mul_sz(size_t a, size_t b, int *overflow)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        *overflow = 1;
        return 0;
    }
    return r;
}

/*
 * COUNT doubles, zeroed, their pages touched now by the calling thread.
 * For buffers whose first writes would come from several threads at once
 * (threaded BLAS outputs, per-chunk accumulators): concurrent first-touch
 * page faults contend in the kernel, and in a virtual machine they made
 * the first per-sample sums of a process 1.5x slower (measured); faulting
 * them in one thread first costs a memset.
 */
static inline double *alloc_touched(size_t count)
{
    /* through a volatile pointer: the compiler would fold malloc + memset
     * into calloc, whose pages stay untouched */
    static void *(*volatile const zero)(void *, int, size_t) = memset;
    double *p = malloc(count * sizeof *p);
    if (p != NULL) zero(p, 0, count * sizeof *p);
    return p;
}

/*
 * Around a region that spreads independent BLAS calls over OpenMP threads:
 * one BLAS thread each.  OpenBLAS's thread count is process-wide, so it is
 * changed only outside any parallel region (inside one, the caller's
 * setting stands and nested regions run in one thread anyway).
 * blas_threads_single returns what blas_threads_restore puts back (-1:
 * nothing to restore).
 */
#ifdef _OPENMP
#include <omp.h>
#endif
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);

/* Memory passes (copies, scalings, mirrored triangles) of at least this
 * many entries run on the OpenMP threads, outside linstab's own parallel
 * regions: each thread writes its own entries, the same bytes for any
 * thread count. */
#define PASS_THREADS_MIN ((size_t)1 << 20)

static inline int pass_threaded(size_t entries)
{
#ifdef _OPENMP
    return entries >= PASS_THREADS_MIN && !omp_in_parallel() && omp_get_max_threads() > 1;
#else
    (void)entries;
    return 0;
#endif
}

static inline int blas_threads_single(void)
{
#ifdef _OPENMP
    if (omp_in_parallel()) return -1;
#endif
    int t = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return t;
}

static inline void blas_threads_restore(int t)
{
    if (t > 0) openblas_set_num_threads(t);
}

/* Vigna's splitmix64: the next 64-bit output of the state *x (advanced);
 * seeds the random streams' whole state from a 64-bit key. */
static inline uint64_t linstab_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* map_cell.c / map_grid.c: linstab_map_cell_compute with the simulation
 * plans of the grid's families (NULL, or an entry NULL: made per cell):
 * plans[sigma] for the dexter source, plans[0] for a fixed family.  The
 * structs are the public ones of linstab/map.h and linstab/simulate.h. */
struct linstab_map_source;
struct linstab_map_params;
struct linstab_map_axis;
struct linstab_map_cell;
struct linstab_sim_plan;
linstab_status linstab_map_cell_compute_planned(const struct linstab_map_source *src,
                                                struct linstab_sim_plan *const *plans,
                                                const struct linstab_map_params *p, const struct linstab_map_axis *x,
                                                const struct linstab_map_axis *y, size_t ix, size_t iy,
                                                struct linstab_map_cell *out, linstab_error *err);

#endif
