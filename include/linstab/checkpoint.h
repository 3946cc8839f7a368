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
 *
 * Implemented in src/dynamics/checkpoint.c.  No function keeps a pointer
 * to its arguments; paths, identities and arrays are borrowed for the call.
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

/* An empty identity (no allocation; *id overwritten). */
LINSTAB_API void linstab_checkpoint_ident_init(linstab_checkpoint_ident *id);
/* Free id's parts and leave it empty (as after _init). */
LINSTAB_API void linstab_checkpoint_ident_clear(linstab_checkpoint_ident *id);

/* Append the part `name` (1..LINSTAB_CKPT_NAME_LEN - 1 bytes; longer
 * names are refused, never cut: EINVAL) with the SHA-256 digest of len
 * bytes at data (read only).  Names must be distinct (a checkpoint with a
 * repeated name would be refused when parsed).  Errors: LINSTAB_ENOMEM
 * when the list cannot grow, LINSTAB_EINVAL for a name already given or
 * beyond LINSTAB_CKPT_MAX_PARTS parts; no part is added on failure. */
LINSTAB_API linstab_status linstab_checkpoint_ident_add(linstab_checkpoint_ident *id, const char *name,
                                                  const void *data, size_t len,
                                                  linstab_error *err);

/* The same with a printf-style text as the content (any length: it is
 * formatted twice, never cut; the terminating zero is not hashed).
 * Also LINSTAB_EINVAL when fmt cannot be formatted. */
LINSTAB_API linstab_status linstab_checkpoint_ident_addf(linstab_checkpoint_ident *id, const char *name,
                                                   linstab_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The same with the contents of the file at path, streamed in 64 KB
 * blocks (LINSTAB_EIO when it cannot be opened or read, naming the file). */
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

/* Free every array of ck and zero it (a zeroed ck is a no-op). */
LINSTAB_API void linstab_checkpoint_clear(linstab_checkpoint *ck);

/* Parse len bytes at buf (read only; any content: every length and count
 * is checked against len before anything is allocated).  OUT *out on
 * success (clear with linstab_checkpoint_clear; zeroed on failure).
 * Errors: LINSTAB_EDATA with the refusal messages above, LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_checkpoint_parse(const void *buf, size_t len,
                                                    linstab_checkpoint *out, linstab_error *err);

/* Is ck from the run (id, ncells, nfields)?  Every part of id must be in
 * ck with the same digest (in id's order), ck must have no other part, and
 * the sizes must agree; otherwise LINSTAB_EINVAL "written by a different
 * run: <the first part that differs> differs" (or names the extra part or
 * the sizes).  Reads only. */
LINSTAB_API linstab_status linstab_checkpoint_match(const linstab_checkpoint *ck,
                                                    const linstab_checkpoint_ident *id, size_t ncells,
                                                    size_t nfields, linstab_error *err);

/* Read path, parse and match: on success copy its flags and values into
 * OUT done[ncells] and vals[ncells * nfields] (caller-allocated; untouched
 * on failure).  Errors as above; "no checkpoint" (LINSTAB_EIO) when path
 * does not exist, LINSTAB_EIO when it cannot be read, LINSTAB_EDATA for an
 * empty file, LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_checkpoint_read(const char *path, const linstab_checkpoint_ident *id,
                                                   size_t ncells, size_t nfields,
                                                   unsigned char *done, double *vals,
                                                   linstab_error *err);

/* Serialise (id, ncells cells of nfields values: done[ncells] flags,
 * vals[ncells * nfields]) in the format above into a new buffer: OUT *buf
 * (caller frees with free; NULL on failure), *len.  Errors: LINSTAB_EINVAL
 * (nfields outside 1..LINSTAB_CKPT_MAX_FIELDS, too many parts),
 * LINSTAB_ENOMEM. */
LINSTAB_API linstab_status linstab_checkpoint_serialize(const linstab_checkpoint_ident *id, size_t ncells,
                                                        size_t nfields, const unsigned char *done,
                                                        const double *vals, unsigned char **buf,
                                                        size_t *len, linstab_error *err);

/* Serialise as linstab_checkpoint_serialize and write atomically to path
 * (temporary path.tmp.XXXXXX beside it, mode 0644, fsync, rename).
 * LINSTAB_EIO naming the file, the step and the reason when any step
 * fails (the temporary is removed and path keeps its previous content);
 * the errors of _serialize. */
LINSTAB_API linstab_status linstab_checkpoint_write(const char *path, const linstab_checkpoint_ident *id,
                                                    size_t ncells, size_t nfields,
                                                    const unsigned char *done, const double *vals,
                                                    linstab_error *err);

#ifdef __cplusplus
}
#endif
#endif
