/*
 * json.h -- a small streaming JSON writer: numbers are printed with 17
 * significant digits (round-trip exact), non-finite numbers as null,
 * strings escaped.  It writes to a FILE the caller owns and never fails by
 * itself (write errors stay in the FILE's error indicator for the caller
 * to check with ferror).  Members are indented two spaces per level and
 * closing the outermost value writes a newline.  Implemented in
 * src/output/json.c.
 *
 * Every call below writes one member (key != NULL, inside an object) or
 * one element (key = NULL, inside an array or at the top level) with the
 * separator it needs; keys and string values are escaped (UTF-8 passed
 * through).  Nesting deeper than LINSTAB_JSON_MAX_DEPTH - 1 levels
 * is not tracked (the output is then not valid JSON).
 */
#ifndef LINSTAB_JSON_H
#define LINSTAB_JSON_H

#include <stdio.h>

#include "linstab/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LINSTAB_JSON_MAX_DEPTH 32

typedef struct linstab_json {
    FILE *out;
    int depth;
    int first[LINSTAB_JSON_MAX_DEPTH]; /* no member written yet at this depth */
} linstab_json;

/* Start a writer on out (borrowed: must outlive j; *j overwritten). */
LINSTAB_API void linstab_json_init(linstab_json *j, FILE *out);
/* Open an object: as a member named key (key != NULL) or as a value. */
LINSTAB_API void linstab_json_begin(linstab_json *j, const char *key);
/* Close the innermost object / open an array / close the innermost array. */
LINSTAB_API void linstab_json_end(linstab_json *j);
LINSTAB_API void linstab_json_begin_array(linstab_json *j, const char *key);
LINSTAB_API void linstab_json_end_array(linstab_json *j);
/* A number with 17 significant digits (%.17g); NaN and +-inf as null. */
LINSTAB_API void linstab_json_number(linstab_json *j, const char *key, double v);
/* An integer, a boolean (v != 0: true), null, an escaped string (s not NULL). */
LINSTAB_API void linstab_json_int(linstab_json *j, const char *key, long long v);
LINSTAB_API void linstab_json_bool(linstab_json *j, const char *key, int v);
LINSTAB_API void linstab_json_null(linstab_json *j, const char *key);
LINSTAB_API void linstab_json_string(linstab_json *j, const char *key, const char *s);

#ifdef __cplusplus
}
#endif
#endif
