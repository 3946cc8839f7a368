/*
 * check.c -- the whole `linstab check` pipeline on one family (check.h):
 * restriction -> moments -> geometry -> bounds -> exact section.
 */
#include <math.h>
#include <string.h>

#include "linstab/check.h"

linstab_check_opts linstab_check_defaults(void)
{
    linstab_check_opts o;
    memset(&o, 0, sizeof o);
    o.exact = 1;
    o.sam_variant = LINSTAB_OPT_SAM_SAME;
    o.exact_opts = linstab_exact_defaults();
    return o;
}

void linstab_check_result_clear(linstab_check_result *r)
{
    if (r == NULL) return;
    linstab_moments_free(r->moments);
    memset(r, 0, sizeof *r);
}

static void stage(const linstab_check_opts *o, const char *name)
{
    if (o->stage != NULL) o->stage(name, o->stage_ctx);
}

linstab_status linstab_check_take(linstab_family *f, const linstab_hyper *h,
                                  const linstab_check_opts *opts, linstab_check_result *out,
                                  linstab_error *err)
{
    memset(out, 0, sizeof *out);
    out->kind = f->kind;
    out->d_ambient = linstab_family_ambient_dim(f);
    linstab_rotated rf = {0};
    linstab_family *fr = NULL;
    double *Hmean = NULL, lambda1 = NAN;
    size_t rank = 0;
    linstab_status st;
    /* the exact operators need the eigenbasis of H; the geometry is invariant */
    if (opts->exact) {
        st = linstab_family_rotated_make(f, opts->rank_rtol, opts->indefinite, &rf, err);
        linstab_family_free(f);
        fr = rf.f;
    } else {
        /* f is not needed again: restricted in place, no copy when rank = d */
        st = linstab_family_restrict_take(&f, opts->rank_rtol, opts->indefinite, &rank, &Hmean,
                                          &lambda1, err);
        fr = f;
    }
    stage(opts, "restrict");
    if (st == LINSTAB_OK) st = linstab_moments_compute_take(fr, Hmean, lambda1, &out->moments, err);
    else free(Hmean);
    stage(opts, "moments");
    if (st == LINSTAB_OK) st = linstab_geometry_compute(fr, out->moments, out->d_ambient, &out->geometry, err);
    stage(opts, "geometry");
    if (st == LINSTAB_OK) st = linstab_bounds_compute(&out->geometry, out->moments, h, &out->bounds, err);
    stage(opts, "bounds");
    if (st == LINSTAB_OK && opts->exact) {
        st = linstab_exact_compute(&rf, h, opts->sam_variant, &opts->exact_opts, &out->exact, err);
        out->have_exact = st == LINSTAB_OK;
        stage(opts, "exact");
    }
    if (st == LINSTAB_OK && opts->lambda_min && out->geometry.definite && !isfinite(out->geometry.lambda_min))
        st = linstab_geometry_lambda_min(out->moments, &out->geometry, err);
    if (opts->lambda_min) stage(opts, "lambda_min");
    if (opts->exact)
        linstab_family_rotated_clear(&rf);
    else
        linstab_family_free(fr);
    return st;
}

double linstab_check_memory(const linstab_family *f)
{
    double n = (double)f->n, d = (double)f->d, k = (double)f->k;
    double data = (double)linstab_family_data_len(f);
    /* factors with n k < d are restricted through their Gram matrix: every
     * later matrix is at most n k square, whatever d is (a network's
     * Gauss-Newton factors: p parameters, n k << p) */
    int gram = f->kind == LINSTAB_FAMILY_FACTORED && n * k < d;
    double r = gram ? n * k : d;
    double work = 14.0 * r * r + n * n;
    if (f->kind == LINSTAB_FAMILY_DENSE) {
        /* per-sample sums (family.c): up to 8 chunks of 3 accumulators,
         * at most 256 MB unless one chunk alone is larger, plus a
         * scratch matrix per thread */
        double per = 3.0 * r * r, nch = n < 8.0 ? n : 8.0;
        while (nch > 1.0 && nch * per * 8.0 > 256.0 * 1048576.0) nch -= 1.0;
        work += 2.0 * data + nch * per + 2.0 * r * r; /* the family and a restricted copy */
    }
    if (f->kind == LINSTAB_FAMILY_FACTORED) {
        /* not restricted by Gram: W, a scaled copy and the coherence's W'W
         * (whole when at most 64 Mi entries and twice the factors or 8 Mi,
         * as family_kernels.c decides; else row panels of 4 Mi) */
        double kk = n * k * n * k;
        int whole = kk <= 64.0 * 1048576.0 && kk <= fmax(2.0 * d * n * k, 8.0 * 1048576.0);
        work += gram ? 2.0 * data + 2.0 * r * r + 4.0 * 1048576.0
                     : data + 3.0 * d * n * k + (whole ? kk : 4.0 * 1048576.0) + 4.0 * 1048576.0;
    }
    if (f->kind == LINSTAB_FAMILY_DIAGONAL) work += data;
    return 8.0 * work;
}
