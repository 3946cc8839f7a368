/* sgd.c -- the exact mean-square radius of linearized SGD (sgd.h). */
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "linstab/sgd.h"

linstab_status linstab_sgd_radius(const linstab_rotated *rf, double eta, size_t batch,
                                  linstab_sampling sampling, const linstab_eigen_opts *opts,
                                  double *radius, linstab_error *err)
{
    double a, b;
    linstab_sampling_coeffs(sampling, rf->f->n, batch, &a, &b);
    return linstab_secmom_radius_at(rf->f, rf->l, LINSTAB_OPT_SGD, eta, 0.0, a, b, opts, radius,
                                    err);
}
