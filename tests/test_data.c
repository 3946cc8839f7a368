/*
 * test_data.c -- IDX files (plain and gzip'd) and teacher-student data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <zlib.h>

#include "linstab/data.h"
#include "testutil.h"

/* An IDX3 file of 3 images of 2 x 2 bytes, gzip'd or not. */
static char *write_idx(int gz, const unsigned char *hdr, size_t hlen)
{
    char *path = tu_tmppath(gz ? ".idx.gz" : ".idx");
    unsigned char pix[12] = {0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
    gzFile f = gzopen(path, gz ? "wb" : "wbT");
    cr_assert_not_null(f);
    gzwrite(f, hdr, (unsigned)hlen);
    gzwrite(f, pix, sizeof pix);
    gzclose(f);
    return path;
}

static const unsigned char idx3[16] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};

Test(idx, reads_plain_and_gzipped_files_with_a_subset_and_scaling)
{
    for (int gz = 0; gz < 2; gz++) {
        char *path = write_idx(gz, idx3, sizeof idx3);
        linstab_array a;
        linstab_error err;
        cr_assert_eq(linstab_data_idx_read(path, 0, 1.0 / 255.0, &a, &err), LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(a.ndim, 2);
        cr_expect_eq(a.shape[0], 3);
        cr_expect_eq(a.shape[1], 4);
        cr_expect_eq(a.data[1], 1.0);
        cr_expect_lt(fabs(a.data[11] - 100.0 / 255.0), 1e-15);
        linstab_npy_array_free(&a);
        cr_assert_eq(linstab_data_idx_read(path, 2, 1.0, &a, &err), LINSTAB_OK);
        cr_expect_eq(a.shape[0], 2);
        cr_expect_eq(a.data[7], 60.0);
        linstab_npy_array_free(&a);
        remove(path);
        free(path);
    }
}

Test(idx, rejects_bad_magic_other_types_and_truncation)
{
    unsigned char bad[16];
    memcpy(bad, idx3, 16);
    bad[0] = 1;
    char *path = write_idx(1, bad, 16);
    linstab_array a;
    linstab_error err = {0};
    cr_expect_eq(linstab_data_idx_read(path, 0, 1.0, &a, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "magic") != NULL, "%s", err.msg);
    remove(path);
    free(path);
    memcpy(bad, idx3, 16);
    bad[2] = 0x0D; /* float */
    path = write_idx(0, bad, 16);
    cr_expect_eq(linstab_data_idx_read(path, 0, 1.0, &a, &err), LINSTAB_EDATA);
    remove(path);
    free(path);
    memcpy(bad, idx3, 16);
    bad[7] = 9; /* claims 9 images, holds 3 */
    path = write_idx(1, bad, 16);
    cr_expect_eq(linstab_data_idx_read(path, 0, 1.0, &a, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "truncated") != NULL, "%s", err.msg);
    remove(path);
    free(path);
    cr_expect_eq(linstab_data_idx_read("/nonexistent/x.idx", 0, 1.0, &a, &err), LINSTAB_EIO);
}

/* A file holding exactly the given bytes, gzip'd or not; caller frees. */
static char *write_raw(int gz, const unsigned char *bytes, size_t len)
{
    char *path = tu_tmppath(gz ? ".idx.gz" : ".idx");
    gzFile f = gzopen(path, gz ? "wb" : "wbT");
    cr_assert_not_null(f);
    if (len > 0) cr_assert_eq(gzwrite(f, bytes, (unsigned)len), (int)len);
    cr_assert_eq(gzclose(f), Z_OK);
    return path;
}

static void expect_idx_error(const char *path, size_t limit, linstab_status code, const char *fragment)
{
    linstab_array a = {.ndim = 7};
    linstab_error err = {0};
    cr_expect_eq(linstab_data_idx_read(path, limit, 1.0, &a, &err), code, "%s", err.msg);
    cr_expect(strstr(err.msg, fragment) != NULL, "message lacks \"%s\": %s", fragment, err.msg);
    cr_expect(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    cr_expect_null(a.data);
    cr_expect_eq(a.ndim, 0);
}

Test(idx, header_sizes_are_checked_against_the_file_before_allocation)
{
    /* plain: 60000 images of 28 x 28 claimed, 12 bytes held */
    unsigned char buf[28] = {0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28};
    char *path = write_raw(0, buf, sizeof buf);
    expect_idx_error(path, 0, LINSTAB_EDATA,
                     "truncated data (the header says 60000 items of 784 bytes, 47040000 bytes; the file has 12 "
                     "after the header)");
    remove(path);
    free(path);
    /* gzip'd: 10^6 items of 784 bytes cannot come out of a file this small
     * (deflate inflates at most 1032-fold) */
    buf[4] = 0x00, buf[5] = 0x0f, buf[6] = 0x42, buf[7] = 0x40; /* 1000000 */
    path = write_raw(1, buf, sizeof buf);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_lt((double)sb.st_size * 1032 + 1024, 784e6);
    char want[200];
    snprintf(want, sizeof want,
             "the header says 1000000 items of 784 bytes, 784000000 bytes, more than a gzip file of %lld bytes can hold",
             (long long)sb.st_size);
    expect_idx_error(path, 0, LINSTAB_EDATA, want);
    remove(path);
    free(path);
    /* 2^32 - 1 items of 2^16 x 2^16 bytes: 2^64 - 2^32 bytes fit, their
     * float64 copy (8 times as many) does not */
    memset(buf + 4, 0xff, 4);
    memcpy(buf + 8, (unsigned char[]){0, 1, 0, 0, 0, 1, 0, 0}, 8);
    path = write_raw(1, buf, 16);
    expect_idx_error(path, 0, LINSTAB_EDATA,
                     "4294967295 items of 4294967296 bytes need 1.48e+20 bytes as float64, more than the address "
                     "space holds");
    remove(path);
    free(path);
    /* 100000 labels from a gzip file of a few dozen bytes: above 1032 times
     * its size (plus 1024), below 100 times that */
    unsigned char lab[8] = {0, 0, 8, 1, 0, 0x01, 0x86, 0xa0};
    path = write_raw(1, lab, sizeof lab);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_gt(100000.0, 1032.0 * (double)sb.st_size + 1024);
    cr_assert_lt(100000.0, 103200.0 * (double)sb.st_size);
    snprintf(want, sizeof want, "the header says 100000 items of 1 bytes, 100000 bytes, more than a gzip file of %lld bytes can hold",
             (long long)sb.st_size);
    expect_idx_error(path, 0, LINSTAB_EDATA, want);
    remove(path);
    free(path);
    /* 2^32 - 1 items of (2^32 - 1)^2 bytes: the product overflows 64 bits */
    memset(buf + 4, 0xff, 12);
    path = write_raw(1, buf, 16);
    expect_idx_error(path, 0, LINSTAB_EDATA,
                     "4294967295 items of 18446744065119617025 bytes need 6.34e+29 bytes as float64, more than the "
                     "address space holds");
    remove(path);
    free(path);
}

Test(idx, a_subset_of_a_short_file_is_read_when_the_file_holds_it)
{
    /* 9 images claimed, 3 held (12 bytes): the first 3 are there */
    unsigned char buf[28] = {0, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0, 2};
    for (int j = 0; j < 12; j++) buf[16 + j] = (unsigned char)(10 * j);
    for (int gz = 0; gz < 2; gz++) {
        char *path = write_raw(gz, buf, sizeof buf);
        linstab_array a;
        linstab_error err = {0};
        cr_assert_eq(linstab_data_idx_read(path, 3, 0.5, &a, &err), LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(a.shape[0], 3);
        cr_expect_eq(a.shape[1], 4);
        for (int j = 0; j < 12; j++) cr_expect_eq(a.data[j], 5.0 * j);
        linstab_npy_array_free(&a);
        /* 4 items of 4 bytes: the file holds 12 after the header */
        expect_idx_error(path, 4, LINSTAB_EDATA,
                         gz ? "truncated data (4 items of 4 bytes expected, 12 bytes read)"
                            : "truncated data (the header says 4 items of 4 bytes, 16 bytes; the file has 12 after "
                              "the header)");
        remove(path);
        free(path);
    }
}

/* Write len bytes into the FIFO path from a child process. */
static pid_t feed_fifo(const char *path, const unsigned char *bytes, size_t len)
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

Test(idx, a_pipe_is_read_in_chunks_and_a_false_header_costs_only_what_arrives)
{
    char *path = tu_tmppath(".fifo");
    cr_assert_eq(mkfifo(path, 0600), 0);
    /* 200000 labels: more than one read chunk, so the buffer grows */
    size_t n = 200000;
    unsigned char *buf = malloc(8 + n);
    memcpy(buf, (unsigned char[]){0, 0, 8, 1, 0, 0x03, 0x0d, 0x40}, 8);
    for (size_t i = 0; i < n; i++) buf[8 + i] = (unsigned char)(i * 7 % 256);
    pid_t pid = feed_fifo(path, buf, 8 + n);
    linstab_array a;
    linstab_error err = {0};
    cr_assert_eq(linstab_data_idx_read(path, 0, 1.0, &a, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(a.ndim, 1);
    cr_expect_eq(a.shape[0], n);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += a.data[i] != (double)(i * 7 % 256);
    cr_expect_eq(wrong, 0);
    linstab_npy_array_free(&a);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    /* a header claiming 2^32 - 1 items of 65536 bytes (2.3e15 bytes as
     * float64, far beyond memory): a stream has no size to check first, so
     * the buffer grows with the data; the stream ends after 100 bytes and
     * that is what is said, not "out of memory" */
    memcpy(buf, (unsigned char[]){0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0}, 12);
    pid = feed_fifo(path, buf, 112);
    expect_idx_error(path, 0, LINSTAB_EDATA,
                     "truncated data (4294967295 items of 65536 bytes expected, 100 bytes read)");
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    free(buf);
    remove(path);
    free(path);
}

Test(teacher_student, a_sample_count_whose_size_overflows_is_refused_not_allocated)
{
    size_t sizes[3] = {4, 6, 2};
    linstab_array X = {0}, Y = {0};
    linstab_error err = {0};
    cr_expect_eq(linstab_data_teacher_student(sizes, 2, LINSTAB_AD_TANH, SIZE_MAX / 16, 3, &X, &Y, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "samples of 4 inputs and 2 outputs need") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "more than the address space holds") != NULL, "%s", err.msg);
    cr_expect_null(X.data);
    cr_expect_null(Y.data);
}

Test(teacher_student, targets_are_the_teacher_outputs_and_reproducible)
{
    size_t sizes[3] = {4, 6, 2};
    linstab_array X1, Y1, X2, Y2;
    linstab_error err;
    cr_assert_eq(linstab_data_teacher_student(sizes, 2, LINSTAB_AD_TANH, 10, 3, &X1, &Y1, &err), LINSTAB_OK);
    cr_assert_eq(linstab_data_teacher_student(sizes, 2, LINSTAB_AD_TANH, 10, 3, &X2, &Y2, &err), LINSTAB_OK);
    cr_expect_eq(memcmp(X1.data, X2.data, 40 * sizeof(double)), 0);
    cr_expect_eq(memcmp(Y1.data, Y2.data, 20 * sizeof(double)), 0);
    cr_expect_eq(Y1.shape[1], 2);
    linstab_npy_array_free(&X1);
    linstab_npy_array_free(&Y1);
    linstab_npy_array_free(&X2);
    linstab_npy_array_free(&Y2);
}

Test(labels, one_hot_rows_become_labels_and_soft_targets_are_refused)
{
    linstab_error err;
    linstab_array Y = {.ndim = 2, .shape = {3, 4}};
    const double oh[12] = {0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    Y.data = malloc(sizeof oh);
    memcpy(Y.data, oh, sizeof oh);
    cr_assert_eq(linstab_data_labels_from_onehot(&Y, 4, &err), LINSTAB_OK);
    cr_expect_eq(Y.ndim, 1);
    cr_expect_eq(Y.shape[0], 3);
    cr_expect(Y.data[0] == 2.0 && Y.data[1] == 0.0 && Y.data[2] == 3.0);
    /* already labels: untouched */
    cr_assert_eq(linstab_data_labels_from_onehot(&Y, 4, &err), LINSTAB_OK);
    cr_expect(Y.ndim == 1 && Y.data[2] == 3.0);
    linstab_npy_array_free(&Y);
    /* a smoothed row and a row with two ones are not one-hot */
    const double bad[2][8] = {{0, 1, 0, 0, 0.05, 0.85, 0.05, 0.05}, {1, 0, 0, 0, 1, 1, 0, 0}};
    for (int t = 0; t < 2; t++) {
        linstab_array Z = {.ndim = 2, .shape = {2, 4}};
        Z.data = malloc(sizeof bad[t]);
        memcpy(Z.data, bad[t], sizeof bad[t]);
        cr_expect_eq(linstab_data_labels_from_onehot(&Z, 4, &err), LINSTAB_EDATA);
        cr_expect(strstr(err.msg, "row 1") != NULL, "%s", err.msg);
        cr_expect(strstr(err.msg, "--") == NULL, "the library names no flag: %s", err.msg);
        cr_expect_eq(Z.ndim, 2);
        linstab_npy_array_free(&Z);
    }
}
