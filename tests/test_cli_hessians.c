/*
 * test_cli_hessians.c -- `linstab hessians --matrix-free` end to end: the
 * sharpness and s_2^2 it prints, for the exact Hessians and (--gn) for the
 * Gauss-Newton ones of a cross-entropy network off a minimum, against
 * dense matrices built in the test from the per-sample Hessians or factors
 * the same command writes (H = mean, M_2 = mean of squares, LAPACK dsyev).
 * The Lanczos tolerance is 1e-8 relative: 1e-6 of lambda1 (lambda1^2 for
 * s_2^2) is far above it and far below any error of a factor.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "linstab/npy.h"
#include "testutil.h"

TestSuite(cli_hessians, .init = cu_setup, .fini = cu_teardown);

static linstab_array read_npy(const char *name)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", cu_dir, name);
    linstab_array a = {0};
    linstab_error err;
    cr_assert_eq(linstab_npy_read_numeric(path, 0, &a, &err), LINSTAB_OK, "%s", err.msg);
    return a;
}

Test(cli_hessians, matrix_free_sharpness_and_s2_exact_and_gn_equal_dense_matrices_of_the_written_hessians)
{
    /* a few steps of cross-entropy: off a minimum, the exact H_i indefinite */
    cr_assert_eq(cu_run("train --layers 3,6,3 --teacher 40 --loss ce --steps 20 --eta 0.1 --batch 8 --seed 4 "
                        "--save-data --quiet --out m"),
                 0, "%s", cu_slurp(cu_err));
    const char *base = "hessians --model m --data m/X.npy --targets m/Y.npy --loss ce";
    for (int gn = 0; gn <= 1; gn++) {
        cr_assert_eq(cu_run("%s %s --matrix-free", base, gn ? "--gn" : ""), 0, "%s", cu_slurp(cu_err));
        char *json = cu_slurp(cu_out);
        cr_expect(strstr(json, gn ? "\"curvature\": \"gn\"" : "\"curvature\": \"exact\"") != NULL, "%s", json);
        double l1 = cu_json_number(json, NULL, "sharpness"), gap = cu_json_number(json, NULL, "m2_gap");
        cr_assert_eq(cu_run("%s %s --out h.npy --quiet", base, gn ? "--gn" : ""), 0, "%s", cu_slurp(cu_err));
        linstab_array a = read_npy("h.npy");
        size_t n = a.shape[0], p = a.shape[1];
        double *Hs = a.data;
        if (gn) { /* factors U_i (p x k): G_i = U_i U_i' */
            size_t k = a.shape[2];
            Hs = malloc(n * p * p * sizeof *Hs);
            for (size_t i = 0; i < n; i++)
                for (size_t q = 0; q < p; q++)
                    for (size_t r = 0; r < p; r++) {
                        double s = 0.0;
                        for (size_t o = 0; o < k; o++) s += a.data[(i * p + q) * k + o] * a.data[(i * p + r) * k + o];
                        Hs[(i * p + q) * p + r] = s;
                    }
        }
        double l1_ref, gap_ref;
        tu_second_moment_top(n, p, Hs, &l1_ref, &gap_ref);
        cr_expect(fabs(l1 - l1_ref) <= 1e-6 * fabs(l1_ref), "gn %d: sharpness %.17g vs dense %.17g", gn, l1, l1_ref);
        cr_expect(fabs(gap - gap_ref) <= 1e-6 * l1_ref * l1_ref, "gn %d: s2^2 %.17g vs dense %.17g", gn, gap,
                  gap_ref);
        if (Hs != a.data) free(Hs);
        free(a.data);
        free(json);
    }
}
