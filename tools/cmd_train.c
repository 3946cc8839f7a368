/*
 * cmd_train.c -- `linstab train`: train an MLP with SGD or SAM and write a
 * checkpoint that `linstab hessians` / `check --model` read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

#include "cli_options.h"
#include "cli.h"
#include "cli_model.h"
#include "linstab/data.h"
#include "linstab/train.h"

static const char *const usage =
    "usage: linstab train --layers D0,D1,...,DL --data X.npy --targets Y.npy --out DIR\n"
    "                     [--activation A] [--loss mse|ce] [--optimizer sgd|sam|sam-unnormalized]\n"
    "                     [--eta E] [--batch B] [--rho R] [--steps N] [--seed S] [options]\n"
    "\n"
    "Train an MLP f(x) = W_L act(... act(W_1 x + b_1) ...) + b_L with mini-batch SGD or\n"
    "SAM; write the checkpoint (model.json, W1.npy, b1.npy, ...) and train_log.csv to DIR.\n"
    "Deterministic for a seed.\n"
    "\n"
    "  --layers LIST         layer widths, e.g. 784,300,100,10\n"
    "  --activation A        tanh | relu | sigmoid | softplus | gelu (default tanh)\n"
    "  --output-activation A none | tanh | relu | sigmoid | softplus | gelu: the output\n"
    "                        f = A(W_L h + b_L) (default none: linear; --teacher's too)\n"
    "  --no-bias             no bias vectors\n"
    "@data\n"
    "@targets; class labels for mse with --one-hot\n"
    "  --one-hot             turn class labels into one-hot targets (mse)\n"
    "  --idx-images F --idx-labels F   IDX files instead (MNIST, Fashion-MNIST; gzip'd\n"
    "                        or not): pixels scaled by --scale (default 1/255), the\n"
    "                        first --subset N items (default all); mse uses one-hot\n"
    "                        targets (Debian's dataset-fashion-mnist installs the\n"
    "                        files in /usr/share/datasets/fashion-mnist)\n"
    "  --teacher N           N synthetic samples: X Gaussian, Y from a random teacher\n"
    "                        MLP of the same layers (seed --seed; ce: argmax labels)\n"
    "  --save-data           also write the data as the loss saw them to DIR (X.npy,\n"
    "                        Y.npy; test_X.npy, test_Y.npy with a test set)\n"
    "  --safetensors         also write DIR/model.safetensors (torch state dict)\n"
    "@loss (default mse)\n"
    "@label-smoothing\n"
    "  --optimizer O         sgd | sam (normalized, Foret et al.) | sam-unnormalized\n"
    "@eta (default 0.1)\n"
    "@batch (default 32)\n"
    "@rho (default 0.05)\n"
    "  --independent-ascent  SAM's ascent gradient on an independent batch\n"
    "                        (Zhou et al. (2025), Equation 4)\n"
    "  --sam-from STEP       SGD for the first STEP steps, then SAM (default 0; Zhou\n"
    "                        et al. 2025)\n"
    "  --sgd-from STEP       SAM for the first STEP steps, then SGD; with --sam-from\n"
    "                        S0 < STEP: SAM on steps S0+1..STEP only\n"
    "  --momentum M, --weight-decay W   (default 0, 0)\n"
    "  --steps N             number of steps (default 1000)\n"
    "  --lr-decay-at K --lr-decay F     multiply eta by F every K steps\n"
    "  --log-every K         full-data loss and accuracy every K steps (default 100)\n"
    "  --sharpness-every K   also lambda1 of the Hessian (Lanczos on HVPs)\n"
    "  --init-seed S         initialisation seed (default: --seed)\n"
    "  --init-from DIR       start from a checkpoint (--layers etc. optional, must\n"
    "                        match); --steps 0 evaluates it\n"
    "  --start-step S        resume the run at its step-S checkpoint (--init-from):\n"
    "                        bitwise the whole run (no momentum)\n"
    "  --test-data X.npy --test-targets Y.npy   a test set: test_loss, test_accuracy;\n"
    "  --idx-test-images F --idx-test-labels F  or IDX, or --teacher-test N samples\n"
    "  --monitor-every K     log monitor_sharpness, eta_star_sgd, eta_star (exact\n"
    "                        mean-square critical eta at min(B, M); README)\n"
    "  --monitor-samples M   its Gauss-Newton subsample (default 256 / outputs)\n"
    "@seed\n"
    "@out=DIR checkpoint folder (required)\n"
    "@quiet\n"
    "\n"
    "DIR is written as a whole: its files go to a staging directory first and are\n"
    "renamed into place at the end (model.json last); after a failure nothing is left.\n"
    "\n"
    "Divergence: training stops at the first step whose batch loss, or full-data\n"
    "loss at a logged step, is not finite or exceeds 1e6 x max(L0, L_zero), with L0\n"
    "the initial full-data loss and L_zero the loss of the output f = 0 (mean\n"
    "||y||^2/2 for mse, log K for ce).  It prints \"diverged at step S: ... grew from\n"
    "L0 to L\" and writes the log (every logged row before S, then the row of\n"
    "S) and the checkpoint of that step, both renamed into place as a whole.\n"
    "\n"
    "Exit status: 0 trained, 3 diverged, 1 error (data, files), 2 usage error.\n";

enum { OPT_LAYERS = 256, OPT_ACT, OPT_OUTACT, OPT_NOBIAS, OPT_ONEHOT, OPT_OPT, OPT_INDEP, OPT_SAMFROM, OPT_MOM, OPT_WD,
       OPT_STEPS, OPT_DECAYAT, OPT_DECAY, OPT_LOGEVERY, OPT_SHARP, OPT_INITSEED, OPT_IDXI, OPT_IDXL, OPT_SUBSET,
       OPT_SCALE, OPT_TEACHER };
/* the options of switching back, resuming, test sets and the monitor */
enum { OPT_SGDFROM = 320, OPT_INITFROM, OPT_STARTSTEP, OPT_TESTDATA, OPT_TESTTARGETS, OPT_IDXTI, OPT_IDXTL,
       OPT_TEACHERTEST, OPT_MONEVERY, OPT_MONSAMPLES, OPT_SAVEDATA,
       OPT_SAFETENSORS };

static const struct option own_opts[] = {
    {"layers", required_argument, NULL, OPT_LAYERS},   {"activation", required_argument, NULL, OPT_ACT},
    {"output-activation", required_argument, NULL, OPT_OUTACT},
    {"no-bias", no_argument, NULL, OPT_NOBIAS},        {"one-hot", no_argument, NULL, OPT_ONEHOT},
    {"optimizer", required_argument, NULL, OPT_OPT},   {"independent-ascent", no_argument, NULL, OPT_INDEP},
    {"sam-from", required_argument, NULL, OPT_SAMFROM}, {"momentum", required_argument, NULL, OPT_MOM},
    {"weight-decay", required_argument, NULL, OPT_WD}, {"steps", required_argument, NULL, OPT_STEPS},
    {"lr-decay-at", required_argument, NULL, OPT_DECAYAT}, {"lr-decay", required_argument, NULL, OPT_DECAY},
    {"log-every", required_argument, NULL, OPT_LOGEVERY}, {"sharpness-every", required_argument, NULL, OPT_SHARP},
    {"init-seed", required_argument, NULL, OPT_INITSEED}, {"idx-images", required_argument, NULL, OPT_IDXI},
    {"idx-labels", required_argument, NULL, OPT_IDXL}, {"subset", required_argument, NULL, OPT_SUBSET},
    {"scale", required_argument, NULL, OPT_SCALE},     {"teacher", required_argument, NULL, OPT_TEACHER},
    {"sgd-from", required_argument, NULL, OPT_SGDFROM}, {"init-from", required_argument, NULL, OPT_INITFROM},
    {"start-step", required_argument, NULL, OPT_STARTSTEP},
    {"test-data", required_argument, NULL, OPT_TESTDATA}, {"test-targets", required_argument, NULL, OPT_TESTTARGETS},
    {"idx-test-images", required_argument, NULL, OPT_IDXTI}, {"idx-test-labels", required_argument, NULL, OPT_IDXTL},
    {"teacher-test", required_argument, NULL, OPT_TEACHERTEST},
    {"save-data", no_argument, NULL, OPT_SAVEDATA},
    {"safetensors", no_argument, NULL, OPT_SAFETENSORS},
    {"monitor-every", required_argument, NULL, OPT_MONEVERY},
    {"monitor-samples", required_argument, NULL, OPT_MONSAMPLES},
    {NULL, 0, NULL, 0}};
static const cli_command train_cmd = {
    "train",
    CLI_OPT_BIT(CLI_OPT_DATA) | CLI_OPT_BIT(CLI_OPT_TARGETS) | CLI_OPT_BIT(CLI_OPT_LOSS) |
        CLI_OPT_BIT(CLI_OPT_LABEL_SMOOTHING) | CLI_OPT_BIT(CLI_OPT_ETA) | CLI_OPT_BIT(CLI_OPT_BATCH) |
        CLI_OPT_BIT(CLI_OPT_RHO) | CLI_OPT_BIT(CLI_OPT_SEED) | CLI_OPT_BIT(CLI_OPT_OUT) | CLI_OPT_BIT(CLI_OPT_QUIET),
    own_opts, NULL, usage, 24};

/* Steps done of the run's (the bar of cli_progress.h; a resume's steps
 * count in done, not in the rate); the label says "sharpness" or
 * "monitor" while train computes them, their time counting toward the
 * rate.  The batch loss is in train_log.csv. */
static void train_progress(size_t done, size_t total, double batch_loss, void *ctx)
{
    (void)batch_loss;
    cli_progress_update(ctx, done, total);
}

static void train_phase(const char *phase, size_t done, size_t total, void *ctx)
{
    cli_progress_state *bar = ctx;
    bar->done = done;
    bar->total = total;
    cli_progress_label(bar, phase);
}

/*
 * The checkpoint folder is written as a whole.  Every file goes first into
 * a staging directory: a new directory beside DIR (DIR.tmp.XXXXXX) renamed
 * to DIR at the end when DIR does not exist, else DIR/.tmp.XXXXXX whose
 * files are renamed into DIR at the end (model.json, which makes a folder
 * a checkpoint, last), and the weight files of an earlier checkpoint there
 * that this one lacks (W3.npy after a deeper network) are removed.  After
 * a failure the staging directory and its files are removed: DIR never
 * holds a partial file, and a failure before the renames (every write
 * error) leaves it as it was.
 */
typedef struct ckpt_stage {
    char dir[4200];  /* the staging directory */
    char out[4096];  /* DIR without trailing slashes */
    int whole;       /* DIR did not exist: rename the staging directory */
    char moved[8192]; /* "/a/b/": the files moved into an existing DIR */
} ckpt_stage;

/* Remove the staging directory's files and the directory. */
static void stage_abort(ckpt_stage *s)
{
    DIR *d = opendir(s->dir);
    if (d != NULL) {
        struct dirent *e;
        char p[8500];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(p, sizeof p, "%s/%s", s->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(s->dir);
}

static int stage_open(const char *cmd, const char *out, ckpt_stage *s)
{
    memset(s, 0, sizeof *s);
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/') len--;
    if (len == 0 || len >= 4000) {
        fprintf(stderr, "linstab %s: error: --out '%s': not a usable directory name\n", cmd, out);
        return 2;
    }
    memcpy(s->out, out, len);
    s->out[len] = '\0';
    struct stat sb;
    if (stat(s->out, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "linstab %s: error: %s exists and is not a directory\n", cmd, s->out);
            return 1;
        }
        snprintf(s->dir, sizeof s->dir, "%s/.tmp.XXXXXX", s->out);
    } else {
        /* its parent must exist (as mkdir -p) */
        char parent[4096];
        memcpy(parent, s->out, len + 1);
        char *slash = strrchr(parent, '/');
        if (slash != NULL && slash != parent) {
            *slash = '\0';
            if (cli_mkdir_p(parent) != 0) {
                fprintf(stderr, "linstab %s: error: cannot create %s: %s\n", cmd, parent, strerror(errno));
                return 1;
            }
        }
        s->whole = 1;
        snprintf(s->dir, sizeof s->dir, "%s.tmp.XXXXXX", s->out);
    }
    if (mkdtemp(s->dir) == NULL) {
        fprintf(stderr, "linstab %s: error: cannot create a directory beside %s: %s\n", cmd, s->out,
                strerror(errno));
        return 1;
    }
    chmod(s->dir, 0755);
    return 0;
}

/* Move the staging directory's files into place; 0, or 1 after printing
 * the failure (and removing what was staged). */
static int stage_commit(const char *cmd, ckpt_stage *s)
{
    if (s->whole) {
        if (rename(s->dir, s->out) == 0) return 0;
        if (errno != EEXIST && errno != ENOTEMPTY) {
            fprintf(stderr, "linstab %s: error: cannot rename %s to %s: %s\n", cmd, s->dir, s->out, strerror(errno));
            stage_abort(s);
            return 1;
        }
        /* DIR appeared meanwhile: file by file */
    }
    DIR *d = opendir(s->dir);
    if (d == NULL) {
        fprintf(stderr, "linstab %s: error: cannot read %s: %s\n", cmd, s->dir, strerror(errno));
        stage_abort(s);
        return 1;
    }
    struct dirent *e;
    char from[8500], to[8500];
    int rc = 0;
    strcpy(s->moved, "/");
    for (int pass = 0; pass < 2 && rc == 0; pass++) { /* model.json in the second pass */
        rewinddir(d);
        while (rc == 0 && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if ((strcmp(e->d_name, "model.json") == 0) != (pass == 1)) continue;
            snprintf(from, sizeof from, "%s/%s", s->dir, e->d_name);
            snprintf(to, sizeof to, "%s/%s", s->out, e->d_name);
            if (rename(from, to) != 0) {
                fprintf(stderr, "linstab %s: error: cannot rename %s to %s: %s\n", cmd, from, to, strerror(errno));
                rc = 1;
            } else if (strlen(s->moved) + strlen(e->d_name) + 2 < sizeof s->moved) {
                strcat(s->moved, e->d_name);
                strcat(s->moved, "/");
            }
        }
    }
    closedir(d);
    if (rc != 0) {
        stage_abort(s);
        return 1;
    }
    /* weight files of an earlier, deeper (or biased) checkpoint in DIR are
     * not part of this one: remove them, lest DIR mix two runs */
    if ((d = opendir(s->out)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            const char *nm = e->d_name;
            size_t len = strlen(nm);
            if ((nm[0] != 'W' && nm[0] != 'b') || len < 6 || strcmp(nm + len - 4, ".npy") != 0 ||
                strspn(nm + 1, "0123456789") != len - 5)
                continue;
            char key[300];
            snprintf(key, sizeof key, "/%s/", nm);
            if (strstr(s->moved, key) != NULL) continue;
            snprintf(to, sizeof to, "%s/%s", s->out, nm);
            unlink(to);
        }
        closedir(d);
    }
    if (rmdir(s->dir) != 0) {
        fprintf(stderr, "linstab %s: error: cannot remove %s: %s\n", cmd, s->dir, strerror(errno));
        return 1;
    }
    return 0;
}

/* Class labels (n) into one-hot targets (n x K) in place; 0, or 1 after
 * naming the sample whose label is not a class. */
static int one_hot(const char *cmd, const char *name, linstab_array *Y, size_t K)
{
    if (Y->ndim != 1) return 0;
    size_t n = Y->shape[0];
    double *oh = calloc(n * K + 1, sizeof *oh);
    if (oh == NULL) {
        fprintf(stderr, "linstab %s: error: %s: out of memory\n", cmd, name);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        double v = Y->data[i];
        if (v >= 0 && v < (double)K && v == (double)(size_t)v) oh[i * K + (size_t)v] = 1.0;
        else {
            fprintf(stderr, "linstab %s: error: %s: sample %zu has label %g, not a class 0..%zu\n", cmd, name, i, v,
                    K - 1);
            free(oh);
            return 1;
        }
    }
    free(Y->data);
    Y->data = oh;
    Y->ndim = 2;
    Y->shape[1] = K;
    return 0;
}

/* The rows from `first` on of X and Y moved into TX, TY (X, Y keep the
 * first rows). */
static linstab_status split_rows(linstab_array *X, linstab_array *Y, size_t first, linstab_array *TX,
                                 linstab_array *TY, linstab_error *err)
{
    size_t n = X->shape[0], dx = X->shape[1], dy = Y->shape[1], nt = n - first;
    *TX = *X;
    *TY = *Y;
    TX->shape[0] = TY->shape[0] = nt;
    TX->data = malloc(nt * dx * sizeof *TX->data);
    TY->data = malloc(nt * dy * sizeof *TY->data);
    if (TX->data == NULL || TY->data == NULL) {
        free(TX->data);
        free(TY->data);
        TX->data = TY->data = NULL;
        return linstab_error_set(err, LINSTAB_ENOMEM, "the teacher's test samples: out of memory");
    }
    memcpy(TX->data, X->data + first * dx, nt * dx * sizeof *TX->data);
    memcpy(TY->data, Y->data + first * dy, nt * dy * sizeof *TY->data);
    X->shape[0] = Y->shape[0] = first;
    return LINSTAB_OK;
}

/* Cross-entropy on a teacher: the label of a sample is the class of its
 * largest teacher output (the first on a tie), so the (n, K) outputs become
 * (n,) labels in place. */
static void teacher_labels(linstab_array *Y)
{
    size_t n = Y->shape[0], K = Y->shape[1];
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < K; k++)
            if (Y->data[i * K + k] > Y->data[i * K + best]) best = k;
        Y->data[i] = (double)best;
    }
    Y->ndim = 1;
    Y->shape[1] = 0;
}

/* The input and output widths of m against X (n x d) and Y (n x K for
 * mse, n labels for ce): 0, or exit status 2 after naming both shapes
 * (`who` [`name`]: the model's source; `what`: the data's). */
static int shapes_fit(const char *cmd, const linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                      linstab_loss loss, const char *who, const char *name, const char *what)
{
    size_t d0 = m->sizes[0], K = m->sizes[m->nlayers];
    int ok = X->ndim == 2 && X->shape[1] == d0 && Y->shape[0] == X->shape[0] &&
             (loss == LINSTAB_LOSS_CE ? Y->ndim == 1 || (Y->ndim == 2 && Y->shape[1] == 1)
                                      : Y->ndim == 2 && Y->shape[1] == K);
    if (ok) return 0;
    char xs[64], ys[64];
    if (X->ndim == 2) snprintf(xs, sizeof xs, "%zu x %zu", X->shape[0], X->shape[1]);
    else snprintf(xs, sizeof xs, "%zu-dimensional", X->ndim);
    if (Y->ndim == 2) snprintf(ys, sizeof ys, "%zu x %zu", Y->shape[0], Y->shape[1]);
    else if (Y->ndim == 1) snprintf(ys, sizeof ys, "%zu", Y->shape[0]);
    else snprintf(ys, sizeof ys, "%zu-dimensional", Y->ndim);
    return cli_usage_error(cmd,
                           "%s%s%s takes inputs of width %zu and gives %zu outputs (inputs n x %zu, targets n x %zu%s), "
                           "but %s has inputs %s and targets %s",
                           who, name ? " " : "", name ? name : "", d0, K, d0, loss == LINSTAB_LOSS_CE ? (size_t)1 : K,
                           loss == LINSTAB_LOSS_CE ? " labels" : "", what, xs, ys);
}

int cmd_train(int argc, char **argv)
{
    const char *cmd = "train";
    linstab_train_opts o = linstab_train_defaults();
    o.rho = 0.05;
    o.log_every = 100;
    const char *layers = NULL, *optname = "sgd";
    const char *idx_images = NULL, *idx_labels = NULL;
    size_t subset = 0, teacher = 0;
    int save_data = 0, save_st = 0;
    double scale = 1.0 / 255.0;
    linstab_ad_op act = LINSTAB_AD_TANH, out_act = LINSTAB_MLP_OUT_NONE;
    int bias = 1, onehot = 0, rc = 0, have_init = 0;
    unsigned long long init_seed = 0;
    const char *init_from = NULL, *test_data = NULL, *test_targets = NULL, *idx_test_images = NULL,
               *idx_test_labels = NULL;
    size_t teacher_test = 0;
    int act_given = 0, outact_given = 0, nobias_given = 0;
    linstab_error err = {0};
    cli_common_opts co = cli_common_defaults();
    co.eta = o.eta;
    co.batch = o.batch;
    co.rho = o.rho;
    co.src.smoothing = o.smoothing;
    co.src.loss_ce = o.loss == LINSTAB_LOSS_CE;
    cli_parser ps = cli_options_start(&train_cmd, argc, argv, &co);
    for (int c; (c = cli_options_next(&ps)) != 0;) {
        if (c < 0) return ps.status;
        switch (c) {
        case OPT_LAYERS: layers = optarg; break;
        case OPT_ACT:
            if (linstab_mlp_act_parse(optarg, &act, &err) != LINSTAB_OK) ps.status = cli_usage_error(cmd, "%s", cli_msg(&err));
            break;
        case OPT_OUTACT:
            if (linstab_mlp_output_parse(optarg, &out_act, &err) != LINSTAB_OK)
                ps.status = cli_usage_error(cmd, "--output-activation: %s", cli_msg(&err));
            break;
        case OPT_NOBIAS: bias = 0; break;
        case OPT_ONEHOT: onehot = 1; break;
        case OPT_OPT: optname = optarg; break;
        case OPT_INDEP: o.independent_ascent = 1; break;
        case OPT_SAMFROM: ps.status = cli_parse_count(cmd, "--sam-from", optarg, 0, SIZE_MAX, &o.sam_from); break;
        case OPT_MOM: ps.status = cli_parse_number(cmd, "--momentum", optarg, 0, 1, CLI_HI_OPEN, &o.momentum); break;
        case OPT_WD:
            ps.status = cli_parse_number(cmd, "--weight-decay", optarg, 0, INFINITY, CLI_HI_OPEN, &o.weight_decay);
            break;
        case OPT_STEPS: ps.status = cli_parse_count(cmd, "--steps", optarg, 0, SIZE_MAX, &o.steps); break;
        case OPT_DECAYAT: ps.status = cli_parse_count(cmd, "--lr-decay-at", optarg, 1, SIZE_MAX, &o.decay_at); break;
        case OPT_DECAY:
            ps.status = cli_parse_number(cmd, "--lr-decay", optarg, 0, 1, CLI_LO_OPEN, &o.decay_factor);
            break;
        case OPT_LOGEVERY: ps.status = cli_parse_count(cmd, "--log-every", optarg, 1, SIZE_MAX, &o.log_every); break;
        case OPT_SHARP:
            ps.status = cli_parse_count(cmd, "--sharpness-every", optarg, 1, SIZE_MAX, &o.sharpness_every);
            break;
        case OPT_INITSEED: ps.status = cli_parse_u64(cmd, "--init-seed", optarg, &init_seed); have_init = 1; break;
        case OPT_IDXI: idx_images = optarg; break;
        case OPT_IDXL: idx_labels = optarg; break;
        case OPT_SUBSET: ps.status = cli_parse_count(cmd, "--subset", optarg, 1, SIZE_MAX, &subset); break;
        case OPT_SCALE:
            ps.status = cli_parse_number(cmd, "--scale", optarg, 0, INFINITY, CLI_LO_OPEN | CLI_HI_OPEN, &scale);
            break;
        case OPT_TEACHER: ps.status = cli_parse_count(cmd, "--teacher", optarg, 1, SIZE_MAX, &teacher); break;
        case OPT_SGDFROM: ps.status = cli_parse_count(cmd, "--sgd-from", optarg, 1, SIZE_MAX, &o.sgd_from); break;
        case OPT_INITFROM: init_from = optarg; break;
        case OPT_STARTSTEP:
            ps.status = cli_parse_count(cmd, "--start-step", optarg, 0, SIZE_MAX, &o.start_step);
            break;
        case OPT_TESTDATA: test_data = optarg; break;
        case OPT_TESTTARGETS: test_targets = optarg; break;
        case OPT_IDXTI: idx_test_images = optarg; break;
        case OPT_IDXTL: idx_test_labels = optarg; break;
        case OPT_TEACHERTEST:
            ps.status = cli_parse_count(cmd, "--teacher-test", optarg, 1, SIZE_MAX, &teacher_test);
            break;
        case OPT_SAVEDATA: save_data = 1; break;
        case OPT_SAFETENSORS: save_st = 1; break;
        case OPT_MONEVERY:
            ps.status = cli_parse_count(cmd, "--monitor-every", optarg, 1, SIZE_MAX, &o.monitor_every);
            break;
        case OPT_MONSAMPLES:
            ps.status = cli_parse_count(cmd, "--monitor-samples", optarg, 1, SIZE_MAX, &o.monitor_samples);
            break;
        }
        if (c == OPT_ACT) act_given = 1;
        if (c == OPT_OUTACT) outact_given = 1;
        if (c == OPT_NOBIAS) nobias_given = 1;
    }
    const char *data = co.src.data, *targets = co.src.targets, *out = co.out;
    unsigned long long seed = co.seed;
    o.eta = co.eta;
    o.batch = co.batch;
    o.rho = co.rho;
    o.smoothing = co.src.smoothing;
    o.loss = co.src.loss_ce ? LINSTAB_LOSS_CE : LINSTAB_LOSS_MSE;
    o.quiet = co.quiet;
    if ((o.decay_at > 0) != (o.decay_factor > 0))
        return cli_usage_error(cmd, "--lr-decay-at K and --lr-decay F go together (eta times F every K steps)");
    int nsrc = (data != NULL || targets != NULL) + (idx_images != NULL || idx_labels != NULL) + (teacher > 0);
    if ((!layers && !init_from) || !out || nsrc != 1 || (data && !targets) || (targets && !data) ||
        (idx_images && !idx_labels) || (idx_labels && !idx_images))
        return cli_usage_error(cmd, "--layers (or --init-from), --out and one data source (--data with --targets, "
                                    "--idx-images with --idx-labels, or --teacher N) are required");
    int ntest = (test_data != NULL || test_targets != NULL) + (idx_test_images != NULL || idx_test_labels != NULL) +
                (teacher_test > 0);
    if (ntest > 1 || (test_data && !test_targets) || (test_targets && !test_data) ||
        (idx_test_images && !idx_test_labels) || (idx_test_labels && !idx_test_images))
        return cli_usage_error(cmd, "a test set is one of --test-data with --test-targets, --idx-test-images with "
                                    "--idx-test-labels, or --teacher-test N");
    if (teacher_test > 0 && teacher == 0) return cli_usage_error(cmd, "--teacher-test N needs --teacher");
    if (init_from && have_init) return cli_usage_error(cmd, "--init-seed and --init-from exclude each other");
    if (o.steps == 0 && !init_from) /* a count >= 1; 0 only evaluates an --init-from checkpoint */
        return cli_parse_count(cmd, "--steps", "0", 1, SIZE_MAX, &o.steps);
    if (o.start_step > 0 && !init_from)
        return cli_usage_error(cmd, "--start-step S resumes from the checkpoint of step S: give it with --init-from");
    if (o.start_step > o.steps)
        return cli_usage_error(cmd, "--start-step %zu is beyond --steps %zu", o.start_step, o.steps);
    if (o.sam_from > o.steps) return cli_usage_error(cmd, "--sam-from %zu is beyond --steps %zu", o.sam_from, o.steps);
    if (o.sgd_from > o.steps) return cli_usage_error(cmd, "--sgd-from %zu is beyond --steps %zu", o.sgd_from, o.steps);
    if (o.sgd_from > 0 && o.sam_from > 0 && o.sgd_from <= o.sam_from)
        return cli_usage_error(cmd, "--sam-from %zu --sgd-from %zu: with both, SAM runs from the first to the second "
                                    "(SGD, SAM, SGD), so --sgd-from must be larger",
                               o.sam_from, o.sgd_from);
    if (o.monitor_samples > 0 && o.monitor_every == 0)
        return cli_usage_error(cmd, "--monitor-samples M goes with --monitor-every K");
    if (strcmp(optname, "sgd") == 0) o.sam = LINSTAB_OPT_SGD;
    else if (strcmp(optname, "sam") == 0) o.sam = LINSTAB_OPT_SAM_NORMALIZED;
    else if (strcmp(optname, "sam-unnormalized") == 0) o.sam = LINSTAB_OPT_SAM_SAME;
    else return cli_usage_error(cmd, "--optimizer '%s': expected sgd, sam or sam-unnormalized", optname);
    if (o.sgd_from > 0 && o.sam == LINSTAB_OPT_SGD)
        return cli_usage_error(cmd, "--sgd-from switches SAM to SGD: give --optimizer sam or sam-unnormalized");
    /* --eta, --rho and --label-smoothing are in range: the table checked them */
    size_t *sizes = NULL, nsz = 0;
    if (layers != NULL) {
        rc = cli_parse_size_list(cmd, "--layers", layers, 1, (size_t)1 << 24, &sizes, &nsz);
        if (rc != 0) return rc;
        if (nsz < 2 || nsz > LINSTAB_MLP_MAX_LAYERS + 1) {
            free(sizes);
            return cli_usage_error(cmd, "--layers: give 2 to %d widths", LINSTAB_MLP_MAX_LAYERS + 1);
        }
    }
    o.seed = seed;
    linstab_mlp *m = NULL;
    linstab_array X = {0}, Y = {0}, TX = {0}, TY = {0};
    FILE *log = NULL;
    if (init_from != NULL) {
        if (linstab_mlp_load(init_from, &m, &err) != LINSTAB_OK) {
            free(sizes);
            fprintf(stderr, "linstab %s: error: --init-from %s: %s\n", cmd, init_from, cli_msg(&err));
            return 1;
        }
        /* what the command line says of the model must be the checkpoint's */
        int same = sizes == NULL || nsz == m->nlayers + 1;
        for (size_t l = 0; same && sizes != NULL && l < nsz; l++) same = sizes[l] == m->sizes[l];
        char have[400] = "";
        for (size_t l = 0; l <= m->nlayers; l++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%zu", l ? "," : "", m->sizes[l]);
        free(sizes);
        sizes = NULL;
        if (!same) rc = cli_usage_error(cmd, "--layers %s, but the checkpoint --init-from %s has layers %s", layers,
                                        init_from, have);
        else if (act_given && act != m->act)
            rc = cli_usage_error(cmd, "--activation %s, but the checkpoint --init-from %s has %s",
                                 linstab_mlp_act_name(act), init_from, linstab_mlp_act_name(m->act));
        else if (outact_given && out_act != m->out_act)
            rc = cli_usage_error(cmd, "--output-activation %s, but the checkpoint --init-from %s has %s",
                                 linstab_mlp_output_name(out_act), init_from, linstab_mlp_output_name(m->out_act));
        else if (nobias_given && m->bias)
            rc = cli_usage_error(cmd, "--no-bias, but the checkpoint --init-from %s has biases", init_from);
        if (rc != 0) goto done;
        act = m->act;
        out_act = m->out_act;
    } else {
        if (linstab_mlp_alloc(sizes, nsz - 1, act, bias, &m, &err) != LINSTAB_OK ||
            linstab_mlp_set_output(m, out_act, &err) != LINSTAB_OK) {
            linstab_mlp_free(m);
            free(sizes);
            return cli_fail(cmd, &err);
        }
        free(sizes);
        linstab_mlp_init(m, have_init ? init_seed : seed);
    }
    linstab_status rd;
    const char *test_name = NULL;
    if (teacher > 0) {
        rd = linstab_data_teacher_student(m->sizes, m->nlayers, act, teacher + teacher_test, seed, &X, &Y, &err);
        /* the teacher has the output activation too: f = A(its linear output) */
        for (size_t j = 0; rd == LINSTAB_OK && out_act != LINSTAB_MLP_OUT_NONE && j < linstab_npy_array_size(&Y); j++) {
            double d1, d2;
            linstab_ad_activation(out_act, Y.data[j], &Y.data[j], &d1, &d2);
        }
        targets = "teacher";
        if (rd == LINSTAB_OK && teacher_test > 0) rd = split_rows(&X, &Y, teacher, &TX, &TY, &err);
        if (rd == LINSTAB_OK && o.loss == LINSTAB_LOSS_CE) {
            teacher_labels(&Y);
            if (teacher_test > 0) teacher_labels(&TY);
        }
        test_name = "the teacher's test samples";
    } else if (idx_images != NULL) {
        rd = linstab_data_idx_read(idx_images, subset, scale, &X, &err);
        if (rd == LINSTAB_OK) rd = linstab_data_idx_read(idx_labels, subset, 1.0, &Y, &err);
        if (rd == LINSTAB_OK && o.loss == LINSTAB_LOSS_MSE) onehot = 1;
        targets = idx_labels;
    } else {
        rd = linstab_npy_read_numeric(data, 0, &X, &err);
        if (rd == LINSTAB_OK) rd = linstab_npy_read_numeric(targets, 0, &Y, &err);
        if (rd == LINSTAB_OK && o.loss == LINSTAB_LOSS_CE)
            rd = cli_labels_from_onehot(&Y, m->sizes[m->nlayers], &err);
    }
    if (rd == LINSTAB_OK && idx_test_images != NULL) {
        rd = linstab_data_idx_read(idx_test_images, 0, scale, &TX, &err);
        if (rd == LINSTAB_OK) rd = linstab_data_idx_read(idx_test_labels, 0, 1.0, &TY, &err);
        test_name = idx_test_labels;
    } else if (rd == LINSTAB_OK && test_data != NULL) {
        rd = linstab_npy_read_numeric(test_data, 0, &TX, &err);
        if (rd == LINSTAB_OK) rd = linstab_npy_read_numeric(test_targets, 0, &TY, &err);
        if (rd == LINSTAB_OK && o.loss == LINSTAB_LOSS_CE)
            rd = cli_labels_from_onehot(&TY, m->sizes[m->nlayers], &err);
        test_name = test_targets;
    }
    if (rd != LINSTAB_OK) {
        rc = cli_fail(cmd, &err);
        goto done;
    }
    if (onehot && o.loss == LINSTAB_LOSS_MSE && (rc = one_hot(cmd, targets, &Y, m->sizes[m->nlayers])) != 0) goto done;
    if (TX.data != NULL && (onehot || idx_test_images != NULL) && o.loss == LINSTAB_LOSS_MSE &&
        (rc = one_hot(cmd, test_name, &TY, m->sizes[m->nlayers])) != 0)
        goto done;
    /* a checkpoint, or a test set, that does not fit the data: both shapes,
     * before any work */
    if (init_from != NULL && (rc = shapes_fit(cmd, m, &X, &Y, o.loss, "--init-from", init_from, "the data")) != 0)
        goto done;
    if (TX.data != NULL && (rc = shapes_fit(cmd, m, &TX, &TY, o.loss, "the model", NULL, "the test set")) != 0)
        goto done;
    if (linstab_mlp_check_data(m, &X, &Y, o.loss, &err) != LINSTAB_OK ||
        (TX.data != NULL && linstab_mlp_check_data(m, &TX, &TY, o.loss, &err) != LINSTAB_OK)) {
        fprintf(stderr, "linstab %s: error: %s\n", cmd, cli_msg(&err));
        rc = 1;
        goto done;
    }
    if (TX.data != NULL) {
        o.test_X = &TX;
        o.test_Y = &TY;
    }
    if (o.batch < 1 || o.batch > X.shape[0]) {
        rc = cli_usage_error(cmd, "--batch %zu: must be in [1, n] = [1, %zu]", o.batch, X.shape[0]);
        goto done;
    }
    ckpt_stage stage;
    if ((rc = stage_open(cmd, out, &stage)) != 0) goto done;
    char logpath[4300];
    snprintf(logpath, sizeof logpath, "%s/train_log.csv", stage.dir);
    cli_output lo;
    if ((rc = cli_output_open(cmd, logpath, &lo)) != 0) {
        stage_abort(&stage);
        goto done;
    }
    log = lo.fp;
    cli_progress_state bar = {0};
    o.progress = train_progress;
    o.progress_phase = train_phase;
    o.progress_ctx = &bar;
    cli_progress_begin(&bar, "train", o.start_step, o.steps, o.quiet);
    linstab_train_result res;
    linstab_status st = linstab_train_run(m, &X, &Y, &o, log, &res, &err);
    if (st == LINSTAB_OK && !res.diverged) cli_progress_end(&bar);
    else cli_progress_stop(&bar);
    if (st != LINSTAB_OK) {
        cli_output_close(cmd, &lo, 0);
        stage_abort(&stage);
        rc = cli_fail(cmd, &err);
        goto done;
    }
    /* the log, then the checkpoint (also of a diverged run: its parameters
     * after the diverging step), all in the staging directory */
    if ((rc = cli_output_close(cmd, &lo, 1)) != 0) {
        stage_abort(&stage);
        goto done;
    }
    log = NULL;
    if (linstab_mlp_save(m, stage.dir, &err) != LINSTAB_OK) {
        fprintf(stderr, "linstab %s: error: writing the checkpoint to %s: %s\n", cmd, out, cli_msg(&err));
        stage_abort(&stage);
        rc = 1;
        goto done;
    }
    if (save_st) {
        char path[4400];
        snprintf(path, sizeof path, "%s/model.safetensors", stage.dir);
        if (linstab_mlp_save_safetensors(m, path, &err) != LINSTAB_OK) {
            fprintf(stderr, "linstab %s: error: writing the checkpoint to %s: %s\n", cmd, out, cli_msg(&err));
            stage_abort(&stage);
            rc = 1;
            goto done;
        }
    }
    if (save_data) {
        /* the data as the loss saw them (scaled pixels, one-hot or label
         * targets), for hessians, critical and dynamics --model */
        const linstab_array *arr[4] = {&X, &Y, &TX, &TY};
        static const char *const names[4] = {"X.npy", "Y.npy", "test_X.npy", "test_Y.npy"};
        char path[4400];
        for (int k = 0; k < 4 && rc == 0; k++) {
            if (arr[k]->data == NULL) continue;
            snprintf(path, sizeof path, "%s/%s", stage.dir, names[k]);
            if (linstab_npy_write(path, arr[k]->data, arr[k]->ndim, arr[k]->shape, &err) != LINSTAB_OK) {
                fprintf(stderr, "linstab %s: error: writing the data to %s: %s\n", cmd, out, cli_msg(&err));
                rc = 1;
            }
        }
        if (rc != 0) {
            stage_abort(&stage);
            goto done;
        }
    }
    if ((rc = stage_commit(cmd, &stage)) != 0) goto done;
    if (res.diverged) {
        printf("diverged at step %zu: %s grew from %.6g to %.6g (the limit is %g = 1e6 x max(initial loss, "
               "loss of f = 0)); checkpoint and train_log.csv up to that step in %s\n",
               res.diverged_at, res.measure, res.loss0, res.loss, res.threshold, out);
        rc = 3;
        goto done;
    }
    double L, acc;
    if (linstab_mlp_evaluate(m, &X, &Y, o.loss, o.smoothing, &L, &acc, &err) != LINSTAB_OK) {
        rc = cli_fail(cmd, &err);
        goto done;
    }
    printf("trained %zu steps (%s): loss %.6g, accuracy %.4f; checkpoint and train_log.csv in %s\n",
           o.steps - o.start_step, optname, L, acc, out);
done:
    linstab_npy_array_free(&X);
    linstab_npy_array_free(&Y);
    linstab_npy_array_free(&TX);
    linstab_npy_array_free(&TY);
    linstab_mlp_free(m);
    return rc;
}
