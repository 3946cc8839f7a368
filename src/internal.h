/* internal.h -- declarations shared by the library's files, not exported. */
#ifndef LINSTAB_INTERNAL_H
#define LINSTAB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * COUNT doubles, zeroed, their pages touched now by the calling thread.
 * For buffers whose first writes would come from several threads at once
 * (threaded BLAS outputs, per-chunk accumulators): concurrent first-touch
 * page faults contend in the kernel, and in a virtual machine they made
 * the first per-sample sums of a process 1.5x slower (measured); faulting
 * them in one thread first costs a memset.
 */
static inline double *alloc_touched(size_t count)
{
    /* through a volatile pointer: the compiler would fold malloc + memset
     * into calloc, whose pages stay untouched */
    static void *(*volatile const zero)(void *, int, size_t) = memset;
    double *p = malloc(count * sizeof *p);
    if (p != NULL) zero(p, 0, count * sizeof *p);
    return p;
}

#endif
