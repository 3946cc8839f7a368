/*
 * data.h -- datasets: IDX files (MNIST, Fashion-MNIST), gzip'd or not, and
 * a synthetic teacher-student generator.
 *
 * IDX (LeCun's format): magic 0x00 0x00 type ndim, big-endian uint32
 * dimensions, then the data; type 0x08 (unsigned byte) is read, the only
 * type the MNIST files use.  zlib's gzread reads plain and gzip'd files.
 */
#ifndef LINSTAB_DATA_H
#define LINSTAB_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/export.h"
#include "linstab/mlp.h"
#include "linstab/npy.h"
#include "linstab/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Read the first `limit` items (0: all) of an IDX file into *out as
 * doubles, items flattened: images (N, rows*cols) scaled by `scale`, labels
 * (N,).  Errors name the file (LINSTAB_EIO, LINSTAB_EDATA).
 */
LINSTAB_API linstab_status linstab_data_idx_read(const char *path, size_t limit, double scale,
                                            linstab_array *out, linstab_error *err);

/*
 * Teacher-student data: X (n, d0) standard Gaussian, Y = teacher(X) with a
 * random teacher MLP of the given sizes and activation (He/Xavier init from
 * seed); targets (n, dL) for the squared loss.
 */
LINSTAB_API linstab_status linstab_data_teacher_student(const size_t *sizes, size_t nlayers,
                                                   linstab_ad_op act, size_t n, uint64_t seed,
                                                   linstab_array *X, linstab_array *Y,
                                                   linstab_error *err);

/*
 * Cross-entropy targets given as an (n, k) array: rows that are one-hot
 * (one entry 1, the others 0) become the (n,) class labels in place; an
 * (n,) array is left as it is.  Soft targets are LINSTAB_EDATA naming the
 * first row that is not one-hot (label smoothing is --label-smoothing).
 */
LINSTAB_API linstab_status linstab_data_labels_from_onehot(linstab_array *Y, size_t k, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
