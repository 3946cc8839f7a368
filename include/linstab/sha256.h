/*
 * sha256.h -- SHA-256 (FIPS 180-4) of byte strings, incrementally: init,
 * any number of updates, final.  Used for the run identities of
 * checkpoints (checkpoint.h).  The state lives in a caller-owned struct
 * (no allocation, no failure).  Implemented in src/core/sha256.c.
 */
#ifndef LINSTAB_SHA256_H
#define LINSTAB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "linstab/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LINSTAB_SHA256_LEN 32

/* Streaming SHA-256 (FIPS 180-4). */
typedef struct linstab_sha256 {
    uint32_t h[8];
    uint64_t len;          /* bytes hashed so far */
    unsigned char buf[64]; /* pending partial block */
    size_t fill;
} linstab_sha256;

/* Start a new digest in *s (overwritten). */
LINSTAB_API void linstab_sha256_init(linstab_sha256 *s);
/* Hash len more bytes at data (read only; may be NULL when len = 0). */
LINSTAB_API void linstab_sha256_update(linstab_sha256 *s, const void *data, size_t len);
/* Pad, finish and write the digest of every byte given to OUT digest[32]
 * (big-endian words, as FIPS 180-4); s must be initialised again before
 * reuse. */
LINSTAB_API void linstab_sha256_final(linstab_sha256 *s, unsigned char digest[LINSTAB_SHA256_LEN]);

#ifdef __cplusplus
}
#endif
#endif
