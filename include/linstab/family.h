/*
 * family.h -- the Hessian family: n symmetric d x d matrices H_i behind one
 * interface (docs/math.md §1).
 *
 * Representations (all row-major float64, owned by the family):
 *   DENSE     data (n, d, d):  H_i = data[i]
 *   FACTORED  data (n, d, k):  H_i = U_i U_i'  with U_i = data[i] (d x k)
 *   DIAGONAL  data (n, d):     H_i = diag(data[i])
 * Every consumer asks the family for what it needs (H_i x, the mean H,
 * the Gram matrix tr(H_i H_j), moments M_k, H_i X H_i sums) and each
 * representation answers with its fast path.
 *
 * Range restriction: null(H) is the intersection of the null(H_i) for a
 * PSD family; every linearized update is the identity there, so stability
 * is decided on R = range(H).  linstab_family_restrict returns the family
 * expressed in an orthonormal basis Q of R (d x r): dense Q'H_iQ, factored
 * Q'U_i, diagonal the coordinates in the support.
 */
#ifndef LINSTAB_FAMILY_H
#define LINSTAB_FAMILY_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/export.h"
#include "linstab/npy.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_family_kind {
    LINSTAB_FAMILY_DENSE = 0,
    LINSTAB_FAMILY_FACTORED,
    LINSTAB_FAMILY_DIAGONAL
} linstab_family_kind;

typedef struct linstab_family {
    linstab_family_kind kind;
    size_t n;     /* number of samples                                   */
    size_t d;     /* dimension                                           */
    size_t k;     /* factor width (FACTORED); d (DENSE); 1 (DIAGONAL)    */
    double *data; /* owned; layout above                                 */
    /* Cache of lambda1(H_i) (n, owned, or NULL), filled by validation and
     * kept by restriction.  It is keyed by a hash of data: once data
     * change, linstab_family_sample_lambda1 ignores it and recomputes, so
     * the cache cannot go stale.  Read it through that function. */
    double *lambda1;
    uint64_t lambda1_key;
    size_t d_full;   /* ambient dimension when the data are coordinates in an
                        orthonormal basis of a d-dimensional subspace that
                        holds every range(H_i) (linstab_family_from_gram);
                        0: d itself */
} linstab_family;

/* The dimension of the space the Hessians act on: d_full, or d. */
LINSTAB_API size_t linstab_family_ambient_dim(const linstab_family *f);

/* Name of a kind: "dense", "factored", "diagonal". */
LINSTAB_API const char *linstab_family_kind_name(linstab_family_kind kind);

/* Allocate a zeroed family (OUT *out, free with linstab_family_free).
 * k is ignored for DENSE (set to d) and DIAGONAL (set to 1). */
LINSTAB_API linstab_status linstab_family_alloc(linstab_family_kind kind, size_t n, size_t d,
                                                size_t k, linstab_family **out,
                                                linstab_error *err);
LINSTAB_API void linstab_family_free(linstab_family *f);

/* Number of doubles in f->data. */
LINSTAB_API size_t linstab_family_data_len(const linstab_family *f);

/*
 * Build a family from an array, taking ownership of arr->data on success
 * (arr is then zeroed).  Shape rules: DENSE (n,d,d), FACTORED (n,d,k),
 * DIAGONAL (n,d); otherwise LINSTAB_EDATA naming the shape.
 */
LINSTAB_API linstab_status linstab_family_from_array_take(linstab_family_kind kind, linstab_array *arr,
                                                    linstab_family **out, linstab_error *err);

/* Read an NPY file as a family of the given kind (file name in messages). */
LINSTAB_API linstab_status linstab_family_load(const char *path, linstab_family_kind kind,
                                               size_t max_bytes, linstab_family **out,
                                               linstab_error *err);

/* Write the family's data array as NPY (atomically). */
LINSTAB_API linstab_status linstab_family_save(const linstab_family *f, const char *path,
                                               linstab_error *err);

/* The entry scales a family may have (see linstab_family_validate): the
 * fourth moments hold products of four curvatures and must stay finite
 * and normal in double precision. */
#define LINSTAB_FAMILY_SCALE_MAX 1e75
#define LINSTAB_FAMILY_SCALE_MIN 1e-75

/*
 * Validate: every entry finite; DENSE symmetric within
 * |H_ij - H_ji| <= sym_rtol * max|H_i|; PSD: the smallest eigenvalue of
 * each H_i is >= -1e-10 * scale (scale = max_i lambda1(H_i)) unless
 * allow_indefinite.  Factored and diagonal families are symmetric by
 * construction; diagonal ones are PSD iff entries >= -1e-10 * scale.
 * Dense samples that pass the symmetry check are symmetrised in place
 * (H_i <- (H_i + H_i')/2) so later computations see exactly symmetric
 * matrices; lambda1(H_i) is cached in f->lambda1 as a by-product.
 * The largest curvature scale (max |entry|, k max|U|^2 for factors) must
 * lie in [LINSTAB_FAMILY_SCALE_MIN, LINSTAB_FAMILY_SCALE_MAX] (or be 0):
 * outside, the moments overflow or underflow and the error says by what
 * to rescale.
 * Errors (LINSTAB_EDATA) name the sample index and the offending value.
 * OUT *indefinite (may be NULL): 1 if some H_i has a negative eigenvalue
 * below the tolerance (only possible with allow_indefinite).
 */
LINSTAB_API linstab_status linstab_family_validate(linstab_family *f, double sym_rtol,
                                                   int allow_indefinite, int *indefinite,
                                                   linstab_error *err);

/* y = H_i x  (x, y of length d; must not alias). */
LINSTAB_API void linstab_family_apply(const linstab_family *f, size_t i, const double *x,
                                      double *y);

/* Dense H_i into out (d x d, overwritten). */
LINSTAB_API void linstab_family_sample_dense(const linstab_family *f, size_t i, double *out);

/* Mean H = (1/n) sum_i H_i into H (d x d, overwritten). */
LINSTAB_API linstab_status linstab_family_mean(const linstab_family *f, double *H,
                                               linstab_error *err);

/*
 * Moments M_k = (1/n) sum_i H_i^k for k = 1..kmax (kmax <= 4):
 * M[k-1] points to a d x d buffer (overwritten); a NULL entry is skipped.
 */
LINSTAB_API linstab_status linstab_family_moments(const linstab_family *f, int kmax,
                                                  double *const *M, linstab_error *err);

/* Y = (1/n) sum_i H_i X H_i  (X symmetric d x d; Y d x d overwritten).
 * Allocates its scratch per call: inside a loop, use a workspace
 * (linstab_family_sandwich_ws below).  Errors: LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_family_sandwich(const linstab_family *f, const double *X,
                                                   double *Y, linstab_error *err);

/*
 * A workspace for repeated sandwiches Y = (1/n) sum_i H_i X H_i of one
 * family (the second-moment operators and critical values apply them
 * inside Lanczos, Arnoldi and conjugate-gradient loops): everything the
 * kernel needs is allocated here once, so that linstab_family_sandwich_ws
 * allocates nothing.  Factored families keep their gathered factors
 * W = [U_1 ... U_n] (d x nk), X's d x d triangle and the d x nk and
 * n k x k scratch of the product; dense ones a d x d triangle, the per-chunk accumulators and one
 * d x d scratch per thread (at most omp_get_max_threads() at allocation
 * time are used); diagonal ones nothing.
 * f is borrowed: it must outlive the workspace and not change.
 * OUT *out, free with linstab_family_workspace_free (NULL: no-op).
 * Errors: LINSTAB_ENOMEM, LINSTAB_EINVAL (unknown kind).
 */
typedef struct linstab_family_workspace linstab_family_workspace;
LINSTAB_API linstab_status linstab_family_workspace_alloc(const linstab_family *f,
                                                          linstab_family_workspace **out,
                                                          linstab_error *err);
LINSTAB_API void linstab_family_workspace_free(linstab_family_workspace *w);

/*
 * linstab_family_sandwich through a workspace of the same family f: the
 * same numbers, bit for bit, and no allocation.  Y (d x d) overwritten.
 * Errors: LINSTAB_EINVAL when w was allocated for another family;
 * LINSTAB_ELAPACK when a k x k block's eigensolve fails (factored families
 * with k > 1 and k d^2 >= 2^17, e.g. NaN entries in X).
 */
LINSTAB_API linstab_status linstab_family_sandwich_ws(const linstab_family *f,
                                                      linstab_family_workspace *w,
                                                      const double *X, double *Y,
                                                      linstab_error *err);

/*
 * The same for X positive definite (e.g. the restricted mean Hessian):
 * through the Cholesky factor of X, about half the flops on dense and
 * rank-one factored families; the general path when X is not positive
 * definite.
 */
LINSTAB_API linstab_status linstab_family_sandwich_psd(const linstab_family *f, const double *X,
                                                       double *Y, linstab_error *err);

/*
 * Rank-one families only: Y = (1/n) sum_i w_i u_i u_i' for weights w_i >= 0
 * (d x d, overwritten), one SYRK of the stored rows scaled by sqrt(w_i).
 * The moments (w_i = ||u_i||^{2(k-1)}) and the sandwiches (w_i = u_i'Xu_i)
 * of rank-one families are all of this form.
 */
LINSTAB_API linstab_status linstab_family_rank_one_weighted(const linstab_family *f, const double *w, double *Y,
                                                            linstab_error *err);

/*
 * The same with the factor given: L (d x d, row-major, lower triangular)
 * with X = L L', e.g. from linstab_sym_cholesky_lower.
 */
LINSTAB_API linstab_status linstab_family_sandwich_chol(const linstab_family *f, const double *X,
                                                        const double *L, double *Y, linstab_error *err);

/*
 * The matrix of X -> (1/n) sum_i H_i X H_i on Sym(d) in svec coordinates
 * (operator.h): m x m with m = d(d+1)/2, symmetric, overwritten.
 * Dense: from the Gram matrix of the entries (d^4 n flops); factored:
 * (1/n) sum_i Phi_i Phi_i' with Phi_i(C) = U_i C U_i' (m^2 n k(k+1)/2);
 * diagonal: the diagonal matrix of (D'D/n)_jk.
 */
LINSTAB_API linstab_status linstab_family_sandwich_svec(const linstab_family *f, double *Ms,
                                                        linstab_error *err);

/* Gram matrix G_ij = tr(H_i H_j) (n x n, overwritten). */
LINSTAB_API linstab_status linstab_family_gram(const linstab_family *f, double *G,
                                               linstab_error *err);

/*
 * The Gram matrix and, for factored families, Q (n blocks of k x k,
 * row-major; NULL: not wanted): Q_i = U_i' H U_i with H the family's mean,
 * from the same blocks U_i'U_j of W'W (Q_i = (1/n) sum_j (U_i'U_j)(U_i'U_j)'),
 * so that the sandwich (1/n) sum_i H_i H H_i = (1/n) sum_i U_i Q_i U_i'
 * needs no product with H (linstab_family_factored_weighted).
 * Errors: LINSTAB_EINVAL (Q for a family that is not factored), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_family_gram_quad(const linstab_family *f, double *G, double *Q,
                                                    linstab_error *err);

/*
 * Factored families: Y = (1/n) sum_i U_i Q_i U_i' (d x d, overwritten) for
 * symmetric k x k blocks Q_i (n blocks, row-major; k = 1: n weights of
 * either sign), as SYRKs of the factors turned to each Q_i's eigenbasis
 * and scaled by the square roots of |eigenvalue| (n k d^2 flops).
 * Errors: LINSTAB_EINVAL (not factored), LINSTAB_ENOMEM, LINSTAB_ELAPACK.
 */
LINSTAB_API linstab_status linstab_family_factored_weighted(const linstab_family *f, const double *Q, double *Y,
                                                            linstab_error *err);

/* Largest eigenvalue of each H_i into lam (length n). */
LINSTAB_API linstab_status linstab_family_sample_lambda1(const linstab_family *f, double *lam,
                                                         linstab_error *err);

/*
 * Range restriction.  Computes an orthonormal basis of range(H) (of
 * range(M_2) when use_m2: the span of all ranges, needed for indefinite
 * families) with relative tolerance rtol on the eigenvalues of H
 * (rtol <= 0: d * DBL_EPSILON, numpy's matrix_rank rule, for H; 32 d *
 * DBL_EPSILON for M_2, whose products leave its null eigenvalues at a few
 * d * DBL_EPSILON), and returns the
 * family expressed in that basis (OUT *out, owned by the caller) and its
 * rank (OUT *rank).  The basis is the eigenbasis of H (decreasing
 * eigenvalues), so the restricted mean is diagonal; when the rank is d and
 * rotate is 0, *out is instead an unrotated copy of f (cheaper for dense
 * families when only spectral quantities are needed).  With use_m2 the
 * basis is the eigenbasis of M_2, NOT of H: H is then not diagonal in it
 * (linstab_family_rotate_mean turns it so).  Diagonal families
 * stay diagonal: the basis is the support coordinates (in decreasing order
 * of H's diagonal when rotate is set).  A family whose H is zero has
 * no range: LINSTAB_EDATA.  Q_out (may be NULL): OUT d x rank basis,
 * allocated, caller frees with free().
 */
LINSTAB_API linstab_status linstab_family_restrict(const linstab_family *f, double rtol,
                                                   int use_m2, int rotate, linstab_family **out,
                                                   size_t *rank, double **Q_out,
                                                   linstab_error *err);

/*
 * The same family in the eigenbasis of its mean H, every eigenvalue kept
 * (H may be indefinite or singular: nothing is dropped, only the basis
 * turns; columns in decreasing order of H's eigenvalues).  Used after a
 * restriction to range(M_2), where H is not diagonal, and for the SAM
 * family K_i = H_i + rho H_i^2.  Diagonal families are permuted, not
 * rotated.  OUT *out: a new family owned by the caller (free with
 * linstab_family_free); f is not modified.  Errors: LINSTAB_ENOMEM,
 * LINSTAB_ELAPACK.
 */
LINSTAB_API linstab_status linstab_family_rotate_mean(const linstab_family *f, linstab_family **out,
                                                      linstab_error *err);

/*
 * The same without rotation, for a family the caller owns: *f is replaced
 * by its restriction (the original freed) or, when range(H) is all of
 * R^d, kept as it is -- no copy of a large family.  The restricted
 * family's ambient dimension is that of its range: read
 * linstab_family_ambient_dim before the call.
 * OUT (optional, may be NULL): when *f was kept and use_m2 = 0, *H = its
 * mean Hessian (d x d, the caller frees) and *lambda1 = lambda1(H) when
 * the rank test computed it (else NaN); otherwise NULL and NaN.  Both
 * feed linstab_moments_compute_take.
 */
LINSTAB_API linstab_status linstab_family_restrict_take(linstab_family **f, double rtol, int use_m2,
                                                         size_t *rank, double **H, double *lambda1,
                                                         linstab_error *err);

/*
 * The restricted factored family from the Gram matrix of its factors alone:
 * G (n k x n k, row-major, symmetric PSD) with blocks G_ij = U_i'U_j of a
 * family H_i = U_i U_i' (U_i d_full x k).  With G = V diag(g) V', the
 * eigenvalues of H = W W'/n are g/n and the factors in the eigenbasis of H
 * are diag(g_r)^{-1/2} V_r' G[:, block i] -- the family of
 * linstab_family_restrict (rotated, decreasing eigenvalues, rank by the
 * same rule with d = d_full), without the d_full x n k factors.  Used for
 * the Gauss-Newton Hessians of networks with many parameters, whose Gram
 * matrix is the NTK (linstab_mlp_ntk_gram).  OUT *out (d_full recorded),
 * *rank.
 */
LINSTAB_API linstab_status linstab_family_from_gram(size_t n, size_t k, size_t d_full, const double *G,
                                                    double rtol, linstab_family **out, size_t *rank,
                                                    linstab_error *err);

/*
 * A family restricted to the space where stability is decided -- range(H)
 * for PSD families, range(M_2) (the span of every range(H_i)) for indefinite
 * ones -- and rotated into H's eigenbasis there, so that H = diag(l) exactly
 * up to rounding.  On an indefinite family l can hold negative and zero
 * eigenvalues (range(M_2) is larger than range(H)).
 */
typedef struct linstab_rotated {
    linstab_family *f;
    double *l;    /* eigenvalues of H on that space, decreasing (f->d of them) */
    size_t d_full;
    int m2_range; /* 1: the space is range(M_2) (indefinite family) */
} linstab_rotated;

/*
 * Restrict f (rank tolerance rank_rtol, <= 0: the default) to range(H), or
 * to range(M_2) when use_m2 (required for indefinite families), and rotate
 * it into H's eigenbasis.  OUT *out (release with linstab_family_rotated_clear).
 * Errors: LINSTAB_EDATA (no range), LINSTAB_ENOMEM, LINSTAB_ELAPACK.
 */
LINSTAB_API linstab_status linstab_family_rotated_make(const linstab_family *f, double rank_rtol,
                                                int use_m2, linstab_rotated *out,
                                                linstab_error *err);
LINSTAB_API void linstab_family_rotated_clear(linstab_rotated *rf);

/*
 * The rotated family of g, taking g over (g is freed, also on failure):
 * when turn, g is first rotated into the eigenbasis of its mean
 * (linstab_family_rotate_mean); then H = diag(l) in g's basis.  d_full is
 * the ambient dimension recorded in out; out->m2_range is left 0.
 * OUT *out (release with linstab_family_rotated_clear).
 */
LINSTAB_API linstab_status linstab_family_rotated_take(linstab_family *g, int turn, size_t d_full,
                                                       linstab_rotated *out, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
