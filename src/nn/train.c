/*
 * train.c -- mini-batch SGD and SAM on MLPs (Foret et al. 2021 for SAM;
 * Zhou et al. Eq. 4 for independent ascent batches, their Section 5 for
 * switching SGD -> SAM late in training).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "linstab/rng.h"
#include "linstab/simulate.h"
#include "linstab/train.h"

linstab_train_opts linstab_train_defaults(void)
{
    linstab_train_opts o;
    memset(&o, 0, sizeof o);
    o.eta = 0.1;
    o.batch = 32;
    o.steps = 1000;
    o.decay_factor = 0.0;
    return o;
}

static size_t targets_per_row(const linstab_mlp *m, linstab_loss loss)
{
    return loss == LINSTAB_LOSS_MSE ? m->sizes[m->nlayers] : 1;
}

/* Rows of the batch gathered into contiguous buffers. */
static void gather_rows(const linstab_array *A, size_t width, const size_t *idx, size_t count, double *out)
{
    for (size_t r = 0; r < count; r++) memcpy(out + r * width, A->data + idx[r] * width, width * sizeof *out);
}

/* The loss of the output f = 0: mean ||y||^2 / 2 (mse) or log K (ce; a
 * uniform softmax, whatever the smoothing). */
static double zero_output_loss(const linstab_array *Y, size_t K, linstab_loss loss)
{
    if (loss == LINSTAB_LOSS_CE) return log((double)K);
    size_t n = Y->shape[0];
    double s = 0.0;
    for (size_t j = 0; j < n * K; j++) s += Y->data[j] * Y->data[j];
    return 0.5 * s / (double)n;
}

/* SAM at step t (0-based): the optimizer is SAM with rho > 0 and t is in
 * the window [sam_from, sgd_from) (sgd_from 0: no end). */
static int sam_at(const linstab_train_opts *o, size_t t)
{
    return o->sam != LINSTAB_OPT_SGD && o->rho > 0.0 && t >= o->sam_from && (o->sgd_from == 0 || t < o->sgd_from);
}

/* A log entry at *at (room to end): the number, or nothing when it is
 * not known; with a leading comma when sep. */
static void put_num(char *buf, size_t cap, int sep, double v)
{
    size_t len = strlen(buf);
    if (len + 1 >= cap) return;
    if (isfinite(v))
        snprintf(buf + len, cap - len, "%s%.17g", sep ? "," : "", v);
    else if (sep)
        snprintf(buf + len, cap - len, ",");
}

/*
 * The end of a log row into tail (cap bytes, appended to): ,test_loss,
 * test_accuracy with a test set, then the monitor's three columns when it
 * is on (computed when `monitor`, at the iterate m->theta for the optimizer
 * of step next, 0-based).  The caller writes the row only on success.
 */
static linstab_status row_extras(const linstab_mlp *m, const linstab_train_opts *o, const linstab_array *Xmon,
                                 size_t B, size_t next, int monitor, char *tail, size_t cap,
                                 linstab_error *err)
{
    double tl = NAN, ta = NAN;
    linstab_status st = LINSTAB_OK;
    if (o->test_X != NULL) {
        st = linstab_mlp_evaluate(m, o->test_X, o->test_Y, o->loss, o->smoothing, &tl, &ta, err);
        if (st != LINSTAB_OK) return st;
    }
    linstab_train_monitor mon = {NAN, NAN, NAN, 0, 0};
    if (monitor) {
        /* the stability of this iterate under the next step's optimizer */
        linstab_optimizer op = !sam_at(o, next)                        ? LINSTAB_OPT_SGD
                               : o->sam == LINSTAB_OPT_SAM_NORMALIZED ? LINSTAB_OPT_SAM_NORMALIZED
                               : o->independent_ascent                ? LINSTAB_OPT_SAM_INDEP
                                                                      : LINSTAB_OPT_SAM_SAME;
        st = linstab_train_monitor_gn_at(m, Xmon, o->loss, B, op, o->rho, &mon, err);
        if (st != LINSTAB_OK) return st;
    }
    if (o->test_X != NULL) {
        put_num(tail, cap, 1, tl);
        put_num(tail, cap, 1, ta);
    }
    if (o->monitor_every > 0) {
        put_num(tail, cap, 1, mon.sharpness);
        put_num(tail, cap, 1, mon.eta_star_sgd);
        put_num(tail, cap, 1, mon.eta_star);
    }
    return LINSTAB_OK;
}

linstab_status linstab_train_run(linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                                 const linstab_train_opts *o, FILE *log, linstab_train_result *res,
                                 linstab_error *err)
{
    linstab_train_result rs;
    memset(&rs, 0, sizeof rs);
    rs.loss0 = rs.loss = rs.final_loss = NAN;
    if (res != NULL) *res = rs;
    linstab_status st = LINSTAB_OK;
    if (o->sam_from > o->steps || o->sgd_from > o->steps || o->start_step > o->steps)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "the switch steps and the start step must be at most the %zu steps "
                                 "(sam_from %zu, sgd_from %zu, start_step %zu)",
                                 o->steps, o->sam_from, o->sgd_from, o->start_step);
    if (o->sam_from > 0 && o->sgd_from > 0 && o->sgd_from <= o->sam_from)
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "SAM from step %zu and SGD from step %zu: with both, SAM runs on the steps "
                                 "[sam_from, sgd_from), so sgd_from must exceed sam_from",
                                 o->sam_from, o->sgd_from);
    if ((o->test_X == NULL) != (o->test_Y == NULL))
        return linstab_error_set(err, LINSTAB_EINVAL, "a test set needs both its inputs and its targets");
    st = linstab_mlp_check_data(m, X, Y, o->loss, err);
    if (st != LINSTAB_OK) return st;
    size_t n = X->shape[0], d0 = m->sizes[0], ty = targets_per_row(m, o->loss), p = m->p, B = o->batch;
    if (B < 1 || B > n)
        return linstab_error_set(err, LINSTAB_EINVAL, "the batch size must be in [1, n] = [1, %zu], got %zu", n, B);
    if (!(o->eta > 0.0)) return linstab_error_set(err, LINSTAB_EINVAL, "eta must be positive, got %g", o->eta);
    if (o->test_X != NULL) {
        st = linstab_mlp_check_data(m, o->test_X, o->test_Y, o->loss, err);
        if (st != LINSTAB_OK) return st;
    }
    size_t *perm = malloc(n * sizeof *perm), *perm2 = malloc(n * sizeof *perm2);
    double *xb = malloc(B * d0 * sizeof *xb), *yb = malloc(B * ty * sizeof *yb);
    double *g = malloc(p * sizeof *g), *gs = malloc(p * sizeof *gs), *vel = calloc(p, sizeof *vel),
           *th = malloc(p * sizeof *th);
    gsl_rng *r = linstab_rng_stream(o->seed, 0x7a1); /* the batch stream */
    /* the monitor's fixed subsample, drawn once from the seed */
    size_t kout = m->sizes[m->nlayers];
    size_t Mmon = o->monitor_every == 0 ? 0
                  : o->monitor_samples > 0 ? o->monitor_samples
                  : kout < LINSTAB_TRAIN_MONITOR_ROWS ? LINSTAB_TRAIN_MONITOR_ROWS / kout : 1;
    if (Mmon > n) Mmon = n;
    size_t *midx = Mmon ? malloc(Mmon * sizeof *midx) : NULL;
    linstab_array Xmon = {0};
    Xmon.ndim = 2;
    Xmon.shape[0] = Mmon;
    Xmon.shape[1] = d0;
    Xmon.data = Mmon ? malloc(Mmon * d0 * sizeof *Xmon.data) : NULL;
    if (!perm || !perm2 || !xb || !yb || !g || !gs || !vel || !th || !r || (Mmon && (!midx || !Xmon.data))) {
        st = linstab_error_set(err, LINSTAB_ENOMEM, "training: out of memory");
        goto done;
    }
    /* the divergence rule's reference: the initial full-data loss, or the
     * loss of the output f = 0 when that is larger (a network that starts
     * near its targets must not be called diverged for a loss of order 1) */
    {
        double acc0;
        st = linstab_mlp_evaluate(m, X, Y, o->loss, o->smoothing, &rs.loss0, &acc0, err);
        if (st != LINSTAB_OK) goto done;
        double ref = zero_output_loss(Y, m->sizes[m->nlayers], o->loss);
        if (!(ref >= rs.loss0)) ref = rs.loss0;
        rs.threshold = LINSTAB_TRAIN_DIVERGENCE_FACTOR * ref;
        rs.final_loss = rs.loss0;
        if (!isfinite(rs.loss0)) {
            st = linstab_error_set(err, LINSTAB_EDATA,
                                   "the initial loss is %g: the inputs or the initialisation overflow", rs.loss0);
            goto done;
        }
    }
    if (Mmon) {
        linstab_train_monitor_indices(n, Mmon, o->seed, midx);
        gather_rows(X, d0, midx, Mmon, Xmon.data);
    }
    for (size_t i = 0; i < n; i++) perm[i] = perm2[i] = i;
    size_t pos = n, pos2 = n; /* reshuffle at the start */
    double eta = o->eta;
    if (log) {
        fprintf(log, "step,eta,batch_loss,loss,accuracy,sharpness");
        if (o->test_X) fprintf(log, ",test_loss,test_accuracy");
        if (Mmon) fprintf(log, ",monitor_sharpness,eta_star_sgd,eta_star");
        fprintf(log, "\n");
    }
    for (size_t t = 0; t < o->steps && st == LINSTAB_OK; t++) {
        if (o->decay_at > 0 && o->decay_factor > 0.0 && t > 0 && t % o->decay_at == 0) eta *= o->decay_factor;
        if (pos + B > n) {
            gsl_ran_shuffle(r, perm, n, sizeof *perm);
            pos = 0;
        }
        int sam = sam_at(o, t);
        if (t < o->start_step) {
            /* resumed: this step was taken by the run that wrote the
             * checkpoint; draw its batches (the ascent batch too) only */
            pos += B;
            if (sam && o->independent_ascent) {
                if (pos2 + B > n) {
                    gsl_ran_shuffle(r, perm2, n, sizeof *perm2);
                    pos2 = 0;
                }
                pos2 += B;
            }
            continue;
        }
        gather_rows(X, d0, perm + pos, B, xb);
        gather_rows(Y, ty, perm + pos, B, yb);
        pos += B;
        double bl;
        st = linstab_mlp_loss(m, xb, yb, B, o->loss, o->smoothing, NULL, &bl, g, NULL, err);
        if (st != LINSTAB_OK) break;
        bl /= (double)B; /* the batch's mean loss */
        for (size_t j = 0; j < p; j++) g[j] /= (double)B;
        if (sam) {
            /* ascent direction: this batch's gradient, or an independent batch's */
            const double *ga = g;
            if (o->independent_ascent) {
                if (pos2 + B > n) {
                    gsl_ran_shuffle(r, perm2, n, sizeof *perm2);
                    pos2 = 0;
                }
                double *xa = malloc(B * d0 * sizeof *xa), *ya = malloc(B * ty * sizeof *ya);
                if (xa == NULL || ya == NULL) {
                    free(xa);
                    free(ya);
                    st = linstab_error_set(err, LINSTAB_ENOMEM, "training: out of memory");
                    break;
                }
                gather_rows(X, d0, perm2 + pos2, B, xa);
                gather_rows(Y, ty, perm2 + pos2, B, ya);
                pos2 += B;
                st = linstab_mlp_loss(m, xa, ya, B, o->loss, o->smoothing, NULL, NULL, gs, NULL, err);
                free(xa);
                free(ya);
                if (st != LINSTAB_OK) break;
                for (size_t j = 0; j < p; j++) gs[j] /= (double)B;
                ga = gs;
            }
            double nrm = 0.0;
            for (size_t j = 0; j < p; j++) nrm += ga[j] * ga[j];
            nrm = sqrt(nrm);
            double scale = o->sam == LINSTAB_OPT_SAM_NORMALIZED ? (nrm > 0.0 ? o->rho / nrm : 0.0) : o->rho;
            memcpy(th, m->theta, p * sizeof *th);
            for (size_t j = 0; j < p; j++) m->theta[j] += scale * ga[j];
            st = linstab_mlp_loss(m, xb, yb, B, o->loss, o->smoothing, NULL, NULL, g, NULL, err);
            memcpy(m->theta, th, p * sizeof *th);
            if (st != LINSTAB_OK) break;
            for (size_t j = 0; j < p; j++) g[j] /= (double)B;
        }
        for (size_t j = 0; j < p; j++) {
            double gj = g[j] + o->weight_decay * m->theta[j];
            vel[j] = o->momentum * vel[j] + gj;
            m->theta[j] -= eta * vel[j];
        }
        rs.steps = t + 1;
        int last = t + 1 == o->steps;
        /* the batch loss of this step beyond the threshold: diverged */
        int diverged = !(bl <= rs.threshold);
        int monitored = Mmon > 0 && (t + 1) % o->monitor_every == 0;
        int logged = log && (last || monitored || (o->log_every > 0 && (t + 1) % o->log_every == 0));
        if (logged || diverged) {
            /* a row only from a successful evaluation (after a failure the
             * error is returned and the row is not written); a diverged
             * step gets its row too, the last of the log */
            double L, acc, sh = NAN;
            st = linstab_mlp_evaluate(m, X, Y, o->loss, o->smoothing, &L, &acc, err);
            if (st != LINSTAB_OK) break;
            rs.final_loss = L;
            if (!diverged && !(L <= rs.threshold)) {
                diverged = 1;
                rs.measure = "full-data loss";
                rs.loss = L;
            } else if (diverged) {
                rs.measure = "batch loss";
                rs.loss = bl;
            }
            if (!diverged && o->sharpness_every > 0 && (last || (t + 1) % o->sharpness_every == 0)) {
                if (o->progress_phase) o->progress_phase("sharpness", t + 1, o->steps, o->progress_ctx);
                st = linstab_mlp_sharpness(m, X, Y, o->loss, o->smoothing, &sh, err);
                if (o->progress_phase) o->progress_phase("train", t + 1, o->steps, o->progress_ctx);
                if (st != LINSTAB_OK) break;
            }
            char tail[256] = "";
            put_num(tail, sizeof tail, 0, sh);
            int mon = monitored && !diverged;
            if (mon && o->progress_phase) o->progress_phase("monitor", t + 1, o->steps, o->progress_ctx);
            st = row_extras(m, o, &Xmon, B, t + 1, mon, tail, sizeof tail, err);
            if (mon && o->progress_phase) o->progress_phase("train", t + 1, o->steps, o->progress_ctx);
            if (st != LINSTAB_OK) break;
            if (log) fprintf(log, "%zu,%.17g,%.17g,%.17g,%.17g,%s\n", t + 1, eta, bl, L, acc, tail);
        }
        if (o->progress != NULL && ((t + 1) % 50 == 0 || last || diverged))
            o->progress(t + 1, o->steps, bl, o->progress_ctx);
        if (diverged) {
            rs.diverged = 1;
            rs.diverged_at = t + 1;
            break;
        }
    }
    if (st == LINSTAB_OK && o->start_step == o->steps && log != NULL) {
        /* no step to run (a resumed run at its end): one row for the
         * parameters as given, without a batch loss */
        double L, acc;
        st = linstab_mlp_evaluate(m, X, Y, o->loss, o->smoothing, &L, &acc, err);
        char tail[256] = "";
        if (st == LINSTAB_OK) st = row_extras(m, o, &Xmon, B, o->steps, Mmon > 0, tail, sizeof tail, err);
        if (st == LINSTAB_OK) fprintf(log, "%zu,%.17g,,%.17g,%.17g,%s\n", o->steps, eta, L, acc, tail);
    }
done:
    free(midx);
    free(Xmon.data);
    free(perm);
    free(perm2);
    free(xb);
    free(yb);
    free(g);
    free(gs);
    free(vel);
    free(th);
    if (r) gsl_rng_free(r);
    if (res != NULL) *res = rs;
    return st;
}

linstab_status linstab_train(linstab_mlp *m, const linstab_array *X, const linstab_array *Y,
                             const linstab_train_opts *o, FILE *log, linstab_error *err)
{
    linstab_train_result rs;
    linstab_status st = linstab_train_run(m, X, Y, o, log, &rs, err);
    if (st == LINSTAB_OK && rs.diverged)
        st = linstab_error_set(err, LINSTAB_EDATA, "training diverged at step %zu: %s grew from %.6g to %.6g",
                               rs.diverged_at, rs.measure, rs.loss0, rs.loss);
    return st;
}
