/*
 * error.h -- status codes and caller-provided error messages.
 *
 * The library never prints and never exits.  Every fallible call returns a
 * linstab_status and, when it fails, fills the caller's linstab_error with
 * the code and a one-line message saying *what* went wrong and *where*
 * (file, sample index, parameter).  Messages name values and parameters
 * ("the batch size B = 21 must be in [1, n] = [1, 20]"), never the
 * command-line flag that carried them: when a message is about one
 * parameter of the call, its name is in `param` ("batch", "eta", ...;
 * underscores where a flag would have dashes), and the `linstab` command
 * adds its flag.  There is no global error state: threads and MPI ranks
 * each pass their own linstab_error.  Implemented in src/core/error.c.
 */
#ifndef LINSTAB_ERROR_H
#define LINSTAB_ERROR_H

#include <stddef.h>

#include "linstab/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum linstab_status {
    LINSTAB_OK = 0,
    LINSTAB_EINVAL,   /* bad argument (a usage error)                    */
    LINSTAB_EDATA,    /* bad data: malformed file, NaN, asymmetric, ...  */
    LINSTAB_ENOMEM,   /* allocation failed or would not fit in memory    */
    LINSTAB_ELAPACK,  /* LAPACK reported info != 0                       */
    LINSTAB_ENOCONV,  /* an iterative solver did not converge            */
    LINSTAB_EIO,      /* a file could not be opened, read or written     */
    LINSTAB_ENOTSUP   /* left out of this build (figures without PLplot) */
} linstab_status;

#define LINSTAB_ERROR_MSG_LEN 512
#define LINSTAB_ERROR_PARAM_LEN 32

/* Filled by a failing call; the caller owns it (usually on the stack). */
typedef struct linstab_error {
    linstab_status code;
    char msg[LINSTAB_ERROR_MSG_LEN];
    char param[LINSTAB_ERROR_PARAM_LEN]; /* the parameter at fault, or "" */
} linstab_error;

/* A static string naming the status code ("bad data", ...; "unknown
 * status" for a value outside the enum).  Never NULL, never freed. */
LINSTAB_API const char *linstab_error_string(linstab_status code);

/*
 * Record code and a printf-style message in err (err may be NULL: nothing
 * is recorded) and return code, so that callers can write
 * `return linstab_error_set(...)`.  Overwrites err->code, err->msg (cut at
 * LINSTAB_ERROR_MSG_LEN - 1 characters) and err->param (emptied).
 */
LINSTAB_API linstab_status linstab_error_set(linstab_error *err, linstab_status code,
                                             const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The same for a message about one parameter of the call: param (at most
 * LINSTAB_ERROR_PARAM_LEN - 1 characters are kept; NULL records "") is
 * recorded in err->param.  linstab_error_set leaves err->param empty.
 */
LINSTAB_API linstab_status linstab_error_set_param(linstab_error *err, linstab_status code,
                                                   const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reset err to LINSTAB_OK with an empty message and param (err may be NULL). */
LINSTAB_API void linstab_error_clear(linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
