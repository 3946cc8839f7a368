/*
 * spectrum.h -- spectral diagnostics of a self-adjoint operator, matrix-free
 * (the Hessian of a network's loss, with linstab_mlp_hessian_operator): the
 * top-k eigenpairs (linstab_eigen_topk in eigen.h), the trace (exact, or
 * Hutchinson's estimator with a standard error) and the spectral density by
 * stochastic Lanczos quadrature (Ubaru, Chen & Saad, "Fast estimation of
 * tr(f(A)) via stochastic Lanczos quadrature", 2017; Ghorbani, Krishnan &
 * Xiao, "An investigation into neural net optimization via Hessian
 * eigenvalue density", 2019; Yao, Gholami, Keutzer & Mahoney, "PyHessian",
 * 2020).  Implemented in src/core/spectrum.c and src/nn/mlp_operator.c.
 *
 * Probes: probe j of seed s is the Rademacher vector (entries +-1) drawn
 * from the random stream linstab_rng_stream_mc(s, j) (rng.h), 32 entries
 * per 32-bit draw: it depends only on (s, j, dim), so every estimate below
 * is the same for any thread count and any order of the work.  Hutchinson
 * and SLQ with the same seed use the same probes (probe j for both).
 *
 * Every function stops at the first failing apply of the operator and
 * returns its status and message unchanged.
 */
#ifndef LINSTAB_SPECTRUM_H
#define LINSTAB_SPECTRUM_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/eigen.h"
#include "linstab/error.h"
#include "linstab/export.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/operator.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OUT z (dim): probe j of seed (see above).  Errors: LINSTAB_ENOMEM (the
 * generator). */
LINSTAB_API linstab_status linstab_spectrum_probe(uint64_t seed, uint64_t j, size_t dim, double *z,
                                                  linstab_error *err);

/*
 * OUT *trace = sum_i A_ii of op (self-adjoint or not): the diagonal of
 * form_dense when the operator has one, else one apply per unit vector
 * (dim applies: for small dim).  Errors: LINSTAB_EINVAL (dimension 0),
 * LINSTAB_ENOMEM, the operator's.
 */
LINSTAB_API linstab_status linstab_spectrum_trace_exact(const linstab_operator *op, double *trace,
                                                        linstab_error *err);

/*
 * Hutchinson's estimator from given probes: z_j = probes + j dim (N x dim,
 * row-major, any vectors), sample t_j = z_j' A z_j, OUT *mean = (1/N)
 * sum_j t_j, *se = s / sqrt(N) with s^2 = sum_j (t_j - mean)^2 / (N - 1)
 * (NaN for N = 1); samples (may be NULL): OUT t (N).  For Rademacher probes
 * E t_j = tr A and Var t_j = 2 sum_{i != k} A_ik^2.  One apply per probe.
 * Errors: LINSTAB_EINVAL (N = 0, dimension 0), LINSTAB_ENOMEM, the
 * operator's.
 */
LINSTAB_API linstab_status linstab_spectrum_hutchinson_probes(const linstab_operator *op, size_t nprobes,
                                                              const double *probes, double *mean, double *se,
                                                              double *samples, linstab_error *err);
/* The same with the Rademacher probes 0..N-1 of seed (linstab_spectrum_probe). */
LINSTAB_API linstab_status linstab_spectrum_hutchinson(const linstab_operator *op, size_t nprobes, uint64_t seed,
                                                       double *mean, double *se, double *samples,
                                                       linstab_error *err);

/*
 * m steps of Lanczos from v (dim, not zero) on a self-adjoint op, with full
 * reorthogonalization (two classical Gram-Schmidt passes a step): the
 * tridiagonal T_m of q_1 = v / ||v||, its eigenvalues (OUT nodes, m,
 * ascending: the Ritz values) and the squared first components of its unit
 * eigenvectors (OUT weights, m, summing to 1): the m-point Gauss quadrature
 * of the spectral measure of q_1, so that sum_i weights_i nodes_i^k =
 * q_1' A^k q_1 for k <= 2 m - 1.  m is capped at dim; an invariant
 * subspace (beta_j <= 1e-12 ||T||) ends the iteration early, exactly.  OUT
 * *steps (may be NULL): the steps taken (<= m); entries of nodes and
 * weights beyond it are NaN and 0.  Workspace (m + 2) dim doubles.
 * Errors: LINSTAB_EINVAL (m = 0, dimension 0, v = 0 or not finite,
 * not self-adjoint), LINSTAB_ENOMEM, LINSTAB_ELAPACK, the operator's.
 */
LINSTAB_API linstab_status linstab_spectrum_lanczos(const linstab_operator *op, const double *v, size_t m,
                                                    double *nodes, double *weights, size_t *steps,
                                                    linstab_error *err);

/*
 * Stochastic Lanczos quadrature: linstab_spectrum_lanczos from each of the
 * Rademacher probes 0..P-1 of seed.  OUT nodes, weights (P x m, row j for
 * probe j), steps (P, may be NULL).  Errors as for linstab_spectrum_lanczos.
 */
LINSTAB_API linstab_status linstab_spectrum_slq(const linstab_operator *op, size_t nprobes, size_t m, uint64_t seed,
                                                double *nodes, double *weights, size_t *steps, linstab_error *err);

/*
 * The default Gaussian width of linstab_spectrum_density: 1 % of the range
 * of the finite nodes with a positive weight (max(1, |node|) when they are
 * all equal; 1 when there are none).
 */
LINSTAB_API double linstab_spectrum_default_sigma(size_t count, const double *nodes, const double *weights);

/*
 * The SLQ density on a grid: phi(t) = (1/P) sum_j sum_i w_ji N(t; theta_ji,
 * sigma^2) (a Gaussian of width sigma around every node; it integrates to
 * 1).  nodes, weights: P x m (entries with weight 0 or a NaN node are
 * skipped).  sigma <= 0: linstab_spectrum_default_sigma.  OUT x (grid,
 * equally spaced from the smallest node - 6 sigma to the largest + 6
 * sigma), density (grid), *sigma_used (may be NULL).  Errors:
 * LINSTAB_EINVAL (P, m = 0, grid < 2, no node with a positive weight, a
 * sigma that is not finite).
 */
LINSTAB_API linstab_status linstab_spectrum_density(size_t nprobes, size_t m, const double *nodes,
                                                    const double *weights, double sigma, size_t grid, double *x,
                                                    double *density, double *sigma_used, linstab_error *err);

/*
 * The operator of a network's mean-loss Hessian at its checkpoint: apply
 * v -> (1/n) sum_i H_i v (linstab_mlp_hvp, the exact Hessian, all terms;
 * self-adjoint, possibly indefinite), dimension p, in parameter order
 * (W1 row-major, b1, W2, ...).  gn = 1: the (generalized) Gauss-Newton
 * matrix (1/n) sum_i J_i' (hess_f l_i) J_i instead (linstab_mlp_family's
 * gn: J' J for mse, J' (diag p - p p') J for ce; PSD), by one forward
 * tangent and one backward pass (no second-order terms).  m, X, Y are
 * borrowed (they must outlive op) and not checked here
 * (linstab_mlp_check_data).  OUT *op (its context is allocated: free with
 * linstab_mlp_hessian_operator_free).  form_dense is NULL (formed by p
 * applies).  Exact Hessian: when it takes at most 1 GiB (about 40 n sum_l
 * d_l + 32 p bytes) the primal pass (activations, their derivatives, the
 * gradient's backward signals) is computed here once for all n samples,
 * so m, X and Y must not change while op lives, and each apply is the
 * tangent passes alone (no allocation; the same numbers as linstab_mlp_hvp
 * to rounding).  The rows are cut into chunks that depend on n alone, run
 * on OpenMP threads with one BLAS thread each, and their partial sums are
 * added in a fixed order: the same bytes for any thread count.
 * Otherwise (or with CE labels that are not classes, reported by the
 * first apply) every apply
 * is linstab_mlp_hvp.  Errors: LINSTAB_ENOMEM; the applies: those of
 * linstab_mlp_hvp.
 */
LINSTAB_API linstab_status linstab_mlp_hessian_operator(const linstab_mlp *m, const linstab_array *X,
                                                        const linstab_array *Y, linstab_loss loss,
                                                        double smoothing, int gn, linstab_operator *op,
                                                        linstab_error *err);
/*
 * Quadratic forms of an operator op from linstab_mlp_hessian_operator: OUT
 * t_j = z_j' A z_j for z_j = Z + j dim (k x dim, row-major), the samples of
 * Hutchinson's estimator.  For the exact Hessian with its primal pass
 * cached (see above) by a second-order forward pass (Taylor mode) per
 * vector, no backward pass: about half the work of an apply; the same
 * numbers as z_j' (A z_j) to rounding.  Otherwise (Gauss-Newton, or no
 * cache) an apply and a dot product per vector.  Errors: LINSTAB_EINVAL
 * (op not from linstab_mlp_hessian_operator), LINSTAB_ENOMEM, the applies'.
 */
LINSTAB_API linstab_status linstab_mlp_hessian_operator_quad(const linstab_operator *op, size_t k, const double *Z,
                                                             double *t, linstab_error *err);
/* Free the context of an operator from linstab_mlp_hessian_operator (and
 * zero *op); NULL or a zeroed operator is a no-op. */
LINSTAB_API void linstab_mlp_hessian_operator_free(linstab_operator *op);

#ifdef __cplusplus
}
#endif
#endif
