/*
 * rng.h -- reproducible random streams.  Each stream is a GSL generator
 * whose whole state is derived from (seed, stream) by splitmix64, so that
 * the numbers a computation draws depend on its seed and on the index of
 * the unit of work (a run, a cell, a shuffle), never on the thread or MPI
 * rank that does it.  The caller owns the generator (gsl_rng_free).
 * Implemented in src/core/rng.c.
 */
#ifndef LINSTAB_RNG_H
#define LINSTAB_RNG_H

#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "linstab/export.h"

/* A new GSL MT19937 generator seeded from (seed, stream) through
 * splitmix64, so that independent streams are reproducible on any
 * machine.  The seed passes through gsl_rng_set, which keeps 32 bits: at
 * most 2^32 distinct streams (enough for training, data shuffles and
 * validate's searches; the map's per-run streams and the Monte Carlo
 * Lyapunov exponent use linstab_rng_stream_mc).  Caller frees with
 * gsl_rng_free; NULL when out of memory. */
LINSTAB_API gsl_rng *linstab_rng_stream(uint64_t seed, uint64_t stream);

/* The same with GSL's taus2 (L'Ecuyer 1996, maximally equidistributed combined
 * Tausworthe generator, period 2^88): a quarter cheaper per number and
 * seeded in O(1) where MT19937 fills 624 words -- for Monte Carlo maps
 * that start tens of thousands of short streams.  Its three 32-bit state
 * words come from 64-bit splitmix64 outputs (88 significant bits), so
 * that 10^5 streams collide with probability ~10^-16 instead of the ~70 %
 * of a 32-bit seed. */
LINSTAB_API gsl_rng *linstab_rng_stream_mc(uint64_t seed, uint64_t stream);

#endif
