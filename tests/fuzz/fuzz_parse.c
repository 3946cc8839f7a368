/*
 * fuzz_parse.c -- libFuzzer harness of the command-line parsers: the map
 * axis parser (linstab_map_axis_parse, src/dynamics/map_axis.c) and the command's strict
 * number and size-list parsers (tools/cli_parse.h, pure functions).
 *
 * Input: one selector byte, then the string (cut at its first NUL).
 * Selector % 8 (the ranges are those of real options):
 *   0 axis "NAME=SPEC"
 *   1 cli_number_parse in (-inf, inf)     2 in (0, inf) (eta)
 *   3 in [0, 1) (momentum)                4 cli_uint_parse in [0, 2^64 - 1]
 *   5 cli_uint_parse in [1, 1024] (threads)
 *   6 cli_size_list_parse in [1, SIZE_MAX], at most CLI_LIST_MAX values
 *     (critical --batches)
 *   7 the same in [1, 2^24], at most 17 values (train --layers)
 * Checked against independent reference parsers written here from the
 * documented syntax: a number is accepted iff it is [+-]digits[.digits]
 * [(e|E)[+-]digits] (or with the digits after the point only), finite
 * and in range, with strtod's value; a whole number iff decimal digits
 * only, at most 2^64 - 1 and in range; a size list that is accepted is the
 * reference expansion of its items, and one whose items are all valid
 * (and shorter than 100 characters) is accepted when it has at most the
 * maximum count.  An axis that parses has count >= 1 finite values obeying
 * its kind (batch and sigma whole numbers >= 1, eta > 0, rho >= 0).
 *
 * Without tools/cli_parse.h (before the strict parsers) the harness calls
 * the printing parsers of tools/cli_common.c instead, with stderr pointed
 * at /dev/null, and checks the same properties of their results.
 */
#include <errno.h>
#include <math.h>

#include "fuzz_util.h"
#include "linstab/map.h"

#if __has_include("cli_parse.h")
#include "cli_parse.h"
#define PURE_PARSERS 1
#else
#include "cli.h"
#define PURE_PARSERS 0
#endif

/* Decimal digits only, at most 2^64 - 1: 1 and *v, else 0. */
static int ref_u64(const char *s, size_t len, unsigned long long *v)
{
    unsigned long long x = 0;
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        if (__builtin_mul_overflow(x, 10ULL, &x) || __builtin_add_overflow(x, (unsigned long long)(s[i] - '0'), &x))
            return 0;
    }
    *v = x;
    return 1;
}

static void fuzz_axis(const char *s)
{
    linstab_map_axis ax;
    linstab_error err = {0};
    if (linstab_map_axis_parse(s, &ax, &err) != LINSTAB_OK) {
        FUZZ_CHECK(ax.values == NULL && err.msg[0] != '\0');
        return;
    }
    FUZZ_CHECK(ax.count >= 1 && ax.values != NULL);
    for (size_t i = 0; i < ax.count; i++) {
        double v = ax.values[i];
        FUZZ_CHECK(isfinite(v));
        if (ax.kind == LINSTAB_MAP_AXIS_BATCH || ax.kind == LINSTAB_MAP_AXIS_SIGMA) FUZZ_CHECK(v >= 1 && v == floor(v));
        if (ax.kind == LINSTAB_MAP_AXIS_ETA) FUZZ_CHECK(v > 0);
        if (ax.kind == LINSTAB_MAP_AXIS_RHO) FUZZ_CHECK(v >= 0);
    }
    linstab_map_axis_clear(&ax);
}

#if PURE_PARSERS
static int digit(char c) { return c >= '0' && c <= '9'; }

/* [+-] (D+ [. D*] | . D+) [(e|E) [+-] D+], the whole string. */
static int ref_decimal(const char *s)
{
    size_t i = 0, before = 0, after = 0;
    if (s[i] == '+' || s[i] == '-') i++;
    while (digit(s[i])) i++, before++;
    if (s[i] == '.') {
        i++;
        while (digit(s[i])) i++, after++;
    }
    if (before + after == 0) return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-') i++;
        if (!digit(s[i])) return 0;
        while (digit(s[i])) i++;
    }
    return s[i] == '\0';
}

static void fuzz_number(const char *s, double lo, double hi, unsigned flags)
{
    char msg[256] = "";
    double v = NAN;
    int rc = cli_number_parse(s, lo, hi, flags, &v, msg, sizeof msg);
    double ref = strtod(s, NULL);
    int in = ((flags & CLI_LO_OPEN) ? ref > lo : ref >= lo) && ((flags & CLI_HI_OPEN) ? ref < hi : ref <= hi);
    int want = ref_decimal(s) && isfinite(ref) && in;
    FUZZ_CHECK((rc == 0) == want);
    if (rc == 0) FUZZ_CHECK(v == ref || (isnan(v) && isnan(ref)));
    else FUZZ_CHECK(rc == 2 && msg[0] != '\0');
}

static void fuzz_uint(const char *s, unsigned long long lo, unsigned long long hi)
{
    char msg[256] = "";
    unsigned long long v = 0, ref = 0;
    int rc = cli_uint_parse(s, lo, hi, &v, msg, sizeof msg);
    int want = ref_u64(s, strlen(s), &ref) && ref >= lo && ref <= hi;
    FUZZ_CHECK((rc == 0) == want);
    if (rc == 0) FUZZ_CHECK(v == ref);
    else FUZZ_CHECK(rc == 2 && msg[0] != '\0');
}

/* The reference expansion of a list: 1 and the values (*out, *n), 0 if
 * an item is invalid, -1 if it has more than maxcount values. */
static int ref_list(const char *s, size_t lo, size_t hi, size_t maxcount, size_t **out, size_t *n,
                    int *short_items)
{
    size_t cap = 0, k = 0;
    size_t *v = NULL;
    *short_items = 1;
    int ok = 1;
    for (const char *p = s; ok;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len >= 100) *short_items = 0;
        const char *c1 = memchr(p, ':', len), *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - p)) : NULL;
        unsigned long long a = 0, b = 0, step = 1;
        if (c2 && memchr(c2 + 1, ':', len - (size_t)(c2 + 1 - p))) ok = 0;
        else if (!c1) ok = ref_u64(p, len, &a), b = a;
        else if (!c2) ok = ref_u64(p, (size_t)(c1 - p), &a) && ref_u64(c1 + 1, len - (size_t)(c1 + 1 - p), &b);
        else
            ok = ref_u64(p, (size_t)(c1 - p), &a) && ref_u64(c1 + 1, (size_t)(c2 - c1 - 1), &b) &&
                 ref_u64(c2 + 1, len - (size_t)(c2 + 1 - p), &step) && step >= 1;
        ok = ok && a >= lo && a <= hi && b >= lo && b <= hi && b >= a;
        for (unsigned long long x = a; ok; x += step) {
            if (k == maxcount) {
                free(v);
                return -1;
            }
            if (k == cap) {
                cap = cap ? 2 * cap : 16;
                v = realloc(v, cap * sizeof *v);
                FUZZ_CHECK(v != NULL);
            }
            v[k++] = (size_t)x;
            if (b - x < step) break; /* the next value would pass b (or wrap) */
        }
        if (comma == NULL) break;
        p = comma + 1;
    }
    if (!ok) {
        free(v);
        return 0;
    }
    *out = v;
    *n = k;
    return 1;
}

static void fuzz_list(const char *s, size_t lo, size_t hi, size_t maxcount)
{
    char msg[256] = "";
    size_t *v = NULL, n = 0, *ref = NULL, nref = 0;
    int short_items;
    int rc = cli_size_list_parse(s, lo, hi, maxcount, &v, &n, msg, sizeof msg);
    int want = ref_list(s, lo, hi, maxcount, &ref, &nref, &short_items);
    if (rc == 0) {
        FUZZ_CHECK(want == 1 && n == nref && n >= 1 && n <= maxcount);
        for (size_t i = 0; i < n; i++) FUZZ_CHECK(v[i] == ref[i] && v[i] >= lo && v[i] <= hi);
        free(v);
    } else {
        FUZZ_CHECK((rc == 1 || rc == 2) && msg[0] != '\0');
        if (short_items) FUZZ_CHECK(want != 1);
    }
    free(ref);
}
#else
static FILE *devnull;

static void quiet(int on)
{
    static FILE *saved;
    if (devnull == NULL) devnull = fopen("/dev/null", "w");
    if (on) {
        saved = stderr;
        stderr = devnull;
    } else {
        stderr = saved;
    }
}

static void fuzz_number(const char *s, double lo, double hi, unsigned flags)
{
    double x;
    quiet(1);
    int rc = cli_parse_double("fuzz", "--x", s, &x);
    quiet(0);
    if (rc == 0) FUZZ_CHECK(isfinite(x));
}

static void fuzz_uint(const char *s, unsigned long long lo, unsigned long long hi)
{
    unsigned long long u = 0, ref = 0;
    quiet(1);
    int rc = cli_parse_u64("fuzz", "--n", s, &u);
    quiet(0);
    if (rc == 0) FUZZ_CHECK(ref_u64(s, strlen(s), &ref) && u == ref);
}

static void fuzz_list(const char *s, size_t lo, size_t hi, size_t maxcount)
{
    size_t *v = NULL, n = 0;
    quiet(1);
    int rc = cli_parse_size_list("fuzz", "--list", s, lo, hi, &v, &n);
    quiet(0);
    if (rc != 0) return;
    FUZZ_CHECK(v != NULL && n >= 1);
    for (size_t i = 0; i < n; i++) FUZZ_CHECK(v[i] >= lo && v[i] <= hi);
    free(v);
}
#define CLI_LO_OPEN 1u
#define CLI_HI_OPEN 2u
#define CLI_LIST_MAX ((size_t)1000000)
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *s = fuzz_string(data + 1, size - 1);
    switch (data[0] % 8) {
    case 0: fuzz_axis(s); break;
    case 1: fuzz_number(s, -INFINITY, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN); break;
    case 2: fuzz_number(s, 0.0, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN); break;
    case 3: fuzz_number(s, 0.0, 1.0, CLI_HI_OPEN); break;
    case 4: fuzz_uint(s, 0, ~0ULL); break;
    case 5: fuzz_uint(s, 1, 1024); break;
    case 6: fuzz_list(s, 1, SIZE_MAX, CLI_LIST_MAX); break;
    default: fuzz_list(s, 1, (size_t)1 << 24, 17); break;
    }
    free(s);
    return 0;
}
