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

int cu_vrun(const char *env, const char *to, const char *fmt, va_list ap)
{
    const char *bin = getenv("LINSTAB_BIN");
    cr_assert_not_null(bin, "LINSTAB_BIN is not set");
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    cr_assert_geq(n, 0);
    char *args = malloc((size_t)n + 1);
    cr_assert_not_null(args);
    vsnprintf(args, (size_t)n + 1, fmt, ap);
    const char *pre = env ? "env " : "", *envs = env ? env : "", *o = to ? to : cu_out;
    const char *form = "cd '%s' && %s%s%s'%s' %s >'%s' 2>'%s'";
    const char *sep = env ? " " : "";
    int m = snprintf(NULL, 0, form, cu_dir, pre, envs, sep, bin, args, o, cu_err);
    char *cmd = malloc((size_t)m + 1);
    cr_assert_not_null(cmd);
    snprintf(cmd, (size_t)m + 1, form, cu_dir, pre, envs, sep, bin, args, o, cu_err);
    int st = system(cmd);
    free(cmd);
    cr_assert(WIFEXITED(st), "linstab did not exit normally (signal %d): %.200s", WIFSIGNALED(st) ? WTERMSIG(st) : 0,
              args);
    free(args);
    return WEXITSTATUS(st);
}

int cu_run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = cu_vrun(NULL, NULL, fmt, ap);
    va_end(ap);
    return st;
}

int cu_run_to(const char *to, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = cu_vrun(NULL, to, fmt, ap);
    va_end(ap);
    return st;
}

char *cu_slurp_len(const char *path, size_t *len)
{
    if (len) *len = 0;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    if (n < 0) n = 0;
    char *s = calloc((size_t)n + 1, 1);
    cr_assert_not_null(s);
    if (fread(s, 1, (size_t)n, fp) != (size_t)n) {
        s[0] = '\0';
        n = 0;
    }
    fclose(fp);
    if (len) *len = (size_t)n;
    return s;
}

char *cu_slurp(const char *path)
{
    char *s = cu_slurp_len(path, NULL);
    return s ? s : calloc(1, 1);
}

void cu_write_file(const char *name, const void *bytes, size_t len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", cu_dir, name);
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp, "cannot create %s", path);
    cr_assert_eq(fwrite(bytes, 1, len, fp), len, "cannot write %s", path);
    cr_assert_eq(fclose(fp), 0, "cannot close %s", path);
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

int cu_run_env(const char *env, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = cu_vrun(env, NULL, fmt, ap);
    va_end(ap);
    return st;
}
