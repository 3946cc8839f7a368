/*
 * mlp_safetensors.c -- an MLP to and from a .safetensors state dict of a
 * PyTorch nn.Sequential of Linear layers and activations (mlp.h): tensors
 * "K.weight" (d_l x d_{l-1}, torch's out x in row-major: linstab's W_l
 * layout) and "K.bias" (d_l), K the module index, increasing with at
 * least one module (the activation) between two Linear layers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "linstab/mlp.h"
#include "linstab/safetensors.h"

/* "K.weight" (kind 0) or "K.bias" (kind 1), K decimal without a leading
 * zero; 0 for any other name. */
static int module_name(const char *s, size_t *k, int *kind)
{
    size_t i = 0, v = 0;
    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '.')) return 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++)
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (size_t)(s[i] - '0'), &v)) return 0;
    if (strcmp(s + i, ".weight") == 0) *kind = 0;
    else if (strcmp(s + i, ".bias") == 0) *kind = 1;
    else return 0;
    *k = v;
    return 1;
}

static int by_module(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

linstab_status linstab_mlp_from_safetensors(const linstab_safetensors *st, const char *what, const char *act,
                                            const char *out_act, linstab_mlp **out, linstab_error *err)
{
    *out = NULL;
    if (what == NULL) what = "safetensors";
    /* the activations: given, or recorded by linstab's writer; both must agree */
    const char *names[2] = {act, out_act}, *keys[2] = {"activation", "output_activation"};
    linstab_ad_op ops[2] = {LINSTAB_AD_TANH, LINSTAB_MLP_OUT_NONE};
    for (int i = 0; i < 2; i++) {
        const char *meta = linstab_safetensors_meta(st, keys[i]);
        if (names[i] != NULL && meta != NULL && strcmp(names[i], meta) != 0)
            return linstab_error_set_param(err, LINSTAB_EINVAL, i ? "output_activation" : "activation",
                                           "%s: %s '%s' given, but the file records '%s'", what, keys[i], names[i],
                                           meta);
        const char *name = names[i] != NULL ? names[i] : meta;
        if (name == NULL) {
            if (i == 1) break; /* no output activation: none */
            return linstab_error_set_param(err, LINSTAB_EINVAL, "activation",
                                           "%s: a state dict does not say its activation: give one (tanh, relu, "
                                           "sigmoid, softplus or gelu)", what);
        }
        linstab_error perr = {0}; /* err may be NULL */
        linstab_status s = i ? linstab_mlp_output_parse(name, &ops[i], &perr) : linstab_mlp_act_parse(name, &ops[i], &perr);
        if (s != LINSTAB_OK) {
            /* a bad name in the file is bad data; a bad name given is a usage error */
            linstab_status code = names[i] != NULL ? LINSTAB_EINVAL : LINSTAB_EDATA;
            return linstab_error_set_param(err, code, names[i] != NULL ? (i ? "output_activation" : "activation") : "",
                                           "%s: %s%s", what, names[i] != NULL ? "" : "__metadata__: ", perr.msg);
        }
    }
    /* the Linear modules: weight indices, sorted */
    size_t mods[LINSTAB_MLP_MAX_LAYERS + 1], nmods = 0, nbias = 0;
    for (size_t i = 0; i < st->count; i++) {
        size_t k;
        int kind;
        if (!module_name(st->tensors[i].name, &k, &kind))
            return linstab_error_set(err, LINSTAB_EDATA,
                                     "%s: tensor '%s' is not a Linear layer's K.weight or K.bias (an nn.Sequential "
                                     "of Linear layers and activations)", what, st->tensors[i].name);
        if (kind == 1) {
            nbias++;
            continue;
        }
        if (nmods == LINSTAB_MLP_MAX_LAYERS)
            return linstab_error_set(err, LINSTAB_EDATA, "%s: more than %d Linear layers", what, LINSTAB_MLP_MAX_LAYERS);
        mods[nmods++] = k;
    }
    if (nmods == 0) return linstab_error_set(err, LINSTAB_EDATA, "%s: no Linear layer (no tensor K.weight)", what);
    qsort(mods, nmods, sizeof mods[0], by_module);
    char nm[48], pm[48];
    for (size_t l = 1; l < nmods; l++)
        if (mods[l] == mods[l - 1] + 1)
            return linstab_error_set(err, LINSTAB_EDATA,
                                     "%s: Linear layers %zu.weight and %zu.weight are consecutive modules: no "
                                     "activation between them", what, mods[l - 1], mods[l]);
    int bias = nbias > 0;
    size_t sizes[LINSTAB_MLP_MAX_LAYERS + 1];
    const linstab_safetensors_tensor *W[LINSTAB_MLP_MAX_LAYERS], *b[LINSTAB_MLP_MAX_LAYERS];
    for (size_t l = 0; l < nmods; l++) {
        snprintf(nm, sizeof nm, "%zu.weight", mods[l]);
        W[l] = linstab_safetensors_find(st, nm);
        const linstab_array *a = &W[l]->array;
        if (a->ndim != 2)
            return linstab_error_set(err, LINSTAB_EDATA, "%s: tensor '%s' has %zu dimensions, a Linear weight has 2",
                                     what, nm, a->ndim);
        if (a->shape[0] == 0 || a->shape[1] == 0)
            return linstab_error_set(err, LINSTAB_EDATA, "%s: tensor '%s' is %zu x %zu: a width is 0", what, nm,
                                     a->shape[0], a->shape[1]);
        if (l == 0) sizes[0] = a->shape[1];
        else if (a->shape[1] != sizes[l]) {
            snprintf(pm, sizeof pm, "%zu.weight", mods[l - 1]);
            return linstab_error_set(err, LINSTAB_EDATA,
                                     "%s: shapes do not chain: '%s' is %zu x %zu (%zu outputs) but '%s' is %zu x %zu "
                                     "(%zu inputs)", what, pm, sizes[l], W[l - 1]->array.shape[1], sizes[l], nm,
                                     a->shape[0], a->shape[1], a->shape[1]);
        }
        sizes[l + 1] = a->shape[0];
        snprintf(pm, sizeof pm, "%zu.bias", mods[l]);
        b[l] = linstab_safetensors_find(st, pm);
        if (bias && b[l] == NULL)
            return linstab_error_set(err, LINSTAB_EDATA, "%s: '%s' has no '%s' but other layers have biases (all or none)",
                                     what, nm, pm);
        if (b[l] != NULL && (b[l]->array.ndim != 1 || b[l]->array.shape[0] != a->shape[0]))
            return linstab_error_set(err, LINSTAB_EDATA, "%s: tensor '%s' must have shape [%zu] to go with '%s'", what,
                                     pm, a->shape[0], nm);
    }
    if (nbias > (bias ? nmods : 0)) /* a bias whose weight is missing */
        for (size_t i = 0; i < st->count; i++) {
            size_t k;
            int kind;
            module_name(st->tensors[i].name, &k, &kind);
            snprintf(nm, sizeof nm, "%zu.weight", k);
            if (kind == 1 && linstab_safetensors_find(st, nm) == NULL)
                return linstab_error_set(err, LINSTAB_EDATA, "%s: tensor '%s' has no '%s'", what, st->tensors[i].name, nm);
        }
    linstab_mlp *m = NULL;
    linstab_status s = linstab_mlp_alloc(sizes, nmods, ops[0], bias, &m, err);
    if (s != LINSTAB_OK) return s;
    m->out_act = ops[1];
    for (size_t l = 1; l <= nmods; l++) {
        memcpy(m->theta + linstab_mlp_w_offset(m, l), W[l - 1]->array.data, sizes[l] * sizes[l - 1] * sizeof(double));
        if (bias) memcpy(m->theta + linstab_mlp_b_offset(m, l), b[l - 1]->array.data, sizes[l] * sizeof(double));
    }
    *out = m;
    return LINSTAB_OK;
}

linstab_status linstab_mlp_load_safetensors(const char *path, const char *act, const char *out_act,
                                            linstab_mlp **out, linstab_error *err)
{
    *out = NULL;
    linstab_safetensors st;
    linstab_status s = linstab_safetensors_read(path, 0, &st, err);
    if (s != LINSTAB_OK) return s;
    s = linstab_mlp_from_safetensors(&st, path, act, out_act, out, err);
    linstab_safetensors_free(&st);
    return s;
}

linstab_status linstab_mlp_save_safetensors(const linstab_mlp *m, const char *path, linstab_error *err)
{
    char names[2 * LINSTAB_MLP_MAX_LAYERS][32];
    const char *np[2 * LINSTAB_MLP_MAX_LAYERS];
    linstab_array arrays[2 * LINSTAB_MLP_MAX_LAYERS];
    size_t n = 0;
    memset(arrays, 0, sizeof arrays);
    for (size_t l = 1; l <= m->nlayers; l++) {
        /* nn.Sequential(Linear, act, Linear, act, ..., Linear[, out_act]): Linear l is module 2 (l - 1) */
        snprintf(names[n], sizeof names[n], "%zu.weight", 2 * (l - 1));
        arrays[n].ndim = 2;
        arrays[n].shape[0] = m->sizes[l];
        arrays[n].shape[1] = m->sizes[l - 1];
        arrays[n].data = m->theta + linstab_mlp_w_offset(m, l);
        np[n] = names[n];
        n++;
        if (!m->bias) continue;
        snprintf(names[n], sizeof names[n], "%zu.bias", 2 * (l - 1));
        arrays[n].ndim = 1;
        arrays[n].shape[0] = m->sizes[l];
        arrays[n].data = m->theta + linstab_mlp_b_offset(m, l);
        np[n] = names[n];
        n++;
    }
    const char *keys[3] = {"format", "activation", "output_activation"};
    const char *vals[3] = {"pt", linstab_mlp_act_name(m->act), linstab_mlp_output_name(m->out_act)};
    return linstab_safetensors_write(path, n, np, arrays, 3, keys, vals, err);
}

int linstab_mlp_is_safetensors_path(const char *path)
{
    size_t n = path != NULL ? strlen(path) : 0, k = strlen(".safetensors");
    if (n <= k || strcmp(path + n - k, ".safetensors") != 0) return 0;
    struct stat sb;
    return stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode); /* a folder so named stays a checkpoint folder */
}
