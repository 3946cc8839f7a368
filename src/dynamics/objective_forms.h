/*
 * objective_forms.h -- the closed forms of the two-coordinate built-in
 * objectives (objective.h), private to src/dynamics.  objective.c's
 * linstab_objective_eval and trajectory.c's loop for one-sample closed
 * forms both call these, so that the two paths evaluate the same
 * floating-point operations in the same order and agree bit for bit.
 * loss and grad may be NULL; inlined with constant arguments, the tests
 * vanish.
 */
#ifndef LINSTAB_OBJECTIVE_FORMS_H
#define LINSTAB_OBJECTIVE_FORMS_H

#include <math.h>

/* Bartlett et al. (2023): l = w1^2 / q + w2^2 / 2, q = 1 + w2^2 / 2 */
static inline void bartlett_eval(const double *w, double *loss, double *grad)
{
    double w1 = w[0], w2 = w[1], q = 1.0 + 0.5 * w2 * w2;
    if (loss != NULL) *loss = w1 * w1 / q + 0.5 * w2 * w2;
    if (grad != NULL) {
        grad[0] = 2.0 * w1 / q;
        grad[1] = -w1 * w1 * w2 / (q * q) + w2;
    }
}

/* Zhou et al. (2025), Example 4.1: l = tanh^2(z) / 2, z = v tanh u */
static inline void tanh2_eval(const double *w, double *loss, double *grad)
{
    double u = w[0], v = w[1], t = tanh(u), z = v * t, f = tanh(z);
    double fz = 1.0 - f * f, tu = 1.0 - t * t; /* tanh' at z and at u */
    if (loss != NULL) *loss = 0.5 * f * f;
    if (grad != NULL) {
        grad[0] = f * fz * v * tu;
        grad[1] = f * fz * t;
    }
}

#endif
