/* cli_model.c -- where a --model checkpoint sits, for the commands that
 * report on it (see cli_model.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_model.h"
#include "linstab/data.h"
#include "linstab/npy.h"

int cli_model_open(const char *cmd, const cli_family_source *src, linstab_mlp **m)
{
    *m = NULL;
    linstab_error err = {0};
    linstab_status st;
    if (!linstab_mlp_is_safetensors_path(src->model)) {
        if (src->activation != NULL || src->output_activation != NULL)
            return cli_usage_error(cmd, "--%s applies to a --model FILE.safetensors; the folder %s names its "
                                   "activations in model.json",
                                   src->activation != NULL ? "activation" : "output-activation", src->model);
        st = linstab_mlp_load(src->model, m, &err);
    } else {
        st = linstab_mlp_load_safetensors(src->model, src->activation, src->output_activation, m, &err);
    }
    if (st == LINSTAB_OK) return 0;
    if (st == LINSTAB_EINVAL) {
        if (strcmp(err.param, "output_activation") == 0) return cli_usage_error(cmd, "--output-activation: %s", err.msg);
        if (strcmp(err.param, "activation") == 0) return cli_usage_error(cmd, "--activation: %s", err.msg);
        return cli_usage_error(cmd, "--model %s: %s", src->model, err.msg);
    }
    fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(&err));
    return 1;
}

linstab_status cli_labels_from_onehot(linstab_array *Y, size_t k, linstab_error *err)
{
    linstab_status st = linstab_data_labels_from_onehot(Y, k, err);
    if (st == LINSTAB_EDATA) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len, "; soft targets: use --label-smoothing");
    }
    return st;
}

int cli_model_load(const char *cmd, const cli_family_source *src, linstab_mlp **m, linstab_array *X,
                   linstab_array *Y)
{
    *m = NULL;
    memset(X, 0, sizeof *X);
    memset(Y, 0, sizeof *Y);
    if (src->data == NULL || src->targets == NULL) return cli_usage_error(cmd, "--model needs --data and --targets");
    int rc = cli_model_open(cmd, src, m);
    if (rc != 0) return rc;
    linstab_error err = {0};
    const char *what = NULL; /* the loaders name their file */
    linstab_status st = linstab_npy_read_numeric(src->data, 0, X, &err);
    if (st == LINSTAB_OK) st = linstab_npy_read_numeric(src->targets, 0, Y, &err);
    if (st == LINSTAB_OK && src->loss_ce) {
        what = src->targets;
        st = cli_labels_from_onehot(Y, (*m)->sizes[(*m)->nlayers], &err);
    }
    if (st == LINSTAB_OK &&
        linstab_mlp_check_data(*m, X, Y, src->loss_ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE, &err) != LINSTAB_OK) {
        /* the checkpoint and the data do not fit each other: say both */
        char xs[64], ys[64];
        snprintf(xs, sizeof xs, X->ndim == 2 ? "%zu x %zu" : "%zu", X->shape[0], X->shape[1]);
        snprintf(ys, sizeof ys, Y->ndim == 2 ? "%zu x %zu" : "%zu", Y->shape[0], Y->shape[1]);
        return cli_usage_error(cmd, "%s (%zu inputs, %zu outputs) does not fit the data %s (%s) and %s (%s): %s",
                               src->model, (*m)->sizes[0], (*m)->sizes[(*m)->nlayers], src->data, xs, src->targets,
                               ys, cli_msg(&err));
    }
    if (st != LINSTAB_OK) {
        if (what != NULL) fprintf(stderr, "linstab %s: error: %s: %s\n", cmd, what, cli_msg(&err));
        else fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(&err));
        return 1;
    }
    return 0;
}

/* Where a --model checkpoint sits (loss, gradients): 0 or an exit status. */
int cli_model_point(const char *cmd, const cli_family_source *src, linstab_mlp_point *pt)
{
    linstab_error err = {0};
    linstab_mlp *m = NULL;
    linstab_array X = {0}, Y = {0};
    linstab_loss loss = src->loss_ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
    int rc = cli_model_open(cmd, src, &m);
    if (rc != 0) return rc;
    linstab_status st = linstab_npy_read_numeric(src->data, 0, &X, &err);
    if (st == LINSTAB_OK) st = linstab_npy_read_numeric(src->targets, 0, &Y, &err);
    if (st == LINSTAB_OK && src->loss_ce) st = cli_labels_from_onehot(&Y, m->sizes[m->nlayers], &err);
    if (st == LINSTAB_OK) st = linstab_mlp_point_at(m, &X, &Y, loss, src->smoothing, pt, &err);
    linstab_mlp_free(m);
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    if (st != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: %s: gradient at the checkpoint: %s\n", cmd, src->model, cli_msg(&err));
        return cli_exit_code(st);
    }
    return 0;
}

