/*
 * verdict.c -- the one rule for a radius within rounding of 1 (verdict.h).
 */
#include <float.h>
#include <math.h>

#include "linstab/verdict.h"

double linstab_verdict_radius_tol(size_t m, double scale, double arpack_tol)
{
    double t = 16.0 * (double)(m > 0 ? m : 1) * DBL_EPSILON;
    if (arpack_tol > t) t = arpack_tol;
    return t * (isfinite(scale) && scale > 1.0 ? scale : 1.0);
}

linstab_verdict linstab_verdict_classify(double radius, double tol)
{
    if (isnan(radius)) return LINSTAB_VERDICT_NA;
    if (radius > 1.0 + tol) return LINSTAB_VERDICT_UNSTABLE;
    if (radius < 1.0 - tol) return LINSTAB_VERDICT_STABLE;
    return LINSTAB_VERDICT_MARGINAL;
}

int linstab_verdict_bounded(linstab_verdict v)
{
    return v == LINSTAB_VERDICT_STABLE || v == LINSTAB_VERDICT_MARGINAL;
}

const char *linstab_verdict_name(linstab_verdict v)
{
    switch (v) {
    case LINSTAB_VERDICT_STABLE: return "stable";
    case LINSTAB_VERDICT_MARGINAL: return "marginal";
    case LINSTAB_VERDICT_UNSTABLE: return "unstable";
    case LINSTAB_VERDICT_NA: break;
    }
    return "n/a";
}
