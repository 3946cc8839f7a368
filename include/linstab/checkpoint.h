/*
 * checkpoint.h -- the checkpoint of a computation over a grid of cells
 * (`linstab map --resume`): which cells are done and their values, tied to
 * the identity of the run that wrote them.
 *
 * Identity.  A run is identified by a list of named parts, each a SHA-256
 * digest (FIPS 180-4) of its content streamed in full: the contents of
 * every input file (family, factors, diagonal, model files, data), every
 * parameter, every axis value.  Nothing is truncated.  The checkpoint
 * stores each part's name and digest, so a refusal can say which part
 * differs ("the contents of the family file", "--eta", "the y axis").
 *
 * File format, version 2 (all integers little-endian, doubles as their
 * IEEE-754 bit patterns, little-endian):
 *
 *   offset  size  field
 *   0       8     magic "LSMAPCK2"
 *   8       4     version (2)
 *   12      8     total length of the file in bytes, checksum included
 *   20      4     number of identity parts P (<= LINSTAB_CKPT_MAX_PARTS)
 *   24      ...   P times: name length L (2 bytes, 1..LINSTAB_CKPT_NAME_LEN-1),
 *                 L bytes of name, 32 bytes of digest
 *   ...     8     number of cells C
 *   ...     4     values per cell F (1..LINSTAB_CKPT_MAX_FIELDS)
 *   ...     C     done flags (0 or 1)
 *   ...     8 C F values, cell-major
 *   end-32  32    SHA-256 of every byte before it (the checksum)
 *
 * A checkpoint is written to a temporary name beside the final one,
 * flushed, synced and renamed, so the final name only ever holds a whole
 * checkpoint; every step's result is checked.
 *
 * Refusals (linstab_checkpoint_read / _parse / _match), each with its
 * message:  "no checkpoint" (LINSTAB_EIO), "not a linstab map checkpoint"
 * (EDATA), "version V, this linstab reads version 2" (EDATA), "truncated
 * (N of M bytes)" (EDATA), "checksum mismatch" (EDATA), "written by a
 * different run: <part> differs" (EINVAL).
 */
#ifndef LINSTAB_CHECKPOINT_H
#define LINSTAB_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/export.h"
#include "linstab/sha256.h"
#include "linstab/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LINSTAB_CKPT_VERSION 2u
#define LINSTAB_CKPT_NAME_LEN 96    /* part names, terminating zero included */
#define LINSTAB_CKPT_MAX_PARTS 1024
#define LINSTAB_CKPT_MAX_FIELDS 64



/* The identity of a run: named digests, in the order they were added. */
typedef struct linstab_checkpoint_part {
    char name[LINSTAB_CKPT_NAME_LEN];
    unsigned char digest[LINSTAB_SHA256_LEN];
} linstab_checkpoint_part;

typedef struct linstab_checkpoint_ident {
    size_t count, cap;
    linstab_checkpoint_part *parts; /* owned */
} linstab_checkpoint_ident;

/* An empty identity (no allocation). */
LINSTAB_API void linstab_checkpoint_ident_init(linstab_checkpoint_ident *id);
LINSTAB_API void linstab_checkpoint_ident_clear(linstab_checkpoint_ident *id);

/* Add the part `name` (truncated names are refused: EINVAL) with the
 * digest of len bytes at data.  ENOMEM when the list cannot grow, EINVAL
 * beyond LINSTAB_CKPT_MAX_PARTS parts. */
LINSTAB_API linstab_status linstab_checkpoint_ident_add(linstab_checkpoint_ident *id, const char *name,
                                                  const void *data, size_t len,
                                                  linstab_error *err);

/* The same with a printf-style text as the content (any length: it is
 * formatted twice, never cut). */
LINSTAB_API linstab_status linstab_checkpoint_ident_addf(linstab_checkpoint_ident *id, const char *name,
                                                   linstab_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same with the contents of the file at path, streamed (EIO when it
 * cannot be opened or read, naming the file). */
LINSTAB_API linstab_status linstab_checkpoint_ident_add_file(linstab_checkpoint_ident *id, const char *name,
                                                       const char *path, linstab_error *err);

/* A parsed checkpoint (every array owned; clear with linstab_checkpoint_clear). */
typedef struct linstab_checkpoint {
    uint32_t version;
    linstab_checkpoint_ident ident;
    size_t ncells, nfields;
    unsigned char *done; /* ncells flags, 0 or 1 */
    double *vals;        /* ncells * nfields, cell-major */
} linstab_checkpoint;

LINSTAB_API void linstab_checkpoint_clear(linstab_checkpoint *ck);

/* Parse len bytes at buf (any content: every length and count is checked
 * against len before anything is allocated).  OUT *out on success (zeroed
 * on failure).  Errors: EDATA with the refusal messages above. */
LINSTAB_API linstab_status linstab_checkpoint_parse(const void *buf, size_t len,
                                                    linstab_checkpoint *out, linstab_error *err);

/* Is ck from the run (id, ncells, nfields)?  EINVAL "written by a
 * different run: <the first part that differs> differs" otherwise. */
LINSTAB_API linstab_status linstab_checkpoint_match(const linstab_checkpoint *ck,
                                                    const linstab_checkpoint_ident *id, size_t ncells,
                                                    size_t nfields, linstab_error *err);

/* Read path, parse and match: on success copy its flags and values into
 * done[ncells] and vals[ncells * nfields].  Errors as above; "no
 * checkpoint" (EIO) when path does not exist. */
LINSTAB_API linstab_status linstab_checkpoint_read(const char *path, const linstab_checkpoint_ident *id,
                                                   size_t ncells, size_t nfields,
                                                   unsigned char *done, double *vals,
                                                   linstab_error *err);

/* Serialise into a new buffer: OUT *buf (caller frees), *len. ENOMEM. */
LINSTAB_API linstab_status linstab_checkpoint_serialize(const linstab_checkpoint_ident *id, size_t ncells,
                                                        size_t nfields, const unsigned char *done,
                                                        const double *vals, unsigned char **buf,
                                                        size_t *len, linstab_error *err);

/* Write atomically to path (temporary name beside it, fsync, rename).
 * EIO naming the file and the reason when any step fails; the temporary
 * is removed and path keeps its previous content. */
LINSTAB_API linstab_status linstab_checkpoint_write(const char *path, const linstab_checkpoint_ident *id,
                                                    size_t ncells, size_t nfields,
                                                    const unsigned char *done, const double *vals,
                                                    linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
