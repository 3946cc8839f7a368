/*
 * npy.h -- numpy .npy files (format versions 1.0, 2.0 and 3.0).
 *
 * Reading accepts little-endian float64 ('<f8') and float32 ('<f4') arrays
 * in C order and converts them to float64 (linstab_npy_read_numeric also
 * integers and bools, for data and labels).  The header is validated
 * strictly: magic string, version, header length, the dict's keys 'descr',
 * 'fortran_order' (must be False) and 'shape', and that the data size the
 * shape implies equals what the file holds.  Writing produces version 1.0
 * (2.0 if the header needs it), '<f8', C order, through a temporary file in
 * the same folder that is renamed into place, so a failed write never
 * leaves a half-written file under the final name.
 * Reference: numpy/lib/format.py, "NEP 1 - A simple file format for NumPy arrays".
 */
#ifndef LINSTAB_NPY_H
#define LINSTAB_NPY_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LINSTAB_NPY_MAX_NDIM 8

/* A dense float64 array in C order.  The caller owns data: free it with
 * linstab_npy_array_free (which also zeroes the struct). */
typedef struct linstab_array {
    size_t ndim;
    size_t shape[LINSTAB_NPY_MAX_NDIM];
    double *data; /* prod(shape) doubles */
} linstab_array;

/* Number of elements, prod(shape) (1 for ndim = 0). */
LINSTAB_API size_t linstab_npy_array_size(const linstab_array *a);

LINSTAB_API void linstab_npy_array_free(linstab_array *a);

/*
 * Read path into *out (OUT: allocated, caller frees with linstab_npy_array_free).
 * max_bytes: refuse (LINSTAB_ENOMEM) an array whose float64 size exceeds it,
 * before allocating; 0 means no limit.
 * Returns LINSTAB_EIO (cannot open/read), LINSTAB_EDATA (bad magic, header,
 * dtype, fortran order, size mismatch with the file length), LINSTAB_ENOMEM.
 * Entries are not checked for NaN/Inf here (the family does that, naming
 * the sample).
 */
LINSTAB_API linstab_status linstab_npy_read(const char *path, size_t max_bytes,
                                            linstab_array *out, linstab_error *err);

/*
 * The same, also accepting little-endian integer dtypes ('<i8' ... '|i1',
 * '<u8' ... '|u1') and bool ('|b1'), converted to float64 exactly (an
 * integer beyond 2^53 is LINSTAB_EDATA): for data and class labels, which
 * numpy saves as int64 by default.  Hessian families and model weights
 * stay float-only (linstab_npy_read).
 */
LINSTAB_API linstab_status linstab_npy_read_numeric(const char *path, size_t max_bytes,
                                                    linstab_array *out, linstab_error *err);

/*
 * Write data (prod(shape) doubles, C order) as '<f8' to path atomically:
 * the bytes go to a temporary file beside path, which is renamed to path
 * only after a successful write and close.  Returns LINSTAB_EINVAL for a
 * bad shape, LINSTAB_EIO on any write failure (the temporary is removed).
 */
LINSTAB_API linstab_status linstab_npy_write(const char *path, const double *data, size_t ndim,
                                             const size_t *shape, linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
