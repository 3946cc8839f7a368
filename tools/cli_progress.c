/* cli_progress.c -- the progress bar of every command (cli_progress.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cli_progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cli_progress_eta(size_t done, size_t start, size_t total, double elapsed)
{
    if (done <= start || !(elapsed > 0.0)) return -1.0;
    double rate = (double)(done - start) / elapsed;
    return total > done ? (double)(total - done) / rate : 0.0;
}

/* seconds as "12 s", "3m05s", "2h07m" (t >= 0) */
static void duration(char *buf, size_t cap, double t, int tenths)
{
    if (t < 60.0) snprintf(buf, cap, tenths ? "%.1f s" : "%.0f s", t);
    else if (t < 3600.0) snprintf(buf, cap, "%dm%02ds", (int)(t / 60.0), (int)t % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)(t / 3600.0), ((int)t / 60) % 60);
}

char *cli_progress_format(char *buf, size_t cap, const char *what, size_t done, size_t start,
                          size_t total, double elapsed, int final)
{
    enum { WIDTH = 24 };
    char bar[WIDTH + 1], el[32], eta[48], rate[48] = "";
    size_t shown = total > 0 && done > total ? total : done;
    int fill = total > 0 ? (int)((double)shown / (double)total * WIDTH) : 0;
    for (int i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : ' ';
    bar[WIDTH] = '\0';
    if (elapsed < 0.0) elapsed = 0.0;
    duration(el, sizeof el, elapsed, 1);
    if (done > start && elapsed > 0.0) {
        double r = (double)(done - start) / elapsed;
        if (r >= 100.0) snprintf(rate, sizeof rate, ", %.0f/s", r);
        else if (r >= 1.0) snprintf(rate, sizeof rate, ", %.3g/s", r);
        else snprintf(rate, sizeof rate, ", %.3g s each", 1.0 / r);
    }
    char of[32] = "/?"; /* a total not known in advance: no ETA */
    if (total > 0) snprintf(of, sizeof of, "/%zu", total);
    char resumed[64] = "";
    if (start > 0) snprintf(resumed, sizeof resumed, " (%zu this run)", done > start ? done - start : 0);
    if (final) {
        snprintf(buf, cap, "%-10s [%s] %zu%s%s done in %s%s", what, bar, done, of, resumed, el, rate);
        return buf;
    }
    double e = total > 0 ? cli_progress_eta(done, start, total, elapsed) : -1.0;
    if (e < 0.0) snprintf(eta, sizeof eta, "ETA --");
    else {
        char d[32];
        duration(d, sizeof d, e, 0);
        snprintf(eta, sizeof eta, "ETA %s", d);
    }
    snprintf(buf, cap, "%-10s [%s] %zu%s%s, %s%s, %s", what, bar, done, of, resumed, el, rate, eta);
    return buf;
}

static int env_on(void)
{
    const char *a = getenv("LINSTAB_PROGRESS"), *b = getenv("LINSTAB_MAP_PROGRESS");
    return (a != NULL && strcmp(a, "1") == 0) || (b != NULL && strcmp(b, "1") == 0);
}

static double clock_of(const cli_progress_state *p)
{
    return p->clock ? p->clock() : cli_progress_now();
}

static void draw(cli_progress_state *p, double now, int final)
{
    char line[256];
    cli_progress_format(line, sizeof line, p->what, p->done, p->start, p->total, now - p->t0, final);
    /* on a terminal the line is padded so that a shorter one covers it */
    if (p->tty) fprintf(stderr, "\r%-79s%s", line, final ? "\n" : "");
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
    p->last = now;
    p->open = !final;
}

void cli_progress_begin(cli_progress_state *p, const char *what, size_t start, size_t total, int quiet)
{
    double (*clk)(void) = p->clock; /* an injected clock survives the reset */
    memset(p, 0, sizeof *p);
    p->clock = clk;
    p->what = what;
    p->start = p->done = start;
    p->total = total;
    p->tty = isatty(STDERR_FILENO);
    p->on = !quiet && (p->tty || env_on());
    p->seen[0] = what;
    p->t0 = clock_of(p);
    p->last = p->t0 - 1.0;
    if (p->on) draw(p, p->t0, 0);
}

void cli_progress_update(cli_progress_state *p, size_t done, size_t total)
{
    p->done = done;
    if (total > 0) p->total = total;
    if (!p->on) return;
    double now = clock_of(p);
    if (now - p->last < 1.0 / CLI_PROGRESS_HZ) return;
    draw(p, now, 0);
}

void cli_progress_label(cli_progress_state *p, const char *what)
{
    p->what = what;
    if (!p->on) return;
    size_t k = 0, cap = sizeof p->seen / sizeof p->seen[0];
    while (k < cap && p->seen[k] != NULL && strcmp(p->seen[k], what) != 0) k++;
    int first = k < cap && p->seen[k] == NULL;
    if (first) p->seen[k] = what;
    double now = clock_of(p);
    if (first || now - p->last >= 1.0 / CLI_PROGRESS_HZ) draw(p, now, 0);
}

void cli_progress_end(cli_progress_state *p)
{
    if (!p->on) return;
    draw(p, clock_of(p), 1);
    p->on = 0;
}

void cli_progress_stop(cli_progress_state *p)
{
    if (!p->on) return;
    if (p->tty && p->open) fputc('\n', stderr);
    fflush(stderr);
    p->on = 0;
}
