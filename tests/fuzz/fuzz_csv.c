/*
 * fuzz_csv.c -- libFuzzer harness of the CSV reader of `linstab plot`
 * (cli_csv_parse, tools/csv.c): the input is the file's bytes.
 * Checked on success: 1 <= ncol <= CLI_CSV_MAXCOL; every name non-empty,
 * without a comma, a NUL or a line end, and distinct (cli_csv_column finds
 * each at its own index; a name may end in a carriage return, e.g. the
 * header "a,b\r\r\n" names "a" and "b\r": any text but a comma or NUL); nrow * ncol values, each readable; failures
 * return 1 or 2 with a message and leave *out empty.
 */
#include "csv.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[512] = "";
    cli_csv c;
    memset(&c, 0xA5, sizeof c); /* the parser must set every field */
    int rc = cli_csv_parse((const char *)data, size, &c, msg, sizeof msg);
    if (rc != 0) {
        FUZZ_CHECK((rc == 1 || rc == 2) && msg[0] != '\0');
        FUZZ_CHECK(c.names == NULL && c.values == NULL && c.ncol == 0 && c.nrow == 0);
        cli_csv_free(&c);
        return 0;
    }
    FUZZ_CHECK(c.ncol >= 1 && c.ncol <= CLI_CSV_MAXCOL && c.names != NULL);
    for (size_t j = 0; j < c.ncol; j++) {
        const char *name = c.names[j];
        FUZZ_CHECK(name != NULL && name[0] != '\0');
        FUZZ_CHECK(strpbrk(name, ",\n") == NULL);
        FUZZ_CHECK(cli_csv_column(&c, name) == (long)j);
    }
    size_t n;
    FUZZ_CHECK(!__builtin_mul_overflow(c.nrow, c.ncol, &n));
    FUZZ_CHECK(n <= size); /* every value takes at least one byte (its comma or line end) */
    if (n > 0) fuzz_touch(c.values, n);
    cli_csv_free(&c);
    FUZZ_CHECK(c.names == NULL && c.values == NULL);
    return 0;
}
