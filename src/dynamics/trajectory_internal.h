/*
 * trajectory_internal.h -- shared between the parts of module trajectory
 * (trajectory.c, trajectory_rate.c); not installed.
 */
#ifndef LINSTAB_TRAJECTORY_INTERNAL_H
#define LINSTAB_TRAJECTORY_INTERNAL_H

#include "linstab/trajectory.h"

/* The exact mean-square radius of opt at (eta, rho, batch, sampling) on
 * the linearization of o at w (linstab_trajectory_linearization, restricted
 * to range(M_2)).  Returns 1 with *rate set, 0 when not available
 * (normalized SAM, 'same' SAM beyond the rank limit, any failure). */
int trajectory_family_rate(const linstab_objective *o, const double *w, linstab_optimizer opt,
                           double eta, double rho, size_t batch, linstab_sampling sampling,
                           double *rate);

#endif
