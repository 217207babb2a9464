/*
 * fuzz_proxyproto.c - libFuzzer target for proxyproto_parse(), which
 * reads the first bytes of every connection when proxy_protocol is on.
 * The verdict must not depend on how much arrived past the header: a
 * header of n bytes parses as n from exactly its bytes and is incomplete
 * one byte short; an incomplete input stays incomplete cut shorter; and
 * the addresses a header names come back the same through
 * proxyproto_build() and a second parse.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A copy of data[0..n) of exactly n bytes, so ASan sees any overread. */
static int
parse_exact(const uint8_t *data, size_t n, struct proxyproto_hdr *h)
{
    uint8_t *b = malloc(n > 0 ? n : 1);
    const char *why = NULL;
    int r;

    if (b == NULL)
        abort();
    if (n > 0)
        memcpy(b, data, n);
    r = proxyproto_parse(b, n, h, &why);
    free(b);
    if (why == NULL || (r < 0 && why[0] == '\0'))
        abort();                        /* a refusal always says why */
    if (r < -1 || (r > 0 && (size_t)r > n))
        abort();
    return r;
}

static void
check_round_trip(const struct proxyproto_hdr *h)
{
    uint8_t buf[PROXYPROTO_BUILD_MAX];
    struct proxyproto_hdr again;
    size_t n = proxyproto_build(h->version, (const struct sockaddr *)&h->src,
        (const struct sockaddr *)&h->dst, buf, sizeof(buf));

    if (n == 0 || parse_exact(buf, n, &again) != (int)n ||
        again.version != h->version || again.local != 0 ||
        memcmp(&again.src, &h->src, sizeof(h->src)) != 0 ||
        memcmp(&again.dst, &h->dst, sizeof(h->dst)) != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxyproto_hdr h, h2;
    int r = parse_exact(data, size, &h);

    if (r > 0) {
        if (parse_exact(data, (size_t)r, &h2) != r ||
            parse_exact(data, (size_t)r - 1, &h2) != 0)
            abort();
        if (h.version != 1 && h.version != 2)
            abort();
        if (!h.local)
            check_round_trip(&h);
    } else if (r == 0 && size > 0) {
        if (parse_exact(data, size - 1, &h2) != 0)
            abort();
    }
    return 0;
}
