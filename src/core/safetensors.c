/*
 * safetensors.c -- strict reader and atomic F64 writer of .safetensors
 * files (see include/linstab/safetensors.h for the rules).  The header is
 * read by a small JSON parser for exactly this shape: an object of
 * tensor objects (dtype string, shape and data_offsets arrays of
 * non-negative integers) and an optional object of strings.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linstab/safetensors.h"

/* ------------------------------------------------------------------ */
/* JSON                                                                */

typedef struct cursor {
    const char *s;
    size_t len, pos;
    const char *what;
    linstab_error *err;
} cursor;

/* one tensor as the header gives it */
typedef struct entry {
    char *name;
    char dtype[16];
    size_t ndim;
    size_t shape[LINSTAB_NPY_MAX_NDIM];
    size_t begin, end;
} entry;

static void skip_ws(cursor *c)
{
    while (c->pos < c->len &&
           (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' || c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
        c->pos++;
}

static linstab_status syntax(cursor *c, const char *expected)
{
    if (c->pos >= c->len)
        return linstab_error_set(c->err, LINSTAB_EDATA, "%s: invalid JSON header: %s expected at byte %zu (the end)",
                                 c->what, expected, c->pos);
    unsigned char ch = (unsigned char)c->s[c->pos];
    if (ch >= 0x20 && ch < 0x7f)
        return linstab_error_set(c->err, LINSTAB_EDATA, "%s: invalid JSON header: %s expected at byte %zu, got '%c'",
                                 c->what, expected, c->pos, ch);
    return linstab_error_set(c->err, LINSTAB_EDATA, "%s: invalid JSON header: %s expected at byte %zu, got byte 0x%02x",
                             c->what, expected, c->pos, ch);
}

static int accept(cursor *c, char ch)
{
    skip_ws(c);
    if (c->pos < c->len && c->s[c->pos] == ch) {
        c->pos++;
        return 1;
    }
    return 0;
}

static int hex4(const char *s, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char h = s[i];
        unsigned d = h >= '0' && h <= '9' ? (unsigned)(h - '0')
                     : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                     : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                            : 16u;
        if (d == 16u) return 0;
        *v = *v * 16u + d;
    }
    return 1;
}

/* A JSON string into OUT *out (malloc'd, NUL-terminated; a NUL in the
 * string is refused). */
static linstab_status parse_string(cursor *c, char **out)
{
    *out = NULL;
    skip_ws(c);
    if (c->pos >= c->len || c->s[c->pos] != '"') return syntax(c, "a string");
    size_t start = ++c->pos;
    char *buf = malloc(c->len - start + 1); /* the decoded string is never longer */
    if (buf == NULL) return linstab_error_set(c->err, LINSTAB_ENOMEM, "%s: out of memory", c->what);
    size_t n = 0;
    for (;;) {
        if (c->pos >= c->len) {
            free(buf);
            return syntax(c, "the end of a string");
        }
        unsigned char ch = (unsigned char)c->s[c->pos];
        if (ch == '"') {
            c->pos++;
            break;
        }
        if (ch < 0x20) {
            free(buf);
            return syntax(c, "a printable character in a string");
        }
        if (ch != '\\') {
            buf[n++] = (char)ch;
            c->pos++;
            continue;
        }
        if (c->pos + 1 >= c->len) {
            free(buf);
            c->pos++;
            return syntax(c, "an escape");
        }
        char e = c->s[c->pos + 1];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *hit = e != '\0' ? strchr(from, e) : NULL;
        if (hit != NULL) {
            buf[n++] = to[hit - from];
            c->pos += 2;
            continue;
        }
        unsigned u;
        if (e != 'u' || c->pos + 6 > c->len || !hex4(c->s + c->pos + 2, &u)) {
            free(buf);
            c->pos++;
            return syntax(c, "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
        }
        c->pos += 6;
        if (u >= 0xd800 && u < 0xdc00) { /* a high surrogate: its low half must follow */
            unsigned lo;
            if (c->pos + 6 > c->len || c->s[c->pos] != '\\' || c->s[c->pos + 1] != 'u' ||
                !hex4(c->s + c->pos + 2, &lo) || lo < 0xdc00 || lo >= 0xe000) {
                free(buf);
                return syntax(c, "the low surrogate of a \\u pair");
            }
            c->pos += 6;
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        } else if (u >= 0xdc00 && u < 0xe000) {
            free(buf);
            return syntax(c, "a \\u escape that is not a lone low surrogate");
        }
        if (u == 0) {
            free(buf);
            return syntax(c, "a string without \\u0000");
        }
        if (u < 0x80) buf[n++] = (char)u;
        else if (u < 0x800) {
            buf[n++] = (char)(0xc0 | (u >> 6));
            buf[n++] = (char)(0x80 | (u & 0x3f));
        } else if (u < 0x10000) {
            buf[n++] = (char)(0xe0 | (u >> 12));
            buf[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
            buf[n++] = (char)(0x80 | (u & 0x3f));
        } else {
            buf[n++] = (char)(0xf0 | (u >> 18));
            buf[n++] = (char)(0x80 | ((u >> 12) & 0x3f));
            buf[n++] = (char)(0x80 | ((u >> 6) & 0x3f));
            buf[n++] = (char)(0x80 | (u & 0x3f));
        }
    }
    buf[n] = '\0';
    *out = buf;
    return LINSTAB_OK;
}

/* A non-negative JSON integer (no sign, fraction, exponent or leading
 * zero) that fits a size_t. */
static linstab_status parse_uint(cursor *c, const char *tensor, const char *key, size_t *v)
{
    skip_ws(c);
    size_t start = c->pos;
    if (c->pos >= c->len || c->s[c->pos] < '0' || c->s[c->pos] > '9') {
        if (c->pos < c->len && c->s[c->pos] == '-')
            return linstab_error_set(c->err, LINSTAB_EDATA, "%s: tensor '%s': %s has a negative entry", c->what,
                                     tensor, key);
        return syntax(c, "a non-negative integer");
    }
    size_t x = 0;
    while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
        if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, (size_t)(c->s[c->pos] - '0'), &x))
            return linstab_error_set(c->err, LINSTAB_EDATA, "%s: tensor '%s': %s has an entry too large", c->what,
                                     tensor, key);
        c->pos++;
    }
    if (c->pos - start > 1 && c->s[start] == '0') {
        c->pos = start + 1;
        return syntax(c, "an integer without a leading zero");
    }
    if (c->pos < c->len && (c->s[c->pos] == '.' || c->s[c->pos] == 'e' || c->s[c->pos] == 'E'))
        return linstab_error_set(c->err, LINSTAB_EDATA, "%s: tensor '%s': %s has an entry that is not an integer",
                                 c->what, tensor, key);
    *v = x;
    return LINSTAB_OK;
}

/* [a, b, ...] of at most cap integers into v, count into *n. */
static linstab_status parse_uint_array(cursor *c, const char *tensor, const char *key, size_t cap, size_t *v,
                                       size_t *n)
{
    *n = 0;
    if (!accept(c, '[')) return syntax(c, "'['");
    if (accept(c, ']')) return LINSTAB_OK;
    for (;;) {
        if (*n == cap)
            return linstab_error_set(c->err, LINSTAB_EDATA, "%s: tensor '%s': %s has more than %zu entries", c->what,
                                     tensor, key, cap);
        linstab_status st = parse_uint(c, tensor, key, &v[*n]);
        if (st != LINSTAB_OK) return st;
        (*n)++;
        if (accept(c, ']')) return LINSTAB_OK;
        if (!accept(c, ',')) return syntax(c, "',' or ']'");
    }
}

static linstab_status parse_tensor(cursor *c, entry *e)
{
    int seen[3] = {0, 0, 0};
    if (!accept(c, '{')) return syntax(c, "'{' (a tensor's description)");
    if (!accept(c, '}'))
        for (;;) {
            char *key = NULL;
            linstab_status st = parse_string(c, &key);
            if (st != LINSTAB_OK) return st;
            int k = strcmp(key, "dtype") == 0 ? 0 : strcmp(key, "shape") == 0 ? 1 : strcmp(key, "data_offsets") == 0 ? 2 : -1;
            if (k < 0 || seen[k]) {
                st = linstab_error_set(c->err, LINSTAB_EDATA, "%s: tensor '%s': %s key '%s' (expected dtype, shape, "
                                       "data_offsets)", c->what, e->name, k < 0 ? "unknown" : "repeated", key);
                free(key);
                return st;
            }
            free(key);
            seen[k] = 1;
            if (!accept(c, ':')) return syntax(c, "':'");
            if (k == 0) {
                char *dt = NULL;
                if ((st = parse_string(c, &dt)) != LINSTAB_OK) return st;
                snprintf(e->dtype, sizeof e->dtype, "%s", dt);
                int too_long = strlen(dt) >= sizeof e->dtype;
                free(dt);
                if (too_long)
                    return linstab_error_set(c->err, LINSTAB_EDATA, "%s: tensor '%s': unknown dtype '%s...'", c->what,
                                             e->name, e->dtype);
            } else if (k == 1) {
                st = parse_uint_array(c, e->name, "shape", LINSTAB_NPY_MAX_NDIM, e->shape, &e->ndim);
                if (st != LINSTAB_OK) return st;
            } else {
                size_t off[2], n = 0;
                st = parse_uint_array(c, e->name, "data_offsets", 2, off, &n);
                if (st != LINSTAB_OK) return st;
                if (n != 2)
                    return linstab_error_set(c->err, LINSTAB_EDATA, "%s: tensor '%s': data_offsets has %zu entries, "
                                             "expected [begin, end]", c->what, e->name, n);
                e->begin = off[0];
                e->end = off[1];
            }
            if (accept(c, '}')) break;
            if (!accept(c, ',')) return syntax(c, "',' or '}'");
        }
    static const char *const names[3] = {"dtype", "shape", "data_offsets"};
    for (int k = 0; k < 3; k++)
        if (!seen[k])
            return linstab_error_set(c->err, LINSTAB_EDATA, "%s: tensor '%s' has no %s", c->what, e->name, names[k]);
    return LINSTAB_OK;
}

static linstab_status parse_metadata(cursor *c, linstab_safetensors *out)
{
    if (!accept(c, '{')) return syntax(c, "'{' (__metadata__ is an object of strings)");
    if (accept(c, '}')) return LINSTAB_OK;
    for (;;) {
        char *k = NULL, *v = NULL;
        linstab_status st = parse_string(c, &k);
        if (st == LINSTAB_OK && !accept(c, ':')) st = syntax(c, "':'");
        if (st == LINSTAB_OK) {
            skip_ws(c);
            if (c->pos < c->len && c->s[c->pos] != '"')
                st = linstab_error_set(c->err, LINSTAB_EDATA, "%s: __metadata__ '%s': the value is not a string",
                                       c->what, k);
            else st = parse_string(c, &v);
        }
        for (size_t i = 0; st == LINSTAB_OK && i < out->nmeta; i++)
            if (strcmp(out->meta_keys[i], k) == 0)
                st = linstab_error_set(c->err, LINSTAB_EDATA, "%s: __metadata__ key '%s' is repeated", c->what, k);
        if (st == LINSTAB_OK) {
            char **nk = realloc(out->meta_keys, (out->nmeta + 1) * sizeof *nk);
            if (nk != NULL) out->meta_keys = nk;
            char **nv = nk ? realloc(out->meta_values, (out->nmeta + 1) * sizeof *nv) : NULL;
            if (nv != NULL) out->meta_values = nv;
            if (nk == NULL || nv == NULL) st = linstab_error_set(c->err, LINSTAB_ENOMEM, "%s: out of memory", c->what);
        }
        if (st != LINSTAB_OK) {
            free(k);
            free(v);
            return st;
        }
        out->meta_keys[out->nmeta] = k;
        out->meta_values[out->nmeta] = v;
        out->nmeta++;
        if (accept(c, '}')) return LINSTAB_OK;
        if (!accept(c, ',')) return syntax(c, "',' or '}'");
    }
}

/* The header into entries (*ents, *nents; the caller frees them) and the
 * metadata into out. */
static linstab_status parse_header(cursor *c, entry **ents, size_t *nents, linstab_safetensors *out)
{
    *ents = NULL;
    *nents = 0;
    size_t cap = 0;
    int have_meta = 0;
    skip_ws(c);
    if (!accept(c, '{')) return syntax(c, "'{' (the header is a JSON object)");
    if (!accept(c, '}'))
        for (;;) {
            char *name = NULL;
            linstab_status st = parse_string(c, &name);
            if (st != LINSTAB_OK) return st;
            if (!accept(c, ':')) {
                free(name);
                return syntax(c, "':'");
            }
            if (strcmp(name, "__metadata__") == 0) {
                free(name);
                if (have_meta) return linstab_error_set(c->err, LINSTAB_EDATA, "%s: __metadata__ is repeated", c->what);
                have_meta = 1;
                if ((st = parse_metadata(c, out)) != LINSTAB_OK) return st;
            } else {
                for (size_t i = 0; i < *nents; i++)
                    if (strcmp((*ents)[i].name, name) == 0) {
                        st = linstab_error_set(c->err, LINSTAB_EDATA, "%s: tensor '%s' is repeated", c->what, name);
                        free(name);
                        return st;
                    }
                if (name[0] == '\0') {
                    free(name);
                    return linstab_error_set(c->err, LINSTAB_EDATA, "%s: a tensor has an empty name", c->what);
                }
                if (*nents == cap) {
                    size_t nc = cap ? 2 * cap : 16;
                    entry *ne = realloc(*ents, nc * sizeof *ne);
                    if (ne == NULL) {
                        free(name);
                        return linstab_error_set(c->err, LINSTAB_ENOMEM, "%s: out of memory", c->what);
                    }
                    *ents = ne;
                    cap = nc;
                }
                entry *e = &(*ents)[(*nents)++];
                memset(e, 0, sizeof *e);
                e->name = name;
                if ((st = parse_tensor(c, e)) != LINSTAB_OK) return st;
            }
            if (accept(c, '}')) break;
            if (!accept(c, ',')) return syntax(c, "',' or '}'");
        }
    /* only the writer's space padding may follow */
    while (c->pos < c->len && c->s[c->pos] == ' ') c->pos++;
    if (c->pos != c->len) return syntax(c, "the end of the header (only spaces may follow the object)");
    return LINSTAB_OK;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

void linstab_safetensors_free(linstab_safetensors *st)
{
    if (st == NULL) return;
    for (size_t i = 0; i < st->count; i++) {
        free(st->tensors[i].name);
        linstab_npy_array_free(&st->tensors[i].array);
    }
    free(st->tensors);
    for (size_t i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    memset(st, 0, sizeof *st);
}

const linstab_safetensors_tensor *linstab_safetensors_find(const linstab_safetensors *st, const char *name)
{
    for (size_t i = 0; st != NULL && name != NULL && i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *linstab_safetensors_meta(const linstab_safetensors *st, const char *key)
{
    for (size_t i = 0; st != NULL && key != NULL && i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

static int by_offset(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static const char *const known_dtypes[] = {"BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
                                           "BF16", "I32", "U32", "F32", "F64",     "I64",     "U64", "F4",
                                           "F6_E2M3", "F6_E3M2", "F8_E8M0", "C64"};

static void free_entries(entry *ents, size_t n)
{
    for (size_t i = 0; i < n; i++) free(ents[i].name);
    free(ents);
}

linstab_status linstab_safetensors_parse(const unsigned char *bytes, size_t size, const char *what, size_t max_bytes,
                                         linstab_safetensors *out, linstab_error *err)
{
    if (out == NULL || (bytes == NULL && size > 0))
        return linstab_error_set(err, LINSTAB_EINVAL, "linstab_safetensors_parse: NULL argument");
    memset(out, 0, sizeof *out);
    if (what == NULL) what = "safetensors";
    if (size < 8)
        return linstab_error_set(err, LINSTAB_EDATA, "%s: truncated: %zu bytes, less than the 8-byte header length",
                                 what, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | bytes[i];
    if (n > LINSTAB_SAFETENSORS_MAX_HEADER)
        return linstab_error_set(err, LINSTAB_EDATA, "%s: header length %llu exceeds the limit of %u bytes", what,
                                 (unsigned long long)n, LINSTAB_SAFETENSORS_MAX_HEADER);
    if (n > size - 8)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: truncated: the header length is %llu bytes but only %zu follow the length", what,
                                 (unsigned long long)n, size - 8);
    if (n < 2)
        return linstab_error_set(err, LINSTAB_EDATA, "%s: header length %llu: too short for a JSON object", what,
                                 (unsigned long long)n);
    cursor c = {(const char *)bytes + 8, (size_t)n, 0, what, err};
    entry *ents = NULL;
    size_t nents = 0;
    linstab_status st = parse_header(&c, &ents, &nents, out);
    const unsigned char *buf = bytes + 8 + n;
    size_t buflen = size - 8 - (size_t)n;
    /* dtypes and the byte count of each shape */
    size_t total = 0;
    for (size_t i = 0; st == LINSTAB_OK && i < nents; i++) {
        entry *e = &ents[i];
        size_t item = strcmp(e->dtype, "F64") == 0 ? 8 : strcmp(e->dtype, "F32") == 0 ? 4 : 0;
        if (item == 0) {
            int known = 0;
            for (size_t k = 0; k < sizeof known_dtypes / sizeof known_dtypes[0]; k++)
                known |= strcmp(e->dtype, known_dtypes[k]) == 0;
            st = linstab_error_set(err, LINSTAB_EDATA, "%s: tensor '%s': %s dtype '%s' (linstab reads F64 and F32)",
                                   what, e->name, known ? "unsupported" : "unknown", e->dtype);
            break;
        }
        size_t count = 1, nb = 0;
        int over = 0;
        for (size_t d = 0; d < e->ndim; d++) over |= __builtin_mul_overflow(count, e->shape[d], &count);
        over |= __builtin_mul_overflow(count, item, &nb);
        if (e->begin > e->end) {
            st = linstab_error_set(err, LINSTAB_EDATA, "%s: tensor '%s': data_offsets [%zu, %zu] end before they begin",
                                   what, e->name, e->begin, e->end);
        } else if (over || nb != e->end - e->begin) {
            char shp[256];
            size_t at = 0;
            shp[0] = '\0';
            for (size_t d = 0; d < e->ndim && at < sizeof shp; d++)
                at += (size_t)snprintf(shp + at, sizeof shp - at, "%s%zu", d ? ", " : "", e->shape[d]);
            if (over)
                st = linstab_error_set(err, LINSTAB_EDATA, "%s: tensor '%s': shape [%s] of %s is too large", what,
                                       e->name, shp, e->dtype);
            else
                st = linstab_error_set(err, LINSTAB_EDATA,
                                       "%s: tensor '%s': shape [%s] of %s needs %zu bytes, data_offsets [%zu, %zu] hold %zu",
                                       what, e->name, shp, e->dtype, nb, e->begin, e->end, e->end - e->begin);
        } else if (e->end > buflen) {
            st = linstab_error_set(err, LINSTAB_EDATA,
                                   "%s: tensor '%s': data_offsets [%zu, %zu] beyond the %zu-byte buffer (truncated?)",
                                   what, e->name, e->begin, e->end, buflen);
        } else if (__builtin_mul_overflow(count, sizeof(double), &nb) || __builtin_add_overflow(total, nb, &total)) {
            st = linstab_error_set(err, LINSTAB_ENOMEM, "%s: the tensors are too large", what);
        }
    }
    if (st == LINSTAB_OK && max_bytes > 0 && total > max_bytes)
        st = linstab_error_set(err, LINSTAB_ENOMEM, "%s: the tensors need %zu bytes as float64, more than the limit %zu",
                               what, total, max_bytes);
    /* the buffer is indexed entirely: sorted, the offsets tile [0, buflen) */
    entry **order = NULL;
    if (st == LINSTAB_OK && (order = malloc((nents ? nents : 1) * sizeof *order)) == NULL)
        st = linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", what);
    if (st == LINSTAB_OK) {
        for (size_t i = 0; i < nents; i++) order[i] = &ents[i];
        qsort(order, nents, sizeof *order, by_offset);
        size_t at = 0;
        for (size_t i = 0; st == LINSTAB_OK && i < nents; i++) {
            const entry *e = order[i];
            if (e->begin < at)
                st = linstab_error_set(err, LINSTAB_EDATA, "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap",
                                       what, order[i - 1]->name, order[i - 1]->begin, order[i - 1]->end, e->name,
                                       e->begin, e->end);
            else if (e->begin > at)
                st = linstab_error_set(err, LINSTAB_EDATA,
                                       "%s: bytes [%zu, %zu) of the buffer belong to no tensor (before '%s')", what, at,
                                       e->begin, e->name);
            at = e->end;
        }
        if (st == LINSTAB_OK && at != buflen)
            st = linstab_error_set(err, LINSTAB_EDATA, "%s: bytes [%zu, %zu) of the buffer belong to no tensor%s", what,
                                   at, buflen, at == 0 ? "" : " (after the last tensor)");
    }
    if (st == LINSTAB_OK && nents > 0 && (out->tensors = calloc(nents, sizeof *out->tensors)) == NULL)
        st = linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", what);
    for (size_t i = 0; st == LINSTAB_OK && i < nents; i++) {
        entry *e = order[i];
        linstab_safetensors_tensor *t = &out->tensors[i];
        size_t count = 1;
        for (size_t d = 0; d < e->ndim; d++) count *= e->shape[d];
        t->array.data = malloc((count ? count : 1) * sizeof(double));
        if (t->array.data == NULL) {
            st = linstab_error_set(err, LINSTAB_ENOMEM, "%s: tensor '%s': out of memory", what, e->name);
            break;
        }
        t->name = e->name;
        e->name = NULL;
        out->count = i + 1;
        memcpy(t->dtype, e->dtype, 4); /* "F64" or "F32" */
        t->array.ndim = e->ndim;
        memcpy(t->array.shape, e->shape, sizeof e->shape);
        const unsigned char *p = buf + e->begin;
        int f64 = e->dtype[1] == '6';
        for (size_t j = 0; j < count; j++) {
            double v;
            if (f64) {
                uint64_t u = 0;
                for (int b = 7; b >= 0; b--) u = u << 8 | p[8 * j + (size_t)b];
                memcpy(&v, &u, sizeof v);
            } else {
                uint32_t u = 0;
                for (int b = 3; b >= 0; b--) u = u << 8 | p[4 * j + (size_t)b];
                float f;
                memcpy(&f, &u, sizeof f);
                v = (double)f; /* exact: every float is a double */
            }
            if (!isfinite(v)) {
                st = linstab_error_set(err, LINSTAB_EDATA, "%s: tensor '%s': entry %zu is not finite (%g)", what,
                                       t->name, j, v);
                break;
            }
            t->array.data[j] = v;
        }
    }
    free(order);
    free_entries(ents, nents);
    if (st != LINSTAB_OK) linstab_safetensors_free(out);
    return st;
}

linstab_status linstab_safetensors_read(const char *path, size_t max_bytes, linstab_safetensors *out,
                                        linstab_error *err)
{
    if (path == NULL || out == NULL)
        return linstab_error_set(err, LINSTAB_EINVAL, "linstab_safetensors_read: NULL argument");
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) return linstab_error_set(err, LINSTAB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return linstab_error_set(err, LINSTAB_EIO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    unsigned char *bytes = malloc(size ? size : 1);
    if (bytes == NULL) {
        fclose(fp);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: %zu bytes: out of memory", path, size);
    }
    size_t got = fread(bytes, 1, size, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad || got != size) {
        free(bytes);
        return linstab_error_set(err, LINSTAB_EIO, "%s: cannot read (%zu of %zu bytes)", path, got, size);
    }
    linstab_status st = linstab_safetensors_parse(bytes, size, path, max_bytes, out, err);
    free(bytes);
    return st;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (ns == NULL) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_b(sbuf *b, const char *s) { put(b, s, strlen(s)); }

static void put_string(sbuf *b, const char *s)
{
    puts_b(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_b(b, esc);
        } else put(b, (const char *)p, 1);
    }
    puts_b(b, "\"");
}

linstab_status linstab_safetensors_write(const char *path, size_t count, const char *const *names,
                                         const linstab_array *arrays, size_t nmeta, const char *const *meta_keys,
                                         const char *const *meta_values, linstab_error *err)
{
    if (path == NULL || (count > 0 && (names == NULL || arrays == NULL)) ||
        (nmeta > 0 && (meta_keys == NULL || meta_values == NULL)))
        return linstab_error_set(err, LINSTAB_EINVAL, "linstab_safetensors_write: NULL argument");
    for (size_t i = 0; i < count; i++) {
        if (names[i] == NULL || names[i][0] == '\0' || strcmp(names[i], "__metadata__") == 0)
            return linstab_error_set(err, LINSTAB_EINVAL, "%s: tensor %zu: the name is empty or reserved", path, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return linstab_error_set(err, LINSTAB_EINVAL, "%s: tensor '%s' is given twice", path, names[i]);
    }
    for (size_t i = 0; i < nmeta; i++)
        if (meta_keys[i] == NULL || meta_values[i] == NULL)
            return linstab_error_set(err, LINSTAB_EINVAL, "%s: metadata %zu is NULL", path, i);
    sbuf h = {0};
    char num[64];
    size_t off = 0;
    puts_b(&h, "{");
    if (nmeta > 0) {
        puts_b(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < nmeta; i++) {
            if (i) puts_b(&h, ",");
            put_string(&h, meta_keys[i]);
            puts_b(&h, ":");
            put_string(&h, meta_values[i]);
        }
        puts_b(&h, "}");
    }
    for (size_t i = 0; i < count; i++) {
        const linstab_array *a = &arrays[i];
        size_t n = 1, nb = 0;
        int over = a->ndim > LINSTAB_NPY_MAX_NDIM;
        for (size_t d = 0; !over && d < a->ndim; d++) over |= __builtin_mul_overflow(n, a->shape[d], &n);
        over |= __builtin_mul_overflow(n, sizeof(double), &nb) || __builtin_add_overflow(off, nb, &nb);
        if (over || (n > 0 && a->data == NULL)) {
            free(h.s);
            return linstab_error_set(err, LINSTAB_EINVAL, "%s: tensor '%s': bad shape or no data", path, names[i]);
        }
        if (nmeta > 0 || i > 0) puts_b(&h, ",");
        put_string(&h, names[i]);
        puts_b(&h, ":{\"dtype\":\"F64\",\"shape\":[");
        for (size_t d = 0; d < a->ndim; d++) {
            snprintf(num, sizeof num, "%s%zu", d ? "," : "", a->shape[d]);
            puts_b(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, nb);
        puts_b(&h, num);
        off = nb;
    }
    puts_b(&h, "}");
    while (!h.oom && (8 + h.len) % 8 != 0) puts_b(&h, " ");
    if (h.oom) {
        free(h.s);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    }
    if (h.len > LINSTAB_SAFETENSORS_MAX_HEADER) {
        free(h.s);
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: the header would exceed %u bytes", path,
                                 LINSTAB_SAFETENSORS_MAX_HEADER);
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
    if (tmp == NULL) {
        free(h.s);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(h.s);
        free(tmp);
        return linstab_error_set(err, LINSTAB_EIO, "%s: cannot create a temporary file: %s", path, strerror(e));
    }
    FILE *fp = NULL;
    const char *what = "cannot set permissions";
    unsigned char len8[8];
    if (fchmod(fd, 0644) != 0) goto fail;
    what = "cannot write";
    fp = fdopen(fd, "wb");
    if (fp == NULL) goto fail;
    fd = -1;
    errno = 0;
    for (int b = 0; b < 8; b++) len8[b] = (unsigned char)((uint64_t)h.len >> (8 * b));
    if (fwrite(len8, 1, 8, fp) != 8 || fwrite(h.s, 1, h.len, fp) != h.len) goto fail;
    for (size_t i = 0; i < count; i++) {
        size_t n = linstab_npy_array_size(&arrays[i]);
        for (size_t j = 0; j < n; j++) {
            uint64_t u;
            memcpy(&u, &arrays[i].data[j], sizeof u);
            unsigned char le[8];
            for (int b = 0; b < 8; b++) le[b] = (unsigned char)(u >> (8 * b));
            if (fwrite(le, 1, 8, fp) != 8) goto fail;
        }
    }
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) goto fail;
    {
        int rc = fclose(fp);
        fp = NULL;
        if (rc != 0) goto fail;
    }
    what = "cannot rename the temporary file into place";
    if (rename(tmp, path) != 0) goto fail;
    free(h.s);
    free(tmp);
    return LINSTAB_OK;
fail: {
    int e = errno;
    if (fp != NULL) fclose(fp);
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(h.s);
    free(tmp);
    return linstab_error_set(err, LINSTAB_EIO, "%s: %s: %s", path, what, e != 0 ? strerror(e) : "short write");
}
}
