/* csv.c -- the strict CSV reader of `linstab plot` (see csv.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_parse.h"
#include "csv.h"

static int fail(char *msg, size_t msglen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *msg, size_t msglen, int rc, const char *fmt, ...)
{
    if (msg != NULL && msglen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

void cli_csv_free(cli_csv *c)
{
    if (c == NULL) return;
    for (size_t j = 0; c->names != NULL && j < c->ncol; j++) free(c->names[j]);
    free(c->names);
    free(c->values);
    memset(c, 0, sizeof *c);
}

long cli_csv_column(const cli_csv *c, const char *name)
{
    for (size_t j = 0; j < c->ncol; j++)
        if (strcmp(c->names[j], name) == 0) return (long)j;
    return -1;
}

/* One numeric field (len bytes at s) into *v; 0, -1 (not a number) or -2
 * (a decimal number beyond the range of a double). */
static int field_value(const char *s, size_t len, double *v)
{
    char cell[400];
    if (len == 0) {
        *v = NAN;
        return 0;
    }
    if (len >= sizeof cell) return -1;
    memcpy(cell, s, len);
    cell[len] = '\0';
    if (strcmp(cell, "nan") == 0 || strcmp(cell, "-nan") == 0) *v = NAN;
    else if (strcmp(cell, "inf") == 0) *v = INFINITY;
    else if (strcmp(cell, "-inf") == 0) *v = -INFINITY;
    else if (cli_number_parse(cell, -INFINITY, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, v, NULL, 0) != 0) {
        /* "1e400": strtod reads it whole as infinity; "Inf" has no digit */
        char *e;
        double t = strtod(cell, &e);
        return *e == '\0' && isinf(t) && strpbrk(cell, "0123456789") != NULL ? -2 : -1;
    }
    return 0;
}

/* The end of the line starting at p (at "\n", "\r\n" or end): *next is the
 * start of the following line, the return value one past the last field byte. */
static const char *line_end(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    if (e > p && e[-1] == '\r') e--;
    return e;
}

int cli_csv_parse(const char *buf, size_t len, cli_csv *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    if (len > 0 && memchr(buf, '\0', len) != NULL) {
        const char *z = memchr(buf, '\0', len);
        size_t line = 1, col = 1;
        for (const char *q = buf; q < z; q++) {
            line += *q == '\n';
            col = *q == '\n' ? 1 : col + 1;
        }
        return fail(msg, msglen, 2, "%zu:%zu: a NUL byte (not a text file)", line, col);
    }
    const char *end = buf + len, *next;
    /* trailing blank lines are ignored */
    while (end > buf && (end[-1] == '\n' || end[-1] == '\r')) end--;
    if (end == buf) return fail(msg, msglen, 2, "empty file (expected a header row of column names)");
    /* the header */
    const char *h = buf, *he = line_end(h, end, &next);
    size_t ncol = 1;
    for (const char *q = h; q < he; q++) ncol += *q == ',';
    if (ncol > CLI_CSV_MAXCOL)
        return fail(msg, msglen, 2, "1: %zu columns, more than %d", ncol, CLI_CSV_MAXCOL);
    out->names = calloc(ncol, sizeof *out->names);
    if (out->names == NULL) return fail(msg, msglen, 1, "out of memory");
    out->ncol = ncol;
    const char *p = h;
    for (size_t j = 0; j < ncol; j++) {
        const char *c = memchr(p, ',', (size_t)(he - p));
        const char *fe = c ? c : he;
        if (fe == p) {
            cli_csv_free(out);
            return fail(msg, msglen, 2, "1:%zu: empty name of column %zu", (size_t)(p - h) + 1, j + 1);
        }
        if ((out->names[j] = malloc((size_t)(fe - p) + 1)) == NULL) {
            cli_csv_free(out);
            return fail(msg, msglen, 1, "out of memory");
        }
        memcpy(out->names[j], p, (size_t)(fe - p));
        out->names[j][fe - p] = '\0';
        for (size_t i = 0; i < j; i++)
            if (strcmp(out->names[i], out->names[j]) == 0) {
                int rc = fail(msg, msglen, 2, "1:%zu: column name '%.80s' appears in columns %zu and %zu",
                              (size_t)(p - h) + 1, out->names[j], i + 1, j + 1);
                cli_csv_free(out);
                return rc;
            }
        p = fe + 1;
    }
    /* count the rows first: one allocation, bounded by the input's size */
    size_t nrow = 0;
    for (const char *q = next; q < end; nrow++) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        q = nl ? nl + 1 : end;
    }
    if (nrow == 0) {
        cli_csv_free(out);
        return fail(msg, msglen, 2, "no data rows after the header");
    }
    if (nrow > SIZE_MAX / sizeof(double) / ncol || (out->values = malloc(nrow * ncol * sizeof(double))) == NULL) {
        cli_csv_free(out);
        return fail(msg, msglen, 1, "out of memory for %zu rows x %zu columns", nrow, ncol);
    }
    const char *r = next;
    for (size_t i = 0; i < nrow; i++) {
        size_t line = i + 2;
        const char *re = line_end(r, end, &next);
        if (re == r) {
            cli_csv_free(out);
            return fail(msg, msglen, 2, "%zu: blank line between rows", line);
        }
        p = r;
        size_t j = 0;
        for (;; j++) {
            const char *c = memchr(p, ',', (size_t)(re - p));
            const char *fe = c ? c : re;
            if (j >= ncol) { /* more fields than the header */
                j = ncol + 1;
                break;
            }
            int fv = field_value(p, (size_t)(fe - p), &out->values[i * ncol + j]);
            if (fv != 0) {
                int w = (int)((fe - p) > 40 ? 40 : (fe - p)); /* the field, not NUL-terminated */
                int rc = fail(msg, msglen, 2, "%zu:%zu: %s value '%.*s%s' in column '%.80s'", line,
                              (size_t)(p - r) + 1, fv == -2 ? "out-of-range" : "non-numeric", w, p,
                              (fe - p) > 40 ? "..." : "", out->names[j]);
                cli_csv_free(out);
                return rc;
            }
            if (c == NULL) {
                j++;
                break;
            }
            p = c + 1;
        }
        if (j != ncol) {
            size_t fields = 1;
            for (const char *q = r; q < re; q++) fields += *q == ',';
            cli_csv_free(out);
            return fail(msg, msglen, 2, "%zu: %zu field%s, the header has %zu", line, fields, fields == 1 ? "" : "s", ncol);
        }
        r = next;
    }
    out->nrow = nrow;
    return 0;
}

int cli_csv_read(const char *path, cli_csv *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) return fail(msg, msglen, 1, "cannot open: %s", strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rc = buf == NULL ? fail(msg, msglen, 1, "out of memory") : 0;
    while (rc == 0) {
        if (n == cap) {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (nb == NULL) {
                rc = fail(msg, msglen, 1, "out of memory reading %zu bytes", n);
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) {
            if (ferror(fp)) rc = fail(msg, msglen, 1, "read error: %s", strerror(errno));
            break;
        }
    }
    fclose(fp);
    if (rc == 0) rc = cli_csv_parse(buf, n, out, msg, msglen);
    free(buf);
    return rc;
}
