/* cli_common.c -- shared helpers of the linstab command. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <math.h>
#include <stdarg.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli_options.h"
#include "cli_model.h"
#include "linstab/data.h"
#include "linstab/mlp.h"
#include "linstab/train.h"

int cli_exit_code(linstab_status st) { return st == LINSTAB_EINVAL ? 2 : 1; }

const char *cli_msg(const linstab_error *err)
{
    static char buf[LINSTAB_ERROR_MSG_LEN + LINSTAB_ERROR_PARAM_LEN + 64];
    const char *msg = err->msg[0] ? err->msg : linstab_error_string(err->code);
    if (strcmp(err->param, "allow_indefinite") == 0) {
        snprintf(buf, sizeof buf, "%s (use --allow-indefinite to accept indefinite Hessians)", msg);
        return buf;
    }
    if (err->param[0] == '\0') return msg;
    char flag[LINSTAB_ERROR_PARAM_LEN];
    size_t i = 0;
    for (; err->param[i] != '\0' && i + 1 < sizeof flag; i++)
        flag[i] = err->param[i] == '_' ? '-' : err->param[i];
    flag[i] = '\0';
    snprintf(buf, sizeof buf, "--%s: %s", flag, msg);
    return buf;
}

int cli_fail(const char *cmd, const linstab_error *err)
{
    fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(err));
    return cli_exit_code(err->code);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "linstab %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'linstab %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int cli_probe_writable(const char *cmd, const char *opt, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_usage_error(cmd, "%s %s: is a directory", opt, path);
    size_t len = strlen(path) + sizeof ".probe.XXXXXX";
    char *tmp = malloc(len);
    if (tmp == NULL) {
        fprintf(stderr, "linstab %s: error: %s: out of memory\n", cmd, opt);
        return 1;
    }
    snprintf(tmp, len, "%s.probe.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return cli_usage_error(cmd, "%s %s: cannot write there: %s", opt, path, strerror(e));
    }
    close(fd);
    unlink(tmp);
    free(tmp);
    return 0;
}

int cli_probe_folder(const char *cmd, const char *opt, const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) return cli_usage_error(cmd, "%s %s: exists and is not a directory", opt, dir);
        size_t len = strlen(dir) + sizeof "/.probe";
        char *inside = malloc(len);
        if (inside == NULL) {
            fprintf(stderr, "linstab %s: error: %s: out of memory\n", cmd, opt);
            return 1;
        }
        snprintf(inside, len, "%s/.probe", dir);
        int rc = cli_probe_writable(cmd, opt, inside);
        free(inside);
        return rc;
    }
    return cli_probe_writable(cmd, opt, dir);
}

int cli_parse_number(const char *cmd, const char *opt, const char *s, double lo, double hi,
                     unsigned flags, double *out)
{
    char msg[256];
    if (cli_number_parse(s, lo, hi, flags, out, msg, sizeof msg) != 0)
        return cli_usage_error(cmd, "%s %s", opt, msg);
    return 0;
}

int cli_parse_uint(const char *cmd, const char *opt, const char *s, unsigned long long lo,
                   unsigned long long hi, unsigned long long *out)
{
    char msg[256];
    if (cli_uint_parse(s, lo, hi, out, msg, sizeof msg) != 0) return cli_usage_error(cmd, "%s %s", opt, msg);
    return 0;
}

int cli_parse_count(const char *cmd, const char *opt, const char *s, size_t lo, size_t hi, size_t *out)
{
    unsigned long long v;
    int rc = cli_parse_uint(cmd, opt, s, lo, hi, &v);
    if (rc == 0) *out = (size_t)v;
    return rc;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out)
{
    return cli_parse_number(cmd, opt, s, -INFINITY, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, out);
}

int cli_parse_u64(const char *cmd, const char *opt, const char *s, unsigned long long *out)
{
    return cli_parse_uint(cmd, opt, s, 0, ULLONG_MAX, out);
}

int cli_parse_size(const char *cmd, const char *opt, const char *s, size_t *out)
{
    return cli_parse_count(cmd, opt, s, 0, SIZE_MAX, out);
}

double cli_available_memory(void)
{
    FILE *fp = fopen("/proc/meminfo", "r");
    if (fp == NULL) return 0.0;
    char line[256];
    double kb = 0.0;
    while (fgets(line, sizeof line, fp))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    fclose(fp);
    return kb * 1024.0;
}

static double memory_limit(const cli_family_source *src)
{
    return src->max_memory > 0.0 ? src->max_memory : cli_available_memory();
}

void cli_heap_keep_large(double need, double lim)
{
    const char *tun = getenv("GLIBC_TUNABLES");
    if (!(lim > 0.0 && 2.0 * need <= lim) || (tun != NULL && strstr(tun, "glibc.malloc.") != NULL)) return;
    mallopt(M_MMAP_MAX, 0);
}

int cli_check_memory(const char *cmd, const cli_family_source *src, double need, const char *what)
{
    double lim = memory_limit(src);
    if (lim > 0.0 && need > lim) {
        fprintf(stderr,
                "linstab %s: error: %s needs about %.2f GB of memory, more than the %.2f GB "
                "available (--max-memory)\n",
                cmd, what, need / 1e9, lim / 1e9);
        return 1;
    }
    cli_heap_keep_large(need, lim);
    return 0;
}

/* The family of an MLP checkpoint at given samples (exact or Gauss-Newton). */
static int load_model_family(const char *cmd, const cli_family_source *src, linstab_family **out,
                             const char **path, int *indefinite)
{
    if (src->data == NULL || src->targets == NULL)
        return cli_usage_error(cmd, "--model needs --data and --targets");
    /* Gauss-Newton by default for both losses (README): for CE the
     * generalized Gauss-Newton J'(diag p - p p')J, PSD where the exact
     * Hessian of a non-interpolating point is not */
    int gn = src->exact <= 0;
    linstab_loss loss = src->loss_ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
    linstab_error err = {0};
    linstab_mlp *m = NULL;
    linstab_array X = {0}, Y = {0};
    *path = src->model;
    int rc = cli_model_open(cmd, src, &m);
    if (rc != 0) return rc;
    if (linstab_npy_read_numeric(src->data, 0, &X, &err) != LINSTAB_OK ||
        linstab_npy_read_numeric(src->targets, 0, &Y, &err) != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(&err));
        rc = 1;
    }
    if (rc == 0 && src->loss_ce && cli_labels_from_onehot(&Y, m->sizes[m->nlayers], &err) != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, src->targets, cli_msg(&err));
        rc = 1;
    }
    double lim = memory_limit(src);
    linstab_status st = LINSTAB_OK;
    size_t nk = rc ? 0 : X.shape[0] * m->sizes[m->nlayers];
    if (rc == 0 && gn && nk < m->p) {
        /* Gauss-Newton factors with n k < p: the family restricted to its
         * range comes from the NTK Gram matrix alone (n k x n k), never the
         * n p k factors; every quantity linstab reports is the same */
        st = linstab_mlp_check_data(m, &X, &Y, loss, &err);
        double *G = NULL;
        if (st == LINSTAB_OK && lim > 0 && 3.0 * (double)nk * (double)nk * 8.0 > lim)
            st = linstab_error_set(&err, LINSTAB_ENOMEM,
                                   "the NTK Gram matrix of %zu samples x %zu outputs needs %.2f GB, more than %.2f GB",
                                   X.shape[0], m->sizes[m->nlayers], 3.0 * (double)nk * (double)nk * 8.0 / 1e9, lim / 1e9);
        if (st == LINSTAB_OK && (G = malloc(nk * nk * sizeof *G)) == NULL)
            st = linstab_error_set(&err, LINSTAB_ENOMEM, "NTK Gram matrix: out of memory");
        if (st == LINSTAB_OK) st = linstab_mlp_gn_gram(m, &X, loss, G, &err);
        size_t rank = 0;
        if (st == LINSTAB_OK)
            st = linstab_family_from_gram(X.shape[0], m->sizes[m->nlayers], m->p, G, 0.0, out, &rank, &err);
        free(G);
    } else if (rc == 0) {
        st = linstab_mlp_family(m, &X, &Y, loss, src->smoothing, gn, lim > 0 ? (size_t)lim : 0, out, &err);
    }
    if (rc == 0 && st != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s: %s%s\n", cmd, src->model, cli_msg(&err),
                st == LINSTAB_ENOMEM && !gn ? ": use the Gauss-Newton factors (--hessian gn)" : "");
        rc = 1;
    }
    /* the exact Hessian at a non-interpolating point can be indefinite: say so */
    if (rc == 0) {
        st = linstab_family_validate(*out, 1e-8, src->allow_indefinite, indefinite, &err);
        if (st != LINSTAB_OK) {
            fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, src->model, cli_msg(&err));
            linstab_family_free(*out);
            *out = NULL;
            rc = 1;
        }
    }
    linstab_mlp_free(m);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    return rc;
}

void cli_curvature(const cli_family_source *src, const char **key, const char **words)
{
    *key = *words = NULL;
    if (src->model == NULL) return;
    if (src->exact > 0) {
        *key = "exact";
        *words = src->loss_ce ? "exact per-sample Hessians of the cross-entropy (--hessian exact)"
                              : "exact per-sample Hessians of the squared loss (--hessian exact)";
    } else if (src->loss_ce) {
        *key = "ggn";
        *words = "generalized Gauss-Newton J'(diag p - pp')J of the cross-entropy (--hessian gn)";
    } else {
        *key = "gn";
        *words = "Gauss-Newton J'J of the squared loss (--hessian gn)";
    }
}

int cli_load_family(const char *cmd, const cli_family_source *src, linstab_family **out,
                    const char **path, int *indefinite)
{
    int count = (src->family != NULL) + (src->factors != NULL) + (src->diag != NULL) + (src->model != NULL);
    if (count != 1)
        return cli_usage_error(cmd, "give exactly one of --family, --factors, --diag, --model (got %d)",
                               count);
    if (src->model == NULL && (src->activation != NULL || src->output_activation != NULL))
        return cli_usage_error(cmd, "--activation and --output-activation go with --model FILE.safetensors");
    if (src->model != NULL) return load_model_family(cmd, src, out, path, indefinite);
    linstab_family_kind kind = src->family    ? LINSTAB_FAMILY_DENSE
                               : src->factors ? LINSTAB_FAMILY_FACTORED
                                              : LINSTAB_FAMILY_DIAGONAL;
    *path = src->family ? src->family : src->factors ? src->factors : src->diag;
    linstab_error err = {0};
    double lim = memory_limit(src);
    linstab_status st = linstab_family_load(*path, kind, lim > 0.0 ? (size_t)lim : 0, out, &err);
    if (st == LINSTAB_EINVAL) st = LINSTAB_EDATA; /* a bad file is bad data, not bad usage */
    if (st == LINSTAB_ENOMEM) {
        fprintf(stderr, "linstab %s: error: not enough memory: %s (--max-memory)\n", cmd, cli_msg(&err));
        return 1;
    }
    if (st != LINSTAB_OK) {
        err.code = st;
        return cli_fail(cmd, &err);
    }
    st = linstab_family_validate(*out, src->sym_tol, src->allow_indefinite, indefinite, &err);
    if (st != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, *path, cli_msg(&err));
        linstab_family_free(*out);
        *out = NULL;
        return 1;
    }
    return 0;
}

int cli_parse_size_list(const char *cmd, const char *opt, const char *s, size_t lo, size_t hi,
                        size_t **vals, size_t *count)
{
    char msg[256];
    int rc = cli_size_list_parse(s, lo, hi, CLI_LIST_MAX, vals, count, msg, sizeof msg);
    if (rc == 2) return cli_usage_error(cmd, "%s: %s", opt, msg);
    if (rc != 0) fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, opt, msg);
    return rc;
}

int cli_parse_eigen_path(const char *cmd, const char *s, linstab_eigen_path *path)
{
    if (strcmp(s, "dense") == 0) *path = LINSTAB_EIGEN_DENSE;
    else if (strcmp(s, "arpack") == 0) *path = LINSTAB_EIGEN_ARPACK;
    else if (strcmp(s, "auto") == 0) *path = LINSTAB_EIGEN_AUTO;
    else return cli_usage_error(cmd, "--eigen '%s': expected dense, arpack or auto", s);
    return 0;
}
