/* cli_output.c -- the command's outputs: files written under a temporary
 * name and renamed when complete, directories, the progress bar. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_output_open(const char *cmd, const char *path, cli_output *o)
{
    memset(o, 0, sizeof *o);
    if (path == NULL) {
        o->fp = stdout;
        return 0;
    }
    o->path = path;
    size_t len = strlen(path) + 16;
    o->tmp = malloc(len);
    if (o->tmp == NULL) return 1;
    snprintf(o->tmp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        fprintf(stderr, "linstab %s: error: cannot write %s: %s\n", cmd, path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return 1;
    }
    fchmod(fd, 0644);
    o->fp = fdopen(fd, "w");
    if (o->fp == NULL) {
        close(fd);
        unlink(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
        return 1;
    }
    return 0;
}

int cli_output_close(const char *cmd, cli_output *o, int ok)
{
    if (o->fp == stdout) return fflush(stdout) == 0 ? 0 : 1;
    int rc = 0;
    if (ferror(o->fp)) ok = 0;
    if (fclose(o->fp) != 0) ok = 0;
    if (ok && rename(o->tmp, o->path) != 0) {
        fprintf(stderr, "linstab %s: error: cannot write %s: %s\n", cmd, o->path, strerror(errno));
        ok = 0;
        rc = 1;
    }
    if (!ok) {
        unlink(o->tmp);
        if (rc == 0) rc = 1;
    }
    free(o->tmp);
    o->tmp = NULL;
    return ok ? 0 : rc;
}

void cli_progress(const char *what, size_t done, size_t total, int quiet)
{
    if (quiet || !isatty(STDERR_FILENO) || total == 0) return;
    int width = 30, fill = (int)((double)done / (double)total * width);
    fprintf(stderr, "\r%-10s [", what);
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : ' ', stderr);
    fprintf(stderr, "] %zu/%zu", done, total);
    if (done >= total) fputc('\n', stderr);
    fflush(stderr);
}

int cli_mkdir_p(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        buf[i] = c;
    }
    return 0;
}

