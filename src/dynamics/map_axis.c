/*
 * map_axis.c -- the axes of a divergence phase diagram (linstab map): an
 * axis is one of eta, batch, rho, sigma with its values, parsed from
 * "NAME=a,b,c", "NAME=lo:hi:count", "NAME=log:lo:hi:count" or, for the
 * integer axes, "NAME=lo:hi[:step]" (map.h).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linstab/map.h"

static const char *const axis_names[] = {"eta", "batch", "rho", "sigma"};

const char *linstab_map_axis_name(linstab_map_axis_kind k)
{
    return (unsigned)k < 4 ? axis_names[k] : "?";
}

void linstab_map_axis_clear(linstab_map_axis *ax)
{
    free(ax->values);
    memset(ax, 0, sizeof *ax);
}

/* A strict decimal number: [+-] digits [. digits] [(e|E) [+-] digits], at
 * least one digit before the exponent, no white space, hexadecimal, inf or
 * nan; finite (a subnormal value is finite).  1 with *v set, else 0. */
static int parse_num(const char *s, double *v)
{
    const char *p = s;
    int digits = 0;
    if (*p == '+' || *p == '-') p++;
    for (; *p >= '0' && *p <= '9'; p++) digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) digits++;
    if (digits == 0) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p != '\0') return 0;
    char *end;
    *v = strtod(s, &end); /* ERANGE on underflow is no error: only overflow (inf) is */
    return end != s && *end == '\0' && isfinite(*v);
}

/* The largest value of an integer axis (batch, sigma): 2^53, the integers
 * above it are not all doubles (the map refuses values above n anyway). */
#define AXIS_INT_MAX 9007199254740992.0

/* ax->values for count points, count checked against the bound first. */
static linstab_status axis_alloc(linstab_map_axis *ax, double count, const char *spec, linstab_error *err)
{
    if (!(count >= 1))
        return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': empty", spec);
    if (count > (double)LINSTAB_MAP_AXIS_MAX_POINTS)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "axis '%.200s': %.*g points, more than the %d allowed per axis", spec,
                                 count < 1e19 ? 19 : 3, count, LINSTAB_MAP_AXIS_MAX_POINTS);
    ax->count = (size_t)count; /* <= 10^6: no overflow below */
    ax->values = malloc(ax->count * sizeof(double));
    if (ax->values == NULL)
        return linstab_error_set(err, LINSTAB_ENOMEM, "axis '%.200s': out of memory for %zu points (%zu bytes)",
                                 spec, ax->count, ax->count * sizeof(double));
    return LINSTAB_OK;
}

/* A list "a,b,c" (body, modified) of the axis. */
static linstab_status axis_list(char *body, const char *spec, linstab_map_axis *ax, linstab_error *err)
{
    double items = 1;
    for (const char *q = body; *q; q++) items += *q == ',';
    linstab_status st = axis_alloc(ax, items, spec, err);
    char *t = body;
    for (size_t i = 0; st == LINSTAB_OK && i < ax->count; i++) {
        char *comma = strchr(t, ',');
        if (comma) *comma = '\0';
        if (*t == '\0')
            return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': empty item %zu in the list", spec, i + 1);
        if (!parse_num(t, &ax->values[i]))
            return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': '%.60s' is not a decimal number", spec, t);
        t = comma ? comma + 1 : t + strlen(t);
    }
    return st;
}

/* A range "lo:hi:count", "log:lo:hi:count" or (integer axes) "lo:hi[:step]". */
static linstab_status axis_range(char *body, const char *spec, int integer, linstab_map_axis *ax, linstab_error *err)
{
    char *parts[5];
    int np = 0;
    for (char *t = body;; np++) {
        char *colon = strchr(t, ':');
        if (np == 5) return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': too many ':'", spec);
        if (colon) *colon = '\0';
        parts[np] = t;
        if (colon == NULL) {
            np++;
            break;
        }
        t = colon + 1;
    }
    int lg = strcmp(parts[0], "log") == 0, off = lg ? 1 : 0;
    double lo, hi, c3 = 0;
    if (np - off < 2 || np - off > 3 || !parse_num(parts[off], &lo) || !parse_num(parts[off + 1], &hi) ||
        (np - off == 3 && !parse_num(parts[off + 2], &c3)))
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "axis '%.200s': expected a list a,b,c, lo:hi:count, log:lo:hi:count "
                                 "or (batch, sigma) lo:hi[:step], with decimal numbers",
                                 spec);
    if (hi < lo) return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': inverted range (%g > %g)", spec, lo, hi);
    if (lg && !(lo > 0.0)) return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': a log range needs lo > 0", spec);
    if (integer && !lg) {
        double step = np - off == 3 ? c3 : 1.0;
        const double v[3] = {lo, hi, step};
        for (int k = 0; k < 3; k++)
            if (v[k] != floor(v[k]) || v[k] < 1 || v[k] > AXIS_INT_MAX)
                return linstab_error_set(err, LINSTAB_EINVAL,
                                         "axis '%.200s': integer range lo:hi[:step] expected, with whole numbers "
                                         "in [1, 2^53] (got %g)",
                                         spec, v[k]);
        /* exact in 64-bit integers: lo, hi, step <= 2^53 */
        uint64_t a = (uint64_t)lo, b = (uint64_t)hi, s = (uint64_t)step;
        linstab_status st = axis_alloc(ax, (double)((b - a) / s) + 1.0, spec, err);
        for (size_t i = 0; st == LINSTAB_OK && i < ax->count; i++) ax->values[i] = (double)(a + s * i);
        return st;
    }
    if (np - off != 3 || c3 < 1 || c3 != floor(c3) || (c3 == 1 && hi != lo))
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "axis '%.200s': a range needs a whole count in [1, %d] (lo:hi:count)", spec,
                                 LINSTAB_MAP_AXIS_MAX_POINTS);
    linstab_status st = axis_alloc(ax, c3, spec, err);
    if (st != LINSTAB_OK) return st;
    ax->log = lg;
    double span = lg ? log(hi) - log(lo) : hi - lo;
    if (!isfinite(span))
        return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': the range %g..%g is too wide for a double",
                                 spec, lo, hi);
    for (size_t i = 0; i < ax->count; i++) {
        double t = ax->count == 1 ? 0.0 : (double)i / (double)(ax->count - 1);
        ax->values[i] = lg ? exp(log(lo) + t * span) : lo + t * span;
    }
    return LINSTAB_OK;
}

linstab_status linstab_map_axis_parse(const char *spec, linstab_map_axis *ax, linstab_error *err)
{
    memset(ax, 0, sizeof *ax);
    const char *eq = strchr(spec, '=');
    if (eq == NULL)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "axis '%.200s': expected NAME=SPEC with NAME eta, batch, rho or sigma", spec);
    size_t nl = (size_t)(eq - spec);
    int kind = -1;
    for (int k = 0; k < 4; k++)
        if (strlen(axis_names[k]) == nl && strncmp(spec, axis_names[k], nl) == 0) kind = k;
    if (kind < 0)
        return linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': unknown name (eta, batch, rho or sigma)", spec);
    ax->kind = (linstab_map_axis_kind)kind;
    int integer = kind == LINSTAB_MAP_AXIS_BATCH || kind == LINSTAB_MAP_AXIS_SIGMA;
    char *body = strdup(eq + 1);
    if (body == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "axis: out of memory");
    linstab_status st;
    if (body[0] == '\0')
        st = linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': empty", spec);
    else if (strchr(body, ',') != NULL || strchr(body, ':') == NULL) /* a list, or a single value */
        st = axis_list(body, spec, ax, err);
    else
        st = axis_range(body, spec, integer, ax, err);
    free(body);
    for (size_t i = 0; st == LINSTAB_OK && i < ax->count; i++) {
        double v = ax->values[i];
        if (integer && (v != floor(v) || v < 1 || v > AXIS_INT_MAX))
            st = linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': %g is not a whole number in [1, 2^53]", spec, v);
        else if (!integer && kind == LINSTAB_MAP_AXIS_ETA && !(v > 0 && isfinite(v)))
            st = linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': eta must be > 0 (got %g)", spec, v);
        else if (kind == LINSTAB_MAP_AXIS_RHO && !(v >= 0 && isfinite(v)))
            st = linstab_error_set(err, LINSTAB_EINVAL, "axis '%.200s': rho must be >= 0 (got %g)", spec, v);
    }
    if (st != LINSTAB_OK) linstab_map_axis_clear(ax);
    return st;
}
