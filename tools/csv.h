/* csv.h -- the strict CSV reader of `linstab plot`.
 *
 * The accepted format: a header row of column names, then rows of numbers
 * with exactly as many fields as the header, fields separated by commas,
 * lines ended by "\n" or "\r\n" (the last one may be missing; blank lines
 * at the end are ignored).  A name is any non-empty text without a comma
 * or a NUL byte, names are distinct.  A numeric field is a decimal number
 * ("-1.5", "2e-3", "1e-320"), one of the words C's printf writes for
 * non-finite values ("nan", "-nan", "inf", "-inf"), or empty (a missing
 * value, e.g. the sharpness of a training log between evaluations); both
 * empty and "nan" read as NaN.  Refused, with the line and column in the
 * message: anything else (white space, quotes, hexadecimal, "1x", text),
 * ragged rows, a value that overflows a double, a blank line between rows,
 * NUL bytes, more than CLI_CSV_MAXCOL columns.
 *
 * cli_csv_parse is pure (no printing, no exit, only the C library and
 * cli_parse.c), so a fuzz harness can call it on any buffer.
 */
#ifndef LINSTAB_CSV_H
#define LINSTAB_CSV_H

#include <stddef.h>

#define CLI_CSV_MAXCOL 4096

typedef struct cli_csv {
    size_t ncol, nrow;
    char **names;   /* ncol NUL-terminated names (owned) */
    double *values; /* nrow x ncol, row-major (owned); a missing value is NaN */
} cli_csv;

/* Parse the len bytes at buf (not necessarily NUL-terminated).  OUT *out,
 * to be released with cli_csv_free, on success.  Returns 0; or 2 for a
 * malformed file with a message in msg, 1 when memory runs out; on
 * failure *out is empty.  A message about a place in the file starts with
 * it as compilers write it, LINE:COLUMN: or LINE: (1-based; the column
 * counts bytes from the start of the line to the field), so that
 * "FILE:" + msg names it ("3:7: non-numeric value 'abc' in column 'loss'",
 * "4: 3 fields, the header has 2"); the others ("no data rows after the
 * header") start with a letter and read after "FILE: ". */
int cli_csv_parse(const char *buf, size_t len, cli_csv *out, char *msg, size_t msglen);

/* Read the file at path and parse it (cli_csv_parse).  Returns 0, 2 for a
 * malformed file, 1 for an unreadable one or out of memory; the message
 * does not repeat the path (cli_csv_parse says how to join them). */
int cli_csv_read(const char *path, cli_csv *out, char *msg, size_t msglen);

/* The index of the column named name, or -1. */
long cli_csv_column(const cli_csv *c, const char *name);

/* Release what cli_csv_parse allocated and empty *c (safe on an empty one). */
void cli_csv_free(cli_csv *c);

#endif
