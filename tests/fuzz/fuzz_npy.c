/*
 * fuzz_npy.c -- libFuzzer harness of the NPY reader (src/npy.c).
 *
 * The input is the file: it is read with linstab_npy_read (float dtypes)
 * and linstab_npy_read_numeric (also integers and bools), with and without
 * a 1 MiB limit.  On success the array must be consistent: at most
 * LINSTAB_NPY_MAX_NDIM dimensions, a product of the shape that does not
 * overflow, no more elements than the file has bytes, and a buffer that
 * holds every element (read in full, so ASan catches a short one).
 */
#include "fuzz_util.h"
#include "linstab/npy.h"

static void check_array(const linstab_array *a, size_t file_size)
{
    FUZZ_CHECK(a->ndim <= LINSTAB_NPY_MAX_NDIM);
    size_t n = 1;
    for (size_t i = 0; i < a->ndim; i++) FUZZ_CHECK(!__builtin_mul_overflow(n, a->shape[i], &n));
    FUZZ_CHECK(n == linstab_npy_array_size(a));
    FUZZ_CHECK(n <= file_size); /* every element takes at least one byte */
    if (n > 0) FUZZ_CHECK(a->data != NULL);
    fuzz_touch(a->data, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(0, data, size);
    for (int numeric = 0; numeric < 2; numeric++)
        for (int limited = 0; limited < 2; limited++) {
            linstab_array a = {0};
            linstab_error err = {0};
            size_t max_bytes = limited ? (size_t)1 << 20 : 0;
            linstab_status st = numeric ? linstab_npy_read_numeric(path, max_bytes, &a, &err)
                                        : linstab_npy_read(path, max_bytes, &a, &err);
            if (st == LINSTAB_OK) {
                check_array(&a, size);
                if (limited) FUZZ_CHECK(linstab_npy_array_size(&a) <= max_bytes / sizeof(double));
            } else {
                FUZZ_CHECK(a.data == NULL);
                FUZZ_CHECK(err.msg[0] != '\0'); /* every failure says why */
            }
            linstab_npy_array_free(&a);
        }
    return 0;
}
