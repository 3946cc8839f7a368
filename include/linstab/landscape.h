/*
 * landscape.h -- the loss of an MLP along directions in parameter space:
 * 1-D slices L(theta + t d) with their curvature, and 2-D surfaces
 * L(theta + a d1 + b d2), matrix-free (forward passes and Hessian-vector
 * products only, never a p x p matrix).  Module landscape, in src/nn/:
 *   landscape.c         the directions that need the loss (the top
 *                       eigenvector of H), the segment between two
 *                       checkpoints, a direction from an NPY file, the
 *                       grids, the slices and surfaces
 *   landscape_random.c  the random filter-normalized direction
 *
 * L(theta) = (1/n) sum_i l_i(theta) is the mean loss over the rows of X
 * (linstab_mlp_evaluate's), H(theta) its Hessian (linstab_mlp_hvp's).
 * Directions are vectors of length p in linstab's parameter order (W_1
 * row-major, b_1, W_2, b_2, ...; linstab_mlp_w_offset, _b_offset):
 *   - the top eigenvector of H at the checkpoint (largest algebraic
 *     eigenvalue, the sharpness lambda1; unit length, the sign fixed so
 *     that its entry of largest magnitude -- the first one on a tie -- is
 *     positive), as in Shin et al. (2023), Figure 2(a);
 *   - a random filter-normalized direction (Li, Xu, Taylor, Studer and
 *     Goldstein, "Visualizing the loss landscape of neural nets", NeurIPS
 *     2018, Section 4): a standard Gaussian vector whose every neuron's
 *     incoming weight row of W_l is rescaled to the Euclidean norm of the
 *     same row of the checkpoint's W_l; the bias entries are set to zero
 *     (biases are not perturbed, as in Li et al.'s code);
 *   - the segment between two checkpoints A and B, d = theta_B - theta_A,
 *     so that t = lambda gives Zhou et al. (2025)'s interpolation
 *     theta_lambda = (1 - lambda) theta_A + lambda theta_B (Figure 4(c));
 *   - any vector from an NPY file (e.g. one row of the eigenvectors
 *     `linstab spectrum` writes, k x p).
 *
 * Per point of a 1-D slice, three numbers besides L(t) = L(theta + t d):
 *   d2_zhou(t)   = (L(t + h) + L(t - h) - 2 L(t)) / (2h)^2, Zhou et al.
 *                  (2025)'s second-order finite difference of Figure 4(c)
 *                  (h = 0.1 there).  Note the (2h)^2: it tends to
 *                  L''(t) / 4 as h -> 0, a quarter of the usual second
 *                  difference (L(t+h) + L(t-h) - 2L(t)) / h^2;
 *   curvature(t) = d' H(theta + t d) d = L''(t) exactly, from one
 *                  Hessian-vector product at the point (independent of h
 *                  and of the finite difference);
 *   curvature(t) / ||d||^2 is the Rayleigh quotient, the curvature per
 *                  unit length in parameter space (lambda1 at t = 0 along
 *                  the top eigenvector); the caller divides.
 *
 * Reproducibility: the points are independent units of work spread over
 * OpenMP threads, each on one BLAS thread (the whole call runs with one
 * BLAS thread), so every result is byte-identical for any thread count.
 * Conventions: the caller owns every array passed and every output buffer
 * (sized as stated, overwritten); the model and the data are only read.
 * Errors are a status with a message in *err (LINSTAB_ENOMEM whenever a
 * workspace cannot be allocated).
 */
#ifndef LINSTAB_LANDSCAPE_H
#define LINSTAB_LANDSCAPE_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/eigen.h"
#include "linstab/error.h"
#include "linstab/export.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The loss a landscape is drawn of: the network (its theta is the centre
 * of every slice and surface) and the samples.  All borrowed. */
typedef struct linstab_landscape_model {
    const linstab_mlp *m;       /* the network and the checkpoint theta         */
    const linstab_array *X;     /* n x d0 inputs                                */
    const linstab_array *Y;     /* n x dL targets (mse) or n labels (ce)        */
    linstab_loss loss;
    double smoothing;           /* ce label smoothing in [0, 1)                 */
} linstab_landscape_model;

/* Options of linstab_landscape_slice and _surface. */
typedef struct linstab_landscape_opts {
    double h;        /* the step of d2_zhou, finite and > 0 (0: 0.1, Zhou et al.'s) */
    size_t threads;  /* OpenMP threads (0: omp_get_max_threads())                    */
    /* called from the calling thread after each block of points with the
     * number of points done and the total (NULL: none) */
    void (*progress)(size_t done, size_t total, void *ctx);
    void *progress_ctx;
} linstab_landscape_opts;

/* h 0 (0.1), threads 0, no progress. */
LINSTAB_API linstab_landscape_opts linstab_landscape_defaults(void);

/*
 * The n values t_i = lo + (hi - lo) i / (n - 1), i = 0..n-1, into OUT t
 * (n): lo and hi exactly, and every grid point that is a multiple of the
 * spacing from lo (t = 0 and t = 1 of -0.5:1.5 with 41 points) exactly.
 * Errors: LINSTAB_EINVAL (param "points": n < 2; param "range": lo, hi not
 * finite, lo >= hi, or hi - lo overflows).
 */
LINSTAB_API linstab_status linstab_landscape_grid(double lo, double hi, size_t n, double *t, linstab_error *err);

/* ---- directions ---- */

/*
 * OUT d (p): the unit eigenvector of the largest algebraic eigenvalue
 * lambda1 of H(theta) (OUT *lambda1, may be NULL), by linstab_eigen_top on
 * the operator v -> H v (linstab_mlp_hvp); sign fixed as above.  eo: the
 * eigensolver's options (NULL: dense for p <= 200, formed from p products;
 * else ARPACK's Lanczos, relative tolerance 1e-10, ncv 24).  An
 * eigenvector is defined up to sign only for a simple lambda1; with a
 * repeated one it is some unit vector of its eigenspace.  Errors: those
 * of linstab_mlp_check_data (LINSTAB_EDATA) and of the eigensolver.
 */
LINSTAB_API linstab_status linstab_landscape_eigvec(const linstab_landscape_model *lm,
                                                    const linstab_eigen_opts *eo, double *lambda1, double *d,
                                                    linstab_error *err);

/*
 * OUT d (p): the random filter-normalized direction of m (above).  The
 * Gaussian vector is g_j ~ N(0, 1), j = 0..p-1 in parameter order, drawn
 * with GSL's ziggurat from linstab_rng_stream(seed, 0x51ce0000 + index):
 * index tells apart several directions of one seed (the `landscape`
 * command takes 1 for the first, 2 for the second).  Row u of W_l becomes
 * g_row ||theta_row|| / ||g_row|| (a zero row of the checkpoint stays
 * zero); every bias entry is 0.  Deterministic: the same (seed, index)
 * give the same bytes on any machine.  Errors: LINSTAB_EDATA (every
 * weight of the checkpoint is zero: the direction would be zero),
 * LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_landscape_random(const linstab_mlp *m, uint64_t seed, uint64_t index, double *d,
                                                    linstab_error *err);

/*
 * OUT d (p) = theta_b - theta_a, the segment from checkpoint a to
 * checkpoint b.  The two must have the same architecture; otherwise
 * LINSTAB_EDATA naming what differs and both values ("the layer sizes
 * differ: 3-5-2 and 3-6-2"; likewise the activation, the output
 * activation, biases).  Identical parameters are LINSTAB_EDATA too (the
 * segment is a point).
 */
LINSTAB_API linstab_status linstab_landscape_segment(const linstab_mlp *a, const linstab_mlp *b, double *d,
                                                     linstab_error *err);

/* No row chosen (linstab_landscape_direction_load). */
#define LINSTAB_LANDSCAPE_NO_ROW ((size_t)-1)

/*
 * OUT d (p): a direction from the NPY file path: a vector of p entries, or
 * a k x p matrix (one direction per row) of which row `row` is taken
 * (LINSTAB_LANDSCAPE_NO_ROW: the matrix must have one row).  Errors (the
 * message starts with path): those of linstab_npy_read; LINSTAB_EDATA for
 * a length other than p (naming both), more than 2 dimensions, an entry
 * that is not finite (naming it), a zero vector; LINSTAB_EINVAL with param
 * "row" for a row outside the file's 0..k-1, or no row for k > 1.
 */
LINSTAB_API linstab_status linstab_landscape_direction_load(const char *path, size_t p, size_t row, double *d,
                                                            linstab_error *err);

/* ---- slices and surfaces ---- */

/*
 * The 1-D slice along d (p, nonzero, finite) at the npts values t (finite,
 * any order): OUT loss[i] = L(theta(t_i)), OUT d2_zhou[i] (may be NULL:
 * not computed, two forward passes a point saved) and OUT curvature[i] =
 * d' H(theta(t_i)) d (may be NULL: no Hessian-vector product), as defined
 * above, where theta(t) = theta + t d, or, when `to` (p) is not NULL,
 * theta(t) = (1 - t) theta + t to (then d must be to - theta, as
 * linstab_landscape_segment gives it: the same line, with theta(0) and
 * theta(1) exactly the two checkpoints).  Errors: LINSTAB_EINVAL (npts
 * 0; param "h": h not finite or <= 0; a t not finite; d zero or not
 * finite), those of linstab_mlp_check_data, of linstab_mlp_evaluate and
 * linstab_mlp_hvp (the first failing point's, naming it), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_landscape_slice(const linstab_landscape_model *lm, const double *d,
                                                   const double *to, size_t npts, const double *t,
                                                   const linstab_landscape_opts *o, double *loss, double *d2_zhou,
                                                   double *curvature, linstab_error *err);

/*
 * The 2-D surface OUT loss[ia * nb + ib] = L(theta(a_ia) + b_ib d2) (na x
 * nb, row ia: the values along d2 at a = a_ia), with theta(a) as for the
 * slice along d1 (to: NULL, or the other end of the segment d1 = to -
 * theta).  Zhou et al. (2025)'s Figure 14: theta = theta_A, d1 = theta_B
 * - theta_A, d2 random filter-normalized.  d1, d2 nonzero and finite; na,
 * nb >= 1.  Errors as for linstab_landscape_slice.
 */
LINSTAB_API linstab_status linstab_landscape_surface(const linstab_landscape_model *lm, const double *d1,
                                                     const double *to, const double *d2, size_t na, const double *a,
                                                     size_t nb, const double *b, const linstab_landscape_opts *o,
                                                     double *loss, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
