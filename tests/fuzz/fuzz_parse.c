/*
 * fuzz_parse.c -- libFuzzer harness of the command-line parsers: the map
 * axis parser (linstab_axis_parse, src/map.c), the size-list parser and the
 * number parsers of the command (tools/cli_common.c).
 *
 * Input: one selector byte, then the string (cut at its first NUL).
 * Selector % 5: 0 axis "NAME=SPEC"; 1 a size list with the bounds of
 * `critical --batches` (1 .. SIZE_MAX); 2 with those of `train --layers`
 * (1 .. 2^24); 3 a double; 4 an unsigned integer (size and u64).
 * The command's parsers print their usage errors: the harness points the
 * stderr stream at /dev/null around them (sanitizer reports, written to
 * file descriptor 2 directly, still show).
 * Checked on success: an axis has count >= 1 finite values that obey its
 * kind (batch and sigma whole numbers >= 1, eta > 0, rho >= 0); a size list
 * is non-empty and inside its bounds; a double is finite; an unsigned
 * integer was written as decimal digits only and has their value.
 */
#include <errno.h>
#include <math.h>

#include "cli.h"
#include "fuzz_util.h"
#include "linstab/map.h"

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

/* The value of s if it is a nonempty string of decimal digits that fits
 * in 64 bits: 1 and *v, else 0. */
static int strict_u64(const char *s, unsigned long long *v)
{
    unsigned long long x = 0;
    if (*s == '\0') return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        if (__builtin_mul_overflow(x, 10ULL, &x) || __builtin_add_overflow(x, (unsigned long long)(*s - '0'), &x))
            return 0;
    }
    *v = x;
    return 1;
}

static void fuzz_axis(const char *s)
{
    linstab_axis ax;
    linstab_error err = {0};
    if (linstab_axis_parse(s, &ax, &err) != LINSTAB_OK) {
        FUZZ_CHECK(ax.values == NULL && err.msg[0] != '\0');
        return;
    }
    FUZZ_CHECK(ax.count >= 1 && ax.values != NULL);
    for (size_t i = 0; i < ax.count; i++) {
        double v = ax.values[i];
        FUZZ_CHECK(isfinite(v));
        if (ax.kind == LINSTAB_AXIS_BATCH || ax.kind == LINSTAB_AXIS_SIGMA) FUZZ_CHECK(v >= 1 && v == floor(v));
        if (ax.kind == LINSTAB_AXIS_ETA) FUZZ_CHECK(v > 0);
        if (ax.kind == LINSTAB_AXIS_RHO) FUZZ_CHECK(v >= 0);
    }
    linstab_axis_clear(&ax);
}

static void fuzz_size_list(const char *s, size_t lo, size_t hi)
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

static void fuzz_numbers(const char *s, int integer)
{
    quiet(1);
    if (!integer) {
        double x;
        int rc = cli_parse_double("fuzz", "--x", s, &x);
        quiet(0);
        if (rc == 0) FUZZ_CHECK(isfinite(x));
        return;
    }
    unsigned long long u = 0, ref = 0;
    size_t z = 0;
    int rc = cli_parse_u64("fuzz", "--n", s, &u), rcz = cli_parse_size("fuzz", "--n", s, &z);
    quiet(0);
    if (rc == 0) FUZZ_CHECK(strict_u64(s, &ref) && u == ref);
    if (rcz == 0) FUZZ_CHECK(strict_u64(s, &ref) && z == ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *s = fuzz_string(data + 1, size - 1);
    switch (data[0] % 5) {
    case 0: fuzz_axis(s); break;
    case 1: fuzz_size_list(s, 1, SIZE_MAX); break;
    case 2: fuzz_size_list(s, 1, (size_t)1 << 24); break;
    case 3: fuzz_numbers(s, 0); break;
    default: fuzz_numbers(s, 1); break;
    }
    free(s);
    return 0;
}
