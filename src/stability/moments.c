/*
 * moments.c -- H^k and M_k = (1/n) sum_i H_i^k, k = 1..4, of a Hessian
 * family (moments.h), from the family's moment kernel.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "internal.h"
#include "linstab/moments.h"
#include "linstab/sym.h"

void linstab_moments_free(linstab_moments *m)
{
    if (m == NULL) return;
    for (int p = 0; p < 4; p++) {
        free(m->Hp[p]);
        if (p > 0) free(m->M[p]);
    }
    free(m);
}

linstab_status linstab_moments_compute(const linstab_family *f, linstab_moments **out,
                                       linstab_error *err)
{
    return linstab_moments_compute_take(f, NULL, NAN, out, err);
}

linstab_status linstab_moments_compute_take(const linstab_family *f, double *H, double lambda1,
                                             linstab_moments **out, linstab_error *err)
{
    size_t r = f->d, rr = r * r;
    *out = NULL;
    linstab_moments *m = calloc(1, sizeof *m);
    if (m == NULL) {
        free(H);
        return linstab_error_set(err, LINSTAB_ENOMEM, "moments: out of memory");
    }
    m->r = r;
    m->lambda1 = H != NULL ? lambda1 : NAN;
    m->Hp[0] = H;
    for (int p = 0; p < 4; p++) {
        if (p == 0 && H != NULL) continue;
        m->Hp[p] = alloc_touched(rr);
        if (p > 0) m->M[p] = alloc_touched(rr);
        if (m->Hp[p] == NULL || (p > 0 && m->M[p] == NULL)) {
            linstab_moments_free(m);
            return linstab_error_set(err, LINSTAB_ENOMEM,
                                     "moments of dimension %zu: out of memory", r);
        }
    }
    m->M[0] = H != NULL ? NULL : m->Hp[0]; /* a given H is not recomputed */
    linstab_status st = linstab_family_moments(f, 4, m->M, err);
    m->M[0] = m->Hp[0];
    if (st != LINSTAB_OK) {
        linstab_moments_free(m);
        return st;
    }
    /* H^2 = H H' and H^4 = H^2 (H^2)' by SYRK (half a GEMM), H^3 = H^2 H */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)r, (int)r, 1.0, m->Hp[0], (int)r,
                0.0, m->Hp[1], (int)r);
    linstab_sym_fill_lower(r, m->Hp[1]);
    cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, (int)r, (int)r, 1.0, m->Hp[1], (int)r,
                m->Hp[0], (int)r, 0.0, m->Hp[2], (int)r);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)r, (int)r, 1.0, m->Hp[1], (int)r,
                0.0, m->Hp[3], (int)r);
    linstab_sym_fill_lower(r, m->Hp[3]);
    linstab_sym_symmetrize(r, m->Hp[2]);
    *out = m;
    return LINSTAB_OK;
}
