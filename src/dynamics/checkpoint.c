/*
 * checkpoint.c -- run identities (SHA-256 digests of what a run depends on), and the map
 * checkpoint format of checkpoint.h: serialise, parse from memory (every
 * length checked before use), match against a run, atomic write.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linstab/checkpoint.h"

/* ---- identities --------------------------------------------------------- */

void linstab_checkpoint_ident_init(linstab_checkpoint_ident *id) { memset(id, 0, sizeof *id); }

void linstab_checkpoint_ident_clear(linstab_checkpoint_ident *id)
{
    free(id->parts);
    memset(id, 0, sizeof *id);
}

/* A new part named name (digest left to the caller). */
static linstab_checkpoint_part *ident_push(linstab_checkpoint_ident *id, const char *name, linstab_error *err)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl >= LINSTAB_CKPT_NAME_LEN) {
        linstab_error_set(err, LINSTAB_EINVAL, "checkpoint identity: part name '%.40s...' is empty or longer than %d bytes",
                          name, LINSTAB_CKPT_NAME_LEN - 1);
        return NULL;
    }
    for (size_t i = 0; i < id->count; i++)
        if (strcmp(id->parts[i].name, name) == 0) {
            /* a checkpoint with two parts of one name would be refused when read */
            linstab_error_set(err, LINSTAB_EINVAL, "checkpoint identity: the part '%s' is given twice", name);
            return NULL;
        }
    if (id->count >= LINSTAB_CKPT_MAX_PARTS) {
        linstab_error_set(err, LINSTAB_EINVAL, "checkpoint identity: more than %d parts", LINSTAB_CKPT_MAX_PARTS);
        return NULL;
    }
    if (id->count == id->cap) {
        size_t cap = id->cap ? 2 * id->cap : 16;
        linstab_checkpoint_part *np = realloc(id->parts, cap * sizeof *np);
        if (np == NULL) {
            linstab_error_set(err, LINSTAB_ENOMEM, "checkpoint identity: out of memory");
            return NULL;
        }
        id->parts = np;
        id->cap = cap;
    }
    linstab_checkpoint_part *p = &id->parts[id->count++];
    memset(p, 0, sizeof *p);
    memcpy(p->name, name, nl);
    return p;
}

linstab_status linstab_checkpoint_ident_add(linstab_checkpoint_ident *id, const char *name, const void *data,
                                      size_t len, linstab_error *err)
{
    linstab_checkpoint_part *p = ident_push(id, name, err);
    if (p == NULL) return err ? err->code : LINSTAB_EINVAL;
    linstab_sha256 s;
    linstab_sha256_init(&s);
    linstab_sha256_update(&s, data, len);
    linstab_sha256_final(&s, p->digest);
    return LINSTAB_OK;
}

linstab_status linstab_checkpoint_ident_addf(linstab_checkpoint_ident *id, const char *name, linstab_error *err,
                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return linstab_error_set(err, LINSTAB_EINVAL, "checkpoint identity: cannot format %s", name);
    char *s = malloc((size_t)n + 1);
    if (s == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "checkpoint identity: out of memory");
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    linstab_status st = linstab_checkpoint_ident_add(id, name, s, (size_t)n, err);
    free(s);
    return st;
}

linstab_status linstab_checkpoint_ident_add_file(linstab_checkpoint_ident *id, const char *name,
                                           const char *path, linstab_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return linstab_error_set(err, LINSTAB_EIO, "cannot read %s: %s", path, strerror(errno));
    linstab_sha256 s;
    linstab_sha256_init(&s);
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0) linstab_sha256_update(&s, buf, got);
    int bad = ferror(fp);
    int e = errno;
    fclose(fp);
    if (bad) return linstab_error_set(err, LINSTAB_EIO, "cannot read %s: %s", path, strerror(e));
    linstab_checkpoint_part *p = ident_push(id, name, err);
    if (p == NULL) return err ? err->code : LINSTAB_EINVAL;
    linstab_sha256_final(&s, p->digest);
    return LINSTAB_OK;
}

/* ---- format ------------------------------------------------------------- */

static const char magic[8] = {'L', 'S', 'M', 'A', 'P', 'C', 'K', '2'};
enum { HEAD = 24 }; /* magic, version, total length, part count */

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void linstab_checkpoint_clear(linstab_checkpoint *ck)
{
    linstab_checkpoint_ident_clear(&ck->ident);
    free(ck->done);
    free(ck->vals);
    memset(ck, 0, sizeof *ck);
}

linstab_status linstab_checkpoint_serialize(const linstab_checkpoint_ident *id, size_t ncells, size_t nfields,
                                            const unsigned char *done, const double *vals,
                                            unsigned char **buf, size_t *len, linstab_error *err)
{
    *buf = NULL;
    *len = 0;
    if (nfields < 1 || nfields > LINSTAB_CKPT_MAX_FIELDS || id->count > LINSTAB_CKPT_MAX_PARTS)
        return linstab_error_set(err, LINSTAB_EINVAL, "checkpoint: %zu values per cell, %zu identity parts",
                                 nfields, id->count);
    size_t total = HEAD;
    for (size_t i = 0; i < id->count; i++) total += 2 + strlen(id->parts[i].name) + LINSTAB_SHA256_LEN;
    total += 12;
    size_t per = 1 + 8 * nfields;
    if (ncells > (SIZE_MAX - total - LINSTAB_SHA256_LEN) / per)
        return linstab_error_set(err, LINSTAB_ENOMEM, "checkpoint: %zu cells do not fit in memory", ncells);
    total += ncells * per + LINSTAB_SHA256_LEN;
    unsigned char *b = malloc(total);
    if (b == NULL)
        return linstab_error_set(err, LINSTAB_ENOMEM, "checkpoint: out of memory (%zu bytes)", total);
    unsigned char *p = b;
    memcpy(p, magic, 8);
    put_le(p + 8, LINSTAB_CKPT_VERSION, 4);
    put_le(p + 12, total, 8);
    put_le(p + 20, id->count, 4);
    p += HEAD;
    for (size_t i = 0; i < id->count; i++) {
        size_t nl = strlen(id->parts[i].name);
        put_le(p, nl, 2);
        memcpy(p + 2, id->parts[i].name, nl);
        memcpy(p + 2 + nl, id->parts[i].digest, LINSTAB_SHA256_LEN);
        p += 2 + nl + LINSTAB_SHA256_LEN;
    }
    put_le(p, ncells, 8);
    put_le(p + 8, nfields, 4);
    p += 12;
    for (size_t c = 0; c < ncells; c++) *p++ = done[c] ? 1 : 0;
    for (size_t q = 0; q < ncells * nfields; q++) {
        uint64_t bits;
        memcpy(&bits, &vals[q], 8);
        put_le(p, bits, 8);
        p += 8;
    }
    linstab_sha256 s;
    linstab_sha256_init(&s);
    linstab_sha256_update(&s, b, (size_t)(p - b));
    linstab_sha256_final(&s, p);
    *buf = b;
    *len = total;
    return LINSTAB_OK;
}

linstab_status linstab_checkpoint_parse(const void *buf, size_t len, linstab_checkpoint *out,
                                        linstab_error *err)
{
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    enum { MIN_LEN = HEAD + 12 + LINSTAB_SHA256_LEN };
    size_t pre = len < 7 ? len : 7;
    if (len == 0 || memcmp(b, magic, pre) != 0)
        return linstab_error_set(err, LINSTAB_EDATA, "not a linstab map checkpoint");
    if (len < 12)
        return linstab_error_set(err, LINSTAB_EDATA, "truncated (%zu of at least %d bytes)", len, MIN_LEN);
    if (b[7] != magic[7]) /* version 1 had no version field: the magic's last byte was '1' */
        return linstab_error_set(err, LINSTAB_EDATA, "version %s, this linstab reads version %u",
                                 b[7] == '1' ? "1 (an older linstab)" : "unknown", LINSTAB_CKPT_VERSION);
    if (get_le(b + 8, 4) != LINSTAB_CKPT_VERSION)
        return linstab_error_set(err, LINSTAB_EDATA, "version %llu, this linstab reads version %u",
                                 (unsigned long long)get_le(b + 8, 4), LINSTAB_CKPT_VERSION);
    if (len < HEAD)
        return linstab_error_set(err, LINSTAB_EDATA, "truncated (%zu of at least %d bytes)", len, MIN_LEN);
    uint64_t total = get_le(b + 12, 8);
    if (total < MIN_LEN)
        return linstab_error_set(err, LINSTAB_EDATA, "corrupt header (a length of %llu bytes)",
                                 (unsigned long long)total);
    if (len < total)
        return linstab_error_set(err, LINSTAB_EDATA, "truncated (%zu of %llu bytes)", len,
                                 (unsigned long long)total);
    if (len > total)
        return linstab_error_set(err, LINSTAB_EDATA, "%zu bytes where the header says %llu (trailing data)",
                                 len, (unsigned long long)total);
    /* checksum first: nothing below is trusted before it */
    unsigned char dg[LINSTAB_SHA256_LEN];
    linstab_sha256 s;
    linstab_sha256_init(&s);
    linstab_sha256_update(&s, b, len - LINSTAB_SHA256_LEN);
    linstab_sha256_final(&s, dg);
    if (memcmp(dg, b + len - LINSTAB_SHA256_LEN, LINSTAB_SHA256_LEN) != 0)
        return linstab_error_set(err, LINSTAB_EDATA, "checksum mismatch (the file was altered or damaged)");
    size_t end = len - LINSTAB_SHA256_LEN, off = HEAD;
    uint64_t np = get_le(b + 20, 4);
    if (np > LINSTAB_CKPT_MAX_PARTS)
        return linstab_error_set(err, LINSTAB_EDATA, "corrupt header (%llu identity parts)", (unsigned long long)np);
    linstab_status st = LINSTAB_OK;
    for (uint64_t i = 0; i < np && st == LINSTAB_OK; i++) {
        if (end - off < 2) {
            st = linstab_error_set(err, LINSTAB_EDATA, "corrupt identity (part %llu past the end)", (unsigned long long)i);
            break;
        }
        size_t nl = (size_t)get_le(b + off, 2);
        if (nl == 0 || nl >= LINSTAB_CKPT_NAME_LEN || end - off - 2 < nl + LINSTAB_SHA256_LEN ||
            memchr(b + off + 2, '\0', nl) != NULL) {
            st = linstab_error_set(err, LINSTAB_EDATA, "corrupt identity (part %llu)", (unsigned long long)i);
            break;
        }
        char name[LINSTAB_CKPT_NAME_LEN] = {0};
        memcpy(name, b + off + 2, nl);
        /* a repeated name would make the identity match no run, not even its own */
        for (size_t j = 0; j < out->ident.count && st == LINSTAB_OK; j++)
            if (strcmp(out->ident.parts[j].name, name) == 0)
                st = linstab_error_set(err, LINSTAB_EDATA, "corrupt identity (part %llu repeats the name '%s')",
                                       (unsigned long long)i, name);
        if (st != LINSTAB_OK) break;
        linstab_checkpoint_part *p = ident_push(&out->ident, name, err);
        if (p == NULL) {
            st = err ? err->code : LINSTAB_ENOMEM;
            break;
        }
        memcpy(p->digest, b + off + 2 + nl, LINSTAB_SHA256_LEN);
        off += 2 + nl + LINSTAB_SHA256_LEN;
    }
    if (st == LINSTAB_OK && end - off < 12)
        st = linstab_error_set(err, LINSTAB_EDATA, "corrupt header (no cell count)");
    uint64_t nc = 0, nf = 0;
    if (st == LINSTAB_OK) {
        nc = get_le(b + off, 8);
        nf = get_le(b + off + 8, 4);
        off += 12;
        if (nf < 1 || nf > LINSTAB_CKPT_MAX_FIELDS || nc > (end - off) / (1 + 8 * nf) ||
            nc * (1 + 8 * nf) != end - off)
            st = linstab_error_set(err, LINSTAB_EDATA,
                                   "corrupt header (%llu cells of %llu values in %zu bytes)",
                                   (unsigned long long)nc, (unsigned long long)nf, end - off);
    }
    if (st == LINSTAB_OK) {
        out->ncells = (size_t)nc;
        out->nfields = (size_t)nf;
        out->done = malloc(nc ? (size_t)nc : 1);
        out->vals = malloc(nc ? (size_t)(nc * nf) * sizeof(double) : 1);
        if (out->done == NULL || out->vals == NULL)
            st = linstab_error_set(err, LINSTAB_ENOMEM, "checkpoint: out of memory for %llu cells",
                                   (unsigned long long)nc);
    }
    for (size_t c = 0; st == LINSTAB_OK && c < out->ncells; c++) {
        unsigned char v = b[off + c];
        if (v > 1)
            st = linstab_error_set(err, LINSTAB_EDATA, "corrupt done flag %u at cell %zu", v, c);
        out->done[c] = v;
    }
    if (st == LINSTAB_OK) {
        off += out->ncells;
        for (size_t q = 0; q < out->ncells * out->nfields; q++) {
            uint64_t bits = get_le(b + off + 8 * q, 8);
            memcpy(&out->vals[q], &bits, 8);
        }
        out->version = LINSTAB_CKPT_VERSION;
    }
    if (st != LINSTAB_OK) linstab_checkpoint_clear(out);
    return st;
}

linstab_status linstab_checkpoint_match(const linstab_checkpoint *ck, const linstab_checkpoint_ident *id,
                                        size_t ncells, size_t nfields, linstab_error *err)
{
    /* the first part (in the run's order) whose name is missing or whose digest differs */
    for (size_t i = 0; i < id->count; i++) {
        const linstab_checkpoint_part *want = &id->parts[i], *have = NULL;
        for (size_t j = 0; j < ck->ident.count && have == NULL; j++)
            if (strcmp(ck->ident.parts[j].name, want->name) == 0) have = &ck->ident.parts[j];
        if (have == NULL || memcmp(have->digest, want->digest, LINSTAB_SHA256_LEN) != 0)
            return linstab_error_set(err, LINSTAB_EINVAL, "written by a different run: %s differs%s",
                                     want->name, have == NULL ? " (not recorded)" : "");
    }
    for (size_t j = 0; j < ck->ident.count; j++) {
        int found = 0;
        for (size_t i = 0; i < id->count && !found; i++)
            found = strcmp(ck->ident.parts[j].name, id->parts[i].name) == 0;
        if (!found)
            return linstab_error_set(err, LINSTAB_EINVAL, "written by a different run: it has %s, this run has not",
                                     ck->ident.parts[j].name);
    }
    if (ck->ncells != ncells || ck->nfields != nfields)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "written by a different run: %zu cells of %zu values, this run has %zu of %zu",
                                 ck->ncells, ck->nfields, ncells, nfields);
    return LINSTAB_OK;
}

linstab_status linstab_checkpoint_read(const char *path, const linstab_checkpoint_ident *id, size_t ncells,
                                       size_t nfields, unsigned char *done, double *vals,
                                       linstab_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        if (errno == ENOENT) return linstab_error_set(err, LINSTAB_EIO, "no checkpoint");
        return linstab_error_set(err, LINSTAB_EIO, "cannot read: %s", strerror(errno));
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || sb.st_size < 0) {
        int e = errno;
        fclose(fp);
        return linstab_error_set(err, LINSTAB_EIO, "cannot read: %s", strerror(e));
    }
    size_t len = (size_t)sb.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        fclose(fp);
        return linstab_error_set(err, LINSTAB_ENOMEM, "out of memory reading %zu bytes", len);
    }
    size_t got = fread(buf, 1, len, fp);
    int bad = ferror(fp), e = errno;
    fclose(fp);
    if (bad) {
        free(buf);
        return linstab_error_set(err, LINSTAB_EIO, "cannot read: %s", strerror(e));
    }
    if (got == 0) {
        free(buf);
        return linstab_error_set(err, LINSTAB_EDATA, "truncated (0 bytes: an empty file)");
    }
    linstab_checkpoint ck;
    linstab_status st = linstab_checkpoint_parse(buf, got, &ck, err);
    free(buf);
    if (st != LINSTAB_OK) return st;
    st = linstab_checkpoint_match(&ck, id, ncells, nfields, err);
    if (st == LINSTAB_OK) {
        memcpy(done, ck.done, ncells);
        memcpy(vals, ck.vals, ncells * nfields * sizeof *vals);
    }
    linstab_checkpoint_clear(&ck);
    return st;
}

linstab_status linstab_checkpoint_write(const char *path, const linstab_checkpoint_ident *id, size_t ncells,
                                        size_t nfields, const unsigned char *done, const double *vals,
                                        linstab_error *err)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    linstab_status st = linstab_checkpoint_serialize(id, ncells, nfields, done, vals, &buf, &len, err);
    if (st != LINSTAB_OK) return st;
    size_t pl = strlen(path) + 16;
    char *tmp = malloc(pl);
    if (tmp == NULL) {
        free(buf);
        return linstab_error_set(err, LINSTAB_ENOMEM, "checkpoint: out of memory");
    }
    snprintf(tmp, pl, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = linstab_error_set(err, LINSTAB_EIO, "cannot write the checkpoint %s: %s", path, strerror(errno));
        free(tmp);
        free(buf);
        return st;
    }
    const char *step = NULL;
    int e = 0;
    (void)fchmod(fd, 0644); /* mkstemp's 0600: the checkpoint is as readable as the outputs */
    for (size_t off = 0; off < len && step == NULL;) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            e = w < 0 ? errno : ENOSPC;
            step = "write";
        } else {
            off += (size_t)w;
        }
    }
    if (step == NULL && fsync(fd) != 0) {
        e = errno;
        step = "sync";
    }
    if (close(fd) != 0 && step == NULL) {
        e = errno;
        step = "close";
    }
    if (step == NULL && rename(tmp, path) != 0) {
        e = errno;
        step = "rename";
    }
    if (step != NULL) {
        unlink(tmp);
        st = linstab_error_set(err, LINSTAB_EIO, "cannot write the checkpoint %s (%s): %s", path, step,
                               strerror(e));
    }
    free(tmp);
    free(buf);
    return st;
}
