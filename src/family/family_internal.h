/* family_internal.h -- what the family's files share (not exported). */
#ifndef LINSTAB_FAMILY_INTERNAL_H
#define LINSTAB_FAMILY_INTERNAL_H

#include "linstab/family.h"

/* W = [U_1 ... U_n], d x nk row-major, of a factored family (NULL when out
 * of memory; the caller frees it). */
double *family_gather_factors(const linstab_family *f);

#endif
