/*
 * data.h -- datasets for the MLPs of mlp.h (src/nn/data.c): IDX files
 * (MNIST, Fashion-MNIST), gzip'd or not, a synthetic teacher-student
 * generator, and cross-entropy targets given as one-hot rows.
 * Every array filled here is owned by the caller (linstab_npy_array_free).
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
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Read the first `limit` items (0: all) of an IDX file into OUT *out as
 * doubles, items flattened: images (N, rows*cols) scaled by `scale`, labels
 * (N,).  *out is overwritten (zeroed on failure) and owned by the caller.
 * Every size is checked against the file before anything is allocated.
 * Errors name the file: LINSTAB_EIO (open, read), LINSTAB_EDATA (magic,
 * type, truncation, sizes), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_data_idx_read(const char *path, size_t limit, double scale,
                                            linstab_array *out, linstab_error *err);

/*
 * Teacher-student data: OUT X (n, d0) standard Gaussian, OUT Y = teacher(X)
 * (n, dL, targets for the squared loss) with a random teacher MLP of the
 * given sizes (sizes[0..nlayers]) and activation, with biases, initialised
 * by linstab_mlp_init from seed; deterministic for a seed.  X and Y are
 * overwritten (zeroed on failure) and owned by the caller.  Errors: those
 * of linstab_mlp_alloc, LINSTAB_EINVAL (sizes beyond the address space),
 * LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_data_teacher_student(const size_t *sizes, size_t nlayers,
                                                   linstab_ad_op act, size_t n, uint64_t seed,
                                                   linstab_array *X, linstab_array *Y,
                                                   linstab_error *err);

/*
 * Cross-entropy targets given as an (n, k) array: rows that are one-hot
 * (one entry 1, the others 0) become the (n,) class labels in place (Y's
 * data is replaced: the old array is freed); any other shape is left as it
 * is.  Soft targets are LINSTAB_EDATA naming the first row that is not
 * one-hot, Y unchanged (smoothing belongs to the loss, not the targets).
 * Errors: LINSTAB_EDATA, LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_data_labels_from_onehot(linstab_array *Y, size_t k, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
