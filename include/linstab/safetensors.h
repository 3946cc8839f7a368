/*
 * safetensors.h -- Hugging Face .safetensors files (state dicts).
 *
 * Layout: an 8-byte little-endian unsigned header length N, then N bytes of
 * UTF-8 JSON, an object {"NAME": {"dtype": "F64", "shape": [d0, ...],
 * "data_offsets": [BEGIN, END]}, ..., "__metadata__": {"key": "value"}}
 * (the metadata optional, string to string), then the byte buffer; the
 * offsets are relative to the buffer's start.
 * Reference: the safetensors format description (huggingface/safetensors,
 * README "Format").
 *
 * Reading is strict, as linstab's NPY reader: 8 <= file, N <= 100,000,000
 * and N <= the bytes after the length; the header is one JSON object (RFC
 * 8259 syntax; trailing spaces allowed, as the writer pads with them), no
 * duplicate names, every tensor with exactly the three keys, shape entries
 * and offsets non-negative integers, BEGIN <= END; the dtypes F64 and F32
 * (little-endian; F32 is converted exactly to double), any other dtype
 * refused naming the tensor; END - BEGIN equal to the shape's element count
 * times the item size; the offsets, sorted, cover the buffer exactly (no
 * gap, no overlap, nothing after the last tensor); every value finite.
 * Writing produces F64 tensors in the order given, contiguous, the header
 * padded with spaces to a multiple of 8 bytes, through a temporary file
 * beside the target that is synced and renamed into place.
 * Implemented in src/core/safetensors.c.
 */
#ifndef LINSTAB_SAFETENSORS_H
#define LINSTAB_SAFETENSORS_H

#include <stddef.h>

#include "linstab/export.h"
#include "linstab/error.h"
#include "linstab/npy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest header linstab reads (the reference implementation's limit). */
#define LINSTAB_SAFETENSORS_MAX_HEADER 100000000u

/* One tensor: its name (owned), its dtype as in the file ("F64" or "F32")
 * and its values as float64 in C order (array.data owned). */
typedef struct linstab_safetensors_tensor {
    char *name;
    char dtype[4];
    linstab_array array;
} linstab_safetensors_tensor;

/* A file's tensors (in the order of their data offsets) and metadata
 * (string pairs, in the file's order).  Free with linstab_safetensors_free. */
typedef struct linstab_safetensors {
    size_t count;
    linstab_safetensors_tensor *tensors;
    size_t nmeta;
    char **meta_keys, **meta_values;
} linstab_safetensors;

/*
 * Read path into *out (OUT: zeroed first; on failure it stays zeroed).
 * max_bytes: refuse (LINSTAB_ENOMEM) a file whose tensors' float64 size
 * exceeds it, before converting; 0 means no limit.  Errors (messages start
 * with path and name the tensor): LINSTAB_EINVAL (NULL argument),
 * LINSTAB_EIO (cannot open or read; a directory), LINSTAB_EDATA (anything
 * the format above refuses), LINSTAB_ENOMEM.
 */
LINSTAB_API linstab_status linstab_safetensors_read(const char *path, size_t max_bytes, linstab_safetensors *out,
                                                    linstab_error *err);

/* The same for the size bytes of a file held in memory (read only); what
 * names it in messages. */
LINSTAB_API linstab_status linstab_safetensors_parse(const unsigned char *bytes, size_t size, const char *what,
                                                     size_t max_bytes, linstab_safetensors *out, linstab_error *err);

/* Free everything *st owns and zero it (st may be NULL). */
LINSTAB_API void linstab_safetensors_free(linstab_safetensors *st);

/* The tensor called name, or NULL.  The metadata value of key, or NULL. */
LINSTAB_API const linstab_safetensors_tensor *linstab_safetensors_find(const linstab_safetensors *st,
                                                                       const char *name);
LINSTAB_API const char *linstab_safetensors_meta(const linstab_safetensors *st, const char *key);

/*
 * Write count tensors names[i] (non-empty, distinct, not "__metadata__")
 * with the values arrays[i] (float64, C order) as F64, and nmeta metadata
 * pairs (meta_keys may be NULL when nmeta = 0), to path atomically (a
 * temporary path.tmp.XXXXXX, mode 0644, synced and renamed; path keeps its
 * previous content on failure).  Errors: LINSTAB_EINVAL (a NULL, empty,
 * duplicate or reserved name, a shape whose size overflows),
 * LINSTAB_ENOMEM, LINSTAB_EIO.
 */
LINSTAB_API linstab_status linstab_safetensors_write(const char *path, size_t count, const char *const *names,
                                                     const linstab_array *arrays, size_t nmeta,
                                                     const char *const *meta_keys, const char *const *meta_values,
                                                     linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
