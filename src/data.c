/* data.c -- IDX datasets (gzip'd or not) and teacher-student data. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <zlib.h>

#include "linstab/data.h"
#include "linstab/simulate.h"
#include "linstab/train.h"

linstab_status linstab_idx_read(const char *path, size_t limit, double scale, linstab_array *out,
                                linstab_error *err)
{
    memset(out, 0, sizeof *out);
    gzFile gz = gzopen(path, "rb");
    if (gz == NULL) return linstab_error_set(err, LINSTAB_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char hdr[4];
    linstab_status st = LINSTAB_OK;
    if (gzread(gz, hdr, 4) != 4 || hdr[0] != 0 || hdr[1] != 0 || hdr[3] < 1 || hdr[3] > 3) {
        st = linstab_error_set(err, LINSTAB_EDATA, "%s: not an IDX file (bad magic)", path);
    } else if (hdr[2] != 0x08) {
        st = linstab_error_set(err, LINSTAB_EDATA, "%s: IDX type 0x%02x not supported (need unsigned bytes)", path, hdr[2]);
    }
    size_t dims[3] = {0, 1, 1}, nd = hdr[3];
    for (size_t k = 0; st == LINSTAB_OK && k < nd; k++) {
        unsigned char b[4];
        if (gzread(gz, b, 4) != 4) {
            st = linstab_error_set(err, LINSTAB_EDATA, "%s: truncated header", path);
            break;
        }
        dims[k] = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
    }
    size_t n = dims[0], item = dims[1] * dims[2];
    if (st == LINSTAB_OK && (n == 0 || item == 0)) st = linstab_error_set(err, LINSTAB_EDATA, "%s: empty", path);
    if (st == LINSTAB_OK && limit > 0 && limit < n) n = limit;
    unsigned char *raw = st == LINSTAB_OK ? malloc(n * item) : NULL;
    if (st == LINSTAB_OK && raw == NULL) st = linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    if (st == LINSTAB_OK && (size_t)gzread(gz, raw, (unsigned)(n * item)) != n * item)
        st = linstab_error_set(err, LINSTAB_EDATA, "%s: truncated data (%zu items of %zu bytes expected)", path, n, item);
    gzclose(gz);
    if (st == LINSTAB_OK) {
        out->data = malloc(n * item * sizeof(double));
        if (out->data == NULL) st = linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    }
    if (st == LINSTAB_OK) {
        for (size_t j = 0; j < n * item; j++) out->data[j] = (double)raw[j] * scale;
        out->ndim = nd == 1 ? 1 : 2;
        out->shape[0] = n;
        out->shape[1] = item;
    }
    free(raw);
    return st;
}

linstab_status linstab_teacher_student(const size_t *sizes, size_t nlayers, linstab_ad_op act, size_t n,
                                       uint64_t seed, linstab_array *X, linstab_array *Y, linstab_error *err)
{
    memset(X, 0, sizeof *X);
    memset(Y, 0, sizeof *Y);
    linstab_mlp *t = NULL;
    linstab_status st = linstab_mlp_alloc(sizes, nlayers, act, 1, &t, err);
    if (st != LINSTAB_OK) return st;
    linstab_mlp_init(t, seed ^ 0x7eac4e5ULL);
    size_t d0 = sizes[0], K = sizes[nlayers];
    X->data = malloc(n * d0 * sizeof(double));
    Y->data = malloc(n * K * sizeof(double));
    if (X->data == NULL || Y->data == NULL) {
        linstab_array_free(X);
        linstab_array_free(Y);
        linstab_mlp_free(t);
        return linstab_error_set(err, LINSTAB_ENOMEM, "teacher-student data: out of memory");
    }
    gsl_rng *r = linstab_rng_stream(seed, 0xda7a);
    for (size_t j = 0; j < n * d0; j++) X->data[j] = gsl_ran_gaussian_ziggurat(r, 1.0);
    gsl_rng_free(r);
    X->ndim = Y->ndim = 2;
    X->shape[0] = Y->shape[0] = n;
    X->shape[1] = d0;
    Y->shape[1] = K;
    st = linstab_mlp_forward(t, X->data, n, Y->data, err);
    linstab_mlp_free(t);
    if (st != LINSTAB_OK) {
        linstab_array_free(X);
        linstab_array_free(Y);
    }
    return st;
}

linstab_status linstab_labels_from_onehot(linstab_array *Y, size_t k, linstab_error *err)
{
    if (Y->ndim != 2 || Y->shape[1] != k || k < 1) return LINSTAB_OK;
    size_t n = Y->shape[0];
    double *lab = malloc((n ? n : 1) * sizeof *lab);
    if (lab == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "labels: out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t ones = 0, at = 0;
        int other = 0;
        for (size_t c = 0; c < k; c++) {
            double v = Y->data[i * k + c];
            if (v == 1.0) {
                ones++;
                at = c;
            } else if (v != 0.0) {
                other = 1;
            }
        }
        if (ones != 1 || other) {
            free(lab);
            return linstab_error_set(err, LINSTAB_EDATA,
                                     "cross-entropy targets: row %zu of the (%zu, %zu) array is not one-hot "
                                     "(give class labels (n,) or one-hot rows; smoothing is --label-smoothing)",
                                     i, n, k);
        }
        lab[i] = (double)at;
    }
    free(Y->data);
    Y->data = lab;
    Y->ndim = 1;
    Y->shape[1] = 0;
    return LINSTAB_OK;
}
