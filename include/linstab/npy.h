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
 * Implemented in src/core/npy.c.
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

/* Number of elements, prod(shape) (1 for ndim = 0).  a is only read. */
LINSTAB_API size_t linstab_npy_array_size(const linstab_array *a);

/* Free a->data and zero *a (a may be NULL; a zeroed array is a no-op). */
LINSTAB_API void linstab_npy_array_free(linstab_array *a);

/*
 * Read path into *out (OUT: zeroed first; on success out->data is
 * allocated, at least one double, and the caller frees it with
 * linstab_npy_array_free; on failure *out stays zeroed).
 * max_bytes: refuse (LINSTAB_ENOMEM) an array whose float64 size exceeds it,
 * before allocating; 0 means no limit.
 * Returns LINSTAB_EINVAL (path or out NULL), LINSTAB_EIO (cannot open,
 * stat or read; a directory), LINSTAB_EDATA (bad magic, header, dtype,
 * fortran order, size mismatch with the file length), LINSTAB_ENOMEM.
 * Messages start with the path.  Entries are not checked for NaN/Inf here
 * (the family does that, naming the sample).
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
 * Write data (prod(shape) doubles, C order; read only, may be NULL when
 * prod(shape) = 0) as '<f8' to path atomically: the bytes go to a
 * temporary file path.tmp.XXXXXX beside path (mode 0644), which is
 * synced and renamed to path only after a successful write and close.
 * shape: ndim <= LINSTAB_NPY_MAX_NDIM sizes (may be NULL for ndim = 0).
 * Returns LINSTAB_EINVAL (path NULL, too many dimensions, a shape whose
 * size overflows, data NULL), LINSTAB_ENOMEM, LINSTAB_EIO on any write
 * failure (the temporary is removed, path keeps its previous content).
 */
LINSTAB_API linstab_status linstab_npy_write(const char *path, const double *data, size_t ndim,
                                             const size_t *shape, linstab_error *err);

/*
 * Streamed writing of one array too large to hold: linstab_npy_stream_open
 * writes numpy's header for shape as '<f8' (float32 = 0) or '<f4' to a
 * temporary path.tmp.XXXXXX beside path (mode 0644); each
 * linstab_npy_stream_write appends count items, given as the raw bytes of
 * that dtype (count * 8 or count * 4 bytes, C order); linstab_npy_stream_close
 * checks that all prod(shape) items came, syncs, and renames the temporary
 * to path.  Any failure (LINSTAB_EIO, LINSTAB_EINVAL for too many or too few
 * items, LINSTAB_ENOMEM) and linstab_npy_stream_abort remove the temporary
 * and free the stream: path keeps its previous content.
 */
typedef struct linstab_npy_stream linstab_npy_stream;
LINSTAB_API linstab_status linstab_npy_stream_open(const char *path, int float32, size_t ndim,
                                                   const size_t *shape, linstab_npy_stream **out,
                                                   linstab_error *err);
LINSTAB_API linstab_status linstab_npy_stream_write(linstab_npy_stream *s, const void *items, size_t count,
                                                    linstab_error *err);
LINSTAB_API linstab_status linstab_npy_stream_close(linstab_npy_stream *s, linstab_error *err);
LINSTAB_API void linstab_npy_stream_abort(linstab_npy_stream *s);

#ifdef __cplusplus
}
#endif
#endif
