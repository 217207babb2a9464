/*
 * fuzz_json_in.c - libFuzzer target for the users API's JSON reader,
 * json_in_parse(): any bytes an HTTP client can send as a write's body.
 * Besides ASan's view of every read and write, what it takes must hold
 * what json_in.h promises: at most JSON_IN_MAX members, unique keys,
 * NUL-terminated strings within their buffers, no NUL inside a string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_in.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct json_in j;
    char err[160];

    if (json_in_parse((const char *)data, size, &j, err, sizeof(err)) != 0) {
        if (memchr(err, '\0', sizeof(err)) == NULL)
            abort();
        return 0;
    }
    if (j.n < 0 || j.n > JSON_IN_MAX)
        abort();
    for (int i = 0; i < j.n; i++) {
        if (memchr(j.m[i].key, '\0', sizeof(j.m[i].key)) == NULL)
            abort();
        if (j.m[i].type == JSON_IN_STRING &&
            memchr(j.m[i].str, '\0', sizeof(j.m[i].str)) == NULL)
            abort();
        for (int k = 0; k < i; k++)
            if (strcmp(j.m[i].key, j.m[k].key) == 0)
                abort();
        if (json_in_get(&j, j.m[i].key) != &j.m[i])
            abort();
    }
    return 0;
}
