/*
 * plot.c -- phase diagrams with PLplot (cairo driver): filled cells, a
 * colour bar, zero contours for the bound and exact boundaries, a legend.
 */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <plplot.h>

#include "linstab/plot.h"

int linstab_plot_available(void) { return 1; }

static double coord(double v, int lg) { return lg ? log10(v) : v; }

/*
 * PLplot's cairo drivers write through a FILE and ignore every write
 * error (a full disk leaves a truncated PNG or an empty SVG behind).  The
 * figure therefore goes through a stream of our own (fopencookie) onto a
 * temporary file beside path: the stream records the first write error,
 * the byte count and the first and last bytes, and the figure is renamed
 * into place only when every write and the close succeeded, PLplot
 * reported no error and the bytes make a whole PNG (signature ... IEND) or
 * SVG ("<?xml" or "<svg" ... "</svg>").
 */
typedef struct plot_sink {
    int fd, err, closed;
    size_t bytes;
    unsigned char head[8], tail[16];
} plot_sink;

static ssize_t sink_write(void *c, const char *buf, size_t n)
{
    plot_sink *s = c;
    if (s->err != 0) return 0; /* a short count: the stream's error */
    for (size_t i = 0; i < n && s->bytes + i < sizeof s->head; i++) s->head[s->bytes + i] = (unsigned char)buf[i];
    if (n >= sizeof s->tail) {
        memcpy(s->tail, buf + n - sizeof s->tail, sizeof s->tail);
    } else {
        memmove(s->tail, s->tail + n, sizeof s->tail - n);
        memcpy(s->tail + sizeof s->tail - n, buf, n);
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(s->fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            s->err = w < 0 ? errno : EIO;
            return 0;
        }
        done += (size_t)w;
    }
    s->bytes += n;
    return (ssize_t)n;
}

static int sink_close(void *c)
{
    plot_sink *s = c;
    if (s->err == 0 && fsync(s->fd) != 0 && errno != EINVAL) s->err = errno;
    if (close(s->fd) != 0 && s->err == 0) s->err = errno;
    s->fd = -1;
    s->closed = 1;
    return s->err == 0 ? 0 : -1;
}

/* An open figure: the temporary's name, its stream, PLplot's error slot. */
typedef struct plot_file {
    char *tmp;
    FILE *fp;
    plot_sink sink;
    PLINT plerr;
    char plmsg[1024]; /* PLplot: at least 160 bytes */
} plot_file;

static int device_available(const char *device)
{
    enum { MAXDEV = 256 };
    const char *menu[MAXDEV], *names[MAXDEV];
    const char **pm = menu, **pn = names;
    int nd = MAXDEV;
    plgDevs(&pm, &pn, &nd);
    for (int i = 0; i < nd && i < MAXDEV; i++)
        if (pn[i] != NULL && strcmp(pn[i], device) == 0) return 1;
    return 0;
}

/* Create the temporary beside path and start PLplot on it with device
 * ("pngcairo", "svg" or "svgcairo"); width x height pixels. */
static linstab_status plot_begin(plot_file *pf, const char *device, const char *path, PLINT width,
                                 PLINT height, linstab_error *err)
{
    memset(pf, 0, sizeof *pf);
    pf->sink.fd = -1;
    if (strcmp(device, "pngcairo") != 0 && strcmp(device, "svgcairo") != 0 && strcmp(device, "svg") != 0)
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: device '%s' is not pngcairo, svg or svgcairo", path,
                                 device);
    /* PLplot asks on the terminal for a device it does not have */
    if (!device_available(device))
        return linstab_error_set(err, LINSTAB_EIO,
                                 "%s: PLplot has no %s driver (Debian: install plplot-driver-cairo)", path, device);
    size_t len = strlen(path) + sizeof ".tmp.XXXXXX";
    pf->tmp = malloc(len);
    if (pf->tmp == NULL) return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    snprintf(pf->tmp, len, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(pf->tmp);
    if (fd < 0) {
        int e = errno;
        free(pf->tmp);
        pf->tmp = NULL;
        return linstab_error_set(err, LINSTAB_EIO, "cannot write %s: %s", path, strerror(e));
    }
    pf->sink.fd = fd;
    cookie_io_functions_t io = {NULL, sink_write, NULL, sink_close};
    if (fchmod(fd, 0644) != 0 || (pf->fp = fopencookie(&pf->sink, "w", io)) == NULL) {
        int e = errno;
        close(fd);
        unlink(pf->tmp);
        free(pf->tmp);
        pf->tmp = NULL;
        return linstab_error_set(err, LINSTAB_EIO, "cannot write %s: %s", path, strerror(e));
    }
    pf->plerr = 0;
    pf->plmsg[0] = '\0';
    plsError(&pf->plerr, pf->plmsg); /* plabort's messages come here, not to stderr */
    plsdev(device);
    plsfile(pf->fp);
    plspage(0.0, 0.0, width, height, 0, 0);
    plscolbg(255, 255, 255);
    plinit();
    return LINSTAB_OK;
}

static int ends_with_svg(const unsigned char *t, size_t n)
{
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t')) n--;
    return n >= 6 && memcmp(t + n - 6, "</svg>", 6) == 0;
}

/* End PLplot, close the stream, check the figure and rename it into place
 * (or remove the temporary); st is the status of the drawing so far. */
static linstab_status plot_finish(plot_file *pf, const char *device, const char *path, linstab_status st,
                                  linstab_error *err)
{
    plend();
    plsError(NULL, NULL);
    if (!pf->sink.closed) { /* PLplot closes the FILE it was given; if not, we do */
        if (fclose(pf->fp) != 0 && pf->sink.err == 0) pf->sink.err = errno != 0 ? errno : EIO;
    }
    pf->fp = NULL;
    const plot_sink *s = &pf->sink;
    size_t tl = s->bytes < sizeof s->tail ? s->bytes : sizeof s->tail;
    const unsigned char *tail = s->tail + sizeof s->tail - tl;
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const unsigned char png_end[8] = {'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    int png = strcmp(device, "pngcairo") == 0;
    if (st != LINSTAB_OK) {
        /* the caller's error stands */
    } else if (s->err != 0) {
        st = linstab_error_set(err, LINSTAB_EIO, "writing %s: %s", path, strerror(s->err));
    } else if (pf->plerr != 0) {
        const char *m = pf->plmsg;
        while (*m == '\n' || *m == '*' || *m == ' ') m++;
        st = linstab_error_set(err, LINSTAB_EIO, "%s: PLplot (%s) failed: %s", path, device, m);
    } else if (s->bytes == 0) {
        st = linstab_error_set(err, LINSTAB_EIO, "%s: PLplot (%s) wrote nothing", path, device);
    } else if (png ? s->bytes < 16 || memcmp(s->head, png_sig, 8) != 0 || memcmp(tail + tl - 8, png_end, 8) != 0
                   : !(memcmp(s->head, "<?xml", s->bytes < 5 ? s->bytes : 5) == 0 ||
                       memcmp(s->head, "<svg", s->bytes < 4 ? s->bytes : 4) == 0) ||
                         s->bytes < 6 || !ends_with_svg(tail, tl)) {
        st = linstab_error_set(err, LINSTAB_EIO, "%s: PLplot (%s) wrote an incomplete %s (%zu bytes)", path, device,
                               png ? "PNG" : "SVG", s->bytes);
    } else if (rename(pf->tmp, path) != 0) {
        st = linstab_error_set(err, LINSTAB_EIO, "cannot rename %s to %s: %s", pf->tmp, path, strerror(errno));
    }
    if (st != LINSTAB_OK) unlink(pf->tmp);
    free(pf->tmp);
    pf->tmp = NULL;
    return st;
}

/* An nx x ny PLplot grid (g[ix][iy]) in one block, or NULL. */
static PLFLT **grid_alloc(size_t nx, size_t ny)
{
    PLFLT **g = malloc(nx * sizeof *g), *block = malloc(nx * ny * sizeof *block);
    if (g == NULL || block == NULL) {
        free(g);
        free(block);
        return NULL;
    }
    for (size_t i = 0; i < nx; i++) g[i] = block + i * ny;
    return g;
}

static void grid_free(PLFLT **g)
{
    if (g == NULL) return;
    free(g[0]);
    free(g);
}

/* Cell edges: midpoints between values, extrapolated at the ends. */
static void edges(size_t n, const double *v, int lg, double *e)
{
    if (n == 1) {
        double c = coord(v[0], lg), h = lg ? 0.1 : (fabs(c) > 0 ? 0.05 * fabs(c) : 0.5);
        e[0] = c - h;
        e[1] = c + h;
        return;
    }
    for (size_t i = 1; i < n; i++) e[i] = 0.5 * (coord(v[i - 1], lg) + coord(v[i], lg));
    e[0] = coord(v[0], lg) - (e[1] - coord(v[0], lg));
    e[n] = coord(v[n - 1], lg) + (coord(v[n - 1], lg) - e[n - 1]);
}

static int finite_any(size_t len, const double *f)
{
    int pos = 0, neg = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isfinite(f[i])) continue;
        pos |= f[i] > 0;
        neg |= f[i] < 0;
    }
    return pos && neg; /* a zero contour exists */
}

/* The title above the box: one line, or two split at the first newline
 * (the second, the parameters, smaller). */
static void title_lines(const char *title)
{
    if (title == NULL || title[0] == '\0') return;
    const char *nl = strchr(title, '\n');
    if (nl == NULL) {
        plmtex("t", 1.6, 0.5, 0.5, title);
        return;
    }
    char first[512];
    size_t len = (size_t)(nl - title) < sizeof first - 1 ? (size_t)(nl - title) : sizeof first - 1;
    memcpy(first, title, len);
    first[len] = '\0';
    plmtex("t", 3.2, 0.5, 0.5, first);
    plschr(0.0, 0.68);
    plmtex("t", 1.8, 0.5, 0.5, nl + 1);
    plschr(0.0, 1.0);
}

/*
 * Logarithmic axes.  PLplot's own ("l" in plbox) labels the powers of ten
 * alone: a window of less than two decades gets one label or none (0.2 ..
 * 0.5 reads as an unlabelled axis).  Such an axis is drawn here instead:
 * labelled major ticks at m 10^k for the first of the mantissa sets
 * {1, 2, 5}, {1, ..., 9} that puts at least three in the window (the other
 * digits as minor ticks), else -- less than about a fifth of a decade -- at
 * the multiples of a 1, 2 or 5 times 10^k step of the values themselves.
 */
enum { LOG_TICKS_MAX = 64 };

/* The ticks of the log10 window [lo, hi]: OUT v (values, increasing), major
 * (1: labelled), *step (> 0: the linear step; 0: mantissa ticks).  Returns
 * the number of ticks. */
static size_t log_ticks(double lo, double hi, double *v, int *major, double *step)
{
    static const int sets[2][9] = {{1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
    static const int nset[2] = {3, 9};
    *step = 0.0;
    for (int s = 0; s < 2; s++) {
        size_t n = 0, nmaj = 0;
        for (double k = floor(lo); k <= ceil(hi) && n < LOG_TICKS_MAX; k++)
            for (int m = 1; m <= 9 && n < LOG_TICKS_MAX; m++) {
                double t = (double)m * pow(10.0, k), lt = log10(t);
                if (lt < lo - 1e-12 || lt > hi + 1e-12) continue;
                int is_major = 0;
                for (int q = 0; q < nset[s]; q++) is_major |= sets[s][q] == m;
                v[n] = t;
                major[n++] = is_major;
                nmaj += (size_t)is_major;
            }
        if (nmaj >= 3) return n;
    }
    double a = pow(10.0, lo), b = pow(10.0, hi), raw = (b - a) / 6.0, p = pow(10.0, floor(log10(raw)));
    *step = raw <= p ? p : raw <= 2 * p ? 2 * p : raw <= 5 * p ? 5 * p : 10 * p;
    size_t n = 0;
    for (double t = ceil(a / *step) * *step; t <= b * (1.0 + 1e-12) && n < LOG_TICKS_MAX; t += *step) {
        v[n] = t;
        major[n++] = 1;
    }
    return n;
}

/* The label of tick value t (PLplot text) in units of 10^e (e = 0: the
 * value itself) with the digits the step needs (step 0: mantissa ticks,
 * whose last digit is their own power of ten). */
static void log_tick_label(double t, double step, double e, char *buf, size_t len)
{
    double unit = step > 0.0 ? step : pow(10.0, floor(log10(t) + 1e-9)); /* the last digit shown */
    int dec = (int)fmax(0.0, e - floor(log10(unit) + 1e-9));
    snprintf(buf, len, "%.*f", dec, t / pow(10.0, e));
}

/* Does the log10 window [lo, hi] hold fewer than two powers of ten? */
static int few_decades(double lo, double hi) { return floor(hi) - ceil(lo) < 1.0; }

/* Ticks and labels of a logarithmic axis ('x' or 'y') of the current window
 * (see log_ticks), on both sides of the box. */
static void draw_log_axis(char axis)
{
    PLFLT x0, x1, y0, y1;
    plgvpw(&x0, &x1, &y0, &y1);
    double lo = axis == 'x' ? x0 : y0, hi = axis == 'x' ? x1 : y1, v[LOG_TICKS_MAX], step;
    int major[LOG_TICKS_MAX];
    size_t n = log_ticks(lo, hi, v, major, &step);
    /* plain decimals from 0.001 to 99999; else, as PLplot's linear axes
     * do, mantissas in units of the largest tick's power of ten, the unit
     * written once at the end of the axis ("(x10^-6)") */
    double e = 0.0;
    for (size_t i = 0; i < n; i++) {
        double k = floor(log10(v[i]) + 1e-9);
        if (major[i] && (k < -3.0 || k > 4.0)) e = floor(log10(v[n - 1]) + 1e-9);
    }
    /* tick lengths as fractions of the other axis's window */
    double span = axis == 'x' ? y1 - y0 : x1 - x0, len[2] = {0.008 * span, 0.016 * span};
    if (axis == 'x') len[0] *= 1.4, len[1] *= 1.4;
    for (size_t i = 0; i < n; i++) {
        double c = log10(v[i]), l = len[major[i]];
        if (axis == 'x') {
            pljoin(c, y0, c, y0 + l);
            pljoin(c, y1, c, y1 - l);
        } else {
            pljoin(x0, c, x0 + l, c);
            pljoin(x1, c, x1 - l, c);
        }
        if (!major[i]) continue;
        char lab[64];
        log_tick_label(v[i], step, e, lab, sizeof lab);
        double pos = (c - lo) / (hi - lo);
        if (axis == 'x') plmtex("b", 1.5, pos, 0.5, lab);
        else plmtex("lv", 0.5, pos, 1.0, lab);
    }
    if (e != 0.0) {
        char unit[48];
        snprintf(unit, sizeof unit, "(\u00d710#u%.0f#d)", e);
        if (axis == 'x') plmtex("b", 2.6, 1.0, 0.0, unit);
        else plmtex("t", 1.9, 0.0, 1.0, unit); /* above the top label */
    }
}

/* plbox with a logarithmic x and/or y axis (xlog, ylog) that stays
 * labelled on a window of less than two decades (draw_log_axis); xopt and
 * yopt are the options of a linear axis ("bcnst", "bcnstv"). */
static void box_axes(const char *xopt, int xlog, const char *yopt, int ylog)
{
    PLFLT x0, x1, y0, y1;
    plgvpw(&x0, &x1, &y0, &y1);
    int xown = xlog && few_decades(x0, x1), yown = ylog && few_decades(y0, y1);
    char xo[16], yo[16];
    snprintf(xo, sizeof xo, "%s%s", xown ? "bc" : xopt, xlog && !xown ? "l" : "");
    snprintf(yo, sizeof yo, "%s%s", yown ? "bc" : yopt, ylog && !yown ? "l" : "");
    plbox(xo, 0.0, 0, yo, 0.0, 0);
    if (xown) draw_log_axis('x');
    if (yown) draw_log_axis('y');
}

/* A curve given in axis values (pts: n x 2, NaN pairs break it) in the
 * map's plotting coordinates. */
static void draw_axis_polyline(const linstab_plot_map *pm, size_t n, const double *pts)
{
    PLFLT px[512], py[512];
    size_t m = 0;
    for (size_t i = 0; i <= n; i++) {
        int ok = i < n && isfinite(pts[2 * i]) && isfinite(pts[2 * i + 1]) && (!pm->xlog || pts[2 * i] > 0) &&
                 (!pm->ylog || pts[2 * i + 1] > 0);
        if (ok) {
            px[m] = coord(pts[2 * i], pm->xlog);
            py[m] = coord(pts[2 * i + 1], pm->ylog);
            m++;
        }
        if (!ok || m == 512) {
            if (m >= 2) plline((PLINT)m, px, py);
            /* a full buffer: continue the line from its last point */
            if (ok) {
                px[0] = px[m - 1];
                py[0] = py[m - 1];
                m = 1;
            } else {
                m = 0;
            }
        }
    }
}

static void contour(const linstab_plot_map *pm, const double *field, PLcGrid2 *cg, PLFLT **z)
{
    for (size_t ix = 0; ix < pm->nx; ix++)
        for (size_t iy = 0; iy < pm->ny; iy++) {
            double v = field[iy * pm->nx + ix];
            z[ix][iy] = isfinite(v) ? v : (v > 0 ? 1e300 : -1e300);
        }
    PLFLT lev[1] = {0.0};
    plcont((PLFLT_MATRIX)z, (PLINT)pm->nx, (PLINT)pm->ny, 1, (PLINT)pm->nx, 1, (PLINT)pm->ny, lev, 1,
           pltr2, cg);
}

linstab_status linstab_plot_map_draw(const linstab_plot_map *pm, const char *device,
                                     const char *path, linstab_error *err)
{
    size_t nx = pm->nx, ny = pm->ny;
    if (nx == 0 || ny == 0 || nx > INT32_MAX / 2 || ny > INT32_MAX / 2 || nx > SIZE_MAX / sizeof(PLFLT) / ny)
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: cannot draw a %zu x %zu map", path, nx, ny);
    /* every allocation before PLplot starts (plAlloc2dGrid exits the
     * process when it runs out of memory) */
    PLcGrid2 cg;
    PLFLT **z = grid_alloc(nx, ny);
    cg.xg = grid_alloc(nx, ny);
    cg.yg = grid_alloc(nx, ny);
    double *ex = malloc((nx + 1) * sizeof *ex), *ey = malloc((ny + 1) * sizeof *ey);
    if (z == NULL || cg.xg == NULL || cg.yg == NULL || ex == NULL || ey == NULL) {
        grid_free(z);
        grid_free(cg.xg);
        grid_free(cg.yg);
        free(ex);
        free(ey);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    }
    edges(nx, pm->xv, pm->xlog, ex);
    edges(ny, pm->yv, pm->ylog, ey);
    if (!(isfinite(ex[0]) && isfinite(ex[nx]) && ex[nx] > ex[0] && isfinite(ey[0]) && isfinite(ey[ny]) &&
          ey[ny] > ey[0])) {
        grid_free(z);
        grid_free(cg.xg);
        grid_free(cg.yg);
        free(ex);
        free(ey);
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: the axis values are not finite and increasing", path);
    }

    plot_file pf;
    linstab_status st = plot_begin(&pf, device, path, 1000, 760, err);
    if (st != LINSTAB_OK) {
        grid_free(z);
        grid_free(cg.xg);
        grid_free(cg.yg);
        free(ex);
        free(ey);
        return st;
    }
    plscol0(1, 0, 0, 0);       /* black: axes, text, Theorem lines */
    plscol0(2, 0, 200, 80);    /* green: exact mean-square boundary */
    plscol0(3, 255, 190, 0);   /* amber: almost-sure boundary */
    PLFLT pos[2] = {0.0, 1.0}, r[2] = {0.15, 0.85}, g[2] = {0.25, 0.1}, b[2] = {0.85, 0.12};
    plscmap1l(1, 2, pos, r, g, b, NULL);
    pladv(0);
    /* room below the box for the legend, above it for two title lines */
    plvpor(0.10, 0.78, 0.27, 0.88);
    plwind(ex[0], ex[nx], ey[0], ey[ny]);
    /* a run of equal cells in a row is one rectangle: a map of Dexter et
     * al.'s 5-run protocol has 6 values, so an SVG of a 50 x 100 grid keeps
     * a few hundred polygons instead of 5000 */
    for (size_t iy = 0; iy < ny; iy++)
        for (size_t ix = 0; ix < nx;) {
            double f = pm->frac[iy * nx + ix];
            size_t end = ix + 1;
            while (end < nx && pm->frac[iy * nx + end] == f) end++;
            if (isfinite(f)) {
                plcol1(f);
                PLFLT px[4] = {ex[ix], ex[end], ex[end], ex[ix]};
                PLFLT py[4] = {ey[iy], ey[iy], ey[iy + 1], ey[iy + 1]};
                plfill(4, px, py);
            }
            ix = end;
        }
    plcol0(1);
    box_axes("bcnst", pm->xlog, "bcnstv", pm->ylog);
    pllab(pm->xlabel, pm->ylabel, "");
    title_lines(pm->title);

    /* contours on cell centres */
    cg.nx = (PLINT)nx;
    cg.ny = (PLINT)ny;
    for (size_t ix = 0; ix < nx; ix++)
        for (size_t iy = 0; iy < ny; iy++) {
            cg.xg[ix][iy] = coord(pm->xv[ix], pm->xlog);
            cg.yg[ix][iy] = coord(pm->yv[iy], pm->ylog);
        }
    /* exact boundaries first and wide, so the theorem lines stay visible on
     * top of them where they coincide (Theorem 2 is the exact mean-square
     * boundary of Dexter et al.'s construction) */
    enum { NL = 5 };
    const double *fields[NL] = {pm->log_radius, pm->lyapunov, pm->thm1, pm->thm2, pm->thm9};
    PLINT colors[NL] = {2, 3, 1, 1, 4}, styles[NL] = {1, 1, 1, 2, 3};
    PLFLT widths[NL] = {5.0, 4.0, 2.0, 2.0, 2.5};
    const char *names[NL] = {"exact mean-square boundary", "almost-sure boundary (Lyapunov)",
                             "Dexter et al. (2024) Thm 1", "Dexter et al. (2024) Thm 2",
                             "Shin et al. (2023) Thm 9 (B = 1)"};
    PLINT opts[NL], lcol[NL], lsty[NL];
    PLFLT lwid[NL];
    const char *text[NL];
    PLINT tcol[NL];
    int nleg = 0;
    plscol0(4, 255, 255, 255); /* white: Theorem 9, visible on red and blue */
    if (nx >= 2 && ny >= 2)
        for (int k = 0; k < NL; k++) {
            int curve = k == 0 && pm->boundary != NULL && pm->nboundary > 0;
            if (!curve && (fields[k] == NULL || !finite_any(nx * ny, fields[k]))) continue;
            plcol0(colors[k]);
            pllsty(styles[k]);
            plwidth(widths[k]);
            if (curve) draw_axis_polyline(pm, pm->nboundary, pm->boundary);
            else contour(pm, fields[k], &cg, z);
            opts[nleg] = PL_LEGEND_LINE;
            lcol[nleg] = colors[k];
            lsty[nleg] = styles[k];
            lwid[nleg] = widths[k];
            text[nleg] = names[k];
            tcol[nleg] = 1;
            nleg++;
        }
    pllsty(1);
    plwidth(1.0);
    grid_free(cg.xg);
    grid_free(cg.yg);
    grid_free(z);
    if (nleg > 0) {
        PLFLT lw, lh;
        /* below the x axis label, outside the box: it covers no data; on
         * mid grey, where Theorem 9's white line shows as well as the others */
        plscol0(15, 170, 170, 170);
        PLINT ncol = nleg > 1 ? 2 : 1, nrow = (nleg + ncol - 1) / ncol;
        pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX | PL_LEGEND_ROW_MAJOR,
                 PL_POSITION_BOTTOM | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 0.0, 0.19, 0.05, 15, 1, 1, nrow,
                 ncol, nleg, opts, 0.8, 0.7, 2.0, 0.0, tcol, text, NULL, NULL, NULL, NULL, lcol, lsty, lwid, NULL,
                 NULL, NULL, NULL);
    }
    /* colour bar of the fraction of divergent runs */
    PLFLT cbw, cbh, vals[11];
    for (int i = 0; i <= 10; i++) vals[i] = i / 10.0;
    const PLFLT *valp[1] = {vals};
    PLINT nvals[1] = {11}, lopt[1] = {PL_COLORBAR_LABEL_RIGHT}, subt[1] = {0};
    const char *labels[1] = {"fraction of runs diverging"}, *axopt[1] = {"bcvtm"};
    PLFLT ticks[1] = {0.2};
    plcol0(1);
    plcolorbar(&cbw, &cbh, PL_COLORBAR_GRADIENT | PL_COLORBAR_BOUNDING_BOX,
               PL_POSITION_RIGHT | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 0.03, 0.0, 0.03,
               0.78, 0, 1, 1, 0.0, 0.0, 0, 0.0, 1, lopt, labels, 1, axopt, ticks, subt, nvals,
               (PLFLT_MATRIX)valp);
    free(ex);
    free(ey);
    return plot_finish(&pf, device, path, LINSTAB_OK, err);
}

/* Count a point at viewport fractions (u, v) against the four corner
 * boxes of a legend wf x hf (order: top right, top left, bottom right,
 * bottom left), with a 2% margin. */
static void corner_hit(size_t hits[4], double u, double v, double wf, double hf)
{
    int right = u > 1.0 - wf - 0.02, left = u < wf + 0.02, top = v > 1.0 - hf - 0.02, bottom = v < hf + 0.02;
    hits[0] += (size_t)(top && right);
    hits[1] += (size_t)(top && left);
    hits[2] += (size_t)(bottom && right);
    hits[3] += (size_t)(bottom && left);
}

/* The corner with the fewest hits; ties keep the order of corner_hit. */
static PLINT fewest_hits(const size_t hits[4])
{
    static const PLINT corners[4] = {PL_POSITION_TOP | PL_POSITION_RIGHT, PL_POSITION_TOP | PL_POSITION_LEFT,
                                     PL_POSITION_BOTTOM | PL_POSITION_RIGHT, PL_POSITION_BOTTOM | PL_POSITION_LEFT};
    int best = 0;
    for (int c = 1; c < 4; c++)
        if (hits[c] < hits[best]) best = c;
    return corners[best];
}

/*
 * The inside corner of the plot whose legend box (width WF, height HF as
 * fractions of the viewport) covers the fewest data: points and 32 samples
 * along each segment, in viewport coordinates.  Ties keep the order top
 * right, top left, bottom right, bottom left.
 */
static PLINT legend_corner(size_t n, const double *x, size_t ncurves, const double *const *y, int logy,
                           double x0, double x1, double y0, double y1, double wf, double hf)
{
    size_t hits[4] = {0, 0, 0, 0};
    for (size_t k = 0; k < ncurves; k++)
        for (size_t i = 0; i < n; i++) {
            size_t steps = i + 1 < n ? 32 : 1;
            for (size_t t = 0; t < steps; t++) {
                double a = (double)t / 32.0, xa = x[i], ya = coord(y[k][i], logy);
                if (t > 0) {
                    double yb = coord(y[k][i + 1], logy);
                    xa += a * (x[i + 1] - x[i]);
                    ya += a * (yb - ya);
                }
                if (!isfinite(ya)) continue;
                corner_hit(hits, (xa - x0) / (x1 - x0), (ya - y0) / (y1 - y0), wf, hf);
            }
        }
    return fewest_hits(hits);
}

linstab_status linstab_plot_lines(size_t n, const double *x, size_t ncurves, const double *const *y,
                                  const char *const *names, const char *xlabel, const char *ylabel,
                                  const char *title, int logy, const char *device, const char *path,
                                  linstab_error *err)
{
    if (n == 0 || ncurves == 0 || ncurves > 8)
        return linstab_error_set(err, LINSTAB_EINVAL, "plot: need 1..8 curves of >= 1 point");
    double xmin = x[0], xmax = x[0], ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        xmin = fmin(xmin, x[i]);
        xmax = fmax(xmax, x[i]);
        for (size_t k = 0; k < ncurves; k++) {
            double v = coord(y[k][i], logy);
            if (!isfinite(v)) continue;
            ymin = fmin(ymin, v);
            ymax = fmax(ymax, v);
        }
    }
    if (!(ymax >= ymin)) return linstab_error_set(err, LINSTAB_EINVAL, "%s: no finite values to plot", path);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return linstab_error_set(err, LINSTAB_EDATA, "%s: x value %zu (%g) is not finite", path, i + 1, x[i]);
    double dx = xmax > xmin ? 0.05 * (xmax - xmin) : 0.5, dy = ymax > ymin ? 0.08 * (ymax - ymin) : 0.5;
    if (!isfinite(xmax + dx) || !isfinite(xmin - dx) || !isfinite(ymax + dy) || !isfinite(ymin - dy))
        return linstab_error_set(err, LINSTAB_EDATA, "%s: the values span more than the range of a double", path);
    if (n > INT32_MAX) return linstab_error_set(err, LINSTAB_EINVAL, "%s: too many points (%zu)", path, n);
    PLFLT *px = malloc(n * sizeof *px), *py = malloc(n * sizeof *py);
    if (!px || !py) {
        free(px);
        free(py);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    }
    plot_file pf;
    linstab_status st = plot_begin(&pf, device, path, 900, 600, err);
    if (st != LINSTAB_OK) {
        free(px);
        free(py);
        return st;
    }
    static const int rgb[8][3] = {{0, 0, 0}, {200, 30, 30}, {30, 90, 200}, {0, 150, 60},
                                  {200, 120, 0}, {130, 0, 160}, {0, 150, 150}, {120, 120, 120}};
    for (int k = 0; k < 8; k++) plscol0(k + 1, rgb[k][0], rgb[k][1], rgb[k][2]);
    plscol0(15, 255, 255, 255);
    pladv(0);
    plvpor(0.12, 0.95, 0.12, 0.90);
    plwind(xmin - dx, xmax + dx, ymin - dy, ymax + dy);
    plcol0(1);
    box_axes("bcnst", 0, "bcnstv", logy);
    pllab(xlabel, ylabel, title);
    PLINT opts[8], lcol[8], lsty[8], scol[8], snum[8];
    PLFLT lwid[8], sscale[8];
    const char *symbols[8];
    for (size_t k = 0; k < ncurves; k++) {
        /* a curve's own finite points, joined: a column with empty cells
         * (a log's sharpness every K rows) is drawn through the others */
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(x[i]) || !isfinite(y[k][i]) || (logy && !(y[k][i] > 0.0))) continue;
            px[m] = x[i];
            py[m] = coord(y[k][i], logy);
            m++;
        }
        plcol0((PLINT)k + 2);
        plwidth(2.5);
        if (m >= 2) plline((PLINT)m, px, py);
        if (m >= 1) plstring((PLINT)m, px, py, "#(728)"); /* the legend's marker */
        opts[k] = PL_LEGEND_LINE | PL_LEGEND_SYMBOL;
        lcol[k] = scol[k] = (PLINT)k + 2;
        lsty[k] = 1;
        lwid[k] = 2.5;
        sscale[k] = 1.0;
        snum[k] = 3;
        symbols[k] = "#(728)";
    }
    plwidth(1.0);
    PLFLT lw, lh;
    PLINT tcol[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    size_t maxlen = 0;
    for (size_t k = 0; k < ncurves; k++) maxlen = strlen(names[k]) > maxlen ? strlen(names[k]) : maxlen;
    PLINT corner = legend_corner(n, x, ncurves, y, logy, xmin - dx, xmax + dx, ymin - dy, ymax + dy,
                                 0.14 + 0.013 * (double)maxlen, 0.04 + 0.065 * (double)ncurves);
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, corner | PL_POSITION_INSIDE, 0.02, 0.02,
             0.1, 15, 1, 1, 0, 0, (PLINT)ncurves, opts, 1.0, 0.9, 2.0, 0.0, tcol, (const char **)names, NULL, NULL, NULL, NULL,
             lcol, lsty, lwid, scol, sscale, snum, symbols);
    free(px);
    free(py);
    return plot_finish(&pf, device, path, LINSTAB_OK, err);
}

/* Viridis-like colour map 1 (dark blue: low, yellow: high). */
static void cmap_viridis(void)
{
    PLFLT pos[5] = {0.0, 0.25, 0.5, 0.75, 1.0};
    PLFLT r[5] = {68 / 255.0, 59 / 255.0, 33 / 255.0, 94 / 255.0, 253 / 255.0};
    PLFLT g[5] = {1 / 255.0, 82 / 255.0, 145 / 255.0, 201 / 255.0, 231 / 255.0};
    PLFLT b[5] = {84 / 255.0, 139 / 255.0, 140 / 255.0, 98 / 255.0, 37 / 255.0};
    plscmap1n(256);
    plscmap1l(1, 5, pos, r, g, b, NULL);
}

/* The inside corner of the viewport [x0, x1] x [y0, y1] whose legend box
 * (wf x hf as fractions) covers the fewest points of pts (n x 2) and of 8
 * samples along each segment; ties keep top right, top left, bottom right,
 * bottom left. */
static PLINT legend_corner_pts(size_t n, const double *pts, double x0, double x1, double y0, double y1, double wf,
                               double hf)
{
    size_t hits[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        size_t steps = i + 1 < n ? 8 : 1;
        for (size_t t = 0; t < steps; t++) {
            double a = (double)t / 8.0, xa = pts[2 * i], ya = pts[2 * i + 1];
            if (t > 0) {
                xa += a * (pts[2 * i + 2] - xa);
                ya += a * (pts[2 * i + 3] - ya);
            }
            if (!isfinite(xa) || !isfinite(ya)) continue;
            corner_hit(hits, (xa - x0) / (x1 - x0), (ya - y0) / (y1 - y0), wf, hf);
        }
    }
    return fewest_hits(hits);
}

/* Draw the finite runs of pts (n x 2) as polylines into the buffers px, py
 * (n each); markers too when sym is not NULL. */
static void draw_polyline(size_t n, const double *pts, PLFLT *px, PLFLT *py, const char *sym)
{
    size_t m = 0;
    for (size_t i = 0; i <= n; i++) {
        int ok = i < n && isfinite(pts[2 * i]) && isfinite(pts[2 * i + 1]);
        if (ok) {
            px[m] = pts[2 * i];
            py[m] = pts[2 * i + 1];
            m++;
            continue;
        }
        if (m >= 2) plline((PLINT)m, px, py);
        if (m >= 1 && sym != NULL) plstring((PLINT)m, px, py, sym);
        m = 0;
    }
}

linstab_status linstab_plot_heatmap_path(const linstab_plot_heatmap *hm, const char *device, const char *path,
                                         linstab_error *err)
{
    size_t nx = hm->nx, ny = hm->ny;
    if (nx < 2 || ny < 2 || nx > INT32_MAX / 2 || ny > INT32_MAX / 2 || nx > SIZE_MAX / sizeof(PLFLT) / ny)
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: cannot draw a %zu x %zu grid (at least 2 x 2)", path, nx,
                                 ny);
    if (!(isfinite(hm->x0) && isfinite(hm->x1) && isfinite(hm->y0) && isfinite(hm->y1) && hm->x1 > hm->x0 &&
          hm->y1 > hm->y0))
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: the box [%g, %g] x [%g, %g] is not finite and increasing",
                                 path, hm->x0, hm->x1, hm->y0, hm->y1);
    if (hm->npath == 0 || hm->path == NULL || hm->npath > INT32_MAX || hm->nextra > INT32_MAX ||
        (hm->nextra > 0 && hm->extra == NULL))
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: no path to draw", path);
    /* the colour scale: z, or log10 z with z <= 0 at the smallest positive value */
    double zpos = INFINITY, zbig = -INFINITY;
    for (size_t i = 0; i < nx * ny; i++)
        if (isfinite(hm->z[i])) {
            zbig = fmax(zbig, hm->z[i]);
            if (hm->z[i] > 0.0) zpos = fmin(zpos, hm->z[i]);
        }
    if (!(zbig > -INFINITY))
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: no finite value on the grid", path);
    if (hm->logz && !(zbig > 0.0))
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: a log colour scale needs a positive value on the grid",
                                 path);
    double floor_ = hm->logz ? fmax(zpos, zbig * 1e-12) : 0.0;
    size_t nmax = hm->npath > hm->nextra ? hm->npath : hm->nextra;
    PLFLT **zz = grid_alloc(nx, ny);
    PLFLT *xg = malloc(nx * sizeof *xg), *yg = malloc(ny * sizeof *yg);
    PLFLT *px = malloc((nmax + 1) * sizeof *px), *py = malloc((nmax + 1) * sizeof *py);
    if (zz == NULL || xg == NULL || yg == NULL || px == NULL || py == NULL) {
        grid_free(zz);
        free(xg);
        free(yg);
        free(px);
        free(py);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    }
    double zmin = INFINITY, zmax = -INFINITY;
    for (size_t ix = 0; ix < nx; ix++)
        for (size_t iy = 0; iy < ny; iy++) {
            double v = hm->z[iy * nx + ix];
            if (isfinite(v) && hm->logz) v = log10(fmax(v, floor_));
            zz[ix][iy] = v;
            if (isfinite(v)) {
                zmin = fmin(zmin, v);
                zmax = fmax(zmax, v);
            }
        }
    if (!(zmax > zmin)) { /* a constant grid: one colour, a scale around it */
        double h = fabs(zmin) > 0 ? 0.05 * fabs(zmin) : 0.5;
        zmin -= h;
        zmax += h;
    }
    double hx = (hm->x1 - hm->x0) / (double)(nx - 1), hy = (hm->y1 - hm->y0) / (double)(ny - 1);
    for (size_t ix = 0; ix < nx; ix++) xg[ix] = hm->x0 + (double)ix * hx;
    for (size_t iy = 0; iy < ny; iy++) yg[iy] = hm->y0 + (double)iy * hy;

    plot_file pf;
    linstab_status st = plot_begin(&pf, device, path, 1000, 800, err);
    if (st != LINSTAB_OK) {
        grid_free(zz);
        free(xg);
        free(yg);
        free(px);
        free(py);
        return st;
    }
    plscol0(1, 0, 0, 0);         /* black: axes, text */
    plscol0(2, 255, 255, 255);   /* white: contour lines */
    plscol0(3, 240, 40, 40);     /* red: the path */
    plscol0(4, 0, 210, 90);      /* green: the first point */
    plscol0(5, 255, 0, 200);     /* magenta: the last point */
    plscol0(6, 0, 220, 255);     /* cyan: the second overlay */
    plscol0a(15, 255, 255, 255, 0.85);
    cmap_viridis();
    pladv(0);
    plvpor(0.11, 0.80, 0.11, 0.89);
    /* cells centred on the grid points */
    double ex0 = hm->x0 - 0.5 * hx, ex1 = hm->x1 + 0.5 * hx, ey0 = hm->y0 - 0.5 * hy, ey1 = hm->y1 + 0.5 * hy;
    plwind(ex0, ex1, ey0, ey1);
    /* cells without a finite value are outside [zmin, zmax]: left white */
    for (size_t ix = 0; ix < nx; ix++)
        for (size_t iy = 0; iy < ny; iy++)
            if (!isfinite(zz[ix][iy])) zz[ix][iy] = zmax + (zmax - zmin) + 1.0;
    plimagefr((PLFLT_MATRIX)zz, (PLINT)nx, (PLINT)ny, ex0, ex1, ey0, ey1, zmin, zmax, zmin, zmax, NULL, NULL);
    if (hm->contours > 0) {
        int nc = hm->contours > 100 ? 100 : hm->contours;
        PLFLT lev[100];
        for (int k = 0; k < nc; k++) lev[k] = zmin + (zmax - zmin) * (k + 1) / (nc + 1);
        for (size_t ix = 0; ix < nx; ix++)
            for (size_t iy = 0; iy < ny; iy++)
                if (zz[ix][iy] > zmax) zz[ix][iy] = zmax; /* the non-finite cells */
        PLcGrid cg = {xg, yg, NULL, (PLINT)nx, (PLINT)ny, 0};
        plcol0(2);
        plwidth(0.8);
        plcont((PLFLT_MATRIX)zz, (PLINT)nx, (PLINT)ny, 1, (PLINT)nx, 1, (PLINT)ny, lev, nc, pltr1, &cg);
        plwidth(1.0);
    }
    grid_free(zz);
    free(xg);
    free(yg);
    plcol0(1);
    plbox("bcnst", 0.0, 0, "bcnstv", 0.0, 0);
    pllab(hm->xlabel ? hm->xlabel : "", hm->ylabel ? hm->ylabel : "", hm->title ? hm->title : "");

    /* a joined second overlay under the path, so that the path stays visible */
    if (hm->nextra > 0 && hm->extra_joined) {
        plcol0(6);
        plwidth(2.0);
        pllsty(2);
        draw_polyline(hm->nextra, hm->extra, px, py, NULL);
        pllsty(1);
    }
    /* the path: a polyline with a small marker at every point (up to 2000) */
    plcol0(3);
    plwidth(1.5);
    plschr(0.0, 1.3);
    draw_polyline(hm->npath, hm->path, px, py, hm->npath <= 2000 ? "#(850)" : NULL);
    plschr(0.0, 1.0);
    plwidth(1.0);
    size_t first = hm->npath, last = hm->npath;
    for (size_t i = 0; i < hm->npath; i++)
        if (isfinite(hm->path[2 * i]) && isfinite(hm->path[2 * i + 1])) {
            if (first == hm->npath) first = i;
            last = i;
        }
    plschr(0.0, 1.4);
    if (first < hm->npath) {
        PLFLT a = hm->path[2 * first], b = hm->path[2 * first + 1];
        plcol0(4);
        plschr(0.0, 3.6); /* Hershey's filled circle is small */
        plstring(1, &a, &b, "#(850)");
        plschr(0.0, 1.4);
        a = hm->path[2 * last];
        b = hm->path[2 * last + 1];
        plcol0(5);
        plstring(1, &a, &b, "#(851)");
    }
    /* overlay markers last: open diamonds, which leave what they mark
     * visible (Hershey symbols: centred on the point, unlike font glyphs) */
    if (hm->nextra > 0 && !hm->extra_joined) {
        plcol0(6);
        plschr(0.0, 2.4);
        for (size_t i = 0; i < hm->nextra; i++) {
            PLFLT a = hm->extra[2 * i], b = hm->extra[2 * i + 1];
            if (isfinite(a) && isfinite(b)) plstring(1, &a, &b, "#(843)");
        }
    }
    plschr(0.0, 1.0);

    /* legend in the corner the path crosses least */
    PLINT opts[4], lcol[4], lsty[4], scol[4], snum[4], tcol[4] = {1, 1, 1, 1};
    PLFLT lwid[4], sscale[4];
    const char *text[4], *syms[4];
    int nl = 0;
    text[nl] = hm->path_name ? hm->path_name : "iterates";
    opts[nl] = PL_LEGEND_LINE | PL_LEGEND_SYMBOL;
    lcol[nl] = scol[nl] = 3, lsty[nl] = 1, lwid[nl] = 1.5, sscale[nl] = 1.3, snum[nl] = 3, syms[nl] = "#(850)";
    nl++;
    text[nl] = "first", opts[nl] = PL_LEGEND_SYMBOL, lcol[nl] = scol[nl] = 4, lsty[nl] = 1, lwid[nl] = 1.0;
    sscale[nl] = 3.6, snum[nl] = 1, syms[nl] = "#(850)";
    nl++;
    text[nl] = "last", opts[nl] = PL_LEGEND_SYMBOL, lcol[nl] = scol[nl] = 5, lsty[nl] = 1, lwid[nl] = 1.0;
    sscale[nl] = 1.4, snum[nl] = 1, syms[nl] = "#(851)";
    nl++;
    if (hm->nextra > 0) {
        text[nl] = hm->extra_name ? hm->extra_name : "predicted";
        opts[nl] = hm->extra_joined ? PL_LEGEND_LINE : PL_LEGEND_SYMBOL;
        lcol[nl] = scol[nl] = 6, lsty[nl] = 2, lwid[nl] = 2.0, sscale[nl] = 2.0, snum[nl] = 1, syms[nl] = "#(843)";
        nl++;
    }
    size_t maxlen = 0;
    for (int k = 0; k < nl; k++) maxlen = strlen(text[k]) > maxlen ? strlen(text[k]) : maxlen;
    PLINT corner = legend_corner_pts(hm->npath, hm->path, ex0, ex1, ey0, ey1, 0.14 + 0.012 * (double)maxlen,
                                     0.04 + 0.05 * (double)nl);
    PLFLT lw, lh;
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, corner | PL_POSITION_INSIDE, 0.02, 0.02, 0.1,
             15, 1, 1, 0, 0, nl, opts, 1.0, 0.9, 2.0, 0.0, tcol, text, NULL, NULL, NULL, NULL, lcol, lsty, lwid, scol,
             sscale, snum, syms);

    /* colour bar */
    PLFLT cbw, cbh, vals[2] = {zmin, zmax};
    const PLFLT *valp[1] = {vals};
    PLINT nvals[1] = {2}, lopt[1] = {PL_COLORBAR_LABEL_RIGHT}, subt[1] = {0};
    const char *labels[1] = {hm->zlabel ? hm->zlabel : ""};
    const char *axopt[1] = {hm->logz ? "bcvtml" : "bcvtm"};
    PLFLT ticks[1] = {0.0};
    plcol0(1);
    plcolorbar(&cbw, &cbh, PL_COLORBAR_GRADIENT | PL_COLORBAR_BOUNDING_BOX,
               PL_POSITION_RIGHT | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT, 0.03, 0.0, 0.03, 0.83, 0, 1, 1, 0.0,
               0.0, 0, 0.0, 1, lopt, labels, 1, axopt, ticks, subt, nvals, (PLFLT_MATRIX)valp);
    free(px);
    free(py);
    return plot_finish(&pf, device, path, LINSTAB_OK, err);
}

/* The points (step, log10 loss) to draw, interleaved into pts (room for
 * min(n, 4000) points): all of them up to 4000, else the smallest and
 * largest loss of each of 2000 consecutive ranges in step order; a loss
 * <= 0 or not finite becomes a NaN (a break).  Returns the number of
 * points. */
static size_t loss_points(size_t n, const double *step, const double *loss, double *pts)
{
    size_t m = 0;
    if (n <= 4000) {
        for (size_t i = 0; i < n; i++) {
            pts[2 * m] = step[i];
            pts[2 * m + 1] = loss[i] > 0.0 && isfinite(loss[i]) ? log10(loss[i]) : NAN;
            m++;
        }
        return m;
    }
    enum { NB = 2000 };
    for (size_t b = 0; b < NB; b++) {
        size_t lo = b * n / NB, hi = (b + 1) * n / NB, imin = hi, imax = hi;
        for (size_t i = lo; i < hi; i++) {
            if (!(loss[i] > 0.0 && isfinite(loss[i]))) continue;
            if (imin == hi || loss[i] < loss[imin]) imin = i;
            if (imax == hi || loss[i] > loss[imax]) imax = i;
        }
        if (imin == hi) {
            pts[2 * m] = step[lo];
            pts[2 * m + 1] = NAN;
            m++;
            continue;
        }
        size_t a = imin < imax ? imin : imax, c = imin < imax ? imax : imin;
        pts[2 * m] = step[a];
        pts[2 * m + 1] = log10(loss[a]);
        m++;
        if (c != a) {
            pts[2 * m] = step[c];
            pts[2 * m + 1] = log10(loss[c]);
            m++;
        }
    }
    return m;
}

/* Labels 10^v of a logarithmic y axis (plslabelfunc). */
static void decade_label(PLINT axis, PLFLT value, char *label, PLINT length, PLPointer data)
{
    (void)data;
    if (axis == PL_Y_AXIS) snprintf(label, (size_t)length, "10#u%.0f#d", value);
    else snprintf(label, (size_t)length, "%g", value);
}

/* The box of a log-loss plot whose y axis spans `span` decades: PLplot's
 * log axis (a tick per decade with the minor ticks 2..9) up to 12 decades,
 * else ticks every 1, 2 or 5 times a power of ten decades labelled 10^k
 * (a minor tick per decade would blacken the axis). */
static void log_axis_box(double span)
{
    if (span <= 12.0) {
        box_axes("bcnst", 0, "bcnstv", 1);
        return;
    }
    double raw = span / 8.0, p = pow(10.0, floor(log10(raw))), step = raw <= p ? p : raw <= 2 * p ? 2 * p
                                                                           : raw <= 5 * p ? 5 * p : 10 * p;
    plslabelfunc(decade_label, NULL);
    plbox("bcnst", 0.0, 0, "bcnostv", step, 0);
    plslabelfunc(NULL, NULL);
}

linstab_status linstab_plot_loss_rate(size_t n, const double *step, const double *loss,
                                      const linstab_plot_rate *rate, const char *title, const char *device,
                                      const char *path, linstab_error *err)
{
    if (n == 0 || n > INT32_MAX) return linstab_error_set(err, LINSTAB_EINVAL, "%s: need 1..2^31 points", path);
    double ry[2] = {NAN, NAN};
    if (rate != NULL && !linstab_plot_rate_line(rate, ry))
        return linstab_error_set(err, LINSTAB_EINVAL,
                                 "%s: the rate line (steps %zu..%zu, loss %g, rate %g) has no finite positive ends",
                                 path, rate->t0, rate->t1, rate->l0, rate->r);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(step[i]) || (i > 0 && !(step[i] > step[i - 1])))
            return linstab_error_set(err, LINSTAB_EDATA, "%s: step value %zu (%g) is not finite and increasing", path,
                                     i + 1, step[i]);
    size_t cap = n <= 4000 ? n : 4000;
    double *pts = malloc((cap + 2) * 2 * sizeof *pts);
    PLFLT *px = malloc((cap + 2) * sizeof *px), *py = malloc((cap + 2) * sizeof *py);
    if (pts == NULL || px == NULL || py == NULL) {
        free(pts);
        free(px);
        free(py);
        return linstab_error_set(err, LINSTAB_ENOMEM, "%s: out of memory", path);
    }
    size_t m = loss_points(n, step, loss, pts);
    double ymin = INFINITY, ymax = -INFINITY;
    for (size_t i = 0; i < m; i++)
        if (isfinite(pts[2 * i + 1])) {
            ymin = fmin(ymin, pts[2 * i + 1]);
            ymax = fmax(ymax, pts[2 * i + 1]);
        }
    double rl[4] = {NAN, NAN, NAN, NAN}; /* the rate line: (t0, log10 y0), (t1, log10 y1) */
    if (rate != NULL) {
        rl[0] = (double)rate->t0;
        rl[1] = log10(ry[0]);
        rl[2] = (double)rate->t1;
        rl[3] = log10(ry[1]);
        ymin = fmin(ymin, fmin(rl[1], rl[3]));
        ymax = fmax(ymax, fmax(rl[1], rl[3]));
    }
    if (!(ymax >= ymin)) {
        free(pts);
        free(px);
        free(py);
        return linstab_error_set(err, LINSTAB_EINVAL, "%s: no positive finite loss to plot", path);
    }
    double xmin = step[0], xmax = step[n - 1];
    if (rate != NULL) {
        xmin = fmin(xmin, rl[0]);
        xmax = fmax(xmax, rl[2]);
    }
    double dx = xmax > xmin ? 0.03 * (xmax - xmin) : 0.5, dy = ymax > ymin ? 0.06 * (ymax - ymin) : 0.5;
    plot_file pf;
    linstab_status st = plot_begin(&pf, device, path, 900, 600, err);
    if (st != LINSTAB_OK) {
        free(pts);
        free(px);
        free(py);
        return st;
    }
    plscol0(1, 0, 0, 0);
    plscol0(2, 30, 90, 200);  /* blue: measured */
    plscol0(3, 220, 30, 30);  /* red: predicted */
    plscol0a(15, 255, 255, 255, 0.85);
    pladv(0);
    plvpor(0.12, 0.95, 0.12, 0.90);
    plwind(xmin - dx, xmax + dx, ymin - dy, ymax + dy);
    plcol0(1);
    log_axis_box(ymax - ymin + 2.0 * dy);
    pllab("step", "loss", title ? title : "");
    plcol0(2);
    plwidth(2.0);
    draw_polyline(m, pts, px, py, NULL);
    char name[96];
    if (rate != NULL) {
        plcol0(3);
        plwidth(3.5);
        draw_polyline(2, rl, px, py, NULL);
        if (rate->name == NULL) snprintf(name, sizeof name, "predicted rate r = %.6g", rate->r);
        else snprintf(name, sizeof name, "%s", rate->name);
    }
    plwidth(1.0);
    PLINT opts[2] = {PL_LEGEND_LINE, PL_LEGEND_LINE}, lcol[2] = {2, 3}, lsty[2] = {1, 1}, tcol[2] = {1, 1};
    PLFLT lwid[2] = {2.0, 3.5};
    const char *text[2] = {"measured", name};
    int nl = rate != NULL ? 2 : 1;
    size_t maxlen = nl == 2 ? strlen(name) : 8;
    /* the corner the curves cross least: both as one point list */
    PLINT corner = legend_corner_pts(m, pts, xmin - dx, xmax + dx, ymin - dy, ymax + dy,
                                     0.16 + 0.013 * (double)maxlen, 0.04 + 0.065 * (double)nl);
    PLFLT lw, lh;
    pllegend(&lw, &lh, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, corner | PL_POSITION_INSIDE, 0.02, 0.02, 0.1,
             15, 1, 1, 0, 0, nl, opts, 1.0, 0.9, 2.0, 0.0, tcol, text, NULL, NULL, NULL, NULL, lcol, lsty, lwid, NULL,
             NULL, NULL, NULL);
    free(pts);
    free(px);
    free(py);
    return plot_finish(&pf, device, path, LINSTAB_OK, err);
}
