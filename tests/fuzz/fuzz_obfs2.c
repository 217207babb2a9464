/*
 * fuzz_obfs2.c - libFuzzer target for the obfuscated2 header checks a
 * worker runs on a client's first bytes: obfs2_prefix_impossible() on
 * every prefix, obfs2_header_allowed() and obfs2_match().  Input: a
 * 16-byte secret, then the header.  A match must name a valid tag, and
 * a header the proxy builds must match back to its own tag and dc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "obfs2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t secret[SECRET_LEN] = { 0 }, hdr[OBFS2_HEADER_LEN] = { 0 };
    uint8_t wire[OBFS2_HEADER_LEN], *copy;
    struct obfs2_keys k;
    struct ctr *up = NULL, *down = NULL;
    uint32_t tag, tag2;
    int16_t dc, dc2;
    size_t i, n;

    memcpy(secret, data, size < SECRET_LEN ? size : SECRET_LEN);
    n = size > SECRET_LEN ? size - SECRET_LEN : 0;
    /* The prefix check takes any length: give it exactly n bytes. */
    if ((copy = malloc(n > 0 ? n : 1)) == NULL)
        return 0;
    memcpy(copy, data + (size - n), n);
    for (i = 0; i <= n && i <= OBFS2_HEADER_LEN; i++)
        (void)obfs2_prefix_impossible(copy, i);
    memcpy(hdr, copy, n < OBFS2_HEADER_LEN ? n : OBFS2_HEADER_LEN);
    free(copy);
    (void)obfs2_header_allowed(hdr);
    if (obfs2_match(hdr, secret, &tag, &dc, &k) && !obfs2_tag_valid(tag))
        abort();
    /* Round trip: what we build for this secret matches back. */
    tag = (uint32_t[]){ TAG_ABRIDGED, TAG_INTERMEDIATE,
        TAG_PADDED }[hdr[0] % 3];
    dc = (int16_t)(hdr[1] | hdr[2] << 8);
    if (obfs2_build(wire, tag, dc, secret, NULL, NULL, &up, &down) == 0) {
        if (!obfs2_header_allowed(wire) ||
            obfs2_prefix_impossible(wire, OBFS2_HEADER_LEN) ||
            !obfs2_match(wire, secret, &tag2, &dc2, &k) ||
            tag2 != tag || dc2 != dc)
            abort();
        ctr_free(up);
        ctr_free(down);
    }
    return 0;
}
