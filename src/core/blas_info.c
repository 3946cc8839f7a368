/*
 * blas_info.c -- the BLAS in use (blas.h): OpenBLAS's own report of its
 * build and kernel, the user's settings, and the shared object the
 * dynamic loader chose (Debian's alternatives: openblas-pthread,
 * openblas-openmp, openblas-serial).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "linstab/blas.h"

char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
int openblas_get_parallel(void);

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == ' ' || dst[n - 1] == '\n')) dst[--n] = '\0';
}

void linstab_blas_info_get(linstab_blas_info *out)
{
    memset(out, 0, sizeof *out);
    copy(out->config, sizeof out->config, openblas_get_config());
    copy(out->kernel, sizeof out->kernel, openblas_get_corename());
    copy(out->coretype, sizeof out->coretype, getenv("OPENBLAS_CORETYPE"));
    int par = openblas_get_parallel();
    out->threading = par == 0 ? "sequential" : par == 1 ? "pthreads" : "OpenMP";
    out->threads = openblas_get_num_threads();
#ifdef _OPENMP
    out->omp_threads = omp_get_max_threads();
#else
    out->omp_threads = 1;
#endif
    FILE *fp = fopen("/proc/self/maps", "r");
    if (fp == NULL) return;
    char line[4096];
    while (fgets(line, sizeof line, fp) != NULL) {
        char *path = strchr(line, '/');
        if (path == NULL || strstr(path, "libopenblas") == NULL) continue;
        copy(out->library, sizeof out->library, path);
        break;
    }
    fclose(fp);
}

const char *linstab_blas_kernel_suggestion(const linstab_blas_info *b, int avx512, int avx2)
{
    if (b->coretype[0] != '\0' || strcmp(b->kernel, "Prescott") != 0) return NULL;
    if (avx512) return "SkylakeX";
    if (avx2) return "Haswell";
    return NULL;
}

void linstab_blas_cpu_features(int *avx512, int *avx2)
{
    *avx512 = 0;
    *avx2 = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    *avx512 = __builtin_cpu_supports("avx512f") != 0;
    *avx2 = __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0;
#endif
}
