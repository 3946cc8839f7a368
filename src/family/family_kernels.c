/*
 * family_kernels.c -- what consumers ask a Hessian family for, with a fast
 * path per representation: H_i x, the mean H, moments M_k, sandwiches
 * (1/n) sum H_i X H_i, the Gram matrix tr(H_i H_j), the svec matrix of the
 * sandwich operator and the per-sample lambda1.
 *
 * Factored families are processed through the gathered matrix
 * W = [U_1 ... U_n] (d x nk), so that sums over samples become single
 * level-3 BLAS calls: H = W W'/n; any sum (1/n) sum_i U_i Q_i U_i' of
 * symmetric k x k blocks Q_i (the moments, Q_i = C_i^{k-1} with
 * C_i = U_i'U_i; the sandwiches, Q_i = U_i'XU_i) as SYRKs of the factors
 * turned to each Q_i's eigenbasis and scaled by the square roots of its
 * eigenvalues (n k d^2 flops, where W [U_i Q_i]' takes 2 n k d^2); and
 * tr(H_i H_j) = ||U_i'U_j||_F^2 from blocks of W'W.
 */

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "family_internal.h"
#include "internal.h"
#include "linstab/family.h"
#include "linstab/sym.h"

/* ------------------------------------------------------------------ */
/* Per-sample access                                                   */

void linstab_family_apply(const linstab_family *f, size_t i, const double *x, double *y)
{
    size_t d = f->d, k = f->k;
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE:
        if (d <= 32) {
            /* small d: the upper triangle by hand.  OpenBLAS's dsymv takes a
             * global lock per call for its buffer, and Monte Carlo on several
             * threads spent a third of its time in it (a 2-thread map over a
             * dense (200, 10, 10) family ran 4x slower than 1 thread) */
            const double *A = f->data + i * d * d;
            for (size_t a = 0; a < d; a++) {
                double s = 0.0;
                for (size_t b = 0; b < a; b++) s += A[b * d + a] * x[b];
                for (size_t b = a; b < d; b++) s += A[a * d + b] * x[b];
                y[a] = s;
            }
            break;
        }
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
double *family_gather_factors(const linstab_family *f)
{
    size_t n = f->n, d = f->d, k = f->k, nk = n * k;
    double *W = malloc(d * nk * sizeof *W);
    if (W == NULL) return NULL;
    int par = pass_threaded(d * nk);
    (void)par;
#pragma omp parallel for schedule(static) if (par)
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

/*
 * Signed weighted SYRK of factor columns.  Column c of SRC (d rows, leading
 * dimension LD, NCOLS columns) with weight w[c] != 0 goes to P (d x nk,
 * leading dimension NK) scaled by sqrt|w[c]|: positive weights fill P from
 * the left (*qp counts up), negative ones from the right (*qn counts down
 * from nk).  Y = inv (P_+ P_+' - P_- P_-') then takes two SYRKs.
 */
static void scatter_scaled(size_t d, size_t nk, const double *src, size_t ld, size_t ncols, const double *w,
                           double *P, size_t *qp, size_t *qn, size_t *dest, double *sc)
{
    size_t m = 0;
    for (size_t c = 0; c < ncols; c++) {
        if (w[c] == 0.0) continue;
        dest[m] = w[c] > 0.0 ? (*qp)++ : --(*qn);
        sc[m] = sqrt(fabs(w[c]));
        dest[ncols + m] = c;
        m++;
    }
    int par = pass_threaded(d * m);
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (size_t r = 0; r < d; r++) {
        const double *s = src + r * ld;
        double *row = P + r * nk;
        for (size_t q = 0; q < m; q++) row[dest[q]] = sc[q] * s[dest[ncols + q]];
    }
}

static void syrk_signed(size_t d, size_t nk, size_t npos, size_t qn, double inv, const double *P, double *Y)
{
    size_t nneg = nk - qn;
    if (npos > 0)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)d, (int)npos, inv, P, (int)nk, 0.0, Y, (int)d);
    else
        memset(Y, 0, d * d * sizeof *Y);
    if (nneg > 0)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)d, (int)nneg, -inv, P + qn, (int)nk, 1.0, Y,
                    (int)d);
    linstab_sym_fill_lower(d, Y);
}

/* Scratch of blocks_weighted_sum, no allocation inside: a k x k copy and
 * the eigenvectors (k x k each), k eigenvalues, k scales, the turned factor
 * (d x k) and dsyevr's workspace (26 k); integers: the scatter's 2k indices
 * (size_t) and dsyevr's 10 k + 2 k (lapack_int). */
static size_t blocks_scratch_doubles(size_t d, size_t k)
{
    return 2 * k * k + 28 * k + d * k;
}

static size_t blocks_scratch_ints(size_t k)
{
    return 12 * k;
}

/*
 * Y = (1/n) sum_i W_i Q_i W_i' (d x d) for symmetric k x k blocks Q
 * (n blocks, row-major) and W gathered (d x nk): Q_i = V diag(e) V'
 * (LAPACK dsyevr), the columns of W_i V scaled by sqrt|e| into P (d x nk),
 * two SYRKs.  S: blocks_scratch_doubles(d, k), IDX: 2k, IW:
 * blocks_scratch_ints(k).  Errors: LINSTAB_ELAPACK (e.g. NaN blocks).
 */
static linstab_status blocks_weighted_sum(size_t n, size_t d, size_t k, const double *W, const double *Q, double *P,
                                          double *S, size_t *idx, lapack_int *iw, double *Y, linstab_error *err)
{
    size_t nk = n * k, qp = 0, qn = nk;
    double *A = S, *Z = A + k * k, *e = Z + k * k, *sc = e + k, *T = sc + k, *work = T + d * k;
    lapack_int K = (lapack_int)k, m = 0;
    for (size_t i = 0; i < n; i++) {
        /* symmetric: the column-major upper triangle is the row-major lower one */
        memcpy(A, Q + i * k * k, k * k * sizeof *A);
        lapack_int info = LAPACKE_dsyevr_work(LAPACK_COL_MAJOR, 'V', 'A', 'U', K, A, K, 0.0, 0.0, 0, 0, 0.0, &m, e,
                                              Z, K, iw + 10 * k, work, 26 * K, iw, 10 * K);
        if (info != 0 || m != K)
            return linstab_error_set(err, LINSTAB_ELAPACK, "weighted sum: LAPACK dsyevr info %d (block %zu)",
                                     (int)info, i);
        /* Z column-major: its row-major reading holds eigenvector c in row c */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)k, (int)k, 1.0, W + i * k, (int)nk, Z,
                    (int)k, 0.0, T, (int)k);
        scatter_scaled(d, nk, T, k, k, e, P, &qp, &qn, idx, sc);
    }
    syrk_signed(d, nk, qp, qn, 1.0 / (double)n, P, Y);
    return LINSTAB_OK;
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

/* The eigen-turned SYRKs save n k d^2 flops over W [U_i C_i]' and cost a
 * k x k eigensolve per sample (about a microsecond for small k): they pay
 * from about k d^2 = 2^17 on. */
static int blocks_syrk_pays(size_t d, size_t k)
{
    return k * d * d >= ((size_t)1 << 17) && d >= 4 * k;
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

/* The buffers of a chunked sum: nch * nacc accumulators of d x d and one
 * work buffer of work_len doubles per thread (nthreads of them). */
typedef struct sum_bufs {
    size_t nch, work_len;
    int nacc, nthreads;
    double *acc, *work;
} sum_bufs;

static void sum_bufs_free(sum_bufs *b)
{
    free(b->acc);
    free(b->work);
    b->acc = b->work = NULL;
}

static linstab_status sum_bufs_alloc(size_t n, size_t d, int nacc, size_t work_len, sum_bufs *b,
                                     linstab_error *err)
{
    size_t dd = d * d;
    size_t nch = SUM_MAX_CHUNKS < n ? SUM_MAX_CHUNKS : n;
    double per = (double)nacc * (double)dd * sizeof(double);
    while (nch > 1 && (double)nch * per > SUM_CHUNK_BYTES) nch--;
    int nt = 1;
#ifdef _OPENMP
    if (nch > 1) nt = omp_get_max_threads();
#endif
    if (nt < 1) nt = 1;
    if ((size_t)nt > nch) nt = (int)nch;
    b->nch = nch;
    b->nacc = nacc;
    b->work_len = work_len;
    b->nthreads = nt;
    b->acc = alloc_touched(nch * (size_t)nacc * dd);
    b->work = work_len ? malloc((size_t)nt * work_len * sizeof *b->work) : NULL;
    if (b->acc == NULL || (work_len && b->work == NULL)) {
        sum_bufs_free(b);
        return oom(err, "per-sample sums");
    }
    return LINSTAB_OK;
}

/* The sum itself, in the buffers of b (no allocation). */
static void chunked_sample_sum_in(const sum_bufs *b, size_t n, size_t d, sample_sum_fn fn,
                                  const void *ctx, double scale, double *const *out)
{
    size_t dd = d * d, nch = b->nch;
    int nacc = b->nacc;
    memset(b->acc, 0, nch * (size_t)nacc * dd * sizeof *b->acc);
    int blas_threads = nch > 1 ? blas_threads_single() : -1;
#pragma omp parallel if (nch > 1) num_threads(b->nthreads)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        double *work = b->work_len ? b->work + (size_t)t * b->work_len : NULL;
#pragma omp for schedule(dynamic, 1)
        for (size_t c = 0; c < nch; c++) {
            double *a[4];
            for (int q = 0; q < nacc; q++) a[q] = b->acc + (c * (size_t)nacc + (size_t)q) * dd;
            for (size_t i = c * n / nch; i < (c + 1) * n / nch; i++) fn(i, a, work, ctx);
        }
    }
    blas_threads_restore(blas_threads);
    for (int q = 0; q < nacc; q++) {
        double *o = out[q];
        const double *a0 = b->acc + (size_t)q * dd;
        for (size_t j = 0; j < dd; j++) o[j] = a0[j];
        for (size_t c = 1; c < nch; c++) {
            const double *ac = b->acc + (c * (size_t)nacc + (size_t)q) * dd;
            for (size_t j = 0; j < dd; j++) o[j] += ac[j];
        }
        for (size_t j = 0; j < dd; j++) o[j] *= scale;
        linstab_sym_fill_lower(d, o);
    }
}

/* A one-off sum: its buffers allocated and freed here. */
static linstab_status chunked_sample_sum(size_t n, size_t d, int nacc, size_t work_len,
                                         sample_sum_fn fn, const void *ctx, double scale,
                                         double *const *out, linstab_error *err)
{
    sum_bufs b;
    linstab_status st = sum_bufs_alloc(n, d, nacc, work_len, &b, err);
    if (st != LINSTAB_OK) return st;
    chunked_sample_sum_in(&b, n, d, fn, ctx, scale, out);
    sum_bufs_free(&b);
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
    double *W = family_gather_factors(f);
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
    /* C_i = V_i diag(e_i) V_i' (PSD: rounding below 0 counts as 0), W turned
     * in place to [U_i V_i], whose columns are orthogonal per sample, so
     * that M_p = (1/n) sum_i (U_i V_i) diag(e_i)^{p-1} (U_i V_i)' is one SYRK
     * of the columns scaled by e^{(p-1)/2} */
    double *C = factor_grams(f, W);
    double *P = malloc(d * nk * sizeof *P), *e = malloc(nk * sizeof *e), *wt = malloc(nk * sizeof *wt);
    double *V = malloc(k * k * sizeof *V), *T = malloc(d * k * sizeof *T), *sc = malloc(nk * sizeof *sc);
    size_t *idx = malloc(2 * nk * sizeof *idx);
    linstab_status st = LINSTAB_OK;
    if (C == NULL || P == NULL || e == NULL || wt == NULL || V == NULL || T == NULL || sc == NULL || idx == NULL)
        st = oom(err, "Hessian moments");
    for (size_t i = 0; st == LINSTAB_OK && i < n; i++) {
        st = linstab_sym_eig(k, C + i * k * k, e + i * k, V, err);
        if (st != LINSTAB_OK) break;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)k, (int)k, 1.0, W + i * k, (int)nk, V,
                    (int)k, 0.0, T, (int)k);
        for (size_t r = 0; r < d; r++) memcpy(W + r * nk + i * k, T + r * k, k * sizeof *T);
    }
    for (size_t j = 0; st == LINSTAB_OK && j < nk; j++) {
        e[j] = fmax(e[j], 0.0);
        wt[j] = 1.0;
    }
    for (int p = 2; st == LINSTAB_OK && p <= kmax; p++) {
        for (size_t j = 0; j < nk; j++) wt[j] *= e[j]; /* e^{p-1} */
        if (M[p - 1] == NULL) continue;
        size_t qp = 0, qn = nk;
        scatter_scaled(d, nk, W, nk, nk, wt, P, &qp, &qn, idx, sc);
        syrk_signed(d, nk, qp, qn, inv, P, M[p - 1]);
    }
    free(W);
    free(C);
    free(P);
    free(e);
    free(wt);
    free(V);
    free(T);
    free(sc);
    free(idx);
    return st;
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

struct linstab_family_workspace {
    const linstab_family *f; /* borrowed */
    double *U;               /* dense and factored: X's upper half (d x d) */
    sum_bufs sum;            /* dense: the chunked sum's buffers */
    double *W, *P, *C, *tmp; /* factored: [U_1 ... U_n] and P (d x nk), C (n k x k), tmp (blocks_weighted_sum) */
    size_t *idx;             /* factored: blocks_weighted_sum's indices (2k) */
    lapack_int *iw;          /* factored: its LAPACK integers */
    /* diagonal: nothing (the sandwich needs no scratch) */
};

void linstab_family_workspace_free(linstab_family_workspace *w)
{
    if (w == NULL) return;
    free(w->U);
    sum_bufs_free(&w->sum);
    free(w->W);
    free(w->P);
    free(w->C);
    free(w->tmp);
    free(w->idx);
    free(w->iw);
    free(w);
}

linstab_status linstab_family_workspace_alloc(const linstab_family *f, linstab_family_workspace **out,
                                              linstab_error *err)
{
    *out = NULL;
    size_t n = f->n, d = f->d, k = f->k, dd = d * d, nk = n * k;
    linstab_family_workspace *w = calloc(1, sizeof *w);
    if (w == NULL) return oom(err, "family workspace");
    w->f = f;
    linstab_status st = LINSTAB_OK;
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE:
        w->U = malloc(dd * sizeof *w->U);
        st = w->U == NULL ? oom(err, "sandwich") : sum_bufs_alloc(n, d, 1, dd, &w->sum, err);
        break;
    case LINSTAB_FAMILY_FACTORED:
        w->W = family_gather_factors(f);
        w->U = malloc(dd * sizeof *w->U);
        w->P = malloc(d * nk * sizeof *w->P);
        w->C = malloc(n * k * k * sizeof *w->C);
        w->tmp = malloc(blocks_scratch_doubles(d, k) * sizeof *w->tmp);
        w->idx = malloc(2 * k * sizeof *w->idx);
        w->iw = malloc(blocks_scratch_ints(k) * sizeof *w->iw);
        if (w->W == NULL || w->U == NULL || w->P == NULL || w->C == NULL || w->tmp == NULL || w->idx == NULL || w->iw == NULL)
            st = oom(err, "sandwich");
        break;
    case LINSTAB_FAMILY_DIAGONAL: break;
    default: st = linstab_error_set(err, LINSTAB_EINVAL, "unknown family kind"); break;
    }
    if (st != LINSTAB_OK) {
        linstab_family_workspace_free(w);
        return st;
    }
    *out = w;
    return LINSTAB_OK;
}

/* T = the upper triangle of X with half its diagonal, so that X = T + T'
 * (row-major d x d; T's strict lower triangle is not written: every user
 * reads T as upper triangular). */
static void upper_half(size_t d, const double *X, double *T)
{
    for (size_t a = 0; a < d; a++) {
        T[a * d + a] = 0.5 * X[a * d + a];
        memcpy(T + a * d + a + 1, X + a * d + a + 1, (d - a - 1) * sizeof *T);
    }
}

linstab_status linstab_family_sandwich_ws(const linstab_family *f, linstab_family_workspace *w,
                                          const double *X, double *Y, linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k, dd = d * d;
    double inv = 1.0 / (double)n;
    if (w == NULL || w->f != f)
        return linstab_error_set(err, LINSTAB_EINVAL, "sandwich: the workspace belongs to another family");
    switch (f->kind) {
    case LINSTAB_FAMILY_DENSE: {
        /* X = U + U' with U upper triangular (half X's diagonal), so
         * H_i X H_i = T H_i + H_i T' with T = H_i U: a triangular product and
         * a rank-2k update per sample (1.5 d^3 flops, not 2 d^3), summed in
         * fixed chunks of samples over threads */
        double *U = w->U;
        upper_half(d, X, U);
        chol_ctx c = {f, U};
        chunked_sample_sum_in(&w->sum, n, d, dense_sandwich_term, &c, inv, &Y);
        return LINSTAB_OK;
    }
    case LINSTAB_FAMILY_FACTORED: {
        size_t nk = n * k;
        const double *W = w->W;
        double *P = w->P, *C = w->C, *T = w->U;
        /* X = T + T' (upper_half), so U_i' X U_i = (S_i + S_i') / 2 with
         * S_i = U_i' (2 T U_i): P = 2 T W is a triangular product, n k d^2
         * flops where X W takes 2 n k d^2 */
        upper_half(d, X, T);
        memcpy(P, W, d * nk * sizeof *P);
        cblas_dtrmm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, (int)d, (int)nk, 2.0, T,
                    (int)d, P, (int)nk);
        if (k == 1) {
            /* rank one: c_i = u_i' X u_i = u_i' (2 T u_i), then
             * Y = (1/n) sum c_i u_i u_i' as two SYRKs over the stored rows
             * scaled by sqrt|c_i|, those with c_i > 0 and those with
             * c_i < 0 (n d^2 flops: 2 n d^2 in all, not 4) */
            memset(C, 0, n * sizeof *C);
            for (size_t a = 0; a < d; a++) {
                const double *wa = W + a * n, *pa = P + a * n;
                for (size_t i = 0; i < n; i++) C[i] += wa[i] * pa[i];
            }
            /* P, no longer needed, holds the scaled rows: c_i > 0 first */
            size_t npos = 0;
            for (size_t i = 0; i < n; i++) npos += C[i] > 0.0;
            size_t qp = 0, qn = npos;
            for (size_t i = 0; i < n; i++) {
                if (C[i] == 0.0) continue;
                double sc = sqrt(fabs(C[i]));
                double *row = P + (C[i] > 0.0 ? qp++ : qn++) * d;
                const double *u = f->data + i * d;
                for (size_t a = 0; a < d; a++) row[a] = sc * u[a];
            }
            size_t nneg = qn - npos;
            if (npos > 0)
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)npos, inv, P, (int)d, 0.0, Y,
                            (int)d);
            else
                memset(Y, 0, dd * sizeof *Y);
            if (nneg > 0)
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nneg, -inv, P + npos * d, (int)d,
                            1.0, Y, (int)d);
            linstab_sym_fill_lower(d, Y);
            return LINSTAB_OK;
        }
        /* C_i = (S_i + S_i') / 2 with S_i = U_i' P_i, then
         * Y = (1/n) sum_i U_i C_i U_i' as signed SYRKs (n k d^2: 2 n k d^2
         * in all, where X W and W [U_i C_i]' would make it 4) */
        for (size_t i = 0; i < n; i++)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)k, (int)d, 1.0,
                        W + i * k, (int)nk, P + i * k, (int)nk, 0.0, C + i * k * k, (int)k);
        for (size_t i = 0; i < n; i++) linstab_sym_symmetrize(k, C + i * k * k);
        if (blocks_syrk_pays(d, k)) return blocks_weighted_sum(n, d, k, W, C, P, w->tmp, w->idx, w->iw, Y, err);
        /* small d: Y = W [U_i C_i]' / n, no eigensolves */
        memcpy(P, W, d * nk * sizeof *P);
        right_mul_blocks(n, d, k, P, C, w->tmp);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)nk, inv, W, (int)nk, P, (int)nk,
                    0.0, Y, (int)d);
        linstab_sym_symmetrize(d, Y);
        return LINSTAB_OK;
    }
    case LINSTAB_FAMILY_DIAGONAL:
        /* (H_i X H_i)_jl = D_ij X_jl D_il, so Y = X o (D'D / n) */
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, inv, f->data, (int)d,
                    0.0, Y, (int)d);
        linstab_sym_fill_lower(d, Y);
        for (size_t j = 0; j < dd; j++) Y[j] *= X[j];
        return LINSTAB_OK;
    }
    return linstab_error_set(err, LINSTAB_EINVAL, "unknown family kind");
}

linstab_status linstab_family_sandwich(const linstab_family *f, const double *X, double *Y,
                                       linstab_error *err)
{
    linstab_family_workspace *w = NULL;
    linstab_status st = linstab_family_workspace_alloc(f, &w, err);
    if (st == LINSTAB_OK) st = linstab_family_sandwich_ws(f, w, X, Y, err);
    linstab_family_workspace_free(w);
    return st;
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
    linstab_status st = linstab_sym_cholesky_lower(d, X, L) ? linstab_family_sandwich_chol(f, X, L, Y, err)
                                                         : linstab_family_sandwich(f, X, Y, err);
    free(L);
    return st;
}

linstab_status linstab_family_gram(const linstab_family *f, double *G, linstab_error *err)
{
    size_t n = f->n, d = f->d;
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
    case LINSTAB_FAMILY_FACTORED: return linstab_family_gram_quad(f, G, NULL, err);
    }
    return linstab_error_set(err, LINSTAB_EINVAL, "unknown family kind");
}

/* K = W'W whole (one SYRK, half the flops of row panels by GEMM) when it
 * is no larger than twice the factors themselves or 64 MB, and at most 512
 * MB; else in row panels of about 32 MB. */
#define GRAM_WHOLE_BYTES ((size_t)512 << 20)
static int gram_whole(size_t nk, size_t d)
{
    size_t kk = nk * nk, cap = 2 * d * nk > ((size_t)8 << 20) ? 2 * d * nk : ((size_t)8 << 20);
    return kk <= GRAM_WHOLE_BYTES / sizeof(double) && kk <= cap;
}

linstab_status linstab_family_gram_quad(const linstab_family *f, double *G, double *Q, linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k, nk = n * k;
    if (f->kind != LINSTAB_FAMILY_FACTORED) {
        if (Q != NULL) return linstab_error_set(err, LINSTAB_EINVAL, "Gram matrix: U_i'HU_i needs a factored family");
        return linstab_family_gram(f, G, err);
    }
    double inv = 1.0 / (double)n;
    int whole = gram_whole(nk, d);
    size_t bs = whole ? n : (4u << 20) / (nk * k);
    if (bs < 1) bs = 1;
    if (bs > n) bs = n;
    double *K = alloc_touched(bs * k * nk);
    /* rank one: the stored rows are W' already */
    double *W = k == 1 ? NULL : family_gather_factors(f);
    if (K == NULL || (k > 1 && W == NULL)) {
        free(K);
        free(W);
        return oom(err, "Gram matrix");
    }
    const double *Wt = k == 1 ? f->data : W;
    CBLAS_TRANSPOSE tr = k == 1 ? CblasNoTrans : CblasTrans;
    int ld = k == 1 ? (int)d : (int)nk;
    if (whole) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, tr, (int)nk, (int)d, 1.0, Wt, ld, 0.0, K, (int)nk);
        linstab_sym_fill_lower(nk, K);
    }
    for (size_t i0 = 0; i0 < n; i0 += bs) {
        size_t b = i0 + bs <= n ? bs : n - i0;
        const double *Wb = k == 1 ? Wt + i0 * d : Wt + i0 * k;
        if (!whole)
            cblas_dgemm(CblasRowMajor, tr, k == 1 ? CblasTrans : CblasNoTrans, (int)(b * k), (int)nk, (int)d, 1.0,
                        Wb, ld, Wt, ld, 0.0, K, (int)nk);
        for (size_t ii = 0; ii < b; ii++) {
            const double *Ki = K + ii * k * nk; /* rows U_i'U_j, j = 1..n */
            for (size_t j = 0; j < n; j++) {
                double s = 0.0;
                for (size_t c = 0; c < k; c++)
                    for (size_t q = 0; q < k; q++) {
                        double v = Ki[c * nk + j * k + q];
                        s += v * v;
                    }
                G[(i0 + ii) * n + j] = s;
            }
            /* U_i'HU_i = (1/n) sum_j (U_i'U_j)(U_i'U_j)' */
            if (Q != NULL) {
                double *Qi = Q + (i0 + ii) * k * k;
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)k, (int)nk, inv, Ki, (int)nk, 0.0, Qi,
                            (int)k);
                linstab_sym_fill_lower(k, Qi);
            }
        }
        if (whole) break;
    }
    linstab_sym_symmetrize(n, G);
    free(W);
    free(K);
    return LINSTAB_OK;
}

linstab_status linstab_family_factored_weighted(const linstab_family *f, const double *Q, double *Y,
                                                linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k, nk = n * k;
    if (f->kind != LINSTAB_FAMILY_FACTORED)
        return linstab_error_set(err, LINSTAB_EINVAL, "weighted sum: not a factored family");
    double *W = family_gather_factors(f), *P = malloc(d * nk * sizeof *P);
    if (k == 1) {
        /* u_i q_i u_i' with q_i of either sign: the columns u_i scaled by
         * sqrt|q_i|, signed SYRKs (no eigensolves) */
        double *sc = malloc(n * sizeof *sc);
        size_t *idx = malloc(2 * n * sizeof *idx);
        linstab_status st = W != NULL && P != NULL && sc != NULL && idx != NULL ? LINSTAB_OK : oom(err, "weighted sum");
        if (st == LINSTAB_OK) {
            size_t qp = 0, qn = n;
            scatter_scaled(d, n, W, n, n, Q, P, &qp, &qn, idx, sc);
            syrk_signed(d, n, qp, qn, 1.0 / (double)n, P, Y);
        }
        free(W);
        free(P);
        free(sc);
        free(idx);
        return st;
    }
    double *S = malloc(blocks_scratch_doubles(d, k) * sizeof *S);
    size_t *idx = malloc(2 * k * sizeof *idx);
    lapack_int *iw = malloc(blocks_scratch_ints(k) * sizeof *iw);
    linstab_status st =
        W != NULL && P != NULL && S != NULL && idx != NULL && iw != NULL ? LINSTAB_OK : oom(err, "weighted sum");
    if (st == LINSTAB_OK) st = blocks_weighted_sum(n, d, k, W, Q, P, S, idx, iw, Y, err);
    free(W);
    free(P);
    free(S);
    free(idx);
    free(iw);
    return st;
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

linstab_status linstab_family_sample_lambda1(const linstab_family *f, double *lam,
                                             linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k;
    if (f->lambda1 != NULL && f->lambda1_key == family_data_key(f)) {
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

uint64_t family_data_key(const linstab_family *f)
{
    /* FNV-1a over 64-bit words (8x fewer steps than over bytes): a change
     * of any bit of any entry changes the key with probability 1 - 2^-64 */
    size_t len = linstab_family_data_len(f);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        uint64_t w;
        memcpy(&w, f->data + i, sizeof w);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    return h;
}

int family_cache_lambda1(linstab_family *g, const double *lam)
{
    free(g->lambda1);
    g->lambda1 = malloc(g->n * sizeof *g->lambda1);
    if (g->lambda1 == NULL) return -1;
    memcpy(g->lambda1, lam, g->n * sizeof *g->lambda1);
    g->lambda1_key = family_data_key(g);
    return 0;
}
