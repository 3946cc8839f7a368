/* family_internal.h -- what the family's files share (not exported). */
#ifndef LINSTAB_FAMILY_INTERNAL_H
#define LINSTAB_FAMILY_INTERNAL_H

#include <stdint.h>

#include "linstab/family.h"

/* W = [U_1 ... U_n], d x nk row-major, of a factored family (NULL when out
 * of memory; the caller frees it). */
double *family_gather_factors(const linstab_family *f);

/* A 64-bit hash (FNV-1a) of f's data: the key of its lambda1 cache. */
uint64_t family_data_key(const linstab_family *f);

/* Fill g's lambda1 cache with lam (n values) for g's current data; 0, or
 * -1 when out of memory (g is then left without a cache). */
int family_cache_lambda1(linstab_family *g, const double *lam);

#endif
