/* internal.h -- declarations shared by the library's files, not exported. */
#ifndef LINSTAB_INTERNAL_H
#define LINSTAB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* a * b, or 0 with *overflow set when the product does not fit size_t. */
static inline size_t mul_sz(size_t a, size_t b, int *overflow)
{
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        *overflow = 1;
        return 0;
    }
    return r;
}

#endif
