/*
 * mlp_gn_geometry.c -- the sharpness and s_2 of a network's (generalized)
 * Gauss-Newton Hessians, matrix-free.
 *
 * G_i = J_i' C_i J_i (C_i = I for MSE, diag(p_i) - p_i p_i' for CE) and
 * G = (1/n) sum_i G_i.  lambda1(G) by Lanczos on the Gauss-Newton operator
 * of mlp_operator.c; s_2^2 = lambda_max(M_2 - G^2), M_2 = (1/n) sum_i G_i^2,
 * by Lanczos on v -> (1/n) sum_i J_i' M_i J_i v - G (G v) with the K x K
 * middle factors M_i = C_i (J_i J_i') C_i from the diagonal NTK blocks
 * (G_i^2 = J_i' C_i J_i J_i' C_i J_i), so a product costs three batched
 * forward-and-backward passes and nothing of size p x p is formed.
 */
#include <stdlib.h>
#include <string.h>

#include "linstab/mlp.h"
#include "linstab/spectrum.h"
#include "nn_internal.h"

linstab_status linstab_mlp_gn_sharpness(const linstab_mlp *m, const linstab_array *X, linstab_loss loss,
                                        double *lambda1, linstab_error *err)
{
    linstab_operator op;
    linstab_status st = linstab_mlp_hessian_operator(m, X, NULL, loss, 0.0, 1, &op, err);
    if (st != LINSTAB_OK) return st;
    linstab_eigen_opts o = mlp_top_opts(m->p);
    st = linstab_eigen_top(&op, &o, lambda1, NULL, err);
    linstab_mlp_hessian_operator_free(&op);
    return st;
}

typedef struct gap_ctx {
    linstab_operator sq, g; /* (1/n) sum_i G_i^2 and G */
    double *t;              /* p */
} gap_ctx;

static linstab_status gap_apply(const double *x, double *y, void *vctx, linstab_error *err)
{
    gap_ctx *c = vctx;
    size_t p = c->g.dim;
    linstab_status st = c->sq.apply(x, y, c->sq.ctx, err);
    double *u = c->t, *w = c->t + p;
    if (st == LINSTAB_OK) st = c->g.apply(x, u, c->g.ctx, err);
    if (st == LINSTAB_OK) st = c->g.apply(u, w, c->g.ctx, err);
    for (size_t j = 0; st == LINSTAB_OK && j < p; j++) y[j] -= w[j];
    return st;
}

linstab_status linstab_mlp_gn_m2_gap(const linstab_mlp *m, const linstab_array *X, linstab_loss loss, double *gap,
                                     linstab_error *err)
{
    size_t n = X->shape[0], K = m->sizes[m->nlayers];
    gap_ctx c;
    memset(&c, 0, sizeof c);
    double *M = malloc(n * K * K * sizeof *M);
    c.t = malloc(2 * m->p * sizeof *c.t);
    linstab_status st = M != NULL && c.t != NULL
                            ? LINSTAB_OK
                            : linstab_error_set(err, LINSTAB_ENOMEM, "Gauss-Newton s2: out of memory");
    if (st == LINSTAB_OK) st = mlp_gn_square_middle(m, X, loss, M, err);
    int have_sq = 0, have_g = 0;
    if (st == LINSTAB_OK) st = linstab_mlp_hessian_operator(m, X, NULL, loss, 0.0, 1, &c.sq, err);
    have_sq = st == LINSTAB_OK;
    if (st == LINSTAB_OK) st = linstab_mlp_hessian_operator(m, X, NULL, loss, 0.0, 1, &c.g, err);
    have_g = st == LINSTAB_OK;
    if (st == LINSTAB_OK) {
        mlp_gn_operator_set_middle(&c.sq, M);
        linstab_operator op = {m->p, gap_apply, gap_apply, NULL, 1, &c};
        linstab_eigen_opts o = mlp_top_opts(m->p);
        st = linstab_eigen_top(&op, &o, gap, NULL, err);
    }
    if (have_sq) linstab_mlp_hessian_operator_free(&c.sq);
    if (have_g) linstab_mlp_hessian_operator_free(&c.g);
    free(M);
    free(c.t);
    return st;
}
