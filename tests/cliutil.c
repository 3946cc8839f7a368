/* cliutil.c -- see cliutil.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include "cliutil.h"
#include "linstab/npy.h"

char cu_dir[512], cu_out[600], cu_err[600];

void cu_setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(cu_dir, sizeof cu_dir, "%s/linstab-cli-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(cu_dir));
    snprintf(cu_out, sizeof cu_out, "%s/stdout", cu_dir);
    snprintf(cu_err, sizeof cu_err, "%s/stderr", cu_dir);
}

void cu_teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cu_dir);
    if (system(cmd) != 0) cr_log_warn("could not remove %s", cu_dir);
}

int cu_run(const char *fmt, ...)
{
    const char *bin = getenv("LINSTAB_BIN");
    cr_assert_not_null(bin, "LINSTAB_BIN is not set");
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s' 2>'%s'", cu_dir, bin, args, cu_out, cu_err);
    int st = system(cmd);
    cr_assert(WIFEXITED(st), "linstab did not exit normally: %s", args);
    return WEXITSTATUS(st);
}

char *cu_slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) return calloc(1, 1);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = calloc((size_t)(len > 0 ? len : 0) + 1, 1);
    if (len > 0 && fread(s, 1, (size_t)len, fp) != (size_t)len) s[0] = '\0';
    fclose(fp);
    return s;
}

double cu_json_number(const char *json, const char *after, const char *key)
{
    const char *p = after ? strstr(json, after) : json;
    cr_assert_not_null(p, "no '%s' in %s", after, json);
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    p = strstr(p, pat);
    cr_assert_not_null(p, "no key %s", key);
    p += strlen(pat);
    if (strncmp(p, "null", 4) == 0) return NAN;
    if (strncmp(p, "true", 4) == 0) return 1.0;
    if (strncmp(p, "false", 5) == 0) return 0.0;
    return strtod(p, NULL);
}

void cu_write_npy(const char *name, const double *data, size_t ndim, const size_t *shape)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", cu_dir, name);
    linstab_error err;
    cr_assert_eq(linstab_npy_write(path, data, ndim, shape, &err), LINSTAB_OK, "%s", err.msg);
}

int cu_exists(const char *name)
{
    char path[700];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", cu_dir, name);
    return stat(path, &sb) == 0;
}
