/*
 * test_safetensors.c -- the .safetensors reader and writer, and MLPs from
 * nn.Sequential state dicts.  Every file is built here byte by byte (an
 * 8-byte little-endian length, the JSON header, the buffer), so neither
 * torch nor the safetensors package is a test dependency.  Checked: the
 * writer's round trip keeps every bit; F32 entries become the same doubles
 * (the float's exact value); an MLP from a state dict equals the same MLP
 * from a model.json folder bit for bit (parameters and forward pass); and
 * every malformed file is refused with LINSTAB_EDATA (or EIO/EINVAL) and a
 * message naming the file and the tensor at fault.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "linstab/mlp.h"
#include "linstab/safetensors.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmppath("-st");
    cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
}

static void teardown(void)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    free(dir);
}

TestSuite(safetensors, .init = setup, .fini = teardown);

static char path_buf[1024];
static const char *in_dir(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    return path_buf;
}

/* A file: the length of header (hlen bytes, or strlen when hlen = -1) as
 * 8 little-endian bytes (or `len_override` when not ~0), the header, then
 * nbuf bytes of buf. */
static const char *write_raw(const char *name, const char *header, uint64_t len_override, const void *buf,
                             size_t nbuf)
{
    const char *p = in_dir(name);
    FILE *fp = fopen(p, "wb");
    cr_assert_not_null(fp);
    uint64_t n = len_override != ~(uint64_t)0 ? len_override : strlen(header);
    unsigned char le[8];
    for (int b = 0; b < 8; b++) le[b] = (unsigned char)(n >> (8 * b));
    cr_assert_eq(fwrite(le, 1, 8, fp), 8);
    cr_assert_eq(fwrite(header, 1, strlen(header), fp), strlen(header));
    if (nbuf) cr_assert_eq(fwrite(buf, 1, nbuf, fp), nbuf);
    cr_assert_eq(fclose(fp), 0);
    return p;
}

static const char *write_st(const char *name, const char *header, const void *buf, size_t nbuf)
{
    return write_raw(name, header, ~(uint64_t)0, buf, nbuf);
}

/* v as 8 little-endian bytes at out (the host's order need not be LE) */
static void le64(double v, unsigned char *out)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    for (int b = 0; b < 8; b++) out[b] = (unsigned char)(u >> (8 * b));
}

/* Read path and expect code with every needle in the message. */
static void refuse(const char *path, linstab_status code, const char *n1, const char *n2)
{
    linstab_safetensors st;
    linstab_error err = {0};
    linstab_status s = linstab_safetensors_read(path, 0, &st, &err);
    cr_assert_eq(s, code, "%s: status %d, expected %d: %s", path, s, code, err.msg);
    cr_assert_eq(st.count, 0);
    cr_assert_null(st.tensors);
    cr_assert_not_null(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    if (n1) cr_assert_not_null(strstr(err.msg, n1), "'%s' not in: %s", n1, err.msg);
    if (n2) cr_assert_not_null(strstr(err.msg, n2), "'%s' not in: %s", n2, err.msg);
}

Test(safetensors, round_trip_keeps_every_bit_names_shapes_and_metadata)
{
    double a[6] = {1.0, -0.0, 0.1, DBL_MIN / 8, DBL_MAX, -3.25}, b[3] = {2.0, 1e-300, -7.0}, c[1] = {42.0};
    linstab_array arr[3] = {{2, {2, 3}, a}, {1, {3}, b}, {0, {0}, c}};
    const char *names[3] = {"0.weight", "a \"quoted\"\\name\n", "scalar"};
    const char *keys[1] = {"format"}, *vals[1] = {"pt"};
    linstab_error err = {0};
    const char *p = in_dir("rt.safetensors");
    cr_assert_eq(linstab_safetensors_write(p, 3, names, arr, 1, keys, vals, &err), LINSTAB_OK, "%s", err.msg);
    /* no temporary left beside it */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1", dir);
    cr_assert_eq(system(cmd), 0);
    /* the header length is a multiple of 8 (the writer pads with spaces) */
    FILE *fp = fopen(p, "rb");
    unsigned char le[8];
    cr_assert_eq(fread(le, 1, 8, fp), 8);
    fclose(fp);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | le[i];
    cr_assert_eq(n % 8, 0);
    linstab_safetensors st;
    cr_assert_eq(linstab_safetensors_read(p, 0, &st, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(st.count, 3);
    for (size_t i = 0; i < 3; i++) {
        const linstab_safetensors_tensor *t = linstab_safetensors_find(&st, names[i]);
        cr_assert_not_null(t, "%s", names[i]);
        cr_assert_str_eq(t->dtype, "F64");
        cr_assert_eq(t->array.ndim, arr[i].ndim);
        for (size_t d = 0; d < arr[i].ndim; d++) cr_assert_eq(t->array.shape[d], arr[i].shape[d]);
        cr_assert_eq(memcmp(t->array.data, arr[i].data, linstab_npy_array_size(&arr[i]) * 8), 0);
    }
    cr_assert_str_eq(linstab_safetensors_meta(&st, "format"), "pt");
    cr_assert_null(linstab_safetensors_meta(&st, "nope"));
    linstab_safetensors_free(&st);
    cr_assert_eq(st.count, 0);
}

Test(safetensors, reads_a_hand_built_file_with_f32_converted_exactly_and_unicode_names)
{
    /* F32 values: 0.1f (not 0.1), the smallest subnormal, FLT_MAX, -2.5 */
    float f[4] = {0.1f, 0x1p-149f, FLT_MAX, -2.5f};
    unsigned char buf[16 + 8];
    for (int i = 0; i < 4; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        for (int b = 0; b < 4; b++) buf[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
    le64(0.1, buf + 16);
    /* tensors listed out of offset order, whitespace, escapes, metadata */
    const char *h = "{ \"b\\u00e9\" : {\"dtype\":\"F64\", \"shape\":[1], \"data_offsets\":[16,24]},\n"
                    "  \"__metadata__\": {\"format\": \"pt\"},\n"
                    "  \"w\": {\"shape\": [2, 2], \"data_offsets\": [0, 16], \"dtype\": \"F32\"} }   ";
    const char *p = write_st("f32.safetensors", h, buf, sizeof buf);
    linstab_safetensors st;
    linstab_error err = {0};
    cr_assert_eq(linstab_safetensors_read(p, 0, &st, &err), LINSTAB_OK, "%s", err.msg);
    const linstab_safetensors_tensor *w = linstab_safetensors_find(&st, "w");
    cr_assert_not_null(w);
    cr_assert_str_eq(w->dtype, "F32");
    cr_assert_eq(w->array.shape[0], 2);
    /* exact: 0.1f is 13421773 * 2^-27 */
    cr_assert_eq(w->array.data[0], 13421773.0 * 0x1p-27);
    cr_assert_neq(w->array.data[0], 0.1);
    cr_assert_eq(w->array.data[1], 0x1p-149);
    cr_assert_eq(w->array.data[2], (double)FLT_MAX);
    cr_assert_eq(w->array.data[3], -2.5);
    const linstab_safetensors_tensor *b = linstab_safetensors_find(&st, "b\xc3\xa9");
    cr_assert_not_null(b, "the \\u00e9 escape decodes to UTF-8");
    cr_assert_eq(b->array.data[0], 0.1);
    /* in offset order */
    cr_assert_str_eq(st.tensors[0].name, "w");
    linstab_safetensors_free(&st);
    /* max_bytes: 5 doubles = 40 bytes */
    cr_assert_eq(linstab_safetensors_read(p, 39, &st, &err), LINSTAB_ENOMEM);
    cr_assert_eq(linstab_safetensors_read(p, 40, &st, &err), LINSTAB_OK, "%s", err.msg);
    linstab_safetensors_free(&st);
}

Test(safetensors, an_empty_state_dict_and_zero_size_tensors_are_read)
{
    const char *p = write_st("e.safetensors", "{}", NULL, 0);
    linstab_safetensors st;
    linstab_error err = {0};
    cr_assert_eq(linstab_safetensors_read(p, 0, &st, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(st.count, 0);
    linstab_safetensors_free(&st);
    unsigned char buf[8];
    le64(1.0, buf);
    p = write_st("z.safetensors",
                 "{\"z\":{\"dtype\":\"F64\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                 "\"x\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}",
                 buf, 8);
    cr_assert_eq(linstab_safetensors_read(p, 0, &st, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(st.count, 2);
    cr_assert_eq(linstab_safetensors_find(&st, "x")->array.data[0], 1.0);
    cr_assert_eq(linstab_npy_array_size(&linstab_safetensors_find(&st, "z")->array), 0);
    linstab_safetensors_free(&st);
}

#define T1 "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}"

Test(safetensors, truncated_files_and_bad_header_lengths_are_refused)
{
    unsigned char buf[16] = {0};
    FILE *fp = fopen(in_dir("short.safetensors"), "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite("\x02\0\0", 1, 3, fp), 3);
    cr_assert_eq(fclose(fp), 0);
    refuse(in_dir("short.safetensors"), LINSTAB_EDATA, "truncated", "3 bytes");
    refuse(write_raw("len.safetensors", "", 0, NULL, 0), LINSTAB_EDATA, "too short", NULL);
    /* the length says more than the file has */
    refuse(write_raw("beyond.safetensors", T1, strlen(T1) + 17, buf, 16), LINSTAB_EDATA, "truncated", NULL);
    /* the length beyond the 100 MB limit */
    refuse(write_raw("huge.safetensors", T1, (uint64_t)1 << 40, buf, 16), LINSTAB_EDATA, "exceeds the limit", NULL);
    /* the buffer cut short: the tensor's end beyond it */
    refuse(write_st("cut.safetensors", T1, buf, 12), LINSTAB_EDATA, "'t'", "beyond the 12-byte buffer");
    /* a folder, a missing file */
    refuse(dir, LINSTAB_EIO, NULL, NULL);
    refuse(in_dir("missing.safetensors"), LINSTAB_EIO, "cannot open", NULL);
}

Test(safetensors, invalid_json_is_refused_with_the_byte)
{
    unsigned char buf[16] = {0};
    const char *bad[] = {
        "[1, 2]",                                                                   /* not an object */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}",          /* unclosed */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16],}}",        /* trailing comma */
        "{'t':{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}",           /* single quotes */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[02],\"data_offsets\":[0,16]}}",        /* leading zero */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}} x",       /* garbage after */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}\n",       /* only spaces may pad */
        "{\"t\\q\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}",      /* bad escape */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},\"t\":{}}", /* repeated name */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2.0],\"data_offsets\":[0,16]}}",       /* not an integer */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[-2],\"data_offsets\":[0,16]}}",        /* negative */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16],\"x\":1}}", /* unknown key */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2]}}",                                 /* no offsets */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16,3]}}",       /* three offsets */
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,16]}}", /* 9 dimensions */
        "{\"__metadata__\":{\"a\":1},\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}",
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[99999999999999999999999],\"data_offsets\":[0,16]}}",
        "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}, \"\\ud800\":{}}", /* lone surrogate */
        "{\"\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}",          /* empty name */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "j%zu.safetensors", i);
        linstab_safetensors st;
        linstab_error err = {0};
        const char *p = write_st(name, bad[i], buf, 16);
        linstab_status s = linstab_safetensors_read(p, 0, &st, &err);
        cr_assert_eq(s, LINSTAB_EDATA, "case %zu (%s): status %d: %s", i, bad[i], s, err.msg);
        cr_assert_null(st.tensors);
        cr_assert_not_null(strstr(err.msg, p), "case %zu: %s", i, err.msg);
    }
    /* the message points at the byte */
    refuse(write_st("b.safetensors", "{\"t\" 1}", NULL, 0), LINSTAB_EDATA, "invalid JSON header", "byte 5");
}

Test(safetensors, unknown_and_unsupported_dtypes_are_refused_naming_the_tensor)
{
    unsigned char buf[16] = {0};
    refuse(write_st("bf.safetensors", "{\"layer.w\":{\"dtype\":\"BF16\",\"shape\":[8],\"data_offsets\":[0,16]}}", buf,
                    16),
           LINSTAB_EDATA, "'layer.w'", "unsupported dtype 'BF16'");
    refuse(write_st("q.safetensors", "{\"t\":{\"dtype\":\"Q7\",\"shape\":[16],\"data_offsets\":[0,16]}}", buf, 16),
           LINSTAB_EDATA, "'t'", "unknown dtype 'Q7'");
    refuse(write_st("i.safetensors", "{\"t\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", buf, 16),
           LINSTAB_EDATA, "unsupported dtype 'I64'", "F64 and F32");
}

Test(safetensors, offsets_out_of_range_overlapping_gaps_and_shape_mismatches_are_refused)
{
    unsigned char buf[32] = {0};
    /* out of range */
    refuse(write_st("oor.safetensors", "{\"t\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[16,32]}}", buf, 16),
           LINSTAB_EDATA, "'t'", "beyond the 16-byte buffer");
    /* end before begin */
    refuse(write_st("rev.safetensors", "{\"t\":{\"dtype\":\"F64\",\"shape\":[0],\"data_offsets\":[16,0]}}", buf, 16),
           LINSTAB_EDATA, "'t'", "end before");
    /* overlapping */
    refuse(write_st("ov.safetensors",
                    "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                    "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[8,24]}}",
                    buf, 24),
           LINSTAB_EDATA, "'a'", "'b' [8, 24] overlap");
    /* a gap between two tensors */
    refuse(write_st("gap.safetensors",
                    "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[16,24]}}",
                    buf, 24),
           LINSTAB_EDATA, "bytes [8, 16)", "belong to no tensor");
    /* a gap at the start, and bytes after the last tensor */
    refuse(write_st("gap0.safetensors", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]}}", buf, 16),
           LINSTAB_EDATA, "bytes [0, 8)", NULL);
    refuse(write_st("tail.safetensors", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", buf, 16),
           LINSTAB_EDATA, "bytes [8, 16)", "after the last tensor");
    refuse(write_st("none.safetensors", "{}", buf, 8), LINSTAB_EDATA, "bytes [0, 8)", NULL);
    /* shape / byte count */
    refuse(write_st("sh.safetensors", "{\"t\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,16]}}", buf, 16),
           LINSTAB_EDATA, "'t'", "needs 24 bytes");
    refuse(write_st("sh32.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", buf, 16),
           LINSTAB_EDATA, "shape [2, 3] of F32 needs 24 bytes", NULL);
    refuse(write_st("ovf.safetensors",
                    "{\"t\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,16]}}", buf, 16),
           LINSTAB_EDATA, "too large", NULL);
}

Test(safetensors, nan_and_infinite_values_are_refused_naming_the_entry)
{
    unsigned char buf[16];
    le64(1.0, buf);
    le64(NAN, buf + 8);
    refuse(write_st("nan.safetensors", "{\"0.weight\":{\"dtype\":\"F64\",\"shape\":[1,2],\"data_offsets\":[0,16]}}", buf,
                    16),
           LINSTAB_EDATA, "'0.weight'", "entry 1 is not finite");
    float inf = INFINITY;
    uint32_t u;
    memcpy(&u, &inf, 4);
    for (int b = 0; b < 4; b++) buf[b] = (unsigned char)(u >> (8 * b));
    refuse(write_st("inf.safetensors", "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", buf, 4),
           LINSTAB_EDATA, "entry 0 is not finite", NULL);
}

Test(safetensors, the_writer_refuses_bad_names_and_leaves_the_old_file)
{
    double a[1] = {1.0};
    linstab_array arr[2] = {{1, {1}, a}, {1, {1}, a}};
    const char *dup[2] = {"x", "x"}, *res[1] = {"__metadata__"}, *empty[1] = {""};
    linstab_error err = {0};
    const char *p = in_dir("w.safetensors");
    cr_assert_eq(linstab_safetensors_write(p, 2, dup, arr, 0, NULL, NULL, &err), LINSTAB_EINVAL);
    cr_assert_eq(linstab_safetensors_write(p, 1, res, arr, 0, NULL, NULL, &err), LINSTAB_EINVAL);
    cr_assert_eq(linstab_safetensors_write(p, 1, empty, arr, 0, NULL, NULL, &err), LINSTAB_EINVAL);
    struct stat sb;
    cr_assert_neq(stat(p, &sb), 0, "nothing written");
    /* a folder that does not exist: EIO, no file */
    cr_assert_eq(linstab_safetensors_write(in_dir("no/such.safetensors"), 1, dup, arr, 0, NULL, NULL, &err),
                 LINSTAB_EIO);
}

/* ---- MLPs ---- */

/* A 3-4-5-2 tanh MLP with biases (or not) and random parameters. */
static linstab_mlp *make_mlp(int bias, linstab_ad_op out_act)
{
    size_t sizes[4] = {3, 4, 5, 2};
    linstab_mlp *m = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_alloc(sizes, 3, LINSTAB_AD_TANH, bias, &m, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(7);
    tu_gauss(r, m->theta, m->p);
    gsl_rng_free(r);
    m->out_act = out_act;
    return m;
}

/* The state dict of m written by hand as torch would: modules 0, 2, 4
 * (Linear, Tanh, Linear, Tanh, Linear), F64, no metadata, tensors listed
 * in reverse order (a JSON object is unordered). */
static const char *write_torch_style(const char *name, const linstab_mlp *m)
{
    char header[4096] = "{";
    size_t at = 1, off = 0;
    unsigned char *buf = malloc(m->p * 8);
    size_t nb = 0;
    for (size_t l = 1; l <= m->nlayers; l++) {
        size_t nw = m->sizes[l] * m->sizes[l - 1];
        const double *w = m->theta + linstab_mlp_w_offset(m, l);
        for (size_t j = 0; j < nw; j++) le64(w[j], buf + 8 * nb++);
        char ent[256];
        snprintf(ent, sizeof ent, "%s\"%zu.weight\":{\"dtype\":\"F64\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}",
                 at > 1 ? "," : "", 2 * (l - 1), m->sizes[l], m->sizes[l - 1], off, off + 8 * nw);
        off += 8 * nw;
        at += (size_t)snprintf(header + at, sizeof header - at, "%s", ent);
        if (!m->bias) continue;
        const double *b = m->theta + linstab_mlp_b_offset(m, l);
        for (size_t j = 0; j < m->sizes[l]; j++) le64(b[j], buf + 8 * nb++);
        snprintf(ent, sizeof ent, ",\"%zu.bias\":{\"dtype\":\"F64\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}",
                 2 * (l - 1), m->sizes[l], off, off + 8 * m->sizes[l]);
        off += 8 * m->sizes[l];
        at += (size_t)snprintf(header + at, sizeof header - at, "%s", ent);
    }
    snprintf(header + at, sizeof header - at, "}");
    const char *p = write_st(name, header, buf, nb * 8);
    free(buf);
    return p;
}

static void assert_same_model(const linstab_mlp *a, const linstab_mlp *b)
{
    cr_assert_eq(a->nlayers, b->nlayers);
    for (size_t l = 0; l <= a->nlayers; l++) cr_assert_eq(a->sizes[l], b->sizes[l]);
    cr_assert_eq(a->act, b->act);
    cr_assert_eq(a->out_act, b->out_act);
    cr_assert_eq(a->bias, b->bias);
    cr_assert_eq(a->p, b->p);
    cr_assert_eq(memcmp(a->theta, b->theta, a->p * sizeof(double)), 0);
    double X[6] = {0.3, -1.2, 0.7, 2.0, 0.1, -0.4}, Fa[4], Fb[4];
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_forward(a, X, 2, Fa, &err), LINSTAB_OK);
    cr_assert_eq(linstab_mlp_forward(b, X, 2, Fb, &err), LINSTAB_OK);
    cr_assert_eq(memcmp(Fa, Fb, sizeof Fa), 0, "forward passes differ");
}

Test(safetensors, a_torch_style_state_dict_gives_the_mlp_of_the_model_json_folder)
{
    for (int bias = 0; bias < 2; bias++) {
        linstab_mlp *m = make_mlp(bias, LINSTAB_MLP_OUT_NONE), *a = NULL, *b = NULL;
        linstab_error err = {0};
        char folder[1100];
        snprintf(folder, sizeof folder, "%s/model%d", dir, bias);
        cr_assert_eq(linstab_mlp_save(m, folder, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(linstab_mlp_load(folder, &a, &err), LINSTAB_OK, "%s", err.msg);
        char nm[32];
        snprintf(nm, sizeof nm, "torch%d.safetensors", bias);
        const char *p = write_torch_style(nm, m);
        cr_assert_eq(linstab_mlp_load_safetensors(p, "tanh", NULL, &b, &err), LINSTAB_OK, "%s", err.msg);
        assert_same_model(a, b);
        linstab_mlp_free(b);
        /* without an activation given or recorded: a usage error */
        cr_assert_eq(linstab_mlp_load_safetensors(p, NULL, NULL, &b, &err), LINSTAB_EINVAL);
        cr_assert_null(b);
        cr_assert_str_eq(err.param, "activation");
        cr_assert_eq(linstab_mlp_load(p, &b, &err), LINSTAB_EINVAL, "linstab_mlp_load reads it, needs an activation");
        cr_assert_eq(linstab_mlp_load_safetensors(p, "swish", NULL, &b, &err), LINSTAB_EINVAL);
        cr_assert_not_null(strstr(err.msg, "swish"));
        linstab_mlp_free(a);
        linstab_mlp_free(m);
    }
}

Test(safetensors, save_then_load_keeps_the_model_and_its_activations)
{
    linstab_mlp *m = make_mlp(1, LINSTAB_AD_SIGMOID), *b = NULL;
    m->act = LINSTAB_AD_GELU;
    linstab_error err = {0};
    const char *p = in_dir("m.safetensors");
    char path[1100];
    snprintf(path, sizeof path, "%s", p);
    cr_assert_eq(linstab_mlp_save_safetensors(m, path, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_mlp_load(path, &b, &err), LINSTAB_OK, "%s", err.msg);
    assert_same_model(m, b);
    linstab_mlp_free(b);
    /* the names are nn.Sequential's */
    linstab_safetensors st;
    cr_assert_eq(linstab_safetensors_read(path, 0, &st, &err), LINSTAB_OK);
    cr_assert_not_null(linstab_safetensors_find(&st, "4.weight"));
    cr_assert_not_null(linstab_safetensors_find(&st, "2.bias"));
    cr_assert_str_eq(linstab_safetensors_meta(&st, "activation"), "gelu");
    cr_assert_str_eq(linstab_safetensors_meta(&st, "output_activation"), "sigmoid");
    linstab_safetensors_free(&st);
    /* the same activation given: fine; another one: refused */
    cr_assert_eq(linstab_mlp_load_safetensors(path, "gelu", "sigmoid", &b, &err), LINSTAB_OK, "%s", err.msg);
    linstab_mlp_free(b);
    cr_assert_eq(linstab_mlp_load_safetensors(path, "tanh", NULL, &b, &err), LINSTAB_EINVAL);
    cr_assert_not_null(strstr(err.msg, "records 'gelu'"), "%s", err.msg);
    cr_assert_eq(linstab_mlp_load_safetensors(path, NULL, "none", &b, &err), LINSTAB_EINVAL);
    linstab_mlp_free(m);
}

Test(safetensors, f32_state_dicts_load_with_the_floats_exact_values)
{
    /* 0.weight 1 x 2, 0.bias 1, F32 */
    float f[3] = {0.1f, -0.3f, 1e-3f};
    unsigned char buf[12];
    for (int i = 0; i < 3; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        for (int b = 0; b < 4; b++) buf[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
    const char *p = write_st("f.safetensors",
                             "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]},"
                             "\"0.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                             buf, 12);
    linstab_mlp *m = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_load_safetensors(p, "relu", NULL, &m, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(m->nlayers, 1);
    for (int i = 0; i < 3; i++) cr_assert_eq(m->theta[i], (double)f[i]);
    cr_assert_eq(m->theta[0], 13421773.0 * 0x1p-27);
    linstab_mlp_free(m);
}

/* Load the state dict of header/buffer and expect EDATA naming n1, n2. */
static void refuse_mlp(const char *name, const char *header, size_t nbytes, const char *n1, const char *n2)
{
    unsigned char *buf = calloc(nbytes ? nbytes : 1, 1);
    for (size_t j = 0; j + 8 <= nbytes; j += 8) le64(0.5, buf + j);
    const char *p = write_st(name, header, buf, nbytes);
    free(buf);
    linstab_mlp *m = NULL;
    linstab_error err = {0};
    linstab_status s = linstab_mlp_load_safetensors(p, "tanh", NULL, &m, &err);
    cr_assert_eq(s, LINSTAB_EDATA, "%s: status %d: %s", name, s, err.msg);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.msg, p), "%s", err.msg);
    if (n1) cr_assert_not_null(strstr(err.msg, n1), "'%s' not in: %s", n1, err.msg);
    if (n2) cr_assert_not_null(strstr(err.msg, n2), "'%s' not in: %s", n2, err.msg);
}

#define W(name, r, c, b, e) "\"" name "\":{\"dtype\":\"F64\",\"shape\":[" #r "," #c "],\"data_offsets\":[" #b "," #e "]}"
#define B(name, r, b, e) "\"" name "\":{\"dtype\":\"F64\",\"shape\":[" #r "],\"data_offsets\":[" #b "," #e "]}"

Test(safetensors, state_dicts_that_are_not_an_mlp_are_refused_naming_the_tensors)
{
    /* names that are not K.weight / K.bias */
    refuse_mlp("n1.safetensors", "{" W("fc1.weight", 2, 3, 0, 48) "}", 48, "'fc1.weight'", "nn.Sequential");
    refuse_mlp("n2.safetensors", "{" W("0.weight", 2, 3, 0, 48) "," B("1.running_mean", 2, 48, 64) "}", 64,
               "'1.running_mean'", NULL);
    refuse_mlp("n3.safetensors", "{" W("00.weight", 2, 3, 0, 48) "}", 48, "'00.weight'", NULL);
    refuse_mlp("n4.safetensors", "{}", 0, "no Linear layer", NULL);
    refuse_mlp("n5.safetensors", "{" B("0.bias", 2, 0, 16) "}", 16, "no Linear layer", NULL);
    /* shapes that do not chain: 0: 2 x 3, 2: 4 x 5 (needs 4 x 2) */
    refuse_mlp("c1.safetensors", "{" W("0.weight", 2, 3, 0, 48) "," W("2.weight", 4, 5, 48, 208) "}", 208,
               "'0.weight' is 2 x 3", "'2.weight' is 4 x 5");
    /* fewer inputs than the previous layer's outputs: 2: 1 x 1 after 2 x 3 */
    refuse_mlp("c2.safetensors", "{" W("0.weight", 2, 3, 0, 48) "," W("2.weight", 1, 1, 48, 56) "}", 56,
               "shapes do not chain", "'2.weight' is 1 x 1");
    /* a weight that is not 2-D, a bias of the wrong length */
    refuse_mlp("d1.safetensors", "{" B("0.weight", 6, 0, 48) "}", 48, "'0.weight' has 1 dimensions", NULL);
    refuse_mlp("d2.safetensors", "{" W("0.weight", 2, 3, 0, 48) "," B("0.bias", 3, 48, 72) "}", 72,
               "'0.bias' must have shape [2]", NULL);
    /* bias all or none; a bias without its weight */
    refuse_mlp("b1.safetensors",
               "{" W("0.weight", 2, 3, 0, 48) "," B("0.bias", 2, 48, 64) "," W("2.weight", 1, 2, 64, 80) "}", 80,
               "'2.weight' has no '2.bias'", "all or none");
    refuse_mlp("b2.safetensors",
               "{" W("0.weight", 2, 3, 0, 48) "," B("0.bias", 2, 48, 64) "," B("2.bias", 1, 64, 72) "}", 72,
               "'2.bias' has no '2.weight'", NULL);
    /* two Linear layers without an activation between them */
    refuse_mlp("g1.safetensors", "{" W("0.weight", 2, 3, 0, 48) "," W("1.weight", 1, 2, 48, 64) "}", 64,
               "0.weight and 1.weight are consecutive", NULL);
    /* NaN weights (the reader refuses them) */
    unsigned char buf[48];
    for (int j = 0; j < 6; j++) le64(j == 4 ? NAN : 1.0, buf + 8 * j);
    const char *p = write_st("nanw.safetensors", "{" W("0.weight", 2, 3, 0, 48) "}", buf, 48);
    linstab_mlp *m = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_load_safetensors(p, "tanh", NULL, &m, &err), LINSTAB_EDATA);
    cr_assert_not_null(strstr(err.msg, "'0.weight': entry 4 is not finite"), "%s", err.msg);
    /* an unknown activation recorded in the file is bad data */
    p = write_st("meta.safetensors", "{\"__metadata__\":{\"activation\":\"swish\"}," W("0.weight", 2, 3, 0, 48) "}", buf,
                 48);
    for (int j = 0; j < 6; j++) le64(1.0, buf + 8 * j);
    p = write_st("meta.safetensors", "{\"__metadata__\":{\"activation\":\"swish\"}," W("0.weight", 2, 3, 0, 48) "}", buf,
                 48);
    cr_assert_eq(linstab_mlp_load_safetensors(p, NULL, NULL, &m, &err), LINSTAB_EDATA);
    cr_assert_not_null(strstr(err.msg, "swish"), "%s", err.msg);
}

Test(safetensors, gaps_of_several_modules_and_a_first_index_above_zero_are_accepted)
{
    /* nn.Sequential(Flatten, Linear, Tanh, Dropout, Linear): modules 1 and 4 */
    unsigned char buf[64];
    for (int j = 0; j < 8; j++) le64(0.25 * j, buf + 8 * j);
    const char *p = write_st("gap.safetensors", "{" W("4.weight", 1, 2, 48, 64) "," W("1.weight", 2, 3, 0, 48) "}", buf, 64);
    linstab_mlp *m = NULL;
    linstab_error err = {0};
    cr_assert_eq(linstab_mlp_load_safetensors(p, "tanh", NULL, &m, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(m->nlayers, 2);
    cr_assert_eq(m->sizes[0], 3);
    cr_assert_eq(m->sizes[1], 2);
    cr_assert_eq(m->sizes[2], 1);
    cr_assert_eq(m->bias, 0);
    for (int j = 0; j < 8; j++) cr_assert_eq(m->theta[j], 0.25 * j);
    linstab_mlp_free(m);
}
