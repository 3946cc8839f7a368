/* sha256.h -- SHA-256 (FIPS 180-4) of byte strings, incrementally. */
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

LINSTAB_API void linstab_sha256_init(linstab_sha256 *s);
LINSTAB_API void linstab_sha256_update(linstab_sha256 *s, const void *data, size_t len);
/* OUT digest[32]; s must be initialised again before reuse. */
LINSTAB_API void linstab_sha256_final(linstab_sha256 *s, unsigned char digest[LINSTAB_SHA256_LEN]);

#ifdef __cplusplus
}
#endif
#endif
