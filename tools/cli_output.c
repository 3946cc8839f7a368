/* cli_output.c -- the command's outputs: files written under a temporary
 * name and renamed when complete, directories, the progress bar. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int stdout_reported; /* a failure of standard output already said */

int cli_stdout_check(const char *cmd)
{
    errno = 0;
    int r = fflush(stdout);
    int e = errno;
    if (r == 0 && !ferror(stdout)) return 0;
    if (!stdout_reported)
        fprintf(stderr, "linstab%s%s: error: writing standard output: %s\n", cmd ? " " : "",
                cmd ? cmd : "", e != 0 ? strerror(e) : "write error");
    stdout_reported = 1;
    return 1;
}

int cli_output_open(const char *cmd, const char *path, cli_output *o)
{
    memset(o, 0, sizeof *o);
    if (path == NULL) {
        o->fp = stdout;
        return 0;
    }
    o->path = path;
    size_t len = strlen(path) + sizeof ".tmp.XXXXXX";
    o->tmp = malloc(len);
    if (o->tmp == NULL) {
        fprintf(stderr, "linstab %s: error: cannot write %s: out of memory\n", cmd, path);
        return 1;
    }
    snprintf(o->tmp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        fprintf(stderr, "linstab %s: error: cannot write %s: %s\n", cmd, path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return 1;
    }
    /* mkstemp makes 0600; ordinary output is 0644, as the NPY files */
    if (fchmod(fd, 0644) != 0 || (o->fp = fdopen(fd, "w")) == NULL) {
        fprintf(stderr, "linstab %s: error: cannot write %s: %s\n", cmd, path, strerror(errno));
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
    if (o->fp == NULL) return ok ? 0 : 1;
    if (o->fp == stdout) {
        o->fp = NULL;
        return cli_stdout_check(cmd) != 0 || !ok ? 1 : 0;
    }
    /* a write error (earlier or now, while flushing) is reported here with
     * the file's name; a failure the caller had (ok = 0) it has reported */
    int failed = 0, e = 0;
    errno = 0;
    if (fflush(o->fp) != 0 || ferror(o->fp)) {
        failed = 1;
        e = errno;
    }
    if (!failed && fsync(fileno(o->fp)) != 0 && errno != EINVAL && errno != EROFS) {
        failed = 1;
        e = errno;
    }
    errno = 0;
    if (fclose(o->fp) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    o->fp = NULL;
    if (ok && failed)
        fprintf(stderr, "linstab %s: error: writing %s: %s\n", cmd, o->path,
                e != 0 ? strerror(e) : "write error");
    if (ok && !failed && rename(o->tmp, o->path) != 0) {
        fprintf(stderr, "linstab %s: error: cannot rename %s to %s: %s\n", cmd, o->tmp, o->path,
                strerror(errno));
        failed = 1;
    }
    if (!ok || failed) unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
    return ok && !failed ? 0 : 1;
}

/* The old one-call bar, on the shared state of cli_progress.h: a bar
 * begins at done 0 (or a new label) and ends at done = total. */
void cli_progress(const char *what, size_t done, size_t total, int quiet)
{
    static cli_progress_state st;
    static int running;
    if (total == 0) return;
    if (!running || done == 0 || st.what == NULL || strcmp(st.what, what) != 0) {
        if (running) cli_progress_end(&st);
        cli_progress_begin(&st, what, 0, total, quiet);
        running = 1;
    }
    cli_progress_update(&st, done, total);
    if (done >= total) {
        cli_progress_end(&st);
        running = 0;
    }
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

