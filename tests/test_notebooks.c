/*
 * test_notebooks.c -- the Jupyter notebooks of notebooks-export/: every
 * reproduction folder (one with a run.sh) holds a notebook, and every
 * notebook is strict JSON (RFC 8259, checked by the recursive-descent
 * reader below) in nbformat 4: a top-level object with "nbformat": 4,
 * "metadata" and a "cells" array whose cells each have a "cell_type"; at
 * least one cell is a code cell, and every code cell has "source",
 * "outputs" and "execution_count" (what Jupyter needs to open and run it).
 * The reader is checked on small documents first.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

enum role { R_OTHER, R_ROOT, R_CELLS, R_CELL };

typedef struct {
    const char *p, *end;
    const char *why;      /* first error, NULL if none */
    size_t at;            /* its offset */
    const char *start;
    /* what the notebook checks need */
    int nbformat4, has_metadata, has_cells;
    size_t cells, code_cells, incomplete_code, untyped;
} reader;

static int fail(reader *r, const char *why)
{
    if (r->why == NULL) {
        r->why = why;
        r->at = (size_t)(r->p - r->start);
    }
    return -1;
}

static void ws(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

/* A string; its raw bytes (escapes not decoded) into out when out != NULL
 * (truncated to cap - 1). */
static int string(reader *r, char *out, size_t cap)
{
    size_t k = 0;
    if (r->p >= r->end || *r->p != '"') return fail(r, "expected a string");
    r->p++;
    while (r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20) return fail(r, "control character in a string");
        if (c == '\\') {
            if (++r->p >= r->end) break;
            if (*r->p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (r->p + i >= r->end || !strchr("0123456789abcdefABCDEF", r->p[i]) || r->p[i] == '\0')
                        return fail(r, "bad \\u escape");
                r->p += 4;
            } else if (!strchr("\"\\/bfnrt", *r->p) || *r->p == '\0') {
                return fail(r, "bad escape");
            }
        }
        if (out != NULL && k + 1 < cap) out[k++] = *r->p;
        r->p++;
    }
    if (r->p >= r->end) return fail(r, "unterminated string");
    r->p++;
    if (out != NULL) out[k] = '\0';
    return 0;
}

static int number(reader *r, double *v)
{
    const char *s = r->p;
    if (r->p < r->end && *r->p == '-') r->p++;
    if (r->p < r->end && *r->p == '0') {
        r->p++;
    } else {
        if (r->p >= r->end || *r->p < '1' || *r->p > '9') return fail(r, "bad number");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    }
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return fail(r, "bad fraction");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return fail(r, "bad exponent");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    }
    char buf[64];
    size_t n = (size_t)(r->p - s);
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *v = strtod(buf, NULL);
    return 0;
}

static int value(reader *r, enum role role, int depth);

static int literal(reader *r, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return fail(r, "unexpected character");
    r->p += n;
    return 0;
}

static int object(reader *r, enum role role, int depth)
{
    char key[64], type[16] = "";
    int has_source = 0, has_outputs = 0, has_count = 0;
    r->p++; /* '{' */
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
    } else {
        for (;;) {
            ws(r);
            if (string(r, key, sizeof key) != 0) return -1;
            ws(r);
            if (r->p >= r->end || *r->p != ':') return fail(r, "expected ':'");
            r->p++;
            ws(r);
            enum role sub = R_OTHER;
            if (role == R_ROOT && strcmp(key, "cells") == 0) sub = R_CELLS;
            if (role == R_ROOT && strcmp(key, "nbformat") == 0) {
                double v;
                if (number(r, &v) != 0) return -1;
                r->nbformat4 = v == 4;
            } else if (role == R_CELL && strcmp(key, "cell_type") == 0) {
                if (string(r, type, sizeof type) != 0) return -1;
            } else {
                if (sub == R_CELLS && (r->p >= r->end || *r->p != '[')) return fail(r, "\"cells\" is not an array");
                if (value(r, sub, depth + 1) != 0) return -1;
            }
            if (role == R_ROOT) {
                r->has_metadata |= strcmp(key, "metadata") == 0;
                r->has_cells |= strcmp(key, "cells") == 0;
            }
            has_source |= strcmp(key, "source") == 0;
            has_outputs |= strcmp(key, "outputs") == 0;
            has_count |= strcmp(key, "execution_count") == 0;
            ws(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }
            if (r->p < r->end && *r->p == '}') {
                r->p++;
                break;
            }
            return fail(r, "expected ',' or '}'");
        }
    }
    if (role == R_CELL) {
        r->cells++;
        if (type[0] == '\0') r->untyped++;
        if (strcmp(type, "code") == 0) {
            r->code_cells++;
            if (!(has_source && has_outputs && has_count)) r->incomplete_code++;
        }
    }
    return 0;
}

static int array(reader *r, enum role role, int depth)
{
    r->p++; /* '[' */
    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return 0;
    }
    for (;;) {
        ws(r);
        if (role == R_CELLS && (r->p >= r->end || *r->p != '{')) return fail(r, "a cell is not an object");
        if (value(r, role == R_CELLS ? R_CELL : R_OTHER, depth + 1) != 0) return -1;
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return 0;
        }
        return fail(r, "expected ',' or ']'");
    }
}

static int value(reader *r, enum role role, int depth)
{
    double v;
    if (depth > 200) return fail(r, "nested too deeply");
    ws(r);
    if (r->p >= r->end) return fail(r, "unexpected end");
    switch (*r->p) {
    case '{': return object(r, role, depth);
    case '[': return array(r, role, depth);
    case '"': return string(r, NULL, 0);
    case 't': return literal(r, "true");
    case 'f': return literal(r, "false");
    case 'n': return literal(r, "null");
    default: return number(r, &v);
    }
}

/* Read a whole document: 0 when it is one JSON value and nothing else. */
static int read_json(reader *r, const char *text, size_t len)
{
    memset(r, 0, sizeof *r);
    r->start = r->p = text;
    r->end = text + len;
    ws(r);
    int root = r->p < r->end && *r->p == '{';
    if (value(r, root ? R_ROOT : R_OTHER, 0) != 0) return -1;
    ws(r);
    return r->p == r->end ? 0 : fail(r, "text after the value");
}

static int parses(const char *s)
{
    reader r;
    return read_json(&r, s, strlen(s)) == 0;
}

Test(notebooks, the_reader_accepts_json_and_refuses_what_is_not)
{
    cr_expect(parses("{\"a\": [1, -2.5e+3, 0.0, true, false, null, \"x\\n\\u00e9\"], \"b\": {}}"));
    cr_expect(parses(" [ ] "));
    const char *bad[] = {"{\"a\": 1,}", "[1 2]", "{\"a\" 1}", "\"\\x\"", "01", "1.", "-", "[1] x", "{\"a\": tru}",
                         "\"a\tb\"", "[", "{\"a\": \"\\u12g4\"}", "1e"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) cr_expect(!parses(bad[i]), "accepted %s", bad[i]);
    reader r;
    const char *nb = "{\"cells\": [{\"cell_type\": \"markdown\", \"source\": \"# t\"},"
                     " {\"cell_type\": \"code\", \"source\": \"1\", \"outputs\": [], \"execution_count\": null},"
                     " {\"cell_type\": \"code\", \"source\": \"2\", \"outputs\": []}],"
                     " \"metadata\": {\"cells\": 3}, \"nbformat\": 4, \"nbformat_minor\": 5}";
    cr_assert_eq(read_json(&r, nb, strlen(nb)), 0, "%s at %zu", r.why, r.at);
    cr_expect(r.nbformat4 && r.has_metadata && r.has_cells);
    cr_expect_eq(r.cells, 3);
    cr_expect_eq(r.code_cells, 2);
    cr_expect_eq(r.incomplete_code, 1);
    cr_expect_eq(r.untyped, 0);
    const char *v3 = "{\"cells\": [], \"metadata\": {}, \"nbformat\": 3}";
    cr_assert_eq(read_json(&r, v3, strlen(v3)), 0);
    cr_expect(!r.nbformat4);
    cr_expect(!parses("{\"cells\": {}}"), "cells must be an array");
    cr_expect(!parses("{\"cells\": [1]}"), "a cell must be an object");
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) return NULL;
    size_t cap = 1 << 16, n = 0, k;
    char *buf = malloc(cap);
    while (buf != NULL && (k = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += k;
        if (n == cap) {
            char *b = realloc(buf, cap *= 2);
            if (b == NULL) free(buf);
            buf = b;
        }
    }
    fclose(fp);
    *len = n;
    return buf;
}

static int ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

Test(notebooks, every_reproduction_has_a_notebook_in_nbformat_4_with_code_cells)
{
    const char *src = getenv("LINSTAB_SRCDIR");
    cr_assert_not_null(src, "LINSTAB_SRCDIR is not set");
    char top[4096], path[8192];
    snprintf(top, sizeof top, "%s/notebooks-export", src);
    DIR *d = opendir(top);
    cr_assert_not_null(d, "cannot open %s", top);
    size_t folders = 0, notebooks = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        struct stat st;
        snprintf(path, sizeof path, "%s/%s/run.sh", top, e->d_name);
        if (stat(path, &st) != 0) continue;
        folders++;
        snprintf(path, sizeof path, "%s/%s", top, e->d_name);
        DIR *f = opendir(path);
        cr_assert_not_null(f, "%s", path);
        size_t here = 0;
        struct dirent *g;
        while ((g = readdir(f)) != NULL) {
            if (!ends_with(g->d_name, ".ipynb")) continue;
            here++;
            snprintf(path, sizeof path, "%s/%s/%s", top, e->d_name, g->d_name);
            size_t len = 0;
            char *text = slurp(path, &len);
            cr_assert_not_null(text, "cannot read %s", path);
            reader r;
            cr_expect_eq(read_json(&r, text, len), 0, "%s: not JSON: %s at byte %zu", path, r.why, r.at);
            cr_expect(r.nbformat4, "%s: \"nbformat\" is not 4", path);
            cr_expect(r.has_metadata && r.has_cells, "%s: no \"metadata\" or no \"cells\"", path);
            cr_expect_eq(r.untyped, 0, "%s: %zu cells without a cell_type", path, r.untyped);
            cr_expect_gt(r.code_cells, 0, "%s: no code cell (%zu cells)", path, r.cells);
            cr_expect_eq(r.incomplete_code, 0, "%s: %zu code cells lack source, outputs or execution_count", path,
                         r.incomplete_code);
            free(text);
        }
        closedir(f);
        cr_expect_gt(here, 0, "notebooks-export/%s has a run.sh but no notebook", e->d_name);
        notebooks += here;
    }
    closedir(d);
    cr_expect_geq(folders, 10, "only %zu reproduction folders in %s", folders, top);
    cr_expect_geq(notebooks, folders);
}
