/*
 * fuzz_mlp.c -- libFuzzer harness of the MLP checkpoint reader
 * (linstab_mlp_load in src/mlp.c: model.json and the W/b NPY files).
 *
 * Input: the checkpoint folder's files, separated by the 4 bytes "#@#\n":
 * model.json, then W1.npy, b1.npy, W2.npy, b2.npy, ... in that order (a
 * missing part is a missing file).  The harness writes them to a private
 * folder and loads it.
 * Bound: a checkpoint's layer widths come from model.json alone, and the
 * reader allocates the parameters before it opens the first NPY file, so
 * a caller loading untrusted checkpoints must bound the widths; the harness
 * skips a model.json that holds a number of three or more digits (widths
 * below 100: at most 16 * 100 * 100 parameters, a fast execution).
 * Checked on success: 1 <= L <= LINSTAB_MLP_MAX_LAYERS, widths >= 1,
 * p = sum of the layers' d_l d_{l-1} (+ d_l with bias), every parameter
 * finite and readable, and a forward pass of one row runs and is finite or
 * fails with a message.
 */
#include <math.h>

#include "fuzz_util.h"
#include "linstab/mlp.h"

#define SEP "#@#\n"
#define SEP_LEN 4
#define MAX_FILES (1 + 2 * LINSTAB_MLP_MAX_LAYERS)

static int has_long_number(const uint8_t *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        run = (s[i] >= '0' && s[i] <= '9') ? run + 1 : 0;
        if (run >= 3) return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[MAX_FILES];
    size_t len[MAX_FILES], np = 0, start = 0;
    for (size_t i = 0; np < MAX_FILES; i++) {
        if (i + SEP_LEN > size) {
            part[np] = data + start;
            len[np++] = size - start;
            break;
        }
        if (memcmp(data + i, SEP, SEP_LEN) == 0) {
            part[np] = data + start;
            len[np++] = i - start;
            start = i + SEP_LEN;
            i += SEP_LEN - 1;
        }
    }
    if (has_long_number(part[0], len[0])) return 0;
    char name[32];
    for (size_t j = 0; j < MAX_FILES; j++) {
        if (j == 0) snprintf(name, sizeof name, "model.json");
        else snprintf(name, sizeof name, "%c%zu.npy", j % 2 ? 'W' : 'b', (j + 1) / 2);
        if (j < np) fuzz_dir_file(name, part[j], len[j]);
        else fuzz_dir_file(name, NULL, 0);
    }

    linstab_mlp *m = NULL;
    linstab_error err = {0};
    if (linstab_mlp_load(fuzz_dir(), &m, &err) != LINSTAB_OK) {
        FUZZ_CHECK(m == NULL && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(m->nlayers >= 1 && m->nlayers <= LINSTAB_MLP_MAX_LAYERS);
    size_t p = 0;
    for (size_t l = 0; l <= m->nlayers; l++) FUZZ_CHECK(m->sizes[l] >= 1 && m->sizes[l] < 100);
    for (size_t l = 1; l <= m->nlayers; l++)
        p += m->sizes[l] * m->sizes[l - 1] + (m->bias ? m->sizes[l] : 0);
    FUZZ_CHECK(p == m->p);
    for (size_t j = 0; j < p; j++) FUZZ_CHECK(isfinite(m->theta[j]));

    size_t d0 = m->sizes[0], dL = m->sizes[m->nlayers];
    double *X = malloc(d0 * sizeof *X), *F = malloc(dL * sizeof *F);
    FUZZ_CHECK(X != NULL && F != NULL);
    for (size_t j = 0; j < d0; j++) X[j] = 1.0 / (double)(j + 1);
    if (linstab_mlp_forward(m, X, 1, F, &err) == LINSTAB_OK) fuzz_touch(F, dL);
    else FUZZ_CHECK(err.msg[0] != '\0');
    free(X);
    free(F);
    linstab_mlp_free(m);
    return 0;
}
