/*
 * fuzz_handoff_rec.c - libFuzzer target for handoff_rec_check(), the
 * check a new worker runs on the record an old (possibly compromised)
 * worker sends at an upgrade.  Any input must be refused or accepted
 * without reading past it; an accepted one must be self-consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handoff_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Its own allocation of exactly size bytes, so ASan sees overreads;
     * the first byte picks whether magic and version are made right,
     * or the fuzzer would hardly ever get past them. */
    uint8_t *buf = malloc(size > 0 ? size : 1);
    struct handoff_rec *r = (struct handoff_rec *)(void *)buf;
    const char *why;

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    if (size >= sizeof(*r) && (data[0] & 1)) {
        r->magic = HANDOFF_MAGIC;
        r->version = 1;
        r->size = (uint32_t)size;
    }
    if (handoff_rec_check(r, size, 1, &why) &&
        (size != sizeof(*r) + r->up_len + r->down_len ||
        r->up_len > HANDOFF_PENDING || r->down_len > HANDOFF_PENDING))
        abort();
    free(buf);
    return 0;
}
