/*
 * family.c -- the Hessian family (docs/math.md §1): storage, loading,
 * validation, and the primitives every consumer builds on (H_i x, the mean
 * H, moments M_k, sandwiches (1/n) sum H_i X H_i, the Gram matrix
 * tr(H_i H_j), range restriction), each with a fast path per
 * representation.
 *
 * Factored families are processed through the gathered matrix
 * W = [U_1 ... U_n] (d x nk), so that sums over samples become single
 * level-3 BLAS calls:  H = W W'/n,  M_k = W P_k'/n with P_k = [U_i C_i^{k-1}]
 * and C_i = U_i'U_i (k x k), and tr(H_i H_j) = ||U_i'U_j||_F^2 from blocks
 * of W'W.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "internal.h"
#include "linstab/family.h"
#include "linstab/linalg.h"

const char *linstab_family_kind_name(linstab_family_kind kind)
{
    switch (kind) {
    case LINSTAB_FAMILY_DENSE: return "dense";
    case LINSTAB_FAMILY_FACTORED: return "factored";
    case LINSTAB_FAMILY_DIAGONAL: return "diagonal";
    }
    return "unknown";
}

size_t linstab_family_data_len(const linstab_family *f)
{
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE: return f->n * f->d * f->d;
    case LINSTAB_FAMILY_FACTORED: return f->n * f->d * f->k;
    case LINSTAB_FAMILY_DIAGONAL: return f->n * f->d;
    }
    return 0;
}

linstab_status linstab_family_alloc(linstab_family_kind kind, size_t n, size_t d, size_t k,
                                    linstab_family **out, linstab_error *err)
{
    *out = NULL;
    if (kind == LINSTAB_FAMILY_DENSE) k = d;
    if (kind == LINSTAB_FAMILY_DIAGONAL) k = 1;
    if (n == 0 || d == 0 || k == 0)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "family of %zu samples, dimension %zu, width %zu: sizes must be >= 1",
                                 n, d, k);
    int ovf = 0;
    size_t len = mul_sz(mul_sz(n, d, &ovf), kind == LINSTAB_FAMILY_DIAGONAL ? 1 : k, &ovf);
    mul_sz(len, sizeof(double), &ovf);
    if (ovf)
        return linstab_error_set(err, LINSTAB_ENOMEM, "family of %zu x %zu x %zu is too large", n,
                                 d, k);
    linstab_family *f = calloc(1, sizeof *f);
    if (f == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
    f->data = calloc(len, sizeof(double));
    if (f->data == NULL) {
        free(f);
        return linstab_error_set(err, LINSTAB_ENOMEM,
                                 "family of %zu samples needs %.1f MB: out of memory", n,
                                 (double)len * 8.0 / 1e6);
    }
    f->kind = kind;
    f->n = n;
    f->d = d;
    f->k = k;
    *out = f;
    return LINSTAB_OK;
}

void linstab_family_free(linstab_family *f)
{
    if (f == NULL) return;
    free(f->data);
    free(f->lambda1);
    free(f);
}

linstab_status linstab_family_from_array(linstab_family_kind kind, linstab_array *arr,
                                         linstab_family **out, linstab_error *err)
{
    *out = NULL;
    size_t want = kind == LINSTAB_FAMILY_DIAGONAL ? 2 : 3;
    static const char *shapes[] = {"(n, d, d)", "(n, d, k)", "(n, d)"};
    if (arr->ndim != want)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "a %s family needs an array of shape %s, got %zu dimensions",
                                 linstab_family_kind_name(kind), shapes[kind], arr->ndim);
    for (size_t a = 0; a < arr->ndim; a++)
        if (arr->shape[a] == 0)
            return linstab_error_set(err, LINSTAB_EDATA, "axis %zu of the array has length 0", a);
    if (kind == LINSTAB_FAMILY_DENSE && arr->shape[1] != arr->shape[2])
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "a dense family needs shape (n, d, d), got (%zu, %zu, %zu)",
                                 arr->shape[0], arr->shape[1], arr->shape[2]);
    linstab_family *f = calloc(1, sizeof *f);
    if (f == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
    f->kind = kind;
    f->n = arr->shape[0];
    f->d = arr->shape[1];
    f->k = kind == LINSTAB_FAMILY_DIAGONAL ? 1 : arr->shape[2];
    f->data = arr->data;
    memset(arr, 0, sizeof *arr);
    *out = f;
    return LINSTAB_OK;
}

linstab_status linstab_family_load(const char *path, linstab_family_kind kind, size_t max_bytes,
                                   linstab_family **out, linstab_error *err)
{
    linstab_array arr = {0};
    linstab_status st = linstab_npy_read(path, max_bytes, &arr, err);
    if (st != LINSTAB_OK) return st;
    st = linstab_family_from_array(kind, &arr, out, err);
    if (st != LINSTAB_OK) {
        char msg[LINSTAB_ERROR_MSG_LEN] = "";
        if (err != NULL) memcpy(msg, err->msg, sizeof msg);
        linstab_array_free(&arr);
        return linstab_error_set(err, st, "%s: %s", path, msg);
    }
    return LINSTAB_OK;
}

linstab_status linstab_family_save(const linstab_family *f, const char *path, linstab_error *err)
{
    size_t shape[3] = {f->n, f->d, f->k};
    size_t ndim = f->kind == LINSTAB_FAMILY_DIAGONAL ? 2 : 3;
    return linstab_npy_write(path, f->data, ndim, shape, err);
}

/* ------------------------------------------------------------------ */
/* Per-sample access                                                   */

void linstab_family_apply(const linstab_family *f, size_t i, const double *x, double *y)
{
    size_t d = f->d, k = f->k;
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE:
        cblas_dsymv(CblasRowMajor, CblasUpper, (int)d, 1.0, f->data + i * d * d, (int)d, x, 1,
                    0.0, y, 1);
        break;
    case LINSTAB_FAMILY_FACTORED: {
        /* y = U (U' x), 16 columns of U at a time: no allocation, so the
         * call cannot fail (k <= 16, the usual case, is one block) */
        const double *U = f->data + i * d * k;
        double t[16];
        for (size_t c0 = 0; c0 < k; c0 += 16) {
            size_t w = k - c0 < 16 ? k - c0 : 16;
            cblas_dgemv(CblasRowMajor, CblasTrans, (int)d, (int)w, 1.0, U + c0, (int)k, x, 1, 0.0, t, 1);
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)d, (int)w, 1.0, U + c0, (int)k, t, 1, c0 ? 1.0 : 0.0,
                        y, 1);
        }
        break;
    }
    case LINSTAB_FAMILY_DIAGONAL: {
        const double *D = f->data + i * d;
        for (size_t j = 0; j < d; j++) y[j] = D[j] * x[j];
        break;
    }
    }
}

void linstab_family_sample_dense(const linstab_family *f, size_t i, double *out)
{
    size_t d = f->d, k = f->k;
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE: memcpy(out, f->data + i * d * d, d * d * sizeof *out); break;
    case LINSTAB_FAMILY_FACTORED:
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)d, (int)k, 1.0,
                    f->data + i * d * k, (int)k, 0.0, out, (int)d);
        linstab_sym_fill_lower(d, out);
        break;
    case LINSTAB_FAMILY_DIAGONAL:
        memset(out, 0, d * d * sizeof *out);
        for (size_t j = 0; j < d; j++) out[j * d + j] = f->data[i * d + j];
        break;
    }
}

/* W = [U_1 ... U_n], d x nk row-major (caller frees). */
static double *gather_factors(const linstab_family *f)
{
    size_t n = f->n, d = f->d, k = f->k, nk = n * k;
    double *W = malloc(d * nk * sizeof *W);
    if (W == NULL) return NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < d; r++)
            memcpy(W + r * nk + i * k, f->data + i * d * k + r * k, k * sizeof *W);
    return W;
}

/* C_i = U_i'U_i for every sample: n blocks of k x k (caller frees). */
static double *factor_grams(const linstab_family *f, const double *W)
{
    size_t n = f->n, d = f->d, k = f->k, nk = n * k;
    double *C = calloc(n * k * k, sizeof *C);
    if (C == NULL) return NULL;
    for (size_t i = 0; i < n; i++)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)d, 1.0,
                    W + i * k, (int)nk, W + i * k, (int)nk, 0.0, C + i * k * k, (int)k);
    return C;
}

/* P <- blockwise P_i C_i (P is d x nk gathered, C n blocks k x k). */
static void right_mul_blocks(size_t n, size_t d, size_t k, double *P, const double *C, double *tmp)
{
    size_t nk = n * k;
    for (size_t r = 0; r < d; r++) {
        double *row = P + r * nk;
        for (size_t i = 0; i < n; i++) {
            const double *Ci = C + i * k * k;
            for (size_t c = 0; c < k; c++) {
                double s = 0.0;
                for (size_t q = 0; q < k; q++) s += row[i * k + q] * Ci[q * k + c];
                tmp[c] = s;
            }
            memcpy(row + i * k, tmp, k * sizeof *tmp);
        }
    }
}

static linstab_status oom(linstab_error *err, const char *what)
{
    return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", what);
}

linstab_status linstab_family_mean(const linstab_family *f, double *H, linstab_error *err)
{
    double *M[1] = {H};
    return linstab_family_moments(f, 1, M, err);
}

/*
 * Per-sample sums of d x d matrices, spread over threads reproducibly: the
 * samples are cut into a fixed number of consecutive chunks (a function of
 * n and d, never of the thread count), each chunk is summed serially into
 * its own accumulators with one BLAS thread, and the chunks are added in
 * order.  Each sample's work stays in cache (no n d^2 temporaries, no
 * blockwise transposes).  FN(i, acc, work, ctx) adds sample i's terms to
 * acc[0..nacc-1] (upper triangles suffice); out[a] = scale * sum, full.
 */
typedef void (*sample_sum_fn)(size_t i, double *const *acc, double *work, const void *ctx);

#define SUM_MAX_CHUNKS 8
#define SUM_CHUNK_BYTES (256.0 * 1048576.0)

static linstab_status chunked_sample_sum(size_t n, size_t d, int nacc, size_t work_len,
                                         sample_sum_fn fn, const void *ctx, double scale,
                                         double *const *out, linstab_error *err)
{
    size_t dd = d * d;
    size_t nch = SUM_MAX_CHUNKS < n ? SUM_MAX_CHUNKS : n;
    double per = (double)nacc * (double)dd * sizeof(double);
    while (nch > 1 && (double)nch * per > SUM_CHUNK_BYTES) nch--;
    double *acc = alloc_touched(nch * (size_t)nacc * dd);
    if (acc == NULL) return oom(err, "per-sample sums");
    int failed = 0;
    int blas_threads = nch > 1 ? blas_threads_single() : -1;
#pragma omp parallel if (nch > 1)
    {
        double *work = work_len ? malloc(work_len * sizeof *work) : NULL;
        if (work_len && work == NULL) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t c = 0; c < nch; c++) {
            if (work_len && work == NULL) continue;
            double *a[4];
            for (int q = 0; q < nacc; q++) a[q] = acc + (c * (size_t)nacc + (size_t)q) * dd;
            for (size_t i = c * n / nch; i < (c + 1) * n / nch; i++) fn(i, a, work, ctx);
        }
        free(work);
    }
    blas_threads_restore(blas_threads);
    if (failed) {
        free(acc);
        return oom(err, "per-sample sums");
    }
    for (int q = 0; q < nacc; q++) {
        double *o = out[q];
        const double *a0 = acc + (size_t)q * dd;
        for (size_t j = 0; j < dd; j++) o[j] = a0[j];
        for (size_t c = 1; c < nch; c++) {
            const double *ac = acc + (c * (size_t)nacc + (size_t)q) * dd;
            for (size_t j = 0; j < dd; j++) o[j] += ac[j];
        }
        for (size_t j = 0; j < dd; j++) o[j] *= scale;
        linstab_sym_fill_lower(d, o);
    }
    free(acc);
    return LINSTAB_OK;
}

/* S = H_i^2 (SYRK), then M_2 += S, M_3 += S H_i, M_4 += S S' (upper halves). */
static void dense_power_terms(size_t i, double *const *acc, double *S, const void *ctx)
{
    const linstab_family *f = ctx;
    size_t d = f->d, dd = d * d;
    const double *Hi = f->data + i * dd;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)d, (int)d, 1.0, Hi, (int)d, 0.0, S, (int)d);
    linstab_sym_fill_lower(d, S);
    for (size_t j = 0; j < dd; j++) acc[0][j] += S[j];
    cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)d, (int)d, 1.0, S, (int)d, Hi, (int)d, 1.0, acc[1],
                (int)d);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)d, (int)d, 1.0, S, (int)d, 1.0, acc[2], (int)d);
}

static linstab_status moments_dense(const linstab_family *f, int kmax, double *const *M,
                                    linstab_error *err)
{
    size_t n = f->n, d = f->d, dd = d * d;
    const double *A = f->data; /* (n d) x d: the samples stacked vertically */
    double inv = 1.0 / (double)n;
    if (M[0] != NULL) {
        double *ones = malloc(n * sizeof *ones);
        if (ones == NULL) return oom(err, "mean Hessian");
        for (size_t i = 0; i < n; i++) ones[i] = inv;
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)n, (int)dd, 1.0, A, (int)dd, ones, 1, 0.0,
                    M[0], 1);
        free(ones);
        linstab_sym_symmetrize(d, M[0]);
    }
    if (kmax < 2 || (M[1] == NULL && (kmax < 3 || M[2] == NULL) && (kmax < 4 || M[3] == NULL)))
        return LINSTAB_OK;
    if (kmax == 2 || (M[2] == NULL && (kmax < 4 || M[3] == NULL))) {
        /* M_2 alone: sum_i H_i^2 = A'A since every H_i is symmetric */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)(n * d), inv, A, (int)d, 0.0, M[1],
                    (int)d);
        linstab_sym_fill_lower(d, M[1]);
        return LINSTAB_OK;
    }
    /* M_2, M_3, M_4 from S_i = H_i^2 per sample; absent outputs go to scratch */
    double *scratch = NULL;
    double *out[3];
    for (int p = 2; p <= 4; p++) {
        out[p - 2] = p <= kmax ? M[p - 1] : NULL;
        if (out[p - 2] == NULL && scratch == NULL && (scratch = malloc(dd * sizeof *scratch)) == NULL)
            return oom(err, "Hessian moments");
        if (out[p - 2] == NULL) out[p - 2] = scratch;
    }
    linstab_status st = chunked_sample_sum(n, d, 3, dd, dense_power_terms, f, inv, out, err);
    free(scratch);
    return st;
}

/*
 * Rank-one families (k = 1): the stored rows are u_i', i.e. the data is W'
 * (n x d), so every sum over samples is a SYRK on (scaled) rows of the
 * data itself -- no gathered copy.
 * M_p = (1/n) sum c_i^{p-1} u_i u_i' with c_i = ||u_i||^2.
 */
linstab_status linstab_family_rank_one_weighted(const linstab_family *f, const double *w, double *Y,
                                                linstab_error *err)
{
    size_t n = f->n, d = f->d;
    if (f->kind != LINSTAB_FAMILY_FACTORED || f->k != 1)
        return linstab_error_set(err, LINSTAB_EINVAL, "weighted sum: not a rank-one family");
    double *P = malloc(n * d * sizeof *P);
    if (P == NULL) return oom(err, "weighted rank-one sum");
    /* row i of P is u_i' sqrt(w_i): one SYRK on the scaled stored rows */
    for (size_t i = 0; i < n; i++) {
        double c = sqrt(fmax(w[i], 0.0));
        for (size_t j = 0; j < d; j++) P[i * d + j] = c * f->data[i * d + j];
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0 / (double)n, P, (int)d, 0.0, Y, (int)d);
    linstab_sym_fill_lower(d, Y);
    free(P);
    return LINSTAB_OK;
}

static linstab_status moments_rank_one(const linstab_family *f, int kmax, double *const *M,
                                       linstab_error *err)
{
    size_t n = f->n, d = f->d;
    double *s = malloc(n * sizeof *s), *w = malloc(n * sizeof *w);
    if (s == NULL || w == NULL) {
        free(s);
        free(w);
        return oom(err, "Hessian moments");
    }
    /* M_p = (1/n) sum_i s_i^{p-1} u_i u_i' with s_i = ||u_i||^2 */
    for (size_t i = 0; i < n; i++) {
        s[i] = cblas_ddot((int)d, f->data + i * d, 1, f->data + i * d, 1);
        w[i] = 1.0;
    }
    linstab_status st = LINSTAB_OK;
    for (int p = 1; p <= kmax && st == LINSTAB_OK; p++) {
        if (p > 1)
            for (size_t i = 0; i < n; i++) w[i] *= s[i];
        if (M[p - 1] != NULL) st = linstab_family_rank_one_weighted(f, w, M[p - 1], err);
    }
    free(s);
    free(w);
    return st;
}

static linstab_status moments_factored(const linstab_family *f, int kmax, double *const *M,
                                       linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k, nk = n * k;
    double inv = 1.0 / (double)n;
    if (k == 1) return moments_rank_one(f, kmax, M, err);
    double *W = gather_factors(f);
    if (W == NULL) return oom(err, "Hessian moments");
    if (M[0] != NULL) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)d, (int)nk, inv, W, (int)nk,
                    0.0, M[0], (int)d);
        linstab_sym_fill_lower(d, M[0]);
    }
    if (kmax < 2) {
        free(W);
        return LINSTAB_OK;
    }
    double *C = factor_grams(f, W);
    double *P = malloc(d * nk * sizeof *P);
    double *tmp = malloc(k * sizeof *tmp);
    if (C == NULL || P == NULL || tmp == NULL) {
        free(W);
        free(C);
        free(P);
        free(tmp);
        return oom(err, "Hessian moments");
    }
    memcpy(P, W, d * nk * sizeof *P);
    for (int p = 2; p <= kmax; p++) {
        right_mul_blocks(n, d, k, P, C, tmp); /* P = [U_i C_i^{p-1}] */
        if (M[p - 1] == NULL) continue;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)nk, inv, W,
                    (int)nk, P, (int)nk, 0.0, M[p - 1], (int)d);
        linstab_sym_symmetrize(d, M[p - 1]);
    }
    free(W);
    free(C);
    free(P);
    free(tmp);
    return LINSTAB_OK;
}

linstab_status linstab_family_moments(const linstab_family *f, int kmax, double *const *M,
                                      linstab_error *err)
{
    if (kmax < 1 || kmax > 4)
        return linstab_error_set(err, LINSTAB_EINVAL, "moment order %d outside 1..4", kmax);
    size_t n = f->n, d = f->d;
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE: return moments_dense(f, kmax, M, err);
    case LINSTAB_FAMILY_FACTORED: return moments_factored(f, kmax, M, err);
    case LINSTAB_FAMILY_DIAGONAL:
        for (int p = 1; p <= kmax; p++) {
            if (M[p - 1] == NULL) continue;
            memset(M[p - 1], 0, d * d * sizeof(double));
            for (size_t j = 0; j < d; j++) {
                double s = 0.0;
                for (size_t i = 0; i < n; i++) {
                    double x = f->data[i * d + j], xp = x; /* x^p by products, not pow() */
                    for (int q = 1; q < p; q++) xp *= x;
                    s += xp;
                }
                M[p - 1][j * d + j] = s / (double)n;
            }
        }
        return LINSTAB_OK;
    }
    return linstab_error_set(err, LINSTAB_EINVAL, "unknown family kind");
}

/* A family and a triangular matrix (a Cholesky factor, or X's upper half). */
typedef struct chol_ctx {
    const linstab_family *f;
    const double *L;
} chol_ctx;

/* acc += T H_i + H_i T' with T = H_i U (U: upper triangular, c->L). */
static void dense_sandwich_term(size_t i, double *const *acc, double *T, const void *ctx)
{
    const chol_ctx *c = ctx;
    size_t d = c->f->d;
    const double *Hi = c->f->data + i * d * d;
    memcpy(T, Hi, d * d * sizeof *T);
    cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, (int)d, (int)d, 1.0, c->L,
                (int)d, T, (int)d);
    cblas_dsyr2k(CblasRowMajor, CblasUpper, CblasNoTrans, (int)d, (int)d, 1.0, T, (int)d, Hi, (int)d, 1.0, acc[0],
                 (int)d);
}

linstab_status linstab_family_sandwich(const linstab_family *f, const double *X, double *Y,
                                       linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k, dd = d * d;
    double inv = 1.0 / (double)n;
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE: {
        /* X = U + U' with U upper triangular (half X's diagonal), so
         * H_i X H_i = T H_i + H_i T' with T = H_i U: a triangular product and
         * a rank-2k update per sample (1.5 d^3 flops, not 2 d^3), summed in
         * fixed chunks of samples over threads */
        double *U = malloc(dd * sizeof *U);
        if (U == NULL) return oom(err, "sandwich");
        for (size_t a = 0; a < d; a++)
            for (size_t b = 0; b < d; b++) U[a * d + b] = b > a ? X[a * d + b] : b == a ? 0.5 * X[a * d + b] : 0.0;
        chol_ctx c = {f, U};
        linstab_status st = chunked_sample_sum(n, d, 1, dd, dense_sandwich_term, &c, inv, &Y, err);
        free(U);
        return st;
    }
    case LINSTAB_FAMILY_FACTORED: {
        size_t nk = n * k;
        double *W = gather_factors(f);
        double *P = malloc(d * nk * sizeof *P);
        double *C = malloc(n * k * k * sizeof *C);
        double *tmp = malloc(k * sizeof *tmp);
        if (W == NULL || P == NULL || C == NULL || tmp == NULL) {
            free(W);
            free(P);
            free(C);
            free(tmp);
            return oom(err, "sandwich");
        }
        /* P = X W, C_i = U_i' X U_i, then Y = W [U_i C_i]' / n */
        cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)d, (int)nk, 1.0, X, (int)d, W,
                    (int)nk, 0.0, P, (int)nk);
        for (size_t i = 0; i < n; i++)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)d, 1.0,
                        W + i * k, (int)nk, P + i * k, (int)nk, 0.0, C + i * k * k, (int)k);
        memcpy(P, W, d * nk * sizeof *P);
        right_mul_blocks(n, d, k, P, C, tmp);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)nk, inv, W,
                    (int)nk, P, (int)nk, 0.0, Y, (int)d);
        linstab_sym_symmetrize(d, Y);
        free(W);
        free(P);
        free(C);
        free(tmp);
        return LINSTAB_OK;
    }
    case LINSTAB_FAMILY_DIAGONAL: {
        /* (H_i X H_i)_jl = D_ij X_jl D_il, so Y = X o (D'D / n) */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, inv, f->data, (int)d,
                    0.0, Y, (int)d);
        linstab_sym_fill_lower(d, Y);
        for (size_t j = 0; j < dd; j++) Y[j] *= X[j];
        return LINSTAB_OK;
    }
    }
    return linstab_error_set(err, LINSTAB_EINVAL, "unknown family kind");
}

/*
 * The same for a positive definite X = L L' (Cholesky): sum_i (H_i L)(H_i L)'
 * is a rank-k update, so dense families need a triangular product and a
 * SYRK (half the flops of two GEMMs) and rank-one factored families one
 * SYRK of the columns u_i scaled by sqrt(u_i' X u_i).  Anything else (X
 * not positive definite, diagonal or k > 1 factors) takes the general path.
 */
/* acc += (H_i L)(H_i L)' for one dense sample (T: d x d scratch). */
static void dense_chol_term(size_t i, double *const *acc, double *T, const void *ctx)
{
    const chol_ctx *c = ctx;
    size_t d = c->f->d;
    memcpy(T, c->f->data + i * d * d, d * d * sizeof *T);
    cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)d, (int)d, 1.0, c->L,
                (int)d, T, (int)d);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)d, (int)d, 1.0, T, (int)d, 1.0, acc[0], (int)d);
}

linstab_status linstab_family_sandwich_chol(const linstab_family *f, const double *X, const double *L,
                                            double *Y, linstab_error *err)
{
    size_t n = f->n, d = f->d;
    double inv = 1.0 / (double)n;
    if (f->kind == LINSTAB_FAMILY_DENSE) {
        chol_ctx c = {f, L};
        return chunked_sample_sum(n, d, 1, d * d, dense_chol_term, &c, inv, &Y, err);
    }
    if (f->kind != LINSTAB_FAMILY_FACTORED || f->k != 1) return linstab_family_sandwich(f, X, Y, err);
    /* P = W'L: row i has squared norm u_i' X u_i, the weight of u_i u_i' */
    double *P = malloc(n * d * sizeof *P), *c = malloc(n * sizeof *c);
    linstab_status st = P != NULL && c != NULL ? LINSTAB_OK : oom(err, "sandwich");
    if (st == LINSTAB_OK) {
        memcpy(P, f->data, n * d * sizeof *P);
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, (int)d, 1.0, L,
                    (int)d, P, (int)d);
        for (size_t i = 0; i < n; i++) c[i] = cblas_ddot((int)d, P + i * d, 1, P + i * d, 1);
        free(P);
        P = NULL;
        st = linstab_family_rank_one_weighted(f, c, Y, err);
    }
    free(P);
    free(c);
    return st;
}

linstab_status linstab_family_sandwich_psd(const linstab_family *f, const double *X, double *Y,
                                           linstab_error *err)
{
    size_t d = f->d;
    int fast = f->kind == LINSTAB_FAMILY_DENSE || (f->kind == LINSTAB_FAMILY_FACTORED && f->k == 1);
    if (!fast) return linstab_family_sandwich(f, X, Y, err);
    double *L = malloc(d * d * sizeof *L);
    if (L == NULL) return oom(err, "sandwich");
    linstab_status st = linstab_cholesky_lower(d, X, L) ? linstab_family_sandwich_chol(f, X, L, Y, err)
                                                         : linstab_family_sandwich(f, X, Y, err);
    free(L);
    return st;
}

linstab_status linstab_family_gram(const linstab_family *f, double *G, linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k;
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE:
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)(d * d), 1.0, f->data,
                    (int)(d * d), 0.0, G, (int)n);
        linstab_sym_fill_lower(n, G);
        return LINSTAB_OK;
    case LINSTAB_FAMILY_DIAGONAL:
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, 1.0, f->data, (int)d,
                    0.0, G, (int)n);
        linstab_sym_fill_lower(n, G); /* tr(diag(a) diag(b)) = a'b */
        return LINSTAB_OK;
    case LINSTAB_FAMILY_FACTORED: {
        size_t nk = n * k;
        /* rows of K = W'W for a block of samples at a time, <= ~32 MB */
        size_t bs = (4u << 20) / (nk * k);
        if (bs < 1) bs = 1;
        if (bs > n) bs = n;
        double *K = alloc_touched(bs * k * nk);
        if (K == NULL) return oom(err, "Gram matrix");
        if (k == 1 && bs == n) {
            /* rank one, all at once: K = W'W by SYRK on the stored rows u_i'
             * (half a product), G = K o K */
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, 1.0, f->data, (int)d, 0.0, K,
                        (int)n);
            for (size_t i = 0; i < n; i++)
                for (size_t j = i; j < n; j++) G[i * n + j] = K[i * n + j] * K[i * n + j];
            linstab_sym_fill_lower(n, G);
            free(K);
            return LINSTAB_OK;
        }
        double *W = gather_factors(f);
        if (W == NULL) {
            free(K);
            return oom(err, "Gram matrix");
        }
        for (size_t i0 = 0; i0 < n; i0 += bs) {
            size_t b = i0 + bs <= n ? bs : n - i0;
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(b * k), (int)nk, (int)d,
                        1.0, W + i0 * k, (int)nk, W, (int)nk, 0.0, K, (int)nk);
            for (size_t ii = 0; ii < b; ii++)
                for (size_t j = 0; j < n; j++) {
                    double s = 0.0;
                    for (size_t c = 0; c < k; c++)
                        for (size_t q = 0; q < k; q++) {
                            double v = K[(ii * k + c) * nk + j * k + q];
                            s += v * v;
                        }
                    G[(i0 + ii) * n + j] = s;
                }
        }
        linstab_sym_symmetrize(n, G);
        free(W);
        free(K);
        return LINSTAB_OK;
    }
    }
    return linstab_error_set(err, LINSTAB_EINVAL, "unknown family kind");
}

static const double SQRT2 = 1.41421356237309504880168872420969808;

/* Position of (j, k), j <= k, in svec order (operator.h). */
static size_t svec_index(size_t r, size_t j, size_t k)
{
    return j * r - j * (j - 1) / 2 + (k - j);
}

/*
 * The svec matrix of X -> (1/n) sum H_i X H_i through
 * C[(p,j),(q,l)] = (1/n) sum_i H_i[p][j] H_i[q][l], a Gram matrix over
 * samples accumulated over blocks of dense samples (d^4 n flops).
 */
static linstab_status sandwich_svec_gram(const linstab_family *f, double *Ms, linstab_error *err)
{
    size_t n = f->n, d = f->d, dd = d * d, m = d * (d + 1) / 2;
    double inv = 1.0 / (double)n;
    size_t bs = f->kind == LINSTAB_FAMILY_DENSE ? n : 64;
    if (bs > n) bs = n;
    double *C = malloc(dd * dd * sizeof *C);
    double *blk = f->kind == LINSTAB_FAMILY_DENSE ? NULL : malloc(bs * dd * sizeof *blk);
    if (C == NULL || (f->kind != LINSTAB_FAMILY_DENSE && blk == NULL)) {
        free(C);
        free(blk);
        return oom(err, "sandwich matrix");
    }
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t b = i0 + bs <= n ? bs : n - i0;
        const double *A = f->data;
        if (blk != NULL) {
            for (size_t i = 0; i < b; i++) linstab_family_sample_dense(f, i0 + i, blk + i * dd);
            A = blk;
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)dd, (int)b, inv, A, (int)dd,
                    i0 == 0 ? 0.0 : 1.0, C, (int)dd);
    }
    free(blk);
    linstab_sym_fill_lower(dd, C);
#define CC(p, j, q, l) C[((p) * d + (j)) * dd + (q) * d + (l)]
    for (size_t p = 0; p < d; p++)
        for (size_t q = p; q < d; q++) {
            double wpq = p == q ? 1.0 : SQRT2;
            size_t row = svec_index(d, p, q);
            for (size_t j = 0; j < d; j++) {
                /* (H E_jj H)_pq = h_pj h_qj; (H E_jl H)_pq = (h_pj h_ql + h_pl h_qj)/sqrt 2 */
                Ms[row * m + svec_index(d, j, j)] = wpq * CC(p, j, q, j);
                for (size_t l = j + 1; l < d; l++)
                    Ms[row * m + svec_index(d, j, l)] =
                        wpq * (CC(p, j, q, l) + CC(p, l, q, j)) / SQRT2;
            }
        }
#undef CC
    free(C);
    linstab_sym_symmetrize(m, Ms);
    return LINSTAB_OK;
}

linstab_status linstab_family_sandwich_svec(const linstab_family *f, double *Ms,
                                            linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k, m = d * (d + 1) / 2;
    double inv = 1.0 / (double)n;
    memset(Ms, 0, m * m * sizeof *Ms);
    switch (f->kind) {
    case LINSTAB_FAMILY_DIAGONAL: {
        double *G2 = malloc(d * d * sizeof *G2);
        if (G2 == NULL) return oom(err, "sandwich matrix");
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, inv, f->data, (int)d,
                    0.0, G2, (int)d);
        for (size_t j = 0; j < d; j++)
            for (size_t l = j; l < d; l++) {
                size_t p = svec_index(d, j, l);
                Ms[p * m + p] = G2[j * d + l];
            }
        free(G2);
        return LINSTAB_OK;
    }
    case LINSTAB_FAMILY_DENSE:
        return sandwich_svec_gram(f, Ms, err);
    case LINSTAB_FAMILY_FACTORED: {
        /* Phi_i has one column svec(U_i E U_i') per basis element E of Sym(k);
         * cheaper than the Gram route only for k <= 2 */
        size_t kk = k * (k + 1) / 2, cols = n * kk;
        if (k > 2) return sandwich_svec_gram(f, Ms, err);
        double *V = malloc(cols * m * sizeof *V); /* row c = column c of [Phi_1 ... Phi_n] */
        if (V == NULL) return oom(err, "sandwich matrix");
        for (size_t i = 0; i < n; i++) {
            const double *U = f->data + i * d * k;
            size_t c = i * kk;
            for (size_t a = 0; a < k; a++)
                for (size_t b = a; b < k; b++, c++) {
                    double *v = V + c * m, s = a == b ? 1.0 : 1.0 / SQRT2;
                    size_t pos = 0;
                    for (size_t p = 0; p < d; p++)
                        for (size_t q = p; q < d; q++, pos++) {
                            double e = U[p * k + a] * U[q * k + b];
                            if (a != b) e += U[p * k + b] * U[q * k + a];
                            v[pos] = (p == q ? 1.0 : SQRT2) * s * e;
                        }
                }
        }
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)m, (int)cols, inv, V, (int)m, 0.0,
                    Ms, (int)m);
        linstab_sym_fill_lower(m, Ms);
        free(V);
        return LINSTAB_OK;
    }
    }
    return linstab_error_set(err, LINSTAB_EINVAL, "unknown family kind");
}

/* The fingerprint of a family's data (FNV-1a over the kind, the sizes and
 * the bits of every entry): any change of one entry changes it; the
 * lambda1 cache is used only while it matches. */
static uint64_t data_fingerprint(const linstab_family *f)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    const uint64_t prime = 0x100000001b3ULL;
    uint64_t head[4] = {(uint64_t)f->kind, f->n, f->d, f->k};
    for (size_t j = 0; j < 4; j++) h = (h ^ head[j]) * prime;
    size_t len = linstab_family_data_len(f);
    for (size_t j = 0; j < len; j++) {
        uint64_t w;
        memcpy(&w, f->data + j, sizeof w);
        h = (h ^ w) * prime;
    }
    return h;
}

linstab_status linstab_family_sample_lambda1(const linstab_family *f, double *lam,
                                             linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k;
    if (f->lambda1 != NULL && f->lambda1_of == data_fingerprint(f)) {
        memcpy(lam, f->lambda1, n * sizeof *lam);
        return LINSTAB_OK;
    }
    switch (f->kind) {
    case LINSTAB_FAMILY_DIAGONAL:
        for (size_t i = 0; i < n; i++) {
            double m = -INFINITY;
            for (size_t j = 0; j < d; j++) m = fmax(m, f->data[i * d + j]);
            lam[i] = m;
        }
        return LINSTAB_OK;
    case LINSTAB_FAMILY_FACTORED: {
        /* nonzero spectrum of U U' equals that of U'U (k x k) */
        double *C = malloc(k * k * sizeof *C);
        if (C == NULL) return oom(err, "sample sharpness");
        for (size_t i = 0; i < n; i++) {
            const double *U = f->data + i * d * k;
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)d, 1.0, U, (int)k,
                        0.0, C, (int)k);
            linstab_status st = linstab_sym_lambda_max(k, C, &lam[i], err);
            if (st != LINSTAB_OK) {
                free(C);
                return st;
            }
            if (lam[i] < 0.0) lam[i] = 0.0; /* rounding: U U' is PSD */
        }
        free(C);
        return LINSTAB_OK;
    }
    case LINSTAB_FAMILY_DENSE: {
        double *w = malloc(d * sizeof *w);
        if (w == NULL) return oom(err, "sample sharpness");
        for (size_t i = 0; i < n; i++) {
            linstab_status st = linstab_sym_lambda_max(d, f->data + i * d * d, &lam[i], err);
            if (st != LINSTAB_OK) {
                free(w);
                return st;
            }
        }
        free(w);
        return LINSTAB_OK;
    }
    }
    return linstab_error_set(err, LINSTAB_EINVAL, "unknown family kind");
}

/*
 * PSD check of a dense family without eigendecompositions.  H_i + tau I
 * has a Cholesky factor exactly when lambda_min(H_i) > -tau, up to the
 * factorisation's backward error (about d eps ||H_i||, far below tau).
 * The tolerance is tau = 1e-10 max_i lambda1(H_i); lambda1 comes from
 * Lanczos (linstab_sym_lambda_max, reentrant), and every sample is first
 * factorised with tau' = 1e-10 max_i max_j (H_i)_jj <= tau (a success
 * there is a success for tau; a failure is retried with tau once it is
 * known).  The samples are spread over threads.  For d >= 128 this is
 * about 3x faster than a tridiagonal reduction per sample (measured at
 * d = 200).
 * OUT lmax[i] = lambda1(H_i) and lmin[i] = 0 (|lambda_min| < tau does not
 * change the scale); any failure returns an error and the caller falls
 * back to the exact eigenvalues, which name the offending sample.
 */
static int shifted_cholesky_fails(const double *H, size_t d, double tau, double *a)
{
    memcpy(a, H, d * d * sizeof *a);
    for (size_t j = 0; j < d; j++) a[j * d + j] += tau;
    /* symmetric: the column-major call reads the same matrix, untransposed */
    return LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)d, a, (lapack_int)d) != 0;
}

#define PSD_FAST_MIN_D 128
static linstab_status psd_fast(const linstab_family *f, double *lmin, double *lmax)
{
    size_t n = f->n, d = f->d, dd = d * d;
    double diag = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) diag = fmax(diag, f->data[i * dd + j * d + j]);
    if (!(diag > 0.0)) return LINSTAB_EDATA; /* let the exact path judge */
    unsigned char *retry = calloc(n, 1);
    double *a = malloc(dd * sizeof *a);
    int lanczos_failed = 0;
    if (retry == NULL || a == NULL) {
        free(retry);
        free(a);
        return LINSTAB_ENOMEM;
    }
    int blas_threads = blas_threads_single();
#pragma omp parallel
    {
        double *c = malloc(dd * sizeof *c);
        linstab_error e = {0};
#pragma omp for schedule(dynamic, 4)
        for (size_t i = 0; i < n; i++) {
            lmin[i] = 0.0;
            if (c == NULL || linstab_sym_lambda_max(d, f->data + i * dd, &lmax[i], &e) != LINSTAB_OK) {
#pragma omp atomic write
                lanczos_failed = 1;
                continue;
            }
            retry[i] = (unsigned char)shifted_cholesky_fails(f->data + i * dd, d, 1e-10 * diag, c);
        }
        free(c);
    }
    blas_threads_restore(blas_threads);
    linstab_status st = lanczos_failed ? LINSTAB_ELAPACK : LINSTAB_OK;
    double scale = 0.0;
    for (size_t i = 0; st == LINSTAB_OK && i < n; i++) scale = fmax(scale, lmax[i]);
    for (size_t i = 0; st == LINSTAB_OK && i < n; i++)
        if (retry[i] && shifted_cholesky_fails(f->data + i * dd, d, 1e-10 * scale, a)) st = LINSTAB_EDATA;
    free(retry);
    free(a);
    return st;
}

/*
 * Every quantity linstab computes is homogeneous in the scale of the
 * Hessians (H -> H / c with eta -> eta c and rho -> rho c gives the same
 * dynamics), but the fourth moments M_4 and the second-moment operators
 * hold products of up to four curvatures: an entry scale h beyond
 * [LINSTAB_FAMILY_SCALE_MIN, LINSTAB_FAMILY_SCALE_MAX] overflows or
 * underflows them.  Such families are refused with the factor to rescale
 * by, never computed into infinities or LAPACK errors.
 */
static linstab_status check_scale(double h, linstab_error *err)
{
    if (h > LINSTAB_FAMILY_SCALE_MAX)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "entries too large: curvatures up to %.3g, the fourth moments M_4 overflow "
                                 "(limit %.0e); divide the Hessians by c and multiply eta and rho by c "
                                 "(the same dynamics)",
                                 h, LINSTAB_FAMILY_SCALE_MAX);
    if (h > 0.0 && h < LINSTAB_FAMILY_SCALE_MIN)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "entries too small: curvatures up to %.3g, the fourth moments M_4 underflow "
                                 "(limit %.0e); multiply the Hessians by c and divide eta and rho by c "
                                 "(the same dynamics)",
                                 h, LINSTAB_FAMILY_SCALE_MIN);
    return LINSTAB_OK;
}

linstab_status linstab_family_validate(linstab_family *f, double sym_rtol, int allow_indefinite,
                                       int *indefinite, linstab_error *err)
{
    size_t n = f->n, d = f->d, per = linstab_family_data_len(f) / n;
    if (indefinite) *indefinite = 0;
    double smax = 0.0;
    for (size_t i = 0; f->kind != LINSTAB_FAMILY_DENSE && i < n; i++)
        for (size_t j = 0; j < per; j++) {
            if (!isfinite(f->data[i * per + j]))
                return linstab_error_set(err, LINSTAB_EDATA, "sample %zu: entry %zu is %s", i, j,
                                         isnan(f->data[i * per + j]) ? "NaN" : "infinite");
            smax = fmax(smax, fabs(f->data[i * per + j]));
        }
    if (f->kind == LINSTAB_FAMILY_FACTORED) /* U U' is symmetric PSD, entries up to k max|U|^2 */
        return check_scale((double)f->k * smax * smax, err);
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) {
        linstab_status sc = check_scale(smax, err);
        if (sc != LINSTAB_OK) return sc;
    }

    double *lmin = malloc(n * sizeof *lmin);
    double *lmax = malloc(n * sizeof *lmax);
    if (lmin == NULL || lmax == NULL) {
        free(lmin);
        free(lmax);
        return oom(err, "validation");
    }
    linstab_status st = LINSTAB_OK;
    if (f->kind == LINSTAB_FAMILY_DENSE) {
        /* per sample (in parallel, tile by tile): largest entry and largest
         * asymmetry; the first failing sample is reported */
        double *amax = calloc(n, sizeof *amax), *asym = calloc(n, sizeof *asym);
        size_t *where = calloc(n, sizeof *where), *nonfinite = calloc(n, sizeof *nonfinite);
        if (amax == NULL || asym == NULL || where == NULL || nonfinite == NULL) {
            st = oom(err, "validation");
        } else {
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; i++) {
                const double *Hi = f->data + i * d * d;
                double am = 0.0, as = 0.0;
                size_t at = 0, nf = per;
                for (size_t j = 0; j < per; j++)
                    if (!isfinite(Hi[j])) {
                        nf = j;
                        break;
                    }
                nonfinite[i] = nf;
                if (nf < per) continue;
                for (size_t r0 = 0; r0 < d; r0 += 32)
                    for (size_t c0 = r0; c0 < d; c0 += 32)
                        for (size_t r = r0; r < r0 + 32 && r < d; r++)
                            for (size_t c = c0 > r ? c0 : r; c < c0 + 32 && c < d; c++) {
                                double x = fabs(Hi[r * d + c]), y = fabs(Hi[c * d + r]);
                                am = x > am ? x : am;
                                am = y > am ? y : am;
                                double a = fabs(Hi[r * d + c] - Hi[c * d + r]);
                                if (a > as) {
                                    as = a;
                                    at = r * d + c;
                                }
                            }
                amax[i] = am;
                asym[i] = as;
                where[i] = at;
            }
            for (size_t i = 0; i < n; i++) {
                if (nonfinite[i] == per) continue;
                double x = f->data[i * per + nonfinite[i]];
                st = linstab_error_set(err, LINSTAB_EDATA, "sample %zu: entry %zu is %s", i, nonfinite[i],
                                       isnan(x) ? "NaN" : "infinite");
                break;
            }
            for (size_t i = 0; st == LINSTAB_OK && i < n; i++) smax = fmax(smax, amax[i]);
            if (st == LINSTAB_OK) st = check_scale(smax, err);
            for (size_t i = 0; st == LINSTAB_OK && i < n; i++) {
                if (!(asym[i] > sym_rtol * amax[i])) continue;
                const double *Hi = f->data + i * d * d;
                size_t ar = where[i] / d, ac = where[i] % d;
                st = linstab_error_set(err, LINSTAB_EDATA,
                                       "sample %zu is not symmetric: H[%zu][%zu] - H[%zu][%zu] = "
                                       "%.3g (relative %.3g > tolerance %.3g)",
                                       i, ar, ac, ac, ar, Hi[ar * d + ac] - Hi[ac * d + ar], asym[i] / amax[i],
                                       sym_rtol);
                break;
            }
            if (st == LINSTAB_OK) {
#pragma omp parallel for schedule(static)
                for (size_t i = 0; i < n; i++)
                    if (asym[i] > 0.0) linstab_sym_symmetrize(d, f->data + i * d * d);
            }
        }
        free(amax);
        free(asym);
        free(where);
        free(nonfinite);
        if (st == LINSTAB_OK && !allow_indefinite && d >= PSD_FAST_MIN_D &&
            psd_fast(f, lmin, lmax) == LINSTAB_OK)
            goto checked;
        /* samples are independent: spread the eigenvalue problems over threads
         * (each thread its own workspace and error record; results are
         * per-sample, so the thread count cannot change them) */
        if (st == LINSTAB_OK) {
            linstab_status first = LINSTAB_OK;
            size_t bad = n;
            /* one BLAS thread per OpenMP thread: no oversubscription */
            int blas_threads = blas_threads_single();
#pragma omp parallel
            {
                linstab_error e = {0};
#pragma omp for schedule(dynamic)
                for (size_t i = 0; i < n; i++) {
                    linstab_status si = linstab_sym_extremes(d, f->data + i * d * d, &lmin[i], &lmax[i], &e);
                    if (si != LINSTAB_OK) {
#pragma omp critical
                        if (i < bad) {
                            bad = i;
                            first = si;
                        }
                    }
                }
            }
            blas_threads_restore(blas_threads);
            if (first != LINSTAB_OK)
                st = linstab_error_set(err, first, "sample %zu: eigenvalues failed (%s)", bad,
                                       linstab_strerror(first));
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            lmin[i] = INFINITY;
            lmax[i] = -INFINITY;
            for (size_t j = 0; j < d; j++) {
                lmin[i] = fmin(lmin[i], f->data[i * d + j]);
                lmax[i] = fmax(lmax[i], f->data[i * d + j]);
            }
        }
    }
checked:
    if (st == LINSTAB_OK) {
        double scale = 0.0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fmax(fabs(lmin[i]), fabs(lmax[i])));
        for (size_t i = 0; i < n; i++) {
            if (lmin[i] >= -1e-10 * scale) continue;
            if (!allow_indefinite) {
                st = linstab_error_set(err, LINSTAB_EDATA,
                                       "sample %zu is not positive semidefinite: smallest "
                                       "eigenvalue %.6g < -1e-10 * %.6g (use --allow-indefinite "
                                       "to accept indefinite Hessians)",
                                       i, lmin[i], scale);
                break;
            }
            if (indefinite) *indefinite = 1;
        }
    }
    free(lmin);
    if (st != LINSTAB_OK) {
        free(lmax);
        return st;
    }
    free(f->lambda1);
    f->lambda1 = lmax;
    f->lambda1_of = data_fingerprint(f);
    return LINSTAB_OK;
}

/* ------------------------------------------------------------------ */
/* Range restriction                                                   */

static linstab_status copy_family(const linstab_family *f, linstab_family **out,
                                  linstab_error *err)
{
    linstab_status st = linstab_family_alloc(f->kind, f->n, f->d, f->k, out, err);
    if (st != LINSTAB_OK) return st;
    memcpy((*out)->data, f->data, linstab_family_data_len(f) * sizeof(double));
    (*out)->d_full = f->d_full;
    if (f->lambda1 != NULL) {
        (*out)->lambda1 = malloc(f->n * sizeof(double));
        if ((*out)->lambda1 == NULL) {
            linstab_family_free(*out);
            *out = NULL;
            return oom(err, "range restriction");
        }
        memcpy((*out)->lambda1, f->lambda1, f->n * sizeof(double));
        (*out)->lambda1_of = f->lambda1_of; /* the same data */
    }
    return LINSTAB_OK;
}

/*
 * Factored families with n k < d: range(H) = range(W), W = [U_1 ... U_n].
 * From G = W'W = V diag(g) V' (n k x n k), the eigenvalues of H = W W'/n
 * are g/n and Q = W V_r diag(g_r)^{-1/2} is an orthonormal eigenbasis, so
 * the restricted factors Q'U_i = diag(g_r)^{-1/2} V_r' G[:, block i] need no
 * d x d matrix at all (networks with many parameters and few outputs).
 */
/* The core of both Gram routes: eigenvectors of G, rank, restricted
 * factors; W (d x nk, may be NULL) only for the basis Q. */
static linstab_status family_of_gram(size_t n, size_t k, size_t d, double *G, const double *W, double rtol,
                                     linstab_family **out, size_t *rank, double **Q_out, linstab_error *err)
{
    size_t nk = n * k;
    double *g = malloc(nk * sizeof *g), *V = malloc(nk * nk * sizeof *V), *Vr = NULL, *P = NULL;
    linstab_status st = LINSTAB_OK;
    *out = NULL;
    if (!g || !V) {
        st = oom(err, "range restriction");
        goto done;
    }
    st = linstab_sym_eig(nk, G, g, V, err);
    if (st != LINSTAB_OK) goto done;
    /* the rank rule of H (d x d): eigenvalue > d eps lambda_max */
    double gmax = fmax(fabs(g[0]), fabs(g[nk - 1]));
    size_t r = 0;
    for (size_t j = 0; j < nk; j++)
        if (gmax > 0.0 && g[j] > rtol * gmax) r++;
    if (r == 0) {
        st = linstab_error_set(err, LINSTAB_EDATA, "the mean Hessian H is zero: the family has no range to analyse");
        goto done;
    }
    *rank = r;
    st = linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, r, k, out, err);
    if (st != LINSTAB_OK) goto done;
    /* column c of the basis <-> eigenvalue g[nk-1-c] (decreasing): Vr (nk x r)
     * holds those eigenvectors scaled by g^{-1/2}, and the restricted
     * factors are the blocks of Vr' G (r x nk) */
    Vr = malloc(nk * r * sizeof *Vr);
    P = malloc(r * nk * sizeof *P);
    if (Vr == NULL || P == NULL) {
        st = oom(err, "range restriction");
        goto done;
    }
    for (size_t t = 0; t < nk; t++)
        for (size_t c = 0; c < r; c++) Vr[t * r + c] = V[t * nk + (nk - 1 - c)] / sqrt(g[nk - 1 - c]);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)r, (int)nk, (int)nk, 1.0, Vr, (int)r, G, (int)nk,
                0.0, P, (int)nk);
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < r; c++)
            memcpy((*out)->data + i * r * k + c * k, P + c * nk + i * k, k * sizeof(double));
    if (Q_out && W) {
        double *Q = malloc(d * r * sizeof *Q); /* W Vr: orthonormal columns */
        if (Q == NULL) {
            st = oom(err, "range restriction");
            goto done;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)r, (int)nk, 1.0, W, (int)nk, Vr,
                    (int)r, 0.0, Q, (int)r);
        *Q_out = Q;
    }
done:
    if (st != LINSTAB_OK) {
        linstab_family_free(*out);
        *out = NULL;
    }
    free(g);
    free(V);
    free(Vr);
    free(P);
    return st;
}

static linstab_status restrict_by_gram(const linstab_family *f, double rtol, linstab_family **out,
                                       size_t *rank, double **Q_out, linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k, nk = n * k;
    double *W = gather_factors(f), *G = malloc(nk * nk * sizeof *G);
    linstab_status st = LINSTAB_OK;
    *out = NULL;
    if (!W || !G) {
        st = oom(err, "range restriction");
    } else {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)nk, (int)d, 1.0, W, (int)nk, 0.0, G, (int)nk);
        linstab_sym_fill_lower(nk, G);
        st = family_of_gram(n, k, d, G, W, rtol, out, rank, Q_out, err);
    }
    if (st == LINSTAB_OK && f->lambda1 != NULL) {
        (*out)->lambda1 = malloc(n * sizeof(double));
        if ((*out)->lambda1 == NULL) {
            st = oom(err, "range restriction");
            linstab_family_free(*out);
            *out = NULL;
            if (Q_out) {
                free(*Q_out);
                *Q_out = NULL;
            }
        } else {
            memcpy((*out)->lambda1, f->lambda1, n * sizeof(double));
            /* the restriction has the spectra of the H_i: the cache holds
             * for its data when it held for f's */
            if (f->lambda1_of == data_fingerprint(f)) (*out)->lambda1_of = data_fingerprint(*out);
        }
    }
    if (st == LINSTAB_OK) (*out)->d_full = f->d_full;
    free(W);
    free(G);
    return st;
}

linstab_status linstab_family_from_gram(size_t n, size_t k, size_t d_full, const double *G, double rtol,
                                        linstab_family **out, size_t *rank, linstab_error *err)
{
    size_t nk = n * k;
    *out = NULL;
    if (n == 0 || k == 0) return linstab_error_set(err, LINSTAB_EINVAL, "Gram matrix of an empty family");
    for (size_t j = 0; j < nk * nk; j++)
        if (!isfinite(G[j]))
            return linstab_error_set(err, LINSTAB_EDATA, "Gram matrix entry (%zu, %zu) is not finite", j / nk, j % nk);
    double *Gs = malloc(nk * nk * sizeof *Gs);
    if (Gs == NULL) return oom(err, "range restriction");
    memcpy(Gs, G, nk * nk * sizeof *Gs);
    linstab_sym_symmetrize(nk, Gs);
    linstab_status st = family_of_gram(n, k, d_full, Gs, NULL, rtol <= 0.0 ? (double)d_full * DBL_EPSILON : rtol,
                                       out, rank, NULL, err);
    free(Gs);
    if (st == LINSTAB_OK) (*out)->d_full = d_full > (*out)->d ? d_full : 0;
    return st;
}

size_t linstab_family_ambient_dim(const linstab_family *f)
{
    return f->d_full > f->d ? f->d_full : f->d;
}

/*
 * rank(H) = d without a tridiagonal reduction: H - 4 tau I, tau = rtol
 * lambda1(H) (lambda1 by Lanczos), has a Cholesky factor exactly when every
 * eigenvalue exceeds 4 tau, up to the factorisation's backward error (at
 * most about d eps ||H|| = tau for the default rtol): then every eigenvalue
 * is above the rank threshold tau by a margin that the eigenvalues'
 * own rounding cannot cross.  A failure proves nothing (the eigenvalues
 * decide); a Cholesky costs d^3/3 where the reduction costs 4 d^3/3.
 */
#define RANK_CERTIFY_MIN_D 128

static int full_rank_certified(size_t d, const double *H, double rtol, double *lambda1)
{
    if (d < RANK_CERTIFY_MIN_D) return 0;
    double lmax = 0.0;
    linstab_error e = {0};
    if (linstab_sym_lambda_max(d, H, &lmax, &e) != LINSTAB_OK) return 0;
    *lambda1 = lmax;
    if (!(lmax > 0.0)) return 0;
    double *a = malloc(d * d * sizeof *a);
    if (a == NULL) return 0;
    memcpy(a, H, d * d * sizeof *a);
    for (size_t j = 0; j < d; j++) a[j * d + j] -= 4.0 * rtol * lmax;
    /* symmetric: the column-major factorisation reads the same matrix */
    int ok = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)d, a, (lapack_int)d) == 0;
    free(a);
    return ok;
}

/* ALIAS: when the range is all of R^d (and no rotation), *out = f itself
 * rather than a copy (linstab_family_restrict_owned). */
/* KEEP_ALL: no rank threshold -- every eigenvector of the (possibly
 * indefinite or singular) mean is kept, so that only the basis turns. */
static linstab_status restrict_impl(const linstab_family *f, double rtol, int use_m2, int rotate, int alias,
                                    int keep_all, linstab_family **out, size_t *rank, double **Q_out,
                                    double **H_out, double *lambda1_out, linstab_error *err)
{
    double lambda1 = NAN;
    if (H_out) *H_out = NULL;
    if (lambda1_out) *lambda1_out = NAN;
    size_t n = f->n, d = f->d, k = f->k;
    *out = NULL;
    if (Q_out) *Q_out = NULL;
    if (f->kind == LINSTAB_FAMILY_FACTORED && !use_m2 && !keep_all && n * k < d)
        return restrict_by_gram(f, rtol <= 0.0 ? (double)d * DBL_EPSILON : rtol, out, rank, Q_out, err);
    double *Hm = alloc_touched(d * d);
    double *w = malloc(d * sizeof *w);
    double *V = NULL;
    double *Q = NULL;
    size_t *keep = NULL;
    linstab_status st = LINSTAB_OK;
    if (Hm == NULL || w == NULL) {
        st = oom(err, "range restriction");
        goto done;
    }
    double *M[2] = {use_m2 ? NULL : Hm, use_m2 ? Hm : NULL};
    st = linstab_family_moments(f, use_m2 ? 2 : 1, M, err);
    if (st != LINSTAB_OK) goto done;
    if (rtol <= 0.0) rtol = (double)d * DBL_EPSILON;

    size_t r = 0;
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) {
        /* the eigenbasis of a diagonal H is the coordinate basis */
        double wmax = 0.0;
        for (size_t j = 0; j < d; j++) wmax = fmax(wmax, fabs(Hm[j * d + j]));
        keep = malloc(d * sizeof *keep);
        if (keep == NULL) {
            st = oom(err, "range restriction");
            goto done;
        }
        for (size_t j = 0; j < d; j++)
            if (keep_all || (wmax > 0.0 && Hm[j * d + j] > rtol * wmax)) keep[r++] = j;
        if (rotate) /* the eigenbasis in decreasing order: a stable insertion sort */
            for (size_t a = 1; a < r; a++) {
                size_t t = keep[a], b = a;
                for (; b > 0 && Hm[keep[b - 1] * d + keep[b - 1]] < Hm[t * d + t]; b--) keep[b] = keep[b - 1];
                keep[b] = t;
            }
    } else if (!rotate && full_rank_certified(d, Hm, rtol, &lambda1)) {
        r = d;
    } else {
        /* eigenvalues first: the vectors are needed only to rotate */
        st = linstab_sym_eig(d, Hm, w, NULL, err);
        if (st != LINSTAB_OK) goto done;
        double wmax = fmax(fabs(w[0]), fabs(w[d - 1]));
        for (size_t j = 0; j < d; j++)
            if (keep_all || (wmax > 0.0 && w[j] > rtol * wmax)) r++;
        if (r > 0 && (r < d || rotate)) {
            V = malloc(d * d * sizeof *V);
            if (V == NULL) {
                st = oom(err, "range restriction");
                goto done;
            }
            st = linstab_sym_eig(d, Hm, w, V, err);
            if (st != LINSTAB_OK) goto done;
        }
    }
    if (r == 0) {
        st = linstab_error_set(err, LINSTAB_EDATA,
                               "the mean Hessian H is zero: the family has no range to analyse");
        goto done;
    }
    *rank = r;
    if (r == d && !rotate && alias && Q_out == NULL) {
        *out = (linstab_family *)f;
        if (H_out && !use_m2) { /* the family's own mean, and its top eigenvalue if known */
            *H_out = Hm;
            Hm = NULL;
            if (lambda1_out) *lambda1_out = lambda1;
        }
        goto done;
    }
    if (r == d && !rotate) {
        st = copy_family(f, out, err);
        if (st == LINSTAB_OK && Q_out) {
            Q = calloc(d * d, sizeof *Q);
            if (Q == NULL) {
                st = oom(err, "range restriction");
                goto done;
            }
            for (size_t j = 0; j < d; j++) Q[j * d + j] = 1.0;
        }
        goto done;
    }
    Q = calloc(d * r, sizeof *Q); /* d x r, columns by decreasing eigenvalue */
    if (Q == NULL) {
        st = oom(err, "range restriction");
        goto done;
    }
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) {
        for (size_t c = 0; c < r; c++) Q[keep[c] * r + c] = 1.0;
    } else {
        for (size_t row = 0; row < d; row++)
            for (size_t c = 0; c < r; c++) Q[row * r + c] = V[row * d + (d - 1 - c)];
    }
    st = linstab_family_alloc(f->kind, n, r, k, out, err);
    if (st != LINSTAB_OK) goto done;
    linstab_family *g = *out;
    switch (f->kind) {
    case LINSTAB_FAMILY_DIAGONAL:
        for (size_t i = 0; i < n; i++)
            for (size_t c = 0; c < r; c++) g->data[i * r + c] = f->data[i * d + keep[c]];
        break;
    case LINSTAB_FAMILY_FACTORED:
        for (size_t i = 0; i < n; i++)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)r, (int)k, (int)d, 1.0, Q,
                        (int)r, f->data + i * d * k, (int)k, 0.0, g->data + i * r * k, (int)k);
        break;
    case LINSTAB_FAMILY_DENSE: {
        double *T = malloc(d * r * sizeof *T);
        if (T == NULL) {
            st = oom(err, "range restriction");
            break;
        }
        for (size_t i = 0; i < n; i++) {
            cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)d, (int)r, 1.0,
                        f->data + i * d * d, (int)d, Q, (int)r, 0.0, T, (int)r);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)r, (int)r, (int)d, 1.0, Q,
                        (int)r, T, (int)r, 0.0, g->data + i * r * r, (int)r);
            linstab_sym_symmetrize(r, g->data + i * r * r);
        }
        free(T);
        break;
    }
    }
    if (st == LINSTAB_OK && f->lambda1 != NULL) {
        g->lambda1 = malloc(n * sizeof(double));
        if (g->lambda1 == NULL)
            st = oom(err, "range restriction");
        else {
            memcpy(g->lambda1, f->lambda1, n * sizeof(double));
            /* as for the Gram route: the cache holds for g when it held for f */
            if (f->lambda1_of == data_fingerprint(f)) g->lambda1_of = data_fingerprint(g);
        }
    }
done:
    if (st != LINSTAB_OK) {
        linstab_family_free(*out);
        *out = NULL;
        free(Q);
        Q = NULL;
    } else if (*out != NULL && *out != f) {
        (*out)->d_full = f->d_full;
    }
    if (Q_out)
        *Q_out = Q;
    else
        free(Q);
    free(Hm);
    free(w);
    free(V);
    free(keep);
    return st;
}

linstab_status linstab_family_restrict(const linstab_family *f, double rtol, int use_m2,
                                       int rotate, linstab_family **out, size_t *rank, double **Q_out,
                                       linstab_error *err)
{
    return restrict_impl(f, rtol, use_m2, rotate, 0, 0, out, rank, Q_out, NULL, NULL, err);
}

linstab_status linstab_family_rotate_mean(const linstab_family *f, linstab_family **out, linstab_error *err)
{
    size_t r = 0;
    return restrict_impl(f, 0.0, 0, 1, 0, 1, out, &r, NULL, NULL, NULL, err);
}

linstab_status linstab_family_restrict_owned(linstab_family **f, double rtol, int use_m2, size_t *rank,
                                             double **H, double *lambda1, linstab_error *err)
{
    linstab_family *out = NULL;
    linstab_status st = restrict_impl(*f, rtol, use_m2, 0, 1, 0, &out, rank, NULL, H, lambda1, err);
    if (st != LINSTAB_OK || out == *f) return st;
    linstab_family_free(*f);
    *f = out;
    return LINSTAB_OK;
}
