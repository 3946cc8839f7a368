/*
 * fuzz_safetensors.c -- libFuzzer harness of the safetensors reader
 * (src/core/safetensors.c) and of the MLP built from a state dict
 * (src/nn/mlp_safetensors.c).
 *
 * The input is the file: it is read with linstab_safetensors_read (from a
 * file) and linstab_safetensors_parse (from memory), with and without a
 * 1 MiB limit; both must agree.  On success every tensor must be
 * consistent (at most LINSTAB_NPY_MAX_NDIM dimensions, a size that does
 * not overflow and fits in the file, a buffer holding every element, all
 * finite), and linstab_mlp_from_safetensors must either fail with a
 * message or give a model whose parameters are the tensors' entries.
 */
#include <math.h>

#include "fuzz_util.h"
#include "linstab/mlp.h"
#include "linstab/safetensors.h"

static void check_file(const linstab_safetensors *st, size_t file_size)
{
    size_t total = 0;
    for (size_t i = 0; i < st->count; i++) {
        const linstab_array *a = &st->tensors[i].array;
        FUZZ_CHECK(st->tensors[i].name != NULL && st->tensors[i].name[0] != '\0');
        FUZZ_CHECK(a->ndim <= LINSTAB_NPY_MAX_NDIM);
        size_t n = 1;
        for (size_t d = 0; d < a->ndim; d++) FUZZ_CHECK(!__builtin_mul_overflow(n, a->shape[d], &n));
        FUZZ_CHECK(n == linstab_npy_array_size(a));
        total += n;
        FUZZ_CHECK(a->data != NULL);
        for (size_t j = 0; j < n; j++) FUZZ_CHECK(isfinite(a->data[j])); /* also reads every element */
    }
    FUZZ_CHECK(4 * total <= file_size); /* every element takes at least 4 bytes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(0, data, size);
    for (int limited = 0; limited < 2; limited++) {
        size_t max_bytes = limited ? (size_t)1 << 20 : 0;
        linstab_safetensors a, b;
        linstab_error err = {0}, err2 = {0};
        linstab_status sa = linstab_safetensors_read(path, max_bytes, &a, &err);
        linstab_status sb = linstab_safetensors_parse(data, size, path, max_bytes, &b, &err2);
        FUZZ_CHECK(sa == sb);
        if (sa != LINSTAB_OK) {
            FUZZ_CHECK(a.tensors == NULL && a.count == 0 && a.nmeta == 0);
            FUZZ_CHECK(err.msg[0] != '\0'); /* every failure says why */
            continue;
        }
        check_file(&a, size);
        FUZZ_CHECK(a.count == b.count);
        linstab_mlp *m = NULL;
        linstab_status sm = linstab_mlp_from_safetensors(&a, path, "tanh", NULL, &m, &err);
        if (sm == LINSTAB_OK) {
            FUZZ_CHECK(m != NULL && m->nlayers >= 1);
            size_t count = 0;
            for (size_t i = 0; i < a.count; i++) count += linstab_npy_array_size(&a.tensors[i].array);
            FUZZ_CHECK(count == m->p); /* every tensor went into theta */
            linstab_mlp_free(m);
        } else {
            FUZZ_CHECK(m == NULL && err.msg[0] != '\0');
        }
        linstab_safetensors_free(&a);
        linstab_safetensors_free(&b);
    }
    return 0;
}
