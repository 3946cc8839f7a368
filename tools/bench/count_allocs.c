/*
 * count_allocs.c -- how many allocations one application of a
 * second-moment operator makes (issue 11, item 4: "no allocation inside an
 * iterative solver's loop"), and how many a whole matrix-free radius and
 * critical eta make.  malloc, calloc, realloc and the aligned allocators
 * are interposed in this executable (so every library it loads -- liblinstab,
 * OpenBLAS, libgomp -- goes through them) and counted; glibc's __libc_*
 * entry points do the work.  Built and run by count_allocs.sh; not a test
 * of the suite.  -DOLD_APPLY builds it against the void apply callbacks of
 * the tree before the change, for comparison.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/critical.h"
#include "linstab/eigen.h"
#include "linstab/family.h"
#include "linstab/secmom.h"
#if __has_include("linstab/optimizer.h") /* one optimizer enum (issue 11, item 5) */
#include "linstab/optimizer.h"
#define SM_SGD LINSTAB_OPT_SGD
#define SM_SAM_INDEP LINSTAB_OPT_SAM_INDEP
typedef linstab_optimizer sm_method;
#else
#define SM_SGD LINSTAB_METHOD_SGD
#define SM_SAM_INDEP LINSTAB_METHOD_SAM_INDEP
typedef linstab_method sm_method;
#endif

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

static atomic_ullong n_alloc, n_bytes;

void *malloc(size_t s)
{
    atomic_fetch_add(&n_alloc, 1);
    atomic_fetch_add(&n_bytes, s);
    return __libc_malloc(s);
}
void *calloc(size_t a, size_t b)
{
    atomic_fetch_add(&n_alloc, 1);
    atomic_fetch_add(&n_bytes, a * b);
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t s)
{
    atomic_fetch_add(&n_alloc, 1);
    atomic_fetch_add(&n_bytes, s);
    return __libc_realloc(p, s);
}
void *memalign(size_t al, size_t s)
{
    atomic_fetch_add(&n_alloc, 1);
    atomic_fetch_add(&n_bytes, s);
    return __libc_memalign(al, s);
}
void *aligned_alloc(size_t al, size_t s) { return memalign(al, s); }
int posix_memalign(void **p, size_t al, size_t s)
{
    *p = memalign(al, s);
    return *p ? 0 : 12;
}
void free(void *p) { __libc_free(p); }

static linstab_family *make_family(linstab_family_kind kind, size_t n, size_t d, size_t k)
{
    linstab_family *f = NULL;
    linstab_error err;
    if (linstab_family_alloc(kind, n, d, k, &f, &err) != LINSTAB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    size_t len = linstab_family_data_len(f);
    unsigned long long x = 12345;
    for (size_t j = 0; j < len; j++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        f->data[j] = (double)(x >> 11) / 9007199254740992.0 - 0.3;
    }
    if (kind == LINSTAB_FAMILY_DENSE) /* H_i = A_i A_i' / d: symmetric PSD */
        for (size_t i = 0; i < n; i++) {
            double *A = f->data + i * d * d, *S = calloc(d * d, sizeof *S);
            for (size_t a = 0; a < d; a++)
                for (size_t b = 0; b < d; b++)
                    for (size_t c = 0; c < d; c++) S[a * d + b] += A[a * d + c] * A[b * d + c] / (double)d;
            memcpy(A, S, d * d * sizeof *S);
            free(S);
        }
    if (kind == LINSTAB_FAMILY_DIAGONAL)
        for (size_t j = 0; j < len; j++) f->data[j] = fabs(f->data[j]);
    return f;
}

static int apply(linstab_operator *op, const double *x, double *y, int adjoint)
{
#ifdef OLD_APPLY
    (adjoint ? op->apply_adjoint : op->apply)(x, y, op->ctx);
    return 0;
#else
    linstab_error err;
    int st = (adjoint ? op->apply_adjoint : op->apply)(x, y, op->ctx, &err);
    if (st != LINSTAB_OK) fprintf(stderr, "apply: %s\n", err.msg);
    return st;
#endif
}

static void per_apply(const char *name, linstab_family *f0, sm_method method, int adjoint)
{
    linstab_rotated rf;
    linstab_error err;
    if (linstab_family_rotated_make(f0, 0.0, 0, &rf, &err) != LINSTAB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    linstab_secmom *s = NULL;
    if (linstab_secmom_alloc(rf.f, rf.l, method, 0.5 / rf.l[0], 0.1 / rf.l[0], 0.9, 0.1, &s, &err) != LINSTAB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    linstab_operator op = linstab_secmom_operator(s);
    double *x = malloc(op.dim * sizeof *x), *y = malloc(op.dim * sizeof *y);
    for (size_t j = 0; j < op.dim; j++) x[j] = 1.0 / (1.0 + (double)j);
    int reps = 20;
    apply(&op, x, y, adjoint); /* the first call: BLAS and OpenMP warm up */
    unsigned long long a0 = n_alloc, b0 = n_bytes;
    for (int r = 0; r < reps; r++) apply(&op, x, y, adjoint);
    unsigned long long da = n_alloc - a0, db = n_bytes - b0;
    printf("%-44s r=%-4zu allocations/apply %6.2f  bytes/apply %12.0f\n", name, rf.f->d, (double)da / reps,
           (double)db / reps);
    free(x);
    free(y);
    linstab_secmom_free(s);
    linstab_family_rotated_clear(&rf);
}

/* A whole matrix-free solve: the count should not grow with its iterations. */
static void per_solve(const char *name, linstab_family *f0)
{
    linstab_rotated rf;
    linstab_error err;
    if (linstab_family_rotated_make(f0, 0.0, 0, &rf, &err) != LINSTAB_OK) exit(1);
    linstab_eigen_opts o = linstab_eigen_defaults();
    o.path = LINSTAB_EIGEN_ARPACK;
    double eta = 0.0, rad = 0.0;
    unsigned long long a0 = n_alloc;
    if (linstab_critical_eta(rf.f, rf.l, 0.9, 0.1, &o, &eta, &err) != LINSTAB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    unsigned long long a1 = n_alloc;
    if (linstab_secmom_radius_at(rf.f, rf.l, SM_SGD, 0.9 * eta, 0.0, 0.9, 0.1, &o, &rad, &err) !=
        LINSTAB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    unsigned long long a2 = n_alloc;
    printf("%-44s r=%-4zu critical eta: %6llu allocations (eta* %.12g); radius at 0.9 eta*: %6llu (%.12g)\n", name,
           rf.f->d, a1 - a0, eta, a2 - a1, rad);
    linstab_family_rotated_clear(&rf);
}

int main(void)
{
    linstab_family *fac = make_family(LINSTAB_FAMILY_FACTORED, 400, 60, 4);
    linstab_family *den = make_family(LINSTAB_FAMILY_DENSE, 60, 20, 20);
    linstab_family *dia = make_family(LINSTAB_FAMILY_DIAGONAL, 400, 60, 1);
    per_apply("factored n=400 d=60 k=4, SGD", fac, SM_SGD, 0);
    per_apply("factored n=400 d=60 k=4, SAM independent", fac, SM_SAM_INDEP, 0);
    per_apply("factored n=400 d=60 k=4, SAM indep. adjoint", fac, SM_SAM_INDEP, 1);
    per_apply("dense n=60 d=20, SGD", den, SM_SGD, 0);
    per_apply("dense n=60 d=20, SAM independent", den, SM_SAM_INDEP, 0);
    per_apply("diagonal n=400 d=60, SGD", dia, SM_SGD, 0);
    per_solve("factored n=400 d=60 k=4 (ARPACK)", fac);
    per_solve("dense n=60 d=20 (ARPACK)", den);
    linstab_family_free(fac);
    linstab_family_free(den);
    linstab_family_free(dia);
    return 0;
}
