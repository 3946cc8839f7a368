/* optimizer.c -- names of the one optimizer enum (optimizer.h). */
#include <string.h>

#include "linstab/optimizer.h"

static const char *const names[] = {"sgd", "sam-same", "sam-independent", "sam-normalized", "gd"};

const char *linstab_optimizer_name(linstab_optimizer opt)
{
    return (unsigned)opt < sizeof names / sizeof names[0] ? names[opt] : "?";
}

linstab_status linstab_optimizer_parse(const char *name, linstab_optimizer *opt, linstab_error *err)
{
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) {
            *opt = (linstab_optimizer)i;
            return LINSTAB_OK;
        }
    return linstab_error_set_param(err, LINSTAB_EINVAL, "optimizer",
                                   "'%s' is not an optimizer: expected gd, sgd, sam-same, "
                                   "sam-independent or sam-normalized",
                                   name);
}

int linstab_optimizer_is_sam(linstab_optimizer opt)
{
    return opt == LINSTAB_OPT_SAM_SAME || opt == LINSTAB_OPT_SAM_INDEP || opt == LINSTAB_OPT_SAM_NORMALIZED;
}
