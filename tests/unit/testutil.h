/*
 * testutil.h - helpers shared by the unit tests (no .c): hex literals to
 * bytes and a byte-array equality assertion that prints both sides.
 */
#ifndef TELEMT_TESTUTIL_H
#define TELEMT_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

/* Decode a hex literal of exactly n bytes into buf (test helper). */
static inline void
unhex(const char *hex, uint8_t *buf, size_t n)
{
    ck_assert_int_eq(hex_decode(hex, buf, n), 0);
}

/* Assert that n bytes at got equal the hex literal want. */
#define ck_assert_hex(got, want, n) do {                                   \
    char got_hex_[2 * (n) + 1];                                            \
    hex_encode((got), (n), got_hex_);                                      \
    ck_assert_str_eq(got_hex_, (want));                                    \
} while (0)

#endif
