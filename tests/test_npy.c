/*
 * test_npy.c -- the .npy reader and writer: exact round trips, files equal
 * to numpy's byte for byte (reference bytes checked once against numpy
 * 1.24's np.save and hard-coded here, so numpy is not a test dependency),
 * headers of every version, float32 widening, the header parser's
 * tolerance, every malformed-file case (right status, a message naming the
 * file), max_bytes, and the atomic write leaving no stray files.
 */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "linstab/npy.h"
#include "testutil.h"

/* A fresh directory per test, removed afterwards. */
static char *dir;

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void setup(void)
{
    dir = tu_tmppath("-npy");
    cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
}

static void teardown(void)
{
    remove_tree(dir);
    free(dir);
}

TestSuite(npy, .init = setup, .fini = teardown);

/* path = dir/name */
static void in_dir(char *path, size_t cap, const char *name)
{
    snprintf(path, cap, "%s/%s", dir, name);
}

/* Entries of dir other than . and ..; the first one's name goes to first. */
static size_t dir_entries(char *first, size_t cap)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (n++ == 0 && first != NULL) snprintf(first, cap, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

static void write_bytes(const char *path, const void *bytes, size_t len)
{
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(bytes, 1, len, fp), len);
    cr_assert_eq(fclose(fp), 0);
}

/* The whole file (caller frees) and its length. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "%s: %s", path, strerror(errno));
    size_t cap = 1024, n = 0;
    unsigned char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += r;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(fp);
    *len = n;
    return buf;
}

/* An npy file from its parts: magic, version major.0, the header length
 * (uint16 for 1.0, uint32 otherwise, little-endian), the dict text exactly
 * as given (no padding added), then len bytes of data. */
static void write_raw_npy(const char *path, int major, const char *dict, const void *data,
                          size_t len)
{
    size_t dlen = strlen(dict), fl = major == 1 ? 2 : 4;
    unsigned char *buf = malloc(8 + fl + dlen + len + 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < fl; i++) buf[8 + i] = (unsigned char)(dlen >> (8 * i));
    memcpy(buf + 8 + fl, dict, dlen);
    if (len > 0) memcpy(buf + 8 + fl + dlen, data, len);
    write_bytes(path, buf, 8 + fl + dlen + len);
    free(buf);
}

/* Reading path fails with code, a message naming the file and containing
 * fragment, and leaves out empty. */
static void expect_read_error(const char *path, size_t max_bytes, linstab_status code,
                              const char *fragment)
{
    linstab_array a = {.ndim = 5};
    linstab_error err = {0};
    linstab_status st = linstab_npy_read(path, max_bytes, &a, &err);
    cr_expect_eq(st, code, "%s: status %d (%s), want %d; message: %s", path, st,
                 linstab_error_string(st), code, err.msg);
    cr_expect_eq(err.code, code);
    cr_expect(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    cr_expect(strstr(err.msg, fragment) != NULL, "message lacks \"%s\": %s", fragment, err.msg);
    cr_expect_null(a.data);
    cr_expect_eq(a.ndim, 0);
    linstab_npy_array_free(&a);
}

static void read_ok(const char *path, size_t max_bytes, linstab_array *a)
{
    linstab_error err = {0};
    cr_assert_eq(linstab_npy_read(path, max_bytes, a, &err), LINSTAB_OK, "%s", err.msg);
}

/* six doubles with easy bit patterns, for (2, 3) files */
static const double six[6] = {0.0, 1.0, -2.0, 0.5, 3.0, 0.1};

/* ------------------------------------------------------------------ */
/* Round trips and numpy's bytes                                       */

Test(npy, round_trip_keeps_every_bit_for_0d_to_8d_arrays)
{
    static const struct {
        size_t ndim, shape[LINSTAB_NPY_MAX_NDIM];
    } cases[] = {
        {0, {0}},          {1, {7}},          {2, {3, 4}}, {3, {2, 3, 4}},
        {3, {2, 0, 3}},    {1, {0}},          {8, {1, 2, 1, 3, 1, 1, 2, 1}},
    };
    gsl_rng *r = tu_rng(11);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        linstab_array in = {.ndim = cases[c].ndim};
        memcpy(in.shape, cases[c].shape, sizeof in.shape);
        size_t n = linstab_npy_array_size(&in);
        in.data = malloc((n > 0 ? n : 1) * sizeof(double));
        tu_gauss(r, in.data, n);
        char path[700];
        snprintf(path, sizeof path, "%s/a%zu.npy", dir, c);
        linstab_error err = {0};
        cr_assert_eq(linstab_npy_write(path, in.data, in.ndim, in.shape, &err), LINSTAB_OK,
                     "%s", err.msg);
        linstab_array out = {0};
        read_ok(path, 0, &out);
        cr_expect_eq(out.ndim, in.ndim, "case %zu", c);
        for (size_t i = 0; i < in.ndim; i++) cr_expect_eq(out.shape[i], in.shape[i]);
        cr_assert_not_null(out.data, "case %zu: data is NULL even for size 0", c);
        cr_expect_eq(linstab_npy_array_size(&out), n);
        cr_expect(memcmp(out.data, in.data, n * sizeof(double)) == 0, "case %zu", c);
        linstab_npy_array_free(&out);
        linstab_npy_array_free(&in);
    }
    gsl_rng_free(r);
}

Test(npy, round_trip_keeps_signed_zero_infinities_nan_and_subnormals)
{
    double v[6] = {-0.0, INFINITY, -INFINITY, NAN, DBL_MIN / 1024, DBL_MAX};
    size_t shape[1] = {6};
    char path[700];
    in_dir(path, sizeof path, "special.npy");
    linstab_error err = {0};
    cr_assert_eq(linstab_npy_write(path, v, 1, shape, &err), LINSTAB_OK, "%s", err.msg);
    linstab_array a = {0};
    read_ok(path, 0, &a);
    cr_expect(memcmp(a.data, v, sizeof v) == 0);
    linstab_npy_array_free(&a);
}

/* np.save(f, np.array([[0, 1, -2], [0.5, 3, 0.1]])) and friends: 64-byte
 * aligned headers with numpy's 21-digit spare space for the first axis. */
#define SPACES10 "          "
static const char numpy_2x3[] =
    "\x93NUMPY\x01\x00\x76\x00"
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" /* 59 chars */
    SPACES10 SPACES10 SPACES10 SPACES10 SPACES10 "        \n"     /* 58 spaces */
    "\x00\x00\x00\x00\x00\x00\x00\x00" "\x00\x00\x00\x00\x00\x00\xf0\x3f"
    "\x00\x00\x00\x00\x00\x00\x00\xc0" "\x00\x00\x00\x00\x00\x00\xe0\x3f"
    "\x00\x00\x00\x00\x00\x00\x08\x40" "\x9a\x99\x99\x99\x99\x99\xb9\x3f";
static const char numpy_3[] =
    "\x93NUMPY\x01\x00\x76\x00"
    "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }" /* 57 chars */
    SPACES10 SPACES10 SPACES10 SPACES10 SPACES10 SPACES10 "\n"  /* 60 spaces */
    "\x00\x00\x00\x00\x00\x00\xe0\x3f" "\x00\x00\x00\x00\x00\x00\x08\x40"
    "\x9a\x99\x99\x99\x99\x99\xb9\x3f";
static const char numpy_0d[] =
    "\x93NUMPY\x01\x00\x76\x00"
    "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" /* 55 chars, no spare */
    SPACES10 SPACES10 SPACES10 SPACES10 SPACES10 SPACES10 "  \n" /* 62 spaces */
    "\x00\x00\x00\x00\x00\x00\x00\xc0";
_Static_assert(sizeof numpy_2x3 - 1 == 128 + 48, "numpy_2x3 miscounted");
_Static_assert(sizeof numpy_3 - 1 == 128 + 24, "numpy_3 miscounted");
_Static_assert(sizeof numpy_0d - 1 == 128 + 8, "numpy_0d miscounted");

static void expect_file_bytes(const char *name, const double *data, size_t ndim,
                              const size_t *shape, const char *want, size_t want_len)
{
    char path[700];
    in_dir(path, sizeof path, name);
    linstab_error err = {0};
    cr_assert_eq(linstab_npy_write(path, data, ndim, shape, &err), LINSTAB_OK, "%s", err.msg);
    size_t len;
    unsigned char *got = slurp(path, &len);
    cr_expect_eq(len, want_len, "%s: %zu bytes, numpy writes %zu", name, len, want_len);
    size_t m = len < want_len ? len : want_len;
    for (size_t i = 0; i < m; i++)
        if (got[i] != (unsigned char)want[i]) {
            cr_expect_fail("%s: byte %zu is 0x%02x, numpy writes 0x%02x", name, i, got[i],
                           (unsigned char)want[i]);
            break;
        }
    free(got);
}

Test(npy, written_files_equal_numpys_bytes_for_2d_1d_and_0d_arrays)
{
    size_t s2[2] = {2, 3}, s1[1] = {3};
    expect_file_bytes("a.npy", six, 2, s2, numpy_2x3, sizeof numpy_2x3 - 1);
    expect_file_bytes("b.npy", six + 3, 1, s1, numpy_3, sizeof numpy_3 - 1);
    expect_file_bytes("c.npy", six + 2, 0, NULL, numpy_0d, sizeof numpy_0d - 1);
}

/* numpy's _wrap_header pads with ARRAY_ALIGN - (len % ARRAY_ALIGN) spaces,
 * so a header whose length is already a multiple of 64 gets 64 more; both
 * sides of that boundary, checked against numpy's _write_array_header.  (Only
 * such an empty shape whose other dimensions overflow reaches it, so the
 * files are written but not read back.) */
Test(npy, an_already_aligned_header_still_gets_64_spaces_like_numpy)
{
    static const struct {
        size_t shape[4];
        const char *dict;
        size_t total;
    } cases[] = {
        {{0, 100000000000, 100000000000, 10000000000},
         "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 100000000000, 100000000000, "
         "10000000000), }",
         192},
        {{0, 100000000000, 100000000000, 9999999999},
         "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 100000000000, 100000000000, "
         "9999999999), }",
         128},
    };
    for (size_t c = 0; c < 2; c++) {
        char path[700];
        snprintf(path, sizeof path, "%s/empty%zu.npy", dir, c);
        linstab_error err = {0};
        cr_assert_eq(linstab_npy_write(path, NULL, 4, cases[c].shape, &err), LINSTAB_OK, "%s",
                     err.msg);
        size_t len;
        unsigned char *got = slurp(path, &len);
        cr_assert_eq(len, cases[c].total, "case %zu: %zu bytes", c, len);
        cr_expect_eq((size_t)(got[8] | got[9] << 8), cases[c].total - 10);
        size_t dl = strlen(cases[c].dict);
        cr_expect(memcmp(got + 10, cases[c].dict, dl) == 0, "case %zu", c);
        for (size_t i = 10 + dl; i < len - 1; i++) cr_expect_eq(got[i], ' ', "byte %zu", i);
        cr_expect_eq(got[len - 1], '\n');
        free(got);
        /* the nonzero dimensions' product overflows: like numpy's load,
         * the reader refuses the empty array that _write_array_header wrote */
        expect_read_error(path, 0, LINSTAB_EDATA, "is too large: although empty, its nonzero dimensions need");
    }
}

/* np.lib.format.write_array(f, np.array([1.5, -0.25]), version=(2, 0)),
 * and the same with version=(3, 0): 4-byte header length 0x74. */
#define NUMPY_V2_BODY                                                                  \
    "\x74\x00\x00\x00"                                                                 \
    "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }" SPACES10 SPACES10      \
    SPACES10 SPACES10 SPACES10 "        \n"                                            \
    "\x00\x00\x00\x00\x00\x00\xf8\x3f" "\x00\x00\x00\x00\x00\x00\xd0\xbf"
static const char numpy_v2[] = "\x93NUMPY\x02\x00" NUMPY_V2_BODY;
static const char numpy_v3[] = "\x93NUMPY\x03\x00" NUMPY_V2_BODY;
_Static_assert(sizeof numpy_v2 - 1 == 144, "numpy_v2 miscounted");

Test(npy, reads_version_2_and_3_headers_written_by_numpy)
{
    const char *files[2] = {numpy_v2, numpy_v3};
    for (int v = 0; v < 2; v++) {
        char path[700];
        snprintf(path, sizeof path, "%s/v%d.npy", dir, v + 2);
        write_bytes(path, files[v], sizeof numpy_v2 - 1);
        linstab_array a = {0};
        read_ok(path, 0, &a);
        cr_expect_eq(a.ndim, 1);
        cr_expect_eq(a.shape[0], 2);
        cr_expect_eq(a.data[0], 1.5);
        cr_expect_eq(a.data[1], -0.25);
        linstab_npy_array_free(&a);
    }
}

/* np.save(f, np.array([1.0, 0.1, -3.5], dtype='<f4')) */
static const char numpy_f4[] =
    "\x93NUMPY\x01\x00\x76\x00"
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }" SPACES10 SPACES10 SPACES10
    SPACES10 SPACES10 SPACES10 "\n"
    "\x00\x00\x80\x3f" "\xcd\xcc\xcc\x3d" "\x00\x00\x60\xc0";
_Static_assert(sizeof numpy_f4 - 1 == 140, "numpy_f4 miscounted");

Test(npy, reads_float32_and_widens_it_exactly_to_double)
{
    char path[700];
    in_dir(path, sizeof path, "f4.npy");
    write_bytes(path, numpy_f4, sizeof numpy_f4 - 1);
    linstab_array a = {0};
    read_ok(path, 0, &a);
    cr_expect_eq(a.ndim, 1);
    cr_expect_eq(a.shape[0], 3);
    cr_expect_eq(a.data[0], 1.0);
    cr_expect_eq(a.data[1], (double)0.1f); /* the float's value, not 0.1 */
    cr_expect_eq(a.data[2], -3.5);
    linstab_npy_array_free(&a);
}

Test(npy, reads_float32_arrays_longer_than_the_widening_buffer)
{
    size_t n = 5000; /* > 2048, not a multiple of it */
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)i / 7.0f - 100.0f;
    char path[700];
    in_dir(path, sizeof path, "long.npy");
    write_raw_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5000,), }\n", f,
                  n * sizeof *f);
    linstab_array a = {0};
    read_ok(path, 0, &a);
    cr_assert_eq(linstab_npy_array_size(&a), n);
    for (size_t i = 0; i < n; i++)
        if (a.data[i] != (double)f[i]) cr_assert_fail("entry %zu", i);
    linstab_npy_array_free(&a);
    free(f);
}

Test(npy, header_parser_accepts_any_key_order_whitespace_quotes_and_trailing_commas)
{
    static const char *dicts[] = {
        "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}",
        "{ \"descr\" : \"<f8\" ,\n\t'fortran_order':False,'shape':(2,3,),}\n   ",
        "{'descr':'<f8','fortran_order':False,'shape':( 2 ,\r\n 3 )}",
        "  {'fortran_order': False, 'descr': '<f8', 'shape': (2, 3), }\n",
    };
    for (size_t c = 0; c < sizeof dicts / sizeof dicts[0]; c++) {
        char path[700];
        snprintf(path, sizeof path, "%s/h%zu.npy", dir, c);
        write_raw_npy(path, 1, dicts[c], six, sizeof six);
        linstab_array a = {0};
        read_ok(path, 0, &a);
        cr_expect_eq(a.ndim, 2, "dict %zu", c);
        cr_expect_eq(a.shape[0], 2);
        cr_expect_eq(a.shape[1], 3);
        cr_expect(memcmp(a.data, six, sizeof six) == 0);
        linstab_npy_array_free(&a);
    }
}

Test(npy, header_parser_reads_one_element_tuples_and_the_empty_tuple)
{
    char path[700];
    in_dir(path, sizeof path, "one.npy");
    write_raw_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (6 , ), }", six,
                  sizeof six);
    linstab_array a = {0};
    read_ok(path, 0, &a);
    cr_expect_eq(a.ndim, 1);
    cr_expect_eq(a.shape[0], 6);
    linstab_npy_array_free(&a);
    write_raw_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': ( ), }", six, 8);
    read_ok(path, 0, &a);
    cr_expect_eq(a.ndim, 0);
    cr_expect_eq(linstab_npy_array_size(&a), 1);
    cr_expect_eq(a.data[0], 0.0);
    linstab_npy_array_free(&a);
}

/* ------------------------------------------------------------------ */
/* Malformed files                                                     */

Test(npy, a_missing_file_is_an_io_error_naming_the_file)
{
    char path[700];
    in_dir(path, sizeof path, "nothere.npy");
    expect_read_error(path, 0, LINSTAB_EIO, "No such file");
}

Test(npy, a_directory_is_an_io_error)
{
    expect_read_error(dir, 0, LINSTAB_EIO, "directory");
}

Test(npy, truncated_headers_are_data_errors)
{
    char path[700];
    in_dir(path, sizeof path, "cut.npy");
    size_t cuts[] = {0, 4, 6, 9, 10, 20, 127};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        write_bytes(path, numpy_2x3, cuts[c]);
        expect_read_error(path, 0, LINSTAB_EDATA, "header: truncated");
    }
    /* version 2.0: the 4-byte length field cut short */
    write_bytes(path, numpy_v2, 11);
    expect_read_error(path, 0, LINSTAB_EDATA, "header: truncated");
}

Test(npy, a_bad_magic_string_is_a_data_error)
{
    char path[700];
    in_dir(path, sizeof path, "zip.npy");
    static const char zip[] = "PK\003\004 not an npy file at all";
    write_bytes(path, zip, sizeof zip - 1);
    expect_read_error(path, 0, LINSTAB_EDATA, "magic");
    char bytes[sizeof numpy_2x3];
    memcpy(bytes, numpy_2x3, sizeof bytes);
    bytes[5] = 'X'; /* \x93NUMPX */
    write_bytes(path, bytes, sizeof bytes - 1);
    expect_read_error(path, 0, LINSTAB_EDATA, "magic");
    write_bytes(path, "\x93NUX", 4); /* short and wrong: the magic is the problem */
    expect_read_error(path, 0, LINSTAB_EDATA, "magic");
}

Test(npy, unsupported_format_versions_are_data_errors)
{
    static const unsigned char versions[][2] = {{4, 0}, {1, 1}, {0, 0}, {2, 5}};
    char path[700];
    in_dir(path, sizeof path, "ver.npy");
    for (size_t v = 0; v < 4; v++) {
        char bytes[sizeof numpy_2x3];
        memcpy(bytes, numpy_2x3, sizeof bytes);
        bytes[6] = (char)versions[v][0];
        bytes[7] = (char)versions[v][1];
        write_bytes(path, bytes, sizeof bytes - 1);
        char want[64];
        snprintf(want, sizeof want, "version %u.%u", versions[v][0], versions[v][1]);
        expect_read_error(path, 0, LINSTAB_EDATA, want);
    }
}

Test(npy, big_endian_integer_complex_object_and_structured_dtypes_are_rejected)
{
    static const struct {
        const char *descr, *fragment;
    } cases[] = {
        {"'>f8'", "dtype '>f8' not supported (need '<f8' or '<f4'"},
        {"'>f4'", "dtype '>f4' not supported"},
        {"'<i4'", "dtype '<i4' not supported (need '<f8' or '<f4')"},
        {"'<i8'", "dtype '<i8'"},
        {"'<f2'", "dtype '<f2'"},
        {"'<c16'", "dtype '<c16'"},
        {"'|O'", "dtype '|O'"},
        {"'|u1'", "dtype '|u1'"},
        {"'float64'", "dtype 'float64'"},
        {"[('a', '<f8'), ('b', '<f8')]", "structured dtypes are not supported"},
    };
    char path[700];
    in_dir(path, sizeof path, "dtype.npy");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char dict[256];
        snprintf(dict, sizeof dict, "{'descr': %s, 'fortran_order': False, 'shape': (2, 3), }\n",
                 cases[c].descr);
        write_raw_npy(path, 1, dict, six, sizeof six);
        expect_read_error(path, 0, LINSTAB_EDATA, cases[c].fragment);
    }
}

Test(npy, numeric_reading_converts_integers_and_bools_exactly)
{
    char path[700];
    in_dir(path, sizeof path, "int.npy");
    linstab_error err = {0};
    linstab_array a = {0};
    const int64_t i8[4] = {0, -3, 7, (int64_t)1 << 53};
    write_raw_npy(path, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }\n", i8, sizeof i8);
    cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(a.ndim == 1 && a.shape[0] == 4);
    for (int j = 0; j < 4; j++) cr_expect_eq(a.data[j], (double)i8[j]);
    linstab_npy_array_free(&a);
    expect_read_error(path, 0, LINSTAB_EDATA, "dtype '<i8'"); /* the strict reader still refuses */

    const int32_t i4[3] = {2, -1, 2147483647};
    write_raw_npy(path, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }\n", i4, sizeof i4);
    cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(a.data[0] == 2.0 && a.data[1] == -1.0 && a.data[2] == 2147483647.0);
    linstab_npy_array_free(&a);

    const uint8_t u1[6] = {0, 1, 255, 128, 3, 9};
    write_raw_npy(path, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }\n", u1, sizeof u1);
    cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    for (int j = 0; j < 6; j++) cr_expect_eq(a.data[j], (double)u1[j]);
    linstab_npy_array_free(&a);

    const int16_t i2[2] = {-32768, 5};
    write_raw_npy(path, 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }\n", i2, sizeof i2);
    cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(a.data[0] == -32768.0 && a.data[1] == 5.0);
    linstab_npy_array_free(&a);

    const uint8_t b1[2] = {0, 1};
    write_raw_npy(path, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }\n", b1, sizeof b1);
    cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect(a.data[0] == 0.0 && a.data[1] == 1.0);
    linstab_npy_array_free(&a);

    /* not exact in float64: refused; truncated integer data: refused */
    const int64_t big[1] = {((int64_t)1 << 53) + 1};
    write_raw_npy(path, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }\n", big, sizeof big);
    cr_expect_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "2^53") != NULL, "%s", err.msg);
    write_raw_npy(path, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }\n", i4, sizeof i4);
    cr_expect_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "truncated") != NULL, "%s", err.msg);
    write_raw_npy(path, 1, "{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }\n", big, sizeof big);
    cr_expect_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "integer or bool") != NULL, "%s", err.msg);
    cr_expect_null(a.data);
}

Test(npy, fortran_order_true_is_rejected)
{
    char path[700];
    in_dir(path, sizeof path, "fortran.npy");
    write_raw_npy(path, 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }\n", six,
                  sizeof six);
    expect_read_error(path, 0, LINSTAB_EDATA, "fortran_order True");
}

Test(npy, data_shorter_or_longer_than_the_shape_says_is_a_data_error)
{
    char path[700];
    in_dir(path, sizeof path, "len.npy");
    /* the boundary: exactly right reads, one byte either way does not */
    write_bytes(path, numpy_2x3, sizeof numpy_2x3 - 1);
    linstab_array a = {0};
    read_ok(path, 0, &a);
    linstab_npy_array_free(&a);
    write_bytes(path, numpy_2x3, sizeof numpy_2x3 - 2);
    expect_read_error(path, 0, LINSTAB_EDATA, "truncated");
    write_bytes(path, numpy_2x3, 128); /* header only */
    expect_read_error(path, 0, LINSTAB_EDATA, "needs 48 bytes, the file has 0");
    char longer[sizeof numpy_2x3 + 8] = {0};
    memcpy(longer, numpy_2x3, sizeof numpy_2x3 - 1);
    write_bytes(path, longer, sizeof numpy_2x3);
    expect_read_error(path, 0, LINSTAB_EDATA, "trailing");
    write_bytes(path, longer, sizeof longer);
    expect_read_error(path, 0, LINSTAB_EDATA, "trailing");
    /* float32 data counts 4 bytes per entry */
    in_dir(path, sizeof path, "f4len.npy");
    write_bytes(path, numpy_f4, sizeof numpy_f4 - 3);
    expect_read_error(path, 0, LINSTAB_EDATA, "'<f4' needs 12 bytes");
}

Test(npy, missing_unknown_and_repeated_keys_are_data_errors)
{
    static const struct {
        const char *dict, *fragment;
    } cases[] = {
        {"{'descr': '<f8', 'fortran_order': False, }", "missing key 'shape'"},
        {"{'descr': '<f8', 'shape': (2, 3), }", "missing key 'fortran_order'"},
        {"{'fortran_order': False, 'shape': (2, 3), }", "missing key 'descr'"},
        {"{}", "missing key"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
         "unknown key 'extra'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'shape': (2, 3)}",
         "key 'shape' appears twice"},
    };
    char path[700];
    in_dir(path, sizeof path, "keys.npy");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        write_raw_npy(path, 1, cases[c].dict, six, sizeof six);
        expect_read_error(path, 0, LINSTAB_EDATA, cases[c].fragment);
    }
}

Test(npy, malformed_header_dicts_are_data_errors)
{
    static const struct {
        const char *dict, *fragment;
    } cases[] = {
        {"", "expected '{'"},
        {"hello", "expected '{' starting the header dict at byte 10, found 'h'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6), }", "not a tuple"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': 6, }", "tuple"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': [2, 3], }", "tuple"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, -3), }", "non-negative"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2 3), }", "',' or ')'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (,), }", "non-negative"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3,,), }", "non-negative"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)", "',' or '}'"},
        {"{'descr': '<f8' 'fortran_order': False, 'shape': (2, 3)}", "',' or '}'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } x", "only whitespace"},
        {"{'descr': '<f8', 'fortran_order': Falsey, 'shape': (2, 3)}", "True or False"},
        {"{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 3)}", "True or False"},
        {"{'descr': '<f8, 'fortran_order': False, 'shape': (2, 3)}", "dtype '<f8, '"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), ", "end of the header"},
        {"{descr: '<f8', 'fortran_order': False, 'shape': (2, 3)}", "quoted key"},
        {"{'descr' '<f8', 'fortran_order': False, 'shape': (2, 3)}", "':'"},
        {"{, 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}", "quoted key"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}\x01", "byte 0x01"},
        {"{'descr': '<f\tx', 'fortran_order': False, 'shape': (2, 3)}", "printable"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 6)}",
         "more than 8 dimensions"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
         "dimension 0 of 'shape' is too large"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}",
         "shape (1099511627776, 1099511627776) is too large"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,)}",
         "too large"}, /* 2^61: 2^64 bytes */
    };
    char path[700];
    in_dir(path, sizeof path, "bad.npy");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        write_raw_npy(path, 1, cases[c].dict, six, sizeof six);
        expect_read_error(path, 0, LINSTAB_EDATA, cases[c].fragment);
    }
}

Test(npy, an_overlong_header_length_is_a_data_error)
{
    char path[700];
    in_dir(path, sizeof path, "long.npy");
    /* version 2.0, length field 0x7fffffff, file far shorter */
    write_bytes(path, "\x93NUMPY\x02\x00\xff\xff\xff\x7f{}", 14);
    expect_read_error(path, 0, LINSTAB_EDATA, "header: truncated");
}

/* Write len bytes into the FIFO path from a child process, so that the
 * reader sees a stream without a size; returns the child's pid. */
static pid_t feed_fifo(const char *path, const void *bytes, size_t len)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        FILE *fp = fopen(path, "wb");
        int ok = fp != NULL && fwrite(bytes, 1, len, fp) == len;
        if (fp != NULL && fclose(fp) != 0) ok = 0;
        _exit(ok ? 0 : 1);
    }
    return pid;
}

Test(npy, a_pipe_is_read_and_its_length_checked_while_streaming)
{
    char path[700];
    in_dir(path, sizeof path, "fifo.npy");
    cr_assert_eq(mkfifo(path, 0600), 0, "%s", strerror(errno));
    char longer[sizeof numpy_2x3 + 8] = {0};
    memcpy(longer, numpy_2x3, sizeof numpy_2x3 - 1);
    static const struct {
        size_t len;
        const char *fragment;
    } cases[] = {
        {sizeof numpy_2x3 - 1, NULL},
        {sizeof numpy_2x3 - 9, "data: truncated"},
        {sizeof numpy_2x3 + 7, "trailing bytes"},
        {20, "header: truncated"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pid_t pid = feed_fifo(path, longer, cases[c].len);
        if (cases[c].fragment == NULL) {
            linstab_array a = {0};
            read_ok(path, 0, &a);
            cr_expect_eq(a.ndim, 2);
            cr_expect(memcmp(a.data, six, sizeof six) == 0);
            linstab_npy_array_free(&a);
        } else {
            expect_read_error(path, 0, LINSTAB_EDATA, cases[c].fragment);
        }
        /* the reader may stop early: the writer can then die of SIGPIPE */
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
    }
}

/* An npy file's bytes in memory: magic, version 1.0, the dict padded with
 * spaces and a newline to a multiple of 64 bytes, then len data bytes.
 * Caller frees; *total is the length. */
static unsigned char *npy_bytes(const char *dict, const void *data, size_t len, size_t *total)
{
    size_t dlen = strlen(dict), hl = ((10 + dlen + 1 + 63) / 64) * 64 - 10;
    unsigned char *buf = malloc(10 + hl + len);
    cr_assert_not_null(buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)hl;
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, dict, dlen);
    memset(buf + 10 + dlen, ' ', hl - dlen - 1);
    buf[10 + hl - 1] = '\n';
    if (len > 0) memcpy(buf + 10 + hl, data, len);
    *total = 10 + hl + len;
    return buf;
}

Test(npy, a_shape_whose_size_overflows_says_how_many_bytes_it_needs)
{
    char path[700];
    in_dir(path, sizeof path, "huge.npy");
    /* 8 x 1.23 x 10^21 = 9.84e21 bytes as float64: beyond 2^64 */
    write_raw_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (12300000, 10000000, 10000000), }\n",
                  six, sizeof six);
    expect_read_error(path, 0, LINSTAB_EDATA,
                      "shape (12300000, 10000000, 10000000) is too large: it needs 9.84e+21 bytes as float64");
    /* float32: the items fit (4 x 3 x 10^18 < 2^64), their float64 copy does not */
    write_raw_npy(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3000000000000000000,), }\n", six,
                  sizeof six);
    expect_read_error(path, 0, LINSTAB_EDATA, "it needs 2.4e+19 bytes as float64");
    /* 8 x 10^18 fits: the file's size refuses it, naming both sizes */
    write_raw_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000, 1000000), }\n",
                  six, sizeof six);
    expect_read_error(path, 0, LINSTAB_EDATA, "needs 8000000000000000000 bytes, the file has 48 after the header");
}

/* Found by fuzz_npy: a zero dimension made the array empty, and the reader
 * took it although the other dimensions' product overflows size_t (numpy
 * refuses such a shape); a caller multiplying two of them wrapped. */
Test(npy, a_zero_dimension_does_not_excuse_an_overflowing_shape)
{
    char path[700];
    in_dir(path, sizeof path, "zero_huge.npy");
    write_raw_npy(path, 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 1, 3009210, 395, 93693952, 952, 693952, 0), }\n",
                  NULL, 0);
    expect_read_error(path, 0, LINSTAB_EDATA,
                      "shape (5, 1, 3009210, 395, 93693952, 952, 693952, 0) is too large: although empty, its "
                      "nonzero dimensions need");
    /* the order does not matter: the zero first */
    write_raw_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296), }\n",
                  NULL, 0);
    expect_read_error(path, 0, LINSTAB_EDATA, "although empty, its nonzero dimensions need 1.48e+20 bytes");
    /* an empty shape whose other dimensions fit is still read */
    write_raw_npy(path, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 1000000, 1000000), }\n", NULL, 0);
    linstab_array a = {0};
    linstab_error err = {0};
    cr_assert_eq(linstab_npy_read(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_npy_array_size(&a), 0);
    linstab_npy_array_free(&a);
}

Test(npy, a_pipe_claiming_a_huge_shape_is_truncated_not_out_of_memory)
{
    char path[700];
    in_dir(path, sizeof path, "fifo.npy");
    cr_assert_eq(mkfifo(path, 0600), 0, "%s", strerror(errno));
    /* 10^11 doubles (800 GB) claimed, 48 bytes sent: the buffer grows with
     * the data, so the answer is the truncation */
    size_t len;
    unsigned char *b = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }", six,
                                 sizeof six, &len);
    pid_t pid = feed_fifo(path, b, len);
    expect_read_error(path, 0, LINSTAB_EDATA, "data: truncated (shape (100000000000,) of '<f8' needs 800000000000 bytes, the file has 48");
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    free(b);
}

Test(npy, a_pipe_longer_than_the_read_chunk_is_read_exactly_for_every_dtype)
{
    char path[700];
    in_dir(path, sizeof path, "fifo.npy");
    cr_assert_eq(mkfifo(path, 0600), 0, "%s", strerror(errno));
    /* 300001 items: more than two chunks of 2^17, not a multiple of either
     * block size, so the buffer doubles twice and ends on a partial block */
    size_t n = 300001;
    double *d = malloc(n * sizeof *d);
    float *f = malloc(n * sizeof *f);
    int64_t *q = malloc(n * sizeof *q);
    for (size_t i = 0; i < n; i++) {
        d[i] = (double)i * 0.5 - 1e5;
        f[i] = (float)i * 0.25f;
        q[i] = (int64_t)i * 1000003 - 7;
    }
    static const char *const dicts[3] = {
        "{'descr': '<f8', 'fortran_order': False, 'shape': (300001,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (300001,), }",
        "{'descr': '<i8', 'fortran_order': False, 'shape': (300001,), }",
    };
    const void *src[3] = {d, f, q};
    size_t item[3] = {8, 4, 8};
    for (int t = 0; t < 3; t++) {
        size_t len;
        unsigned char *b = npy_bytes(dicts[t], src[t], n * item[t], &len);
        pid_t pid = feed_fifo(path, b, len);
        linstab_array a = {0};
        linstab_error err = {0};
        cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(a.ndim, 1);
        cr_expect_eq(a.shape[0], n);
        size_t wrong = 0;
        for (size_t i = 0; i < n; i++) {
            double want = t == 0 ? d[i] : t == 1 ? (double)f[i] : (double)q[i];
            wrong += a.data[i] != want;
        }
        cr_expect_eq(wrong, 0, "dtype %d: %zu values differ", t, wrong);
        linstab_npy_array_free(&a);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        free(b);
    }
    free(d);
    free(f);
    free(q);
}

/* ------------------------------------------------------------------ */
/* max_bytes                                                           */

Test(npy, max_bytes_is_a_limit_on_the_float64_size_with_the_boundary_allowed)
{
    char path[700];
    in_dir(path, sizeof path, "m.npy");
    write_bytes(path, numpy_2x3, sizeof numpy_2x3 - 1);
    linstab_array a = {0};
    read_ok(path, 48, &a); /* exactly 6 doubles */
    linstab_npy_array_free(&a);
    expect_read_error(path, 47, LINSTAB_ENOMEM,
                      "shape (2, 3) needs 48 bytes as float64, more than the limit of 47 bytes");
    /* float32 files are limited by the size they take once widened */
    write_bytes(path, numpy_f4, sizeof numpy_f4 - 1);
    read_ok(path, 24, &a);
    linstab_npy_array_free(&a);
    expect_read_error(path, 23, LINSTAB_ENOMEM, "limit");
}

Test(npy, max_bytes_refuses_a_large_array_before_allocating_it)
{
    /* a 2 GB array in a sparse file: refused by its header alone */
    char path[700];
    in_dir(path, sizeof path, "big.npy");
    write_raw_npy(path, 1,
                  "{'descr': '<f8', 'fortran_order': False, 'shape': (250000000,), }\n", NULL, 0);
    size_t hdr = 10 + strlen("{'descr': '<f8', 'fortran_order': False, 'shape': (250000000,), }\n");
    cr_assert_eq(truncate(path, (off_t)(hdr + 2000000000)), 0, "%s", strerror(errno));
    expect_read_error(path, 1000000000, LINSTAB_ENOMEM,
                      "shape (250000000,) needs 2.00 GB as float64, more than the limit of 1.00 GB");
    /* a header claiming that much over a file that does not hold it is
     * corrupt, whatever the limit */
    cr_assert_eq(truncate(path, (off_t)hdr), 0);
    expect_read_error(path, 1000000000, LINSTAB_EDATA, "truncated");
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

Test(npy, a_successful_write_leaves_only_the_file_with_mode_0644)
{
    char path[700], name[256];
    in_dir(path, sizeof path, "out.npy");
    size_t shape[2] = {2, 3};
    linstab_error err = {0};
    cr_assert_eq(linstab_npy_write(path, six, 2, shape, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(dir_entries(name, sizeof name), 1);
    cr_expect_str_eq(name, "out.npy", "a stray file is left: %s", name);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_expect_eq(sb.st_mode & 07777, 0644, "mode %o", (unsigned)(sb.st_mode & 07777));
}

Test(npy, writing_over_an_existing_file_replaces_it)
{
    char path[700];
    in_dir(path, sizeof path, "out.npy");
    size_t s6[1] = {6}, s1[1] = {1};
    linstab_error err = {0};
    cr_assert_eq(linstab_npy_write(path, six, 1, s6, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_npy_write(path, six + 1, 1, s1, &err), LINSTAB_OK, "%s", err.msg);
    linstab_array a = {0};
    read_ok(path, 0, &a);
    cr_expect_eq(a.shape[0], 1);
    cr_expect_eq(a.data[0], 1.0);
    linstab_npy_array_free(&a);
    cr_expect_eq(dir_entries(NULL, 0), 1);
}

Test(npy, writing_into_a_missing_directory_is_an_io_error_and_leaves_no_file)
{
    char path[700];
    in_dir(path, sizeof path, "nodir/out.npy");
    size_t shape[1] = {6};
    linstab_error err = {0};
    cr_expect_eq(linstab_npy_write(path, six, 1, shape, &err), LINSTAB_EIO);
    cr_expect_eq(err.code, LINSTAB_EIO);
    cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, strerror(ENOENT)) != NULL, "%s", err.msg);
    struct stat sb;
    cr_expect_neq(stat(path, &sb), 0);
    cr_expect_eq(dir_entries(NULL, 0), 0);
}

Test(npy, a_failed_rename_is_an_io_error_and_removes_the_temporary)
{
    /* the target is a directory: the write succeeds, the rename cannot */
    char path[700], name[256];
    in_dir(path, sizeof path, "taken.npy");
    cr_assert_eq(mkdir(path, 0700), 0);
    size_t shape[1] = {6};
    linstab_error err = {0};
    cr_expect_eq(linstab_npy_write(path, six, 1, shape, &err), LINSTAB_EIO);
    cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "rename") != NULL, "%s", err.msg);
    cr_expect_eq(dir_entries(name, sizeof name), 1);
    cr_expect_str_eq(name, "taken.npy", "a stray file is left: %s", name);
}

Test(npy, bad_shapes_and_missing_data_are_invalid_arguments_and_write_nothing)
{
    char path[700];
    in_dir(path, sizeof path, "x.npy");
    size_t big[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    size_t huge[2] = {(size_t)1 << 40, (size_t)1 << 40};
    size_t two[1] = {2};
    linstab_error err = {0};
    cr_expect_eq(linstab_npy_write(path, six, 9, big, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "9 dimensions") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_npy_write(path, six, 2, huge, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "too large") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_npy_write(path, NULL, 1, two, &err), LINSTAB_EINVAL);
    cr_expect_eq(linstab_npy_write(path, six, 1, NULL, &err), LINSTAB_EINVAL);
    cr_expect_eq(dir_entries(NULL, 0), 0);
}

/* ------------------------------------------------------------------ */
/* linstab_array                                                       */

Test(npy, array_size_is_the_product_of_the_shape_and_one_for_0d)
{
    linstab_array a = {.ndim = 0};
    cr_expect_eq(linstab_npy_array_size(&a), 1);
    linstab_array b = {.ndim = 3, .shape = {2, 3, 4}};
    cr_expect_eq(linstab_npy_array_size(&b), 24);
    linstab_array c = {.ndim = 2, .shape = {5, 0}};
    cr_expect_eq(linstab_npy_array_size(&c), 0);
}

Test(npy, array_free_zeroes_the_struct_and_accepts_null)
{
    linstab_array a = {.ndim = 2, .shape = {1, 2}, .data = malloc(2 * sizeof(double))};
    linstab_npy_array_free(&a);
    cr_expect_null(a.data);
    cr_expect_eq(a.ndim, 0);
    cr_expect_eq(a.shape[0], 0);
    linstab_npy_array_free(&a);
    linstab_npy_array_free(NULL);
}
