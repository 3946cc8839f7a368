/*
 * status.h -- status codes and caller-provided error messages.
 *
 * The library never prints and never exits.  Every fallible call returns a
 * linstab_status and, when it fails, fills the caller's linstab_error with
 * the code and a one-line message saying *what* went wrong and *where*
 * (file, sample index, option).  There is no global error state: threads
 * and MPI ranks each pass their own linstab_error.
 */
#ifndef LINSTAB_STATUS_H
#define LINSTAB_STATUS_H

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

/* Filled by a failing call; the caller owns it (usually on the stack). */
typedef struct linstab_error {
    linstab_status code;
    char msg[LINSTAB_ERROR_MSG_LEN];
} linstab_error;

/* A static string naming the status code ("bad data", ...). */
LINSTAB_API const char *linstab_strerror(linstab_status code);

/*
 * Record code and a printf-style message in err (err may be NULL) and
 * return code, so that callers can write `return linstab_error_set(...)`.
 */
LINSTAB_API linstab_status linstab_error_set(linstab_error *err, linstab_status code,
                                             const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reset err to LINSTAB_OK with an empty message. */
LINSTAB_API void linstab_error_clear(linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
