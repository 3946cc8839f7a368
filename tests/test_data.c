/*
 * test_data.c -- IDX files (plain and gzip'd) and teacher-student data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        cr_assert_eq(linstab_idx_read(path, 0, 1.0 / 255.0, &a, &err), LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(a.ndim, 2);
        cr_expect_eq(a.shape[0], 3);
        cr_expect_eq(a.shape[1], 4);
        cr_expect_eq(a.data[1], 1.0);
        cr_expect_lt(fabs(a.data[11] - 100.0 / 255.0), 1e-15);
        linstab_array_free(&a);
        cr_assert_eq(linstab_idx_read(path, 2, 1.0, &a, &err), LINSTAB_OK);
        cr_expect_eq(a.shape[0], 2);
        cr_expect_eq(a.data[7], 60.0);
        linstab_array_free(&a);
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
    cr_expect_eq(linstab_idx_read(path, 0, 1.0, &a, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "magic") != NULL, "%s", err.msg);
    remove(path);
    free(path);
    memcpy(bad, idx3, 16);
    bad[2] = 0x0D; /* float */
    path = write_idx(0, bad, 16);
    cr_expect_eq(linstab_idx_read(path, 0, 1.0, &a, &err), LINSTAB_EDATA);
    remove(path);
    free(path);
    memcpy(bad, idx3, 16);
    bad[7] = 9; /* claims 9 images, holds 3 */
    path = write_idx(1, bad, 16);
    cr_expect_eq(linstab_idx_read(path, 0, 1.0, &a, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "truncated") != NULL, "%s", err.msg);
    remove(path);
    free(path);
    cr_expect_eq(linstab_idx_read("/nonexistent/x.idx", 0, 1.0, &a, &err), LINSTAB_EIO);
}

Test(teacher_student, targets_are_the_teacher_outputs_and_reproducible)
{
    size_t sizes[3] = {4, 6, 2};
    linstab_array X1, Y1, X2, Y2;
    linstab_error err;
    cr_assert_eq(linstab_teacher_student(sizes, 2, LINSTAB_AD_TANH, 10, 3, &X1, &Y1, &err), LINSTAB_OK);
    cr_assert_eq(linstab_teacher_student(sizes, 2, LINSTAB_AD_TANH, 10, 3, &X2, &Y2, &err), LINSTAB_OK);
    cr_expect_eq(memcmp(X1.data, X2.data, 40 * sizeof(double)), 0);
    cr_expect_eq(memcmp(Y1.data, Y2.data, 20 * sizeof(double)), 0);
    cr_expect_eq(Y1.shape[1], 2);
    linstab_array_free(&X1);
    linstab_array_free(&Y1);
    linstab_array_free(&X2);
    linstab_array_free(&Y2);
}
