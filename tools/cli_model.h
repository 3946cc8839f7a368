/* cli_model.h -- where a --model checkpoint sits. */
#ifndef LINSTAB_CLI_MODEL_H
#define LINSTAB_CLI_MODEL_H

#include "cli.h"
#include "linstab/mlp.h"

/* Load src's model and data again and compute the checkpoint's point
 * (mean loss, gradients; linstab_mlp_point_at).  OUT *pt.  Returns 0 or an
 * exit status after printing the error. */
int cli_model_point(const char *cmd, const cli_family_source *src, linstab_mlp_point *pt);

#endif
