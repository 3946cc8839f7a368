/*
 * test_mlp.c -- the MLP's forward pass, loss values, evaluation, data
 * checks and its NTK Gram matrix.
 *
 * The NTK Gram matrix G_ij = J_i J_j' (assembled layer by layer without
 * Jacobians) against the products of the per-sample Jacobians from
 * linstab_mlp_sample_jacobian_t (a second algorithm; those Jacobians are
 * tested against finite differences in test_ad.c); the Gram route to the
 * Gauss-Newton family against the factored family of those Jacobians; the
 * data checks name the offending sample.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/family.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/train.h"
#include "testutil.h"

static linstab_mlp *net(linstab_ad_op act, int bias, unsigned long seed, size_t *sizes, size_t L)
{
    linstab_mlp *m = NULL;
    linstab_error err;
    cr_assert_eq(linstab_mlp_alloc(sizes, L, act, bias, &m, &err), LINSTAB_OK);
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, m->theta, m->p);
    for (size_t j = 0; j < m->p; j++) m->theta[j] *= 0.6;
    gsl_rng_free(r);
    return m;
}

static linstab_array matrix(size_t rows, size_t cols, unsigned long seed)
{
    linstab_array a = {2, {rows, cols}, malloc(rows * cols * sizeof(double))};
    gsl_rng *r = tu_rng(seed);
    tu_gauss(r, a.data, rows * cols);
    gsl_rng_free(r);
    return a;
}

Test(mlp_ntk, gram_blocks_are_products_of_the_sample_jacobians)
{
    size_t sizes[4] = {3, 5, 4, 2};
    linstab_ad_op acts[3] = {LINSTAB_AD_TANH, LINSTAB_AD_GELU, LINSTAB_AD_SOFTPLUS};
    for (int a = 0; a < 3; a++)
        for (int bias = 0; bias <= 1; bias++) {
            linstab_mlp *m = net(acts[a], bias, 90 + a, sizes, 3);
            size_t n = 6, k = 2, p = m->p, nk = n * k;
            linstab_array X = matrix(n, 3, 91);
            double *G = malloc(nk * nk * sizeof *G), *U = malloc(n * p * k * sizeof *U);
            linstab_error err;
            cr_assert_eq(linstab_mlp_ntk_gram(m, &X, G, &err), LINSTAB_OK, "%s", err.msg);
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(linstab_mlp_sample_jacobian_t(m, X.data + i * 3, U + i * p * k, &err), LINSTAB_OK);
            double scale = 0.0;
            for (size_t q = 0; q < n * p * k; q++) scale = fmax(scale, fabs(U[q]));
            for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < k; c++)
                    for (size_t j = 0; j < n; j++)
                        for (size_t e = 0; e < k; e++) {
                            double s = 0.0; /* (U_i' U_j)[c][e] */
                            for (size_t q = 0; q < p; q++) s += U[i * p * k + q * k + c] * U[j * p * k + q * k + e];
                            double got = G[(i * k + c) * nk + j * k + e];
                            /* sums of p products of entries <= scale: c p eps scale^2 */
                            cr_expect(fabs(got - s) <= tu_tol(p, 1.0) * scale * scale * 4,
                                      "act %d bias %d block (%zu, %zu) [%zu][%zu]: %.17g vs %.17g", a, bias, i, j, c, e,
                                      got, s);
                        }
            /* the restricted Gauss-Newton family from the Gram matrix has the
             * invariants of the factored family U_i: tr(H_i H_j) */
            linstab_family *fg = NULL, *fu = NULL;
            size_t rank;
            cr_assert_eq(linstab_family_from_gram(n, k, p, G, 0.0, &fg, &rank, &err), LINSTAB_OK, "%s", err.msg);
            cr_assert_eq(linstab_family_alloc(LINSTAB_FAMILY_FACTORED, n, p, k, &fu, &err), LINSTAB_OK);
            memcpy(fu->data, U, n * p * k * sizeof *U);
            double *T1 = malloc(n * n * sizeof *T1), *T2 = malloc(n * n * sizeof *T2);
            cr_assert_eq(linstab_family_gram(fg, T1, &err), LINSTAB_OK);
            cr_assert_eq(linstab_family_gram(fu, T2, &err), LINSTAB_OK);
            cr_expect_lt(tu_rel_diff(T1, T2, n * n), tu_tol(nk, 1.0) * 16, "act %d bias %d: tr(H_i H_j)", a, bias);
            cr_expect_eq(linstab_family_ambient_dim(fg), p);
            free(T1);
            free(T2);
            linstab_family_free(fg);
            linstab_family_free(fu);
            free(G);
            free(U);
            linstab_npy_array_free(&X);
            linstab_mlp_free(m);
        }
}

Test(mlp_data, checks_shapes_values_and_labels_naming_the_sample)
{
    size_t sizes[3] = {3, 4, 2};
    linstab_mlp *m = net(LINSTAB_AD_TANH, 1, 95, sizes, 2);
    linstab_error err;
    linstab_array X = matrix(5, 3, 96), Y = matrix(5, 2, 97);
    cr_expect_eq(linstab_mlp_check_data(m, &X, &Y, LINSTAB_LOSS_MSE, &err), LINSTAB_OK, "%s", err.msg);
    /* labels for cross-entropy: 5 class indices in [0, 2) */
    double lab[5] = {0, 1, 1, 0, 1};
    linstab_array L = {1, {5}, lab};
    cr_expect_eq(linstab_mlp_check_data(m, &X, &L, LINSTAB_LOSS_CE, &err), LINSTAB_OK, "%s", err.msg);
    lab[3] = 2; /* out of range */
    cr_expect_eq(linstab_mlp_check_data(m, &X, &L, LINSTAB_LOSS_CE, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "3") != NULL, "names sample 3: %s", err.msg);
    lab[3] = 0.5; /* not an integer */
    cr_expect_eq(linstab_mlp_check_data(m, &X, &L, LINSTAB_LOSS_CE, &err), LINSTAB_EDATA);
    lab[3] = 1;
    X.data[2 * 3 + 1] = NAN;
    cr_expect_eq(linstab_mlp_check_data(m, &X, &Y, LINSTAB_LOSS_MSE, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "2") != NULL, "names sample 2: %s", err.msg);
    X.data[2 * 3 + 1] = 0.0;
    Y.data[4 * 2] = INFINITY;
    cr_expect_eq(linstab_mlp_check_data(m, &X, &Y, LINSTAB_LOSS_MSE, &err), LINSTAB_EDATA);
    Y.data[4 * 2] = 0.0;
    linstab_array Xbad = {2, {5, 4}, X.data}; /* 4 features, the model takes 3 */
    cr_expect_eq(linstab_mlp_check_data(m, &Xbad, &Y, LINSTAB_LOSS_MSE, &err), LINSTAB_EDATA);
    linstab_array Ybad = {2, {4, 2}, Y.data}; /* 4 targets for 5 inputs */
    cr_expect_eq(linstab_mlp_check_data(m, &X, &Ybad, LINSTAB_LOSS_MSE, &err), LINSTAB_EDATA);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
}

/* f(x) of one row by plain loops: z = W a + b, a = act(z) */
static void forward_by_loops(const linstab_mlp *m, const double *x, double *f)
{
    double a[16], z[16];
    memcpy(a, x, m->sizes[0] * sizeof *a);
    for (size_t l = 1; l <= m->nlayers; l++) {
        const double *W = m->theta + linstab_mlp_w_offset(m, l);
        for (size_t r = 0; r < m->sizes[l]; r++) {
            z[r] = m->bias ? m->theta[linstab_mlp_b_offset(m, l) + r] : 0.0;
            for (size_t c = 0; c < m->sizes[l - 1]; c++) z[r] += W[r * m->sizes[l - 1] + c] * a[c];
        }
        for (size_t r = 0; r < m->sizes[l]; r++) {
            double d1, d2;
            if (l < m->nlayers)
                linstab_ad_activation(m->act, z[r], &a[r], &d1, &d2);
            else
                a[r] = z[r];
        }
    }
    memcpy(f, a, m->sizes[m->nlayers] * sizeof *f);
}

Test(mlp_forward, outputs_are_the_layer_by_layer_formula_for_every_activation)
{
    size_t sizes[4] = {3, 5, 4, 2};
    linstab_ad_op acts[5] = {LINSTAB_AD_TANH, LINSTAB_AD_RELU, LINSTAB_AD_SIGMOID, LINSTAB_AD_SOFTPLUS, LINSTAB_AD_GELU};
    for (int a = 0; a < 5; a++)
        for (int bias = 0; bias <= 1; bias++)
            for (size_t L = 1; L <= 3; L++) {
                size_t sz[4] = {3, L == 1 ? 2 : 5, L == 2 ? 2 : 4, 2};
                linstab_mlp *m = net(acts[a], bias, 100 + a, L == 3 ? sizes : sz, L);
                size_t n = 7, k = m->sizes[L];
                linstab_array X = matrix(n, 3, 101);
                double F[14], want[2];
                linstab_error err;
                cr_assert_eq(linstab_mlp_forward(m, X.data, n, F, &err), LINSTAB_OK, "%s", err.msg);
                for (size_t i = 0; i < n; i++) {
                    forward_by_loops(m, X.data + 3 * i, want);
                    for (size_t c = 0; c < k; c++)
                        cr_expect(fabs(F[i * k + c] - want[c]) <= 64 * 2.3e-16 * (1 + fabs(want[c])),
                                  "act %d bias %d L %zu row %zu out %zu: %.17g vs %.17g", a, bias, L, i, c, F[i * k + c],
                                  want[c]);
                }
                linstab_npy_array_free(&X);
                linstab_mlp_free(m);
            }
}

Test(mlp_forward, the_loss_value_and_evaluation_are_the_autograd_numbers_exactly)
{
    size_t sizes[4] = {3, 6, 5, 3};
    linstab_mlp *m = net(LINSTAB_AD_GELU, 1, 110, sizes, 3);
    size_t n = 300; /* two evaluation chunks: 256 + 44 */
    linstab_array X = matrix(n, 3, 111), Y = matrix(n, 3, 112);
    linstab_array L = {1, {n}, malloc(n * sizeof(double))};
    for (size_t i = 0; i < n; i++) L.data[i] = (double)((i * 7) % 3);
    double *g = malloc(m->p * sizeof *g);
    linstab_error err;
    for (int ce = 0; ce <= 1; ce++) {
        linstab_loss loss = ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
        const linstab_array *T = ce ? &L : &Y;
        size_t ty = ce ? 1 : 3;
        double s = ce ? 0.1 : 0.0;
        /* the value alone (forward pass) and with the gradient (graph) */
        double v_fwd, v_tape;
        cr_assert_eq(linstab_mlp_loss(m, X.data, T->data, n, loss, s, NULL, &v_fwd, NULL, NULL, &err), LINSTAB_OK);
        cr_assert_eq(linstab_mlp_loss(m, X.data, T->data, n, loss, s, NULL, &v_tape, g, NULL, &err), LINSTAB_OK);
        cr_expect_eq(v_fwd, v_tape, "ce %d: %.17g vs %.17g", ce, v_fwd, v_tape);
        /* evaluation: the chunks' tape sums, and the argmax of the outputs */
        double a, b, mean, acc;
        cr_assert_eq(linstab_mlp_loss(m, X.data, T->data, 256, loss, s, NULL, &a, g, NULL, &err), LINSTAB_OK);
        cr_assert_eq(linstab_mlp_loss(m, X.data + 256 * 3, T->data + 256 * ty, n - 256, loss, s, NULL, &b, g, NULL,
                                      &err),
                     LINSTAB_OK);
        cr_assert_eq(linstab_mlp_evaluate(m, &X, T, loss, s, &mean, &acc, &err), LINSTAB_OK, "%s", err.msg);
        cr_expect_eq(mean, (a + b) / (double)n, "ce %d: %.17g vs %.17g", ce, mean, (a + b) / (double)n);
        double *F = malloc(n * 3 * sizeof *F);
        cr_assert_eq(linstab_mlp_forward(m, X.data, n, F, &err), LINSTAB_OK);
        size_t correct = 0;
        for (size_t i = 0; i < n; i++) {
            size_t af = 0, ay = 0;
            for (size_t c = 1; c < 3; c++) {
                if (F[i * 3 + c] > F[i * 3 + af]) af = c;
                if (!ce && Y.data[i * 3 + c] > Y.data[i * 3 + ay]) ay = c;
            }
            if (ce) ay = (size_t)L.data[i];
            correct += af == ay;
        }
        cr_expect_eq(acc, (double)correct / (double)n, "ce %d", ce);
        free(F);
    }
    /* a label out of range in the second chunk is named by its row */
    L.data[270] = 3;
    double mean, acc;
    cr_expect_eq(linstab_mlp_evaluate(m, &X, &L, LINSTAB_LOSS_CE, 0.0, &mean, &acc, &err), LINSTAB_EDATA);
    cr_expect(strstr(err.msg, "sample 270") != NULL, "%s", err.msg);
    free(g);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_npy_array_free(&L);
    linstab_mlp_free(m);
}

Test(mlp_family, the_per_sample_sharpness_follows_the_data_after_validation)
{
    size_t sizes[3] = {3, 4, 2};
    linstab_mlp *m = net(LINSTAB_AD_TANH, 1, 120, sizes, 2);
    linstab_array X = matrix(5, 3, 121), Y = matrix(5, 2, 122);
    linstab_error err;
    for (int gn = 0; gn <= 1; gn++) {
        linstab_family *f = NULL;
        cr_assert_eq(linstab_mlp_family(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, gn, 0, &f, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(linstab_family_validate(f, 1e-8, 1, NULL, &err), LINSTAB_OK, "%s", err.msg);
        double before[5], after[5];
        cr_assert_eq(linstab_family_sample_lambda1(f, before, &err), LINSTAB_OK);
        /* the caller rescales sample 2 after validation: H_2 -> 4 H_2 */
        size_t per = f->d * f->k;
        for (size_t j = 0; j < per; j++) f->data[2 * per + j] *= gn ? 2.0 : 4.0;
        cr_assert_eq(linstab_family_sample_lambda1(f, after, &err), LINSTAB_OK);
        for (size_t i = 0; i < 5; i++) {
            double want = i == 2 ? 4.0 * before[i] : before[i];
            cr_expect(fabs(after[i] - want) <= 1e-12 * fabs(want), "gn %d sample %zu: %.17g vs %.17g", gn, i, after[i],
                      want);
        }
        linstab_family_free(f);
    }
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
}

typedef struct fam_calls {
    size_t count, first_done, first_total, last_done, last_total;
    int back; /* done went back */
} fam_calls;

static void fam_progress(size_t done, size_t total, void *ctx)
{
    fam_calls *c = ctx;
    if (c->count == 0) {
        c->first_done = done;
        c->first_total = total;
    } else if (done < c->last_done) {
        c->back = 1;
    }
    c->count++;
    c->last_done = done;
    c->last_total = total;
}

/* The progress form of linstab_mlp_family: the same bytes, (0, n) first,
 * (n, n) last, the count never going back. */
Test(mlp_family, with_progress_is_the_same_family_from_zero_to_n_samples)
{
    size_t sizes[3] = {3, 4, 2};
    linstab_mlp *m = net(LINSTAB_AD_TANH, 1, 120, sizes, 2);
    linstab_array X = matrix(7, 3, 121), Y = matrix(7, 2, 122);
    linstab_error err;
    for (int gn = 0; gn <= 1; gn++) {
        linstab_family *f = NULL, *g = NULL;
        fam_calls c = {0};
        cr_assert_eq(linstab_mlp_family(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, gn, 0, &f, &err), LINSTAB_OK, "%s", err.msg);
        cr_assert_eq(linstab_mlp_family_progress(m, &X, &Y, LINSTAB_LOSS_MSE, 0.0, gn, 0, fam_progress, &c, &g, &err),
                     LINSTAB_OK, "%s", err.msg);
        size_t per = f->d * f->k;
        cr_expect(memcmp(f->data, g->data, 7 * per * sizeof(double)) == 0, "gn %d", gn);
        cr_expect(c.first_done == 0 && c.first_total == 7, "first (%zu, %zu)", c.first_done, c.first_total);
        cr_expect(c.last_done == 7 && c.last_total == 7, "last (%zu, %zu)", c.last_done, c.last_total);
        cr_expect(!c.back && c.count >= 2 && c.count <= 2 + 6, "%zu calls", c.count);
        linstab_family_free(f);
        linstab_family_free(g);
    }
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_mlp_free(m);
}
