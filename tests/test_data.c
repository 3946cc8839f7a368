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

Test(labels, one_hot_rows_become_labels_and_soft_targets_are_refused)
{
    linstab_error err;
    linstab_array Y = {.ndim = 2, .shape = {3, 4}};
    const double oh[12] = {0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    Y.data = malloc(sizeof oh);
    memcpy(Y.data, oh, sizeof oh);
    cr_assert_eq(linstab_labels_from_onehot(&Y, 4, &err), LINSTAB_OK);
    cr_expect_eq(Y.ndim, 1);
    cr_expect_eq(Y.shape[0], 3);
    cr_expect(Y.data[0] == 2.0 && Y.data[1] == 0.0 && Y.data[2] == 3.0);
    /* already labels: untouched */
    cr_assert_eq(linstab_labels_from_onehot(&Y, 4, &err), LINSTAB_OK);
    cr_expect(Y.ndim == 1 && Y.data[2] == 3.0);
    linstab_array_free(&Y);
    /* a smoothed row and a row with two ones are not one-hot */
    const double bad[2][8] = {{0, 1, 0, 0, 0.05, 0.85, 0.05, 0.05}, {1, 0, 0, 0, 1, 1, 0, 0}};
    for (int t = 0; t < 2; t++) {
        linstab_array Z = {.ndim = 2, .shape = {2, 4}};
        Z.data = malloc(sizeof bad[t]);
        memcpy(Z.data, bad[t], sizeof bad[t]);
        cr_expect_eq(linstab_labels_from_onehot(&Z, 4, &err), LINSTAB_EDATA);
        cr_expect(strstr(err.msg, "row 1") != NULL, "%s", err.msg);
        cr_expect_eq(Z.ndim, 2);
        linstab_array_free(&Z);
    }
}
