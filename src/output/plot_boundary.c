/*
 * plot_boundary.c -- the exact mean-square boundary of a map as a curve:
 * per column (or row) of the grid, the values of the continuous axis at
 * which the mean-square radius crosses 1, solved by bisection on the same
 * radius the map computes per cell (linstab_map_cell_compute: the
 * second-moment operator of SGD, Dexter et al. (2024) Section 3; SAM's by
 * linstab_sam_radius), bracketed by the cells' own radii.  The curve goes
 * through these points instead of following the cells (a contour of cell
 * values is a polyline through interpolated, not exact, crossings).
 * Available in every build (no PLplot).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/eigen.h"
#include "linstab/plot.h"
#include "linstab/sam.h"
#include "linstab/secmom.h"

/* The sampling coefficients (a, b) of sampling.h at a real batch size B in
 * [1, n]: their formulas are smooth in B, so the boundary between two
 * integer batch sizes is drawn through the real B where the radius is 1. */
static void coeffs_real(linstab_sampling s, size_t n, double B, double *a, double *b)
{
    double N = (double)n;
    if (B == floor(B)) {
        linstab_sampling_coeffs(s, n, (size_t)B, a, b);
        return;
    }
    switch (s) {
    case LINSTAB_SAMPLING_BERNOULLI: *a = 1.0, *b = (N - B) / (N * B); return;
    case LINSTAB_SAMPLING_WITHOUT: *a = N * (B - 1.0) / (B * (N - 1.0)), *b = (N - B) / (B * (N - 1.0)); return;
    case LINSTAB_SAMPLING_WITH: *a = (B - 1.0) / B, *b = 1.0 / B; return;
    }
}

/* The evaluation context: the grid's fixed values, the family of the
 * current column (the dexter construction is rebuilt per sigma). */
typedef struct bctx {
    const linstab_map_source *src;
    const linstab_map_params *p;
    const linstab_rotated *rf;
    linstab_rotated own;
    size_t own_sigma;
} bctx;

static linstab_status family_for(bctx *c, size_t sigma, linstab_error *err)
{
    if (c->src->rf != NULL) {
        c->rf = c->src->rf;
        return LINSTAB_OK;
    }
    if (c->src->dexter_rf != NULL && sigma >= 1 && sigma <= c->src->dexter_n && c->src->dexter_rf[sigma].f != NULL) {
        c->rf = &c->src->dexter_rf[sigma];
        return LINSTAB_OK;
    }
    if (c->own.f != NULL && c->own_sigma == sigma) {
        c->rf = &c->own;
        return LINSTAB_OK;
    }
    linstab_family_rotated_clear(&c->own);
    linstab_status st = linstab_map_dexter(c->src->dexter_n, sigma, &c->own, err);
    if (st != LINSTAB_OK) return st;
    c->own_sigma = sigma;
    c->rf = &c->own;
    return LINSTAB_OK;
}

/* log of the mean-square radius at (eta, rho, B) on c->rf; B may be real
 * for SGD only. */
static linstab_status log_radius(bctx *c, double eta, double rho, double B, double *out, linstab_error *err)
{
    linstab_eigen_opts eo = linstab_eigen_defaults();
    const linstab_family *f = c->rf->f;
    double r = NAN;
    linstab_status st;
    if (c->p->dyn == LINSTAB_OPT_SGD) {
        double a, b;
        coeffs_real(c->p->sampling, f->n, B, &a, &b);
        st = linstab_secmom_radius_at(f, c->rf->l, LINSTAB_OPT_SGD, eta, 0.0, a, b, &eo, &r, err);
    } else {
        linstab_optimizer v = c->p->dyn == LINSTAB_OPT_SAM_SAME ? LINSTAB_OPT_SAM_SAME : LINSTAB_OPT_SAM_INDEP;
        st = linstab_sam_radius(c->rf, v, eta, rho, (size_t)B, c->p->sampling, &eo, &r, err);
    }
    *out = r > 0.0 ? log(r) : (r == 0.0 ? -INFINITY : NAN);
    return st;
}

/* May the radius be evaluated between two grid values of axis kind k? */
static int continuous(linstab_map_axis_kind k, linstab_optimizer dyn)
{
    return k == LINSTAB_MAP_AXIS_ETA || k == LINSTAB_MAP_AXIS_RHO || (k == LINSTAB_MAP_AXIS_BATCH && dyn == LINSTAB_OPT_SGD);
}

/* The parameters of the point where axis a (of along) takes t and the other
 * axis its grid value v. */
static void point_params(const linstab_map_params *p, linstab_map_axis_kind ka, double t, linstab_map_axis_kind kb,
                         double v, double *eta, double *rho, double *B, size_t *sigma)
{
    *eta = p->eta, *rho = p->dyn == LINSTAB_OPT_SGD ? 0.0 : p->rho, *B = (double)p->batch, *sigma = p->sigma;
    linstab_map_axis_kind ks[2] = {ka, kb};
    double vs[2] = {t, v};
    for (int q = 0; q < 2; q++) switch (ks[q]) {
        case LINSTAB_MAP_AXIS_ETA: *eta = vs[q]; break;
        case LINSTAB_MAP_AXIS_RHO: *rho = vs[q]; break;
        case LINSTAB_MAP_AXIS_BATCH: *B = vs[q]; break;
        case LINSTAB_MAP_AXIS_SIGMA: *sigma = (size_t)vs[q]; break;
        }
    if (p->dyn == LINSTAB_OPT_SGD) *rho = 0.0;
}

linstab_status linstab_plot_map_boundary(const linstab_map_source *src, const linstab_map_params *p,
                                         const linstab_map_axis *x, const linstab_map_axis *y, const double *radius,
                                         double rtol, double *pts, size_t *npts, int *along, linstab_error *err)
{
    *npts = 0;
    *along = 0;
    size_t nx = x->count, ny = y->count;
    if (p->dyn == LINSTAB_OPT_SAM_NORMALIZED || !p->exact || nx == 0 || ny == 0) return LINSTAB_OK;
    if (!(rtol > 0.0)) rtol = 1e-12;
    /* solve along y per column when y is continuous, else along x per row */
    int ay = continuous(y->kind, p->dyn) ? 1 : continuous(x->kind, p->dyn) ? 2 : 0;
    if (ay == 0) return LINSTAB_OK;
    const linstab_map_axis *sol = ay == 1 ? y : x, *oth = ay == 1 ? x : y;
    size_t ns = sol->count, no = oth->count;
    if (ns < 2) return LINSTAB_OK;
    /* the crossings of each line of the grid, at most ns - 1 */
    double *cross = malloc(no * (ns - 1) * sizeof *cross);
    size_t *count = calloc(no, sizeof *count);
    if (cross == NULL || count == NULL) {
        free(cross);
        free(count);
        return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory for the boundary of %zu x %zu cells", nx, ny);
    }
    bctx c = {src, p, NULL, {0}, 0};
    linstab_status st = LINSTAB_OK;
    size_t maxk = 0;
    for (size_t io = 0; io < no && st == LINSTAB_OK; io++) {
        double v = oth->values[io];
        size_t sigma_dummy;
        double e_, r_, b_;
        point_params(p, sol->kind, sol->values[0], oth->kind, v, &e_, &r_, &b_, &sigma_dummy);
        st = family_for(&c, sigma_dummy, err);
        for (size_t is = 0; st == LINSTAB_OK && is + 1 < ns; is++) {
            size_t c0 = ay == 1 ? is * nx + io : io * nx + is, c1 = ay == 1 ? (is + 1) * nx + io : io * nx + is + 1;
            double r0 = radius[c0], r1 = radius[c1];
            if (!(r0 > 0.0) || !(r1 > 0.0) || !isfinite(r0) || !isfinite(r1)) continue;
            double g0 = log(r0), g1 = log(r1);
            if ((g0 < 0.0) == (g1 < 0.0)) continue;
            /* bisection in the axis's plotting coordinate (log10 for a log axis) */
            double lo = sol->values[is], hi = sol->values[is + 1];
            if (sol->log) lo = log10(lo), hi = log10(hi);
            double glo = g0;
            for (int it = 0; it < 200 && st == LINSTAB_OK; it++) {
                double mid = 0.5 * (lo + hi), t = sol->log ? pow(10.0, mid) : mid;
                double t_lo = sol->log ? pow(10.0, lo) : lo, t_hi = sol->log ? pow(10.0, hi) : hi;
                if (fabs(t_hi - t_lo) <= rtol * fmax(fabs(t_lo), fabs(t_hi))) break;
                double eta, rho, B, gm;
                size_t sg;
                point_params(p, sol->kind, t, oth->kind, v, &eta, &rho, &B, &sg);
                st = log_radius(&c, eta, rho, B, &gm, err);
                if (st != LINSTAB_OK) break;
                if (!(gm == gm)) break; /* NaN: keep the bracket */
                if ((gm < 0.0) == (glo < 0.0)) lo = mid, glo = gm;
                else hi = mid;
            }
            double mid = 0.5 * (lo + hi);
            cross[io * (ns - 1) + count[io]++] = sol->log ? pow(10.0, mid) : mid;
        }
        if (count[io] > maxk) maxk = count[io];
    }
    linstab_family_rotated_clear(&c.own);
    if (st != LINSTAB_OK) {
        free(cross);
        free(count);
        return st;
    }
    /* the k-th crossing of consecutive lines joined; a line without one breaks the curve */
    size_t m = 0;
    for (size_t k = 0; k < maxk; k++) {
        for (size_t io = 0; io < no; io++) {
            double a = k < count[io] ? cross[io * (ns - 1) + k] : NAN, o = k < count[io] ? oth->values[io] : NAN;
            pts[2 * m] = ay == 1 ? o : a;
            pts[2 * m + 1] = ay == 1 ? a : o;
            m++;
        }
        pts[2 * m] = pts[2 * m + 1] = NAN;
        m++;
    }
    free(cross);
    free(count);
    *npts = m;
    *along = ay;
    return LINSTAB_OK;
}
