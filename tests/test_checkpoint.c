/*
 * test_checkpoint.c -- SHA-256 against the FIPS 180-4 / NIST example
 * vectors, run identities, and the checkpoint format: a round trip through
 * a file, and every refusal (no file, torn file, flipped byte, other
 * version, other run) with its message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "linstab/checkpoint.h"
#include "testutil.h"

static void hex(const unsigned char *d, char *out)
{
    for (int i = 0; i < LINSTAB_SHA256_LEN; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha_hex(const void *data, size_t len, char *out)
{
    linstab_sha256 s;
    unsigned char d[LINSTAB_SHA256_LEN];
    linstab_sha256_init(&s);
    linstab_sha256_update(&s, data, len);
    linstab_sha256_final(&s, d);
    hex(d, out);
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA256_2.pdf") and the
 * digest of the empty message. */
Test(sha256, matches_the_nist_example_vectors)
{
    char h[65];
    sha_hex("abc", 3, h);
    cr_expect_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha_hex("", 0, h);
    cr_expect_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(two, strlen(two), h);
    cr_expect_str_eq(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a' (FIPS 180-2 appendix B.3), fed in uneven pieces */
    linstab_sha256 s;
    linstab_sha256_init(&s);
    char a[997];
    memset(a, 'a', sizeof a);
    size_t left = 1000000;
    for (size_t piece = 1; left > 0; piece = piece % 900 + 13) {
        size_t k = piece < left ? piece : left;
        linstab_sha256_update(&s, a, k);
        left -= k;
    }
    unsigned char d[LINSTAB_SHA256_LEN];
    linstab_sha256_final(&s, d);
    hex(d, h);
    cr_expect_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Messages of 55, 56, 63, 64 and 65 bytes (the padding boundaries) hashed
 * in one piece and byte by byte agree. */
Test(sha256, streaming_agrees_with_one_piece_across_the_padding_boundaries)
{
    unsigned char msg[130];
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (unsigned char)(i * 37 + 11);
    size_t lens[] = {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 130};
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        char one[65], many[65];
        sha_hex(msg, lens[t], one);
        linstab_sha256 s;
        unsigned char d[LINSTAB_SHA256_LEN];
        linstab_sha256_init(&s);
        for (size_t i = 0; i < lens[t]; i++) linstab_sha256_update(&s, msg + i, 1);
        linstab_sha256_final(&s, d);
        hex(d, many);
        cr_expect_str_eq(one, many, "length %zu", lens[t]);
    }
}

static void make_ident(linstab_checkpoint_ident *id, double eta, const char *yaxis)
{
    linstab_error err;
    linstab_checkpoint_ident_init(id);
    cr_assert_eq(linstab_checkpoint_ident_add(id, "the contents of the family file", "FAMILY", 6, &err), LINSTAB_OK);
    cr_assert_eq(linstab_checkpoint_ident_addf(id, "--eta", &err, "%.17g", eta), LINSTAB_OK);
    cr_assert_eq(linstab_checkpoint_ident_addf(id, "the y axis", &err, "%s", yaxis), LINSTAB_OK);
}

static char *write_tmp(const unsigned char *buf, size_t len)
{
    char *path = tu_tmppath(".ckpt");
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(buf, 1, len, fp), len);
    cr_assert_eq(fclose(fp), 0);
    return path;
}

enum { NC = 6, NF = 3 };

static void grid(unsigned char *done, double *vals)
{
    for (size_t c = 0; c < NC; c++) {
        done[c] = c % 2;
        for (size_t k = 0; k < NF; k++) vals[c * NF + k] = c + 0.1 * (double)k;
    }
    vals[4] = NAN;
    vals[5] = -INFINITY;
}

Test(checkpoint, a_written_checkpoint_reads_back_bit_for_bit)
{
    linstab_checkpoint_ident id;
    make_ident(&id, 0.5, "batch=1:30:3");
    unsigned char done[NC], done2[NC];
    double vals[NC * NF], vals2[NC * NF];
    grid(done, vals);
    char *path = tu_tmppath(".ckpt");
    linstab_error err;
    cr_assert_eq(linstab_checkpoint_write(path, &id, NC, NF, done, vals, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_checkpoint_read(path, &id, NC, NF, done2, vals2, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(memcmp(done, done2, sizeof done), 0);
    cr_expect_eq(memcmp(vals, vals2, sizeof vals), 0); /* NaN and -inf bit patterns too */
    /* the file's length is the documented layout's */
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fclose(fp);
    size_t names = strlen("the contents of the family file") + strlen("--eta") + strlen("the y axis");
    cr_expect_eq((size_t)len, 24 + 3 * (2 + 32) + names + 12 + NC + 8 * NC * NF + 32);
    unlink(path);
    free(path);
    linstab_checkpoint_ident_clear(&id);
}

Test(checkpoint, a_missing_file_is_no_checkpoint)
{
    linstab_checkpoint_ident id;
    make_ident(&id, 0.5, "y");
    unsigned char done[NC];
    double vals[NC * NF];
    linstab_error err;
    cr_expect_eq(linstab_checkpoint_read("/nonexistent/map.checkpoint", &id, NC, NF, done, vals, &err), LINSTAB_EIO);
    cr_expect_str_eq(err.msg, "no checkpoint");
    linstab_checkpoint_ident_clear(&id);
}

Test(checkpoint, every_torn_prefix_is_refused_as_truncated)
{
    linstab_checkpoint_ident id;
    make_ident(&id, 0.5, "y");
    unsigned char done[NC], *buf;
    double vals[NC * NF];
    grid(done, vals);
    size_t len;
    linstab_error err;
    cr_assert_eq(linstab_checkpoint_serialize(&id, NC, NF, done, vals, &buf, &len, &err), LINSTAB_OK);
    for (size_t k = 1; k < len; k++) {
        linstab_checkpoint ck;
        cr_expect_eq(linstab_checkpoint_parse(buf, k, &ck, &err), LINSTAB_EDATA, "prefix %zu", k);
        cr_expect(strstr(err.msg, "truncated") != NULL, "prefix %zu: %s", k, err.msg);
        if (k >= 24) {
            char want[80];
            snprintf(want, sizeof want, "truncated (%zu of %zu bytes)", k, len);
            cr_expect_str_eq(err.msg, want);
        }
    }
    /* and through a file */
    char *path = write_tmp(buf, len / 2);
    cr_expect_eq(linstab_checkpoint_read(path, &id, NC, NF, done, vals, &err), LINSTAB_EDATA);
    char want[80];
    snprintf(want, sizeof want, "truncated (%zu of %zu bytes)", len / 2, len);
    cr_expect_str_eq(err.msg, want);
    unlink(path);
    free(path);
    free(buf);
    linstab_checkpoint_ident_clear(&id);
}

/* Every single flipped bit is refused; past the header it is the checksum
 * that catches it. */
Test(checkpoint, every_flipped_bit_is_refused)
{
    linstab_checkpoint_ident id;
    make_ident(&id, 0.5, "y");
    unsigned char done[NC], *buf;
    double vals[NC * NF];
    grid(done, vals);
    size_t len;
    linstab_error err;
    cr_assert_eq(linstab_checkpoint_serialize(&id, NC, NF, done, vals, &buf, &len, &err), LINSTAB_OK);
    linstab_checkpoint ck;
    cr_assert_eq(linstab_checkpoint_parse(buf, len, &ck, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(ck.ncells, NC);
    cr_expect_eq(ck.nfields, NF);
    cr_expect_eq(ck.ident.count, 3);
    linstab_checkpoint_clear(&ck);
    for (size_t k = 0; k < len; k++)
        for (int bit = 0; bit < 8; bit++) {
            buf[k] ^= (unsigned char)(1u << bit);
            cr_expect_neq(linstab_checkpoint_parse(buf, len, &ck, &err), LINSTAB_OK, "byte %zu bit %d", k, bit);
            if (k >= 20) cr_expect_str_eq(err.msg, "checksum mismatch (the file was altered or damaged)", "byte %zu", k);
            buf[k] ^= (unsigned char)(1u << bit);
        }
    free(buf);
    linstab_checkpoint_ident_clear(&id);
}

Test(checkpoint, other_versions_are_refused_by_version)
{
    linstab_checkpoint_ident id;
    make_ident(&id, 0.5, "y");
    unsigned char done[NC], *buf;
    double vals[NC * NF];
    grid(done, vals);
    size_t len;
    linstab_error err;
    cr_assert_eq(linstab_checkpoint_serialize(&id, NC, NF, done, vals, &buf, &len, &err), LINSTAB_OK);
    linstab_checkpoint ck;
    buf[8] = 3;
    cr_expect_eq(linstab_checkpoint_parse(buf, len, &ck, &err), LINSTAB_EDATA);
    cr_expect_str_eq(err.msg, "version 3, this linstab reads version 2");
    memcpy(buf, "LSMAPCK1", 8); /* the previous format */
    cr_expect_eq(linstab_checkpoint_parse(buf, len, &ck, &err), LINSTAB_EDATA);
    cr_expect(strncmp(err.msg, "version 1", 9) == 0, "%s", err.msg);
    memcpy(buf, "GARBAGE!", 8);
    cr_expect_eq(linstab_checkpoint_parse(buf, len, &ck, &err), LINSTAB_EDATA);
    cr_expect_str_eq(err.msg, "not a linstab map checkpoint");
    free(buf);
    linstab_checkpoint_ident_clear(&id);
}

Test(checkpoint, another_run_is_refused_naming_the_part_that_differs)
{
    linstab_checkpoint_ident id, other_eta, other_y, other_family;
    make_ident(&id, 0.5, "batch=1:30:3");
    make_ident(&other_eta, 0.5000000000000001, "batch=1:30:3");
    /* a y axis after a very long x axis: nothing is cut */
    char *longy = malloc(100001);
    memset(longy, '7', 100000);
    longy[100000] = '\0';
    make_ident(&other_y, 0.5, longy);
    longy[99999] = '8';
    linstab_checkpoint_ident longy2;
    make_ident(&longy2, 0.5, longy);
    linstab_error err;
    linstab_checkpoint_ident_init(&other_family);
    cr_assert_eq(linstab_checkpoint_ident_add(&other_family, "the contents of the family file", "FAMILx", 6, &err), LINSTAB_OK);
    cr_assert_eq(linstab_checkpoint_ident_addf(&other_family, "--eta", &err, "%.17g", 0.5), LINSTAB_OK);
    cr_assert_eq(linstab_checkpoint_ident_addf(&other_family, "the y axis", &err, "%s", "batch=1:30:3"), LINSTAB_OK);

    unsigned char done[NC];
    double vals[NC * NF];
    grid(done, vals);
    char *path = tu_tmppath(".ckpt");
    cr_assert_eq(linstab_checkpoint_write(path, &id, NC, NF, done, vals, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(linstab_checkpoint_read(path, &other_eta, NC, NF, done, vals, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.msg, "written by a different run: --eta differs");
    cr_expect_eq(linstab_checkpoint_read(path, &other_family, NC, NF, done, vals, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.msg, "written by a different run: the contents of the family file differs");
    cr_expect_eq(linstab_checkpoint_read(path, &id, NC + 1, NF, done, vals, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "different run") != NULL, "%s", err.msg);
    cr_assert_eq(linstab_checkpoint_write(path, &other_y, NC, NF, done, vals, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(linstab_checkpoint_read(path, &longy2, NC, NF, done, vals, &err), LINSTAB_EINVAL);
    cr_expect_str_eq(err.msg, "written by a different run: the y axis differs");
    cr_expect_eq(linstab_checkpoint_read(path, &other_y, NC, NF, done, vals, &err), LINSTAB_OK, "%s", err.msg);
    unlink(path);
    free(path);
    free(longy);
    linstab_checkpoint_ident_clear(&id);
    linstab_checkpoint_ident_clear(&other_eta);
    linstab_checkpoint_ident_clear(&other_y);
    linstab_checkpoint_ident_clear(&longy2);
    linstab_checkpoint_ident_clear(&other_family);
}

Test(checkpoint, a_file_part_hashes_the_file_contents)
{
    char *p1 = tu_tmppath(".bin");
    FILE *fp = fopen(p1, "wb");
    cr_assert_not_null(fp);
    static unsigned char big[200000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (unsigned char)(i * 7 + 3);
    cr_assert_eq(fwrite(big, 1, sizeof big, fp), sizeof big);
    fclose(fp);
    linstab_checkpoint_ident a, b;
    linstab_error err;
    linstab_checkpoint_ident_init(&a);
    linstab_checkpoint_ident_init(&b);
    cr_assert_eq(linstab_checkpoint_ident_add_file(&a, "f", p1, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_checkpoint_ident_add(&b, "f", big, sizeof big, &err), LINSTAB_OK);
    cr_expect_eq(memcmp(a.parts[0].digest, b.parts[0].digest, LINSTAB_SHA256_LEN), 0);
    cr_expect_eq(linstab_checkpoint_ident_add_file(&a, "g", "/nonexistent/x.npy", &err), LINSTAB_EIO);
    cr_expect(strstr(err.msg, "/nonexistent/x.npy") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_checkpoint_ident_add(&a, "", "", 0, &err), LINSTAB_EINVAL);
    unlink(p1);
    free(p1);
    linstab_checkpoint_ident_clear(&a);
    linstab_checkpoint_ident_clear(&b);
}

Test(checkpoint, a_failed_write_says_so_and_leaves_the_old_file)
{
    linstab_checkpoint_ident id;
    make_ident(&id, 0.5, "y");
    unsigned char done[NC];
    double vals[NC * NF];
    grid(done, vals);
    linstab_error err;
    cr_expect_eq(linstab_checkpoint_write("/nonexistent/dir/map.checkpoint", &id, NC, NF, done, vals, &err),
                 LINSTAB_EIO);
    cr_expect(strstr(err.msg, "/nonexistent/dir/map.checkpoint") != NULL, "%s", err.msg);
    linstab_checkpoint_ident_clear(&id);
}

Test(checkpoint, match_accepts_its_own_run_and_names_what_differs_otherwise)
{
    linstab_checkpoint_ident a, b;
    linstab_error err = {0};
    linstab_checkpoint_ident_init(&a);
    linstab_checkpoint_ident_init(&b);
    cr_assert_eq(linstab_checkpoint_ident_addf(&a, "eta", &err, "%.17g", 0.5), LINSTAB_OK);
    cr_assert_eq(linstab_checkpoint_ident_addf(&a, "the y axis", &err, "%s", "1:10"), LINSTAB_OK);
    cr_assert_eq(linstab_checkpoint_ident_addf(&b, "eta", &err, "%.17g", 0.5), LINSTAB_OK);
    cr_assert_eq(linstab_checkpoint_ident_addf(&b, "the y axis", &err, "%s", "1:11"), LINSTAB_OK);
    unsigned char done[3] = {1, 0, 1};
    double vals[6] = {1, 2, 3, 4, 5, 6};
    unsigned char *buf = NULL;
    size_t len = 0;
    cr_assert_eq(linstab_checkpoint_serialize(&a, 3, 2, done, vals, &buf, &len, &err), LINSTAB_OK, "%s", err.msg);
    linstab_checkpoint ck;
    cr_assert_eq(linstab_checkpoint_parse(buf, len, &ck, &err), LINSTAB_OK, "%s", err.msg);
    cr_expect_eq(linstab_checkpoint_match(&ck, &a, 3, 2, &err), LINSTAB_OK, "its own run: %s", err.msg);
    cr_expect_eq(linstab_checkpoint_match(&ck, &b, 3, 2, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "the y axis") != NULL, "names the part: %s", err.msg);
    cr_expect_neq(linstab_checkpoint_match(&ck, &a, 4, 2, &err), LINSTAB_OK, "another cell count");
    cr_expect_neq(linstab_checkpoint_match(&ck, &a, 3, 1, &err), LINSTAB_OK, "another field count");
    linstab_checkpoint_clear(&ck);
    free(buf);
    linstab_checkpoint_ident_clear(&a);
    linstab_checkpoint_ident_clear(&b);
}

/* A name given twice is refused when it is added, not only when a written
 * checkpoint is read back. */
Test(checkpoint, a_part_name_given_twice_is_refused_at_once)
{
    linstab_checkpoint_ident id;
    linstab_checkpoint_ident_init(&id);
    linstab_error err = {0};
    cr_assert_eq(linstab_checkpoint_ident_add(&id, "seed", "1", 1, &err), LINSTAB_OK);
    cr_assert_eq(linstab_checkpoint_ident_add(&id, "eta", "2", 1, &err), LINSTAB_OK);
    cr_expect_eq(linstab_checkpoint_ident_add(&id, "seed", "3", 1, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "'seed' is given twice") != NULL, "%s", err.msg);
    cr_expect_eq(id.count, 2);
    linstab_checkpoint_ident_clear(&id);
}
