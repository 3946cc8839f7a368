/*
 * fuzz_util.h -- shared helpers of the libFuzzer harnesses (tests/fuzz/).
 *
 * The readers under test take file names, so each harness writes its input
 * to a file first: fuzz_file() keeps one anonymous in-memory file (memfd)
 * per slot, rewrites it for every execution and returns its name
 * /proc/self/fd/N, so no disk is touched and nothing is left behind.
 * fuzz_dir() is a private folder (for a model checkpoint's several files)
 * removed at exit.  fuzz_touch() reads every element of a buffer a reader
 * returned, so that ASan reports a buffer smaller than the shape it claims.
 * FUZZ_CHECK aborts (a crash for libFuzzer) when an invariant of a reader's
 * successful result does not hold.
 */
#ifndef LINSTAB_FUZZ_UTIL_H
#define LINSTAB_FUZZ_UTIL_H

/* memfd_create needs _GNU_SOURCE: tests/fuzz/meson.build defines it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#define FUZZ_SLOTS 8

/* Write data[0..size) to the in-memory file of `slot` (0 .. FUZZ_SLOTS-1),
 * replacing its previous contents; returns its name (static storage). */
static inline const char *fuzz_file(int slot, const uint8_t *data, size_t size)
{
    static int fds[FUZZ_SLOTS] = {-1, -1, -1, -1, -1, -1, -1, -1};
    static char names[FUZZ_SLOTS][64];
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("linstab-fuzz", 0);
        if (fds[slot] < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(names[slot], sizeof names[slot], "/proc/self/fd/%d", fds[slot]);
    }
    if (ftruncate(fds[slot], 0) != 0) abort();
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fds[slot], data + done, size - done, (off_t)done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    return names[slot];
}

static char fuzz_dir_name[64];

static void fuzz_dir_remove(void)
{
    if (fuzz_dir_name[0] == '\0') return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_name);
    if (system(cmd) != 0) {}
}

/* A private temporary folder (in /dev/shm when it exists), made once and
 * removed at exit. */
static inline const char *fuzz_dir(void)
{
    if (fuzz_dir_name[0] == '\0') {
        snprintf(fuzz_dir_name, sizeof fuzz_dir_name, "%s/linstab-fuzz-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (mkdtemp(fuzz_dir_name) == NULL) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_name;
}

/* Write data[0..size) to DIR/name (replacing it); size 0 with data NULL
 * removes the file instead. */
static inline void fuzz_dir_file(const char *name, const uint8_t *data, size_t size)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    unlink(path);
    if (data == NULL) return;
    FILE *fp = fopen(path, "wb");
    if (fp == NULL) abort();
    if (size > 0 && fwrite(data, 1, size, fp) != size) abort();
    if (fclose(fp) != 0) abort();
}

/* Read every one of n doubles (ASan reports a short buffer); returns their
 * sum so that the reads are not optimised away. */
static inline double fuzz_touch(const double *x, size_t n)
{
    volatile double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

/* A NUL-terminated copy of the input (caller frees). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
