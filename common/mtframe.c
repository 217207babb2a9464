/*
 * mtframe.c - the client transport framings for ME mode (see mtframe.h,
 * docs/protocol.md 4).
 */
#include "mtframe.h"

#include <stdlib.h>
#include <string.h>

#include "proto.h"

void
mtframe_reader_init(struct mtframe_reader *r, uint32_t tag)
{
    memset(r, 0, sizeof(*r));
    r->tag = tag;
    r->hdr_need = tag == TAG_ABRIDGED ? 1 : 4;
}

void
mtframe_reader_free(struct mtframe_reader *r)
{
    free(r->pkt);
    r->pkt = NULL;
    r->cap = r->have = 0;
}

int
mtframe_reader_idle(const struct mtframe_reader *r)
{
    return r->hdr_have == 0 && r->total == 0;
}

/* The header is complete: its lengths, or -1 for a bad one. */
static int
mtframe_parse_header(struct mtframe_reader *r)
{
    const uint8_t *h = r->hdr;

    if (r->tag == TAG_ABRIDGED) {
        uint32_t words;

        if (r->hdr_need == 1) {
            r->quickack = (h[0] & 0x80) != 0;
            if ((h[0] & 0x7f) == 0x7f) {
                r->hdr_need = 4;        /* three more length bytes */
                return 1;
            }
            words = h[0] & 0x7f;
        } else {
            words = (uint32_t)h[1] | (uint32_t)h[2] << 8 |
                (uint32_t)h[3] << 16;
            if (words < 0x7f)
                return -1;              /* the overlong form */
        }
        r->total = r->len = (size_t)words * 4;
    } else {
        uint32_t v = (uint32_t)h[0] | (uint32_t)h[1] << 8 |
            (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;

        r->quickack = (v & 0x80000000u) != 0;
        v &= 0x7fffffffu;
        if (r->tag == TAG_INTERMEDIATE && ((v & 0x40000000u) || v % 4 != 0))
            return -1;
        r->total = v;
        r->len = r->tag == TAG_PADDED ? v & ~(size_t)3 : v;
    }
    if (r->len == 0 || r->total > MTFRAME_MAX)
        return -1;
    return 0;
}

enum mtframe_status
mtframe_read(struct mtframe_reader *r, const uint8_t *in, size_t n,
    size_t *used, const uint8_t **pkt, size_t *len, int *quickack)
{
    size_t i = 0;

    /* A refused header stays in place (hdr_have == hdr_need, no frame
     * started): calling again must refuse again, not write past hdr. */
    if (r->total == 0 && r->hdr_have >= r->hdr_need) {
        *used = 0;
        return MTFRAME_BAD;
    }
    while (i < n) {
        if (r->total == 0) {
            int h;

            r->hdr[r->hdr_have++] = in[i++];
            if (r->hdr_have < r->hdr_need)
                continue;
            if ((h = mtframe_parse_header(r)) < 0) {
                r->total = r->len = 0;  /* no frame: refused, see above */
                *used = i;
                return MTFRAME_BAD;
            }
            if (h > 0)
                continue;
            if (r->total > r->cap) {
                uint8_t *nb = realloc(r->pkt, r->total);

                if (nb == NULL) {
                    *used = i;
                    return MTFRAME_NOMEM;
                }
                r->pkt = nb;
                r->cap = r->total;
            }
            r->have = 0;
            continue;
        }
        {
            size_t take = r->total - r->have;

            if (take > n - i)
                take = n - i;
            memcpy(r->pkt + r->have, in + i, take);
            r->have += take;
            i += take;
        }
        if (r->have == r->total) {
            *pkt = r->pkt;
            *len = r->len;
            *quickack = r->quickack;
            r->total = 0;
            r->hdr_have = 0;
            r->hdr_need = r->tag == TAG_ABRIDGED ? 1 : 4;
            *used = i;
            return MTFRAME_PACKET;
        }
    }
    *used = i;
    return MTFRAME_MORE;
}

size_t
mtframe_header(uint32_t tag, size_t n, size_t pad,
    uint8_t out[MTFRAME_HDR_MAX])
{
    uint32_t v;

    if (tag == TAG_ABRIDGED) {
        size_t words = n / 4;

        if (words < 0x7f) {
            out[0] = (uint8_t)words;
            return 1;
        }
        out[0] = 0x7f;
        out[1] = (uint8_t)words;
        out[2] = (uint8_t)(words >> 8);
        out[3] = (uint8_t)(words >> 16);
        return 4;
    }
    v = (uint32_t)(n + (tag == TAG_PADDED ? pad : 0));
    out[0] = (uint8_t)v;
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)(v >> 16);
    out[3] = (uint8_t)(v >> 24);
    return 4;
}

void
mtframe_quickack(uint32_t tag, const uint8_t confirm[4], uint8_t out[4])
{
    for (int i = 0; i < 4; i++)
        out[i] = tag == TAG_ABRIDGED ? confirm[3 - i] : confirm[i];
}
