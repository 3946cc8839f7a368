/*
 * linstab.h -- the whole public API of linstab, the library behind the
 * `linstab` command: linear stability and dynamics of SGD and SAM near
 * minima of neural-network losses (README.md; the mathematics is in
 * docs/math.md).  Build against the installed library with
 *     cc prog.c $(pkg-config --cflags --libs linstab)
 *
 * Layout: one header per module, include/linstab/<module>.h, implemented
 * in src/<area>/<module>.c (large modules in <module>_<part>.c files);
 * every public name is linstab_<module>_...
 *
 *   core       error.h (status codes, error records), npy.h (NPY files),
 *              safetensors.h (Hugging Face state dicts),
 *              sym.h (dense symmetric matrices), svec.h (Sym(r) <-> R^m),
 *              operator.h (matrix-free operators), eigen.h (their
 *              eigensolvers), rng.h (reproducible random streams),
 *              sha256.h
 *   family     family.h: the Hessian family -- n symmetric d x d matrices
 *              H_i, dense, factored H_i = U_i U_i' or diagonal, behind one
 *              interface (apply, mean, moments, sandwiches, Gram entries,
 *              each with its own fast path), validation, range restriction;
 *              generate.h (synthetic families)
 *   stability  sampling.h (batch sampling and its coefficients), moments.h
 *              (H^k, M_k), geometry.h (sharpness, coherence sigma, s_k,
 *              gamma_min), bounds.h (every published theorem, once),
 *              verdict.h (stable / marginal / unstable), secmom.h (the
 *              second-moment operator), sgd.h (SGD's exact radius), sam.h
 *              (every SAM operator, radius and critical value), critical.h
 *              (critical eta and B), lyapunov.h (almost-sure exponents),
 *              exact.h (the exact section of `linstab check`), check.h
 *              (all of `linstab check` in one call), validate.h (bounds
 *              against the exact answer)
 *   dynamics   optimizer.h (the one optimizer enum), objective.h (objectives
 *              of the nonlinear dynamics), trajectory.h (an optimizer run
 *              on an objective, with the theory's predictions), simulate.h
 *              (linearized dynamics with random batches), map.h
 *              (divergence maps: cells, the grid driver with chunks,
 *              checkpoint/resume, progress and partition callbacks),
 *              checkpoint.h (run identities, the checkpoint format)
 *   nn         ad.h (autograd with forward-over-reverse Hessian-vector
 *              products), mlp.h (MLP models and checkpoints, per-sample
 *              Hessians, Jacobians, NTK Gram), train.h, data.h,
 *              landscape.h (loss slices and surfaces along directions)
 *   output     json.h (streaming JSON writer), report.h (the `check`
 *              report), plot.h (figures; absent from a -Dplots=disabled
 *              build)
 *
 * Data flow: source (npy.h files, generate.h, or an MLP via mlp.h) ->
 * family -> range restriction -> { moments -> geometry -> bounds ;
 * secmom / sam -> eigen -> critical, exact ; simulate -> lyapunov, map }
 * -> report / plot.
 *
 * Conventions: functions return a linstab_status and fill a caller-owned
 * linstab_error (error.h) whose message names values and parameters, never
 * command-line flags; the library never prints or exits; outputs are
 * caller-owned and every _alloc has its _free (which accepts NULL);
 * functions that take ownership of an argument end in _take (the argument
 * is freed by them, also on failure); arguments a result keeps a pointer
 * to are "borrowed" in the comment (they must outlive the result), and so
 * are pointers into another object (an autograd node belongs to its
 * graph); the comment above each declaration gives its inputs, outputs,
 * errors, what it overwrites and who owns what.
 */
#ifndef LINSTAB_H
#define LINSTAB_H

#include "linstab/ad.h"
#include "linstab/blas.h"
#include "linstab/bounds.h"
#include "linstab/check.h"
#include "linstab/checkpoint.h"
#include "linstab/critical.h"
#include "linstab/data.h"
#include "linstab/eigen.h"
#include "linstab/error.h"
#include "linstab/exact.h"
#include "linstab/family.h"
#include "linstab/generate.h"
#include "linstab/geometry.h"
#include "linstab/json.h"
#include "linstab/landscape.h"
#include "linstab/lyapunov.h"
#include "linstab/map.h"
#include "linstab/mlp.h"
#include "linstab/moments.h"
#include "linstab/npy.h"
#include "linstab/objective.h"
#include "linstab/operator.h"
#include "linstab/optimizer.h"
#include "linstab/plot.h"
#include "linstab/report.h"
#include "linstab/rng.h"
#include "linstab/safetensors.h"
#include "linstab/sam.h"
#include "linstab/sampling.h"
#include "linstab/secmom.h"
#include "linstab/sgd.h"
#include "linstab/sha256.h"
#include "linstab/simulate.h"
#include "linstab/spectrum.h"
#include "linstab/svec.h"
#include "linstab/sym.h"
#include "linstab/trajectory.h"
#include "linstab/train.h"
#include "linstab/validate.h"
#include "linstab/verdict.h"

#endif
