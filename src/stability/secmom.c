/*
 * secmom.c -- second-moment operators of linearized SGD and SAM
 * (docs/math.md §3, §5; Dexter et al. Lemma 4.1's T; Zhou et al. Eq. 4
 * for independent SAM batches).  In the eigenbasis of H the deterministic parts are
 * diagonal in svec coordinates (entry (j,k) scales by a function of
 * l_j, l_k); only M(X) = (1/n) sum_i H_i X H_i needs the family.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "linstab/sym.h"
#include "linstab/secmom.h"
#include "lobpcg.h"

struct linstab_secmom {
    const linstab_family *f;
    const double *l;
    size_t r, m;
    linstab_optimizer method;
    double eta, rho, a, b;
    double *X, *Y, *Z; /* r x r work matrices */
    linstab_family_workspace *ws; /* the sandwich's (NULL when b = 0 or full batch) */
};

void linstab_secmom_free(linstab_secmom *s)
{
    if (s == NULL) return;
    free(s->X);
    free(s->Y);
    free(s->Z);
    linstab_family_workspace_free(s->ws);
    free(s);
}

linstab_status linstab_secmom_alloc(const linstab_family *f, const double *l,
                                    linstab_optimizer method, double eta, double rho, double a,
                                    double b, linstab_secmom **out, linstab_error *err)
{
    *out = NULL;
    if (method == LINSTAB_OPT_SAM_NORMALIZED)
        return linstab_error_set_param(err, LINSTAB_EINVAL, "optimizer",
                                       "normalized SAM is not linear: it has no second-moment operator");
    if (method == LINSTAB_OPT_GD)
        return linstab_error_set_param(err, LINSTAB_EINVAL, "optimizer",
                                       "GD has no second-moment operator here: use SGD with B = n "
                                       "without replacement");
    size_t r = f->d;
    linstab_secmom *s = calloc(1, sizeof *s);
    if (s == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "second-moment operator: out of memory");
    s->f = f;
    s->l = l;
    s->r = r;
    s->m = r * (r + 1) / 2;
    s->method = method;
    s->eta = eta;
    s->rho = rho;
    s->a = a;
    s->b = b;
    s->X = malloc(r * r * sizeof(double));
    s->Y = malloc(r * r * sizeof(double));
    s->Z = malloc(r * r * sizeof(double));
    if (s->X == NULL || s->Y == NULL || s->Z == NULL) {
        linstab_secmom_free(s);
        return linstab_error_set(err, LINSTAB_ENOMEM,
                                 "second-moment operator of dimension %zu: out of memory", r);
    }
    if (b != 0.0 && method != LINSTAB_OPT_SAM_SAME) { /* SAM_SAME here: full batch, no noise */
        linstab_status st = linstab_family_workspace_alloc(f, &s->ws, err);
        if (st != LINSTAB_OK) {
            linstab_secmom_free(s);
            return st;
        }
    }
    *out = s;
    return LINSTAB_OK;
}

linstab_status linstab_secmom_batch_moment(const linstab_family *f, const double *l, double a, double b,
                                           linstab_family_workspace *ws, const double *X, double *Y,
                                           linstab_error *err)
{
    size_t r = f->d;
    linstab_status st = LINSTAB_OK;
    if (b != 0.0) {
        st = ws != NULL ? linstab_family_sandwich_ws(f, ws, X, Y, err) : linstab_family_sandwich(f, X, Y, err);
        for (size_t j = 0; j < r * r; j++) Y[j] *= b;
    } else {
        memset(Y, 0, r * r * sizeof *Y);
    }
    for (size_t j = 0; j < r; j++)
        for (size_t k = 0; k < r; k++) Y[j * r + k] += a * l[j] * l[k] * X[j * r + k];
    return st;
}

/* S(X) = a HXH + b M(X) into Y (no allocation: the family's workspace). */
static linstab_status apply_S(linstab_secmom *s, const double *X, double *Y, linstab_error *err)
{
    return linstab_secmom_batch_moment(s->f, s->l, s->a, s->b, s->ws, X, Y, err);
}

linstab_status linstab_secmom_apply(linstab_secmom *s, const double *X, double *Y, linstab_error *err)
{
    linstab_status st;
    size_t r = s->r;
    const double *l = s->l;
    double eta = s->eta, rho = s->rho;
    switch (s->method) {
    case LINSTAB_OPT_SGD:
        if ((st = apply_S(s, X, Y, err)) != LINSTAB_OK) return st;
        for (size_t j = 0; j < r; j++)
            for (size_t k = 0; k < r; k++) {
                size_t p = j * r + k;
                Y[p] = X[p] * (1.0 - eta * (l[j] + l[k])) + eta * eta * Y[p];
            }
        return LINSTAB_OK;
    case LINSTAB_OPT_SAM_INDEP: {
        double *Yx = s->Z;
        /* Yx = X + rho (HX + XH) + rho^2 S(X) */
        if ((st = apply_S(s, X, Yx, err)) != LINSTAB_OK) return st;
        for (size_t j = 0; j < r; j++)
            for (size_t k = 0; k < r; k++) {
                size_t p = j * r + k;
                Yx[p] = X[p] * (1.0 + rho * (l[j] + l[k])) + rho * rho * Yx[p];
            }
        if ((st = apply_S(s, Yx, Y, err)) != LINSTAB_OK) return st;
        for (size_t j = 0; j < r; j++)
            for (size_t k = 0; k < r; k++) {
                size_t p = j * r + k;
                double kj = l[j] + rho * l[j] * l[j], kk = l[k] + rho * l[k] * l[k];
                Y[p] = X[p] * (1.0 - eta * (kj + kk)) + eta * eta * Y[p];
            }
        return LINSTAB_OK;
    }
    case LINSTAB_OPT_SAM_SAME:
        for (size_t j = 0; j < r; j++)
            for (size_t k = 0; k < r; k++) {
                double kj = l[j] + rho * l[j] * l[j], kk = l[k] + rho * l[k] * l[k];
                Y[j * r + k] = X[j * r + k] * (1.0 - eta * kj) * (1.0 - eta * kk);
            }
        return LINSTAB_OK;
    case LINSTAB_OPT_SAM_NORMALIZED: /* refused by linstab_secmom_alloc */
    case LINSTAB_OPT_GD:
        break;
    }
    return linstab_error_set(err, LINSTAB_EINVAL, "second-moment operator: unknown method %d", (int)s->method);
}

static linstab_status apply_svec(const double *x, double *y, void *ctx, linstab_error *err)
{
    linstab_secmom *s = ctx;
    linstab_svec_smat(s->r, x, s->X);
    linstab_status st = linstab_secmom_apply(s, s->X, s->Y, err);
    if (st == LINSTAB_OK) linstab_svec(s->r, s->Y, y);
    return st;
}

/* The adjoint of the independent-SAM operator: T'(X) = X - eta(K'X + XK')
 * + eta^2 Y'(S(X)), with S and Y self-adjoint. */
static linstab_status apply_adjoint_svec(const double *x, double *y, void *ctx, linstab_error *err)
{
    linstab_secmom *s = ctx;
    if (s->method != LINSTAB_OPT_SAM_INDEP) return apply_svec(x, y, ctx, err);
    size_t r = s->r;
    const double *l = s->l;
    double eta = s->eta, rho = s->rho;
    linstab_svec_smat(r, x, s->X);
    linstab_status st = apply_S(s, s->X, s->Z, err); /* Z = S(X) */
    if (st == LINSTAB_OK) st = apply_S(s, s->Z, s->Y, err); /* Y = S(Z) */
    if (st != LINSTAB_OK) return st;
    for (size_t j = 0; j < r; j++)
        for (size_t k = 0; k < r; k++) {
            size_t p = j * r + k;
            double kj = l[j] + rho * l[j] * l[j], kk = l[k] + rho * l[k] * l[k];
            double yz = s->Z[p] * (1.0 + rho * (l[j] + l[k])) + rho * rho * s->Y[p];
            s->Y[p] = s->X[p] * (1.0 - eta * (kj + kk)) + eta * eta * yz;
        }
    linstab_svec(r, s->Y, y);
    return LINSTAB_OK;
}

/* Diagonal (in svec order) of the deterministic part, by f(l_j, l_k). */
static void svec_diag(const linstab_secmom *s, double (*fn)(const linstab_secmom *, double, double),
                      double *dg)
{
    size_t p = 0;
    for (size_t j = 0; j < s->r; j++)
        for (size_t k = j; k < s->r; k++) dg[p++] = fn(s, s->l[j], s->l[k]);
}

static double f_sgd(const linstab_secmom *s, double lj, double lk)
{
    return 1.0 - s->eta * (lj + lk) + s->eta * s->eta * s->a * lj * lk;
}
static double f_hh(const linstab_secmom *s, double lj, double lk) { return s->a * lj * lk; }
static double f_y(const linstab_secmom *s, double lj, double lk)
{
    return 1.0 + s->rho * (lj + lk);
}
static double f_k(const linstab_secmom *s, double lj, double lk)
{
    double kj = lj + s->rho * lj * lj, kk = lk + s->rho * lk * lk;
    return 1.0 - s->eta * (kj + kk);
}
static double f_full(const linstab_secmom *s, double lj, double lk)
{
    double kj = lj + s->rho * lj * lj, kk = lk + s->rho * lk * lk;
    return (1.0 - s->eta * kj) * (1.0 - s->eta * kk);
}

static linstab_status form_dense(double *T, void *ctx, linstab_error *err)
{
    linstab_secmom *s = ctx;
    size_t m = s->m;
    double *dg = malloc(m * sizeof *dg);
    if (dg == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "dense operator: out of memory");
    linstab_status st = LINSTAB_OK;
    if (s->method == LINSTAB_OPT_SAM_SAME) {
        memset(T, 0, m * m * sizeof *T);
        svec_diag(s, f_full, dg);
        for (size_t p = 0; p < m; p++) T[p * m + p] = dg[p];
        free(dg);
        return LINSTAB_OK;
    }
    if (s->b != 0.0) {
        st = linstab_family_sandwich_svec(s->f, T, err);
    } else {
        memset(T, 0, m * m * sizeof *T);
    }
    if (st != LINSTAB_OK) {
        free(dg);
        return st;
    }
    double eta2 = s->eta * s->eta;
    if (s->method == LINSTAB_OPT_SGD) {
        svec_diag(s, f_sgd, dg);
        for (size_t j = 0; j < m * m; j++) T[j] *= eta2 * s->b;
        for (size_t p = 0; p < m; p++) T[p * m + p] += dg[p];
        free(dg);
        return LINSTAB_OK;
    }
    /* independent SAM: T = diag(f_k) + eta^2 S (diag(f_y) + rho^2 S) */
    double *S = T, *Yd = malloc(m * m * sizeof *Yd), *P = malloc(m * m * sizeof *P);
    if (Yd == NULL || P == NULL) {
        free(dg);
        free(Yd);
        free(P);
        return linstab_error_set(err, LINSTAB_ENOMEM, "dense operator: out of memory");
    }
    for (size_t j = 0; j < m * m; j++) S[j] *= s->b;
    svec_diag(s, f_hh, dg);
    for (size_t p = 0; p < m; p++) S[p * m + p] += dg[p];
    svec_diag(s, f_y, dg);
    for (size_t j = 0; j < m * m; j++) Yd[j] = s->rho * s->rho * S[j];
    for (size_t p = 0; p < m; p++) Yd[p * m + p] += dg[p];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)m, (int)m, eta2, S, (int)m,
                Yd, (int)m, 0.0, P, (int)m);
    svec_diag(s, f_k, dg);
    for (size_t p = 0; p < m; p++) P[p * m + p] += dg[p];
    memcpy(T, P, m * m * sizeof *T);
    free(Yd);
    free(P);
    free(dg);
    return LINSTAB_OK;
}

linstab_operator linstab_secmom_operator(linstab_secmom *s)
{
    linstab_operator op = {s->m, apply_svec, apply_adjoint_svec, form_dense,
                           s->method != LINSTAB_OPT_SAM_INDEP, s};
    return op;
}

/*
 * SGD below its critical eta, matrix-free.  T = I - eta C with
 * C(X) = (HX + XH) - eta (a HXH + b M(X)) positive definite exactly when
 * eta < eta*, so radius(T) = lambda_max(T) = 1 - eta lambda_min(C) (T is a
 * positive map).  When H has small eigenvalues the top of T is a tight
 * cluster just below 1 and Lanczos on T crawls (hundreds of restarts on a
 * rank-one family with d = 1000); on C^{-1} the same eigenvalues are well
 * separated.  So: Lanczos on C^{-1} (shift-and-invert at 0, Golub & Van
 * Loan 4th ed. 10.1 / Saad, "Numerical Methods for Large Eigenvalue
 * Problems", 4.1.3), each application a conjugate-gradient solve
 * preconditioned by the deterministic part P_jk = l_j + l_k - eta a l_j l_k,
 * which is diagonal in the eigenbasis of H: P^{-1/2} C P^{-1/2} =
 * I - eta b P^{-1/2} M P^{-1/2} has its spectrum in (0, 1], so CG needs few
 * steps unless eta is close to eta*.  C computed directly, never as
 * (X - T(X))/eta, which would cancel.  Any sign that C is not positive
 * definite (or CG stalls) abandons this route for plain Lanczos on T.
 */
typedef struct si_ctx {
    linstab_secmom *s;
    double *P, *R, *Z, *D, *Q, *X; /* r x r work matrices */
    size_t iters;
} si_ctx;

/* Y = C(X) = (l_j + l_k) X_jk - eta S(X)_jk */
static linstab_status apply_C(linstab_secmom *s, const double *X, double *Y, linstab_error *err)
{
    size_t r = s->r;
    linstab_status st = apply_S(s, X, Y, err);
    if (st != LINSTAB_OK) return st;
    for (size_t j = 0; j < r; j++)
        for (size_t k = 0; k < r; k++) {
            size_t p = j * r + k;
            Y[p] = (s->l[j] + s->l[k]) * X[p] - s->eta * Y[p];
        }
    return LINSTAB_OK;
}

static double frob_dot(size_t rr, const double *A, const double *B)
{
    return cblas_ddot((int)rr, A, 1, B, 1);
}

/* y = C^{-1} x in svec coordinates, by preconditioned CG on r x r matrices
 * (the Frobenius product is the svec product).  LINSTAB_ENOCONV when C is
 * not positive definite or CG stalls: the caller then leaves this route. */
static linstab_status apply_C_inverse(const double *x, double *y, void *ctx, linstab_error *err)
{
    si_ctx *c = ctx;
    linstab_secmom *s = c->s;
    size_t r = s->r, rr = r * r;
    double *B = s->Z, *Xs = c->X;
    linstab_svec_smat(r, x, B);
    memset(Xs, 0, rr * sizeof *Xs);
    memcpy(c->R, B, rr * sizeof *B);
    for (size_t j = 0; j < rr; j++) c->Z[j] = c->R[j] / c->P[j];
    memcpy(c->D, c->Z, rr * sizeof *c->D);
    double rz = frob_dot(rr, c->R, c->Z), bn = sqrt(frob_dot(rr, B, B));
    int done = !(bn > 0.0);
    for (size_t it = 0; !done && it < 2000; it++) {
        linstab_status st = apply_C(s, c->D, c->Q, err);
        if (st != LINSTAB_OK) return st;
        c->iters++;
        double dq = frob_dot(rr, c->D, c->Q);
        if (!(dq > 0.0)) break; /* C is not positive definite */
        double alpha = rz / dq;
        cblas_daxpy((int)rr, alpha, c->D, 1, Xs, 1);
        cblas_daxpy((int)rr, -alpha, c->Q, 1, c->R, 1);
        if (sqrt(frob_dot(rr, c->R, c->R)) <= 1e-13 * bn) {
            done = 1;
            break;
        }
        for (size_t j = 0; j < rr; j++) c->Z[j] = c->R[j] / c->P[j];
        double rz1 = frob_dot(rr, c->R, c->Z);
        double beta = rz1 / rz;
        rz = rz1;
        for (size_t j = 0; j < rr; j++) c->D[j] = c->Z[j] + beta * c->D[j];
    }
    if (!done)
        return linstab_error_set(err, LINSTAB_ENOCONV,
                                 "conjugate gradients on C = T - I: no convergence (C is not positive "
                                 "definite or too ill-conditioned)");
    linstab_sym_symmetrize(r, Xs);
    linstab_svec(r, Xs, y);
    return LINSTAB_OK;
}

/* 1 and *radius on success; 0 when this route does not apply. */
static int radius_shift_invert(linstab_secmom *s, const linstab_eigen_opts *opts, double *radius)
{
    size_t r = s->r, rr = r * r;
    si_ctx c = {s, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    double *buf = malloc(6 * rr * sizeof *buf);
    if (buf == NULL) return 0;
    c.P = buf;
    c.R = buf + rr;
    c.Z = buf + 2 * rr;
    c.D = buf + 3 * rr;
    c.Q = buf + 4 * rr;
    c.X = buf + 5 * rr;
    int ok = 1;
    double pmin = INFINITY, lmax = 0.0;
    for (size_t j = 0; j < r && ok; j++) {
        lmax = fmax(lmax, s->l[j]);
        for (size_t k = 0; k < r; k++) {
            double pjk = s->l[j] + s->l[k] - s->eta * s->a * s->l[j] * s->l[k];
            if (!(pjk > 0.0)) ok = 0; /* then C is not positive definite */
            c.P[j * r + k] = pjk;
            pmin = fmin(pmin, pjk);
        }
    }
    /* Lanczos on T converges like sqrt(gap / spread of C), on C^{-1} like
     * sqrt(gap / lambda_min(C)) at a few CG steps per application: the
     * inverse pays off only when the spread 2 l_max dwarfs lambda_min(C),
     * which P_min bounds (a dense family with a well-conditioned H, where
     * every eigenvalue of C sits in a narrow band, is faster without it) */
    if (ok && 2.0 * lmax < 30.0 * pmin) ok = 0;
    if (ok) {
        linstab_operator op = {s->m, apply_C_inverse, apply_C_inverse, NULL, 1, &c};
        linstab_eigen_opts o = opts ? *opts : linstab_eigen_defaults();
        o.path = LINSTAB_EIGEN_ARPACK;
        o.max_iter = 300;
        double nu = 0.0;
        linstab_error e = {0};
        /* any failure (CG above all) leaves this route, not the radius */
        ok = linstab_eigen_top(&op, &o, &nu, NULL, &e) == LINSTAB_OK && nu > 0.0;
        if (ok) *radius = 1.0 - s->eta / nu; /* lambda_min(C) = 1 / nu */
    }
    free(buf);
    return ok;
}

/* y = C x in svec coordinates (C(X) = (l_j + l_k) X - eta S(X), no
 * cancellation); the work matrices are si_ctx's X and Q. */
static linstab_status apply_C_svec(const double *x, double *y, void *ctx, linstab_error *err)
{
    si_ctx *c = ctx;
    linstab_svec_smat(c->s->r, x, c->X);
    linstab_status st = apply_C(c->s, c->X, c->Q, err);
    if (st == LINSTAB_OK) linstab_svec(c->s->r, c->Q, y);
    return st;
}

/*
 * The radius of SGD's T as 1 - eta lambda_min(C) (T is a positive map: its
 * radius is its top eigenvalue) by LOBPCG on C with the diagonal
 * preconditioner 1 / (l_j + l_k - eta a l_j l_k): the deterministic part of
 * C, exact when b = 0.  Lanczos on T sees the eigenvalues 1 - eta (l_j +
 * l_k) crowd at 1 when H has small eigenvalues; the preconditioned
 * iteration sees them spread by the diagonal, which it inverts, and needs
 * a few tens of products, not hundreds.  The start diag(1 / P_jj) is
 * positive definite, so it is never orthogonal to T's Perron eigenvector
 * (positive semidefinite).  The residual test is ARPACK's on T:
 * ||T x - t x|| = eta ||C x - theta x|| <= tol.  1 and *radius on success,
 * 0 when this route does not apply or fails (the caller goes on).
 */
static int radius_lobpcg(linstab_secmom *s, const linstab_eigen_opts *opts, double *radius, size_t *products)
{
    size_t r = s->r, rr = r * r, m = s->m;
    si_ctx c = {s, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    double *X = malloc(rr * sizeof *X), *Q = malloc(rr * sizeof *Q);
    double *prec = malloc(m * sizeof *prec), *x0 = calloc(m, sizeof *x0);
    int ok = X != NULL && Q != NULL && prec != NULL && x0 != NULL;
    c.X = X;
    c.Q = Q;
    size_t q = 0;
    for (size_t j = 0; ok && j < r; j++)
        for (size_t k = j; k < r; k++, q++) {
            double pjk = s->l[j] + s->l[k] - s->eta * s->a * s->l[j] * s->l[k];
            if (!(pjk > 0.0)) ok = 0;
            prec[q] = 1.0 / pjk;
            if (k == j) x0[q] = prec[q];
        }
    lobpcg_result res;
    if (ok) {
        linstab_eigen_opts o = opts ? *opts : linstab_eigen_defaults();
        double tol = (o.tol > 0.0 ? o.tol : 1e-12) / s->eta;
        linstab_error e = {0};
        ok = linstab_lobpcg_min(m, apply_C_svec, &c, prec, x0, tol, 400, NULL, &res, &e);
        if (ok) *radius = 1.0 - s->eta * res.theta;
        if (products != NULL) *products = res.products;
    }
    free(X);
    free(Q);
    free(prec);
    free(x0);
    return ok;
}

linstab_status linstab_secmom_radius(linstab_secmom *s, const linstab_eigen_opts *opts,
                                     double *radius, linstab_error *err)
{
    linstab_status st;
    if (s->method == LINSTAB_OPT_SAM_SAME) {
        double rad = 0.0;
        for (size_t j = 0; j < s->r; j++) {
            double g = 1.0 - s->eta * (s->l[j] + s->rho * s->l[j] * s->l[j]);
            rad = fmax(rad, g * g);
        }
        *radius = rad;
        return LINSTAB_OK;
    }
    if (s->f->kind == LINSTAB_FAMILY_DIAGONAL) {
        /* a diagonal family makes T act entrywise on X; by Cauchy-Schwarz the
         * off-diagonal multipliers are bounded by the diagonal ones, so the
         * radius is max_j T(e_j e_j')_jj -- O(n r) */
        double rad = 0.0;
        size_t r = s->r, n = s->f->n;
        double eta = s->eta, rho = s->rho;
        for (size_t j = 0; j < r; j++) {
            double m2 = 0.0, l = s->l[j];
            for (size_t i = 0; i < n; i++) m2 += s->f->data[i * r + j] * s->f->data[i * r + j];
            m2 /= (double)n;
            double S = s->a * l * l + s->b * m2; /* E[h^2] */
            double t;
            if (s->method == LINSTAB_OPT_SGD) {
                t = 1.0 - 2.0 * eta * l + eta * eta * S;
            } else { /* independent SAM: Y_jj = 1 + 2 rho l + rho^2 S, then S Y_jj */
                double k = l + rho * l * l;
                t = 1.0 - 2.0 * eta * k + eta * eta * S * (1.0 + 2.0 * rho * l + rho * rho * S);
            }
            rad = fmax(rad, fabs(t));
        }
        *radius = rad;
        return LINSTAB_OK;
    }
    linstab_operator op = linstab_secmom_operator(s);
    linstab_eigen_opts o = opts ? *opts : linstab_eigen_defaults();
    int matrix_free = o.path == LINSTAB_EIGEN_ARPACK ||
                      (o.path == LINSTAB_EIGEN_AUTO && s->m > (o.dense_max ? o.dense_max : 2000));
    if (s->method == LINSTAB_OPT_SGD && matrix_free && s->eta > 0.0 &&
        (radius_lobpcg(s, opts, radius, NULL) || radius_shift_invert(s, opts, radius)))
        return LINSTAB_OK;
    if (op.self_adjoint) {
        /* a positive map: its spectral radius is its largest eigenvalue */
        st = linstab_eigen_top(&op, opts, radius, NULL, err);
        if (st == LINSTAB_OK && *radius < 0.0) *radius = 0.0;
    } else {
        st = linstab_eigen_radius(&op, opts, radius, err);
    }
    return st;
}

linstab_status linstab_secmom_radius_at(const linstab_family *f, const double *l, linstab_optimizer m,
                                    double eta, double rho, double a, double b,
                                    const linstab_eigen_opts *opts, double *radius,
                                    linstab_error *err)
{
    linstab_secmom *s = NULL;
    linstab_status st = linstab_secmom_alloc(f, l, m, eta, rho, a, b, &s, err);
    if (st == LINSTAB_OK) st = linstab_secmom_radius(s, opts, radius, err);
    linstab_secmom_free(s);
    return st;
}
