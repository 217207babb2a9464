/*
 * fuzz_me_reader.c - libFuzzer target for what an ME connection and a
 * client stream feed us in ME mode: the RPC frame reader with
 * me_msg_parse() on each frame, and the client framings (mtframe.c).
 * Byte 0 sets the cut size and the framing tag; frames and packets must
 * not depend on how the stream is cut, no length may exceed its input,
 * and a client stream once refused stays refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "me_proto.h"
#include "mtframe.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Frames read in cuts of step bytes: count and a checksum of payloads. */
static void
rpc_all(const uint8_t *p, size_t n, size_t step, int crc32c, size_t *count,
    uint32_t *sum, int *broken)
{
    struct me_reader r;
    const uint8_t *pl;
    size_t len;

    me_reader_init(&r, ME_SEQ_NONCE);
    r.crc32c = crc32c;
    *count = 0;
    *sum = 0;
    *broken = 0;
    for (size_t off = 0; off < n && !*broken; off += step) {
        size_t k = n - off < step ? n - off : step;
        enum me_read_status st;

        if (me_reader_feed(&r, p + off, k) != 0)
            abort();
        while ((st = me_reader_next(&r, &pl, &len)) == ME_READ_FRAME) {
            struct me_msg m;

            if (len > n)
                abort();
            if (me_msg_parse(pl, len, &m) == 0 && m.type ==
                ME_RPC_PROXY_ANS && m.data + m.len != pl + len)
                abort();
            (*count)++;
            *sum = *sum * 31 + me_crc32(pl, len);
        }
        if (st != ME_READ_MORE)
            *broken = 1;
    }
    me_reader_free(&r);
}

static void
frames_all(uint32_t tag, const uint8_t *p, size_t n, size_t step,
    size_t *count, uint32_t *sum)
{
    struct mtframe_reader r;

    mtframe_reader_init(&r, tag);
    *count = 0;
    *sum = 0;
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step, used = 0, at = 0;

        while (at < k) {
            const uint8_t *pkt;
            size_t len;
            int qa;
            enum mtframe_status st = mtframe_read(&r, p + off + at, k - at,
                &used, &pkt, &len, &qa);

            at += used;
            if (used > k - (at - used))
                abort();
            if (st < 0) {
                /* A refused stream stays refused and takes nothing. */
                if (st == MTFRAME_BAD && (mtframe_read(&r, p + off, k,
                    &used, &pkt, &len, &qa) != MTFRAME_BAD || used != 0))
                    abort();
                mtframe_reader_free(&r);
                *sum ^= 0xdeadu;
                return;
            }
            if (st == MTFRAME_PACKET) {
                if (len > n)
                    abort();
                (*count)++;
                *sum = *sum * 31 + me_crc32(pkt, len);
            }
            if (st == MTFRAME_MORE)
                break;
        }
    }
    mtframe_reader_free(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t tags[3] = { TAG_ABRIDGED, TAG_INTERMEDIATE,
        TAG_PADDED };
    size_t c1, c2, step;
    uint32_t s1, s2;
    int b1, b2;

    if (size < 1)
        return 0;
    step = (size_t)(data[0] >> 2) + 1;
    rpc_all(data + 1, size - 1, size, data[0] & 1, &c1, &s1, &b1);
    rpc_all(data + 1, size - 1, step, data[0] & 1, &c2, &s2, &b2);
    if (c1 != c2 || s1 != s2 || b1 != b2)
        abort();
    frames_all(tags[data[0] % 3], data + 1, size - 1, size, &c1, &s1);
    frames_all(tags[data[0] % 3], data + 1, size - 1, step, &c2, &s2);
    if (c1 != c2 || s1 != s2)
        abort();
    return 0;
}
