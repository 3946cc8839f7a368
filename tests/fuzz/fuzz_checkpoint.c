/*
 * fuzz_checkpoint.c -- libFuzzer harness of the map checkpoint reader
 * (linstab_checkpoint_parse / _match / _read, src/checkpoint.c).
 *
 * Input: one flags byte, then the checkpoint.  Every checkpoint ends with
 * the SHA-256 of the bytes before it, which random mutations almost never
 * keep right; so that the fuzzer reaches the fields behind it, flags bit 0
 * writes the buffer's final length into the header's length field
 * (offset 12) and bit 1 appends the SHA-256 of the buffer (else the input
 * is taken as it is, checksum included).
 * Checked on success: serialising the parsed checkpoint gives back exactly
 * the input bytes (the format has one encoding); it matches its own
 * identity and size and refuses another cell count (EINVAL); reading the
 * same bytes from a file with linstab_checkpoint_read gives the same flags
 * and values.  Failures say why.
 */
#include "fuzz_util.h"
#include "linstab/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned flags = data[0];
    size_t len = size - 1 + ((flags & 2) ? LINSTAB_SHA256_LEN : 0);
    unsigned char *buf = malloc(len ? len : 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data + 1, size - 1);
    if ((flags & 1) && len >= 20)
        for (int i = 0; i < 8; i++) buf[12 + i] = (unsigned char)((uint64_t)len >> (8 * i));
    if (flags & 2) {
        linstab_sha256 s;
        linstab_sha256_init(&s);
        linstab_sha256_update(&s, buf, size - 1);
        linstab_sha256_final(&s, buf + size - 1);
    }

    linstab_checkpoint ck;
    linstab_error err = {0};
    if (linstab_checkpoint_parse(buf, len, &ck, &err) != LINSTAB_OK) {
        FUZZ_CHECK(err.msg[0] != '\0' && ck.done == NULL && ck.vals == NULL && ck.ident.parts == NULL);
        free(buf);
        return 0;
    }
    FUZZ_CHECK(ck.version == LINSTAB_CKPT_VERSION);
    FUZZ_CHECK(ck.nfields >= 1 && ck.nfields <= LINSTAB_CKPT_MAX_FIELDS);
    FUZZ_CHECK(ck.ident.count <= LINSTAB_CKPT_MAX_PARTS);
    for (size_t c = 0; c < ck.ncells; c++) FUZZ_CHECK(ck.done[c] <= 1);
    fuzz_touch(ck.vals, ck.ncells * ck.nfields);

    unsigned char *out = NULL;
    size_t olen = 0;
    FUZZ_CHECK(linstab_checkpoint_serialize(&ck.ident, ck.ncells, ck.nfields, ck.done, ck.vals, &out,
                                            &olen, &err) == LINSTAB_OK);
    FUZZ_CHECK(olen == len && memcmp(out, buf, len) == 0);
    free(out);

    FUZZ_CHECK(linstab_checkpoint_match(&ck, &ck.ident, ck.ncells, ck.nfields, &err) == LINSTAB_OK);
    FUZZ_CHECK(linstab_checkpoint_match(&ck, &ck.ident, ck.ncells + 1, ck.nfields, &err) == LINSTAB_EINVAL);

    unsigned char *done = malloc(ck.ncells ? ck.ncells : 1);
    double *vals = malloc((ck.ncells * ck.nfields ? ck.ncells * ck.nfields : 1) * sizeof *vals);
    FUZZ_CHECK(done != NULL && vals != NULL);
    const char *path = fuzz_file(0, buf, len);
    FUZZ_CHECK(linstab_checkpoint_read(path, &ck.ident, ck.ncells, ck.nfields, done, vals, &err) == LINSTAB_OK);
    FUZZ_CHECK(memcmp(done, ck.done, ck.ncells) == 0);
    FUZZ_CHECK(memcmp(vals, ck.vals, ck.ncells * ck.nfields * sizeof *vals) == 0);
    free(done);
    free(vals);
    linstab_checkpoint_clear(&ck);
    free(buf);
    return 0;
}
