/*
 * landscape_random.c -- the random filter-normalized direction of an MLP
 * (landscape.h): Li, Xu, Taylor, Studer and Goldstein, "Visualizing the
 * loss landscape of neural nets", NeurIPS 2018, Section 4.  For a fully
 * connected layer a filter is one neuron, i.e. one row of W_l (its
 * incoming weights); the direction's row is scaled to the norm of the
 * checkpoint's row, so that the slice sees perturbations of the size of
 * each neuron's weights whatever the scale of the layer.  Biases are not
 * perturbed (their entries are zero).  Apart from landscape.c because
 * GSL's randist.h brings its own CBLAS declarations (as mlp_init.c).
 */
#include <math.h>
#include <stdint.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "linstab/landscape.h"
#include "linstab/rng.h"

linstab_status linstab_landscape_random(const linstab_mlp *m, uint64_t seed, uint64_t index, double *d,
                                        linstab_error *err)
{
    gsl_rng *r = linstab_rng_stream(seed, UINT64_C(0x51ce0000) + index);
    if (r == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "random direction: out of memory");
    /* every entry drawn in parameter order (biases too, then zeroed): the
     * stream's use does not depend on which rows are rescaled */
    for (size_t j = 0; j < m->p; j++) d[j] = gsl_ran_gaussian_ziggurat(r, 1.0);
    gsl_rng_free(r);
    int nonzero = 0;
    for (size_t l = 1; l <= m->nlayers; l++) {
        size_t rows = m->sizes[l], cols = m->sizes[l - 1];
        double *D = d + linstab_mlp_w_offset(m, l);
        const double *W = m->theta + linstab_mlp_w_offset(m, l);
        for (size_t u = 0; u < rows; u++) {
            double nw = 0.0, ng = 0.0;
            for (size_t v = 0; v < cols; v++) {
                nw += W[u * cols + v] * W[u * cols + v];
                ng += D[u * cols + v] * D[u * cols + v];
            }
            nw = sqrt(nw);
            ng = sqrt(ng);
            double s = ng > 0.0 ? nw / ng : 0.0;
            for (size_t v = 0; v < cols; v++) D[u * cols + v] *= s;
            nonzero |= s > 0.0;
        }
        if (m->bias)
            for (size_t u = 0; u < rows; u++) d[linstab_mlp_b_offset(m, l) + u] = 0.0;
    }
    if (!nonzero)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "every weight of the checkpoint is zero: its filter-normalized direction is zero");
    return LINSTAB_OK;
}
