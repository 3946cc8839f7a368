/* cli_parse.c -- strict, pure parsers of numeric option values (see
 * cli_parse.h): no printing, no exit, only the C library. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_parse.h"

static int refuse(char *msg, size_t msglen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *msg, size_t msglen, const char *fmt, ...)
{
    if (msg != NULL && msglen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return 2;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The text quoted in a message: at most 40 characters of s. */
#define QUOTE_FMT "'%.40s%s'"
#define QUOTE(s) (s), (strlen(s) > 40 ? "..." : "")

/* Whether s is a decimal number: [+-] digits [. digits] [(e|E) [+-] digits],
 * with at least one digit before the exponent. */
static int decimal_syntax(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    int digits = 0;
    while (is_digit(*p)) p++, digits++;
    if (*p == '.') {
        p++;
        while (is_digit(*p)) p++, digits++;
    }
    if (digits == 0) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!is_digit(*p)) return 0;
        while (is_digit(*p)) p++;
    }
    return *p == '\0';
}

const char *cli_range_text(double lo, double hi, unsigned flags, char *buf, size_t len)
{
    snprintf(buf, len, "%c%g, %g%c", (flags & CLI_LO_OPEN) ? '(' : '[', lo, hi,
             (flags & CLI_HI_OPEN) ? ')' : ']');
    return buf;
}

int cli_number_parse(const char *s, double lo, double hi, unsigned flags, double *out, char *msg,
                     size_t msglen)
{
    char range[96];
    cli_range_text(lo, hi, flags, range, sizeof range);
    if (s == NULL || !decimal_syntax(s))
        return refuse(msg, msglen, QUOTE_FMT ": expected a decimal number in %s", QUOTE(s ? s : ""),
                      range);
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    /* ERANGE also flags underflow (a subnormal or zero result), which is a
     * finite number: only an overflow to +-HUGE_VAL is refused */
    if (end == s || *end != '\0' || !isfinite(v))
        return refuse(msg, msglen, QUOTE_FMT ": too large for a double; expected a decimal number in %s",
                      QUOTE(s), range);
    int below = (flags & CLI_LO_OPEN) ? !(v > lo) : !(v >= lo);
    int above = (flags & CLI_HI_OPEN) ? !(v < hi) : !(v <= hi);
    if (below || above)
        return refuse(msg, msglen, QUOTE_FMT ": expected a decimal number in %s", QUOTE(s), range);
    *out = v;
    return 0;
}

int cli_uint_parse(const char *s, unsigned long long lo, unsigned long long hi,
                   unsigned long long *out, char *msg, size_t msglen)
{
    const char *p = s ? s : "";
    int ok = *p != '\0';
    for (const char *q = p; ok && *q; q++) ok = is_digit(*q);
    unsigned long long v = 0;
    if (ok) {
        errno = 0;
        char *end = NULL;
        v = strtoull(p, &end, 10);
        ok = *end == '\0' && errno != ERANGE;
    }
    if (!ok || v < lo || v > hi) {
        char top[32];
        if (hi == ULLONG_MAX) snprintf(top, sizeof top, "2^64 - 1");
        else snprintf(top, sizeof top, "%llu", hi);
        return refuse(msg, msglen, QUOTE_FMT ": expected a whole number in [%llu, %s]", QUOTE(p), lo, top);
    }
    *out = v;
    return 0;
}

/* One item "A", "A:B" or "A:B:STEP" (len bytes at s) into a, b, step. */
static int list_item(const char *s, size_t len, size_t lo, size_t hi, unsigned long long *a,
                     unsigned long long *b, unsigned long long *step, char *msg, size_t msglen)
{
    char item[128];
    if (len == 0) return refuse(msg, msglen, "empty item in the list (expected A, A:B or A:B:STEP)");
    if (len >= sizeof item)
        return refuse(msg, msglen, "item '%.40s...' is too long (expected A, A:B or A:B:STEP)", s);
    memcpy(item, s, len);
    item[len] = '\0';
    char *part[3] = {item, NULL, NULL};
    int np = 1;
    for (char *c = item; *c; c++)
        if (*c == ':') {
            if (np == 3) return refuse(msg, msglen, "'%.*s': expected A, A:B or A:B:STEP", (int)len, s);
            *c = '\0';
            part[np++] = c + 1;
        }
    unsigned long long v[3] = {0, 0, 1};
    for (int i = 0; i < np; i++) {
        int rc = cli_uint_parse(part[i], i < 2 ? lo : 1, i < 2 ? hi : ULLONG_MAX, &v[i], msg, msglen);
        if (rc != 0) return rc;
    }
    *a = v[0];
    *b = np >= 2 ? v[1] : v[0];
    *step = v[2];
    if (*b < *a) return refuse(msg, msglen, "'%.*s': empty range (%llu > %llu)", (int)len, s, *a, *b);
    return 0;
}

int cli_size_list_parse(const char *s, size_t lo, size_t hi, size_t maxcount, size_t **vals,
                        size_t *count, char *msg, size_t msglen)
{
    if (s == NULL || *s == '\0') return refuse(msg, msglen, "empty list");
    /* first pass: check every item and count the values, allocating nothing */
    size_t total = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        unsigned long long a, b, step;
        int rc = list_item(p, len, lo, hi, &a, &b, &step, msg, msglen);
        if (rc != 0) return rc;
        unsigned long long q = (b - a) / step; /* the range holds q + 1 values */
        if (q >= maxcount || total > maxcount - (q + 1))
            return refuse(msg, msglen, "more than %zu values in the list", maxcount);
        total += (size_t)(q + 1);
        if (comma == NULL) break;
        p = comma + 1;
    }
    size_t *v = malloc(total * sizeof *v);
    if (v == NULL) return refuse(msg, msglen, "out of memory for a list of %zu values", total) - 1;
    size_t k = 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        unsigned long long a, b, step;
        list_item(p, len, lo, hi, &a, &b, &step, msg, msglen);
        unsigned long long n = (b - a) / step + 1;
        for (unsigned long long i = 0; i < n; i++) v[k++] = (size_t)(a + i * step); /* <= b */
        if (comma == NULL) break;
        p = comma + 1;
    }
    *vals = v;
    *count = total;
    return 0;
}
