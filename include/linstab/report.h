/*
 * report.h -- the `check` report, machine-readable (JSON, through the
 * writer of json.h) and human-readable.  The JSON keys are a contract with
 * scripts.  Implemented in src/output/report.c.
 *
 * The writers borrow every argument for the call, allocate nothing and
 * return nothing: write errors stay in out's error indicator (ferror).
 */
#ifndef LINSTAB_REPORT_H
#define LINSTAB_REPORT_H

#include <stdio.h>

#include "linstab/bounds.h"
#include "linstab/exact.h"
#include "linstab/export.h"
#include "linstab/json.h"
#include "linstab/geometry.h"

#ifdef __cplusplus
extern "C" {
#endif

struct linstab_mlp_point;

/* The context of a `check` report (strings borrowed, not NULL). */
typedef struct linstab_check_info {
    const char *source;       /* file name or generator description */
    const char *kind;         /* family representation */
    const char *version;
    /* a model source (may be NULL): where the checkpoint sits, and whether
     * it is an interpolating minimum by linstab_mlp_point_is_minimum */
    const struct linstab_mlp_point *point;
    int point_is_minimum;
    /* a model source (may be NULL): the curvature the family is, as a short
     * JSON value ("gn", "ggn", "exact") and in words for the text header */
    const char *curvature, *curvature_words;
} linstab_check_info;

/* The object "model_point" (key included; j inside an object) of a
 * checkpoint's point pt (not NULL): its loss and gradients, lambda_min(H)
 * and whether it is an interpolating minimum
 * (linstab_mlp_point_is_minimum). */
LINSTAB_API void linstab_report_model_point(linstab_json *j, const struct linstab_mlp_point *pt,
                                          double lambda_min, int is_minimum);

/* The `check` report as JSON (one object, trailing newline) of the
 * hyper-parameters h, geometry g and bounds b (not NULL); ex may be NULL
 * ("exact": null); info->point and info->curvature may be NULL
 * ("model_point": null, "curvature": null).  A value that is unavailable
 * is written as null, never left out: every report has the same keys. */
LINSTAB_API void linstab_report_check_json(FILE *out, const linstab_check_info *info,
                                           const linstab_hyper *h, const linstab_geometry *g,
                                           const linstab_bounds *b, const linstab_exact *ex);

/* The `check` report as text, one line per quantity and per bound, each
 * bound with its verdict and the paper it comes from; arguments as for
 * linstab_report_check_json. */
LINSTAB_API void linstab_report_check_text(FILE *out, const linstab_check_info *info,
                                           const linstab_hyper *h, const linstab_geometry *g,
                                           const linstab_bounds *b, const linstab_exact *ex);

#ifdef __cplusplus
}
#endif
#endif
