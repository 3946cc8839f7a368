/*
 * objective_internal.h -- shared between the parts of module objective
 * (objective.c, objective_mlp.c); not installed.
 */
#ifndef LINSTAB_OBJECTIVE_INTERNAL_H
#define LINSTAB_OBJECTIVE_INTERNAL_H

#include "linstab/objective.h"

/* Relabel a custom objective as one of linstab's own kinds (MLP). */
void objective_set_kind(linstab_objective *o, linstab_objective_kind kind);

#endif
