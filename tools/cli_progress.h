/* cli_progress.h -- the one progress bar of every command: done/total,
 * elapsed time, this run's rate and an ETA, on stderr.
 *
 * Drawn when stderr is a terminal (redrawn in place with '\r', at most
 * CLI_PROGRESS_HZ times a second, a last line with the total time), or,
 * with LINSTAB_PROGRESS=1 in the environment (the old name
 * LINSTAB_MAP_PROGRESS=1 too), also when it is not: then each (throttled)
 * draw is a line of its own, so that a test reading a file sees the bar.
 * Nothing is drawn with quiet.
 *
 * The rate and the ETA count only this run's work: a state begun with
 * start > 0 (a --resume that found `start` of `total` units done in a
 * checkpoint) shows done/total but divides (done - start) by the time
 * since the begin.  Until this run has done a unit there is no rate, and
 * the ETA reads "ETA --"; a total that is an upper bound (an iterative
 * solver's cap) makes the ETA an upper bound too -- callers say so in the
 * label ("at most").  Monotonic clock (CLOCK_MONOTONIC). */
#ifndef LINSTAB_CLI_PROGRESS_H
#define LINSTAB_CLI_PROGRESS_H

#include <stddef.h>

#define CLI_PROGRESS_HZ 10.0 /* redraws per second at most */

typedef struct cli_progress_state {
    const char *what;  /* the label (borrowed: a static string or one that outlives the bar) */
    size_t start;      /* units done before this run (a resume), counted in done, not in the rate */
    size_t done, total;
    double t0;         /* the clock at begin (s) */
    double last;       /* the clock at the last draw (s; < t0: none yet) */
    int on;            /* drawing at all (not quiet, a terminal or the env hook) */
    int tty;           /* redraw in place; else one line per draw */
    int open;          /* a bar drawn and not ended */
    const char *seen[8]; /* labels drawn so far (the first draw of each is not throttled) */
    double (*clock)(void); /* seconds; NULL: CLOCK_MONOTONIC (tests inject one) */
} cli_progress_state;

/* The monotonic clock in seconds. */
double cli_progress_now(void);

/* Begin a bar of `what` for total units of which start are done already
 * (0 without a resume).  quiet: the state draws nothing.  Draws the first
 * line ("ETA --") at once. */
void cli_progress_begin(cli_progress_state *p, const char *what, size_t start, size_t total, int quiet);

/* done units of total (a new total may be given: an estimate revised; 0
 * keeps the old one).  Redraws at most CLI_PROGRESS_HZ times a second. */
void cli_progress_update(cli_progress_state *p, size_t done, size_t total);

/* A new label (e.g. "sharpness" while train computes it); the time goes on
 * counting toward the rate.  Its first use is drawn at once, later ones
 * throttled as updates. */
void cli_progress_label(cli_progress_state *p, const char *what);

/* The last line: "what [####] done/total in T s (R/s)", then a newline.
 * Safe to call twice or after a quiet begin (no-op). */
void cli_progress_end(cli_progress_state *p);

/* End a bar that will not finish (a failure): the line ends, no total
 * time.  No-op after cli_progress_end. */
void cli_progress_stop(cli_progress_state *p);

/* The text of one draw, without '\r' or newline, into buf (cap bytes,
 * truncated): label, bar, done/total, elapsed, rate and ETA from this
 * run's units (done - start) over elapsed seconds; final: the total time
 * instead of an ETA.  Pure; returns buf. */
char *cli_progress_format(char *buf, size_t cap, const char *what, size_t done, size_t start,
                          size_t total, double elapsed, int final);

/* The ETA in seconds from this run's rate: (total - done) * elapsed /
 * (done - start); a negative value when there is no rate yet (done <=
 * start or elapsed <= 0). */
double cli_progress_eta(size_t done, size_t start, size_t total, double elapsed);

#endif
