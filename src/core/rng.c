/*
 * rng.c -- reproducible random streams: a GSL generator seeded from a
 * 64-bit (seed, stream) pair through splitmix64, so that every run, thread
 * and MPI rank draws the same numbers for the same (seed, stream).
 */
#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "internal.h"
#include "linstab/rng.h"

#define splitmix64 linstab_splitmix64

/* GSL's taus2 state (gsl/rng/taus.c): gsl_rng_set takes one unsigned long
 * and keeps only its low 32 bits, so that 2^32 streams at most are
 * distinct (a 25,000-stream map had a 7 % chance of two identical
 * streams).  The map's Monte Carlo streams set the state from a 64-bit
 * splitmix64 expansion of (seed, stream) instead. */
typedef struct { unsigned long s1, s2, s3; } taus_state;

static gsl_rng *stream_of(const gsl_rng_type *type, uint64_t seed, uint64_t stream)
{
    gsl_rng *r = gsl_rng_alloc(type);
    if (r == NULL) return NULL;
    /* x = mix(seed) xor (stream * odd): for one seed, distinct streams give
     * distinct x, and the first splitmix64 output is a bijection of x */
    uint64_t x = seed;
    uint64_t a = splitmix64(&x);
    x = a ^ (stream * 0xd1b54a32d192ed03ULL);
    if (type == gsl_rng_taus2 && gsl_rng_size(r) == sizeof(taus_state)) {
        taus_state *t = gsl_rng_state(r);
        uint64_t z1 = splitmix64(&x), z2 = splitmix64(&x);
        t->s1 = (unsigned long)(z1 & 0xffffffffUL);
        t->s2 = (unsigned long)(z1 >> 32);
        t->s3 = (unsigned long)(z2 & 0xffffffffUL);
        /* each component needs a nonzero state in its significant bits (as taus2_set) */
        if (t->s1 < 2) t->s1 += 2UL;
        if (t->s2 < 8) t->s2 += 8UL;
        if (t->s3 < 16) t->s3 += 16UL;
        for (int k = 0; k < 6; k++) (void)gsl_rng_get(r); /* warm up, as taus2_set */
        return r;
    }
    /* MT19937 (and taus2 in an unknown layout): gsl_rng_set, 32 bits of
     * the key.  MT19937's streams (training, data, validate, the Monte Carlo
     * Lyapunov exponent) keep the numbers they had */
    uint64_t v = splitmix64(&x);
    unsigned long s32 = (unsigned long)(v & 0xffffffffUL);
    gsl_rng_set(r, s32 ? s32 : 1UL);
    return r;
}

gsl_rng *linstab_rng_stream(uint64_t seed, uint64_t stream)
{
    return stream_of(gsl_rng_mt19937, seed, stream);
}

gsl_rng *linstab_rng_stream_mc(uint64_t seed, uint64_t stream)
{
    return stream_of(gsl_rng_taus2, seed, stream);
}
