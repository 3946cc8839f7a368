/*
 * json.c -- a small streaming JSON writer (json.h): numbers with 17
 * significant digits (round-trip exact), non-finite numbers as null,
 * strings escaped, members indented by depth.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "linstab/json.h"

void linstab_json_init(linstab_json *j, FILE *out)
{
    memset(j, 0, sizeof *j);
    j->out = out;
    j->first[0] = 1;
}

static void indent(linstab_json *j)
{
    for (int i = 0; i < j->depth; i++) fputs("  ", j->out);
}

static void put_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* Separator, newline, indentation and "key": before a member or element. */
static void member(linstab_json *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth]) fputc(',', j->out);
        fputc('\n', j->out);
        indent(j);
    }
    j->first[j->depth] = 0;
    if (key != NULL) {
        put_string(j->out, key);
        fputs(": ", j->out);
    }
}

static void open_(linstab_json *j, const char *key, char c)
{
    member(j, key);
    fputc(c, j->out);
    if (j->depth + 1 < LINSTAB_JSON_MAX_DEPTH) j->depth++;
    j->first[j->depth] = 1;
}

static void close_(linstab_json *j, char c)
{
    int empty = j->first[j->depth];
    if (j->depth > 0) j->depth--;
    if (!empty) {
        fputc('\n', j->out);
        indent(j);
    }
    fputc(c, j->out);
    if (j->depth == 0) fputc('\n', j->out);
}

void linstab_json_begin(linstab_json *j, const char *key) { open_(j, key, '{'); }
void linstab_json_end(linstab_json *j) { close_(j, '}'); }
void linstab_json_begin_array(linstab_json *j, const char *key) { open_(j, key, '['); }
void linstab_json_end_array(linstab_json *j) { close_(j, ']'); }

void linstab_json_number(linstab_json *j, const char *key, double v)
{
    member(j, key);
    if (isfinite(v))
        fprintf(j->out, "%.17g", v);
    else
        fputs("null", j->out);
}

void linstab_json_int(linstab_json *j, const char *key, long long v)
{
    member(j, key);
    fprintf(j->out, "%lld", v);
}

void linstab_json_bool(linstab_json *j, const char *key, int v)
{
    member(j, key);
    fputs(v ? "true" : "false", j->out);
}

void linstab_json_null(linstab_json *j, const char *key)
{
    member(j, key);
    fputs("null", j->out);
}

void linstab_json_string(linstab_json *j, const char *key, const char *s)
{
    member(j, key);
    put_string(j->out, s);
}
