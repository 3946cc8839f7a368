/*
 * fuzz_idx.c -- libFuzzer harness of the IDX reader (linstab_data_idx_read in
 * src/data.c), plain and gzip'd.
 *
 * Input: one flags byte, then the file.  Flags bit 0: gzip the file first
 * (zlib, so that the reader's gzip path sees a valid stream of fuzzed
 * contents; without it the bytes are passed as they are, and may
 * themselves be a gzip stream, e.g. a corrupt one); bits 2-7: the item
 * limit (0: all).
 * Checked on success: ndim 1 or 2, a shape whose product does not
 * overflow, no more items than the uncompressed file has bytes, at most
 * `limit` items, and every element readable and in [0, 255 * scale].
 */
#include <zlib.h>

#include "fuzz_util.h"
#include "linstab/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned flags = data[0];
    const uint8_t *body = data + 1;
    size_t blen = size - 1;
    uint8_t *gz = NULL;
    const char *path;
    if (flags & 1) {
        uLongf glen = compressBound(blen) + 32;
        gz = malloc(glen);
        FUZZ_CHECK(gz != NULL);
        /* a gzip stream: deflate with windowBits 15 + 16 */
        z_stream zs = {0};
        FUZZ_CHECK(deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
        zs.next_in = (Bytef *)body;
        zs.avail_in = (uInt)blen;
        zs.next_out = gz;
        zs.avail_out = (uInt)glen;
        FUZZ_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
        path = fuzz_file(0, gz, zs.total_out);
        deflateEnd(&zs);
    } else {
        path = fuzz_file(0, body, blen);
    }
    size_t limit = flags >> 2;
    const double scale = 1.0 / 255.0;
    linstab_array a = {0};
    linstab_error err = {0};
    if (linstab_data_idx_read(path, limit, scale, &a, &err) == LINSTAB_OK) {
        FUZZ_CHECK(a.ndim == 1 || a.ndim == 2);
        size_t n = 1;
        for (size_t i = 0; i < a.ndim; i++) FUZZ_CHECK(!__builtin_mul_overflow(n, a.shape[i], &n));
        int gz_input = !(flags & 1) && blen >= 2 && body[0] == 0x1f && body[1] == 0x8b;
        if (!gz_input) FUZZ_CHECK(n <= blen);
        if (limit > 0) FUZZ_CHECK(a.shape[0] <= limit);
        for (size_t j = 0; j < n; j++) FUZZ_CHECK(a.data[j] >= 0.0 && a.data[j] <= 255.0 * scale);
    } else {
        FUZZ_CHECK(a.data == NULL && err.msg[0] != '\0');
    }
    linstab_npy_array_free(&a);
    free(gz);
    return 0;
}
