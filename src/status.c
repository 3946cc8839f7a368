/* status.c -- status codes and the caller-provided error record. */
#include <stdarg.h>
#include <stdio.h>

#include "linstab/status.h"

const char *linstab_strerror(linstab_status code)
{
    switch (code) {
    case LINSTAB_OK: return "success";
    case LINSTAB_EINVAL: return "invalid argument";
    case LINSTAB_EDATA: return "bad data";
    case LINSTAB_ENOMEM: return "out of memory";
    case LINSTAB_ELAPACK: return "LAPACK failure";
    case LINSTAB_ENOCONV: return "no convergence";
    case LINSTAB_EIO: return "input/output error";
    case LINSTAB_ENOTSUP: return "not available in this build";
    }
    return "unknown status";
}

linstab_status linstab_error_set(linstab_error *err, linstab_status code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void linstab_error_clear(linstab_error *err)
{
    if (err != NULL) {
        err->code = LINSTAB_OK;
        err->msg[0] = '\0';
    }
}
