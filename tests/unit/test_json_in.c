/*
 * test_json_in.c - the users API's JSON reader: the values it takes,
 * escapes into UTF-8, and each thing it refuses (nesting, floats,
 * leading zeros, duplicate keys, lone surrogates, \u0000, trailing
 * bytes, long strings, too many members) with where.
 */
#include <check.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../admin/json_in.h"

static struct json_in *
parse_ok(const char *text)
{
    struct json_in *j = malloc(sizeof(*j));
    char err[160];

    ck_assert_ptr_nonnull(j);
    ck_assert_msg(json_in_parse(text, strlen(text), j, err,
        sizeof(err)) == 0, "%s: %s", text, err);
    return j;
}

static void
parse_bad(const char *text, const char *why)
{
    struct json_in *j = malloc(sizeof(*j));
    char err[160];

    ck_assert_ptr_nonnull(j);
    ck_assert_msg(json_in_parse(text, strlen(text), j, err,
        sizeof(err)) == -1, "%s was taken", text);
    ck_assert_msg(strstr(err, why) != NULL, "%s: %s, want %s", text, err,
        why);
    free(j);
}

START_TEST(test_values)
{
    struct json_in *j = parse_ok(" { \"username\" : \"bob\", \"n\": -42,"
        "\"big\": 53687091200, \"on\": true, \"off\": false, \"e\": null,"
        "\"u\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/\" }\n");
    const struct json_in_member *m;

    ck_assert_int_eq(j->n, 7);
    m = json_in_get(j, "username");
    ck_assert_int_eq(m->type, JSON_IN_STRING);
    ck_assert_str_eq(m->str, "bob");
    ck_assert_int_eq(json_in_get(j, "n")->num, -42);
    ck_assert_int_eq(json_in_get(j, "big")->num, 53687091200LL);
    ck_assert_int_eq(json_in_get(j, "on")->type, JSON_IN_BOOL);
    ck_assert_int_eq(json_in_get(j, "on")->num, 1);
    ck_assert_int_eq(json_in_get(j, "off")->num, 0);
    ck_assert_int_eq(json_in_get(j, "e")->type, JSON_IN_NULL);
    ck_assert_str_eq(json_in_get(j, "u")->str,
        "caf\xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ /");
    ck_assert_ptr_null(json_in_get(j, "nope"));
    free(j);
    j = parse_ok("{}");
    ck_assert_int_eq(j->n, 0);
    free(j);
}
END_TEST

START_TEST(test_refused)
{
    char big[2000];

    parse_bad("", "an object was expected");
    parse_bad("[1]", "an object was expected");
    parse_bad("{\"a\": {\"b\": 1}}", "objects and arrays");
    parse_bad("{\"a\": [1]}", "objects and arrays");
    parse_bad("{\"a\": 1.5}", "only integers");
    parse_bad("{\"a\": 1e3}", "only integers");
    parse_bad("{\"a\": 007}", "leading zero");
    parse_bad("{\"a\": 99999999999999999999}", "out of range");
    parse_bad("{\"a\": 1, \"a\": 2}", "given twice");
    parse_bad("{\"a\": \"\\ud800\"}", "lone surrogate");
    parse_bad("{\"a\": \"\\udc00\"}", "lone surrogate");
    parse_bad("{\"a\": \"\\u0000\"}", "\\u0000");
    parse_bad("{\"a\": \"x\ty\"}", "control character");
    parse_bad("{\"a\": \"\\x\"}", "bad escape");
    parse_bad("{\"a\": 1} x", "bytes after the object");
    parse_bad("{\"a\" 1}", "':' was expected");
    parse_bad("{\"a\": 1 \"b\": 2}", "',' or '}' was expected");
    parse_bad("{\"a\": tru}", "a value was expected");
    parse_bad("{\"a\": \"abc", "unterminated");
    memset(big, 'x', sizeof(big));
    memcpy(big, "{\"a\": \"", 7);
    strcpy(big + sizeof(big) - 3, "\"}");
    parse_bad(big, "too long");
    {
        char many[1024] = "{";

        for (int i = 0; i <= JSON_IN_MAX; i++)
            snprintf(many + strlen(many), sizeof(many) - strlen(many),
                "%s\"k%d\": %d", i ? "," : "", i, i);
        strcat(many, "}");
        parse_bad(many, "too many members");
    }
    parse_bad("{\"a\": -}", "misplaced '-'");
    parse_bad("{\"a\": 1-2}", "misplaced '-'");
}
END_TEST

Suite *json_in_suite(void);

Suite *
json_in_suite(void)
{
    Suite *s = suite_create("json_in");
    TCase *tc = tcase_create("json_in");

    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return s;
}
