/*
 * train_monitor.c -- module train's stability monitor (train.h): the
 * sharpness and the exact mean-square critical learning rate eta*(B) of
 * the current iterate, on the Gauss-Newton family of a fixed subsample
 * built from its NTK Gram matrix (docs/math.md §3 for eta*).
 */
#include <math.h>
#include <stdlib.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "linstab/critical.h"
#include "linstab/rng.h"
#include "linstab/sam.h"
#include "linstab/sampling.h"
#include "linstab/train.h"

void linstab_train_monitor_indices(size_t n, size_t M, uint64_t seed, size_t *idx)
{
    if (M > n) M = n;
    if (M == 0) return;
    size_t *all = malloc(n * sizeof *all);
    gsl_rng *r = linstab_rng_stream(seed, 0x3a0);
    if (all == NULL || r == NULL || M == n) {
        /* M = n (or no memory for the draw): every sample; without memory
         * a deterministic stride is still a fixed subsample */
        for (size_t j = 0; j < M; j++) idx[j] = M == n ? j : j * (n / M);
    } else {
        for (size_t j = 0; j < n; j++) all[j] = j;
        gsl_ran_choose(r, idx, M, all, n, sizeof *all); /* keeps the order */
    }
    free(all);
    if (r) gsl_rng_free(r);
}

linstab_status linstab_train_monitor_at(const linstab_mlp *m, const linstab_array *Xs, size_t batch,
                                        linstab_optimizer opt, double rho, linstab_train_monitor *out,
                                        linstab_error *err)
{
    return linstab_train_monitor_gn_at(m, Xs, LINSTAB_LOSS_MSE, batch, opt, rho, out, err);
}

linstab_status linstab_train_monitor_gn_at(const linstab_mlp *m, const linstab_array *Xs, linstab_loss loss,
                                           size_t batch, linstab_optimizer opt, double rho,
                                           linstab_train_monitor *out, linstab_error *err)
{
    out->sharpness = out->eta_star_sgd = out->eta_star = NAN;
    out->batch = out->rank = 0;
    if (Xs == NULL || Xs->ndim != 2 || Xs->shape[0] < 1 || Xs->shape[1] != m->sizes[0])
        return linstab_error_set(err, LINSTAB_EINVAL, "monitor: the subsample must be M x %zu inputs",
                                 m->sizes[0]);
    if (batch < 1) return linstab_error_set(err, LINSTAB_EINVAL, "monitor: the batch size must be positive");
    size_t M = Xs->shape[0], k = m->sizes[m->nlayers], nk = M * k;
    size_t B = batch < M ? batch : M;
    out->batch = B;
    double *G = malloc(nk * nk * sizeof *G);
    if (G == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "monitor: the NTK Gram matrix of %zu x %zu: out of memory", nk, nk);
    linstab_status st = linstab_mlp_gn_gram(m, Xs, loss, G, err); /* R_i' J_i J_j' R_j (R = I for MSE) */
    linstab_family *f = NULL;
    size_t rank = 0;
    if (st == LINSTAB_OK) st = linstab_family_from_gram(M, k, m->p, G, 0.0, &f, &rank, err);
    free(G);
    if (st != LINSTAB_OK) return st;
    /* from_gram's family is already in H's eigenbasis (decreasing) */
    linstab_rotated rf = {0};
    st = linstab_family_rotated_take(f, 0, m->p, &rf, err);
    if (st != LINSTAB_OK) return st;
    out->rank = rf.f->d;
    out->sharpness = rf.f->d > 0 ? rf.l[0] : 0.0;
    linstab_eigen_opts eo = linstab_eigen_defaults();
    double a, b;
    linstab_sampling_coeffs(LINSTAB_SAMPLING_WITHOUT, M, B, &a, &b);
    st = linstab_critical_eta(rf.f, rf.l, a, b, &eo, &out->eta_star_sgd, err);
    if (st == LINSTAB_OK) {
        if (opt == LINSTAB_OPT_SGD || !(rho > 0.0)) {
            out->eta_star = out->eta_star_sgd;
        } else if ((opt == LINSTAB_OPT_SAM_SAME || opt == LINSTAB_OPT_SAM_INDEP) &&
                   linstab_sam_available_rank(opt, M, rf.f->d, B, LINSTAB_SAMPLING_WITHOUT)) {
            st = linstab_sam_eta_star(&rf, opt, rho, B, LINSTAB_SAMPLING_WITHOUT, &eo, &out->eta_star, err);
        }
    }
    linstab_family_rotated_clear(&rf);
    return st;
}
