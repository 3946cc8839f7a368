/* cli_model.h -- where a --model checkpoint sits. */
#ifndef LINSTAB_CLI_MODEL_H
#define LINSTAB_CLI_MODEL_H

#include "cli.h"
#include "linstab/mlp.h"

/* Load src's checkpoint, --model: a folder (linstab_mlp_load) or a
 * FILE.safetensors with src's --activation / --output-activation
 * (linstab_mlp_load_safetensors; not given: what the file records), the
 * one way every command opens a --model.  OUT *m (NULL on failure).
 * Returns 0, or an exit status after printing the error (2: a usage error,
 * an activation given for a folder or missing for a state dict; 1: a file
 * that cannot be read or is malformed). */
int cli_model_open(const char *cmd, const cli_family_source *src, linstab_mlp **m);

/* Load src's model and data again and compute the checkpoint's point
 * (mean loss, gradients; linstab_mlp_point_at).  OUT *pt.  Returns 0 or an
 * exit status after printing the error. */
int cli_model_point(const char *cmd, const cli_family_source *src, linstab_mlp_point *pt);

/* Load src's checkpoint (--model), data and targets (--data, --targets;
 * one-hot targets become labels for --loss ce) and check that they fit
 * each other.  OUT *m, *X, *Y (the caller frees them, also on failure).
 * Returns 0, or an exit status after printing the error (2 for a missing
 * --data/--targets, 1 for a file that cannot be read or does not fit). */
int cli_model_load(const char *cmd, const cli_family_source *src, linstab_mlp **m, linstab_array *X,
                   linstab_array *Y);

/* linstab_data_labels_from_onehot for a command: soft targets get the
 * hint of the option that smooths the labels (the library names no flag). */
linstab_status cli_labels_from_onehot(linstab_array *Y, size_t k, linstab_error *err);

/* The hint a command adds when exact Hessians do not fit in memory. */
#define CLI_EXACT_HESSIANS_HINT ": use the Gauss-Newton factors (--gn) or the matrix-free path"

#endif
