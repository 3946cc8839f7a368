/*
 * sam.c -- SAM's exact mean-square stability (sam.h, docs/math.md §5):
 * the operators of both variants, their radius, critical eta and critical
 * rho.  'independent', and 'same' at B = n, use the operator of secmom.c;
 * 'same' at B = 1 is SGD on K_i = H_i + rho H_i^2 (linstab_sam_family);
 * 'same' at any other B is built here, as follows.
 *
 * The second-moment operator of SAM with one batch for ascent and descent
 * ('same') at any batch size B:
 *
 *   J = I - eta Hh - eta rho Hh^2,  Hh = (1/B) sum_i z_i H_i,
 *   T(X) = X - eta (HX + XH) - eta rho (E[Hh^2] X + X E[Hh^2])
 *          + eta^2 E[Hh X Hh] + eta^2 rho (E[Hh X Hh^2] + E[Hh^2 X Hh])
 *          + eta^2 rho^2 E[Hh^2 X Hh^2].
 *
 * A term E[Hh..Hh X Hh..Hh] with p factors is (1/B^p) sum over index tuples
 * of E[z_{i1} ... z_{ip}] times a matrix word.  The count moment depends
 * only on which indices coincide, i.e. on a set partition pi of the p
 * positions: mu(pi) = E[prod_blocks z_b^{|b|}] for distinct indices.  With
 * S(sigma) the *unrestricted* sum where positions in one block of sigma
 * share an index, Moebius inversion on the partition lattice gives
 *   sum_tuples E[z...] word = sum_sigma c(sigma) S(sigma),
 *   c(sigma) = sum_{pi <= sigma} mu(pi) mu_M(pi, sigma),
 *   mu_M(pi, sigma) = prod_{blocks of sigma} (-1)^{k-1} (k-1)!  (k = number
 *   of blocks of pi inside; Rota 1964).
 * Every S(sigma) is a sum over at most n terms (singleton positions are
 * n H; a block on one side of X is pre-summed), except the two patterns
 * with two blocks crossing X, which have closed forms in K = sum_j H_j (x) H_j.
 *
 * Operators are built densely on the full vec space R^{r^2} (row-major vec:
 * vec(A X B) = (A (x) B') vec X) and projected to svec coordinates.
 * Count moments: Bernoulli p^{#blocks}; without replacement
 * (B)_b/(n)_b for b distinct indices; with replacement (multinomial) via
 * Stirling numbers: z^s = sum_t S(s,t) (z)_t and E[prod (z_b)_{t_b}] =
 * (B)_T / n^T, T = sum t_b.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "linstab/critical.h"
#include "linstab/sam.h"
#include "units.h"
#include "linstab/secmom.h"
#include "linstab/sgd.h"
#include "linstab/sym.h"

static const double SQRT2 = 1.41421356237309504880168872420969808;

enum { MAXP = 4, MAXPART = 15 };

typedef struct partition {
    int p;          /* positions 0..p-1 */
    int block[MAXP]; /* block label of each position, restricted growth */
    int nblocks;
} partition;

/* All set partitions of {0..p-1} (Bell(p) of them). */
static int partitions(int p, partition *out)
{
    int count = 0, a[MAXP] = {0};
    for (;;) {
        partition *q = &out[count++];
        q->p = p;
        q->nblocks = 0;
        for (int i = 0; i < p; i++) {
            q->block[i] = a[i];
            if (a[i] + 1 > q->nblocks) q->nblocks = a[i] + 1;
        }
        /* next restricted growth string */
        int i = p - 1;
        for (; i > 0; i--) {
            int mx = 0;
            for (int j = 0; j < i; j++)
                if (a[j] > mx) mx = a[j];
            if (a[i] <= mx) {
                a[i]++;
                for (int j = i + 1; j < p; j++) a[j] = 0;
                break;
            }
        }
        if (i == 0) return count;
    }
}

/* pi refines sigma: every block of pi lies inside a block of sigma. */
static int refines(const partition *pi, const partition *sg)
{
    for (int i = 0; i < pi->p; i++)
        for (int j = 0; j < pi->p; j++)
            if (pi->block[i] == pi->block[j] && sg->block[i] != sg->block[j]) return 0;
    return 1;
}

static double moebius(const partition *pi, const partition *sg)
{
    double m = 1.0;
    for (int b = 0; b < sg->nblocks; b++) {
        int seen[MAXP] = {0}, k = 0;
        for (int i = 0; i < sg->p; i++)
            if (sg->block[i] == b && !seen[pi->block[i]]) {
                seen[pi->block[i]] = 1;
                k++;
            }
        for (int t = 1; t < k; t++) m *= -(double)t; /* (-1)^{k-1} (k-1)! */
    }
    return m;
}

static double stirling2(int s, int t)
{
    static const double S[5][5] = {{1, 0, 0, 0, 0},
                                   {0, 1, 0, 0, 0},
                                   {0, 1, 1, 0, 0},
                                   {0, 1, 3, 1, 0},
                                   {0, 1, 7, 6, 1}};
    return S[s][t];
}

/* (x)_k = x (x-1) ... (x-k+1) */
static double falling(double x, int k)
{
    double r = 1.0;
    for (int i = 0; i < k; i++) r *= x - i;
    return r;
}

/* mu(pi): E[prod_blocks z_b^{size}] for distinct indices per block. */
static double count_moment(const partition *pi, linstab_sampling s, size_t n, size_t B)
{
    int size[MAXP] = {0};
    for (int i = 0; i < pi->p; i++) size[pi->block[i]]++;
    double N = (double)n, Bd = (double)B;
    int b = pi->nblocks;
    switch (s) {
    case LINSTAB_SAMPLING_BERNOULLI: return pow(Bd / N, b);
    case LINSTAB_SAMPLING_WITHOUT:
        if (b > (int)n) return 0.0;
        return falling(Bd, b) / falling(N, b);
    case LINSTAB_SAMPLING_WITH: {
        /* sum over t_beta in 1..size_beta of prod S(size, t) (B)_T / n^T */
        double total = 0.0;
        int t[MAXP];
        for (int j = 0; j < b; j++) t[j] = 1;
        for (;;) {
            double c = 1.0;
            int T = 0;
            for (int j = 0; j < b; j++) {
                c *= stirling2(size[j], t[j]);
                T += t[j];
            }
            total += c * falling(Bd, T) / pow(N, T);
            int j = 0;
            while (j < b && ++t[j] > size[j]) t[j++] = 1;
            if (j == b) break;
        }
        return total;
    }
    }
    return 0.0;
}

/* c(sigma) for every sigma of p positions. */
static void coefficients(int p, linstab_sampling s, size_t n, size_t B, const partition *parts,
                         int np, double *c)
{
    for (int q = 0; q < np; q++) {
        c[q] = 0.0;
        for (int r = 0; r < np; r++)
            if (refines(&parts[r], &parts[q]))
                c[q] += count_moment(&parts[r], s, n, B) * moebius(&parts[r], &parts[q]);
    }
    (void)p;
}

/* ------------------------------------------------------------------ */

struct linstab_sam_same {
    const linstab_family *f;
    size_t r, n;
    double *Hs;  /* n dense samples r x r */
    double *H, *M2;
    double *K;   /* sum_j H_j (x) H_j, r^2 x r^2 */
    double *Ts[5]; /* svec terms for (B, s), see prepare() */
    int prepared;
    size_t B;
    linstab_sampling s;
};

/* Y += coef * (A (x) B') on the vec space (A, B r x r). */
static void kron_add(size_t r, double coef, const double *A, const double *B, double *Y)
{
    size_t rr = r * r;
    for (size_t p = 0; p < r; p++)
        for (size_t s = 0; s < r; s++) {
            double a = coef * A[p * r + s];
            if (a == 0.0) continue;
            for (size_t q = 0; q < r; q++)
                for (size_t t = 0; t < r; t++) Y[(p * r + q) * rr + s * r + t] += a * B[t * r + q];
        }
}

static void matmul(size_t r, const double *A, const double *B, double *C)
{
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)r, (int)r, (int)r, 1.0, A, (int)r,
                B, (int)r, 0.0, C, (int)r);
}

/*
 * Add coef * S(sigma) for the word with `nl` positions left of X and
 * p - nl right of it.  Cases: no block crossing X (everything pre-summed),
 * one crossing block (a loop over n), or the two double-crossing patterns.
 */
static void add_S(struct linstab_sam_same *w, const partition *sg, int nl, double coef, double *Y,
                  double *L, double *R, double *T1, double *T2)
{
    size_t r = w->r, n = w->n, rr = r * r;
    double N = (double)n;
    int p = sg->p, cross[MAXP] = {0}, ncross = 0, size[MAXP] = {0};
    int left[MAXP] = {0}, right[MAXP] = {0};
    for (int i = 0; i < p; i++) {
        size[sg->block[i]]++;
        if (i < nl) left[sg->block[i]] = 1;
        else right[sg->block[i]] = 1;
    }
    for (int b = 0; b < sg->nblocks; b++)
        if (left[b] && right[b]) cross[ncross++] = b;
    if (ncross == 2) {
        /* p = 4, nl = 2: {13}{24} -> sum_i (H_i (x) I) K (I (x) H_i);
         * {14}{23} -> K K */
        if (sg->block[0] == sg->block[3]) {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rr, (int)rr, (int)rr, coef,
                        w->K, (int)rr, w->K, (int)rr, 1.0, Y, (int)rr);
            return;
        }
        double *KR = malloc(rr * rr * sizeof *KR);
        if (KR == NULL) return;
        for (size_t i = 0; i < n; i++) {
            const double *Hi = w->Hs + i * rr;
            /* KR = K (I (x) H_i): column (s,t) = sum_u K[:, (s,u)] H_i[u][t] */
            for (size_t row = 0; row < rr; row++)
                for (size_t s = 0; s < r; s++)
                    for (size_t t = 0; t < r; t++) {
                        double v = 0.0;
                        for (size_t u = 0; u < r; u++) v += w->K[row * rr + s * r + u] * Hi[u * r + t];
                        KR[row * rr + s * r + t] = v;
                    }
            /* Y += coef (H_i (x) I) KR: row (p,q) = sum_s H_i[p][s] KR[(s,q), :] */
            for (size_t pp = 0; pp < r; pp++)
                for (size_t s = 0; s < r; s++) {
                    double a = coef * Hi[pp * r + s];
                    if (a == 0.0) continue;
                    for (size_t q = 0; q < r; q++)
                        cblas_daxpy((int)rr, a, KR + (s * r + q) * rr, 1, Y + (pp * r + q) * rr, 1);
                }
        }
        free(KR);
        return;
    }
    /* position matrices: singleton -> n H; a block of size 2 on one side ->
     * n M2 at its first position and I at its second; crossing block -> H_i */
    size_t loops = ncross == 1 ? n : 1;
    for (size_t i = 0; i < loops; i++) {
        const double *mat[MAXP];
        double scale = 1.0;
        for (int pos = 0; pos < p; pos++) {
            int b = sg->block[pos];
            if (ncross == 1 && b == cross[0]) {
                mat[pos] = w->Hs + i * rr;
            } else if (size[b] == 1) {
                mat[pos] = w->H;
                scale *= N;
            } else {
                /* a one-side block of size 2 covers a whole side (<= 2 positions) */
                int first = pos == 0 || sg->block[pos - 1] != b;
                mat[pos] = first ? w->M2 : NULL;
                if (first) scale *= N;
            }
        }
        /* L = product of left matrices, R of right ones (NULL = identity) */
        for (int side = 0; side < 2; side++) {
            double *P = side == 0 ? L : R;
            int from = side == 0 ? 0 : nl, to = side == 0 ? nl : p, have = 0;
            for (int pos = from; pos < to; pos++) {
                if (mat[pos] == NULL) continue;
                if (!have) {
                    memcpy(P, mat[pos], rr * sizeof *P);
                    have = 1;
                } else {
                    matmul(r, P, mat[pos], T1);
                    memcpy(P, T1, rr * sizeof *P);
                }
            }
            if (!have) {
                memset(P, 0, rr * sizeof *P);
                for (size_t j = 0; j < r; j++) P[j * r + j] = 1.0;
            }
        }
        kron_add(r, coef * scale, L, R, Y);
    }
    (void)T2;
}

/* Y += coef * E[word] with p positions, nl of them left of X. */
static void add_word(struct linstab_sam_same *w, int p, int nl, linstab_sampling s, size_t B,
                     double coef, double *Y, double *L, double *R, double *T1, double *T2)
{
    partition parts[MAXPART];
    double c[MAXPART];
    int np = partitions(p, parts);
    coefficients(p, s, w->n, B, parts, np, c);
    double norm = coef / pow((double)B, p);
    for (int q = 0; q < np; q++)
        if (c[q] != 0.0) add_S(w, &parts[q], nl, norm * c[q], Y, L, R, T1, T2);
}

void linstab_sam_same_free(linstab_sam_same *w)
{
    if (w == NULL) return;
    free(w->Hs);
    free(w->H);
    free(w->M2);
    free(w->K);
    for (int t = 0; t < 5; t++) free(w->Ts[t]);
    free(w);
}

linstab_status linstab_sam_same_alloc(const linstab_family *f, linstab_sam_same **out,
                                     linstab_error *err)
{
    *out = NULL;
    size_t r = f->d, n = f->n, rr = r * r;
    if (r > LINSTAB_SAM_SAME_MAX_R)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "SAM 'same' at general B: the dense operator on rank %zu is too "
                                 "large (limit %d)", r, LINSTAB_SAM_SAME_MAX_R);
    struct linstab_sam_same *w = calloc(1, sizeof *w);
    if (w == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory");
    w->f = f;
    w->r = r;
    w->n = n;
    w->Hs = malloc(n * rr * sizeof(double));
    w->H = malloc(rr * sizeof(double));
    w->M2 = malloc(rr * sizeof(double));
    w->K = calloc(rr * rr, sizeof(double));
    if (!w->Hs || !w->H || !w->M2 || !w->K) {
        linstab_sam_same_free(w);
        return linstab_error_set(err, LINSTAB_ENOMEM, "SAM operator: out of memory");
    }
    for (size_t i = 0; i < n; i++) linstab_family_sample_dense(f, i, w->Hs + i * rr);
    double *M[2] = {w->H, w->M2};
    linstab_status st = linstab_family_moments(f, 2, M, err);
    if (st != LINSTAB_OK) {
        linstab_sam_same_free(w);
        return st;
    }
    for (size_t i = 0; i < n; i++) kron_add(r, 1.0, w->Hs + i * rr, w->Hs + i * rr, w->K);
    *out = w;
    return LINSTAB_OK;
}

enum { TERMS = 5 }; /* A1 = HX + XH, A2 = E[Hh^2]X + XE[Hh^2], W2, W3, W4 */

/* The five B-dependent terms of T on the full vec space (each r^2 x r^2). */
static linstab_status build_terms(struct linstab_sam_same *w, size_t B, linstab_sampling s,
                                  double *const *Tm, linstab_error *err)
{
    size_t r = w->r, rr = r * r;
    double *L = malloc(rr * sizeof *L), *R = malloc(rr * sizeof *R), *T1 = malloc(rr * sizeof *T1),
           *E2 = calloc(rr * rr, sizeof *E2), *Id = calloc(rr, sizeof *Id),
           *Ehh2 = malloc(rr * sizeof *Ehh2);
    linstab_status st = LINSTAB_OK;
    if (!L || !R || !T1 || !E2 || !Id || !Ehh2) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "SAM operator: out of memory");
        goto done;
    }
    for (int t = 0; t < TERMS; t++) memset(Tm[t], 0, rr * rr * sizeof(double));
    for (size_t j = 0; j < r; j++) Id[j * r + j] = 1.0;
    kron_add(r, 1.0, w->H, Id, Tm[0]);
    kron_add(r, 1.0, Id, w->H, Tm[0]);
    /* E[Hh^2]: the word (2 | 0) is X -> E[Hh^2] X = kron(E[Hh^2], I); read
     * E[Hh^2][p][s] off row (p, 0), column (s, 0) */
    add_word(w, 2, 2, s, B, 1.0, E2, L, R, T1, NULL);
    for (size_t pp = 0; pp < r; pp++)
        for (size_t ss = 0; ss < r; ss++) Ehh2[pp * r + ss] = E2[(pp * r) * rr + ss * r];
    kron_add(r, 1.0, Ehh2, Id, Tm[1]);
    kron_add(r, 1.0, Id, Ehh2, Tm[1]);
    add_word(w, 2, 1, s, B, 1.0, Tm[2], L, R, T1, NULL); /* E[Hh X Hh]                  */
    add_word(w, 3, 1, s, B, 1.0, Tm[3], L, R, T1, NULL); /* E[Hh X Hh^2] + E[Hh^2 X Hh] */
    add_word(w, 3, 2, s, B, 1.0, Tm[3], L, R, T1, NULL);
    add_word(w, 4, 2, s, B, 1.0, Tm[4], L, R, T1, NULL); /* E[Hh^2 X Hh^2]              */
done:
    free(L);
    free(R);
    free(T1);
    free(E2);
    free(Id);
    free(Ehh2);
    return st;
}

/* T = I - eta A1 - eta rho A2 + eta^2 W2 + eta^2 rho W3 + eta^2 rho^2 W4 */
static void combine(size_t dim, double *const *Tm, double eta, double rho, double *T)
{
    double c[TERMS] = {-eta, -eta * rho, eta * eta, eta * eta * rho, eta * eta * rho * rho};
    for (size_t j = 0; j < dim * dim; j++) {
        double v = 0.0;
        for (int t = 0; t < TERMS; t++) v += c[t] * Tm[t][j];
        T[j] = v;
    }
    for (size_t j = 0; j < dim; j++) T[j * dim + j] += 1.0;
}

linstab_status linstab_sam_same_full(linstab_sam_same *w, double eta, double rho, size_t B,
                                    linstab_sampling s, double *T, linstab_error *err)
{
    size_t rr = w->r * w->r;
    double *Tm[TERMS] = {NULL};
    linstab_status st = LINSTAB_OK;
    for (int t = 0; t < TERMS; t++)
        if ((Tm[t] = malloc(rr * rr * sizeof(double))) == NULL)
            st = linstab_error_set(err, LINSTAB_ENOMEM, "SAM operator: out of memory");
    if (st == LINSTAB_OK) st = build_terms(w, B, s, Tm, err);
    if (st == LINSTAB_OK) combine(rr, Tm, eta, rho, T);
    for (int t = 0; t < TERMS; t++) free(Tm[t]);
    return st;
}

/* Ts[(p,q),(j,k)] = <E_pq, T(E_jk)>, E_jj = e_j e_j', E_jk = (e_j e_k' + e_k e_j')/sqrt 2 */
static void to_svec(size_t r, const double *T, double *Ts)
{
    size_t rr = r * r, m = r * (r + 1) / 2, row = 0;
    for (size_t p = 0; p < r; p++)
        for (size_t q = p; q < r; q++, row++) {
            size_t col = 0;
            for (size_t j = 0; j < r; j++)
                for (size_t k = j; k < r; k++, col++) {
                    double v;
                    if (j == k) {
                        v = p == q ? T[(p * r + q) * rr + j * r + j]
                                   : (T[(p * r + q) * rr + j * r + j] +
                                      T[(q * r + p) * rr + j * r + j]) / SQRT2;
                    } else {
                        double a = T[(p * r + q) * rr + j * r + k] + T[(p * r + q) * rr + k * r + j];
                        if (p == q) {
                            v = a / SQRT2;
                        } else {
                            double b = T[(q * r + p) * rr + j * r + k] + T[(q * r + p) * rr + k * r + j];
                            v = (a + b) / 2.0;
                        }
                    }
                    Ts[row * m + col] = v;
                }
        }
}

/* The svec terms for (B, s), cached in w. */
static linstab_status prepare(struct linstab_sam_same *w, size_t B, linstab_sampling s,
                              linstab_error *err)
{
    if (w->prepared && w->B == B && w->s == s) return LINSTAB_OK;
    size_t r = w->r, rr = r * r, m = r * (r + 1) / 2;
    double *Tm[TERMS] = {NULL};
    linstab_status st = LINSTAB_OK;
    for (int t = 0; t < TERMS && st == LINSTAB_OK; t++) {
        if (w->Ts[t] == NULL) w->Ts[t] = malloc(m * m * sizeof(double));
        Tm[t] = malloc(rr * rr * sizeof(double));
        if (w->Ts[t] == NULL || Tm[t] == NULL)
            st = linstab_error_set(err, LINSTAB_ENOMEM, "SAM operator: out of memory");
    }
    if (st == LINSTAB_OK) st = build_terms(w, B, s, Tm, err);
    for (int t = 0; t < TERMS; t++) {
        if (st == LINSTAB_OK) to_svec(r, Tm[t], w->Ts[t]);
        free(Tm[t]);
    }
    w->prepared = st == LINSTAB_OK;
    w->B = B;
    w->s = s;
    return st;
}

linstab_status linstab_sam_same_svec(linstab_sam_same *w, double eta, double rho, size_t B,
                                    linstab_sampling s, double *Ts, linstab_error *err)
{
    linstab_status st = prepare(w, B, s, err);
    if (st == LINSTAB_OK) combine(w->r * (w->r + 1) / 2, w->Ts, eta, rho, Ts);
    return st;
}

linstab_status linstab_sam_same_radius(linstab_sam_same *w, double eta, double rho, size_t B,
                                      linstab_sampling s, double *radius, linstab_error *err)
{
    size_t m = w->r * (w->r + 1) / 2;
    double *Ts = malloc(m * m * sizeof *Ts), *wv = malloc(m * sizeof *wv);
    if (Ts == NULL || wv == NULL) {
        free(Ts);
        free(wv);
        return linstab_error_set(err, LINSTAB_ENOMEM, "SAM operator: out of memory");
    }
    linstab_status st = linstab_sam_same_svec(w, eta, rho, B, s, Ts, err);
    if (st == LINSTAB_OK) {
        /* E[J X J] with J symmetric: self-adjoint and positive */
        linstab_sym_symmetrize(m, Ts);
        st = linstab_sym_eig(m, Ts, wv, NULL, err);
        if (st == LINSTAB_OK) *radius = fmax(fabs(wv[0]), fabs(wv[m - 1]));
    }
    free(Ts);
    free(wv);
    return st;
}

const char *linstab_sam_variant_name(linstab_optimizer v)
{
    return v == LINSTAB_OPT_SAM_SAME ? "same" : "independent";
}

linstab_status linstab_sam_variant_parse(const char *s, linstab_optimizer *v, linstab_error *err)
{
    if (strcmp(s, "same") == 0) {
        *v = LINSTAB_OPT_SAM_SAME;
        return LINSTAB_OK;
    }
    if (strcmp(s, "independent") == 0) {
        *v = LINSTAB_OPT_SAM_INDEP;
        return LINSTAB_OK;
    }
    return linstab_error_set_param(err, LINSTAB_EINVAL, "sam_variant",
                                   "'%s' is not a SAM variant: expected same or independent", s);
}

/* 'same' cases with a cheap route: B = 1 (K-family) and full batch */
static int same_special(size_t n, size_t batch, linstab_sampling sampling)
{
    if (batch == n && sampling == LINSTAB_SAMPLING_WITHOUT) return 1;
    return batch == 1 && sampling != LINSTAB_SAMPLING_BERNOULLI;
}

int linstab_sam_available(linstab_optimizer v, size_t n, size_t batch, linstab_sampling sampling)
{
    (void)n;
    (void)batch;
    (void)sampling;
    return v == LINSTAB_OPT_SAM_INDEP || v == LINSTAB_OPT_SAM_SAME;
}

int linstab_sam_available_rank(linstab_optimizer v, size_t n, size_t rank, size_t batch,
                               linstab_sampling sampling)
{
    if (v != LINSTAB_OPT_SAM_SAME && v != LINSTAB_OPT_SAM_INDEP) return 0;
    if (v == LINSTAB_OPT_SAM_INDEP || same_special(n, batch, sampling)) return 1;
    return rank <= LINSTAB_SAM_SAME_MAX_R;
}

/* The rotated family K_i = H_i + rho H_i^2 (SAM 'same' at B = 1), on the
 * same space as rf: K's mean is turned to diagonal, nothing is dropped
 * (for indefinite families K_i can lose rank where H_i has eigenvalue
 * -1/rho, and K's mean can be singular or indefinite). */
static linstab_status sam_same_family(const linstab_rotated *rf, double rho, linstab_rotated *out,
                                      linstab_error *err)
{
    linstab_family *K = NULL;
    memset(out, 0, sizeof *out);
    linstab_status st = linstab_sam_family(rf->f, rho, &K, err);
    if (st != LINSTAB_OK) return st;
    st = linstab_family_rotated_take(K, 1, rf->d_full, out, err);
    if (st == LINSTAB_OK) out->m2_range = rf->m2_range;
    return st;
}

/* SAM radius; *ws caches the general-B 'same' workspace between calls
 * (the caller frees it with linstab_sam_same_free). */
static linstab_status sam_radius_ws(const linstab_rotated *rf, linstab_optimizer v, double eta,
                                    double rho, size_t batch, linstab_sampling sampling,
                                    const linstab_eigen_opts *opts, linstab_sam_same **ws,
                                    double *radius, linstab_error *err)
{
    if (v != LINSTAB_OPT_SAM_SAME && v != LINSTAB_OPT_SAM_INDEP)
        return linstab_error_set_param(err, LINSTAB_EINVAL, "optimizer",
                                       "%s has no exact SAM operator (sam-same or sam-independent)",
                                       linstab_optimizer_name(v));
    size_t n = rf->f->n;
    double a, b;
    linstab_sampling_coeffs(sampling, n, batch, &a, &b);
    if (v == LINSTAB_OPT_SAM_INDEP)
        return linstab_secmom_radius_at(rf->f, rf->l, LINSTAB_OPT_SAM_INDEP, eta, rho, a, b, opts, radius,
                             err);
    if (batch == n && sampling == LINSTAB_SAMPLING_WITHOUT)
        return linstab_secmom_radius_at(rf->f, rf->l, LINSTAB_OPT_SAM_SAME, eta, rho, 1.0, 0.0, opts,
                             radius, err);
    if (!same_special(n, batch, sampling)) {
        /* general B: the moment expansion over set partitions (above) */
        linstab_status st = *ws ? LINSTAB_OK : linstab_sam_same_alloc(rf->f, ws, err);
        if (st == LINSTAB_OK) st = linstab_sam_same_radius(*ws, eta, rho, batch, sampling, radius, err);
        return st;
    }
    /* B = 1 with or without replacement: SGD at B = 1 on the family K_i */
    if (rho == 0.0) return linstab_sgd_radius(rf, eta, 1, sampling, opts, radius, err);
    linstab_rotated K;
    linstab_status st = sam_same_family(rf, rho, &K, err);
    if (st != LINSTAB_OK) return st;
    st = linstab_sgd_radius(&K, eta, 1, sampling, opts, radius, err);
    linstab_family_rotated_clear(&K);
    return st;
}

linstab_status linstab_sam_radius(const linstab_rotated *rf, linstab_optimizer v, double eta,
                                  double rho, size_t batch, linstab_sampling sampling,
                                  const linstab_eigen_opts *opts, double *radius,
                                  linstab_error *err)
{
    linstab_sam_same *ws = NULL;
    linstab_status st = sam_radius_ws(rf, v, eta, rho, batch, sampling, opts, &ws, radius, err);
    linstab_sam_same_free(ws);
    return st;
}

typedef struct param_ctx {
    const linstab_rotated *rf;
    linstab_optimizer v;
    double eta, rho;
    size_t batch;
    linstab_sampling sampling;
    const linstab_eigen_opts *opts;
    linstab_sam_same *ws; /* cached general-B 'same' terms */
} param_ctx;

static linstab_status radius_of_rho(double x, double *value, void *vctx, linstab_error *err)
{
    param_ctx *c = vctx;
    return sam_radius_ws(c->rf, c->v, c->eta, x, c->batch, c->sampling, c->opts, &c->ws, value, err);
}

static linstab_status radius_of_eta(double x, double *value, void *vctx, linstab_error *err)
{
    param_ctx *c = vctx;
    if (x == 0.0) {
        *value = 1.0; /* T = identity */
        return LINSTAB_OK;
    }
    return sam_radius_ws(c->rf, c->v, x, c->rho, c->batch, c->sampling, c->opts, &c->ws, value, err);
}

static double top_k(const linstab_rotated *rf, double rho)
{
    double k = 0.0;
    for (size_t j = 0; j < rf->f->d; j++) k = fmax(k, rf->l[j] + rho * rf->l[j] * rf->l[j]);
    return k;
}

/*
 * The smallest eigenvalue of the curvature K of SAM's mean step
 * E[J] = I - eta K, relative to max|K| (<= r eps: treated as 0):
 * 'same': K = H + rho E[Hhat^2] = H + rho (a H^2 + b M_2);
 * 'independent': K = H + rho H^2 (the batches are independent).
 */
static linstab_status mean_curvature_min(const linstab_rotated *rf, linstab_optimizer v, double rho,
                                         size_t batch, linstab_sampling sampling, double *kmin,
                                         linstab_error *err)
{
    const linstab_family *f = rf->f;
    size_t r = f->d;
    if (linstab_critical_curvature_positive(r, rf->l)) {
        /* H positive definite on the space, rho a H^2 + rho b M_2 PSD */
        *kmin = rf->l[r - 1];
        return LINSTAB_OK;
    }
    double a = 1.0, b = 0.0;
    if (v == LINSTAB_OPT_SAM_SAME) linstab_sampling_coeffs(sampling, f->n, batch, &a, &b);
    double *K = calloc(r * r, sizeof *K), *w = malloc(r * sizeof *w);
    if (K == NULL || w == NULL) {
        free(K);
        free(w);
        return linstab_error_set(err, LINSTAB_ENOMEM, "SAM critical eta: out of memory");
    }
    linstab_status st = LINSTAB_OK;
    if (rho != 0.0 && b != 0.0) {
        double *M[2] = {NULL, K};
        st = linstab_family_moments(f, 2, M, err);
        for (size_t j = 0; st == LINSTAB_OK && j < r * r; j++) K[j] *= rho * b;
    }
    for (size_t j = 0; j < r; j++) K[j * r + j] += rf->l[j] + rho * a * rf->l[j] * rf->l[j];
    if (st == LINSTAB_OK) st = linstab_sym_eig(r, K, w, NULL, err);
    if (st == LINSTAB_OK) {
        double kmax = fmax(fabs(w[0]), fabs(w[r - 1]));
        *kmin = w[0] > (double)r * DBL_EPSILON * kmax ? w[0] : 0.0;
    }
    free(K);
    free(w);
    return st;
}

linstab_status linstab_sam_eta_star(const linstab_rotated *rf, linstab_optimizer variant,
                                    double rho, size_t batch, linstab_sampling sampling,
                                    const linstab_eigen_opts *eo, double *eta_star,
                                    linstab_error *err)
{
    return sam_eta_star_units(rf, variant, rho, batch, sampling, eo, eta_star, NULL, err);
}

linstab_status sam_eta_star_units(const linstab_rotated *rf, linstab_optimizer variant, double rho, size_t batch,
                                  linstab_sampling sampling, const linstab_eigen_opts *eo, double *eta_star,
                                  stab_units *u, linstab_error *err)
{
    size_t n = rf->f->n;
    if (!linstab_sam_available_rank(variant, n, rf->f->d, batch, sampling))
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "SAM (%s): no exact operator for B = %zu, %s at rank %zu",
                                 linstab_sam_variant_name(variant), batch,
                                 linstab_sampling_name(sampling), rf->f->d);
    /* first order: radius(eta) = 1 - 2 eta lambda_min(K) + O(eta^2) with K
     * the mean step's curvature; lambda_min(K) <= 0 leaves no stable eta */
    double kmin = 0.0;
    linstab_status st0 = mean_curvature_min(rf, variant, rho, batch, sampling, &kmin, err);
    if (st0 != LINSTAB_OK) return st0;
    if (!(kmin > 0.0)) {
        *eta_star = 0.0;
        return LINSTAB_OK;
    }
    if (variant == LINSTAB_OPT_SAM_SAME && batch == n && sampling == LINSTAB_SAMPLING_WITHOUT) {
        *eta_star = 2.0 / top_k(rf, rho); /* full batch: Zhou et al., after Prop. 4.1 */
        return LINSTAB_OK;
    }
    if (variant == LINSTAB_OPT_SAM_SAME && same_special(n, batch, sampling)) {
        if (rho == 0.0) return linstab_critical_eta(rf->f, rf->l, 0.0, 1.0, eo, eta_star, err);
        linstab_rotated K;
        linstab_status st = sam_same_family(rf, rho, &K, err);
        if (st != LINSTAB_OK) return st;
        st = linstab_critical_eta(K.f, K.l, 0.0, 1.0, eo, eta_star, err);
        linstab_family_rotated_clear(&K);
        return st;
    }
    /* independent batches (T is not self-adjoint) and 'same' at general B:
     * bisection on eta */
    param_ctx c = {rf, variant, 0.0, rho, batch, sampling, eo, NULL};
    linstab_status st = critical_param_units(radius_of_eta, &c, 1.0 / top_k(rf, rho), 1e-10,
                                             eta_star, NULL, u, err);
    linstab_sam_same_free(c.ws);
    return st;
}

linstab_status linstab_sam_critical_rho(const linstab_rotated *rf, linstab_optimizer variant,
                                        double eta, size_t batch, linstab_sampling sampling,
                                        const linstab_eigen_opts *eo, double *rho_star,
                                        int *monotone, linstab_error *err)
{
    return sam_critical_rho_units(rf, variant, eta, batch, sampling, eo, rho_star, monotone, NULL, err);
}

linstab_status sam_critical_rho_units(const linstab_rotated *rf, linstab_optimizer variant, double eta,
                                      size_t batch, linstab_sampling sampling, const linstab_eigen_opts *eo,
                                      double *rho_star, int *monotone, stab_units *u, linstab_error *err)
{
    param_ctx c = {rf, variant, eta, 0.0, batch, sampling, eo, NULL};
    double l1 = top_k(rf, 0.0);
    double hint = (2.0 / eta - l1) / (l1 * l1);
    if (!(hint > 0.0)) hint = 1e-3 / l1;
    linstab_status st = critical_param_units(radius_of_rho, &c, hint, 1e-10, rho_star, monotone, u, err);
    linstab_sam_same_free(c.ws);
    return st;
}

linstab_status linstab_sam_family(const linstab_family *f, double rho, linstab_family **out,
                                       linstab_error *err)
{
    size_t n = f->n, d = f->d, k = f->k;
    linstab_status st = linstab_family_alloc(f->kind, n, d, k, out, err);
    if (st != LINSTAB_OK) return st;
    linstab_family *g = *out;
    switch (f->kind) {
    case LINSTAB_FAMILY_DIAGONAL:
        for (size_t j = 0; j < n * d; j++) g->data[j] = f->data[j] + rho * f->data[j] * f->data[j];
        return LINSTAB_OK;
    case LINSTAB_FAMILY_DENSE:
        for (size_t i = 0; i < n; i++) {
            const double *Hi = f->data + i * d * d;
            double *Ki = g->data + i * d * d;
            memcpy(Ki, Hi, d * d * sizeof *Ki);
            cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)d, (int)d, rho, Hi, (int)d, Hi,
                        (int)d, 1.0, Ki, (int)d);
            linstab_sym_symmetrize(d, Ki);
        }
        return LINSTAB_OK;
    case LINSTAB_FAMILY_FACTORED: {
        /* U (I + rho U'U) U' = (U R)(U R)' with R = (I + rho C)^{1/2}, C = U'U */
        double *C = malloc(k * k * sizeof *C), *V = malloc(k * k * sizeof *V),
               *w = malloc(k * sizeof *w), *R = malloc(k * k * sizeof *R);
        if (!C || !V || !w || !R) {
            free(C);
            free(V);
            free(w);
            free(R);
            linstab_family_free(g);
            *out = NULL;
            return linstab_error_set(err, LINSTAB_ENOMEM, "SAM family: out of memory");
        }
        for (size_t i = 0; i < n && st == LINSTAB_OK; i++) {
            const double *U = f->data + i * d * k;
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)d, 1.0, U, (int)k, 0.0,
                        C, (int)k);
            linstab_sym_fill_lower(k, C);
            st = linstab_sym_eig(k, C, w, V, err);
            if (st != LINSTAB_OK) break;
            for (size_t a = 0; a < k; a++)
                for (size_t b = 0; b < k; b++) {
                    double s = 0.0;
                    for (size_t c = 0; c < k; c++)
                        s += V[a * k + c] * sqrt(1.0 + rho * fmax(w[c], 0.0)) * V[b * k + c];
                    R[a * k + b] = s;
                }
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)k, (int)k, 1.0, U,
                        (int)k, R, (int)k, 0.0, g->data + i * d * k, (int)k);
        }
        free(C);
        free(V);
        free(w);
        free(R);
        if (st != LINSTAB_OK) {
            linstab_family_free(g);
            *out = NULL;
        }
        return st;
    }
    }
    return LINSTAB_OK;
}
