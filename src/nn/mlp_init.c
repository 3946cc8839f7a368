/*
 * mlp_init.c -- the random initialisation of an MLP: He (relu) or Xavier
 * (the other activations) normal weights, zero biases, from linstab's
 * seeded random streams.  Apart from mlp.c because GSL's randist.h brings
 * its own CBLAS declarations, which clash with OpenBLAS's cblas.h there.
 */
#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "linstab/mlp.h"
#include "linstab/simulate.h"

void linstab_mlp_init(linstab_mlp *m, uint64_t seed)
{
    gsl_rng *r = linstab_rng_stream(seed, 0x1417);
    memset(m->theta, 0, m->p * sizeof(double));
    for (size_t l = 1; l <= m->nlayers; l++) {
        double fan_in = (double)m->sizes[l - 1], fan_out = (double)m->sizes[l];
        double sd = m->act == LINSTAB_AD_RELU ? sqrt(2.0 / fan_in) : sqrt(2.0 / (fan_in + fan_out));
        double *W = m->theta + linstab_mlp_w_offset(m, l);
        for (size_t j = 0; j < m->sizes[l] * m->sizes[l - 1]; j++) W[j] = gsl_ran_gaussian_ziggurat(r, sd);
    }
    gsl_rng_free(r);
}
