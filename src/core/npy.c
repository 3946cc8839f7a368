/*
 * npy.c -- reading and writing numpy .npy files (format versions 1.0, 2.0
 * and 3.0), the only on-disk array format linstab uses.
 *
 * A file is: the magic string "\x93NUMPY", a version (major, minor byte),
 * the header length (little-endian uint16 for 1.0, uint32 for 2.0 and 3.0),
 * the header -- a Python dict literal with the keys 'descr', 'fortran_order'
 * and 'shape' -- and then the raw array bytes.
 *
 * Reading parses the dict with a small recursive-descent parser that
 * accepts the subset of Python literal syntax numpy and other writers
 * produce (either quote character, any key order, any whitespace, trailing
 * commas) and rejects everything else with a message naming the file and
 * the byte where parsing stopped.  Only '<f8' and '<f4' in C order are
 * accepted; '<f4' is widened to double.  The data length the shape implies
 * must equal what the file holds, byte for byte, and the size check comes
 * before any allocation, so a corrupt header claiming terabytes is a data
 * error, not an out-of-memory one.
 *
 * Writing reproduces numpy's own header byte for byte (numpy 1.24,
 * numpy/lib/format.py: _write_array_header and _wrap_header), including
 * its spare space for growing the first axis and its padding rule, so that
 * files written here are indistinguishable from np.save's.
 *
 * Reference: numpy/lib/format.py; "NEP 1 - A simple file format for NumPy
 * arrays".
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sync_file_range */
#endif
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "linstab/npy.h"

/* Array bytes are copied straight between the file and double/float
 * buffers, which is right only on a little-endian IEEE 754 host; refuse to
 * build anywhere else rather than silently byte-swap every value. */
#if !defined(__BYTE_ORDER__) || !defined(__ORDER_LITTLE_ENDIAN__) || \
    __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c copies '<f8'/'<f4' bytes verbatim and needs a little-endian host"
#endif
_Static_assert(sizeof(double) == 8 && DBL_MANT_DIG == 53 && DBL_MAX_EXP == 1024,
               "npy.c needs IEEE 754 binary64 doubles");
_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24 && FLT_MAX_EXP == 128,
               "npy.c needs IEEE 754 binary32 floats");

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
#define MAGIC_LEN 6

/* numpy aligns the data to 64 bytes (ARRAY_ALIGN) and leaves room for the
 * first axis to grow to 21 digits (GROWTH_AXIS_MAX_DIGITS). */
#define ARRAY_ALIGN 64
#define GROWTH_AXIS_MAX_DIGITS 21

/* A header longer than this cannot be a float array's: a valid dict with
 * LINSTAB_NPY_MAX_NDIM dimensions is a few hundred bytes.  Bounds the
 * allocation when the header length field is garbage. */
#define HEADER_MAX ((size_t)1 << 20)

/* Items read at a time from a stream of unknown size (1 MB of float64). */
#define STREAM_CHUNK ((size_t)1 << 17)

/* Enough for "(d0, d1, ..., d7)" with 20-digit dimensions. */
#define SHAPE_STR_LEN (LINSTAB_NPY_MAX_NDIM * 22 + 4)

size_t linstab_npy_array_size(const linstab_array *a)
{
    size_t n = 1;
    for (size_t i = 0; i < a->ndim; i++) n *= a->shape[i];
    return n;
}

void linstab_npy_array_free(linstab_array *a)
{
    if (a == NULL) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Python's repr of the shape tuple: "()", "(3,)", "(2, 3)". */
static void format_shape(char *buf, size_t cap, size_t ndim, const size_t *shape)
{
    size_t pos = 0;
    pos += (size_t)snprintf(buf + pos, cap - pos, "(");
    for (size_t i = 0; i < ndim && pos < cap; i++)
        pos += (size_t)snprintf(buf + pos, cap - pos, i > 0 ? ", %zu" : "%zu", shape[i]);
    if (pos < cap) snprintf(buf + pos, cap - pos, ndim == 1 ? ",)" : ")");
}

/* prod(shape) * itemsize into *bytes and prod(shape) into *count; 0 when
 * that does not fit size_t.  A zero dimension makes the product 0; with
 * strict (the reader), the other dimensions' product times itemsize must
 * still fit, as numpy's PyArray_NewFromDescr has it ("array is too big"):
 * an accepted shape then has no partial product (rows x columns, strides)
 * that overflows.  The writers (strict 0) format any empty shape, like
 * numpy's _write_array_header. */
static int shape_bytes(size_t ndim, const size_t *shape, size_t itemsize, int strict, size_t *count,
                       size_t *bytes)
{
    int overflow = 0, empty = 0;
    size_t n = 1;
    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] == 0) {
            empty = 1;
            continue;
        }
        n = mul_sz(n, shape[i], &overflow);
    }
    size_t b = mul_sz(n, itemsize, &overflow);
    if (overflow && (strict || !empty)) return 0;
    *count = empty ? 0 : n;
    *bytes = empty ? 0 : b;
    return 1;
}

/* "4.56 GB", "12.3 MB" or "480 bytes", in the decimal units of the
 * command's --max-memory. */
static void format_size(char *buf, size_t cap, size_t bytes)
{
    if (bytes >= 1000000000)
        snprintf(buf, cap, "%.2f GB", (double)bytes / 1e9);
    else if (bytes >= 1000000)
        snprintf(buf, cap, "%.1f MB", (double)bytes / 1e6);
    else
        snprintf(buf, cap, "%zu bytes", bytes);
}

/* ------------------------------------------------------------------ */
/* Header parsing                                                      */

/* What the dict says, once validated. */
typedef struct npy_header {
    size_t itemsize; /* bytes per item */
    char kind;       /* 'f' float, 'i' signed, 'u' unsigned integer, 'b' bool */
    char dtype[5];   /* the dtype string, for messages */
    size_t ndim;
    size_t shape[LINSTAB_NPY_MAX_NDIM];
} npy_header;

/* The dict text (not NUL-terminated) and a read position in it; offset is
 * where the text starts in the file, so messages can give file offsets. */
typedef struct cursor {
    const char *s;
    size_t len, pos, offset;
    const char *path;
    int integers; /* accept integer and boolean dtypes too */
    linstab_error *err;
} cursor;

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

static void skip_space(cursor *c)
{
    while (c->pos < c->len && is_space(c->s[c->pos])) c->pos++;
}

/* Consume ch if it is next (after whitespace). */
static int accept(cursor *c, char ch)
{
    skip_space(c);
    if (c->pos < c->len && c->s[c->pos] == ch) {
        c->pos++;
        return 1;
    }
    return 0;
}

static linstab_status syntax_error(const cursor *c, const char *expected)
{
    if (c->pos >= c->len)
        return linstab_error_set(c->err, LINSTAB_EDATA,
                                 "%s: header: expected %s, found the end of the header", c->path,
                                 expected);
    unsigned char ch = (unsigned char)c->s[c->pos];
    if (ch >= 0x20 && ch < 0x7f)
        return linstab_error_set(c->err, LINSTAB_EDATA,
                                 "%s: header: expected %s at byte %zu, found '%c'", c->path,
                                 expected, c->offset + c->pos, ch);
    return linstab_error_set(c->err, LINSTAB_EDATA,
                             "%s: header: expected %s at byte %zu, found byte 0x%02x", c->path,
                             expected, c->offset + c->pos, ch);
}

/* A quoted string ('...' or "...") of printable ASCII without escapes --
 * all that keys and simple dtype strings need -- returned as a pointer into
 * the header and a length. */
static linstab_status parse_string(cursor *c, const char **str, size_t *len, const char *what)
{
    skip_space(c);
    if (c->pos >= c->len || (c->s[c->pos] != '\'' && c->s[c->pos] != '"'))
        return syntax_error(c, what);
    char quote = c->s[c->pos++];
    size_t start = c->pos;
    while (c->pos < c->len && c->s[c->pos] != quote) {
        unsigned char ch = (unsigned char)c->s[c->pos];
        if (ch < 0x20 || ch >= 0x7f || ch == '\\')
            return syntax_error(c, "a printable character or the closing quote");
        c->pos++;
    }
    if (c->pos >= c->len) return syntax_error(c, "the closing quote");
    *str = c->s + start;
    *len = c->pos - start;
    c->pos++;
    return LINSTAB_OK;
}

static int string_is(const char *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

static linstab_status parse_descr(cursor *c, npy_header *h)
{
    skip_space(c);
    if (c->pos < c->len && (c->s[c->pos] == '[' || c->s[c->pos] == '('))
        return linstab_error_set(c->err, LINSTAB_EDATA,
                                 "%s: header: structured dtypes are not supported (need '<f8' or "
                                 "'<f4')",
                                 c->path);
    const char *s;
    size_t len;
    linstab_status st = parse_string(c, &s, &len, "a dtype string such as '<f8'");
    if (st != LINSTAB_OK) return st;
    static const struct {
        const char *name;
        char kind;
        size_t size;
        int integer;
    } types[] = {{"<f8", 'f', 8, 0}, {"<f4", 'f', 4, 0}, {"<i8", 'i', 8, 1}, {"<i4", 'i', 4, 1},
                 {"<i2", 'i', 2, 1}, {"|i1", 'i', 1, 1}, {"<i1", 'i', 1, 1}, {"<u8", 'u', 8, 1},
                 {"<u4", 'u', 4, 1}, {"<u2", 'u', 2, 1}, {"|u1", 'u', 1, 1}, {"<u1", 'u', 1, 1},
                 {"|b1", 'b', 1, 1}};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        if (string_is(s, len, types[t].name) && (c->integers || !types[t].integer)) {
            h->itemsize = types[t].size;
            h->kind = types[t].kind;
            memcpy(h->dtype, types[t].name, 4);
            return LINSTAB_OK;
        }
    int shown = len > 40 ? 40 : (int)len;
    return linstab_error_set(c->err, LINSTAB_EDATA,
                             "%s: header: dtype '%.*s%s' not supported (need '<f8' or '<f4'%s%s)",
                             c->path, shown, s, len > 40 ? "..." : "",
                             c->integers ? ", or a little-endian integer or bool" : "",
                             len > 0 && s[0] == '>' ? "; big-endian data: save a.astype('<f8')"
                                                    : "");
}

static linstab_status parse_fortran_order(cursor *c)
{
    skip_space(c);
    const char *rest = c->s + c->pos;
    size_t avail = c->len - c->pos;
    for (int value = 0; value <= 1; value++) {
        const char *word = value ? "True" : "False";
        size_t wl = strlen(word);
        if (avail < wl || memcmp(rest, word, wl) != 0) continue;
        /* "Falsey" is a Python name, not False */
        if (avail > wl) {
            char next = rest[wl];
            if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') ||
                (next >= '0' && next <= '9') || next == '_')
                break;
        }
        c->pos += wl;
        if (value)
            return linstab_error_set(c->err, LINSTAB_EDATA,
                                     "%s: header: fortran_order True is not supported (save a "
                                     "C-ordered array: np.ascontiguousarray(a))",
                                     c->path);
        return LINSTAB_OK;
    }
    return syntax_error(c, "True or False for 'fortran_order'");
}

/* A tuple of non-negative integers; "(3)" is an int in Python, not a
 * tuple, so a single element needs its trailing comma. */
static linstab_status parse_shape(cursor *c, npy_header *h)
{
    if (!accept(c, '(')) return syntax_error(c, "a tuple such as (2, 3) for 'shape'");
    int trailing_comma = 0;
    h->ndim = 0;
    for (;;) {
        if (accept(c, ')')) break;
        skip_space(c);
        if (c->pos >= c->len || c->s[c->pos] < '0' || c->s[c->pos] > '9')
            return syntax_error(c, "a non-negative integer in 'shape'");
        size_t v = 0;
        int overflow = 0;
        while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
            v = mul_sz(v, 10, &overflow);
            size_t digit = (size_t)(c->s[c->pos] - '0');
            if (v > SIZE_MAX - digit) overflow = 1;
            v += digit;
            c->pos++;
        }
        if (overflow)
            return linstab_error_set(c->err, LINSTAB_EDATA,
                                     "%s: header: dimension %zu of 'shape' is too large",
                                     c->path, h->ndim);
        if (h->ndim == LINSTAB_NPY_MAX_NDIM)
            return linstab_error_set(c->err, LINSTAB_EDATA,
                                     "%s: header: 'shape' has more than %d dimensions", c->path,
                                     LINSTAB_NPY_MAX_NDIM);
        h->shape[h->ndim++] = v;
        trailing_comma = accept(c, ',');
        if (!trailing_comma) {
            if (accept(c, ')')) break;
            return syntax_error(c, "',' or ')' in 'shape'");
        }
    }
    if (h->ndim == 1 && !trailing_comma)
        return linstab_error_set(c->err, LINSTAB_EDATA,
                                 "%s: header: 'shape' (%zu) is not a tuple (write (%zu,))",
                                 c->path, h->shape[0], h->shape[0]);
    return LINSTAB_OK;
}

/* Parse and validate the dict text of a header. */
static linstab_status parse_header(cursor *c, npy_header *h)
{
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    int seen[3] = {0, 0, 0};
    linstab_status st;
    if (!accept(c, '{')) return syntax_error(c, "'{' starting the header dict");
    for (;;) {
        if (accept(c, '}')) break;
        const char *key;
        size_t klen;
        st = parse_string(c, &key, &klen, "a quoted key or '}'");
        if (st != LINSTAB_OK) return st;
        int k = 0;
        while (k < 3 && !string_is(key, klen, keys[k])) k++;
        if (k == 3) {
            int shown = klen > 40 ? 40 : (int)klen;
            return linstab_error_set(c->err, LINSTAB_EDATA,
                                     "%s: header: unknown key '%.*s%s' (expected 'descr', "
                                     "'fortran_order' and 'shape')",
                                     c->path, shown, key, klen > 40 ? "..." : "");
        }
        if (seen[k])
            return linstab_error_set(c->err, LINSTAB_EDATA,
                                     "%s: header: key '%s' appears twice", c->path, keys[k]);
        seen[k] = 1;
        if (!accept(c, ':')) return syntax_error(c, "':' after the key");
        st = k == 0 ? parse_descr(c, h) : k == 1 ? parse_fortran_order(c) : parse_shape(c, h);
        if (st != LINSTAB_OK) return st;
        if (accept(c, ',')) continue;
        if (accept(c, '}')) break;
        return syntax_error(c, "',' or '}' in the header dict");
    }
    skip_space(c);
    if (c->pos < c->len) return syntax_error(c, "only whitespace after the header dict");
    for (int k = 0; k < 3; k++)
        if (!seen[k])
            return linstab_error_set(c->err, LINSTAB_EDATA, "%s: header: missing key '%s'",
                                     c->path, keys[k]);
    return LINSTAB_OK;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */

/* After fread came back short: an I/O error, or the file ends early (a
 * data error) after end bytes, missing more. */
static linstab_status short_read(FILE *fp, const char *path, size_t end, size_t missing,
                                 linstab_error *err)
{
    if (ferror(fp))
        return linstab_error_set(err, LINSTAB_EIO, "%s: cannot read: %s", path, strerror(errno));
    return linstab_error_set(err, LINSTAB_EDATA,
                             "%s: header: truncated (the file ends after %zu bytes, %zu short)",
                             path, end, missing);
}

/* One item of an integer or boolean dtype as a double (exact below 2^53). */
static double int_item(const unsigned char *b, const npy_header *h, int *inexact)
{
    double v;
    if (h->kind == 'b') return b[0] != 0;
    if (h->kind == 'i') {
        int64_t x;
        switch (h->itemsize) {
        case 1: { int8_t t; memcpy(&t, b, 1); x = t; break; }
        case 2: { int16_t t; memcpy(&t, b, 2); x = t; break; }
        case 4: { int32_t t; memcpy(&t, b, 4); x = t; break; }
        default: memcpy(&x, b, 8);
        }
        v = (double)x;
        if (x > (INT64_C(1) << 53) || x < -(INT64_C(1) << 53)) *inexact = 1;
    } else {
        uint64_t x;
        switch (h->itemsize) {
        case 1: x = b[0]; break;
        case 2: { uint16_t t; memcpy(&t, b, 2); x = t; break; }
        case 4: { uint32_t t; memcpy(&t, b, 4); x = t; break; }
        default: memcpy(&x, b, 8);
        }
        v = (double)x;
        if (x > (UINT64_C(1) << 53)) *inexact = 1;
    }
    return v;
}

static linstab_status read_stream(FILE *fp, const char *path, size_t max_bytes, int integers,
                                  linstab_array *out, linstab_error *err)
{
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0)
        return linstab_error_set(err, LINSTAB_EIO, "%s: cannot stat: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return linstab_error_set(err, LINSTAB_EIO, "%s: is a directory", path);
    /* For regular files the size is known up front, so size mismatches are
     * caught before allocating; pipes are checked as they are read. */
    int sized = S_ISREG(sb.st_mode);
    uint64_t file_size = sized ? (uint64_t)sb.st_size : 0;

    /* magic and version */
    unsigned char pre[12];
    size_t got = fread(pre, 1, 8, fp);
    size_t cmp = got < MAGIC_LEN ? got : MAGIC_LEN;
    if (got == 0 && ferror(fp))
        return linstab_error_set(err, LINSTAB_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (memcmp(pre, npy_magic, cmp) != 0)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: not an npy file (bad magic string, expected \\x93NUMPY)",
                                 path);
    if (got < 8) return short_read(fp, path, got, 8 - got, err);
    unsigned major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: header: unsupported format version %u.%u (need 1.0, 2.0 "
                                 "or 3.0)",
                                 path, major, minor);

    /* header length: uint16 for 1.0, uint32 for 2.0 and 3.0, little-endian */
    size_t len_bytes = major == 1 ? 2 : 4;
    got = fread(pre + 8, 1, len_bytes, fp);
    if (got < len_bytes) return short_read(fp, path, 8 + got, len_bytes - got, err);
    size_t hlen = 0;
    for (size_t i = len_bytes; i-- > 0;) hlen = hlen << 8 | pre[8 + i];
    size_t data_offset = 8 + len_bytes + hlen;
    if (file_size < 8 + len_bytes) sized = 0; /* st_size is unreliable (e.g. /proc) */
    if (sized && (uint64_t)data_offset > file_size)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: header: truncated (the header length field says %zu "
                                 "bytes, the file has %llu after it)",
                                 path, hlen,
                                 (unsigned long long)(file_size - (8 + len_bytes)));
    if (hlen > HEADER_MAX)
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: header: length %zu is implausible (limit %zu)", path, hlen,
                                 HEADER_MAX);

    char *text = malloc(hlen + 1);
    if (text == NULL)
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory reading the header",
                                 path);
    got = fread(text, 1, hlen, fp);
    if (got < hlen) {
        free(text);
        return short_read(fp, path, 8 + len_bytes + got, hlen - got, err);
    }
    npy_header h = {0};
    cursor c = {.s = text, .len = hlen, .offset = 8 + len_bytes, .path = path, .integers = integers, .err = err};
    linstab_status st = parse_header(&c, &h);
    free(text);
    if (st != LINSTAB_OK) return st;

    char shape_str[SHAPE_STR_LEN];
    format_shape(shape_str, sizeof shape_str, h.ndim, h.shape);
    const char *dtype = h.dtype;
    size_t count, nbytes, dbytes;
    if (!shape_bytes(h.ndim, h.shape, h.itemsize, 1, &count, &nbytes) ||
        !shape_bytes(h.ndim, h.shape, sizeof(double), 1, &count, &dbytes)) {
        /* the product in floating point, for the message; a zero
         * dimension does not excuse the others (numpy refuses them too) */
        double need = (double)sizeof(double);
        int empty = 0;
        for (size_t i = 0; i < h.ndim; i++) {
            if (h.shape[i] == 0) empty = 1;
            else need *= (double)h.shape[i];
        }
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: header: shape %s is too large: %s %.3g bytes as "
                                 "float64, more than the address space holds",
                                 path, shape_str,
                                 empty ? "although empty, its nonzero dimensions need" : "it needs",
                                 need);
    }
    if (sized) {
        uint64_t have = file_size - data_offset;
        if (have < nbytes)
            return linstab_error_set(err, LINSTAB_EDATA,
                                     "%s: data: truncated (shape %s of '%s' needs %zu bytes, the "
                                     "file has %llu after the header)",
                                     path, shape_str, dtype, nbytes, (unsigned long long)have);
        if (have > nbytes)
            return linstab_error_set(err, LINSTAB_EDATA,
                                     "%s: data: %llu bytes after the header, but shape %s of "
                                     "'%s' needs %zu (trailing bytes)",
                                     path, (unsigned long long)have, shape_str, dtype, nbytes);
    }
    if (max_bytes > 0 && dbytes > max_bytes) {
        char need[32], limit[32];
        format_size(need, sizeof need, dbytes);
        format_size(limit, sizeof limit, max_bytes);
        return linstab_error_set(err, LINSTAB_ENOMEM,
                                 "%s: array of shape %s needs %s as float64, more than the "
                                 "limit of %s",
                                 path, shape_str, need, limit);
    }

    /* At least one element, so that success always means data != NULL.  A
     * stream of unknown size (a pipe) gets its buffer as the data arrive,
     * doubling from 1 MB, so a header claiming terabytes costs only what
     * the stream really holds. */
    size_t cap = sized || count <= STREAM_CHUNK ? count : STREAM_CHUNK; /* items */
    double *data = malloc(cap > 0 ? cap * sizeof(double) : sizeof(double));
    if (data == NULL) {
        char need[32];
        format_size(need, sizeof need, cap * sizeof(double));
        return linstab_error_set(err, LINSTAB_ENOMEM,
                                 "%s: out of memory (array of shape %s needs %s)", path,
                                 shape_str, need);
    }
    int inexact = 0;
    got = 0;
    for (size_t i = 0; i < count;) {
        /* f8 is read straight into data, in one piece when the size is
         * known; the other types are converted through a small buffer */
        size_t block = h.kind == 'f' && h.itemsize == 8 ? (sized ? count : STREAM_CHUNK) : 2048;
        size_t m = count - i < block ? count - i : block;
        if (i + m > cap) {
            size_t ncap = cap > count / 2 ? count : 2 * cap;
            if (ncap < i + m) ncap = i + m;
            double *nd = realloc(data, ncap * sizeof(double)); /* ncap <= count: no overflow */
            if (nd == NULL) {
                free(data);
                char need[32];
                format_size(need, sizeof need, dbytes);
                return linstab_error_set(err, LINSTAB_ENOMEM,
                                         "%s: out of memory (array of shape %s needs %s)", path,
                                         shape_str, need);
            }
            data = nd;
            cap = ncap;
        }
        size_t r;
        if (h.kind == 'f' && h.itemsize == 8) {
            r = fread(data + i, sizeof(double), m, fp);
        } else if (h.kind != 'f') {
            unsigned char buf[8 * 2048];
            r = fread(buf, h.itemsize, m, fp);
            for (size_t j = 0; j < r; j++) data[i + j] = int_item(buf + j * h.itemsize, &h, &inexact);
        } else {
            float buf[2048];
            r = fread(buf, sizeof *buf, m, fp);
            for (size_t j = 0; j < r; j++) data[i + j] = (double)buf[j];
        }
        got += r * h.itemsize;
        if (r < m) break;
        i += m;
    }
    if (got < nbytes) {
        free(data);
        if (ferror(fp))
            return linstab_error_set(err, LINSTAB_EIO, "%s: cannot read: %s", path,
                                     strerror(errno));
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: data: truncated (shape %s of '%s' needs %zu bytes, the "
                                 "file has %zu after the header)",
                                 path, shape_str, dtype, nbytes, got);
    }
    if (fgetc(fp) != EOF) {
        free(data);
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: data: more than the %zu bytes shape %s of '%s' needs "
                                 "(trailing bytes)",
                                 path, nbytes, shape_str, dtype);
    }
    if (ferror(fp)) {
        free(data);
        return linstab_error_set(err, LINSTAB_EIO, "%s: cannot read: %s", path, strerror(errno));
    }
    if (inexact) {
        free(data);
        return linstab_error_set(err, LINSTAB_EDATA,
                                 "%s: data: an integer beyond 2^53 has no exact float64 value", path);
    }
    out->ndim = h.ndim;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->data = data;
    return LINSTAB_OK;
}

static linstab_status read_path(const char *path, size_t max_bytes, int integers,
                                linstab_array *out, linstab_error *err)
{
    if (out == NULL)
        return linstab_error_set(err, LINSTAB_EINVAL, "linstab_npy_read: out is NULL");
    memset(out, 0, sizeof *out);
    if (path == NULL)
        return linstab_error_set(err, LINSTAB_EINVAL, "linstab_npy_read: path is NULL");
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return linstab_error_set(err, LINSTAB_EIO, "%s: cannot open: %s", path, strerror(errno));
    linstab_status st = read_stream(fp, path, max_bytes, integers, out, err);
    fclose(fp); /* read-only: nothing to lose if closing fails */
    return st;
}

linstab_status linstab_npy_read(const char *path, size_t max_bytes, linstab_array *out,
                                linstab_error *err)
{
    return read_path(path, max_bytes, 0, out, err);
}

linstab_status linstab_npy_read_numeric(const char *path, size_t max_bytes, linstab_array *out,
                                        linstab_error *err)
{
    return read_path(path, max_bytes, 1, out, err);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

/* numpy's header for a '<f8' C-order array: the sorted-key dict, spare
 * space so the first axis can grow to GROWTH_AXIS_MAX_DIGITS digits, then
 * spaces and '\n' up to a multiple of ARRAY_ALIGN.  As in numpy's
 * _wrap_header, an already aligned length still gets ARRAY_ALIGN spaces.
 * Version 1.0 unless the header length does not fit its uint16.  Returns a
 * malloc'd buffer (NULL when out of memory) and its length in *len. */
static unsigned char *build_header(const char *descr, size_t ndim, const size_t *shape, size_t *len)
{
    char shape_str[SHAPE_STR_LEN];
    format_shape(shape_str, sizeof shape_str, ndim, shape);
    char dict[SHAPE_STR_LEN + 64];
    int dlen = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
                        shape_str);
    size_t growth = 0;
    if (ndim > 0) {
        char first[24];
        growth = GROWTH_AXIS_MAX_DIGITS - (size_t)snprintf(first, sizeof first, "%zu", shape[0]);
    }
    size_t hlen = (size_t)dlen + growth + 1; /* + '\n' */
    size_t prefix = MAGIC_LEN + 2 + 2;
    size_t pad = ARRAY_ALIGN - (prefix + hlen) % ARRAY_ALIGN;
    unsigned major = 1;
    if (hlen + pad > 0xffff) {
        major = 2;
        prefix = MAGIC_LEN + 2 + 4;
        pad = ARRAY_ALIGN - (prefix + hlen) % ARRAY_ALIGN;
    }
    size_t total = prefix + hlen + pad;
    unsigned char *buf = malloc(total);
    if (buf == NULL) return NULL;
    memcpy(buf, npy_magic, MAGIC_LEN);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    size_t field = hlen + pad;
    for (size_t i = 0; i < prefix - 8; i++) buf[8 + i] = (unsigned char)(field >> (8 * i));
    memcpy(buf + prefix, dict, (size_t)dlen);
    memset(buf + prefix + (size_t)dlen, ' ', growth + pad);
    buf[total - 1] = '\n';
    *len = total;
    return buf;
}

linstab_status linstab_npy_write(const char *path, const double *data, size_t ndim,
                                 const size_t *shape, linstab_error *err)
{
    if (path == NULL)
        return linstab_error_set(err, LINSTAB_EINVAL, "linstab_npy_write: path is NULL");
    if (ndim > LINSTAB_NPY_MAX_NDIM)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "%s: cannot write an array of %zu dimensions (at most %d)", path,
                                 ndim, LINSTAB_NPY_MAX_NDIM);
    if (ndim > 0 && shape == NULL)
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: shape is NULL", path);
    size_t count, nbytes;
    if (!shape_bytes(ndim, shape, sizeof(double), 0, &count, &nbytes)) {
        char shape_str[SHAPE_STR_LEN];
        format_shape(shape_str, sizeof shape_str, ndim, shape);
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: shape %s is too large", path,
                                 shape_str);
    }
    if (count > 0 && data == NULL)
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: data is NULL", path);

    size_t hbytes;
    unsigned char *header = build_header("<f8", ndim, shape, &hbytes);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmp.XXXXXX");
    if (header == NULL || tmp == NULL) {
        free(header);
        free(tmp);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");

    /* The temporary sits beside path, so rename() stays within one file
     * system and replaces path atomically. */
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(header);
        free(tmp);
        return linstab_error_set(err, LINSTAB_EIO, "%s: cannot create a temporary file: %s",
                                 path, strerror(e));
    }
    FILE *fp = NULL;
    const char *what;
    what = "cannot set permissions"; /* mkstemp makes 0600; ordinary output is 0644 */
    if (fchmod(fd, 0644) != 0) goto fail;
    what = "cannot write";
    fp = fdopen(fd, "wb");
    if (fp == NULL) goto fail;
    fd = -1; /* owned by fp now */
    errno = 0; /* a short fwrite need not set errno */
    if (fwrite(header, 1, hbytes, fp) != hbytes) goto fail;
    if (count > 0 && fwrite(data, sizeof *data, count, fp) != count) goto fail;
    if (fflush(fp) != 0) goto fail;
    if (fsync(fileno(fp)) != 0) goto fail;
    {
        int rc = fclose(fp);
        fp = NULL;
        if (rc != 0) goto fail;
    }
    what = "cannot rename the temporary file into place";
    if (rename(tmp, path) != 0) goto fail;
    free(header);
    free(tmp);
    return LINSTAB_OK;

fail:
    {
        int e = errno;
        if (fp != NULL) fclose(fp);
        if (fd >= 0) close(fd);
        unlink(tmp);
        free(header);
        free(tmp);
        return linstab_error_set(err, LINSTAB_EIO, "%s: %s: %s", path, what,
                                 e != 0 ? strerror(e) : "short write");
    }
}

/* ------------------------------------------------------------------ */
/* Streamed writing                                                    */

struct linstab_npy_stream {
    int fd;
    off_t done; /* bytes handed to the kernel */
    size_t itemsize, left; /* items still to come */
    char *path, *tmp;
};

void linstab_npy_stream_abort(linstab_npy_stream *s)
{
    if (s == NULL) return;
    if (s->fd >= 0) close(s->fd);
    unlink(s->tmp);
    free(s->path);
    free(s->tmp);
    free(s);
}

static linstab_status stream_fail(linstab_npy_stream *s, const char *what, int e, linstab_error *err)
{
    linstab_status st = linstab_error_set(err, LINSTAB_EIO, "%s: %s: %s", s->path, what,
                                          e != 0 ? strerror(e) : "short write");
    linstab_npy_stream_abort(s);
    return st;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *b = buf;
    while (len > 0) {
        size_t piece = len < ((size_t)1 << 30) ? len : ((size_t)1 << 30);
        ssize_t w = write(fd, b, piece);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        len -= (size_t)w;
    }
    return 0;
}

linstab_status linstab_npy_stream_open(const char *path, int float32, size_t ndim, const size_t *shape,
                                       linstab_npy_stream **out, linstab_error *err)
{
    *out = NULL;
    if (path == NULL) return linstab_error_set(err, LINSTAB_EINVAL, "linstab_npy_stream_open: path is NULL");
    if (ndim > LINSTAB_NPY_MAX_NDIM || (ndim > 0 && shape == NULL))
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: cannot write an array of %zu dimensions (at most %d)",
                                 path, ndim, LINSTAB_NPY_MAX_NDIM);
    size_t itemsize = float32 ? sizeof(float) : sizeof(double), count, nbytes;
    if (!shape_bytes(ndim, shape, itemsize, 0, &count, &nbytes)) {
        char shape_str[SHAPE_STR_LEN];
        format_shape(shape_str, sizeof shape_str, ndim, shape);
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: shape %s is too large", path, shape_str);
    }
    size_t hbytes, plen = strlen(path);
    unsigned char *header = build_header(float32 ? "<f4" : "<f8", ndim, shape, &hbytes);
    linstab_npy_stream *s = calloc(1, sizeof *s);
    char *tmp = malloc(plen + sizeof ".tmp.XXXXXX"), *pcopy = malloc(plen + 1);
    if (header == NULL || s == NULL || tmp == NULL || pcopy == NULL) {
        free(header);
        free(s);
        free(tmp);
        free(pcopy);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    }
    memcpy(pcopy, path, plen + 1);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    s->path = pcopy;
    s->tmp = tmp;
    s->itemsize = itemsize;
    s->left = count;
    s->fd = mkstemp(tmp); /* beside path: rename() stays within one file system */
    if (s->fd < 0) {
        int e = errno;
        free(header);
        free(tmp);
        free(pcopy);
        free(s);
        return linstab_error_set(err, LINSTAB_EIO, "%s: cannot create a temporary file: %s", path, strerror(e));
    }
    if (fchmod(s->fd, 0644) != 0) {
        free(header);
        return stream_fail(s, "cannot set permissions", errno, err);
    }
    errno = 0;
    int rc = write_all(s->fd, header, hbytes);
    free(header);
    if (rc != 0) return stream_fail(s, "cannot write", errno, err);
    s->done = (off_t)hbytes;
    *out = s;
    return LINSTAB_OK;
}

linstab_status linstab_npy_stream_write(linstab_npy_stream *s, const void *items, size_t count, linstab_error *err)
{
    if (count > s->left) {
        linstab_status st = linstab_error_set(err, LINSTAB_EINVAL, "%s: %zu items more than the shape holds",
                                              s->path, count - s->left);
        linstab_npy_stream_abort(s);
        return st;
    }
    errno = 0;
    if (count > 0 && write_all(s->fd, items, count * s->itemsize) != 0) return stream_fail(s, "cannot write", errno, err);
#ifdef SYNC_FILE_RANGE_WRITE
    /* start the write-back of this piece now, so the final fsync has little left */
    (void)sync_file_range(s->fd, s->done, (off_t)(count * s->itemsize), SYNC_FILE_RANGE_WRITE);
#endif
    s->done += (off_t)(count * s->itemsize);
    s->left -= count;
    return LINSTAB_OK;
}

linstab_status linstab_npy_stream_close(linstab_npy_stream *s, linstab_error *err)
{
    if (s->left > 0) {
        linstab_status st = linstab_error_set(err, LINSTAB_EINVAL, "%s: %zu items short of the shape", s->path,
                                              s->left);
        linstab_npy_stream_abort(s);
        return st;
    }
    if (fsync(s->fd) != 0) return stream_fail(s, "cannot write", errno, err);
    int rc = close(s->fd);
    s->fd = -1;
    if (rc != 0) return stream_fail(s, "cannot write", errno, err);
    if (rename(s->tmp, s->path) != 0) return stream_fail(s, "cannot rename the temporary file into place", errno, err);
    free(s->path);
    free(s->tmp);
    free(s);
    return LINSTAB_OK;
}
