/*
 * mlp_point.c -- where a checkpoint sits: its loss, gradients and the
 * interpolating-minimum rule that is the premise of every stability
 * result (linstab_mlp_point_is_minimum).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/mlp.h"

linstab_status linstab_mlp_point_at(const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                    linstab_loss loss, double smoothing, linstab_mlp_point *out, linstab_error *err)
{
    memset(out, 0, sizeof *out);
    linstab_status st = linstab_mlp_check_data(m, X, Y, loss, err);
    if (st != LINSTAB_OK) return st;
    size_t n = X->shape[0], d0 = m->sizes[0], yw = loss == LINSTAB_LOSS_MSE ? m->sizes[m->nlayers] : 1, p = m->p;
    double *g = malloc(p * sizeof *g), *gi = malloc(p * sizeof *gi);
    if (g == NULL || gi == NULL) {
        free(g);
        free(gi);
        return linstab_error_set(err, LINSTAB_ENOMEM, "gradient of %zu parameters: out of memory", p);
    }
    memset(g, 0, p * sizeof *g);
    double total = 0.0;
    /* sample by sample: the per-sample gradients are the premise (every
     * l_i minimal), their mean is the full gradient */
    for (size_t i = 0; st == LINSTAB_OK && i < n; i++) {
        double li = 0.0;
        st = linstab_mlp_loss(m, X->data + i * d0, Y->data + i * yw, 1, loss, smoothing, NULL, &li, gi, NULL, err);
        if (st != LINSTAB_OK) break;
        total += li;
        double s = 0.0;
        for (size_t j = 0; j < p; j++) {
            g[j] += gi[j];
            s += gi[j] * gi[j];
        }
        out->max_sample_grad_norm = fmax(out->max_sample_grad_norm, sqrt(s));
    }
    if (st == LINSTAB_OK) {
        double s = 0.0, w = 0.0;
        for (size_t j = 0; j < p; j++) {
            s += (g[j] / (double)n) * (g[j] / (double)n);
            w += m->theta[j] * m->theta[j];
        }
        out->mean_loss = total / (double)n;
        out->grad_norm = sqrt(s);
        out->param_norm = sqrt(w);
    }
    free(g);
    free(gi);
    return st;
}

int linstab_mlp_point_stationary(const linstab_mlp_point *pt, double sharpness)
{
    return pt->max_sample_grad_norm <= LINSTAB_MINIMUM_GRAD_RTOL * fmax(1.0, fabs(sharpness) * pt->param_norm);
}

int linstab_mlp_point_is_minimum(const linstab_mlp_point *pt, double sharpness, double lambda_min)
{
    int curved = !(lambda_min < -LINSTAB_MINIMUM_CURV_RTOL * fabs(sharpness));
    return linstab_mlp_point_stationary(pt, sharpness) && curved;
}
