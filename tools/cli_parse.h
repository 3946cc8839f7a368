/* cli_parse.h -- the strict parsers of the linstab command's numeric
 * options: decimal numbers, whole numbers and lists of sizes.
 *
 * These functions are pure: they never print, never exit and depend on
 * nothing but the C library, so a fuzz harness can call them alone
 * (tools/cli_parse.c).  The printing wrappers are in cli.h.
 *
 * Every function returns 0 on success; 2 (the exit status of a usage
 * error) when the text is refused, with a message in msg (msglen bytes,
 * always NUL-terminated when msglen > 0) that quotes the text and states
 * what was expected, e.g. "'0x10': expected a decimal number in (0, inf)";
 * cli_size_list_parse also returns 1 when memory runs out.  The caller adds
 * the option's name in front of the message. */
#ifndef LINSTAB_CLI_PARSE_H
#define LINSTAB_CLI_PARSE_H

#include <stddef.h>

/* Flags of a real range: which ends are excluded. */
#define CLI_LO_OPEN 1u
#define CLI_HI_OPEN 2u

/* Upper bound on the number of values of a list (cli_parse_size_list). */
#define CLI_LIST_MAX ((size_t)1000000)

/*
 * A decimal number in the range lo..hi (ends excluded per flags).
 * Accepted: an optional sign, digits with an optional decimal point, an
 * optional exponent ("-1.5", "2e-3", ".5", "1e-320" -- subnormal numbers
 * are finite and accepted).  Refused: the empty string, white space
 * anywhere, hexadecimal ("0x10"), "inf", "nan", values that overflow a
 * double (e.g. "1e400") and values outside the range.  lo may be -INFINITY
 * and hi INFINITY (printed "-inf", "inf").  OUT *out on success only.
 */
int cli_number_parse(const char *s, double lo, double hi, unsigned flags, double *out, char *msg,
                     size_t msglen);

/*
 * A whole number in [lo, hi]: decimal digits only (no sign, no white
 * space, no "0x"), no wrap-around (a value above 2^64 - 1 is refused, not
 * reduced).  OUT *out on success only.
 */
int cli_uint_parse(const char *s, unsigned long long lo, unsigned long long hi,
                   unsigned long long *out, char *msg, size_t msglen);

/*
 * A list of sizes in [lo, hi]: comma-separated items, each a whole number
 * "A", or an inclusive range "A:B" or "A:B:STEP" (STEP >= 1), e.g.
 * "1,2,10:100:10".  At most maxcount values in all (counted before
 * anything is allocated; a range's length is (B - A) / STEP + 1, computed
 * without overflow).  OUT *vals (malloc'ed, caller frees) and *count on
 * success only; on failure nothing is left allocated.
 */
int cli_size_list_parse(const char *s, size_t lo, size_t hi, size_t maxcount, size_t **vals,
                        size_t *count, char *msg, size_t msglen);

/* "(lo, hi)", "[lo, hi]" etc. into buf (for messages); returns buf. */
const char *cli_range_text(double lo, double hi, unsigned flags, char *buf, size_t len);

#endif
