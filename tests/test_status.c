/*
 * test_status.c -- status codes and the caller's error record: every code
 * has its own message, linstab_error_set formats, truncates at the buffer
 * and returns the code, NULL records are accepted, clear resets.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "linstab/error.h"

Test(status, every_code_has_its_own_message)
{
    const char *want[] = {"success", "invalid argument", "bad data", "out of memory", "LAPACK failure",
                          "no convergence", "input/output error"};
    for (int c = LINSTAB_OK; c <= LINSTAB_EIO; c++) {
        cr_assert_str_eq(linstab_error_string((linstab_status)c), want[c]);
        for (int e = 0; e < c; e++)
            cr_assert_str_neq(linstab_error_string((linstab_status)c), linstab_error_string((linstab_status)e));
    }
    cr_assert_str_eq(linstab_error_string((linstab_status)99), "unknown status");
}

Test(status, error_set_formats_the_message_and_returns_the_code)
{
    linstab_error err;
    linstab_error_clear(&err);
    cr_assert_eq(linstab_error_set(&err, LINSTAB_EDATA, "sample %zu of %s: %.3g", (size_t)7, "f.npy", 0.5),
                 LINSTAB_EDATA);
    cr_assert_eq(err.code, LINSTAB_EDATA);
    cr_assert_str_eq(err.msg, "sample 7 of f.npy: 0.5");
    /* NULL: nothing recorded, the code still returned */
    cr_assert_eq(linstab_error_set(NULL, LINSTAB_EIO, "x %d", 1), LINSTAB_EIO);
    linstab_error_clear(NULL);
}

Test(status, a_long_message_is_truncated_to_the_buffer)
{
    char big[2 * LINSTAB_ERROR_MSG_LEN];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    linstab_error err;
    cr_assert_eq(linstab_error_set(&err, LINSTAB_ENOMEM, "%s", big), LINSTAB_ENOMEM);
    cr_assert_eq(strlen(err.msg), LINSTAB_ERROR_MSG_LEN - 1);
    cr_assert_eq(err.msg[0], 'x');
}

Test(status, clear_resets_code_and_message)
{
    linstab_error err;
    linstab_error_set(&err, LINSTAB_ELAPACK, "info %d", -6);
    linstab_error_clear(&err);
    cr_assert_eq(err.code, LINSTAB_OK);
    cr_assert_str_eq(err.msg, "");
}
