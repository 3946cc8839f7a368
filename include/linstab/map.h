/*
 * map.h -- divergence phase diagrams (Dexter et al. Section 5.1, Figures 1-2).
 *
 * A map is a grid over two axes among eta, batch, rho, sigma.  Each cell
 * runs the Dexter et al. Monte Carlo protocol (random unit start, at most `steps`
 * steps, divergent at `grow`x growth of ||w||, convergent -- and stopped --
 * at `shrink`x shrinkage, majority over `runs` runs) and, when asked, the
 * exact mean-square radius and the Lyapunov exponent, plus the margins of
 * Dexter et al.'s Theorems 1 and 2 (lambda1(H) minus each threshold) so that their
 * lines can be drawn as zero contours.
 *
 * Normalized SAM (LINSTAB_OPT_SAM_NORMALIZED) is not linear and not
 * homogeneous, so its runs are not rescaled and the thresholds are
 * absolute (docs/math.md §6; linstab_map_cell_run_normalized): from the
 * same random unit start, a run is divergent when ||w|| reaches grow times
 * linstab_map_normalized_bound (a bound on every full-batch trajectory
 * for eta < 2/lambda1, whatever rho), converged when ||w|| falls to
 * 1/shrink, and otherwise bounded -- e.g. on Bartlett et al.'s 2-cycle
 * +/- (eta rho lambda1 / (2 - eta lambda1)) e1 -- which is NOT divergent:
 * frac_div counts only divergent runs (0 for a cell of bounded runs), and
 * frac_bounded (not one of the packed fields) the bounded ones.  There is
 * no exact radius or Lyapunov exponent for it (NaN).
 *
 * Reproducibility: run k of cell c draws from linstab_rng_stream_mc(seed,
 * c * runs + k), so results do not depend on the number of threads, the
 * order cells are computed in, or a checkpoint/resume in between.
 *
 * Files: the axes in src/dynamics/map_axis.c, a cell (its Monte Carlo runs,
 * exact columns and margins; the theorems themselves are bounds.h's) in
 * map_cell.c, the grid driver linstab_map_grid_run (chunks, OpenMP,
 * checkpoint/resume, progress and partition callbacks) in map_grid.c.
 * A C program draws a map with linstab_map_source_prepare (or the dexter
 * source), linstab_map_grid_run, and writes g.vals as it likes.
 */
#ifndef LINSTAB_MAP_H
#define LINSTAB_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/checkpoint.h"
#include "linstab/exact.h"
#include "linstab/export.h"
#include "linstab/optimizer.h"
#include "linstab/family.h"
#include "linstab/sampling.h"
#include "linstab/simulate.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_map_axis_kind {
    LINSTAB_MAP_AXIS_ETA = 0,
    LINSTAB_MAP_AXIS_BATCH,
    LINSTAB_MAP_AXIS_RHO,
    LINSTAB_MAP_AXIS_SIGMA
} linstab_map_axis_kind;

/* The axis's name as the command spells it ("eta", "batch", "rho",
 * "sigma"; a static string). */
LINSTAB_API const char *linstab_map_axis_name(linstab_map_axis_kind k);

typedef struct linstab_map_axis {
    linstab_map_axis_kind kind;
    size_t count;
    double *values; /* owned */
    int log;        /* values spaced logarithmically (for plotting) */
} linstab_map_axis;

/*
 * Parse "NAME=SPEC": NAME in eta, batch, rho, sigma; SPEC a list "a,b,c",
 * a linear range "lo:hi:count", a log range "log:lo:hi:count", or for the
 * integer axes (batch, sigma) "lo:hi" or "lo:hi:step" (inclusive).
 * Numbers are decimal (no hexadecimal, inf or nan); batch and sigma values
 * whole numbers in [1, 2^53].  At most LINSTAB_MAP_AXIS_MAX_POINTS points,
 * checked before anything is allocated.
 * Errors (LINSTAB_EINVAL): unknown name, empty or inverted range,
 * non-positive log bounds, non-integer batch/sigma, negative values, too
 * many points; LINSTAB_ENOMEM: out of memory.  On error *ax is empty.
 */
#define LINSTAB_MAP_AXIS_MAX_POINTS 1000000
LINSTAB_API linstab_status linstab_map_axis_parse(const char *spec, linstab_map_axis *ax,
                                                  linstab_error *err);
/* Free the values of ax and zero it (accepts a zeroed axis). */
LINSTAB_API void linstab_map_axis_clear(linstab_map_axis *ax);

typedef struct linstab_map_params {
    linstab_optimizer dyn;
    linstab_sampling sampling;
    double eta, rho;      /* values of the axes not on the grid */
    size_t batch, sigma;
    size_t runs, steps;   /* Dexter et al.: 5 runs, 1000 steps */
    double grow, shrink;  /* Dexter et al.: 1000, 1000 */
    uint64_t seed;
    int exact;            /* also the mean-square radius and Lyapunov exponent */
    size_t lyap_runs, lyap_steps; /* Monte Carlo Lyapunov when not enumerable */
} linstab_map_params;

/* The defaults of linstab map: the values documented beside each field
 * above (and in `linstab map --help`). */
LINSTAB_API linstab_map_params linstab_map_defaults(void);

/* Where the family comes from: a fixed family (range-restricted and
 * rotated, with its sharpness and coherence), or Dexter et al.'s construction with
 * dexter_n samples regenerated for each sigma (lambda1(H) = 2, coherence
 * sigma by construction). */
typedef struct linstab_map_source {
    const linstab_rotated *rf; /* NULL: dexter */
    double sharpness, sigma;
    size_t dexter_n;
    const struct linstab_moments *moments; /* of rf (for Shin et al. Thm 9), or NULL */
    /* dexter only, optional: dexter_rf[sigma] for sigma = 1..dexter_n, the
     * rotated construction built once per grid column instead of per cell
     * (entries with f == NULL are built on demand) */
    const linstab_rotated *dexter_rf;
} linstab_map_source;

/*
 * A fixed family as a map's source: f restricted to range(H) (or, use_m2,
 * range(M_2) for an indefinite family) with rank tolerance rank_rtol (<= 0:
 * the default) and rotated, its coherence and sharpness, and for SAM
 * (dyn != SGD) its moments, all on one BLAS thread.  OUT *rf (clear with
 * linstab_family_rotated_clear), *moments (NULL for SGD; free with
 * linstab_moments_free) -- both the caller's -- and *src, which borrows
 * them: keep both while src is used.  Errors: those of
 * linstab_family_rotated_make, linstab_geometry_coherence, linstab_moments_compute; then
 * nothing is left to free.
 */
LINSTAB_API linstab_status linstab_map_source_prepare(const linstab_family *f, double rank_rtol, int use_m2,
                                                      linstab_optimizer dyn, linstab_rotated *rf,
                                                      struct linstab_moments **moments,
                                                      linstab_map_source *src, linstab_error *err);

/* The rotated Dexter et al. Section 5.1 construction with n samples and coherence
 * sigma (OUT *out, clear with linstab_family_rotated_clear). */
LINSTAB_API linstab_status linstab_map_dexter(size_t n, size_t sigma, linstab_rotated *out,
                                              linstab_error *err);

/* Number of samples of the source. */
LINSTAB_API size_t linstab_map_source_n(const linstab_map_source *src);

typedef struct linstab_map_cell {
    double frac_div;    /* fraction of runs that diverged */
    double frac_bounded; /* fraction that neither diverged nor converged within the steps (for
                          * normalized SAM: bounded, e.g. cycling); not packed */
    int divergent;      /* majority verdict */
    double radius;      /* mean-square radius (NaN when not computed) */
    double lyapunov;    /* top Lyapunov exponent (NaN when not computed) */
    double thm1_margin; /* lambda1(H) - min(2/eta, Theorem 1 threshold): > 0 predicts divergence */
    double thm2_margin; /* lambda1(H) - Theorem 2 threshold */
    double thm9_margin; /* lambda_max(P) - 1 of Shin et al. Thm 9 (SAM only; NaN for SGD) */
} linstab_map_cell;

/*
 * One run of the protocol from a random unit start (w, length d,
 * overwritten): OUT *outcome = +1 (diverged), -1 (converged), 0 (neither
 * within steps).  For the linear dynamics the log of the norm is tracked
 * with renormalisation, so no run overflows (w ends as a unit direction).
 * A SAM_NORMALIZED workspace is run by linstab_map_cell_run_normalized
 * with an unknown sharpness (NaN: the bound's scale is then rho, see
 * there); pass the sharpness to that function instead.
 */
LINSTAB_API void linstab_map_cell_run(linstab_sim *sim, gsl_rng *rng, size_t d, size_t steps,
                                      double grow, double shrink, double *w, int *outcome);

/*
 * A bound on the norm of normalized SAM's iterates from a unit start on a
 * quadratic with largest Hessian eigenvalue `sharpness` and the full batch,
 * d coordinates:
 *     sqrt(1 + d r^2),  r = rho max(1, eta l1 / (2 - eta l1))  for eta l1 < 2,
 * r = rho for eta l1 >= 2 or a NaN sharpness.  In the eigenbasis each
 * coordinate obeys |w_i'| <= |1 - eta l_i| |w_i| + eta rho l_i, so it never
 * exceeds max(|w_i(0)|, r) (docs/math.md §6).  With random batches it is
 * the scale of the full-batch trajectories, not a bound.  Never fails
 * (+inf as eta l1 -> 2 from below).
 */
LINSTAB_API double linstab_map_normalized_bound(double eta, double rho, double sharpness, size_t d);

/*
 * One run of normalized SAM (sim: a SAM_NORMALIZED workspace) for a map:
 * the protocol's random unit start (w, length d; drawn as
 * linstab_map_cell_run draws it), then at most `steps` steps, never
 * rescaled.  OUT *outcome = +1 (divergent: ||w|| >= grow *
 * linstab_map_normalized_bound(eta, rho, sharpness, d), or not finite),
 * -1 (converged: ||w|| <= 1/shrink), 0 (bounded: neither within the steps,
 * e.g. a cycle -- not divergent); w holds the last iterate, its true scale.
 * sharpness: lambda1 of the mean Hessian (NaN if unknown).  Never fails.
 */
LINSTAB_API void linstab_map_cell_run_normalized(linstab_sim *sim, gsl_rng *rng, size_t d, size_t steps,
                                                 double grow, double shrink, double sharpness, double *w,
                                                 int *outcome);

/* Classification rule of Dexter et al. for a recorded trajectory of norms:
 * +1 when some norm reaches grow * norm[0] before any reaches
 * norm[0] / shrink, -1 for the converse, 0 otherwise. */
LINSTAB_API int linstab_map_cell_classify(const double *norms, size_t len, double grow, double shrink);

/* Compute cell (ix, iy) of a grid (x, y axes) into *out. */
LINSTAB_API linstab_status linstab_map_cell_compute(const linstab_map_source *src,
                                                    const linstab_map_params *p, const linstab_map_axis *x,
                                                    const linstab_map_axis *y, size_t ix, size_t iy,
                                                    linstab_map_cell *out, linstab_error *err);

/* Check the grid before any work: axes distinct, applicable (sigma only
 * for the dexter source, rho only for SAM), batch values within [1, n]. */
LINSTAB_API linstab_status linstab_map_check(const linstab_map_source *src,
                                             const linstab_map_params *p, const linstab_map_axis *x,
                                             const linstab_map_axis *y, linstab_error *err);

/* The values of a cell as stored per cell (map.csv's columns, in order):
 * frac_div, divergent, radius, lyapunov, thm1, thm2, thm9 margins. */
#define LINSTAB_MAP_FIELDS 7
LINSTAB_API void linstab_map_cell_pack(const linstab_map_cell *c, double v[LINSTAB_MAP_FIELDS]);

/*
 * Compute the cells c0 <= c < c1 with c % stride == offset and done[c] == 0
 * (cell c is (ix, iy) = (c % x->count, c / x->count)) in parallel over the
 * OpenMP threads, each cell's linear algebra on one BLAS thread (OpenBLAS's
 * own thread count is set to 1 around the region and restored), so that
 * the values do not depend on the thread counts of either.  A computed
 * cell gets vals[c * LINSTAB_MAP_FIELDS ...] and done[c] = 1.
 * Errors: when cells fail, the status and message of the failing cell with
 * the smallest index (the same for any thread count), *failed = its index
 * (SIZE_MAX on success); cells above it may be skipped, the others keep
 * their results.  stride >= 1, offset < stride (MPI ranks).
 */
LINSTAB_API linstab_status linstab_map_grid_cells(const linstab_map_source *src,
                                                  const linstab_map_params *p, const linstab_map_axis *x,
                                                  const linstab_map_axis *y, size_t c0, size_t c1,
                                                  size_t stride, size_t offset, unsigned char *done,
                                                  double *vals, size_t *failed, linstab_error *err);

/*
 * Memory a map needs, estimated before anything is allocated: OUT *cells
 * (nx * ny) and *bytes = the grid's arrays (done flags, values, the
 * checkpoint written and read back, the output and figure arrays), the
 * dexter constructions kept for the grid's sigma values, and `threads`
 * times the largest per-cell workspace over the grid (the Monte Carlo
 * simulator, Theorem 9's matrix and moments, the exact columns' operators
 * and eigensolver workspaces).  A bound, not an exact count.
 * Errors: EINVAL when nx * ny does not fit size_t (the message says so).
 */
LINSTAB_API linstab_status linstab_map_memory(const linstab_map_source *src,
                                              const linstab_map_params *p, const linstab_map_axis *x,
                                              const linstab_map_axis *y, size_t threads,
                                              size_t *cells, double *bytes, linstab_error *err);

/* The map's pipeline on one BLAS thread: linstab_map_blas_serial() sets
 * OpenBLAS's thread count to 1 and returns the previous one (-1 inside an
 * OpenMP parallel region, where it does nothing), linstab_map_blas_restore
 * puts it back.  A map's family preparation (range restriction, moments)
 * runs between the two so that no reduction order depends on
 * OPENBLAS_NUM_THREADS. */
LINSTAB_API int linstab_map_blas_serial(void);
LINSTAB_API void linstab_map_blas_restore(int previous);

/*
 * The grid driver: every cell of the grid (x, y), in chunks of cells.
 *
 *   linstab_map_grid_opts o = linstab_map_grid_defaults();
 *   linstab_map_grid g;
 *   if (linstab_map_grid_run(&src, &p, &x, &y, &o, &g, &err) == LINSTAB_OK)
 *       ... g.vals[(iy * x.count + ix) * LINSTAB_MAP_FIELDS + k] ...
 *   linstab_map_grid_clear(&g);
 *
 * Within a chunk the cells run in parallel over the OpenMP threads, each on
 * one BLAS thread (linstab_map_grid_cells); between chunks the driver merges
 * the workers' cells (the partition), writes the checkpoint and reports
 * progress.  The values depend on the seed and the cells only, never on
 * the thread counts, the chunk size, the partition or a resume.
 */

/* Workers sharing a grid (MPI ranks, say: the library knows nothing of how
 * they talk).  Passed to linstab_map_partition.sync after the setup and
 * twice per chunk; every worker makes the same calls in the same order. */
typedef struct linstab_map_sync {
    size_t chunk;        /* cells per chunk (to size a buffer at the setup call) */
    size_t c0, c1;       /* the chunk just computed, c0 < c1: merge its cells into
                          * done/vals on every worker (each was computed by exactly
                          * one, the one with c % parts == part; cells done before a
                          * resume are the same on every worker); c0 == c1: nothing
                          * to merge (the setup call, the call after a checkpoint) */
    unsigned char *done; /* the grid's flags and values (IN/OUT), as in linstab_map_grid */
    double *vals;
    size_t first_failed; /* IN: this worker's smallest failing cell of the chunk,
                          * SIZE_MAX for none; OUT: the smallest over the workers */
    int failed;          /* IN: this worker failed outside a cell (its setup, the
                          * checkpoint); OUT: nonzero when any worker did */
} linstab_map_sync;

typedef struct linstab_map_partition {
    size_t parts;        /* number of workers, >= 1 */
    size_t part;         /* this worker, < parts: it computes the cells c % parts == part */
    int writer;          /* this worker writes the checkpoint (exactly one should) */
    /* Merge and agree (see linstab_map_sync).  A failure of its own (out of
     * memory for a buffer) is returned with its message, after taking part
     * in the exchange with s->failed set, so that no worker waits for it. */
    linstab_status (*sync)(void *ctx, linstab_map_sync *s, linstab_error *err);
    void *ctx;
} linstab_map_partition;

/* Called after each chunk that no worker failed, on every worker, before
 * the checkpoint: done of total cells, seconds since the first chunk
 * started.  Nonzero stops the run after this chunk, checkpointed (every
 * worker must then stop at the same chunk); linstab_map_grid_run returns
 * LINSTAB_OK with out->stopped set and the cells not done flagged 0
 * (stopped after the last chunk, the grid is complete). */
typedef int (*linstab_map_progress_fn)(void *ctx, size_t done, size_t total, double seconds);

typedef struct linstab_map_grid_opts {
    size_t threads;       /* OpenMP threads (0: as set; restored at the end) */
    size_t chunk;         /* cells per chunk (0: max(ncells / 20, 64) times the parts) */
    const char *checkpoint;          /* checkpoint file (NULL: none) */
    const linstab_checkpoint_ident *ident; /* the run's identity (checkpoint.h): everything
                                      * the cells depend on; required with a checkpoint */
    int resume;           /* start from the checkpoint (it must be this run's) */
    double checkpoint_seconds; /* at most one checkpoint per this many seconds, and one
                                * after the last chunk; <= 0: after every chunk */
    linstab_map_progress_fn progress; /* NULL: none */
    void *progress_ctx;
    const linstab_map_partition *partition; /* NULL: this process computes every cell */
} linstab_map_grid_opts;

/* threads 0, chunk 0, no checkpoint, checkpoint_seconds 1, no progress, no partition. */
LINSTAB_API linstab_map_grid_opts linstab_map_grid_defaults(void);

/* Where a grid run stopped (linstab_map_grid.failure). */
typedef enum linstab_map_grid_failure {
    LINSTAB_MAP_GRID_OK = 0,
    LINSTAB_MAP_GRID_FAILED_SETUP,      /* memory, a dexter construction, the partition */
    LINSTAB_MAP_GRID_FAILED_RESUME,     /* the checkpoint was refused (checkpoint.h says why) */
    LINSTAB_MAP_GRID_FAILED_CELL,       /* a cell (the smallest failing one) */
    LINSTAB_MAP_GRID_FAILED_CHECKPOINT, /* the checkpoint could not be written */
    LINSTAB_MAP_GRID_FAILED_ELSEWHERE   /* another worker failed (and says why) */
} linstab_map_grid_failure;

typedef struct linstab_map_grid {
    size_t nx, ny, ncells;   /* ncells = nx * ny; cell c is (c % nx, c / nx) */
    unsigned char *done;     /* (ncells) 1 for the cells computed, owned */
    double *vals;            /* (ncells, LINSTAB_MAP_FIELDS) linstab_map_cell_pack's values, owned */
    double seconds;          /* wall time of the chunks (the setup excluded) */
    int stopped;             /* the progress callback stopped the run */
    linstab_map_grid_failure failure;
    size_t failed_cell;      /* FAILED_CELL: its index; else SIZE_MAX */
} linstab_map_grid;

/*
 * Compute the grid (x, y) of source src with parameters p (checked first by
 * linstab_map_check), options o (NULL: the defaults).  OUT *out: the grid,
 * allocated here (free with linstab_map_grid_clear, also after a failure);
 * with a partition every worker ends with the whole grid.  For the dexter
 * source without src->dexter_rf the construction of each sigma of the grid
 * is built once (freed before returning).  OpenMP's thread count is set
 * to o->threads during the run and OpenBLAS's to 1, both restored.
 * Errors, with out->failure saying where: EINVAL for bad options or grid
 * (linstab_map_check's message), ENOMEM "out of memory for N cells (B
 * bytes)", a dexter construction's error, "cannot resume from PATH: <why>"
 * (the checkpoint's status), a cell's status and message ("cell C (x X, y
 * Y): ..."; cells below it are still computed, the good cells are kept in
 * the checkpoint), the checkpoint's write error (EIO), or
 * FAILED_ELSEWHERE (EIO, "another worker failed") when another worker
 * reported its failure.
 */
LINSTAB_API linstab_status linstab_map_grid_run(const linstab_map_source *src,
                                                const linstab_map_params *p,
                                                const linstab_map_axis *x, const linstab_map_axis *y,
                                                const linstab_map_grid_opts *o,
                                                linstab_map_grid *out, linstab_error *err);

/* Free the grid's arrays and zero it (a zeroed grid is a no-op). */
LINSTAB_API void linstab_map_grid_clear(linstab_map_grid *g);

#ifdef __cplusplus
}
#endif
#endif
