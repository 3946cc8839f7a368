/*
 * exact.h -- what is exactly true: mean-square radius and critical values
 * of SGD and SAM, and the almost-sure (Lyapunov) exponent, for a family at
 * (eta, B, rho, sampling).  The orchestration behind `linstab check`'s
 * "exact" section and `linstab critical`.
 *
 * SAM: 'independent' batches for every B and sampling; 'same' batch at
 * B = 1 (with / without replacement: SGD on K_i = H_i + rho H_i^2), at
 * B = n without replacement (full batch), and at any other B through the
 * set-partition moment expansion (samsame.h) when the rank is at most
 * LINSTAB_SAMSAME_MAX_R.  Cases beyond are reported as unavailable, never
 * approximated.
 */
#ifndef LINSTAB_EXACT_H
#define LINSTAB_EXACT_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/bounds.h"
#include "linstab/eigen.h"
#include "linstab/export.h"
#include "linstab/family.h"
#include "linstab/lyapunov.h"
#include "linstab/status.h"
#include "linstab/verdict.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_sam_variant {
    LINSTAB_SAM_SAME = 0,
    LINSTAB_SAM_INDEPENDENT
} linstab_sam_variant;

LINSTAB_API const char *linstab_sam_variant_name(linstab_sam_variant v);
LINSTAB_API linstab_status linstab_sam_variant_parse(const char *s, linstab_sam_variant *v,
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
 * it into H's eigenbasis.  OUT *out (release with linstab_rotated_clear).
 * Errors: LINSTAB_EDATA (no range), LINSTAB_ENOMEM, LINSTAB_ELAPACK.
 */
LINSTAB_API linstab_status linstab_rotated_make(const linstab_family *f, double rank_rtol,
                                                int use_m2, linstab_rotated *out,
                                                linstab_error *err);
LINSTAB_API void linstab_rotated_clear(linstab_rotated *rf);

typedef struct linstab_exact_opts {
    linstab_eigen_opts eigen;
    size_t lyap_runs, lyap_steps; /* Monte Carlo Lyapunov (0: 8 runs, 2000 steps) */
    uint64_t seed;
    int skip_lyapunov;
    size_t lemma_k; /* Dexter Lemma 4.1 terms k = 1..lemma_k (0: 10; <= LINSTAB_LEMMA_KMAX) */
    /* optional: called before each stage (stage 0..LINSTAB_EXACT_STAGES-1,
     * its name) and once with stage = LINSTAB_EXACT_STAGES when done; the
     * library never prints, a command line shows a progress bar with it */
    void (*progress)(int stage, const char *name, void *ctx);
    void *progress_ctx;
} linstab_exact_opts;

#define LINSTAB_EXACT_STAGES 8

#define LINSTAB_LEMMA_KMAX 64

LINSTAB_API linstab_exact_opts linstab_exact_defaults(void);

typedef struct linstab_exact {
    double sgd_radius;
    int sgd_stable;               /* sgd_verdict is STABLE or MARGINAL */
    linstab_verdict sgd_verdict;  /* the rule of verdict.h */
    double radius_tol;            /* the tolerance of that rule for SGD's radius */
    double sgd_eta_star;          /* mean-square critical eta at (B, sampling);
                                   * 0: no eta > 0 is stable (l_j <= 0) */
    size_t sgd_critical_batch;    /* smallest stable B at eta; 0: none <= n */
    int sam_available;
    linstab_sam_variant sam_variant;
    double sam_radius;
    int sam_stable;               /* sam_verdict is STABLE or MARGINAL */
    linstab_verdict sam_verdict;
    double sam_radius_tol;
    double sam_eta_star;          /* at (B, rho); 0: no eta > 0 is stable (the
                                   * mean step I - eta K has K with an
                                   * eigenvalue <= 0) */
    double sam_critical_rho;      /* sup of stable rho at eta; NaN: unstable at rho = 0 */
    int sam_rho_monotone;
    linstab_lyap lyap;            /* of the dynamics run: SGD if rho = 0, else SAM */
    int lyap_done;
    size_t lemma_k;               /* Dexter Lemma 4.1 (Bernoulli sampling, on the range): */
    double lemma_trace[LINSTAB_LEMMA_KMAX]; /* tr(T^k(I)) = E||J_k...J_1||_F^2       */
    double lemma_lower[LINSTAB_LEMMA_KMAX]; /* c^k tr(N^k(I)), c = eta^2/(nB) - eta^2/n^2 */
} linstab_exact;

/*
 * Dexter et al. Lemma 4.1 quantities for SGD with Bernoulli sampling on the range:
 * trace[k-1] = tr(T^k(I)) exactly and lower[k-1] = c^k tr(N^k(I)) with
 * N(X) = sum_i H_i X H_i, the lemma's lower-bound term (k = 1..K).
 */
LINSTAB_API linstab_status linstab_lemma41(const linstab_rotated *rf, double eta, size_t batch,
                                           size_t K, double *trace, double *lower,
                                           linstab_error *err);

/*
 * Mean-square radius of linearized SGD at (eta, B, sampling) on a rotated
 * family: radius(T) of secmom.h's T with the sampling coefficients (a, b)
 * of sampling.h (docs/math.md §3).  The one composition of "SGD's exact
 * radius" for every command.  Borrows rf; opts may be NULL (the defaults).
 * OUT *radius.  Errors: LINSTAB_ENOMEM, LINSTAB_ELAPACK, LINSTAB_ENOCONV
 * (matrix-free path).
 */
LINSTAB_API linstab_status linstab_sgd_radius(const linstab_rotated *rf, double eta, size_t batch,
                                              linstab_sampling sampling,
                                              const linstab_eigen_opts *opts, double *radius,
                                              linstab_error *err);

/* Radius of SAM (variant) at (eta, rho, B, sampling) on a rotated family. */
LINSTAB_API linstab_status linstab_sam_radius(const linstab_rotated *rf, linstab_sam_variant v,
                                              double eta, double rho, size_t batch,
                                              linstab_sampling sampling,
                                              const linstab_eigen_opts *opts, double *radius,
                                              linstab_error *err);

/* SAM's mean-square critical eta at (rho, B, sampling) (OUT *eta_star). */
LINSTAB_API linstab_status linstab_sam_eta_star(const linstab_rotated *rf,
                                                linstab_sam_variant variant, double rho,
                                                size_t batch, linstab_sampling sampling,
                                                const linstab_eigen_opts *opts, double *eta_star,
                                                linstab_error *err);

/* 1 if SAM (variant) at (B, sampling) has an exact operator (for some rank). */
LINSTAB_API int linstab_sam_available(linstab_sam_variant v, size_t n, size_t batch,
                                      linstab_sampling sampling);
/* ... and for a restricted family of this rank ('same' at general B is dense
 * on the r^2 vec space: rank <= LINSTAB_SAMSAME_MAX_R). */
LINSTAB_API int linstab_sam_available_rank(linstab_sam_variant v, size_t n, size_t rank,
                                           size_t batch, linstab_sampling sampling);

/*
 * The tolerance of verdict.h for a radius of T on rf at (eta, rho): T
 * has dimension r(r+1)/2 and entries of size (1 + eta k)^2, k the largest
 * |l_j| + rho l_j^2; the matrix-free path adds ARPACK's tolerance.  eo may
 * be NULL (the defaults).  What linstab_exact_compute uses.
 */
LINSTAB_API double linstab_exact_radius_tol(const linstab_rotated *rf, double eta, double rho,
                                            const linstab_eigen_opts *eo);

LINSTAB_API linstab_status linstab_exact_compute(const linstab_rotated *rf,
                                                 const linstab_hyper *h,
                                                 linstab_sam_variant variant,
                                                 const linstab_exact_opts *opts,
                                                 linstab_exact *out, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
