/*
 * test_plot.c -- the dynamics figures (plot.h): the numbers behind them in
 * every build (the grid of a 2-D objective against its closed form, the
 * box around a path, the end points of a predicted rate's line against
 * repeated multiplication), and, in a build with PLplot, the files
 * themselves: a whole PNG of the stated size, an SVG whose path polyline
 * has one vertex per iterate, nothing left behind on an error.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "linstab/map.h"
#include "linstab/objective.h"
#include "linstab/plot.h"
#include "svgutil.h"
#include "testutil.h"

/* ---- the rate line ---- */

/* l0 r^k by k multiplications: an independent computation with relative
 * error <= k eps. */
static double by_products(double l0, double r, size_t k)
{
    double y = l0;
    for (size_t i = 0; i < k; i++) y *= r;
    return y;
}

Test(plot, the_rate_lines_ends_are_l0_and_l0_r_to_the_window)
{
    static const struct {
        size_t t0, t1;
        double l0, r;
    } cases[] = {{200, 224, 3.7e-262, 1.461868269}, {0, 50, 2.5, 0.8}, {10, 11, 1e-3, 1.0}, {5, 305, 1e-20, 1.1},
                 {0, 1000, 1.0, 0.5}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        linstab_plot_rate r = {cases[c].t0, cases[c].t1, cases[c].l0, cases[c].r, NULL};
        double y[2] = {NAN, NAN};
        cr_assert_eq(linstab_plot_rate_line(&r, y), 1, "case %zu", c);
        size_t k = cases[c].t1 - cases[c].t0;
        double want = by_products(cases[c].l0, cases[c].r, k);
        /* 10^b with b = log10 l0 + k log10 r carries ln(10) |b| eps, the
         * products k eps */
        double b = log10(cases[c].l0) + (double)k * log10(cases[c].r);
        double tol = 8.0 * DBL_EPSILON * (2.303 * (fabs(b) + 1.0) + (double)k);
        cr_expect(fabs(y[0] - cases[c].l0) <= tol * cases[c].l0, "case %zu: y0 %.17g, want %.17g", c, y[0],
                  cases[c].l0);
        cr_expect(fabs(y[1] - want) <= tol * want, "case %zu: y1 %.17g, want %.17g (rel %.3g > %.3g)", c, y[1], want,
                  fabs(y[1] - want) / want, tol);
    }
}

Test(plot, a_rate_that_makes_no_line_is_refused_and_leaves_y_untouched)
{
    linstab_plot_rate bad[] = {{10, 10, 1.0, 1.5, NULL},     {10, 5, 1.0, 1.5, NULL}, {0, 5, 0.0, 1.5, NULL},
                               {0, 5, -1.0, 1.5, NULL},      {0, 5, 1.0, 0.0, NULL},  {0, 5, NAN, 1.5, NULL},
                               {0, 5, 1.0, INFINITY, NULL},  {0, 100, 1e300, 10.0, NULL}};
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        double y[2] = {7.0, 7.0};
        cr_expect_eq(linstab_plot_rate_line(&bad[c], y), 0, "case %zu", c);
        cr_expect(y[0] == 7.0 && y[1] == 7.0, "case %zu", c);
    }
    cr_expect_eq(linstab_plot_rate_line(NULL, (double[2]){0, 0}), 0);
}

/* ---- the box around a path ---- */

static void expect_box(const double *got, const double *want, const char *what)
{
    for (int k = 0; k < 4; k++)
        cr_expect(fabs(got[k] - want[k]) <= 4.0 * DBL_EPSILON * fmax(1.0, fabs(want[k])), "%s: box[%d] = %.17g, want %g",
                  what, k, got[k], want[k]);
}

Test(plot, the_path_box_holds_every_finite_point_with_the_margin)
{
    double box[4];
    double p1[] = {0, 0, 2, 1, 1, -1, NAN, 50};
    cr_assert_eq(linstab_plot_path_box(4, p1, 0.1, box), 1);
    expect_box(box, (double[]){-0.2, 2.2, -1.2, 1.2}, "triangle");
    /* along a line: the flat axis gets a quarter of the other's extent */
    double p2[] = {0, 1, 4, 1};
    cr_assert_eq(linstab_plot_path_box(2, p2, 0.1, box), 1);
    expect_box(box, (double[]){-0.4, 4.4, 0.4, 1.6}, "horizontal");
    /* one point: max(1, |centre|) */
    double p3[] = {3, -0.5};
    cr_assert_eq(linstab_plot_path_box(1, p3, 0.1, box), 1);
    expect_box(box, (double[]){1.2, 4.8, -1.1, 0.1}, "point");
    double p4[] = {NAN, 1, INFINITY, 2};
    cr_expect_eq(linstab_plot_path_box(2, p4, 0.1, box), 0);
    cr_expect_eq(linstab_plot_path_box(1, p3, -0.1, box), 0);
    double p5[] = {-1e308, 0, 1e308, 1};
    cr_expect_eq(linstab_plot_path_box(2, p5, 0.1, box), 0);
}

/* ---- the grid of an objective ---- */

static double bartlett(double a, double b) { return a * a / (1.0 + b * b / 2.0) + b * b / 2.0; }
static double tanh2(double u, double v)
{
    double t = tanh(v * tanh(u));
    return t * t / 2.0;
}

Test(plot, the_grid_holds_the_objective_at_the_grid_points)
{
    /* spacings 0.5 and 0.25: grid points exact in binary */
    double box[4] = {-1.0, 1.0, -1.5, 0.5};
    enum { NX = 5, NY = 9 };
    double z[NX * NY];
    linstab_error err = {0};
    linstab_objective *o = NULL;
    cr_assert_eq(linstab_objective_bartlett(&o, &err), LINSTAB_OK);
    cr_assert_eq(linstab_plot_objective_grid(o, box, NX, NY, z, &err), LINSTAB_OK, "%s", err.msg);
    for (size_t iy = 0; iy < NY; iy++)
        for (size_t ix = 0; ix < NX; ix++) {
            double x = -1.0 + 0.5 * (double)ix, y = -1.5 + 0.25 * (double)iy, want = bartlett(x, y);
            cr_expect(fabs(z[iy * NX + ix] - want) <= 8.0 * DBL_EPSILON * fmax(want, 1e-300), "(%g, %g): %.17g, want %.17g",
                      x, y, z[iy * NX + ix], want);
        }
    linstab_objective_free(o);
    /* a box whose steps round: the edges are the box's own */
    double box2[4] = {0.1, 1.7, -0.3, 0.9};
    enum { MX = 7, MY = 4 };
    double z2[MX * MY];
    cr_assert_eq(linstab_objective_tanh2(&o, &err), LINSTAB_OK);
    cr_assert_eq(linstab_plot_objective_grid(o, box2, MX, MY, z2, &err), LINSTAB_OK, "%s", err.msg);
    for (size_t iy = 0; iy < MY; iy++)
        for (size_t ix = 0; ix < MX; ix++) {
            double x = box2[0] + (box2[1] - box2[0]) * (double)ix / (MX - 1);
            double y = box2[2] + (box2[3] - box2[2]) * (double)iy / (MY - 1), want = tanh2(x, y);
            /* a grid point off by a few ulps moves the value by |grad| ulps */
            cr_expect(fabs(z2[iy * MX + ix] - want) <= 32.0 * DBL_EPSILON * fmax(want, 1e-3), "(%g, %g): %.17g, want %.17g",
                      x, y, z2[iy * MX + ix], want);
        }
    linstab_objective_free(o);
}

Test(plot, the_grid_refuses_other_dimensions_small_grids_and_bad_boxes)
{
    linstab_error err = {0};
    linstab_objective *o = NULL;
    double z[64], box[4] = {0, 1, 0, 1};
    cr_assert_eq(linstab_objective_quadratic((double[]){1, 2, 3}, 3, &o, &err), LINSTAB_OK);
    cr_expect_eq(linstab_plot_objective_grid(o, box, 4, 4, z, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "dimension 2, not 3") != NULL, "%s", err.msg);
    linstab_objective_free(o);
    cr_assert_eq(linstab_objective_bartlett(&o, &err), LINSTAB_OK);
    cr_expect_eq(linstab_plot_objective_grid(o, box, 1, 4, z, &err), LINSTAB_EINVAL);
    cr_expect_eq(linstab_plot_objective_grid(o, (double[]){1, 0, 0, 1}, 4, 4, z, &err), LINSTAB_EINVAL);
    cr_expect_eq(linstab_plot_objective_grid(o, (double[]){0, 1, 0, NAN}, 4, 4, z, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "not finite and increasing") != NULL, "%s", err.msg);
    linstab_objective_free(o);
}

/* ---- the figures (PLplot builds) ---- */

static void need_plots(void)
{
    if (!linstab_plot_available()) cr_skip_test("this build draws no figures (no PLplot)");
}

static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert(b != NULL);
    cr_assert_eq(fread(b, 1, (size_t)n, fp), (size_t)n);
    b[n] = '\0';
    fclose(fp);
    *len = (size_t)n;
    return b;
}

static unsigned be32(const unsigned char *p) { return (unsigned)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* A whole PNG (signature, IHDR first, IEND last) of width x height. */
static void expect_png(const char *path, unsigned width, unsigned height)
{
    size_t n = 0;
    char *b = slurp(path, &n);
    cr_assert(b != NULL, "%s missing", path);
    const unsigned char *u = (const unsigned char *)b;
    cr_expect(n > 33 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0, "%s: no PNG signature", path);
    cr_expect(memcmp(b + 12, "IHDR", 4) == 0, "%s: IHDR is not the first chunk", path);
    cr_expect_eq(be32(u + 16), width, "%s: width %u", path, be32(u + 16));
    cr_expect_eq(be32(u + 20), height, "%s: height %u", path, be32(u + 20));
    cr_expect(memcmp(b + n - 12, "\0\0\0\0IEND\xae\x42\x60\x82", 12) == 0, "%s: no IEND at the end", path);
    free(b);
}

/* The polylines of svg stroked with colour (e.g. "rgb(50%,0%,0%)"): its
 * <path> elements, where one that starts at the point where the previous
 * one ended continues it (PLplot hands the driver at most 256 vertices at
 * a time).  OUT *count: the number of polylines; returns the largest
 * number of vertices of one. */
static size_t svg_polyline_at(const char *svg, const char *colour, size_t *count, double *xy, size_t cap);
static size_t svg_polyline(const char *svg, const char *colour, size_t *count)
{
    return svg_polyline_at(svg, colour, count, NULL, 0);
}

/* As svg_polyline; OUT xy (cap x 2, page coordinates): the vertices of the
 * longest polyline (the first cap of them). */
static size_t svg_polyline_at(const char *svg, const char *colour, size_t *count, double *xy, size_t cap)
{
    double *cur = calloc(2 * (cap + 1), sizeof *cur);
    cr_assert(cur != NULL);
    char key[96];
    snprintf(key, sizeof key, "stroke:%s;", colour);
    size_t best = 0, run = 0;
    double last[2] = {NAN, NAN};
    *count = 0;
    for (const char *p = strstr(svg, "<path "); p != NULL; p = strstr(p + 1, "<path ")) {
        const char *end = strstr(p, "/>");
        cr_assert(end != NULL);
        const char *s = strstr(p, key);
        if (s == NULL || s > end) continue;
        const char *d = strstr(p, " d=\"");
        cr_assert(d != NULL && d < end);
        size_t v = 0;
        double first[2] = {NAN, NAN}, pt[2] = {NAN, NAN};
        for (const char *q = d + 4; *q != '"'; q++) {
            if (*q != 'M' && *q != 'L') continue;
            char *e1, *e2;
            pt[0] = strtod(q + 1, &e1);
            pt[1] = strtod(e1, &e2);
            if (v == 0) memcpy(first, pt, sizeof pt);
            size_t at = run > 0 && first[0] == last[0] && first[1] == last[1] ? run + v - 1 : v;
            if (at < cap) memcpy(cur + 2 * at, pt, sizeof pt);
            v++;
            q = e2 - 1;
        }
        if (run > 0 && first[0] == last[0] && first[1] == last[1]) {
            run += v - 1;
        } else {
            run = v;
            (*count)++;
        }
        memcpy(last, pt, sizeof pt);
        if (run > best && xy != NULL) memcpy(xy, cur, 2 * (run < cap ? run : cap) * sizeof *xy);
        best = run > best ? run : best;
    }
    free(cur);
    return best;
}

#define PATH_RED "rgb(94.117647%,15.686275%,15.686275%)"   /* (240, 40, 40) */
#define MEASURED_BLUE "rgb(11.764706%,35.294118%,78.431373%)" /* (30, 90, 200) */
#define RATE_RED "rgb(86.27451%,11.764706%,11.764706%)"     /* (220, 30, 30) */

/* Bartlett et al.'s objective on a 40 x 30 grid with a zigzag path of n
 * points inside the box (a path leaving the box is clipped into pieces). */
typedef struct fixture {
    double z[40 * 30];
    double path[2 * 64];
    linstab_plot_heatmap hm;
} fixture;

static void fixture_init(fixture *f, size_t n)
{
    linstab_error err = {0};
    linstab_objective *o = NULL;
    cr_assert_eq(linstab_objective_bartlett(&o, &err), LINSTAB_OK);
    double box[4] = {-2.0, 2.5, -1.0, 2.5};
    cr_assert_eq(linstab_plot_objective_grid(o, box, 40, 30, f->z, &err), LINSTAB_OK);
    linstab_objective_free(o);
    /* a zigzag whose steps stay apart on the page: PLplot merges vertices
     * that fall on one device point or on a straight line */
    for (size_t i = 0; i < n; i++) {
        f->path[2 * i] = (i % 2 ? -1.0 : 1.0) * (0.3 + 1.5 * (double)i / 64.0);
        f->path[2 * i + 1] = 2.2 - 3.0 * (double)i / 64.0;
    }
    memset(&f->hm, 0, sizeof f->hm);
    f->hm.nx = 40;
    f->hm.ny = 30;
    f->hm.x0 = box[0];
    f->hm.x1 = box[1];
    f->hm.y0 = box[2];
    f->hm.y1 = box[3];
    f->hm.z = f->z;
    f->hm.logz = 1;
    f->hm.contours = 8;
    f->hm.xlabel = "w#d1#u";
    f->hm.ylabel = "w#d2#u";
    f->hm.title = "test";
    f->hm.zlabel = "loss";
    f->hm.npath = n;
    f->hm.path = f->path;
}

Test(plot, the_heat_map_is_a_whole_png_of_1000_by_800)
{
    need_plots();
    fixture f;
    fixture_init(&f, 25);
    double extra[4] = {0.3, 0.0, -0.3, 0.0};
    f.hm.nextra = 2;
    f.hm.extra = extra;
    linstab_error err = {0};
    char *p = tu_tmppath(".png");
    cr_assert_eq(linstab_plot_heatmap_path(&f.hm, "pngcairo", p, &err), LINSTAB_OK, "%s", err.msg);
    expect_png(p, 1000, 800);
    unlink(p);
    /* cells without a finite value are left white; zeros take the floor */
    f.z[0] = NAN;
    f.z[41] = INFINITY;
    f.z[100] = 0.0;
    cr_assert_eq(linstab_plot_heatmap_path(&f.hm, "pngcairo", p, &err), LINSTAB_OK, "%s", err.msg);
    expect_png(p, 1000, 800);
    unlink(p);
    /* linear colours, a joined overlay, no contours */
    f.hm.logz = 0;
    f.hm.contours = 0;
    f.hm.extra_joined = 1;
    cr_assert_eq(linstab_plot_heatmap_path(&f.hm, "pngcairo", p, &err), LINSTAB_OK, "%s", err.msg);
    expect_png(p, 1000, 800);
    unlink(p);
    free(p);
}

Test(plot, the_svg_heat_map_draws_the_path_as_one_polyline_through_every_iterate)
{
    need_plots();
    static const size_t ns[] = {2, 25, 64};
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        fixture f;
        fixture_init(&f, ns[c]);
        linstab_error err = {0};
        char *p = tu_tmppath(".svg");
        cr_assert_eq(linstab_plot_heatmap_path(&f.hm, "svgcairo", p, &err), LINSTAB_OK, "%s", err.msg);
        size_t len, count;
        char *svg = slurp(p, &len);
        cr_assert(svg != NULL);
        /* the path and the legend's sample line */
        size_t v = svg_polyline(svg, PATH_RED, &count);
        cr_expect(v == ns[c] && count == 2, "n = %zu: %zu vertices in %zu polylines", ns[c], v, count);
        free(svg);
        unlink(p);
        free(p);
    }
}

Test(plot, a_non_finite_iterate_breaks_the_polyline)
{
    need_plots();
    fixture f;
    fixture_init(&f, 25);
    f.path[2 * 10] = NAN; /* points 0..9 and 11..24 */
    linstab_error err = {0};
    char *p = tu_tmppath(".svg");
    cr_assert_eq(linstab_plot_heatmap_path(&f.hm, "svgcairo", p, &err), LINSTAB_OK, "%s", err.msg);
    size_t len, count;
    char *svg = slurp(p, &len);
    cr_expect_eq(svg_polyline(svg, PATH_RED, &count), 14);
    cr_expect_eq(count, 3);
    free(svg);
    unlink(p);
    free(p);
}

Test(plot, a_bad_heat_map_is_refused_and_leaves_no_file)
{
    need_plots();
    fixture f;
    fixture_init(&f, 10);
    linstab_error err = {0};
    char *p = tu_tmppath(".png");
    linstab_plot_heatmap h = f.hm;
    h.nx = 1;
    cr_expect_eq(linstab_plot_heatmap_path(&h, "pngcairo", p, &err), LINSTAB_EINVAL);
    h = f.hm;
    h.x1 = h.x0;
    cr_expect_eq(linstab_plot_heatmap_path(&h, "pngcairo", p, &err), LINSTAB_EINVAL);
    h = f.hm;
    h.npath = 0;
    cr_expect_eq(linstab_plot_heatmap_path(&h, "pngcairo", p, &err), LINSTAB_EINVAL);
    h = f.hm;
    double zneg[40 * 30];
    for (size_t i = 0; i < 40 * 30; i++) zneg[i] = -1.0;
    h.z = zneg;
    cr_expect_eq(linstab_plot_heatmap_path(&h, "pngcairo", p, &err), LINSTAB_EINVAL);
    cr_expect(strstr(err.msg, "log colour scale") != NULL, "%s", err.msg);
    cr_expect_eq(linstab_plot_heatmap_path(&f.hm, "jpeg", p, &err), LINSTAB_EINVAL);
    cr_expect_eq(access(p, F_OK), -1);
    cr_expect_eq(linstab_plot_heatmap_path(&f.hm, "pngcairo", "/nonexistent-dir/h.png", &err), LINSTAB_EIO);
    cr_expect(strstr(err.msg, "/nonexistent-dir/h.png") != NULL, "%s", err.msg);
    free(p);
}

Test(plot, the_loss_plot_draws_every_step_and_the_rate_line_from_l0)
{
    need_plots();
    enum { N = 401 };
    double step[N], loss[N];
    for (size_t i = 0; i < N; i++) {
        step[i] = (double)i;
        /* every other step 3 times higher: no three vertices on a line */
        loss[i] = (i % 2 ? 3.0 : 1.0) * (i < 200 ? pow(0.5, (double)i) : 1e-60 * pow(1.46, (double)(i - 200)));
    }
    linstab_plot_rate r = {200, 224, loss[200], 1.46, NULL};
    linstab_error err = {0};
    char *p = tu_tmppath(".png");
    cr_assert_eq(linstab_plot_loss_rate(N, step, loss, &r, "t", "pngcairo", p, &err), LINSTAB_OK, "%s", err.msg);
    expect_png(p, 900, 600);
    unlink(p);
    free(p);
    p = tu_tmppath(".svg");
    cr_assert_eq(linstab_plot_loss_rate(N, step, loss, &r, "t", "svgcairo", p, &err), LINSTAB_OK, "%s", err.msg);
    size_t len, count;
    char *svg = slurp(p, &len);
    size_t v = svg_polyline(svg, MEASURED_BLUE, &count);
    cr_expect(v == N && count == 2, "measured: %zu vertices in %zu polylines", v, count);
    double meas[2 * N], line[4];
    v = svg_polyline_at(svg, MEASURED_BLUE, &count, meas, N);
    cr_assert_eq(v, N);
    v = svg_polyline_at(svg, RATE_RED, &count, line, 2);
    cr_expect(v == 2 && count == 2, "rate: %zu vertices in %zu polylines", v, count); /* and the legend's */
    /* on the page: the line's ends sit at steps 200 and 224 and at the
     * heights of log10 l0 and log10 l0 + 24 log10 r on the axis, whose scale
     * the measured curve fixes (steps 200 and 202: 2 log10 1.46 apart) */
    double scale = (meas[2 * 202 + 1] - meas[2 * 200 + 1]) / (2.0 * log10(1.46));
    double px = 0.01; /* cairo's SVG coordinates: 1/256 pixel */
    cr_expect(fabs(line[0] - meas[2 * 200]) <= px && fabs(line[2] - meas[2 * 224]) <= px, "x: %g %g vs %g %g", line[0],
              line[2], meas[2 * 200], meas[2 * 224]);
    cr_expect(fabs(line[1] - meas[2 * 200 + 1]) <= px, "y0 %g vs %g", line[1], meas[2 * 200 + 1]);
    double want = meas[2 * 200 + 1] + scale * 24.0 * log10(1.46);
    cr_expect(fabs(line[3] - want) <= 4.0 * px, "y1 %g, want %g", line[3], want);
    cr_expect(strstr(svg, "predicted") != NULL || strstr(svg, "glyph") != NULL);
    free(svg);
    unlink(p);
    /* a long run: an envelope of at most 4000 points; a zero loss breaks the line */
    enum { M = 20001 };
    double *s2 = malloc(M * sizeof *s2), *l2 = malloc(M * sizeof *l2);
    for (size_t i = 0; i < M; i++) {
        s2[i] = (double)i;
        l2[i] = (i % 2 ? 2.0 : 1.0) * exp(-1e-3 * (double)i);
    }
    cr_assert_eq(linstab_plot_loss_rate(M, s2, l2, NULL, "t", "svgcairo", p, &err), LINSTAB_OK, "%s", err.msg);
    svg = slurp(p, &len);
    v = svg_polyline(svg, MEASURED_BLUE, &count);
    cr_expect(v == 4000 && count == 2, "%zu vertices in %zu paths", v, count);
    free(svg);
    unlink(p);
    free(p);
    free(s2);
    free(l2);
}

Test(plot, a_bad_loss_plot_is_refused_and_leaves_no_file)
{
    need_plots();
    double step[3] = {0, 1, 2}, loss[3] = {1, 0.5, 0.25}, neg[3] = {0, -1, NAN}, back[3] = {0, 2, 1};
    linstab_error err = {0};
    char *p = tu_tmppath(".png");
    cr_expect_eq(linstab_plot_loss_rate(3, step, neg, NULL, "", "pngcairo", p, &err), LINSTAB_EINVAL);
    cr_expect_eq(linstab_plot_loss_rate(3, back, loss, NULL, "", "pngcairo", p, &err), LINSTAB_EDATA);
    linstab_plot_rate r = {1, 1, 0.5, 2.0, NULL};
    cr_expect_eq(linstab_plot_loss_rate(3, step, loss, &r, "", "pngcairo", p, &err), LINSTAB_EINVAL);
    cr_expect_eq(linstab_plot_loss_rate(0, step, loss, NULL, "", "pngcairo", p, &err), LINSTAB_EINVAL);
    cr_expect_eq(access(p, F_OK), -1);
    free(p);
}

Test(plot, without_plplot_the_dynamics_figures_say_so)
{
    if (linstab_plot_available()) cr_skip_test("this build draws figures (PLplot)");
    fixture f;
    fixture_init(&f, 5);
    linstab_error err = {0};
    char *p = tu_tmppath(".png");
    cr_expect_eq(linstab_plot_heatmap_path(&f.hm, "pngcairo", p, &err), LINSTAB_ENOTSUP);
    cr_expect(strstr(err.msg, "figures are not available in this build") != NULL, "%s", err.msg);
    double s[2] = {0, 1}, l[2] = {1, 2};
    cr_expect_eq(linstab_plot_loss_rate(2, s, l, NULL, "", "pngcairo", p, &err), LINSTAB_ENOTSUP);
    cr_expect_eq(access(p, F_OK), -1);
    free(p);
}

Test(plot, a_curve_with_empty_cells_joins_its_finite_points)
{
    need_plots();
    /* a training log: the loss every row, the sharpness every third row */
    enum { N = 30 };
    double x[N], a[N], b[N];
    for (size_t i = 0; i < N; i++) {
        x[i] = (double)i;
        a[i] = 1.0 + 0.5 * sin((double)i);
        b[i] = i % 3 == 0 ? 2.0 + cos(1.7 * (double)i) : NAN;
    }
    const double *ys[2] = {a, b};
    const char *names[2] = {"loss", "sharpness"};
    linstab_error err = {0};
    char *p = tu_tmppath(".svg");
    cr_assert_eq(linstab_plot_lines(N, x, 2, ys, names, "step", "", "t", 0, "svgcairo", p, &err), LINSTAB_OK, "%s",
                 err.msg);
    size_t len, count;
    char *svg = slurp(p, &len);
    /* the second curve's colour (index 3 of plot.c's palette): one polyline
     * through its 10 finite points (and the legend's short line) */
    size_t best = 0;
    for (const char *q = strstr(svg, "stroke:rgb("); q != NULL; q = strstr(q + 1, "stroke:rgb(")) {
        char colour[64];
        const char *e = strchr(q + 7, ';');
        if (e == NULL || (size_t)(e - q - 7) >= sizeof colour) continue;
        memcpy(colour, q + 7, (size_t)(e - q - 7));
        colour[e - q - 7] = '\0';
        size_t v = svg_polyline(svg, colour, &count);
        if (v == N / 3) best = v;
    }
    cr_expect_eq(best, (size_t)(N / 3), "no polyline of the sharpness's 10 finite points");
    free(svg);
    unlink(p);
    free(p);
}

/* ---- logarithmic axes of less than two decades ---- */

/*
 * One curve through (1, y0), (2, y1), (3, y2) on a log y axis, drawn with
 * PLplot's own svg driver (text as <text>): every label in want[] is a
 * <text> of the figure, anchored at the height where the curve's own
 * vertices put log10 of its value (the page y is affine in log10 y: fitted
 * through the first and last vertex, the middle vertex checks the fit).
 * values[k] is the number label want[k] stands for; unit is the text that
 * says the labels count units of 10^e ("(×10-6)", the exponent a
 * superscript), or NULL when they are the values themselves (then there is
 * no such text).
 */
static void expect_log_labels(const double y[3], const char *const *want, const double *values, size_t nwant,
                              const char *unit)
{
    double x[3] = {1, 2, 3};
    const double *ys[1] = {y};
    const char *names[1] = {"y"};
    linstab_error err = {0};
    char *p = tu_tmppath(".svg");
    cr_assert_eq(linstab_plot_lines(3, x, 1, ys, names, "x", "y", "", 1, "svg", p, &err), LINSTAB_OK, "%s", err.msg);
    size_t len, nt, np;
    char *svg = slurp(p, &len);
    svg_text *t;
    svg_poly *v;
    nt = svg_texts(svg, &t);
    np = svg_polys(svg, &v);
    const svg_poly *curve = NULL; /* the first curve's colour, (200, 30, 30) */
    for (size_t i = 0; i < np && curve == NULL; i++)
        if (strcmp(v[i].stroke, "#C81E1E") == 0 && v[i].n == 3) curve = &v[i];
    cr_assert_not_null(curve, "no polyline of the 3 points");
    double b = (curve->xy[5] - curve->xy[1]) / (log10(y[2]) - log10(y[0])), a = curve->xy[1] - b * log10(y[0]);
    /* the SVG writes vertices to 0.01 and anchors to 1e-6 page units, and
     * PLplot places both on its own integer grid (a few per page unit) */
    cr_expect(fabs(a + b * log10(y[1]) - curve->xy[3]) <= 0.05, "the curve is not drawn on a log axis (%.3f, %.3f)",
              a + b * log10(y[1]), curve->xy[3]);
    for (size_t k = 0; k < nwant; k++) {
        const svg_text *lab = NULL; /* the y axis's: left of the curve (the x axis has labels too) */
        for (size_t i = 0; i < nt && lab == NULL; i++)
            if (strcmp(t[i].s, want[k]) == 0 && t[i].x < curve->xy[0]) lab = &t[i];
        cr_expect_not_null(lab, "no tick label '%s' (y from %g to %g)", want[k], y[0], y[2]);
        if (lab == NULL) continue;
        double at = a + b * log10(values[k]);
        cr_expect(fabs(lab->y - at) <= 0.05, "label '%s' at page y %.3f, its value is at %.3f", want[k], lab->y, at);
    }
    const svg_text *u = NULL;
    for (size_t i = 0; i < nt && u == NULL; i++)
        if (strncmp(t[i].s, "(\u00d710", 4) == 0) u = &t[i];
    if (unit != NULL) cr_expect(u != NULL && strcmp(u->s, unit) == 0, "no unit '%s' (y from %g to %g)", unit, y[0], y[2]);
    else cr_expect_null(u, "a unit '%s' for labels that are the values", u != NULL ? u->s : "");
    svg_texts_free(t, nt);
    svg_polys_free(v, np);
    free(svg);
    unlink(p);
    free(p);
}

Test(plot, a_log_axis_of_less_than_two_decades_is_labelled_at_1_2_5_or_finer_times_a_power_of_ten)
{
    need_plots();
    /* 0.4 of a decade: PLplot's own log axis labels nothing here */
    expect_log_labels((double[]){0.2, 0.3, 0.5}, (const char *[]){"0.2", "0.3", "0.4", "0.5"},
                      (double[]){0.2, 0.3, 0.4, 0.5}, 4, NULL);
    /* 1.2 decades: 1, 2, 5 x 10^k */
    expect_log_labels((double[]){0.2, 1.0, 3.0}, (const char *[]){"0.2", "0.5", "1", "2"}, (double[]){0.2, 0.5, 1, 2},
                      4, NULL);
    /* beyond 0.001 .. 99999: mantissas in units of the largest tick's power
     * of ten, here 10^-5 (the window reaches 1e-5), said once */
    expect_log_labels((double[]){2e-6, 5e-6, 9e-6}, (const char *[]){"0.2", "0.5", "1"}, (double[]){2e-6, 5e-6, 1e-5},
                      3, "(\u00d710-5)");
    expect_log_labels((double[]){1.2e5, 2.5e5, 3.5e5}, (const char *[]){"1.5", "2.0", "3.0", "3.5"},
                      (double[]){1.5e5, 2e5, 3e5, 3.5e5}, 4, "(\u00d7105)");
    /* a thousandth of a decade: multiples of a step of the values */
    expect_log_labels((double[]){1.001, 1.002, 1.004}, (const char *[]){"1.001", "1.002", "1.003", "1.004"},
                      (double[]){1.001, 1.002, 1.003, 1.004}, 4, NULL);
    /* 3.5 decades: PLplot's own labels at the powers of ten */
    expect_log_labels((double[]){1e-8, 1e-7, 3e-5}, (const char *[]){"10-8", "10-7", "10-6", "10-5"},
                      (double[]){1e-8, 1e-7, 1e-6, 1e-5}, 4, NULL);
}

/* ---- the exact mean-square boundary of a map ---- */

/*
 * Dexter et al. (2024) Section 5.1 construction (n samples, coherence
 * sigma), Bernoulli sampling (SPEC.md section 6): the coordinates decouple
 * and the mean-square radius is the larger of the factors of coordinate 1
 * and of the others, smooth in a real batch size B.
 */
static double dexter_radius(double n, double sigma, double eta, double B)
{
    double f1 = 1.0 - 4.0 * eta + 4.0 * eta * eta + 4.0 * eta * eta * (n / B - 1.0) / sigma;
    double fj = 1.0 - 4.0 * eta / sigma + 4.0 * eta * eta * n / (sigma * sigma * B);
    return sigma < n ? fmax(f1, fj) : f1;
}

/* Where those factors equal 1, solved in closed form: f1 = 1 at
 * B = n / (1 + sigma (1 - eta)/eta), fj = 1 at B = eta n / sigma; each
 * decreases in B, so the critical batch size is the larger one.  Solved for
 * eta instead: eta* = min(sigma / (sigma + n/B - 1), sigma B / n). */
static double dexter_critical_batch(double n, double sigma, double eta)
{
    return fmax(n / (1.0 + sigma * (1.0 - eta) / eta), sigma < n ? eta * n / sigma : 0.0);
}

static double dexter_critical_eta(double n, double sigma, double B)
{
    return fmin(sigma / (sigma + n / B - 1.0), sigma < n ? sigma * B / n : INFINITY);
}

/*
 * linstab_plot_map_boundary on a Dexter map (x = sigma, y = yspec), the
 * cells' radii given by the closed form: one crossing per column, at the
 * closed-form critical value of y.  The bisection stops at a relative
 * width of 1e-12 and returns the middle; the radius it bisects on has a
 * relative error of a few eps, which moves the crossing by eps / |d log r
 * / d log y| -- at most 10 eps here (the slopes are >= 0.05) -- so the
 * points agree to 2e-12 relative.
 */
static void expect_boundary_closed_form(const char *yspec, double eta, size_t batch, int log_axis)
{
    linstab_error err = {0};
    linstab_map_axis x = {0}, y = {0};
    cr_assert_eq(linstab_map_axis_parse("sigma=1:50:2", &x, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(linstab_map_axis_parse(yspec, &y, &err), LINSTAB_OK, "%s", err.msg);
    cr_assert_eq(y.log, log_axis);
    const double n = 100.0;
    linstab_map_source src = {NULL, NAN, NAN, 100, NULL, NULL};
    linstab_map_params p = linstab_map_defaults();
    p.sampling = LINSTAB_SAMPLING_BERNOULLI;
    p.eta = eta;
    p.batch = batch;
    size_t nx = x.count, ny = y.count;
    double *rad = malloc(nx * ny * sizeof *rad), *pts = malloc(2 * (nx + 1) * (ny + 1) * sizeof *pts);
    cr_assert(rad != NULL && pts != NULL);
    int eta_axis = y.kind == LINSTAB_MAP_AXIS_ETA;
    for (size_t iy = 0; iy < ny; iy++)
        for (size_t ix = 0; ix < nx; ix++)
            rad[iy * nx + ix] = dexter_radius(n, x.values[ix], eta_axis ? y.values[iy] : eta,
                                              eta_axis ? (double)batch : y.values[iy]);
    size_t np = 0;
    int along = -1;
    cr_assert_eq(linstab_plot_map_boundary(&src, &p, &x, &y, rad, 0.0, pts, &np, &along, &err), LINSTAB_OK, "%s",
                 err.msg);
    cr_expect_eq(along, 1, "the boundary is solved along y (%s)", yspec);
    cr_assert_eq(np, nx + 1, "%s: %zu points for %zu columns: one crossing each, then a break", yspec, np, nx);
    cr_expect(isnan(pts[2 * nx]) && isnan(pts[2 * nx + 1]));
    double worst = 0.0;
    for (size_t ix = 0; ix < nx; ix++) {
        double sigma = x.values[ix];
        double want = eta_axis ? dexter_critical_eta(n, sigma, (double)batch) : dexter_critical_batch(n, sigma, eta);
        cr_expect_eq(pts[2 * ix], sigma, "%s: point %zu is not on its column", yspec, ix);
        double rel = fabs(pts[2 * ix + 1] - want) / want;
        worst = fmax(worst, rel);
        cr_expect(rel <= 2e-12, "%s: sigma %g: crossing at %.17g, closed form %.17g (rel %.3g)", yspec, sigma,
                  pts[2 * ix + 1], want, rel);
    }
    cr_log_info("%s: largest relative distance to the closed form %.3g", yspec, worst);
    free(rad);
    free(pts);
    linstab_map_axis_clear(&x);
    linstab_map_axis_clear(&y);
}

Test(plot, the_map_boundary_is_the_closed_form_critical_batch_and_learning_rate_of_the_dexter_construction)
{
    /* Dexter et al. (2024) Figure 1's grid (n = 100, eta = 0.8) */
    expect_boundary_closed_form("batch=1:100:2", 0.8, 0, 0);
    /* a log eta axis at B = 10: bisection in log10 eta */
    expect_boundary_closed_form("eta=log:0.05:1.5:23", NAN, 10, 1);
}
