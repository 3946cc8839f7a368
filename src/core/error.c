/* error.c -- status codes and the caller-provided error record. */
#include <stdarg.h>
#include <stdio.h>

#include "linstab/error.h"

const char *linstab_error_string(linstab_status code)
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

static void set(linstab_error *err, linstab_status code, const char *param, const char *fmt,
                va_list ap)
{
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    snprintf(err->param, sizeof err->param, "%s", param);
}

linstab_status linstab_error_set(linstab_error *err, linstab_status code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        set(err, code, "", fmt, ap);
        va_end(ap);
    }
    return code;
}

linstab_status linstab_error_set_param(linstab_error *err, linstab_status code, const char *param,
                                       const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        set(err, code, param != NULL ? param : "", fmt, ap);
        va_end(ap);
    }
    return code;
}

void linstab_error_clear(linstab_error *err)
{
    if (err != NULL) {
        err->code = LINSTAB_OK;
        err->msg[0] = '\0';
        err->param[0] = '\0';
    }
}
