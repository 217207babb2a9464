/*
 * fuzz_me_list.c - libFuzzer target for me_list_parse(), which reads the
 * ME lists the master fetches from a URL (a mirror may serve anything).
 * Byte 0 picks the family; every accepted list must hold 1..1024
 * entries of that family, parse the same twice and equal itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "me_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct me_list a, b;
    char err[256];
    int v6;

    if (size < 1)
        return 0;
    v6 = data[0] & 1;
    if (me_list_parse((const char *)data + 1, size - 1, v6, &a, err,
        sizeof(err)) != 0) {
        if (strncmp(err, "line ", 5) != 0)
            abort();
        return 0;
    }
    if (a.n < 1 || a.n > ME_LIST_MAX_ENTRIES)
        abort();
    for (int i = 0; i < a.n; i++)
        if ((a.e[i].addr.ss_family == AF_INET6) != v6 ||
            a.e[i].dc < -32768 || a.e[i].dc > 32767)
            abort();
    if (me_list_parse((const char *)data + 1, size - 1, v6, &b, err,
        sizeof(err)) != 0 || !me_list_equal(&a, &b))
        abort();
    me_list_free(&a);
    me_list_free(&b);
    return 0;
}
