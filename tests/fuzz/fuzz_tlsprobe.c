/*
 * fuzz_tlsprobe.c - libFuzzer target for tlsprobe_walk(), the parser of
 * the mask host's answer (bytes from the network, read as root's child).
 * The total it reports can never exceed the bytes given, and a walk of a
 * longer read never finds less than a walk of its prefix had.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tlsprobe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size > 0 ? size : 1);
    uint32_t total, half_total;
    int r, half;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    r = tlsprobe_walk(buf, size, &total);
    if (r < -1 || r > 1 || total > size || (r == 0 && total != 0))
        abort();
    half = tlsprobe_walk(buf, size / 2, &half_total);
    if (r >= 0 && (half < 0 || half > r || half_total > total))
        abort();
    free(buf);
    return 0;
}
