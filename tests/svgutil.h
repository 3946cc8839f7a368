/* svgutil.h -- reading the SVG that PLplot's own svg driver writes (device
 * "svg"), for the figure tests: its <text> elements (the characters, written
 * as &#xHH; entities inside <tspan>s, decoded to UTF-8; a superscript is a
 * nested tspan, so "5&#xd7;10" + "-6" reads "5×10-6") with their anchor,
 * and its <polyline> elements with their stroke, fill, width and vertices.
 * Coordinates are those of the page group (y up: the driver flips the page
 * once, in the group that holds everything), the same for both kinds.
 * Header-only (static functions): a test file includes it. */
#ifndef LINSTAB_SVGUTIL_H
#define LINSTAB_SVGUTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct svg_text {
    char *s;      /* the text, UTF-8 (owned) */
    double x, y;  /* the anchor (the translation of its transform) */
    size_t at;    /* byte offset in the file: the drawing order */
} svg_text;

typedef struct svg_poly {
    char stroke[8], fill[8]; /* "#RRGGBB", or "none" */
    double width;
    size_t n;                /* vertices */
    double *xy;              /* n x 2 (owned) */
    size_t at;
} svg_poly;

/* The value of attribute name (e.g. " stroke=\"") inside [p, end) into buf,
 * or "" when it is not there. */
static inline void svg_attr(const char *p, const char *end, const char *name, char *buf, size_t len)
{
    buf[0] = '\0';
    const char *a = strstr(p, name);
    if (a == NULL || a >= end) return;
    a += strlen(name);
    size_t k = 0;
    while (a < end && *a != '"' && k + 1 < len) buf[k++] = *a++;
    buf[k] = '\0';
}

static inline void svg_put_utf8(char *out, size_t *k, unsigned long c)
{
    if (c < 0x80) out[(*k)++] = (char)c;
    else if (c < 0x800) {
        out[(*k)++] = (char)(0xc0 | (c >> 6));
        out[(*k)++] = (char)(0x80 | (c & 0x3f));
    } else {
        out[(*k)++] = (char)(0xe0 | (c >> 12));
        out[(*k)++] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[(*k)++] = (char)(0x80 | (c & 0x3f));
    }
}

/* Every <text> element of svg in file order: OUT *out (malloc'd; free with
 * svg_texts_free).  Returns the count. */
static inline size_t svg_texts(const char *svg, svg_text **out)
{
    size_t n = 0, cap = 16;
    svg_text *t = malloc(cap * sizeof *t);
    for (const char *p = strstr(svg, "<text"); t != NULL && p != NULL; p = strstr(p + 1, "<text")) {
        const char *end = strstr(p, "</text>");
        if (end == NULL) break;
        if (n == cap) t = realloc(t, (cap *= 2) * sizeof *t);
        if (t == NULL) break;
        char tr[256];
        svg_attr(p, end, "transform=\"matrix(", tr, sizeof tr);
        double m[6] = {0, 0, 0, 0, NAN, NAN};
        char *q = tr;
        for (int i = 0; i < 6; i++) m[i] = strtod(q, &q);
        char *s = malloc((size_t)(end - p) + 1);
        size_t k = 0;
        /* the characters after the opening tag, tags dropped, entities decoded */
        const char *c = strchr(p, '>');
        for (c = c != NULL ? c + 1 : end; s != NULL && c < end; c++) {
            if (*c == '<') {
                const char *g = strchr(c, '>');
                c = g != NULL && g < end ? g : end;
            } else if (strncmp(c, "&#x", 3) == 0) {
                char *e;
                unsigned long code = strtoul(c + 3, &e, 16);
                svg_put_utf8(s, &k, code);
                c = *e == ';' ? e : e - 1;
            } else if (strncmp(c, "&amp;", 5) == 0) {
                s[k++] = '&';
                c += 4;
            } else if (strncmp(c, "&lt;", 4) == 0) {
                s[k++] = '<';
                c += 3;
            } else if (strncmp(c, "&gt;", 4) == 0) {
                s[k++] = '>';
                c += 3;
            } else {
                s[k++] = *c;
            }
        }
        if (s != NULL) s[k] = '\0';
        t[n++] = (svg_text){s, m[4], m[5], (size_t)(p - svg)};
    }
    *out = t;
    return t != NULL ? n : 0;
}

static inline void svg_texts_free(svg_text *t, size_t n)
{
    for (size_t i = 0; t != NULL && i < n; i++) free(t[i].s);
    free(t);
}

/* Every <polyline> element of svg in file order: OUT *out (malloc'd; free
 * with svg_polys_free).  Returns the count. */
static inline size_t svg_polys(const char *svg, svg_poly **out)
{
    size_t n = 0, cap = 64;
    svg_poly *v = malloc(cap * sizeof *v);
    for (const char *p = strstr(svg, "<polyline"); v != NULL && p != NULL; p = strstr(p + 1, "<polyline")) {
        const char *end = strstr(p, "/>");
        if (end == NULL) break;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        if (v == NULL) break;
        svg_poly *y = &v[n++];
        memset(y, 0, sizeof *y);
        char w[64];
        svg_attr(p, end, " stroke=\"", y->stroke, sizeof y->stroke);
        svg_attr(p, end, " fill=\"", y->fill, sizeof y->fill);
        svg_attr(p, end, " stroke-width=\"", w, sizeof w);
        y->width = strtod(w, NULL);
        y->at = (size_t)(p - svg);
        const char *pts = strstr(p, "points=\"");
        if (pts == NULL || pts > end) continue;
        size_t k = 0;
        for (const char *q = pts + 8; *q != '"' && q < end; q++) k += *q == ',';
        y->xy = malloc((2 * k + 2) * sizeof *y->xy);
        char *q = (char *)pts + 8;
        for (size_t i = 0; y->xy != NULL && i < k; i++) {
            y->xy[2 * i] = strtod(q, &q);
            q++; /* the comma */
            y->xy[2 * i + 1] = strtod(q, &q);
        }
        y->n = y->xy != NULL ? k : 0;
    }
    *out = v;
    return v != NULL ? n : 0;
}

static inline void svg_polys_free(svg_poly *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) free(v[i].xy);
    free(v);
}

/* The first text that equals s exactly, or NULL. */
static inline const svg_text *svg_text_find(const svg_text *t, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].s != NULL && strcmp(t[i].s, s) == 0) return &t[i];
    return NULL;
}

#endif
