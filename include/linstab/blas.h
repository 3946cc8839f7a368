/*
 * blas.h -- which BLAS linstab runs on, as the library reports it.
 *
 * Dense work goes to OpenBLAS (Debian's libopenblas0-pthread by default).
 * OpenBLAS built with DYNAMIC_ARCH picks a kernel for the CPU at start-up;
 * a CPU it does not know gets a generic kernel (Prescott on x86-64), which
 * can be several times slower than the one for its family.  The user picks
 * another with the environment variable OPENBLAS_CORETYPE (e.g. Haswell,
 * SkylakeX, Zen) and the thread count with OPENBLAS_NUM_THREADS; linstab
 * reads them and never sets them (inside its own OpenMP regions it asks
 * OpenBLAS for one thread and restores the user's count afterwards).
 */
#ifndef LINSTAB_BLAS_H
#define LINSTAB_BLAS_H

#include <stddef.h>

#include "linstab/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct linstab_blas_info {
    char config[256];  /* openblas_get_config(): version and build options   */
    char kernel[64];   /* openblas_get_corename(): the kernel in use          */
    char coretype[64]; /* OPENBLAS_CORETYPE, or "" when not set               */
    char library[512]; /* path of the loaded libopenblas, or "" if not found  */
    const char *threading; /* "sequential", "pthreads" or "OpenMP"            */
    int threads;           /* openblas_get_num_threads()                      */
    int omp_threads;       /* omp_get_max_threads() (1 without OpenMP)        */
} linstab_blas_info;

/* Fill *out from the running process (reads /proc/self/maps for the
 * library's path; never fails: unknown fields stay empty). */
LINSTAB_API void linstab_blas_info_get(linstab_blas_info *out);

/*
 * The OPENBLAS_CORETYPE worth trying, or NULL: when OpenBLAS chose its
 * generic Prescott kernel itself (b->coretype empty) on a CPU with AVX-512
 * ("SkylakeX") or AVX2 and FMA ("Haswell") -- a CPU newer than this
 * OpenBLAS knows.  avx512 / avx2: the CPU's features (nonzero: present),
 * e.g. from linstab_blas_cpu_features.  A kernel the user chose is never
 * second-guessed.
 */
LINSTAB_API const char *linstab_blas_kernel_suggestion(const linstab_blas_info *b, int avx512, int avx2);

/* The running CPU's AVX-512F and AVX2+FMA support (0 off x86-64). */
LINSTAB_API void linstab_blas_cpu_features(int *avx512, int *avx2);

#ifdef __cplusplus
}
#endif

#endif
