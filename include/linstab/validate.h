/*
 * validate.h -- every published stability bound against the exact answer
 * (docs/math.md §3-5).  A bound is a claim "condition => verdict on the
 * exact mean-square radius"; a claim whose condition holds ("fires") while
 * the exact radius says the opposite is a counterexample.
 *
 *   claim         stated as          fires when                       exact radius checked
 *   gd            necessary          lambda1(H) > 2/eta => unstable   SGD at (B, sampling)
 *   thm1_bern     sufficient (div.)  Dexter Thm 1 => unstable         SGD at (B, Bernoulli)
 *   thm1_without  sufficient (div.)  the same, uniform B-subsets      SGD at (B, without)
 *   thm9          sufficient         Shin Thm 9 lambda_max(P) <= 1    SAM 'same' at B = 1, with
 *                                    => stable
 *   eq7_sharp     necessary          Shin (7) a(1 + rho a) > 2/eta    SAM 'same' at B = 1, with
 *   eq7_s2..s4    heuristic          Shin (7) s_k condition violated  SAM 'same' at B = 1, with
 *   thm41         necessary          Zhou Thm 4.1 violated, as stated SAM 'independent' at (B, sampling)
 *   thm41_corr    necessary          the same with B_eff              SAM 'independent' at (B, sampling)
 *
 * A radius within rounding of 1 (verdict.h: marginal) contradicts no
 * claim: "unstable" is contradicted by a stable radius only, "stable" by an
 * unstable one only.
 *
 * linstab_validate_claims gives the table for one family at one set of
 * hyper-parameters; linstab_validate_random draws random families and
 * hyper-parameters, counts per claim how often it applies, fires, agrees,
 * measures tightness, and hands every counterexample to a callback (what
 * `linstab validate` prints and saves).  The library never writes files.
 */
#ifndef LINSTAB_VALIDATE_H
#define LINSTAB_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/bounds.h"
#include "linstab/exact.h"
#include "linstab/export.h"
#include "linstab/optimizer.h"
#include "linstab/family.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "linstab/simulate.h"
#include "linstab/error.h"
#include "linstab/verdict.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The claims, in the order of the table above. */
typedef enum linstab_validate_claim_id {
    LINSTAB_VALIDATE_GD = 0,
    LINSTAB_VALIDATE_THM1_BERN,
    LINSTAB_VALIDATE_THM1_WITHOUT,
    LINSTAB_VALIDATE_THM9,
    LINSTAB_VALIDATE_EQ7_SHARP,
    LINSTAB_VALIDATE_EQ7_S2,
    LINSTAB_VALIDATE_EQ7_S3,
    LINSTAB_VALIDATE_EQ7_S4,
    LINSTAB_VALIDATE_THM41,
    LINSTAB_VALIDATE_THM41_CORR
} linstab_validate_claim_id;

#define LINSTAB_VALIDATE_CLAIMS 10

/* The claim's short name ("gd", "thm1_bern", ...) and how its paper states
 * it ("necessary", "sufficient (div.)", "sufficient", "heuristic"); static
 * strings, "?" for an id out of range. */
LINSTAB_API const char *linstab_validate_claim_name(linstab_validate_claim_id id);
LINSTAB_API const char *linstab_validate_claim_stated_as(linstab_validate_claim_id id);

typedef enum linstab_validate_outcome {
    LINSTAB_VALIDATE_HOLDS = 0, /* the exact radius agrees, or the bound did not fire */
    LINSTAB_VALIDATE_VIOLATED,  /* fired, and the exact radius contradicts it: a counterexample */
    LINSTAB_VALIDATE_NA         /* the claim says nothing here (see reason) */
} linstab_validate_outcome;

/* "holds", "violated", "n/a" (static). */
LINSTAB_API const char *linstab_validate_outcome_name(linstab_validate_outcome o);

#define LINSTAB_VALIDATE_REASON_LEN 200

/*
 * One row of the table.  bound and limit are the two sides of the claim's
 * condition:
 *   gd, thm1_*      bound lambda1(H), limit 2/eta (gd) or
 *                   min(2/eta, Theorem 1's threshold) (thm1): fires above
 *   thm9            bound lambda_max(P), limit 1: fires at or below (the
 *                   marginal rule of verdict.h)
 *   eq7_*, thm41*   bound the left-hand side, limit the right-hand side
 *                   (+INFINITY: vacuous): fires above
 * fired is the bounds module's own verdict (linstab_bounds), not a
 * comparison redone here.
 */
typedef struct linstab_validate_claim {
    linstab_validate_claim_id id;
    const char *name;       /* linstab_validate_claim_name(id) */
    const char *stated_as;  /* linstab_validate_claim_stated_as(id) */
    double bound, limit;
    int fired;
    double exact;                  /* the exact radius the claim is about */
    linstab_verdict exact_verdict; /* its verdict (verdict.h) */
    linstab_validate_outcome outcome;
    char reason[LINSTAB_VALIDATE_REASON_LEN]; /* one line, with the numbers */
    /* where the exact radius was computed (what reproduces it) */
    linstab_optimizer dynamics;    /* SGD, SAM_SAME or SAM_INDEP */
    size_t batch;
    linstab_sampling sampling;
} linstab_validate_claim;

/* The table for one family at one set of hyper-parameters. */
typedef struct linstab_validate_case {
    linstab_hyper h;
    linstab_validate_claim claims[LINSTAB_VALIDATE_CLAIMS]; /* indexed by claim id */
    double sgd_critical_eta;  /* exact eta* of SGD at (B, sampling) */
    double thm1_tightness;    /* min(2/eta, Theorem 1's threshold under Bernoulli)
                               * over the exact critical sharpness lambda1(H) eta* / eta
                               * (Bernoulli, >= 1 when the theorem is sound); NaN at
                               * B = n or when that eta* could not be computed */
    double thm9_tightness;    /* lambda_max(P) over the exact SAM radius ('same',
                               * B = 1, >= 1); NaN when that radius is 0 */
} linstab_validate_case;

/*
 * The claims for the rotated family rf (linstab_family_rotated_make of a PSD
 * family), its moments m (linstab_moments_compute(rf->f)) and geometry g
 * (linstab_geometry_compute(rf->f, m, ...)) at hyper-parameters h (rho
 * may be 0: SAM is then SGD).  Computes the bounds at h, under Bernoulli
 * sampling and at (B = 1, with replacement), the exact radii of SGD
 * (sampling in use and Bernoulli), SAM 'same' at B = 1 and SAM
 * 'independent', and SGD's eta* (default eigen options).  Borrows rf, m,
 * g; OUT *out (every field written).  Errors: LINSTAB_EINVAL (h, see
 * linstab_bounds_hyper_check), LINSTAB_ENOMEM, LINSTAB_ELAPACK,
 * LINSTAB_ENOCONV.
 */
LINSTAB_API linstab_status linstab_validate_claims(const linstab_rotated *rf, const linstab_moments *m,
                                                   const linstab_geometry *g, const linstab_hyper *h,
                                                   linstab_validate_case *out, linstab_error *err);

/*
 * The same from a family f (PSD, validated): restricts it to range(H) at the
 * default rank tolerance, computes its moments and geometry, then
 * linstab_validate_claims.  Borrows f; allocates and frees its
 * intermediates.  OUT *out.  Errors: those of linstab_family_rotated_make and
 * linstab_validate_claims.
 */
LINSTAB_API linstab_status linstab_validate_family(const linstab_family *f, const linstab_hyper *h,
                                                   linstab_validate_case *out, linstab_error *err);

/* Per claim over the cases of linstab_validate_random. */
typedef struct linstab_validate_tally {
    size_t checked;         /* cases where the claim applies (outcome != NA) */
    size_t fired;           /* ... and the bound fired */
    size_t agree;           /* outcome HOLDS */
    size_t counterexamples; /* outcome VIOLATED */
} linstab_validate_tally;

/* A counterexample, handed to linstab_validate_params.counterexample. */
typedef struct linstab_validate_cex {
    size_t case_index;                    /* 0 .. count-1 */
    const linstab_family *family;         /* borrowed, valid during the call only */
    const linstab_validate_case *vcase;   /* borrowed, idem */
    const linstab_validate_claim *claim;  /* the violated row of vcase */
} linstab_validate_cex;

typedef struct linstab_validate_params {
    const linstab_gen_kind *kinds; /* generators drawn in turn (case t uses
                                    * kinds[t % nkinds]); RANK1, LOWRANK,
                                    * WISHART or ALIGNED */
    size_t nkinds;                 /* >= 1 */
    size_t count;                  /* number of cases, >= 1 */
    uint64_t seed;                 /* same seed, same cases, same summary */
    /* optional (NULL: none): called for every counterexample in order;
     * a status other than LINSTAB_OK (with err set) stops the run after the
     * current case, whose tallies are complete, and is returned; no further
     * call is made */
    linstab_status (*counterexample)(const linstab_validate_cex *cex, void *ctx, linstab_error *err);
    /* optional: called after each case (done = 1 .. count) */
    void (*progress)(size_t done, size_t total, void *ctx);
    void *ctx;
} linstab_validate_params;

/* The parameters of `linstab validate` by default: the four generators,
 * 200 cases, seed 0, no callbacks. */
LINSTAB_API linstab_validate_params linstab_validate_defaults(void);

typedef struct linstab_validate_summary {
    size_t count;                                     /* cases run */
    linstab_validate_tally tally[LINSTAB_VALIDATE_CLAIMS]; /* indexed by claim id */
    size_t thm1_cases, thm9_cases;                    /* cases with a tightness */
    double thm1_min, thm1_median, thm1_max;           /* of thm1_tightness (NaN: none) */
    double thm9_min, thm9_median, thm9_max;           /* of thm9_tightness (NaN: none) */
} linstab_validate_summary;

/*
 * Draw p->count random cases -- case t from linstab_rng_stream(seed, t): a
 * family of the kind in turn with n in [3, 12], d in [2, 6], its rank and
 * noise, then B, the sampling, eta = u 2/lambda1(H) with u log-uniform in
 * [0.05, 1.5], rho = u/lambda1(H) with u log-uniform in [0.01, 3] (0 with
 * probability 1/4) -- run linstab_validate_claims on each and summarize.
 * The median is the element at index k/2 of the k sorted values.  Borrows
 * p; OUT *out (written on success).  Errors: LINSTAB_EINVAL (p), those of
 * linstab_generate, linstab_family_validate and linstab_validate_claims
 * (the run stops at the first), LINSTAB_ENOMEM, and the callback's.
 */
LINSTAB_API linstab_status linstab_validate_random(const linstab_validate_params *p,
                                                   linstab_validate_summary *out, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
