/* cliutil.h -- helpers of the end-to-end tests of the linstab command:
 * a scratch directory per test, running the binary ($LINSTAB_BIN) in it,
 * reading its output. */
#ifndef LINSTAB_CLIUTIL_H
#define LINSTAB_CLIUTIL_H

#include <stdarg.h>
#include <stddef.h>

/* The scratch directory of the running test and its captured streams. */
extern char cu_dir[512], cu_out[600], cu_err[600];

/* Criterion .init / .fini: create / remove cu_dir. */
void cu_setup(void);
void cu_teardown(void);

/* Run `linstab ARGS` (printf format) in cu_dir with stdout and stderr
 * captured; returns the exit status (asserts a normal exit). */
int cu_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run `linstab ARGS` in cu_dir with stdout to the file `to` (NULL: cu_out;
 * e.g. "/dev/full") and stderr to cu_err; returns the exit status (asserts
 * a normal exit). */
int cu_run_to(const char *to, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* `env ENV linstab ARGS` in cu_dir (ENV: "VAR=value ..." or ""), stdout
 * to cu_out and stderr to cu_err; returns the exit status (asserts a
 * normal exit). */
int cu_run_env(const char *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The general form of cu_run / cu_run_to: `env ENV linstab ARGS` when env
 * is not NULL (ENV: "VAR=value ..." or ""), plain `linstab ARGS` when it
 * is; stdout to `to` (NULL: cu_out), stderr to cu_err.  ARGS (fmt, ap) has
 * no length limit.  Returns the exit status (asserts a normal exit). */
int cu_vrun(const char *env, const char *to, const char *fmt, va_list ap);

/* The whole file (NUL-terminated, caller frees; "" if unreadable). */
char *cu_slurp(const char *path);

/* The whole file and its length in *len (len may be NULL); NUL-terminated,
 * caller frees.  NULL (and *len = 0) if the file cannot be opened. */
char *cu_slurp_len(const char *path, size_t *len);

/* Write len bytes to cu_dir/name, replacing it (asserts success). */
void cu_write_file(const char *name, const void *bytes, size_t len);

/* The number after "key": in json (first occurrence after `after`, which
 * may be NULL); NaN for null. */
double cu_json_number(const char *json, const char *after, const char *key);

/* Write an NPY array to cu_dir/name (asserts success). */
void cu_write_npy(const char *name, const double *data, size_t ndim, const size_t *shape);

/* 1 if cu_dir/name exists. */
int cu_exists(const char *name);

#endif
