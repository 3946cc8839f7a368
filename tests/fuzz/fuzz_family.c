/*
 * fuzz_family.c -- libFuzzer harness of family loading, validation and
 * range restriction (src/family.c on top of src/npy.c).
 *
 * Input: one flags byte, then an NPY file.  Flags: bits 0-1 the kind
 * (0 dense (n,d,d), 1 factored (n,d,k), 2 diagonal (n,d), 3 dense),
 * bit 2 allow_indefinite, bit 3 restrict to range(M2) instead of range(H),
 * bit 4 rotate into H's eigenbasis, bits 5-7 the symmetry tolerance
 * (10^-(2 bits)) and the rank tolerance.
 * Like a caller with a memory limit, the harness loads at most 4096
 * doubles and gives up on d > 64 (the d x d workspaces), so that every
 * execution takes well under a millisecond.
 * Checked: a family that loads has the shape of its kind; validation
 * without allow_indefinite never reports an indefinite family; a
 * restriction has 1 <= rank <= d, n samples, dimension rank (or d when it
 * kept the family unrotated), and a d x rank basis; the in-place
 * restriction (linstab_family_restrict_take) of the same family succeeds too.
 */
#include <math.h>

#include "fuzz_util.h"
#include "linstab/family.h"

#define MAX_DOUBLES 4096
#define MAX_D 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned flags = data[0];
    linstab_family_kind kind = (flags & 3) == 1 ? LINSTAB_FAMILY_FACTORED
                               : (flags & 3) == 2 ? LINSTAB_FAMILY_DIAGONAL
                                                  : LINSTAB_FAMILY_DENSE;
    int allow = (flags >> 2) & 1, use_m2 = (flags >> 3) & 1, rotate = (flags >> 4) & 1;
    double sym_rtol = pow(10.0, -(double)(2 + 4 * ((flags >> 5) & 3)));
    double rank_rtol = (flags >> 7) ? 1e-8 : 0.0;
    const char *path = fuzz_file(0, data + 1, size - 1);

    linstab_family *f = NULL;
    linstab_error err = {0};
    if (linstab_family_load(path, kind, MAX_DOUBLES * sizeof(double), &f, &err) != LINSTAB_OK) {
        FUZZ_CHECK(f == NULL && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(f != NULL && f->kind == kind && f->n >= 1 && f->d >= 1);
    FUZZ_CHECK(linstab_family_data_len(f) <= MAX_DOUBLES);
    if (kind == LINSTAB_FAMILY_DENSE) FUZZ_CHECK(f->k == f->d);
    if (kind == LINSTAB_FAMILY_DIAGONAL) FUZZ_CHECK(f->k == 1);
    fuzz_touch(f->data, linstab_family_data_len(f));
    if (f->d > MAX_D) {
        linstab_family_free(f);
        return 0;
    }

    int indefinite = -1;
    if (linstab_family_validate(f, sym_rtol, allow, &indefinite, &err) != LINSTAB_OK) {
        FUZZ_CHECK(err.msg[0] != '\0');
        linstab_family_free(f);
        return 0;
    }
    FUZZ_CHECK(indefinite == 0 || indefinite == 1);
    if (!allow) FUZZ_CHECK(indefinite == 0);
    if (f->lambda1 != NULL) fuzz_touch(f->lambda1, f->n);

    linstab_family *r = NULL;
    size_t rank = 0;
    double *Q = NULL;
    linstab_status st = linstab_family_restrict(f, rank_rtol, use_m2, rotate, &r, &rank, &Q, &err);
    if (st == LINSTAB_OK) {
        FUZZ_CHECK(r != NULL && Q != NULL);
        FUZZ_CHECK(rank >= 1 && rank <= f->d);
        FUZZ_CHECK(r->n == f->n);
        FUZZ_CHECK(r->d == rank || (r->d == f->d && rank == f->d));
        fuzz_touch(Q, f->d * rank);
        fuzz_touch(r->data, linstab_family_data_len(r));
        linstab_family_free(r);
        free(Q);

        size_t d = f->d, rank2 = 0;
        double *H = NULL, lambda1 = 0.0;
        st = linstab_family_restrict_take(&f, rank_rtol, use_m2, &rank2, &H, &lambda1, &err);
        FUZZ_CHECK(st == LINSTAB_OK);
        FUZZ_CHECK(f != NULL && rank2 >= 1 && rank2 <= d && f->d == rank2);
        if (H != NULL) fuzz_touch(H, f->d * f->d);
        free(H);
    } else {
        FUZZ_CHECK(r == NULL && err.msg[0] != '\0');
    }
    linstab_family_free(f);
    return 0;
}
