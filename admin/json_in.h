/*
 * json_in.h - the one JSON reader of telemt: a write's body, a flat
 * object of strings, integers, true, false and null (the users API takes
 * nothing else).  Strict: anything else, a duplicate key, trailing bytes
 * or more than JSON_IN_MAX members is an error, with where and why.
 */
#ifndef TELEMT_JSON_IN_H
#define TELEMT_JSON_IN_H

#include <stddef.h>
#include <stdint.h>

#define JSON_IN_MAX     32              /* members */
#define JSON_IN_STR     512             /* bytes of a key or a string */

enum json_in_type { JSON_IN_STRING, JSON_IN_INT, JSON_IN_BOOL, JSON_IN_NULL };

struct json_in_member {
    char key[JSON_IN_STR];
    enum json_in_type type;
    char str[JSON_IN_STR];              /* JSON_IN_STRING, UTF-8 */
    int64_t num;                        /* JSON_IN_INT; BOOL: 0 or 1 */
};

struct json_in {
    int n;
    struct json_in_member m[JSON_IN_MAX];
};

/* Parse text[0..len); 0, or -1 with a message in err. */
int json_in_parse(const char *text, size_t len, struct json_in *out,
    char *err, size_t errlen);
/* The member named key, or NULL. */
const struct json_in_member *json_in_get(const struct json_in *j,
    const char *key);

#endif
