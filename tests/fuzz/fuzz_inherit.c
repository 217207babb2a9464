/*
 * fuzz_inherit.c - libFuzzer target for inherit_parse(), the parser of
 * TELEMT_INHERIT that a root master runs before it trusts a descriptor.
 * Any accepted value must format back to itself (the parser takes only
 * the one form the old master builds).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inherit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s, back[INHERIT_MAX_LEN], err[200];
    struct inherit in, again;

    if (size >= INHERIT_MAX_LEN || (s = malloc(size + 1)) == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    memset(&in, 0, sizeof(in));
    memset(&again, 0, sizeof(again));
    if (inherit_parse(s, &in, err, sizeof(err)) == 0) {
        if (inherit_format(&in, back, sizeof(back)) != 0 ||
            inherit_parse(back, &again, err, sizeof(err)) != 0 ||
            memcmp(&in, &again, sizeof(in)) != 0)
            abort();
    }
    free(s);
    return 0;
}
