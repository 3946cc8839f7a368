/* test_readme.c -- every `$ ` example of README.md runs as written and
 * prints what README shows.
 *
 * The block format (also in README's Testing section):
 * - A fenced block (``` or ```console, any info string) whose first line
 *   starts with "$ " is an example.  Each line starting with "$ " is a
 *   command (a line ending in a backslash continues it on the next line);
 *   the lines after it, up to the next "$ " or the closing fence, are its
 *   expected output (stdout and stderr together, as `2>&1` gives).  A line
 *   "..." in the expected output stands for any number of lines.
 * - The commands of a block run in one `sh`, one after the other (a `cd`
 *   or a variable set by one command holds for the next), with stdin from
 *   /dev/null, LC_ALL=C, `linstab` on PATH ($LINSTAB_BIN), in a fresh
 *   temporary folder that holds a symbolic link to every top-level entry of
 *   the source tree (except build folders and hidden ones), so that
 *   `tools/...`, `notebooks-export/...` resolve and outputs land in the
 *   temporary folder.  Every command must exit with status 0.
 * - Lines are compared token by token, runs of blanks counting as one:
 *   words exactly, numbers to a relative tolerance (rtol, default 1e-6)
 *   plus an absolute one (atol, default 0).  A time or a memory figure (a
 *   number followed by the unit s, ms, us, kB, MB or GB, or the value of a
 *   JSON key ending in "seconds" or "_mb") only has to be a number.
 * - An HTML comment on the line before the opening fence (blank lines
 *   between are allowed) sets options for that block, separated by blanks:
 *       <!-- readme-test: rtol=1e-3 atol=1e-12 -->
 *       <!-- readme-test: continue -->    run in the previous example's
 *                                        folder, after it (files persist,
 *                                        shell variables do not)
 *       <!-- readme-test: needs=plots --> skip in a -Dplots=disabled build
 *       <!-- readme-test: needs=/usr/share/datasets/fashion-mnist -->
 *                                        skip when that path is absent
 *       <!-- readme-test: timeout=120 --> seconds for the block (default 60)
 *       <!-- readme-test: skip (needs PyTorch) -->  never run; the reason
 *                                        in parentheses is required
 *   An unknown option is a failure, so that a typo does not pass silently.
 *
 * A block and the blocks that continue it form a chain, one Criterion test
 * case each (readme::example, parameter = the chain's index); a skipped
 * chain is reported as skipped, with its reason.  A failure names the
 * README line of the command and shows the expected and the produced
 * output in full, ready to paste. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#ifndef LINSTAB_TEST_PLOTS
#define LINSTAB_TEST_PLOTS 1
#endif

#define MAX_BLOCKS 512
#define MAX_CMDS 64
#define MAX_OUT 4096

typedef struct {
    int line;       /* README line of the "$ " */
    char *text;     /* the command, continuation lines joined by "\\\n" */
    int nexp;
    char **exp;     /* expected lines */
    int *exp_line;  /* their README lines */
} rt_cmd;

typedef struct {
    int fence_line;  /* README line of the opening fence */
    int cont;        /* continues the previous example */
    int skip;        /* 1: skip (reason in why) */
    char why[512];   /* skip reason, or a directive error */
    int bad;         /* malformed block or directive (message in why) */
    double rtol, atol, timeout;
    char needs[8][300];
    int nneeds;
    int ncmd;
    rt_cmd cmd[MAX_CMDS];
} rt_block;

typedef struct {
    int nblock;
    rt_block *b;
} rt_readme;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    for (;;) {
        if (len + 4096 + 1 > cap) s = realloc(s, cap *= 2);
        size_t r = fread(s + len, 1, 4096, f);
        len += r;
        if (r == 0) break;
    }
    fclose(f);
    s[len] = '\0';
    return s;
}

/* Split text into lines (modifies text; trailing '\r' and blanks kept off). */
static int split_lines(char *text, char ***lines)
{
    int n = 0, cap = 1024;
    char **l = malloc(sizeof *l * (size_t)cap);
    char *p = text;
    while (*p) {
        char *e = strchr(p, '\n');
        if (n == cap) l = realloc(l, sizeof *l * (size_t)(cap *= 2));
        l[n++] = p;
        if (!e) break;
        *e = '\0';
        p = e + 1;
    }
    for (int i = 0; i < n; i++) {
        size_t k = strlen(l[i]);
        while (k > 0 && (l[i][k - 1] == ' ' || l[i][k - 1] == '\t' || l[i][k - 1] == '\r')) l[i][--k] = '\0';
    }
    *lines = l;
    return n;
}

static int is_fence(const char *s)
{
    int k = 0;
    while (k < 3 && s[k] == ' ') k++;
    return strncmp(s + k, "```", 3) == 0 || strncmp(s + k, "~~~", 3) == 0;
}

static void parse_directive(rt_block *b, const char *line)
{
    const char *p = strstr(line, "readme-test:");
    if (!p) return;
    p += strlen("readme-test:");
    const char *end = strstr(p, "-->");
    if (!end) end = p + strlen(p);
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ';' || *p == ',')) p++;
        if (p >= end) break;
        const char *q = p;
        while (q < end && *q != ' ' && *q != '\t' && *q != ';' && *q != ',' && *q != '(') q++;
        size_t len = (size_t)(q - p);
        char word[300];
        snprintf(word, sizeof word, "%.*s", (int)(len < 299 ? len : 299), p);
        if (strcmp(word, "skip") == 0) {
            b->skip = 1;
            while (q < end && *q == ' ') q++;
            if (q < end && *q == '(') {
                const char *r = strrchr(q, ')');
                if (!r || r > end) r = end;
                snprintf(b->why, sizeof b->why, "%.*s", (int)(r - q - 1), q + 1);
                q = r < end ? r + 1 : end;
            }
            if (b->why[0] == '\0') {
                b->bad = 1;
                snprintf(b->why, sizeof b->why, "'skip' needs a reason in parentheses: <!-- readme-test: skip (why) -->");
                return;
            }
        } else if (strcmp(word, "continue") == 0) {
            b->cont = 1;
        } else if (strncmp(word, "rtol=", 5) == 0 || strncmp(word, "atol=", 5) == 0 ||
                   strncmp(word, "timeout=", 8) == 0) {
            const char *v = strchr(word, '=') + 1;
            char *e;
            errno = 0;
            double x = strtod(v, &e);
            if (*v == '\0' || *e != '\0' || errno || !(x >= 0) || !isfinite(x)) {
                b->bad = 1;
                snprintf(b->why, sizeof b->why, "bad value in readme-test option '%s'", word);
                return;
            }
            if (word[0] == 'r') b->rtol = x;
            else if (word[0] == 'a') b->atol = x;
            else b->timeout = x;
        } else if (strncmp(word, "needs=", 6) == 0 && word[6] && b->nneeds < 8) {
            snprintf(b->needs[b->nneeds++], sizeof b->needs[0], "%s", word + 6);
        } else {
            b->bad = 1;
            snprintf(b->why, sizeof b->why,
                     "unknown readme-test option '%s' (known: skip (reason), continue, rtol=X, atol=X, timeout=S, "
                     "needs=plots|PATH)",
                     word);
            return;
        }
        p = q;
    }
}

/* The parsed README lives for the whole test process: kept reachable here
 * (the cases read it until they exit), so LeakSanitizer sees no leak. */
static struct {
    char *text;
    char **lines;
    rt_readme r;
} parsed;

static rt_readme parse_readme(const char *path)
{
    if (parsed.text != NULL) return parsed.r; /* parsed once per process */
    rt_readme r = {0, NULL};
    char *text = slurp(path);
    cr_assert_not_null(text, "cannot read %s", path);
    char **l;
    int n = split_lines(text, &l);
    r.b = calloc(MAX_BLOCKS, sizeof *r.b);
    for (int i = 0; i < n; i++) {
        if (!is_fence(l[i])) continue;
        int open = i, close = i + 1;
        while (close < n && !is_fence(l[close])) close++;
        i = close; /* resume after the closing fence */
        if (open + 1 >= n || strncmp(l[open + 1], "$ ", 2) != 0) continue;
        cr_assert_lt(r.nblock, MAX_BLOCKS, "more than %d examples in README", MAX_BLOCKS);
        rt_block *b = &r.b[r.nblock++];
        b->fence_line = open + 1;
        b->rtol = 1e-6;
        b->atol = 0.0;
        b->timeout = 60.0;
        int d = open - 1;
        while (d >= 0 && l[d][0] == '\0') d--;
        if (d >= 0 && strstr(l[d], "<!--") && strstr(l[d], "readme-test:")) parse_directive(b, l[d]);
        if (close >= n) {
            b->bad = 1;
            snprintf(b->why, sizeof b->why, "the fence is never closed");
            continue;
        }
        for (int k = open + 1; k < close; k++) {
            if (strncmp(l[k], "$ ", 2) == 0) {
                if (b->ncmd == MAX_CMDS) {
                    b->bad = 1;
                    snprintf(b->why, sizeof b->why, "more than %d commands", MAX_CMDS);
                    break;
                }
                rt_cmd *c = &b->cmd[b->ncmd++];
                c->line = k + 1;
                size_t cap = strlen(l[k]) + 1;
                c->text = malloc(cap);
                strcpy(c->text, l[k] + 2);
                while (k + 1 < close && strlen(c->text) > 0 && c->text[strlen(c->text) - 1] == '\\') {
                    k++;
                    cap += strlen(l[k]) + 2;
                    c->text = realloc(c->text, cap);
                    strcat(c->text, "\n");
                    strcat(c->text, l[k]);
                }
                c->exp = malloc(sizeof *c->exp * (size_t)(close - k + 1));
                c->exp_line = malloc(sizeof *c->exp_line * (size_t)(close - k + 1));
            } else {
                rt_cmd *c = &b->cmd[b->ncmd - 1];
                c->exp_line[c->nexp] = k + 1;
                c->exp[c->nexp++] = l[k];
            }
        }
    }
    parsed.text = text;
    parsed.lines = l;
    parsed.r = r;
    return r;
}

static const char *readme_path(void)
{
    static char path[4096];
    const char *src = getenv("LINSTAB_SRCDIR");
    cr_assert_not_null(src, "LINSTAB_SRCDIR is not set");
    snprintf(path, sizeof path, "%s/README.md", src);
    return path;
}

/* ---- comparing a line ---------------------------------------------------- */

typedef struct {
    int num;          /* 1: a number */
    double v;
    const char *s;    /* start */
    size_t len;
    int space_before;
} rt_tok;

static int word_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'; }
static int digit(char c) { return c >= '0' && c <= '9'; }

static int number_starts(const char *line, const char *p)
{
    if (p > line && word_char(p[-1])) return 0;
    const char *q = p;
    if (*q == '-' || *q == '+') q++;
    return digit(*q) || (*q == '.' && digit(q[1]));
}

static int tokenize(const char *line, rt_tok *t, int max)
{
    int n = 0, sp = 0;
    const char *p = line;
    while (*p && n < max) {
        if (*p == ' ' || *p == '\t') {
            sp = 1;
            p++;
            continue;
        }
        rt_tok *k = &t[n++];
        k->s = p;
        k->space_before = sp && n > 1;
        sp = 0;
        if (number_starts(line, p)) {
            const char *q = p;
            if (*q == '-' || *q == '+') q++;
            while (digit(*q)) q++;
            if (*q == '.') {
                q++;
                while (digit(*q)) q++;
            }
            if ((*q == 'e' || *q == 'E') && (digit(q[1]) || ((q[1] == '-' || q[1] == '+') && digit(q[2])))) {
                q += 2;
                while (digit(*q)) q++;
            }
            k->num = 1;
            k->v = strtod(p, NULL);
            k->len = (size_t)(q - p);
            p = q;
        } else {
            const char *q = p;
            while (*q && *q != ' ' && *q != '\t' && !(q > p && number_starts(line, q))) q++;
            k->num = 0;
            k->len = (size_t)(q - p);
            p = q;
        }
    }
    return n;
}

/* A time or memory figure: followed by a unit word, or the value of a JSON
 * key ending in "seconds" / "_mb". */
static int measurement(const rt_tok *t, int n, int i)
{
    if (i + 1 < n && t[i + 1].space_before && !t[i + 1].num) {
        static const char *units[] = {"s", "ms", "us", "kB", "MB", "GB"};
        for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
            size_t ul = strlen(units[u]);
            if (t[i + 1].len >= ul && strncmp(t[i + 1].s, units[u], ul) == 0 &&
                (t[i + 1].len == ul || !word_char(t[i + 1].s[ul])))
                return 1;
        }
    }
    if (i > 0 && !t[i - 1].num) {
        const char *e = t[i - 1].s + t[i - 1].len;
        static const char *keys[] = {"seconds\":", "_mb\":"};
        for (size_t k = 0; k < 2; k++) {
            size_t kl = strlen(keys[k]);
            if (t[i - 1].len >= kl && strncmp(e - kl, keys[k], kl) == 0) return 1;
        }
    }
    return 0;
}

/* 1 if got matches exp; otherwise 0 with the reason in why. */
static int line_matches(const char *exp, const char *got, double rtol, double atol, char *why, size_t whylen)
{
    rt_tok te[512], tg[512];
    int ne = tokenize(exp, te, 512), ng = tokenize(got, tg, 512);
    for (int i = 0; i < ne && i < ng; i++) {
        const rt_tok *a = &te[i], *b = &tg[i];
        if (a->space_before != b->space_before && i > 0) {
            snprintf(why, whylen, "spacing differs before token %d ('%.*s')", i + 1, (int)b->len, b->s);
            return 0;
        }
        if (a->num && b->num) {
            if (measurement(te, ne, i) && measurement(tg, ng, i)) continue;
            double tol = rtol * fmax(fabs(a->v), fabs(b->v)) + atol;
            if (!(fabs(a->v - b->v) <= tol)) {
                snprintf(why, whylen, "number %.*s vs %.*s: difference %.3g > rtol %g * |x| + atol %g = %.3g",
                         (int)a->len, a->s, (int)b->len, b->s, fabs(a->v - b->v), rtol, atol, tol);
                return 0;
            }
        } else if (a->num != b->num || a->len != b->len || strncmp(a->s, b->s, a->len) != 0) {
            snprintf(why, whylen, "'%.*s' vs '%.*s'", (int)a->len, a->s, (int)b->len, b->s);
            return 0;
        }
    }
    if (ne != ng) {
        snprintf(why, whylen, "%s", ne > ng ? "the line ends early" : "the line goes on");
        return 0;
    }
    return 1;
}

/* Match the expected lines (with "..." wildcards) against got; on failure
 * the index of the first offending expected line (or ne) in *ei, the got
 * line in *gi, the reason in why. */
static int output_matches(char **exp, int ne, char **got, int ng, double rtol, double atol, int *ei, int *gi,
                          char *why, size_t whylen)
{
    int i = 0, j = 0;
    while (i < ne) {
        if (strcmp(exp[i], "...") == 0) {
            if (i + 1 == ne) return 1; /* the rest */
            char tmp[8];
            while (j < ng && !line_matches(exp[i + 1], got[j], rtol, atol, tmp, sizeof tmp)) j++;
            i++;
            continue;
        }
        if (j >= ng) {
            *ei = i;
            *gi = j;
            snprintf(why, whylen, "the output ends here; README expects more lines");
            return 0;
        }
        if (!line_matches(exp[i], got[j], rtol, atol, why, whylen)) {
            *ei = i;
            *gi = j;
            return 0;
        }
        i++;
        j++;
    }
    if (j < ng) {
        *ei = ne;
        *gi = j;
        snprintf(why, whylen, "the output has %d more line(s) than README shows", ng - j);
        return 0;
    }
    return 1;
}

/* ---- running a chain ------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Link every top-level entry of src (but build folders and hidden ones) into dir. */
static void link_tree(const char *src, const char *dir)
{
    DIR *d = opendir(src);
    cr_assert_not_null(d, "cannot list %s", src);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "build", 5) == 0) continue;
        char from[4096], to[4096];
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
        cr_assert_eq(symlink(from, to), 0, "symlink %s: %s", to, strerror(errno));
    }
    closedir(d);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

/* Run block b in work (control files in ctl); returns the number of
 * failing commands (and prints each). */
static int run_block(const rt_block *b, const char *work, const char *ctl, int bi)
{
    const char *bin = getenv("LINSTAB_BIN");
    cr_assert_not_null(bin, "LINSTAB_BIN is not set");
    char bindir[4096];
    snprintf(bindir, sizeof bindir, "%s", bin);
    char *slash = strrchr(bindir, '/');
    cr_assert_not_null(slash, "LINSTAB_BIN must be a path: %s", bin);
    *slash = '\0';
    if (strcmp(strrchr(bin, '/') + 1, "linstab") != 0) cr_log_warn("LINSTAB_BIN is not named linstab: %s", bin);

    char script[4200];
    snprintf(script, sizeof script, "%s/block%d.sh", ctl, bi);
    FILE *f = fopen(script, "w");
    cr_assert_not_null(f);
    fputs("cd ", f);
    put_quoted(f, work);
    fputs(" || exit 99\nPATH=", f);
    put_quoted(f, bindir);
    fputs(":$PATH; export PATH; LC_ALL=C; export LC_ALL\n", f);
    for (int k = 0; k < b->ncmd; k++) {
        fprintf(f, "{\n%s\n} >'%s/out.%d.%d' 2>&1 </dev/null\necho $? >'%s/rc.%d.%d'\n", b->cmd[k].text, ctl, bi, k,
                ctl, bi, k);
    }
    fclose(f);

    double t0 = now();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        setpgid(0, 0);
        execl("/bin/sh", "sh", script, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    int st = 0, timed_out = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) break;
        if (now() - t0 > b->timeout) {
            killpg(pid, SIGKILL);
            waitpid(pid, &st, 0);
            timed_out = 1;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    double elapsed = now() - t0;
    fprintf(stderr, "readme: README.md:%d: %d command(s) ran in %.2f s\n", b->fence_line, b->ncmd, elapsed);

    int fails = 0;
    for (int k = 0; k < b->ncmd; k++) {
        const rt_cmd *c = &b->cmd[k];
        char path[4300];
        snprintf(path, sizeof path, "%s/rc.%d.%d", ctl, bi, k);
        char *rcs = slurp(path);
        snprintf(path, sizeof path, "%s/out.%d.%d", ctl, bi, k);
        char *out = slurp(path);
        char why[600] = "";
        int ok = 1, ei = 0, gi = 0;
        char **got = NULL;
        int ng = 0;
        if (!rcs) {
            ok = 0;
            snprintf(why, sizeof why, timed_out ? "did not finish: the block timed out after %.0f s (timeout=S to allow more)"
                                                 : "did not run (the shell stopped before it)",
                     b->timeout);
        } else if (atoi(rcs) != 0) {
            ok = 0;
            snprintf(why, sizeof why, "exit status %d", atoi(rcs));
        }
        if (out) {
            ng = split_lines(out, &got);
            if (ng > 0 && got[ng - 1][0] == '\0') ng--; /* the final newline */
        }
        if (ok && !output_matches(c->exp, c->nexp, got, ng, b->rtol, b->atol, &ei, &gi, why, sizeof why)) ok = 0;
        if (!ok) {
            fails++;
            fprintf(stderr, "\n=== README.md:%d: command %d of the block at README.md:%d fails: %s\n", c->line, k + 1,
                    b->fence_line, why);
            fprintf(stderr, "$ %s\n", c->text);
            if (rcs && atoi(rcs) == 0 && c->nexp + ng > 0) {
                if (ei < c->nexp) fprintf(stderr, "  README.md:%d expects: %s\n", c->exp_line[ei], c->exp[ei]);
                else fprintf(stderr, "  README.md expects no more lines after line %d\n",
                             c->nexp ? c->exp_line[c->nexp - 1] : c->line);
                if (gi < ng) fprintf(stderr, "  output line %d is:   %s\n", gi + 1, got[gi]);
                else fprintf(stderr, "  the output has no line %d\n", gi + 1);
            }
            fprintf(stderr, "--- README.md:%d-%d (expected, rtol %g, atol %g):\n", c->line + 1,
                    c->nexp ? c->exp_line[c->nexp - 1] : c->line, b->rtol, b->atol);
            for (int e = 0; e < c->nexp; e++) fprintf(stderr, "%s\n", c->exp[e]);
            fprintf(stderr, "--- got (stdout and stderr):\n");
            for (int g = 0; g < ng && g < MAX_OUT; g++) fprintf(stderr, "%s\n", got[g]);
            fprintf(stderr, "--- end\n");
        }
        free(got);
        free(rcs);
        free(out);
    }
    if (!WIFEXITED(st) && !timed_out) {
        fprintf(stderr, "README.md:%d: the block's shell was killed by signal %d\n", b->fence_line,
                WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        fails++;
    }
    return fails;
}

/* The chains: head block indices (a block without `continue`). */
static int chain_heads(const rt_readme *r, int *heads)
{
    int n = 0;
    for (int i = 0; i < r->nblock; i++)
        if (!r->b[i].cont || i == 0) heads[n++] = i;
    return n;
}

ParameterizedTestParameters(readme, example)
{
    rt_readme r = parse_readme(readme_path());
    int heads[MAX_BLOCKS];
    int n = chain_heads(&r, heads);
    int *p = cr_malloc(sizeof *p * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) p[i] = i;
    /* every chain is one test case; an empty README is a failure below */
    if (n == 0) {
        p[0] = -1;
        n = 1;
    }
    return cr_make_param_array(int, p, (size_t)n);
}

ParameterizedTest(int *chain, readme, example, .timeout = 600)
{
    rt_readme r = parse_readme(readme_path());
    cr_assert_geq(*chain, 0, "README.md has no `$ ` example");
    int heads[MAX_BLOCKS];
    int n = chain_heads(&r, heads);
    cr_assert_lt(*chain, n);
    int first = heads[*chain], last = *chain + 1 < n ? heads[*chain + 1] : r.nblock;
    if (r.b[0].cont && first == 0) {
        cr_assert_fail("README.md:%d: the first example cannot `continue` a previous one", r.b[0].fence_line);
    }
    for (int i = first; i < last; i++)
        if (r.b[i].bad) cr_assert_fail("README.md:%d: %s", r.b[i].fence_line, r.b[i].why);

    /* What is skipped: a block and the rest of its chain. */
    int run_to = last;
    char reason[700] = "";
    for (int i = first; i < last && run_to == last; i++) {
        const rt_block *b = &r.b[i];
        if (b->skip) {
            run_to = i;
            snprintf(reason, sizeof reason, "README.md:%d: skip (%s)", b->fence_line, b->why);
        }
        for (int k = 0; k < b->nneeds && run_to == last; k++) {
            const char *need = b->needs[k];
            int have = strcmp(need, "plots") == 0 ? LINSTAB_TEST_PLOTS : access(need, F_OK) == 0;
            if (!have) {
                run_to = i;
                snprintf(reason, sizeof reason, "README.md:%d: needs %s, %s", b->fence_line, need,
                         strcmp(need, "plots") == 0 ? "a build with PLplot" : "which is absent");
            }
        }
    }
    if (run_to == first) cr_skip_test("%s", reason);

    const char *tmp = getenv("TMPDIR");
    char work[512], ctl[512];
    snprintf(work, sizeof work, "%s/linstab-readme-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    snprintf(ctl, sizeof ctl, "%s/linstab-readme-ctl-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(work));
    cr_assert_not_null(mkdtemp(ctl));
    link_tree(getenv("LINSTAB_SRCDIR"), work);

    int fails = 0;
    for (int i = first; i < run_to; i++) fails += run_block(&r.b[i], work, ctl, i);
    rm_tree(ctl);
    if (fails) {
        fprintf(stderr, "(work folder kept: %s)\n", work);
        cr_assert_fail("README.md:%d: %d command(s) of this example print something else or fail (details above)",
                       r.b[first].fence_line, fails);
    }
    rm_tree(work);
    if (run_to < last) cr_log_warn("%s: the rest of this chain is skipped", reason);
}

/* The comparison itself, on lines whose verdict is known. */
Test(readme, lines_compare_words_exactly_and_numbers_to_the_tolerance)
{
    char why[600];
    cr_assert(line_matches("loss 0.1 at step 3", "loss   0.1 at step 3", 1e-6, 0, why, sizeof why));
    cr_assert(line_matches("x 1.0000001", "x 1.0000002", 1e-6, 0, why, sizeof why));
    cr_assert(!line_matches("x 1.0001", "x 1.0002", 1e-6, 0, why, sizeof why));
    cr_assert(strstr(why, "1.0001") && strstr(why, "1.0002"), "%s", why);
    cr_assert(line_matches("x 1e-20", "x -1e-20", 0, 1e-12, why, sizeof why));
    cr_assert(!line_matches("x 1e-20", "x -1e-20", 1e-6, 0, why, sizeof why));
    cr_assert(!line_matches("loss 0.1 at step", "loss 0.1 at steps", 1e-6, 0, why, sizeof why));
    cr_assert(!line_matches("a b", "ab", 1e-6, 0, why, sizeof why));
    cr_assert(!line_matches("a 1", "a 1 2", 1e-6, 0, why, sizeof why));
    /* digits inside words are words: W1 vs W2 differ */
    cr_assert(!line_matches("W1.npy", "W2.npy", 1, 0, why, sizeof why));
    cr_assert(!line_matches("784-300-10", "784-301-10", 1e-6, 0, why, sizeof why));
    /* times and memory only have to be numbers */
    cr_assert(line_matches("map: 5 cells in 3.05 s -> out", "map: 5 cells in 12.5 s -> out", 1e-6, 0, why, sizeof why));
    cr_assert(!line_matches("map: 5 cells in 3.05 s", "map: 6 cells in 3.05 s", 1e-6, 0, why, sizeof why));
    cr_assert(line_matches("{\"s2_seconds\": 2.024, \"peak_rss_mb\": 337.4, \"s2\": 1.5}",
                           "{\"s2_seconds\": 0.1, \"peak_rss_mb\": 12, \"s2\": 1.5}", 1e-6, 0, why, sizeof why));
    cr_assert(!line_matches("{\"s2_seconds\": 2.024, \"s2\": 1.5}", "{\"s2_seconds\": 2.024, \"s2\": 1.6}", 1e-6, 0,
                            why, sizeof why));
    cr_assert(!line_matches("1.5 steps", "2.5 steps", 1e-6, 0, why, sizeof why));
}

Test(readme, an_ellipsis_line_stands_for_any_lines)
{
    char *exp[] = {"head", "...", "tail 1"};
    char *got[] = {"head", "a", "b", "tail 1"};
    char *got2[] = {"head", "tail 1"};
    char *got3[] = {"head", "a", "tail 2"};
    char why[600];
    int ei, gi;
    cr_assert(output_matches(exp, 3, got, 4, 1e-6, 0, &ei, &gi, why, sizeof why));
    cr_assert(output_matches(exp, 3, got2, 2, 1e-6, 0, &ei, &gi, why, sizeof why));
    cr_assert(!output_matches(exp, 3, got3, 3, 1e-6, 0, &ei, &gi, why, sizeof why));
    char *exp2[] = {"head", "tail 1"};
    cr_assert(!output_matches(exp2, 2, got, 4, 1e-6, 0, &ei, &gi, why, sizeof why));
    cr_assert_eq(ei, 1);
    cr_assert_eq(gi, 1);
    cr_assert(!output_matches(exp2, 2, got2, 1, 1e-6, 0, &ei, &gi, why, sizeof why));
    cr_assert(strstr(why, "ends here"), "%s", why);
    cr_assert(!output_matches(exp2, 1, got2, 2, 1e-6, 0, &ei, &gi, why, sizeof why));
    cr_assert(strstr(why, "more line"), "%s", why);
}
