/* data.c -- IDX datasets (gzip'd or not) and teacher-student data. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gsl/gsl_randist.h>
#include <zlib.h>

#include "linstab/data.h"
#include "linstab/simulate.h"

/* deflate's largest compression ratio is 1032:1 (zlib's FAQ): a gzip'd
 * file of s bytes holds at most this many bytes once inflated. */
static uint64_t inflated_bound(uint64_t s) { return s > UINT64_MAX / 1032 ? UINT64_MAX : 1032 * s + 1024; }

/* Bytes read and converted at a time. */
#define IDX_CHUNK ((size_t)1 << 16)

linstab_status linstab_data_idx_read(const char *path, size_t limit, double scale, linstab_array *out,
                                linstab_error *err)
{
    memset(out, 0, sizeof *out);
    struct stat sb;
    int sized = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    gzFile gz = gzopen(path, "rb");
    if (gz == NULL) return linstab_error_set(err, LINSTAB_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char hdr[4];
    linstab_status st = LINSTAB_OK;
    if (gzread(gz, hdr, 4) != 4 || hdr[0] != 0 || hdr[1] != 0 || hdr[3] < 1 || hdr[3] > 3) {
        st = linstab_error_set(err, LINSTAB_EDATA, "%s: not an IDX file (bad magic)", path);
    } else if (hdr[2] != 0x08) {
        st = linstab_error_set(err, LINSTAB_EDATA, "%s: IDX type 0x%02x not supported (need unsigned bytes)", path, hdr[2]);
    }
    int direct = st == LINSTAB_OK && gzdirect(gz); /* not compressed: the file size bounds the data */
    size_t dims[3] = {0, 1, 1}, nd = st == LINSTAB_OK ? hdr[3] : 0;
    for (size_t k = 0; st == LINSTAB_OK && k < nd; k++) {
        unsigned char b[4];
        if (gzread(gz, b, 4) != 4) {
            st = linstab_error_set(err, LINSTAB_EDATA, "%s: truncated header", path);
            break;
        }
        dims[k] = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
    }
    size_t n = dims[0], item = 0, total = 0, dbytes = 0;
    if (st == LINSTAB_OK && __builtin_mul_overflow(dims[1], dims[2], &item))
        st = linstab_error_set(err, LINSTAB_EDATA, "%s: items of %zu x %zu bytes are too large", path, dims[1], dims[2]);
    if (st == LINSTAB_OK && (n == 0 || item == 0)) st = linstab_error_set(err, LINSTAB_EDATA, "%s: empty", path);
    if (st == LINSTAB_OK && limit > 0 && limit < n) n = limit;
    /* every size checked before anything is allocated: the product, then
     * what the file can hold */
    if (st == LINSTAB_OK &&
        (__builtin_mul_overflow(n, item, &total) || __builtin_mul_overflow(total, sizeof(double), &dbytes)))
        st = linstab_error_set(err, LINSTAB_EDATA, "%s: %zu items of %zu bytes need %.3g bytes as float64, more than the address space holds",
                               path, n, item, (double)n * (double)item * 8.0);
    uint64_t hbytes = 4 + 4 * (uint64_t)nd;
    if (st == LINSTAB_OK && sized && direct && (uint64_t)sb.st_size - hbytes < total)
        st = linstab_error_set(err, LINSTAB_EDATA,
                               "%s: truncated data (the header says %zu items of %zu bytes, %zu bytes; the file has %llu after the header)",
                               path, n, item, total, (unsigned long long)((uint64_t)sb.st_size - hbytes));
    if (st == LINSTAB_OK && sized && !direct && total > inflated_bound((uint64_t)sb.st_size))
        st = linstab_error_set(err, LINSTAB_EDATA,
                               "%s: truncated data (the header says %zu items of %zu bytes, %zu bytes, more than a gzip file of "
                               "%llu bytes can hold)",
                               path, n, item, total, (unsigned long long)sb.st_size);
    /* the doubles: all at once when the file's size vouches for them, else
     * (a pipe) grown as the data arrive */
    size_t cap = st != LINSTAB_OK ? 0 : sized || total <= IDX_CHUNK ? total : IDX_CHUNK, got = 0;
    if (st == LINSTAB_OK && (out->data = malloc(cap * sizeof(double))) == NULL)
        st = linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory (%zu items of %zu bytes need %zu bytes as float64)",
                               path, n, item, dbytes);
    unsigned char chunk[IDX_CHUNK];
    while (st == LINSTAB_OK && got < total) {
        size_t want = total - got < IDX_CHUNK ? total - got : IDX_CHUNK;
        if (got + want > cap) {
            size_t ncap = cap > total / 2 ? total : 2 * cap;
            double *nd2 = realloc(out->data, ncap * sizeof(double)); /* ncap <= total: no overflow */
            if (nd2 == NULL) {
                st = linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory (%zu items of %zu bytes need %zu bytes as float64)",
                                       path, n, item, dbytes);
                break;
            }
            out->data = nd2;
            cap = ncap;
        }
        int r = gzread(gz, chunk, (unsigned)want);
        if (r < 0) {
            int zerr;
            st = linstab_error_set(err, LINSTAB_EIO, "%s: cannot read: %s", path, gzerror(gz, &zerr));
            break;
        }
        for (int j = 0; j < r; j++) out->data[got + (size_t)j] = (double)chunk[j] * scale;
        got += (size_t)r;
        if ((size_t)r < want) {
            st = linstab_error_set(err, LINSTAB_EDATA, "%s: truncated data (%zu items of %zu bytes expected, %zu bytes read)",
                                   path, n, item, got);
            break;
        }
    }
    gzclose(gz);
    if (st != LINSTAB_OK) {
        linstab_npy_array_free(out);
        return st;
    }
    out->ndim = nd == 1 ? 1 : 2;
    out->shape[0] = n;
    out->shape[1] = item;
    return LINSTAB_OK;
}

linstab_status linstab_data_teacher_student(const size_t *sizes, size_t nlayers, linstab_ad_op act, size_t n,
                                       uint64_t seed, linstab_array *X, linstab_array *Y, linstab_error *err)
{
    memset(X, 0, sizeof *X);
    memset(Y, 0, sizeof *Y);
    linstab_mlp *t = NULL;
    linstab_status st = linstab_mlp_alloc(sizes, nlayers, act, 1, &t, err);
    if (st != LINSTAB_OK) return st;
    linstab_mlp_init(t, seed ^ 0x7eac4e5ULL);
    size_t d0 = sizes[0], K = sizes[nlayers], xb, yb;
    if (__builtin_mul_overflow(n, d0, &xb) || __builtin_mul_overflow(xb, sizeof(double), &xb) ||
        __builtin_mul_overflow(n, K, &yb) || __builtin_mul_overflow(yb, sizeof(double), &yb)) {
        linstab_mlp_free(t);
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "teacher-student data: %zu samples of %zu inputs and %zu outputs need %.3g bytes, "
                                 "more than the address space holds",
                                 n, d0, K, (double)n * (double)(d0 + K) * 8.0);
    }
    X->data = malloc(xb);
    Y->data = malloc(yb);
    if (X->data == NULL || Y->data == NULL) {
        linstab_npy_array_free(X);
        linstab_npy_array_free(Y);
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
        linstab_npy_array_free(X);
        linstab_npy_array_free(Y);
    }
    return st;
}

linstab_status linstab_data_labels_from_onehot(linstab_array *Y, size_t k, linstab_error *err)
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
                                     "(give class labels (n,) or one-hot rows)",
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
